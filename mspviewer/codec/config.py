"""Model configuration as plain dataclasses, saved with the weights and checked on load.

Everything that encoder and decoder must agree on lives here: transform sizes, the MSP
structure (scales, steps, channel groups), the λ ladder of the gain vectors, and the σ
table with the symbol range. A bitstream names the model by a hash that covers this
configuration and the weights (see ``weights.model_id``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from mspviewer.errors import ModelFileError

# CompressAI's usual MSE ladder (bpp + λ·255²·MSE), spanning about 0.1 … 1.2 bpp on Kodak.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)


@dataclass(frozen=True)
class TransformConfig:
    """Analysis g_a / synthesis g_s: four stride-2 5×5 convolutions with GDN (÷16)."""

    channels: int = 128  # N, hidden width of g_a and g_s
    latent_channels: int = 192  # M, channels of the latent y


@dataclass(frozen=True)
class MSPConfig:
    """Multi-scale progressive probability model.

    ``num_scales`` S: the coarsest scale holds positions whose row and column are
    multiples of 2^(S-1); each finer scale s holds the stride-2^s lattice minus the
    stride-2^(s+1) one. ``steps_per_scale``: 2 splits a finer scale into step A (odd, odd)
    and step B (odd, even)+(even, odd); 1 codes the scale in one step; 3 splits step B.
    ``num_groups`` G: channel groups coded in sequence inside every step.
    """

    num_scales: int = 4
    steps_per_scale: int = 2
    num_groups: int = 4
    context_width: int = 128  # width of the spatial context network of a step
    group_width: int = 128  # width of the per-group parameter networks
    coarsest_width: int = 64  # width of the coarsest scale's 1×1 networks

    @property
    def sequential_passes(self) -> int:
        """Network passes needed to decode any image: G + (S-1)·steps·G."""
        return self.num_groups + (self.num_scales - 1) * self.steps_per_scale * self.num_groups


@dataclass(frozen=True)
class RateConfig:
    """The λ ladder on which gain vectors are trained (interpolated geometrically between)."""

    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS


#: How far past each end of the trained λ ladder a model encodes and decodes (a factor on λ;
#: the gains are extrapolated there, see :mod:`mspviewer.codec.gain`). Encoder and decoder
#: must agree on it: it is part of the bitstream format.
LAMBDA_EXTRAPOLATION_FACTOR = 2.0


def usable_lambda_range(lambdas: tuple[float, ...]) -> tuple[float, float]:
    """The λ a model with ladder ``lambdas`` encodes and decodes: the trained range widened by
    :data:`LAMBDA_EXTRAPOLATION_FACTOR` at both ends (a ladder of one λ has nothing to
    extrapolate from: that λ only)."""
    if len(lambdas) == 1:
        return lambdas[0], lambdas[0]
    return lambdas[0] / LAMBDA_EXTRAPOLATION_FACTOR, lambdas[-1] * LAMBDA_EXTRAPOLATION_FACTOR


@dataclass(frozen=True)
class CodingConfig:
    """Fixed σ table and symbol range shared bit for bit by encoder and decoder.

    σ values are log-spaced; only the table *index* of each symbol has to agree between
    encoder and decoder. Symbols outside [-symbol_bound, symbol_bound] are escaped.
    """

    sigma_min: float = 0.11
    sigma_max: float = 64.0
    sigma_levels: int = 64
    symbol_bound: int = 256


@dataclass(frozen=True)
class ModelConfig:
    transform: TransformConfig = field(default_factory=TransformConfig)
    msp: MSPConfig = field(default_factory=MSPConfig)
    rate: RateConfig = field(default_factory=RateConfig)
    coding: CodingConfig = field(default_factory=CodingConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        t, m, r, c = self.transform, self.msp, self.rate, self.coding
        # A weights file is user input: a width of 16.0, -4 or True would otherwise fail
        # inside torch with a raw TypeError or RuntimeError instead of a clear refusal.
        sizes = {"channels": t.channels, "latent_channels": t.latent_channels,
                 "num_scales": m.num_scales, "steps_per_scale": m.steps_per_scale,
                 "num_groups": m.num_groups, "context_width": m.context_width,
                 "group_width": m.group_width, "coarsest_width": m.coarsest_width,
                 "sigma_levels": c.sigma_levels, "symbol_bound": c.symbol_bound}
        not_integers = [name for name, value in sizes.items()
                        if isinstance(value, bool) or not isinstance(value, numbers.Integral)]
        if not_integers:
            raise ModelFileError("invalid model configuration: "
                                 f"{', '.join(not_integers)} must be integers")
        problems = []
        if min(t.channels, t.latent_channels, m.context_width, m.group_width,
               m.coarsest_width) < 1:
            problems.append("network widths must be positive")
        if not 1 <= m.num_scales <= 6:
            problems.append(f"num_scales must be 1..6, got {m.num_scales}")
        if m.steps_per_scale not in (1, 2, 3):
            problems.append(f"steps_per_scale must be 1, 2 or 3, got {m.steps_per_scale}")
        if m.num_groups < 1 or t.latent_channels % m.num_groups:
            problems.append(f"num_groups {m.num_groups} must divide latent_channels "
                            f"{t.latent_channels}")
        # the bitstream header stores these in one and two bytes (mspviewer.codec.bitstream)
        if m.num_groups > 255 or t.latent_channels > 65535:
            problems.append(f"the bitstream holds at most 255 channel groups and 65,535 latent "
                            f"channels, got {m.num_groups} and {t.latent_channels}")
        if len(r.lambdas) < 1 or any(not (0 < a < b) for a, b in zip(r.lambdas, r.lambdas[1:])) \
                or not 0 < r.lambdas[0] or not math.isfinite(r.lambdas[-1]):
            problems.append(f"λ ladder must be positive, finite and increasing, got {r.lambdas}")
        if not (0 < c.sigma_min < c.sigma_max < math.inf) or not 2 <= c.sigma_levels <= 2**16:
            problems.append("σ table needs 0 < sigma_min < sigma_max < ∞ and 2..65536 levels")
        if not 1 <= c.symbol_bound <= 2**15:
            problems.append(f"symbol_bound must be 1..32768, got {c.symbol_bound}")
        if problems:
            raise ModelFileError("invalid model configuration: " + "; ".join(problems))

    @property
    def group_channels(self) -> int:
        return self.transform.latent_channels // self.msp.num_groups

    @property
    def lambda_range(self) -> tuple[float, float]:
        """The trained range: the ladder's lowest and highest λ."""
        return self.rate.lambdas[0], self.rate.lambdas[-1]

    @property
    def usable_lambda_range(self) -> tuple[float, float]:
        """Every λ the model encodes: the trained range and its extrapolated margins."""
        return usable_lambda_range(self.rate.lambdas)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        try:
            rate = dict(data["rate"])
            rate["lambdas"] = tuple(float(v) for v in rate["lambdas"])
            return cls(
                transform=TransformConfig(**data["transform"]),
                msp=MSPConfig(**data["msp"]),
                rate=RateConfig(**rate),
                coding=CodingConfig(**data["coding"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"malformed model configuration: {error}") from None


def tiny_config(**msp_overrides) -> ModelConfig:
    """A very small model for tests and benchmarks of structure (not of quality)."""
    msp = dict(num_scales=3, steps_per_scale=2, num_groups=2, context_width=16,
               group_width=16, coarsest_width=8)
    msp.update(msp_overrides)
    return ModelConfig(transform=TransformConfig(channels=16, latent_channels=16),
                       msp=MSPConfig(**msp))

