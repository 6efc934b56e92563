"""Every classic codec by name, and which of them run here."""

from __future__ import annotations

from collections.abc import Callable

from mspviewer.baselines.base import ClassicCodec
from mspviewer.baselines.heic import HeicCodec
from mspviewer.baselines.jxl import JpegXlCodec
from mspviewer.baselines.pillow_codecs import AvifCodec, Jpeg2000Codec, JpegCodec, WebpCodec
from mspviewer.baselines.vvc import VvcCodec
from mspviewer.errors import MSPViewerError

_FACTORIES: dict[str, Callable[[], ClassicCodec]] = {
    "jpeg-420": lambda: JpegCodec("4:2:0"),
    "jpeg-444": lambda: JpegCodec("4:4:4"),
    "webp": WebpCodec,
    "jpeg2000": Jpeg2000Codec,
    "avif": lambda: AvifCodec("4:4:4"),
    "avif-420": lambda: AvifCodec("4:2:0"),
    "heic": lambda: HeicCodec("4:4:4"),
    "heic-420": lambda: HeicCodec("4:2:0"),
    "jpegxl": JpegXlCodec,
    "vvc": lambda: VvcCodec("medium"),
    "vvc-faster": lambda: VvcCodec("faster"),
}

#: The codecs a comparison runs unless told otherwise (one configuration per family).
DEFAULT_CODECS: tuple[str, ...] = (
    "jpeg-420", "jpeg-444", "webp", "jpeg2000", "avif", "heic", "jpegxl", "vvc",
)

#: The anchor BD-rates are measured against unless told otherwise.
DEFAULT_ANCHOR = "vvc"


class UnknownCodecError(MSPViewerError):
    """No classic codec has this name."""


def codec_names() -> tuple[str, ...]:
    """All registered codec names, in display order."""
    return tuple(_FACTORIES)


def get_codec(name: str) -> ClassicCodec:
    """A new instance of the codec called ``name`` (available or not)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise UnknownCodecError(
            f"unknown codec {name!r}; known: {', '.join(_FACTORIES)}"
        ) from None
    return factory()


def codec_status(names: tuple[str, ...] | list[str] | None = None) -> list[dict]:
    """``describe()`` of each codec (default: all): available or not, version, reason."""
    return [get_codec(name).describe() for name in (names or codec_names())]


def available_codecs(names: tuple[str, ...] | list[str] | None = None) -> list[ClassicCodec]:
    """Instances of the codecs (default: :data:`DEFAULT_CODECS`) that can run here."""
    codecs = [get_codec(name) for name in (names or DEFAULT_CODECS)]
    return [codec for codec in codecs if codec.is_available()]
