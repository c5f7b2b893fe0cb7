"""The backbones and human-motion studies' own report parts on hand-made result files: Table 2 with both backbones
beside the paper's, Table 3 with sharpness and SAVP's best of N, Table 6, and the claim lines."""
import pytest
from experiment_modules import ROOT, load, runner


@pytest.fixture(scope="module")
def run():
    return runner()


def _result(mse, ssim=0.5, sharp=None, samples=None):
    test = {"mse": mse, "mae": 2 * mse, "ssim": ssim}
    if sharp is not None:
        test.update(sharpness=sharp, sharpness_truth=0.2)
    return {"test": test, "gates": None, "test_samples": samples,
            "valid_curve": {"step": [100, 200, 300, 400, 500], "mse": [9, 8, 7, 7, 6.5]}}


def test_table2_puts_both_backbones_beside_the_paper(run, tmp_path):
    report = load("backbones_report", ROOT / "experiments/backbones/report.py")
    study = run.load_study(ROOT / "experiments/backbones/study.yaml")
    study.spec["report"] = str(tmp_path)
    results = {"scratch-predrnn-s0": _result(40.0), "scratch-predrnn-s1": _result(42.0),
               "finetune-2-predrnn-s0": _result(38.0), "mt-both-predrnn-s0": _result(39.0),
               "mt-both-released-predrnn-s0": _result(37.0), "mt-both-released-beta0-predrnn-s0": _result(36.0),
               "mt-both-init2-beta0-predrnn-s0": _result(30.0),
               "scratch-mim-s0": _result(30.0, 0.6), "mt-both-mim-s0": _result(27.0, 0.7)}
    table = "\n".join(report.table2(study, results))
    # PredRNN: scratch 41 ± 1.41 over 2 seeds; MIM: one seed; paper numbers beside each
    assert "| from scratch | 41.00 ± 1.41 | 0.500 ± 0.000 | 2 | +0.0 % | 93.4 / 0.802 | 30.00 | 0.600 | 1 | +0.0 % | 89.0 / 0.783 |" in table
    assert "| TMU (paper cell) from 1 & 2 digits | 39.00 | 0.500 | 1 | -4.9 % | 84.9 / 0.828 | 27.00 | 0.700 | 1 | -10.0 % | 75.3 / 0.838 |" in table
    assert "| finetune from 1 digit | not run | not run | 0 |" in table
    claims = "\n".join(report.claims(study, results))
    # one seed against one, or against two, at the PredRNN seeds' std of 1.41: gaps of 1 and 2 are under twice their
    # standard errors (4.0 and 3.5), so no finding either way
    assert "PredRNN: memory transfer from both beats finetuning from 2 digits (paper 84.9 against 89.4): **not shown** here: 39.00 (1 seed) against 38.00 (1 seed); the means lean the other way, but within chance" in claims
    assert "PredRNN: memory transfer from both beats scratch (paper 84.9 against 93.4): **not shown** here: 39.00 (1 seed) against 41.00 (2 seeds); the means lean its way" in claims
    assert "PredRNN: the gain is the transfer's, not the cell's: the released TMU beats the same network at beta 0 (not in the paper): **not shown**" in claims
    assert "MIM: memory transfer from both beats finetuning from 2 digits (paper 75.3 against 83.2): not yet measured" in claims
    # beyond the paper: the flying-digits recipe against plain finetuning; 8 apart is past twice the single-seed
    # standard error (2 * 1.41 * sqrt(2) = 4.0)
    assert "| finetune into the released TMU network from 2 digits (beta 0) | 30.00 | 0.500 | 1 | -26.8 % |  | not run |" in table
    assert "PredRNN: finetuning into the released TMU network beats finetuning into a plain PredRNN, both from 2 digits (not in the paper; the flying-digits study's best recipe on ConvLSTM): **holds**" in claims
    assert "MIM: finetuning into the released TMU network beats finetuning into a plain MIM, both from 2 digits (not in the paper; the flying-digits study's best recipe on ConvLSTM): not yet measured" in claims
    assert report.table2(study, {}) == []


def test_table3_and_table6_with_sharpness_and_the_best_of_samples(run, tmp_path):
    report = load("human_motion_report", ROOT / "experiments/human_motion/report.py")
    study = run.load_study(ROOT / "experiments/human_motion/study.yaml")
    study.spec["report"] = str(tmp_path)
    sampled = lambda mse, ssim: {"samples": 100, "best": {"mse": mse, "ssim": ssim}, "mean": {}}  # noqa: E731
    results = {"scratch-s0": _result(30.0, 0.70, 0.10), "scratch-s1": _result(32.0, 0.72, 0.12),
               "finetune-kth-s0": _result(29.0, 0.71, 0.09), "mt-both-s0": _result(28.0, 0.73, 0.11),
               "mt-both-beta0-s0": _result(27.0, 0.74, 0.13),
               "scratch-savp-s0": _result(35.0, 0.6, 0.1, sampled(25.0, 0.8)),
               "scratch-kth-s0": _result(10.0, 0.80), "mt-h36m-kth-s0": _result(9.0, 0.82),
               "mt-mnist2-kth-s0": _result(9.5, 0.81)}
    table = "\n".join(report.table3(study, results))
    assert "| ConvLSTM from scratch | 31.0 ± 1.4 | 0.710 ± 0.014 | 0.1100 / 0.2000 | 2 | +0.0 % | 504.2 / 0.762 |" in table
    assert "| TMU from KTH & Weizmann | 28.0 | 0.730 | 0.1100 / 0.2000 | 1 | -9.7 % | 442.5 / 0.794 |" in table
    assert "| SAVP from scratch | 35.0 | 0.600 | 25.0 | 0.800 | 0.1000 / 0.2000 | 1 | +0.0 % | 465.2 / 0.792 |" in table
    assert "best of 100 futures" in table and "Table 3, MIM" not in table  # a column without results is left out
    t6 = "\n".join(report.table6(study, results))
    assert "| TMU from 2-digit Moving MNIST | 0.810 | 9.5 |  | 1 | 0.808 |" in t6
    claims = "\n".join(report.claims(study, results))
    assert "ConvLSTM: memory transfer from both beats finetuning from KTH (paper MSE 442.5 against 472): **holds** here: 28.0 (1 seed) against 29.0 (1 seed)" in claims
    assert "ConvLSTM: the gain is the transfer's: the TMU beats the same network at beta 0 (not in the paper): **does not hold**" in claims
    assert "ConvLSTM: \"the TMU network provides the sharpest results\" (sharpness of the TMU from both against finetuning from KTH): **holds** here: 0.1100" in claims
    assert "the deterministic 2-digit source helps KTH more than the Human3.6M-like one (paper SSIM 0.808 against 0.774): **does not hold** here: 0.810 (1 seed) against 0.820" in claims
    assert "MIM: finetuning from KTH beats scratch (paper 420.1 against 430.5): not yet measured" in claims


def test_fig7_plots_each_method_against_the_training_set_size(run, tmp_path, monkeypatch):
    """Fig. 7 from the fraction runs plus Table 1's 100 % run; a method needs two sizes to be drawn."""
    report = load("flying_digits_report", ROOT / "experiments/flying_digits/report.py")
    study = run.load_study(ROOT / "experiments/flying_digits/study.yaml")
    study.spec["report"] = str(tmp_path)
    drawn = {}
    import matplotlib.axes

    real = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda self, x, y, **kw: drawn.setdefault(
        kw["label"], (list(x), list(y), kw["yerr"])) and real(self, x, y, **kw))
    results = {"scratch-s0": _result(26.0), "scratch-f0.25-s0": _result(40.0), "scratch-f0.25-s1": _result(42.0),
               "scratch-f2-s0": _result(24.0), "finetune-2-f0.25-s0": _result(35.0)}
    lines = report.fig7(study, results)
    assert lines and (tmp_path / "fig7.png").stat().st_size > 1000
    x, y, err = drawn["scratch (seeds 2/1/1)"]
    assert x == [1000, 4000, 8000] and y == [41.0, 26.0, 24.0] and err[0][0] == 1.0 and err[1][0] == 1.0
    assert not any(k.startswith("finetune") for k in drawn)  # one size only: not a curve
    assert report.fig7(study, {"scratch-s0": _result(26.0)}) == []


def test_a_verdict_says_when_the_gap_is_within_the_seeds_spread(run):
    from report_common import verdict

    # means 25.5 vs 26.25, stds 0.71 / 1.06: a gap of 0.75 is within the spread
    assert verdict([25.0, 26.0], [25.5, 27.0]) == ("**not shown** here: 25.50 (2 seeds) against 26.25 (2 seeds); the "
                                                   "means lean its way, but the gap is within the seeds' spread")
    assert verdict([25.5, 27.0], [25.0, 26.0]).startswith("**not shown** here: 26.25 (2 seeds) against 25.50 (2 seeds); "
                                                          "the means lean the other way")
    assert verdict([20.0, 20.5], [30.0, 30.5]) == "**holds** here: 20.25 (2 seeds) against 30.25 (2 seeds)"
    assert verdict([0.8], [0.7], lower=False, digits=1, names=("a", "b")) == "**holds** here: a 0.8 (1 seed) against b 0.7 (1 seed)"
    assert verdict([3.0], [2.0]).startswith("**does not hold**")  # one seed a side: never flagged
    # ... unless the study's spread is given: a gap of 0.02 against rows whose seeds differ by 0.11
    assert verdict([24.67], [24.69], spread=0.11) == (
        "**not shown** here: 24.67 (1 seed) against 24.69 (1 seed); the means lean its way, but within chance for a "
        "single seed: the gap is under 0.31, twice its standard error at this study's largest seed std (± 0.11)")
    # 2 * 0.11 * sqrt(2) = 0.311
    assert verdict([24.0], [25.0, 25.2], spread=0.11).startswith("**holds**")
    assert "within" not in verdict([24.0], [25.0, 25.2], spread=0.11)  # a gap of 1.1: beyond it
    # the band is 2 * spread * sqrt(1/n + 1/m): with spread 0.1, 0.2828 for 1 against 1, 0.2309 for 1 against 3
    assert "within chance" in verdict([25.0], [25.28], spread=0.1)
    assert "within" not in verdict([25.0], [25.29], spread=0.1)
    assert "within chance" in verdict([25.0], [25.22, 25.23, 25.24], spread=0.1)
    assert "within" not in verdict([25.0], [25.23, 25.24, 25.25], spread=0.1)


def test_the_seed_spread_is_the_largest_std_of_a_row_with_seeds():
    common = load("report_common", ROOT / "experiments/report_common.py")
    rows = {"a": [{"test": {"mse": 1.0}}, {"test": {"mse": 3.0}}], "b": [{"test": {"mse": 5.0}}],
            "c": [{"test": {"mse": 2.0}}, {"test": {"mse": 2.5}}, {"test": {"mse": 3.0}}]}
    assert common.seed_spread(rows) == pytest.approx(2 ** 0.5)  # a: std of 1 and 3; c: 0.5
    assert common.seed_spread({"b": rows["b"]}) is None


def test_flattening_compares_the_best_validation_so_far():
    """A validation spike at 80 % of training is not progress: the best by 80 % (10.0) against the best at the end
    (9.8) is 2 %, where the point at 80 % (12.0) would give 18 %."""
    common = load("report_common", ROOT / "experiments/report_common.py")
    curve = {"step": [100 * i for i in range(1, 11)], "mse": [20, 15, 13, 12, 11, 10.5, 10.0, 12.0, 9.9, 9.8]}
    assert common.flattening(curve) == pytest.approx(0.02)
    assert common.flattening({"step": [100, 200, 300], "mse": [3.0, 2.0, 2.5]}) == 0.0  # got worse: no progress
    assert common.flattening({"step": [100, 200], "mse": [3.0, 2.0]}) is None



def test_the_source_ranking_is_rebuilt_against_the_committed_finetune_results(tmp_path):
    """ranking.json keeps the cheap signals; the measured column and each signal's rho come from the result files of
    the study's finetune runs (mean over seeds), so they follow new results. Hand-computed: zero-shot ranks a, b, c
    as finetuning does (rho +1); the gates rank b, a, c (rho 1 - 6 * 2 / (3 * 8) = +0.5)."""
    import json

    import yaml

    run = runner()
    common = load("report_common", ROOT / "experiments/report_common.py")
    base = {"data": {"name": "mnist3", "train_size": 16, "valid_size": 8, "test_size": 8,
                     "options": {"frame_size": 16, "seq_len": 6, "t_in": 3}},
            "model": {"hidden": [8, 8], "kernel_size": 3, "patch_size": 2}, "iterations": 4}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    runs = {f"finetune-{s}": {"label": s, "method": "finetune", "sources": [s]} for s in "abc"}
    spec = {"base": str(tmp_path / "base.yaml"), "workdir": str(tmp_path / "runs"), "report": str(tmp_path / "r"),
            "groups": {"g": {"seeds": [0, 1], "runs": runs}}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec))
    study = run.load_study(tmp_path / "study.yaml")
    assert common.source_ranking(study) == []  # no ranking.json: no section
    (tmp_path / "ranking.json").write_text(json.dumps({"target": "mnist3", "iterations": 200, "rows": [
        {"name": "a", "zero_shot_mse": 10.0, "gate_mean": 0.5}, {"name": "b", "zero_shot_mse": 20.0, "gate_mean": 0.6},
        {"name": "c", "zero_shot_mse": 30.0, "gate_mean": 0.4}]}))
    study.results.mkdir()
    mse = {"finetune-a-s0": 5.0, "finetune-a-s1": 5.2, "finetune-b-s0": 6.0, "finetune-c-s0": 7.0}
    for r in study.runs:
        if r.name in mse:
            r.result_path.write_text(json.dumps({"config": r.config, "test": {"mse": mse[r.name]}}))
    text = "\n".join(common.source_ranking(study))
    assert "| a | 10.00 (1) | 0.500 (2) | 5.10 (1, 2) |" in text
    assert "| c | 30.00 (3) | 0.400 (3) | 7.00 (3, 1) |" in text
    assert "zero-shot error +1.00 (n = 3); gates +0.50 (n = 3)" in text


def test_a_reference_row_from_another_table_is_named_as_most_groups_name_it():
    """The rank-sources table compares against scratch, which it does not list: the column is named as Table 1's
    three groups name scratch, not as the schedule group (listed first) does."""
    common = load("report_common", ROOT / "experiments/report_common.py")
    study = runner().load_study(ROOT / "experiments/flying_digits/study.yaml")
    assert common.run_label(study, "scratch", ["ranking-s0"]) == "ConvLSTM from scratch"
    assert common.run_label(study, "scratch", ["schedule"]) == "cosine (the base)"


def test_flying_digits_claims_weigh_a_single_seed_against_the_studys_spread(run):
    report = load("flying_digits_report", ROOT / "experiments/flying_digits/report.py")
    study = run.load_study(ROOT / "experiments/flying_digits/study.yaml")

    def res(mse):
        return {**_result(mse), "config": {"data": {}}}

    # finetune-2 over 3 seeds: mean 25.0, std 0.1 (the study's spread); the TMU-network finetune: mean 24.8, 3 seeds
    results = {"finetune-2-s0": res(24.9), "finetune-2-s1": res(25.0), "finetune-2-s2": res(25.1),
               "mt-both-init2-beta0-s0": res(24.7), "mt-both-init2-beta0-s1": res(24.8), "mt-both-init2-beta0-s2": res(24.9),
               "mt-both-init2-s0": res(24.62)}
    claims = "\n".join(report.claims(study, results))
    # 3 seeds a side, a gap of 0.2 beyond either std (0.1): the whole line, with no flag after it
    assert ("- finetuning into the released TMU network beats finetuning into a ConvLSTM, both from the 2-digit source "
            "(beyond the paper: the TMU network at beta 0, its sources never in the loss): **holds** here: "
            "mt-both-init2-beta0 24.80 (3 seeds) against finetune-2 25.00 (3 seeds)") in claims.splitlines()
    # one seed against three: 0.18 is under 2 * 0.1 * sqrt(1 + 1/3) = 0.231
    assert ("**not shown** here: mt-both-init2 24.62 (1 seed) against mt-both-init2-beta0 24.80 (3 seeds); the means "
            "lean its way, but within chance for a single seed: the gap is under 0.23") in claims
