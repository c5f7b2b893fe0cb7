"""experiments/radar/report.py on hand-made result files: Table 4 with the baselines, Table 5, the claim lines and
the CSI-at-lead-time figure."""
import pytest
from experiment_modules import ROOT, load, runner


@pytest.fixture(scope="module")
def modules():
    return runner(), load("radar_report", ROOT / "experiments/radar/report.py")


def _test(mse, csi20, csi30=0.2, csi40=0.1):
    per = lambda v: [v] * 10  # noqa: E731
    return {"mse": mse, "mae": 2 * mse, "ssim": 0.5, "thresholds": [20.0, 30.0, 40.0],
            "csi": [csi20, csi30, csi40], "pod": [0.5, 0.4, 0.3], "far": [0.3, 0.4, 0.5],
            "csi_per_frame": [per(csi20), per(csi30), per(csi40)]}


def _result(test, gates=None, method="scratch"):
    return {"test": test, "gates": gates, "config": {"method": method},
            "valid_curve": {"step": [100, 200, 300, 400, 500], "mse": [9, 8, 7, 7, 7]}}


def test_radar_report_tables_and_claims(modules, tmp_path):
    run, report = modules
    study = run.load_study(ROOT / "experiments/radar/study.yaml")
    study.spec["report"] = str(tmp_path)  # the figure goes to a scratch folder
    gates = {"mean": {"rd64-gz14": 0.6, "rd64-gz16": 0.55, "rd64-mnist2": 0.5, "rd64-kth": 0.4}}
    results = {"scratch-s0": _result(_test(50.0, 0.35)), "scratch-s1": _result(_test(52.0, 0.36)),
               "finetune-gz14-s0": _result(_test(45.0, 0.37)), "finetune-gz16-s0": _result(_test(44.0, 0.38)),
               "mt-gz-s0": _result(_test(40.0, 0.41)), "mt-unrelated-s0": _result(_test(55.0, 0.30)),
               "mt-all-s0": _result(_test(39.0, 0.42), gates)}
    base = {"persistence": _test(60.0, 0.30), "extrapolation": {"skipped": "needs pysteps"}}
    table = "\n".join(report.table4(study, results, base))
    assert "| ConvLSTM from scratch | 51.0 ± 1.4 | 102.0 ± 2.8 | 0.355 ± 0.007 | 0.200 / 0.400 / 0.400 |" in table
    assert "| 2 | 110.5 | 219.9 | 0.348 |" in table  # seeds, then the paper's scratch row
    assert "| persistence (baseline) | 60.0 | 120.0 | 0.300 |" in table
    assert "extrapolation (baseline) | not scored: needs pysteps" in table
    assert "TMU network, beta 0" not in table  # rows without results are left out
    gate_table = "\n".join(report.table5(study, results))
    assert "| transfer gate a_t^m, here | 0.600 | 0.550 | 0.500 | 0.400 |" in gate_table
    assert "| paper | 0.6 | 0.61 | 0.43 | 0.39 |" in gate_table
    claims = "\n".join(report.claims(study, results))
    assert "beats finetuning from either (paper CSI 0.403 against 0.368 / 0.375): **holds**" in claims
    assert "TMU from MNIST & KTH beats scratch (paper CSI 0.348 -> 0.382): **does not hold**" in claims
    assert "the same network at beta 0 (not in the paper): not yet measured" in claims
    results["mt-all-beta0-s0"] = _result(_test(38.0, 0.43))
    claims = "\n".join(report.claims(study, results))
    assert ("the same network at beta 0 (not in the paper): **does not hold** here: mt-all 0.420 (1 seed) against "
            "mt-all-beta0 0.430 (1 seed)") in claims
    assert "above the unrelated ones (paper 0.60 / 0.61 against 0.43 / 0.39): **holds**" in claims
    assert "flat" in claims  # 7 -> 7 over the last fifth
    assert "every radar gate above every unrelated one in 1 of 1 seed" in claims
    assert report.csi_curves(study, results, base) and (tmp_path / "csi-lead-time.png").stat().st_size > 1000


def test_the_gates_claim_counts_the_seeds_that_agree(modules):
    """The mean over seeds can rank the radar sources first while a seed does not: the line says how many agree."""
    run, report = modules
    study = run.load_study(ROOT / "experiments/radar/study.yaml")
    agree = {"rd64-gz14": 0.60, "rd64-gz16": 0.58, "rd64-mnist2": 0.45, "rd64-kth": 0.44}
    disagree = {"rd64-gz14": 0.50, "rd64-gz16": 0.51, "rd64-mnist2": 0.49, "rd64-kth": 0.52}
    results = {f"mt-all-s{i}": _result(_test(39.0, 0.42), {"mean": g}) for i, g in enumerate((agree, disagree))}
    claims = "\n".join(report.claims(study, results))
    # means: radar 0.55 / 0.545, unrelated 0.47 / 0.48 -> holds on the mean, in 1 of the 2 seeds
    assert ("**holds** here on the seeds' mean (lowest radar source 0.545, highest unrelated 0.480); every radar gate "
            "above every unrelated one in 1 of 2 seeds") in claims


def test_the_lead_time_figure_draws_every_row_and_the_baselines(modules, tmp_path, monkeypatch):
    run, report = modules
    study = run.load_study(ROOT / "experiments/radar/study.yaml")
    study.spec["report"] = str(tmp_path)
    import matplotlib.axes

    drawn = []
    real = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda self, *a, **kw: drawn.append((kw["label"], kw["ls"] if
                        "ls" in kw else None)) or real(self, *a, **kw))
    results = {name: _result(_test(40.0, 0.4)) for name in ("scratch-s0", "finetune-gz14-s0", "mt-gz16-s0")}
    for name, method in (("scratch-s0", "scratch"), ("finetune-gz14-s0", "finetune"), ("mt-gz16-s0", "memory-transfer")):
        results[name]["config"] = {"method": method}
    report.csi_curves(study, results, {"persistence": _test(60.0, 0.3)})
    at20 = drawn[:len(drawn) // 2]  # two panels, the same lines in each
    assert at20 == [("ConvLSTM from scratch", ":"), ("finetune from Guangzhou 2014", "--"),
                    ("TMU from Guangzhou 2016", "-"), ("persistence (baseline)", None)]


def test_the_storm_strip_keeps_one_sequence(modules, tmp_path, monkeypatch):
    import base64

    import numpy as np

    run, report = modules
    study = run.load_study(ROOT / "experiments/radar/study.yaml")
    study.spec["report"] = str(tmp_path)
    drawn = {}
    monkeypatch.setattr("transmem.data.io.write_strip", lambda path, rows, row_labels, scale: drawn.update(
        rows=rows, labels=row_labels))
    frames = lambda v: {"uint8": base64.b64encode(np.full((1, 10, 1, 8, 8), v, np.uint8).tobytes()).decode(),  # noqa
                        "shape": [1, 10, 1, 8, 8]}
    sample = {"input": frames(120), "truth": frames(130), "prediction": frames(110)}
    index = study.spec["sample_sequence"]
    results = {"scratch-s0": {**_result(_test(50.0, 0.35)), "sample": sample, "sample_sequence": index},
               "mt-gz-s0": {**_result(_test(40.0, 0.41)), "sample": sample, "sample_sequence": 0}}  # another one
    lines = report.storm_strip(study, results)
    assert lines[0] == f"## One storm (test sequence {index}, seed 0), in the radar palette"
    assert drawn["labels"][:3] == ["input", "truth", "ConvLSTM from scratch"] and len(drawn["labels"]) == 4
    assert drawn["labels"][3] == "extrapolation (pysteps)" and drawn["rows"][0].shape == (10, 3, 8, 8)
    # 130 / 255 * 70 - 10 = 25.7 dBZ: the 25-30 band, #01c501
    assert np.allclose(drawn["rows"][1][0, :, 0, 0], [0x01 / 255, 0xC5 / 255, 0x01 / 255])
    assert report.storm_strip(study, {"mt-gz-s0": results["mt-gz-s0"]}) == []  # only other sequences: no strip


def test_the_gate_maps_over_time_are_drawn_from_the_result_alone(modules, tmp_path, monkeypatch):
    """MT-all's committed gate maps of the storm become a figure without its checkpoint: frames in the radar
    palette under one row per (layer, source)."""
    import base64

    import numpy as np

    run, report = modules
    study = run.load_study(ROOT / "experiments/radar/study.yaml")
    study.spec["report"] = str(tmp_path)
    drawn = {}
    monkeypatch.setattr("transmem.viz.draw_gate_maps", lambda path, frames, maps, names: drawn.update(
        frames=frames, maps=maps, names=names))
    pack = lambda a: {"uint8": base64.b64encode(a.tobytes()).decode(), "shape": list(a.shape)}  # noqa: E731
    sample = {"input": pack(np.full((1, 10, 1, 8, 8), 130, np.uint8)), "truth": pack(np.full((1, 10, 1, 8, 8), 10, np.uint8))}
    names = ["rd64-gz14", "rd64-gz16", "rd64-mnist2", "rd64-kth"]
    gates = {"sources": names, "layers": {"0": pack(np.full((19, 4, 8, 8), 255, np.uint8))}}
    results = {"mt-all-s0": {**_result(_test(39.0, 0.42)), "sample": sample, "sample_gates": gates,
                             "sample_sequence": 202}}
    lines = report.gate_maps(study, results)
    assert lines[0].startswith("## Transfer gates over time on the storm (test sequence 202")
    assert drawn["frames"].shape == (19, 3, 8, 8) and drawn["names"] == names  # frames 2..20, RGB
    assert np.allclose(drawn["frames"][0, :, 0, 0], [0x01 / 255, 0xC5 / 255, 0x01 / 255])  # 25.7 dBZ input frame
    assert np.allclose(drawn["frames"][-1, :, 0, 0], 1.0)  # 10 / 255 * 70 - 10 = -7.3 dBZ: no echo, white
    assert drawn["maps"][0].shape == (19, 4, 8, 8) and drawn["maps"][0].max() == 1.0
    assert report.gate_maps(study, {"mt-all-s0": _result(_test(39.0, 0.42))}) == []  # no maps kept: no figure
