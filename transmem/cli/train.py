"""`transmem train` and `transmem pretrain`: a YAML config (or the defaults), shortcut flags, then `--set key=value`
overrides, in that order of precedence; the resolved config is saved with the run."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from transmem.cli import positive_int
from transmem.models.zoo import export_to_zoo, list_zoo, zoo_root
from transmem.registry import BACKBONES, DATASETS, METHODS
from transmem.training.config import TrainConfig, load_config

# flag -> (config key, how the value is written into the override)
SHORTCUTS = {
    "dataset": "data.name",
    "fraction": "data.fraction",
    "method": "method",
    "beta": "beta",
    "backbone": "model.backbone",
    "hidden": "model.hidden",
    "patch": "model.patch_size",
    "kernel": "model.kernel_size",
    "tmu_layers": "model.tmu_layers",
    "iterations": "iterations",
    "batch_size": "batch_size",
    "lr": "lr",
    "seed": "seed",
    "out": "out",
    "device": "device",
}


def add_common(p: argparse.ArgumentParser, *, with_method: bool) -> None:
    p.add_argument("--config", help="YAML config file (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set model.hidden=[32,32] (repeatable; wins over everything)")
    p.add_argument("--dataset", help=f"dataset: {', '.join(DATASETS.names())}")
    p.add_argument("--fraction", type=float, help="share of the training set (paper Fig. 7: 0.25 .. 2)")
    p.add_argument("--backbone", choices=BACKBONES.names())
    p.add_argument("--hidden", type=lambda s: [int(x) for x in s.split(",")], help="widths per layer, e.g. 64,64,64,64")
    p.add_argument("--patch", type=positive_int, help="frame sub-scaling patch size")
    p.add_argument("--kernel", type=positive_int, help="filter size")
    p.add_argument("--iterations", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--out", help="run folder")
    p.add_argument("--zoo", help="zoo folder (default: $TRANSMEM_ZOO or ./zoo)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoints, logs and results are deleted first)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    if with_method:
        p.add_argument("--method", choices=METHODS.names())
        p.add_argument("--source", action="append", default=None, help="zoo entry or checkpoint file (repeatable)")
        p.add_argument("--beta", type=float, help="weight of the distillation loss (Eq. 6)")
        p.add_argument("--tmu-layers", type=lambda s: [int(x) for x in s.split(",")], help="which layers are TMUs, e.g. 0")
        p.add_argument("--tmu-cell", choices=("released", "paper"),
                       help="released: the authors' released cell, layer 0 only (the default); "
                            "paper: the paper's text, every layer a TMU")


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    overrides = []
    for flag, key in SHORTCUTS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if getattr(args, "source", None):
        overrides.append(f"sources={json.dumps(args.source)}")
    if getattr(args, "tmu_cell", None):
        overrides.append(f"model.released={'true' if args.tmu_cell == 'released' else 'false'}")
    return load_config(args.config, overrides + args.set)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a target model (scratch, finetune, memory transfer, baselines)")
    add_common(p, with_method=True)
    p.set_defaults(func=run_train)
    p = sub.add_parser("pretrain", help="train a source model and save it into the zoo with a model card")
    add_common(p, with_method=False)
    p.add_argument("--name", required=True, help="zoo entry name, e.g. mnist1-convlstm")
    p.add_argument("--force", action="store_true", help="replace an existing zoo entry")
    p.set_defaults(func=run_pretrain)


def _summary(results: dict) -> str:
    t = results["test"]
    return (f"test MSE/frame {t['mse']:.2f}  SSIM {t['ssim']:.4f}  (best validation at step {results['best']['step']}); "
            f"params train {results['params_train'] / 1e6:.2f}M test {results['params_test'] / 1e6:.2f}M")


def run_train(args: argparse.Namespace) -> int:
    from transmem.training.trainer import Trainer, check_out_folder, shutdown_distributed

    config = resolve_config(args)
    check_out_folder(config.out, resume=args.resume, overwrite=args.overwrite)  # before data and networks load
    trainer = Trainer(config, zoo=args.zoo, progress=not args.no_progress)
    try:
        results = trainer.run(resume=args.resume, overwrite=args.overwrite)
    finally:
        shutdown_distributed()
    print(_summary(results))
    print(f"run folder: {config.out}")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    from transmem.training.trainer import Trainer, check_out_folder

    config = resolve_config(args)
    if config.method != "scratch" or config.sources:
        raise ValueError("pretrain trains a source from scratch: drop method/sources from the config")
    folder = zoo_root(args.zoo) / args.name
    if folder.exists() and not args.force:
        raise ValueError(f"zoo entry {folder} exists; use it as a source, or pass --force to replace it")
    if args.out is None and not any(s.startswith("out=") for s in args.set):
        config.out = str(Path("runs") / f"pretrain-{args.name}")
    check_out_folder(config.out, resume=args.resume, overwrite=args.overwrite)
    trainer = Trainer(config, zoo=args.zoo, progress=not args.no_progress)
    results = trainer.run(resume=args.resume, overwrite=args.overwrite)
    if trainer.rank == 0:
        export_to_zoo(trainer.best_path, folder, name=args.name, results=results)
        print(_summary(results))
        print(f"zoo entry: {folder}  (entries now: {', '.join(list_zoo(args.zoo))})")
    return 0
