"""Tests of transmem.metrics against scikit-image and hand-computed values."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from transmem.metrics import (
    Contingency,
    MetricAccumulator,
    frame_scores,
    mae,
    mean_over_frames,
    mse,
    psnr,
    ssim,
    to_dbz,
    to_uint8,
)


# --------------------------------------------------------------------------------------------------
# helpers: independent numpy references


def np_uint8(x: torch.Tensor) -> np.ndarray:
    """thuml's conversion, done in numpy: np.uint8(clip(x) * 255)."""
    return (np.clip(x.numpy(), 0.0, 1.0) * 255).astype(np.uint8)


def skimage_ssim(pred: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    p, t = np_uint8(pred), np_uint8(truth)
    b, n, c = p.shape[:3]
    out = np.zeros((b, n))
    for i in range(b):
        for j in range(n):
            if c == 1:
                out[i, j] = structural_similarity(t[i, j, 0], p[i, j, 0], data_range=255)
            else:
                out[i, j] = structural_similarity(t[i, j], p[i, j], data_range=255, channel_axis=0)
    return out


def skimage_psnr(pred: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    p, t = np_uint8(pred), np_uint8(truth)
    with np.errstate(divide="ignore"):
        return np.array([[peak_signal_noise_ratio(t[i, j], p[i, j], data_range=255)
                          for j in range(p.shape[1])] for i in range(p.shape[0])])


def flat(result: dict) -> list[float]:
    """MetricAccumulator.result() as one flat list of numbers, in key order, for pytest.approx."""
    out: list[float] = []
    for key in sorted(result):
        v = result[key]
        out.extend(v if isinstance(v, list) else [v])
    return out


def noisy_pair(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    truth = torch.rand(shape, generator=g)
    pred = truth + 0.15 * torch.randn(shape, generator=g)  # overshoots [0, 1]: exercises the clip
    return pred, truth


def blobs(b: int, t: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth moving Gaussian blobs and a moving bright rectangle: frames that look like real data."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((b, t, c, h, w))
    for i in range(b):
        for ch in range(c):
            centres = rng.uniform([0, 0], [h, w], size=(3, 2))
            vel = rng.uniform(-2.5, 2.5, size=(3, 2))
            sig = rng.uniform(2.0, max(3.0, min(h, w) / 4), size=3)
            r0, c0 = rng.integers(0, max(1, h - 5)), rng.integers(0, max(1, w - 5))
            for j in range(t):
                frame = np.zeros((h, w))
                for (cy, cx), (vy, vx), s in zip(centres, vel, sig):
                    frame += np.exp(-((yy - cy - vy * j) ** 2 + (xx - cx - vx * j) ** 2) / (2 * s * s))
                r, cc = (r0 + j) % h, (c0 + 2 * j) % w
                frame[r:r + 5, cc:cc + 6] = 0.9
                out[i, j, ch] = np.clip(frame, 0.0, 1.0)
    return torch.from_numpy(out).float()


# --------------------------------------------------------------------------------------------------
# SSIM


@pytest.mark.parametrize("c,h,w", [(1, 64, 64), (1, 7, 7), (1, 20, 33), (3, 32, 32), (3, 17, 40)])
def test_ssim_matches_skimage_on_random_frames(c: int, h: int, w: int) -> None:
    pred, truth = noisy_pair((2, 3, c, h, w), seed=h * w + c)
    got = ssim(pred, truth)
    assert got.shape == (2, 3) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), skimage_ssim(pred, truth), atol=1e-4, rtol=0)


@pytest.mark.parametrize("c,h,w", [(1, 64, 64), (1, 48, 80), (3, 40, 24)])
def test_ssim_matches_skimage_on_moving_blobs(c: int, h: int, w: int) -> None:
    truth = blobs(2, 4, c, h, w, seed=1)
    pred = torch.roll(truth, shifts=1, dims=-1) * 0.95 + 0.02  # a slightly wrong, blurred-ish forecast
    got = ssim(pred, truth).numpy()
    ref = skimage_ssim(pred, truth)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert 0.2 < ref.min() < 0.999  # the case is neither trivial nor degenerate


def test_ssim_and_psnr_use_truncation_not_rounding() -> None:
    # Same integer part k per pixel, fractions 0.2 in truth and 0.2 or 0.7 in prediction: truncation gives
    # identical uint8 frames (SSIM 1, PSNR +inf), rounding would add a random +1 to half the pixels.
    g = torch.Generator().manual_seed(3)
    k = torch.randint(100, 104, (1, 1, 1, 16, 16), generator=g).double()
    frac = torch.where(torch.rand(k.shape, generator=g) < 0.5, 0.2, 0.7)
    truth = ((k + 0.2) / 255).float()
    pred = ((k + frac) / 255).float()
    rounded = np.round(np.clip(pred.numpy(), 0, 1) * 255).astype(np.uint8)[0, 0, 0]
    ref_round = structural_similarity(np_uint8(truth)[0, 0, 0], rounded, data_range=255)
    assert ref_round < 0.999  # far outside the 1e-4 tolerance
    assert float(ssim(pred, truth)[0, 0]) == pytest.approx(1.0, abs=1e-12)
    assert math.isinf(float(psnr(pred, truth)[0, 0]))


def test_ssim_identical_frames_is_one_and_small_frames_rejected() -> None:
    x = blobs(1, 2, 1, 16, 16, seed=4)
    assert torch.allclose(ssim(x, x), torch.ones(1, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(torch.rand(1, 1, 1, 6, 9), torch.rand(1, 1, 1, 6, 9))


def test_to_uint8_floors() -> None:
    x = torch.tensor([0.0, 0.999, 0.5, 1.0, 1.7, -0.2, 254.9 / 255])
    assert to_uint8(x).tolist() == [0, 254, 127, 255, 255, 0, 254]
    assert to_uint8(x.to(torch.bfloat16)).dtype == torch.uint8


# --------------------------------------------------------------------------------------------------
# MSE / MAE


def test_mse_mae_hand_computed_2x2() -> None:
    truth = torch.tensor([[0.0, 0.5], [1.0, 0.25]]).reshape(1, 1, 1, 2, 2)
    pred = torch.tensor([[0.1, 0.5], [0.5, 0.0]]).reshape(1, 1, 1, 2, 2)
    # squared errors: 0.01 + 0 + 0.25 + 0.0625 = 0.3225; absolute: 0.1 + 0 + 0.5 + 0.25 = 0.85
    assert mse(pred, truth).item() == pytest.approx(0.3225, abs=1e-7)
    assert mae(pred, truth).item() == pytest.approx(0.85, abs=1e-7)


def test_mse_mae_clip_predictions() -> None:
    truth = torch.tensor([[0.0, 1.0], [0.5, 0.5]]).reshape(1, 1, 1, 2, 2)
    pred = torch.tensor([[-3.0, 7.0], [1.5, -0.5]]).reshape(1, 1, 1, 2, 2)
    # after clipping: [0, 1, 1, 0] -> errors 0, 0, 0.5, 0.5
    assert mse(pred, truth).item() == pytest.approx(0.5, abs=1e-7)
    assert mae(pred, truth).item() == pytest.approx(1.0, abs=1e-7)


def test_mse_per_sequence_and_frame_sums_channels() -> None:
    pred, truth = noisy_pair((3, 4, 3, 5, 6), seed=7)
    p = np.clip(pred.numpy().astype(np.float64), 0, 1)
    t = truth.numpy().astype(np.float64)
    ref_mse = np.array([[((t[i, j] - p[i, j]) ** 2).sum() for j in range(4)] for i in range(3)])
    ref_mae = np.array([[np.abs(t[i, j] - p[i, j]).sum() for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(mse(pred, truth).numpy(), ref_mse, rtol=1e-6)
    np.testing.assert_allclose(mae(pred, truth).numpy(), ref_mae, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# PSNR


def test_psnr_hand_computed() -> None:
    truth = torch.zeros(1, 1, 1, 2, 2)
    pred = torch.zeros(1, 1, 1, 2, 2)
    pred[..., 0, 0] = 10.7 / 255  # -> uint8 10 after truncation
    # uint8 mse = 10^2 / 4 = 25 -> 10 log10(65025 / 25)
    assert psnr(pred, truth).item() == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-9)


@pytest.mark.parametrize("c", [1, 3])
def test_psnr_matches_skimage(c: int) -> None:
    pred, truth = noisy_pair((2, 3, c, 12, 9), seed=11 + c)
    np.testing.assert_allclose(psnr(pred, truth).numpy(), skimage_psnr(pred, truth), rtol=1e-9)


def test_psnr_identical_frames_is_inf_and_mean_over_frames() -> None:
    truth = torch.rand(1, 2, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    pred = truth.clone()
    pred[:, 1] = 0.0
    pred[:, 0] = (pred[:, 0] + 0.5 / 255).clamp(0, 1)  # about half the pixels move up one grey level
    got = psnr(pred, truth)
    ref = skimage_psnr(pred, truth)
    assert got.shape == (1, 2)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    exact = psnr(truth, truth)
    assert torch.isinf(exact).all() and (exact > 0).all()
    mixed = torch.tensor([[30.0, math.inf, 40.0]])
    assert math.isinf(mean_over_frames(mixed).item())
    assert mean_over_frames(mixed, finite_only=True).item() == pytest.approx(35.0)
    assert math.isnan(mean_over_frames(torch.tensor([[math.inf]]), finite_only=True).item())


# --------------------------------------------------------------------------------------------------
# CSI / POD / FAR


def counts_by_hand(pred: np.ndarray, truth: np.ndarray, thr: float) -> tuple[np.ndarray, ...]:
    """Plain loops over every value: independent of the vectorised implementation."""
    t = pred.shape[1]
    h, m, f = np.zeros(t, int), np.zeros(t, int), np.zeros(t, int)
    for (i, j, c, y, x), pv in np.ndenumerate(pred):
        ov = truth[i, j, c, y, x]
        if pv >= thr and ov >= thr:
            h[j] += 1
        elif ov >= thr:
            m[j] += 1
        elif pv >= thr:
            f[j] += 1
    return h, m, f


def test_csi_hand_computed_table() -> None:
    # frame 0: 3 hits, 2 misses, 1 false alarm; frame 1: 1 hit, 0 misses, 3 false alarms (20 is >= 20)
    truth = torch.zeros(1, 2, 1, 4, 4)
    pred = torch.zeros(1, 2, 1, 4, 4)
    f0t, f0p = truth[0, 0, 0].view(-1), pred[0, 0, 0].view(-1)
    f0t[:5] = 30.0
    f0p[:3] = 25.0
    f0p[5] = 40.0
    f1t, f1p = truth[0, 1, 0].view(-1), pred[0, 1, 0].view(-1)
    f1t[0] = 20.0
    f1p[0] = 20.0
    f1p[7:10] = 35.0
    f1t[10] = 19.99  # just below: not an event
    table = Contingency(20.0).update(pred, truth)
    assert table.hits.tolist() == [[3, 1]]
    assert table.misses.tolist() == [[2, 0]]
    assert table.false_alarms.tolist() == [[1, 3]]
    assert table.hits.dtype == torch.int64
    np.testing.assert_allclose(table.csi().numpy(), [[3 / 6, 1 / 4]])
    np.testing.assert_allclose(table.pod().numpy(), [[3 / 5, 1 / 1]])
    np.testing.assert_allclose(table.far().numpy(), [[1 / 4, 3 / 4]])
    np.testing.assert_allclose(table.csi(mean=True).numpy(), [(0.5 + 0.25) / 2])
    np.testing.assert_allclose(table.pooled().csi()[:, 0].numpy(), [4 / 10])
    s = table.summary()
    assert s["csi_pooled"] == pytest.approx([0.4]) and s["pod_per_frame"] == [[0.6, 1.0]]


def test_csi_perfect_forecast_and_undefined() -> None:
    truth = to_dbz(blobs(2, 3, 1, 16, 16, seed=8), 70.0, -10.0)
    table = Contingency(20.0).update(truth.clone(), truth)
    assert (table.hits > 0).all()
    assert torch.equal(table.csi(), torch.ones(1, 3, dtype=torch.float64))
    assert torch.equal(table.far(), torch.zeros(1, 3, dtype=torch.float64))
    empty = Contingency(100.0).update(truth, truth)  # no value reaches 100 dBZ: 0 / 0
    assert torch.isnan(empty.csi()).all() and torch.isnan(empty.pod()).all()
    assert torch.isnan(empty.csi(mean=True)).all()


def test_contingency_multiple_thresholds_match_loops() -> None:
    g = torch.Generator().manual_seed(9)
    truth = torch.rand(2, 3, 1, 6, 5, generator=g) * 70 - 10
    pred = truth + 12 * torch.randn(truth.shape, generator=g)
    thresholds = [5.0, 20.0, 30.0, 45.0]
    table = Contingency(thresholds).update(pred, truth)
    assert table.hits.shape == (4, 3)
    for k, thr in enumerate(thresholds):
        h, m, f = counts_by_hand(pred.numpy(), truth.numpy(), thr)
        assert table.hits[k].tolist() == h.tolist()
        assert table.misses[k].tolist() == m.tolist()
        assert table.false_alarms[k].tolist() == f.tolist()
        np.testing.assert_allclose(table.csi()[k].numpy(), h / (h + m + f))


def test_contingency_batches_add_up_to_concatenation() -> None:
    g = torch.Generator().manual_seed(10)
    a_t, b_t = torch.rand(3, 4, 1, 9, 9, generator=g), torch.rand(2, 4, 1, 9, 9, generator=g)
    a_p, b_p = torch.rand(3, 4, 1, 9, 9, generator=g), torch.rand(2, 4, 1, 9, 9, generator=g)
    thr = [0.3, 0.5]
    whole = Contingency(thr).update(torch.cat([a_p, b_p]), torch.cat([a_t, b_t]))
    one, two = Contingency(thr).update(a_p, a_t), Contingency(thr).update(b_p, b_t)
    summed = one + two
    streamed = Contingency(thr).update(a_p, a_t).update(b_p, b_t)
    for t in (summed, streamed, Contingency(thr).merge(one).merge(two)):
        assert torch.equal(t.hits, whole.hits)
        assert torch.equal(t.misses, whole.misses)
        assert torch.equal(t.false_alarms, whole.false_alarms)
    assert not torch.equal(one.hits, summed.hits)  # + left its operands alone
    assert torch.equal(summed.all_reduce().hits, whole.hits)  # no process group: no-op
    # CSI of the pooled counts differs from the mean of per-batch CSI, which is why we accumulate.
    assert not torch.allclose(whole.csi(), (one.csi() + two.csi()) / 2)


def test_contingency_errors() -> None:
    x = torch.rand(1, 2, 1, 4, 4)
    with pytest.raises(ValueError, match="empty"):
        Contingency(20.0).csi()
    with pytest.raises(ValueError, match="thresholds differ"):
        Contingency([1.0]).update(x, x).merge(Contingency([2.0]).update(x, x))
    with pytest.raises(ValueError, match="counts 2 frames, the batch has 3"):
        Contingency(0.5).update(x, x).update(torch.rand(1, 3, 1, 4, 4), torch.rand(1, 3, 1, 4, 4))
    bad = x.clone()
    bad[0, 0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="prediction contains NaN"):
        Contingency(0.5).update(bad, x)
    table = Contingency.zeros([10.0, 20.0], n_frames=5)
    assert table.csi().shape == (2, 5) and torch.isnan(table.csi()).all()


def test_to_dbz_hko7() -> None:
    assert to_dbz(torch.tensor([0.0, 1.0, 30 / 70]), 70.0, -10.0).tolist() == pytest.approx([-10, 60, 20])
    # uint8 data such as SEVIR VIL compares directly with byte thresholds
    vil = torch.tensor([10, 16, 200], dtype=torch.uint8).reshape(1, 1, 1, 1, 3)
    table = Contingency([16.0, 181.0]).update(vil, vil)
    assert table.hits.tolist() == [[2], [1]]


# --------------------------------------------------------------------------------------------------
# MetricAccumulator


def test_accumulator_matches_independent_references() -> None:
    pa, ta = noisy_pair((3, 4, 1, 16, 16), seed=12)
    pb, tb = noisy_pair((2, 4, 1, 16, 16), seed=13)
    pb[0] = tb[0]  # a perfect sequence: 4 frames of infinite PSNR
    acc = MetricAccumulator().update(pa, ta).update(pb, tb)
    res = acc.result()
    pred, truth = torch.cat([pa, pb]), torch.cat([ta, tb])
    p = np.clip(pred.numpy().astype(np.float64), 0, 1)
    t = truth.numpy().astype(np.float64)
    ref_mse = ((t - p) ** 2).sum(axis=(2, 3, 4))
    ref_mae = np.abs(t - p).sum(axis=(2, 3, 4))
    ref_ssim = skimage_ssim(pred, truth)
    ref_psnr = skimage_psnr(pred, truth)
    assert res["n_sequences"] == 5
    np.testing.assert_allclose(res["mse_per_frame"], ref_mse.mean(0), rtol=1e-6)
    assert res["mse"] == pytest.approx(ref_mse.mean(), rel=1e-6)
    assert res["mae"] == pytest.approx(ref_mae.mean(), rel=1e-6)
    np.testing.assert_allclose(res["ssim_per_frame"], ref_ssim.mean(0), atol=1e-4)
    assert res["ssim"] == pytest.approx(ref_ssim.mean(), abs=1e-4)
    finite = np.isfinite(ref_psnr)
    assert res["psnr_inf_frames"] == int((~finite).sum()) == 4
    assert res["psnr"] == pytest.approx(ref_psnr[finite].mean(), rel=1e-9)
    np.testing.assert_allclose(res["psnr_per_frame"],
                               [ref_psnr[finite[:, j], j].mean() for j in range(4)], rtol=1e-9)
    assert all(isinstance(v, float) for v in res["mse_per_frame"]) and isinstance(res["mse"], float)

    merged = MetricAccumulator().update(pa, ta) + MetricAccumulator().update(pb, tb)
    assert flat(merged.result()) == pytest.approx(flat(res))


def test_accumulator_errors() -> None:
    with pytest.raises(ValueError, match="no sequences"):
        MetricAccumulator(n_frames=3).result()
    with pytest.raises(ValueError, match="empty"):
        MetricAccumulator().all_reduce()
    acc = MetricAccumulator().update(torch.rand(1, 2, 1, 8, 8), torch.rand(1, 2, 1, 8, 8))
    with pytest.raises(ValueError, match="has 2 frames, the batch has 3"):
        acc.update(torch.rand(1, 3, 1, 8, 8), torch.rand(1, 3, 1, 8, 8))


# --------------------------------------------------------------------------------------------------
# input errors


@pytest.mark.parametrize("fn", [mse, mae, psnr, ssim])
def test_shape_and_value_errors(fn) -> None:
    x = torch.rand(2, 10, 1, 16, 16)
    with pytest.raises(ValueError) as e:
        fn(x, torch.rand(2, 9, 1, 16, 16))
    assert str(e.value) == ("prediction shape (2, 10, 1, 16, 16) does not match truth shape "
                            "(2, 9, 1, 16, 16)")
    with pytest.raises(ValueError, match=r"^expected \(B, T, C, H, W\) tensors, got 4 dimensions"):
        fn(x[0], x[0])
    bad = x.clone()
    bad[1, 3, 0, 5, 5] = math.nan
    with pytest.raises(ValueError, match="prediction contains NaN"):
        fn(bad, x)
    with pytest.raises(ValueError, match="truth contains NaN"):
        fn(x, bad)
    with pytest.raises(ValueError, match=r"truth values must lie on \[0, 1\]"):
        fn(x, x * 255)
    with pytest.raises(ValueError, match="floating-point"):
        fn(x, (x * 255).to(torch.uint8))
    with pytest.raises(TypeError):
        fn(x.numpy(), x)


# --------------------------------------------------------------------------------------------------
# across processes (gloo, 2 CPU processes)


def _dist_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        g = torch.Generator().manual_seed(100 + rank)
        truth = torch.rand(2, 3, 1, 8, 8, generator=g)
        pred = torch.rand(2, 3, 1, 8, 8, generator=g)
        table = Contingency([0.4, 0.7]).update(pred, truth).all_reduce()
        acc = MetricAccumulator().update(pred, truth).all_reduce()
        torch.save({"hits": table.hits, "misses": table.misses, "fa": table.false_alarms,
                    "result": acc.result()}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_all_reduce_sums_across_processes(tmp_path) -> None:
    mp.spawn(_dist_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    preds, truths = [], []
    for rank in range(2):
        g = torch.Generator().manual_seed(100 + rank)
        truths.append(torch.rand(2, 3, 1, 8, 8, generator=g))
        preds.append(torch.rand(2, 3, 1, 8, 8, generator=g))
    whole = Contingency([0.4, 0.7]).update(torch.cat(preds), torch.cat(truths))
    ref = MetricAccumulator().update(torch.cat(preds), torch.cat(truths)).result()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.equal(got["hits"], whole.hits)
        assert torch.equal(got["misses"], whole.misses)
        assert torch.equal(got["fa"], whole.false_alarms)
        assert got["result"]["n_sequences"] == 4
        assert flat(got["result"]) == pytest.approx(flat(ref))


def test_sharpness_is_the_mean_gradient_magnitude_by_hand():
    from transmem.metrics import sharpness

    ramp = torch.arange(5, dtype=torch.float64).mul(0.1).expand(1, 1, 1, 4, 5)  # +0.1 per column, flat in rows
    assert sharpness(ramp).item() == pytest.approx(0.1)
    cols, rows = torch.arange(5, dtype=torch.float64), torch.arange(4, dtype=torch.float64)
    both = cols.mul(0.1)[None, :] + rows.mul(0.2)[:, None]  # +0.1 per column and +0.2 per row
    assert sharpness(both.expand(1, 1, 1, 4, 5)).item() == pytest.approx((0.1**2 + 0.2**2) ** 0.5)
    flat = torch.full((2, 3, 1, 6, 6), 0.4)
    assert torch.equal(sharpness(flat), torch.zeros(2, 3, dtype=torch.float64))
    # against numpy's forward differences on random frames
    x = torch.rand(2, 3, 2, 7, 9)
    a = x.double().numpy()
    gx, gy = np.diff(a, axis=-1)[..., :-1, :], np.diff(a, axis=-2)[..., :, :-1]
    np.testing.assert_allclose(sharpness(x).numpy(), np.sqrt(gx**2 + gy**2).mean(axis=(2, 3, 4)))


def test_the_accumulator_reports_sharpness_of_predictions_and_truth():
    truth = torch.rand(3, 2, 1, 8, 8)
    blurred = torch.nn.functional.avg_pool2d(truth.flatten(0, 1), 3, 1, 1).view_as(truth)
    r = MetricAccumulator().update(blurred, truth).result()
    assert r["sharpness"] < r["sharpness_truth"] and len(r["sharpness_per_frame"]) == 2
    best = MetricAccumulator().add({k: v for k, v in frame_scores(blurred, truth).items() if "sharp" not in k})
    assert "sharpness" not in best.result()  # rows scored without it (best of N) leave it out
