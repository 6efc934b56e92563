"""Shared pieces of the panels: pyqtgraph set-up, image views, colour maps, formatting."""

from __future__ import annotations

import html
import math
import weakref

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetricsF, QPainter, QTextLayout, QTextOption
from PySide6.QtWidgets import (QComboBox, QLabel, QPushButton, QSizePolicy, QToolTip,
                               QWidget)

from mspviewer.errors import summarise

# Images are numpy (row, column[, channel]) arrays everywhere in this package.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="w",
                    foreground="k")

SEQUENTIAL_MAP = "viridis"
DIVERGING_MAP = "CET-D1"
ERROR_MAP = "inferno"

#: Colours of the RD curves and bars, one per codec / series, colour-blind friendly.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999", "#882255", "#44AA99")


class RefreshScheduler(QObject):
    """Runs panel refreshes one at a time, a few milliseconds apart, coalescing repeats.

    A new result makes every panel redraw; done at once (and painted at once) that can
    block the event loop for longer than the 50 ms the viewer allows itself. Spread out,
    each panel's update and its repaint fit between two turns of the event loop.
    """

    def __init__(self, interval_ms: int = 12, parent: QObject | None = None,
                 on_error=None):
        super().__init__(parent)
        self._queue: list = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._run_one)
        #: ``on_error(text, details)`` reports a refresh that raised (the window's
        #: ``show_error``); without it the exception goes to ``sys.excepthook``.
        self.on_error = on_error

    def request(self, refresh) -> None:
        if refresh not in self._queue:
            self._queue.append(refresh)
        if not self._timer.isActive():
            self._timer.start()

    def connect(self, signal, refresh) -> None:
        """Refresh (later) whenever ``signal`` fires."""
        signal.connect(lambda *_: self.request(refresh))

    def pending(self) -> bool:
        return bool(self._queue)

    def flush(self) -> None:
        """Run every pending refresh now (one that raises is reported; the rest still run)."""
        self._timer.stop()
        while self._queue:
            self._call(self._queue.pop(0))

    def _run_one(self) -> None:
        try:
            if self._queue:
                self._call(self._queue.pop(0))
        finally:
            if self._queue:
                self._timer.start()

    def _call(self, refresh) -> None:
        try:
            refresh()
        except Exception as exc:  # a panel's bug must not stop the others' refreshes
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        import sys
        import traceback

        if self.on_error is None:
            sys.excepthook(type(exc), exc, exc.__traceback__)
            return
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            self.on_error(f"Internal error while updating a panel: {summarise(exc)}", details)
        except Exception:  # reporting must never stop the queue
            traceback.print_exc()


def observe(signal, refresh, scheduler: RefreshScheduler | None) -> None:
    """Connect a session signal to a panel's refresh: spread out by ``scheduler`` if given."""
    if scheduler is None:
        signal.connect(lambda *_: refresh())
    else:
        scheduler.connect(signal, refresh)


class Title(pg.LabelItem):
    """A LabelItem that never widens its layout column.

    Linked image panes need identical sizes, or the linked ranges would crop one of them;
    pyqtgraph's LabelItem otherwise asks for its text's full width. With ``elide`` the text
    is plain text, cut with "…" to the width the layout gives (the whole of it in the
    tooltip), so that a long title cannot spill over its neighbours'; without it, the text
    is HTML laid out by its caller. ``text`` is always the whole text. ``shorter`` texts,
    most to least complete, are drawn where the whole one does not fit, before any is cut
    (a pane's rate should outlive its codec's details).
    """

    def __init__(self, text: str = " ", elide: bool = False, **args):
        self.elide = elide  # (before LabelItem's constructor calls setText)
        self.shorter: tuple[str, ...] = ()
        super().__init__(text, **args)

    def setText(self, text: str, shorter: tuple[str, ...] = (), **args) -> None:
        self.text = text
        self.shorter = tuple(shorter)
        self.opts.update(args)
        self._show()

    @property
    def shown_text(self) -> str:
        """The text as it is drawn: elided to fit, or whole."""
        return self._shown

    def _show(self) -> None:
        whole = self.text
        shown = whole
        if self.elide:
            laid_out = self.rect().width() > 0
            width = self.rect().width() - 2 * self.item.document().documentMargin() - 2
            if laid_out and width <= 0:  # too narrow for even "…": nothing to spill
                shown = ""
            elif width > 0:  # ("" where not even "…" fits)
                font = QFont(self.item.font())
                size = str(self.opts.get("size", ""))
                if size.endswith("pt"):
                    font.setPointSizeF(float(size[:-2]))
                metrics = QFontMetricsF(font)
                candidates = (whole, *self.shorter)
                shown = next((text for text in candidates
                              if metrics.horizontalAdvance(text) <= width), None)
                if shown is None:
                    shown = metrics.elidedText(candidates[-1], Qt.TextElideMode.ElideRight,
                                               width)
            self.setToolTip(whole if shown != whole else "")
            shown = shown or "\u00a0"  # an empty one would lose the line's height
        self._shown = shown
        super().setText(html.escape(shown) if self.elide else shown)
        self.text = whole  # (LabelItem.setText kept the elided one)

    def resizeEvent(self, event) -> None:
        if event is not None and self.elide:
            self._show()  # re-elided to the new width (it positions the text too)
        else:
            super().resizeEvent(event)

    def updateMin(self) -> None:
        super().updateMin()
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, height)
        self.updateGeometry()


def colormap(name: str) -> pg.ColorMap:
    return pg.colormap.get(name)


def plain_axes(*items) -> None:
    """Show the numbers of every axis of these plots (PlotWidget, PlotItem, ColorBarItem) as
    they are. pyqtgraph rescales an axis whose values are all under 1, or reach 1000, and
    says so in its label: 0.2-0.4 bpp would read 200-400 "(x0.001)", a 1000-iteration LOF
    run 0.2-1.0 "(x1000)", half a percent "500 m%"."""
    for item in items:  # (a ColorBarItem is a PlotItem: its label is on another axis
        for side in ("left", "bottom", "right", "top"):  # than its numbers)
            axis = item.getAxis(side)
            axis.enableAutoSIPrefix(False)
            # a scale chosen before would stay, with no word of it left in the label
            # (pyqtgraph 0.14 has no public reset: _updateLabel redraws label and ticks)
            axis.autoSIPrefixScale, axis.labelUnitPrefix = 1.0, ""
            axis._updateLabel()


def fit_axis_label(plot: pg.PlotItem, label: str, short: str | tuple[str, ...],
                   side: str = "left") -> None:
    """The axis of ``plot`` on ``side`` (left or right) says ``label``, or ``short`` (the
    first of several, shortest last, that fits) where the plot is shorter than ``label`` is
    long: a longer one runs past the plot's height, over its neighbours' labels or off the
    panel. It relabels only on a change (relabelling relays the axis out: slow)."""
    axis = plot.getAxis(side)
    metrics, height = QFontMetricsF(axis.label.font()), plot.getViewBox().height()
    *longer, shortest = (label, short) if isinstance(short, str) else (label, *short)
    wanted = next((text for text in longer if metrics.horizontalAdvance(text) <= height),
                  shortest)
    if axis.labelText != wanted:
        plot.setLabel(side, wanted)
        # the axis centres its label when it is resized only: a label shortened without a
        # resize kept the long one's place, at the bottom of the axis or below it
        axis.resizeEvent()


#: the least height per tick label of a vertical axis, in lines of its font (labels closer
#: than this ran into each other: "60", "40" and "20" as one blot on a 40-px plot)
TICK_LINES = 1.6


def fit_axis_ticks(plot: pg.PlotItem, side: str = "left") -> None:
    """Ticks on the vertical axis on ``side`` at as many round values (1, 2 or 5 × 10^k) as
    its height has room for, where that is under four labels (pyqtgraph's own choice drew
    its labels over each other there); pyqtgraph's own ticks where four or more fit. Call it
    again when the plot's size or range changes."""
    axis, box = plot.getAxis(side), plot.getViewBox()
    line = QFontMetricsF(axis.font()).height()
    room = int(box.height() // (TICK_LINES * line))
    low, high = box.viewRange()[1]
    if box.height() > 0:  # (a label must fit whole: pyqtgraph draws none that would overhang)
        margin = 0.5 * line * (high - low) / box.height()
        low, high = low + margin, high - margin
    if room >= 4:
        if getattr(axis, "_fitted_ticks", None) is not None:
            axis.setTicks(None)
            axis._fitted_ticks = None
        return
    # the finest round step with no more values than two or the room allows, above the
    # axis's foot (a label there runs into the bottom axis's numbers); one: the topmost
    # (no range left inside the margins, on a plot under a line tall: no value at all)
    values: list[float] = []
    magnitude = math.floor(math.log10(high - low)) if high > low else 0
    steps = [m * 10.0 ** e for e in range(magnitude - 1, magnitude + 2) for m in (1, 2, 5)]
    for step in steps if high > low else []:
        first, last = math.floor(low / step) + 1, math.floor(high / step)
        if 0 < last - first + 1 <= max(room, 2):
            values = [round(k * step, 12) for k in range(first, last + 1)]
            break
    ticks = [[(value, f"{value:g}") for value in values[-max(room, 1):]], []]
    if getattr(axis, "_fitted_ticks", None) != ticks:
        axis.setTicks(ticks)
        axis._fitted_ticks = ticks


class FittedAxisLabel:
    """The label of a vertical axis that takes its short form while its plot (a colour bar
    beside heatmaps a few rows tall, say) is too short for the long one, refitted whenever the
    plot is resized; ``set`` changes both forms."""

    def __init__(self, plot: pg.PlotItem, label: str, short: str, side: str = "left"):
        self.plot, self.side = plot, side
        self.label, self.short = label, short
        plot.getViewBox().sigResized.connect(self.fit)
        self.fit()

    def set(self, label: str, short: str) -> None:
        self.label, self.short = label, short
        self.fit()

    def fit(self, *_args) -> None:
        fit_axis_label(self.plot, self.label, self.short, self.side)


def image_viewbox(**kwargs) -> pg.ViewBox:
    """A ViewBox for pictures: square pixels, row 0 at the top, no context menu."""
    box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, **kwargs)
    box.setDefaultPadding(0.0)
    return box


#: The least an image's short side takes on screen when fitted: a strip thinner than this
#: (4096×16 in a 600-px pane would be 2 px) is shown from its start at this size, to pan along.
MIN_FITTED_SIDE_PX = 48


def fit_range(box: pg.ViewBox, width: float, height: float) -> QRectF:
    """The range of ``box`` that shows a ``width`` × ``height`` picture whole, unless that
    would leave its short side under MIN_FITTED_SIDE_PX on screen (or the pane's size, in a
    smaller pane); then the picture's start at that size."""
    whole = QRectF(0, 0, width, height)
    view_width, view_height = box.width(), box.height()
    if not _laid_out(box) or min(width, height) <= 0:
        return whole  # no size to judge by
    scale = min(view_width / width, view_height / height)
    wanted = min(MIN_FITTED_SIDE_PX, view_width, view_height)
    if min(width, height) * scale >= wanted:
        return whole
    scale = wanted / min(width, height)
    return QRectF(0, 0, min(width, view_width / scale), min(height, view_height / scale))


#: the outline of the inspected element, on the heatmaps and the image (no palette colour:
#: it is on top of them all), edged in black: magenta alone was lost in magma's purples
#: (the difference heatmaps)
MARK_COLOUR = "#FF00FF"
MARK_EDGE_COLOUR = "#000000"


class Mark:
    """An outline of one rectangle in one of several ViewBoxes (the inspected element):
    moved to another box, or hidden, as the selection changes."""

    def __init__(self) -> None:
        from PySide6.QtGui import QPen
        from PySide6.QtWidgets import QGraphicsRectItem

        self.item = QGraphicsRectItem()
        pen = QPen(pg.mkColor(MARK_COLOUR), 2)
        pen.setCosmetic(True)  # 2 screen pixels at any zoom
        self.item.setPen(pen)
        self.item.setZValue(20)
        # a wider black line under the magenta one: a 1-px black edge each side of it
        self.edge = QGraphicsRectItem(self.item)
        edge_pen = QPen(pg.mkColor(MARK_EDGE_COLOUR), 4)
        edge_pen.setCosmetic(True)
        self.edge.setPen(edge_pen)
        self.edge.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemStacksBehindParent)
        self.box: pg.ViewBox | None = None

    def show(self, box: pg.ViewBox, rect: QRectF) -> None:
        if self.box is not box:
            self.hide()
            box.addItem(self.item, ignoreBounds=True)
            self.box = box
        self.item.setRect(rect)
        self.edge.setRect(rect)

    def hide(self) -> None:
        """Off its box, also a box out of the scene (taken from its layout): left there, the
        outline would come back with the box, or go when Qt deletes the box."""
        if self.box is not None:
            self.box.removeItem(self.item)
            self.box = None

    def rect(self) -> QRectF | None:
        """Where it is drawn, in its box's coordinates; None while hidden."""
        return self.item.rect() if self.box is not None else None


def _laid_out(box: pg.ViewBox) -> bool:
    """Whether ``box`` has its size on screen (not in a tab or a window never shown)."""
    scene = box.scene()
    return (scene is not None and any(view.isVisible() for view in scene.views())
            and box.width() > 1 and box.height() > 1)


def fit_box(box: pg.ViewBox, width: float, height: float) -> None:
    """Show a ``width`` × ``height`` picture in ``box`` as :func:`fit_range` says, and keep
    it so: the box fits it again whenever its size changes (a window or dock resized, a tab
    shown for the first time, a mode that adds a colour bar) until the user pans or zooms it
    (or a view linked to it: :func:`link_image_view`) or the code sets another range and says
    so (:func:`forget_fit`: a zoom carried over, 1:1). A box in a tab not shown yet has no
    size: its fit waits for one.

    Whether the box is fitted is a state of its own, not a comparison of its range with the
    fit's: linked views hand each other their visible range, letterbox margins included, so
    the range of a fitted box drifts from the fit's without anyone zooming (compared, the fit
    was lost at the first resize, and each change of compare mode then carried the widened
    range over and zoomed out further). A zoom is kept the same way (:func:`keep_view`)."""
    _hook_resize(box)
    box._kept_fit = (width, height)
    box._kept_view = None
    box.setRange(fit_range(box, width, height), padding=0)


def _hook_resize(box: pg.ViewBox) -> None:
    if not getattr(box, "_fit_hooked", False):
        box._fit_hooked = True
        box.sigResized.connect(_refit)
        end_fit_with(box, box)


def view_of(box: pg.ViewBox) -> tuple[float, float, float] | None:
    """What ``box`` shows: its centre and its scale (picture pixels per screen pixel, the
    larger of the two axes'); None where it has no size yet."""
    if box.width() <= 1 or box.height() <= 1:
        return None
    rect = box.viewRect()
    return (rect.center().x(), rect.center().y(),
            max(rect.width() / box.width(), rect.height() / box.height()))


def keep_view(box: pg.ViewBox, view: tuple[float, float, float] | None = None) -> None:
    """Show ``view`` (centre and scale; default: what ``box`` shows now) in ``box`` and keep
    it through changes of the box's size, until the user pans or zooms, which keeps the new
    view. pyqtgraph keeps the visible rect instead, widened to the box's new shape: zoomed on
    an artifact, a narrower pane (a third one added, a dock moved) or a switch of compare
    mode zoomed out, and out again at each switch back."""
    _hook_resize(box)
    view = view or view_of(box)
    box._kept_fit = None
    box._kept_view = view
    if view is not None and _laid_out(box):
        _show_kept_view(box, view)


def _show_kept_view(box: pg.ViewBox, view: tuple[float, float, float]) -> None:
    centre_x, centre_y, scale = view
    width, height = box.width() * scale, box.height() * scale
    box.setRange(QRectF(centre_x - width / 2, centre_y - height / 2, width, height),
                 padding=0)


def end_fit_with(box: pg.ViewBox, *views: pg.ViewBox) -> None:
    """A pan or zoom of the user's in any of ``views`` (``box`` itself, or views linked to
    it, which move it too) ends the fit that :func:`fit_box` keeps for ``box``."""
    held = weakref.ref(box)  # (a strong reference from its own signal would keep it alive)

    def end(*_mask) -> None:
        if (fitted := held()) is not None:
            forget_fit(fitted)
            fitted._kept_view = view_of(fitted)  # (links have moved it already)

    for view in views:
        view.sigRangeChangedManually.connect(end)


def link_image_view(view: pg.ViewBox, leader: pg.ViewBox) -> None:
    """Make ``view`` pan and zoom with ``leader`` (both axes), a pan or zoom in it ending the
    fit ``leader`` keeps (:func:`fit_box`), as one in ``leader`` itself does."""
    view.setXLink(leader)
    view.setYLink(leader)
    end_fit_with(leader, view)


def forget_fit(box: pg.ViewBox) -> None:
    """Stop keeping ``box``'s picture fitted (see :func:`fit_box`), or a zoom
    (:func:`keep_view`)."""
    box._kept_fit = None
    box._kept_view = None


def is_fitted(box: pg.ViewBox) -> bool:
    """Whether ``box`` keeps its picture fitted (:func:`fit_box`)."""
    return getattr(box, "_kept_fit", None) is not None


def _refit(box: pg.ViewBox) -> None:
    """On a new size: fit the picture again (:func:`fit_box`), or show the kept zoom
    (:func:`keep_view`)."""
    if not _laid_out(box):
        return
    if is_fitted(box):
        fit_box(box, *box._kept_fit)
    elif getattr(box, "_kept_view", None) is not None:
        _show_kept_view(box, box._kept_view)


def rgb_item() -> pg.ImageItem:
    item = pg.ImageItem(axisOrder="row-major")
    item.setAutoDownsample(False)
    return item


def set_rgb(item: pg.ImageItem, pixels: np.ndarray | None, x0: float = 0.0) -> None:
    """Show uint8 RGB pixels 1:1 in data coordinates (pixel (r, c) covers [c, c+1) × [r, r+1))."""
    if pixels is None:
        item.clear()
        item.setVisible(False)
        item.shown_pixels = None
        return
    item.setVisible(True)
    rect = QRectF(x0, 0, pixels.shape[1], pixels.shape[0])
    # A panel refresh sets the same images again: an array that cannot have changed (the
    # very one shown, read-only) is not converted and drawn anew (26-60 ms at 4 MP). (The
    # item keeps a view of it, not the array: hence an attribute of ours.)
    if getattr(item, "shown_pixels", None) is pixels and not pixels.flags.writeable \
            and item.image is not None and item.mapRectToParent(item.boundingRect()) == rect:
        return
    item.setImage(pixels, autoLevels=False, levels=(0, 255))
    item.setRect(rect)
    item.shown_pixels = pixels


def heat_item(cmap: str = SEQUENTIAL_MAP) -> pg.ImageItem:
    item = pg.ImageItem(axisOrder="row-major")
    item.setColorMap(colormap(cmap))
    return item


def view_to_widget(view: pg.GraphicsView, box: pg.ViewBox, x: float, y: float) -> QPointF:
    """Where a point in a ViewBox's data coordinates lands on its GraphicsView widget."""
    return QPointF(view.mapFromScene(box.mapViewToScene(QPointF(x, y))))


def narrow_combo(box: QComboBox, characters: int) -> None:
    """Let ``box`` shrink to ``characters`` characters where its bar is short, rather than
    set the window's minimum width by its longest entry, and be as wide as that entry where
    there is room (a box always that narrow showed "MSP without L" in any window)."""
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(characters)
    narrow = box.minimumSizeHint().width()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    box.setMinimumWidth(narrow)


def narrow_button(button: QPushButton, *other_texts: str) -> QPushButton:
    """Let ``button`` shrink to its text (or the longest of ``other_texts`` it will show
    later) where its bar is short: the style's 80-px least width for a text button made a
    bar of five of them wider than a laptop's dock."""
    metrics = button.fontMetrics()
    text = max((button.text(), *other_texts), key=metrics.horizontalAdvance)
    menu_arrow = metrics.height() if button.menu() is not None else 0
    button.setMinimumWidth(metrics.horizontalAdvance(text) + metrics.height() + menu_arrow)
    return button


def disable_drops(widget: QWidget) -> None:
    """Let drag-and-drop fall through graphics views to the window (QGraphicsView takes it)."""
    for view in widget.findChildren(pg.GraphicsView):
        view.setAcceptDrops(False)
        view.viewport().setAcceptDrops(False)


def fmt(value, unit: str = "", digits: int = 3) -> str:
    """A number for humans: '—' for missing, ∞ kept, fixed decimals otherwise."""
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" + (f" {unit}" if unit else "")
    if isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip()


def duration(seconds: float | None) -> str:
    """A time for humans: milliseconds under a second (a small JPEG's "0.00 s" said
    nothing), seconds with two decimals above; "—" for none."""
    if seconds is None:
        return "—"
    if seconds < 0.01:
        return f"{1000 * seconds:.1f} ms"
    if round(1000 * seconds) < 1000:  # (0.9996 s is "1.00 s", not "1000 ms")
        return f"{1000 * seconds:.0f} ms"
    return f"{seconds:.2f} s"


def signed(value: float, spec: str = ".1f") -> str:
    """A change with its sign, the minus a true one as in the tables: −12.3 or +4.5."""
    return format(value, "+" + spec).replace("-", "−")


class ElidedLabel(QLabel):
    """Plain text that a narrow or short panel cuts at a character with "…", not mid-letter
    at its edge or mid-line at its bottom: one line is cut at the width, word-wrapped text
    after the last line that fits the height. While cut, its tooltip shows the whole text
    (above a tooltip of the label's own). ``text()`` stays the whole text; rich text, and a
    selection made with the mouse, are drawn as QLabel draws them."""

    @property
    def shown_text(self) -> str:
        """The text as drawn: the whole of it, or its start and "…" where it is cut."""
        text = self.text()
        if not self.is_plain():
            return text
        rect = self.contentsRect()
        metrics = self.fontMetrics()
        if not self.wordWrap():
            return metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        lines = _wrapped_lines(text, self.font(), rect.width())
        # (n lines take n line spacings less one leading: QLabel's own height for them)
        room = max(1, (rect.height() + metrics.leading()) // metrics.lineSpacing())
        if len(lines) <= room:
            return text
        rest = " ".join(lines[room - 1:])
        last = metrics.elidedText(rest, Qt.TextElideMode.ElideRight, rect.width())
        return "\n".join([*lines[:room - 1], last])

    def is_plain(self) -> bool:
        """Whether QLabel shows the text as plain text (not markup)."""
        text_format = self.textFormat()
        if text_format == Qt.TextFormat.AutoText:  # (mightBeRichText is QtGui's, not QtCore's)
            return not QtGui.Qt.mightBeRichText(self.text())
        return text_format == Qt.TextFormat.PlainText

    def is_cut(self) -> bool:
        return self.shown_text != self.text()

    def paintEvent(self, event) -> None:
        shown = self.shown_text
        if shown == self.text() or self.hasSelectedText():  # (QLabel draws the selection)
            super().paintEvent(event)
            return
        painter = QPainter(self)
        flags = int(self.alignment())
        if self.wordWrap():
            flags |= int(Qt.TextFlag.TextWordWrap)
        self.style().drawItemText(painter, self.contentsRect(), flags, self.palette(),
                                  self.isEnabled(), shown, self.foregroundRole())

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.is_cut():
            own = self.toolTip()
            QToolTip.showText(event.globalPos(),
                              self.text() + (f"\n\n{own}" if own else ""), self)
            return True
        return super().event(event)


def _wrapped_lines(text: str, font: QFont, width: int) -> list[str]:
    """The lines ``text`` takes when wrapped at word boundaries to ``width`` pixels, as
    QPainter wraps a label's text (a line break in the text ends a line)."""
    lines = []
    for paragraph in text.split("\n"):
        layout = QTextLayout(paragraph, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        layout.setTextOption(option)
        layout.beginLayout()
        while (line := layout.createLine()).isValid():
            line.setLineWidth(width)
            lines.append(paragraph[line.textStart():line.textStart() + line.textLength()]
                         .rstrip())
        layout.endLayout()
    return lines


def info_label(monospace: bool = False) -> ElidedLabel:
    """A one-line label whose text never widens its panel (long text is cut with "…")."""
    label = ElidedLabel(" ")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    if monospace:
        label.setStyleSheet("font-family: monospace;")
    return label


def status_label(lines: int = 2) -> ElidedLabel:
    """A word-wrapping label of fixed height: new text never changes the layout around it
    (a relayout would resize and repaint every plot of the panel, stalling the event loop).
    Plain text that needs more lines than it has ends in "…" after the last that fits."""
    label = ElidedLabel(" ")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label


def placeholder(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: #777;")
    return label
