"""Classic codecs in a helper process (``mspviewer.baselines.isolated``): the same bytes as
in the caller's process, errors that come back as themselves, and a cancel that kills the
encode under way, with the tools it started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codec_fakes import FakeCodec, wait_until_ended, writer_pid
from conftest import smooth_image
from mspviewer.baselines import UnsupportedImageError, get_codec
from mspviewer.baselines import isolated
from mspviewer.baselines.isolated import CodecCancelled, CodecProcess, CodecProcessDied, \
    IsolatedCodec


@pytest.fixture
def process():
    helper = CodecProcess()
    yield helper
    helper.stop()


def read_only(pixels: np.ndarray) -> np.ndarray:
    pixels = pixels.copy()
    pixels.setflags(write=False)
    return pixels


def test_a_real_codec_gives_the_same_bytes_and_pixels_in_the_helper(process, tmp_path):
    pixels = read_only(smooth_image(48, 64, seed=5))
    local = get_codec("jpeg-420")
    remote = IsolatedCodec(get_codec("jpeg-420"), process)
    assert remote.name == "jpeg-420" and remote.quality_grid() == local.quality_grid()
    data = remote.encode(pixels, 60)
    assert data == local.encode(pixels, 60)
    decoded = remote.decode(data)
    (tmp_path / "a.jpg").write_bytes(data)
    with Image.open(tmp_path / "a.jpg") as jpeg:  # Pillow in this process reads the same
        assert np.array_equal(decoded, np.asarray(jpeg.convert("RGB")))
    fake = IsolatedCodec(FakeCodec(), process)
    assert writer_pid(fake.encode(pixels, 3)) == process.pid != os.getpid()


def test_read_only_pixels_travel_once(process, monkeypatch):
    sent = []
    real_write = isolated._write_message
    monkeypatch.setattr(isolated, "_write_message",
                        lambda stream, message: (sent.append(message[0]),
                                                 real_write(stream, message)))
    codec = IsolatedCodec(FakeCodec(), process)
    frozen = read_only(smooth_image(16, 16))
    for quality in (1, 2, 3):
        codec.encode(frozen, quality)
    assert sent == ["pixels", "encode", "encode", "encode"]
    writable = smooth_image(16, 16)  # may change between calls: sent every time
    codec.encode(writable, 1)
    codec.encode(writable, 2)
    assert sent[4:] == ["pixels", "encode", "pixels", "encode"]


def test_an_rd_point_times_the_codec_not_the_transfer(process):
    """The decode time of a classic RD point is the decode's, in the helper: pixels that
    take ARRIVAL_S to come back (as a large image's do) do not count."""
    from codec_fakes import ARRIVAL_S
    from mspviewer.rd import measure_point

    codec = IsolatedCodec(FakeCodec("slow-answer"), process)
    pixels = read_only(smooth_image(32, 32))
    codec.prepare(pixels)
    start = time.perf_counter()
    point = measure_point(codec, pixels, 5, with_ms_ssim=False)
    assert time.perf_counter() - start >= ARRIVAL_S  # the transfer did take that long
    assert 0 < point.decode_s < ARRIVAL_S / 3 and 0 < point.encode_s < ARRIVAL_S / 3
    assert point.num_bytes == 16 + 500


def test_a_codec_error_comes_back_as_itself(process):
    codec = IsolatedCodec(FakeCodec("unsupported"), process)
    with pytest.raises(UnsupportedImageError, match="no image of 16 wide"):
        codec.encode(smooth_image(8, 16), 5)
    assert IsolatedCodec(FakeCodec(), process).encode(smooth_image(8, 16), 5)  # still serves


def test_what_a_library_prints_does_not_break_the_answers(process, capfd):
    codec = IsolatedCodec(FakeCodec("print"), process)
    data = codec.encode(smooth_image(8, 8), 7)
    assert len(data) == 16 + 700
    assert "chatter" in capfd.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="process groups and /proc")
def test_cancel_kills_the_encode_and_the_tool_it_started(process, tmp_path):
    marker = tmp_path / "tool.pid"
    deadline = []
    codec = IsolatedCodec(FakeCodec("hang", str(marker)), process,
                          cancel=lambda: bool(deadline) and time.monotonic() > deadline[0])
    pixels = smooth_image(8, 8)
    codec.prepare(pixels)
    child = process.pid
    deadline.append(time.monotonic() + 1.0)
    start = time.monotonic()
    with pytest.raises(CodecCancelled):
        codec.encode(pixels, 5)
    assert time.monotonic() - start < 1.0 + 3.0  # not the tool's minute
    tool = int(marker.read_text())
    assert wait_until_ended(child, tool)
    assert process.pid is None
    # what it had written to its temporary folder went with it (VVC: the image, the stream)
    written = Path((tmp_path / "tool.pid.tmp").read_text())
    assert written.parent.name.startswith("fake-codec-") and not written.exists()
    assert not written.parent.parent.exists()  # the helper's own temporary folder
    # the next call starts a fresh helper
    data = IsolatedCodec(FakeCodec(), process).encode(pixels, 2)
    assert writer_pid(data) == process.pid not in (None, child)


def test_a_cancel_before_the_call_sends_nothing(process):
    codec = IsolatedCodec(FakeCodec(), process, cancel=lambda: True)
    with pytest.raises(CodecCancelled):
        codec.encode(smooth_image(8, 8), 1)
    assert process.pid is None  # never started


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_a_helper_killed_from_outside_is_an_error_then_replaced(process, tmp_path):
    marker = tmp_path / "tool.pid"
    pixels = smooth_image(8, 8)
    codec = IsolatedCodec(FakeCodec("hang", str(marker)), process)
    codec.prepare(pixels)
    child = process.pid

    def kill_when_busy():
        while not marker.exists():
            time.sleep(0.02)
        os.killpg(child, 9)  # the helper and its tool, as an out-of-memory killer might

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    with pytest.raises(CodecProcessDied, match="ended without an answer"):
        codec.encode(pixels, 1)
    killer.join()
    assert writer_pid(IsolatedCodec(FakeCodec(), process).encode(pixels, 1)) not in (child,)


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_kill_now_ends_a_call_under_way_without_waiting_for_its_lock(process, tmp_path):
    """What runs at exit: a worker thread is inside a call (it holds the lock)."""
    marker = tmp_path / "tool.pid"
    pixels = smooth_image(8, 8)
    codec = IsolatedCodec(FakeCodec("hang", str(marker)), process)
    outcome = []

    def encode():
        try:
            codec.encode(pixels, 1)
        except Exception as error:  # noqa: BLE001 - what the worker thread would see
            outcome.append(error)

    worker = threading.Thread(target=encode)
    worker.start()
    while not marker.exists():
        time.sleep(0.02)
    child, tool = process.pid, int(marker.read_text())
    start = time.monotonic()
    process.kill_now()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - start < 5
    assert isinstance(outcome[0], CodecProcessDied)
    assert wait_until_ended(child, tool)


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_the_helper_ends_when_its_parent_dies(tmp_path):
    """A viewer killed outright (or crashed) leaves no encode running for nobody."""
    marker = tmp_path / "tool.pid"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = {[str(Path(__file__).parent)]!r}
        from codec_fakes import FakeCodec
        from conftest import smooth_image
        from mspviewer.baselines.isolated import CodecProcess, IsolatedCodec
        process = CodecProcess()
        codec = IsolatedCodec(FakeCodec("hang", {str(marker)!r}), process)
        codec.prepare(smooth_image(8, 8))
        print(process.pid, flush=True)
        codec.encode(smooth_image(8, 8), 1)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        helper = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.02)
        tool = int(marker.read_text())
        parent.kill()
        parent.wait(10)
        assert wait_until_ended(helper, tool)
    finally:
        parent.kill()


def test_without_process_groups_the_kill_ends_the_helpers_process_tree(monkeypatch):
    """Windows has no process group to signal: ``taskkill /T`` ends the helper and the tools
    it started (VVC's ffmpeg), and the helper is killed directly where taskkill cannot."""

    class Child:  # a Popen's part that the kill uses
        pid = 4242

        def __init__(self, ends_with_taskkill: bool):
            self.ends_with_taskkill = ends_with_taskkill
            self.alive = True
            self.killed = False

        def poll(self):
            return None if self.alive else 1

        def kill(self):
            self.killed, self.alive = True, False

    commands: list[list[str]] = []

    def run(command, **options):
        commands.append(command)
        if child.ends_with_taskkill:
            child.alive = False
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.delattr(os, "killpg", raising=False)  # (Windows has none)
    monkeypatch.setattr(isolated.subprocess, "run", run)
    child = Child(ends_with_taskkill=True)
    isolated._kill_group(child)
    assert commands == [["taskkill", "/F", "/T", "/PID", "4242"]]
    assert not child.alive and not child.killed  # the tree kill did it
    child = Child(ends_with_taskkill=False)  # taskkill refused (or missing)
    isolated._kill_group(child)
    assert not child.alive and child.killed
    commands.clear()
    isolated._kill_group(child)  # already ended: nothing to find by its parent
    assert commands == []
