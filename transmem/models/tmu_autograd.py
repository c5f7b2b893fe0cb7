"""The TMU's memory-lean training step: Eqs. 3 and 5 (transmem/models/tmu.py) as one custom autograd function.

Everything the unit computes is M-fold (B, M, C, H, W), and in training every step of every TMU layer keeps its
tensors for the backward pass, so with many sources the unit dominates the training memory. Plain autograd would
keep four M-fold tensors per step (the distiller output for the normalisation, the distilled memories, C^ - C~ and
the gates); `TransferStep` keeps only the gates (plus C~ and the normalisation statistics) and recomputes the
normalised distiller output in the backward pass (a 1x1 convolution and one normalisation, a few per cent of the
step). The values and gradients are those of the autograd formulation (tests/test_tmu_autograd.py checks both,
gradcheck included).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from transmem.models.tmu import combine, combine_weights, transfer_gates


def distill_with_stats(c_tilde: torch.Tensor, weight: torch.Tensor, gamma, beta, m: int, eps: float):
    """Eq. 3 as `tmu.distill`, also returning the distiller output z (B, M*C, H, W) and its statistics."""
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


class TransferStep(torch.autograd.Function):
    """Eqs. 3 and 5 for one step, keeping only C~, the gates and the normalisation statistics for backward."""

    @staticmethod
    def forward(ctx, c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float, mode: str = "paper"):
        c_hat, _, mean, rstd = distill_with_stats(c_tilde, weight, gamma, beta, m, eps)
        gates = transfer_gates(gate_logits, m)
        c_t = combine(c_tilde, c_hat, gates, mode)
        ctx.save_for_backward(c_tilde, gates, weight, gamma, beta, mean, rstd)
        ctx.m, (ctx.k, ctx.s) = m, combine_weights(mode, m)
        ctx.set_materialize_grads(False)  # unused outputs (e.g. the gates) send None, not M-fold zeros
        return c_t, c_hat, gates

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ct, g_chat, g_gates):
        c_tilde, gates, weight, gamma, beta, mean, rstd = ctx.saved_tensors
        m, k, s = ctx.m, ctx.k, ctx.s  # C_t = k C~ + s sum_m a (C^ - C~)
        b, c, h, w = c_tilde.shape
        per_channel = gamma.dim() == 1
        z = F.conv2d(c_tilde, weight).contiguous()  # recomputed: cheaper than keeping an M-fold tensor per step
        xhat = (z.view(b, m, -1) - mean.view(b, m, 1)).mul_(rstd.view(b, m, 1)).view(b, m, c, h, w)
        shape = (m, c, 1, 1) if per_channel else gamma.shape
        gam, bet = gamma.view(shape), beta.view(shape)
        g_c = g_ct.unsqueeze(1) if g_ct is not None else None
        if g_c is not None and s != 1.0:
            g_c = g_c * s  # what reaches each a (C^ - C~) term of C_t
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
            g_in = g_in.addcmul_(k - s * gates.sum(dim=1), g_ct)
        return g_in, g_logits, g_w, g_gamma, g_beta, None, None, None
