"""HEIC (HEVC intra in a HEIF file) through ``pillow-heif``: libheif + x265, libde265 to decode."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from mspviewer.baselines.base import ClassicCodec, CodecError
from mspviewer.errors import first_line


def _hevc_decoders(info: dict) -> list[str]:
    """Descriptions of the HEVC decoders (libde265, ffmpeg) in ``pillow_heif.libheif_info()``."""
    return [str(description) for plugin, description in info.get("decoders", {}).items()
            if plugin in ("libde265", "ffmpeg") or "hevc" in str(description).lower()]


class HeicCodec(ClassicCodec):
    """HEVC intra still image in a HEIF container (what phones ship as ``.heic``).

    ``quality`` is libheif's 0-100 quality, mapped by libheif's x265 plugin to a CRF.
    libheif's x265 defaults are kept (preset ``slow``, tune ``ssim``); only the chroma
    format and the nclx colour description are set explicitly.
    """

    family = "HEIC"
    library = "pillow-heif / libheif (x265 encoder, libde265 decoder)"
    quality_range = (0, 100)
    quality_step = 1
    more_bytes_when_higher = True
    default_qualities = (10, 20, 30, 40, 50, 60, 70)
    file_extension = ".heic"

    def __init__(self, chroma: str = "4:4:4") -> None:
        super().__init__()
        if chroma not in ("4:2:0", "4:4:4"):
            raise ValueError("chroma must be '4:2:0' or '4:4:4'")
        self.chroma = chroma
        self.name = "heic" if chroma == "4:4:4" else "heic-420"
        self.label = f"HEIC {chroma}"

    def _probe(self) -> str | None:
        try:
            import pillow_heif
        except ImportError:
            return "pillow-heif is not installed (pip install pillow-heif)"
        info = pillow_heif.libheif_info()
        if "x265" not in info.get("encoders", {}):
            return f"libheif {info.get('libheif')} in pillow-heif has no x265 HEVC encoder"
        if not _hevc_decoders(info):  # other decoders (dav1d, jpeg, ...) cannot read HEIC
            return f"libheif {info.get('libheif')} in pillow-heif has no HEVC decoder"
        return None

    def library_version(self) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        decoders = ", ".join(_hevc_decoders(info))
        return (
            f"pillow-heif {pillow_heif.__version__}, libheif {info.get('libheif')}, "
            f"{info.get('encoders', {}).get('x265', '')}, {decoders}"
        )

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": self.chroma,
            "colour": "libheif RGB->YCbCr, BT.601 matrix, full range (nclx 1/13/6/full), 8-bit",
            "encoder": "x265 through libheif, libheif defaults (preset slow, tune ssim)",
            "container": "HEIF (.heic, ISOBMFF), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        import pillow_heif

        height, width = pixels.shape[:2]
        buffer = io.BytesIO()
        try:
            heif = pillow_heif.from_bytes("RGB", (width, height), pixels.tobytes())
            heif.save(
                buffer,
                quality=int(quality),
                chroma=self.chroma.replace(":", ""),
                color_primaries=1,
                transfer_characteristics=13,
                matrix_coefficients=6,
                full_range_flag=1,
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise CodecError(f"HEIC encoder failed: {first_line(error)}") from error
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        if not pillow_heif.is_supported(data):
            raise CodecError("not a HEIF file")
        try:
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
            image = heif[heif.primary_index]
            array = np.asarray(image)
        except (OSError, ValueError, RuntimeError) as error:
            raise CodecError(f"cannot decode HEIC data: {first_line(error)}") from error
        if image.mode != "RGB" or array.ndim != 3 or array.shape[2] != 3:
            raise CodecError(f"HEIC decoder returned mode {image.mode}, expected RGB")
        return np.ascontiguousarray(array, dtype=np.uint8)
