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
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


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

    def distilled(self, c_tilde: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for all sources at once: (B, C, H, W) -> (B, M, C, H, W)."""
        z = self.distill(c_tilde)
        if self.released:
            z = rearrange(z, "b (m c) h w -> b m c h w", m=self.n_sources)
            z = F.layer_norm(z, z.shape[-3:])
            return z * self.norm_weight + self.norm_bias
        return rearrange(self.norm(z), "b (m c) h w -> b m c h w", m=self.n_sources)

    def forward(self, c_tilde: torch.Tensor, gate_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (C_t, distilled memories (B, M, C, H, W), transfer gates a_t (B, M, C, H, W))."""
        c_hat = self.distilled(c_tilde)
        gates = torch.sigmoid(rearrange(gate_logits, "b (m c) h w -> b m c h w", m=self.n_sources))
        # C~ + sum_m [a c^ + (1 - a) C~]  ==  (M + 1) C~ + sum_m a (c^ - C~)
        c_tilde_m = c_tilde.unsqueeze(1)
        c_t = (self.n_sources + 1) * c_tilde + (gates * (c_hat - c_tilde_m)).sum(dim=1)
        return c_t, c_hat, gates
