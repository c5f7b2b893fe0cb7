"""The loss terms of a stochastic target (the savp backbone, models/savp.py), added to any method's loss:

    lambda_kl * KL(q || p)  +  lambda_adv * L_G  +  L_D            (L_D and L_G: least-squares GAN)

so finetuning, memory transfer and the baselines train the posterior, the prior and (with lambda_adv > 0) the
discriminator as they train the generator.

One optimizer, one backward. L_D is computed on D(x) and D(x^.detach()), so it reaches the discriminator only;
L_G is computed with the discriminator's weights detached (torch.func.functional_call), so it reaches the
generator only. One gradient step then moves each player down its own loss (simultaneous gradient descent, one
of the standard ways to train a GAN), and the trainer, its checkpoints and its resume stay as they are. The
discriminator trains with the method but is not part of the test-time model.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from transmem.models.discriminator import ClipDiscriminator
from transmem.models.network import PredictiveNet, Rollout
from transmem.training.objective import kl_loss


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean (D(x) - 1)^2 + mean D(x^)^2."""
    return (real_scores.float() - 1).pow(2).mean() + fake_scores.float().pow(2).mean()


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """mean (D(x^) - 1)^2: the generator wants its clips judged real."""
    return (fake_scores.float() - 1).pow(2).mean()


class StochasticTerms(nn.Module):
    def __init__(self, *, lambda_kl: float, lambda_adv: float, frame_channels: int):
        super().__init__()
        if lambda_kl < 0 or lambda_adv < 0:
            raise ValueError(f"lambda_kl ({lambda_kl}) and lambda_adv ({lambda_adv}) must be >= 0")
        self.lambda_kl, self.lambda_adv = float(lambda_kl), float(lambda_adv)
        self.discriminator = ClipDiscriminator(frame_channels=frame_channels) if lambda_adv > 0 else None

    @classmethod
    def for_target(cls, config, net: PredictiveNet) -> "StochasticTerms | None":
        """The terms of a stochastic target; None for a deterministic one (which refuses a GAN weight)."""
        if net.stochastic:
            return cls(lambda_kl=config.lambda_kl, lambda_adv=config.lambda_adv,
                       frame_channels=net.config.frame_channels)
        if config.lambda_adv > 0:
            raise ValueError(f"lambda_adv is the adversarial term of the stochastic backbone; backbone "
                             f"'{net.config.backbone}' is deterministic: set lambda_adv=0 or model.backbone=savp")
        return None

    def forward(self, out: Rollout, truth: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """(the terms to add to the method's loss, their parts) for a training rollout and its true frames."""
        kl = kl_loss(out.latents)
        loss = self.lambda_kl * kl
        parts = {"kl": float(kl.detach())}
        if self.discriminator is not None:
            d = self.discriminator
            disc = lsgan_discriminator_loss(d(truth), d(out.frames.detach()))
            frozen = {name: p.detach() for name, p in d.named_parameters()}
            adv = lsgan_generator_loss(functional_call(d, frozen, (out.frames,)))
            loss = loss + self.lambda_adv * adv + disc
            parts.update(adv=float(adv.detach()), disc=float(disc.detach()))
        return loss, parts
