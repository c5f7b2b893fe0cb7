"""Frame metrics of spatiotemporal prediction, batched in torch, with the conventions of the paper.

The paper's numbers (ICML 2020, section 4) were computed with the thuml evaluation code, and these
functions reproduce its conventions so our numbers can be put next to the paper's:

* every function takes ``(prediction, truth)`` shaped ``(B, T, C, H, W)`` with values on [0, 1];
  predictions are clipped to [0, 1] first (a model may overshoot, the truth may not);
* every function returns one value per sequence and output frame, shape ``(B, T)``, float64, so callers
  can average over sequences and report per-frame curves and their mean over output frames;
* MSE and MAE are *summed* over the pixels and channels of a frame (not averaged): that is the paper's
  convention, which is why its Moving MNIST MSE is about 100 rather than 0.02;
* SSIM and PSNR are computed on uint8 frames ``(x * 255)`` truncated (floored) to integers, exactly as
  thuml converted frames before calling scikit-image; SSIM equals scikit-image's
  ``structural_similarity`` (7x7 uniform window, K1 = 0.01, K2 = 0.03, data range 255, sample
  covariance, border of 3 pixels cropped, mean over channels);
* CSI / POD / FAR come from hit / miss / false-alarm counts accumulated over the whole test set (and
  across processes) before dividing (`Contingency`); averaging per-batch CSI would weight batches
  with few events as much as stormy ones.

`MetricAccumulator` sums the per-frame MSE/MAE/SSIM/PSNR over batches and processes and returns plain
Python numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "SSIM_K1",
    "SSIM_K2",
    "Contingency",
    "MetricAccumulator",
    "frame_scores",
    "mae",
    "mean_over_frames",
    "mse",
    "psnr",
    "ssim",
    "to_dbz",
    "to_uint8",
]

SSIM_K1 = 0.01
SSIM_K2 = 0.03
_DATA_RANGE = 255.0


# --------------------------------------------------------------------------------------------------
# input checks and conversions


def _check_5d(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5:
        raise ValueError(f"expected (B, T, C, H, W) tensors, got {x.dim()} dimensions for {name} "
                         f"of shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    return x


def _check_pair(prediction: Tensor, truth: Tensor, *, unit_range: bool) -> None:
    """Shared validation; `unit_range` asks for floating frames on [0, 1] (truth) and no NaN."""
    _check_5d("prediction", prediction)
    _check_5d("truth", truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction shape {tuple(prediction.shape)} does not match truth shape "
                         f"{tuple(truth.shape)}")
    if prediction.device != truth.device:
        raise ValueError(f"prediction is on {prediction.device} but truth is on {truth.device}")
    for name, x in (("prediction", prediction), ("truth", truth)):
        if unit_range and not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor with values on [0, 1], "
                             f"got dtype {x.dtype}")
        if x.is_floating_point() and bool(torch.isnan(x).any()):
            raise ValueError(f"{name} contains NaN values")
    if unit_range:
        lo, hi = float(truth.min()), float(truth.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"truth values must lie on [0, 1], got range [{lo:g}, {hi:g}]; "
                             "scale the frames (e.g. /255) or clamp them before scoring")


def _clip(prediction: Tensor) -> Tensor:
    return prediction.clamp(0.0, 1.0)


def to_uint8(x: Tensor) -> Tensor:
    """Frames on [0, 1] -> uint8 by ``x * 255`` truncated toward zero (floor, after clipping).

    This is thuml's ``np.uint8(x * 255)``, not rounding: 0.999 -> 254. Half-precision inputs are
    multiplied in float32 (what numpy would do after ``.float()``) so that bf16 rounding of the
    product cannot move a value across an integer.
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return (x.clamp(0.0, 1.0) * 255).to(torch.uint8)


def to_dbz(x: Tensor, scale: float, offset: float) -> Tensor:
    """Map normalised radar frames p on [0, 1] to reflectivity: ``dbz = scale * p + offset``.

    HKO-7: scale 70, offset -10 (20 dBZ <-> p = 0.4286); CIKM: scale 95, offset -10. No clipping:
    for any threshold inside [offset, scale + offset] the comparison with the threshold is the same
    whether or not the prediction was clipped to [0, 1] first.
    """
    return x * scale + offset


# --------------------------------------------------------------------------------------------------
# per-frame metrics, (B, T, C, H, W) -> (B, T)


def mse(prediction: Tensor, truth: Tensor) -> Tensor:
    """Per-frame squared error summed over pixels and channels on the [0, 1] scale, shape (B, T).

    Summed, not averaged, because that is how the paper (thuml) reports "MSE per frame".
    """
    _check_pair(prediction, truth, unit_range=True)
    diff = truth.double() - _clip(prediction).double()
    return diff.square().sum(dim=(2, 3, 4))


def mae(prediction: Tensor, truth: Tensor) -> Tensor:
    """Per-frame absolute error summed over pixels and channels on the [0, 1] scale, shape (B, T)."""
    _check_pair(prediction, truth, unit_range=True)
    diff = truth.double() - _clip(prediction).double()
    return diff.abs().sum(dim=(2, 3, 4))


def psnr(prediction: Tensor, truth: Tensor) -> Tensor:
    """Per-frame PSNR in dB on uint8 frames: ``10 log10(255^2 / mse)``, shape (B, T).

    ``mse`` is the mean over the pixels and channels of the frame of the squared uint8 difference.
    Frames that are identical after the uint8 conversion (common for empty radar frames) give
    ``+inf``; `mean_over_frames(..., finite_only=True)` and `MetricAccumulator` leave them out of
    averages and count them instead.
    """
    _check_pair(prediction, truth, unit_range=True)
    x = to_uint8(prediction).double()
    y = to_uint8(truth).double()
    err = (x - y).square().mean(dim=(2, 3, 4))
    return 10.0 * torch.log10(_DATA_RANGE**2 / err)  # err == 0 -> +inf, no warning in torch


def ssim(prediction: Tensor, truth: Tensor, *, win_size: int = 7) -> Tensor:
    """Per-frame SSIM on uint8 frames, equal to scikit-image's ``structural_similarity``, shape (B, T).

    scikit-image (default settings, ``data_range=255``, ``channel_axis`` for colour) filters with a
    ``win_size`` uniform window, uses sample covariances (normalised by N - 1, N = win_size^2) and
    averages the SSIM map after cropping ``(win_size - 1) // 2`` pixels at each border. The cropped
    map is exactly the map of windows lying fully inside the frame, i.e. an unpadded stride-1 average
    pool, so all frames and channels are done at once. Colour frames: mean over channels.
    Computed in float64: in float32 the variances of 0-255 data lose about 1e-4 of SSIM.
    """
    _check_pair(prediction, truth, unit_range=True)
    if win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer >= 3, got {win_size}")
    b, t, c, h, w = truth.shape
    if h < win_size or w < win_size:
        raise ValueError(f"SSIM needs frames of at least {win_size}x{win_size} pixels, got {h}x{w}")
    x = to_uint8(prediction).double().reshape(b * t * c, 1, h, w)
    y = to_uint8(truth).double().reshape(b * t * c, 1, h, w)
    moments = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), win_size, stride=1)
    ux, uy, uxx, uyy, uxy = moments.unbind(dim=1)
    n = win_size * win_size
    cov_norm = n / (n - 1.0)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (SSIM_K1 * _DATA_RANGE) ** 2
    c2 = (SSIM_K2 * _DATA_RANGE) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1)).reshape(b, t, c).mean(dim=2)


def mean_over_frames(values: Tensor, *, finite_only: bool = False) -> Tensor:
    """Mean over the last (frame) axis, e.g. (B, T) -> (B,), in float64.

    With ``finite_only=False`` a +inf PSNR makes the mean +inf (and NaN stays NaN). With
    ``finite_only=True`` non-finite entries are left out; a row with none finite gives NaN.
    """
    v = values.double()
    if not finite_only:
        return v.mean(dim=-1)
    keep = torch.isfinite(v)
    total = torch.where(keep, v, torch.zeros_like(v)).sum(dim=-1)
    count = keep.sum(dim=-1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


# --------------------------------------------------------------------------------------------------
# distributed helper


def _all_reduce_sum(t: Tensor) -> Tensor:
    """Sum `t` over the torch.distributed processes when a process group is up; else return it."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return t
    work = t
    if torch.distributed.get_backend() == "nccl" and t.device.type != "cuda":
        work = t.to(torch.device("cuda", torch.cuda.current_device()))
    work = work.clone()
    torch.distributed.all_reduce(work, op=torch.distributed.ReduceOp.SUM)
    return work.to(t.device)


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den in float64 with 0 / 0 -> NaN (no event forecast nor observed: score undefined)."""
    num, den = num.double(), den.double()
    return torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, math.nan))


# --------------------------------------------------------------------------------------------------
# contingency table for CSI / POD / FAR


@dataclass(eq=False)
class Contingency:
    """Hits, misses and false alarms per threshold and output frame, int64 tensors (n_thresholds, T).

    Values are compared with thresholds in whatever unit the caller passes (dBZ for radar: map
    frames with `to_dbz` first; SEVIR VIL: raw bytes). With ``p = pred >= thr`` and ``o = truth >= thr``:
    hits = p & o, misses = o & ~p, false alarms = p & ~o, counted over sequences, channels and pixels.
    Scores: CSI = H / (H + M + F), POD = H / (H + M), FAR = F / (H + F); 0 / 0 is NaN (the event was
    neither observed nor forecast, the score is undefined rather than perfect or zero).

    Counts stay ``None`` until the first `update` fixes the number of frames T, unless created with
    `Contingency.zeros`. Create the table with the number of frames when some process may see no
    data, otherwise `all_reduce` cannot know the shape.
    """

    thresholds: tuple[float, ...] = (20.0,)
    hits: Tensor | None = None
    misses: Tensor | None = None
    false_alarms: Tensor | None = None

    def __post_init__(self) -> None:
        if isinstance(self.thresholds, (int, float)):
            self.thresholds = (self.thresholds,)
        self.thresholds = tuple(float(v) for v in self.thresholds)
        if not self.thresholds:
            raise ValueError("Contingency needs at least one threshold")
        if any(math.isnan(v) for v in self.thresholds):
            raise ValueError(f"thresholds must not be NaN, got {self.thresholds}")
        counts = (self.hits, self.misses, self.false_alarms)
        if any(c is None for c in counts) and not all(c is None for c in counts):
            raise ValueError("give all of hits, misses and false_alarms or none of them")
        if self.hits is not None:
            n_frames = self.hits.shape[-1] if self.hits.dim() == 2 else -1
            shape = (len(self.thresholds), n_frames)
            for name, c in zip(("hits", "misses", "false_alarms"), counts):
                if tuple(c.shape) != shape or c.dtype != torch.int64:
                    raise ValueError(f"{name} must be an int64 tensor of shape {shape} "
                                     f"(n_thresholds, T), got {c.dtype} {tuple(c.shape)}")

    @classmethod
    def zeros(cls, thresholds: float | Sequence[float], n_frames: int,
              device: torch.device | str | None = None) -> Contingency:
        """An empty table for ``n_frames`` output frames."""
        thr = (float(thresholds),) if isinstance(thresholds, (int, float)) else tuple(thresholds)
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        z = torch.zeros(len(thr), n_frames, dtype=torch.int64, device=device)
        return cls(thr, z, z.clone(), z.clone())

    @property
    def n_frames(self) -> int | None:
        return None if self.hits is None else int(self.hits.shape[1])

    def update(self, prediction: Tensor, truth: Tensor) -> Contingency:
        """Add the counts of one batch (B, T, C, H, W); returns self. Predictions are not clipped."""
        _check_pair(prediction, truth, unit_range=False)
        t = truth.shape[1]
        if self.hits is None:
            z = torch.zeros(len(self.thresholds), t, dtype=torch.int64, device=truth.device)
            self.hits, self.misses, self.false_alarms = z, z.clone(), z.clone()
        elif self.hits.shape[1] != t:
            raise ValueError(f"this table counts {self.hits.shape[1]} frames, the batch has {t}")
        dims = (0, 2, 3, 4)
        h, m, f = [], [], []
        for thr in self.thresholds:  # a loop over thresholds only; frames are done together
            p = prediction >= thr
            o = truth >= thr
            hit = (p & o).sum(dim=dims)
            h.append(hit)
            m.append(o.sum(dim=dims) - hit)
            f.append(p.sum(dim=dims) - hit)
        dev = self.hits.device
        self.hits += torch.stack(h).to(dev)
        self.misses += torch.stack(m).to(dev)
        self.false_alarms += torch.stack(f).to(dev)
        return self

    def _counts(self) -> tuple[Tensor, Tensor, Tensor]:
        if self.hits is None or self.misses is None or self.false_alarms is None:
            raise ValueError("the contingency table is empty: call update() first or create it "
                             "with Contingency.zeros(thresholds, n_frames)")
        return self.hits, self.misses, self.false_alarms

    def merge(self, other: Contingency) -> Contingency:
        """Add the counts of `other` into this table (in place); returns self."""
        if not isinstance(other, Contingency):
            raise TypeError(f"cannot merge Contingency with {type(other).__name__}")
        if other.thresholds != self.thresholds:
            raise ValueError(f"thresholds differ: {self.thresholds} vs {other.thresholds}")
        if other.hits is None:
            return self
        if self.hits is None:
            self.hits, self.misses, self.false_alarms = (c.clone() for c in other._counts())
            return self
        if self.hits.shape != other.hits.shape:
            raise ValueError(f"frame counts differ: {self.hits.shape[1]} vs {other.hits.shape[1]}")
        dev = self.hits.device
        for mine, theirs in zip(self._counts(), other._counts()):
            mine += theirs.to(dev)
        return self

    def __add__(self, other: Contingency) -> Contingency:
        """A new table with the summed counts; neither operand changes."""
        out = Contingency(self.thresholds)
        return out.merge(self).merge(other)

    def all_reduce(self) -> Contingency:
        """Sum the counts over torch.distributed processes (in place); a no-op without a process group."""
        h, m, f = self._counts()
        total = _all_reduce_sum(torch.stack([h, m, f]))
        self.hits, self.misses, self.false_alarms = (c.clone() for c in total.unbind(0))
        return self

    def pooled(self) -> Contingency:
        """A one-frame table with the counts summed over the output frames."""
        h, m, f = self._counts()
        return Contingency(self.thresholds, h.sum(1, keepdim=True), m.sum(1, keepdim=True),
                           f.sum(1, keepdim=True))

    def csi(self, mean: bool = False) -> Tensor:
        """CSI per threshold and frame (n_thresholds, T); ``mean=True``: mean over frames (n_thresholds,).

        The mean is over the per-frame scores, leaving out undefined (NaN) frames. For the score of the
        counts summed over frames instead, use ``pooled().csi()``.
        """
        h, m, f = self._counts()
        return self._reduce(_safe_ratio(h, h + m + f), mean)

    def pod(self, mean: bool = False) -> Tensor:
        """Probability of detection H / (H + M); shapes as in `csi`."""
        h, m, _ = self._counts()
        return self._reduce(_safe_ratio(h, h + m), mean)

    def far(self, mean: bool = False) -> Tensor:
        """False alarm ratio F / (H + F); shapes as in `csi`."""
        h, _, f = self._counts()
        return self._reduce(_safe_ratio(f, h + f), mean)

    @staticmethod
    def _reduce(values: Tensor, mean: bool) -> Tensor:
        return mean_over_frames(values, finite_only=True) if mean else values

    def summary(self) -> dict[str, list]:
        """Plain-Python scores: per threshold, the per-frame list, the frame mean and the pooled score."""
        out: dict[str, list] = {"thresholds": list(self.thresholds)}
        pooled = self.pooled()
        for name in ("csi", "pod", "far"):
            out[f"{name}_per_frame"] = getattr(self, name)().tolist()
            out[name] = getattr(self, name)(mean=True).tolist()
            out[f"{name}_pooled"] = getattr(pooled, name)()[:, 0].tolist()
        return out


# --------------------------------------------------------------------------------------------------
# MSE / MAE / SSIM / PSNR over a test set


def sharpness(frames: Tensor) -> Tensor:
    """Per-frame mean gradient magnitude on the [0, 1] scale, shape (B, T): sqrt(dx^2 + dy^2) of forward
    differences, averaged over the (H-1) x (W-1) positions and the channels. Blurred predictions score lower than
    the true frames; the paper's claim that the TMU predicts sharper frames than finetuning is read off this."""
    x = _clip(frames).double()
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.square() + dy.square()).sqrt().mean(dim=(2, 3, 4))


def frame_scores(prediction: Tensor, truth: Tensor) -> dict[str, Tensor]:
    """{"mse", "mae", "ssim", "psnr", "sharpness", "sharpness_truth"} -> per-frame values (B, T) of one batch
    (B, T, C, H, W)."""
    return {"mse": mse(prediction, truth), "mae": mae(prediction, truth), "ssim": ssim(prediction, truth),
            "psnr": psnr(prediction, truth), "sharpness": sharpness(prediction), "sharpness_truth": sharpness(truth)}


_ROWS = ("n", "mse", "mae", "ssim", "psnr", "psnr_n", "sharpness", "sharpness_truth", "sharpness_n")


class MetricAccumulator:
    """Per-frame sums of MSE, MAE, SSIM, PSNR and sharpness over batches and processes.

    `result()` averages over sequences: per-frame curves and the mean over output frames. PSNR: frames
    identical after the uint8 conversion (+inf) are left out of its averages and counted in
    ``psnr_inf_frames``; its mean over frames is the mean of all its finite values. Pass ``n_frames``
    when some process may see no batch, so that `all_reduce` knows the shape.
    """

    def __init__(self, n_frames: int | None = None, device: torch.device | str | None = None):
        self._state: Tensor | None = None
        if n_frames is not None:
            if n_frames < 1:
                raise ValueError(f"n_frames must be >= 1, got {n_frames}")
            self._state = torch.zeros(len(_ROWS), n_frames, dtype=torch.float64, device=device)

    @property
    def n_frames(self) -> int | None:
        return None if self._state is None else int(self._state.shape[1])

    def update(self, prediction: Tensor, truth: Tensor) -> MetricAccumulator:
        """Score one batch (B, T, C, H, W) on [0, 1] and add its per-frame sums; returns self."""
        return self.add(frame_scores(prediction, truth))

    def add(self, scores: dict[str, Tensor]) -> MetricAccumulator:
        """Add per-frame scores already computed, {"mse", "mae", "ssim", "psnr"} -> (B, T) (as `frame_scores`
        gives; best-of-N evaluation adds each metric's best sample); returns self."""
        err = scores["mse"]
        b, t = err.shape
        if self._state is None:
            self._state = torch.zeros(len(_ROWS), t, dtype=torch.float64, device=err.device)
        elif self._state.shape[1] != t:
            raise ValueError(f"this accumulator has {self._state.shape[1]} frames, the batch has {t}")
        p = scores["psnr"]
        finite = torch.isfinite(p)
        sharp = "sharpness" in scores  # best-of-N rows carry no sharpness (it is not what a sample is picked by)
        zeros = torch.zeros(t, dtype=torch.float64, device=err.device)
        rows = torch.stack([
            torch.full((t,), float(b), dtype=torch.float64, device=err.device),
            err.sum(0),
            scores["mae"].sum(0),
            scores["ssim"].sum(0),
            torch.where(finite, p, torch.zeros_like(p)).sum(0),
            finite.sum(0).double(),
            scores["sharpness"].sum(0) if sharp else zeros,
            scores["sharpness_truth"].sum(0) if sharp else zeros,
            torch.full((t,), float(b if sharp else 0), dtype=torch.float64, device=err.device),
        ])
        self._state += rows.to(self._state.device)
        return self

    def merge(self, other: MetricAccumulator) -> MetricAccumulator:
        """Add the sums of `other` into this accumulator (in place); returns self."""
        if not isinstance(other, MetricAccumulator):
            raise TypeError(f"cannot merge MetricAccumulator with {type(other).__name__}")
        if other._state is None:
            return self
        if self._state is None:
            self._state = other._state.clone()
        elif self._state.shape != other._state.shape:
            raise ValueError(f"frame counts differ: {self.n_frames} vs {other.n_frames}")
        else:
            self._state += other._state.to(self._state.device)
        return self

    def __add__(self, other: MetricAccumulator) -> MetricAccumulator:
        """A new accumulator with the summed state; neither operand changes."""
        return MetricAccumulator().merge(self).merge(other)

    def all_reduce(self) -> MetricAccumulator:
        """Sum over torch.distributed processes (in place); a no-op without a process group."""
        if self._state is None:
            raise ValueError("the accumulator is empty: call update() first or pass n_frames")
        self._state = _all_reduce_sum(self._state)
        return self

    def result(self) -> dict[str, float | int | list[float]]:
        """``{"n_sequences", "mse", "mse_per_frame", ... "psnr", "psnr_per_frame", "psnr_inf_frames", "sharpness",
        "sharpness_per_frame", "sharpness_truth", "sharpness_truth_per_frame"}`` (sharpness: when scored)."""
        if self._state is None or float(self._state[0, 0]) == 0:
            raise ValueError("no sequences were scored")
        s = self._state.cpu()
        n = s[0]
        out: dict[str, float | int | list[float]] = {"n_sequences": int(n[0])}
        for i, name in enumerate(("mse", "mae", "ssim"), start=1):
            out[name] = float(s[i].sum() / n.sum())
            out[f"{name}_per_frame"] = (s[i] / n).tolist()
        psum, pn = s[4], s[5]
        out["psnr"] = float(psum.sum() / pn.sum()) if float(pn.sum()) > 0 else math.nan
        out["psnr_per_frame"] = _safe_ratio(psum, pn).tolist()
        out["psnr_inf_frames"] = int(round(float((n - pn).sum())))
        if float(s[8].sum()) > 0:
            for i, name in ((6, "sharpness"), (7, "sharpness_truth")):
                out[name] = float(s[i].sum() / s[8].sum())
                out[f"{name}_per_frame"] = _safe_ratio(s[i], s[8]).tolist()
        return out
