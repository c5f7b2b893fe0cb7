#!/usr/bin/env python
"""Drawing N futures of a stochastic model (the savp backbone): N separate rollouts of a batch of B sequences against
one rollout of N x B sequences (what `evaluate --samples` and `predict --samples` run, evaluation/samples.py).

Both draw the same kind of prior samples from seeded generators; the ratio is separate / batched (above 1: one batch
is faster). Each size is timed in rounds, one separate run then one batched run, and the medians are taken over the
rounds, so both see the same machine conditions. Random weights (timing does not depend on them).

    .venv/bin/python benchmarks/sampling.py                                    # human-motion-like, N = 1, 10, 100
    .venv/bin/python benchmarks/sampling.py --frame-size 32 --hidden 16,16 --samples 4 --repeats 1    # quick
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frame-size", type=int, default=64, help="frame height and width (default 64)")
    p.add_argument("--channels", type=int, default=3, help="frame channels (default 3, RGB as Human3.6M)")
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--hidden", type=int_list, default=[32, 32], help="widths per layer (default 32,32)")
    p.add_argument("--batch", type=int, default=4, help="sequences B (default 4)")
    p.add_argument("--samples", type=int_list, default=[1, 10, 100], help="N values (default 1,10,100)")
    p.add_argument("--t-in", type=int, default=4)
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per N (median)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sampling.json"))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transmem.evaluation.samples import sample_futures
    from transmem.models import NetConfig, PredictiveNet

    cfg = NetConfig(backbone="savp", frame_channels=args.channels, frame_size=(args.frame_size, args.frame_size),
                    patch_size=args.patch, hidden=tuple(args.hidden), kernel_size=5)
    torch.manual_seed(0)
    net = PredictiveNet(cfg).eval()
    frames_in = torch.rand(args.batch, args.t_in, args.channels, args.frame_size, args.frame_size)

    def separate(n: int) -> float:
        g = torch.Generator().manual_seed(0)
        tic = time.perf_counter()
        for _ in range(n):
            net.predict(frames_in, args.horizon, generator=g)
        return time.perf_counter() - tic

    def batched(n: int) -> float:
        g = torch.Generator().manual_seed(0)
        tic = time.perf_counter()
        sample_futures(net, frames_in, args.horizon, n=n, generator=g)
        return time.perf_counter() - tic

    print(f"savp {args.channels}x{args.frame_size}x{args.frame_size}, patch {args.patch}, hidden {args.hidden}, "
          f"{args.t_in} -> {args.horizon}, B = {args.batch}, {torch.get_num_threads()} threads, median of "
          f"{args.repeats} rounds")
    print(f"{'N':>5} {'N x B':>6} {'separate s':>11} {'one batch s':>12} {'ratio':>6} {'ms/sample (batch)':>18}")
    separate(1), batched(1)  # warm-up
    rows = []
    for n in args.samples:
        times = [(separate(n), batched(n)) for _ in range(args.repeats)]
        sep, one = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        rows.append({"n": n, "sequences": n * args.batch, "separate_s": sep, "batched_s": one, "ratio": sep / one,
                     "rounds": times})
        print(f"{n:>5} {n * args.batch:>6} {sep:>11.3f} {one:>12.3f} {sep / one:>6.2f} "
              f"{1e3 * one / (n * args.batch):>18.2f}", flush=True)
    report = {"machine": {"platform": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()},
              "args": vars(args), "net": cfg.to_dict(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
