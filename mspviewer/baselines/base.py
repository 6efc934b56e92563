"""The interface every classic codec implements, and the errors they raise.

A :class:`ClassicCodec` turns an 8-bit RGB image (``numpy`` array, ``H x W x 3``, ``uint8``)
into the exact bytes of a file that the codec's own decoder reads back, and turns those
bytes back into an 8-bit RGB image. The rate of a point is always ``len(encode(...))``:
headers and containers included, nothing estimated.

Qt-free and torch-free: importing this package must stay cheap. A codec whose library is
missing is *unavailable* (:meth:`ClassicCodec.unavailable_reason` says why); only calling
``encode``/``decode`` on it raises :class:`CodecUnavailableError`.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from mspviewer.errors import MSPViewerError


class CodecError(MSPViewerError):
    """A classic codec failed to encode or decode (bad bytes, library or tool failure)."""


class CodecUnavailableError(CodecError):
    """The codec's library or tool is not installed here; the message says what is missing."""


class UnsupportedImageError(CodecError):
    """The codec cannot represent this image (e.g. odd size in 4:2:0 VVC, too small)."""


def timed_call(codec, operation: str, *arguments) -> tuple[Any, float]:
    """``codec.<operation>(*arguments)`` ("encode" or "decode") and its seconds. A codec in a
    helper process (``baselines.isolated``) times the call where it runs, without the
    messages' transfer."""
    timed = getattr(codec, "timed", None)
    if timed is not None:
        return timed(operation, *arguments)
    start = time.perf_counter()
    result = getattr(codec, operation)(*arguments)
    return result, time.perf_counter() - start


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """Return ``pixels`` as a C-contiguous ``uint8`` ``H x W x 3`` array, or raise ValueError."""
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array, not {type(pixels).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(
            f"pixels must be uint8 with shape (H, W, 3); got {pixels.dtype} {pixels.shape}"
        )
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ValueError(f"empty image: shape {pixels.shape}")
    return np.ascontiguousarray(pixels)


class ClassicCodec(ABC):
    """One configured classic codec (e.g. "JPEG, 4:2:0, optimised Huffman tables").

    Subclasses set the class attributes below and implement :meth:`_probe`,
    :meth:`library_version`, :meth:`_encode` and :meth:`_decode`.

    Quality: ``quality`` is the codec's own native setting (Pillow quality, QP, compression
    ratio, ...). ``quality_range`` is the closed interval of accepted values and
    ``quality_step`` its granularity (1 for integer settings). ``more_bytes_when_higher``
    tells which way the file size moves: ``True`` for "quality" settings, ``False`` for a
    quantisation parameter or a compression ratio. ``default_qualities`` is the sweep used
    for RD curves.
    """

    name: str = ""  #: registry key, e.g. ``"jpeg-420"``
    label: str = ""  #: display name, e.g. ``"JPEG 4:2:0"``
    family: str = ""  #: codec family for plots/tables, e.g. ``"JPEG"``
    library: str = ""  #: library or tool that does the work, e.g. ``"Pillow / libjpeg-turbo"``
    quality_name: str = "quality"  #: what ``quality`` means, e.g. ``"QP"``
    quality_range: tuple[float, float] = (0, 100)
    quality_step: float = 1
    more_bytes_when_higher: bool = True
    default_qualities: tuple[float, ...] = ()
    file_extension: str = ""

    def __init__(self) -> None:
        self._probed = False
        self._reason: str | None = None

    # --- availability -------------------------------------------------------------------
    @abstractmethod
    def _probe(self) -> str | None:
        """Return ``None`` when the codec can run here, else a one-line reason."""

    def unavailable_reason(self) -> str | None:
        """Why this codec cannot run here (``None`` when it can). Probed once, then cached."""
        if not self._probed:
            try:
                self._reason = self._probe()
            except Exception as error:  # a broken install must not crash the caller
                self._reason = f"probe failed: {type(error).__name__}: {error}"
            self._probed = True
        return self._reason

    def is_available(self) -> bool:
        return self.unavailable_reason() is None

    def _require_available(self) -> None:
        reason = self.unavailable_reason()
        if reason is not None:
            raise CodecUnavailableError(f"{self.label} is unavailable: {reason}")

    # --- description --------------------------------------------------------------------
    @abstractmethod
    def library_version(self) -> str:
        """Versions of the libraries that actually ran (empty string when unavailable)."""

    def settings(self) -> dict[str, Any]:
        """Fixed encoder settings, colour conversion and bit depth, for reports and docs."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Everything a report needs to say what ran: JSON-serialisable."""
        reason = self.unavailable_reason()
        return {
            "name": self.name,
            "label": self.label,
            "family": self.family,
            "library": self.library,
            "library_version": self.library_version() if reason is None else "",
            "available": reason is None,
            "unavailable_reason": reason,
            "quality_name": self.quality_name,
            "quality_range": list(self.quality_range),
            "quality_step": self.quality_step,
            "more_bytes_when_higher": self.more_bytes_when_higher,
            "default_qualities": list(self.default_qualities),
            "settings": self.settings(),
        }

    # --- quality ------------------------------------------------------------------------
    def check_quality(self, quality: float) -> float | int:
        """Validate ``quality`` against the range (and, for integer settings, that it is a
        whole number); return it in its native type. A fractional step (JPEG 2000's 0.1) is
        only the quality search's granularity: any value in the range is accepted."""
        low, high = self.quality_range
        if not isinstance(quality, (int, float, np.integer, np.floating)) or not math.isfinite(
            float(quality)
        ):
            raise CodecError(f"{self.label}: {self.quality_name} must be a number, got {quality!r}")
        if not low <= float(quality) <= high:
            raise CodecError(
                f"{self.label}: {self.quality_name} {quality} is outside [{low:g}, {high:g}]"
            )
        if float(self.quality_step).is_integer() and float(low).is_integer():
            if not float(quality).is_integer():
                raise CodecError(
                    f"{self.label}: {self.quality_name} must be an integer, got {quality}"
                )
            return int(quality)
        return float(quality)

    def quality_grid(self) -> list[float | int]:
        """Every setting the quality search may try, ordered by increasing file size."""
        low, high = self.quality_range
        count = int(round((high - low) / self.quality_step)) + 1
        integer = float(self.quality_step).is_integer() and float(low).is_integer()
        values: Sequence[float | int] = [
            int(round(low + i * self.quality_step)) if integer
            else round(low + i * self.quality_step, 10)
            for i in range(count)
        ]
        values = [v for v in values if v <= high]
        return list(values) if self.more_bytes_when_higher else list(reversed(values))

    # --- coding -------------------------------------------------------------------------
    def encode(self, pixels: np.ndarray, quality: float) -> bytes:
        """Encode 8-bit RGB ``pixels`` at ``quality``; return the whole file's bytes."""
        self._require_available()
        pixels = check_pixels(pixels)
        quality = self.check_quality(quality)
        return self._encode(pixels, quality)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode bytes written by :meth:`encode` to an ``H x W x 3`` ``uint8`` RGB array."""
        self._require_available()
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            raise CodecError(f"{self.label}: nothing to decode")
        image = self._decode(bytes(data))
        return check_pixels(image)

    @abstractmethod
    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes: ...

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
