"""A classic codec for tests of the helper process (``mspviewer.baselines.isolated``).

Its "file" names the process that wrote it: 8 bytes of process id, the image's height and
width, then ``quality`` × 100 filler bytes (so the size grows with the setting, as a
quality search assumes). It decodes to a flat grey image of that size. Modes make it
misbehave the ways a real library can: print to stdout, refuse the image, or hang in a tool
it started (the tool's process id is written to ``marker`` first).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
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
            tool = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            Path(self.marker).write_text(str(tool.pid))
            tool.wait()
        height, width = pixels.shape[:2]
        return HEADER.pack(os.getpid(), height, width) + bytes(int(quality) * 100)

    def _decode(self, data: bytes) -> np.ndarray:
        _, height, width = HEADER.unpack_from(data)
        return np.full((height, width, 3), 128, np.uint8)


def writer_pid(data: bytes) -> int:
    """The process id of the process that encoded ``data``."""
    return HEADER.unpack_from(data)[0]
