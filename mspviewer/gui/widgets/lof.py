"""LOF live curves: J, bpp and PSNR against the iteration, and the encode's progress bar.

Progress records are taken as LOF yields them (``iteration``, ``J``, ``bpp``, ``psnr``,
``phase``, ``elapsed_s``, ``best_J``, ``accepted``, ``refused``, ``learning_rate``,
``temperature``); other records
(:class:`~mspviewer.gui.jobs.StageProgress`) only update the status line.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from mspviewer.gui.jobs import StageProgress
from mspviewer.gui.widgets.common import PALETTE, fit_axis_label, plain_axes, status_label

#: (key, axis label, its short forms); LOF's bpp is the model's estimate of the payload (J's
#: rate term), a little under the file's, which counts the header and the coder's overhead
SERIES = (("J", "J", "J"), ("bpp", "bpp (model)", "bpp"),
          ("psnr", "PSNR-RGB [dB]", ("PSNR [dB]", "dB")))

def lof_profile_names() -> str:
    """The profiles that run LOF, as a phrase ("quick, balanced or max")."""
    from mspviewer.codec.profiles import load_profiles
    from mspviewer.errors import MSPViewerError

    try:
        names = [name for name, profile in load_profiles().items() if profile.uses_lof]
    except MSPViewerError:  # a broken profiles file: the controls say so
        names = []
    if not names:
        return "an LOF profile"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def uses_lof(profile_name: str) -> bool:
    from mspviewer.codec.profiles import get_profile
    from mspviewer.errors import MSPViewerError

    try:
        return get_profile(profile_name).uses_lof
    except MSPViewerError:
        return False


#: what the panel says instead of three empty plots
IDLE_HINT = ("LOF (latent overfitting) draws its curves here: J = bpp + λ·255²·MSE, bpp and "
             "PSNR at every iteration, as {lof_profiles} optimises the latent of the image.")
NO_LOF_HINT = ("{what}: no LOF iterations to draw (the {profile} profile runs the analysis "
               "transform only). Choose {lof_profiles} under Profile to watch LOF optimise "
               "the latent.")
NO_ITERATION_HINT = "This encode ended before its first LOF iteration: nothing to draw."
FILE_HINT = ("A stream read from a file: how it was encoded is not recorded in it, so there "
             "are no LOF iterations to draw.")


def _value(record, name: str) -> float | None:
    value = getattr(record, name, None)
    if value is None and name == "J":
        value = getattr(record, "j", None)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _time_left(record, total: int, time_limit_s: float | None = None) -> str:
    """The progress bar's " · about N s left": at the mean pace so far, or to the time
    limit if that comes first; balanced and max take minutes on a CPU, so the wait is
    worth stating. An upper bound late in a run: greedy trials cost less than gradient
    steps and the search may converge before its budget."""
    elapsed = _value(record, "elapsed_s")
    done = int(getattr(record, "iteration", 0) or 0)
    if not elapsed or done <= 0 or done >= total:
        return ""
    seconds = elapsed / done * (total - done)
    if time_limit_s:
        seconds = min(seconds, max(time_limit_s - elapsed, 0.0))
    if seconds < 1:
        return ""
    if seconds < 90:
        return f" · about {seconds:.0f} s left"
    return f" · about {seconds / 60:.0f} min left"


class SharedWidthAxis(pg.AxisItem):
    """A left axis as wide as the widest of its group: the three LOF plots share their
    iterations, so their plot areas must start at one x, whatever the width of each one's
    tick texts ("1.52", "0.90616", "35.7416": pyqtgraph gives a narrow range more decimals)."""

    def __init__(self, group: list[SharedWidthAxis]):
        super().__init__("left")
        self.group = group
        group.append(self)
        self.setStyle(autoExpandTextSpace=False)  # (the group sets the width, below)

    def _updateMaxTextSize(self, x: int) -> None:
        # pyqtgraph's hook for the widest tick text just laid out: it keeps that width in
        # textWidth (growing at once, shrinking by more than 10 px only); the group's
        # widest is every member's room for text
        super()._updateMaxTextSize(x)
        widest = int(math.ceil(max(axis.textWidth for axis in self.group)))
        for axis in self.group:
            if axis.style["tickTextWidth"] != widest:
                axis.setStyle(tickTextWidth=widest)


class LOFPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.status = status_label(2)
        #: the shown result's status line and iteration count, while a ladder runs
        self._shown_status: str | None = None
        self._shown_total: int | None = None
        self.view = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.best_curve: pg.PlotDataItem | None = None
        self.value_axes: list[SharedWidthAxis] = []
        for row, (key, label, _) in enumerate(SERIES):
            plot = self.view.addPlot(row=row, col=0,
                                     axisItems={"left": SharedWidthAxis(self.value_axes)})
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("left", label)
            plain_axes(plot)
            plot.getViewBox().sigResized.connect(self._fit_labels)
            if key == "J":
                plot.setToolTip("J = bpp + λ·255²·MSE, the RD cost LOF minimises")
            elif key == "bpp":
                plot.setToolTip("The payload's bits as the model estimates them, over the "
                                "pixels: J's rate term. The file's bpp (status line, Metrics) "
                                "also counts the header and the coder's overhead.")
            else:
                plot.setToolTip("PSNR-RGB of the image decoded from the latent, in dB")
            if row:
                plot.setXLink(self.plots["J"])
            if row == len(SERIES) - 1:
                plot.setLabel("bottom", "iteration")
            else:  # the plots share the bottom one's iterations: no numbers, more height
                plot.getAxis("bottom").setStyle(showValues=False)
                plot.getAxis("bottom").setHeight(4)
            self.plots[key] = plot
            self.curves[key] = plot.plot([], [], pen=pg.mkPen(PALETTE[row], width=2),
                                         symbol="o", symbolSize=4, symbolBrush=PALETTE[row],
                                         symbolPen=None)
        self.best_curve = self.plots["J"].plot(
            [], [], pen=pg.mkPen("#777", style=Qt.PenStyle.DashLine))
        self.lof_profiles = lof_profile_names()
        self.idle_hint = IDLE_HINT.format(lof_profiles=self.lof_profiles)
        self.hint = QLabel(self.idle_hint)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setMargin(24)
        self.hint.setStyleSheet("color: #555;")
        self.pages = QStackedWidget()  # the hint until there is something to plot
        self.pages.addWidget(self.hint)
        self.pages.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.pages, 1)
        self.records: list = []
        self.total: int | None = None
        self.time_limit_s: float | None = None

    def _fit_labels(self, *_args) -> None:
        """A plot too short for its axis label's length gets the short form ("bpp", "dB"):
        a longer one ran over the label of the plot below (three plots share a dock a few
        hundred pixels tall). The tooltips keep the full meaning."""
        for key, label, short in SERIES:
            if key in self.plots:  # (else still being built)
                fit_axis_label(self.plots[key], label, short)

    def axis_label(self, key: str) -> str:
        return self.plots[key].getAxis("left").labelText

    def showing_plots(self) -> bool:
        return self.pages.currentWidget() is self.view

    def _show_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.pages.setCurrentWidget(self.hint)

    def data(self, key: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for record in self.records:
            value = _value(record, key)
            if value is not None:
                xs.append(float(getattr(record, "iteration", len(xs))))
                ys.append(value)
        return xs, ys

    def start(self, description: str, total_iterations: int | None,
              time_limit_s: float | None = None) -> None:
        self.records = []
        self._shown_status = None
        self.total = total_iterations
        self.time_limit_s = time_limit_s
        for curve in (*self.curves.values(), self.best_curve):
            if curve.xData is not None and len(curve.xData):  # (clearing redraws the axes)
                curve.setData([], [])
        if total_iterations:
            self.progress.setRange(0, total_iterations)
            self.progress.setValue(0)
            self.progress.setFormat("%v / %m iterations")
            self._show_hint(f"{description}: waiting for the first LOF iteration…")
        else:
            self.progress.setRange(0, 0)  # busy indicator
            self._show_hint(f"{description}…" if description else self.idle_hint)
        self.status.setText(f"encoding: {description}")

    def add(self, items: list) -> None:
        changed = False
        for item in items:
            if isinstance(item, StageProgress):
                self.status.setText(item.message)
                if item.fraction is not None and not self.total:
                    self.progress.setRange(0, 1000)
                    self.progress.setValue(int(item.fraction * 1000))
                    self.progress.setFormat(f"{item.stage} %p%")
                continue
            if getattr(item, "iteration", None) is None:
                continue
            if self.records and item.iteration <= self.records[-1].iteration:
                self.records = []  # a new LOF run (the target-bpp search re-runs LOF)
            self.records.append(item)
            changed = True
        if changed:
            self._redraw()
            last = self.records[-1]
            if self.total:
                self.progress.setValue(min(int(last.iteration), self.total))
                self.progress.setFormat("%v / %m iterations"
                                        + _time_left(last, self.total, self.time_limit_s))
            parts = [f"iteration {last.iteration}"]
            phase = getattr(last, "phase", None)
            if phase:
                parts.append(f"phase {phase}")
            for key, fmt in (("J", "J {:.4f}"), ("best_J", "best J {:.4f}"),
                             ("bpp", "{:.4f} bpp"), ("psnr", "{:.2f} dB")):
                value = _value(last, key)
                if value is not None:
                    parts.append(fmt.format(value))
            learning_rate = _value(last, "learning_rate")
            if learning_rate:  # Adam's step, which the backoff halves when J stalls
                parts.append(f"lr {learning_rate:.2g}")
            temperature = _value(last, "temperature")
            if temperature:  # annealed rounding: how random the surrogate's bins still are
                parts.append(f"τ {temperature:.2g}")
            for key in ("accepted", "refused"):
                value = getattr(last, key, None)
                if value is not None:
                    parts.append(f"{key} {value}")
            elapsed = _value(last, "elapsed_s")
            if elapsed is not None:
                parts.append(f"{elapsed:.1f} s")
            self.status.setText(" · ".join(parts))

    def _redraw(self) -> None:
        self.pages.setCurrentWidget(self.view)
        for plot in self.plots.values():
            plot.enableAutoRange()
        for key, curve in self.curves.items():
            curve.setData(*self.data(key))
        xs, ys = self.data("best_J")
        self.best_curve.setData(xs, ys)

    def finish(self, outcome, cancelled: bool = False) -> None:
        """Show the end state: the curves of an LOF run, or a hint that says why there
        are none (a plain encode, a stream from a file, a run cancelled before its first
        iteration) with the result's J, bpp and PSNR in the status line."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        if outcome is None:
            self.progress.setFormat("cancelled")
            self.status.setText("cancelled before any result")
            if not self.records:
                self._show_hint(self.idle_hint)
            return
        self.progress.setFormat("cancelled: best kept" if cancelled else "done")
        if outcome.source == "file" and outcome.point is None:  # no original to measure
            self.status.setText(f"a stream read from a file · {outcome.bpp:.4f} bpp · no "
                                f"original open to measure PSNR against")
            self._show_hint(FILE_HINT)
        elif not self.records and outcome.point is not None:
            # No LOF iterations (profile fast, or a stream read from a file): no curve, and
            # the page says why; the plain encoder's RD cost is in the status line, counted
            # as LOF counts J (the model's bits, no header), so that the two compare.
            point = outcome.point
            parts = [f"{point.bpp:.4f} bpp", f"{point.psnr_rgb:.2f} dB"]
            if point.psnr_rgb is not None and math.isfinite(point.psnr_rgb):
                mse = 255.0 ** 2 / 10 ** (point.psnr_rgb / 10)  # on the 0..255 scale
                j = outcome.analysis.estimated_bpp + outcome.lam * mse  # λ·255²·MSE(0..1)
                parts.insert(0, f"J {j:.4f} (model bits, as LOF counts it)")
            if outcome.source == "file":
                how = "a stream read from a file (how it was encoded is not recorded in it)"
                self._show_hint(FILE_HINT)
            elif uses_lof(outcome.profile):  # cancelled, or a time limit, before iteration 1
                how = f"profile {outcome.profile}: no LOF iteration finished"
                self._show_hint(NO_ITERATION_HINT)
            else:
                how = f"profile {outcome.profile}: no LOF iterations"
                self._show_hint(NO_LOF_HINT.format(what="This encode", profile=outcome.profile,
                                                   lof_profiles=self.lof_profiles))
            self.status.setText(" · ".join([how, *parts]))
        elif self.records:
            last = self.records[-1]
            # the kept rate both ways: as the bpp plot counts it (the model's bits, no header)
            # and in the file; the file's alone, under a plot of the model's, read as a
            # contradiction on a small crop, where the header is a large part of the file
            parts = [f"{'cancelled after' if cancelled else 'finished:'} "
                     f"{len(self.records)} iterations",
                     f"kept {outcome.analysis.estimated_bpp:.4f} bpp (model, as plotted), "
                     f"{outcome.bpp:.4f} bpp (file)"]
            if outcome.point is not None:
                parts.append(f"{outcome.point.psnr_rgb:.2f} dB")
            if _value(last, "best_J") is not None:
                parts.append(f"best J {_value(last, 'best_J'):.4f}")
            self.status.setText(" · ".join(parts))

    def start_ladder(self, description: str) -> None:
        """A λ ladder runs: the bar and the status line follow it, the plots (or the hint)
        stay those of the result on screen. Its encodes draw no iterations (its points go
        to the RD plot), and a ladder that cleared the plots left a panel describing a λ
        that no other panel showed."""
        if self._shown_status is None:
            self._shown_status = self.status.text()
            self._shown_total = self.total
        self.total = None  # (the ladder's own fractions move the bar, see add)
        self.progress.setRange(0, 0)  # busy indicator
        self.status.setText(f"{description}…")

    def finish_ladder(self, cancelled: bool) -> None:
        """The end of a λ ladder: the status line is the shown result's again."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("λ ladder cancelled" if cancelled else "λ ladder done")
        if self._shown_status is not None:
            self.status.setText(self._shown_status)
            self.total = self._shown_total
            self._shown_status = None

    def fail(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("failed")
        self.status.setText(message)
        if self._shown_status is not None:  # a ladder's failure: the result's count stays
            self.total = self._shown_total
            self._shown_status = None
