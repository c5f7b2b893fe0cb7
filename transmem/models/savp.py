"""The stochastic backbone `savp`: a ConvLSTM predictor (plain or TMU layers) whose every step also reads a latent
map z_t, drawn from a learned posterior in training and from a learned prior at test time. The design follows
SVG-LP (Denton & Fergus, 2018: per-step latent, learned prior, loss frame + KL) and SAVP (Lee et al., 2018: a
ConvLSTM generator, the latent as a spatial map, and a GAN term on clips added to the VAE); the code is this
project's own.

Step t reads frame X_t (the true frame or the network's own previous prediction, as the scheduled-sampling mask
says) and predicts X^_{t+1}. P(.) is the frame sub-scaling (space to depth) of the other backbones, so every map
below lives on the state grid (h, w) and nothing is tied to one frame size.

    prior      (H^p_t, C^p_t) = ConvLSTM_p(P(X_t), H^p_{t-1}, C^p_{t-1});     [mu^p_t, log s2^p_t] = W_p * H^p_t
               p(z_t | x_{<=t}) = N(mu^p_t, s2^p_t): it reads the step's input only (no frame it must predict)
    posterior  (H^q_t, C^q_t) = ConvLSTM_q(P(X_{t+1}), H^q_{t-1}, C^q_{t-1}); [mu^q_t, log s2^q_t] = W_q * H^q_t
               q(z_t | x_{<=t+1}) = N(mu^q_t, s2^q_t): it also reads the true frame the step predicts
    latent     z_t = mu + s * eps,  eps ~ N(0, I)   (Z channels on the state grid; `mean` modes take z_t = mu)
    generator  K ConvLSTM layers (each may be a TMU, paper Eqs. 2-5) on [P(X_t); z_t];  X^_{t+1} = P^-1(W_o * H^K_t)

(In SVG-LP's indexing the latent of frame t is z_t ~ q(z_t | x_{<=t}) or p(z_t | x_{<t}); here the latent is
indexed by the step that predicts that frame.)

Which distribution each step draws from (`LATENT_MODES`, the `latent` argument of `PredictiveNet.forward`):
    posterior       q at every step, sampled: training (the default)
    posterior-mean  q's mean at every step: a frozen source in the memory bank, a teacher in training
    prior           q on the steps that predict input frames, then p, sampled: test time (`predict`)
    prior-mean      the same with the means: a teacher at test time (ART)
The prior network runs at every step so that its state has read the whole past; at test time the posterior never
reads a frame past the inputs, so a prediction does not depend on the future (tests/test_savp.py).

Loss (training/stochastic.py adds the last two terms to every method's loss when the target is stochastic):

    L = L_method + lambda_kl * KL(q || p) + lambda_adv * L_G   (+ L_D, which moves the discriminator alone)
    KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2  per latent element,
        averaged over batch, steps, channels and positions (training/objective.py:kl_loss), as the frame loss is a
        per-pixel mean
    L_D = mean (D(x) - 1)^2 + mean D(x^)^2,   L_G = mean (D(x^) - 1)^2     (least-squares GAN; x: the true frames
        1..T-1, x^: the rollout's predictions; D: models/discriminator.py, a small 3D convolutional network)

lambda_kl and lambda_adv are `TrainConfig` keys; lambda_adv = 0 (the default) leaves the GAN out. One discriminator
judges the training rollout (posterior samples); SAVP has a second one on prior samples, left out here.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from transmem.models.cells.base import CellSpec
from transmem.models.cells.convlstm import ConvLSTMCell
from transmem.registry import check_choice

LATENT_MODES = ("posterior", "posterior-mean", "prior", "prior-mean")


class Latents(NamedTuple):
    """The posterior and prior Gaussians of the steps that drew from the posterior, each (B, S, Z, h, w)."""

    q_mu: torch.Tensor
    q_logvar: torch.Tensor
    p_mu: torch.Tensor
    p_logvar: torch.Tensor


class GaussianNet(nn.Module):
    """One small recurrent network (a ConvLSTM cell) and a 1x1 head giving the mean and log-variance of z_t."""

    def __init__(self, *, in_channels: int, channels: int, hidden: int, kernel_size: int, state_size: tuple[int, int]):
        super().__init__()
        self.cell = ConvLSTMCell(CellSpec(in_channels=in_channels, hidden=hidden, kernel_size=kernel_size,
                                          state_size=state_size))
        self.head = nn.Conv2d(hidden, 2 * channels, kernel_size=1)

    def forward(self, x: torch.Tensor, state: dict) -> tuple[dict, torch.Tensor, torch.Tensor]:
        state = self.cell(x, state).state
        mu, logvar = self.head(state["h"]).chunk(2, dim=1)
        return state, mu, logvar


class LatentModel(nn.Module):
    """The posterior q(z_t | x_{<=t+1}) and the learned prior p(z_t | x_{<=t}) of one savp network."""

    def __init__(self, *, in_channels: int, channels: int, hidden: int, kernel_size: int, state_size: tuple[int, int]):
        super().__init__()
        kw = dict(in_channels=in_channels, channels=channels, hidden=hidden, kernel_size=kernel_size,
                  state_size=state_size)
        self.channels = channels
        self.posterior = GaussianNet(**kw)
        self.prior = GaussianNet(**kw)

    def run(self, batch: int, *, mode: str, posterior_steps: int, generator: torch.Generator | None,
            device, dtype) -> "LatentRun":
        check_choice("latent", mode, LATENT_MODES)
        return LatentRun(self, batch, mode=mode, posterior_steps=posterior_steps, generator=generator,
                         device=device, dtype=dtype)


class LatentRun:
    """One rollout's latent: the two networks' states, the draw of each step, the Gaussians for the KL term."""

    def __init__(self, model: LatentModel, batch: int, *, mode: str, posterior_steps: int, generator, device, dtype):
        self.model, self.generator = model, generator
        self.mean = mode.endswith("-mean")
        self.posterior_steps = posterior_steps
        self.q_state = model.posterior.cell.init_state(batch, device=device, dtype=dtype)
        self.p_state = model.prior.cell.init_state(batch, device=device, dtype=dtype)
        self.records: list[tuple[torch.Tensor, ...]] = []

    def step(self, t: int, x: torch.Tensor, next_frame: torch.Tensor | None) -> torch.Tensor:
        """z_t for step t, which reads x (patches of X_t); next_frame: patches of the true X_{t+1}, if known."""
        self.p_state, p_mu, p_logvar = self.model.prior(x, self.p_state)
        if t < self.posterior_steps:
            if next_frame is None:
                raise ValueError(f"step {t} draws from the posterior but frame {t + 1} is not given")
            self.q_state, q_mu, q_logvar = self.model.posterior(next_frame, self.q_state)
            self.records.append((q_mu, q_logvar, p_mu, p_logvar))
            mu, logvar = q_mu, q_logvar
        else:
            mu, logvar = p_mu, p_logvar
        if self.mean:
            return mu
        eps = torch.randn(mu.shape, generator=self.generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def latents(self) -> Latents | None:
        if not self.records:
            return None
        return Latents(*(torch.stack(parts, dim=1) for parts in zip(*self.records)))
