"""The distillation loss's reductions against hand-computed values."""
import pytest
import torch

from transmem.training.objective import distill_loss, transfer_objective

B, T, M, C, H, W = 2, 3, 2, 4, 2, 3


def _bank(layers=(0,)):
    """Distilled memories all zero; source 0's memory is 2 everywhere, source 1's is 1: squared errors 4 and 1."""
    memory = torch.ones(B, T, M, C, H, W)
    memory[:, :, 0] = 2.0
    return {k: torch.zeros_like(memory) for k in layers}, {k: memory.clone() for k in layers}


@pytest.mark.parametrize("norm, expected", [
    ("element", 4 + 1),
    ("channel", (4 + 1) * C),
    ("frame", (4 + 1) * C * H * W),
    ("relative", 4 / 4 + 1 / 1),
])
def test_distill_norms_by_hand(norm, expected):
    distilled, memories = _bank()
    assert distill_loss(distilled, memories, norm=norm).item() == pytest.approx(expected)
    distilled, memories = _bank(layers=(0, 2))  # every TMU layer adds its own term
    assert distill_loss(distilled, memories, norm=norm).item() == pytest.approx(2 * expected)


def test_objective_weighs_the_distillation_by_beta():
    distilled, memories = _bank()
    frames = torch.zeros(B, T, 1, 4, 4)
    truth = torch.full_like(frames, 0.5)
    loss, parts = transfer_objective(frames, truth, distilled, memories, beta=0.1, distill_norm="channel")
    assert parts["frame"] == pytest.approx(0.25)
    assert parts["distill"] == pytest.approx(20.0)
    assert loss.item() == pytest.approx(0.25 + 0.1 * 20.0)


def test_unknown_norm_is_refused():
    distilled, memories = _bank()
    with pytest.raises(ValueError, match="distill_norm 'sum' is not one of element, channel, frame, relative"):
        distill_loss(distilled, memories, norm="sum")
