"""The backbones study's own parts of docs/results-backbones/tables.md (called by experiments/run.py after the
generic tables): Table 2 beside the paper's for PredRNN and MIM, the ConvLSTM anchor against Table 1's 8,000
iterations, one line per paper claim, the convergence check, the gates and the predictions, all from the result
files alone."""
from __future__ import annotations

import json
import statistics

from report_common import by_run, convergence, gate_table, mean_std, memory_table, prediction_strip, run_label, seed_spread, tables, verdict

BACKBONES = ("predrnn", "mim")
# Paper Table 2 (64x64 frames, 80,000 iterations): row -> {backbone: (MSE/frame, SSIM)}
PAPER = {
    "scratch": {"predrnn": (93.4, 0.802), "mim": (89.0, 0.783)},
    "finetune-1": {"predrnn": (91.1, 0.811), "mim": (84.5, 0.794)},
    "finetune-2": {"predrnn": (89.4, 0.816), "mim": (83.2, 0.801)},
    "mt-both": {"predrnn": (84.9, 0.828), "mim": (75.3, 0.838)},
}
ROWS = {  # row -> its label (the runs are <row>-<backbone>)
    "scratch": "from scratch",
    "scratch-gn": "+ gate norm, from scratch",
    "finetune-1": "finetune from 1 digit",
    "finetune-2": "finetune from 2 digits",
    "mt-both": "TMU (paper cell) from 1 & 2 digits",
    "mt-both-released": "TMU (released cell) from 1 & 2 digits",
    "mt-both-released-beta0": "TMU (released cell), beta 0: no transfer",
    "mt-both-init2-beta0": "finetune into the released TMU network from 2 digits (beta 0)",
}
ANCHOR = "ConvLSTM at 4,000 iterations (against Table 1's 8,000)"


def _cells(done: list[dict]) -> list[str]:
    return [mean_std([r["test"]["mse"] for r in done], 2), mean_std([r["test"]["ssim"] for r in done], 3), str(len(done))]


def table2(study, results: dict) -> list[str]:
    """One row per method, the two backbones side by side, each with its seeds and the paper's MSE / SSIM."""
    rows = by_run(study, results)
    if not any(rows.get(f"{row}-{b}") for row in ROWS for b in BACKBONES):
        return []
    header = ["run", *[f"{b} {c}" for b in ("PredRNN", "MIM") for c in ("MSE/frame", "SSIM", "seeds", "vs scratch",
                                                                        "paper")]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, label in ROWS.items():
        cells = []
        for b in BACKBONES:
            done = rows.get(f"{row}-{b}", [])
            scratch = [r["test"]["mse"] for r in rows.get(f"scratch-{b}", [])]
            change = (f"{100 * (statistics.mean(r['test']['mse'] for r in done) / statistics.mean(scratch) - 1):+.1f} %"
                      if done and scratch else "")
            paper = PAPER.get(row, {}).get(b)
            cells += [*_cells(done), change, f"{paper[0]:.1f} / {paper[1]:.3f}" if paper else ""]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return ["## Table 2 beside the paper's", "",
            "Means ± std over seeds (\"not run\": no result yet). The paper's numbers are for 64x64 frames and 80,000 "
            "iterations, with its TMU cell; compare the changes against scratch. \"paper cell\": every layer a TMU, "
            "as the paper describes; \"released cell\": the authors' code, layer 0 a TMU with a LayerNorm over its "
            "gate convolution.", "", *lines, ""]


def anchor(study, results: dict) -> list[str]:
    """The ConvLSTM rows at 4,000 iterations beside the flying-digits study's at 8,000 (its committed results)."""
    done = by_run(study, results, tables(study).get(ANCHOR, []))
    other = study.folder.parent / "flying_digits" / "results"
    pairs = (("scratch-convlstm", "scratch"), ("finetune-2-convlstm", "finetune-2"),
             ("mt-both-released-convlstm", "mt-both-released"))
    lines = ["| run | MSE/frame at 4,000 | seeds | MSE/frame at 8,000 (flying digits) | seeds |", "|---|---|---|---|---|"]
    for here, there in pairs:
        eight = [json.loads(p.read_text())["test"]["mse"] for p in sorted(other.glob(f"{there}-s[0-9]*.json"))]
        if done.get(here):
            lines.append(f"| {run_label(study, here)} | {mean_std([r['test']['mse'] for r in done[here]], 2)} | "
                         f"{len(done[here])} | {mean_std(eight, 2)} | {len(eight)} |")
    if len(lines) == 2:
        return []
    return ["## What the shorter schedule costs: ConvLSTM at 4,000 and 8,000 iterations", "", *lines, ""]


def claims(study, results: dict) -> list[str]:
    rows = by_run(study, results)

    def mse(name):
        return [r["test"]["mse"] for r in rows.get(name, [])]

    out = []
    for b, name in (("predrnn", "PredRNN"), ("mim", "MIM")):
        paper = PAPER["mt-both"][b][0], PAPER["finetune-2"][b][0], PAPER["scratch"][b][0]
        checks = [(f"{name}: memory transfer from both beats finetuning from 2 digits (paper {paper[0]:g} against "
                   f"{paper[1]:g})", "mt-both", "finetune-2"),
                  (f"{name}: memory transfer from both beats scratch (paper {paper[0]:g} against {paper[2]:g})",
                   "mt-both", "scratch"),
                  (f"{name}: the gain is the transfer's, not the cell's: the released TMU beats the same network at "
                   "beta 0 (not in the paper)", "mt-both-released", "mt-both-released-beta0"),
                  (f"{name}: finetuning into the released TMU network beats finetuning into a plain {name}, both from "
                   "2 digits (not in the paper; the flying-digits study's best recipe on ConvLSTM)",
                   "mt-both-init2-beta0", "finetune-2")]
        spread = seed_spread({k: v for k, v in rows.items() if k.endswith(f"-{b}")})  # this backbone's seeds
        for text, winner, loser in checks:
            w, loss = mse(f"{winner}-{b}"), mse(f"{loser}-{b}")
            out.append(f"- {text}: " + (verdict(w, loss, spread=spread) if w and loss else "not yet measured"))
    return ["## The paper's claims, here (MSE/frame)", "", *out, ""]


def write_report(study, results: dict, parts: list[str]) -> list[str]:
    strips = []
    for b, name in (("predrnn", "PredRNN"), ("mim", "MIM")):
        strips += prediction_strip(study, results, [f"{row}-{b}" for row in ("scratch", "finetune-2", "mt-both",
                                                                              "mt-both-released")],
                                   f"predictions-{b}.png", f"{name} predictions (test sequence 0, seed 0; test "
                                   "MSE/frame in brackets)")
    return parts + table2(study, results) + claims(study, results) + anchor(study, results) + \
        convergence(study, results) + gate_table(results) + memory_table(results) + strips
