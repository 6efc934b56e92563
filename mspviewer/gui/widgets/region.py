"""The part of the image a compare view shows, and how each coding fares there: zoomed in on
an artifact, the PSNR of the region in view says whether MSP or the classic codec loses
there, and by how much, where the whole image's PSNR averages it away."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF

from mspviewer.metrics import psnr_rgb

#: the line's name for a PSNR of an identical region
IDENTICAL = "∞ (identical)"
#: the line when the view shows none of the image
NOTHING_IN_VIEW = "No part of the image in view (Fit shows it whole)"


def visible_region(rect: QRectF, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the image pixels at least partly inside ``rect`` (a view's
    range, in image pixels), clipped to a ``width`` × ``height`` image; None when no pixel
    is in view."""
    left, top = max(math.floor(rect.left()), 0), max(math.floor(rect.top()), 0)
    right, bottom = min(math.ceil(rect.right()), width), min(math.ceil(rect.bottom()), height)
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


@dataclass(frozen=True)
class Coding:
    """One coding of the image, as the region line names it."""

    name: str  #: "MSP", or the third pane's name
    pixels: np.ndarray  #: its decoded image, the original's size
    whole_psnr: float | None = None  #: its PSNR-RGB over the whole image, where known
    bits_per_pixel: float | None = None  #: its bits per pixel in the region, where known
    note: str = ""  #: what qualifies the comparison ("its smallest: 0.62 bpp")


def _decibels(value: float) -> str:
    return IDENTICAL if math.isinf(value) else f"{value:.2f} dB"


def region_line(region: tuple[int, int, int, int], original: np.ndarray,
                codings: list[Coding]) -> str:
    """The PSNR-RGB of each of ``codings`` in ``region`` (x, y, width, height) of
    ``original``, the comparison first (a narrow panel cuts the end of the line); then the
    bits per pixel there (the model's estimate: no header, no padding), the whole image's
    PSNRs and where the region is, when it is a part: "PSNR-RGB in view: MSP 31.24 dB ·
    JPEG 4:2:0 27.93 dB · MSP est. 0.52 bpp here · whole image 32.66 · 28.11 dB · view
    212×140 at 120, 64"."""
    x, y, width, height = region
    whole = (x, y, width, height) == (0, 0, original.shape[1], original.shape[0])
    window = (slice(y, y + height), slice(x, x + width))
    parts = []
    for coding in codings:
        value = (coding.whole_psnr if whole and coding.whole_psnr is not None
                 else psnr_rgb(original[window], coding.pixels[window]))
        parts.append(f"{coding.name} {_decibels(value)}"
                     + (f" ({coding.note})" if coding.note else ""))
    if whole:
        return "PSNR-RGB, whole image in view: " + " · ".join(parts)
    parts += [f"{coding.name} est. {coding.bits_per_pixel:.2f} bpp here" for coding in codings
              if coding.bits_per_pixel is not None]
    overall = [coding.whole_psnr for coding in codings]
    if all(value is not None for value in overall):
        parts.append("whole image " + " · ".join(
            IDENTICAL if math.isinf(value) else f"{value:.2f}" for value in overall) + " dB")
    parts.append(f"view {width}×{height} at {x}, {y}")
    return "PSNR-RGB in view: " + " · ".join(parts)
