"""The TMU's memory-lean autograd function (transmem/models/tmu_autograd.py) against the plain formulation of the
paper's equations: the same values and gradients, with channels-last inputs and without grad too."""
import pytest
import torch
from einops import rearrange

from transmem.models.tmu import TransferableMemory
from transmem.models.tmu_autograd import TransferStep


def reference_tmu(tmu: TransferableMemory, c_tilde: torch.Tensor, gate_logits: torch.Tensor):
    """Eqs. 3 and 5 with plain autograd (the formulation the unit had before `TransferStep`); the convex form
    C~ + (1/M) sum_m a (C^ - C~) when the unit has it."""
    m = tmu.n_sources
    z = tmu.distill(c_tilde)
    if tmu.released:
        z = rearrange(z, "b (m c) h w -> b m c h w", m=m)
        c_hat = torch.nn.functional.layer_norm(z, z.shape[-3:]) * tmu.norm_weight + tmu.norm_bias
    else:
        c_hat = rearrange(tmu.norm(z), "b (m c) h w -> b m c h w", m=m)
    gates = torch.sigmoid(rearrange(gate_logits, "b (m c) h w -> b m c h w", m=m))
    if tmu.combine == "convex":
        c_t = c_tilde + (gates * (c_hat - c_tilde.unsqueeze(1))).sum(dim=1) / m
    else:
        c_t = c_tilde + (gates * c_hat + (1 - gates) * c_tilde.unsqueeze(1)).sum(dim=1)
    return c_t, c_hat, gates


def _unit(released: bool, m: int = 3, c: int = 4, hw=(5, 6), combine: str = "paper"):
    torch.manual_seed(1)
    tmu = TransferableMemory(channels=c, n_sources=m, released=released, state_size=hw, combine=combine).double()
    with torch.no_grad():  # non-trivial affine parameters
        for p in tmu.parameters():
            p.add_(0.3 * torch.randn_like(p))
    c_tilde = torch.randn(2, c, *hw, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(2, m * c, *hw, dtype=torch.float64, requires_grad=True)
    return tmu, c_tilde, logits


@pytest.mark.parametrize("released, combine", [(False, "paper"), (True, "paper"), (False, "convex"), (True, "convex")])
@pytest.mark.parametrize("used", ["all", "c_t", "c_t+c_hat", "c_hat", "gates"])
def test_lean_tmu_matches_autograd_values_and_gradients(released, combine, used):
    tmu, c_tilde, logits = _unit(released, combine=combine)
    params = [c_tilde, logits, *tmu.parameters()]
    weights = [torch.randn_like(t) for t in reference_tmu(tmu, c_tilde, logits)]
    pick = {"all": (0, 1, 2), "c_t": (0,), "c_t+c_hat": (0, 1), "c_hat": (1,), "gates": (2,)}[used]

    def loss(outputs):
        return sum((outputs[i] * weights[i]).sum() for i in pick)

    ref = reference_tmu(tmu, c_tilde, logits)
    ref_grads = torch.autograd.grad(loss(ref), params, allow_unused=True)
    out = tmu(c_tilde, logits)
    grads = torch.autograd.grad(loss(out), params, allow_unused=True)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads, ref_grads):
        if b is None or not b.abs().sum() > 0:
            assert a is None or not a.abs().sum() > 0
        else:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("released", [False, True])
def test_lean_tmu_takes_channels_last_inputs(released):
    tmu, c_tilde, logits = _unit(released)
    cl = torch.channels_last
    ref = reference_tmu(tmu, c_tilde, logits)
    ref_grads = torch.autograd.grad(sum(t.sum() for t in ref), (c_tilde, logits))
    tmu.to(memory_format=cl)
    out = tmu(c_tilde.contiguous(memory_format=cl), logits.contiguous(memory_format=cl))
    grads = torch.autograd.grad(sum(t.sum() for t in out), (c_tilde, logits))
    for a, b in zip((*out, *grads), (*ref, *ref_grads)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("released, combine", [(False, "paper"), (True, "paper"), (False, "convex"), (True, "convex")])
def test_lean_tmu_gradcheck(released, combine):
    tmu, c_tilde, logits = _unit(released, m=2, c=2, hw=(3, 2))
    gamma, beta, eps = tmu._affine()
    f = lambda c, g, w, ga, be: TransferStep.apply(c, g, w, ga, be, 2, eps, combine)  # noqa: E731
    assert torch.autograd.gradcheck(f, (c_tilde, logits, tmu.distill.weight, gamma, beta))


def test_lean_tmu_without_grad_is_the_same_function():
    tmu, c_tilde, logits = _unit(False)
    with torch.no_grad():
        fast = tmu(c_tilde, logits)
        ref = reference_tmu(tmu, c_tilde, logits)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b)


def test_convex_combination_is_bounded_by_its_parts_and_refuses_unknown_forms():
    tmu, c_tilde, logits = _unit(True, combine="convex")
    with torch.no_grad():
        c_t, c_hat, gates = tmu(c_tilde, logits)
        shut, _, _ = tmu(c_tilde, torch.full_like(logits, -1e4))  # every gate shut: C~ itself
        both = torch.cat([c_tilde.unsqueeze(1), c_hat], dim=1)
    torch.testing.assert_close(shut, c_tilde)
    assert (c_t <= both.amax(dim=1) + 1e-12).all() and (c_t >= both.amin(dim=1) - 1e-12).all()
    with pytest.raises(ValueError, match="tmu_combine 'sum' is not one of paper, convex"):
        TransferableMemory(channels=2, n_sources=2, combine="sum")
    with pytest.raises(ValueError, match="tmu_combine 'Paper' is not one of paper, convex"):  # the functions too
        gamma, beta, eps = tmu._affine()
        TransferStep.apply(c_tilde, logits, tmu.distill.weight, gamma, beta, tmu.n_sources, eps, "Paper")
