"""Tests of mspviewer.metrics against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_msssim
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mspviewer.metrics import (
    MS_SSIM_WEIGHTS,
    _ms_ssim_with_weights,
    _to_nchw_tensor,
    bpp,
    ms_ssim,
    ms_ssim_num_scales,
    mse,
    psnr_rgb,
    psnr_y,
    rgb_to_y_bt601,
)


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A natural-ish image: random values blurred, so SSIM has structure to compare."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (height + 8, width + 8, 3))
    kernel = np.ones(9) / 9.0
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda line: np.convolve(line, kernel, "valid"), axis, noise)
    return np.clip(128 + 120 * noise / noise.std(), 0, 255).astype(np.uint8)


def with_noise(image: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smooth_image(192, 200)


# --- MSE and PSNR ------------------------------------------------------------------------


def test_mse_by_hand():
    a = np.zeros((1, 2, 3), np.uint8)
    b = np.array([[[1, 2, 3], [0, 0, 250]]], np.uint8)  # uint8 must not wrap around
    assert mse(a, b) == pytest.approx((1 + 4 + 9 + 250**2) / 6)


def test_psnr_rgb_matches_skimage(image):
    noisy = with_noise(image, 7.0)
    expected = peak_signal_noise_ratio(image, noisy, data_range=255)
    assert psnr_rgb(image, noisy) == pytest.approx(expected, rel=1e-12)
    assert psnr_rgb(image, noisy, peak=1.0) == pytest.approx(expected - 20 * math.log10(255))


def test_psnr_of_identical_images_is_infinite(image):
    assert psnr_rgb(image, image.copy()) == math.inf
    assert psnr_y(image, image.copy()) == math.inf


def test_rgb_to_y_bt601_on_primaries():
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    luma = rgb_to_y_bt601(primaries)
    assert luma.dtype == np.float64 and luma.shape == (1, 4)
    np.testing.assert_allclose(luma[0], [0.299 * 255, 0.587 * 255, 0.114 * 255, 255.0])


def test_psnr_y_matches_a_hand_computation(image):
    noisy = with_noise(image, 5.0)
    weights = np.array([0.299, 0.587, 0.114])
    luma_a = np.einsum("hwc,c->hw", image.astype(np.float64), weights)
    luma_b = np.einsum("hwc,c->hw", noisy.astype(np.float64), weights)
    expected = 10 * np.log10(255.0**2 / np.mean((luma_a - luma_b) ** 2))
    assert psnr_y(image, noisy) == pytest.approx(expected, rel=1e-12)
    assert psnr_y(image, noisy) > psnr_rgb(image, noisy)  # averaging channels cancels noise


# --- MS-SSIM -----------------------------------------------------------------------------


def test_ms_ssim_of_identical_images_is_one(image):
    assert ms_ssim(image, image.copy()) == 1.0


def test_ms_ssim_decreases_with_noise_and_agrees_with_ssim_in_order(image):
    light, heavy = with_noise(image, 5.0), with_noise(image, 25.0)
    ms_light, ms_heavy = ms_ssim(image, light), ms_ssim(image, heavy)
    assert 0.0 < ms_heavy < ms_light < 1.0
    ssim_light = structural_similarity(image, light, channel_axis=2, data_range=255)
    ssim_heavy = structural_similarity(image, heavy, channel_axis=2, data_range=255)
    assert 0.0 < ssim_heavy < ssim_light <= 1.0


def test_ms_ssim_is_pytorch_msssim_for_large_images(image):
    noisy = with_noise(image, 10.0)
    x, y = _to_nchw_tensor(image), _to_nchw_tensor(noisy)
    library = float(pytorch_msssim.ms_ssim(x, y, data_range=255, size_average=True))
    assert ms_ssim(image, noisy) == library
    # The loop used for small images reproduces the library with the standard weights.
    with torch.no_grad():
        repeated = float(_ms_ssim_with_weights(x, y, list(MS_SSIM_WEIGHTS)))
    assert repeated == pytest.approx(library, abs=1e-6)


@pytest.mark.parametrize(
    ("side", "scales"),
    [(10, 0), (11, 1), (20, 1), (21, 2), (41, 3), (81, 4), (160, 4), (161, 5), (4000, 5)],
)
def test_ms_ssim_num_scales(side, scales):
    assert ms_ssim_num_scales(side, side + 7) == scales
    assert ms_ssim_num_scales(side + 7, side) == scales


def test_ms_ssim_on_small_images():
    small = smooth_image(100, 120)
    assert ms_ssim(small, small) == 1.0
    value = ms_ssim(small, with_noise(small, 10.0))
    assert 0.0 < value < 1.0

    # With one scale, MS-SSIM is SSIM.
    tiny = smooth_image(11, 15)
    noisy_tiny = with_noise(tiny, 10.0)
    ssim = float(
        pytorch_msssim.ssim(_to_nchw_tensor(tiny), _to_nchw_tensor(noisy_tiny), data_range=255)
    )
    assert ms_ssim(tiny, noisy_tiny) == pytest.approx(ssim, abs=1e-6)

    too_small = smooth_image(10, 50)
    assert math.isnan(ms_ssim(too_small, too_small))


# --- bpp and validation ------------------------------------------------------------------


def test_bpp_is_exact():
    assert bpp(0, 10, 10) == 0.0
    assert bpp(1, 1, 1) == 8.0
    assert bpp(3, 4, 6) == 1.0
    assert bpp(98_304, 512, 768) == 2.0
    assert bpp(12_345, 512, 768) == 8 * 12_345 / (512 * 768)


def test_bpp_rejects_bad_arguments():
    with pytest.raises(ValueError):
        bpp(-1, 10, 10)
    with pytest.raises(ValueError):
        bpp(10, 0, 10)


@pytest.mark.parametrize("metric", [mse, psnr_rgb, psnr_y, ms_ssim])
def test_metrics_reject_mismatched_or_non_rgb_arrays(metric):
    rgb = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        metric(rgb, np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metric(rgb[..., 0], rgb[..., 0])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metric(np.zeros((3, 4, 5), np.uint8), np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        metric(rgb.astype(bool), rgb.astype(bool))
    with pytest.raises(ValueError):
        rgb_to_y_bt601(np.zeros((4, 5), np.uint8))
