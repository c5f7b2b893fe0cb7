"""ConvLSTM (Shi et al., 2015), and TMU-ConvLSTM when its spec has sources (paper Eqs. 2, 3, 5).

    i, f = sigma(W_x* X + W_h* H_{t-1} [+ W_c. C_{t-1}]),  g = tanh(W_xg * X + W_hg * H_{t-1})
    C~_t = f C_{t-1} + i g ;  C_t = C~_t (plain) or the TMU combination (Eq. 5)
    o = sigma(W_xo * X + W_ho * H_{t-1} [+ W_co . C_t]) ;  H_t = o tanh(C_t)

Peepholes (the bracketed Hadamard terms) are optional and per channel, so a cell is not tied to one frame size.
"""
from __future__ import annotations

import torch
from torch import nn

from transmem.models.cells.base import CellSpec, RecurrentCell, State, Step


class ConvLSTMCell(RecurrentCell):
    def __init__(self, spec: CellSpec):
        super().__init__(spec, n_gates=4)
        if spec.peepholes:
            self.peep_i, self.peep_f, self.peep_o = (nn.Parameter(torch.zeros(spec.hidden, 1, 1)) for _ in range(3))

    def forward(self, x: torch.Tensor, state: State, zigzag: torch.Tensor | None = None) -> Step:
        h, c = state["h"], state["c"]
        (i, f, g, o), transfer_logits = self.input_gates(x, h)
        if self.spec.peepholes:
            i, f = i + self.peep_i * c, f + self.peep_f * c
        c_tilde = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        c_t, distilled, gates = self.transfer(c_tilde, transfer_logits)
        if self.spec.peepholes:
            o = o + self.peep_o * c_t
        h_t = torch.sigmoid(o) * torch.tanh(self.hidden_memory(c_tilde, c_t))
        return Step({"h": h_t, "c": c_t}, None, distilled, gates)
