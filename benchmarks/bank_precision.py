#!/usr/bin/env python
"""The memory bank in bf16 (training/precision.py): how far its distillation targets move, and what a memory-
transfer step gains, on a study's own setting with its trained sources.

Builds the study's memory-transfer method (its sources from the zoo) and its scratch backbone from one config, then
times in rounds, alternated: the backbone's training step, the memory-transfer step with the bank in fp32 and in
bf16 (the target in fp32 both times), and the bank's collection alone in both. The targets' difference is
||bf16 - fp32|| / ||fp32|| of the collected memories, per TMU layer, on the same clips.

    .venv/bin/python benchmarks/bank_precision.py --repeats 7 \
        --out benchmarks/results/bank-precision-flying-digits.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402 (torch set-up, the CPU heading)


def build(torch, args):
    from transmem.training.config import load_config
    from transmem.training.trainer import build_method, load_splits, sampling_mask

    common = [f"data.train_size={args.batch}", "data.valid_size=4", "data.test_size=4", f"batch_size={args.batch}",
              "precision=fp32", *args.set]
    mt_cfg = load_config(args.config, common + ["method=memory-transfer", f"sources=[{','.join(args.sources)}]"])
    bb_cfg = load_config(args.config, common + ["method=scratch", "sources=[]"])
    data = load_splits(mt_cfg)
    train = data["train"]
    t_in, t = train.t_in, train.t_in + train.t_out
    frames = torch.from_numpy(train.frames[: args.batch, :t])
    mask = sampling_mask(0, mt_cfg, args.batch, t, t_in)[0]
    mt = build_method(mt_cfg, train, str(args.zoo)).train()
    bb = build_method(bb_cfg, train).train()
    return mt_cfg, mt, bb, frames, mask, t_in


def timed_step(method, optimizer, frames, mask, t_in) -> float:
    tic = time.perf_counter()
    loss, _ = method(frames, mask=mask, t_in=t_in)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - tic


def timed_collect(method, precision, frames, mask, t_in) -> float:
    method.bank.precision = precision
    tic = time.perf_counter()
    method.bank.collect(frames, t_in=t_in, mask=mask)
    return time.perf_counter() - tic


def measure(torch, args) -> dict:
    _, mt, bb, frames, mask, t_in = build(torch, args)
    bank = mt.bank
    bank.precision = "fp32"
    exact = bank.collect(frames, t_in=t_in, mask=mask)
    bank.precision = "bf16"
    low = bank.collect(frames, t_in=t_in, mask=mask)
    relative = {k: ((low[k] - exact[k]).norm() / exact[k].norm()).item() for k in exact}
    per_source = {k: [((low[k][:, :, m] - exact[k][:, :, m]).norm() / exact[k][:, :, m].norm()).item()
                      for m in range(exact[k].shape[2])] for k in exact}
    opt_mt = torch.optim.Adam(mt.trainable_parameters(), lr=1e-6)
    opt_bb = torch.optim.Adam(bb.trainable_parameters(), lr=1e-6)
    times: dict[str, list[float]] = {"backbone": [], "mt_bank_fp32": [], "mt_bank_bf16": [], "collect_fp32": [],
                                     "collect_bf16": []}
    for i in range(args.repeats + 1):  # the first round warms up
        round_ = {"backbone": timed_step(bb, opt_bb, frames, mask, t_in)}
        for p in ("fp32", "bf16"):
            bank.precision = p
            round_[f"mt_bank_{p}"] = timed_step(mt, opt_mt, frames, mask, t_in)
            round_[f"collect_{p}"] = timed_collect(mt, p, frames, mask, t_in)
        if i:
            for k, v in round_.items():
                times[k].append(v)
    med = {k: statistics.median(v) for k, v in times.items()}
    over = {p: _paired(times[f"mt_bank_{p}"], times["backbone"]) for p in ("fp32", "bf16")}
    config = args.config.resolve()
    shown = str(config.relative_to(ROOT)) if config.is_relative_to(ROOT) else str(config)
    return {"config": shown, "sources": args.sources, "batch": args.batch, "repeats": args.repeats,
            "threads": args.threads, "cpu": speed.cpu_line(), "relative_difference": relative,
            "relative_difference_per_source": per_source, "times": times, "median_s": med,
            "mt_over_backbone": over,
            "collect_bf16_over_fp32": _paired(times["collect_bf16"], times["collect_fp32"]),
            "step_bf16_bank_over_fp32_bank": _paired(times["mt_bank_bf16"], times["mt_bank_fp32"])}


def _paired(times: list[float], base: list[float]) -> float:
    """The median over rounds of one time over the other in the same round."""
    return statistics.median(t / b for t, b in zip(times, base))


def format_table(r: dict) -> str:
    med = r["median_s"]
    diff = ", ".join(f"layer {k}: {100 * v:.2f} %" for k, v in r["relative_difference"].items())
    return "\n".join([
        r["cpu"],
        f"{r['config']}, sources {', '.join(r['sources'])}, batch {r['batch']}, {r['threads']} thread(s), "
        f"medians of {r['repeats']} rounds",
        f"distillation targets, ||bf16 - fp32|| / ||fp32||: {diff}",
        "",
        "| | fp32 bank | bf16 bank | bf16 / fp32 |",
        "|---|---|---|---|",
        f"| bank collect, s | {med['collect_fp32']:.3f} | {med['collect_bf16']:.3f} | "
        f"{r['collect_bf16_over_fp32']:.2f} |",
        f"| memory-transfer step, s | {med['mt_bank_fp32']:.3f} | {med['mt_bank_bf16']:.3f} | "
        f"{r['step_bf16_bank_over_fp32_bank']:.2f} |",
        f"| step / backbone step ({med['backbone']:.3f} s) | {r['mt_over_backbone']['fp32']:.2f} | "
        f"{r['mt_over_backbone']['bf16']:.2f} | |",
    ])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=ROOT / "experiments/flying_digits/base.yaml")
    p.add_argument("--sources", type=speed.name_list, default=["fd32-mnist1", "fd32-mnist2"])
    p.add_argument("--zoo", type=Path, default=ROOT / "zoo")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--out", type=Path, help="write the measurement as JSON here (and the table beside it, .log)")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        p.error("--repeats and --batch must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch = speed._setup_torch(args.threads)
    result = measure(torch, args)
    table = format_table(result)
    print(table)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
        args.out.with_suffix(".log").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
