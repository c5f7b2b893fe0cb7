"""The predictive networks, the TMU and the memory bank (paper section 3)."""
import pytest
import torch

from transmem.models import MemoryBank, NetConfig, PredictiveNet, count_parameters
from transmem.models.cells.base import CellSpec
from transmem.models.cells.convlstm import ConvLSTMCell
from transmem.registry import BACKBONES
from transmem.training.objective import kl_loss, transfer_objective

SMALL = dict(frame_size=(16, 16), patch_size=2, hidden=(8, 8, 8), kernel_size=3)
VARIANTS = {"plain": {}, "tmu": {"n_sources": 2}, "released": {"n_sources": 2, "released": True}}


def small(backbone="convlstm", **kw):
    return NetConfig(backbone=backbone, **{**SMALL, **kw})


@pytest.mark.parametrize("backbone", BACKBONES.names())
@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_every_parameter_trains(backbone, variant):
    cfg = small(backbone, **VARIANTS[variant])
    net = PredictiveNet(cfg)
    frames = torch.rand(2, 6, 1, 16, 16)
    out = net(frames, t_in=3, memory_layers=[0, 2])
    assert out.frames.shape == (2, 5, 1, 16, 16)
    assert {k: tuple(v.shape) for k, v in out.memories.items()} == {0: (2, 5, 8, 8, 8), 2: (2, 5, 8, 8, 8)}
    expected_tmu = {"plain": [], "tmu": [0, 1, 2], "released": [0]}[variant]
    assert sorted(out.distilled) == expected_tmu
    for k in expected_tmu:
        assert out.distilled[k].shape == (2, 5, 2, 8, 8, 8)
        assert out.gate_maps[k].shape == (2, 5, 2, 8, 8)
    memories = {k: torch.randn_like(v) for k, v in out.distilled.items()} if expected_tmu else None
    loss, _ = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories)
    if net.stochastic:  # the prior trains through the KL term alone (models/savp.py)
        loss = loss + kl_loss(out.latents)
    loss.backward()
    unused = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unused == []


def test_gradients_reach_distillers_and_gates_never_sources():
    cfg = small(n_sources=2)
    net = PredictiveNet(cfg)
    sources = [PredictiveNet(small()) for _ in range(2)]
    bank = MemoryBank(sources, target=cfg)
    frames = torch.rand(2, 6, 1, 16, 16)
    memories = bank.collect(frames, t_in=3)
    assert all(not m.requires_grad for m in memories.values())
    out = net(frames, t_in=3)
    # distillation alone must move the distillers (Eq. 4)...
    _, parts = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories)
    from transmem.training.objective import distill_loss

    distill_loss(out.distilled, memories).backward(retain_graph=True)
    for cell in net.cells:
        assert cell.tmu.distill.weight.grad.abs().sum() > 0
    # ...and the frame loss must move the transfer-gate weights (the last M*C output channels of the gate conv).
    net.zero_grad()
    torch.nn.functional.mse_loss(out.frames, frames[:, 1:]).backward()
    for cell in net.cells:
        gate_rows = cell.gate_conv.weight.grad[cell.n_gates * cell.spec.hidden :]
        assert gate_rows.shape[0] == 2 * cell.spec.hidden and gate_rows.abs().sum() > 0
    for source in sources:
        assert all(p.grad is None and not p.requires_grad for p in source.parameters())
    assert parts["distill"] > 0


def _sig(x):
    return 1 / (1 + torch.exp(-x))


def test_tmu_step_matches_hand_computation_of_eqs_2_to_5():
    """A 1x1-kernel TMU-ConvLSTM with 2 hidden channels and 2 sources, weights fixed, against Eqs. 2-5 written out."""
    C, M = 2, 2
    cell = ConvLSTMCell(CellSpec(in_channels=1, hidden=C, kernel_size=1, state_size=(2, 3), n_sources=M, peepholes=True))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    x = torch.randn(1, 1, 2, 3, generator=g)
    h = torch.randn(1, C, 2, 3, generator=g)
    c = torch.randn(1, C, 2, 3, generator=g)
    step = cell(x, {"h": h, "c": c})

    W = cell.gate_conv.weight[:, :, 0, 0]  # rows: i(2) f(2) g(2) o(2) a1(2) a2(2); cols: x(1), h(2)
    b = cell.gate_conv.bias

    def pre(row):  # W_x * X + W_h * H + b for one output channel, written per pixel
        return W[row, 0] * x[0, 0] + W[row, 1] * h[0, 0] + W[row, 2] * h[0, 1] + b[row]

    pi, pf, pc = cell.peep_i.flatten(), cell.peep_f.flatten(), cell.peep_o.flatten()
    i = torch.stack([_sig(pre(0 + j) + pi[j] * c[0, j]) for j in range(C)])
    f = torch.stack([_sig(pre(2 + j) + pf[j] * c[0, j]) for j in range(C)])
    gg = torch.stack([torch.tanh(pre(4 + j)) for j in range(C)])
    c_tilde = f * c[0] + i * gg  # Eq. 2
    Wd = cell.tmu.distill.weight[:, :, 0, 0]  # (M*C, C)
    gamma, beta = cell.tmu.norm.weight, cell.tmu.norm.bias
    c_hat, a = [], []
    for m in range(M):
        z = torch.stack([Wd[m * C + j, 0] * c_tilde[0] + Wd[m * C + j, 1] * c_tilde[1] for j in range(C)])
        mu, var = z.mean(), z.var(unbiased=False)
        zn = (z - mu) / torch.sqrt(var + 1e-5)
        c_hat.append(torch.stack([zn[j] * gamma[m * C + j] + beta[m * C + j] for j in range(C)]))  # Eq. 3
        a.append(torch.stack([_sig(pre(8 + m * C + j)) for j in range(C)]))
    c_t = c_tilde + sum(a[m] * c_hat[m] + (1 - a[m]) * c_tilde for m in range(M))  # Eq. 5
    o = torch.stack([_sig(pre(6 + j) + pc[j] * c_t[j]) for j in range(C)])
    h_t = o * torch.tanh(c_t)

    torch.testing.assert_close(step.state["c"][0], c_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step.state["h"][0], h_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step.distilled[0], torch.stack(c_hat), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(step.gates[0], torch.stack(a), atol=1e-6, rtol=1e-6)


def _manual_teacher_forcing(net, frames):
    """The rollout written out; a stochastic network with its posterior's mean (its latent's own loop is
    tests/test_savp.py)."""
    patches = net.to_patches(frames)
    b = frames.shape[0]
    states = [cell.init_state(b, device=frames.device, dtype=frames.dtype) for cell in net.cells]
    zigzag = torch.zeros(b, net.config.hidden[-1], *net.config.state_size) if net.zigzag else None
    if net.stochastic:
        q_state = net.latent.posterior.cell.init_state(b, device=frames.device, dtype=frames.dtype)
    preds = []
    for t in range(frames.shape[1] - 1):
        x = patches[:, t]
        if net.stochastic:
            q_state, mu, _ = net.latent.posterior(patches[:, t + 1], q_state)
            x = torch.cat([x, mu], dim=1)
        for layer, cell in enumerate(net.cells):
            step = cell(x, states[layer], zigzag)
            states[layer], zigzag, x = step.state, step.zigzag, step.state["h"]
        preds.append(net.head(x))
    return net.from_patches(torch.stack(preds, dim=1))


@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_all_ones_mask_is_teacher_forcing(backbone):
    net = PredictiveNet(small(backbone, n_sources=1))
    frames = torch.rand(3, 7, 1, 16, 16)
    latent = {"latent": "posterior-mean"} if net.stochastic else {}
    out = net(frames, t_in=3, mask=torch.ones(3, 5), **latent)
    torch.testing.assert_close(out.frames, _manual_teacher_forcing(net, frames))
    # the default (test-time) mask differs from teacher forcing after t_in
    default = net(frames, t_in=3, **latent).frames
    torch.testing.assert_close(default[:, :3], out.frames[:, :3])
    assert not torch.allclose(default[:, 3:], out.frames[:, 3:])


def test_per_sample_mask_mixes_samples_independently():
    net = PredictiveNet(small())
    frames = torch.rand(2, 6, 1, 16, 16)
    mask = torch.tensor([[1.0] * 4, [1.0, 1.0, 0.0, 0.0]])
    mixed = net(frames, t_in=3, mask=mask).frames
    torch.testing.assert_close(mixed[0], net(frames, t_in=3, mask=torch.ones(2, 4)).frames[0])
    torch.testing.assert_close(mixed[1], net(frames, t_in=3).frames[1])


def test_predict_needs_only_input_frames_and_no_source():
    cfg = small("predrnn", n_sources=3)
    net = PredictiveNet(cfg)
    frames = torch.rand(2, 8, 1, 16, 16)
    future = net.predict(frames[:, :4], horizon=4)
    assert future.shape == (2, 4, 1, 16, 16)
    net.eval()
    with torch.no_grad():
        full = net(frames, t_in=4).frames[:, 3:]
    torch.testing.assert_close(future, full)
    longer = net.predict(frames[:, :4], horizon=9)
    assert longer.shape == (2, 9, 1, 16, 16)
    torch.testing.assert_close(longer[:, :4], future)


def test_source_with_other_patch_size_and_depth_aligns():
    target = NetConfig(frame_size=(32, 32), patch_size=4, hidden=(8, 8, 8, 8), kernel_size=3, n_sources=2)
    src_patch2 = PredictiveNet(NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3))
    src_rgb = PredictiveNet(NetConfig(frame_channels=3, frame_size=(32, 32), patch_size=4, hidden=(8,) * 4, kernel_size=3))
    bank = MemoryBank([src_patch2, src_rgb], target=target)
    assert bank.layer_maps[0] == {0: 0, 1: 0, 2: 1, 3: 1}
    frames = torch.rand(2, 5, 1, 32, 32)
    memories = bank.collect(frames, t_in=2)
    assert set(memories) == {0, 1, 2, 3}
    assert memories[2].shape == (2, 4, 2, 8, 8, 8)
    # the small source saw the frames area-downsampled to its own 16x16 size
    down = torch.nn.functional.avg_pool2d(frames.flatten(0, 1), 2).view(2, 5, 1, 16, 16)
    own = src_patch2(down, t_in=2, memory_layers=[1]).memories[1]
    torch.testing.assert_close(memories[2][:, :, 0], own)


def test_misaligned_source_gives_clear_error():
    target = NetConfig(frame_size=(32, 32), patch_size=4, hidden=(8, 8), kernel_size=3, n_sources=1)
    wrong_patch = PredictiveNet(NetConfig(frame_size=(32, 32), patch_size=2, hidden=(8, 8), kernel_size=3))
    with pytest.raises(ValueError, match=r"\(8, 16, 16\).*\(8, 8, 8\).*patch_size=4.*patch_size=2"):
        MemoryBank([wrong_patch], target=target)
    wrong_width = PredictiveNet(NetConfig(frame_size=(32, 32), patch_size=4, hidden=(16, 16), kernel_size=3))
    with pytest.raises(ValueError, match=r"\(16, 8, 8\).*\(8, 8, 8\).*16 hidden channels"):
        MemoryBank([wrong_width], target=target)
    with pytest.raises(ValueError, match="n_sources=2"):
        MemoryBank([wrong_width, wrong_width], target=target)


def test_bad_frames_are_refused_in_one_line():
    net = PredictiveNet(small())
    with pytest.raises(ValueError, match=r"\(B, T, 1, 16, 16\)"):
        net(torch.rand(2, 6, 3, 16, 16), t_in=3)
    bad = torch.rand(2, 6, 1, 16, 16)
    bad[0, 2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        net(bad, t_in=3)
    with pytest.raises(ValueError, match="mask"):
        net(torch.rand(2, 6, 1, 16, 16), t_in=3, mask=torch.ones(2, 5))


def test_parameter_counts_match_the_paper_table_1():
    """4 x 64 hidden, 5x5, 64x64x1 frames with patch 4 -> 16 input channels, 1x1 output conv without bias."""
    gate_conv = lambda cin: (cin + 64) * 4 * 64 * 25 + 4 * 64  # noqa: E731
    convlstm = gate_conv(16) + 3 * gate_conv(64) + 64 * 16
    assert convlstm == 2_971_648  # paper: 3.0M
    assert count_parameters(PredictiveNet(NetConfig())) == convlstm
    # released TMU, layer 0: gate conv with 6 x 64 outputs + LayerNorm over (384, 16, 16) + 2 distillers (1x1 + LN)
    released_layer0 = (16 + 64) * 384 * 25 + 384 + 2 * 384 * 256 + 2 * (64 * 64 + 2 * 64 * 256)
    released = convlstm - gate_conv(16) + released_layer0
    assert released == 3_498_112  # paper: 3.6M at test
    assert count_parameters(PredictiveNet(NetConfig(n_sources=2, released=True))) == released
    assert released + 2 * convlstm == 9_441_408  # paper: 9.5M in training with both sources


def test_config_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="patch size"):
        NetConfig(frame_size=(30, 30), patch_size=4)
    with pytest.raises(ValueError, match="peephole"):
        NetConfig(backbone="predrnn", peepholes=True)
    with pytest.raises(ValueError, match="tmu_layers"):
        NetConfig(n_sources=1, tmu_layers=(5,))
    with pytest.raises(KeyError, match="unknown backbone"):
        NetConfig(backbone="transformer")
    assert NetConfig.from_dict(NetConfig(n_sources=2, tmu_layers=[2, 0]).to_dict()).tmu_layers == (0, 2)
