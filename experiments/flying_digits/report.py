"""Tables and figures of the flying-digits study from its finished runs (called by run.py).

Writes into docs/results-flying-digits/: tables.md (every table of docs/results-flying-digits.md), beta.png (the Fig. 4
sweep), learning-curves.png (validation MSE against step), predictions.png (Fig. 3) and gates.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import numpy as np

# Paper Table 1 (ConvLSTM rows; 64x64 frames, 80,000 iterations): label -> (MSE/frame, SSIM)
PAPER = {
    "scratch": (120.5, 0.712),
    "finetune-1": (114.8, 0.720),
    "finetune-2": (110.0, 0.732),
    "mt-1": (96.1, 0.762),
    "mt-2": (97.3, 0.756),
    "mt-both": (94.7, 0.777),
}


def _results(run) -> dict | None:
    path = run.folder / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _loss_ratio(run) -> float | None:
    """beta * L_distill / L_frame over the last 5 logged rows (the weight the distillation really has)."""
    path = run.folder / "log.csv"
    if not path.is_file():
        return None
    rows = [r for r in csv.DictReader(open(path)) if r["distill"]][-5:]
    if not rows:
        return None
    beta = json.loads(run.key)["beta"]
    return beta * statistics.mean(float(r["distill"]) for r in rows) / statistics.mean(float(r["frame"]) for r in rows)


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "not run"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _by_name(runs, group: str) -> dict[str, list]:
    """group's runs: base name (without -s<seed>) -> runs over seeds, in the study's order."""
    out: dict[str, list] = {}
    for run in runs:
        if run.group == group:
            out.setdefault(run.name.rsplit("-s", 1)[0], []).append(run)
    return out


def table_one(runs) -> str:
    rows = _by_name(runs, "table")
    scratch = [r["test"]["mse"] for r in map(_results, rows.get("scratch", [])) if r]
    base = statistics.mean(scratch) if scratch else None
    lines = ["| method | sources | MSE/frame | SSIM | vs scratch | seeds | paper MSE / SSIM | paper vs scratch |",
             "|---|---|---|---|---|---|---|---|"]
    for name, group in rows.items():
        done = [r for r in map(_results, group) if r]
        mse = [r["test"]["mse"] for r in done]
        ssim = [r["test"]["ssim"] for r in done]
        change = f"{100 * (statistics.mean(mse) / base - 1):+.1f} %" if mse and base else ""
        sources = ", ".join(s.removeprefix("demo-") for s in json.loads(group[0].key)["sources"]) or "none"
        p_mse, p_ssim = PAPER.get(name, (None, None))
        paper = f"{p_mse} / {p_ssim}" if p_mse else ""
        p_change = f"{100 * (p_mse / PAPER['scratch'][0] - 1):+.1f} %" if p_mse else ""
        lines.append(f"| {group[0].label} | {sources} | {_mean_std(mse, 2)} | {_mean_std(ssim, 3)} | {change} | "
                     f"{len(done)} | {paper} | {p_change} |")
    return "\n".join(lines)


def study_table(runs, group: str, what: str) -> str:
    lines = [f"| {what} | MSE/frame | SSIM | beta x L_distill / L_frame at the end | run |", "|---|---|---|---|---|"]
    for name, group_runs in _by_name(runs, group).items():
        done = [(run, r) for run in group_runs if (r := _results(run))]
        mse = [r["test"]["mse"] for _, r in done]
        ssim = [r["test"]["ssim"] for _, r in done]
        ratios = [x for run, _ in done if (x := _loss_ratio(run)) is not None]
        ratio = f"{statistics.mean(ratios):.2f}" if ratios else "-"
        lines.append(f"| {group_runs[0].label} | {_mean_std(mse, 2)} | {_mean_std(ssim, 3)} | {ratio} | "
                     f"{group_runs[0].folder.name} |")
    return "\n".join(lines)


def beta_figure(runs, path: Path) -> None:
    """Test MSE against beta for the paper's cell (beta group) and the released cell (cell group), with the
    scratch and finetune baselines as mean +- std bands over the table's seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {"paper cell, every layer": [], "released cell (layer 0)": []}
    seen = set()
    for run in runs:
        config, r = json.loads(run.key), _results(run)
        if run.group not in ("beta", "cell") or r is None or run.folder in seen:
            continue
        seen.add(run.folder)
        if config["model"]["released"]:
            series["released cell (layer 0)"].append((config["beta"], r["test"]["mse"]))
        elif config["model"]["tmu_layers"] is None and config["distill_norm"] == "element":
            series["paper cell, every layer"].append((config["beta"], r["test"]["mse"]))
    if not any(series.values()):
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=120)
    for (label, points), color in zip(series.items(), ("C0", "C1")):
        positive = sorted(p for p in points if p[0] > 0)
        ax.plot([b for b, _ in positive], [m for _, m in positive], "o-", color=color, label=f"TMU, {label}")
        for b, m in points:
            if b == 0:
                ax.axhline(m, color=color, ls=":", label=f"same, beta = 0 (sources unused)")
    table = _by_name(runs, "table")
    for name, color in (("scratch", "k"), ("finetune-2", "g")):
        mse = [r["test"]["mse"] for r in map(_results, table.get(name, [])) if r]
        if mse:
            mean, std = statistics.mean(mse), statistics.stdev(mse) if len(mse) > 1 else 0.0
            ax.axhline(mean, color=color, ls="--", label=f"{table[name][0].label} ({len(mse)} seeds)")
            ax.axhspan(mean - std, mean + std, color=color, alpha=0.1)
    ax.set_xscale("log")
    ax.set_xlabel("beta")
    ax.set_ylabel("test MSE / frame")
    ax.set_title("beta sweep (TMU: seed 0; bands: mean +- std)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def learning_figure(runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    drawn = False
    for name, group in _by_name(runs, "length").items():
        log = group[0].folder / "valid.csv"
        if not log.is_file():
            continue
        rows = list(csv.DictReader(open(log)))
        ax.plot([int(r["step"]) for r in rows], [float(r["mse"]) for r in rows], "o-", ms=3, label=group[0].label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return
    ax.set_xlabel("iteration (batch 16)")
    ax.set_ylabel("validation MSE / frame")
    ax.set_title("learning curves (seed 0)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def gate_averages(runs) -> dict:
    """Mean transfer gate per source and TMU layer, over the 500 test sequences, for each seed-0 TMU run."""
    from transmem.cli.evaluate import dataset_for
    from transmem.cli.gates import gate_statistics
    from transmem.models.io import load_model

    out = {}
    for run in runs:
        best = run.folder / "best.safetensors"
        if not run.name.startswith("mt-") or run.seed != 0 or not best.is_file() or run.folder.name in out:
            continue
        net, meta, _ = load_model(best)
        if net.config.n_sources == 0:
            continue
        data = dataset_for(argparse.Namespace(dataset=None, split="test", size=None, option=None), meta)
        means, _ = gate_statistics(net, data, 50)
        names = meta["sources"]
        out[run.folder.name] = {
            "per_layer": {str(k): dict(zip(names, map(float, v))) for k, v in sorted(means.items())},
            "mean": dict(zip(names, map(float, np.mean([means[k] for k in means], axis=0)))),
        }
    return out


def write_report(study: dict, runs, folder: Path) -> None:
    import torch

    from transmem.cli.demo import draw_predictions

    torch.set_flush_denormal(True)
    folder.mkdir(parents=True, exist_ok=True)
    groups = {run.group for run in runs}
    parts = [f"<!-- written by experiments/flying_digits/run.py from {study['workdir']}; do not edit by hand -->"]
    if "table" in groups:
        parts += ["## Table 1 at a CPU scale", "", table_one(runs), ""]
    titles = {"beta": ("Fig. 4: beta", "beta"), "norm": ("Reduction of L_distill", "reduction"),
              "cell": ("TMU layers and cell", "cell"), "combine": ("Memory transfer from a source's weights", "run"),
              "quality": ("Source quality", "sources"),
              "length": ("Training length (1,500 iterations)", "method")}
    for group, (title, what) in titles.items():
        if group in groups:
            parts += [f"## {title}", "", study_table(runs, group, what), ""]
    gates = gate_averages(runs)
    (folder / "gates.json").write_text(json.dumps(gates, indent=2) + "\n")
    if gates:
        parts += ["## Transfer-gate averages (seed 0, test set)", "", "| run | source: mean gate (layer 0 / layer 1 ...) |",
                  "|---|---|"]
        for name, g in gates.items():
            cells = [f"{s}: {g['mean'][s]:.3f} (" + " / ".join(f"{g['per_layer'][k][s]:.3f}" for k in g["per_layer"]) + ")"
                     for s in g["mean"]]
            parts.append(f"| {name} | {'; '.join(cells)} |")
        parts.append("")
    (folder / "tables.md").write_text("\n".join(parts) + "\n")
    print("\n".join(parts))
    beta_figure(runs, folder / "beta.png")
    learning_figure(runs, folder / "learning-curves.png")
    table = _by_name(runs, "table")
    models = [(table[n][0].label, table[n][0].folder / "best.safetensors") for n in ("scratch", "finetune-2", "mt-both")
              if n in table and (table[n][0].folder / "best.safetensors").is_file()]
    if models:
        draw_predictions(folder / "predictions.png", models)
    print(f"wrote {folder}")
