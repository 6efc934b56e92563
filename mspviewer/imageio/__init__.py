"""Load any image Pillow can read as 8-bit RGB, and save 8-bit RGB as PNG.

The codec, the classic baselines and the GUI all work on ``(H, W, 3)`` uint8 RGB. This
package is the one place where other images become that, by these rules:

- **Size limit first.** The pixel count from the file header is checked against
  ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, 64 Mi pixels) before any pixel data
  is decoded; a larger image is refused with a message giving its size and the limit.
  Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) still applies on top
  and is reported the same way. Any size from 1×1 up is accepted.
- **First frame only.** Of a multi-frame file (GIF, APNG, TIFF pages, MPO) the first frame
  is used, and noted.
- **EXIF orientation** is applied exactly as ``PIL.ImageOps.exif_transpose`` would, after
  the conversion to 8-bit RGB (so 16-bit PNGs keep their full depth until then), and noted;
  where the decoder applies it itself (TIFF in Pillow, HEIF in pillow-heif) it is only noted.
- **Alpha.** ``alpha="composite"`` (default) composites on white:
  ``out = round(255 · (c·a + 1 − a))`` with ``c`` and ``a`` the stored colour and alpha
  scaled to [0, 1], computed from the stored bit depth. ``alpha="drop"`` keeps the colour
  as stored. Palette and grey/RGB colour-key transparency count as alpha. An alpha channel
  that is fully opaque is dropped either way (noted, pixels unchanged).
- **Bit depth.** 16-bit samples become 8-bit by rounding, ``round(v · 255 / 65535)``,
  never by truncation. That includes 48/64-bit RGB(A) and 32-bit grey+alpha PNGs, which
  Pillow 13 itself opens as 8-bit ``RGB``/``RGBA`` keeping only the high byte: they are
  decoded a second time for the low bytes (a Pillow image passed in directly cannot be
  re-read, so it keeps Pillow's truncated 8 bits; this is noted). 48/64-bit RGB(A) TIFFs,
  which Pillow also truncates (and scrambles when uncompressed and stored plane by plane),
  are read by tifffile; with a compression tifffile lacks (LZW, JPEG) Pillow's 8 bits are
  kept and noted.
  Mode ``I`` (32-bit integer) is clipped to 0..65535 and read as 16-bit, except signed
  16-bit samples (TIFF), which are shifted from −32768..32767 to 0..65535. Mode ``F``
  (32-bit float) is taken to be in [0, 1] if its maximum is <= 1 and in [0, 255]
  otherwise (judged on the finite samples); NaN becomes 0, ±inf the ends of the range, and
  values are clipped to the range.
- **Colour models.** Grey (``1``, ``L``, ``I;16*``, ``I``, ``F``, ``LA``) is repeated into
  three channels; palettes (``P``, ``PA``) are expanded; ``CMYK`` (plain formula, no colour
  profile), ``YCbCr``, ``LAB`` and ``HSV`` are converted by Pillow.
- **ICC profiles.** Embedded colour profiles are not applied: the pixels as stored (for
  the four models just named, as Pillow converts them) are taken to be sRGB. A profile
  whose description (read with ``PIL.ImageCms``) does not name sRGB is noted, and so is
  one that cannot be read; not a Lab profile on a ``LAB`` image, which Pillow's conversion
  reads as that Lab anyway.
- **Optional readers.** JPEG XL (``pillow-jxl-plugin``) and HEIC/HEIF (``pillow-heif``)
  are registered with Pillow here, once, before the first file is opened, where those
  packages are installed (without them such files are "not an image"): what loads does not
  depend on what else the process imported. The JPEG XL reader decodes the whole file as
  it opens it, so for JPEG XL the size limit is checked only after decoding.
- **Notes.** Every conversion above, and a profile left unapplied, adds a human-readable
  line to :attr:`LoadedImage.notes`; an 8-bit RGB file without EXIF rotation or a non-sRGB
  colour profile has none.
- **Errors.** Missing, empty, unreadable, truncated or corrupt files and non-images raise
  :class:`~mspviewer.errors.ImageLoadError` with a one-line message naming the file, never
  a raw Pillow exception. What tifffile finds wrong in a damaged TIFF is not logged (it
  would print to stderr).

Only numpy, Pillow, tifffile (for 16-bit colour TIFFs) and the optional readers above are
used here: no torch, no Qt.

The package: this module is the interface (:func:`load_image` and the rest below);
:mod:`~mspviewer.imageio.opening` opens sources and words every failure,
:mod:`~mspviewer.imageio.samples` decodes the pixels at their own bit depth, and
:mod:`~mspviewer.imageio.colour` makes 8-bit RGB of them (alpha, grey) and reads the
orientation and the colour profile.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mspviewer.files import write_output
from mspviewer.imageio.colour import (apply_exif_orientation, icc_profile_notes,
                                      orientation_applied_by_decoder, read_exif_orientation,
                                      samples_to_rgb8)
from mspviewer.imageio.opening import (ImageSource, as_load_error, check_size, describe,
                                       open_source, refuse_if_empty, reopener,
                                       select_first_frame)
from mspviewer.imageio.samples import read_samples

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

ALPHA_POLICIES = ("composite", "drop")


class PixelShape:
    """``height``, ``width`` and ``num_pixels`` of a class with a ``pixels`` (H, W, 3) array."""

    pixels: np.ndarray

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def num_pixels(self) -> int:
        return self.height * self.width


@dataclass(frozen=True, eq=False)  # eq=False: == on numpy arrays has no single truth value
class LoadedImage(PixelShape):
    """An image as the rest of the project sees it: 8-bit RGB plus what was done to it."""

    pixels: np.ndarray  # (H, W, 3) uint8, C-contiguous
    source_mode: str  # Pillow mode before conversion
    notes: tuple[str, ...]  # human-readable notes on every conversion applied
    path: str | None = None  # the file it came from, if any

    def __post_init__(self) -> None:
        _require_rgb8(self.pixels)


def pixel_count(path: str | os.PathLike) -> int | None:
    """Width × height from the file's header (nothing decoded, except by the JPEG XL reader,
    which decodes as it opens), or None when Pillow cannot open it: a caller deciding how to
    load a file learns its size cheaply, and :func:`load_image` gives the reason for
    anything unreadable."""
    try:
        with open_source(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return width * height


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    alpha: str = "composite",
) -> LoadedImage:
    """Load ``source`` (a path, the bytes of a file, or a Pillow image) as 8-bit RGB.

    See the module docstring for the rules. Raises
    :class:`~mspviewer.errors.ImageLoadError` for anything wrong with the image itself,
    ``ValueError`` for bad arguments.
    """
    _check_alpha_policy(alpha)
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, got {max_pixels}")
    label = describe(source)
    refuse_if_empty(source, label)
    with as_load_error(label, source), open_source(source) as image:
        check_size(image, max_pixels, label)
        frame_notes = select_first_frame(image)
        decoder_orientation = orientation_applied_by_decoder(image)
        samples = read_samples(image, reopener(source))
        orientation, orientation_notes = read_exif_orientation(image)
        profile_notes = icc_profile_notes(image)
    # Pillow's TIFF reader and pillow-heif turn the pixels themselves as they decode them and
    # then drop the tag: the orientation is then noted but not applied a second time.
    turned_by_decoder = orientation == 1 and decoder_orientation != 1
    if turned_by_decoder:
        orientation = decoder_orientation
    pixels, conversion_notes = samples_to_rgb8(samples, alpha)
    pixels, rotation_notes = apply_exif_orientation(pixels, orientation, turned_by_decoder)
    return LoadedImage(
        pixels=pixels,
        source_mode=image.mode,
        notes=tuple(frame_notes + conversion_notes + profile_notes + orientation_notes
                    + rotation_notes),
        path=os.fspath(source) if isinstance(source, (str, os.PathLike)) else None,
    )


def pixels_from_pil(
    image: Image.Image, *, alpha: str = "composite"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Convert a Pillow image's pixels to (H, W, 3) uint8 RGB, with notes.

    Applies the mode, bit-depth and alpha rules of :func:`load_image`, but neither the
    size limit nor EXIF orientation, and Pillow's errors are not translated. A PNG's own bit
    depth is read from the undecoded image: pass one not yet loaded (``Image.open``), since
    once loaded a 16-bit or 1/2/4-bit grey PNG looks like an 8-bit one (its colour key then
    cannot be matched as stored in the file).
    """
    _check_alpha_policy(alpha)
    pixels, notes = samples_to_rgb8(read_samples(image, reopen=None), alpha)
    return pixels, tuple(notes)


def encode_rgb8(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    """(H, W, 3) uint8 RGB pixels as the bytes of a file in ``image_format`` (a Pillow
    format name; PNG, TIFF, BMP and PPM are lossless). Any memory layout is accepted."""
    if isinstance(pixels, np.ndarray):
        pixels = np.ascontiguousarray(pixels)
    _require_rgb8(pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def save_png(pixels: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write (H, W, 3) uint8 RGB pixels to ``path`` as a PNG (lossless), whole or not at all:
    a failure leaves an earlier file at ``path`` as it was."""
    write_output(path, encode_rgb8(pixels, "PNG"))


def _check_alpha_policy(alpha: str) -> None:
    if alpha not in ALPHA_POLICIES:
        raise ValueError(f"alpha must be one of {ALPHA_POLICIES}, got {alpha!r}")


def _require_rgb8(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be a uint8 numpy array, got {_describe_array(pixels)}")
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ValueError(f"pixels must have shape (H, W, 3), got {pixels.shape}")
    if not pixels.flags.c_contiguous:
        raise ValueError("pixels must be C-contiguous")


def _describe_array(value: object) -> str:
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} of {dtype}" if dtype is not None else type(value).__name__
