"""Bits per latent channel: how few channels carry most of the bits (a tab of the bit
allocation panel).

Top: each channel's share of the estimated bits, costliest first, coloured by the channel
group that codes it. Bottom, linked along the same axis: the cumulative share, with the
channel counts for 50, 90 and 99 % of the bits marked. A click on a bar emits that
channel, so that the latent heatmaps can show it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mspviewer.codec.channel_usage import SUMMARY_SHARES, ChannelUsage, channel_usage
from mspviewer.gui.widgets.common import (PALETTE, fit_axis_label, fit_axis_ticks, observe,
                                          plain_axes, status_label)

SELECTED_PEN = pg.mkPen("#000000", width=2)
AXIS_WIDTH = 56  # pixels, both plots' left axes
#: (label, the short form a plot too short for the label shows)
SHARE_LABEL = ("share of bits [%]", "[%]")
CUMULATIVE_LABEL = ("cumulative [%]", "[%]")
#: the group legend may cover this much of the share plot's height before it is hidden
#: (the bars' colours then say no more than the summary below)
LEGEND_MAX_HEIGHT_SHARE = 0.6


class ChannelBitsChart(QWidget):
    #: a click on a channel's bar: the channel index
    channel_selected = Signal(int)

    def __init__(self, session, scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.usage: ChannelUsage | None = None
        self.selected: int | None = None

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.share_plot = self.view.addPlot(row=0, col=0)
        self.share_plot.setMenuEnabled(False)
        self.share_plot.showGrid(y=True, alpha=0.3)
        self.share_plot.setLabel("left", SHARE_LABEL[0])
        # in rows across the top right, where the bars are the smallest channels'
        self.legend = self.share_plot.addLegend(offset=(-10, 5), labelTextSize="8pt")
        self.cumulative_plot = self.view.addPlot(row=1, col=0)
        self.cumulative_plot.setMenuEnabled(False)
        self.cumulative_plot.showGrid(x=True, y=True, alpha=0.3)
        self.cumulative_plot.setLabel("left", CUMULATIVE_LABEL[0])
        self.cumulative_plot.setLabel("bottom", "channels, costliest first")
        self.cumulative_plot.setXLink(self.share_plot)
        plain_axes(self.share_plot, self.cumulative_plot)
        for plot in (self.share_plot, self.cumulative_plot):
            plot.getAxis("left").setWidth(AXIS_WIDTH)  # so that the linked x axes line up
        self.cumulative_plot.setYRange(0, 100, padding=0.02)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.group_bars: list[pg.BarGraphItem] = []
        self.selected_bar = pg.BarGraphItem(x=[], height=[], width=0.9,
                                            brush=pg.mkBrush(None),
                                            pen=SELECTED_PEN)
        self.share_plot.addItem(self.selected_bar)
        self.cumulative_curve = self.cumulative_plot.plot(pen=pg.mkPen(PALETTE[0], width=2))
        self.share_marks = pg.ScatterPlotItem(size=8, brush=PALETTE[5], pen=None)
        self.cumulative_plot.addItem(self.share_marks)
        #: the labels of the 50, 90 and 99 % marks, each with its mark (channels, percent)
        self.mark_labels: list[tuple[pg.TextItem, tuple[float, float]]] = []
        #: (entries, width, height) the legend's columns were last chosen for
        self._legend_fitted_for: tuple[int, int, int] | None = None
        self.summary = status_label(3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        for plot in (self.share_plot, self.cumulative_plot):
            plot.getViewBox().sigResized.connect(self._fit_to_size)
            # (fitted ticks are values of one range: a pan or zoom needs new ones)
            plot.getViewBox().sigYRangeChanged.connect(
                lambda _box, _range, plot=plot: fit_axis_ticks(plot))
        observe(session.result_changed, self.refresh, scheduler)
        self.refresh()

    def refresh(self) -> None:
        result = self.session.result
        self.usage = None if result is None else channel_usage(result.analysis)
        self._draw_bars()
        self._draw_cumulative()
        self._draw_selection()
        self._fit_to_size()
        self.summary.setText("encode an image to see how its bits spread over the channels"
                             if self.usage is None else self._summary_text())

    def _summary_text(self) -> str:
        text = self.usage.describe()
        text = text[0].upper() + text[1:]
        if self.selected is not None and self.selected < self.usage.num_channels:
            # first: what the click asked for (after the overview, a laptop's three lines
            # cut it at "Selected: chan…")
            text = f"Selected: {self.channel_text(self.selected)}. {text}"
        return text

    def channel_text(self, channel: int) -> str:
        usage = self.usage
        rank = usage.rank(channel)
        return (f"channel {channel} (group {usage.group[channel]}), rank {rank}: "
                f"{usage.bits[channel]:,.0f} bits ({100 * usage.share[channel]:.2f} %), "
                f"{usage.nonzero[channel]:,} of {usage.elements[channel]:,} symbols non-zero")

    def bar_heights(self) -> np.ndarray:
        """The plotted shares in percent, costliest first (empty without a result)."""
        if self.usage is None:
            return np.zeros(0)
        return 100 * self.usage.share[self.usage.order]

    def _draw_bars(self) -> None:
        for item in self.group_bars:
            self.share_plot.removeItem(item)
        self.group_bars = []
        self._legend_fitted_for = None  # (new entries: fitted again)
        usage = self.usage
        if usage is None:
            return
        heights = self.bar_heights()
        groups = usage.group[usage.order]
        ranks = np.arange(1, usage.num_channels + 1, dtype=float)
        for number, group in enumerate(np.unique(groups)):
            chosen = groups == group
            first, last = np.nonzero(usage.group == group)[0][[0, -1]]
            item = pg.BarGraphItem(x=ranks[chosen], height=heights[chosen], width=0.8,
                                   brush=PALETTE[number % len(PALETTE)], pen=None,
                                   name=f"ch {first}–{last}")
            self.share_plot.addItem(item)
            self.group_bars.append(item)
        self.share_plot.setXRange(0.4, usage.num_channels + 0.6, padding=0)
        self.share_plot.setYRange(0, max(float(heights.max(initial=0)), 1e-3) * 1.08,
                                  padding=0)

    def _draw_cumulative(self) -> None:
        for label, _mark in self.mark_labels:
            self.cumulative_plot.removeItem(label)
        self.mark_labels = []
        usage = self.usage
        if usage is None or usage.total_bits <= 0:
            self.cumulative_curve.setData([], [])
            self.share_marks.setData([], [])
            return
        cumulative = 100 * usage.cumulative_share()
        ranks = np.arange(1, usage.num_channels + 1, dtype=float)
        self.cumulative_curve.setData(np.concatenate([[0.0], ranks]),
                                      np.concatenate([[0.0], cumulative]))
        counts = [usage.channels_for(f) for f in SUMMARY_SHARES]
        self.share_marks.setData([float(k) for k in counts],
                                 [float(cumulative[k - 1]) for k in counts])
        for fraction, count in zip(SUMMARY_SHARES, counts):
            label = pg.TextItem(f"{round(100 * fraction)} %: {count}", color="#333333")
            self.cumulative_plot.addItem(label)
            self.mark_labels.append((label, (float(count), 100 * fraction)))

    def _fit_to_size(self, *_args) -> None:
        """Axis labels, legend and mark labels for the plots' size: a short plot's axes say
        their unit only, the legend takes as many columns as fit across (none where it would
        cover most of the bars), and a mark's label goes left of its mark where the right
        has no room for it."""
        fit_axis_label(self.share_plot, *SHARE_LABEL)
        fit_axis_label(self.cumulative_plot, *CUMULATIVE_LABEL)
        fit_axis_ticks(self.share_plot)
        fit_axis_ticks(self.cumulative_plot)
        self._fit_legend()
        self._place_mark_labels()

    def _fit_legend(self) -> None:
        legend, box = self.legend, self.share_plot.getViewBox()
        entries = len(legend.items)
        fitted_for = (entries, round(box.width()), round(box.height()))
        if entries == 0 or fitted_for == self._legend_fitted_for:
            return  # (each try below lays the legend out again: only for a new size)
        self._legend_fitted_for = fitted_for
        for columns in range(entries, 0, -1):
            if legend.columnCount != columns:
                legend.setColumnCount(columns)
            if legend.boundingRect().width() <= box.width() - 20:
                break
        legend.setVisible(legend.boundingRect().height()
                          <= LEGEND_MAX_HEIGHT_SHARE * box.height())

    def _place_mark_labels(self) -> None:
        """Below right of its mark, clear of the rising curve; below left where the plot
        ends before the label would; hidden where it would cover an earlier mark's label
        (in a short plot: the summary below says the counts all the same)."""
        box = self.cumulative_plot.getViewBox()
        if box.width() < 1:  # (not laid out yet: no pixel size to measure with)
            return
        pixel_width = box.viewPixelSize()[0]
        right_end = box.viewRange()[0][1]
        for label, (x, y) in self.mark_labels:
            width = label.boundingRect().width() * pixel_width
            if x + 1 + width <= right_end:
                label.setAnchor((0, 0))
                label.setPos(x + 1, y)
            else:
                label.setAnchor((1, 0))
                label.setPos(x - 1, y)
        shown = []
        inside = box.sceneBoundingRect().adjusted(-1, -1, 1, 1)
        for label, _mark in self.mark_labels:
            rect = label.sceneBoundingRect()
            # (one that would reach past the plot's foot ran into the channel numbers)
            label.setVisible(inside.contains(rect)
                             and not any(rect.intersects(other) for other in shown))
            if label.isVisible():
                shown.append(rect)

    def _draw_selection(self) -> None:
        usage = self.usage
        if usage is None or self.selected is None or self.selected >= usage.num_channels:
            self.selected_bar.setOpts(x=[], height=[])
            return
        rank = usage.rank(self.selected)
        self.selected_bar.setOpts(x=[float(rank)],
                                  height=[100 * float(usage.share[self.selected])])

    def select_channel(self, channel: int | None) -> None:
        """Outline ``channel``'s bar (None: no outline); does not emit."""
        self.selected = channel
        self._draw_selection()
        if self.usage is not None:
            self.summary.setText(self._summary_text())

    def channel_at_rank(self, rank: int) -> int:
        """The channel plotted at ``rank`` (1 = costliest)."""
        return int(self.usage.order[rank - 1])

    def _on_mouse_clicked(self, event) -> None:
        if self.usage is None:
            return
        box = self.share_plot.getViewBox()
        if not box.sceneBoundingRect().contains(event.scenePos()):
            return
        rank = round(box.mapSceneToView(event.scenePos()).x())
        if 1 <= rank <= self.usage.num_channels:
            channel = self.channel_at_rank(rank)
            self.select_channel(channel)
            self.channel_selected.emit(channel)
