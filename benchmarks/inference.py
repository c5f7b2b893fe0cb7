#!/usr/bin/env python
"""The inference path, measured: `predict` (10 -> 10, no sources) under the ways it could run, against the one
shipped (`transmem predict` and `evaluate` run it under torch.inference_mode).

    no_grad         torch.no_grad (what predict ran under before inference mode)
    inference_mode  the shipped path
    channels_last   inference mode, with weights, states and inputs in channels-last memory format
    compiled        inference mode, channels-last, every cell's step through torch.compile; its first calls pay
                    the compilation (reported as compile_s), which a single `transmem predict` call would pay too

Every variant is built from the same seed and timed in rounds (one prediction of each per round), so each ratio to
inference_mode is a median over rounds that saw the same machine conditions.

    .venv/bin/python benchmarks/inference.py --config demo --batches 1,8 --repeats 7
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402 (configurations, clips, model builder, torch set-up, the CPU heading)
from alternatives import compile_cells, to_channels_last  # noqa: E402

VARIANTS = ("no_grad", "inference_mode", "channels_last", "compiled")
SHIPPED = "inference_mode"


def build_variant(torch, name: str, job: dict):
    """(net, context factory) for one variant."""
    _, net, _ = speed.build(torch, {**job, "no_sources": True})
    net.eval()
    if name in ("channels_last", "compiled"):
        to_channels_last(torch, net, None)
    if name == "compiled":
        compile_cells(torch, net, None)
    return net, (torch.no_grad if name == "no_grad" else torch.inference_mode)


def measure(torch, job: dict, variants: tuple[str, ...], repeats: int) -> dict:
    frames_in = speed.clips(torch, 1, job["batch"], seed=3)[0][0][:, : speed.T_IN]
    horizon = speed.SEQ_LEN - speed.T_IN
    built = {name: build_variant(torch, name, job) for name in variants}
    warmup = {}
    for name, (net, context) in built.items():
        tic = time.perf_counter()
        for _ in range(2):
            with context():
                net.predict(frames_in, horizon=horizon)
        warmup[name] = time.perf_counter() - tic
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (net, context) in built.items():
            tic = time.perf_counter()
            with context():
                net.predict(frames_in, horizon=horizon)
            times[name].append(time.perf_counter() - tic)
    row = {"batch": job["batch"], "warmup_s": warmup, "times": times}
    if SHIPPED in variants:
        base = times[SHIPPED]
        row["ratio"] = {n: statistics.median(t / b for t, b in zip(ts, base)) for n, ts in times.items()}
    return row


def format_table(rows: list[dict], variants: tuple[str, ...], config: str, backbone: str) -> str:
    lines = [speed.cpu_line(), f"predict 10 -> 10, {backbone} {config} configuration, ms/seq (x {SHIPPED})", ""]
    lines.append("| batch | " + " | ".join(variants) + " | compile s |")
    lines.append("|---" * (len(variants) + 2) + "|")
    for row in rows:
        cells = []
        for name in variants:
            ms = 1000 * statistics.median(row["times"][name]) / row["batch"]
            ratio = row.get("ratio", {}).get(name)
            cells.append(f"{ms:.1f}" + (f" ({ratio:.2f})" if ratio is not None else ""))
        compile_s = row["warmup_s"].get("compiled")
        last = f"{compile_s:.0f}" if compile_s is not None else "-"
        lines.append(f"| {row['batch']} | " + " | ".join(cells) + f" | {last} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(speed.CONFIGS), default="demo")
    p.add_argument("--backbone", choices=speed.BACKBONE_NAMES, default="convlstm")
    p.add_argument("--batches", type=speed.int_list, default=[1, 8])
    p.add_argument("--hidden", type=speed.int_list, help="layer widths instead of the configuration's")
    p.add_argument("--variants", type=speed.name_list, default=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, help="write the rows as JSON here (and the table beside it, .log)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = speed._setup_torch(args.threads)
    variants = tuple(v for v in VARIANTS if v in args.variants)
    rows = []
    for batch in args.batches:
        job = dict(backbone=args.backbone, hidden=args.hidden or list(speed.CONFIGS[args.config]["hidden"]),
                   batch=batch, m=0)
        with contextlib.redirect_stdout(sys.stderr):  # inductor's notes stay out of the table
            rows.append(measure(torch, job, variants, args.repeats))
    table = format_table(rows, variants, args.config, args.backbone)
    print(table)
    if args.out:
        args.out.write_text(json.dumps({"config": args.config, "backbone": args.backbone, "threads": args.threads,
                                        "cpu": speed.cpu_line(), "rows": rows}, indent=2))
        args.out.with_suffix(".log").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
