"""`transmem evaluate`: the metrics of one or several checkpoints on a split, per frame and mean, as a table and as
JSON / CSV. The dataset defaults to the one the first checkpoint was trained on. A stochastic model (savp) is
scored on prior samples drawn from `--seed`: one by default, or `--samples N`, which gives two rows per model, the
best of N per sequence (each metric separately) and the mean over the N samples (evaluation/samples.py)."""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import torch

from transmem.checkpoint import atomic_write
from transmem.cli import UserError, positive_int
from transmem.data.options import parse_options
from transmem.data.radar_scale import THRESHOLDS
from transmem.evaluation.evaluate import dataset_for_model, evaluate_model
from transmem.evaluation.nowcast import BASELINES
from transmem.evaluation.samples import evaluate_samples
from transmem.training.predictor import load_predictor
from transmem.training.trainer import resolve_device

COLUMNS = ("mse", "mae", "ssim", "psnr", "csi")


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of checkpoints on a test split (per frame and mean)")
    p.add_argument("checkpoints", nargs="*", help="best.safetensors files (or zoo model files)")
    p.add_argument("--baseline", choices=tuple(BASELINES),
                   help="also score a baseline as a row: persistence = the last input frame; extrapolation = pysteps "
                        "Lagrangian persistence (needs pip install transmem[radar]); then checkpoints are optional "
                        "and --dataset is required")
    p.add_argument("--dataset", help="dataset name (default: the first checkpoint's training dataset)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--size", type=positive_int, help="number of sequences (default: the dataset's, or the training run's)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="dataset option (repeatable)")
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in THRESHOLDS),
                   help="CSI / POD / FAR thresholds in dBZ for radar data (default 20,30,40)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--samples", type=positive_int, default=1,
                   help="stochastic models (savp): N prior samples per sequence; reports the best sample per sequence "
                        "(each metric separately) and the mean over samples (default 1: one sample)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of a stochastic model's samples (default 0, as in training's validation and test; the "
                        "same seed, batch size and device give the same samples)")
    p.add_argument("--json", help="write all results (per-frame curves included) to this JSON file")
    p.add_argument("--csv", help="write per-frame rows to this CSV file")
    p.set_defaults(func=run)


def dataset_for(args: argparse.Namespace, meta: dict):
    return dataset_for_model(meta, args.split, dataset=args.dataset, size=args.size, options=parse_options(args.option))


def check_samples(path: str, net, meta: dict, samples: int) -> None:
    if samples > 1 and not getattr(net, "stochastic", False):
        backbone = meta.get("net", {}).get("backbone", "?")
        raise UserError(f"{path}: --samples {samples} needs a stochastic backbone (savp), but '{backbone}' is "
                        "deterministic (one future per input); drop --samples")


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    if not args.checkpoints and not args.baseline:
        raise UserError("give checkpoints to evaluate, or --baseline persistence|extrapolation with --dataset")
    if args.baseline and not args.checkpoints and not args.dataset:
        raise UserError("--baseline without checkpoints needs --dataset (e.g. --dataset radar-beijing-synth)")
    baseline = None
    if args.baseline:
        try:
            baseline = BASELINES[args.baseline]()
        except ImportError as e:
            raise UserError(str(e)) from None
    loaded = [(path, *load_predictor(path)) for path in args.checkpoints]
    for path, net, meta in loaded:
        check_samples(path, net, meta, args.samples)
    data = dataset_for(args, loaded[0][2] if loaded else {})
    results, rows = {}, []  # rows: (checkpoint, row label, method, metrics, ms per sequence)
    for path, net, meta in loaded:
        method = meta.get("method", "?")
        if args.samples > 1:
            r = evaluate_samples(net.to(device), data, samples=args.samples, seed=args.seed,
                                 batch_size=args.batch_size, thresholds=thresholds, device=device)
            rows += [(path, f"{kind} of {args.samples}", method, r[kind], r["test_ms_per_seq"])
                     for kind in ("best", "mean")]
        else:
            r = evaluate_model(net.to(device), data, batch_size=args.batch_size, thresholds=thresholds,
                               device=device, seed=args.seed)
            rows.append((path, None, method, r, r["test_ms_per_seq"]))
        results[path] = {**r, "method": method}
    if baseline is not None:
        r = evaluate_model(baseline, data, batch_size=args.batch_size, thresholds=thresholds)
        rows.append((args.baseline, "baseline" if args.samples > 1 else None, "baseline", r, r["test_ms_per_seq"]))
        results[args.baseline] = {**r, "method": "baseline"}
    print(f"{data.name} / {data.split}: {len(data)} sequences, {data.t_in} -> {data.t_out} frames"
          + (f"; {args.samples} samples per sequence (seed {args.seed})" if args.samples > 1 else ""))
    shown = [c for c in COLUMNS if any(c in row[3] for row in rows)]
    label = f"{'row':<13} " if args.samples > 1 else ""
    print(f"{'checkpoint':<44} {'method':<16} {label}" + " ".join(f"{c.upper():>8}" for c in shown) + f" {'ms/seq':>8}")
    for path, kind, method, r, ms in rows:
        vals = [(r[c][0] if isinstance(r[c], list) else r[c]) if c in r else None for c in shown]
        print(f"{str(path)[-44:]:<44} {method:<16} " + (f"{kind:<13} " if kind else "")
              + " ".join(f"{v:8.4g}" if v is not None else f"{'-':>8}" for v in vals) + f" {ms:8.1f}")
    print("per frame MSE: " + "; ".join(
        f"{Path(p).parent.name or p}{' ' + kind if kind else ''}: " + " ".join(f"{v:.1f}" for v in r["mse_per_frame"])
        for p, kind, _, r, _ in rows))
    document = {"dataset": data.name, "split": data.split, "n_sequences": len(data), "results": results}
    if args.json:
        text = json.dumps(document, indent=2)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(text))
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["checkpoint", *(["row"] if args.samples > 1 else []), "frame", *shown])
        for path, kind, _, r, _ in rows:
            for f in range(data.t_out):
                row = [((r[f"{c}_per_frame"][0] if c == "csi" else r[f"{c}_per_frame"])[f] if c in r else "")
                       for c in shown]
                writer.writerow([path, *([kind.split()[0]] if kind else []), f + 1, *row])
        atomic_write(args.csv, lambda tmp: Path(tmp).write_text(buf.getvalue()))
    return 0
