"""The flying-digits study's own parts of docs/results-flying-digits/tables.md (called by experiments/run.py after the
generic tables): Table 1 beside the paper's, the convergence check of the scratch curves, the transfer-gate averages
and a prediction strip, all from the result files alone."""
from __future__ import annotations

import statistics

from report_common import run_label, by_run, flattening, mean_std, tables

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


def convergence(study, results: dict) -> list[str]:
    """The scale criterion: scratch's validation MSE improves by less than 2 % over the last fifth of training."""
    lines = []
    for name in sorted({run.result_path.stem for run in study.runs}):
        change = flattening(results[name]["valid_curve"]) if name in results else None
        if change is not None:
            lines.append(f"- {name}: {100 * change:.2f} % ({'flat' if change < 0.02 else 'still improving'})")
    if not lines:
        return []
    return ["## Convergence: validation-MSE improvement over the last fifth of training (criterion: < 2 %)", "", *lines, ""]


def gates(results: dict) -> list[str]:
    rows = [(name, r["gates"]) for name, r in results.items() if r.get("gates")]
    if not rows:
        return []
    out = ["## Transfer-gate averages (test set)", "", "| run | source: mean gate (layer 0 / layer 1 ...) |", "|---|---|"]
    for name, g in sorted(rows):
        cells = [f"{s}: {g['mean'][s]:.3f} (" + " / ".join(f"{g['per_layer'][k][s]:.3f}" for k in g["per_layer"]) + ")"
                 for s in g["mean"]]
        out.append(f"| {name} | {'; '.join(cells)} |")
    return out + [""]


def prediction_strip(study, results: dict) -> list[str]:
    from run import from_uint8

    from transmem.data.io import write_strip

    groups = tables(study).get(TABLE, [])
    chosen = [(name, results[f"{name}-s0"]) for name in STRIP if results.get(f"{name}-s0", {}).get("sample")]
    if not chosen:
        return []
    first = chosen[0][1]["sample"]
    rows, labels = [from_uint8(first["input"])[0], from_uint8(first["truth"])[0]], ["input", "truth"]
    for name, r in chosen:
        rows.append(from_uint8(r["sample"]["prediction"])[0])
        labels.append(f"{run_label(study, name, groups)[:34]} ({r['test']['mse']:.1f})")
    write_strip(study.report_dir / "predictions-converged.png", rows, row_labels=labels, scale=2)
    return ["## Predictions (test sequence 0, seed 0; test MSE/frame of the run in brackets)", "",
            "![predictions](predictions-converged.png)", ""]


def write_report(study, results: dict, parts: list[str]) -> list[str]:
    return parts + paper_table(study, results) + convergence(study, results) + gates(results) + \
        prediction_strip(study, results)
