"""The human-motion study's own parts of docs/results-human-motion/tables.md (called by experiments/run.py after the
generic tables): Table 3 beside the paper's with sharpness, SAVP's best of N samples, Table 6, one line per paper
claim, the convergence check, the gates and prediction strips, all from the result files alone."""
from __future__ import annotations

import statistics

from report_common import by_run, convergence, gate_table, mean_std, memory_table, prediction_strip, run_label, verdict

# Paper Table 3 (Human3.6M, 128x128, 80,000 iterations; SAVP: the best of 100 samples by SSIM): row -> column ->
# (MSE/frame, SSIM)
PAPER3 = {
    "scratch": {"convlstm": (504.2, 0.762), "mim": (430.5, 0.790), "savp": (465.2, 0.792)},
    "finetune-kth": {"convlstm": (472.0, 0.778), "mim": (420.1, 0.796), "savp": (453.7, 0.808)},
    "finetune-weizmann": {"convlstm": (476.4, 0.774), "mim": (422.9, 0.793), "savp": (458.1, 0.805)},
    "mt-both": {"convlstm": (442.5, 0.794), "mim": (394.2, 0.813), "savp": (430.2, 0.831)},
}
PAPER6 = {"scratch-kth": 0.771, "mt-h36m-kth": 0.774, "mt-mnist2-kth": 0.808}  # Table 6: SSIM on KTH
ROWS = ("scratch", "scratch-gn", "finetune-kth", "finetune-weizmann", "mt-both", "mt-both-beta0")
COLUMNS = {"convlstm": ("ConvLSTM", ""), "mim": ("MIM", "-mim"), "savp": ("SAVP", "-savp")}


def _mean(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def _sharp(done: list[dict]) -> str:
    pred = [r["test"]["sharpness"] for r in done if "sharpness" in r["test"]]
    truth = [r["test"]["sharpness_truth"] for r in done if "sharpness_truth" in r["test"]]
    return f"{statistics.mean(pred):.4f} / {statistics.mean(truth):.4f}" if pred and truth else ""


def _best(done: list[dict], metric: str) -> list[float]:
    return [r["test_samples"]["best"][metric] for r in done if r.get("test_samples")]


def table3(study, results: dict) -> list[str]:
    """One table per backbone column: MSE, SSIM, sharpness (predicted / true frames), seeds, the paper's numbers;
    SAVP adds the best of its samples per sequence."""
    rows = by_run(study, results)
    out = []
    for column, (title, suffix) in COLUMNS.items():
        if not any(rows.get(f"{row}{suffix}") for row in ROWS):
            continue
        stochastic = column == "savp"
        header = ["run", "MSE/frame", "SSIM", *(["best-of-N MSE", "best-of-N SSIM"] if stochastic else []),
                  "sharpness (pred / true)", "seeds", "vs scratch (MSE)", "paper MSE / SSIM"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        scratch = _mean([r["test"]["mse"] for r in rows.get(f"scratch{suffix}", [])])
        for row in ROWS:
            done = rows.get(f"{row}{suffix}", [])
            if not done:
                continue
            mse = [r["test"]["mse"] for r in done]
            best = [mean_std(_best(done, "mse"), 1), mean_std(_best(done, "ssim"), 3)] if stochastic else []
            paper = PAPER3.get(row, {}).get(column)
            change = f"{100 * (statistics.mean(mse) / scratch - 1):+.1f} %" if scratch else ""
            lines.append(f"| {run_label(study, row + suffix)} | {mean_std(mse, 1)} | "
                         f"{mean_std([r['test']['ssim'] for r in done], 3)} | " + " | ".join(best + [
                             _sharp(done), str(len(done)), change, f"{paper[0]:g} / {paper[1]:.3f}" if paper else ""])
                         + " |")
        samples = next((r["test_samples"]["samples"] for row in ROWS for r in rows.get(f"{row}{suffix}", [])
                        if r.get("test_samples")), None)
        note = (f" Best-of-N: for each test sequence the best of {samples} futures from the prior, per metric (the "
                "paper picks one sample by SSIM); MSE/frame and SSIM: one sample." if stochastic and samples else "")
        out += [f"## Table 3, {title}, beside the paper's", "",
                "Means ± std over seeds. MSE per frame summed over the 32x32x3 pixels on [0, 1] (the paper's frames "
                "are 128x128, so its numbers are about 16 times larger: compare the changes against scratch). "
                "Sharpness: mean gradient magnitude of the predicted frames / of the true ones (higher is sharper)."
                + note, "", *lines, ""]
    return out


def table6(study, results: dict) -> list[str]:
    rows = by_run(study, results)
    lines = ["| run | SSIM | MSE/frame | sharpness (pred / true) | seeds | paper SSIM |", "|---|---|---|---|---|---|"]
    for name, paper in PAPER6.items():
        done = rows.get(name, [])
        if done:
            lines.append(f"| {run_label(study, name)} | {mean_std([r['test']['ssim'] for r in done], 3)} | "
                         f"{mean_std([r['test']['mse'] for r in done], 1)} | {_sharp(done)} | {len(done)} | {paper} |")
    if len(lines) == 2:
        return []
    return ["## Table 6 beside the paper's: KTH as the target", "", *lines, ""]


def claims(study, results: dict) -> list[str]:
    rows = by_run(study, results)

    def line(text, better, worse, key="mse", lower=True, digits=1):
        b, w = ([r["test"][key] for r in rows.get(name, []) if key in r["test"]] for name in (better, worse))
        return f"- {text}: " + (verdict(b, w, lower=lower, digits=digits) if b and w else "not yet measured")

    out = []
    for column, (title, s) in COLUMNS.items():
        paper = PAPER3["mt-both"][column][0], PAPER3["finetune-kth"][column][0], PAPER3["scratch"][column][0]
        out += [line(f"{title}: memory transfer from both beats finetuning from KTH (paper MSE {paper[0]:g} against "
                     f"{paper[1]:g})", f"mt-both{s}", f"finetune-kth{s}"),
                line(f"{title}: finetuning from KTH beats scratch (paper {paper[1]:g} against {paper[2]:g})",
                     f"finetune-kth{s}", f"scratch{s}"),
                line(f"{title}: the gain is the transfer's: the TMU beats the same network at beta 0 (not in the paper)",
                     f"mt-both{s}", f"mt-both-beta0{s}"),
                line(f"{title}: \"the TMU network provides the sharpest results\" (sharpness of the TMU from both "
                     "against finetuning from KTH)", f"mt-both{s}", f"finetune-kth{s}", "sharpness", False, 4)]
    out.append(line("Table 6: the deterministic 2-digit source helps KTH more than the Human3.6M-like one (paper "
                    "SSIM 0.808 against 0.774)", "mt-mnist2-kth", "mt-h36m-kth", "ssim", False, 3))
    out.append(line("Table 6: memory transfer from 2 digits beats scratch on KTH (paper SSIM 0.808 against 0.771)",
                    "mt-mnist2-kth", "scratch-kth", "ssim", False, 3))
    return ["## The paper's claims, here", "", *out, ""]


def write_report(study, results: dict, parts: list[str]) -> list[str]:
    strips = []
    for column, (title, s) in COLUMNS.items():
        strips += prediction_strip(study, results, [f"{row}{s}" for row in ("scratch", "finetune-kth", "mt-both",
                                                                             "mt-both-beta0")],
                                   f"predictions-{column}.png", f"Human3.6M-like predictions, {title} (test sequence "
                                   "0, seed 0; test MSE/frame in brackets)")
    strips += prediction_strip(study, results, list(PAPER6), "predictions-kth.png",
                               "KTH-like predictions (test sequence 0, seed 0; test MSE/frame in brackets)")
    return parts + table3(study, results) + table6(study, results) + claims(study, results) + \
        convergence(study, results) + gate_table(results) + memory_table(results) + strips
