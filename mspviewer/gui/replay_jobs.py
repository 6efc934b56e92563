"""The decode replay's work off the GUI thread, Qt-free like :mod:`mspviewer.gui.jobs`: make
the frames (kept small enough to fit a memory budget) and write them to a GIF or PNGs.
:class:`~mspviewer.gui.widgets.replay.ReplayPanel` runs these on its task runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import numpy as np
from PIL import Image

from mspviewer.codec import inspection
from mspviewer.gui.jobs import CancelToken, model_lease

#: Most memory a replay's frames may take. The 29 frames of a 4K image would take 720 MB;
#: over this budget they are kept at 1/f of the resolution (f the smallest integer that
#: fits), while their PSNR is still measured at full resolution.
REPLAY_MEMORY_BYTES = 400 * 2**20


def frame_reduction(image_size, num_frames: int, budget: int | None = None) -> int:
    """The smallest integer factor f such that ``num_frames`` RGB frames of ``image_size``
    (height, width) reduced by f fit in ``budget`` bytes (default REPLAY_MEMORY_BYTES)."""
    budget = REPLAY_MEMORY_BYTES if budget is None else budget
    height, width = image_size
    factor = 1
    while num_frames * 3 * -(-height // factor) * -(-width // factor) > budget and \
            (factor < height or factor < width):
        factor += 1
    return factor


def reduce_frame(frame: inspection.ReplayFrame, factor: int) -> inspection.ReplayFrame:
    """The frame with its image box-averaged by ``factor`` (Pillow's ``reduce``)."""
    if factor == 1:
        return frame
    small = np.asarray(Image.fromarray(frame.image).reduce(factor))
    return dataclasses.replace(frame, image=small)


def replay_job(model, record, original: np.ndarray | None, cancel: CancelToken,
               budget: int | None = None) -> Generator[inspection.ReplayFrame, None, int]:
    """Yield the replay frames one by one (reduced to fit ``budget``, see
    :func:`frame_reduction`); stop between frames once cancelled.

    Returns how many frames were computed. Each ``next`` of the core's generator is one
    synthesis, so the token is checked before asking for the next frame, not after.
    """
    factor = frame_reduction(record.image_size, len(record.passes) + 1, budget)
    frames = inspection.iter_replay_frames(model, record, original)
    # the model stays where it is, and no other task moves it while the frames are made
    with model_lease(model):
        return (yield from _replay_frames(frames, factor, cancel))


def _replay_frames(frames, factor: int, cancel: CancelToken
                   ) -> Generator[inspection.ReplayFrame, None, int]:
    computed = 0
    try:
        while not cancel:
            try:
                frame = next(frames)
            except StopIteration:
                break
            computed += 1
            yield reduce_frame(frame, factor)
    finally:
        frames.close()
    return computed


def export_job(frames: list, path, frame_ms: int,
               cancel: CancelToken) -> Generator[None, None, list]:
    """Write the frames off the GUI thread: a GIF of 29 Kodak-size frames takes seconds
    (palette quantisation), which would freeze the window."""
    return inspection.export_replay(frames, path, frame_ms=frame_ms)
    yield  # a generator, as the runner expects; nothing to report meanwhile
