"""Helpers for the GUI tests: a window with a tiny model, waiting, reading rendered pixels."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import smooth_image

ENCODE_TIMEOUT_MS = 60_000


def write_png(path: Path, height: int, width: int, seed: int = 0) -> np.ndarray:
    pixels = smooth_image(height, width, seed)
    Image.fromarray(pixels).save(path)
    return pixels


def make_window(qtbot, model, tmp_path: Path, size=(1500, 950), **kwargs):
    from PySide6.QtCore import QSettings

    from mspviewer.gui.main_window import MainWindow

    kwargs.setdefault("open_sample", False)
    kwargs.setdefault("rd_codecs", ())
    kwargs.setdefault("same_bpp_codec", None)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(model, settings=settings, **kwargs)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


def wait_idle(qtbot, window, timeout_ms: int = ENCODE_TIMEOUT_MS) -> None:
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=timeout_ms)
    qtbot.wait(20)  # let the queued panel updates run


def encode(qtbot, window, timeout_ms: int = ENCODE_TIMEOUT_MS, **request):
    """Encode the open image with the controls' settings (overridden by ``request``)."""
    import dataclasses

    base = window.controls.request()
    task = window.start_encode(dataclasses.replace(base, **request) if request else None)
    assert task is not None
    wait_idle(qtbot, window, timeout_ms)
    assert window.session.result is not None, window.errors
    return window.session.result


def user_zoom(box, rect) -> None:
    """Zoom or pan ``box`` to ``rect`` as the user's wheel or drag does: pyqtgraph's mouse
    handlers set the range, then emit sigRangeChangedManually (which ends a kept fit)."""
    box.setRange(rect, padding=0)
    box.sigRangeChangedManually.emit(box.state["mouseEnabled"])


def grab_array(widget) -> np.ndarray:
    """The widget as rendered: uint8 (H, W, 3)."""
    from PySide6.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    rows = buffer.reshape(height, image.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def rendered_pixels(view, box, height: int, width: int) -> np.ndarray:
    """Sample a rendered GraphicsView at the centre of every image pixel shown in ``box``."""
    from mspviewer.gui.widgets.common import view_to_widget

    shot = grab_array(view)
    ratio = view.devicePixelRatioF()
    out = np.zeros((height, width, 3), np.uint8)
    for row in range(height):
        for col in range(width):
            point = view_to_widget(view, box, col + 0.5, row + 0.5)
            out[row, col] = shot[int(point.y() * ratio), int(point.x() * ratio)]
    return out


class TickRecorder:
    """A QTimer ticking every ``interval_ms``; records when each tick ran."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.times.append(time.perf_counter())

    def longest_gap(self) -> float:
        return float(np.max(np.diff(self.times))) if len(self.times) > 1 else 0.0


def slow_fake_task(iterations: int, seconds_per_iteration: float, cancel, result=None):
    """A long cancellable task for tests of the worker path: sleeps, reports progress."""
    from mspviewer.gui.jobs import StageProgress

    done = 0
    start = time.perf_counter()
    while done < iterations and not cancel:
        time.sleep(seconds_per_iteration)
        done += 1
        yield StageProgress("fake", f"iteration {done}", done / iterations)
    return {"iterations": done, "seconds": time.perf_counter() - start, "result": result}
