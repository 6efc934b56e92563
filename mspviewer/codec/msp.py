"""MSP, the multi-scale progressive probability model.

The latent ŷ (M channels on an h×w grid) is decoded in a fixed sequence of passes
(:mod:`mspviewer.codec.lattice`): first the coarsest lattice, channel group by channel
group, with a spatially independent model; then each finer scale in ``steps_per_scale``
steps, each step in G channel groups. A pass evaluates a small network on the partially
decoded lattice of its scale and yields a discretised Gaussian (μ, σ) for every element it
codes, all at once. The number of passes never depends on the image size.

Networks work on *de-gained* latents (ŷ divided by the λ gain vector) and their μ, σ are
multiplied back by the gain, so one set of networks serves every λ; a constant plane with
the λ position on the ladder tells them the quantisation step.

:meth:`MSPProbabilityModel.run` drives the passes. What happens to each pass's elements is
the caller's ``decide`` function: round them and feed the range coder (encoder), read them
from the range coder (decoder), or add noise/straight-through rounding (training). Encoder,
decoder and hard-quantised forward therefore share one code path, which is what makes
them bit-exact on one device.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from mspviewer.codec.config import ModelConfig
from mspviewer.codec.lattice import CodingPass, coding_passes, grid_geometry, lattice_size

# decide(pass, latent_flat_positions, mu, sigma) -> ŷ values for the pass, shape of mu.
Decide = Callable[[CodingPass, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

SIGMA_FLOOR = 1e-3  # keeps σ' strictly positive before the table snaps it


def _conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1)


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def _activation() -> nn.Module:
    return nn.LeakyReLU(0.1)


class ContextNetwork(nn.Module):
    """Spatial context of a step: the already decoded lattice → features.

    Input: de-gained ŷ on the scale's lattice (undecoded positions are zero), the mask of
    decoded positions and the λ plane. Shared by every finer scale; a learned per-scale
    embedding is added after the first layer.
    """

    def __init__(self, latent_channels: int, width: int, num_finer_scales: int):
        super().__init__()
        self.entry = _conv3x3(latent_channels + 2, width)
        self.scale_embedding = nn.Parameter(torch.zeros(max(num_finer_scales, 1), width))
        self.body = nn.Sequential(
            _activation(), _conv3x3(width, width), _activation(), _conv3x3(width, width),
            _activation())

    def forward(self, context: torch.Tensor, known: torch.Tensor, lam_plane: torch.Tensor,
                scale: int) -> torch.Tensor:
        hidden = self.entry(torch.cat([context, known, lam_plane], dim=1))
        return self.body(hidden + self.scale_embedding[scale].view(1, -1, 1, 1))


class GroupNetwork(nn.Module):
    """Channel context: step features + earlier groups at the coded positions → (μ', σ')."""

    def __init__(self, in_channels: int, width: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            _conv1x1(in_channels, width), _activation(), _conv1x1(width, width), _activation(),
            _conv1x1(width, 2 * out_channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)


class MSPProbabilityModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        msp = config.msp
        m, g = config.transform.latent_channels, config.group_channels
        self.config = config
        self.latent_channels = m
        self.group_channels = g
        self.steps_per_scale = msp.steps_per_scale
        self.passes = coding_passes(msp, m)
        # Coarsest scale: 1×1 networks only (spatially independent), one per group; group 0
        # sees just the λ plane, i.e. it learns per-channel parameters for each λ.
        self.coarsest_networks = nn.ModuleList(
            GroupNetwork(k * g + 1, msp.coarsest_width, g) for k in range(msp.num_groups))
        self.context_networks = nn.ModuleList(
            ContextNetwork(m, msp.context_width, msp.num_scales - 1)
            for _ in range(msp.steps_per_scale))
        self.group_networks = nn.ModuleList(
            nn.ModuleList(GroupNetwork(msp.context_width + k * g, msp.group_width, g)
                          for k in range(msp.num_groups))
            for _ in range(msp.steps_per_scale))

    def run(self, batch: int, height: int, width: int, gain: torch.Tensor,
            lam_position: float | torch.Tensor, decide: Decide) -> torch.Tensor:
        """Decode (or encode) all passes; returns ŷ of shape (batch, M, height, width).

        One λ for the whole batch: ``gain`` of shape (M,) and one ``lam_position``. A λ per
        latent (LOF over several encodes at once): ``gain`` of shape (batch, M) and the λ
        planes' values from :func:`lam_plane_values`, made once by the caller (on a GPU a
        copy from the host waits for the device); each latent then sees exactly the
        arithmetic it would see alone."""
        m = self.latent_channels
        device, dtype = gain.device, gain.dtype
        per_latent = gain.dim() == 2
        state = torch.zeros(batch, m, height * width, device=device, dtype=dtype)
        inverse_gain = (1.0 / gain).view(batch if per_latent else 1, m, 1, 1)
        plane_values = lam_position.view(batch, 1, 1, 1) if per_latent else None
        features = None
        geometries = grid_geometry(self.passes, height, width, self.steps_per_scale, device,
                                   dtype)
        for coding_pass, geometry in zip(self.passes, geometries):
            stride = coding_pass.stride
            rows, cols = lattice_size(height, width, stride)
            lattice = state.view(batch, m, height, width)[:, :, ::stride, ::stride]
            lattice = lattice * inverse_gain
            lam_plane = (plane_values.expand(batch, 1, rows, cols) if per_latent else
                         torch.full((batch, 1, rows, cols), lam_position - 0.5,
                                    device=device, dtype=dtype))
            earlier_groups = lattice[:, :coding_pass.channel_start]
            if coding_pass.coarsest:
                inputs = torch.cat([earlier_groups, lam_plane], dim=1)
                raw = self.coarsest_networks[coding_pass.group](inputs)
            else:
                known, current = geometry.known, geometry.current
                if coding_pass.group == 0:  # spatial context: once per step
                    features = self.context_networks[coding_pass.step](
                        lattice * known, known.expand(batch, -1, -1, -1), lam_plane,
                        coding_pass.scale)
                inputs = torch.cat([features, earlier_groups * current], dim=1)
                raw = self.group_networks[coding_pass.step][coding_pass.group](inputs)
            mu, sigma = self._distribution(raw, coding_pass, gain, geometry.lattice_index)
            values = decide(coding_pass, geometry.positions, mu, sigma)
            state = write_pass(state, geometry.flat_index, values)
        return state.view(batch, m, height, width)

    def _distribution(self, raw: torch.Tensor, coding_pass: CodingPass, gain: torch.Tensor,
                      lattice_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ, σ (in the gained domain) at the pass's positions: shape (batch, G_c, n)."""
        g = self.group_channels
        picked = raw.flatten(2)[:, :, lattice_index].float()
        group_gain = gain[..., coding_pass.channel_start:coding_pass.channel_stop].float()
        group_gain = group_gain.view(-1, g, 1)  # (1 or batch, G_c, 1)
        mu = picked[:, :g] * group_gain
        sigma = (nn.functional.softplus(picked[:, g:]) + SIGMA_FLOOR) * group_gain
        return mu, sigma


def lam_plane_values(positions: Sequence[float], dtype: torch.dtype, device: torch.device
                     ) -> torch.Tensor:
    """The λ planes of latents at several ladder positions, for :meth:`run`: position − 0.5
    in double, then cast, as the plane of a single λ is."""
    return torch.tensor([position - 0.5 for position in positions], dtype=dtype, device=device)


def write_pass(state: torch.Tensor, flat_index: torch.Tensor, values: torch.Tensor
               ) -> torch.Tensor:
    """``state`` (batch, M, n) with a pass's values at ``flat_index`` (its
    :class:`~mspviewer.codec.lattice.PassGeometry`'s ``flat_index``); out of place, so that
    autograd can see through it."""
    batch = state.shape[0]
    flat = state.reshape(batch, -1).index_copy(1, flat_index,
                                               values.reshape(batch, -1).to(state.dtype))
    return flat.view_as(state)


def discretized_gaussian_likelihood(residual: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """P(bin of width 1 centred on ``residual``) under N(0, σ), in float32 or float64.

    Uses the upper tail on |residual| so that improbable symbols keep their precision.
    """
    magnitude = residual.abs()
    return _normal_cdf((0.5 - magnitude) / sigma) - _normal_cdf((-0.5 - magnitude) / sigma)


def gaussian_upper_tail(threshold, sigma: torch.Tensor) -> torch.Tensor:
    """P(X > threshold) for X ~ N(0, σ), accurate far out in the tail."""
    return _normal_cdf(-threshold / sigma)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    """Φ(z) through erfc, accurate in the lower tail in float32 too.

    ``torch.special.ndtr`` computes 1 + erf in float32 and so returns multiples of 2^-24
    there: Φ(−5) came out 4 % high and Φ(−6) as 0, which zeroed the gradient of every
    element coded more than about 5σ from its prediction.
    """
    return 0.5 * torch.special.erfc(z * -_SQRT_HALF)


_SQRT_HALF = 0.5 ** 0.5
