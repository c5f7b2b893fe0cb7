"""What a training method is: an nn.Module that owns the target network (and any trainable adapters), builds its
loss for a batch, and says which model answers at test time.

    method = METHODS.get(name)(config=..., frame_channels=..., frame_size=..., sources=[Source, ...])
    loss, parts = method(frames, mask=mask, t_in=t_in)     # the training loss of one batch (Eq. 6 and friends)
    method.predictor()                                      # has .predict(frames_in, horizon); no source needed
                                                            # unless the method itself needs them at test (ART)

Frozen sources are sub-modules with requires_grad=False, so they follow the method to its device but never
reach the optimizer (`trainable_parameters`) or the training checkpoint (`trainable_state`).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from transmem.models.network import NetConfig, PredictiveNet, Rollout
from transmem.models.zoo import Source
from transmem.training.config import TrainConfig
from transmem.training.objective import transfer_objective
from transmem.training.stochastic import StochasticTerms
from transmem.registry import METHODS


class Method(nn.Module):
    min_sources: ClassVar[int] = 0
    max_sources: ClassVar[int | None] = 0
    option_names: ClassVar[tuple[str, ...]] = ()  # allowed keys of config.method_options

    def __init__(self, *, config: TrainConfig, frame_channels: int, frame_size: tuple[int, int], sources: list[Source]):
        super().__init__()
        n = len(sources)
        if n < self.min_sources or (self.max_sources is not None and n > self.max_sources):
            want = f"{self.min_sources}" if self.max_sources == self.min_sources else (
                f"at least {self.min_sources}" if self.max_sources is None else f"{self.min_sources} to {self.max_sources}")
            raise ValueError(f"method '{config.method}' takes {want} source(s), got {n}; use --source to give them")
        unknown = sorted(set(config.method_options) - set(self.option_names))
        if unknown:
            raise ValueError(
                f"method '{config.method}' has no option(s) {unknown}; its options: {list(self.option_names) or 'none'}"
            )
        self.config = config
        self.source_names = [s.name for s in sources]
        self.source_nets = [s.net for s in sources]  # a plain list: sub-classes register them where they use them
        self.frame_channels, self.frame_size = frame_channels, tuple(frame_size)
        self.net = PredictiveNet(self.target_config(sources))
        # a stochastic target's KL (and GAN) terms, which every method adds to its loss (training/stochastic.py)
        self.stochastic_terms = StochasticTerms.for_target(config, self.net)

    def option(self, key: str, default: Any) -> Any:
        return self.config.method_options.get(key, default)

    def target_config(self, sources: list[Source]) -> NetConfig:
        m = self.config.model
        return NetConfig(
            backbone=m.backbone,
            frame_channels=self.frame_channels,
            frame_size=self.frame_size,
            patch_size=m.patch_size,
            hidden=tuple(m.hidden),
            kernel_size=m.kernel_size,
            peepholes=m.peepholes,
            gate_norm=m.gate_norm,  # NetConfig turns a list into a tuple of layers
            latent_channels=m.latent_channels,
            latent_hidden=m.latent_hidden,
        )

    def tmu_config(self, base: NetConfig, n_sources: int) -> NetConfig:
        """`base` as a TMU network with `n_sources` distillers and transfer gates, with the model section's TMU
        settings (which cell, which layers, how C_t is formed): the one place methods that build TMUs read them."""
        m = self.config.model
        return base.replace(n_sources=n_sources, released=m.released, tmu_layers=m.tmu_layers and tuple(m.tmu_layers),
                            tmu_combine=m.tmu_combine)

    @property
    def stochastic(self) -> bool:
        """Whether the target draws a latent (its predictor's `predict` then takes a generator)."""
        return self.net.stochastic

    def with_stochastic_terms(self, loss: torch.Tensor, parts: dict[str, float], out: Rollout,
                              truth: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The method's (loss, parts) with a stochastic target's KL and GAN terms added; unchanged otherwise."""
        if self.stochastic_terms is None:
            return loss, parts
        extra, more = self.stochastic_terms(out, truth)
        loss = loss + extra
        return loss, {**{k: v for k, v in parts.items() if k != "total"}, **more, "total": float(loss.detach())}

    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int) -> tuple[torch.Tensor, dict[str, float]]:
        out = self.net(frames, t_in=t_in, mask=mask)
        return self.with_stochastic_terms(*transfer_objective(out.frames, frames[:, 1:]), out, frames[:, 1:])

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The weights a training checkpoint must hold: everything but the frozen sources."""
        frozen = {id(p) for p in self.parameters() if not p.requires_grad}
        return {k: v for k, v in self.state_dict(keep_vars=True).items() if id(v) not in frozen}

    def predictor(self) -> nn.Module:
        """The model used at test time (its `.predict(frames_in, horizon)`)."""
        return self.net


@METHODS.register("scratch", "train the target backbone from random initialisation (no source)")
class Scratch(Method):
    """The base method unchanged: the backbone alone, randomly initialised, trained on the frame loss."""
