"""The flying-digits study's own parts of docs/results-flying-digits/tables.md (called by experiments/run.py after the
generic tables): Table 1 beside the paper's, one line per paper claim, Fig. 7 (test MSE against the target's
training-set size), the convergence check, the transfer-gate averages and a prediction strip, all from the result
files alone."""
from __future__ import annotations

import statistics

from report_common import by_run, convergence, gate_table, mean_std, memory_table, prediction_strip, run_label, seed_spread, tables, verdict

# Paper Table 1 (ConvLSTM rows; 64x64 frames, 80,000 iterations): run name -> (MSE/frame, SSIM)
PAPER = {
    "scratch": (120.5, 0.712),
    "finetune-1": (114.8, 0.720),
    "finetune-2": (110.0, 0.732),
    "mt-1": (96.1, 0.762),
    "mt-2": (97.3, 0.756),
    "mt-both": (94.7, 0.777),
}
TABLE = "Table 1 at the converged scale"
FIG7 = {"scratch": "scratch", "finetune-2": "finetune from 2 digits", "mt-both-released": "TMU (released cell) from both"}
FRACTIONS = (0.25, 0.5, 1.0, 2.0)  # of the 4,000 target sequences; 1.0 is Table 1's run
STRIP = ("scratch", "scratch-gn", "finetune-2", "mt-both", "mt-both-released")


def paper_table(study, results: dict) -> list[str]:
    groups = tables(study).get(TABLE, [])
    rows = by_run(study, results, groups)
    scratch = [r["test"]["mse"] for r in rows.get("scratch", [])]
    if not scratch:
        return []
    base = statistics.mean(scratch)
    lines = ["| run | MSE/frame | vs scratch | seeds | paper MSE/frame | paper vs scratch |", "|---|---|---|---|---|---|"]
    for name, done in rows.items():
        if not done:
            continue
        mse = [r["test"]["mse"] for r in done]
        paper, paper_change = PAPER.get(name, ("", None))[0], ""
        if paper:
            paper_change = f"{100 * (paper / PAPER['scratch'][0] - 1):+.1f} %"
        lines.append(f"| {run_label(study, name, groups)} | {mean_std(mse, 2)} | {100 * (statistics.mean(mse) / base - 1):+.1f} % | "
                     f"{len(done)} | {paper} | {paper_change} |")
    return ["## Table 1 beside the paper's", "", "The paper's numbers are for 64x64 frames and 80,000 iterations; "
            "compare the changes against scratch, not the absolute values.", "", *lines, ""]


def claims(study, results: dict) -> list[str]:
    """One line per paper claim on flying digits: holds or does not, with the numbers (mean over seeds)."""
    rows = by_run(study, results)
    checks = [
        ("memory transfer from both beats finetuning from 2 digits (paper 94.7 against 110.0)", "mt-both", "finetune-2"),
        ("the same with the authors' released cell", "mt-both-released", "finetune-2"),
        ("memory transfer from both beats scratch (paper 94.7 against 120.5)", "mt-both", "scratch"),
        ("memory transfer from 1 digit beats scratch (paper 96.1 against 120.5)", "mt-1", "scratch"),
        ("memory transfer from 2 digits beats scratch (paper 97.3 against 120.5)", "mt-2", "scratch"),
        ("finetuning from 2 digits beats scratch (paper 110.0 against 120.5)", "finetune-2", "scratch"),
        ("\"it is the memory transfer mechanism that improves the final results, instead of the engineering on the "
         "network architecture\": the released TMU beats the same network at beta 0", "mt-both-released",
         "mt-both-released-beta0"),
        ("the same for a target started from the 2-digit source's weights (beyond the paper)", "mt-both-init2",
         "mt-both-init2-beta0"),
        ("finetuning into the released TMU network beats finetuning into a ConvLSTM, both from the 2-digit source "
         "(beyond the paper: the TMU network at beta 0, its sources never in the loss)", "mt-both-init2-beta0",
         "finetune-2"),
        ("the released cell's gain is not its LayerNorm: the released TMU beats ConvLSTM + gate norm",
         "mt-both-released", "scratch-gn"),
        ("with twice the target data, memory transfer still beats finetuning (paper Fig. 7)", "mt-both-released-f2",
         "finetune-2-f2"),
    ]
    full = {k: v for k, v in rows.items() if all(r["config"]["data"].get("fraction", 1.0) == 1.0 for r in v)}
    out, spread = [], seed_spread(full)  # the claims compare full-data rows: Fig. 7's smaller sets vary more
    for text, winner, loser in checks:
        w, v = ([r["test"]["mse"] for r in rows.get(name, [])] for name in (winner, loser))
        out.append(f"- {text}: " + (verdict(w, v, names=(winner, loser), spread=spread) if w and v else "not yet measured"))
    return ["## The paper's claims, here (test MSE/frame, mean over seeds)", "", *out, ""]


def fig7(study, results: dict) -> list[str]:
    """Test MSE against the target's training-set size (its 100 % point is Table 1's run): the seeds' mean, and
    their range as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = by_run(study, results)
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    drawn = []
    for name, label in FIG7.items():
        points = []
        for f in FRACTIONS:
            done = [r["test"]["mse"] for r in rows.get(name if f == 1.0 else f"{name}-f{f:g}", [])]
            if done:
                points.append((4000 * f, statistics.mean(done), min(done), max(done), len(done)))
        if len(points) > 1:
            x, mean, low, high, n = zip(*points)
            ax.errorbar(x, mean, yerr=[[m - lo for m, lo in zip(mean, low)], [h - m for m, h in zip(mean, high)]],
                        marker="o", ms=3, capsize=2, lw=1.1, label=f"{label} (seeds {'/'.join(map(str, n))})")
            drawn.append(label)
    if not drawn:
        plt.close(fig)
        return []
    ax.set_xscale("log", base=2)
    ax.set_xticks([1000, 2000, 4000, 8000], ["1,000", "2,000", "4,000", "8,000"])
    ax.set_xlabel("target training sequences")
    ax.set_ylabel("test MSE / frame")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    study.report_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(study.report_dir / "fig7.png")
    plt.close(fig)
    return ["## Fig. 7: test MSE against the target's training-set size (paper Fig. 7)", "",
            "Each point the mean over its seeds (the legend gives them per point), the bars their range; 4,000 "
            "sequences is Table 1's run.", "", "![Fig. 7](fig7.png)", ""]


def write_report(study, results: dict, parts: list[str]) -> list[str]:
    return parts + paper_table(study, results) + claims(study, results) + fig7(study, results) + \
        convergence(study, results) + gate_table(results) + memory_table(results) + \
        prediction_strip(study, results, STRIP, "predictions-converged.png",
                         "Predictions (test sequence 0, seed 0; test MSE/frame of the run in brackets)", TABLE)
