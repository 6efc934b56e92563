"""The part of the image a compare view shows, and how each coding fares there: zoomed in on
an artifact, the PSNR of the region in view says whether MSP or the classic codec loses
there, and by how much, where the whole image's PSNR averages it away."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF

from mspviewer.metrics import psnr_rgb

#: the line's name for a PSNR of an identical region
IDENTICAL = "∞ (identical)"


def visible_region(rect: QRectF, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the image pixels at least partly inside ``rect`` (a view's
    range, in image pixels), clipped to a ``width`` × ``height`` image; None when no pixel
    is in view."""
    left, top = max(math.floor(rect.left()), 0), max(math.floor(rect.top()), 0)
    right, bottom = min(math.ceil(rect.right()), width), min(math.ceil(rect.bottom()), height)
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


def _decibels(value: float) -> str:
    return IDENTICAL if math.isinf(value) else f"{value:.2f} dB"


def region_line(region: tuple[int, int, int, int], original: np.ndarray,
                codings: list[tuple[str, np.ndarray, float | None, float | None]]) -> str:
    """The PSNR-RGB of each of ``codings`` ((name, decoded pixels, whole-image PSNR, bits
    per pixel in the region where known)) in ``region`` of ``original``; with the whole
    image's beside it when the region is a part. "In view (212×140 at 120, 64), PSNR-RGB:
    MSP 31.24 dB, 0.52 bpp · JPEG 4:2:0 27.93 dB · whole image 32.66 · 28.11 dB"."""
    x, y, width, height = region
    whole = (x, y, width, height) == (0, 0, original.shape[1], original.shape[0])
    window = (slice(y, y + height), slice(x, x + width))
    values = [whole_psnr if whole and whole_psnr is not None
              else psnr_rgb(original[window], pixels[window])
              for _name, pixels, whole_psnr, _bpp in codings]
    shown = " · ".join(
        f"{name} {_decibels(value)}" + (f", {bpp:.2f} bpp" if bpp is not None and not whole
                                        else "")
        for (name, _pixels, _whole, bpp), value in zip(codings, values))
    if whole:
        return f"Whole image in view, PSNR-RGB: {shown}"
    line = f"In view ({width}×{height} at {x}, {y}), PSNR-RGB: {shown}"
    overall = [whole_psnr for _name, _pixels, whole_psnr, _bpp in codings]
    if all(value is not None for value in overall):
        line += " · whole image " + " · ".join(
            IDENTICAL if math.isinf(value) else f"{value:.2f}" for value in overall) + " dB"
    return line
