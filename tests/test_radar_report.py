"""experiments/radar/report.py on hand-made result files: Table 4 with the baselines, Table 5, the claim lines and
the CSI-at-lead-time figure."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules():
    sys.path.insert(0, str(ROOT / "experiments"))
    return _load("run", ROOT / "experiments/run.py"), _load("radar_report", ROOT / "experiments/radar/report.py")


def _test(mse, csi20, csi30=0.2, csi40=0.1):
    per = lambda v: [v] * 10  # noqa: E731
    return {"mse": mse, "mae": 2 * mse, "ssim": 0.5, "thresholds": [20.0, 30.0, 40.0],
            "csi": [csi20, csi30, csi40], "pod": [0.5, 0.4, 0.3], "far": [0.3, 0.4, 0.5],
            "csi_per_frame": [per(csi20), per(csi30), per(csi40)]}


def _result(test, gates=None):
    return {"test": test, "gates": gates, "valid_curve": {"step": [100, 200, 300, 400, 500], "mse": [9, 8, 7, 7, 7]}}


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
    assert "above the unrelated ones (paper 0.60 / 0.61 against 0.43 / 0.39): **holds**" in claims
    assert "flat" in claims  # 7 -> 7 over the last fifth
    assert report.csi_curves(study, results, base) and (tmp_path / "csi-lead-time.png").stat().st_size > 1000


def test_radar_palette_bands():
    import numpy as np

    from transmem.viz import radar_rgb

    rgb = radar_rgb(np.array([[0.0, 4.9, 5.0, 22.0, 44.0, 99.0]]))
    assert rgb.shape == (3, 1, 6)
    assert rgb[:, 0, 0].tolist() == [1.0, 1.0, 1.0] and rgb[:, 0, 1].tolist() == [1.0, 1.0, 1.0]  # no echo: white
    assert [round(v * 255) for v in rgb[:, 0, 3]] == [0x02, 0xFD, 0x02]  # 20-25 dBZ: the palette's first green
    assert [round(v * 255) for v in rgb[:, 0, 4]] == [0xE5, 0xBC, 0x00]  # 40-45 dBZ
    assert [round(v * 255) for v in rgb[:, 0, 5]] == [0x98, 0x54, 0xC6]  # >= 70 dBZ
