"""Transfer-gate statistics of a TMU network (paper Table 5): how much each source is let in, per layer."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from transmem.data.base import SequenceData


@torch.no_grad()
def gate_statistics(net, data: SequenceData, batch_size: int) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per TMU layer: mean gate per source (M,) over sequences, steps and positions, and the gate maps of the
    first sequence (S, M, h, w). A stochastic network (savp) runs as at test time: prior samples after the input
    steps, drawn from a generator seeded 0 (the future frames of the clip are never read)."""
    sums: dict[int, torch.Tensor] = {}
    first: dict[int, np.ndarray] = {}
    for out in eval_rollouts(net, data, batch_size):
        for layer, g in out.gate_maps.items():
            sums[layer] = sums.get(layer, 0) + g.sum(dim=(0, 1, 3, 4)) / (g.shape[1] * g.shape[3] * g.shape[4])
            first.setdefault(layer, g[0].numpy())
    return {k: (v / len(data)).numpy() for k, v in sums.items()}, first


def eval_rollouts(net, data: SequenceData, batch_size: int, **kw) -> Iterator:
    """The network's rollouts over `data` in batches, as at test time: true frames for t_in steps, predictions
    after; a stochastic network draws from its prior with one generator seeded 0 (the clip's future is never read).
    kw: what else to ask of the rollout (memory_layers=...)."""
    generator = torch.Generator().manual_seed(0)
    for start in range(0, len(data), batch_size):
        clip = torch.from_numpy(data.frames[start : start + batch_size, : data.t_in + data.t_out])
        noise = {"latent": "prior", "generator": generator} if net.stochastic else {}
        yield net(clip, t_in=data.t_in, **noise, **kw)


def gate_summary(net, data: SequenceData, names: list[str], batch_size: int = 16) -> dict:
    """The JSON form: {"per_layer": {layer: {source: mean}}, "mean": {source: mean over layers}}."""
    means, _ = gate_statistics(net, data, batch_size)
    layers = sorted(means)
    overall = np.mean([means[k] for k in layers], axis=0)
    return {"per_layer": {str(k): dict(zip(names, map(float, means[k]))) for k in layers},
            "mean": dict(zip(names, map(float, overall)))}
