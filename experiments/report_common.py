"""The tables and figures every study gets from its result files (called by run.py): one table per group (mean ±
std over seeds), one learning-curve figure per group, and the sources' own scores. A study's report.py adds its own."""
from __future__ import annotations

import json
import math
import statistics
import textwrap
from pathlib import Path


def mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "not run"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def tables(study) -> dict[str, list[str]]:
    """Table title -> its groups, in the file's order: groups that share a `table` make one table (their seeds
    pooled), every other group is a table of its own, titled by its `title` or its name."""
    out: dict[str, list[str]] = {}
    for group, spec in study.spec["groups"].items():
        out.setdefault(spec.get("table") or spec.get("title") or group, []).append(group)
    return out


def by_run(study, results: dict, groups: list[str] | None = None) -> dict[str, list[dict]]:
    """run name (without -s<seed>) -> its results over seeds, in the study's order; runs without one map to []."""
    out: dict[str, list[dict]] = {}
    seen = set()  # a run listed by two groups (the schedule's scratch is Table 1's) counts once
    for run in study.runs:
        if groups is None or run.group in groups:
            got = out.setdefault(run.run_name, [])
            if (run.name in results or run.result_path.stem in results) and run.name not in seen:
                seen.add(run.name)
                got.append(results.get(run.name) or results[run.result_path.stem])
    return out


def run_label(study, name: str, groups: list[str] | None = None) -> str:
    """A run's label as the given groups (a table) name it; otherwise the label most groups give it (a reference
    row from another table: flying digits' scratch is "ConvLSTM from scratch" in Table 1's three groups, "cosine
    (the base)" in the schedule's one), the first on a tie."""
    runs = [r for r in study.runs if r.run_name == name]
    inside = next((r.label for r in runs if groups is not None and r.group in groups), None)
    labels = list({r.group: r.label for r in runs}.values())  # one vote per group, however many seeds it has
    return inside or max(labels, key=labels.count)


def _first(study, groups: list[str], key: str):
    return next((study.spec["groups"][g][key] for g in groups if key in study.spec["groups"][g]), None)


def group_table(study, results: dict, groups: list[str]) -> str:
    reference = _first(study, groups, "reference")
    ref = [r["test"]["mse"] for r in by_run(study, results).get(reference, [])] if reference else []
    ref_mse = statistics.mean(ref) if ref else None
    compare = [f"vs {run_label(study, reference, groups)}"] if reference else []
    header = ["run", "MSE/frame", "SSIM", *compare, "seeds", "best step", "s/step", "hours"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, done in by_run(study, results, groups).items():
        mse = [r["test"]["mse"] for r in done]
        ssim = [r["test"]["ssim"] for r in done]
        change = [f"{100 * (statistics.mean(mse) / ref_mse - 1):+.1f} %" if mse and ref_mse else ""] if reference else []
        hours = [r["elapsed_s"] / 3600 for r in done if r.get("elapsed_s")]
        cells = [run_label(study, name, groups), mean_std(mse, 2), mean_std(ssim, 3), *change, str(len(done)),
                 ", ".join(str(int(r["best"]["step"])) for r in done),
                 f"{statistics.mean(r['train_s_per_batch'] for r in done):.2f}" if done else "",
                 f"{statistics.mean(hours):.2f}" if hours else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flattening(curve: dict) -> float | None:
    """Relative improvement over the last fifth of training of the best validation MSE so far: (best by 80 % - best
    at the end) / best by 80 %. Validation picks the checkpoint that is tested, so the best so far is what a longer
    run would improve; one noisy validation point at 80 % (spikes of 5 % are common at batch 16) would otherwise
    count as progress."""
    steps, mse = curve["step"], curve["mse"]
    if len(steps) < 3:
        return None
    by = max(i for i, s in enumerate(steps) if s <= 0.8 * steps[-1])
    before = min(mse[:by + 1])
    return (before - min(mse)) / before


def curves_figure(study, results: dict, groups: list[str], title: str, path: Path) -> bool:
    """Validation MSE against step for every run of a group: the seeds' mean, and their range as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    drawn = False
    for name, done in by_run(study, results, groups).items():
        curves = [r["valid_curve"] for r in done if r["valid_curve"]["step"]]
        if not curves:
            continue
        n = min(len(c["step"]) for c in curves)
        steps = curves[0]["step"][:n]
        mse = np.array([c["mse"][:n] for c in curves])
        (line,) = ax.plot(steps, mse.mean(0), lw=1.2, label=f"{run_label(study, name, groups)} ({len(curves)})")
        if len(curves) > 1:
            ax.fill_between(steps, mse.min(0), mse.max(0), color=line.get_color(), alpha=0.15)
        drawn = True
    if drawn:
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation MSE / frame")
        ax.set_title(textwrap.fill(f"{title}: validation curves (mean of seeds; band: their range)", 90), fontsize=7)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)
    return drawn


def sources_table(study) -> str | None:
    files = sorted(study.results.glob("source-*.json"))
    if not files:
        return None
    lines = ["| source | dataset | training sequences | iterations | test MSE/frame | SSIM | hours |", "|---|---|---|---|---|---|---|"]
    for f in files:
        r = json.loads(f.read_text())
        hours = f"{r['elapsed_s'] / 3600:.2f}" if r.get("elapsed_s") else ""
        lines.append(f"| {r['name']} | {r['config']['data']['name']} | {r['config']['data']['train_size']} | "
                     f"{r['config']['iterations']} | {r['test']['mse']:.2f} | {r['test']['ssim']:.3f} | {hours} |")
    return "\n".join(lines)


def machine_line(machine: dict) -> str:
    """'AMD EPYC family 26 model 2 (avx2), 1 thread(s) per run': the CPU's name, with its family/model numbers and
    vector flags where the result kept them."""
    model = f" {machine['cpu_model']}" if machine.get("cpu_model") else ""
    flags = f" ({', '.join(machine['cpu_flags'])})" if machine.get("cpu_flags") else ""
    return f"{machine['cpu']}{model}{flags}, {machine['threads']} thread(s) per run"


def write_tables(study, results: dict) -> list[str]:
    """Markdown parts: a header, the sources, then each group's table and learning curves."""
    from run import shown

    parts = [f"<!-- written by `python experiments/run.py {shown(study.path)} --report-only` from the files "
             f"in {shown(study.results)}; do not edit by hand -->", ""]
    machines = sorted({machine_line(r["machine"]) for r in results.values()})
    if machines:
        parts += ["Measured on: " + "; ".join(machines), ""]
    sources = sources_table(study)
    if sources:
        parts += ["## Sources", "", sources, ""]
    for title, groups in tables(study).items():
        parts += [f"## {title}", ""]
        note = _first(study, groups, "note")
        if note:
            parts += [note.strip(), ""]
        parts += [group_table(study, results, groups), ""]
        name = f"curves-{groups[0]}.png"
        if curves_figure(study, results, groups, title, study.report_dir / name):
            parts += [f"![learning curves]({name})", ""]
    return parts


def convergence(study, results: dict) -> list[str]:
    """Every run's improvement of its best validation MSE over the last fifth of training (`flattening`); the
    studies' criterion is < 2 %."""
    lines = []
    for name in sorted({run.result_path.stem for run in study.runs}):
        change = flattening(results[name]["valid_curve"]) if name in results else None
        if change is not None:
            lines.append(f"- {name}: {100 * change:.2f} % ({'flat' if change < 0.02 else 'still improving'})")
    if not lines:
        return []
    return ["## Convergence: improvement of the best validation MSE over the last fifth of training (criterion: < 2 %)",
            "",
            *lines, ""]


def source_ranking(study) -> list[str]:
    """`transmem rank-sources` on the study's target: the two cheap signals as the committed <study>/ranking.json holds
    them (the command's output, copied there), against the finetuning results committed now (mean over seeds, runs
    of the study's base data, model and length), with each signal's agreement (Spearman's rho) recomputed."""
    path = study.folder / "ranking.json"
    if not path.is_file():
        return []
    from run import _resolved, shown

    from transmem.evaluation.ranking import SourceRow, measured_finetune, ranking_table

    saved = json.loads(path.read_text())
    measured = measured_finetune([r.result_path for r in study.runs if r.result_path.is_file()],
                                 like=_resolved(study.spec["base"], []))
    rows = [SourceRow(r["name"], r["zero_shot_mse"], r.get("gate_mean"),
                      measured[r["name"]].mse if r["name"] in measured else None,
                      measured[r["name"]].seeds if r["name"] in measured else 0) for r in saved["rows"]]
    table, agree = ranking_table(rows)
    said = [f"{what} {'-' if a['rho'] is None else format(a['rho'], '+.2f')} (n = {a['n']})"
            for what, a in (("zero-shot error", agree["zero_shot"]), ("gates", agree["gates"]))]
    return ["## Which source to transfer from (`transmem rank-sources`)", "",
            f"Target {saved['target']}: zero-shot MSE/frame on its validation clips, gate averages after "
            f"{saved['iterations']} iterations of memory transfer from all the sources ({shown(path)}), and the test "
            "MSE of this study's finetuning from each (rank, seeds).", "", table, "",
            f"Spearman's rho of each signal's ranking against the measured finetuning: {'; '.join(said)}.", ""]


def gate_table(results: dict) -> list[str]:
    """Transfer-gate averages on the test set of every run that has gates: per source, mean (layer 0 / 1 ...)."""
    rows = [(name, r["gates"]) for name, r in results.items() if r.get("gates")]
    if not rows:
        return []
    out = ["## Transfer-gate averages (test set)", "", "| run | source: mean gate (layer 0 / layer 1 ...) |", "|---|---|"]
    for name, g in sorted(rows):
        cells = [f"{s}: {g['mean'][s]:.3f} (" + " / ".join(f"{g['per_layer'][k][s]:.3f}" for k in g["per_layer"]) + ")"
                 for s in g["mean"]]
        out.append(f"| {name} | {'; '.join(cells)} |")
    return out + [""]


def memory_table(results: dict) -> list[str]:
    """Each layer's mean |C_t| at the first and the last step of the test rollout, for every run that has it: Eq. 5
    can make a TMU layer's memory grow geometrically over the steps (transmem/evaluation/memory.py)."""
    rows = [(name, r["memory"]["per_layer"]) for name, r in results.items() if r.get("memory")]
    if not rows:
        return []
    out = ["## Memory scale: mean |C_t| of each layer at the first and last step of the test rollout", "",
           "| run | layer: first step -> last step |", "|---|---|"]
    for name, layers in sorted(rows):
        cells = [f"{k}: {v[0]:.3g} -> {v[-1]:.3g}" for k, v in layers.items()]
        out.append(f"| {name} | {'; '.join(cells)} |")
    return out + [""]


def prediction_strip(study, results: dict, names, file: str, heading: str, table: str | None = None) -> list[str]:
    """Input, truth and the seed-0 prediction of each run in `names` that has one (test MSE/frame in brackets)."""
    from run import from_uint8

    from transmem.data.io import write_strip

    groups = tables(study).get(table) if table else None
    chosen = [(name, results[f"{name}-s0"]) for name in names if results.get(f"{name}-s0", {}).get("sample")]
    if not chosen:
        return []
    first = chosen[0][1]["sample"]
    rows, labels = [from_uint8(first["input"])[0], from_uint8(first["truth"])[0]], ["input", "truth"]
    for name, r in chosen:
        rows.append(from_uint8(r["sample"]["prediction"])[0])
        labels.append(f"{run_label(study, name, groups)[:34]} ({r['test']['mse']:.1f})")
    write_strip(study.report_dir / file, rows, row_labels=labels, scale=2)
    return [f"## {heading}", "", f"![predictions]({file})", ""]


def seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def within_spread(a: list[float], b: list[float]) -> bool:
    """Two rows with 2+ seeds each whose means differ by less than the larger of their standard deviations."""
    return (len(a) > 1 and len(b) > 1
            and abs(statistics.mean(a) - statistics.mean(b)) < max(statistics.stdev(a), statistics.stdev(b)))


def seed_spread(rows: dict[str, list[dict]], metric: str = "mse") -> float | None:
    """The largest standard deviation over seeds of any row with 2+ seeds: the seed-to-seed variation this study
    has measured, the yardstick for a comparison where a row has one seed so far (see verdict)."""
    stds = [statistics.stdev(r["test"][metric] for r in done) for done in rows.values() if len(done) > 1]
    return max(stds) if stds else None


def verdict(win: list[float], lose: list[float], *, lower: bool = True, digits: int = 2,
            names: tuple[str, str] = ("", ""), spread: float | None = None) -> str:
    """'**holds** here: <win> (n seeds) against <lose> (m seeds)' on the seeds' means (lower or higher is better), or
    '**not shown** here: ...' when the gap is no finding: within the seeds' spread (2+ seeds a side), or, where a side
    has one seed, within chance: `spread` (seed_spread, the study's largest seed std) is taken as every row's std, so
    the gap between a mean of n seeds and one of m has a standard error of spread * sqrt(1/n + 1/m), and a gap below
    twice that (about the 95 % band) is no finding. So a single seed against a 3-seed mean must differ by 2.3
    spreads, two single seeds by 2.8."""
    w, v = statistics.mean(win), statistics.mean(lose)
    holds = w < v if lower else w > v
    why = "the gap is within the seeds' spread" if within_spread(win, lose) else ""
    if not why and spread is not None and min(len(win), len(lose)) < 2:
        band = 2 * spread * math.sqrt(1 / len(win) + 1 / len(lose))
        if abs(w - v) < band:
            why = (f"within chance for a single seed: the gap is under {band:.{digits}f}, twice its standard error at "
                   f"this study's largest seed std (± {spread:.{digits}f})")
    word = "not shown" if why else "holds" if holds else "does not hold"
    lean = f"; the means {'lean its way' if holds else 'lean the other way'}, but {why}" if why else ""
    a, b = (f"{n} " if n else "" for n in names)
    return (f"**{word}** here: {a}{w:.{digits}f} ({seeds(len(win))}) against "
            f"{b}{v:.{digits}f} ({seeds(len(lose))}){lean}")
