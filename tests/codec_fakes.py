"""A classic codec for tests of the helper process (``mspviewer.baselines.isolated``).

Its "file" names the process that wrote it: 8 bytes of process id, the image's height and
width, then ``quality`` × 100 filler bytes (so the size grows with the setting, as a
quality search assumes). It decodes to a flat grey image of that size. Modes make it
misbehave the ways a real library can: print to stdout, refuse the image, send back pixels
that take ``ARRIVAL_S`` to arrive (a large image's transfer), or hang in a tool
it started (having written a file in the temporary folder, as VVC's encoder does; the tool's
process id goes to ``marker``, that file's path to ``marker`` + ".tmp").
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mspviewer.baselines.base import ClassicCodec, UnsupportedImageError

HEADER = struct.Struct("<QII")


class FakeCodec(ClassicCodec):
    name = "fake"
    label = "Fake codec"
    family = "Fake"
    library = "tests/codec_fakes.py"
    quality_range = (1, 100)
    default_qualities = (10, 50, 90)

    def __init__(self, mode: str = "plain", marker: str | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.marker = marker

    def _probe(self) -> str | None:
        return None

    def library_version(self) -> str:
        return "test"

    def _encode(self, pixels: np.ndarray, quality: float | int) -> bytes:
        if self.mode == "print":
            print("a library's chatter on stdout", flush=True)
        if self.mode == "unsupported":
            raise UnsupportedImageError(f"{self.label}: no image of {pixels.shape[1]} wide")
        if self.mode == "hang":  # a tool that runs for a minute, like a slow encoder
            work = Path(tempfile.mkdtemp(prefix="fake-codec-")) / "in.y4m"
            work.write_bytes(pixels.tobytes())
            Path(self.marker + ".tmp").write_text(str(work))
            tool = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            Path(self.marker).write_text(str(tool.pid))
            tool.wait()
        height, width = pixels.shape[:2]
        return HEADER.pack(os.getpid(), height, width) + bytes(int(quality) * 100)

    def decode(self, data: bytes) -> np.ndarray:
        pixels = super().decode(data)  # (checked: a plain array)
        return pixels.view(SlowToArrive) if self.mode == "slow-answer" else pixels

    def _decode(self, data: bytes) -> np.ndarray:
        _, height, width = HEADER.unpack_from(data)
        return np.full((height, width, 3), 128, np.uint8)


#: how long a "slow-answer" decode's pixels take to unpickle (in the parent)
ARRIVAL_S = 0.6


def _arrive_slowly(pixels: np.ndarray) -> np.ndarray:
    time.sleep(ARRIVAL_S)
    return pixels


class SlowToArrive(np.ndarray):
    """Pixels whose transfer back from the helper is slow, as a large image's is."""

    def __reduce__(self):
        return _arrive_slowly, (np.asarray(self),)


def is_running(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, killed and not yet reaped, counts as
    ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # no /proc here: it answered the signal
        return True


def wait_until_ended(*pids: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(is_running(pid) for pid in pids)


def writer_pid(data: bytes) -> int:
    """The process id of the process that encoded ``data``."""
    return HEADER.unpack_from(data)[0]
