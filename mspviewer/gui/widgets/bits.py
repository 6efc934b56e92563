"""Bit allocation: bytes per scale / step / channel group from the real stream, and where
in the image the bits go (a spatial map that can be overlaid on the picture).

Beside the bar chart, a table sets the model's estimate against the stream per scale and in
total, with the overhead (what the real coder spends beyond −log2 P, plus the header), and
a third tab spreads the bits over the latent channels (:mod:`.channel_bits`).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout,
                               QHeaderView, QLabel, QSlider, QSplitter, QStyle,
                               QStyleOptionTabWidgetFrame, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from mspviewer.gui import latent_data
from mspviewer.gui.widgets.channel_bits import ChannelBitsChart
from mspviewer.gui.widgets.common import (ERROR_MAP, PALETTE, FittedAxisLabel, Title,
                                          colormap, fit_box, heat_item, image_viewbox,
                                          narrow_combo, observe, plain_axes, rgb_item, set_rgb,
                                          signed, status_label)

#: the estimated-vs-actual table's columns: short headings (five long ones scrolled the table
#: sideways in a laptop's dock, numbers cut at its edge), with what each means
LEDGER_COLUMNS = {
    "elements": "latent elements coded",
    "estimated": "estimated bits: the model's cost Σ −log2 P of the coded symbols",
    "actual": "actual bits: what the range coder wrote for them (its position at each pass "
              "boundary)",
    "overhead": "overhead bits: actual − estimated",
    "%": "overhead as a share of the estimated bits",
}

NOT_MODELLED = "The header is not priced by the model: all of it is overhead."

#: the panel's tabs, by the keys of ``--bits-view``
VIEWS = ("chart", "ledger", "channels")
MAP_TITLE = "bits per pixel, by 16×16 block"
#: the title where the whole one does not fit (the colour bar says "bits per pixel" too)
MAP_TITLE_SHORT = "bits per pixel"
TICK_GAP_PX = 10  #: the least space between two bars' labels

#: the opacity slider's least width: under it, the handle has nowhere to go
OPACITY_SLIDER_MIN_PX = 60
#: the tabs' and the bits map's first shares of the panel's width (the chart's bars want more)
SPLIT_SHARES = (5, 4)
#: the bits map keeps at least this width (pixels) where the table takes what its columns need
MAP_MIN_PX = 160
#: room either side of the tab bar (the tab widget's frame)
TAB_BAR_MARGIN_PX = 4
GROUPING_LABELS = {"pass": "every pass (scale, step, group)", "scale": "scale",
                   "step": "step", "group": "channel group"}


class BitAllocationView(QWidget):
    def __init__(self, session, scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.group_box = QComboBox()
        for key in latent_data.GROUPINGS:
            self.group_box.addItem(GROUPING_LABELS[key], key)
        self.group_box.setCurrentIndex(self.group_box.findData("scale"))
        # (its longest entry made the bar as wide as a laptop's dock, and squeezed the
        # opacity slider to a 15-px stub)
        narrow_combo(self.group_box, len("channel group"))
        self.group_box.currentIndexChanged.connect(self.refresh_bars)
        self.overlay_box = QCheckBox("overlay on image")
        self.overlay_box.setChecked(True)
        self.overlay_box.toggled.connect(self.refresh_map)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setMaximumWidth(90)
        self.opacity.setMinimumWidth(OPACITY_SLIDER_MIN_PX)
        self.opacity.setToolTip("Opacity of the bits map over the image")
        self.opacity.valueChanged.connect(self._apply_opacity)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Bars by:"))
        bar.addWidget(self.group_box)
        bar.addStretch(1)
        bar.addWidget(self.overlay_box)
        bar.addWidget(self.opacity)

        # bar chart
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(y=True, alpha=0.3)
        self.plot.setLabel("left", "bytes")
        self.actual_bars = pg.BarGraphItem(x=[], height=[], width=0.38,
                                           brush=PALETTE[0], name="actual (stream)")
        self.estimated_bars = pg.BarGraphItem(x=[], height=[], width=0.38,
                                              brush=PALETTE[1], name="estimated (model)")
        self.plot.getViewBox().sigResized.connect(self._label_ticks)
        self.plot.addItem(self.actual_bars)
        self.plot.addItem(self.estimated_bars)

        # spatial map
        self.map_view = pg.GraphicsLayoutWidget()
        self.map_view.setBackground("#d9d9d9")
        # (cut to the view's width, whole in its tooltip: a plain label asked for its whole
        # text's width and pushed the map and its colour bar past a laptop dock's edge)
        self.map_title = Title(elide=True, size="9pt")
        self.map_title.setText(MAP_TITLE, shorter=(MAP_TITLE_SHORT,))
        self.map_box = image_viewbox()
        self.image_item = rgb_item()
        self.map_item = heat_item(ERROR_MAP)
        self.map_box.addItem(self.image_item)
        self.map_box.addItem(self.map_item)
        self.map_bar = pg.ColorBarItem(values=(0, 1), colorMap=colormap(ERROR_MAP), width=15)
        self.map_bar.setImageItem(self.map_item)
        plain_axes(self.plot, self.map_bar)
        self.map_bar_label = FittedAxisLabel(self.map_bar, "bits per pixel", "bpp")
        self.map_view.ci.addItem(self.map_title, row=0, col=0, colspan=2)
        self.map_view.ci.addItem(self.map_box, row=1, col=0)
        self.map_view.ci.addItem(self.map_bar, row=1, col=1)

        # estimated vs actual, per scale and in total
        self.ledger_table = QTableWidget(0, len(LEDGER_COLUMNS))
        self.ledger_table.setHorizontalHeaderLabels(list(LEDGER_COLUMNS))
        for column, meaning in enumerate(LEDGER_COLUMNS.values()):
            self.ledger_table.horizontalHeaderItem(column).setToolTip(meaning)
        self.ledger_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ledger_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        # rows as tall as their text (the style's 30 px left the file row below the fold)
        self.ledger_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.ledger_table.setToolTip(
            "estimated: the model's cost Σ −log2 P of the coded symbols; actual: the bits the "
            "range coder wrote for them (its position at each pass boundary); overhead: "
            "actual − estimated. Scales from the coarsest (the highest number) down. "
            + NOT_MODELLED)
        self.tabs = QTabWidget()
        # the legend above the chart, not in it: tall bars come on either side
        legend = QLabel("&nbsp;&nbsp;".join(
            f'<span style="color:{colour}">■</span> {name}'
            for colour, name in ((PALETTE[0], "actual (stream)"),
                                 (PALETTE[1], "estimated (model)"))))
        legend.setToolTip("bytes per group of passes: what the range coder wrote, and what "
                          "the model's probabilities predicted")
        chart = QWidget()
        chart_layout = QVBoxLayout(chart)
        chart_layout.setContentsMargins(0, 2, 0, 0)
        chart_layout.addWidget(legend)
        chart_layout.addWidget(self.plot, 1)
        self.chart_legend = legend
        self.tabs.addTab(chart, "Chart")
        self.tabs.addTab(self.ledger_table, "Est. vs actual")
        self.channels = ChannelBitsChart(session, scheduler)
        self.tabs.addTab(self.channels, "Per channel")
        # every tab in sight, its name cut where the dock is narrow (a laptop's hid "Per
        # channel", which the tour points to, behind scroll arrows); whole in its tooltip
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        for index, tip in enumerate(("Bits per scale, step or channel group, as bars",
                                     "Estimated (model) against actual (stream) bits, per "
                                     "scale and in total", "Bits per latent channel")):
            self.tabs.setTabToolTip(index, tip)

        self.summary = status_label(2)
        self.tabs.currentChanged.connect(self._on_tab)  # (it shows or hides the summary)
        splitter = self.splitter = QSplitter()
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.map_view)
        splitter.setSizes([100 * share for share in SPLIT_SHARES])
        self._split_by_user = False  #: the user dragged the splitter: _split leaves it
        splitter.splitterMoved.connect(self._on_split_moved)
        splitter.installEventFilter(self)  # (its size: the split, see _split)
        # (after the splitter has shared out its new width: on its resize event it has not)
        self._split_timer = QTimer(self)
        self._split_timer.setSingleShot(True)
        self._split_timer.setInterval(0)
        self._split_timer.timeout.connect(self._split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.summary)
        self.allocation: latent_data.Allocation | None = None
        self.ledger: list[latent_data.LedgerRow] = []
        self.bits_map: np.ndarray | None = None
        # two steps: each plot is repainted on its own (see RefreshScheduler)
        observe(session.result_changed, self.refresh_bars, scheduler)
        observe(session.result_changed, self.refresh_ledger, scheduler)
        observe(session.result_changed, self.refresh_map, scheduler)
        self.refresh()

    def grouping(self) -> str:
        return self.group_box.currentData()

    def set_grouping(self, key: str) -> None:
        self.group_box.setCurrentIndex(self.group_box.findData(key))

    def set_view(self, key: str) -> None:
        """Bring a tab to the front: one of :data:`VIEWS`."""
        if key not in VIEWS:
            raise ValueError(f"{key!r} is not a view of the bit allocation; use one of "
                             f"{', '.join(VIEWS)}")
        self.tabs.setCurrentIndex(VIEWS.index(key))

    def _on_tab(self, index: int) -> None:
        # "Bars by" groups the passes of the chart tab only; the per-channel tab has a
        # summary of its own, and its two plots the height of this one (in the default
        # window they were 45 and 60 px tall)
        self.group_box.setEnabled(index == VIEWS.index("chart"))
        self.summary.setVisible(index != VIEWS.index("channels"))
        self._split()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.splitter and event.type() == QEvent.Type.Resize:
            self._split_timer.start()
        return super().eventFilter(watched, event)

    def _on_split_moved(self, *_args) -> None:
        self._split_by_user = True

    def _split(self) -> None:
        """Share the width between the tabs and the bits map: the tabs' names whole, where
        the map keeps :data:`MAP_MIN_PX`; the estimated-vs-actual table takes what its
        columns need (in a laptop's dock it scrolled sideways, the actual bits cut at its
        edge), the map the rest if that leaves it :data:`MAP_MIN_PX`, else the table takes
        the whole width (the map comes back with the other tabs, which take their first
        share). Not once the user has dragged the splitter."""
        total = sum(self.splitter.sizes())
        if self._split_by_user or total <= 0:
            return
        first = round(total * SPLIT_SHARES[0] / sum(SPLIT_SHARES))
        # every tab's name whole, where the map keeps its least width
        tab_names = self.tabs.tabBar().sizeHint().width() + 2 * TAB_BAR_MARGIN_PX
        first = max(first, min(tab_names, total - MAP_MIN_PX))
        if self.tabs.currentWidget() is self.ledger_table:
            needed = self._ledger_width()
            first = max(first, needed if needed <= total - MAP_MIN_PX else total)
        if self.splitter.sizes()[0] != first:
            self.splitter.setSizes([first, total - first])

    def _ledger_width(self) -> int:
        """The tabs' width at which the table shows every column whole."""
        table = self.ledger_table
        table.resizeColumnsToContents()
        # From size hints, not the widgets' geometry: a table behind another tab has not
        # been laid out yet. Around the cells: the row headings, the table's frame, a
        # vertical scroll bar (it may need one) and the tab page's frame.
        option = QStyleOptionTabWidgetFrame()
        self.tabs.initStyleOption(option)
        page = self.tabs.style().subElementRect(QStyle.SubElement.SE_TabWidgetTabContents,
                                                option, self.tabs)
        return (table.verticalHeader().sizeHint().width() + 2 * table.frameWidth()
                + table.verticalScrollBar().sizeHint().width()
                + option.rect.width() - page.width() + table.horizontalHeader().length())

    def _apply_opacity(self) -> None:
        overlay = self.overlay_box.isChecked() and self.image_item.isVisible()
        self.map_item.setOpacity(self.opacity.value() / 100 if overlay else 1.0)

    def refresh(self) -> None:
        self.refresh_bars()
        self.refresh_ledger()
        self.refresh_map()

    def refresh_ledger(self) -> None:
        result = self.session.result
        self.ledger = [] if result is None else latent_data.bits_ledger(result.analysis)
        table = self.ledger_table
        table.setRowCount(len(self.ledger))
        table.setVerticalHeaderLabels([row.label for row in self.ledger])
        for index, row in enumerate(self.ledger):
            percent = row.overhead_percent
            # (the header's estimate is a dash, its tooltip says why: "not modelled" made the
            # column as wide as two numbers)
            cells = (f"{row.elements:,}" if row.elements else "",
                     f"{row.estimated_bits:,.1f}" if row.elements else "—",
                     f"{row.actual_bits:,}", signed(row.overhead_bits, ",.1f"),
                     "" if percent is None else f"{signed(percent, '.2f')} %")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if not row.elements and column == 1:
                    item.setToolTip(NOT_MODELLED)
                table.setItem(index, column, item)
        self._split()  # (the numbers' widths changed)

    def ledger_text(self, row: int, column: int) -> str:
        item = self.ledger_table.item(row, column)
        return item.text() if item is not None else ""

    def refresh_bars(self) -> None:
        """The bar chart and the summary line."""
        result = self.session.result
        if result is None:
            self.allocation = None
            self.actual_bars.setOpts(x=[], height=[])
            self.estimated_bars.setOpts(x=[], height=[])
            self._label_ticks()  # (no labels of the last result's bars)
            self.summary.setText("encode an image to see where its bits go")
            return
        allocation = latent_data.bit_allocation(result.analysis, self.grouping())
        self.allocation = allocation
        x = np.arange(len(allocation.labels), dtype=float)
        self.actual_bars.setOpts(x=x - 0.2, height=allocation.actual_bytes.astype(float))
        self.estimated_bars.setOpts(x=x + 0.2, height=allocation.estimated_bytes)
        self._label_ticks()
        top = max(float(allocation.actual_bytes.max(initial=0)),
                  float(allocation.estimated_bytes.max(initial=0)), 1.0)
        self.plot.setRange(xRange=(-0.7, len(x) - 0.3), yRange=(0, top * 1.08), padding=0)
        payload = allocation.actual_bytes.sum()
        estimated = allocation.estimated_bytes.sum()
        overhead = (payload - estimated) / estimated * 100 if estimated > 0 else float("nan")
        self.summary.setText(
            f"payload {payload:,} B from the stream vs {estimated:,.0f} B estimated by the model "
            f"({signed(overhead, '.2f')} %), header {allocation.header_bytes} B, file "
            f"{result.num_bytes:,} B. One stream for all passes: each pass's bytes are the "
            "coder's output growth in 32-bit words, nothing is padded per pass.")

    def _label_ticks(self, *_args) -> None:
        """A label under every bar that has room for one, else under every k-th (28 passes'
        labels ran together in any window), short ones where the long would skip bars (the
        chart's tooltip then gives each short one's long form)."""
        allocation = getattr(self, "allocation", None)  # (a resize before __init__ ends)
        labels = allocation.labels if allocation is not None else []
        axis = self.plot.getAxis("bottom")
        if not labels:
            axis.setTicks([[]])
            self.plot.setToolTip("")
            return
        room = max(self.plot.getViewBox().width(), 1.0) / len(labels)

        def every(texts) -> int:  # (label every k-th bar)
            widest = max(self.plot.fontMetrics().horizontalAdvance(text) for text in texts)
            return max(1, math.ceil((widest + TICK_GAP_PX) / room))

        # the short labels ("s3", a pass's number) where the long ones would leave bars
        # unnamed: "scale 3" and "scale 1" alone under four bars in a laptop's dock
        short = every(labels) > 1 and bool(allocation.short_labels)
        self.plot.setToolTip("\n".join(f"{brief}: {whole}" for brief, whole in
                                       zip(allocation.short_labels, labels)) if short else "")
        if short:
            labels = allocation.short_labels
        step = every(labels)
        axis.setTicks([[(float(i), label) for i, label in enumerate(labels) if i % step == 0],
                       [(float(i), "") for i in range(len(labels)) if i % step]])

    def refresh_map(self) -> None:
        """The spatial bits map (and the picture under it)."""
        result = self.session.result
        if result is None:
            self.bits_map = None
            self.map_item.clear()
            set_rgb(self.image_item, None)
            return
        analysis = result.analysis
        self.bits_map = latent_data.bits_per_pixel_map(analysis)
        stride = latent_data.latent_stride(analysis)
        rows, cols = self.bits_map.shape
        self.map_item.setImage(self.bits_map, autoLevels=False)
        self.map_item.setRect(QRectF(0, 0, cols * stride, rows * stride))
        padding = latent_data.padding_bits_share(analysis)
        self.map_title.setText(MAP_TITLE + (f" · {100 * padding:.1f} % of the bits code the "
                                            "padding (not shown)" if padding >= 0.0005 else ""),
                               shorter=(MAP_TITLE, MAP_TITLE_SHORT))
        high = latent_data.finite_levels([self.bits_map])[1]
        self.map_bar.setLevels((0.0, max(high, 1e-3)))
        background = result.original if result.original is not None else result.decoded
        set_rgb(self.image_item, background if self.overlay_box.isChecked() else None)
        self._apply_opacity()
        height, width = analysis.image_size
        if getattr(self, "_fitted", None) != (height, width):
            self._fitted = (height, width)
            fit_box(self.map_box, width, height)
