"""The MIM block of Memory In Memory (Wang et al., 2019b), and TMU-MIM when its spec has sources.

MIM replaces the ST-LSTM forget gate on C by two cascaded recurrent modules (the first layer of a MIM network
is an ST-LSTM, which has no lower hidden state to difference):

    MIM-N (non-stationary, on differences of the lower layer's hidden states X_t - X_{t-1}):
        g, i, f from [X_t - X_{t-1}; N_{t-1}];  N_t = f N_{t-1} + i g
        o = sigma(W_xo * (X_t - X_{t-1}) + W_no * N_t);  D_t = o tanh(N_t)
    MIM-S (stationary, on D_t and the previous memory C_{t-1}):
        g, i, f, o' from [D_t; C_{t-1}];  S_t = f S_{t-1} + i g
        o = sigma(o' + W_so * S_t);  T_t = o tanh(S_t)
    i, g from [X; H_{t-1}]:  C~_t = T_t + i g ;  C_t = C~_t or the TMU combination (Eq. 5)
    M_t, o, H_t as in the ST-LSTM.

As in TMU-PredRNN the TMU acts on the temporal memory C (here the sum of the MIM-S output and the new input),
which MIM-S reads back at the next step; N and S are internal to the block.
"""
from __future__ import annotations

import torch

from transmem.models.cells.base import CellSpec, State, Step, conv
from transmem.models.cells.stlstm import STLSTMCell


class MIMBlock(STLSTMCell):
    state_keys = ("h", "c", "n", "s", "x_prev")

    def __init__(self, spec: CellSpec):
        if spec.in_channels != spec.hidden:
            raise ValueError("a MIM block differences the hidden state of the layer below: it needs in_channels == hidden")
        super().__init__(spec, n_gates=3)  # i, g, o from [X; H]: MIM-S takes the forget gate's place
        k, hid = spec.kernel_size, spec.hidden
        self.diff_conv = conv(spec.in_channels, 4 * hid, k)  # MIM-N: g, i, f, o from X_t - X_{t-1}
        self.n_conv = conv(hid, 3 * hid, k, bias=False)  # MIM-N: g, i, f from N_{t-1}
        self.n_out_conv = conv(hid, hid, k, bias=False)  # MIM-N: W_no * N_t
        self.s_conv = conv(2 * hid, 4 * hid, k)  # MIM-S: g, i, f, o from [D_t; C_{t-1}]
        self.s_out_conv = conv(hid, hid, k, bias=False)  # MIM-S: W_so * S_t

    def non_stationary(self, diff: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g_x, i_x, f_x, o_x = torch.split(self.diff_conv(diff), self.spec.hidden, dim=1)
        g_n, i_n, f_n = torch.split(self.n_conv(n), self.spec.hidden, dim=1)
        n_t = torch.sigmoid(f_x + f_n) * n + torch.sigmoid(i_x + i_n) * torch.tanh(g_x + g_n)
        d_t = torch.sigmoid(o_x + self.n_out_conv(n_t)) * torch.tanh(n_t)
        return d_t, n_t

    def stationary(self, d: torch.Tensor, c: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g, i, f, o = torch.split(self.s_conv(torch.cat([d, c], dim=1)), self.spec.hidden, dim=1)
        s_t = torch.sigmoid(f) * s + torch.sigmoid(i) * torch.tanh(g)
        t_t = torch.sigmoid(o + self.s_out_conv(s_t)) * torch.tanh(s_t)
        return t_t, s_t

    def forward(self, x: torch.Tensor, state: State, zigzag: torch.Tensor | None = None) -> Step:
        h, c = state["h"], state["c"]
        (i, g, o), transfer_logits = self.input_gates(x, h)
        d_t, n_t = self.non_stationary(x - state["x_prev"], state["n"])
        t_t, s_t = self.stationary(d_t, c, state["s"])
        c_tilde = t_t + torch.sigmoid(i) * torch.tanh(g)
        c_t, distilled, gates = self.transfer(c_tilde, transfer_logits)
        m_t = self.zigzag_update(x, zigzag)
        h_t = self.emit(o, self.hidden_memory(c_tilde, c_t), m_t)
        return Step({"h": h_t, "c": c_t, "n": n_t, "s": s_t, "x_prev": x}, m_t, distilled, gates)
