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
(tests/test_models.py and tests/test_memory_bank_batched.py check both).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _normalised(c_tilde: torch.Tensor, weight: torch.Tensor, m: int, eps: float, stats=None):
    """The distiller outputs normalised over (C, H, W) per sample and source: (B, M, C, H, W), mean, rstd (B, M, 1)."""
    b, c, h, w = c_tilde.shape
    z = F.conv2d(c_tilde, weight).view(b, m, c * h * w)
    if stats is None:
        var, mean = torch.var_mean(z, dim=2, unbiased=False, keepdim=True)
        rstd = (var + eps).rsqrt()
    else:
        mean, rstd = stats
    return z.sub_(mean).mul_(rstd).view(b, m, c, h, w), mean, rstd


def _combine(c_tilde: torch.Tensor, c_hat: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Eq. 5: C~ + sum_m [a c^ + (1 - a) C~]  ==  (M + 1 - sum_m a) C~ + sum_m a c^."""
    m = gates.shape[1]
    return torch.addcmul((gates * c_hat).sum(dim=1), (m + 1) - gates.sum(dim=1), c_tilde)


def transfer_step(c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float):
    """(C_t, C^ (B, M, C, H, W), a (B, M, C, H, W)) without autograd bookkeeping. gamma/beta broadcast to (M, C, H, W)."""
    b, _, h, w = c_tilde.shape
    xhat, _, _ = _normalised(c_tilde, weight, m, eps)
    c_hat = xhat.mul_(gamma).add_(beta)
    gates = torch.sigmoid(gate_logits.reshape(b, m, -1, h, w))
    return _combine(c_tilde, c_hat, gates), c_hat, gates


class _TransferStep(torch.autograd.Function):
    """Eqs. 3 and 5 for one step, keeping only C~, the gates and the normalisation statistics for backward."""

    @staticmethod
    def forward(ctx, c_tilde, gate_logits, weight, gamma, beta, m: int, eps: float, per_channel: bool):
        b, _, h, w = c_tilde.shape
        xhat, mean, rstd = _normalised(c_tilde, weight, m, eps)
        c_hat = xhat.mul_(gamma).add_(beta)
        gates = torch.sigmoid(gate_logits.reshape(b, m, -1, h, w))
        c_t = _combine(c_tilde, c_hat, gates)
        ctx.save_for_backward(c_tilde, gates, weight, gamma, beta, mean, rstd)
        ctx.m, ctx.eps, ctx.per_channel = m, eps, per_channel
        ctx.set_materialize_grads(False)  # unused outputs (e.g. the gates) send None, not M-fold zeros
        return c_t, c_hat, gates

    @staticmethod
    @once_differentiable
    def backward(ctx, g_ct, g_chat, g_gates):
        c_tilde, gates, weight, gamma, beta, mean, rstd = ctx.saved_tensors
        m, per_channel = ctx.m, ctx.per_channel
        b, c, h, w = c_tilde.shape
        xhat, _, _ = _normalised(c_tilde, weight, m, ctx.eps, stats=(mean, rstd))
        g_c = g_ct.unsqueeze(1) if g_ct is not None else None
        # dL/dC^ (through the loss and through Eq. 5) and dL/da
        g_hat = gates * g_c if g_c is not None else torch.zeros_like(xhat)
        if g_chat is not None:
            g_hat = g_hat + g_chat
        if g_c is not None:
            g_a = torch.addcmul(beta, xhat, gamma).sub_(c_tilde.unsqueeze(1)).mul_(g_c)  # (C^ - C~) dL/dC_t
            if g_gates is not None:
                g_a = g_a + g_gates
        else:
            g_a = g_gates if g_gates is not None else torch.zeros_like(xhat)
        g_logits = (g_a * gates * (1 - gates)).reshape(b, m * c, h, w)
        # the affine parameters of the normalisation
        reduce = (0, 3, 4) if per_channel else (0,)
        g_gamma = (g_hat * xhat).sum(dim=reduce).reshape(gamma.shape) if ctx.needs_input_grad[3] else None
        g_beta = g_hat.sum(dim=reduce).reshape(beta.shape) if ctx.needs_input_grad[4] else None
        # the normalisation over (C, H, W): dz = rstd (dx^ - mean(dx^) - x^ mean(dx^ x^))
        g_x = (g_hat * gamma).view(b, m, -1)
        x = xhat.view(b, m, -1)
        mean_g, mean_gx = g_x.mean(dim=2, keepdim=True), (g_x * x).mean(dim=2, keepdim=True)
        g_z = g_x.sub_(mean_g).addcmul_(x, mean_gx, value=-1).mul_(rstd).view(b, m * c, h, w)
        # the 1x1 distiller convolution
        g_in, g_w, _ = torch.ops.aten.convolution_backward(
            g_z, c_tilde, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[2], False],
        )
        if g_in is not None and g_ct is not None:
            g_in = g_in.addcmul_((m + 1) - gates.sum(dim=1), g_ct)
        return g_in, g_logits, g_w, g_gamma, g_beta, None, None, None


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
        """Scale and shift broadcastable to (M, C, H, W), and the normalisation's epsilon."""
        if self.released:
            return self.norm_weight, self.norm_bias, 1e-5  # F.layer_norm's default, as the released unit uses
        shape = (self.n_sources, self.channels, 1, 1)
        return self.norm.weight.view(shape), self.norm.bias.view(shape), self.norm.eps

    def distilled(self, c_tilde: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for all sources at once: (B, C, H, W) -> (B, M, C, H, W)."""
        gamma, beta, eps = self._affine()
        xhat, _, _ = _normalised(c_tilde, self.distill.weight, self.n_sources, eps)
        return xhat * gamma + beta

    def forward(self, c_tilde: torch.Tensor, gate_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (C_t, distilled memories (B, M, C, H, W), transfer gates a_t (B, M, C, H, W))."""
        gamma, beta, eps = self._affine()
        args = (c_tilde, gate_logits, self.distill.weight, gamma, beta, self.n_sources, eps)
        if torch.is_grad_enabled() and any(t.requires_grad for t in args[:5]):
            if self.released:
                return _TransferStep.apply(*args, False)
            # GroupNorm's per-channel parameters enter as views (M, C, 1, 1); their gradients flow back through the view
            return _TransferStep.apply(*args, True)
        return transfer_step(*args)
