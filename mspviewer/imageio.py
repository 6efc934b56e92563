"""Load any image Pillow can read as 8-bit RGB, and save 8-bit RGB as PNG.

The codec, the classic baselines and the GUI all work on ``(H, W, 3)`` uint8 RGB. This
module is the one place where other images become that, by these rules:

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
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image

from mspviewer.errors import ImageLoadError
from mspviewer.files import write_output

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

ALPHA_POLICIES = ("composite", "drop")

ImageSource = str | os.PathLike[str] | bytes | bytearray | Image.Image

_MAX_8BIT = 255
_MAX_16BIT = 65535

# Rows of this many pixels at most are composited at once, to bound the float32 temporaries.
_COMPOSITE_BAND_PIXELS = 1 << 20

# The same table as PIL.ImageOps.exif_transpose, with a note for each orientation.
_EXIF_ORIENTATIONS: dict[int, tuple[Image.Transpose, str]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored left-right"),
    3: (Image.Transpose.ROTATE_180, "rotated 180°"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "mirrored top-bottom"),
    5: (Image.Transpose.TRANSPOSE, "transposed"),
    6: (Image.Transpose.ROTATE_270, "rotated 90° clockwise"),
    7: (Image.Transpose.TRANSVERSE, "transversed"),
    8: (Image.Transpose.ROTATE_90, "rotated 90° counter-clockwise"),
}

# Modes that Pillow converts for us: source mode -> (target mode, note).
_CONVERTED_BY_PILLOW: dict[str, tuple[str, str]] = {
    "CMYK": ("RGB", "CMYK converted to RGB (plain formula, no colour profile)"),
    "YCbCr": ("RGB", "YCbCr converted to RGB"),
    "LAB": ("RGB", "CIE L*a*b* converted to RGB"),
    "HSV": ("RGB", "HSV converted to RGB"),
    "RGBX": ("RGB", "unused fourth channel of RGBX dropped"),
    "RGBa": ("RGBA", "premultiplied alpha un-premultiplied"),
    "La": ("LA", "premultiplied alpha un-premultiplied"),
    "PA": ("RGBA", "palette expanded"),
}

_GREY_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_SIGNED_16BIT_OFFSET = 32768  # -32768 -> 0, 32767 -> 65535

# Pillow's rawmodes for PNGs with 16 bits per sample and colour or alpha; for these Pillow
# keeps only the high byte of each sample. Maps to the rawmode that reads the low bytes.
_PNG_16BIT_LOW_BYTE_RAWMODES = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}
# Grey+alpha 16-bit PNGs (opened as RGBA) have no such pair; the 8-bit "RGBA" rawmode reads
# their 4 bytes per pixel unchanged: grey high, grey low, alpha high, alpha low.
_PNG_16BIT_GREY_ALPHA_RAWMODE = "LA;16B"


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


@dataclass
class _Samples:
    """Decoded samples before reduction to 8-bit RGB.

    ``array`` is (H, W, C) with C = 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA), of an
    unsigned integer type whose full scale is ``max_value`` (255 or 65535).
    """

    array: np.ndarray
    max_value: int
    notes: list[str]


def pixel_count(path: str | os.PathLike) -> int | None:
    """Width × height from the file's header (nothing decoded, except by the JPEG XL reader,
    which decodes as it opens), or None when Pillow cannot open it: a caller deciding how to
    load a file learns its size cheaply, and :func:`load_image` gives the reason for
    anything unreadable."""
    try:
        with _open(path) as image:
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

    See the module docstring for the rules. Raises :class:`ImageLoadError` for anything
    wrong with the image itself, ``ValueError`` for bad arguments.
    """
    _check_alpha_policy(alpha)
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, got {max_pixels}")
    label = _describe(source)
    _refuse_if_empty(source, label)
    with _as_load_error(label, source), _open(source) as image:
        _check_size(image, max_pixels, label)
        frame_notes = _select_first_frame(image)
        decoder_orientation = _orientation_applied_by_decoder(image)
        samples = _read_samples(image, _reopener(source))
        orientation, orientation_notes = _read_exif_orientation(image)
        profile_notes = _icc_profile_notes(image)
    # Pillow's TIFF reader and pillow-heif turn the pixels themselves as they decode them and
    # then drop the tag: the orientation is then noted but not applied a second time.
    turned_by_decoder = orientation == 1 and decoder_orientation != 1
    if turned_by_decoder:
        orientation = decoder_orientation
    pixels, conversion_notes = _samples_to_rgb8(samples, alpha)
    pixels, rotation_notes = _apply_exif_orientation(pixels, orientation, turned_by_decoder)
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
    pixels, notes = _samples_to_rgb8(_read_samples(image, reopen=None), alpha)
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


# --- opening and error reporting ---------------------------------------------------------


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


def _describe(source: ImageSource) -> str:
    """How error messages name the image."""
    if isinstance(source, (bytes, bytearray)):
        return f"from memory ({len(source)} bytes)"
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", "")
        return f"'{filename}'" if filename else "(Pillow image in memory)"
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def _refuse_if_empty(source: ImageSource, label: str) -> None:
    # Pillow would only say it cannot identify the file; an empty file deserves a clearer word.
    if isinstance(source, (bytes, bytearray)):
        is_empty = len(source) == 0
    elif isinstance(source, (str, os.PathLike)):
        is_empty = os.path.isfile(source) and os.path.getsize(source) == 0
    else:
        is_empty = False
    if is_empty:
        raise ImageLoadError(f"Cannot load image {label}: the file is empty")


_OPTIONAL_READERS_LOCK = threading.Lock()
_optional_readers_registered = False


def _register_optional_readers() -> None:
    """Register the JPEG XL and HEIF readers with Pillow, once, where installed.

    Done here rather than left to whoever imports the plugins first (the JPEG XL baseline's
    availability probe does, as a side effect), so that the files that load do not depend
    on what else ran in the process.
    """
    global _optional_readers_registered
    if _optional_readers_registered:
        return
    with _OPTIONAL_READERS_LOCK:  # images load on several GUI threads
        if _optional_readers_registered:
            return
        try:
            import pillow_jxl  # noqa: F401  (importing it registers the JXL format)
        except ImportError:
            pass
        try:
            import pillow_heif
        except ImportError:
            pass
        else:
            pillow_heif.register_heif_opener()
        _optional_readers_registered = True


def _open(source: ImageSource) -> contextlib.AbstractContextManager[Image.Image]:
    if isinstance(source, Image.Image):
        return contextlib.nullcontext(source)  # the caller owns it: do not close it
    _register_optional_readers()
    with warnings.catch_warnings():
        # Our own max_pixels check decides; Pillow's warning below its hard limit is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if isinstance(source, (bytes, bytearray)):
            return Image.open(io.BytesIO(source))
        return Image.open(source)


def _reopener(source: ImageSource) -> Callable[[], Image.Image] | None:
    """A way to open the same file again, or None for a Pillow image passed in."""
    if isinstance(source, (bytes, bytearray)):
        return lambda: Image.open(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        return lambda: Image.open(source)
    return None


@contextlib.contextmanager
def _as_load_error(label: str, source: ImageSource | None = None) -> Iterator[None]:
    """Report any failure of Pillow on this image as one ImageLoadError line.

    Pillow's format plugins raise a wide, undocumented range of exceptions on malformed
    input (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, ...), so
    everything is caught; the original stays attached as ``__cause__``.
    """
    try:
        yield
    except ImageLoadError:
        raise
    except Exception as exc:
        reason = _reason(exc)
        if isinstance(exc, Image.UnidentifiedImageError) and source is not None:
            reason = _unreadable_tiff_reason(source) or reason
        raise ImageLoadError(f"Cannot load image {label}: {reason}") from exc


_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF


def _unreadable_tiff_reason(source: ImageSource) -> str | None:
    """What a TIFF that Pillow refuses holds (e.g. float64 or float16 samples), so that the
    error names the unsupported samples instead of calling the file "not an image"."""
    try:
        if isinstance(source, (bytes, bytearray)):
            head, handle = bytes(source[:4]), io.BytesIO(source)
        elif isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as opened:
                head = opened.read(4)
            handle = source
        else:
            return None
        if head not in _TIFF_MAGIC:
            return None
        import tifffile

        with _tifffile_quiet(), tifffile.TiffFile(handle) as tiff:
            page = tiff.pages[0]
            dtype, samples = page.dtype, page.samplesperpixel
    except Exception:  # a damaged TIFF: the generic reason stands
        return None
    if dtype is None:  # a page without sample data: damaged, not of an unsupported kind
        return None
    return (f"a TIFF of {samples} {dtype} sample{'s' if samples > 1 else ''} per pixel, which "
            f"is not supported (TIFFs of 8- or 16-bit integer samples are, and 32-bit grey)")


_TIFFFILE_QUIET_LOCK = threading.Lock()
_tifffile_quiet_readers = 0  # readers inside _tifffile_quiet; the logger is off while > 0
_tifffile_was_disabled = False


@contextlib.contextmanager
def _tifffile_quiet():
    """tifffile logs what it finds wrong ("… contains no pages", "invalid value offset") to
    stderr through the root logger's last-resort handler; the loader only wants its answer
    (a damaged file's error, if any, says the rest, in one line).

    Images load on several GUI threads: the lock guards only the count of readers, never a
    whole decode, so a small TIFF opened on the GUI thread does not wait for a large one
    being decoded on the file thread. The logger is off from the first reader in to the last
    one out, then as it was before."""
    global _tifffile_quiet_readers, _tifffile_was_disabled
    logger = logging.getLogger("tifffile")
    with _TIFFFILE_QUIET_LOCK:
        if _tifffile_quiet_readers == 0:
            _tifffile_was_disabled, logger.disabled = logger.disabled, True
        _tifffile_quiet_readers += 1
    try:
        yield
    finally:
        with _TIFFFILE_QUIET_LOCK:
            _tifffile_quiet_readers -= 1
            if _tifffile_quiet_readers == 0:
                logger.disabled = _tifffile_was_disabled


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not an image, or in a format Pillow cannot read"
    if isinstance(exc, Image.DecompressionBombError):
        return f"refused as too large by Pillow ({_one_line(exc)})"
    return f"corrupt or unsupported image data ({type(exc).__name__}: {_one_line(exc)})"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_size(image: Image.Image, max_pixels: int, label: str) -> None:
    width, height = image.size  # from the header: nothing decoded yet
    if width < 1 or height < 1:
        raise ImageLoadError(f"Cannot load image {label}: it has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"Cannot load image {label}: {width} x {height} = {width * height:,} pixels "
            f"is more than the limit of {max_pixels:,} pixels"
        )


def _select_first_frame(image: Image.Image) -> list[str]:
    num_frames = getattr(image, "n_frames", 1)
    if num_frames <= 1:
        return []
    if image.tell() != 0:
        image.seek(0)
    return [f"first of {num_frames} frames used"]


# --- decoding to samples -----------------------------------------------------------------


def _read_samples(image: Image.Image, reopen: Callable[[], Image.Image] | None) -> _Samples:
    """Decode ``image`` into samples of its own bit depth (see :class:`_Samples`)."""
    png_rawmode = _png_16bit_colour_rawmode(image)
    if png_rawmode is not None:
        if reopen is not None:
            return _read_png_16bit_colour(image, reopen, png_rawmode)
        # A 16-bit colour key cannot be matched exactly against the high bytes: ignored.
        key_ignored = image.info.get("transparency") is not None
        samples = _read_8bit_or_16bit(image, colour_key=False)
        samples.notes.insert(0, "16-bit PNG reduced to 8 bits by Pillow (truncated, not rounded)")
        if key_ignored:
            samples.notes.append("its 16-bit transparent colour key was ignored (open the file "
                                 "itself for exact 16-bit reading)")
        return samples
    if _is_16bit_colour_tiff(image):
        return _read_tiff_16bit_colour(image)
    samples = _read_8bit_or_16bit(image)
    if image.format == "TIFF" and image.mode == "CMYK" and _tiff_bits(image) == {16}:
        # Pillow has no 16-bit CMYK mode: it keeps the high bytes, then converts to RGB.
        samples.notes.insert(0, "16-bit CMYK TIFF reduced to 8 bits by Pillow")
    return samples


def _read_8bit_or_16bit(image: Image.Image, colour_key: bool = True) -> _Samples:
    mode = image.mode
    # before decoding: it reads the undecoded tile; 0 turns the key off
    key_scale = _colour_key_scale(image) if colour_key else 0
    if mode in ("L", "LA", "RGB", "RGBA"):
        return _with_colour_key(_samples(np.asarray(image), _MAX_8BIT), image, key_scale)
    if mode in _GREY_16BIT_MODES:
        grey = np.asarray(image).astype(np.uint16)  # also makes big-endian I;16B native
        return _with_colour_key(_samples(grey, _MAX_16BIT), image, key_scale)
    if mode == "1":
        grey = np.asarray(image).astype(np.uint8) * np.uint8(_MAX_8BIT)
        samples = _samples(grey, _MAX_8BIT, "1-bit black and white expanded to 8 bits")
        return _with_colour_key(samples, image, _MAX_8BIT if colour_key else 0)
    if mode == "I" and _is_signed_16bit(image):
        # Clipping at 0 would drop half the range: shift it instead, keeping every level.
        grey = (np.asarray(image).astype(np.int32) + _SIGNED_16BIT_OFFSET).astype(np.uint16)
        return _samples(grey, _MAX_16BIT, "signed 16-bit samples mapped linearly from "
                                          "−32768..32767 to 0..65535")
    if mode == "I":
        grey = np.clip(np.asarray(image), 0, _MAX_16BIT).astype(np.uint16)
        return _samples(grey, _MAX_16BIT, "32-bit integer samples clipped to 0..65535")
    if mode == "F":
        return _read_float(np.asarray(image))
    if mode == "P":
        target = "RGBA" if image.has_transparency_data else "RGB"
        return _samples(np.asarray(image.convert(target)), _MAX_8BIT, "palette expanded")
    target, note = _CONVERTED_BY_PILLOW.get(mode, _pillow_fallback(image))
    return _samples(np.asarray(image.convert(target)), _MAX_8BIT, note)


def _is_signed_16bit(image: Image.Image) -> bool:
    """Whether Pillow reads ``image`` (mode ``I``, undecoded) from signed 16-bit samples,
    as it does for TIFFs with SampleFormat 2 and 16 bits per sample (rawmodes ``I;16S``,
    ``I;16BS``: any byte order)."""
    tiles = getattr(image, "tile", ())  # (an Image made in memory has none)
    rawmodes = {tile[3][0] if isinstance(tile[3], tuple) else tile[3] for tile in tiles}
    return bool(rawmodes) and all(str(raw).startswith("I;16") and str(raw).endswith("S")
                                  for raw in rawmodes)


def _pillow_fallback(image: Image.Image) -> tuple[str, str]:
    target = "RGBA" if image.has_transparency_data else "RGB"
    return target, f"mode {image.mode} converted to {target} by Pillow"


def _samples(array: np.ndarray, max_value: int, *notes: str) -> _Samples:
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return _Samples(array=array, max_value=max_value, notes=list(notes))


def _read_float(values: np.ndarray) -> _Samples:
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    # The range is judged on the finite samples: one +inf must not turn a [0, 1] image into
    # a [0, 255] one (almost black).
    full_scale = 1.0 if values[finite].max(initial=0.0) <= 1.0 else 255.0
    values = np.nan_to_num(values, nan=0.0, posinf=full_scale, neginf=0.0)
    grey = np.rint(np.clip(values, 0.0, full_scale) * (_MAX_8BIT / full_scale)).astype(np.uint8)
    notes = [f"32-bit float samples read as the range [0, {full_scale:g}] and rounded to 8 bits"]
    if not finite.all():
        notes.append(f"{int((~finite).sum()):,} non-finite float samples: NaN read as 0, "
                     f"+inf as {full_scale:g}, −inf as 0")
    return _samples(grey, _MAX_8BIT, *notes)


def _colour_key_scale(image: Image.Image) -> int:
    """What the colour key is multiplied by to match the samples: Pillow expands 1, 2 and
    4-bit grey PNG samples to 0…255 (×255, ×85, ×17) but keeps the key in the file's scale."""
    if image.format != "PNG" or len(image.tile) != 1:
        return 1
    bits = {"1": 1, "L;2": 2, "L;4": 4}.get(image.tile[0][3])
    return 1 if bits is None else _MAX_8BIT // (2 ** bits - 1)


def _with_colour_key(samples: _Samples, image: Image.Image, key_scale: int = 1) -> _Samples:
    """Turn a grey or RGB colour key ("transparency" in PNG/GIF info) into an alpha channel."""
    key = image.info.get("transparency")
    channels = samples.array.shape[2]
    if key is None or channels not in (1, 3) or key_scale == 0:
        return samples
    key = np.atleast_1d(np.asarray(key)) * key_scale
    if key.shape != (channels,) or key.min() < 0 or key.max() > samples.max_value:
        return samples  # malformed key, or one for a bit depth we do not have: ignore it
    is_key = np.all(samples.array == key.astype(samples.array.dtype), axis=2, keepdims=True)
    alpha = np.where(is_key, 0, samples.max_value).astype(samples.array.dtype)
    samples.array = np.concatenate([samples.array, alpha], axis=2)
    samples.notes.append("transparent colour key turned into alpha")
    return samples


def _png_16bit_colour_rawmode(image: Image.Image) -> str | None:
    """Pillow's rawmode if ``image`` is an undecoded PNG that Pillow would truncate to 8 bits."""
    if image.format != "PNG" or len(image.tile) != 1:
        return None
    rawmode = image.tile[0][3]
    if rawmode in _PNG_16BIT_LOW_BYTE_RAWMODES or rawmode == _PNG_16BIT_GREY_ALPHA_RAWMODE:
        return rawmode
    return None


def _read_png_16bit_colour(
    image: Image.Image, reopen: Callable[[], Image.Image], rawmode: str
) -> _Samples:
    """Read the full 16 bits of a PNG that Pillow itself would only read the high bytes of.

    Pillow's PNG decoder unfilters rows by bytes per pixel, so any rawmode with the same
    number of bits per pixel decodes the same bytes; only the unpacking differs.
    """
    if rawmode == _PNG_16BIT_GREY_ALPHA_RAWMODE:
        raw_bytes = _decode_with_rawmode(image, "RGBA")
        grey_alpha = _join_bytes(raw_bytes[:, :, 0::2], raw_bytes[:, :, 1::2])
        return _samples(grey_alpha, _MAX_16BIT)
    high_bytes = np.asarray(image)  # Pillow's own decode keeps the high byte of each sample
    with reopen() as again:
        if _png_16bit_colour_rawmode(again) != rawmode or again.size != image.size:
            raise ValueError("the file changed while it was being read")
        low_bytes = _decode_with_rawmode(again, _PNG_16BIT_LOW_BYTE_RAWMODES[rawmode])
    return _with_colour_key(_samples(_join_bytes(high_bytes, low_bytes), _MAX_16BIT), image)


def _is_16bit_colour_tiff(image: Image.Image) -> bool:
    """A TIFF with 16-bit colour samples, which Pillow reads as 8-bit RGB or RGBA: keeping the
    high bytes when it reads them right, and scrambling the planes of an uncompressed one
    stored plane by plane (planar configuration 2, Pillow 13)."""
    if image.format != "TIFF" or image.mode not in ("RGB", "RGBA"):
        return False
    return _tiff_bits(image) == {16}


def _tiff_bits(image: Image.Image) -> set:
    """The TIFF's bits per sample, as a set (empty when the tag is missing)."""
    bits = image.tag_v2.get(258)  # BitsPerSample
    bits = bits if isinstance(bits, tuple) else (bits,)
    return {b for b in bits if b is not None}


def _read_tiff_16bit_colour(image: Image.Image) -> _Samples:
    """All 16 bits of a 16-bit colour TIFF, read by tifffile (scikit-image's TIFF reader).

    tifffile alone (without the optional imagecodecs) reads uncompressed, Deflate, PackBits,
    LZMA and Zstandard TIFFs; for the others (LZW, JPEG) Pillow's libtiff decode is kept,
    whose high bytes are right, with a note. A plane-by-plane uncompressed TIFF, which Pillow
    cannot read, is always within tifffile's reach.
    """
    import tifffile

    try:
        image.fp.seek(0)
        # tifffile logs what it tolerates in a damaged file ("invalid value offset")
        with _tifffile_quiet(), tifffile.TiffFile(image.fp) as tiff:
            page = tiff.pages[0]
            array, axes = page.asarray(), page.axes
    except Exception:  # a compression tifffile cannot decode without imagecodecs
        if image.tag_v2.get(284) == 2 and image.tag_v2.get(259) == 1:  # planar, uncompressed
            raise ValueError("an uncompressed 16-bit TIFF stored plane by plane is read from "
                             "its file only (Pillow scrambles its planes)") from None
        samples = _read_8bit_or_16bit(image)
        samples.notes.insert(0, "16-bit TIFF reduced to 8 bits by Pillow (truncated, not "
                                "rounded)")
        return samples
    if axes == "SYX":
        array = array.transpose(1, 2, 0)
    elif axes != "YXS":
        raise ValueError(f"unsupported TIFF sample layout {axes}")
    # tifffile gives the samples as stored; Pillow's size is already turned by the EXIF
    # orientation (5 to 8 swap width and height), so compare with the stored dimensions.
    expected = (image.tag_v2.get(257), image.tag_v2.get(256), len(image.mode))
    if array.dtype != np.uint16 or array.shape != expected:
        raise ValueError(f"TIFF samples {array.dtype} {array.shape}, expected uint16 {expected}")
    return _samples(np.ascontiguousarray(array), _MAX_16BIT)


def _decode_with_rawmode(image: Image.Image, rawmode: str) -> np.ndarray:
    codec, extents, offset, _ = image.tile[0]
    image.tile = [(codec, extents, offset, rawmode)]
    image.load()
    return np.asarray(image)


def _join_bytes(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


_MAX_PROFILE_DESCRIPTION = 80  # characters of a profile's description quoted in a note
_COLOUR_MODELS_CONVERTED_BY_PILLOW = ("CMYK", "YCbCr", "LAB", "HSV")


def _icc_profile_notes(image: Image.Image) -> list[str]:
    """A note when ``image`` carries an ICC profile other than sRGB (none is applied).

    A profile counts as sRGB when its description names sRGB ("sRGB IEC61966-2.1",
    "sRGB built-in", ...). Pillow's LAB to RGB conversion reads the samples as CIE L*a*b*
    (D50, as ICC's Lab), so a Lab profile on a ``LAB`` image (Pillow's ``convert("LAB")``
    attaches one) changes nothing either. The models Pillow converts by formula (CMYK, ...)
    are not "used as stored": their note says how they were converted.
    """
    icc = image.info.get("icc_profile")
    if not icc:
        return []
    not_applied = "not applied"
    if image.mode not in _COLOUR_MODELS_CONVERTED_BY_PILLOW:
        not_applied += ": pixels used as stored (as sRGB)"
    try:
        from PIL import ImageCms
    except ImportError:  # a Pillow built without littlecms
        return [f"an embedded ICC profile {not_applied}"]
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(bytes(icc)))
        description = " ".join(str(ImageCms.getProfileDescription(profile)).split())
        colour_space = str(profile.profile.xcolor_space).strip()
    except Exception:  # a broken profile is metadata, not a reason to refuse the pixels
        return ["an embedded ICC profile (unreadable) not applied"]
    if "srgb" in description.lower() or (image.mode == "LAB" and colour_space == "Lab"):
        return []
    if not description:
        return [f"an embedded ICC profile without a description {not_applied}"]
    if len(description) > _MAX_PROFILE_DESCRIPTION:
        description = description[:_MAX_PROFILE_DESCRIPTION - 1] + "…"
    return [f"embedded ICC profile '{description}' {not_applied}"]


def _orientation_applied_by_decoder(image: Image.Image) -> int:
    """The valid orientation that the decoder itself applies (1 for none or anything else).

    A TIFF's tag is read before decoding, from the tags, not ``getexif()``, which would
    decode a PNG's pixels to find a late eXIf chunk. pillow-heif applies the HEIF container's
    rotation and mirroring at open and keeps the EXIF value as ``original_orientation``.
    """
    try:
        if image.format == "TIFF":
            orientation = image.tag_v2.get(ExifTags.Base.Orientation, 1)
        elif image.format == "HEIF":
            orientation = image.info.get("original_orientation") or 1
        else:
            return 1
        return orientation if orientation in _EXIF_ORIENTATIONS else 1
    except Exception:  # a broken tag is metadata, as in _read_exif_orientation
        return 1


def _read_exif_orientation(image: Image.Image) -> tuple[int, list[str]]:
    """The EXIF orientation (1 = as stored), and a note if the EXIF data could not be used."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # broken EXIF is metadata, not a reason to refuse the pixels
        return 1, ["EXIF data unreadable: orientation not applied"]
    if orientation == 1:
        return 1, []
    if orientation not in _EXIF_ORIENTATIONS:
        return 1, [f"invalid EXIF orientation {orientation!r} ignored"]
    return int(orientation), []


# --- samples to 8-bit RGB ----------------------------------------------------------------


def _samples_to_rgb8(samples: _Samples, alpha_policy: str) -> tuple[np.ndarray, list[str]]:
    notes = list(samples.notes)
    colour, alpha = _split_alpha(samples.array)
    if alpha is not None and alpha.min() == samples.max_value:
        notes.append("fully opaque alpha channel dropped")
        alpha = None
    if samples.max_value != _MAX_8BIT:
        notes.append("16-bit samples reduced to 8 bits (rounded)")
    if alpha is None:
        colour8 = _reduce_to_8bit(colour, samples.max_value)
    elif alpha_policy == "composite":
        colour8 = _composite_on_white(colour, alpha, samples.max_value)
        notes.append("alpha composited on white")
    else:
        colour8 = _reduce_to_8bit(colour, samples.max_value)
        notes.append("alpha channel dropped")
    if colour8.shape[2] == 1:
        colour8 = np.repeat(colour8, 3, axis=2)
        notes.append("greyscale expanded to RGB")
    return np.ascontiguousarray(colour8), notes


def _split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if array.shape[2] in (2, 4):
        return array[:, :, :-1], array[:, :, -1]
    return array, None


def _reduce_to_8bit(colour: np.ndarray, max_value: int) -> np.ndarray:
    if max_value == _MAX_8BIT:
        return colour.astype(np.uint8, copy=False)
    # round(v * 255 / 65535) in exact integer arithmetic; v * 255 / 65535 = v / 257 is
    # never exactly halfway, so adding half the divisor (floored) rounds correctly.
    scaled = colour.astype(np.uint32) * _MAX_8BIT + _MAX_16BIT // 2
    return (scaled // _MAX_16BIT).astype(np.uint8)


def _composite_on_white(colour: np.ndarray, alpha: np.ndarray, max_value: int) -> np.ndarray:
    """``round(255 · (c·a + 1 − a))`` with c, a in [0, 1], one band of rows at a time."""
    height, width = alpha.shape
    result = np.empty(colour.shape, dtype=np.uint8)
    rows_per_band = max(1, _COMPOSITE_BAND_PIXELS // width)
    for top in range(0, height, rows_per_band):
        band = slice(top, top + rows_per_band)
        c = colour[band].astype(np.float32) / max_value
        a = alpha[band, :, np.newaxis].astype(np.float32) / max_value
        result[band] = np.rint(_MAX_8BIT * (c * a + (1.0 - a)))
    return result


def _apply_exif_orientation(pixels: np.ndarray, orientation: int, already_applied: bool = False
                            ) -> tuple[np.ndarray, list[str]]:
    if orientation == 1:
        return pixels, []
    method, description = _EXIF_ORIENTATIONS[orientation]
    if already_applied:
        return pixels, [f"EXIF orientation {orientation} applied ({description})"]
    turned = np.asarray(Image.fromarray(pixels).transpose(method))
    return np.ascontiguousarray(turned), [f"EXIF orientation {orientation} applied ({description})"]
