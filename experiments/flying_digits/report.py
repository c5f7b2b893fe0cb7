"""The flying-digits study's own parts of docs/results-flying-digits/tables.md (called by experiments/run.py after the
generic tables): Table 1 beside the paper's, the convergence check of the scratch curves, the transfer-gate averages
and a prediction strip, all from the result files alone."""
from __future__ import annotations

import statistics

from report_common import by_run, convergence, gate_table, mean_std, prediction_strip, run_label, tables

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


def write_report(study, results: dict, parts: list[str]) -> list[str]:
    return parts + paper_table(study, results) + convergence(study, results) + gate_table(results) + \
        prediction_strip(study, results, STRIP, "predictions-converged.png",
                         "Predictions (test sequence 0, seed 0; test MSE/frame of the run in brackets)", TABLE)
