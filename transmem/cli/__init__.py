"""The `transmem` command. Each sub-command lives in its own module with `add_parser(subparsers)`."""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order `transmem --help` lists them (train.py adds `train` and `pretrain`,
# rank.py `rank-sources`).
COMMANDS = ("demo", "train", "evaluate", "predict", "gates", "rank", "zoo", "params", "data")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 and negatives are errors, never "not given")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transmem", description="Unsupervised transfer learning for spatiotemporal predictive networks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"transmem.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, KeyError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"transmem {args.command}: error: {message}", file=sys.stderr)
        return 2
