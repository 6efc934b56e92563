"""Layers written here so the codec needs no compressai/torchvision (they pull CUDA torch)."""

from __future__ import annotations

import torch
from torch import nn


class GDN(nn.Module):
    """Generalised divisive normalisation (Ballé et al. 2016), or its inverse.

    y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)   (inverse: multiply instead of divide).
    β and γ are kept non-negative by squaring their stored square roots, with a small
    floor on β so the denominator never reaches zero.
    """

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1,
                 beta_min: float = 1e-6):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta_root = nn.Parameter(torch.ones(channels))
        self.gamma_root = nn.Parameter(torch.eye(channels) * gamma_init ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = self.beta_root.square() + self.beta_min
        gamma = self.gamma_root.square().view(channels, channels, 1, 1)
        norm = nn.functional.conv2d(x.square(), gamma.to(x.dtype), beta.to(x.dtype))
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def down_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """5×5 convolution with stride 2 (halves height and width)."""
    return nn.Conv2d(in_channels, out_channels, 5, stride=2, padding=2)


def up_conv(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """5×5 transposed convolution with stride 2 (doubles height and width exactly)."""
    return nn.ConvTranspose2d(in_channels, out_channels, 5, stride=2, padding=2,
                              output_padding=1)
