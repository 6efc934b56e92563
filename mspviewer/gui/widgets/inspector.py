"""The inspector: click a latent element and see how the probability model coded it.

For engineers chasing an artifact and for students learning latent probability modelling.
For one element (channel, row, col) of the padded latent grid it shows, each with a short
caption saying what the number means:

- where it sits in MSP: scale (with its lattice stride), step, channel group (and its
  channel range), the network pass that coded it and its place in the decoding order;
- what was coded: ŷ, the predicted mean μ, the table σ, the symbol round(ŷ − μ), its
  probability, its cost in bits (and whether the record's bits equal −log2 P recomputed),
  whether it was escaped;
- the discretised Gaussian PMF the coder used (a bar plot, the coded symbol's bar in
  :data:`~mspviewer.gui.widgets.element_views.HIGHLIGHT` with a vertical marker), or what
  each symbol would have cost in bits (−log2 P and escape words: the coded symbol of a
  costly element is a bar too small to see as a probability);
- the context it was predicted from: which 3×3 lattice neighbours were already known, and
  how many channels of the same position earlier groups had decoded.

The two pictures are :mod:`mspviewer.gui.widgets.element_views`' ``PmfPlot`` and
``ContextGrid``. Everything comes from :func:`mspviewer.codec.inspection.inspect_element` on
``session.result.analysis`` with the steps per scale and symbol bound of ``session.model``.

Public interface (the main window wires it):

- ``InspectorPanel(session, scheduler=None, parent=None)``;
- ``inspect(row, col, channel=None)``: a latent position of the padded grid (connect
  ``LatentView.element_clicked(scale, row, col)`` through a lambda dropping the scale).
  ``channel=None``: the pinned channel if the user pinned one, else the channel of that
  position that cost the most bits (ties: the lowest index). Returns the inspection or None;
  a position off the grid gives a ``message`` instead of an exception;
- ``inspect_pixel(x, y)``: an image pixel (``CompareView.image_clicked``), mapped with
  :func:`image_to_latent`; a pixel outside the image leaves the panel as it was (message);
- ``set_channel(channel | None)``: pin a channel (e.g. LatentView's), or None to go back to
  "the channel with the most bits"; re-inspects the selected position;
- ``step_position(d_row, d_col)``: move the selection by latent positions (the arrow buttons);
- signals ``message(text, level)`` (route to the message bar),
  ``element_selected(channel, row, col)`` (after each successful inspection) and
  ``selection_cleared()`` (the heatmaps and the image mark the selection with them);
- ``set_pmf_view("probability" | "bits")`` switches the plot's bars, ``pmf_view()`` says
  which it shows;
- ``set_page("values" | "pmf" | "context")`` picks the page shown where the room is too
  short for all three together (tabs then pick one), ``page()`` says which (None: all);
- read-only for tests: ``current`` (the ElementInspection shown, None when nothing),
  ``value_text(key)``, ``value_tooltip(key)``, ``caption_text(key)``, ``pmf_data()``,
  ``highlighted_x()``, ``context_grid()``, ``showing_placeholder()``, ``pmf`` and
  ``context`` (the two pictures), ``pmf_plot`` (the PlotWidget), ``table`` and ``meaning``
  (the label under it that stands for the "what it means" column where the table is too
  narrow for it: the meaning of the row pointed at or selected).

A new result clears the panel, except that a selected position is inspected again when the
new latent has the same shape (comparing λ values on the same element).
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout,
                               QHeaderView, QLabel, QScrollArea, QSpinBox, QSplitter,
                               QStackedWidget, QTabBar, QTableWidget, QTableWidgetItem,
                               QToolButton, QVBoxLayout, QWidget)

from mspviewer.codec.entropy import MIN_PROBABILITY
from mspviewer.codec.inspection import image_to_latent, inspect_element, latent_to_image
from mspviewer.codec.lattice import STEP_NAMES, STEP_PARITIES
from mspviewer.errors import MSPViewerError
from mspviewer.gui.widgets.common import observe, placeholder, signed, status_label
from mspviewer.gui.widgets.element_views import PMF_VIEWS, ContextGrid, PmfPlot, sig4

PLACEHOLDER = "click a latent element in the heatmaps or a pixel of the image"
#: ... before there is anything to click
NO_RESULT_PLACEHOLDER = ("encode an image (or open a .msp file), then click a latent "
                         "element in the heatmaps or a pixel of the image")
#: width / height above which the values go beside the plots instead of above them, where
#: the panel is also MIN_WIDE_PX wide (in a laptop's 430-px dock, beside the plots the table
#: had 100 px and its rows grew ten lines tall)
WIDE_ASPECT = 1.6
MIN_WIDE_PX = 600
#: The "what it means" column goes where it would be narrower than this: the meaning of the
#: row under the mouse is then written below the table, and is in each value's tooltip (a
#: column 100 px wide wrapped each meaning into a tall row, and cut it).
MIN_MEANING_PX = 200
#: Hidden, the column comes back only where it would have this much more: shown, its taller
#: rows bring the table a scroll bar, whose width took the column away again, and so on.
MEANING_HYSTERESIS_PX = 40
MEANING_HINT = "Point at a row (or select it) for what its value means."
#: Where the room is too short for the values and the pictures together (a laptop's bottom
#: dock, 250 px: the PMF plot sat below the fold, where nobody saw it), they take turns:
#: tabs pick one page. Key → (tab text, tab tooltip).
PAGES = {
    "values": ("Values", "The numbers: where the element sits in MSP and how it was coded"),
    "pmf": ("PMF", "The discretised Gaussian the symbol was coded with, the coded symbol "
                   "marked"),
    "context": ("Context", "The lattice neighbours known when the element was predicted"),
}
#: the PMF plot's minimum height beside the other views, and on a page of its own in a
#: short room (where 160 px would push its axis below the fold again)
SHARED_PLOT_PX = 160
PAGED_PLOT_PX = 90
#: beside the plots, the values' column is made as wide as this value (and cell padding)
TYPICAL_LONG_VALUE = "equal to −log2 P = 10.0000 ✓"
CELL_PADDING_PX = 16
#: Paged, the views go back together only where the room has this much more than they
#: need: the estimate of word-wrapped captions' heights moves with the width.
PAGES_HYSTERESIS_PX = 40

#: Rows of the value table: key, label, what the value means (a caption for learners).
FIELDS = (
    ("element", "Element", "channel and position on the padded latent grid (the image "
                           "pixels it mostly drives)"),
    ("scale", "Scale", "MSP scale: coarser scales are decoded first; the stride is the "
                       "spacing of this scale's lattice in latent positions"),
    ("step", "Step", ""),  # depends on the step: set per element
    ("group", "Channel group", "channel groups of one step are coded in sequence, each "
                               "conditioned on the groups before it"),
    ("pass", "Pass", "the network pass that coded this element (index: label)"),
    ("order", "Decoding order", "position of that pass in the decoder's sequence; the number "
                                "of passes does not grow with the image"),
    ("y_hat", "ŷ", "the quantised latent value the decoder reconstructs: μ + symbol"),
    ("mu", "μ", "the predicted mean, from the context below"),
    ("sigma", "σ", "the table scale the coder used (encoder and decoder agree on its index)"),
    ("symbol", "Symbol", "round(y − μ) = ŷ − μ: the integer the arithmetic coder wrote, "
                         "with zero mean and scale σ"),
    ("probability", "P(symbol)", "the probability the coder gave this symbol (the bar marked "
                                 "in the plot, whose P view draws it)"),
    ("bits", "Cost", "bits this element costs in the model: −log2 P (+ escape words)"),
    ("bits_check", "Check", "the record's bits against −log2 P recomputed from σ and the "
                            "symbol"),
    ("escaped", "Escaped", "symbols at or beyond ±bound are sent with escape words"),
    ("without_lof", "Without LOF", "this element in MSP without LOF at the same λ (g_a's "
                                   "latent): what LOF changed here"),
    ("neighbours", "Spatial context", "the 8 nearest lattice neighbours decoded before this "
                                      "step (grid below); the context network (three 3×3 "
                                      "convolutions) sees up to 3 lattice positions each way"),
    ("channels", "Channel context", "channels of this same position decoded by earlier "
                                    "groups"),
)
FIELD_KEYS = tuple(key for key, _, _ in FIELDS)


def without_lof_text(plain, info, result_name: str = "LOF") -> str:
    """The inspected element in the reference coding ``plain`` (the plain encoding, or a
    .msp set as the reference), and what the result (``result_name``) changed."""
    index = (info.channel, info.row, info.col)
    y_hat, symbol = float(plain.y_hat[index]), int(plain.symbols[index])
    bits = float(plain.bits[index])
    text = f"ŷ {sig4(y_hat)}, symbol {symbol}, {bits:.4f} bits"
    if y_hat == info.y_hat and symbol == info.symbol and bits == info.bits:
        return text + " (unchanged)"
    return (text + f" → {result_name}: Δŷ {signed(info.y_hat - y_hat, '.4g')}, "
            f"{signed(info.bits - bits, '.4f')} bits")


def _parity_name(parity: tuple[int, int]) -> str:
    return "(" + ", ".join("odd" if p else "even" for p in parity) + ")"


def step_caption(step: str, steps_per_scale: int) -> str:
    """What a step codes and from what, for the caption of the ``step`` row."""
    if step == "coarsest":
        return ("coarsest scale: no spatial context; per-channel learned parameters, "
                "conditioned on earlier channel groups (it plays a hyperprior's role)")
    index = STEP_NAMES.index(step)
    parities = STEP_PARITIES[steps_per_scale][index]
    where = " and ".join(_parity_name(p) for p in parities)
    source = ("the coarser lattice around them" if index == 0
              else "everything decoded so far at this and coarser scales")
    return (f"step {step} of {steps_per_scale}: the {where} positions of this scale's "
            f"lattice, predicted from {source}")


class InspectorPanel(QWidget):
    #: (text, level) for the main window's message bar
    message = Signal(str, str)
    #: (channel, latent row, latent column) of each element shown
    element_selected = Signal(int, int, int)
    #: nothing is inspected any more (a new result without the position, or cleared)
    selection_cleared = Signal()

    def __init__(self, session, scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.current = None  #: the ElementInspection shown (None: nothing)
        # what the user selected: (row, col, explicit channel or None) and the latent shape
        # it was selected on (a new result of the same shape keeps the selection)
        self._selection: tuple[int, int, int | None] | None = None
        self._selection_shape: tuple[int, ...] | None = None
        self._updating_controls = False

        # --- controls --------------------------------------------------------------------
        self.auto_channel = QCheckBox("most bits")
        self.auto_channel.setChecked(True)
        self.auto_channel.setToolTip("Show the channel of the clicked position that cost the "
                                     "most bits; untick (or pick a channel) to pin one")
        self.channel_box = QSpinBox()
        self.channel_box.setPrefix("channel ")
        self.channel_box.setRange(0, 0)
        self.channel_box.setToolTip("The latent channel shown; changing it pins that channel")
        self.auto_channel.toggled.connect(self._on_auto_toggled)
        self.channel_box.valueChanged.connect(self._on_channel_picked)
        self.move_buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.addWidget(self.channel_box)
        bar.addWidget(self.auto_channel)
        bar.addSpacing(12)
        bar.addWidget(QLabel("move:"))
        for name, arrow, d_row, d_col in (("left", "◀", 0, -1), ("up", "▲", -1, 0),
                                          ("down", "▼", 1, 0), ("right", "▶", 0, 1)):
            button = QToolButton()
            button.setText(arrow)
            button.setAutoRaise(True)
            button.setToolTip(f"Inspect the latent position one step {name}")
            button.clicked.connect(lambda _=False, r=d_row, c=d_col: self.step_position(r, c))
            self.move_buttons[name] = button
            bar.addWidget(button)
        self.pmf_view_box = QComboBox()
        for key, text in PMF_VIEWS.items():
            self.pmf_view_box.addItem(text, key)
        self.pmf_view_box.setToolTip("The bars: each symbol's probability P, or what it would "
                                     "have cost in bits (−log2 P), where a costly coded "
                                     "symbol is a bar you can see")
        self.pmf_view_box.currentIndexChanged.connect(
            lambda _: self.pmf.set_view(self.pmf_view_box.currentData()))
        bar.addStretch(1)

        # --- the values ------------------------------------------------------------------
        self.header = status_label(2)
        self.table = QTableWidget(len(FIELDS), 2)
        self.table.setHorizontalHeaderLabels(["value", "what it means"])
        self.table.setVerticalHeaderLabels([label for _, label, _ in FIELDS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self._rows = {key: index for index, key in enumerate(FIELD_KEYS)}

        # --- the pictures: the PMF and the context ---------------------------------------
        self.pmf = PmfPlot()
        self.pmf_plot = self.pmf.plot
        self.pmf_plot.setMinimumHeight(SHARED_PLOT_PX)
        self.context = ContextGrid()

        # (the bars' choice above the bars: in the bar of controls it made the panel wider
        # than a laptop's dock)
        self.pmf_choice = QWidget()
        pmf_choice = QHBoxLayout(self.pmf_choice)
        pmf_choice.setContentsMargins(0, 0, 0, 0)
        pmf_choice.addWidget(QLabel("bars:"))
        pmf_choice.addWidget(self.pmf_view_box)
        pmf_choice.addStretch(1)
        self.pmf_box = QWidget()
        self._pmf_column = QVBoxLayout(self.pmf_box)
        self._pmf_column.setContentsMargins(0, 0, 0, 0)
        self._pmf_column.addWidget(self.pmf_choice)
        self._pmf_column.addWidget(self.pmf, 1)
        plots = self.plots = QWidget()
        plots_layout = QHBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.pmf_box, 3)
        plots_layout.addWidget(self.context, 0)

        # where the table has no room for its "what it means" column, the meaning of the row
        # under the mouse or selected is written below it
        self.meaning = status_label(3)
        self.meaning.hide()
        self.table.setMouseTracking(True)
        self.table.cellEntered.connect(lambda row, _column: self._show_meaning(row))
        self.table.currentCellChanged.connect(lambda row, *_: self._show_meaning(row))
        self.table.viewport().installEventFilter(self)  # (its width: the meanings' column)
        values = self.values = QWidget()
        values_layout = QVBoxLayout(values)
        values_layout.setContentsMargins(0, 0, 0, 0)
        values_layout.addWidget(self.table, 1)
        values_layout.addWidget(self.meaning)
        values_layout.addStretch(0)  # (below the meaning: the table is no taller than its rows)

        splitter = self.splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(values)
        splitter.addWidget(plots)
        splitter.setSizes([420, 260])
        self._split_by_user = False  #: the user dragged the splitter: _split leaves it
        splitter.splitterMoved.connect(self._on_split_moved)
        splitter.installEventFilter(self)  # (its size: the split, see _split)
        self.page_tabs = QTabBar()
        self.page_tabs.setDocumentMode(True)
        self.page_tabs.setExpanding(False)
        for index, (text, tooltip) in enumerate(PAGES.values()):
            self.page_tabs.addTab(text)
            self.page_tabs.setTabToolTip(index, tooltip)
        self.page_tabs.hide()
        self._paged = False  #: one page at a time (see PAGES)
        self.page_tabs.currentChanged.connect(lambda _index: self._show_pages())
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(self.header)
        # paged, the bars' choice sits beside the tabs (a line more for the plot)
        self._tab_row = QHBoxLayout()
        self._tab_row.addWidget(self.page_tabs)
        self._tab_row.addStretch(1)
        content_layout.addLayout(self._tab_row)
        content_layout.addWidget(splitter, 1)

        self.placeholder = placeholder(PLACEHOLDER)
        self.placeholder.setWordWrap(True)
        self._watched_viewport = None  #: the scroll area's view, when in one (see _room)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self._controls = bar
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        for signal in (session.result_changed, session.reference_changed):
            observe(signal, self._on_result_changed, scheduler)
        self._on_result_changed()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def heightForWidth(self, width: int) -> int:
        """No taller than the room where it fits in it. A resizable scroll area makes a
        panel with word-wrapped text as tall as this, and the layout's own answer is its
        preferred height, which would put the plot's axis below the fold."""
        preferred = super().heightForWidth(width)
        if self._watched_viewport is None:
            return preferred
        return max(self.minimumSizeHint().height(),
                   min(preferred, self._watched_viewport.height()))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self._watched_viewport:
            self._arrange()
        elif watched is self.splitter and event.type() == QEvent.Type.Resize:
            self._split()
        elif watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        elif watched is self.table.viewport() and event.type() == QEvent.Type.Leave:
            self._show_meaning(self.table.currentRow())  # back to the row selected
        return super().eventFilter(watched, event)

    def _room(self) -> QSize:
        """The room the panel has: its scroll area's view where it sits in one (its own
        height is then at least what the values above the plots need, which would keep
        them there, below the fold), else its own size."""
        parent = self.parentWidget()
        area = parent.parentWidget() if parent is not None else None
        viewport = (area.viewport() if isinstance(area, QScrollArea) and area.widget() is self
                    else None)
        if viewport is not self._watched_viewport:  # in a scroll area, out of one, another
            if self._watched_viewport is not None:
                self._watched_viewport.removeEventFilter(self)
            self._watched_viewport = viewport
            if viewport is not None:
                viewport.installEventFilter(self)
        return viewport.size() if viewport is not None else self.size()

    def _fit_columns(self) -> None:
        header = self.table.horizontalHeader()
        values_width = max(self.table.sizeHintForColumn(0), header.sectionSizeHint(0))
        room = self.table.viewport().width() - values_width
        hidden = self.table.isColumnHidden(1)
        narrow = room < MIN_MEANING_PX + (MEANING_HYSTERESIS_PX if hidden else 0)
        if narrow != hidden:
            self.table.setColumnHidden(1, narrow)
            # alone, the values' column takes the table's width (not a blank beside it)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch if narrow
                                        else QHeaderView.ResizeMode.ResizeToContents)
            self.meaning.setVisible(narrow)
            self._show_meaning(self.table.currentRow())
        # no taller than its rows, so that the meaning is right under them, not below the fold
        self.table.resizeRowsToContents()
        height = self._table_height()
        if height != self.table.maximumHeight():
            self.table.setMaximumHeight(height)
            self._split()

    def _show_meaning(self, row: int) -> None:
        item = self.table.item(row, 1) if row >= 0 else None
        if item is None or not item.text():
            self.meaning.setText(MEANING_HINT)
            return
        label = self.table.verticalHeaderItem(row).text()
        self.meaning.setText(f"<b>{html.escape(label, quote=False)}</b>: "
                             f"{html.escape(item.text(), quote=False)}")

    def _arrange(self) -> None:
        """Values beside the plots in a wide panel (a bottom dock), above them in a tall
        one (a side dock or a floating window); one at a time, on pages, in a short one."""
        size = self._room()
        wide = size.width() > WIDE_ASPECT * size.height() and size.width() >= MIN_WIDE_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            self._split_by_user = False
            self._split()
        spare = size.height() - self._needed_height(wide)
        paged = spare < (PAGES_HYSTERESIS_PX if self._paged else 0)
        if paged != self._paged:
            self._paged = paged
            self.page_tabs.setVisible(paged)
            self.pmf_plot.setMinimumHeight(PAGED_PLOT_PX if paged else SHARED_PLOT_PX)
            if paged:
                self._tab_row.addWidget(self.pmf_choice)
            else:
                self._pmf_column.insertWidget(0, self.pmf_choice)
            self.context.set_beside(paged)
            self.pmf.set_compact(paged)
            self._show_pages()
            # (once the splitter has laid out the views shown again: it gives each back the
            # size it had before it was hidden)
            QTimer.singleShot(0, self._split)

    def _split(self) -> None:
        """The values get what they need, the plots the rest, until the user drags the
        splitter (at half each, the PMF plot was 110 px wide in a full-HD window, and above
        it the table scrolled while a blank lay under the plot)."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if self._split_by_user or self._paged or total <= 0:
            return
        if self.splitter.orientation() == Qt.Orientation.Horizontal:
            first = min(total // 2, self._values_width())
        else:
            values = self._table_height() + (0 if self.meaning.isHidden() else
                                             self.values.layout().spacing()
                                             + self.meaning.height())
            first = min(values, max(total // 2, total - self._pictures_height()))
        if sizes[0] != first:
            self.splitter.setSizes([first, total - first])

    def _values_width(self) -> int:
        """The width the table needs for its labels and a typical long value (longer
        ones wrap), without the meanings' column."""
        table = self.table
        value = table.fontMetrics().horizontalAdvance(TYPICAL_LONG_VALUE)
        return (table.verticalHeader().sizeHint().width() + value + 2 * table.frameWidth()
                + table.verticalScrollBar().sizeHint().width() + CELL_PADDING_PX)

    def _needed_height(self, wide: bool) -> int:
        """The height the panel needs to show the values and the pictures together: the
        plots at full height, and above them (not beside) the table's every row."""
        pictures = self._pictures_height()
        content = (pictures if wide else
                   self._table_height() + self.splitter.handleWidth() + pictures)
        header = self.header.height()
        spacing = self.layout().spacing()
        margins = self.layout().contentsMargins()
        return (margins.top() + margins.bottom() + self._controls.sizeHint().height()
                + header + content + 2 * spacing)

    def _on_split_moved(self, *_args) -> None:
        self._split_by_user = True

    def _pictures_height(self) -> int:
        """The height the PMF plot (at full height) and the context grid need."""
        pmf = (self.pmf_choice.sizeHint().height() + self._pmf_column.spacing()
               + self.pmf.minimumSizeHint().height() - self.pmf_plot.minimumHeight()
               + SHARED_PLOT_PX)
        return max(pmf, self.context.stacked_height())

    def _table_height(self) -> int:
        """The height of the table with every row (and its horizontal scroll bar, shown)."""
        table = self.table
        scroll_bar = table.horizontalScrollBar()
        return (table.horizontalHeader().sizeHint().height() + table.verticalHeader().length()
                + 2 * table.frameWidth()
                + (scroll_bar.sizeHint().height() if scroll_bar.isVisible() else 0))

    def _show_pages(self) -> None:
        page = self.page() or ""
        self.values.setVisible(page in ("", "values"))
        self.plots.setVisible(page != "values")
        self.pmf_box.setVisible(page in ("", "pmf"))
        self.context.setVisible(page in ("", "context"))
        self.pmf_choice.setVisible(page in ("", "pmf"))

    # --- public interface ----------------------------------------------------------------
    def pinned_channel(self) -> int | None:
        """The channel the user pinned, or None for "the channel with the most bits"."""
        return None if self.auto_channel.isChecked() else self.channel_box.value()

    def set_channel(self, channel: int | None) -> None:
        """Pin ``channel`` (None: follow the most costly channel) and re-inspect."""
        self._updating_controls = True
        try:
            self.auto_channel.setChecked(channel is None)
            if channel is not None:
                self.channel_box.setValue(int(channel))
        finally:
            self._updating_controls = False
        self._reselect_following_mode()

    def inspect(self, row: int, col: int, channel: int | None = None):
        """Show element (channel, row, col) of the padded latent grid; see the module doc."""
        record = self._record()
        if record is None:
            return None
        m, height, width = record.y_hat.shape
        row, col = int(row), int(col)
        if not (0 <= row < height and 0 <= col < width):
            self.message.emit(f"latent position ({row}, {col}) is outside the latent grid "
                              f"{height}×{width}", "warning")
            return None
        if channel is not None and not 0 <= int(channel) < m:
            self.message.emit(f"channel {channel} does not exist: the latent has {m} "
                              "channels", "warning")
            return None
        shown_channel = self._resolve_channel(record, row, col, channel)
        msp, coding = self.session.model.config.msp, self.session.model.config.coding
        try:
            info = inspect_element(record, shown_channel, row, col,
                                   steps_per_scale=msp.steps_per_scale,
                                   symbol_bound=coding.symbol_bound)
        except MSPViewerError as error:
            self.message.emit(str(error), "warning")
            return None
        self._selection = (row, col, None if channel is None else int(channel))
        self._selection_shape = tuple(record.y_hat.shape)
        self._show(info, record, explicit=channel is not None)
        self.element_selected.emit(info.channel, info.row, info.col)
        return info

    def inspect_pixel(self, x: int, y: int, channel: int | None = None):
        """Inspect the latent position of image pixel (x, y), in ``channel`` (None: the
        inspector's choice); outside the image: a message."""
        record = self._record()
        if record is None:
            return None
        height, width = record.image_size
        if not (0 <= x < width and 0 <= y < height):
            self.message.emit(f"pixel ({x}, {y}) is outside the {width}×{height} image",
                              "info")
            return None
        row, col = image_to_latent(int(x), int(y))
        return self.inspect(row, col, channel)

    def step_position(self, d_row: int, d_col: int):
        """Inspect the position ``(d_row, d_col)`` latent steps from the selected one."""
        if self._selection is None:
            return None
        row, col, _ = self._selection
        record = self._record(quiet=True)
        if record is None:
            return None
        _, height, width = record.y_hat.shape
        row = min(max(row + d_row, 0), height - 1)
        col = min(max(col + d_col, 0), width - 1)
        return self.inspect(row, col)

    def clear(self) -> None:
        """Show the placeholder: nothing selected."""
        self.current = None
        self._selection = None
        self._selection_shape = None
        for key in FIELD_KEYS:
            self._set(key, "")
        text = PLACEHOLDER if self.session.result is not None else NO_RESULT_PLACEHOLDER
        self.header.setText(text)
        self.placeholder.setText(text)
        self.pmf.clear()
        self.context.clear()
        self.stack.setCurrentIndex(0)
        self._enable_moves(False)
        self.selection_cleared.emit()

    def _enable_moves(self, enabled: bool) -> None:
        for button in self.move_buttons.values():
            button.setEnabled(enabled)

    # --- read-only views for tests and scripts ----------------------------------------------
    def value_text(self, key: str) -> str:
        item = self.table.item(self._rows[key], 0)
        return item.text() if item is not None else ""

    def value_tooltip(self, key: str) -> str:
        item = self.table.item(self._rows[key], 0)
        return item.toolTip() if item is not None else ""

    def caption_text(self, key: str) -> str:
        item = self.table.item(self._rows[key], 1)
        return item.text() if item is not None else ""

    def page(self) -> str | None:
        """The page shown (a key of PAGES) where the room is too short for all of them
        together; None where they all show."""
        return list(PAGES)[self.page_tabs.currentIndex()] if self._paged else None

    def set_page(self, key: str) -> None:
        """Pick the page shown in a short room (kept for when the room gets short)."""
        if key not in PAGES:
            raise ValueError(f"unknown inspector page {key!r}; use one of {', '.join(PAGES)}")
        self.page_tabs.setCurrentIndex(list(PAGES).index(key))

    def pmf_view(self) -> str:
        """What the plot's bars show: "probability" or "bits" (a key of PMF_VIEWS)."""
        return self.pmf_view_box.currentData()

    def set_pmf_view(self, view: str) -> None:
        index = self.pmf_view_box.findData(view)
        if index < 0:
            raise ValueError(f"unknown PMF view {view!r}; use one of {', '.join(PMF_VIEWS)}")
        self.pmf_view_box.setCurrentIndex(index)

    def pmf_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(symbols, bar heights) as plotted: probabilities, or bits in the bits view."""
        return self.pmf.data()

    def highlighted_x(self) -> float | None:
        """The x of the highlighted (coded symbol) bar; None when nothing is shown."""
        return self.pmf.highlighted_x()

    def context_grid(self) -> np.ndarray | None:
        """The 3×3 grid as displayed: 1 known, 0 not known yet, -1 outside (centre 0); None
        when nothing is shown (clear() empties the grid)."""
        return self.context.grid()

    def showing_placeholder(self) -> bool:
        return self.stack.currentIndex() == 0

    # --- internals ---------------------------------------------------------------------------
    def _record(self, quiet: bool = False):
        result = self.session.result
        if result is None or self.session.model is None:
            if not quiet:
                self.message.emit("encode an image (or open a .msp file) first: nothing to "
                                  "inspect yet", "info")
            return None
        return result.analysis

    def _resolve_channel(self, record, row: int, col: int, channel: int | None) -> int:
        if channel is not None:
            return int(channel)
        pinned = self.pinned_channel()
        if pinned is not None and pinned < record.y_hat.shape[0]:
            return pinned
        # np.argmax returns the first maximum: ties go to the lowest channel index
        return int(np.argmax(record.bits[:, row, col]))

    def _reselect_following_mode(self) -> None:
        """Re-inspect the selected position with the channel mode of the controls."""
        if self._selection is not None and self._record(quiet=True) is not None:
            row, col, _ = self._selection
            self.inspect(row, col)

    def _on_auto_toggled(self, _checked: bool) -> None:
        if not self._updating_controls:
            self._reselect_following_mode()

    def _on_channel_picked(self, _value: int) -> None:
        if self._updating_controls:
            return
        self._updating_controls = True
        try:
            self.auto_channel.setChecked(False)  # picking a channel pins it
        finally:
            self._updating_controls = False
        self._reselect_following_mode()

    def _on_result_changed(self) -> None:
        result = self.session.result
        selection, shape = self._selection, self._selection_shape
        if result is None:
            self.clear()
            return
        channels = int(result.analysis.y_hat.shape[0])
        if self.channel_box.maximum() != channels - 1:
            self._updating_controls = True
            try:
                self.channel_box.setRange(0, channels - 1)
            finally:
                self._updating_controls = False
        if selection is not None and shape == tuple(result.analysis.y_hat.shape):
            row, col, channel = selection
            if self.inspect(row, col, channel) is not None:
                return
        self.clear()

    def _set(self, key: str, text: str, tooltip: str = "", caption: str | None = None
             ) -> None:
        row = self._rows[key]
        item = QTableWidgetItem(text)
        meaning = FIELDS[row][2] if caption is None else caption
        # (the meaning too: a narrow table hides its column)
        tooltip = "\n".join(part for part in (tooltip, meaning if text else "") if part)
        if tooltip:
            item.setToolTip(tooltip)
        self.table.setItem(row, 0, item)
        caption_item = QTableWidgetItem(meaning if text else "")
        caption_item.setForeground(QBrush(QColor("#555555")))
        self.table.setItem(row, 1, caption_item)

    def _show(self, info, record, explicit: bool) -> None:
        self.current = info
        self._updating_controls = True
        try:
            self.channel_box.setValue(info.channel)
        finally:
            self._updating_controls = False
        steps = self.session.model.config.msp.steps_per_scale
        bound = self.session.model.config.coding.symbol_bound
        num_passes = len(record.passes)
        how = ("as asked" if explicit else
               "pinned" if self.pinned_channel() is not None else
               "the channel of this position that cost the most bits")
        x0, y0, x1, y1 = latent_to_image(info.row, info.col)
        # the last row/column of positions also covers the padding: name real pixels only
        height, width = record.image_size
        x1, y1 = min(x1, width), min(y1, height)
        self.header.setText(
            f"<b>channel {info.channel}</b> ({how}) at latent row {info.row}, col {info.col}"
            f" · image pixels x {x0}–{x1 - 1}, y {y0}–{y1 - 1}")

        self._set("element", f"channel {info.channel}, row {info.row}, col {info.col}")
        kind = "coarsest, " if info.step == "coarsest" else ""
        self._set("scale", f"{info.scale} ({kind}stride {info.stride})",
                  f"lattice coordinates (row {info.lattice_row}, col {info.lattice_col})")
        self._set("step", info.step, caption=step_caption(info.step, steps))
        self._set("group", f"{info.group} (channels {info.channel_start}–"
                           f"{info.channel_stop - 1})")
        self._set("pass", f"{info.pass_index}: {info.pass_label}")
        self._set("order", f"{info.pass_index + 1} of {num_passes} passes")
        self._set("y_hat", sig4(info.y_hat), f"full precision: {info.y_hat!r}")
        self._set("mu", sig4(info.mu), f"full precision: {info.mu!r}")
        self._set("sigma", sig4(info.sigma), f"full precision: {info.sigma!r}")
        self._set("symbol", f"{info.symbol:d}",
                  f"round(ŷ − μ) = round({info.y_hat!r} − {info.mu!r})")
        floored = info.symbol_probability <= MIN_PROBABILITY
        self._set("probability", sig4(info.symbol_probability)
                  + (" (floored)" if floored else ""),
                  f"full precision: {info.symbol_probability!r}"
                  + (f"\n(floored at 2^-24 = {MIN_PROBABILITY:.3g}: no symbol is impossible)"
                     if floored else ""))
        self._set("bits", f"{info.bits:.4f} bits", f"full precision: {info.bits!r}")
        if info.bits_match:
            check = f"equal to −log2 P = {info.computed_bits:.4f} ✓"
        else:
            check = f"DIFFERS: −log2 P = {info.computed_bits:.4f} ✗"
        self._set("bits_check", check, f"recomputed: {info.computed_bits!r}")
        self._set("escaped", f"yes (|symbol| ≥ {bound})" if info.escaped else "no")
        reference = getattr(self.session.result, "reference", None)
        plain = reference is None or reference.is_plain
        self.table.verticalHeaderItem(self._rows["without_lof"]).setText(
            "Without LOF" if plain else "In the reference")
        if reference is None:  # the why goes in the caption, which wraps
            self._set("without_lof", "none",
                      caption=self.session.result.no_reference_reason())
        else:
            self._set("without_lof",
                      without_lof_text(reference.analysis, info, reference.result_name),
                      caption=None if plain else f"this element in {reference.describe()}")
        context = info.spatial_context
        neighbours = sum(1 for inside, offset in zip(context.inside, context.offsets)
                         if inside and offset != (0, 0))
        self._set("neighbours", f"{context.num_known} of {neighbours} known")
        self._set("channels", f"{info.known_channels} channels" if info.known_channels
                  else "none (first group)")

        self._fit_columns()  # (the values' column fits its new texts)
        self._show_meaning(self.table.currentRow())  # (this element's, not the last one's)
        self.pmf.show_element(info, bound)
        self.context.show_element(info, record.y_hat)
        self.stack.setCurrentIndex(1)
        self._enable_moves(True)
