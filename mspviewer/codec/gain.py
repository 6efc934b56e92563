"""Variable rate with per-λ gain vectors (Cui et al. 2021, "asymmetric gained" VAE).

For each λ of the trained ladder the model learns a gain vector g (applied to the latent
before quantisation) and an inverse gain g' (applied before synthesis). Between two ladder
points, both are interpolated geometrically, so any λ in the trained range can be encoded
with the one model. Gains are stored as logarithms: geometric interpolation is then linear.

Beyond the ladder's ends, up to
:data:`~mspviewer.codec.config.LAMBDA_EXTRAPOLATION_FACTOR` times past them, the end
segment's line is extended (extrapolated geometrically), and the probability model sees the
λ position past 0 or 1 accordingly: that reaches rates the trained range does not (a Kodak
image that needs 0.5 bpp where the top λ gives it 0.42) with every bitstream still decoded
bit-exactly, though those operating points were never trained and are marked
:attr:`RatePoint.extrapolated`. Encoder and decoder must agree on the limit: it is part of the
format.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import torch
from torch import nn

from mspviewer.codec.config import LAMBDA_EXTRAPOLATION_FACTOR, usable_lambda_range
from mspviewer.errors import MSPViewerError


class LambdaOutOfRangeError(MSPViewerError):
    pass


@dataclass(frozen=True)
class RatePoint:
    """Where a λ sits on the ladder: between entries ``lower`` and ``lower+1`` at ``t``."""

    lam: float
    lower: int
    t: float  # below 0 or above 1 past the ladder's ends (extrapolated)
    position: float  # 0 at the lowest ladder λ, 1 at the highest (log scale)

    @property
    def extrapolated(self) -> bool:
        """Past the trained ladder's ends: gains extrapolated, an untrained operating point."""
        return not 0.0 <= self.position <= 1.0


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
        usable = usable_lambda_range(self.lambdas)
        if not (usable[0] * (1 - tolerance) <= lam <= usable[1] * (1 + tolerance)) \
                or math.isnan(lam):
            raise LambdaOutOfRangeError(
                f"λ={lam:g} is outside this model's range [{usable[0]:g}, {usable[1]:g}] "
                f"(trained range [{lo:g}, {hi:g}], extrapolated up to "
                f"{LAMBDA_EXTRAPOLATION_FACTOR:g}× past its ends)")
        lam = min(max(lam, usable[0]), usable[1])
        if len(self.lambdas) == 1:
            return RatePoint(lam, 0, 0.0, 0.0)
        if lo * (1 - tolerance) <= lam <= hi * (1 + tolerance):
            lam = min(max(lam, lo), hi)  # a trained end given as float32 is that end
        position = math.log(lam / lo) / math.log(hi / lo)
        # the segment λ lies in; past an end, the end segment (t < 0 or t > 1 extends it)
        lower = min(max(bisect.bisect_right(self.lambdas, lam) - 1, 0), len(self.lambdas) - 2)
        a, b = self.lambdas[lower], self.lambdas[lower + 1]
        return RatePoint(lam, lower, math.log(lam / a) / math.log(b / a), position)

    def extrapolation_note(self, lam: float) -> str | None:
        """A line for the user when ``lam`` is past the trained range, else None."""
        if not self.locate(lam).extrapolated:
            return None
        lo, hi = self.lambdas[0], self.lambdas[-1]
        side = "above" if lam > hi else "below"
        return (f"λ = {lam:.5g} is {side} the trained range [{lo:g}, {hi:g}]: its gains are "
                f"extrapolated, an operating point the model was not trained at")

    def _interpolate(self, table: torch.Tensor, point: RatePoint) -> torch.Tensor:
        if len(self.lambdas) == 1:
            return table[0].exp()
        log_value = (1 - point.t) * table[point.lower] + point.t * table[point.lower + 1]
        return log_value.exp()

    def gain(self, point: RatePoint) -> torch.Tensor:
        return self._interpolate(self.log_gain, point)

    def inverse_gain(self, point: RatePoint) -> torch.Tensor:
        return self._interpolate(self.log_inverse_gain, point)
