"""Memory transfer (the paper): a TMU target distils the memory states of M frozen sources, Eq. 6."""
from __future__ import annotations

import torch

from transmem.models.memory_bank import MemoryBank
from transmem.models.network import NetConfig
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method
from transmem.training.objective import transfer_objective


@METHODS.register("memory-transfer", "TMU target distilling the memories of M frozen sources (paper Eqs. 1-6)")
class MemoryTransfer(Method):
    min_sources, max_sources = 1, None
    option_names = ("layer_maps",)

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        self.bank = MemoryBank(
            [s.net for s in sources],
            target=self.net.config,
            names=[s.name for s in sources],
            layer_maps=self.option("layer_maps", None),
        )
        self.beta = float(config.beta)

    def target_config(self, sources: list[Source]) -> NetConfig:
        m = self.config.model
        return super().target_config(sources).replace(
            n_sources=len(sources), released=m.released, tmu_layers=m.tmu_layers and tuple(m.tmu_layers)
        )

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        memories = self.bank.collect(frames, t_in=t_in, mask=mask) if self.beta != 0.0 else None
        out = self.net(frames, t_in=t_in, mask=mask)
        return transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=self.beta)
