"""How hard each benchmark domain is for the trivial forecaster that repeats the last input frame (persistence).

* `radar_stats(name, ...)`: fraction of pixels >= 20 dBZ, fraction of dry sequences and the CSI at 20 dBZ of
  persistence at +6, +30 and +60 minutes (output frames 1, 5 and 10), counts accumulated over the whole set with
  `transmem.metrics.Contingency` before dividing.
* `human_persistence(name, ...)`: per-frame MSE (sum over pixels and channels on [0, 1], mean over sequences) of
  persistence at +1..+4 frames (`persistence_mse` of any frames).
* `main(argv)`: prints both tables (``transmem data stats [--size N] [--radar-frame-size S] ...``).

Both functions take any registered dataset name plus its options, so they also measure real data, e.g.
``radar_stats("radar", root="/data/hko7", mapping="hko7")``.
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np
import torch

from transmem.data.base import SequenceData
from transmem.metrics import Contingency, to_dbz

RADAR_PRESETS = ("radar-guangzhou14-synth", "radar-guangzhou16-synth", "radar-beijing-synth")
HUMAN_DOMAINS = ("kth-synth", "weizmann-synth", "h36m-synth")
RADAR_LEADS = (1, 5, 10)  # output frames at +6, +30, +60 min (6-minute steps)
THRESHOLD_DBZ = 20.0
DRY_FRACTION = 0.001  # a sequence with fewer than 0.1 % of its pixels >= 20 dBZ counts as dry


def _load(name: str, split: str, size: int | None, seed: int, options: dict[str, Any]) -> tuple[SequenceData, float]:
    from transmem.data import load_dataset

    start = time.perf_counter()
    data = load_dataset(name, split, size=size, seed=seed, **options)
    return data, time.perf_counter() - start


def radar_scores(data: SequenceData, *, threshold: float = THRESHOLD_DBZ,
                 leads: Sequence[int] = RADAR_LEADS) -> dict[str, Any]:
    """Coverage, dry fraction and persistence CSI of a loaded radar SequenceData (needs info['dbz'])."""
    mapping = data.info.get("dbz")
    if not mapping:
        raise ValueError(f"{data.name}: info has no 'dbz' mapping {{'scale', 'offset'}}; is it a radar dataset?")
    scale, offset = float(mapping["scale"]), float(mapping["offset"])
    minutes = float(data.info.get("interval_min", 6.0))
    bad = [lead for lead in leads if not 1 <= lead <= data.t_out]
    if bad:
        raise ValueError(f"{data.name}: leads {bad} lie outside the {data.t_out} output frames")
    frames = torch.from_numpy(data.frames)
    table = Contingency((threshold,))
    wet_pixels = 0
    dry = 0
    for lo in range(0, len(frames), 64):
        batch = to_dbz(frames[lo : lo + 64], scale, offset)
        above = batch >= threshold
        wet_pixels += int(above.sum())
        dry += int((above.float().mean(dim=(1, 2, 3, 4)) < DRY_FRACTION).sum())
        truth = batch[:, data.t_in : data.t_in + data.t_out]
        last = batch[:, data.t_in - 1 : data.t_in].expand_as(truth)
        table.update(last, truth)
    csi = table.csi()[0]
    return {
        "name": data.name,
        "split": data.split,
        "sequences": len(data),
        "frame_shape": list(data.frame_shape),
        "coverage": wet_pixels / data.frames.size,
        "dry_fraction": dry / len(data),
        "csi": {int(round(lead * minutes)): float(csi[lead - 1]) for lead in leads},
        "csi_per_frame": [float(v) for v in csi],
        "threshold_dbz": threshold,
    }


def radar_stats(name: str, *, split: str = "test", size: int | None = 200, seed: int = 0,
                frame_size: int | None = 64, **options: Any) -> dict[str, Any]:
    """Coverage >= 20 dBZ, dry fraction and persistence CSI@20dBZ at +6/+30/+60 min of one radar dataset.

    ``frame_size=None`` keeps the dataset's own size (256 for the generated presets). Returns a dict with
    ``coverage``, ``dry_fraction``, ``csi`` ({minutes: CSI}), ``csi_per_frame`` and ``seconds`` (loading time).
    """
    if frame_size is not None:
        options["frame_size"] = frame_size
    data, seconds = _load(name, split, size, seed, options)
    out = radar_scores(data)
    out["seconds"] = seconds
    return out


def persistence_mse(frames: np.ndarray, t_in: int, leads: Sequence[int] | None = None) -> dict[int, float]:
    """Per-frame MSE (sum over pixels and channels on [0, 1], mean over sequences) of repeating frame t_in - 1.

    frames: (N, T, C, H, W); returns {lead: mse} for leads 1.. (default: every output frame).
    """
    leads = list(range(1, frames.shape[1] - t_in + 1)) if leads is None else list(leads)
    last = frames[:, t_in - 1].astype(np.float64)
    out = {}
    for lead in leads:
        diff = frames[:, t_in - 1 + lead].astype(np.float64) - last
        out[lead] = float(np.square(diff).sum(axis=(1, 2, 3)).mean())
    return out


def human_persistence(name: str, *, split: str = "test", size: int | None = 300, seed: int = 0,
                      **options: Any) -> dict[str, Any]:
    """Per-frame MSE of persistence at +1..+t_out of one human-motion dataset (its own channels unless told)."""
    data, seconds = _load(name, split, size, seed, options)
    mse = persistence_mse(data.frames, data.t_in)
    return {
        "name": data.name,
        "split": data.split,
        "sequences": len(data),
        "frame_shape": list(data.frame_shape),
        "mse": mse,
        "mse_mean": float(np.mean(list(mse.values()))),
        "seconds": seconds,
    }


def radar_table(rows: list[dict[str, Any]]) -> str:
    leads = list(rows[0]["csi"]) if rows else []
    head = f"| dataset | frames | >= 20 dBZ | dry seqs | " + " | ".join(f"CSI +{m:g} min" for m in leads) + " |"
    lines = [head, "|" + "---|" * (4 + len(leads))]
    for r in rows:
        c, h, w = r["frame_shape"]
        cells = " | ".join(f"{r['csi'][m]:.3f}" for m in leads)
        lines.append(f"| {r['name']} | {r['sequences']} x {h}x{w} | {100 * r['coverage']:.1f} % | "
                     f"{100 * r['dry_fraction']:.0f} % | {cells} |")
    return "\n".join(lines)


def human_table(rows: list[dict[str, Any]]) -> str:
    leads = list(rows[0]["mse"]) if rows else []
    head = "| dataset | frames | " + " | ".join(f"MSE +{k}" for k in leads) + " | mean |"
    lines = [head, "|" + "---|" * (3 + len(leads))]
    for r in rows:
        c, h, w = r["frame_shape"]
        cells = " | ".join(f"{r['mse'][k]:.1f}" for k in leads)
        lines.append(f"| {r['name']} | {r['sequences']} x {c}x{h}x{w} | {cells} | {r['mse_mean']:.1f} |")
    return "\n".join(lines)


def _timings(rows: list[dict[str, Any]]) -> str:
    return "loading: " + ", ".join(f"{r['name']} {1000 * r['seconds'] / r['sequences']:.1f} ms/seq" for r in rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--which", choices=("all", "radar", "human"), default="all")
    parser.add_argument("--split", default="test")
    parser.add_argument("--size", type=int, default=None, help="sequences per dataset (default 200 radar, 300 human)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--radar-frame-size", type=int, default=64, help="radar frame side (native 256)")
    parser.add_argument("--human-channels", type=int, choices=(1, 3), default=None,
                        help="force the channel count of every human domain (default: each domain's own)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="transmem data stats",
        description="Persistence baselines of the generated human-motion and radar domains.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    if args.which in ("all", "human"):
        opts = {} if args.human_channels is None else {"channels": args.human_channels}
        rows = [human_persistence(n, split=args.split, size=args.size or 300, seed=args.seed, **opts)
                for n in HUMAN_DOMAINS]
        print("Human motion: per-frame MSE of persistence (last input frame repeated), sum over pixels and "
              "channels on [0, 1]")
        print(human_table(rows))
        print(_timings(rows))
        print()
    if args.which in ("all", "radar"):
        rows = [radar_stats(n, split=args.split, size=args.size or 200, seed=args.seed,
                            frame_size=args.radar_frame_size) for n in RADAR_PRESETS]
        print(f"Radar: pixels >= {THRESHOLD_DBZ:g} dBZ, dry sequences (< {100 * DRY_FRACTION:g} % of pixels "
              f">= {THRESHOLD_DBZ:g} dBZ) and CSI@{THRESHOLD_DBZ:g}dBZ of persistence")
        print(radar_table(rows))
        print(_timings(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
