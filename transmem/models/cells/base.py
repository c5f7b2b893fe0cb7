"""What all recurrent cells share: the spec they are built from, the fused gate convolution over [X_t ; H_{t-1}]
(which also yields the TMU's transfer-gate pre-activations) and the hook where the TMU replaces C~_t by C_t.

A cell's step is `forward(x, state, zigzag) -> Step`: `state` is the cell's own dict of tensors (its temporal
memory is `state["c"]`, the memory that the TMU acts on and the memory bank reads), `zigzag` the
spatiotemporal memory M that PredRNN and MIM pass up through the layers (None for ConvLSTM).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from transmem.models.tmu import TransferableMemory

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class CellSpec:
    in_channels: int
    hidden: int
    kernel_size: int
    state_size: tuple[int, int]
    n_sources: int = 0  # > 0 makes the cell a TMU with this many memory distillers and transfer gates
    released: bool = False  # the authors' released TMU: LayerNorm on the gate conv, H from C~
    tmu_combine: str = "paper"  # how the TMU forms C_t: Eq. 5 as written, or its convex form (models/tmu.py)
    gate_norm: bool = False  # LayerNorm on the gate conv without a TMU (the released cell's norm, as a control)
    zigzag_channels: int = 0  # channels of the incoming spatiotemporal memory M (PredRNN, MIM)
    peepholes: bool = False


class Step(NamedTuple):
    state: State
    zigzag: torch.Tensor | None
    distilled: torch.Tensor | None  # (B, M, C, H, W) for a TMU cell
    gates: torch.Tensor | None  # transfer gates a_t, (B, M, C, H, W) for a TMU cell


def conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class RecurrentCell(nn.Module):
    """Base class. `n_gates` is the number of hidden-sized gate maps the backbone computes from [X; H]."""

    state_keys: tuple[str, ...] = ("h", "c")

    def __init__(self, spec: CellSpec, *, n_gates: int):
        super().__init__()
        self.spec = spec
        self.n_gates = n_gates
        is_tmu = spec.n_sources > 0
        out = (n_gates + spec.n_sources) * spec.hidden
        self.gate_conv = conv(spec.in_channels + spec.hidden, out, spec.kernel_size)
        self.gate_norm = nn.LayerNorm([out, *spec.state_size]) if (spec.gate_norm or (spec.released and is_tmu)) else None
        self.tmu = (
            TransferableMemory(
                channels=spec.hidden, n_sources=spec.n_sources, released=spec.released, state_size=spec.state_size,
                combine=spec.tmu_combine,
            )
            if is_tmu
            else None
        )

    @property
    def is_tmu(self) -> bool:
        return self.tmu is not None

    def init_state(self, batch: int, *, device: torch.device, dtype: torch.dtype) -> State:
        h, w = self.spec.state_size
        return {k: torch.zeros(batch, self.spec.hidden, h, w, device=device, dtype=dtype) for k in self.state_keys}

    def input_gates(self, x: torch.Tensor, h: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The backbone's gate pre-activations from [X_t; H_{t-1}], and the transfer-gate pre-activations."""
        z = self.gate_conv(torch.cat([x, h], dim=1))
        if self.gate_norm is not None:
            z = self.gate_norm(z)
        chunks = list(torch.split(z, self.spec.hidden, dim=1))
        gates, transfer = chunks[: self.n_gates], chunks[self.n_gates :]
        return gates, (torch.cat(transfer, dim=1) if transfer else None)

    def transfer(self, c_tilde: torch.Tensor, transfer_logits: torch.Tensor | None):
        """C~_t -> (C_t, distilled, gates); the identity for a plain backbone cell."""
        if self.tmu is None:
            return c_tilde, None, None
        return self.tmu(c_tilde, transfer_logits)

    def hidden_memory(self, c_tilde: torch.Tensor, c_t: torch.Tensor) -> torch.Tensor:
        """The memory that forms H_t: C_t in the paper (Eq. 5), C~_t in the authors' released code."""
        return c_tilde if (self.spec.released and self.is_tmu) else c_t
