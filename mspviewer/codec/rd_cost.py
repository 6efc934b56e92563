"""The RD cost LOF minimises, measured exactly as the codec will see it, and its
differentiable surrogate.

:class:`RDCost` evaluates J = bpp + λ·255²·MSE of a gained latent in one forward pass of the
MSP prior and the synthesis: the bits with σ snapped to the coder's table and its smallest
probability (what the file will hold), and the distortion of the decoder's 8-bit output over
the original pixels. The same pass can build the surrogate loss whose gradient LOF follows:
straight-through rounding (rate gradient ``continuous`` or ``rounded``) or, with a
temperature, stochastic Gumbel annealing of the rounding (:func:`annealed_rounding`). It
holds one encode or a batch (one size, a λ per image), each encode's cost its own. See
:mod:`mspviewer.codec.lof` for how LOF uses it.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Sequence

import torch

from mspviewer.codec.entropy import MIN_PROBABILITY, coded_bits
from mspviewer.codec.lattice import CodingPass
from mspviewer.codec.model import MSPCodec, as_float32, coding_arithmetic
from mspviewer.codec.msp import discretized_gaussian_likelihood, lam_plane_values
from mspviewer.codec.profiles import RATE_GRADIENTS


@dataclass
class _Evaluation:
    stats: torch.Tensor | None  # [exact bits, SSE of the 8-bit decoded image], on device
    y_hat: torch.Tensor  # quantised latent (detached; relaxed, for an annealed surrogate)
    loss: torch.Tensor | None  # differentiable surrogate, when asked for


#: keeps the relaxed rounding's distances to the two bins inside (0, 1), where atanh is finite
_ANNEALING_EPS = 1e-5


def annealed_rounding(residual: torch.Tensor, temperature: float,
                      generator: torch.Generator | Sequence[torch.Generator] | None = None
                      ) -> torch.Tensor:
    """Stochastic Gumbel annealing of ``round(residual)`` (Yang et al. 2020): a relaxed
    sample of floor or floor + 1, with probabilities ∝ exp(−atanh(distance) / τ), drawn by
    Gumbel-softmax at temperature τ. Differentiable in ``residual``; as τ → 0 the sample
    becomes the nearest integer. ``generator``: one for the whole tensor, or one per row of
    its first dimension (the encodes of a batch draw what each would draw alone)."""
    down = torch.floor(residual.detach())
    fraction = (residual - down).clamp(_ANNEALING_EPS, 1 - _ANNEALING_EPS)
    logits = torch.stack([-torch.atanh(fraction), -torch.atanh(1 - fraction)], dim=-1)
    log_probabilities = torch.log_softmax(logits / temperature, dim=-1)
    if isinstance(generator, (list, tuple)):
        uniform = torch.stack([torch.rand(logits.shape[1:], generator=row_generator,
                                          device=residual.device, dtype=residual.dtype)
                               for row_generator in generator])
    else:
        uniform = torch.rand(logits.shape, generator=generator, device=residual.device,
                             dtype=residual.dtype)
    uniform = uniform.clamp(_ANNEALING_EPS, 1 - _ANNEALING_EPS)
    gumbel = -torch.log(-torch.log(uniform))
    weights = torch.softmax((log_probabilities + gumbel) / temperature, dim=-1)
    return down + weights[..., 1]


class _StraightThrough(torch.autograd.Function):
    """Forward: ``value`` exactly; backward: the gradient goes to ``source`` unchanged."""

    @staticmethod
    def forward(ctx, source: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class RDCost:
    """Exact and differentiable RD cost of gained latents: of one image at one λ, or of a
    batch of encodes evaluated together (images of one size, ``lam`` one value for all or one
    per image). Each encode's cost is its own: costs are per row, and the differentiable
    loss is their sum, so each latent gets the gradient it would get alone."""

    def __init__(self, model: MSPCodec, x: torch.Tensor, lam: float | Sequence[float],
                 rate_gradient: str = "continuous",
                 noise: Sequence[torch.Generator] | None = None):
        if x.dim() != 4 or x.shape[0] < 1 or x.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(x.shape)}")
        if rate_gradient not in RATE_GRADIENTS:
            raise ValueError(f"rate_gradient must be one of {RATE_GRADIENTS}")
        self.batch = int(x.shape[0])
        lams = [lam] * self.batch if isinstance(lam, numbers.Real) else list(lam)
        if len(lams) != self.batch:
            raise ValueError(f"{len(lams)} λ values for {self.batch} images")
        self.model = model
        self.rate_gradient = rate_gradient
        self.lams = [as_float32(value) for value in lams]
        self.points = [model.rate_point(value) for value in self.lams]
        self.x = x.detach().to(model.device, torch.float32)
        self.image_size = tuple(int(v) for v in x.shape[-2:])
        self.num_pixels = self.image_size[0] * self.image_size[1]
        self.target_8bit = (self.x * 255.0).round()
        # λ·255² per encode, multiplied out in double as a single encode's float λ was
        self.distortion_weight = torch.tensor([value * 255.0 ** 2 for value in self.lams],
                                              dtype=torch.float32, device=self.x.device)
        with torch.no_grad():
            if len(set(self.lams)) == 1:  # one λ: the arithmetic of a single encode
                self.rate_points = self.points[0]
                self.gain = model.gains.gain(self.points[0]).detach()
                self.lam_position = self.points[0].position
            else:
                self.rate_points = self.points
                self.gain = torch.stack([model.gains.gain(p) for p in self.points]).detach()
                self.lam_position = lam_plane_values([p.position for p in self.points],
                                                     self.gain.dtype, self.x.device)
        # The coder's σ table on the device, once (SigmaTable.lookup copies it every call).
        self.symbol_bound = model.config.coding.symbol_bound
        self.sigma_values = torch.as_tensor(model.sigma_table.values, dtype=torch.float32,
                                            device=self.x.device)
        # Annealing's noise: seeded, so that an encode is repeatable; one stream per encode,
        # so that it draws the same noise in a batch as alone.
        if noise is None:
            noise = []
            for _ in range(self.batch):
                generator = torch.Generator(device=self.x.device)
                generator.manual_seed(0)
                noise.append(generator)
        self.noise = list(noise)
        self._selections: OrderedDict[tuple[int, ...], RDCost] = OrderedDict()

    @property
    def lam(self) -> float:
        """λ of a single encode."""
        if self.batch != 1:
            raise ValueError("a batch of encodes has a λ per image (lams)")
        return self.lams[0]

    def select(self, rows: Sequence[int]) -> RDCost:
        """The cost of some of the batch's encodes (their noise streams continue). The last
        few are kept: the greedy phase asks for the same sets round after round, and each
        holds a copy of its images."""
        key = tuple(rows)
        if key == tuple(range(self.batch)):
            return self
        if key in self._selections:
            self._selections.move_to_end(key)
        else:
            index = list(key)
            self._selections[key] = RDCost(self.model, self.x[index],
                                           [self.lams[i] for i in index], self.rate_gradient,
                                           [self.noise[i] for i in index])
            while len(self._selections) > _KEPT_SELECTIONS:
                self._selections.popitem(last=False)
        return self._selections[key]

    def initial_latent(self) -> torch.Tensor:
        with torch.no_grad():
            return self.model.analyse(self.x, self.rate_points).detach()

    def evaluate(self, y: torch.Tensor, differentiable: bool = False,
                 temperature: float | None = None) -> _Evaluation:
        """The exact cost of ``y`` (``stats``: a row [bits, SSE] per encode) and, when
        ``differentiable``, the surrogate loss of the same forward pass. With an annealing
        ``temperature`` the surrogate relaxes the rounding instead (see
        :func:`annealed_rounding`) and no exact cost is measured (``stats`` is None)."""
        if temperature is not None and not differentiable:
            raise ValueError("an annealed evaluation is the differentiable surrogate")
        if y.shape[0] != self.batch:
            raise ValueError(f"{y.shape[0]} latents for a cost of {self.batch} encodes")
        with torch.set_grad_enabled(differentiable):
            return self._evaluate(y, differentiable, temperature)

    def _evaluate(self, y: torch.Tensor, differentiable: bool,
                  temperature: float | None) -> _Evaluation:
        model = self.model
        table = model.sigma_table
        batch, m, h, w = y.shape
        y_flat = y.reshape(batch, m, h * w)
        exact_bits: list[torch.Tensor] = []  # per pass: (batch,)
        soft_bits: list[torch.Tensor] = []

        def decide(coding_pass: CodingPass, positions, mu, sigma):
            y_pass = y_flat[:, coding_pass.channel_start:coding_pass.channel_stop][:, :, positions]
            residual = y_pass.float() - mu
            if temperature is not None:
                relaxed = annealed_rounding(residual, temperature, self.noise)
                soft_bits.append(_row_sums(-torch.log2(
                    discretized_gaussian_likelihood(relaxed, sigma).clamp_min(MIN_PROBABILITY))))
                return mu + relaxed
            rounded = torch.round(residual.detach())
            table_sigma = self.sigma_values[table.index_of(sigma.detach())]
            exact_bits.append(_row_sums(coded_bits(rounded, table_sigma, self.symbol_bound)))
            value = mu.detach() + rounded  # exactly what compress/decompress compute
            if differentiable:
                if self.rate_gradient == "continuous":
                    # Value: the bits of round(y − μ); gradient: that of the bits at y − μ
                    # itself, which also pulls residuals inside a bin towards zero.
                    at_y = -torch.log2(discretized_gaussian_likelihood(residual, sigma)
                                       .clamp_min(MIN_PROBABILITY))
                    at_rounded = -torch.log2(discretized_gaussian_likelihood(
                        rounded, sigma.detach()).clamp_min(MIN_PROBABILITY))
                    bits = at_rounded + (at_y - at_y.detach())
                else:  # "rounded": the bits at round(y − μ), rounding passed straight through
                    residual_st = _StraightThrough.apply(residual, rounded)
                    bits = -torch.log2(discretized_gaussian_likelihood(residual_st, sigma)
                                       .clamp_min(MIN_PROBABILITY))
                soft_bits.append(_row_sums(bits))
                value = _StraightThrough.apply(y_pass.float(), value)
            return value

        # The coder's arithmetic (one thread), so J's bits are the ones the file will have;
        # an annealed surrogate makes no coding decisions and runs with the usual threads.
        with coding_arithmetic(y.device) if temperature is None else nullcontext():
            y_hat = model.prior.run(batch, h, w, self.gain, self.lam_position, decide)
        x_hat = model.synthesise(y_hat, self.rate_points, self.image_size).clamp(0, 1)
        stats = None  # an annealed surrogate's relaxed latent has no exact cost
        if temperature is None:
            decoded = (x_hat.detach() * 255.0).round()
            sse = _row_sums((decoded - self.target_8bit).square())
            stats = torch.stack([torch.stack(exact_bits).sum(0).float(), sse.float()], dim=1)
        loss = None
        if differentiable:
            rate = torch.stack(soft_bits).sum(0) / self.num_pixels
            mse = (x_hat - self.x).square().flatten(1).mean(1)
            loss = (rate + self.distortion_weight * mse).sum()
        return _Evaluation(stats, y_hat.detach(), loss)

    def measures(self, stats: torch.Tensor) -> list[tuple[float, float, float]]:
        """(J, bpp, PSNR) of each encode from an evaluation's stats; the one host sync of an
        iteration."""
        measured = []
        for lam, (bits, sse) in zip(self.lams, stats.tolist()):
            bpp = bits / self.num_pixels
            mse_8bit = sse / (3 * self.num_pixels)
            j = bpp + lam * mse_8bit  # λ·255²·MSE in [0, 1] units = λ·MSE in 8-bit units
            psnr = 10 * math.log10(255.0 ** 2 / mse_8bit) if mse_8bit > 0 else float("inf")
            measured.append((j, bpp, psnr))
        return measured

    def costs(self, y: torch.Tensor) -> list[dict]:
        """Exact J, bpp and PSNR of each encode's latent (no gradient)."""
        return [{"J": j, "bpp": bpp, "psnr": psnr}
                for j, bpp, psnr in self.measures(self.evaluate(y).stats)]

    def cost(self, y: torch.Tensor) -> dict:
        """Exact J, bpp and PSNR of a single encode's latent (no gradient)."""
        if self.batch != 1:
            raise ValueError("a batch of encodes has a cost per image (costs)")
        return self.costs(y)[0]


#: subsets of a batch's encodes whose costs RDCost.select keeps
_KEPT_SELECTIONS = 4


def _row_sums(values: torch.Tensor) -> torch.Tensor:
    """Sum over everything but the first (encode) dimension."""
    return values.flatten(1).sum(1)


def rd_cost(model: MSPCodec, x: torch.Tensor, y: torch.Tensor, lam: float) -> dict:
    """Exact hard-quantised J = bpp + λ·255²·MSE (8-bit decoded image) of latent ``y``."""
    return RDCost(model, x, lam).cost(y)
