"""The window's file exports off the GUI thread, Qt-free like :mod:`mspviewer.gui.jobs`:
comparisons as PNGs and analysis records as ``.npz``, every file written whole or not at
all. :class:`~mspviewer.gui.exports.ExportActions` runs them on the window's export runner.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from mspviewer.errors import MSPViewerError
from mspviewer.gui.jobs import CancelToken
from mspviewer.imageio import encode_rgb8


def join_side_by_side(panes: list[np.ndarray], gap: int = 8) -> np.ndarray:
    """``panes`` (uint8 RGB of one height) left to right, separated by white gaps."""
    height = panes[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts = []
    for index, pane in enumerate(panes):
        if index:
            parts.append(spacer)
        parts.append(pane)
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def write_file(path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a failure leaves an earlier file intact); an
    OSError becomes a one-line :class:`MSPViewerError`."""
    from mspviewer.files import write_output

    try:
        write_output(path, data)
    except OSError as error:
        raise MSPViewerError(f"cannot write {path}: {error.strerror or error}") from None


def png_export_task(panes: list[np.ndarray], path, cancel: CancelToken,
                    gap: int = 8) -> Generator[None, None, Any]:
    """Join ``panes`` side by side (one pane: as is), encode them as a PNG and write the
    file, off the GUI thread: compressing a Kodak-size comparison takes about a second.
    Not cancellable once started: an export the user asked for is finished (the window's
    shutdown waits for the running one; any still queued behind it are dropped), and the
    file is written whole or not at all."""
    pixels = panes[0] if len(panes) == 1 else join_side_by_side(panes, gap)
    write_file(path, encode_rgb8(pixels, "PNG"))
    return path
    yield  # a generator, as the runner expects; nothing to report meanwhile


def record_export_task(record, path, cancel: CancelToken) -> Generator[None, None, Any]:
    """The analysis record as an ``.npz`` file (:mod:`mspviewer.codec.record_file`), off
    the GUI thread; not cancellable once started, like :func:`png_export_task`."""
    from mspviewer.codec.record_file import record_npz_bytes

    write_file(path, record_npz_bytes(record))
    return path
    yield  # a generator, as the runner expects
