"""Analysis g_a (image → latent, ÷16) and synthesis g_s (latent → image).

Four stride-2 5×5 convolutions with GDN, as in Ballé et al. 2018: small enough to train on
a CPU (≈3 M parameters at N=128, M=192; see docs/architecture.md for the choice).
"""

from __future__ import annotations

import torch
from torch import nn

from mspviewer.codec.config import TransformConfig
from mspviewer.codec.layers import GDN, down_conv, up_conv

DOWNSAMPLING = 16  # image pixels per latent position along each axis


class AnalysisTransform(nn.Sequential):
    def __init__(self, config: TransformConfig):
        n, m = config.channels, config.latent_channels
        super().__init__(
            down_conv(3, n), GDN(n),
            down_conv(n, n), GDN(n),
            down_conv(n, n), GDN(n),
            down_conv(n, m),
        )


#: latent positions (h·w) from which g_s runs channels-last: a 256×256 image
CHANNELS_LAST_MIN_POSITIONS = 256


class SynthesisTransform(nn.Sequential):
    """g_s. With its weights fixed (decoding, LOF) and a latent of a 256×256 image or more, it
    runs in channels-last memory layout: on one CPU thread, oneDNN's transposed convolutions
    were 1.2–1.4× faster without autograd and 1.1–1.4× with LOF's gradient at 256×384 and
    512×768, with the same output; at 128×128 they were 0.9–1.05× as fast, and training
    (weight gradients, fp32) 0.6–0.9× at every size, so g_s leaves those in the layout it is
    given; the trainer chooses that layout for the whole step (``training_layout``: channels-last
    under bf16 and on CUDA). g_a gained nothing reliable (``benchmarks/transform_layout.py``
    measures all of it side by side)."""

    def __init__(self, config: TransformConfig):
        n, m = config.channels, config.latent_channels
        super().__init__(
            up_conv(m, n), GDN(n, inverse=True),
            up_conv(n, n), GDN(n, inverse=True),
            up_conv(n, n), GDN(n, inverse=True),
            up_conv(n, 3),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        weights_fixed = not (torch.is_grad_enabled() and self[0].weight.requires_grad)
        if weights_fixed and y.shape[-2] * y.shape[-1] >= CHANNELS_LAST_MIN_POSITIONS:
            y = y.contiguous(memory_format=torch.channels_last)
        return super().forward(y)
