"""The Transferable Memory Unit's own parts (paper section 3.2), as the paper writes them.

A backbone cell computes its intermediate memory C~_t (Eq. 2) and, from X_t and H_{t-1}, M transfer-gate
pre-activations (extra output channels of its gate convolution). This module turns them into

    C^_t^m = LayerNorm(W_distill^m * C~_t)                                   (Eq. 3)   `distill`
    a_t^m  = sigma(W_xm * X_t + W_hm * H_{t-1} + b_m)                        (Eq. 5)   `transfer_gates`
    C_t    = C~_t + sum_m [ a_t^m * C^_t^m + (1 - a_t^m) * C~_t ]            (Eq. 5)   `combine`

Eq. 5 is (M + 1 - sum_m a) C~ + sum_m a C^: with gates near 0.5 it multiplies the memory by about M/2 + 1 every
step, and only the next forget gate pulls it back, so the memory can grow geometrically along a rollout
(transmem/evaluation/memory.py measures it). Beyond the paper, `combine="convex"` bounds it:
    C_t    = C~_t + (1/M) sum_m a_t^m * (C^_t^m - C~_t)                               `combine`, convex
a convex combination of C~ and the distilled memories (C~ itself when every gate is shut). Both are
k C~ + s sum_m a (C^ - C~), with (k, s) = (M + 1, 1) for the paper and (1, 1/M) for the convex form.

The M distillers are one 1x1 convolution with M*C outputs, so all sources cost one kernel call.

Normalisation: the paper's LayerNorm normalises each distilled memory over (C, H, W). The paper-faithful
unit keeps one scale and shift per channel (GroupNorm with one group per source), so a trained model is not
tied to one frame size. The `released` unit keeps one scale and shift per element, as the authors' code does
(which needs the state's spatial size) and which the paper's parameter counts include.

In training the unit runs the same equations through `TransferStep` (transmem/models/tmu_autograd.py), a custom
autograd function that keeps fewer M-fold tensors for the backward pass; its values and gradients are those of
these functions (tests/test_tmu_autograd.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transmem.registry import check_choice


def distill(c_tilde: torch.Tensor, weight: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, m: int,
            eps: float) -> torch.Tensor:
    """Eq. 3 for all M sources: C~ (B, C, H, W) -> C^ (B, M, C, H, W).

    weight: the M distillers' 1x1 convolution (M*C, C, 1, 1). gamma/beta: per channel (M*C,) (the paper unit: the
    normalisation's own affine) or per element (M, C, H, W) (the released unit: applied after a normalisation
    without affine). Each source's distiller output is normalised over its (C, H, W)."""
    b, c, h, w = c_tilde.shape
    z = F.conv2d(c_tilde, weight).contiguous()
    if gamma.dim() == 1:
        return F.group_norm(z, m, gamma, beta, eps).view(b, m, c, h, w)
    return F.group_norm(z, m, eps=eps).view(b, m, c, h, w) * gamma + beta


def transfer_gates(gate_logits: torch.Tensor, m: int) -> torch.Tensor:
    """The transfer gates a_t^m of Eq. 5 from their pre-activations: (B, M*C, H, W) -> (B, M, C, H, W)."""
    b, _, h, w = gate_logits.shape
    return torch.sigmoid(gate_logits.reshape(b, m, -1, h, w))


COMBINES = ("paper", "convex")  # how C_t is formed from C~ and the distilled memories (see the module docstring)


def combine_weights(mode: str, m: int) -> tuple[float, float]:
    """(k, s) of C_t = k C~ + s sum_m a (C^ - C~): Eq. 5 as written, or its convex form."""
    check_choice("tmu_combine", mode, COMBINES)
    return (m + 1.0, 1.0) if mode == "paper" else (1.0, 1.0 / m)


def combine(c_tilde: torch.Tensor, c_hat: torch.Tensor, gates: torch.Tensor, mode: str = "paper") -> torch.Tensor:
    """Eq. 5: C~ + sum_m [a c^ + (1 - a) C~]  ==  (M + 1 - sum_m a) C~ + sum_m a c^; or, convex,
    C~ + (1/M) sum_m a (c^ - C~)  ==  (1 - sum_m a / M) C~ + (1/M) sum_m a c^."""
    k, s = combine_weights(mode, gates.shape[1])
    mixed = (gates * c_hat).sum(dim=1)
    return torch.addcmul(mixed if s == 1.0 else mixed.mul_(s), k - s * gates.sum(dim=1), c_tilde)


def transfer_step(c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float, mode: str = "paper"):
    """Eqs. 3 and 5 for one step: (C_t, C^ (B, M, C, H, W), a (B, M, C, H, W))."""
    c_hat = distill(c_tilde, weight, gamma, beta, m, eps)
    gates = transfer_gates(gate_logits, m)
    return combine(c_tilde, c_hat, gates, mode), c_hat, gates


class TransferableMemory(nn.Module):
    """The M memory distillers and the transfer-gated combination of one TMU layer."""

    def __init__(self, *, channels: int, n_sources: int, released: bool = False,
                 state_size: tuple[int, int] | None = None, combine: str = "paper"):
        super().__init__()
        if n_sources < 1:
            raise ValueError(f"a TMU needs at least one source, got n_sources={n_sources}")
        check_choice("tmu_combine", combine, COMBINES)
        self.channels, self.n_sources, self.released, self.combine = channels, n_sources, released, combine
        self.distill = nn.Conv2d(channels, n_sources * channels, kernel_size=1, bias=False)
        if released:
            if state_size is None:
                raise ValueError("the released TMU normalises per element and needs the state size (H, W)")
            shape = (n_sources, channels, *state_size)
            self.norm_weight = nn.Parameter(torch.ones(shape))
            self.norm_bias = nn.Parameter(torch.zeros(shape))
        else:
            self.norm = nn.GroupNorm(n_sources, n_sources * channels)

    def _affine(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Scale and shift (per channel (M*C,) or per element (M, C, H, W)) and the normalisation's epsilon."""
        if self.released:
            return self.norm_weight, self.norm_bias, 1e-5  # F.layer_norm's default, as the released unit uses
        return self.norm.weight, self.norm.bias, self.norm.eps

    def distilled(self, c_tilde: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for all sources at once: (B, C, H, W) -> (B, M, C, H, W)."""
        gamma, beta, eps = self._affine()
        return distill(c_tilde, self.distill.weight, gamma, beta, self.n_sources, eps)

    def forward(self, c_tilde: torch.Tensor, gate_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (C_t, distilled memories (B, M, C, H, W), transfer gates a_t (B, M, C, H, W))."""
        if torch.is_autocast_enabled(c_tilde.device.type):
            # under bf16 autocast the unit's normalisation and gating run in fp32 (as autocast runs norms), which
            # also keeps TransferStep's hand-written backward in one dtype; its 1x1 convolution is a few % of a step
            with torch.autocast(c_tilde.device.type, enabled=False):
                return self.forward(c_tilde.float(), gate_logits.float())
        gamma, beta, eps = self._affine()
        args = (c_tilde, gate_logits, self.distill.weight, gamma, beta, self.n_sources, eps, self.combine)
        if torch.is_grad_enabled() and any(t.requires_grad for t in args[:5]):
            from transmem.models.tmu_autograd import TransferStep  # it builds on this module's equations

            return TransferStep.apply(*args)
        return transfer_step(*args)
