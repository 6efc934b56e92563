"""Error types shared by the Qt-free core, and errors in one line (:func:`first_line`,
:func:`summarise`).

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


def first_line(error: BaseException) -> str:
    """An error's message on one line (its type's name where it has none): libjxl's and
    libheif's run over several, and a CodecError is shown as one line (a skipped codec's
    reason, the CLI's error line)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def summarise(error: BaseException) -> str:
    """An unexpected error (a bug, a library's failure) in one line: its type and the first
    line of its message, cut to SUMMARY_CHARS, with "…" where anything was left out."""
    message = str(error).strip()
    text = f"{type(error).__name__}: {first_line(error)}" if message else type(error).__name__
    if "\n" in message or len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS - 1].rstrip() + "…"
    return text
