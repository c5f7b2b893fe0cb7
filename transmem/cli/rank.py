"""`transmem rank-sources`: which zoo sources a target should learn from, by three signals side by side
(evaluation/ranking.py): each source's zero-shot error on the target, its transfer-gate average after a short
memory-transfer run with all of them, and measured finetune results where result files are given."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from transmem.checkpoint import atomic_write
from transmem.cli import UserError, positive_int
from transmem.evaluation.ranking import rank_sources
from transmem.registry import DATASETS
from transmem.training.config import load_config


def add_parser(sub) -> None:
    p = sub.add_parser("rank-sources", help="rank zoo sources for a target: zero-shot error, gates, measured results")
    p.add_argument("--config", help="the target's training config (its data section names the target)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--dataset", help=f"target dataset: {', '.join(DATASETS.names())}")
    p.add_argument("--source", action="append", required=True, help="zoo entry or checkpoint file (repeatable)")
    p.add_argument("--zoo", help="zoo folder (default: $TRANSMEM_ZOO or ./zoo)")
    p.add_argument("--iterations", type=int, default=200,
                   help="length of the short memory-transfer run for the gate signal (default 200; 0 skips it)")
    p.add_argument("--results", action="append", default=[], metavar="PATH",
                   help="result JSON files or folders of them (a study's results/, run folders): measured finetuning")
    p.add_argument("--batch-size", type=positive_int, default=16,
                   help="batch for the zero-shot and gate evaluations (default 16; training keeps the config's)")
    p.add_argument("--out", default="runs/rank-sources", help="folder for ranking.json and the short run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def result_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(path.glob("*.json")) + sorted(path.glob("*/results.json"))
        else:
            raise UserError(f"--results {text}: no such file or folder")
    return files


def target_config(args: argparse.Namespace):
    """The target's config from --config, --dataset and --set only: this command's --iterations, --batch-size,
    --source and --out describe the ranking, not the target, so they never reach the config that finetune results
    are matched against (train's shortcut flags of the same names would rewrite it)."""
    dataset = [f"data.name={json.dumps(args.dataset)}"] if args.dataset else []
    return load_config(args.config, dataset + args.set)


def run(args: argparse.Namespace) -> int:
    config = target_config(args)
    files = result_files(args.results)
    out = Path(args.out)
    rows, table, agree = rank_sources(config, sources=args.source, zoo=args.zoo, iterations=args.iterations,
                                      results=files, folder=out, batch_size=args.batch_size,
                                      progress=not args.no_progress)
    print(f"sources for {config.data.name} ({config.data.valid_size} validation sequences; gates after "
          f"{args.iterations} memory-transfer iterations)")
    print(table)
    for signal, a in agree.items():
        rho = "-" if a["rho"] is None else f"{a['rho']:+.2f}"
        print(f"agreement of {signal} with measured finetuning: Spearman rho {rho} over {a['n']} source(s)")
    out.mkdir(parents=True, exist_ok=True)
    doc = {"target": config.data.name, "iterations": args.iterations, "rows": [r.to_dict() for r in rows],
           "agreement": agree, "results": [str(p) for p in files]}
    text = json.dumps(doc, indent=2)
    atomic_write(out / "ranking.json", lambda tmp: Path(tmp).write_text(text))
    print(f"wrote {out / 'ranking.json'}")
    return 0
