"""Compare view: original and decoded side by side, split slider, difference heatmap, flicker.

The side-by-side panes share one zoom and pan (linked pyqtgraph ViewBoxes); an optional
third pane shows a classic codec at the learned codec's rate. Flicker mode shows one pane
that swaps the original (A) with the decoded image (B) in place, by a timer or with Space:
artifacts show up as what moves. Moving the mouse over any pane reports the pixel values of
every image at that position.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPen, QShortcut
from PySide6.QtWidgets import (QComboBox, QGraphicsItem, QGraphicsRectItem, QHBoxLayout,
                               QLabel, QPushButton, QStackedWidget, QToolButton, QVBoxLayout,
                               QWidget)

from mspviewer.gui.latent_data import finite_levels, region_bits_per_pixel
from mspviewer.gui.outcomes import PLAIN_PANE, PLAIN_PANE_LABEL
from mspviewer.gui.widgets.common import (ERROR_MAP, FittedAxisLabel, Mark, Title,
                                          colormap, fit_box, heat_item, image_viewbox,
                                          info_label, is_fitted, keep_view, link_image_view,
                                          narrow_combo, observe, placeholder, plain_axes,
                                          rgb_item, set_rgb, view_of)
from mspviewer.gui.widgets.region import (NOTHING_IN_VIEW, Coding, region_line,
                                          visible_region)

MODES = {"side": "Side by side", "split": "Split slider", "difference": "Difference",
         "flicker": "Flicker (A/B)"}
SPLIT_TITLE = "Original (left) | decoded (right): drag the line"
#: why a stream opened alone has nothing to set against its decoded image
NO_ORIGINAL = "the stream's source is not open"
#: the view with no image and no result (the panes' titles had been cut to "Original: none",
#: "Decoded (MSP): …": no word of what to do)
NOTHING_OPEN = ("Open an image to compress: File ▸ Open (or Open sample image), or drop "
                "an image or a .msp file on the window. Then press Encode.")
#: how long each image stays on screen while flicker mode plays (label, milliseconds)
FLICKER_PERIODS = (("250 ms", 250), ("500 ms", 500), ("1 s", 1000))
DEFAULT_FLICKER_MS = 500
#: flicker mode's B image: the MSP result, or whatever the third pane shows
FLICKER_B_CHOICES = (("MSP", "msp"), ("third pane", "third"))
IMAGE_BACKGROUND = "#d9d9d9"
#: the region line waits this long after the last pan or zoom (milliseconds): its PSNRs
#: read every pixel in view, once the view has settled
REGION_DELAY_MS = 80
REGION_TOOLTIP = ("PSNR-RGB of the part of the image the view shows, from its pixels: zoom in "
                  "on an artifact to see which coding loses there, and by how much. MSP's "
                  "bpp there is the model's bits of the 16×16 blocks in view, each shared "
                  "evenly by its pixels (the bits map of Bit allocation)")
#: the difference maps' colour levels come from every LEVEL_STRIDE-th pixel each way: a
#: percentile over a whole 4K map (twice) would hold the GUI thread for a noticeable time
LEVEL_STRIDE = 4


def difference_levels(maps, stride: int = LEVEL_STRIDE) -> tuple[float, float]:
    """Colour levels of difference maps, from a strided sample of their pixels."""
    return finite_levels([np.asarray(m)[::stride, ::stride] for m in maps])


def pane_name(entry) -> str:
    """The third pane's name at its shortest: a codec's label, "no LOF" or "reference"."""
    if entry.codec != PLAIN_PANE:
        return entry.label
    return "no LOF" if entry.label == PLAIN_PANE_LABEL else "reference"


def shorter_titles(name: str, bpp: float, difference: bool) -> tuple[str, ...]:
    """A pane's titles for a narrow pane, most to least complete. Each keeps the pane's name:
    titles of rates alone left two panes of "0.1111 bpp" that could not be told apart."""
    name = f"|Δ| {name}" if difference else name
    return f"{name} {bpp:.4f} bpp", f"{name} {bpp:.4f}", name


def _no_difference(pane, label: str, name: str) -> None:
    """Difference mode with no original: an empty pane that says so (its picture under a
    difference colour bar would lie). ``name`` is the pane's name at its shortest."""
    pane.rgb.clear()
    # narrow, "no original" stays and the |Δ| goes ("|Δ| MSP" over an empty pane said
    # nothing of why it was empty)
    pane.title.setText(f"|Original − {label}|: no original ({NO_ORIGINAL})",
                       shorter=(f"|Δ| {name}: no original", f"{name}: no original",
                                "no original"))


class _Pane:
    """One ViewBox with an RGB item, a heatmap item (difference mode) and a title."""

    def __init__(self, title: str):
        self.title = Title(title, elide=True, size="10pt")
        self.box = image_viewbox()
        self.box.setMinimumWidth(40)
        self.rgb = rgb_item()
        self.heat = heat_item(ERROR_MAP)
        self.box.addItem(self.rgb)
        self.box.addItem(self.heat)
        self.heat.setVisible(False)

    def shows_picture(self) -> bool:
        return (self.rgb.isVisible() and self.rgb.image is not None) or \
            (self.heat.isVisible() and self.heat.image is not None)


class CompareView(QWidget):
    #: the classic codec picked for the third pane ("" for none)
    classic_codec_changed = Signal(str)
    #: a click on an image: (x, y) in image pixels (for inspection tools)
    image_clicked = Signal(int, int)

    def __init__(self, session, codecs: list[tuple[str, str, bool]] = (), scheduler=None,
                 parent=None):
        super().__init__(parent)
        self.session = session
        self.mode = "side"
        self._diff_levels = (0.0, 1.0)

        # --- controls --------------------------------------------------------------------
        self.mode_box = QComboBox()
        for key, label in MODES.items():
            self.mode_box.addItem(label, key)
        self.mode_box.currentIndexChanged.connect(
            lambda _: self.set_mode(self.mode_box.currentData()))
        self.classic_box = QComboBox()
        self.classic_box.addItem("no third pane", "")
        # the result's own plain encoding: what LOF changed, at the same λ
        self.classic_box.addItem(f"{PLAIN_PANE_LABEL} (same λ)", PLAIN_PANE)
        for name, label, available in codecs:
            self.classic_box.addItem(label if available else f"{label} (unavailable)", name)
            if not available:
                index = self.classic_box.count() - 1
                self.classic_box.model().item(index).setEnabled(False)
        self.classic_box.setToolTip("A classic codec at the same bpp as the learned codec, or "
                                    "the learned codec at the same λ without LOF (after a "
                                    "quick, balanced or max encode) or as the .msp set with "
                                    "File ▸ Set a reference .msp")
        self.classic_box.currentIndexChanged.connect(
            lambda _: self.classic_codec_changed.emit(self.classic_box.currentData() or ""))
        self.fit_button = QToolButton()  # (a push button is 80 px wide at the least)
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the whole image")
        self.fit_button.clicked.connect(self.zoom_fit)
        self.one_button = QToolButton()
        self.one_button.setText("1:1")
        self.one_button.setToolTip("One image pixel per screen pixel")
        self.one_button.clicked.connect(self.zoom_one_to_one)
        self.flicker_controls = self._build_flicker_controls()
        for box in (self.mode_box, self.classic_box):
            narrow_combo(box, 8)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("View:"))
        bar.addWidget(self.mode_box)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Third pane:"))
        bar.addWidget(self.classic_box)
        bar.addStretch(1)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.one_button)

        # --- side by side (and difference) ------------------------------------------------
        self.side_view = pg.GraphicsLayoutWidget()
        self.side_view.setBackground(IMAGE_BACKGROUND)
        self.original = _Pane("Original")
        self.decoded = _Pane("Decoded (MSP)")
        self.classic = _Pane("Classic codec")
        for pane in (self.decoded, self.classic):
            link_image_view(pane.box, self.original.box)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=colormap(ERROR_MAP),
                                         interactive=True, width=15)
        self.color_bar.setImageItem([self.decoded.heat, self.classic.heat])
        plain_axes(self.color_bar)
        self.color_bar_label = FittedAxisLabel(self.color_bar, "mean |Δ| over RGB", "|Δ|")

        # --- split slider ------------------------------------------------------------------
        self.split_view = pg.GraphicsLayoutWidget()
        self.split_view.setBackground(IMAGE_BACKGROUND)
        self.split_title = Title(SPLIT_TITLE, elide=True, size="10pt")
        self.split_box = image_viewbox()
        self.split_left = rgb_item()
        self.split_right = rgb_item()
        # The decoded image is uploaded once and a clipping rectangle shows its right part:
        # dragging moves only the rectangle, where re-slicing the image on every mouse event
        # would copy and re-render the whole right part each time (slow on large images).
        self.split_clip = QGraphicsRectItem()
        self.split_clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.split_clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.split_box.addItem(self.split_left)
        self.split_box.addItem(self.split_clip, ignoreBounds=True)
        self.split_right.setParentItem(self.split_clip)
        self.split_line = pg.InfiniteLine(angle=90, movable=True,
                                          pen=pg.mkPen("#ff3030", width=2),
                                          hoverPen=pg.mkPen("#ffcc00", width=3))
        self.split_box.addItem(self.split_line)
        self.split_line.sigPositionChanged.connect(self._update_split)
        self.split_view.ci.addItem(self.split_title, row=0, col=0)
        self.split_view.ci.addItem(self.split_box, row=1, col=0)

        # --- flicker -----------------------------------------------------------------------
        self.flicker_view = pg.GraphicsLayoutWidget()
        self.flicker_view.setBackground(IMAGE_BACKGROUND)
        # (cut to the pane's width: a plain label asked for its text's width, and a long
        # one pushed the picture past the pane's right edge)
        self.flicker_title = Title("", elide=True, size="10pt")
        self.flicker_box = image_viewbox()
        # Both images are uploaded once and a flick only swaps which one is visible: setting
        # a large image again on every flick would stall the event loop.
        self.flicker_a = rgb_item()
        self.flicker_b = rgb_item()
        self.flicker_box.addItem(self.flicker_a)
        self.flicker_box.addItem(self.flicker_b)
        self.flicker_view.ci.addItem(self.flicker_title, row=0, col=0)
        self.flicker_view.ci.addItem(self.flicker_box, row=1, col=0)
        #: which image the flicker pane shows now: "A" (the original) or "B"
        self.flicker_showing = "A"
        self._flicker_b_label = ""
        # Scoped to this view, and enabled in flicker mode only: a window-wide Space would
        # take the key from every button and spin box of the window.
        self.flick_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        self.flick_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.flick_shortcut.setEnabled(False)
        self.flick_shortcut.activated.connect(self.flick)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.side_view)
        self.stack.addWidget(self.split_view)
        self.stack.addWidget(self.flicker_view)
        self.nothing_open = placeholder(NOTHING_OPEN)
        self.nothing_open.setWordWrap(True)
        self.stack.addWidget(self.nothing_open)

        self.readout = info_label(monospace=True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.region_label = info_label()
        self.region_label.setToolTip(REGION_TOOLTIP)
        self.region_timer = QTimer(self)
        self.region_timer.setSingleShot(True)
        self.region_timer.setInterval(REGION_DELAY_MS)
        self.region_timer.timeout.connect(self.show_region)
        #: the inspected element's block of pixels, outlined in every view of the image
        self.marks = {box: Mark() for box in (self.original.box, self.decoded.box,
                                              self.classic.box, self.split_box,
                                              self.flicker_box)}
        self._marked_rect: QRectF | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        # a row of their own: in the bar they made a laptop's window 200 px wider than its
        # screen in flicker mode
        layout.addWidget(self.flicker_controls)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.readout)
        layout.addWidget(self.region_label)

        for scene in (self.side_view.scene(), self.split_view.scene(),
                      self.flicker_view.scene()):
            scene.sigMouseMoved.connect(self._on_mouse_moved)
            scene.sigMouseClicked.connect(self._on_mouse_clicked)
        for signal in (session.image_changed, session.result_changed, session.reference_changed,
                       session.classic_changed):
            observe(signal, self.refresh, scheduler)
        for box in (self.original.box, self.split_box, self.flicker_box):
            box.sigRangeChanged.connect(lambda *_args: self.region_timer.start())
        self._layout_side()
        self.refresh()

    def _build_flicker_controls(self) -> QWidget:
        """B's choice, the period and Play / Pause: shown in flicker mode only."""
        self.flicker_timer = QTimer(self)
        self.flicker_timer.setInterval(DEFAULT_FLICKER_MS)
        self.flicker_timer.timeout.connect(self.flick)
        self.flicker_b_box = QComboBox()
        for label, key in FLICKER_B_CHOICES:
            self.flicker_b_box.addItem(label, key)
        self.flicker_b_box.setToolTip("What B is: the MSP decoded image or the third pane's")
        self.flicker_b_box.currentIndexChanged.connect(lambda _: self._refresh_flicker())
        # offered only while the third pane shows an image: otherwise B can only be MSP
        self.flicker_b_controls = QWidget()
        row = QHBoxLayout(self.flicker_b_controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("A: the original · B:"))
        row.addWidget(self.flicker_b_box)
        self.flicker_period_box = QComboBox()
        for label, milliseconds in FLICKER_PERIODS:
            self.flicker_period_box.addItem(label, milliseconds)
        self.flicker_period_box.setCurrentIndex(
            self.flicker_period_box.findData(DEFAULT_FLICKER_MS))
        self.flicker_period_box.setToolTip("How long each image stays on screen while playing")
        self.flicker_period_box.currentIndexChanged.connect(
            lambda _: self.flicker_timer.setInterval(self.flicker_period_box.currentData()))
        self.flicker_play = QPushButton("Play")
        self.flicker_play.setCheckable(True)
        self.flicker_play.setToolTip("Swap A and B by themselves; Space swaps them once")
        self.flicker_play.toggled.connect(self._on_flicker_play)
        controls = QWidget()
        row = QHBoxLayout(controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.flicker_b_controls)
        row.addWidget(self.flicker_period_box)
        row.addWidget(self.flicker_play)
        row.addStretch(1)
        # Space belongs to the flicker: a focused Play button or combo box would take it
        for widget in (self.flicker_b_box, self.flicker_period_box, self.flicker_play):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        controls.setVisible(False)
        return controls

    # --- data -------------------------------------------------------------------------------
    def original_pixels(self) -> np.ndarray | None:
        result = self.session.result
        if result is not None:
            return result.original
        return self.session.image.pixels if self.session.image is not None else None

    def decoded_pixels(self) -> np.ndarray | None:
        result = self.session.result
        return result.decoded if result is not None else None

    def classic_pixels(self) -> np.ndarray | None:
        classic = self.session.classic
        return classic.decoded if classic is not None else None

    def show_classic(self) -> bool:
        return bool(self.classic_box.currentData())

    def third_pane_image_shown(self) -> bool:
        return self.show_classic() and self.session.classic is not None

    def image_size(self) -> tuple[int, int] | None:
        for pixels in (self.original_pixels(), self.decoded_pixels()):
            if pixels is not None:
                return pixels.shape[0], pixels.shape[1]
        return None

    # --- modes and layout ----------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        leaving = self.master_box()
        self.mode = mode
        index = self.mode_box.findData(mode)
        if self.mode_box.currentIndex() != index:
            self.mode_box.blockSignals(True)
            self.mode_box.setCurrentIndex(index)
            self.mode_box.blockSignals(False)
        self._show_view()
        # the zoom and pan carry over: the view entered shows the same point at the same
        # scale as the one left (its rect, in a box of another shape, had zoomed out), or
        # stays fitted to its size where the one left was
        entering = self.master_box()
        if entering is not leaving:
            size = self.image_size()
            if is_fitted(leaving) and size is not None:
                fit_box(entering, size[1], size[0])
            else:
                keep_view(entering, view_of(leaving) or getattr(leaving, "_kept_view", None))
        flicker = mode == "flicker"
        self.flicker_controls.setVisible(flicker)
        self.flick_shortcut.setEnabled(flicker)
        if flicker:  # so that Space flicks at once, without a click in the image first
            self.flicker_view.setFocus(Qt.FocusReason.OtherFocusReason)
        if not flicker:
            self.flicker_play.setChecked(False)  # stops the timer
        self._layout_side()
        self.refresh()

    def set_classic_codec(self, name: str) -> None:
        index = self.classic_box.findData(name)
        if index < 0:
            names = [self.classic_box.itemData(i) or "none"
                     for i in range(self.classic_box.count())]
            raise ValueError(f"no classic codec {name!r} in the third-pane list; use one of "
                             f"{', '.join(names)}")
        self.classic_box.setCurrentIndex(index)

    def _layout_side(self) -> None:
        key = (self.mode == "difference", self.show_classic())
        if getattr(self, "_layout_key", None) == key:
            return
        self._layout_key = key
        layout = self.side_view.ci
        layout.clear()
        panes = [self.original, self.decoded] + ([self.classic] if self.show_classic() else [])
        grid = layout.layout
        for col, pane in enumerate(panes):
            layout.addItem(pane.title, row=0, col=col)
            layout.addItem(pane.box, row=1, col=col)
            grid.setColumnStretchFactor(col, 1)
        for col in range(len(panes), 4):
            grid.setColumnStretchFactor(col, 0)
        if self.mode == "difference":
            layout.addItem(self.color_bar, row=1, col=len(panes))

    def _show_view(self) -> None:
        """The mode's view, or what to do where there is nothing to show."""
        if self.session.image is None and self.session.result is None:
            self.stack.setCurrentWidget(self.nothing_open)
        else:
            self.stack.setCurrentWidget({"split": self.split_view,
                                         "flicker": self.flicker_view}
                                        .get(self.mode, self.side_view))

    # --- refresh ----------------------------------------------------------------------------
    def refresh(self) -> None:
        self._show_view()
        self._layout_side()
        self._name_reference_item()
        original, decoded = self.original_pixels(), self.decoded_pixels()
        classic = self.classic_pixels() if self.show_classic() else None
        result = self.session.result
        difference = self.mode == "difference"
        set_rgb(self.original.rgb, original)
        self.original.title.setText("Original" if original is not None else
                                    f"Original (none: {NO_ORIGINAL})",
                                    shorter=("Original: none",))
        # decoded pane
        self.decoded.rgb.setVisible(False)
        self.decoded.heat.setVisible(False)
        if result is None:
            self.decoded.title.setText("Decoded (MSP): press Encode")
            self.decoded.rgb.clear()
        elif difference and result.difference is not None:
            self._set_heat(self.decoded.heat, result.difference)
            self.decoded.title.setText(f"|Original − MSP| ({result.bpp:.4f} bpp)",
                                       shorter=shorter_titles("MSP", result.bpp, True))
        elif difference:
            _no_difference(self.decoded, "MSP", "MSP")
        else:
            set_rgb(self.decoded.rgb, decoded)
            self.decoded.title.setText(self._decoded_label(result),
                                       shorter=shorter_titles("MSP", result.bpp, False))
        # classic pane
        self.classic.rgb.setVisible(False)
        self.classic.heat.setVisible(False)
        entry = self.session.classic
        if self.show_classic():
            if entry is None:
                self.classic.title.setText(f"{self.classic_box.currentText()}: "
                                           f"{self._waiting_for(result)}")
                self.classic.rgb.clear()
            elif difference and entry.difference is not None:
                self._set_heat(self.classic.heat, entry.difference)  # computed by its task
                self.classic.title.setText(f"|Original − {entry.label}| "
                                           f"({entry.point.bpp:.4f} bpp)",
                                           shorter=shorter_titles(pane_name(entry),
                                                                  entry.point.bpp, True))
            elif difference:  # (a reference stream's picture, with no original open)
                _no_difference(self.classic, entry.label, pane_name(entry))
            else:
                set_rgb(self.classic.rgb, classic)
                shorter = shorter_titles(pane_name(entry), entry.point.bpp, False)
                whole_name = f"{entry.label} {entry.point.bpp:.4f} bpp"
                if whole_name != shorter[0]:  # (a codec's own label is already its shortest)
                    shorter = (whole_name, *shorter)
                self.classic.title.setText(self._classic_label(entry), shorter=shorter)
        if difference:
            heats = [p.heat.image for p in (self.decoded, self.classic)
                     if p.heat.isVisible() and p.heat.image is not None]
            self._diff_levels = difference_levels(heats) if heats else (0.0, 1.0)
            self._diff_levels = (0.0, max(self._diff_levels[1], 1.0))
            self.color_bar.setLevels(self._diff_levels)
            self.color_bar.setVisible(bool(heats))  # (no scale for no difference)
        size = self.image_size()
        if self.mode == "split":  # (only drawn when shown: set_mode refreshes)
            set_rgb(self.split_left, original if original is not None else decoded)
            set_rgb(self.split_right, decoded)
            both = original is not None and decoded is not None
            self.split_line.setVisible(both)
            if both:
                self.split_title.setText(SPLIT_TITLE)
            elif original is not None:
                self.split_title.setText("Original: encode to split it against the decoded "
                                         "image", shorter=("Original only",))
            elif decoded is not None:
                self.split_title.setText(f"Decoded only: no original to split against "
                                         f"({NO_ORIGINAL})", shorter=("Decoded only",))
            else:
                self.split_title.setText("Open an image and encode it to split original "
                                         "and decoded", shorter=("Nothing to split",))
            if size is not None:
                self.split_line.setBounds((0, size[1]))
                if not 0 < self.split_line.value() < size[1]:
                    self.split_line.setValue(size[1] / 2)
            self._update_split()
        if self.mode == "flicker":  # (likewise)
            self._refresh_flicker()
        if size is not None and getattr(self, "_fitted_size", None) != size:
            self._fitted_size = size
            self.zoom_fit()
        self.mark_block(self._marked_rect)  # (on the panes that show a picture now)
        self.region_timer.start()

    @staticmethod
    def _decoded_label(result) -> str:
        state = " · cancelled, best so far" if result.cancelled else ""
        return f"Decoded (MSP {result.profile or 'file'}, {result.bpp:.4f} bpp{state})"

    @staticmethod
    def _classic_label(entry) -> str:
        setting = entry.setting_text  # (as Metrics names it)
        if entry.misses_target:
            # the codec cannot get down to MSP's rate here: not a same-size comparison
            return (f"{entry.label} {setting} ({entry.point.bpp:.4f} bpp: its smallest, "
                    f"above {entry.target_bpp:.4f})")
        return f"{entry.label} {setting} ({entry.point.bpp:.4f} bpp)"

    def _name_reference_item(self) -> None:
        """The third-pane choice of the reference says which one the result has."""
        reference = getattr(self.session.result, "reference", None)
        label = reference.label if reference is not None else PLAIN_PANE_LABEL
        index = self.classic_box.findData(PLAIN_PANE)
        if self.classic_box.itemText(index) != f"{label} (same λ)":
            self.classic_box.setItemText(index, f"{label} (same λ)")

    def _waiting_for(self, result) -> str:
        """Why the third pane is empty: "waiting" only when something is coming."""
        if result is None:
            return "encode first"
        if self.classic_box.currentData() == PLAIN_PANE:
            if result.reference is None:
                return result.no_reference_reason()
        elif result.original is None:
            return "no original to code (open the image this stream was encoded from)"
        elif self.session.classic_problem:
            return f"failed: {self.session.classic_problem}"
        return "waiting for a result"

    def _set_heat(self, item: pg.ImageItem, values: np.ndarray) -> None:
        item.setVisible(True)
        item.setImage(values, autoLevels=False)
        item.setRect(QRectF(0, 0, values.shape[1], values.shape[0]))

    def _update_split(self) -> None:
        if self.mode != "split":
            return
        decoded = self.decoded_pixels()
        if decoded is None:
            self.split_clip.setRect(QRectF())
            return
        height, width = decoded.shape[:2]
        x = int(round(min(max(self.split_line.value(), 0), width)))  # whole pixels
        self.split_clip.setRect(QRectF(x, 0, width - x, height))

    # --- flicker ----------------------------------------------------------------------------
    def _flicker_b(self) -> tuple[np.ndarray | None, str]:
        """B's pixels and label: the third pane's image if chosen (and shown), else MSP's."""
        if self.flicker_b_box.currentData() == "third" and self.third_pane_image_shown():
            return self.classic_pixels(), self._classic_label(self.session.classic)
        result = self.session.result
        return (None, "") if result is None else (result.decoded, self._decoded_label(result))

    def _refresh_flicker(self) -> None:
        self.flicker_b_controls.setVisible(self.third_pane_image_shown())
        b_pixels, self._flicker_b_label = self._flicker_b()
        set_rgb(self.flicker_a, self.original_pixels())
        set_rgb(self.flicker_b, b_pixels)
        if not self.can_flick():
            # one image or none: show what there is, and nothing may play
            self.flicker_showing = "B" if self.flicker_b.image is not None else "A"
            self.flicker_play.setChecked(False)
        self.flicker_play.setEnabled(self.can_flick())
        self._show_flicker_side()

    def can_flick(self) -> bool:
        """Both images are in the flicker pane."""
        return self.flicker_a.image is not None and self.flicker_b.image is not None

    def flick(self) -> None:
        """Swap A and B once (Space, or the timer while playing)."""
        if self.mode != "flicker" or not self.can_flick():
            return
        self.flicker_showing = "B" if self.flicker_showing == "A" else "A"
        self._show_flicker_side()

    def _show_flicker_side(self) -> None:
        """Make the side named by ``flicker_showing`` visible and say on the title what it is
        (a screenshot or a viewer must never have to guess)."""
        showing_a = self.flicker_showing == "A"
        self.flicker_a.setVisible(showing_a and self.flicker_a.image is not None)
        self.flicker_b.setVisible(not showing_a and self.flicker_b.image is not None)
        if self.can_flick():
            title = "A: Original" if showing_a else f"B: {self._flicker_b_label}"
        elif self.flicker_a.image is not None:
            title = "Original — encode to flick against the decoded image"
        elif self.flicker_b.image is not None:
            title = f"{self._flicker_b_label} — no original to flick against ({NO_ORIGINAL})"
        else:
            title = "Open an image, then encode it, to flick between original and decoded"
        self.flicker_title.setText(title)

    def _on_flicker_play(self, playing: bool) -> None:
        self.flicker_play.setText("Pause" if playing else "Play")
        self._update_flicker_timer()

    def _update_flicker_timer(self) -> None:
        """Run the timer only while it has something to flick on screen (pausing keeps the
        image shown)."""
        if (self.mode == "flicker" and self.flicker_play.isChecked() and self.can_flick()
                and self.isVisible()):
            if not self.flicker_timer.isActive():
                self.flicker_timer.start()
        else:
            self.flicker_timer.stop()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._update_flicker_timer()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.flicker_timer.stop()  # hidden (the blind test, a minimised window): no flicking

    # --- the region in view -------------------------------------------------------------------
    def show_region(self) -> None:
        """The line under the view: PSNR-RGB of MSP, and of the third pane's coding, in the
        part of the image the view shows (blank without a result and its original)."""
        result, original, size = self.session.result, self.original_pixels(), self.image_size()
        if result is None or original is None or size is None:
            self.region_label.setText(" ")
            return
        region = visible_region(self.master_box().viewRect(), size[1], size[0])
        if region is None:
            self.region_label.setText(NOTHING_IN_VIEW)
            return
        codings = [Coding("MSP", result.decoded, result.point.psnr_rgb if result.point else None,
                          region_bits_per_pixel(result.analysis, region))]
        entry = self.session.classic
        if self.third_pane_image_shown() and entry.decoded is not None \
                and entry.decoded.shape == original.shape:
            # (a codec that cannot get down to MSP's rate: not a same-size comparison)
            note = f"its smallest: {entry.point.bpp:.2f} bpp" if entry.misses_target else ""
            codings.append(Coding(pane_name(entry), entry.decoded,
                                  entry.point.psnr_rgb if entry.point is not None else None,
                                  note=note))
        self.region_label.setText(region_line(region, original, codings))

    # --- zoom ---------------------------------------------------------------------------------
    def master_box(self) -> pg.ViewBox:
        return {"split": self.split_box, "flicker": self.flicker_box}.get(self.mode,
                                                                          self.original.box)

    def zoom_fit(self) -> None:
        size = self.image_size()
        if size is None:
            return
        for box in (self.original.box, self.split_box, self.flicker_box):
            fit_box(box, size[1], size[0])

    def zoom_one_to_one(self) -> None:
        """One image pixel per device pixel, keeping the current centre."""
        box = self.master_box()
        width, height = box.width(), box.height()
        if width <= 0 or height <= 0:
            return
        centre = box.viewRect().center()
        x0 = math.floor(centre.x() - width / 2)
        y0 = math.floor(centre.y() - height / 2)
        box.setRange(QRectF(x0, y0, width, height), padding=0)
        keep_view(box)  # (1:1 through a resized window or a pane added)

    def mark_block(self, rect: QRectF | None) -> None:
        """Outline ``rect`` (image pixels: the inspected element's block) in every view of
        the image; None: no outline. A pane with no picture (no original beside a stream
        opened alone) gets none: an outline floating over nothing."""
        self._marked_rect = rect
        panes = {pane.box: pane for pane in (self.original, self.decoded, self.classic)}
        for box, mark in self.marks.items():
            pane = panes.get(box)
            if rect is None or (pane is not None and not pane.shows_picture()):
                mark.hide()
            else:
                mark.show(box, rect)

    # --- mouse ------------------------------------------------------------------------------
    def _boxes(self) -> list[pg.ViewBox]:
        if self.mode in ("split", "flicker"):
            return [self.master_box()]
        return [self.original.box, self.decoded.box] + \
            ([self.classic.box] if self.show_classic() else [])

    def _position(self, scene_pos) -> tuple[int, int] | None:
        for box in self._boxes():
            if box.sceneBoundingRect().contains(scene_pos):
                point = box.mapSceneToView(scene_pos)
                return math.floor(point.x()), math.floor(point.y())
        return None

    def _on_mouse_moved(self, scene_pos) -> None:
        position = self._position(scene_pos)
        self.readout.setText(self.pixel_info(*position) if position else " ")

    def _on_mouse_clicked(self, event) -> None:
        position = self._position(event.scenePos())
        size = self.image_size()
        if position and size and 0 <= position[0] < size[1] and 0 <= position[1] < size[0]:
            self.image_clicked.emit(*position)

    def pixel_info(self, x: int, y: int) -> str:
        """The values of every shown image at pixel (x, y); empty outside the image."""
        size = self.image_size()
        if size is None or not (0 <= x < size[1] and 0 <= y < size[0]):
            return " "
        parts = [f"x {x}, y {y}"]
        original = self.original_pixels()
        for name, pixels in (("original", original), ("MSP", self.decoded_pixels()),
                             (self.session.classic.label if self.session.classic else "",
                              self.classic_pixels() if self.show_classic() else None)):
            if pixels is None:
                continue
            r, g, b = (int(v) for v in pixels[y, x])
            text = f"{name} ({r:3d}, {g:3d}, {b:3d})"
            if original is not None and pixels is not original:
                delta = np.abs(pixels[y, x].astype(int) - original[y, x].astype(int))
                text += f" |Δ| {delta.mean():.1f}"
            parts.append(text)
        return " · ".join(parts)
