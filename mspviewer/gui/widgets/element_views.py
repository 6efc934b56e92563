"""The inspector's two pictures of one latent element: the PMF its symbol was coded with
(:class:`PmfPlot`) and the lattice context it was predicted from (:class:`ContextGrid`).

Each draws the :class:`~mspviewer.codec.inspection.ElementInspection` it is handed (the plot
also keeps its view, probability or bits, and redraws the element in the other);
:class:`~mspviewer.gui.widgets.inspector.InspectorPanel` decides which element to show.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QLabel, QSizePolicy,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from mspviewer.codec.entropy import ESCAPE_BITS
from mspviewer.codec.inspection import symbol_costs
from mspviewer.gui.widgets.common import PALETTE, plain_axes

#: The coded symbol (bar, marker) and the inspected element in the context grid.
HIGHLIGHT = PALETTE[5]  # vermillion: stands out against the blue bars for every colour vision
BAR_COLOUR = PALETTE[0]
KNOWN_COLOUR = PALETTE[2]
UNKNOWN_COLOUR = "#e6e6e6"
OUTSIDE_COLOUR = "#ffffff"

#: what the PMF plot's bars are: view key → its name (in the menu and on the y axis)
PMF_VIEWS = {"probability": "P", "bits": "bits (−log2 P)"}
#: below this share of the plot's height a bar is too low to see
VISIBLE_SHARE = 0.02

CONTEXT_TEXT = {1: "known", 0: "not yet", -1: "outside"}
CONTEXT_COLOUR = {1: KNOWN_COLOUR, 0: UNKNOWN_COLOUR, -1: OUTSIDE_COLOUR}
CONTEXT_TEXT_COLOUR = {1: "#ffffff", 0: "#333333", -1: "#999999"}
CONTEXT_VALUE_ROLE = Qt.ItemDataRole.UserRole  # the int of the grid a cell shows
#: a context caption as long as most, for the height it needs before an element is shown
CAPTION_SAMPLE = ("4 of the 8 nearest neighbours on the stride-1 lattice were decoded before "
                  "this step (the context network sees further: 3 lattice positions each "
                  "way); 48 channels of this position (earlier groups).")
#: the widest second line a known context cell shows (see :func:`neighbour_value`)
CONTEXT_WIDEST_VALUE = "ŷ -00.00"


def sig4(value: float) -> str:
    """Four significant digits: enough to compare with the core at a glance."""
    return f"{value:.4g}"


def neighbour_value(value: float) -> str:
    """A neighbour's ŷ in at most six characters (the tooltip has it in full): two decimals
    below 100 (ŷ = μ + an integer symbol, and μ is mostly near 0), whole numbers up to
    99999, then an exponent. Never "-0.00"."""
    magnitude = abs(value)
    if magnitude < 99.995:
        return f"{round(value, 2) + 0.0:.2f}"
    if magnitude < 99999.5:
        return f"{value:.0f}"
    return f"{value:.0e}"


class PmfPlot(QWidget):
    """The discretised Gaussian an element was coded with, as probabilities or as what each
    symbol would have cost in bits; the coded symbol's bar in :data:`HIGHLIGHT` with a
    dashed marker, and a caption saying what it cost."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = "probability"  #: a key of PMF_VIEWS
        self.compact = False  #: see set_compact
        #: the caption of the element shown: (its symbol and cost, the lesson, a note)
        self._caption_parts: tuple[str, str, str] | None = None
        self._shown: tuple | None = None  # (inspection, symbol bound) drawn last
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(y=True, alpha=0.3)
        self.plot.setLabel("bottom", "symbol (ŷ − μ, rounded)")
        self.plot.setLabel("left", PMF_VIEWS[self.view])
        plain_axes(self.plot)
        self.plot.setMinimumHeight(160)
        # a label above the plot, not the plot's title: a title does not wrap, and beside the
        # values in a bottom dock the plot is narrow enough to cut it short
        self.heading = QLabel(" ")
        self.heading.setWordWrap(True)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=BAR_COLOUR,
                                    pen=pg.mkPen(None))
        self.coded_bar = pg.BarGraphItem(x=[], height=[], width=0.8, brush=HIGHLIGHT,
                                         pen=pg.mkPen(None))
        self.coded_marker = pg.InfiniteLine(angle=90, movable=False,
                                            pen=pg.mkPen(HIGHLIGHT, width=2,
                                                         style=Qt.PenStyle.DashLine))
        self.coded_bar.setZValue(5)
        self.coded_marker.setZValue(10)
        for item in (self.bars, self.coded_bar, self.coded_marker):
            self.plot.addItem(item)
        self.coded_marker.setVisible(False)
        self.caption = QLabel(" ")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)

    def set_view(self, view: str) -> None:
        """Bars of probabilities ("probability") or of costs in bits ("bits")."""
        if view not in PMF_VIEWS:
            raise ValueError(f"unknown PMF view {view!r}; use one of {', '.join(PMF_VIEWS)}")
        self.view = view
        self.plot.setLabel("left", PMF_VIEWS[view])
        if self._shown is not None:
            self.show_element(*self._shown)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """(symbols, bar heights) as plotted: probabilities, or bits in the bits view."""
        opts = self.bars.opts
        return np.asarray(opts["x"], float), np.asarray(opts["height"], float)

    def highlighted_x(self) -> float | None:
        """The x of the highlighted (coded symbol) bar; None when nothing is shown."""
        x = np.asarray(self.coded_bar.opts["x"], float)
        return float(x[0]) if x.size else None

    def clear(self) -> None:
        self._shown = None
        self.bars.setOpts(x=[], height=[])
        self.coded_bar.setOpts(x=[], height=[])
        self.coded_marker.setVisible(False)
        self.heading.setText(" ")
        self._caption_parts = None
        self.caption.setText(" ")
        self.caption.setToolTip("")

    def show_element(self, info, bound: int) -> None:
        """Draw ``info`` (an ElementInspection) coded with symbols clipped at ±``bound``."""
        self._shown = (info, bound)
        bits_view = self.view == "bits"
        x = info.pmf_symbols.astype(float)
        heights = symbol_costs(info.pmf_symbols, info.sigma, bound) if bits_view else info.pmf
        self.bars.setOpts(x=x, height=heights)
        coded = max(-bound, min(bound, info.symbol))  # an escaped symbol sits on the edge
        height = float(heights[np.searchsorted(info.pmf_symbols, coded)])
        self.coded_bar.setOpts(x=[float(coded)], height=[height])
        self.coded_marker.setValue(float(coded))
        self.coded_marker.setVisible(True)
        top = max(float(heights.max(initial=0.0)), height)
        self.plot.setRange(xRange=(x[0] - 0.7, x[-1] + 0.7),
                           yRange=(0.0, top * 1.1 or 1.0), padding=0)
        self.heading.setText(f"discretised N(0, σ = {sig4(info.sigma)}): coded symbol "
                             f"{info.symbol}")
        if info.escaped:
            cost = (f"cost {info.bits:.4f} bits: −log2 P of the edge bin and "
                    f"{ESCAPE_BITS} bits of escape words")
        else:
            cost = f"cost −log2 P = {info.bits:.4f} bits"
        coded_text = (f"<span style='color:{HIGHLIGHT}'>■</span> the coded symbol "
                      f"{info.symbol}: P = {sig4(info.symbol_probability)}, {cost}. ")
        if bits_view:
            explained = ("The bars: what each symbol would have cost; a small σ makes 0 cheap "
                         "and every other symbol dear.")
        else:
            explained = ("A symbol far from 0 (a surprise) costs many bits; a small σ makes 0 "
                         "cheap.")
        hidden_bar = "" if bits_view or height >= VISIBLE_SHARE * top else (
            " Its bar is too low to see here: plot bits.")
        self._caption_parts = (coded_text, explained, hidden_bar)
        self._show_caption()

    def _show_caption(self) -> None:
        if self._caption_parts is None:
            return
        coded_text, explained, hidden_bar = self._caption_parts
        # compact, the lesson is in the tooltip; what is true of this element stays
        self.caption.setText(coded_text + ("" if self.compact else explained) + hidden_bar)
        self.caption.setToolTip(explained)

    def set_compact(self, compact: bool) -> None:
        """Room for the bars in a short panel: no x-axis title (the heading names the
        symbol) and the caption's general lesson in its tooltip (the view, which the user
        may have zoomed, stays)."""
        self.compact = compact
        self.plot.getAxis("bottom").showLabel(not compact)
        self._show_caption()


class ContextGrid(QWidget):
    """The 3×3 neighbourhood of an element on its scale's lattice: which neighbours were
    decoded before its step (with their ŷ), with a legend and a caption."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(3, 3)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().hide()
        self.table.verticalHeader().hide()
        # cells sized to the font, so that a neighbour's ŷ is never cut short
        metrics = QFontMetrics(self.table.font())
        cell_width = metrics.horizontalAdvance(CONTEXT_WIDEST_VALUE) + 16
        cell_height = 2 * metrics.height() + 12
        for index in range(3):
            self.table.setColumnWidth(index, cell_width)
            self.table.setRowHeight(index, cell_height)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setFixedSize(3 * cell_width + 4, 3 * cell_height + 4)
        self.table.setToolTip("The 3×3 neighbourhood on this scale's lattice: which of the "
                              "nearest neighbours were decoded before this step (the context "
                              "network's view reaches 3 lattice positions each way)")
        legend = QLabel(
            f"<span style='color:{KNOWN_COLOUR}'>■</span> known before this step<br>"
            f"<span style='color:#bbbbbb'>■</span> this or a later step<br>"
            f"□ outside the latent grid<br>"
            f"<span style='color:{HIGHLIGHT}'>■</span> this element")
        legend.setWordWrap(True)
        self.legend = legend
        self.caption = QLabel(" ")
        self.caption.setWordWrap(True)
        self._grid_layout = QGridLayout(self)
        self._grid_layout.setContentsMargins(0, 0, 0, 0)
        self._title = QLabel("<b>Context</b> (lattice neighbours)")
        self._grid_layout.addWidget(self._title, 0, 0, 1, 2)
        self.beside = None  #: the legend and caption beside the grid (True) or below it
        self._captions: tuple[str, str] | None = None  #: (full, short) of the element shown
        self.set_beside(False)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def stacked_height(self) -> int:
        """The height it needs with the legend and the caption (its long form, whichever
        it shows now: the estimate must not move with the arrangement it decides) below
        the grid."""
        width = self.table.width()
        caption = self._captions[0] if self._captions is not None else CAPTION_SAMPLE
        wrapped = self.caption.fontMetrics().boundingRect(
            QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), caption).height()
        parts = (self._title.sizeHint().height(), self.table.height(),
                 self.legend.heightForWidth(width), wrapped)
        return sum(parts) + (len(parts) - 1) * self._grid_layout.verticalSpacing()

    def set_beside(self, beside: bool) -> None:
        """The legend and the caption beside the grid (a short room: the caption's short
        form) or below it."""
        if beside == self.beside:
            return
        self.beside = beside
        grid = self._grid_layout
        for widget in (self.table, self.legend, self.caption):
            grid.removeWidget(widget)
        grid.addWidget(self.table, 1, 0, 2 if beside else 1, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.legend, *((1, 1) if beside else (2, 0)),
                       Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.caption, *((2, 1) if beside else (3, 0)),
                       Qt.AlignmentFlag.AlignTop)
        # the room left over goes below the text, and beside the grid to the text
        for row in range(5):
            grid.setRowStretch(row, 1 if row == (3 if beside else 4) else 0)
        grid.setColumnStretch(0, 0)
        grid.setColumnStretch(1, 1 if beside else 0)
        self._show_caption()  # (beside, the short one: the full one is in its tooltip)

    def grid(self) -> np.ndarray | None:
        """The grid as displayed: 1 known, 0 not known yet, -1 outside (centre 0); None
        before anything is shown."""
        if self.table.item(1, 1) is None:
            return None
        out = np.zeros((3, 3), np.int8)
        for r in range(3):
            for c in range(3):
                out[r, c] = int(self.table.item(r, c).data(CONTEXT_VALUE_ROLE))
        return out

    def clear(self) -> None:
        self.table.clearContents()
        self._captions = None
        self.caption.setText(" ")
        self.caption.setToolTip("")

    def show_element(self, info, y_hat: np.ndarray) -> None:
        """Draw the context of ``info``; ``y_hat`` is the record's (channel, row, col) ŷ."""
        context = info.spatial_context
        grid = context.grid()
        values = y_hat[info.channel]
        for index, (d_row, d_col) in enumerate(context.offsets):
            r, c = d_row + 1, d_col + 1
            state = int(grid[r, c])
            position = context.latent_positions[index]
            if (d_row, d_col) == (0, 0):
                text, colour, ink = "this", HIGHLIGHT, "#ffffff"
            else:
                text, colour, ink = (CONTEXT_TEXT[state], CONTEXT_COLOUR[state],
                                     CONTEXT_TEXT_COLOUR[state])
            tooltip = "" if position is None else (f"latent row {position[0]}, col {position[1]} "
                                                   f"(lattice offset {d_row:+d}, {d_col:+d})")
            if state == 1 and position is not None:
                text = f"known\nŷ {neighbour_value(float(values[position]))}"
                tooltip += f"\nŷ = {float(values[position])!r}"
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setBackground(QBrush(QColor(colour)))
            item.setForeground(QBrush(QColor(ink)))
            item.setData(CONTEXT_VALUE_ROLE, state)
            item.setToolTip(tooltip)
            self.table.setItem(r, c, item)
        if info.step == "coarsest":
            spatial = "the coarsest scale has no spatial context"
        else:
            spatial = (f"{context.num_known} of the 8 nearest neighbours on the "
                       f"stride-{info.stride} lattice were decoded before this step (the "
                       "context network sees further: 3 lattice positions each way)")
        channels = (f"{info.known_channels} channels of this position (earlier groups)"
                    if info.known_channels else "no channel of this position yet (first group)")
        self._captions = (f"{spatial}; {channels}.",
                          f"{context.num_known} of 8 neighbours known; {channels}."
                          if info.step != "coarsest" else f"{spatial}; {channels}.")
        self._show_caption()

    def _show_caption(self) -> None:
        if self._captions is None:
            return
        full, short = self._captions
        self.caption.setText(short if self.beside else full)
        self.caption.setToolTip(full)
