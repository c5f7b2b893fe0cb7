"""`transmem zoo`: list and show the pretrained source models."""
from __future__ import annotations

import argparse
import json

from transmem.models.zoo import list_zoo, load_source, zoo_root


def add_parser(sub) -> None:
    p = sub.add_parser("zoo", help="list and show source models")
    zsub = p.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    lst = zsub.add_parser("list", help="the zoo's entries")
    lst.add_argument("--zoo", help="zoo folder (default: $TRANSMEM_ZOO or ./zoo)")
    lst.set_defaults(func=run_list)
    show = zsub.add_parser("show", help="one entry's model card")
    show.add_argument("name")
    show.add_argument("--zoo", help="zoo folder (default: $TRANSMEM_ZOO or ./zoo)")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    names = list_zoo(args.zoo)
    if not names:
        print(f"the zoo {zoo_root(args.zoo)} is empty; add models with `transmem pretrain --name NAME ...`")
        return 0
    print(f"{'name':<28} {'backbone':<9} {'dataset':<26} {'frames':<10} {'patch':>5} {'hidden':<14} {'MSE':>8}")
    for name in names:
        card = load_source(name, args.zoo).card
        shape = "x".join(map(str, card.get("frame_shape", [])))
        mse = card.get("metrics", {}).get("mse", float("nan"))
        print(f"{name:<28} {card.get('backbone', '?'):<9} {card.get('dataset', '?'):<26} {shape:<10} "
              f"{card.get('patch_size', '?'):>5} {','.join(map(str, card.get('hidden', []))):<14} {mse:8.2f}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    source = load_source(args.name, args.zoo)
    print(json.dumps({"path": str(source.path), **source.card}, indent=2))
    return 0
