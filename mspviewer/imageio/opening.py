"""Opening an image source (a path, a file's bytes, a Pillow image) and wording every way
that fails as one :class:`~mspviewer.errors.ImageLoadError` line: missing, empty, a folder,
too large, not an image, a TIFF of samples nobody reads, corrupt data. The optional JPEG XL
and HEIF readers are registered here, once, before the first file is opened.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator

from PIL import Image

from mspviewer.errors import ImageLoadError

ImageSource = str | os.PathLike[str] | bytes | bytearray | Image.Image


def describe(source: ImageSource) -> str:
    """How error messages name the image."""
    if isinstance(source, (bytes, bytearray)):
        return f"from memory ({len(source)} bytes)"
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", "")
        return f"'{filename}'" if filename else "(Pillow image in memory)"
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def refuse_if_empty(source: ImageSource, label: str) -> None:
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


def open_source(source: ImageSource) -> contextlib.AbstractContextManager[Image.Image]:
    if isinstance(source, Image.Image):
        return contextlib.nullcontext(source)  # the caller owns it: do not close it
    _register_optional_readers()
    with warnings.catch_warnings():
        # Our own max_pixels check decides; Pillow's warning below its hard limit is noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if isinstance(source, (bytes, bytearray)):
            return Image.open(io.BytesIO(source))
        return Image.open(source)


def reopener(source: ImageSource) -> Callable[[], Image.Image] | None:
    """A way to open the same file again, or None for a Pillow image passed in."""
    if isinstance(source, (bytes, bytearray)):
        return lambda: Image.open(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        return lambda: Image.open(source)
    return None


@contextlib.contextmanager
def as_load_error(label: str, source: ImageSource | None = None) -> Iterator[None]:
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

        with tifffile_quiet(), tifffile.TiffFile(handle) as tiff:
            page = tiff.pages[0]
            dtype, samples = page.dtype, page.samplesperpixel
    except Exception:  # a damaged TIFF: the generic reason stands
        return None
    if dtype is None:  # a page without sample data: damaged, not of an unsupported kind
        return None
    return (f"a TIFF of {samples} {dtype} sample{'s' if samples > 1 else ''} per pixel, which "
            f"is not supported (TIFFs of 8- or 16-bit integer samples are, and 32-bit grey)")


_TIFFFILE_QUIET_LOCK = threading.Lock()
_tifffile_quiet_readers = 0  # readers inside tifffile_quiet; the logger is off while > 0
_tifffile_was_disabled = False


@contextlib.contextmanager
def tifffile_quiet():
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


def check_size(image: Image.Image, max_pixels: int, label: str) -> None:
    width, height = image.size  # from the header: nothing decoded yet
    if width < 1 or height < 1:
        raise ImageLoadError(f"Cannot load image {label}: it has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"Cannot load image {label}: {width} x {height} = {width * height:,} pixels "
            f"is more than the limit of {max_pixels:,} pixels"
        )


def select_first_frame(image: Image.Image) -> list[str]:
    num_frames = getattr(image, "n_frames", 1)
    if num_frames <= 1:
        return []
    if image.tell() != 0:
        image.seek(0)
    return [f"first of {num_frames} frames used"]
