"""ART, aligned recurrent transfer (Cui, Zheng, Shen, Jiang & Wang, ICLR 2019, "Transfer learning for sequences via
learning to collocate"): a target RNN reads the representations of pretrained source RNNs run on the same input,
attending over the source's positions ("collocation") and merging what it attends to into its own recurrent state
through a learned gate at every step. The sources take part in every prediction, so they are kept at test time
(the paper's Table 1: ART has 10.1M parameters in training and at test).

Spatiotemporal version implemented here. At every layer l and time step t, through PredictiveNet's `hidden_hook`
(before H_{l,t} goes up a layer and on to step t+1), the student's hidden state H (C x h x w, n = h*w positions)
attends over all positions of the M teachers' hidden states H^m = H^m_{l',t} (same step; l' from
`default_layer_map`, the same layer when depths agree):

    q_i     = W_q H[:, i]                              (1x1 conv, C -> d;  i over the student's n positions)
    k_{m,j} = W_k^m H^m[:, j],  v_{m,j} = W_v^m H^m[:, j]   (1x1 convs, C_m -> d and C_m -> C)
    alpha_{i,(m,j)} = softmax over all (m, j) of  q_i . k_{m,j} / sqrt(d)      (M*n keys per query)
    A[:, i] = sum_{m,j} alpha_{i,(m,j)} v_{m,j}
    g = sigmoid(W_g [H; A])                            (1x1 conv, 2C -> C)
    H' = H + g * A

The paper attends over all positions of a source sentence that was read in full beforehand. In forecasting, the
positions that exist at step t without looking ahead are the spatial ones, so the attention runs over space at the
same time step (an n x (M n) map per layer and step: 256 x 512 for the paper's 16x16 grid and two sources). The
teachers' grids must equal the student's (a clear error names the patch size that would align them); their
channels may differ (W_k^m, W_v^m adapt them).

Teachers are the frozen sources, run under no_grad in eval mode on the clip adapted to them (`adapt_frames`):
- in training with the batch's scheduled-sampling mask (where it hides the truth a teacher reads its own previous
  prediction, as the memory bank does);
- at test time (`predict(frames_in, horizon)`; `predictor()` returns this method) on the input frames padded with
  `horizon` empty frames and the default test-time mask: true frames for the first t_in steps, then each teacher
  feeds back its own predictions, so over the horizon every teacher sees its own forecast (never the padding,
  never the student's), exactly as the student sees its own.

Loss: the frame loss of the student's predictions. The student starts from random initialisation. Option
`attention_dim` (d, default 32: half the paper's 64 hidden channels; the keys only need to rank positions, and the
attention modules stay at ~1% of the model with 2 sources).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method
from transmem.training.methods.knowledge_flow import Teachers
from transmem.training.objective import transfer_objective


class CollocationAttention(nn.Module):
    """One layer's attention from the student's hidden state over the teachers' hidden states, and the gate."""

    def __init__(self, channels: int, teacher_channels: Sequence[int], dim: int):
        super().__init__()
        self.dim = dim
        self.query = nn.Conv2d(channels, dim, kernel_size=1)
        self.keys = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in teacher_channels)
        self.values = nn.ModuleList(nn.Conv2d(c, channels, kernel_size=1) for c in teacher_channels)
        self.gate = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def attend(self, h: torch.Tensor, teachers: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A (B, C, h, w) and the attention weights (B, n, M*n), which sum to one over the last axis."""
        b, c, height, width = h.shape
        q = self.query(h).flatten(2).transpose(1, 2)  # (B, n, d)
        k = torch.cat([key(x.to(h.dtype)).flatten(2) for key, x in zip(self.keys, teachers)], dim=2)  # (B, d, M n)
        v = torch.cat([val(x.to(h.dtype)).flatten(2) for val, x in zip(self.values, teachers)], dim=2)  # (B, C, M n)
        attn = torch.softmax(torch.bmm(q, k) / math.sqrt(self.dim), dim=-1)  # (B, n, M n)
        a = torch.bmm(v, attn.transpose(1, 2)).view(b, c, height, width)
        return a, attn

    def forward(self, h: torch.Tensor, teachers: Sequence[torch.Tensor]) -> torch.Tensor:
        a, _ = self.attend(h, teachers)
        g = torch.sigmoid(self.gate(torch.cat([h, a], dim=1)))
        return h + g * a


@METHODS.register("art", "student attending over M frozen teachers' hidden states, teachers kept at test (Cui et al., 2019)")
class ART(Method):
    min_sources, max_sources = 1, None
    option_names = ("attention_dim",)

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        dim = self.option("attention_dim", 32)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"art: attention_dim must be a positive integer, got {dim!r}")
        target = self.net.config
        self.teachers = Teachers(sources, target, what="art")
        self.attention = nn.ModuleList(
            CollocationAttention(
                target.hidden[k], [self.teachers.channels(m, k) for m in range(len(sources))], dim
            )
            for k in range(len(target.hidden))
        )

    def _rollout(self, frames: torch.Tensor, *, t_in: int, mask: torch.Tensor | None, **latent):
        teacher_h = self.teachers.hiddens(frames, t_in=t_in, mask=mask)

        def hook(layer: int, t: int, h: torch.Tensor) -> torch.Tensor:
            return self.attention[layer](h, [th[layer][:, t] for th in teacher_h])

        return self.net(frames, t_in=t_in, mask=mask, hidden_hook=hook, **latent)

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        out = self._rollout(frames, t_in=t_in, mask=mask)
        return self.with_stochastic_terms(*transfer_objective(out.frames, frames[:, 1:]), out, frames[:, 1:])

    @torch.no_grad()
    def predict(self, frames_in: torch.Tensor, horizon: int, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The next `horizon` frames after (B, T_in, C, H, W), from the student and its teachers: teachers read the
        input frames, then their own predictions (the clip is padded with `horizon` frames nobody reads). A
        stochastic student draws one sample from its prior (with `generator`), as `PredictiveNet.predict` does."""
        latent = {"latent": "prior", "generator": generator} if self.net.stochastic else {}
        if generator is not None and not latent:
            raise ValueError(f"backbone '{self.net.config.backbone}' is deterministic: it has no latent to seed; "
                             "drop generator")
        self.net.check_frames(frames_in)
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        t_in = frames_in.shape[1]
        pad = frames_in.new_zeros(frames_in.shape[0], horizon, *frames_in.shape[2:])
        was_training = self.training
        self.eval()
        try:
            out = self._rollout(torch.cat([frames_in, pad], dim=1), t_in=t_in, mask=None, **latent)
        finally:
            self.train(was_training)
        return out.frames[:, -horizon:]

    def predictor(self) -> nn.Module:
        """This method itself: its `predict` runs the student with its teachers (they are needed at test)."""
        return self
