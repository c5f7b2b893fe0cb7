"""Best-of-N evaluation of a stochastic predictor (the savp backbone; the paper's Table 3 takes the best of 100).

For every test sequence N futures are drawn from the prior, all N x B of a batch as one rollout (the input frames
repeated N times along the batch), from one generator seeded by `seed`: the same seed, batch size and device give
the same samples. Two rows come back:

    best  per sequence and per metric separately, the sample whose mean over the output frames is best (lowest
          MSE / MAE, highest SSIM / PSNR); that sample's per-frame values enter the averages. The paper picks one
          sample by SSIM; per metric is the convention of later work (SRVP), and a metric's row can only be better
          than with a sample chosen by another metric
    mean  every sample counts once: the mean over samples and sequences (what one random sample scores on average)

Radar data: CSI / POD / FAR count the hits of every sample (the mean row); counts over a test set have no
per-sequence best, so the best row has none.
"""
from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch
from einops import rearrange, repeat

from transmem.data.base import SequenceData
from transmem.data.radar_scale import THRESHOLDS
from transmem.evaluation.evaluate import seeded_generator
from transmem.metrics import Contingency, MetricAccumulator, frame_scores, mean_over_frames, to_dbz

HIGHER_IS_BETTER = {"mse": False, "mae": False, "ssim": True, "psnr": True}


def sample_futures(predictor, frames_in: torch.Tensor, horizon: int, *, n: int,
                   generator: torch.Generator | None) -> torch.Tensor:
    """n futures (B, n, horizon, C, H, W) of the inputs (B, T_in, C, H, W), as one rollout of n x B sequences."""
    if n < 1:
        raise ValueError(f"the number of samples must be >= 1, got {n}")
    many = repeat(frames_in, "b t c h w -> (n b) t c h w", n=n)
    out = predictor.predict(many, horizon=horizon, generator=generator)
    return rearrange(out, "(n b) t c h w -> b n t c h w", n=n)


def best_of_samples(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per metric, the per-frame values (B, T) of each sequence's best sample, from values (B, N, T). A sample is
    ranked by its mean over frames (PSNR: over its finite frames; a sample with none finite, every frame exact,
    ranks first)."""
    best = {}
    for name, values in ((k, v) for k, v in scores.items() if k in HIGHER_IS_BETTER):
        rank = mean_over_frames(values, finite_only=name == "psnr")
        if name == "psnr":
            rank = torch.where(torch.isnan(rank), torch.full_like(rank, math.inf), rank)
        pick = rank.argmax(dim=1) if HIGHER_IS_BETTER[name] else rank.argmin(dim=1)  # (B,)
        best[name] = values[torch.arange(values.shape[0]), pick]
    return best


def _split_samples(scores: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    return {k: rearrange(v, "(b n) t -> b n t", n=n) for k, v in scores.items()}


@torch.inference_mode()
def evaluate_samples(
    net,
    data: SequenceData,
    *,
    samples: int,
    seed: int = 0,
    batch_size: int = 16,
    max_batches: int | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """{"samples", "seed", "best": metrics, "mean": metrics, "test_ms_per_seq"} for a stochastic predictor; the
    metrics dicts are those of `evaluate_model` (per-frame curves and their means)."""
    if not getattr(net, "stochastic", False):
        raise ValueError("this model is deterministic (one future per input): best-of-N needs a stochastic backbone "
                         "(savp); drop --samples")
    net.eval()
    generator = seeded_generator(seed, device)
    t_in, t_out = data.t_in, data.t_out
    best, mean = MetricAccumulator(n_frames=t_out), MetricAccumulator(n_frames=t_out)
    dbz = data.info.get("dbz")
    table = Contingency.zeros(thresholds, t_out) if dbz else None
    seconds, count = 0.0, 0
    for b, start in enumerate(range(0, len(data), batch_size)):
        if max_batches is not None and b >= max_batches:
            break
        clip = torch.from_numpy(data.frames[start : start + batch_size, : t_in + t_out]).to(device)
        tic = time.perf_counter()
        futures = sample_futures(net, clip[:, :t_in], t_out, n=samples, generator=generator)
        seconds += time.perf_counter() - tic
        count += len(clip)
        flat = rearrange(futures.float().cpu(), "b n t c h w -> (b n) t c h w")
        truth = repeat(clip[:, t_in:].float().cpu(), "b t c h w -> (b n) t c h w", n=samples)
        scores = frame_scores(flat, truth)
        mean.add(scores)
        best.add(best_of_samples(_split_samples(scores, samples)))
        if table is not None:
            scale, offset = dbz["scale"], dbz["offset"]
            table.update(to_dbz(flat.clamp(0, 1), scale, offset), to_dbz(truth, scale, offset))
    mean_result = mean.result()
    mean_result["n_sequences"] //= samples  # the mean row scored every sample of each sequence
    if table is not None:
        mean_result.update(table.summary())
    return {"samples": samples, "seed": seed, "best": best.result(), "mean": mean_result,
            "test_ms_per_seq": 1000.0 * seconds / max(count, 1)}
