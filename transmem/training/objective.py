"""The training objective of the transferable memory framework (paper Eq. 6):

    L = L_frame + beta * sum_k L_distill^k,     L_distill^k = sum_m sum_t || C^_t^m - C_t^m ||^2   (Eq. 4)

Normalisation. Taken as plain sums, both terms grow with the number of elements they cover, and the memory
term covers far more of them (4 layers x M sources x 64x16x16 memory elements against 16x16x16 pixels per step
in the paper's configuration), on a different scale (unit-variance LayerNorm outputs against pixel errors of a
few hundredths): an early measurement at a tiny scale found the distillation term about 7x the frame term with
beta = 0.1, and memory transfer ended worse than scratch. So here each squared error is a mean over its
elements, batch and time steps (L_frame: per-pixel MSE, as the reference implementation trains), while the sums
over sources m and TMU layers k stay as in Eqs. 4 and 6: beta then weighs a per-element memory error against a
per-element pixel error, independent of frame size, hidden width and clip length, and every source and layer
adds a term of its own.

`distill_norm` chooses how each (layer, source) squared error is reduced, to study the weighting (issue 7):
    element   mean over (B, T, C, H, W)                      (the default)
    channel   sum over C, mean over (B, T, H, W)             = element x C
    frame     sum over (C, H, W), mean over (B, T)           = element x C*H*W (Eq. 4 per frame)
    relative  element, divided by the mean square of that source's memory (scale-free across sources)
    standardised  element after standardising each channel of the source memory over batch, time and positions,
              the distilled memory with the same shift and scale (as feature distillation does): every channel
              of every source weighs the same, however large or small its memories
element, channel and frame differ by constant factors, so each is a beta rescaled; docs/results-flying-digits-500.md
measures them side by side.

`weights` (B, T, M), optional: how much each source counts at each step of each clip; selective distillation
(memory transfer's `distill_where: source-better`) sets 1 where the source predicted that step's frame better
than the target and 0 elsewhere, so the target learns from a source only where the source knows better.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from transmem.models.network import StepStacks
from transmem.registry import check_choice


def frame_loss(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel over (B, T-1, C, H, W) next-frame predictions."""
    return F.mse_loss(predicted, truth)


DISTILL_NORMS = ("element", "channel", "frame", "relative", "standardised")


def distill_loss(
    distilled: Mapping[int, torch.Tensor], memories: Mapping[int, torch.Tensor], *, norm: str = "element",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """sum over TMU layers k and sources m of the squared error, reduced as `norm` says (module docstring).

    distilled / memories: layer -> (B, T, M, C, H, W); `memories` come from the memory bank (no gradient).
    `distilled` may be a rollout's StepStacks, whose per-step tensors are then read without stacking them.
    """
    check_choice("distill_norm", norm, DISTILL_NORMS)
    if set(distilled) != set(memories):
        raise ValueError(f"distilled layers {sorted(distilled)} do not match bank layers {sorted(memories)}")
    total = None
    for k in distilled:
        source = memories[k]
        steps = distilled.steps(k) if isinstance(distilled, StepStacks) else None
        shape = (steps[0].shape[0], len(steps), *steps[0].shape[1:]) if steps else tuple(distilled[k].shape)
        if tuple(shape) != tuple(source.shape):
            raise ValueError(f"layer {k}: distilled memory {tuple(shape)} vs source memory {tuple(source.shape)}")
        m, c, h, w = source.shape[-4:]
        if norm == "standardised" or weights is not None:
            if norm == "relative":
                raise ValueError("distill_norm 'relative' cannot weigh sources per step; use element or standardised")
            layer = _weighted_error(distilled[k] if steps is None else None, steps, source, norm, weights)
        elif norm == "relative":
            per_source = (distilled[k] - source).pow(2).mean(dim=(0, 1, 3, 4, 5))  # (M,)
            layer = (per_source / source.pow(2).mean(dim=(0, 1, 3, 4, 5)).clamp_min(1e-8)).sum()
        else:  # the sum over sources of per-source means is M times the mean over all
            scale = {"element": 1, "channel": c, "frame": c * h * w}[norm]
            if steps is None:
                layer = (m * scale) * F.mse_loss(distilled[k], source)
            else:  # the same mean, step by step: no stacked copy, no temporaries of the stacked size
                layer = (m * scale / len(steps)) * sum(F.mse_loss(c_t, source[:, t]) for t, c_t in enumerate(steps))
        total = layer if total is None else total + layer
    if total is None:
        raise ValueError("no TMU layer to distil into: build the target with n_sources >= 1")
    return total


def _weighted_error(distilled, steps, source, norm: str, weights: torch.Tensor | None) -> torch.Tensor:
    """sum over sources of the per-source mean squared error (as `element`), step by step, with the source
    memory's per-channel variance dividing the error (standardised) and per-(clip, step, source) weights."""
    b, t, m, c, h, w = source.shape
    scale = {"element": 1, "channel": c, "frame": c * h * w, "standardised": 1}[norm]
    inverse = None
    if norm == "standardised":
        variance = source.var(dim=(0, 1, 4, 5), unbiased=False).clamp_min(1e-6)  # (M, C)
        inverse = (1.0 / variance)[None, :, :, None, None]
    if weights is not None and tuple(weights.shape) != (b, t, m):
        raise ValueError(f"distillation weights have shape {tuple(weights.shape)}; expected (B, T, M) = {(b, t, m)}")
    total = 0.0
    for step in range(t):
        c_t = steps[step] if steps is not None else distilled[:, step]
        error = (c_t - source[:, step]).pow(2)
        if inverse is not None:
            error = error * inverse
        error = error.mean(dim=(2, 3, 4))  # (B, M)
        if weights is not None:
            error = error * weights[:, step]
        total = total + error.sum(dim=1).mean()
    return scale * total / t


def transfer_objective(
    predicted: torch.Tensor,
    truth: torch.Tensor,
    distilled: dict[int, torch.Tensor] | None = None,
    memories: dict[int, torch.Tensor] | None = None,
    *,
    beta: float = 0.01,  # TrainConfig.beta's default (the flying-digits study's choice)
    distill_norm: str = "element",
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 6. Without a memory bank (or with beta = 0) it is the frame loss alone. Returns (loss, parts)."""
    loss = frame_loss(predicted, truth)
    parts = {"frame": float(loss.detach())}
    if memories is not None and beta != 0.0:
        distill = distill_loss(distilled or {}, memories, norm=distill_norm, weights=weights)
        parts["distill"] = float(distill.detach())
        loss = loss + beta * distill
    parts["total"] = float(loss.detach())
    return loss, parts


def gaussian_kl(q_mu: torch.Tensor, q_logvar: torch.Tensor, p_mu: torch.Tensor, p_logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(q_mu, e^q_logvar) || N(p_mu, e^p_logvar)) per element, in nats:
    log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2, computed in float32 at least."""
    q_mu, q_logvar, p_mu, p_logvar = (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
                                      for x in (q_mu, q_logvar, p_mu, p_logvar))
    return 0.5 * (p_logvar - q_logvar + (q_logvar.exp() + (q_mu - p_mu).pow(2)) / p_logvar.exp() - 1.0)


def kl_loss(latents) -> torch.Tensor:
    """The stochastic backbone's KL(q || p) term (models/savp.py): the mean over batch, steps and latent elements
    of `gaussian_kl`, so that lambda_kl weighs nats per latent element against the per-pixel frame loss.
    latents: a rollout's `Latents` (posterior and prior Gaussians, each (B, S, Z, h, w))."""
    if latents is None:
        raise ValueError("the rollout drew no posterior sample, so there is no KL term: train a stochastic backbone "
                         "(savp) with its default latent mode")
    return gaussian_kl(*latents).mean()
