"""`transmem params`: parameter counts in training and at test time (paper Table 1's #PARAMETERS columns)."""
from __future__ import annotations

import argparse
import json

from transmem.cli import positive_int
from transmem.models.network import NetConfig
from transmem.models.summary import parameter_rows
from transmem.registry import BACKBONES


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="convlstm", choices=BACKBONES.names())
    p.add_argument("--frame-size", type=positive_int, default=64, help="frame height and width (default 64)")
    p.add_argument("--channels", type=positive_int, default=1, help="frame channels (default 1)")
    p.add_argument("--patch", type=positive_int, default=4, help="sub-scaling patch size (default 4)")
    p.add_argument("--layers", type=positive_int, default=4)
    p.add_argument("--hidden", type=positive_int, default=64, help="hidden channels per layer (default 64)")
    p.add_argument("--kernel", type=positive_int, default=5, help="filter size (default 5)")
    p.add_argument("--peepholes", action="store_true", help="ConvLSTM peephole connections (Eq. 2/5)")


def network_config(args: argparse.Namespace) -> NetConfig:
    return NetConfig(
        backbone=args.backbone,
        frame_channels=args.channels,
        frame_size=(args.frame_size, args.frame_size),
        patch_size=args.patch,
        hidden=(args.hidden,) * args.layers,
        kernel_size=args.kernel,
        peepholes=args.peepholes,
    )


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="parameter counts in training and at test time")
    add_network_arguments(p)
    p.add_argument("--sources", type=int, default=2, help="number of sources M (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = network_config(args)
    rows = parameter_rows(config, args.sources)
    if args.json:
        print(json.dumps({"config": config.to_dict(), "rows": rows}, indent=2))
        return 0
    print(
        f"{config.frame_channels}x{config.frame_size[0]}x{config.frame_size[1]} frames, patch {config.patch_size}, "
        f"{len(config.hidden)} layers x {config.hidden[0]} hidden, {config.kernel_size}x{config.kernel_size} filters"
    )
    print(f"{'model':<20} {'variant':<9} {'M':>2} {'TMU layers':<11} {'train':>9} {'test':>9}")
    for r in rows:
        layers = ",".join(map(str, r["tmu_layers"])) or "-"
        print(
            f"{r['model']:<20} {r['variant']:<9} {r['sources']:>2} {layers:<11} "
            f"{r['train'] / 1e6:>8.2f}M {r['test'] / 1e6:>8.2f}M"
        )
    return 0
