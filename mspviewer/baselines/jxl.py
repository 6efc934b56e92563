"""JPEG XL through ``pillow-jxl-plugin`` (Rust bindings ``jpegxl-rs`` over libjxl)."""

from __future__ import annotations

import functools
import importlib.metadata
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from mspviewer.baselines.base import ClassicCodec, CodecError
from mspviewer.errors import first_line


@functools.lru_cache(maxsize=1)
def _bundled_libjxl_version() -> str | None:
    """The libjxl version the plugin was built against, as recorded in its binary.

    pillow-jxl-plugin links libjxl statically through the ``jpegxl-rs`` crate, whose
    version string (``jpegxl-rs-X+libjxl-Y``) survives in the extension module. Returns
    ``None`` when it cannot be found.
    """
    try:
        import pillow_jxl
    except ImportError:
        return None
    for path in Path(pillow_jxl.__file__).parent.glob("pillow_jxl*.so"):
        match = re.search(rb"jpegxl-rs-([0-9.]+)\+libjxl-([0-9.]+)", path.read_bytes())
        if match:
            return f"libjxl {match.group(2).decode()} (jpegxl-rs {match.group(1).decode()})"
    return None


class JpegXlCodec(ClassicCodec):
    """Lossy JPEG XL (VarDCT, XYB colour space), libjxl effort 7.

    ``quality`` is libjxl's 0-100 quality, which libjxl maps to a Butteraugli distance.
    """

    name = "jpegxl"
    label = "JPEG XL"
    family = "JPEG XL"
    library = "pillow-jxl-plugin / libjxl"
    # 100 would mean distance 0, which libjxl accepts only in lossless mode.
    quality_range = (0, 99)
    quality_step = 1
    more_bytes_when_higher = True
    default_qualities = (0, 10, 25, 40, 55, 70, 80, 90)
    file_extension = ".jxl"

    def __init__(self, effort: int = 7) -> None:
        super().__init__()
        self.effort = effort

    def _probe(self) -> str | None:
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
        except ImportError:
            return "pillow-jxl-plugin is not installed (pip install pillow-jxl-plugin)"
        return None

    def library_version(self) -> str:
        try:
            plugin = importlib.metadata.version("pillow-jxl-plugin")
        except importlib.metadata.PackageNotFoundError:
            plugin = "unknown"
        bundled = _bundled_libjxl_version() or "libjxl (version not recorded)"
        return f"pillow-jxl-plugin {plugin}, {bundled}"

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": "4:4:4 (XYB, no chroma subsampling)",
            "colour": "libjxl lossy: sRGB input converted to XYB internally, 8-bit output",
            "effort": self.effort,
            "container": "bare JPEG XL codestream (.jxl, no ISOBMFF container), whole file counted",
        }

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        import pillow_jxl  # noqa: F401
        from PIL import Image

        buffer = io.BytesIO()
        try:
            Image.fromarray(pixels).save(
                buffer,
                format="JXL",
                quality=float(quality),
                effort=self.effort,
                lossless=False,
                use_container=False,
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise CodecError(f"JPEG XL encoder failed: {first_line(error)}") from error
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import pillow_jxl  # noqa: F401

        from mspviewer.baselines.pillow_codecs import pil_decode

        return pil_decode(data, ("JXL",))
