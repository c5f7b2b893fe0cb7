"""Memory transfer (the paper): a TMU target distils the memory states of M frozen sources, Eq. 6.

Options: `layer_maps` (which source layer each TMU layer reads, see MemoryBank) and `init_from` (a source's name:
the target's backbone starts from that source's weights, as in finetuning, instead of from scratch; the paper
trains the target from scratch, so this is off by default; docs/results-flying-digits.md measures both).
"""
from __future__ import annotations

import torch

from transmem.models.memory_bank import MemoryBank
from transmem.models.network import NetConfig
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method
from transmem.training.methods.finetune import copy_matching_weights
from transmem.training.objective import DISTILL_NORMS, transfer_objective


@METHODS.register("memory-transfer", "TMU target distilling the memories of M frozen sources (paper Eqs. 1-6)")
class MemoryTransfer(Method):
    min_sources, max_sources = 1, None
    option_names = ("layer_maps", "init_from")

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        self.bank = MemoryBank(
            [s.net for s in sources],
            target=self.net.config,
            names=[s.name for s in sources],
            layer_maps=self.option("layer_maps", None),
        )
        self.beta = float(config.beta)
        init = self.option("init_from", None)
        if init is not None:
            by_name = {s.name: s for s in sources}
            if init not in by_name:
                raise ValueError(f"init_from '{init}' is not one of this run's sources ({', '.join(by_name)})")
            copy_matching_weights(self.net, by_name[init].net, what=f"memory transfer initialised from '{init}'")
        if config.distill_norm not in DISTILL_NORMS:
            raise ValueError(f"distill_norm '{config.distill_norm}' is not one of {', '.join(DISTILL_NORMS)}")
        self.distill_norm = config.distill_norm

    def target_config(self, sources: list[Source]) -> NetConfig:
        m = self.config.model
        return super().target_config(sources).replace(
            n_sources=len(sources), released=m.released, tmu_layers=m.tmu_layers and tuple(m.tmu_layers)
        )

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        memories = self.bank.collect(frames, t_in=t_in, mask=mask) if self.beta != 0.0 else None
        out = self.net(frames, t_in=t_in, mask=mask)
        return transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=self.beta,
                                  distill_norm=self.distill_norm)
