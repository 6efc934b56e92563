"""Image quality metrics on 8-bit RGB images, as the codec papers report them.

All functions take two ``(H, W, 3)`` arrays of the same shape (uint8, or any real dtype on
the 0..255 scale) and raise ``ValueError`` with a clear message otherwise.

- :func:`psnr_rgb` is PSNR over the mean squared error of all H·W·3 samples together
  (not the mean of three per-channel PSNRs), peak 255; ``inf`` for identical images.
- :func:`psnr_y` is PSNR of the luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601 weights,
  full range 0..255, kept as float, not rounded). This is *not* the studio-range
  (16..235) Y of MATLAB's or scikit-image's ``rgb2ycbcr``.
- :func:`ms_ssim` is MS-SSIM from ``pytorch_msssim`` (11-tap Gaussian window, σ = 1.5,
  data range 255, mean over the three channels). Its five scales need the smaller image
  side above 160 px. Smaller images get as many scales as fit (side > 10·2^(k−1) for k
  scales) with the first k standard weights renormalised to sum to 1; below 11 px not
  even one scale fits and the result is ``nan``. With one scale it equals SSIM.
- :func:`bpp` is bits per pixel, 8 · bytes / (H · W).

torch and pytorch_msssim are imported only inside :func:`ms_ssim`.
"""

from __future__ import annotations

import math

import numpy as np

PEAK_8BIT = 255.0

# BT.601 luma weights for R, G, B.
BT601_LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# The standard MS-SSIM scale weights (Wang et al. 2003), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all samples, in float64."""
    a, b = _rgb_pair(a, b)
    return _mse(a, b)


def psnr_rgb(a: np.ndarray, b: np.ndarray, peak: float = PEAK_8BIT) -> float:
    """PSNR in dB over all RGB samples jointly; ``inf`` when the images are identical."""
    a, b = _rgb_pair(a, b)
    return _psnr(_mse(a, b), peak)


def rgb_to_y_bt601(img: np.ndarray) -> np.ndarray:
    """Full-range BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, as an (H, W) float64 array."""
    img = _rgb_image(img, "img")
    red, green, blue = (img[:, :, channel].astype(np.float64) for channel in range(3))
    w_red, w_green, w_blue = BT601_LUMA_WEIGHTS
    return w_red * red + w_green * green + w_blue * blue


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of the BT.601 luma (see :func:`rgb_to_y_bt601`), peak 255."""
    a, b = _rgb_pair(a, b)
    return _psnr(_mse(rgb_to_y_bt601(a), rgb_to_y_bt601(b)), PEAK_8BIT)


def ms_ssim_num_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit an image of this size (0 to 5)."""
    smaller_side = min(height, width)
    scales = 0
    # pytorch_msssim's own condition for 5 scales is smaller_side > 10 * 2**4.
    while scales < len(MS_SSIM_WEIGHTS) and smaller_side > (_SSIM_WINDOW - 1) * 2**scales:
        scales += 1
    return scales


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM in [0, 1], 1 for identical images; fewer scales or nan for small images."""
    a, b = _rgb_pair(a, b)
    num_scales = ms_ssim_num_scales(a.shape[0], a.shape[1])
    if num_scales == 0:
        return float("nan")

    import pytorch_msssim
    import torch

    x, y = _to_nchw_tensor(a), _to_nchw_tensor(b)
    with torch.no_grad():
        if num_scales == len(MS_SSIM_WEIGHTS):
            value = pytorch_msssim.ms_ssim(x, y, data_range=PEAK_8BIT, size_average=True)
        else:
            total = sum(MS_SSIM_WEIGHTS[:num_scales])
            weights = [weight / total for weight in MS_SSIM_WEIGHTS[:num_scales]]
            value = _ms_ssim_with_weights(x, y, weights)
    return float(value)


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of ``num_bytes`` of coded data for an image of height × width."""
    if num_bytes < 0:
        raise ValueError(f"num_bytes must be >= 0, got {num_bytes}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be at least 1 x 1, got {height} x {width}")
    return 8.0 * num_bytes / (height * width)


def _rgb_image(img: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {img.shape}")
    if not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise ValueError(f"{name} must have an integer or float dtype, got {img.dtype}")
    return img


def _rgb_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _rgb_image(a, "a"), _rgb_image(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: a is {a.shape}, b is {b.shape}")
    return a, b


#: rows of two 8-bit images taken at a time for their squared error (bounds the temporaries)
_MSE_ROWS = 256


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        # Exact in integers a few rows at a time: float64 copies of a 4K image took seconds
        # (the viewer measures the region in view on its GUI thread after each pan); the
        # float64 mean of these integers is the same number.
        squared = 0
        for start in range(0, a.shape[0], _MSE_ROWS):
            rows = slice(start, start + _MSE_ROWS)
            difference = (a[rows].astype(np.int32) - b[rows]).ravel()
            squared += int(np.einsum("i,i->", difference, difference, dtype=np.int64))
        return squared / a.size
    difference = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(difference * difference))


def _psnr(mean_squared_error: float, peak: float) -> float:
    if mean_squared_error == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mean_squared_error)


def _to_nchw_tensor(img: np.ndarray):  # -> torch.Tensor; torch is imported lazily
    import torch

    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


def _ms_ssim_with_weights(x, y, weights: list[float]):
    """pytorch_msssim.ms_ssim's computation for any number of scales.

    ``pytorch_msssim.ms_ssim`` asserts a smaller side > 160 whatever the number of
    weights, so fewer scales need its loop repeated here, on its own per-scale SSIM.
    The tests check that with the five standard weights this equals the library.
    """
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    window = _fspecial_gauss_1d(_SSIM_WINDOW, _SSIM_SIGMA).repeat([x.shape[1], 1, 1, 1])
    contrast_structure = []
    for scale in range(len(weights)):
        ssim_per_channel, cs_per_channel = _ssim(
            x, y, data_range=PEAK_8BIT, win=window, size_average=False
        )
        if scale < len(weights) - 1:
            contrast_structure.append(torch.relu(cs_per_channel))
            padding = [side % 2 for side in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    factors = torch.stack(contrast_structure + [torch.relu(ssim_per_channel)], dim=0)
    exponents = x.new_tensor(weights).view(-1, 1, 1)
    return torch.prod(factors**exponents, dim=0).mean()
