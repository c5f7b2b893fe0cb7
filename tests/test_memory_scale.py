"""memory_scale against a hand-computed rollout: a TMU whose gates are constants grows its memory by Eq. 5's
(M + 1 - sum_m a_m) every step; a plain ConvLSTM with the same gates, and the TMU's convex form, do not."""
import math

import numpy as np
import pytest
import torch

from transmem.data.base import SequenceData
from transmem.evaluation.memory import memory_scale
from transmem.models.network import NetConfig, PredictiveNet

I, F, G, A = 0.5, 1.0, 0.5, -1.0  # gate pre-activations: input, forget, cell input, each transfer gate


def constant_gate_net(n_sources: int, combine: str = "paper") -> PredictiveNet:
    """One ConvLSTM layer (the paper's cell when n_sources > 0) whose gate convolution ignores its input and emits
    fixed biases, and whose distillers output zeros: C~_t = f C_{t-1} + i g, C_t = (M + 1 - M a) C~_t."""
    net = PredictiveNet(NetConfig(frame_size=(4, 4), patch_size=1, hidden=(3,), kernel_size=1, n_sources=n_sources,
                                  tmu_combine=combine))
    cell, hid = net.cells[0], 3
    with torch.no_grad():
        cell.gate_conv.weight.zero_()
        bias = [I] * hid + [F] * hid + [G] * hid + [0.0] * hid + [A] * (n_sources * hid)
        cell.gate_conv.bias.copy_(torch.tensor(bias))
        if cell.tmu is not None:
            cell.tmu.distill.weight.zero_()  # GroupNorm of zeros is 0, and its shift starts at 0
    return net


def hand_rollout(n_sources: int, steps: int, combine: str = "paper") -> list[float]:
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    i, f, g, a = sig(I), sig(F), math.tanh(G), sig(A)
    gain = 1.0 if not n_sources else (n_sources + 1 - n_sources * a if combine == "paper" else 1 - a)
    c, out = 0.0, []
    for _ in range(steps):
        c = gain * (f * c + i * g)
        out.append(c)
    return out


@pytest.mark.parametrize("n_sources, combine", [(0, "paper"), (2, "paper"), (2, "convex")])
def test_memory_scale_matches_the_hand_computed_rollout(n_sources, combine):
    frames = np.random.default_rng(0).random((5, 8, 1, 4, 4)).astype(np.float32)
    data = SequenceData("toy", "test", frames, t_in=4, t_out=4)
    scale = memory_scale(constant_gate_net(n_sources, combine), data, batch_size=2)  # batches of 2, 2 and 1
    assert list(scale) == [0] and scale[0].shape == (7,)
    np.testing.assert_allclose(scale[0], hand_rollout(n_sources, 7, combine), rtol=1e-5)
    if combine == "convex":  # the gates keep 1 - a = 0.73 of C~ (the distilled memories are 0 here): bounded
        assert scale[0][-1] < 1.07
    elif n_sources:  # Eq. 5 multiplies C~ by 2.46 and the forget gate keeps 0.73 of it: x1.80 a step, unbounded
        assert scale[0][-1] > 30 * scale[0][0]
    else:  # a plain cell's memory rises towards i g / (1 - f) = 1.07 and stays below it
        assert scale[0][-1] < 1.07
