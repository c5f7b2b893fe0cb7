"""How large each layer's temporal memory C_t gets over a test rollout.

Eq. 5 sets C_t = C~_t + sum_m [a_m C^_m + (1 - a_m) C~_t], which is (M + 1 - sum_m a_m) C~_t plus the distilled
memories: with M sources and gates near 0.5 the memory is multiplied by about M/2 + 1 at every step, and in a
ConvLSTM or ST-LSTM layer the forget gate of the next step is all that pulls it back (a MIM block's C~ is bounded).
Where it does not, |C| grows geometrically along the rollout and the layer's hidden state saturates. This measure
shows it: the mean |C_t| of every layer at every step.
"""
from __future__ import annotations

import numpy as np
import torch

from transmem.data.base import SequenceData
from transmem.evaluation.gates import eval_rollouts


@torch.no_grad()
def memory_scale(net, data: SequenceData, batch_size: int = 16) -> dict[int, np.ndarray]:
    """layer -> mean |C_t| over sequences, channels and positions at each step (S,), run as at test time
    (predictions fed back after the t_in input frames; a stochastic network draws from its prior, seeded 0)."""
    sums: dict[int, torch.Tensor] = {}
    was_training = net.training
    net.eval()
    try:
        for out in eval_rollouts(net, data, batch_size, memory_layers=tuple(range(len(net.cells)))):
            for layer, c in out.memories.items():  # (B, S, C, h, w)
                sums[layer] = sums.get(layer, 0) + c.double().abs().mean(dim=(2, 3, 4)).sum(dim=0)
    finally:
        net.train(was_training)
    return {k: (v / len(data)).numpy() for k, v in sorted(sums.items())}


def memory_summary(net, data: SequenceData, batch_size: int = 16) -> dict:
    """The JSON form: {"per_layer": {layer: [mean |C_t| at each step]}}."""
    return {"per_layer": {str(k): [float(x) for x in v] for k, v in memory_scale(net, data, batch_size).items()}}
