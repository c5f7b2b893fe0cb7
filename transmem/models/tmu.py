"""The Transferable Memory Unit's own parts (paper section 3.2): memory distillers and the Eq. 5 combination.

A backbone cell computes its intermediate memory C~_t and, from X_t and H_{t-1}, M transfer-gate
pre-activations (extra output channels of its gate convolution). This module turns them into

    C^_t^m = LayerNorm(W_distill^m * C~_t)                                   (Eq. 3)
    C_t    = C~_t + sum_m [ a_t^m * C^_t^m + (1 - a_t^m) * C~_t ]            (Eq. 5)

The M distillers are one 1x1 convolution with M*C outputs, so all sources cost one kernel call.

Normalisation: the paper's LayerNorm normalises each distilled memory over (C, H, W). The paper-faithful
unit keeps one scale and shift per channel (GroupNorm with one group per source), so a trained model is not
tied to one frame size. The `released` unit keeps one scale and shift per element, as the authors' code does
(which needs the state's spatial size) and which the paper's parameter counts include.

Memory. Everything this unit computes is M-fold (B, M, C, H, W), and in training every step of every TMU layer
keeps its tensors for the backward pass, so with many sources the unit dominates the training memory. Plain
autograd would keep four M-fold tensors per step (the distiller output for the normalisation, the distilled
memories, C^ - C~ and the gates); `_TransferStep` keeps only the gates (plus C~ and the normalisation
statistics) and recomputes the normalised distiller output in the backward pass (a 1x1 convolution and one
normalisation, a few per cent of the step). The values and gradients are those of the autograd formulation
(tests/test_fast_paths.py checks both, gradcheck included).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.autograd.function import once_differentiable


def _distill(c_tilde: torch.Tensor, weight: torch.Tensor, gamma, beta, m: int, eps: float):
    """Eq. 3 for all sources: C^ (B, M, C, H, W), the distiller output z (B, M*C, H, W) and its statistics.

    gamma/beta: per channel (M*C,) (the paper unit: the normalisation's own affine) or per element (M, C, H, W) (the
    released unit: applied after a normalisation without affine)."""
    b, c, h, w = c_tilde.shape
    z = F.conv2d(c_tilde, weight).contiguous()  # (channels-last inputs give a channels-last z)
    per_channel = gamma.dim() == 1
    out, mean, rstd = torch.ops.aten.native_group_norm(
        z, gamma if per_channel else None, beta if per_channel else None, b, m * c, h * w, m, eps
    )
    out = out.view(b, m, c, h, w)
    if not per_channel:
        out = out.mul_(gamma).add_(beta)
    return out, z, mean, rstd


def _combine(c_tilde: torch.Tensor, c_hat: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Eq. 5: C~ + sum_m [a c^ + (1 - a) C~]  ==  (M + 1 - sum_m a) C~ + sum_m a c^."""
    m = gates.shape[1]
    return torch.addcmul((gates * c_hat).sum(dim=1), (m + 1) - gates.sum(dim=1), c_tilde)


def transfer_step(c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float):
    """(C_t, C^ (B, M, C, H, W), a (B, M, C, H, W)) without autograd bookkeeping."""
    b, _, h, w = c_tilde.shape
    c_hat = _distill(c_tilde, weight, gamma, beta, m, eps)[0]
    gates = torch.sigmoid(gate_logits.reshape(b, m, -1, h, w))
    return _combine(c_tilde, c_hat, gates), c_hat, gates


class _TransferStep(torch.autograd.Function):
    """Eqs. 3 and 5 for one step, keeping only C~, the gates and the normalisation statistics for backward."""

    @staticmethod
    def forward(ctx, c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float):
        b, _, h, w = c_tilde.shape
        c_hat, _, mean, rstd = _distill(c_tilde, weight, gamma, beta, m, eps)
        gates = torch.sigmoid(gate_logits.reshape(b, m, -1, h, w))
        c_t = _combine(c_tilde, c_hat, gates)
        ctx.save_for_backward(c_tilde, gates, weight, gamma, beta, mean, rstd)
        ctx.m = m
        ctx.set_materialize_grads(False)  # unused outputs (e.g. the gates) send None, not M-fold zeros
        return c_t, c_hat, gates

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ct, g_chat, g_gates):
        c_tilde, gates, weight, gamma, beta, mean, rstd = ctx.saved_tensors
        m = ctx.m
        b, c, h, w = c_tilde.shape
        per_channel = gamma.dim() == 1
        z = F.conv2d(c_tilde, weight).contiguous()  # recomputed: cheaper than keeping an M-fold tensor per step
        xhat = (z.view(b, m, -1) - mean.view(b, m, 1)).mul_(rstd.view(b, m, 1)).view(b, m, c, h, w)
        shape = (m, c, 1, 1) if per_channel else gamma.shape
        gam, bet = gamma.view(shape), beta.view(shape)
        g_c = g_ct.unsqueeze(1) if g_ct is not None else None
        # dL/dC^ (from the loss and through Eq. 5) and dL/da
        if g_c is None:
            g_hat = g_chat if g_chat is not None else torch.zeros_like(xhat)
        else:
            g_hat = gates * g_c if g_chat is None else torch.addcmul(g_chat, gates, g_c)
        if g_c is not None:
            g_a = torch.addcmul(bet, xhat, gam).sub_(c_tilde.unsqueeze(1)).mul_(g_c)  # (C^ - C~) dL/dC_t
            if g_gates is not None:
                g_a = g_a.add_(g_gates)
        else:
            g_a = g_gates if g_gates is not None else torch.zeros_like(xhat)
        g_logits = torch.ops.aten.sigmoid_backward(g_a, gates).reshape(b, m * c, h, w)
        # the normalisation (and, per channel, its affine parameters)
        need_gamma, need_beta = ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        if per_channel:
            g_z, g_gamma, g_beta = torch.ops.aten.native_group_norm_backward(
                g_hat.contiguous().view(b, m * c, h, w), z, mean, rstd, gamma, b, m * c, h * w, m,
                [True, need_gamma, need_beta],
            )
        else:
            g_gamma = (g_hat * xhat).sum(dim=0) if need_gamma else None
            g_beta = g_hat.sum(dim=0) if need_beta else None
            g_z, _, _ = torch.ops.aten.native_group_norm_backward(
                (g_hat * gam).contiguous().view(b, m * c, h, w), z, mean, rstd, None, b, m * c, h * w, m,
                [True, False, False],
            )
        # the 1x1 distiller convolution
        g_in, g_w, _ = torch.ops.aten.convolution_backward(
            g_z, c_tilde, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[2], False],
        )
        if g_in is not None and g_ct is not None:
            g_in = g_in.addcmul_((m + 1) - gates.sum(dim=1), g_ct)
        return g_in, g_logits, g_w, g_gamma, g_beta, None, None


class TransferableMemory(nn.Module):
    def __init__(self, *, channels: int, n_sources: int, released: bool = False, state_size: tuple[int, int] | None = None):
        super().__init__()
        if n_sources < 1:
            raise ValueError(f"a TMU needs at least one source, got n_sources={n_sources}")
        self.channels, self.n_sources, self.released = channels, n_sources, released
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
        z = rearrange(self.distill(c_tilde), "b (m c) h w -> b m c h w", m=self.n_sources)
        if self.released:
            return F.layer_norm(z, z.shape[-3:]) * self.norm_weight + self.norm_bias
        return rearrange(self.norm(rearrange(z, "b m c h w -> b (m c) h w")), "b (m c) h w -> b m c h w", m=self.n_sources)

    def forward(self, c_tilde: torch.Tensor, gate_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (C_t, distilled memories (B, M, C, H, W), transfer gates a_t (B, M, C, H, W))."""
        gamma, beta, eps = self._affine()
        args = (c_tilde, gate_logits, self.distill.weight, gamma, beta, self.n_sources, eps)
        if torch.is_grad_enabled() and any(t.requires_grad for t in args[:5]):
            return _TransferStep.apply(*args)
        return transfer_step(*args)
