"""Decoding an image's pixels into samples of their own bit depth (8 or 16 bits, grey or
colour, with or without alpha), before anything is reduced to 8 bits: 16-bit PNGs and TIFFs
that Pillow would truncate are read in full, signed and 32-bit integer and float samples are
mapped to a stated range, colour keys become alpha. Each step leaves a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mspviewer.imageio.opening import tifffile_quiet

MAX_8BIT = 255
MAX_16BIT = 65535

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


@dataclass
class Samples:
    """Decoded samples before reduction to 8-bit RGB.

    ``array`` is (H, W, C) with C = 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA), of an
    unsigned integer type whose full scale is ``max_value`` (255 or 65535).
    """

    array: np.ndarray
    max_value: int
    notes: list[str]


def read_samples(image: Image.Image, reopen: Callable[[], Image.Image] | None) -> Samples:
    """Decode ``image`` into samples of its own bit depth (see :class:`Samples`)."""
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


def _read_8bit_or_16bit(image: Image.Image, colour_key: bool = True) -> Samples:
    mode = image.mode
    # before decoding: it reads the undecoded tile; 0 turns the key off
    key_scale = _colour_key_scale(image) if colour_key else 0
    if mode in ("L", "LA", "RGB", "RGBA"):
        return _with_colour_key(_samples(np.asarray(image), MAX_8BIT), image, key_scale)
    if mode in _GREY_16BIT_MODES:
        grey = np.asarray(image).astype(np.uint16)  # also makes big-endian I;16B native
        return _with_colour_key(_samples(grey, MAX_16BIT), image, key_scale)
    if mode == "1":
        grey = np.asarray(image).astype(np.uint8) * np.uint8(MAX_8BIT)
        samples = _samples(grey, MAX_8BIT, "1-bit black and white expanded to 8 bits")
        return _with_colour_key(samples, image, MAX_8BIT if colour_key else 0)
    if mode == "I" and _is_signed_16bit(image):
        # Clipping at 0 would drop half the range: shift it instead, keeping every level.
        grey = (np.asarray(image).astype(np.int32) + _SIGNED_16BIT_OFFSET).astype(np.uint16)
        return _samples(grey, MAX_16BIT, "signed 16-bit samples mapped linearly from "
                                         "−32768..32767 to 0..65535")
    if mode == "I":
        grey = np.clip(np.asarray(image), 0, MAX_16BIT).astype(np.uint16)
        return _samples(grey, MAX_16BIT, "32-bit integer samples clipped to 0..65535")
    if mode == "F":
        return _read_float(np.asarray(image))
    if mode == "P":
        target = "RGBA" if image.has_transparency_data else "RGB"
        return _samples(np.asarray(image.convert(target)), MAX_8BIT, "palette expanded")
    target, note = _CONVERTED_BY_PILLOW.get(mode, _pillow_fallback(image))
    return _samples(np.asarray(image.convert(target)), MAX_8BIT, note)


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


def _samples(array: np.ndarray, max_value: int, *notes: str) -> Samples:
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return Samples(array=array, max_value=max_value, notes=list(notes))


def _read_float(values: np.ndarray) -> Samples:
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    # The range is judged on the finite samples: one +inf must not turn a [0, 1] image into
    # a [0, 255] one (almost black).
    full_scale = 1.0 if values[finite].max(initial=0.0) <= 1.0 else 255.0
    values = np.nan_to_num(values, nan=0.0, posinf=full_scale, neginf=0.0)
    grey = np.rint(np.clip(values, 0.0, full_scale) * (MAX_8BIT / full_scale)).astype(np.uint8)
    notes = [f"32-bit float samples read as the range [0, {full_scale:g}] and rounded to 8 bits"]
    if not finite.all():
        notes.append(f"{int((~finite).sum()):,} non-finite float samples: NaN read as 0, "
                     f"+inf as {full_scale:g}, −inf as 0")
    return _samples(grey, MAX_8BIT, *notes)


def _colour_key_scale(image: Image.Image) -> int:
    """What the colour key is multiplied by to match the samples: Pillow expands 1, 2 and
    4-bit grey PNG samples to 0…255 (×255, ×85, ×17) but keeps the key in the file's scale."""
    if image.format != "PNG" or len(image.tile) != 1:
        return 1
    bits = {"1": 1, "L;2": 2, "L;4": 4}.get(image.tile[0][3])
    return 1 if bits is None else MAX_8BIT // (2 ** bits - 1)


def _with_colour_key(samples: Samples, image: Image.Image, key_scale: int = 1) -> Samples:
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
) -> Samples:
    """Read the full 16 bits of a PNG that Pillow itself would only read the high bytes of.

    Pillow's PNG decoder unfilters rows by bytes per pixel, so any rawmode with the same
    number of bits per pixel decodes the same bytes; only the unpacking differs.
    """
    if rawmode == _PNG_16BIT_GREY_ALPHA_RAWMODE:
        raw_bytes = _decode_with_rawmode(image, "RGBA")
        grey_alpha = _join_bytes(raw_bytes[:, :, 0::2], raw_bytes[:, :, 1::2])
        return _samples(grey_alpha, MAX_16BIT)
    high_bytes = np.asarray(image)  # Pillow's own decode keeps the high byte of each sample
    with reopen() as again:
        if _png_16bit_colour_rawmode(again) != rawmode or again.size != image.size:
            raise ValueError("the file changed while it was being read")
        low_bytes = _decode_with_rawmode(again, _PNG_16BIT_LOW_BYTE_RAWMODES[rawmode])
    return _with_colour_key(_samples(_join_bytes(high_bytes, low_bytes), MAX_16BIT), image)


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


def _read_tiff_16bit_colour(image: Image.Image) -> Samples:
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
        with tifffile_quiet(), tifffile.TiffFile(image.fp) as tiff:
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
    return _samples(np.ascontiguousarray(array), MAX_16BIT)


def _decode_with_rawmode(image: Image.Image, rawmode: str) -> np.ndarray:
    codec, extents, offset, _ = image.tile[0]
    image.tile = [(codec, extents, offset, rawmode)]
    image.load()
    return np.asarray(image)


def _join_bytes(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)
