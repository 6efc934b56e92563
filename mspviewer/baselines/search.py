"""Find the setting of a classic codec that lands closest to a target bits-per-pixel.

Used by the GUI ("JPEG / AVIF / VVC at the same size") and by comparisons at equal rate.
The codec's settings are walked as an ordered grid (:meth:`ClassicCodec.quality_grid`,
smallest files first) and bisected on the real encoded size, assuming the size grows along
the grid. The answer is the tried setting with the largest rate not above the target; only
when the grid's first setting is above the target is that setting returned (``below_target``
is then ``False``). Every encode is a real one: ``data`` holds the bytes. Where the size
does not grow along the grid (JPEG XL, WebP: a higher quality can give a smaller file), a
setting that was not tried may land closer to the target; see ``docs/baselines.md``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mspviewer.baselines.base import ClassicCodec, check_pixels, timed_call


@dataclass(frozen=True)
class QualitySearchResult:
    codec: str  #: codec name
    quality: float | int  #: the chosen setting, in the codec's own units
    num_bytes: int  #: size of the file at that setting
    bpp: float  #: 8 * num_bytes / (H * W)
    target_bpp: float
    below_target: bool  #: bpp <= target_bpp
    data: bytes = field(repr=False)  #: the encoded file at that setting
    tried: tuple[tuple[float | int, float], ...] = ()  #: (quality, bpp) of every encode, in order
    encode_s: float | None = None  #: seconds of the encode at the chosen setting

    @property
    def encodes(self) -> int:
        return len(self.tried)


class _Cancelled(Exception):
    pass


def find_quality_for_bpp(codec: ClassicCodec, pixels: np.ndarray, target_bpp: float,
                         cancel: Callable[[], bool] | None = None
                         ) -> QualitySearchResult | None:
    """Bisect ``codec``'s settings for the rate closest to ``target_bpp`` from below.

    Takes the two ends of the grid and about log2(number of settings) encodes between them
    (8-9 in all for 0-100 qualities). ``cancel()`` is asked before every encode; once it
    returns True the search stops and returns None (a setting found halfway would not be the
    answer). Without ``cancel`` it never returns None.
    """
    pixels = check_pixels(pixels)
    if (isinstance(target_bpp, bool) or not isinstance(target_bpp, numbers.Real)
            or not math.isfinite(target_bpp) or target_bpp <= 0):
        raise ValueError(f"target_bpp must be a positive number, got {target_bpp!r}")
    height, width = pixels.shape[:2]
    grid = codec.quality_grid()
    encoded: dict[int, bytes] = {}
    seconds: dict[int, float] = {}
    tried: list[tuple[float | int, float]] = []

    def rate(index: int) -> float:
        if index not in encoded:
            if cancel is not None and cancel():
                raise _Cancelled
            encoded[index], seconds[index] = timed_call(codec, "encode", pixels, grid[index])
            tried.append((grid[index], 8.0 * len(encoded[index]) / (height * width)))
        return 8.0 * len(encoded[index]) / (height * width)

    try:
        return _bisect(codec, grid, target_bpp, rate, encoded, tried, seconds)
    except _Cancelled:
        return None


def _bisect(codec: ClassicCodec, grid: list, target_bpp: float, rate: Callable[[int], float],
            encoded: dict[int, bytes], tried: list, seconds: dict[int, float]
            ) -> QualitySearchResult:
    low, high = 0, len(grid) - 1
    if rate(low) <= target_bpp and rate(high) > target_bpp:
        # Invariant: rate(low) <= target < rate(high).
        while high - low > 1:
            middle = (low + high) // 2
            if rate(middle) <= target_bpp:
                low = middle
            else:
                high = middle
    elif rate(low) <= target_bpp:  # even the largest file fits
        rate(high)

    at_or_below = [i for i in encoded if rate(i) <= target_bpp]
    if at_or_below:
        best = max(at_or_below, key=lambda i: (rate(i), i))
    else:  # nothing fits: the smallest file there is
        best = min(encoded, key=lambda i: (rate(i), i))
    return QualitySearchResult(
        codec=codec.name,
        quality=grid[best],
        num_bytes=len(encoded[best]),
        bpp=rate(best),
        target_bpp=float(target_bpp),
        below_target=rate(best) <= target_bpp,
        data=encoded[best],
        tried=tuple(tried),
        encode_s=seconds[best],
    )
