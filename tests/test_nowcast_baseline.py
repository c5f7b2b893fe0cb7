"""The pysteps extrapolation baseline, and our CSI / POD / FAR against pysteps' det_cat_fct."""
import builtins
import json

import numpy as np
import pytest
import torch

pytest.importorskip("pysteps")
pytest.importorskip("cv2")
from pysteps.verification import det_cat_fct  # noqa: E402

from transmem.cli import main  # noqa: E402
from transmem.evaluation.nowcast import ExtrapolationBaseline  # noqa: E402
from transmem.metrics import Contingency  # noqa: E402



def _ours(pred, obs, thr):
    """CSI, POD, FAR from our hits/misses/false alarms (pred >= thr is an event)."""
    t = Contingency((thr,))
    t.update(torch.from_numpy(pred)[None, None, None], torch.from_numpy(obs)[None, None, None])
    h, m, f = (float(c.sum()) for c in (t.hits, t.misses, t.false_alarms))
    return h / (h + m + f), h / (h + m), f / (h + f)


@pytest.mark.parametrize("thr", [10.0, 20.0, 35.0])
def test_contingency_matches_pysteps_away_from_the_threshold(thr):
    rng = np.random.default_rng(int(thr))
    obs = rng.uniform(0, 50, (32, 32))
    pred = obs + rng.normal(0, 8, obs.shape)
    pred[np.isclose(pred, thr)] += 0.5  # no value at the threshold: both conventions agree
    ref = det_cat_fct(pred, obs, thr, scores=("CSI", "POD", "FAR"))
    csi, pod, far = _ours(pred, obs, thr)
    assert 0 < far < 1 and 0 < pod < 1  # hits, misses and false alarms all occur
    assert (csi, pod, far) == pytest.approx((ref["CSI"], ref["POD"], ref["FAR"]))


def test_threshold_convention_ours_is_ge_pysteps_is_gt():
    """Ours: pred >= thr is an event; pysteps det_cat_fct (1.21): pred > thr. A value exactly at thr differs."""
    thr = 20.0
    obs = np.array([[thr, 30.0, 5.0, 30.0]])
    pred = np.array([[thr, 5.0, 30.0, 30.0]])
    csi, pod, far = _ours(pred, obs, thr)
    assert (csi, pod, far) == pytest.approx((2 / 4, 2 / 3, 1 / 3))  # the pixel at thr is a hit
    ref = det_cat_fct(pred, obs, thr, scores=("CSI", "POD", "FAR"))
    assert (ref["CSI"], ref["POD"], ref["FAR"]) == pytest.approx((1 / 3, 1 / 2, 1 / 2))  # not an event there
    # pysteps' > at thr is our >= at the next float up
    assert _ours(pred, obs, np.nextafter(thr, np.inf)) == pytest.approx((ref["CSI"], ref["POD"], ref["FAR"]))


def _blob_clip(steps=8, size=32):
    yy, xx = np.mgrid[:size, :size]
    frames = [np.exp(-((yy - 16) ** 2 + (xx - 6 - 2 * t) ** 2) / 18.0) for t in range(steps)]
    return torch.tensor(np.stack(frames), dtype=torch.float32)[None, :, None]


def test_extrapolation_moves_a_translating_blob():
    clip = _blob_clip()
    inputs, truth = clip[:, :4], clip[:, 4:]
    pred = ExtrapolationBaseline().predict(inputs, horizon=4)
    assert pred.shape == truth.shape and torch.isfinite(pred).all()
    persistence = inputs[:, -1:].expand_as(truth)
    assert ((pred - truth) ** 2).mean() < 0.5 * ((persistence - truth) ** 2).mean()


def test_cli_evaluates_the_baseline_as_a_row(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["evaluate", "--baseline", "extrapolation", "--dataset", "radar-beijing-synth", "--size", "2",
            "-o", "frame_size=32", "--json", str(out), "--csv", str(tmp_path / "r.csv")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "extrapolation" in text and "baseline" in text and "CSI" in text
    result = json.loads(out.read_text())["results"]["extrapolation"]
    assert len(result["mse_per_frame"]) > 1 and "csi" in result
    assert "extrapolation" in (tmp_path / "r.csv").read_text()


def test_cli_baseline_needs_a_dataset(capsys):
    assert main(["evaluate", "--baseline", "extrapolation"]) != 0
    assert "needs --dataset" in capsys.readouterr().err


def test_missing_pysteps_names_the_fix(monkeypatch, capsys):
    real = builtins.__import__

    def no_pysteps(name, *a, **k):
        if name.startswith("pysteps"):
            raise ImportError("No module named 'pysteps'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pysteps)
    with pytest.raises(ImportError, match=r"pip install transmem\[radar\]"):
        ExtrapolationBaseline()
    assert main(["evaluate", "--baseline", "extrapolation", "--dataset", "radar-beijing-synth"]) != 0
    err = capsys.readouterr().err.strip()
    assert "pip install transmem[radar]" in err and len(err.splitlines()) == 1


def test_persistence_repeats_the_last_input_frame(capsys):
    from transmem.evaluation.nowcast import PersistenceBaseline

    clip = torch.rand(2, 5, 1, 8, 8)
    pred = PersistenceBaseline().predict(clip, horizon=3)
    assert pred.shape == (2, 3, 1, 8, 8) and all(torch.equal(pred[:, k], clip[:, -1]) for k in range(3))
    assert main(["evaluate", "--baseline", "persistence", "--dataset", "radar-beijing-synth", "--size", "2",
                 "-o", "frame_size=32"]) == 0
    assert "persistence" in capsys.readouterr().out
