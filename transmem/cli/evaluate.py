"""`transmem evaluate`: the metrics of one or several checkpoints on a split, per frame and mean, as a table and as
JSON / CSV. The dataset defaults to the one the first checkpoint was trained on."""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import torch

from transmem.checkpoint import atomic_write
from transmem.data.options import parse_options
from transmem.evaluation.evaluate import dataset_for_model, evaluate_model
from transmem.training.predictor import load_predictor
from transmem.training.trainer import resolve_device

COLUMNS = ("mse", "mae", "ssim", "psnr", "csi")


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of checkpoints on a test split (per frame and mean)")
    p.add_argument("checkpoints", nargs="+", help="best.safetensors files (or zoo model files)")
    p.add_argument("--dataset", help="dataset name (default: the first checkpoint's training dataset)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--size", type=int, help="number of sequences (default: the dataset's, or the training run's)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="dataset option (repeatable)")
    p.add_argument("--thresholds", default="20", help="CSI thresholds in dBZ for radar data, e.g. 20,30,40")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write all results (per-frame curves included) to this JSON file")
    p.add_argument("--csv", help="write per-frame rows to this CSV file")
    p.set_defaults(func=run)


def dataset_for(args: argparse.Namespace, meta: dict):
    return dataset_for_model(meta, args.split, dataset=args.dataset, size=args.size, options=parse_options(args.option))


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    results, data = {}, None
    for path in args.checkpoints:
        net, meta = load_predictor(path)
        if data is None:
            data = dataset_for(args, meta)
        results[path] = evaluate_model(net.to(device), data, batch_size=args.batch_size, thresholds=thresholds,
                                       device=device)
        results[path]["method"] = meta.get("method", "?")
    print(f"{data.name} / {data.split}: {len(data)} sequences, {data.t_in} -> {data.t_out} frames")
    shown = [c for c in COLUMNS if any(c in r for r in results.values())]
    print(f"{'checkpoint':<44} {'method':<16} " + " ".join(f"{c.upper():>8}" for c in shown) + f" {'ms/seq':>8}")
    for path, r in results.items():
        vals = [r[c][0] if isinstance(r[c], list) else r[c] for c in shown]
        print(f"{str(path)[-44:]:<44} {r['method']:<16} " + " ".join(f"{v:8.4g}" for v in vals) + f" {r['test_ms_per_seq']:8.1f}")
    print("per frame MSE: " + "; ".join(
        f"{Path(p).parent.name or p}: " + " ".join(f"{v:.1f}" for v in r["mse_per_frame"]) for p, r in results.items()))
    document = {"dataset": data.name, "split": data.split, "n_sequences": len(data), "results": results}
    if args.json:
        text = json.dumps(document, indent=2)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(text))
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["checkpoint", "frame", *shown])
        for path, r in results.items():
            for f in range(data.t_out):
                row = [(r[f"{c}_per_frame"][0] if c == "csi" else r[f"{c}_per_frame"])[f] for c in shown]
                writer.writerow([path, f + 1, *row])
        atomic_write(args.csv, lambda tmp: Path(tmp).write_text(buf.getvalue()))
    return 0
