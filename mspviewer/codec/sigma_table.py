"""The fixed table of scales σ used by the entropy coder.

Encoder and decoder each compute σ with floating point networks; tiny differences are
harmless as long as both map σ to the same *index* of this table, which is what the coder
uses. The table is log-spaced between ``sigma_min`` and ``sigma_max``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mspviewer.codec.config import CodingConfig


class SigmaTable:
    def __init__(self, config: CodingConfig):
        self.config = config
        self.log_min = math.log(config.sigma_min)
        self.log_step = (math.log(config.sigma_max) - self.log_min) / (config.sigma_levels - 1)
        # float64 values: what the coder is given, identical on every machine.
        self.values = np.exp(self.log_min + self.log_step * np.arange(config.sigma_levels))
        self.values[0], self.values[-1] = config.sigma_min, config.sigma_max

    def __len__(self) -> int:
        return len(self.values)

    def index_of(self, sigma: torch.Tensor) -> torch.Tensor:
        """Nearest table index in log space (int64 tensor on sigma's device)."""
        position = (torch.log(sigma.float().clamp_min(1e-12)) - self.log_min) / self.log_step
        # NaN would become int64's minimum and index out of range. It comes only from LOF's
        # diverged latent, whose cost is NaN anyway, so any valid index does: the coder
        # refuses non-finite latents and loading refuses non-finite weights.
        position = torch.nan_to_num(position, nan=0.0)
        return position.round().clamp_(0, len(self.values) - 1).long()

    def lookup(self, index: torch.Tensor) -> torch.Tensor:
        """σ values for table indices, as float32 on the index's device."""
        table = torch.as_tensor(self.values, dtype=torch.float32, device=index.device)
        return table[index]

    def quantize(self, sigma: torch.Tensor) -> torch.Tensor:
        """σ snapped to the table, as the coder sees it."""
        return self.lookup(self.index_of(sigma))
