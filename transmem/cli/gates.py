"""`transmem gates`: how much each source is let in — transfer-gate averages per source and per layer on a dataset
(paper Table 5), and gate maps over time as a picture — and how large each layer's memory gets over the rollout
(Eq. 5 can make it grow geometrically; transmem/evaluation/memory.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from transmem.checkpoint import atomic_write
from transmem.cli.evaluate import dataset_for
from transmem.cli import positive_int
from transmem.evaluation.gates import gate_statistics
from transmem.evaluation.memory import memory_scale
from transmem.models.network import PredictiveNet
from transmem.training.predictor import load_predictor
from transmem.viz import draw_gate_maps


def add_parser(sub) -> None:
    p = sub.add_parser("gates", help="transfer-gate averages per source and layer, and gate maps over time")
    p.add_argument("checkpoint", help="a TMU model checkpoint (best.safetensors)")
    p.add_argument("--dataset", help="dataset (default: the one the model was trained on)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--size", type=positive_int, default=64, help="sequences to average over (default 64)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="dataset option (repeatable)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--out", default="gates", help="folder for gates.json and gates.png (default ./gates)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    net, meta = load_predictor(args.checkpoint)
    if not isinstance(net, PredictiveNet) or net.config.n_sources == 0:
        raise ValueError(f"{args.checkpoint} is not a TMU model (it has no transfer gates); train one with "
                         "--method memory-transfer")
    data = dataset_for(args, meta)
    names = meta.get("sources") or [f"source{m}" for m in range(net.config.n_sources)]
    means, maps = gate_statistics(net, data, args.batch_size)
    layers = sorted(means)
    overall = np.mean([means[k] for k in layers], axis=0)
    print(f"transfer gates a_t^m averaged over {len(data)} sequences of {data.name}/{data.split}")
    print(f"{'layer':<8}" + "".join(f"{n[:18]:>20}" for n in names))
    for k in layers:
        print(f"{k:<8}" + "".join(f"{v:>20.3f}" for v in means[k]))
    print(f"{'all':<8}" + "".join(f"{v:>20.3f}" for v in overall))
    scale = memory_scale(net, data, args.batch_size)
    steps = len(next(iter(scale.values())))
    shown = sorted({0, data.t_in - 1, steps - 1})
    print("memory scale, mean |C_t| at step " + ", ".join(str(t + 1) for t in shown) + f" of {steps}")
    for k, v in scale.items():
        print(f"{k:<8}" + "".join(f"{v[t]:>20.4g}" for t in shown))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = {"checkpoint": args.checkpoint, "dataset": data.name, "split": data.split, "sources": names,
                "per_layer": {str(k): dict(zip(names, map(float, means[k]))) for k in layers},
                "mean": dict(zip(names, map(float, overall))),
                "memory_scale": {str(k): [float(x) for x in v] for k, v in scale.items()}}
    text = json.dumps(document, indent=2)
    atomic_write(out / "gates.json", lambda tmp: Path(tmp).write_text(text))
    draw_gate_maps(out / "gates.png", data.frames[0, 1 : data.t_in + data.t_out], maps, names)
    print(f"wrote {out / 'gates.json'} and {out / 'gates.png'}")
    return 0
