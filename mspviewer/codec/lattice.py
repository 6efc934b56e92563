"""The MSP decoding schedule: which latent positions and channels each pass codes.

The schedule (:func:`coding_passes`) depends only on the configuration, never on the image
size: that is the property that makes MSP decoding O(1) in sequential depth. The positions
of a pass on a given latent grid come from :func:`pass_positions`, and everything a pass needs
on a grid, ready on a device, from :func:`grid_geometry`.

Scales by decimation: with S scales the coarsest scale (index S-1) holds the positions whose
row and column are multiples of D = 2^(S-1); scale s < S-1 holds the positions of the
stride-2^s lattice that are not on the stride-2^(s+1) lattice. Every element is coded once.
Inside a finer scale, positions are addressed in *lattice coordinates* (row/stride,
col/stride), where the coarser lattice is the (even, even) sub-lattice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import torch

from mspviewer.codec.config import MSPConfig

# Parities (row % 2, col % 2) in lattice coordinates coded by each step of a finer scale.
STEP_PARITIES: dict[int, tuple[tuple[tuple[int, int], ...], ...]] = {
    1: (((1, 1), (0, 1), (1, 0)),),
    2: (((1, 1),), ((0, 1), (1, 0))),
    3: (((1, 1),), ((0, 1),), ((1, 0),)),
}
STEP_NAMES = "ABC"


@dataclass(frozen=True)
class CodingPass:
    """One network pass + one vectorised entropy-coder call."""

    index: int
    scale: int  # num_scales-1 is the coarsest, 0 the finest
    step: int  # 0 at the coarsest scale; 0..steps-1 at finer scales
    group: int
    channel_start: int
    channel_stop: int
    stride: int  # spacing of this scale's lattice in latent positions
    coarsest: bool

    @property
    def step_name(self) -> str:
        return "coarsest" if self.coarsest else STEP_NAMES[self.step]

    @property
    def label(self) -> str:
        return f"scale {self.scale} {self.step_name} group {self.group}"


def coding_passes(msp: MSPConfig, latent_channels: int) -> tuple[CodingPass, ...]:
    """All passes in decoding order; independent of the image size."""
    group_size = latent_channels // msp.num_groups
    passes: list[CodingPass] = []
    coarsest = msp.num_scales - 1

    def add(scale: int, step: int, is_coarsest: bool) -> None:
        for group in range(msp.num_groups):
            passes.append(CodingPass(
                index=len(passes), scale=scale, step=step, group=group,
                channel_start=group * group_size, channel_stop=(group + 1) * group_size,
                stride=2 ** scale, coarsest=is_coarsest))

    add(coarsest, 0, True)
    for scale in range(coarsest - 1, -1, -1):
        for step in range(msp.steps_per_scale):
            add(scale, step, False)
    return tuple(passes)


def lattice_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """Size of the stride-``stride`` sub-grid of an height×width grid (rows 0, stride, …)."""
    return -(-height // stride), -(-width // stride)


@lru_cache(maxsize=256)
def _parity_masks(rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.arange(rows).remainder(2).view(-1, 1).expand(rows, cols)
    c = torch.arange(cols).remainder(2).view(1, -1).expand(rows, cols)
    return r, c


def step_masks(rows: int, cols: int, steps_per_scale: int, step: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(known, current) boolean masks on a finer scale's lattice of size rows×cols.

    ``known`` marks the positions decoded before this step (the coarser lattice and the
    earlier steps of this scale); ``current`` marks the positions this step codes.
    """
    r, c = _parity_masks(rows, cols)

    def union(parities) -> torch.Tensor:
        mask = torch.zeros(rows, cols, dtype=torch.bool)
        for pr, pc in parities:
            mask |= (r == pr) & (c == pc)
        return mask

    schedule = STEP_PARITIES[steps_per_scale]
    known = union(((0, 0),) + tuple(p for s in schedule[:step] for p in s))
    current = union(schedule[step])
    return known, current


def pass_positions(coding_pass: CodingPass, height: int, width: int, steps_per_scale: int
                   ) -> torch.Tensor:
    """Flat indices (row·width + col) into the full latent grid of the pass's positions,
    in row-major order of its lattice. This order is the order of the coded symbols."""
    rows, cols = lattice_size(height, width, coding_pass.stride)
    if coding_pass.coarsest:
        current = torch.ones(rows, cols, dtype=torch.bool)
    else:
        _, current = step_masks(rows, cols, steps_per_scale, coding_pass.step)
    lattice_rows, lattice_cols = torch.nonzero(current, as_tuple=True)
    return (lattice_rows * coding_pass.stride) * width + lattice_cols * coding_pass.stride


def lattice_positions(coding_pass: CodingPass, height: int, width: int, steps_per_scale: int
                      ) -> torch.Tensor:
    """Flat indices of the pass's positions inside its own lattice (rows×cols grid)."""
    rows, cols = lattice_size(height, width, coding_pass.stride)
    if coding_pass.coarsest:
        return torch.arange(rows * cols)
    _, current = step_masks(rows, cols, steps_per_scale, coding_pass.step)
    return torch.nonzero(current.flatten(), as_tuple=True)[0]


class PassGeometry(NamedTuple):
    """A pass's masks and indices on one latent grid, ready on one device.

    ``known`` and ``current`` are the step masks as (1, 1, rows, cols) tensors of the
    network's dtype (None at the coarsest scale); ``positions`` is :func:`pass_positions`,
    ``lattice_index`` :func:`lattice_positions`, and ``flat_index`` the pass's elements as
    flat indices into the (M·height·width) latent, channel-major.
    """

    known: torch.Tensor | None
    current: torch.Tensor | None
    positions: torch.Tensor
    lattice_index: torch.Tensor
    flat_index: torch.Tensor


@lru_cache(maxsize=4)
def grid_geometry(passes: tuple[CodingPass, ...], height: int, width: int,
                  steps_per_scale: int, device: torch.device, dtype: torch.dtype
                  ) -> tuple[PassGeometry, ...]:
    """The :class:`PassGeometry` of every pass (in the order of ``passes``) on one latent
    grid, built once per grid, device and dtype.

    Every MSP run (each LOF iteration runs one or two) needs them for each of its passes;
    built afresh they were a fifth of the operations of a LOF iteration, and on a GPU each
    pass copied its masks and indices from host memory, a synchronising transfer. A few
    grids are kept (the flat indices of a 24-megapixel image's grid take about 150 MB).
    The tensors are shared: callers must not modify them.
    """
    # Built as normal tensors even when the first caller runs under inference_mode: an
    # inference tensor in the cache would break every later call that autograd records.
    with torch.inference_mode(False):
        return tuple(_pass_geometry(coding_pass, height, width, steps_per_scale, device, dtype)
                     for coding_pass in passes)


def _pass_geometry(coding_pass: CodingPass, height: int, width: int, steps_per_scale: int,
                   device: torch.device, dtype: torch.dtype) -> PassGeometry:
    rows, cols = lattice_size(height, width, coding_pass.stride)
    known = current = None
    if not coding_pass.coarsest:
        known, current = (mask.to(device=device, dtype=dtype).view(1, 1, rows, cols)
                          for mask in step_masks(rows, cols, steps_per_scale, coding_pass.step))
    positions = pass_positions(coding_pass, height, width, steps_per_scale)
    channels = torch.arange(coding_pass.channel_start, coding_pass.channel_stop)
    flat_index = (channels.view(-1, 1) * (height * width) + positions.view(1, -1)).flatten()
    return PassGeometry(known, current, positions.to(device),
                        lattice_positions(coding_pass, height, width, steps_per_scale).to(device),
                        flat_index.to(device))
