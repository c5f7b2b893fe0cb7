"""The stochastic backbone savp (models/savp.py): its latent against the equations written out, the KL and GAN terms
against hand computations, what a test-time sample may read, seeds, and best-of-N sampling."""
import copy
import math

import numpy as np
import pytest
import torch

from transmem.evaluation.samples import best_of_samples, sample_futures
from transmem.models import MemoryBank, NetConfig, PredictiveNet
from transmem.models.discriminator import ClipDiscriminator
from transmem.models.savp import Latents
from transmem.training.objective import gaussian_kl, kl_loss
from transmem.training.stochastic import StochasticTerms, lsgan_discriminator_loss, lsgan_generator_loss

SMALL = dict(backbone="savp", frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3, latent_channels=3,
             latent_hidden=4)


def savp(**kw) -> PredictiveNet:
    return PredictiveNet(NetConfig(**{**SMALL, **kw}))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- the KL and GAN terms ----------------------------------------------------------------------------------------
def test_kl_of_two_gaussians_matches_the_hand_computation():
    # KL(N(1, 1) || N(0, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    kl = gaussian_kl(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0), torch.tensor(math.log(4.0)))
    assert float(kl) == pytest.approx(math.log(2) + 0.25 - 0.5, abs=1e-6)
    # KL(N(0, 3^2) || N(2, 1)) = log(1/3) + (9 + 4) / 2 - 1/2
    kl = gaussian_kl(torch.tensor(0.0), torch.tensor(math.log(9.0)), torch.tensor(2.0), torch.tensor(0.0))
    assert float(kl) == pytest.approx(math.log(1 / 3) + 6.5 - 0.5, abs=1e-6)
    assert float(gaussian_kl(*(torch.tensor(0.3),) * 2, torch.tensor(0.3), torch.tensor(0.3))) == pytest.approx(0.0)
    # kl_loss: the mean over every element, against numpy with standard deviations
    rng = np.random.default_rng(0)
    m1, m2, s1, s2 = rng.normal(size=(4, 2, 3, 2, 2, 2))
    s1, s2 = np.exp(s1), np.exp(s2)
    reference = (np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).mean()
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    latents = Latents(t(m1), t(np.log(s1**2)), t(m2), t(np.log(s2**2)))
    assert float(kl_loss(latents)) == pytest.approx(reference, rel=1e-12)
    with pytest.raises(ValueError, match="no KL term"):
        kl_loss(None)


def test_least_squares_gan_losses_match_hand_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.0])
    assert float(lsgan_discriminator_loss(real, fake)) == pytest.approx((0 + 1) / 2 + (0.25 + 1) / 2)
    assert float(lsgan_generator_loss(fake)) == pytest.approx((0.25 + 0) / 2)


def test_discriminator_scores_patches_and_every_weight_trains():
    d = ClipDiscriminator(frame_channels=3, channels=4)
    scores = d(torch.rand(2, 5, 3, 16, 12))
    assert scores.shape == (2, 5, 4, 3)
    lsgan_discriminator_loss(d(torch.rand(2, 5, 3, 16, 12)), scores).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
    with pytest.raises(ValueError, match="divisible by 4"):
        d(torch.rand(2, 5, 3, 18, 16))


def test_each_gan_player_gets_the_gradient_of_its_own_loss_only():
    net = savp()
    frames = torch.rand(2, 6, 1, 16, 16)
    out = net(frames, t_in=3)
    terms = StochasticTerms(lambda_kl=0.0, lambda_adv=1.0, frame_channels=1)
    loss, parts = terms(out, frames[:, 1:])
    assert set(parts) == {"kl", "adv", "disc"}
    d_params, g_params = list(terms.discriminator.parameters()), list(net.head.parameters())
    grads = torch.autograd.grad(loss, d_params + g_params, retain_graph=True)
    # references: D's loss on detached predictions; G's loss through a frozen copy of D
    d = terms.discriminator
    d_ref = torch.autograd.grad(lsgan_discriminator_loss(d(frames[:, 1:]), d(out.frames.detach())), d_params)
    frozen = copy.deepcopy(d).requires_grad_(False)
    g_ref = torch.autograd.grad(lsgan_generator_loss(frozen(out.frames)), g_params)
    for got, want in zip(grads, d_ref + g_ref):
        torch.testing.assert_close(got, want)
    assert parts["adv"] == pytest.approx(float(lsgan_generator_loss(frozen(out.frames)).detach()))


# -- the network --------------------------------------------------------------------------------------------------
def test_config_sizes_the_latent_and_deterministic_backbones_refuse_it():
    cfg = NetConfig(backbone="savp", frame_size=(16, 16), patch_size=2, hidden=(8, 8))
    assert (cfg.latent_channels, cfg.latent_hidden) == (8, 32)
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    net = PredictiveNet(cfg)
    assert net.cells[0].gate_conv.in_channels == 4 + 8 + 8  # patches, the latent map, H
    assert NetConfig(frame_size=(16, 16), patch_size=2).latent_channels is None
    with pytest.raises(ValueError, match="deterministic and has no latent"):
        NetConfig(backbone="convlstm", latent_channels=4)
    with pytest.raises(ValueError, match="latent_hidden must be >= 1"):
        NetConfig(backbone="savp", latent_hidden=0)


def test_latent_shapes_and_modes():
    net = savp(n_sources=2)
    frames = torch.rand(2, 6, 1, 16, 16)
    out = net(frames, t_in=3)
    assert sorted(out.distilled) == [0, 1] and out.frames.shape == (2, 5, 1, 16, 16)
    assert all(x.shape == (2, 5, 3, 8, 8) for x in out.latents)  # every step drew from the posterior
    test_time = net(frames, t_in=3, latent="prior", generator=seeded(0))
    assert all(x.shape == (2, 2, 3, 8, 8) for x in test_time.latents)  # the two steps that predict input frames
    for mode in ("posterior-mean", "prior-mean"):  # no noise: a function of the clip
        torch.testing.assert_close(net(frames, t_in=3, latent=mode).frames, net(frames, t_in=3, latent=mode).frames)
    with pytest.raises(ValueError, match="latent 'median' is not one of posterior, posterior-mean, prior"):
        net(frames, t_in=3, latent="median")
    plain = PredictiveNet(NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8,), kernel_size=3))
    assert not plain.stochastic and plain(frames, t_in=3).latents is None
    for kw in ({"latent": "prior"}, {"generator": seeded(0)}):
        with pytest.raises(ValueError, match="deterministic: it has no latent"):
            plain(frames, t_in=3, **kw)
    with pytest.raises(ValueError, match="deterministic: it has no latent"):
        plain.predict(frames[:, :3], 2, generator=seeded(0))


def _manual_sample(net, frames_in, horizon, generator):
    """`predict` written from the module docstring's equations: the prior reads each step's input, the posterior
    the next true frame on the input steps; z = mu + sigma * eps; the generator reads [P(X_t); z_t]."""
    p = net.to_patches(frames_in)
    b, t_in = p.shape[:2]
    kw = dict(device=p.device, dtype=p.dtype)
    states = [cell.init_state(b, **kw) for cell in net.cells]
    q_state = net.latent.posterior.cell.init_state(b, **kw)
    p_state = net.latent.prior.cell.init_state(b, **kw)
    preds, x = [], None
    for t in range(t_in + horizon - 1):
        x = p[:, t] if t < t_in else preds[-1]
        p_state, mu, logvar = net.latent.prior(x, p_state)
        if t < t_in - 1:
            q_state, mu, logvar = net.latent.posterior(p[:, t + 1], q_state)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
        h = torch.cat([x, z], dim=1)
        for layer, cell in enumerate(net.cells):
            states[layer] = cell(h, states[layer]).state
            h = states[layer]["h"]
        preds.append(net.head(h))
    return net.from_patches(torch.stack(preds, dim=1))[:, -horizon:]


def test_prediction_is_the_equations_written_out():
    net = savp(n_sources=1, released=True).eval()
    frames_in = torch.rand(2, 3, 1, 16, 16)
    with torch.no_grad():
        want = _manual_sample(net, frames_in, 3, seeded(5))
    torch.testing.assert_close(net.predict(frames_in, 3, generator=seeded(5)), want)


def test_a_test_time_sample_does_not_depend_on_the_future():
    net = savp().eval()
    frames = torch.rand(2, 7, 1, 16, 16)
    other = frames.clone()
    other[:, 3:] = torch.rand(2, 4, 1, 16, 16)  # another future after the 3 input frames
    with torch.no_grad():
        a = net(frames, t_in=3, latent="prior", generator=seeded(1)).frames
        b = net(other, t_in=3, latent="prior", generator=seeded(1)).frames
        torch.testing.assert_close(a, b)
        # predict never sees the future; it draws the same sample as the prior rollout
        torch.testing.assert_close(net.predict(frames[:, :3], 4, generator=seeded(1)), a[:, 2:])
        # the training rollout's posterior reads the future: there the predictions change
        c = net(frames, t_in=3, generator=seeded(1)).frames
        d = net(other, t_in=3, generator=seeded(1)).frames
    assert not torch.allclose(c[:, 2:], d[:, 2:])


def test_seeds_decide_the_samples():
    net = savp().eval()
    frames_in = torch.rand(2, 3, 1, 16, 16)
    one = net.predict(frames_in, 3, generator=seeded(7))
    torch.testing.assert_close(net.predict(frames_in, 3, generator=seeded(7)), one)
    assert not torch.allclose(net.predict(frames_in, 3, generator=seeded(8)), one)
    many = sample_futures(net, frames_in, 3, n=4, generator=seeded(7))
    assert many.shape == (2, 4, 3, 1, 16, 16)
    torch.testing.assert_close(sample_futures(net, frames_in, 3, n=4, generator=seeded(7)), many)
    assert not torch.allclose(many[:, 0], many[:, 1])  # the samples of one input differ


def test_n_samples_are_one_rollout_of_n_times_b_sequences():
    net = savp().eval()
    frames_in = torch.rand(2, 3, 1, 16, 16)
    batches = []
    original = PredictiveNet.rollout

    def spy(self, known, **kw):
        batches.append(known.shape[0])
        return original(self, known, **kw)

    PredictiveNet.rollout = spy
    try:
        many = sample_futures(net, frames_in, 3, n=5, generator=seeded(3))
    finally:
        PredictiveNet.rollout = original
    assert batches == [10]
    # sample k of sequence b is row k * B + b of that one rollout
    flat = net.predict(frames_in.repeat(5, 1, 1, 1, 1), 3, generator=seeded(3))
    torch.testing.assert_close(many[1, 3], flat[3 * 2 + 1])


def test_best_of_n_picks_each_metrics_best_sample_and_is_never_worse_than_the_mean():
    # two sequences, three samples, two frames: hand-made scores
    f64 = dict(dtype=torch.float64)
    mse = torch.tensor([[[4.0, 2.0], [1.0, 1.0], [9.0, 0.0]], [[3.0, 3.0], [5.0, 0.0], [2.0, 6.0]]], **f64)
    ssim = torch.tensor([[[0.2, 0.4], [0.9, 0.1], [0.3, 0.3]], [[0.5, 0.5], [0.1, 0.2], [0.6, 0.7]]], **f64)
    psnr = torch.tensor([[[20.0, math.inf], [30.0, 10.0], [25.0, 24.0]], [[math.inf] * 2, [40.0, 41.0], [1.0, 2.0]]],
                        dtype=torch.float64)
    best = best_of_samples({"mse": mse, "mae": mse.sqrt(), "ssim": ssim, "psnr": psnr})
    # frame means: sequence 0 has MSE 3, 1, 4.5 (sample 2 best), sequence 1 has 3, 2.5, 4 (sample 2 again)
    torch.testing.assert_close(best["mse"], torch.tensor([[1.0, 1.0], [5.0, 0.0]], dtype=torch.float64))
    # SSIM 0.3, 0.5, 0.3 (sample 2) and 0.5, 0.15, 0.65 (sample 3): another sample than MSE's for sequence 1
    torch.testing.assert_close(best["ssim"], torch.tensor([[0.9, 0.1], [0.6, 0.7]], dtype=torch.float64))
    # PSNR ranks by finite frames (20, 20, 24.5: sample 3), and a sample exact in every frame ranks first
    torch.testing.assert_close(best["psnr"], torch.tensor([[25.0, 24.0], [math.inf, math.inf]], dtype=torch.float64))
    rng = torch.Generator().manual_seed(0)
    values = torch.rand(6, 5, 4, generator=rng, dtype=torch.float64)
    picked = best_of_samples({"mse": values, "ssim": values})
    assert (picked["mse"].mean(1) <= values.mean(2).mean(1) + 1e-12).all()
    assert (picked["ssim"].mean(1) >= values.mean(2).mean(1) - 1e-12).all()


def test_memory_bank_runs_a_stochastic_source_with_its_posterior_mean():
    target = NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3, n_sources=2)
    source, plain = savp(), PredictiveNet(target.replace(n_sources=0))
    bank = MemoryBank([source, plain], target=target)
    frames = torch.rand(2, 6, 1, 16, 16)
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    memories = bank.collect(frames, t_in=3, mask=mask)
    torch.testing.assert_close(memories[1], bank.collect(frames, t_in=3, mask=mask)[1])  # no sampling noise
    with torch.no_grad():
        mean = source(frames, t_in=3, mask=mask, memory_layers=[1], latent="posterior-mean").memories[1]
        prior = source(frames, t_in=3, mask=mask, memory_layers=[1], latent="prior-mean").memories[1]
    torch.testing.assert_close(memories[1][:, :, 0], mean)
    assert not torch.allclose(memories[1][:, 2:, 0], prior[:, 2:])  # the choice matters after the input steps


def test_evaluate_samples_against_numpy_on_radar_like_data():
    from transmem.data.base import SequenceData
    from transmem.evaluation.samples import evaluate_samples

    rng = np.random.default_rng(0)
    frames = rng.random((5, 5, 1, 16, 16)).astype(np.float32)
    data = SequenceData("fixture", "test", frames, 3, 2, {"dbz": {"scale": 70.0, "offset": -10.0}})
    net = savp().eval()
    result = evaluate_samples(net, data, samples=3, seed=4, batch_size=2, thresholds=(20.0,))
    # the same draws, batch by batch, scored with numpy
    g, futures = seeded(4), []
    for start in range(0, 5, 2):
        clip = torch.from_numpy(frames[start : start + 2])
        futures.append(sample_futures(net, clip[:, :3], 2, n=3, generator=g).clamp(0, 1).numpy())
    pred = np.concatenate(futures).astype(np.float64)  # (5, 3, 2, 1, 16, 16)
    truth = frames[:, None, 3:].astype(np.float64)
    mse = ((pred - truth) ** 2).sum(axis=(3, 4, 5))  # (sequences, samples, frames)
    assert result["best"]["mse"] == pytest.approx(mse.mean(axis=2).min(axis=1).mean(), rel=1e-9)
    assert result["mean"]["mse"] == pytest.approx(mse.mean(), rel=1e-9)
    assert result["mean"]["n_sequences"] == result["best"]["n_sequences"] == 5
    p, o = pred * 70 - 10 >= 20, np.broadcast_to(truth * 70 - 10 >= 20, pred.shape)
    hits, misses, false = (p & o).sum(), (o & ~p).sum(), (p & ~o).sum()
    assert result["mean"]["csi_pooled"][0] == pytest.approx(hits / (hits + misses + false))
    assert "csi" not in result["best"]
    with pytest.raises(ValueError, match="deterministic"):
        evaluate_samples(PredictiveNet(NetConfig(frame_size=(16, 16), patch_size=2, hidden=(8,))), data, samples=2)
