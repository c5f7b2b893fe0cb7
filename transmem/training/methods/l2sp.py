"""L2-SP (Li, Grandvalet & Davoine, ICML 2018, "Explicit inductive bias for transfer learning with convolutional
networks"): initialise the target from one source, then train it with a penalty that pulls the weights back
towards the source's weights (the "starting point") instead of towards zero.

The paper's regulariser (its Eq. 3), with w_S the parameters shared with the source, w^0_S their source values and
w_new the parameters the source does not have:

    Omega(w) = alpha/2 * || w_S - w^0_S ||_2^2  +  beta/2 * || w_new ||_2^2

    L = L_frame + Omega(w)

Here:
- the target is the source's architecture (the paper's Table 1 row: a plain ConvLSTM, 3.0M parameters in training
  and at test), initialised with `copy_matching_weights` as in finetune;
- w^0_S are copies of the source's tensors kept as non-persistent buffers: they follow the method to its device,
  never reach the optimizer, and are not written to training checkpoints (the constructor rebuilds them from the
  source, so a resumed run has them too); DDP is told to skip them (`_ddp_params_and_buffers_to_ignore`, they are
  equal on every rank). The source network itself is not kept;
- a parameter is "shared" when the source has a tensor of the same name and shape; every other trainable parameter
  is "new". With the target built as the source's own architecture (copy_matching_weights refuses anything else)
  every parameter is shared and the second term is zero; it stays in for the general case (and its option).
- options: `alpha` (default 0.01) and `l2_new` (the paper's beta, default 0.01; renamed so that it is not mistaken
  for the distillation weight `beta` of TrainConfig).

Scaling. The paper's penalty is a plain sum over weights added to a per-example mean task loss. Our frame loss is
a per-pixel mean (transmem.training.objective), (C*H*W*(T-1)) times smaller than a per-example sum of squared
errors would be. We keep the paper's form, a sum over weights with the 1/2, and do NOT normalise it by the number
of frame-loss elements: the regulariser then means exactly what the paper writes (its gradient on a weight is
alpha * (w - w^0)), and alpha is simply read against a per-pixel loss. What alpha = 0.01 means at this scale
(measured once on the paper's 64x64 patch-4 4x64 ConvLSTM, random init, sparse Moving-MNIST-like frames): the
per-weight gradients of the per-pixel frame loss have an RMS of about 1e-5 (mean |g| about 5e-7), so the
pull-back alpha * (w - w^0) matches a typical frame gradient once a weight has drifted by about 1e-3, some 5% of
a typical weight (|w| ~ 0.02): a firm prior that still lets the network adapt. The defaults (alpha = l2_new =
0.01) are not tuned; set them with `method_options: {alpha: ..., l2_new: ...}`.
"""
from __future__ import annotations

import torch
from torch import nn

from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method
from transmem.training.methods.finetune import copy_matching_weights
from transmem.training.objective import frame_loss


def l2sp_penalty(
    named_parameters: dict[str, torch.Tensor],
    anchors: dict[str, torch.Tensor],
    *,
    alpha: float,
    l2_new: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha/2 * sum_{shared} ||w - w0||^2, l2_new/2 * sum_{new} ||w||^2); `anchors` names the shared tensors."""
    shared = new = None
    for name, p in named_parameters.items():
        if name in anchors:
            term = (p - anchors[name]).pow(2).sum()
            shared = term if shared is None else shared + term
        else:
            term = p.pow(2).sum()
            new = term if new is None else new + term
    zero = next(iter(named_parameters.values())).new_zeros(())
    shared = zero if shared is None else shared
    new = zero if new is None else new
    return 0.5 * alpha * shared, 0.5 * l2_new * new


@METHODS.register("l2sp", "finetune one source with an L2 penalty towards the source's weights (Li et al., 2018)")
class L2SP(Method):
    min_sources = max_sources = 1
    option_names = ("alpha", "l2_new")

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        source = sources[0]
        copy_matching_weights(self.net, source.net, what=f"l2sp from '{source.name}'")
        self.alpha = float(self.option("alpha", 0.01))
        self.l2_new = float(self.option("l2_new", 0.01))
        if self.alpha < 0 or self.l2_new < 0:
            raise ValueError(f"l2sp: alpha ({self.alpha}) and l2_new ({self.l2_new}) must be >= 0")
        source_state = source.net.state_dict()
        own = dict(self.net.named_parameters())
        # w^0: one non-persistent buffer per shared parameter, in a container module so that names cannot clash.
        self.anchors = nn.Module()
        self.anchor_of: dict[str, str] = {}
        for i, (name, p) in enumerate(own.items()):
            value = source_state.get(name)
            if value is not None and value.shape == p.shape:
                key = f"w{i}"
                self.anchors.register_buffer(key, value.detach().clone().to(p.dtype), persistent=False)
                self.anchor_of[name] = key
        if not self.anchor_of:
            raise ValueError(f"l2sp: source '{source.name}' shares no parameter with the target")
        # The anchors are the same on every rank: DDP need not broadcast them at each step.
        self._ddp_params_and_buffers_to_ignore = [f"anchors.{k}" for k in self.anchor_of.values()]

    def penalty(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(the L2-SP term over shared parameters, the L2 term over new parameters), both scaled."""
        named = {n: p for n, p in self.net.named_parameters() if p.requires_grad}
        anchors = {n: getattr(self.anchors, k) for n, k in self.anchor_of.items()}
        return l2sp_penalty(named, anchors, alpha=self.alpha, l2_new=self.l2_new)

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        out = self.net(frames, t_in=t_in, mask=mask)
        frame = frame_loss(out.frames, frames[:, 1:])
        shared, new = self.penalty()
        loss = frame + shared.to(frame.dtype) + new.to(frame.dtype)
        parts = {
            "frame": float(frame.detach()),
            "l2sp": float(shared.detach()),
            "l2_new": float(new.detach()),
            "total": float(loss.detach()),
        }
        return self.with_stochastic_terms(loss, parts, out, frames[:, 1:])
