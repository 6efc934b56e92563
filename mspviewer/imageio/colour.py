"""From samples to what the codec sees, 8-bit RGB: alpha composited on white (or dropped),
16 bits rounded to 8, grey repeated into three channels; and the metadata that changes how
the pixels are meant: the EXIF orientation (applied) and an ICC colour profile (noted, not
applied).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import ExifTags, Image

from mspviewer.imageio.samples import MAX_8BIT, MAX_16BIT, Samples

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


_MAX_PROFILE_DESCRIPTION = 80  # characters of a profile's description quoted in a note
_COLOUR_MODELS_CONVERTED_BY_PILLOW = ("CMYK", "YCbCr", "LAB", "HSV")


def icc_profile_notes(image: Image.Image) -> list[str]:
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


def orientation_applied_by_decoder(image: Image.Image) -> int:
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
    except Exception:  # a broken tag is metadata, as in read_exif_orientation
        return 1


def read_exif_orientation(image: Image.Image) -> tuple[int, list[str]]:
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


def samples_to_rgb8(samples: Samples, alpha_policy: str) -> tuple[np.ndarray, list[str]]:
    notes = list(samples.notes)
    colour, alpha = _split_alpha(samples.array)
    if alpha is not None and alpha.min() == samples.max_value:
        notes.append("fully opaque alpha channel dropped")
        alpha = None
    if samples.max_value != MAX_8BIT:
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
    if max_value == MAX_8BIT:
        return colour.astype(np.uint8, copy=False)
    # round(v * 255 / 65535) in exact integer arithmetic; v * 255 / 65535 = v / 257 is
    # never exactly halfway, so adding half the divisor (floored) rounds correctly.
    scaled = colour.astype(np.uint32) * MAX_8BIT + MAX_16BIT // 2
    return (scaled // MAX_16BIT).astype(np.uint8)


def _composite_on_white(colour: np.ndarray, alpha: np.ndarray, max_value: int) -> np.ndarray:
    """``round(255 · (c·a + 1 − a))`` with c, a in [0, 1], one band of rows at a time."""
    height, width = alpha.shape
    result = np.empty(colour.shape, dtype=np.uint8)
    rows_per_band = max(1, _COMPOSITE_BAND_PIXELS // width)
    for top in range(0, height, rows_per_band):
        band = slice(top, top + rows_per_band)
        c = colour[band].astype(np.float32) / max_value
        a = alpha[band, :, np.newaxis].astype(np.float32) / max_value
        result[band] = np.rint(MAX_8BIT * (c * a + (1.0 - a)))
    return result


def apply_exif_orientation(pixels: np.ndarray, orientation: int, already_applied: bool = False
                           ) -> tuple[np.ndarray, list[str]]:
    if orientation == 1:
        return pixels, []
    method, description = _EXIF_ORIENTATIONS[orientation]
    if already_applied:
        return pixels, [f"EXIF orientation {orientation} applied ({description})"]
    turned = np.asarray(Image.fromarray(pixels).transpose(method))
    return np.ascontiguousarray(turned), [f"EXIF orientation {orientation} applied ({description})"]
