"""The speed and memory paths of the models (docs/performance.md) against their plain formulations; the TMU's own
lean step is tests/test_tmu_autograd.py."""
import pytest
import torch


def _bank_setup(backbone):
    from transmem.models import MemoryBank, NetConfig, PredictiveNet  # noqa: F401

    target = NetConfig(backbone=backbone, frame_size=(16, 16), patch_size=2, hidden=(8, 8, 8), kernel_size=3, n_sources=3)
    a, b = (PredictiveNet(target.replace(n_sources=0)) for _ in range(2))
    return target, [a, b, a]  # the first module twice


@pytest.mark.parametrize("backbone", ["convlstm", "predrnn", "mim", "savp"])
def test_bank_runs_each_module_once_and_batched_bank_equals_the_loop(backbone):
    from transmem.models import MemoryBank

    target, sources = _bank_setup(backbone)
    frames = torch.rand(2, 6, 1, 16, 16)
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    calls = []
    handle = sources[0].register_forward_hook(lambda *_: calls.append(1))
    loop = MemoryBank(sources, target=target).collect(frames, t_in=3, mask=mask)
    handle.remove()
    assert len(calls) == 1  # the module named twice ran once
    batched_bank = MemoryBank(sources, target=target, batch_sources=True)
    assert batched_bank.run_groups() == [[[0, 2], [1]]]
    batched = batched_bank.collect(frames, t_in=3, mask=mask)
    for k in target.transfer_layers:
        latent = {"latent": "posterior-mean"} if sources[0].stochastic else {}  # what the bank runs a savp source with
        per_source = torch.stack(
            [s(frames, t_in=3, mask=mask, memory_layers=[k], **latent).memories[k] for s in sources], dim=2
        )
        assert loop[k].shape == (2, 5, 3, 8, 8, 8) and not loop[k].requires_grad
        torch.testing.assert_close(loop[k], per_source, rtol=0, atol=0)  # the loop is the plain per-source run
        torch.testing.assert_close(batched[k], per_source, rtol=1e-5, atol=1e-6)  # grouped convolutions: rounding


@pytest.mark.parametrize("backbone,released", [("convlstm", False), ("predrnn", True), ("mim", False), ("savp", True)])
def test_channels_last_network_has_the_same_loss_and_gradients(backbone, released):
    """`net.to(memory_format=torch.channels_last)` is a layout change only (benchmarks/alternatives.py times it)."""
    import copy

    from transmem.models import MemoryBank, PredictiveNet
    from transmem.training.objective import kl_loss, transfer_objective

    target, sources = _bank_setup(backbone)
    target = target.replace(released=released)
    torch.manual_seed(0)
    net = PredictiveNet(target)
    frames = torch.rand(2, 6, 1, 16, 16)
    memories = MemoryBank(sources, target=target).collect(frames, t_in=3)

    def loss_and_grads(model):
        torch.manual_seed(1)  # the same latent noise for a stochastic backbone
        out = model(frames, t_in=3)
        loss, _ = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=0.1)
        if model.stochastic:  # the prior trains through the KL term
            loss = loss + kl_loss(out.latents)
        return loss, torch.autograd.grad(loss, list(model.parameters()))

    loss, grads = loss_and_grads(net)
    cl_loss, cl_grads = loss_and_grads(copy.deepcopy(net).to(memory_format=torch.channels_last))
    torch.testing.assert_close(cl_loss, loss)
    for a, b in zip(cl_grads, grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
