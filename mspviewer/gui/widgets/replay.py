"""Step-by-step decode replay: the image after each MSP decoding pass, with its bits and PSNR.

At step k the first k passes (coarsest scale first) are decoded and every element not decoded
yet is set to its predicted mean μ, as its own later pass predicted it (a look ahead: the
decoder does not have that μ at step k); step 0 is those means alone, step P (P passes) is the
decoded image. The frames come from the Qt-free core
(:func:`mspviewer.codec.inspection.iter_replay_frames`); each costs one synthesis, so they are
computed off the GUI thread and only on demand (Build replay / :meth:`ReplayPanel.build`),
never on each encode. Frames appear as they arrive: the slider's range grows with them.

Public interface (for the main window and the tests)::

    panel = ReplayPanel(session, runner=None, scheduler=None, parent=None)

- ``runner``: a :class:`~mspviewer.gui.worker.TaskRunner` to run the build on. ``None``: the
  panel makes its own, named ``"replay"`` (call :meth:`shutdown` before quitting). A runner
  passed in may be shared with other tasks: the panel only ever cancels its own task and
  queues behind the others (``replace=False``); it is never shut down by the panel.
- ``build()`` → bool (False, with a message, when there is no result or model);
  ``cancel()`` stops a running build after its current frame (the frames so far stay);
  ``is_building()``; ``frames`` (the :class:`ReplayFrame` list received so far, in order);
  ``num_steps()`` (P of the current result, None without one); ``is_complete()``;
  ``reduction`` (1, or the factor by which frames of a large image are kept smaller so that
  all of them fit in ``replay_jobs.REPLAY_MEMORY_BYTES``).
- ``set_step(k)`` (clamped to the frames received), ``step()``; ``slider`` (QSlider, 0..P
  once complete); ``step_text()`` (the per-step line shown under the image).
- ``play()`` / ``pause()`` / ``is_playing()``, ``play_button``; ``set_interval(ms)`` /
  ``interval()``. Playing *stops at the last step* (P); Play at the last step starts again
  from step 0; while a build is running, playing waits at the newest frame for the next one.
- ``export(path)`` → list of files written (a ``.gif``, or ``step_000.png`` … in a folder),
  ``[]`` with a warning message when the replay is empty or incomplete; GIF frames last
  ``interval()`` ms. ``export_gif_dialog()`` / ``export_png_dialog()`` ask for the path.
- ``displayed_image()``: the uint8 array on the image item (None when nothing is shown);
  ``view`` (GraphicsLayoutWidget), ``image_box`` / ``image_item``; ``plot`` (PSNR against the
  payload bits spent so far, in bpp), ``curve``, ``marker``.
- Signals: ``message(text, level)`` (level "error", "warning" or "info"; never an
  exception), ``frame_changed(k)`` whenever the displayed step changes.

A new ``session.result_changed`` cancels the running build and drops every frame at once:
frames of another result are never shown.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMenu, QPushButton,
                               QSizePolicy, QSlider, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from mspviewer.codec import inspection
from mspviewer.errors import MSPViewerError
from mspviewer.files import same_file
from mspviewer.gui import replay_jobs
from mspviewer.gui.replay_jobs import export_job, frame_reduction, replay_job
from mspviewer.gui.widgets.common import (PALETTE, fit_box, fmt, image_viewbox, info_label,
                                          narrow_button, observe, plain_axes, rgb_item,
                                          set_rgb, status_label)
from mspviewer.gui.worker import Task, TaskRunner

IMAGE_BACKGROUND = "#d9d9d9"
DEFAULT_INTERVAL_MS = 500
MIN_INTERVAL_MS = 20
MAX_INTERVAL_MS = 10_000
TASK_KIND = "replay"
REBUILD_TEXT = "Rebuild"  #: (no wider than "Build replay": the bar is short in a laptop's dock)
MIN_FRAME_HEIGHT_PX = 120  #: below it the panel scrolls rather than shrink the frame
# (short: the plot shares a laptop's dock with the frame, and a title is not elided)
PLOT_TITLE = "PSNR as the bits arrive"
PLOT_WAITING = "Build replay to plot<br>PSNR as the bits arrive"
#: ... for a stream opened without its original (empty 0…1 axes had said nothing of why)
PLOT_NO_ORIGINAL = "No original open:<br>no PSNR to plot"


class ReplayPanel(QWidget):
    #: (text, level): errors, warnings and notices for the window's message bar
    message = Signal(str, str)
    #: the step now displayed
    frame_changed = Signal(int)

    def __init__(self, session, runner: TaskRunner | None = None, scheduler=None,
                 parent=None):
        super().__init__(parent)
        self.session = session
        self._owns_runner = runner is None
        self.runner = runner if runner is not None else TaskRunner("replay", self)
        # exports have their own thread: writing a GIF never waits behind a build, and a
        # build never cancels an export
        self.export_runner = TaskRunner("replay-export", self)
        self.export_runner.task_finished.connect(self._on_export_finished)
        self.export_runner.task_failed.connect(self._on_export_failed)
        # the files the window's work came from, which an export must never replace (the
        # main window sets it; a panel on its own protects nothing)
        self.input_files: Callable[[], list[Path]] = lambda: []
        self.frames: list[inspection.ReplayFrame] = []
        self.reduction = 1  #: the frames' resolution is 1/reduction of the image's
        self._task: Task | None = None  # our running or queued build, None when idle
        self._result = None  # the EncodeOutcome the frames belong to
        self._shown: tuple[int, int] | None = None  # (step, id(frame)) on screen
        self._fitted: tuple[int, int] | None = None
        self._build_state = ""  # "", "building", "done", "cancelled", "interrupted", "failed"

        # --- controls ------------------------------------------------------------------
        self.build_button = QPushButton("Build replay")
        self.build_button.setToolTip("Synthesise the image after every MSP decoding pass "
                                     "(one synthesis per step, in the background)")
        self.build_button.clicked.connect(self.build)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setToolTip("Stop building after the current frame")
        self.cancel_button.clicked.connect(self.cancel)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Advance one step per interval; stops at the last step")
        self.play_button.clicked.connect(self.toggle_play)
        self.interval_box = QSpinBox()
        self.interval_box.setRange(MIN_INTERVAL_MS, MAX_INTERVAL_MS)
        self.interval_box.setSingleStep(50)
        self.interval_box.setSuffix(" ms/step")
        self.interval_box.setValue(DEFAULT_INTERVAL_MS)
        self.interval_box.setToolTip("Time per step when playing and in an exported GIF")
        self.interval_box.valueChanged.connect(self._apply_interval)
        self.export_button = QPushButton("Export…")
        export_menu = QMenu(self.export_button)
        export_menu.addAction("Animated GIF…", self.export_gif_dialog)
        export_menu.addAction("PNG sequence (folder)…", self.export_png_dialog)
        self.export_button.setMenu(export_menu)
        self.build_status = info_label()
        bar = QHBoxLayout()
        # (each as narrow as the longest text it shows: its minimum is all a short bar gives)
        narrow_button(self.build_button, REBUILD_TEXT)
        narrow_button(self.play_button, "Pause")
        for button in (self.cancel_button, self.export_button):
            narrow_button(button)
        for widget in (self.build_button, self.cancel_button, self.play_button,
                       self.interval_box, self.export_button):
            bar.addWidget(widget)
        bar.addSpacing(8)
        bar.addWidget(self.build_status, 1)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel("step –")
        self.step_label.setMinimumWidth(self.step_label.fontMetrics().horizontalAdvance(
            "step 000/000"))
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.step_label)
        slider_row.addWidget(self.slider, 1)

        # --- the frame ------------------------------------------------------------------
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(IMAGE_BACKGROUND)
        self.image_box = image_viewbox()
        self.image_item = rgb_item()
        self.image_box.addItem(self.image_item)
        self.view.ci.addItem(self.image_box, row=0, col=0)

        # --- PSNR against the bits spent ------------------------------------------------
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "payload so far [bpp]")
        self.plot.setLabel("left", "PSNR-RGB [dB]")
        plain_axes(self.plot)
        self._plot_title: str | None = None  # the plot's title (see _show_plot_axes)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(PALETTE[0], width=2), symbol="o",
                                    symbolSize=5, symbolBrush=PALETTE[0], symbolPen=None)
        self.marker = pg.ScatterPlotItem(size=13, pen=pg.mkPen(PALETTE[5], width=2),
                                         brush=None, symbol="o")
        # (on a curve point anyway: left out of the auto range, whose padding for its size
        # moved the axes from step to step during playback)
        self.plot.addItem(self.marker, ignoreBounds=True)

        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(self.plot)
        splitter.setSizes([500, 500])
        # The frame and plot take the height the dock has, and ask for none: the panel is in
        # a scroll area, which lays it out at its preferred height (it has word-wrapped
        # text), and the views' 480-px preference put most of the frame below the fold.
        splitter.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        splitter.setMinimumHeight(MIN_FRAME_HEIGHT_PX)
        self.step_info = status_label(2)
        self.step_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addLayout(slider_row)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.step_info)

        self.timer = QTimer(self)
        self.timer.setInterval(DEFAULT_INTERVAL_MS)
        self.timer.timeout.connect(self._advance)

        self.runner.task_progress.connect(self._on_progress)
        self.runner.task_finished.connect(self._on_finished)
        self.runner.task_failed.connect(self._on_failed)
        # a shared runner may drop our task (another task superseded it): notice it
        self.runner.task_started.connect(self._on_runner_changed)
        self.runner.busy_changed.connect(self._on_runner_changed)
        # Dropping the frames is immediate (cheap, and stale frames must never be shown);
        # only the redraw of the controls goes through the scheduler.
        session.result_changed.connect(self._on_result_changed)
        observe(session.result_changed, self.refresh, scheduler)
        self.refresh()

    # --- state --------------------------------------------------------------------------------
    def is_building(self) -> bool:
        return self._task is not None

    def num_steps(self) -> int | None:
        """P, the number of decoding passes of the current result (None without one)."""
        result = self.session.result
        return None if result is None else len(result.analysis.passes)

    def is_complete(self) -> bool:
        steps = self.num_steps()
        return (steps is not None and not self.is_building()
                and len(self.frames) == steps + 1)

    def step(self) -> int:
        """The step displayed (0 when there are no frames)."""
        return self.slider.value()

    def current_frame(self) -> inspection.ReplayFrame | None:
        k = self.step()
        return self.frames[k] if 0 <= k < len(self.frames) else None

    def displayed_image(self) -> np.ndarray | None:
        if not self.image_item.isVisible():
            return None
        return self.image_item.image

    def step_text(self) -> str:
        return self.step_info.text()

    # --- building -------------------------------------------------------------------------------
    def build(self) -> bool:
        """Compute the frames of the current result in the background (restarts a build)."""
        result, model = self.session.result, self.session.model
        if result is None:
            self.message.emit("Nothing to replay: encode an image or open a .msp file first.",
                              "warning")
            return False
        if model is None:
            self.message.emit("Cannot build the replay: no model is loaded.", "error")
            return False
        self._drop_task("superseded")
        self.pause()
        self._clear_frames()
        self._result = result
        record, original = result.analysis, result.original
        self.reduction = frame_reduction(record.image_size, len(record.passes) + 1)
        task = Task(TASK_KIND, "decode replay",
                    lambda token: replay_job(model, record, original, token),
                    context={"result": result})
        self._task = task
        self._build_state = "building"
        # Behind whatever a shared runner is doing: never cancel another panel's task.
        self.runner.submit(task, replace=False)
        self._refresh_controls()
        return True

    def cancel(self) -> bool:
        """Stop the running build after its current frame; the frames so far stay."""
        if self._task is None:
            return False
        self._task.token.cancel("user")  # ours only (runner.cancel would hit a shared task)
        return True

    def stop(self) -> None:
        """Stop playing and drop the build at once, without waiting for its thread."""
        self.pause()
        self._drop_task("shutdown")

    def shutdown(self) -> None:
        """Stop playing and building; shut down the runner if the panel made it."""
        self.stop()
        if self._owns_runner:
            self.runner.shutdown()
        self.export_runner.shutdown()  # waits for a file being written: never half a GIF

    def _drop_task(self, reason: str) -> None:
        if self._task is not None:
            self._task.token.cancel(reason)  # "superseded"/"shutdown": its results are dropped
            self._task = None

    def _ours(self, task: Task) -> bool:
        return task is self._task and self._result is self.session.result

    def _on_progress(self, task: Task, items: list) -> None:
        if not self._ours(task):
            return
        follow = not self.is_playing() and (not self.frames or
                                            self.step() == len(self.frames) - 1)
        self.frames.extend(item for item in items
                           if isinstance(item, inspection.ReplayFrame))
        self._frames_added(follow)

    def _on_finished(self, task: Task, _computed, cancelled: bool) -> None:
        if not self._ours(task):
            return
        self._task = None
        steps = self.num_steps()
        if cancelled or steps is None or len(self.frames) != steps + 1:
            self._build_state = "cancelled"
        else:
            self._build_state = "done"
        self._refresh_controls()
        self._show(self.step())  # the step line says whether the replay is complete

    def _on_failed(self, task: Task, message: str, details: str) -> None:
        if not self._ours(task):
            return
        self._task = None
        self._build_state = "failed"
        if details:
            print(details, file=sys.stderr)
        self.message.emit(f"Replay failed: {message}", "error")
        self._refresh_controls()

    def _on_runner_changed(self, *_args) -> None:
        """A shared runner drops a queued or running task when another task replaces it;
        no signal tells us, so look for ours where it should be."""
        task = self._task
        if task is None or task is self.runner.current or task in self.runner.pending:
            return
        self._task = None
        self._build_state = "interrupted"
        self.message.emit("The replay build was interrupted by another task; press Build "
                          "replay to compute the rest.", "warning")
        self._refresh_controls()

    def _on_result_changed(self) -> None:
        self._drop_task("superseded")
        self.pause()
        self._result = None
        self._build_state = ""
        self._clear_frames()

    # --- frames and display --------------------------------------------------------------------
    def _clear_frames(self) -> None:
        self.frames = []
        self._shown = None
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        set_rgb(self.image_item, None)
        self.curve.setData([], [])
        self.marker.setData([], [])
        self._refresh_controls()
        self._show(0)

    def _frames_added(self, follow: bool) -> None:
        last = len(self.frames) - 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(last, 0))
        self.slider.blockSignals(False)
        self._update_curve()
        self._refresh_controls()
        # Follow the newest frame while the user watches the end (the build itself plays
        # like a decoder); a step chosen further back stays put.
        self.set_step(last if follow else self.step())

    def set_step(self, k: int) -> None:
        """Show step k (clamped to the frames received so far)."""
        k = int(min(max(k, 0), max(len(self.frames) - 1, 0)))
        if self.slider.value() != k:
            self.slider.setValue(k)  # → _on_slider → _show
        else:
            self._show(k)

    def _on_slider(self, k: int) -> None:
        self._show(k)

    def _show(self, k: int) -> None:
        frame = self.frames[k] if 0 <= k < len(self.frames) else None
        steps = self.num_steps()
        self.step_label.setText(f"step {k}/{steps}" if frame is not None and steps is not None
                                else "step –")
        if frame is None:
            set_rgb(self.image_item, None)
            self.marker.setData([], [])
            self.step_info.setText(self._idle_text())
            self._shown = None
            return
        set_rgb(self.image_item, frame.image)
        size = frame.image.shape[:2]
        if self._fitted != size:
            self._fitted = size
            fit_box(self.image_box, size[1], size[0])
        point = self._plot_point(frame)
        if point is None:
            self.marker.setData([], [])
        else:
            self.marker.setData([point[0]], [point[1]])
        self.step_info.setText(self.describe(frame))
        shown = (k, id(frame))
        if shown != self._shown:
            self._shown = shown
            self.frame_changed.emit(k)

    def describe(self, frame: inspection.ReplayFrame) -> str:
        """The line shown for a frame: what was decoded last, how much, the bits, the PSNR."""
        result = self._result or self.session.result
        record = result.analysis
        total = int((record.pass_index >= 0).sum())
        bpp = frame.actual_bits / record.num_pixels
        if frame.psnr_rgb is None:
            quality = "no PSNR (no original)"
        else:
            quality = f"PSNR {fmt(float(frame.psnr_rgb), 'dB', 2)}"
        # ("payload": beside the file's rate in the metrics, a bare bpp read as a contradiction)
        text = (f"step {frame.step}/{frame.num_steps}: {frame.label}, "
                f"{frame.decoded_elements:,} of {total:,} elements decoded, bits so far: "
                f"estimated {frame.estimated_bits:,.0f} / actual {frame.actual_bits:,} "
                f"(payload {bpp:.4f} bpp), {quality}")
        if self.reduction > 1:
            text += (f" · frames kept at 1/{self.reduction} resolution to stay within "
                     f"{replay_jobs.REPLAY_MEMORY_BYTES // 2**20} MB (PSNR at full resolution)")
        if self.is_building():
            text += f" · building: {len(self.frames)} of {frame.num_steps + 1} frames"
        return text

    def _idle_text(self) -> str:
        if self.session.result is None:
            return "Encode an image (or open a .msp file), then press Build replay."
        if self.is_building():
            return "Building the replay: the first frame is on its way…"
        return ("Press Build replay to see the image after each decoding pass, the elements "
                "not decoded yet set to the means predicted later, by their own pass.")

    def _plot_point(self, frame: inspection.ReplayFrame) -> tuple[float, float] | None:
        if frame.psnr_rgb is None or not math.isfinite(frame.psnr_rgb):
            return None
        record = (self._result or self.session.result).analysis
        return frame.actual_bits / record.num_pixels, float(frame.psnr_rgb)

    def _update_curve(self) -> None:
        points = [p for p in map(self._plot_point, self.frames) if p is not None]
        if points:
            x, y = zip(*points)
            self.curve.setData(np.array(x), np.array(y))
        else:
            self.curve.setData([], [])

    def refresh(self) -> None:
        """Redraw the controls and the current step (after a new result, say)."""
        self._refresh_controls()
        self._show(self.step())

    def _refresh_controls(self) -> None:
        has_result = self.session.result is not None
        building = self.is_building()
        steps = self.num_steps()
        self.build_button.setEnabled(has_result)
        self.build_button.setText(REBUILD_TEXT if self.frames and not building
                                  else "Build replay")
        self.cancel_button.setEnabled(building)
        self.play_button.setEnabled(bool(self.frames))
        self.export_button.setEnabled(self.is_complete())
        self.slider.setEnabled(bool(self.frames))
        result = self._result or self.session.result
        if not self.frames:
            self._show_plot_axes(PLOT_WAITING)
        elif result is not None and getattr(result, "original", True) is None:
            self._show_plot_axes(PLOT_NO_ORIGINAL)
        else:
            self._show_plot_axes(PLOT_TITLE)
        expected = "?" if steps is None else steps + 1
        states = {
            "building": f"building: {len(self.frames)} of {expected} frames",
            "done": f"replay ready: {len(self.frames)} frames",
            "cancelled": f"stopped: {len(self.frames)} of {expected} frames",
            "interrupted": f"interrupted: {len(self.frames)} of {expected} frames",
            "failed": "build failed",
        }
        self.build_status.setText(states.get(self._build_state, " "))

    def _show_plot_axes(self, title: str) -> None:
        """Axes only with a curve on them (empty, pyqtgraph labels 0…1 on both), else a title
        that says why there is none; changed only when that changes, as it relays the plot
        out."""
        if title == self._plot_title:
            return
        self._plot_title = title
        for side in ("left", "bottom"):
            self.plot.getPlotItem().showAxis(side, title == PLOT_TITLE)
        self.plot.setTitle(title, size="9pt")

    # --- playing ----------------------------------------------------------------------------------
    def is_playing(self) -> bool:
        return self.timer.isActive()

    def interval(self) -> int:
        return self.interval_box.value()

    def set_interval(self, ms: int) -> None:
        """Milliseconds per step, when playing and in an exported GIF."""
        self.interval_box.setValue(int(ms))  # (clamped by the box) → _apply_interval

    def _apply_interval(self, ms: int) -> None:
        self.timer.setInterval(ms)

    def play(self) -> bool:
        if not self.frames:
            return False
        if not self.is_building() and self.step() >= len(self.frames) - 1:
            self.set_step(0)  # at the end: start again
        self.timer.start()
        self.play_button.setText("Pause")
        return True

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def _advance(self) -> None:
        if self.step() < len(self.frames) - 1:
            self.set_step(self.step() + 1)
        elif not self.is_building():
            self.pause()  # played to the end; a build still running: wait for its next frame

    # --- export --------------------------------------------------------------------------------
    def _export_refused(self, path) -> bool:
        """Say why the replay cannot be exported (True), or False when it can."""
        source = self._input_in_the_way(Path(path))
        if source is not None:
            self.message.emit(f"Cannot export the replay to {path}: it would replace "
                              f"{source}, which this work came from; choose another "
                              "name or folder", "error")
            return True
        steps = self.num_steps()
        if not self.frames:
            self.message.emit("No replay to export: press Build replay first.", "warning")
            return True
        if not self.is_complete():
            self.message.emit(f"The replay is incomplete ({len(self.frames)} of "
                              f"{'?' if steps is None else steps + 1} frames): build it to "
                              "the end before exporting.", "warning")
            return True
        return False

    def _input_in_the_way(self, path: Path) -> Path | None:
        """The input file a replay export to ``path`` would overwrite: the GIF itself, or
        in a folder, an input named like a frame (``step_007.png``)."""
        gif = path.suffix.lower() == ".gif"
        for source in self.input_files():
            if source is None:
                continue
            if gif and same_file(path, source):
                return Path(source)
            if (not gif and inspection.is_replay_frame_name(Path(source).name)
                    and same_file(path, Path(source).parent)):
                return Path(source)
        return None

    def export_in_background(self, path) -> Task | None:
        """Like :meth:`export`, in the export thread (the dialogs use this); the outcome
        comes as a message."""
        if self._export_refused(path):
            return None
        frames, frame_ms = list(self.frames), self.interval()
        task = Task("replay-export", f"export the replay to {Path(path).name}",
                    lambda token: export_job(frames, path, frame_ms, token),
                    context={"path": Path(path)})
        self.export_runner.submit(task, replace=False)
        self.message.emit(f"Exporting the replay to {path}…", "info")
        return task

    def is_exporting(self) -> bool:
        return self.export_runner.is_busy()

    def _on_export_finished(self, task: Task, written, cancelled: bool) -> None:
        if cancelled or not written:
            return
        where = written[0] if len(written) == 1 else task.context["path"]
        self.message.emit(f"Replay exported: {len(written)} file(s) in {where}", "info")

    def _on_export_failed(self, task: Task, message: str, details: str) -> None:
        if details:
            print(details, file=sys.stderr)
        self.message.emit(f"Replay export failed: {message}", "error")

    def export(self, path) -> list[Path]:
        """Write the frames as a GIF (``*.gif``) or a PNG sequence (a folder), now, on the
        calling thread; [] if refused. The GUI's buttons use :meth:`export_in_background`."""
        if self._export_refused(path):
            return []
        try:
            written = inspection.export_replay(self.frames, path, frame_ms=self.interval())
        except MSPViewerError as error:
            self.message.emit(f"Replay export failed: {error}", "error")
            return []
        where = written[0] if len(written) == 1 else Path(path)
        self.message.emit(f"Replay exported: {len(written)} file(s) in {where}", "info")
        return written

    def export_gif_dialog(self) -> Task | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the replay as a GIF",
                                              "replay.gif", "GIF animation (*.gif)")
        if not path:
            return None
        if not path.lower().endswith(".gif"):
            path += ".gif"
        return self.export_in_background(path)

    def export_png_dialog(self) -> Task | None:
        folder = QFileDialog.getExistingDirectory(
            self, "Export the replay as PNGs (step_000.png …) into a folder")
        return self.export_in_background(folder) if folder else None
