"""Classic codecs built into Pillow: JPEG, WebP, JPEG 2000 and AVIF.

Each writes a complete file (JFIF, RIFF/WebP, raw JPEG 2000 codestream, AVIF/HEIF) to
memory and reads it back with Pillow's decoder for the same format.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from mspviewer.baselines.base import ClassicCodec, CodecError
from mspviewer.errors import first_line


def _pillow_version() -> str:
    import PIL

    return PIL.__version__


def _feature_version(feature: str) -> str | None:
    from PIL import features

    try:
        return features.version(feature)
    except ValueError:  # unknown feature name in this Pillow
        return None


def pil_encode(pixels: np.ndarray, format_name: str, **options: Any) -> bytes:
    """Save ``pixels`` with Pillow to an in-memory file; return the file's bytes."""
    from PIL import Image

    image = Image.fromarray(pixels, mode=None)
    if image.mode != "RGB":  # pragma: no cover - fromarray of uint8 HxWx3 is always RGB
        image = image.convert("RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=format_name, **options)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        # RuntimeError: what Pillow's AVIF encoder raises when libavif refuses an image
        raise CodecError(f"{format_name} encoder failed: {first_line(error)}") from error
    return buffer.getvalue()


def pil_decode(data: bytes, expected_formats: tuple[str, ...]) -> np.ndarray:
    """Decode a file with Pillow, refusing files of another format; return RGB uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=list(expected_formats)) as image:
            image.load()
            if image.mode != "RGB":
                image = image.convert("RGB")
            return np.asarray(image, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            RuntimeError) as error:  # RuntimeError: the JPEG XL plugin's decode failures
        raise CodecError(f"cannot decode {'/'.join(expected_formats)} data: "
                         f"{first_line(error)}") from error


class JpegCodec(ClassicCodec):
    """Baseline JPEG through Pillow and libjpeg-turbo, optimised Huffman tables."""

    family = "JPEG"
    library = "Pillow / libjpeg-turbo"
    quality_name = "quality"
    quality_range = (1, 100)
    quality_step = 1
    more_bytes_when_higher = True
    default_qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
    file_extension = ".jpg"

    _SUBSAMPLING = {"4:2:0": 2, "4:4:4": 0}

    def __init__(self, subsampling: str = "4:2:0") -> None:
        super().__init__()
        if subsampling not in self._SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {sorted(self._SUBSAMPLING)}")
        self.subsampling = subsampling
        suffix = subsampling.replace(":", "")[:3]
        self.name = f"jpeg-{suffix}"
        self.label = f"JPEG {subsampling}"

    def _probe(self) -> str | None:
        from PIL import features

        if not features.check("jpg"):
            return "this Pillow was built without JPEG support"
        return None

    def library_version(self) -> str:
        turbo = _feature_version("libjpeg_turbo")
        backend = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {_feature_version('jpg')}"
        return f"Pillow {_pillow_version()}, {backend}"

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": self.subsampling,
            "colour": "JFIF YCbCr (BT.601 matrix, full range), 8-bit",
            "optimize": True,
            "progressive": False,
            "quant_tables": "libjpeg standard tables scaled by quality",
            "container": "JFIF (.jpg), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        return pil_encode(
            pixels,
            "JPEG",
            quality=int(quality),
            subsampling=self._SUBSAMPLING[self.subsampling],
            optimize=True,
            progressive=False,
        )

    def _decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, ("JPEG",))


class WebpCodec(ClassicCodec):
    """Lossy WebP (VP8 intra) through Pillow and libwebp."""

    name = "webp"
    label = "WebP"
    family = "WebP"
    library = "Pillow / libwebp"
    quality_range = (0, 100)
    quality_step = 1
    more_bytes_when_higher = True
    default_qualities = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
    file_extension = ".webp"

    def __init__(self, method: int = 6) -> None:
        super().__init__()
        self.method = method

    def _probe(self) -> str | None:
        from PIL import features

        if not features.check("webp"):
            return "this Pillow was built without WebP support"
        return None

    def library_version(self) -> str:
        return f"Pillow {_pillow_version()}, libwebp {_feature_version('webp')}"

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": "4:2:0 (the only lossy WebP format)",
            "colour": "libwebp RGB->YUV (BT.601 matrix, limited range), 8-bit",
            "method": self.method,
            "lossless": False,
            "container": "RIFF WebP (.webp), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        return pil_encode(pixels, "WEBP", quality=int(quality), method=self.method, lossless=False)

    def _decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, ("WEBP",))


class Jpeg2000Codec(ClassicCodec):
    """JPEG 2000 through Pillow and OpenJPEG: 9/7 wavelet, ICT colour transform, one layer.

    ``quality`` is OpenJPEG's compression ratio (``quality_mode="rates"``): the codestream
    aims at ``24 / ratio`` bits per pixel for 8-bit RGB. Higher ratio, fewer bytes.
    """

    name = "jpeg2000"
    label = "JPEG 2000"
    family = "JPEG 2000"
    library = "Pillow / OpenJPEG"
    quality_name = "compression ratio"
    quality_range = (2.0, 500.0)
    quality_step = 0.1
    more_bytes_when_higher = False
    default_qualities = (240.0, 160.0, 100.0, 64.0, 40.0, 24.0, 16.0, 10.0, 6.0)
    file_extension = ".j2k"

    def _probe(self) -> str | None:
        from PIL import features

        if not features.check("jpg_2000"):
            return "this Pillow was built without OpenJPEG (JPEG 2000) support"
        return None

    def library_version(self) -> str:
        return f"Pillow {_pillow_version()}, OpenJPEG {_feature_version('jpg_2000')}"

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": "4:4:4",
            "colour": "irreversible component transform (ICT, BT.601-like YCbCr), 8-bit",
            "wavelet": "CDF 9/7 (irreversible)",
            "quality_mode": "rates (OpenJPEG compression ratio), one quality layer",
            "resolutions": "6 (fewer for images under 32 px)",
            "codeblock": "64x64",
            "progression": "LRCP",
            "container": "raw JPEG 2000 codestream (.j2k, no JP2 boxes), whole file counted",
        }

    @staticmethod
    def _resolutions(height: int, width: int) -> int:
        smallest = min(height, width)
        return max(1, min(6, 1 + int(math.floor(math.log2(smallest)))))

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        height, width = pixels.shape[:2]
        return pil_encode(
            pixels,
            "JPEG2000",
            no_jp2=True,
            quality_mode="rates",
            quality_layers=[float(quality)],
            irreversible=True,
            mct=1,
            num_resolutions=self._resolutions(height, width),
        )

    def _decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, ("JPEG2000",))


class AvifCodec(ClassicCodec):
    """AVIF (AV1 intra) through Pillow's built-in AVIF plugin: libavif + libaom, dav1d."""

    family = "AVIF"
    library = "Pillow / libavif (aom encoder, dav1d decoder)"
    quality_range = (0, 100)
    quality_step = 1
    more_bytes_when_higher = True
    default_qualities = (10, 20, 30, 40, 50, 60, 70, 80, 90)
    file_extension = ".avif"

    def __init__(self, subsampling: str = "4:4:4", speed: int = 6) -> None:
        super().__init__()
        if subsampling not in ("4:2:0", "4:4:4"):
            raise ValueError("subsampling must be '4:2:0' or '4:4:4'")
        self.subsampling = subsampling
        self.speed = speed
        self.name = "avif" if subsampling == "4:4:4" else "avif-420"
        self.label = f"AVIF {subsampling}"

    def _probe(self) -> str | None:
        from PIL import features

        if not features.check("avif"):
            return "this Pillow has no AVIF support (no libavif in this build)"
        from PIL import _avif

        if not _avif.encoder_codec_available("aom"):
            return "libavif in this Pillow has no aom encoder"
        return None

    def library_version(self) -> str:
        from PIL import _avif

        return (
            f"Pillow {_pillow_version()}, libavif {_avif.libavif_version}, "
            f"{_avif.codec_versions()}"
        )

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": self.subsampling,
            "colour": "libavif RGB->YUV, BT.601 matrix (nclx 1/13/6), full range, 8-bit",
            "encoder": "aom",
            "speed": self.speed,
            "container": "AVIF (HEIF/ISOBMFF), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        return pil_encode(
            pixels,
            "AVIF",
            quality=int(quality),
            subsampling=self.subsampling,
            speed=self.speed,
            codec="aom",
            range="full",
        )

    def _decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data, ("AVIF",))

