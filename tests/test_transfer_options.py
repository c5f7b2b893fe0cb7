"""Memory transfer beyond the paper: standardised distillation, beta decay and selective distillation, checked
against hand-written numpy references."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from transmem.models.memory_bank import MemoryBank
from transmem.models.network import NetConfig, PredictiveNet
from transmem.models.zoo import Source
from transmem.training.config import load_config
from transmem.training.methods.memory_transfer import MemoryTransfer
from transmem.training.objective import distill_loss

SHAPE = (3, 4, 2, 5, 6, 6)  # B, T, M, C, H, W


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(SHAPE, generator=g) * torch.tensor([0.1, 1.0, 5.0, 0.5, 2.0]).view(1, 1, 1, 5, 1, 1)
    distilled = source + torch.randn(SHAPE, generator=g) * 0.3
    return distilled, source


def test_standardised_divides_each_error_by_its_source_channels_variance():
    distilled, source = _pair()
    d, s = distilled.numpy().astype(np.float64), source.numpy().astype(np.float64)
    variance = s.var(axis=(0, 1, 4, 5))  # (M, C), over batch, time and positions
    expected = sum((((d[:, :, m] - s[:, :, m]) ** 2) / variance[m][None, None, :, None, None]).mean() for m in range(2))
    got = distill_loss({0: distilled}, {0: source}, norm="standardised")
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # standardising makes the loss blind to a channel's scale: scaling both memories of one channel changes nothing
    scaled_d, scaled_s = distilled.clone(), source.clone()
    scaled_d[:, :, :, 2] *= 100
    scaled_s[:, :, :, 2] *= 100
    assert float(distill_loss({0: scaled_d}, {0: scaled_s}, norm="standardised")) == pytest.approx(float(got), rel=1e-4)


def test_weights_pick_the_clips_steps_and_sources_that_are_distilled():
    distilled, source = _pair(1)
    ones = torch.ones(SHAPE[:3])
    assert float(distill_loss({0: distilled}, {0: source}, weights=ones)) == pytest.approx(
        float(distill_loss({0: distilled}, {0: source})), rel=1e-5)
    weights = torch.zeros(SHAPE[:3])
    weights[1, 2, 0] = weights[0, 3, 1] = 1.0
    d, s = distilled.numpy().astype(np.float64), source.numpy().astype(np.float64)
    b, t = SHAPE[:2]
    expected = (((d[1, 2, 0] - s[1, 2, 0]) ** 2).mean() + ((d[0, 3, 1] - s[0, 3, 1]) ** 2).mean()) / (b * t)
    assert float(distill_loss({0: distilled}, {0: source}, weights=weights)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"distillation weights have shape \(3, 4\)"):
        distill_loss({0: distilled}, {0: source}, weights=torch.ones(3, 4))


def _method(options, beta=0.1):
    config = load_config(None, ["model.hidden=[8,8]", "model.kernel_size=3", "model.patch_size=2", "model.released=false",
                                f"beta={beta}", "method=memory-transfer", f"method_options={options}"])
    torch.manual_seed(0)
    nets = [PredictiveNet(NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3)) for _ in range(2)]
    sources = [Source(name=f"s{m}", path=Path(f"s{m}"), net=net, card={}) for m, net in enumerate(nets)]
    return MemoryTransfer(config=config, frame_channels=1, frame_size=(16, 16), sources=sources)


@pytest.mark.parametrize("decay, at_quarter", [("none", 0.1), ("linear", 0.075),
                                               ("cosine", 0.1 * (1 + math.cos(math.pi / 4)) / 2)])
def test_beta_decays_with_training_progress(decay, at_quarter):
    method = _method(f"{{beta_decay: {decay}}}")
    method.set_progress(0.25)
    assert method.beta == pytest.approx(at_quarter)
    method.set_progress(0.0)
    assert method.beta == pytest.approx(0.1)


def test_bad_option_values_are_named():
    with pytest.raises(ValueError, match="method option beta_decay 'exp' is not one of none, linear, cosine"):
        _method("{beta_decay: exp}")
    with pytest.raises(ValueError, match="method option distill_where 'sometimes' is not one of always"):
        _method("{distill_where: sometimes}")


@pytest.mark.parametrize("batch_sources", [False, True])
def test_the_bank_reports_each_sources_own_next_frame_error(batch_sources):
    method = _method("{}")
    bank = MemoryBank(list(method.bank.sources), target=method.net.config, batch_sources=batch_sources)
    frames = torch.rand(2, 6, 1, 16, 16)
    mask = torch.ones(2, 4)
    memories, errors = bank.collect_with_errors(frames, t_in=3, mask=mask)
    assert errors.shape == (2, 5, 2)
    for m, source in enumerate(bank.sources):
        with torch.no_grad():
            predicted = source(frames, t_in=3, mask=mask).frames.numpy()
        expected = ((predicted - frames[:, 1:].numpy()) ** 2).mean(axis=(2, 3, 4))
        np.testing.assert_allclose(errors[:, :, m].numpy(), expected, rtol=1e-4, atol=1e-7)
    plain = bank.collect(frames, t_in=3, mask=mask)
    for k in plain:
        torch.testing.assert_close(plain[k], memories[k])


def test_source_better_distils_only_where_the_source_predicted_better():
    method = _method("{distill_where: source-better}")
    frames = torch.rand(2, 6, 1, 16, 16)
    mask = torch.ones(2, 4)
    loss, parts = method(frames, mask=mask, t_in=3)
    memories, source_errors = method.bank.collect_with_errors(frames, t_in=3, mask=mask)
    with torch.no_grad():
        out = method.net(frames, t_in=3, mask=mask)
    target_errors = ((out.frames - frames[:, 1:]) ** 2).mean(dim=(2, 3, 4))
    weights = (source_errors < target_errors[..., None]).float()
    assert parts["distilled_share"] == pytest.approx(float(weights.mean()))
    expected = distill_loss(out.distilled, memories, weights=weights)
    assert parts["distill"] == pytest.approx(float(expected), rel=1e-5)
    # a source worse than the target everywhere is never distilled
    method.bank.sources[0].head.weight.data.fill_(10.0)
    method.bank.sources[1].head.weight.data.fill_(10.0)
    _, parts = method(frames, mask=mask, t_in=3)
    assert parts["distilled_share"] == 0.0 and parts["distill"] == 0.0


def test_tmu_combine_reaches_every_tmu_layer_and_the_checkpoint_description():
    method = _method("{}")
    assert [cell.tmu.combine for cell in method.net.cells] == ["paper", "paper"]  # the paper cell: every layer
    assert "tmu_combine" not in method.net.config.to_dict()  # Eq. 5's checkpoints are described as before
    config = load_config(None, ["model.hidden=[8,8]", "model.kernel_size=3", "model.patch_size=2",
                                "model.tmu_combine=convex", "method=memory-transfer"])
    # saved configs name it only when it is not Eq. 5, so committed study results still match their study files
    assert config.to_dict()["model"]["tmu_combine"] == "convex"
    assert "tmu_combine" not in load_config(None, []).to_dict()["model"]
    nets = [PredictiveNet(NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3)) for _ in range(2)]
    sources = [Source(name=f"s{m}", path=Path(f"s{m}"), net=net, card={}) for m, net in enumerate(nets)]
    convex = MemoryTransfer(config=config, frame_channels=1, frame_size=(16, 16), sources=sources)
    assert [getattr(cell.tmu, "combine", None) for cell in convex.net.cells] == ["convex", None]  # released: layer 0
    described = convex.net.config.to_dict()
    assert described["tmu_combine"] == "convex" and NetConfig.from_dict(described) == convex.net.config
    # finetuning into a TMU network reads the same settings
    from transmem.training.methods.finetune import Finetune

    config.method, config.method_options = "finetune", {"tmu": True}
    into_tmu = Finetune(config=config, frame_channels=1, frame_size=(16, 16), sources=sources[:1])
    assert [getattr(cell.tmu, "combine", None) for cell in into_tmu.net.cells] == ["convex", None]
    with pytest.raises(ValueError, match="tmu_combine 'mean' is not one of paper, convex"):
        NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3, n_sources=2, tmu_combine="mean")
