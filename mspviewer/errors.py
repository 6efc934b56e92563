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
