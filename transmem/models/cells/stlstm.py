"""The spatiotemporal LSTM of PredRNN (Wang et al., 2017), and TMU-PredRNN when its spec has sources.

Two memories: the temporal memory C (along time, per layer) and the spatiotemporal memory M, which zigzags
up through the layers at one time step and from the top layer to the bottom one at the next step.

    i, f, g from [X; H_{t-1}]:   C~_t = f C_{t-1} + i g ;  C_t = C~_t or the TMU combination (Eq. 5)
    i', f', g' from [X; M^{l-1}]: M_t = f' M^{l-1} + i' g'
    o = sigma(W_xo * X + W_ho * H_{t-1} + W_o * [C_t; M_t]) ;  H_t = o tanh(W_1x1 * [C_t; M_t])

The TMU acts on C, not on M: C is the per-layer temporal memory that carries a layer's long-term dynamics (the
counterpart of the ConvLSTM memory of Eq. 2), so the source memory at a layer matches the target's at that
layer; M changes layer by layer within a step, so mixing source knowledge into it would leak into every layer
above and into the next step's bottom layer.
"""
from __future__ import annotations

import torch

from transmem.models.cells.base import CellSpec, RecurrentCell, State, Step, conv


class STLSTMCell(RecurrentCell):
    def __init__(self, spec: CellSpec, *, n_gates: int = 4):
        super().__init__(spec, n_gates=n_gates)  # i, f, g, o from [X; H]
        if spec.zigzag_channels < 1:
            raise ValueError("an ST-LSTM cell needs zigzag_channels, the channels of the incoming memory M")
        k, hid = spec.kernel_size, spec.hidden
        self.zigzag_conv = conv(spec.in_channels + spec.zigzag_channels, 3 * hid, k)  # i', f', g'
        self.output_conv = conv(2 * hid, hid, k)  # W_o * [C; M] in the output gate
        self.fuse = conv(2 * hid, hid, 1)  # W_1x1 * [C; M]

    def zigzag_update(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        i, f, g = torch.split(self.zigzag_conv(torch.cat([x, m], dim=1)), self.spec.hidden, dim=1)
        return torch.sigmoid(f) * m + torch.sigmoid(i) * torch.tanh(g)

    def emit(self, o: torch.Tensor, memory: torch.Tensor, m_t: torch.Tensor) -> torch.Tensor:
        both = torch.cat([memory, m_t], dim=1)
        return torch.sigmoid(o + self.output_conv(both)) * torch.tanh(self.fuse(both))

    def forward(self, x: torch.Tensor, state: State, zigzag: torch.Tensor | None = None) -> Step:
        h, c = state["h"], state["c"]
        (i, f, g, o), transfer_logits = self.input_gates(x, h)
        c_tilde = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        c_t, distilled, gates = self.transfer(c_tilde, transfer_logits)
        m_t = self.zigzag_update(x, zigzag)
        h_t = self.emit(o, self.hidden_memory(c_tilde, c_t), m_t)
        return Step({"h": h_t, "c": c_t}, m_t, distilled, gates)
