"""A plot legend that sits in the corner of the plot its curves leave most free.

An RD plot has no corner that is always free: zoomed to MSP's rates, a weak codec's high
rates fill the bottom right, and steep curves of strong codecs reach into the top left.
Like matplotlib's ``loc="best"``, the legend scores the data under it in each corner (every
marker near it, every line segment that crosses it) and takes the corner with the lowest
score, until the user drags it somewhere: from then on it stays where they put it (a double
click hands it back to the automatic placement). In a plot too short for any corner to be
free (a laptop's), it can stand beside the view instead, in room the plot makes for it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

#: corner name → its (x, y) place as fractions of the view (0: left or top, 1: right or
#: bottom), which is also the legend's own point anchored there; the order is the preference
#: among equally free corners (the top left first: few bits and a high quality, which no
#: codec reaches)
CORNERS = {"top left": (0, 0), "bottom right": (1, 1), "top right": (1, 0),
           "bottom left": (0, 1)}
#: gap between the legend and the plot's edges (pixels)
MARGIN_PX = 5
#: a marker this close to the legend (pixels: about half the largest symbol, the MSP star)
#: counts as under it
MARKER_RADIUS_PX = 8
#: a marker weighs more than a line crossing the legend: the points are the data, the lines
#: only join them
MARKER_WEIGHT = 3
#: the column of a pyqtgraph PlotItem's layout right of its view (the right axis's, which an
#: RD plot does not show), where a legend beside the view stands
BESIDE_COLUMN = 2


def corner_rect(corner: str, view_size: tuple[float, float],
                legend_size: tuple[float, float]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the legend placed in ``corner`` of a view of that size."""
    (width, height), (legend_w, legend_h) = view_size, legend_size
    right_side, bottom_side = CORNERS[corner]
    left = width - MARGIN_PX - legend_w if right_side else MARGIN_PX
    top = height - MARGIN_PX - legend_h if bottom_side else MARGIN_PX
    return left, top, left + legend_w, top + legend_h


def points_inside(points: np.ndarray, rect, grow: float = 0.0) -> np.ndarray:
    """Which of ``points`` (N×2) lie in ``rect`` (left, top, right, bottom) grown by ``grow``."""
    left, top, right, bottom = rect
    x, y = points[:, 0], points[:, 1]
    return (x >= left - grow) & (x <= right + grow) & (y >= top - grow) & (y <= bottom + grow)


def segments_crossing(starts: np.ndarray, ends: np.ndarray, rect) -> np.ndarray:
    """Which segments ``starts[i]``–``ends[i]`` (M×2 each) meet ``rect``: the part of each
    inside the rectangle's x and y slabs (Liang–Barsky clipping) is not empty. Exact, so a
    long segment with both ends far outside the view still counts where it crosses."""
    left, top, right, bottom = rect
    enter = np.zeros(len(starts))
    leave = np.ones(len(starts))
    for axis, low, high in ((0, left, right), (1, top, bottom)):
        start, delta = starts[:, axis], ends[:, axis] - starts[:, axis]
        still = delta == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            at_low, at_high = (low - start) / delta, (high - start) / delta
        enter = np.maximum(enter, np.where(still, -np.inf, np.minimum(at_low, at_high)))
        leave = np.minimum(leave, np.where(still, np.inf, np.maximum(at_low, at_high)))
        # a segment parallel to this slab crosses it everywhere or nowhere
        enter = np.where(still & ((start < low) | (start > high)), np.inf, enter)
    return enter <= leave


def freest_corner(points: np.ndarray, segments: tuple[np.ndarray, np.ndarray],
                  view_size: tuple[float, float], legend_size: tuple[float, float],
                  current: str | None = None) -> str:
    """The corner where the legend covers the least: :data:`MARKER_WEIGHT` for each marker
    (``points``, N×2 in the view's pixels, y down) within :data:`MARKER_RADIUS_PX` of it, one
    for each line segment (``segments``: starts and ends, M×2 each) that crosses it. Ties keep
    ``current`` (a legend that jumps while its corner is still free is a distraction), else go
    to the earlier corner of :data:`CORNERS`."""
    scores = {}
    for corner in CORNERS:
        rect = corner_rect(corner, view_size, legend_size)
        scores[corner] = (MARKER_WEIGHT * int(points_inside(points, rect,
                                                            MARKER_RADIUS_PX).sum())
                          + int(segments_crossing(*segments, rect).sum()))
    best = min(scores.values())
    if current in scores and scores[current] == best:
        return current
    return next(corner for corner in CORNERS if scores[corner] == best)


def line_segments(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segments a line through ``points`` (N×2) draws: between neighbours that are both
    finite (pyqtgraph breaks the line at a missing value)."""
    finite = np.isfinite(points).all(axis=1)
    joined = finite[:-1] & finite[1:]
    return points[:-1][joined], points[1:][joined]


class CornerLegend(pg.LegendItem):
    """A :class:`pyqtgraph.LegendItem` that :meth:`place` puts in the freest corner of its
    plot's view, until the user drags it (a double click hands it back)."""

    def __init__(self, **kwargs):
        super().__init__(offset=(MARGIN_PX, MARGIN_PX), **kwargs)
        self.corner = "top left"
        self.moved_by_user = False
        #: beside the view, right of it (not in a corner of it): see :meth:`set_beside`
        self.beside = False
        self._beside_top: float | None = None  #: where it is anchored beside the view
        self._plot: pg.PlotItem | None = None
        # a click on an entry's sample hides or shows its curve: the data under the legend
        # change with it
        self.sigSampleClicked.connect(self.place)

    def attach(self, plot: pg.PlotItem) -> None:
        """Be ``plot``'s legend: items it plots with a name are listed here."""
        self.setParentItem(plot.getViewBox())
        plot.legend = self  # (what PlotItem.addLegend does: named items join this legend)
        self._plot = plot
        self._column_max = plot.layout.columnMaximumWidth(BESIDE_COLUMN)

    def add_first(self, item, name: str) -> None:
        """List ``item`` at the top, above the entries there are (the codec under study
        before the curves it is measured against, whenever it joins)."""
        self.addItem(item, name)
        self.items.insert(0, self.items.pop())
        self.relayout()  # (pyqtgraph lays entries out in the order they were added)

    def relayout(self) -> None:
        """Lay every entry out again in the order of ``items``: after an entry moved, or one
        was removed (pyqtgraph leaves its cell empty). As pyqtgraph 0.13–0.14's own
        setColumnCount does, through the same private _addItemToLayout."""
        for index in range(self.layout.count() - 1, -1, -1):
            self.layout.removeAt(index)
        for sample, label in self.items:
            self._addItemToLayout(sample, label)
        self.updateSize()

    def set_beside(self, beside: bool) -> None:
        """Stand beside the view, right of it, in a column the plot makes as wide as the
        legend (a plot too short for a corner the curves leave free), or go back to the
        view's freest corner (or where the user dragged it)."""
        if self._plot is None or beside == self.beside:
            return
        self.beside = beside
        if beside:
            # (a child of the plot, not of the view: the view clips its children to itself)
            self.setParentItem(self._plot)
            # where the user had dragged it means nothing in a plot this much shorter: back
            # in the view, it takes the freest corner again
            self.moved_by_user = False
        else:
            self.setParentItem(self._plot.getViewBox())
            layout = self._plot.layout
            layout.setColumnMinimumWidth(BESIDE_COLUMN, 0)
            layout.setColumnPreferredWidth(BESIDE_COLUMN, 0)
            layout.setColumnMaximumWidth(BESIDE_COLUMN, self._column_max)
            self.corner = ""  # (anchor again: the parent changed)
        self._beside_top = None
        self.place()

    def width_beside(self) -> float:
        """The room (pixels) the legend takes beside the view: its width, a margin each side."""
        self.updateSize()  # (a label may have changed: "(off view)")
        return self.width() + 2 * MARGIN_PX

    def _stand_beside(self) -> None:
        # (only on a change: a column's width, even unchanged, relays the plot out, and
        # this runs on every pan)
        layout, width = self._plot.layout, self.width_beside()
        if layout.columnMinimumWidth(BESIDE_COLUMN) != width \
                or layout.columnMaximumWidth(BESIDE_COLUMN) != width:
            layout.setColumnFixedWidth(BESIDE_COLUMN, width)
        top = self._plot.getViewBox().geometry().top()  # (in the plot's coordinates)
        if self._beside_top != top:
            self.anchor((1, 0), (1, 0), offset=(-MARGIN_PX, top))
            self._beside_top = top

    def mouseDragEvent(self, event) -> None:
        if self.beside:  # (its place is the column made for it)
            event.ignore()
            return
        super().mouseDragEvent(event)
        if event.isAccepted():
            self.moved_by_user = True

    def mouseClickEvent(self, event) -> None:  # (pyqtgraph's scene delivers double clicks here)
        if event.double() and not self.beside:
            event.accept()
            self.moved_by_user = False
            self.corner = ""  # (anchor again, even in the corner it was dragged from)
            self.place()

    def place(self, *_signal_args) -> None:
        """Move to the corner that the plotted data leave most free (not once dragged);
        beside the view, make its column as wide as the legend is now."""
        if self._plot is None:
            return
        if self.beside:
            self._stand_beside()
            return
        if self.moved_by_user or not self.isVisible():
            return
        box = self._plot.getViewBox()
        width, height = box.width(), box.height()
        (x0, x1), (y0, y1) = box.viewRange()
        if width <= 0 or height <= 0 or x1 <= x0 or y1 <= y0:
            return
        markers, starts, ends = [np.empty((0, 2))], [np.empty((0, 2))], [np.empty((0, 2))]
        for item in self._plot.listDataItems():
            xs, ys = item.getData()
            if not item.isVisible() or xs is None or len(xs) == 0:
                continue
            # in the view's pixels, y down (the RD plot's axes are neither inverted nor log)
            pixels = np.column_stack([(np.asarray(xs, float) - x0) / (x1 - x0) * width,
                                      (y1 - np.asarray(ys, float)) / (y1 - y0) * height])
            if not isinstance(item, pg.PlotDataItem) or item.opts.get("symbol") is not None:
                markers.append(pixels[np.isfinite(pixels).all(axis=1)])
            if isinstance(item, pg.PlotDataItem) and item.opts.get("pen") is not None:
                segment_starts, segment_ends = line_segments(pixels)
                starts.append(segment_starts)
                ends.append(segment_ends)
        size = self.boundingRect()
        corner = freest_corner(np.concatenate(markers),
                               (np.concatenate(starts), np.concatenate(ends)),
                               (width, height), (size.width(), size.height()), self.corner)
        if corner != self.corner:
            self.corner = corner
            place = CORNERS[corner]
            sign = tuple(-1 if at else 1 for at in place)
            self.anchor(place, place, offset=(sign[0] * MARGIN_PX, sign[1] * MARGIN_PX))
