"""Memory transfer (the paper): a TMU target distils the memory states of M frozen sources, Eq. 6.

Options (`method_options`), beyond the paper, each measured in docs/results-flying-digits.md:
- `layer_maps`: which source layer each TMU layer reads (see MemoryBank);
- `init_from`: a source's name, or auto (the source with the lowest zero-shot error on the target's validation
  split, chosen when the run starts); the target's backbone starts from that source's weights, as in finetuning,
  instead of from scratch (the paper trains the target from scratch, so this is off by default);
- `beta_decay`: none (the paper), linear or cosine: beta falls from its value to 0 over training, so the sources
  guide the start and the frame loss alone decides the end;
- `distill_where`: always (the paper) or source-better: a source's memories are distilled only at the steps of
  the clips where that source predicted the next frame better than the target did.
"""
from __future__ import annotations

import math

import torch

from transmem.models.memory_bank import MemoryBank
from transmem.models.network import NetConfig
from transmem.models.zoo import Source
from transmem.registry import METHODS, check_choice
from transmem.training.methods.base import Method
from transmem.training.methods.finetune import copy_matching_weights
from transmem.training.objective import DISTILL_NORMS, transfer_objective


@METHODS.register("memory-transfer", "TMU target distilling the memories of M frozen sources (paper Eqs. 1-6)")
class MemoryTransfer(Method):
    min_sources, max_sources = 1, None
    option_names = ("layer_maps", "init_from", "beta_decay", "distill_where")
    beta_decays = ("none", "linear", "cosine")
    distill_wheres = ("always", "source-better")

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        self.bank = MemoryBank(
            [s.net for s in sources],
            target=self.net.config,
            names=[s.name for s in sources],
            layer_maps=self.option("layer_maps", None),
        )
        self.beta = self.beta_start = float(config.beta)
        self.beta_decay = self.option("beta_decay", "none")
        self.distill_where = self.option("distill_where", "always")
        for key, value, allowed in (("beta_decay", self.beta_decay, self.beta_decays),
                                    ("distill_where", self.distill_where, self.distill_wheres)):
            check_choice(f"method option {key}", value, allowed)
        init = self.option("init_from", None)
        if init is not None:
            by_name = {s.name: s for s in sources}
            if init not in by_name:
                raise ValueError(f"init_from {init!r} is not one of this run's sources ({', '.join(by_name)}) "
                                 "nor auto")
            copy_matching_weights(self.net, by_name[init].net, what=f"memory transfer initialised from '{init}'")
        check_choice("distill_norm", config.distill_norm, DISTILL_NORMS)
        self.distill_norm = config.distill_norm

    def target_config(self, sources: list[Source]) -> NetConfig:
        return self.tmu_config(super().target_config(sources), len(sources))

    def set_progress(self, progress: float) -> None:
        """The trainer's share of training done, in [0, 1]: sets this step's beta under `beta_decay`."""
        if self.beta_decay == "linear":
            self.beta = self.beta_start * (1.0 - progress)
        elif self.beta_decay == "cosine":
            self.beta = self.beta_start * 0.5 * (1.0 + math.cos(math.pi * progress))

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        memories = weights = None
        if self.beta != 0.0 and self.distill_where == "source-better":
            memories, source_errors = self.bank.collect_with_errors(frames, t_in=t_in, mask=mask)
        elif self.beta != 0.0:
            memories = self.bank.collect(frames, t_in=t_in, mask=mask)
        out = self.net(frames, t_in=t_in, mask=mask)
        if memories is not None and self.distill_where == "source-better":
            target_errors = (out.frames.detach() - frames[:, 1:]).pow(2).mean(dim=(2, 3, 4))  # (B, T-1)
            weights = (source_errors < target_errors[..., None]).to(out.frames.dtype)
        loss, parts = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=self.beta,
                                         distill_norm=self.distill_norm, weights=weights)
        if self.beta_decay != "none":
            parts["beta"] = self.beta
        if weights is not None:
            parts["distilled_share"] = float(weights.mean())  # share of (clip, step, source) distilled
        return self.with_stochastic_terms(loss, parts, out, frames[:, 1:])  # a savp target's KL (and GAN) terms
