"""Classic image codecs measured on the same pixels as the learned codec.

Qt-free and torch-free. Each codec is a :class:`ClassicCodec`: ``encode(pixels, quality)``
returns the bytes of a whole file, ``decode(data)`` returns 8-bit RGB, and the rate is the
length of those bytes. See ``docs/baselines.md`` for libraries, settings and colour
conversions.

    from mspviewer.baselines import get_codec, find_quality_for_bpp
    jpeg = get_codec("jpeg-420")
    if jpeg.is_available():
        data = jpeg.encode(pixels, 75)
        decoded = jpeg.decode(data)
"""

from mspviewer.baselines.base import (
    ClassicCodec,
    CodecError,
    CodecUnavailableError,
    UnsupportedImageError,
    check_pixels,
)
from mspviewer.baselines.registry import (
    DEFAULT_ANCHOR,
    DEFAULT_CODECS,
    UnknownCodecError,
    available_codecs,
    codec_names,
    codec_status,
    get_codec,
)
from mspviewer.baselines.search import QualitySearchResult, find_quality_for_bpp

__all__ = [
    "ClassicCodec", "CodecError", "CodecUnavailableError", "UnsupportedImageError",
    "check_pixels", "DEFAULT_ANCHOR", "DEFAULT_CODECS", "UnknownCodecError",
    "available_codecs", "codec_names", "codec_status", "get_codec",
    "QualitySearchResult", "find_quality_for_bpp",
]
