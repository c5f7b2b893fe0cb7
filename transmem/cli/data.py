"""`transmem data`: list the datasets, draw a few sequences as a PNG strip, pre-generate a cache.

    transmem data list
    transmem data show mnist2 --split test --n 4 --out strip.png --option frame_size=32
    transmem data cache mnist3 --cache-dir ~/.cache/transmem --split all

`--option key=value` (repeatable) passes dataset options to `load_dataset`; values are read as int, float,
true/false, none, or else kept as strings (e.g. path=/data/mnist_test_seq.npy, splits=0.8,0.1,0.1): see
transmem.data.options.parse_options.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from transmem.cli import UserError, positive_int
from transmem.data import stats as data_stats
from transmem.data.options import parse_options
from transmem.registry import DATASETS


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="list, show and cache datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    lst = dsub.add_parser("list", help="the registered datasets")
    lst.set_defaults(func=run_list)

    show = dsub.add_parser("show", help="write a PNG strip of a few sequences (rows = sequences, columns = frames)")
    show.add_argument("name", help="dataset name (see `transmem data list`)")
    show.add_argument("--split", default="test", choices=("train", "valid", "test"))
    show.add_argument("--n", type=positive_int, default=4, help="sequences to draw (default 4; also the size loaded)")
    show.add_argument("--out", default="strip.png", help="PNG to write (default strip.png)")
    show.add_argument("--cmap", default=None, help="matplotlib colormap for one-channel data, e.g. viridis for radar")
    show.add_argument("--scale", type=positive_int, default=1, help="enlarge each pixel this many times (default 1)")
    show.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="dataset option (repeatable)")
    show.set_defaults(func=run_show)

    stats = dsub.add_parser("stats", help="persistence baselines of the human-motion and radar stand-ins (docs/data.md)")
    data_stats.add_arguments(stats)
    stats.set_defaults(func=data_stats.run)

    cache = dsub.add_parser("cache", help="generate a dataset once into a cache folder")
    cache.add_argument("name", help="dataset name (see `transmem data list`)")
    cache.add_argument("--cache-dir", required=True, help="folder for the cached .npy/.json files")
    cache.add_argument("--split", default="all", choices=("all", "train", "valid", "test"))
    cache.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="dataset option (repeatable)")
    cache.set_defaults(func=run_cache)


def _known(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS.names())}")


def run_list(args: argparse.Namespace) -> int:
    entries = list(DATASETS)
    width = max([len("name")] + [len(e.name) for e in entries])
    print(f"{'name':<{width}}  description")
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.description}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from transmem.data import load_dataset
    from transmem.data.show import save_strip

    _known(args.name)
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    options = parse_options(args.option)
    options.setdefault("size", args.n)
    data = load_dataset(args.name, args.split, **options)
    out = save_strip(data, args.out, n=args.n, cmap=args.cmap, scale=args.scale)
    c, h, w = data.frame_shape
    print(
        f"{out}: {min(args.n, len(data))} sequences of {data.frames.shape[1]} frames ({c}x{h}x{w}, "
        f"{data.t_in} in / {data.t_out} out) from {args.name}/{args.split}"
    )
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from transmem.data import cache_path, load_dataset

    _known(args.name)
    options = parse_options(args.option)
    splits = ("train", "valid", "test") if args.split == "all" else (args.split,)
    for split in splits:
        data = load_dataset(args.name, split, cache_dir=args.cache_dir, **options)
        path = cache_path(args.name, split, cache_dir=args.cache_dir, **options)
        print(f"{args.name}/{split}: {len(data)} sequences {tuple(data.frames.shape)} -> {Path(path)}")
    return 0
