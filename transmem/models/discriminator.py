"""The clip discriminator of the savp backbone's adversarial term (SAVP's GAN on videos, models/savp.py).

A small fully convolutional 3D network: it scores every spatiotemporal patch of a clip (B, T, C, H, W), so any
clip length and any frame size divisible by 4 work, and the least-squares GAN losses average over the patches.

    conv3d 3x4x4 stride (1, 2, 2) -> LeakyReLU(0.2) -> conv3d 3x4x4 stride (1, 2, 2) -> LeakyReLU(0.2) -> conv3d 3x3x3
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class ClipDiscriminator(nn.Module):
    def __init__(self, *, frame_channels: int, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(frame_channels, channels, (3, 4, 4), stride=(1, 2, 2), padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv3d(channels, 2 * channels, (3, 4, 4), stride=(1, 2, 2), padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv3d(2 * channels, 1, 3, padding=1),
        )

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Patch scores (B, T, H/4, W/4) of a clip (B, T, C, H, W): high = judged real."""
        if clip.ndim != 5 or clip.shape[-1] % 4 or clip.shape[-2] % 4:
            raise ValueError(f"the discriminator takes clips (B, T, C, H, W) with H and W divisible by 4, got "
                             f"{tuple(clip.shape)}")
        return self.net(rearrange(clip, "b t c h w -> b c t h w"))[:, 0]
