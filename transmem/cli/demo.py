"""`transmem demo`: the flying-digits benchmark end to end at a CPU scale (the README's first command).

1. sources: ConvLSTMs on 1- and 2-digit Moving MNIST, taken from the zoo (zoo/demo-mnist1, zoo/demo-mnist2) or
   pretrained when missing;
2. the 3-digit target trained from scratch, by finetuning the 2-digit source, and by memory transfer from both;
3. a table like the paper's Table 1, a picture of the predictions (like Fig. 3) and the transfer-gate averages.

Runs whose results.json already holds the same config are reused, so a second `make demo` only prints.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from transmem.evaluation.evaluate import dataset_for_model
from transmem.evaluation.gates import gate_statistics
from transmem.models.io import load_model
from transmem.models.zoo import export_to_zoo, list_zoo, zoo_root
from transmem.training.config import TrainConfig, config_from_dict, load_config
from transmem.viz import draw_predictions

SOURCES = {"demo-mnist1": "mnist1", "demo-mnist2": "mnist2"}
# sources: the paper's training-set size and their own length (zoo/README.md gives the matching command)
SOURCE_SETTINGS = ("data.train_size=10000", "iterations=1500")
TARGETS = (  # (label, method, sources)
    ("ConvLSTM from scratch", "scratch", []),
    ("ConvLSTM finetune", "finetune", ["demo-mnist2"]),
    ("TMU memory transfer", "memory-transfer", ["demo-mnist1", "demo-mnist2"]),
)


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="flying digits end to end: sources, scratch / finetune / memory transfer")
    p.add_argument("--config", default="configs/demo.yaml", help="base config (default configs/demo.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    p.add_argument("--workdir", default="runs/demo", help="where the runs go (default runs/demo)")
    p.add_argument("--zoo", help="zoo folder with the demo sources (default: $TRANSMEM_ZOO or ./zoo)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _train(config: TrainConfig, zoo: str | None, progress: bool) -> dict:
    """Train, continue an interrupted run, or reuse a finished run with the same config."""
    from transmem.training.trainer import Trainer

    done = Path(config.out) / "results.json"
    if done.is_file():
        results = json.loads(done.read_text())
        if "config" in results and config_from_dict(results["config"]).to_dict() == config.to_dict():  # old runs lack new keys
            print(f"reusing {done}")
            return results
    interrupted = (Path(config.out) / "last.safetensors").exists()  # resumed (refused if its settings differ)
    # without a checkpoint the folder holds at most the logs of a run killed in its first steps: started over
    return Trainer(config, zoo=zoo, progress=progress).run(resume=interrupted, overwrite=not interrupted)


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)
    work, progress = Path(args.workdir), not args.no_progress

    def base(first=(), **kw) -> TrainConfig:  # the config file < `first` < the user's --set < kw
        return load_config(args.config, [*first, *args.set, *(f"{k}={json.dumps(v)}" for k, v in kw.items())])

    for name, dataset in SOURCES.items():
        if name not in list_zoo(args.zoo):
            print(f"pretraining source {name} on {dataset} (kept in {zoo_root(args.zoo) / name} for later runs)")
            cfg = base(SOURCE_SETTINGS, out=str(work / f"pretrain-{name}"))
            cfg.data.name = dataset
            results = _train(cfg, args.zoo, progress)
            export_to_zoo(Path(cfg.out) / "best.safetensors", zoo_root(args.zoo) / name, name=name, results=results)
    rows = []
    for label, method, sources in TARGETS:
        cfg = base(method=method, sources=sources, out=str(work / method))
        print(f"training: {label}")
        rows.append((label, ", ".join(s.removeprefix("demo-") for s in sources) or "none", _train(cfg, args.zoo, progress)))
    table = format_table(rows, cfg)
    print("\n" + table)
    (work / "table.md").write_text(table + "\n")
    draw_predictions(work / "predictions.png", [(label, work / r["method"] / "best.safetensors") for label, _, r in rows])
    net, meta, _ = load_model(work / "memory-transfer" / "best.safetensors")
    data = dataset_for_model(meta, "test", size=64)
    means, _ = gate_statistics(net, data, 16)
    names = meta["sources"]
    overall = np.mean([means[k] for k in sorted(means)], axis=0)
    print("transfer-gate averages (all TMU layers, 64 test sequences): "
          + ", ".join(f"{n}: {v:.3f}" for n, v in zip(names, overall)))
    print(f"wrote {work / 'table.md'} and {work / 'predictions.png'}")
    return 0


def format_table(rows, cfg: TrainConfig) -> str:
    d, m = cfg.data, cfg.model
    lines = [
        f"Flying digits, 3-digit target ({d.options.get('frame_size', 64)}px frames, {d.train_size} training sequences, "
        f"{cfg.iterations} iterations of batch {cfg.batch_size}, {m.backbone} {len(m.hidden)}x{m.hidden[0]}, seed {cfg.seed})",
        "",
        "| method | sources | MSE/frame | SSIM | params train | params test | train s/batch | test ms/seq |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, sources, r in rows:
        t = r["test"]
        lines.append(f"| {label} | {sources} | {t['mse']:.2f} | {t['ssim']:.3f} | {r['params_train'] / 1e6:.2f}M | "
                     f"{r['params_test'] / 1e6:.2f}M | {r['train_s_per_batch']:.3f} | {t['test_ms_per_seq']:.1f} |")
    return "\n".join(lines)
