"""Analysis g_a (image → latent, ÷16) and synthesis g_s (latent → image).

Four stride-2 5×5 convolutions with GDN, as in Ballé et al. 2018: small enough to train on
a CPU (≈3 M parameters at N=128, M=192; see docs/architecture.md for the choice).
"""

from __future__ import annotations

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


class SynthesisTransform(nn.Sequential):
    def __init__(self, config: TransformConfig):
        n, m = config.channels, config.latent_channels
        super().__init__(
            up_conv(m, n), GDN(n, inverse=True),
            up_conv(n, n), GDN(n, inverse=True),
            up_conv(n, n), GDN(n, inverse=True),
            up_conv(n, 3),
        )
