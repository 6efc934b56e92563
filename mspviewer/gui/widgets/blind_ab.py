"""Blind A/B test: two unlabelled versions of the image at the same size, the viewer picks.

The two variants are the learned codec's decoded image (``session.result``) and the classic
codec of the compare view's third pane at the same bpp (``session.classic``). Each round puts
them on sides A and B at random, with nothing on screen that tells them apart but their
pixels; after the viewer picks, the labels are revealed and a running tally is kept. The
original can be shown as a third, labelled pane (a reference, not part of the blind pair).

Public interface (for the main window and the tests):

- ``BlindABPanel(session, rng=None, parent=None)``: ``rng`` is a ``random.Random``, a numpy
  ``Generator`` or an int seed (default: a fresh ``random.Random``).
- ``new_round() -> bool``: start a round; ``False`` (and a ``message``) when the session has
  no result or no classic variant yet.
- ``choose(side) -> bool``: record the viewer's pick, ``"A"``, ``"B"`` or ``TIE`` ("can't
  tell"), and reveal; ``False`` when there is no open round (none started, or already
  decided).
- ``clear()``: back to the "start a round" state (also done whenever the session's result or
  classic variant changes, so a stale pair is never shown); ``reset_tally()``.
- Signals: ``message(str, str)`` (text, level: "info" / "warning"), ``round_started()``,
  ``round_decided(str)`` (the side picked).
- Read-only state: ``assignment`` (side → variant key, ``{"A": "msp", "B": "classic"}``;
  empty between rounds), ``variants`` (key → :class:`Variant` of the current round),
  ``revealed``, ``choice``, ``tally`` (variant key or ``TIE`` → rounds), ``history`` (every
  decided :class:`Round`), ``caption_text(side)``, ``displayed_image(side)``,
  ``tally_text()``.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from mspviewer.gui.outcomes import PLAIN_PANE
from mspviewer.gui.widgets.common import (Title, fit_box, fmt, image_viewbox, info_label,
                                          link_image_view, rgb_item, set_rgb, status_label)

SIDES = ("A", "B")
TIE = "tie"  #: the "can't tell" answer, a key of ``tally`` like the variant keys
MSP, CLASSIC = "msp", "classic"
IMAGE_BACKGROUND = "#d9d9d9"
SIZE_TOLERANCE = 0.10  #: sizes further apart than this are pointed out
#: (the blind test hides the compare view these send the user to: each says how to get back)
BACK_TO_COMPARE = "View ▸ Blind A/B test (Ctrl+T) goes back to it"
NOT_READY_NO_RESULT = ("Blind A/B needs two versions of the image: encode an image and choose "
                       "a classic codec in the compare view first (its third pane; "
                       f"{BACK_TO_COMPARE}).")
NOT_READY_NO_CLASSIC = ("Blind A/B needs the classic codec at the same size: choose a classic "
                        "codec in the compare view first (its third pane; "
                        f"{BACK_TO_COMPARE}), or wait until it has been computed.")
NOT_READY_NO_ORIGINAL = ("Blind A/B needs the classic codec at the same size, and a stream "
                         "opened on its own has no original to code: open the image it was "
                         "encoded from, then the stream.")
NOT_READY_PLAIN = ("Blind A/B sets MSP against a classic codec at the same size; the third "
                   "pane now shows MSP itself (without LOF, or a reference .msp), at the same "
                   f"λ but not the same size: choose a classic codec there ({BACK_TO_COMPARE}).")
#: what the warnings above are about: the main window takes them down when it changes (one
#: had stayed, saying to wait for the classic codec, after it had come)
MESSAGE_SUBJECT = "classic"


@dataclass(frozen=True)
class Variant:
    """One side of the blind pair, with what is revealed after the pick."""

    key: str  #: MSP or CLASSIC
    label: str  #: the codec's name as shown after the reveal, e.g. "MSP (fast)"
    pixels: np.ndarray  #: uint8 (H, W, 3)
    num_bytes: int
    bpp: float
    psnr_rgb: float | None

    def details(self) -> str:
        return (f"{self.num_bytes:,} B, {self.bpp:.4f} bpp, "
                f"PSNR-RGB {fmt(self.psnr_rgb, 'dB', 2)}")


@dataclass(frozen=True)
class Round:
    """A decided round: which variant was where, and what the viewer picked."""

    assignment: dict  #: side → variant key
    labels: dict  #: variant key → label
    choice: str  #: "A", "B" or TIE
    preferred: str  #: the variant key picked, or TIE


def session_variants(session) -> dict[str, Variant]:
    """The blind pair the session offers now; raises LookupError (with the reason for the
    viewer) when one of the two is missing."""
    result, classic = session.result, session.classic
    if result is None:
        raise LookupError(NOT_READY_NO_RESULT)
    if classic is None and session.classic_problem:
        raise LookupError(f"Blind A/B needs the classic codec at the same size, and it "
                          f"failed: {session.classic_problem.rstrip('.')}. Choose another "
                          f"codec in the compare view (its third pane; {BACK_TO_COMPARE}).")
    if classic is None and result.original is None:
        raise LookupError(NOT_READY_NO_ORIGINAL)
    if classic is None:
        raise LookupError(NOT_READY_NO_CLASSIC)
    if classic.codec == PLAIN_PANE:
        raise LookupError(NOT_READY_PLAIN)
    point = result.point
    # bpp from the RD point when there is one: measured like the classic codec's (file bytes
    # over the original's pixels), so the two revealed rates are comparable.
    msp = Variant(MSP, f"MSP ({result.profile or 'file'})", result.decoded, result.num_bytes,
                  float(point.bpp) if point is not None else result.bpp,
                  point.psnr_rgb if point is not None else None)
    num_bytes = classic.point.num_bytes if classic.point.num_bytes is not None \
        else len(classic.data)
    other = Variant(CLASSIC, classic.label, classic.decoded, int(num_bytes),
                    float(classic.point.bpp), classic.point.psnr_rgb)
    return {MSP: msp, CLASSIC: other}


def _caption_html(heading: str, details: str = "") -> str:
    """Two lines (the second may be empty), so that revealing the labels keeps the layout and
    a narrow pane still shows the whole caption."""
    return f"<b>{html.escape(heading)}</b><br>{html.escape(details) or '&nbsp;'}"


def _sizes_differ(variants: dict[str, Variant]) -> bool:
    """The classic codec's search takes the setting closest to MSP's rate from below; when
    even its smallest setting is larger (or the nearest one far smaller), the pair is not
    at the same size and the viewer should know it."""
    sizes = [variants[MSP].num_bytes, variants[CLASSIC].num_bytes]
    return max(sizes) > (1 + SIZE_TOLERANCE) * max(min(sizes), 1)


def _coin(rng) -> bool:
    """True with probability 1/2 (``random.Random`` and numpy Generators both have random())."""
    return float(rng.random()) < 0.5


class _Pane:
    def __init__(self, caption: str):
        self.caption = caption  #: the caption as plain text
        self.title = Title(_caption_html(caption), size="10pt")
        self.box = image_viewbox()
        self.box.setMinimumWidth(40)
        self.item = rgb_item()
        self.box.addItem(self.item)


class BlindABPanel(QWidget):
    message = Signal(str, str, str)  #: (text, level, what it is about: MESSAGE_SUBJECT)
    round_started = Signal()
    round_decided = Signal(str)

    def __init__(self, session, rng=None, parent=None):
        super().__init__(parent)
        self.session = session
        if rng is None or isinstance(rng, int):
            rng = random.Random(rng)
        self.rng = rng
        self.assignment: dict[str, str] = {}
        self.variants: dict[str, Variant] = {}
        self.revealed = False
        self.choice: str | None = None
        self.tally: dict[str, int] = {MSP: 0, CLASSIC: 0, TIE: 0}
        self.history: list[Round] = []

        # --- controls -------------------------------------------------------------------------
        self.new_button = QPushButton("New round")
        self.new_button.setToolTip("Show the learned codec and the classic codec at the same "
                                   "size, in random order, without labels")
        self.new_button.clicked.connect(self.new_round)
        self.reference_box = QCheckBox("show the original (reference)")
        self.reference_box.toggled.connect(self._layout_panes)
        self.reset_button = QPushButton("Reset tally")
        self.reset_button.clicked.connect(self.reset_tally)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.reference_box)
        top.addStretch(1)
        top.addWidget(self.reset_button)

        # --- images: A and B (and the reference) share zoom and pan ---------------------------
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(IMAGE_BACKGROUND)
        self.panes = {side: _Pane(side) for side in SIDES}
        self.reference = _Pane("Original (reference)")
        for pane in (self.panes["B"], self.reference):
            link_image_view(pane.box, self.panes["A"].box)

        # --- the pick -------------------------------------------------------------------------
        self.choice_buttons = {
            "A": QPushButton("A looks better"),
            TIE: QPushButton("Can't tell"),
            "B": QPushButton("B looks better"),
        }
        picks = QHBoxLayout()
        for side, button in self.choice_buttons.items():
            button.clicked.connect(lambda _=False, s=side: self.choose(s))
            picks.addWidget(button)
        self.outcome = status_label(3)
        self.tally_label = info_label()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(picks)
        layout.addWidget(self.outcome)
        layout.addWidget(self.tally_label)

        # Cleared at once (not through a refresh scheduler): a pair from an older result must
        # never stay on screen, even for a few milliseconds.
        session.result_changed.connect(self.clear)
        session.classic_changed.connect(self.clear)
        self._layout_key = None
        self._layout_panes()
        self.clear()
        self._show_tally()

    # --- rounds -------------------------------------------------------------------------------
    def new_round(self) -> bool:
        """Put the two variants on A and B at random and hide their labels."""
        try:
            variants = session_variants(self.session)
        except LookupError as missing:
            self.clear()
            self.message.emit(str(missing), "warning", MESSAGE_SUBJECT)
            return False
        keys = [MSP, CLASSIC]
        if _coin(self.rng):
            keys.reverse()
        self.variants = variants
        self.assignment = dict(zip(SIDES, keys))
        self.revealed = False
        self.choice = None
        for side in SIDES:
            set_rgb(self.panes[side].item, variants[self.assignment[side]].pixels)
        original = self._original()
        set_rgb(self.reference.item, original)
        self._show_captions()
        self._set_choice_enabled(True)
        text = "Which one looks better? Zoom and pan (linked) to look closely, then pick."
        if _sizes_differ(variants):  # neutral: says nothing about which side is larger
            text += (f" Note: the two files differ in size by more than "
                     f"{SIZE_TOLERANCE:.0%} (the classic codec could not reach the rate).")
        self.outcome.setText(text)
        self.zoom_fit()
        self.round_started.emit()
        return True

    def choose(self, side: str) -> bool:
        """Record the pick of the open round ("A", "B" or TIE) and reveal the labels."""
        if side not in (*SIDES, TIE):
            raise ValueError(f"choose() takes 'A', 'B' or {TIE!r}, not {side!r}")
        if not self.assignment or self.revealed:
            return False  # no round open, or this one is decided already
        preferred = TIE if side == TIE else self.assignment[side]
        self.choice = side
        self.revealed = True
        self.tally[preferred] += 1
        self.history.append(Round(dict(self.assignment),
                                  {key: v.label for key, v in self.variants.items()},
                                  side, preferred))
        self._show_captions()
        self._set_choice_enabled(False)
        self.outcome.setText(self._outcome_text())
        self._show_tally()
        self.round_decided.emit(side)
        return True

    def clear(self) -> None:
        """Back to "start a round": no images, no labels, picks disabled."""
        self.assignment = {}
        self.variants = {}
        self.revealed = False
        self.choice = None
        for pane in (*self.panes.values(), self.reference):
            set_rgb(pane.item, None)
        self._show_captions()
        self._set_choice_enabled(False)
        try:
            session_variants(self.session)
        except LookupError as reason:
            self.outcome.setText(str(reason))
        else:
            self.outcome.setText("Press New round to compare the two codecs blind.")

    def reset_tally(self) -> None:
        self.tally = {key: 0 for key in self.tally}
        self.history = []
        self._show_tally()

    # --- state for the tests and the window ---------------------------------------------------
    def caption_text(self, side: str) -> str:
        """The caption of a pane ("A", "B" or "reference") as plain text."""
        return (self.reference if side == "reference" else self.panes[side]).caption

    def displayed_image(self, side: str) -> np.ndarray | None:
        """The array the pane shows (None when empty)."""
        pane = self.reference if side == "reference" else self.panes[side]
        return pane.item.image if pane.item.isVisible() else None

    def rounds(self) -> int:
        return sum(self.tally.values())

    def tally_text(self) -> str:
        total = self.rounds()
        if total == 0:
            return "No rounds yet."
        labels = {r.labels[CLASSIC] for r in self.history}
        classic = labels.pop() if len(labels) == 1 else "the classic codecs"
        text = (f"MSP preferred in {self.tally[MSP]} of {total} "
                f"round{'s' if total != 1 else ''}, {classic} in {self.tally[CLASSIC]}")
        if self.tally[TIE]:
            text += f", can't tell in {self.tally[TIE]}"
        return text + "."

    # --- zoom ---------------------------------------------------------------------------------
    def zoom_fit(self) -> None:
        pixels = self.displayed_image("A")
        if pixels is not None:
            fit_box(self.panes["A"].box, pixels.shape[1], pixels.shape[0])

    # --- drawing ------------------------------------------------------------------------------
    def _original(self) -> np.ndarray | None:
        result = self.session.result
        return result.original if result is not None else None

    def _layout_panes(self) -> None:
        panes = [self.panes["A"], self.panes["B"]]
        if self.reference_box.isChecked():
            panes.append(self.reference)
        key = len(panes)
        if self._layout_key == key:
            return
        self._layout_key = key
        layout = self.view.ci
        layout.clear()
        for col, pane in enumerate(panes):
            layout.addItem(pane.title, row=0, col=col)
            layout.addItem(pane.box, row=1, col=col)
            layout.layout.setColumnStretchFactor(col, 1)
        for col in range(len(panes), 3):
            layout.layout.setColumnStretchFactor(col, 0)

    def _show_captions(self) -> None:
        for side, pane in self.panes.items():
            if not self.revealed:
                heading, details = side, ""  # nothing but the side: the pair is blind
            else:
                variant = self.variants[self.assignment[side]]
                picked = " ← your pick" if self.choice == side else ""
                heading, details = f"{side}: {variant.label}{picked}", variant.details()
            pane.caption = f"{heading} · {details}" if details else heading
            pane.title.setText(_caption_html(heading, details))

    def _set_choice_enabled(self, enabled: bool) -> None:
        for button in self.choice_buttons.values():
            button.setEnabled(enabled)

    def _outcome_text(self) -> str:
        msp, classic = self.variants[MSP], self.variants[CLASSIC]
        if self.choice == TIE:
            text = "You could not tell them apart."
        else:
            picked = self.variants[self.assignment[self.choice]]
            text = f"You picked {self.choice}: {picked.label}."
        where = {key: side for side, key in self.assignment.items()}
        text += f" MSP was {where[MSP]}, {classic.label} was {where[CLASSIC]}."
        if msp.psnr_rgb is not None and classic.psnr_rgb is not None:
            better = msp if msp.psnr_rgb >= classic.psnr_rgb else classic
            gap = abs(msp.psnr_rgb - classic.psnr_rgb)
            text += f" PSNR-RGB favours {better.label} by {gap:.2f} dB."
        if _sizes_differ(self.variants):
            text += (f" Sizes: MSP {msp.num_bytes:,} B, {classic.label} "
                     f"{classic.num_bytes:,} B: not the same size.")
        return text

    def _show_tally(self) -> None:
        self.tally_label.setText(self.tally_text())
