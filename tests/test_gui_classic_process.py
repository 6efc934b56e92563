"""The viewer's classic codecs run in a helper process: the third pane's search and the RD
sweeps code there, and a cancel (another codec picked, a codec unticked, the window closed)
stops an encode under way at once instead of waiting for it."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("pytestqt")

from codec_fakes import FakeCodec, is_running, writer_pid  # noqa: E402
from gui_support import encode, make_window, wait_idle, write_png  # noqa: E402
from mspviewer.gui import classic_jobs  # noqa: E402


@pytest.fixture
def fake_codecs(monkeypatch):
    """Every codec name gives the fake codec; ``modes[name]`` sets how it behaves."""
    modes: dict[str, tuple] = {}
    monkeypatch.setattr(classic_jobs, "_get_codec",
                        lambda name: FakeCodec(*modes.get(name, ("plain",))))
    return modes


@pytest.fixture
def encoded(qtbot, tiny_model, tmp_path):
    window = make_window(qtbot, tiny_model, tmp_path)
    write_png(tmp_path / "a.png", 32, 48, seed=2)
    assert window.open_path(tmp_path / "a.png")
    encode(qtbot, window, lam=0.01)
    return window


def wait_for(path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_the_third_pane_is_coded_in_the_helper_process(qtbot, encoded, fake_codecs):
    encoded.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, encoded)
    classic = encoded.session.classic
    assert classic is not None and classic.decoded.shape == (32, 48, 3)
    helper = classic_jobs.codec_process("same-bpp").pid
    assert writer_pid(classic.data) == helper != os.getpid()


@pytest.mark.skipif(os.name != "posix", reason="process groups and /proc")
def test_another_codec_picked_mid_encode_stops_it_at_once(qtbot, encoded, fake_codecs,
                                                          tmp_path):
    marker = tmp_path / "tool.pid"
    fake_codecs["jpeg-444"] = ("hang", str(marker))
    encoded.compare.set_classic_codec("jpeg-444")
    wait_for(marker)  # its first encode is running a minute-long tool
    start = time.monotonic()
    encoded.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, encoded)
    assert time.monotonic() - start < 20  # not the tool's minute
    assert encoded.session.classic.codec == "fake"
    assert writer_pid(encoded.session.classic.data) != os.getpid()
    assert not is_running(int(marker.read_text()))


@pytest.mark.skipif(os.name != "posix", reason="process groups and /proc")
def test_closing_during_a_sweep_encode_does_not_wait_for_it(qtbot, tiny_model, tmp_path,
                                                            fake_codecs):
    marker = tmp_path / "tool.pid"
    fake_codecs["webp"] = ("hang", str(marker))
    window = make_window(qtbot, tiny_model, tmp_path, rd_codecs=("webp",))
    write_png(tmp_path / "a.png", 32, 48, seed=2)
    assert window.open_path(tmp_path / "a.png")
    wait_for(marker)
    helper = classic_jobs.codec_process("sweep").pid
    start = time.monotonic()
    window.close()  # returns once every worker thread has ended
    assert time.monotonic() - start < 10
    assert classic_jobs.codec_process("sweep").pid is None and not is_running(helper)
    tool = int(marker.read_text())
    deadline = time.monotonic() + 5
    while is_running(tool) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(tool)
