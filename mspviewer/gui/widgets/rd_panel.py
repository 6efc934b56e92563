"""RD panel: this image's learned-codec points and the classic codecs' curves, redrawn as
points arrive, with the BD-rate of the learned curve against each classic one."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMenu, QToolButton, QVBoxLayout,
                               QWidget)

from mspviewer.gui.session import MIN_BD_POINTS
from mspviewer.gui.widgets.common import (PALETTE, fit_axis_label, info_label,
                                          narrow_combo, observe, plain_axes, signed)
from mspviewer.gui.widgets.legend import MARGIN_PX as LEGEND_MARGIN_PX
from mspviewer.gui.widgets.legend import CornerLegend, points_inside, segments_crossing
from mspviewer.rd import bd_curves, rd_front

METRICS = {"psnr_rgb": "PSNR-RGB [dB]", "psnr_y": "PSNR-Y [dB]",
           "ms_ssim_db": "MS-SSIM [dB]"}

#: the learned points (stars, black-outlined, drawn over the curves): the latest one in
#: vermillion, the earlier ones white, which no curve is
LATEST_COLOUR, EARLIER_COLOUR = PALETTE[5], "#FFFFFF"
#: above the curves and lines (pyqtgraph draws items of equal Z in the order added)
STAR_Z = 10
#: the stars' size (pixels): the zoom to MSP keeps the top one's whole star in view
STAR_PX = 16
#: the learned curves' lines (one per profile, through the stars): black, in a dash style
#: per profile, the plain encoder's dashed
LEARNED_LINE_COLOUR = "#000000"
PLAIN_LINE_STYLE = Qt.PenStyle.DashLine
LOF_LINE_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
#: the classic curves' colours, never a star's nor the learned lines'; with Tol's indigo,
#: sand and green, one for each shipped codec
CURVE_COLOURS = tuple(c for c in PALETTE
                      if c not in (LATEST_COLOUR, EARLIER_COLOUR, LEARNED_LINE_COLOUR)) + (
    "#332288", "#DDCC77", "#117733")
PLAIN_LEGEND = "MSP without LOF (same λ)"
NOT_DRAWN = " (no finite point: not drawn)"
#: ... and for a curve whose points are all outside the view (A shows every curve)
OFF_VIEW = " (off view)"
#: beyond as many codecs as colours, the symbol tells curves of one colour apart
CURVE_SYMBOLS = ("o", "s", "t", "d")
#: "Zoom to MSP" shows rates up to this many times the highest MSP point's
ZOOM_MARGIN = 1.5
#: a plot shorter than this (pixels) puts its legend beside the view (or, in a narrow one,
#: lays it out in rows), not in a corner of the view
SHORT_PLOT_PX = 200
#: ... beside the view where that leaves the plot (its quality axis and view) this wide
MIN_WIDTH_BESIDE_LEGEND_PX = 240
#: the BD-rates under the plot take this many lines at most
BD_LINES = 5
#: the learned curve of the plain encoder, which LOF curves are set against
PLAIN_CURVE = "msp-fast"
#: the legend's name for this image's MSP points (the stars)
LEARNED_LEGEND = "MSP (this image)"

class RDPanel(QWidget):
    #: the user changed which classic codecs to sweep: the new list of names
    codecs_changed = Signal(list)
    #: "add learned points along the λ ladder"
    ladder_requested = Signal()

    def __init__(self, session, codecs: list[tuple[str, str, bool]] = (),
                 selected: tuple[str, ...] = (), scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.metric_box = QComboBox()
        for key, label in METRICS.items():
            self.metric_box.addItem(label, key)
        self.metric_box.currentIndexChanged.connect(self.refresh)
        narrow_combo(self.metric_box, 12)
        self.codec_button = QToolButton()
        # The style's own menu arrow for an instant-popup tool button sits in the corner over
        # the text (Fusion draws it across the last letter); the arrow is part of the text instead
        self.codec_button.setText("Codecs ▾")
        self.codec_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.codec_button.setToolTip("The classic codecs whose RD curves this image gets")
        self.codec_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.codec_button)
        self.codec_actions: dict[str, QAction] = {}
        #: every known codec in menu order: a curve's style follows its codec's place here,
        #: whatever is ticked and in which order the curves arrive
        self.codec_order: list[str] = [name for name, _label, _available in codecs]
        for name, label, available in codecs:
            action = QAction(label if available else f"{label} (unavailable)", menu)
            action.setCheckable(True)
            action.setEnabled(available)
            action.setChecked(available and name in selected)
            action.toggled.connect(lambda _checked: self.codecs_changed.emit(self.selected()))
            menu.addAction(action)
            self.codec_actions[name] = action
        self.codec_button.setMenu(menu)
        self.ladder_button = QToolButton()
        self.ladder_button.setText("λ ladder")
        self.ladder_button.setToolTip("Encode at every λ of the model's ladder with the chosen "
                                      "profile and add the points: a curve for the BD-rates "
                                      "(fast first; an LOF profile's is also set against it)")
        self.ladder_button.clicked.connect(self.ladder_requested)
        self.zoom_button = QToolButton()
        self.zoom_button.setText("Zoom to MSP")
        self.zoom_button.setToolTip("Show the rates of the MSP points (the classic curves reach "
                                    "far higher rates), as the plot does until you pan or zoom "
                                    "it; A (bottom left) shows every curve")
        self.zoom_button.clicked.connect(self.follow_learned)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Quality:"))
        bar.addWidget(self.metric_box)
        bar.addStretch(1)
        bar.addWidget(self.zoom_button)
        bar.addWidget(self.ladder_button)
        bar.addWidget(self.codec_button)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "bits per pixel")
        self.plot.setLimits(xMin=0.0)  # (auto range around one point went to −0.2 bpp)
        #: the view follows the MSP points (zoomed to their rates) until the user pans,
        #: zooms or asks for every curve (A); the Zoom to MSP button follows them again
        self._following = True
        self._zoomed = False  # the view is the zoom to the MSP points (not auto range)
        self._had_points = False  # MSP points were plotted at the last refresh
        self.plot.getViewBox().sigRangeChangedManually.connect(self._stop_following)
        plain_axes(self.plot)
        # In the corner the curves leave most free (fixed in the bottom right, it covered the
        # weaker codecs' high rates); over a curve all the same where the plot is small: a
        # translucent ground keeps it readable (and it can be dragged aside).
        self.legend = CornerLegend(labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 210))
        self.legend.attach(self.plot.getPlotItem())
        self.plot.getViewBox().sigRangeChanged.connect(self._name_curves)  # (before placing:
        self.plot.getViewBox().sigRangeChanged.connect(self.legend.place)  # it sizes labels)
        self.plot.getViewBox().sigResized.connect(self._fit_to_height)
        self.status = info_label()
        self.bd_label = info_label()
        self.bd_label.setWordWrap(True)
        # (with three ladders it ran to eight lines and squeezed the plot: cut with "…", the
        # whole of it in its tooltip)
        metrics = self.bd_label.fontMetrics()
        self.bd_label.setMaximumHeight(BD_LINES * metrics.lineSpacing() - metrics.leading()
                                       + 2 * self.bd_label.margin())
        #: the BD-rates as bd_label states them; None while there are none to state
        self.bd_summary: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.bd_label)
        self.curve_items: dict[str, pg.PlotDataItem] = {}
        #: profile → the line through that profile's learned points (its RD front)
        self.learned_lines: dict[str, pg.PlotDataItem] = {}
        self.learned_item: pg.ScatterPlotItem | None = None
        #: after LOF: a dashed segment from the plain encoder's point (hollow circle) at the
        #: same λ to the LOF result's star, the move LOF made on the RD plane
        self.lof_move_item = pg.PlotDataItem([], [], pen=pg.mkPen(LATEST_COLOUR, width=1.5,
                                                                   style=Qt.PenStyle.DashLine))
        self.plain_item = pg.ScatterPlotItem(symbol="o", size=10, pen=pg.mkPen(LATEST_COLOUR,
                                                                              width=2),
                                             brush=pg.mkBrush(None))
        for item in (self.lof_move_item, self.plain_item):
            item.setZValue(STAR_Z)
        self.plot.addItem(self.lof_move_item)
        self.plot.addItem(self.plain_item)  # (unnamed: in the legend only while shown)
        self._plain_legend = ""  #: the plain point's legend entry ("": not in the legend)
        observe(session.rd_changed, self.refresh, scheduler)
        self.refresh()

    def quality_metric(self) -> str:
        return self.metric_box.currentData()

    def selected(self) -> list[str]:
        return [name for name, action in self.codec_actions.items() if action.isChecked()]

    def set_selected(self, names) -> None:
        for name, action in self.codec_actions.items():
            action.blockSignals(True)
            action.setChecked(action.isEnabled() and name in names)
            action.blockSignals(False)
        self.codecs_changed.emit(self.selected())

    def curve_style(self, name: str) -> tuple[str, str]:
        """(colour, symbol) of a classic codec's curve: fixed by its name."""
        if name in self.codec_order:
            index = self.codec_order.index(name)
        else:  # not in the menu: stable across runs all the same
            index = len(self.codec_order) + zlib.crc32(name.encode()) % len(CURVE_COLOURS)
        return (CURVE_COLOURS[index % len(CURVE_COLOURS)],
                CURVE_SYMBOLS[index // len(CURVE_COLOURS) % len(CURVE_SYMBOLS)])

    def curve_data(self, name: str) -> tuple[list[float], list[float]]:
        """The plotted (bpp, quality) of a classic codec, sorted by rate."""
        curve = self.session.curves.get(name)
        if curve is None:
            return [], []
        pairs = [(p.bpp, p.metric(self.quality_metric())) for p in curve.sorted_points()]
        pairs = [(x, y) for x, y in pairs if _plottable(y)]
        return [x for x, _ in pairs], [y for _, y in pairs]

    def _learned(self) -> list[tuple[float, float, bool]]:
        out = []
        for lp in self.session.learned_points:
            y = lp.point.metric(self.quality_metric())
            if _plottable(y):
                out.append((lp.point.bpp, y, lp.latest))
        return out

    def learned_data(self) -> tuple[list[float], list[float]]:
        """The plotted (bpp, quality) of this image's learned-codec points."""
        points = self._learned()
        return [p[0] for p in points], [p[1] for p in points]

    def lof_move_data(self) -> tuple[list[float], list[float]]:
        """(bpp, quality) of the plain encoder and of the LOF result, in that order; empty
        without an LOF result (or with a quality the point does not have)."""
        result = self.session.result
        plain = getattr(result, "reference", None)
        if plain is None or result.point is None:
            return [], []
        pairs = [(p.bpp, p.metric(self.quality_metric())) for p in (plain.point, result.point)]
        if not all(_plottable(y) for _, y in pairs):
            return [], []
        return [x for x, _ in pairs], [y for _, y in pairs]

    def refresh(self) -> None:
        """Update the plotted data in place (items are only created for new curves)."""
        self._fit_to_height()
        names = sorted(self.session.curves)
        for name in [n for n in self.curve_items if n not in self.session.curves]:
            item = self.curve_items.pop(name)
            self.plot.removeItem(item)
            self.legend.removeItem(item)
        for index, name in enumerate(names):
            xs, ys = self.curve_data(name)
            item = self.curve_items.get(name)
            if item is None:
                colour, symbol = self.curve_style(name)
                item = self.plot.plot(xs, ys, pen=pg.mkPen(colour, width=2), symbol=symbol,
                                      symbolSize=5, symbolBrush=colour, symbolPen=None,
                                      name=self.session.curves[name].label)
                self.curve_items[name] = item
            else:
                item.setData(xs, ys)
        self._draw_learned_lines()
        # the latest drawn last: over a ladder point at the same λ, which it repeats
        points = sorted(self._learned(), key=lambda point: point[2])
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if self.learned_item is None:
            # (the brush given here is the legend's sample; setData colours each point)
            self.learned_item = pg.ScatterPlotItem(symbol="star", size=STAR_PX,
                                                   pen=pg.mkPen("k"),
                                                   brush=pg.mkBrush(LATEST_COLOUR))
            self.learned_item.setZValue(STAR_Z)
            self.plot.addItem(self.learned_item)
        brushes = [pg.mkBrush(LATEST_COLOUR if p[2] else EARLIER_COLOUR) for p in points]
        if points:
            self.learned_item.setData(xs, ys, brush=brushes)
        else:
            self.learned_item.clear()
        # in the legend only with a star to show (a stream opened alone has no quality: the
        # legend's star had stood for nothing on an empty plot)
        listed = self.legend.getLabel(self.learned_item) is not None
        if points and not listed:
            self.legend.add_first(self.learned_item, LEARNED_LEGEND)
        elif listed and not points:
            self.legend.removeItem(self.learned_item)
            self.legend.relayout()  # (pyqtgraph leaves the first cell empty)
        move_x, move_y = self.lof_move_data()
        self.lof_move_item.setData(move_x, move_y)
        if move_x:
            self.plain_item.setData(move_x[:1], move_y[:1])
        else:
            self.plain_item.clear()
        reference = getattr(self.session.result, "reference", None)
        if not move_x:
            legend = ""
        elif reference.is_plain:
            legend = PLAIN_LEGEND
        else:
            legend = f"{reference.label} (same λ)"
        if legend != self._plain_legend:  # shown, hidden or renamed
            if self._plain_legend:
                self.legend.removeItem(self.plain_item)
            if legend:
                self.legend.addItem(self.plain_item, legend)
            self._plain_legend = legend
        counts = ", ".join(f"{c.label} {len(c.points)}" for c in self.session.curves.values())
        status = f"MSP points: {len(xs)}" + (f" · {counts}" if counts else "")
        result = self.session.result
        if not xs and result is not None and result.point is None:
            status += " (no original open: the decoded stream has no quality to plot)"
        self.status.setText(status)
        self._show_bd_rates()
        self._follow_view(has_points=bool(xs))
        self._name_curves()
        self.legend.place()  # (its entries, and the data under it, may have changed)

    # --- the view ---------------------------------------------------------------------------
    def _fit_to_height(self, *_args) -> None:
        """In a short plot (a laptop's screen): the quality axis says its unit only, where
        its name would be cut, and the legend stands beside the view, where no corner of it
        is free of curves (see :meth:`_arrange_legend`)."""
        label = METRICS[self.quality_metric()]
        fit_axis_label(self.plot.getPlotItem(), label, label[label.index("["):])  # "[dB]"
        self._arrange_legend()
        self.legend.place()

    def _arrange_legend(self) -> None:
        """A tall plot has its legend in a corner of the view, in one column. A short one (a
        laptop's, where no corner is free) has it beside the view, in one column, or two
        where one would run past the plot's bottom, if that leaves the plot
        :data:`MIN_WIDTH_BESIDE_LEGEND_PX`; else in the view, in as many columns (three at
        most) as the view's width takes (three of them had run past its left edge)."""
        legend, plot, box = self.legend, self.plot.getPlotItem(), self.plot.getViewBox()
        if box.height() >= SHORT_PLOT_PX:
            self._set_legend_columns(1)
            legend.set_beside(False)
            return
        room_below = plot.height() - box.geometry().top()  # (the axis's row is free there)
        for columns in (1, 2):
            self._set_legend_columns(columns)
            if plot.width() - legend.width_beside() >= MIN_WIDTH_BESIDE_LEGEND_PX \
                    and legend.height() <= room_below:
                legend.set_beside(True)
                return
        legend.set_beside(False)
        view_width = plot.width() - plot.getAxis("left").width() - 2 * LEGEND_MARGIN_PX
        for columns in (3, 2, 1):
            self._set_legend_columns(columns)
            if legend.width() <= view_width:
                return

    def _set_legend_columns(self, columns: int) -> None:
        if self.legend.columnCount != columns:
            self.legend.setColumnCount(columns)


    def _stop_following(self, *_mask) -> None:
        self._following = False

    def follow_learned(self) -> bool:
        """Zoom to the MSP points, now and as points arrive (the Zoom to MSP button)."""
        self._following = True
        self._zoomed = self.zoom_to_learned()
        return self._zoomed

    def _follow_view(self, has_points: bool) -> None:
        """A demo's first view is MSP's own rates, with the classic curves there (which reach
        4 bpp and more and squeezed the MSP points into a corner); without MSP points, every
        curve. A user's pan or zoom, or A (auto range), stops it."""
        box = self.plot.getViewBox()
        had_points, self._had_points = self._had_points, has_points
        if not self._had_points:
            if had_points:  # a new image: every curve, and follow its first point
                self._following, self._zoomed = True, False
                box.enableAutoRange()
            return  # (a classic sweep's points leave a user's zoom alone)
        if not self._following:
            return
        if self._zoomed and any(box.autoRangeEnabled()):  # A was pressed: every curve
            self._following = False
            return
        self._zoomed = self.zoom_to_learned()

    def _name_curves(self, *_args) -> None:
        """Each curve's legend entry: its codec, and why it cannot be seen where it cannot:
        points but none to draw (every one lossless, an infinite PSNR, as a flat image
        gives), or none of its line in the view (the zoom to MSP's rates leaves a codec that
        cannot get down to them out of it); the legend had listed those as if shown."""
        box = self.plot.getViewBox()
        (left, right), (low_y, high_y) = box.viewRange()
        view = (left, low_y, right, high_y)  # (points_inside's order: its "top" is the low y)
        # (a view that ranges itself over every curve has them all, and may not have done so
        # yet: its range before then is no test)
        every_curve = all(box.autoRangeEnabled())
        for name, item in self.curve_items.items():
            curve = self.session.curves.get(name)
            if curve is None:  # (cleared with a new image; the queued refresh drops its item)
                continue
            xs, ys = item.getData()
            points = (np.column_stack([xs, ys]) if xs is not None and len(xs)
                      else np.zeros((0, 2)))
            if not len(points):
                note = NOT_DRAWN if curve.points else ""
            elif every_curve or points_inside(points, view).any() or \
                    segments_crossing(points[:-1], points[1:], view).any():
                note = ""
            else:
                note = OFF_VIEW
            label = self.legend.getLabel(item)
            text = curve.label + note
            if label is not None and label.text != text:
                label.setText(text)
        # the point without LOF (or the reference's), which can be far from MSP's rates
        label = self.legend.getLabel(self.plain_item)
        if label is not None and self._plain_legend:
            xs, ys = self.plain_item.getData()
            shown = (every_curve or xs is None or not len(xs)
                     or points_inside(np.column_stack([xs, ys]), view).any())
            text = self._plain_legend + ("" if shown else OFF_VIEW)
            if label.text != text:
                label.setText(text)

    def learned_line_data(self, curve) -> tuple[list[float], list[float]]:
        """A learned curve's line: its points on the RD front (what the BD-rates use)."""
        rates, values = rd_front(curve.rates(), curve.values(self.quality_metric()))
        return rates.tolist(), values.tolist()

    def _draw_learned_lines(self) -> None:
        """One line per profile with two or more points on the front, so that the ladders
        of two profiles are told apart (the stars alone look the same)."""
        curves = {profile: curve for profile, curve in self.session.learned_curves().items()
                  if len(self.learned_line_data(curve)[0]) >= 2}
        for profile in [p for p in self.learned_lines if p not in curves]:
            item = self.learned_lines.pop(profile)
            self.plot.removeItem(item)
            self.legend.removeItem(item)
        for profile, curve in curves.items():
            xs, ys = self.learned_line_data(curve)
            item = self.learned_lines.get(profile)
            if item is None:  # styles in order of arrival: no two lines alike among the first
                others = sum(1 for line in self.learned_lines.values()
                             if line.opts["pen"].style() != PLAIN_LINE_STYLE)
                style = (PLAIN_LINE_STYLE if curve.name == PLAIN_CURVE else
                         LOF_LINE_STYLES[others % len(LOF_LINE_STYLES)])
                item = self.plot.plot(xs, ys, pen=pg.mkPen(LEARNED_LINE_COLOUR, width=1.5,
                                                           style=style),
                                      name=curve.label)
                self.learned_lines[profile] = item
            else:
                item.setData(xs, ys)

    def zoom_to_learned(self) -> bool:
        """Zoom to the MSP points' rates (and a margin), with every curve's qualities there
        and the point without LOF the LOF result moved from (a reference .msp's is left to
        the legend's "(off view)": one far off, another image's, would squeeze the rest);
        False when there is no MSP point to zoom to."""
        xs, ys = self.learned_data()
        if not xs:
            return False
        reference = getattr(self.session.result, "reference", None)
        move_x, move_y = (self.lof_move_data() if reference is not None and reference.is_plain
                          else ([], []))
        high = ZOOM_MARGIN * max(xs + move_x)
        values = list(ys) + list(move_y)
        for name in self.session.curves:
            values += [y for x, y in zip(*self.curve_data(name)) if x <= high]
        low_y, high_y = min(values), max(values)
        # 5 % each way, and never less than half a star: in a laptop's short plot 5 % was
        # less, and the top star was cut by the plot's edge
        span = max(high_y - low_y, 1.0)
        edge_px = STAR_PX / 2 + 1
        height_px = self.plot.getViewBox().height()
        pad = max(0.05 * span, span * edge_px / max(height_px - 2 * edge_px, 1.0))
        self.plot.setRange(xRange=(0.0, high), yRange=(low_y - pad, high_y + pad), padding=0)
        return True

    # --- BD-rates -------------------------------------------------------------------------
    def _front_size(self, curve) -> int:
        return len(rd_front(curve.rates(), curve.values(self.quality_metric()))[0])

    def _points_used(self, curve) -> str:
        """Which of a learned curve's points its BD-rates use: "λ ladder, 6 points"."""
        source = "λ ladder, " if curve.settings.get("points") == "λ ladder" else ""
        return f"{source}{self._front_size(curve)} points"

    def learned_curves(self) -> list:
        """This image's learned curves with at least MIN_BD_POINTS points on the chosen
        quality (one per profile: the λ ladder's, any profile's), most points first."""
        curves = [c for c in self.session.learned_curves().values()
                  if self._front_size(c) >= MIN_BD_POINTS]
        return sorted(curves, key=self._front_size, reverse=True)

    def learned_curve(self):
        """The learned curve with the most points (the λ ladder's as a rule), or None."""
        curves = self.learned_curves()
        return curves[0] if curves else None

    def bd_rates(self, learned=None) -> list[tuple[str, float | None, str]]:
        """(anchor label, BD-rate of ``learned`` against it in percent, why there is none or
        why it speaks for a narrow band of quality only, else "") for every classic curve of
        at least MIN_BD_POINTS points, in the menu's order, then the plain encoder's curve
        when ``learned`` runs LOF (what LOF gains here). Default: :meth:`learned_curve`;
        empty without one."""
        learned = learned if learned is not None else self.learned_curve()
        if learned is None:
            return []
        anchors = [self.session.curves[name]
                   for name in sorted(self.session.curves, key=self._menu_position)]
        anchors = [c for c in anchors if self._front_size(c) >= MIN_BD_POINTS]
        plain = next((c for c in self.learned_curves() if c.name == PLAIN_CURVE), None)
        if plain is not None and learned.name != plain.name:
            anchors.append(plain)
        rows = []
        for anchor in anchors:
            bd = bd_curves(anchor, learned, self.quality_metric())
            value = bd["bd_rate_percent"]
            rows.append((anchor.label, value,
                         (bd["reason"] if value is None else bd["warning"]) or ""))
        return rows

    def _menu_position(self, name: str) -> int:
        """Where a codec stands in the menu (codecs not in it come last)."""
        return self.codec_order.index(name) if name in self.codec_order else len(self.codec_order)

    def _show_bd_rates(self) -> None:
        self.bd_summary = None
        curves = self.learned_curves()
        measured = [lp for lp in self.session.learned_points if lp.profile]
        metric = self.quality_metric()
        if measured and not any(_plottable(lp.point.metric(metric)) for lp in measured):
            self.bd_label.setText(f"BD-rate: the MSP points have no {METRICS[metric]} "
                                  "(MS-SSIM needs an image of at least 161×161 pixels)")
            self.bd_label.setToolTip("")
            return
        if not curves:
            self.bd_label.setText(f"BD-rate: needs {MIN_BD_POINTS} or more MSP points of one "
                                  "profile (the λ ladder button)")
            self.bd_label.setToolTip("")
            return
        lines, reasons = [], []
        for curve in curves:
            rows = self.bd_rates(curve)
            # a value over a narrow overlap is starred, the tooltip says why
            parts = [f"{label} {signed(value)} %{'*' if note else ''}" if value is not None
                     else f"{label} n/a" for label, value, note in rows]
            against = " · ".join(parts) if parts else (f"a classic curve of {MIN_BD_POINTS} "
                                                       "or more points")
            lines.append(f"{curve.label} ({self._points_used(curve)}) against {against}")
            reasons += [f"{curve.label} against {label}: {'' if value is None else '* '}"
                        f"{note}" for label, value, note in rows if note]
        self.bd_summary = f"BD-rate on {METRICS[self.quality_metric()]}: " + "; ".join(lines)
        if any("%*" in line for line in lines):
            self.bd_summary += " (*: the curves overlap on a narrow band of quality only)"
        self.bd_label.setText(self.bd_summary)
        self.bd_label.setToolTip(
            "Average bit-rate difference over the quality range both curves cover (pchip on "
            "log rate, as in JVET and CompressAI); negative: MSP needs fewer bits. A ladder "
            "run with an LOF profile is also set against the ladder without LOF (fast): what "
            "LOF gains on this image." + ("\n" + "\n".join(reasons) if reasons else ""))


def _plottable(value) -> bool:
    """A quality the plot can draw: present and finite (MS-SSIM is None on tiny images)."""
    return value is not None and math.isfinite(value)
