"""Variable rate with per-λ gain vectors (Cui et al. 2021, "asymmetric gained" VAE).

For each λ of the trained ladder the model learns a gain vector g (applied to the latent
before quantisation) and an inverse gain g' (applied before synthesis). Between two ladder
points, both are interpolated geometrically, so any λ in the trained range can be encoded
with the one model. Gains are stored as logarithms: geometric interpolation is then linear.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import torch
from torch import nn

from mspviewer.errors import MSPViewerError


class LambdaOutOfRangeError(MSPViewerError):
    pass


@dataclass(frozen=True)
class RatePoint:
    """Where a λ sits on the ladder: between entries ``lower`` and ``lower+1`` at ``t``."""

    lam: float
    lower: int
    t: float
    position: float  # 0 at the lowest ladder λ, 1 at the highest (log scale)


class GainLadder(nn.Module):
    def __init__(self, lambdas: tuple[float, ...], channels: int):
        super().__init__()
        self.lambdas = tuple(float(v) for v in lambdas)
        # Start with gains growing as sqrt(λ): higher λ, finer quantisation of the latent.
        top = self.lambdas[-1]
        init = torch.tensor([0.5 * math.log(v / top) for v in self.lambdas])
        self.log_gain = nn.Parameter(init.view(-1, 1).repeat(1, channels))
        self.log_inverse_gain = nn.Parameter(-init.view(-1, 1).repeat(1, channels))

    def locate(self, lam: float) -> RatePoint:
        lo, hi = self.lambdas[0], self.lambdas[-1]
        tolerance = 1e-6
        if not (lo * (1 - tolerance) <= lam <= hi * (1 + tolerance)) or math.isnan(lam):
            raise LambdaOutOfRangeError(
                f"λ={lam:g} is outside this model's trained range [{lo:g}, {hi:g}]")
        lam = min(max(lam, lo), hi)
        span = math.log(hi / lo) if hi > lo else 1.0
        position = math.log(lam / lo) / span if hi > lo else 0.0
        lower = min(bisect.bisect_right(self.lambdas, lam) - 1, len(self.lambdas) - 2)
        if lower < 0:  # a ladder of one λ
            return RatePoint(lam, 0, 0.0, position)
        a, b = self.lambdas[lower], self.lambdas[lower + 1]
        return RatePoint(lam, lower, math.log(lam / a) / math.log(b / a), position)

    def _interpolate(self, table: torch.Tensor, point: RatePoint) -> torch.Tensor:
        if len(self.lambdas) == 1:
            return table[0].exp()
        log_value = (1 - point.t) * table[point.lower] + point.t * table[point.lower + 1]
        return log_value.exp()

    def gain(self, point: RatePoint) -> torch.Tensor:
        return self._interpolate(self.log_gain, point)

    def inverse_gain(self, point: RatePoint) -> torch.Tensor:
        return self._interpolate(self.log_inverse_gain, point)
