"""The pass geometry (masks and indices every MSP run uses, cached per grid and device)
against a derivation from the decimation rule and the step parities written out here, on
odd grid sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mspviewer.codec import tiny_config
from mspviewer.codec.config import ModelConfig
from mspviewer.codec import build_random_model
from mspviewer.codec.lattice import coding_passes, grid_geometry

# (row % 2, col % 2) in lattice coordinates coded by each step of a finer scale, by the
# number of steps per scale (docs/method.md: the (1, 1) anchors first, then the rest)
PARITIES = {1: [[(1, 1), (0, 1), (1, 0)]], 2: [[(1, 1)], [(0, 1), (1, 0)]],
            3: [[(1, 1)], [(0, 1)], [(1, 0)]]}


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

        schedule = PARITIES[steps]
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
    passes = coding_passes(config.msp, m)
    geometries = grid_geometry(passes, height, width, steps, torch.device("cpu"), torch.float32)
    assert len(geometries) == len(passes)
    for coding_pass, geometry in zip(passes, geometries):
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


def test_grid_geometry_is_built_once_per_grid_device_and_dtype():
    config = tiny_config()
    passes = coding_passes(config.msp, config.transform.latent_channels)
    cpu = torch.device("cpu")
    steps = config.msp.steps_per_scale
    first = grid_geometry(passes, 7, 11, steps, cpu, torch.float32)
    assert grid_geometry(passes, 7, 11, steps, cpu, torch.float32) is first
    other = grid_geometry(passes, 7, 11, steps, cpu, torch.float64)
    assert other is not first and other[-1].current.dtype == torch.float64
    assert all(torch.equal(a.flat_index, b.flat_index) for a, b in zip(first, other))
    assert grid_geometry(passes, 7, 12, steps, cpu, torch.float32) is not first


def test_a_grid_first_met_under_inference_mode_still_serves_training_and_lof():
    """The cache outlives the call that filled it: tensors made under inference_mode there
    would make every later differentiable run on that grid fail."""
    model = build_random_model(tiny_config(), seed=3)
    x = torch.rand(1, 3, 48, 80, generator=torch.Generator().manual_seed(1))
    grid_geometry.cache_clear()
    with torch.inference_mode():
        model(x, 0.0067)
    out = model(x, 0.0067)
    loss = out["likelihoods"].clamp_min(1e-9).log2().sum() + out["x_hat"].square().sum()
    loss.backward()
    assert all(p.grad is not None for p in model.prior.parameters() if p.requires_grad)
