"""Error types shared by the Qt-free core.

Every error a user can cause (bad image, corrupt bitstream, wrong model) derives from
:class:`MSPViewerError`, so the command line and the GUI can report it as one clear line
instead of a traceback.
"""


class MSPViewerError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class ImageLoadError(MSPViewerError):
    """The image cannot be read, is of an unsupported kind, or is too large."""


class BitstreamError(MSPViewerError):
    """The bitstream is malformed: bad magic, truncated, corrupt header or payload."""


class WrongModelError(BitstreamError):
    """The bitstream was written by a different model than the one loaded."""


class ChecksumError(BitstreamError):
    """The decoded symbols do not match the checksum stored by the encoder."""


class ModelFileError(MSPViewerError):
    """A weights file is missing, malformed or inconsistent with its configuration."""


class TrainingError(MSPViewerError):
    """Training cannot start or go on: no usable images, a foreign checkpoint, divergence."""


#: An unexpected error's message in one line is cut here: a CUDA or Rust failure can run to
#: pages, which belong in its details (the traceback), not in a message bar.
SUMMARY_CHARS = 200


def summarise(error: BaseException) -> str:
    """An unexpected error (a bug, a library's failure) in one line: its type and the first
    line of its message, cut to SUMMARY_CHARS."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    if len(lines) > 1 or len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS - 1].rstrip() + "…"
    return text
