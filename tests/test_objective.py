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


@pytest.mark.parametrize("norm", ["element", "channel", "frame", "relative"])
def test_rollout_steps_give_the_stacked_loss_and_gradients(norm):
    """The loss reads a rollout's per-step distilled memories without stacking them: same value, same gradients."""
    from transmem.models import NetConfig, PredictiveNet
    from transmem.models.network import StepStacks

    torch.manual_seed(0)
    net = PredictiveNet(NetConfig(backbone="convlstm", frame_size=(8, 8), patch_size=2, hidden=(4, 4), kernel_size=3,
                                  n_sources=2))
    frames = torch.rand(2, 5, 1, 8, 8)
    out = net(frames, t_in=2)
    assert isinstance(out.distilled, StepStacks)
    memories = {k: torch.randn_like(v) for k, v in out.distilled.items()}
    stacked = {k: out.distilled[k] for k in out.distilled}  # plain tensors: the stacked path
    per_step = distill_loss(out.distilled, memories, norm=norm)
    reference = distill_loss(stacked, memories, norm=norm)
    params = list(net.parameters())
    torch.testing.assert_close(per_step, reference)
    for a, b in zip(torch.autograd.grad(per_step, params, retain_graph=True), torch.autograd.grad(reference, params)):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="distilled memory"):
        distill_loss(out.distilled, {k: v[:, :-1] for k, v in memories.items()})
