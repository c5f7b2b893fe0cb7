"""Finetune: initialise the target from one source's weights, then train on the target data with the frame loss.

With `method_options: {tmu: true}` the target is a TMU network (one distiller and transfer gate per layer, trained
without distillation) whose backbone weights come from the source: the gate convolution's first rows are the
source's gate rows, the transfer-gate rows and distillers start fresh (the paper's "TMU (finetune)" rows).
"""
from __future__ import annotations

import torch

from transmem.models.network import NetConfig, PredictiveNet
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method


def copy_matching_weights(target: PredictiveNet, source: PredictiveNet, *, what: str) -> int:
    """Copy every source tensor into the target tensor of the same name; where the target has more output rows
    (a TMU gate convolution) copy into its first rows. Returns how many tensors were copied; any other mismatch
    is an error that names the tensor."""
    target_state = target.state_dict()
    copied = 0
    with torch.no_grad():
        for name, value in source.state_dict().items():
            if name not in target_state:
                raise ValueError(f"{what}: source tensor '{name}' has no counterpart in the target network")
            dest = target_state[name]
            if dest.shape == value.shape:
                dest.copy_(value)
            elif dest.shape[1:] == value.shape[1:] and dest.shape[0] > value.shape[0]:
                dest[: value.shape[0]].copy_(value)
            else:
                raise ValueError(
                    f"{what}: tensor '{name}' is {tuple(value.shape)} in the source but {tuple(dest.shape)} in the "
                    "target; finetune needs the source's backbone, depth, widths, patch size and frame channels"
                )
            copied += 1
    return copied


@METHODS.register("finetune", "initialise the target from one source's weights and train on the target data")
class Finetune(Method):
    min_sources = max_sources = 1
    option_names = ("tmu",)

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        copy_matching_weights(self.net, sources[0].net, what=f"finetune from '{sources[0].name}'")

    def target_config(self, sources: list[Source]) -> NetConfig:
        base = super().target_config(sources)
        return self.tmu_config(base, 1) if self.option("tmu", False) else base
