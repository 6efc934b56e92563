"""A plot legend that sits in the corner of the plot its curves leave most free.

An RD plot has no corner that is always free: zoomed to MSP's rates, a weak codec's high
rates fill the bottom right, and steep curves of strong codecs reach into the top left.
Like matplotlib's ``loc="best"``, the legend counts the data under it in each corner (the
points and the lines between them) and takes the corner with the least, until the user drags
it somewhere: from then on it stays where they put it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

#: corner name → (legend's anchor point, the view's anchor point, offset sign); the order is
#: the preference among equally free corners (the top left: few bits and a high quality,
#: which no codec reaches)
CORNERS = {
    "top left": ((0, 0), (0, 0), (1, 1)),
    "bottom right": ((1, 1), (1, 1), (-1, -1)),
    "top right": ((1, 0), (1, 0), (-1, 1)),
    "bottom left": ((0, 1), (0, 1), (1, -1)),
}
#: gap between the legend and the plot's edges (pixels)
MARGIN_PX = 5
#: points sampled along each line segment, so that a legend does not hide a line between
#: two points it leaves free
SAMPLES_PER_SEGMENT = 8


def corner_rect(corner: str, view_size: tuple[float, float],
                legend_size: tuple[float, float]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the legend placed in ``corner`` of a view of that size."""
    (width, height), (legend_w, legend_h) = view_size, legend_size
    right_side, bottom_side = CORNERS[corner][1]
    left = width - MARGIN_PX - legend_w if right_side else MARGIN_PX
    top = height - MARGIN_PX - legend_h if bottom_side else MARGIN_PX
    return left, top, left + legend_w, top + legend_h


def freest_corner(points: np.ndarray, view_size: tuple[float, float],
                  legend_size: tuple[float, float]) -> str:
    """The corner whose legend rectangle covers the fewest of ``points`` (N×2, in the view's
    pixels, y down); ties go to the earlier corner of :data:`CORNERS`."""
    counts = {}
    for corner in CORNERS:
        left, top, right, bottom = corner_rect(corner, view_size, legend_size)
        if len(points):
            x, y = points[:, 0], points[:, 1]
            counts[corner] = int(((x >= left) & (x <= right) & (y >= top)
                                  & (y <= bottom)).sum())
        else:
            counts[corner] = 0
    return min(CORNERS, key=lambda corner: counts[corner])  # (min keeps the first of ties)


def sampled_lines(xs: np.ndarray, ys: np.ndarray, lines: bool) -> np.ndarray:
    """The points of one curve (N×2), with samples along the segments between them."""
    points = np.column_stack([xs, ys]).astype(float)
    points = points[np.isfinite(points).all(axis=1)]
    if not lines or len(points) < 2:
        return points
    steps = np.linspace(0.0, 1.0, SAMPLES_PER_SEGMENT + 2)[1:-1, None, None]
    between = points[:-1] + steps * (points[1:] - points[:-1])
    return np.concatenate([points, between.reshape(-1, 2)])


class CornerLegend(pg.LegendItem):
    """A :class:`pyqtgraph.LegendItem` that :meth:`place` puts in the freest corner of its
    plot's view, until the user drags it."""

    def __init__(self, **kwargs):
        super().__init__(offset=(MARGIN_PX, MARGIN_PX), **kwargs)
        self.corner = "top left"
        self.moved_by_user = False

    def attach(self, plot: pg.PlotItem) -> None:
        """Be ``plot``'s legend: items it plots with a name are listed here."""
        self.setParentItem(plot.getViewBox())
        plot.legend = self  # (what PlotItem.addLegend does: named items join this legend)
        self._plot = plot

    def mouseDragEvent(self, event) -> None:
        super().mouseDragEvent(event)
        if event.isAccepted():
            self.moved_by_user = True

    def place(self, *_signal_args) -> None:
        """Move to the corner that the plotted data leave most free (not once dragged)."""
        if self.moved_by_user or not self.isVisible():
            return
        box = self._plot.getViewBox()
        width, height = box.width(), box.height()
        (x0, x1), (y0, y1) = box.viewRange()
        if width <= 0 or height <= 0 or x1 <= x0 or y1 <= y0:
            return
        parts = []
        for item in self._plot.listDataItems():
            if not item.isVisible():
                continue
            xs, ys = item.getData()
            if xs is None or len(xs) == 0:
                continue
            lines = isinstance(item, pg.PlotDataItem) and item.opts.get("pen") is not None
            parts.append(sampled_lines(np.asarray(xs), np.asarray(ys), lines))
        view = np.concatenate(parts) if parts else np.empty((0, 2))
        pixels = np.column_stack([(view[:, 0] - x0) / (x1 - x0) * width,
                                  (y1 - view[:, 1]) / (y1 - y0) * height])
        size = self.boundingRect()
        corner = freest_corner(pixels, (width, height), (size.width(), size.height()))
        if corner != self.corner:
            self.corner = corner
            item_anchor, view_anchor, sign = CORNERS[corner]
            self.anchor(item_anchor, view_anchor,
                        offset=(sign[0] * MARGIN_PX, sign[1] * MARGIN_PX))
