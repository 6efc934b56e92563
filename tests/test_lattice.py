"""The pass geometry (masks and indices every MSP run uses, cached per grid and device)
against a derivation from the decimation rule itself, on odd grid sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mspviewer.codec import tiny_config
from mspviewer.codec.config import ModelConfig
from mspviewer.codec.lattice import STEP_PARITIES, coding_passes, pass_geometry


def expected_geometry(coding_pass, height, width, steps):
    """Positions, lattice indices and masks from the rule in lattice.py's docstring: the
    coarsest scale holds the multiples of its stride; a finer scale's step holds the lattice
    points (row/stride, col/stride) whose parities that step codes; known are the coarser
    lattice (even, even) and the earlier steps."""
    s = coding_pass.stride
    rows, cols = -(-height // s), -(-width // s)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    if coding_pass.coarsest:
        current, known = np.ones((rows, cols), bool), None
    else:
        def parity_in(parities):
            return np.isin((i % 2) * 2 + (j % 2), [pr * 2 + pc for pr, pc in parities])

        schedule = STEP_PARITIES[steps]
        current = parity_in(schedule[coding_pass.step])
        known = parity_in([(0, 0)] + [p for step in schedule[:coding_pass.step] for p in step])
    positions = (i[current] * s) * width + j[current] * s
    lattice_index = np.flatnonzero(current)
    channels = np.arange(coding_pass.channel_start, coding_pass.channel_stop)
    flat = (channels[:, None] * height * width + positions[None, :]).ravel()
    return known, current, positions, lattice_index, flat


@pytest.mark.parametrize("config", [tiny_config(), ModelConfig()],
                         ids=["tiny", "shipped-structure"])
@pytest.mark.parametrize("height,width", [(1, 1), (5, 9), (17, 12)])
def test_pass_geometry_follows_the_decimation_rule_and_codes_each_element_once(config, height,
                                                                              width):
    steps = config.msp.steps_per_scale
    m = config.transform.latent_channels
    coded = []
    for coding_pass in coding_passes(config.msp, m):
        geometry = pass_geometry(coding_pass, height, width, steps, torch.device("cpu"),
                                 torch.float32)
        known, current, positions, lattice_index, flat = expected_geometry(
            coding_pass, height, width, steps)
        np.testing.assert_array_equal(geometry.positions.numpy(), positions)
        np.testing.assert_array_equal(geometry.lattice_index.numpy(), lattice_index)
        np.testing.assert_array_equal(geometry.flat_index.numpy(), flat)
        if coding_pass.coarsest:
            assert geometry.known is None and geometry.current is None
        else:
            assert geometry.current.dtype == torch.float32
            assert geometry.current.shape == (1, 1, *current.shape)
            np.testing.assert_array_equal(geometry.current[0, 0].numpy(), current)
            np.testing.assert_array_equal(geometry.known[0, 0].numpy(), known)
            assert not (known & current).any()
        coded.append(flat)
    everything = np.concatenate(coded)
    np.testing.assert_array_equal(np.sort(everything), np.arange(m * height * width))


def test_pass_geometry_is_built_once_per_grid_device_and_dtype():
    config = tiny_config()
    coding_pass = coding_passes(config.msp, config.transform.latent_channels)[-1]
    cpu = torch.device("cpu")
    steps = config.msp.steps_per_scale
    first = pass_geometry(coding_pass, 7, 11, steps, cpu, torch.float32)
    assert pass_geometry(coding_pass, 7, 11, steps, cpu, torch.float32) is first
    other = pass_geometry(coding_pass, 7, 11, steps, cpu, torch.float64)
    assert other is not first and other.current.dtype == torch.float64
    assert torch.equal(other.flat_index, first.flat_index)
    assert pass_geometry(coding_pass, 7, 12, steps, cpu, torch.float32) is not first
