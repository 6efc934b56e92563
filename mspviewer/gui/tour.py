"""The guided tour: one short page per panel, for a student who knows what an autoencoder is
but not what the probability model of an entropy coder does.

The text is data (:data:`TOUR_STEPS`, :data:`PANEL_HELP`), in light HTML (paragraphs, <b>,
<i>) that a ``QLabel`` renders; :class:`GuidedTour` is a small widget that walks through it.

Public interface (for the main window and the tests):

- :data:`PANEL_KEYS`: the main window's dock keys the text may refer to ("compare" is the
  central compare view).
- :data:`TOUR_STEPS`: tuple of :class:`TourStep` ``(panel_key, title, text)``, in teaching
  order; :data:`MAX_WORDS`: the longest a step's text may be (it must fit a small panel).
- :data:`PANEL_HELP`: panel key → one paragraph of help (tooltips, "What's this");
  :func:`panel_help` returns it with a fallback for unknown keys.
- ``GuidedTour(steps=TOUR_STEPS, show_panel=None, parent=None)``: ``show_panel(key)`` is the
  window's callback that raises and highlights a panel; it is called whenever a step is
  shown (by :meth:`~GuidedTour.start`, :meth:`~GuidedTour.go`, :meth:`~GuidedTour.next`,
  :meth:`~GuidedTour.back`), not by the constructor, so building the tour moves nothing.
  ``start()`` shows step 1; ``go(index)`` (clamped), ``next()`` / ``back()`` (``False`` at the
  ends), ``index``, ``current_step()``; Signals ``step_changed(int)`` and ``closed()`` (the
  Close button; the widget hides itself). Labels: ``counter_label`` ("Step i of n"),
  ``title_label``, ``text_label``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

#: The panels of the main window (dock keys; "compare" is the central view).
PANEL_KEYS: tuple[str, ...] = ("controls", "compare", "metrics", "lof", "rd", "latents",
                               "bits", "inspector", "replay", "blind_ab", "tour")

MAX_WORDS = 120


@dataclass(frozen=True)
class TourStep:
    panel_key: str  #: the panel this step explains (one of PANEL_KEYS)
    title: str
    text: str  #: light HTML: <p>, <b>, <i>


TOUR_STEPS: tuple[TourStep, ...] = (
    TourStep("compare", "An autoencoder that writes files", (
        "<p>MSP is an image codec built like an autoencoder. The encoder network turns the "
        "picture into a <b>latent</b> y: many channels (192 in the shipped model) on a grid "
        "16 times smaller in each direction. y is rounded to ŷ, a prediction plus a whole "
        "number (more on this later in the tour); only the whole numbers are stored, and the "
        "decoder network turns ŷ back into pixels.</p>"
        "<p>This view shows the original, the MSP result and a classic codec such as JPEG at "
        "the <i>same file size</i>, with linked zoom. How small the file gets depends on how "
        "well ŷ can be predicted: that is what the rest of this tour is about.</p>")),
    TourStep("controls", "λ: bits against quality", (
        "<p>The codec was trained to minimise <b>R + λ·D</b>: R the bits per pixel, D the "
        "mean squared error (pixels on a 0–255 scale). A small λ makes bits expensive: small "
        "files, blurrier "
        "pictures. A large λ buys quality with bits. One model covers λ from 0.0018 to 0.0483 "
        "(about 0.2 to 0.9 bpp on the Kodak photos with the shipped model); give a <b>target "
        "bpp</b> instead and λ is searched for you.</p>"
        "<p>The <b>profile</b> sets how hard the encoder works: <i>fast</i> runs the encoder "
        "network once, <i>quick</i>, <i>balanced</i> and <i>max</i> also run LOF (later in "
        "this tour). The decoder is the same for every profile.</p>")),
    TourStep("metrics", "Reading the numbers", (
        "<p><b>bpp</b>, bits per pixel, is the file size in bits divided by the number of "
        "pixels: the rate. <b>PSNR</b> (in dB, higher is better) measures the squared error, "
        "over RGB or on luma (Y) only; <b>MS-SSIM</b> compares local structure and follows "
        "what eyes notice a little better.</p>"
        "<p>The second column is the compare view's third pane: a classic codec at (nearly) "
        "the same rate, so each row is a fair comparison, or MSP without LOF. The <b>decode "
        "check</b> confirms that decoding the file gives "
        "exactly the encoder's picture, bit for bit: encoder and decoder must make the same "
        "predictions, as the next steps explain.</p>")),
    TourStep("latents", "Why the decoder needs probabilities", (
        "<p>ŷ is written by an <b>arithmetic coder</b>. Before reading each symbol, the "
        "decoder must give a probability P to every value it could take, exactly as the "
        "encoder did. A symbol then costs about <b>−log2 P bits</b>: P = 1/2 costs one bit, "
        "P = 1/256 eight. Good predictions make short files.</p>"
        "<p>For every element the model predicts a Gaussian: a mean <b>μ</b> (its best "
        "guess) and a scale <b>σ</b> (how unsure it is). These heatmaps show, for each MSP "
        "scale, ŷ, μ, σ, the bits spent and the <i>surprise</i> |ŷ − μ|/σ. Where the "
        "guess was poor, bits were spent.</p>")),
    TourStep("inspector", "One element under the microscope", (
        "<p>Click a latent element to see its prediction. μ and σ come from its "
        "<b>context</b>: the neighbours on its lattice decoded in earlier steps, and the "
        "channel groups already decoded at the same position. Apart from λ, nothing else "
        "is available: the decoder only uses what it has read.</p>"
        "<p>The coder sends the symbol round(y − μ) with a discretised Gaussian of scale "
        "σ (one of 64 table values: encoder and decoder agree bit for bit). The PMF "
        "plot shows each symbol's probability; the element costs −log2 of the bar it hit. "
        "A small σ and a symbol of 0: a fraction of a bit. A surprise: many bits, on a bar "
        "too low to see (<i>bars: bits</i> shows costs).</p>")),
    TourStep("replay", "Coarse to fine in a few parallel steps", (
        "<p>MSP decodes the latent <b>coarse to fine</b>. First the coarsest scale: the "
        "positions whose row and column are both multiples of 8. Then three finer scales, "
        "each in two steps (A: the centre of each square of known positions, B: the rest), "
        "and each step in 4 groups of channels. Every <b>pass</b> decodes all of its "
        "elements at once, in parallel.</p>"
        "<p>With the shipped model that makes 4 + 3·2·4 = <b>28 sequential passes</b>, "
        "whatever the image size. A serial autoregressive context model decodes one "
        "position after another: thousands of sequential steps for a large photo, hence far "
        "slower. <i>Build replay</i> (Ctrl+R), then step through the passes: what is not "
        "decoded yet shows the means its own pass predicts.</p>")),
    TourStep("bits", "Where the bits go", (
        "<p>The bars compare, per scale (or step, or channel group), the bytes the model "
        "<i>expected</i>, the sum of −log2 P over the symbols, with the bytes the arithmetic "
        "coder <i>actually</i> wrote. They should agree closely: a check of the coder.</p>"
        "<p>The coarsest scale holds only 1/64 of the elements and little context, so each "
        "of them tends to cost more. The map shows bits per pixel in 16×16 blocks over the "
        "image: texture and edges "
        "cost bits, flat sky almost none. The <i>Per channel</i> tab ranks the latent's "
        "channels by their share of the bits: the lower λ, the more channels the model "
        "switches off (every symbol 0, almost free).</p>")),
    TourStep("lof", "LOF: fitting the latent to this one image", (
        "<p>The encoder network makes one quick guess of y, trained to be good on average. "
        "<b>LOF</b> (latent overfitting) improves it for <i>this</i> image: with the decoder "
        "and probability model frozen, it adjusts y by gradient descent on a smoothed "
        "J = bpp + λ·255²·MSE and keeps the latent of lowest real J, so J never gets worse. "
        "The <i>max</i> profile adds a greedy search that moves batches of quantised values by "
        "one step and keeps a batch only if J drops.</p>"
        "<p>No extra bits are sent and <b>the decoder does not change</b>: only encoding "
        "takes longer. The plot follows J, bpp and PSNR per iteration; the third pane "
        "<i>MSP without LOF</i> and the Δŷ, Δbits heatmaps show what LOF changed.</p>")),
    TourStep("rd", "Rate–distortion curves", (
        "<p>Each point is one encoding of this image: rate (bpp) across, quality up. Up and "
        "to the left is better: the same quality for fewer bits. Classic codecs (JPEG, WebP, "
        "JPEG 2000, AVIF ...) are swept over their quality settings; the MSP points are your "
        "encodes and, on request, the model's ladder of λ values.</p>"
        "<p>Read the vertical gap at one rate (dB gained) or the horizontal gap at one "
        "quality (bits saved). Averaged over a range of qualities, the horizontal gap is the "
        "<i>BD-rate</i> that papers report; the line under the plot gives it for this image "
        "once the λ ladder (the button above the plot) has run.</p>")),
    TourStep("blind_ab", "Trust your eyes: a blind test", (
        "<p>PSNR is not what people see. Here the MSP picture and the classic codec's picture "
        "at the same file size appear as <b>A</b> and <b>B</b> in random order, without "
        "labels. Zoom in, pick the one that looks better (or <i>can't tell</i>), and the "
        "names, sizes and PSNR are revealed.</p>"
        "<p>Play a few rounds on different images and rates: the tally counts how often MSP "
        "was preferred. At low rates learned codecs tend to blur fine texture, while "
        "block-based codecs show blocks and ringing.</p>")),
)

PANEL_HELP: dict[str, str] = {
    "controls": (
        "Encode the open image. λ sets the balance the codec optimises, R + λ·D: small λ, "
        "small file and more distortion; large λ, better picture and more bits. Or give a "
        "target bpp and λ is searched. The profile chooses the encoder's effort (fast: one "
        "pass of the encoder network; quick, balanced and max: LOF); the decoder is the same."),
    "compare": (
        "The original, the MSP decoded image and a third pane (Third pane: a classic codec at "
        "the same bpp, MSP without LOF at the same λ after an LOF encode, or a reference "
        ".msp), with linked zoom and pan. Switch to the split slider, to difference heatmaps "
        "(mean |Δ| over RGB) or to flicker, which swaps original and decoded in place (Play, "
        "or Space once): artifacts show as what moves. The readout gives every image's pixel "
        "values under the cursor; the line under it, each coding's PSNR-RGB in the part of "
        "the image in view (and MSP's bits per pixel there): zoom in on an artifact to see "
        "which coding loses there, and by how much."),
    "metrics": (
        "Size, rate (bits per pixel), PSNR-RGB, PSNR-Y, MS-SSIM and timings of the MSP result "
        "and of the classic codec at the same rate. Estimated bits (Σ −log2 P under the "
        "model) against the payload the arithmetic coder wrote; the setting each was coded "
        "with; after LOF, what it changed against MSP without LOF. The decode check says "
        "whether decoding the file reproduces the encoder's picture exactly; the fresh "
        "check (Encode menu) decodes it again in a new process."),
    "lof": (
        "Latent overfitting at encode time: the latent of this image is optimised for its "
        "exact cost J = bpp + λ·255²·MSE, decoder and probability model frozen, keeping the "
        "best latent seen (max adds a greedy search). No extra bits, same decoder; the plot "
        "shows J, bpp and PSNR per iteration. The metrics row 'LOF change' sets the result "
        "against MSP without LOF at the same λ (File ▸ Set a reference .msp: against "
        "another coding)."),
    "rd": (
        "Rate–distortion plot of this image: MSP points and the curves of classic codecs "
        "swept over their quality settings. Up and to the left is better; the horizontal gap "
        "at equal quality is the bit saving (BD-rate when averaged, shown below the plot "
        "for MSP's λ ladder against each codec). MSP's points are stars, the latest one "
        "orange-red; the plot keeps MSP's rates in view until you pan or zoom (A: every curve). "
        "After LOF, a dashed segment runs from the point without LOF (hollow circle, same "
        "λ) to the result."),
    "latents": (
        "Heatmaps of the coded latent per MSP scale (coarse to fine): ŷ, the predicted mean "
        "μ, the predicted scale σ, the bits spent per element (−log2 P) and the surprise "
        "|ŷ − μ|/σ, for one channel or reduced over all channels. After an LOF encode, Δŷ "
        "and Δbits show where LOF moved the latent and where it saved or spent bits, against "
        "MSP without LOF at the same λ."),
    "bits": (
        "Bit allocation: for each scale, step or channel group, the bytes the model expected "
        "(Σ −log2 P) against the bytes actually in the stream, as bars and as a table per "
        "scale with the overhead (the header is not modelled); and a map of bits per pixel by "
        "16×16 block, overlaid on the image. The 'Per channel' tab ranks the latent channels "
        "by their share of the bits: a few carry most of them, and at a small λ many are "
        "switched off. Click a bar to show that channel in the latent heatmaps."),
    "inspector": (
        "Click a latent element (in the heatmaps, or a pixel of the image) to see how it was "
        "coded: its scale, step, channel group and "
        "pass, the predicted μ and σ, the symbol round(y − μ), the discretised Gaussian PMF "
        "with the bar it hit, its cost −log2 P in bits, and its context: the neighbours "
        "decoded in earlier steps and the channel groups decoded before it. A magenta "
        "outline marks it in its heatmap and its 16×16 block in the image. Where the "
        "table is too narrow for its \"what it means\" column, the meaning of the row you "
        "point at is written under it; in a short panel, tabs pick values, PMF or context."),
    "replay": (
        "Decode step by step: the image after each of MSP's passes, coarse to fine (coarsest "
        "scale, then steps A and B of each finer scale, each in channel groups), with the "
        "elements not decoded yet set to the means predicted for them in their own pass (a "
        "look ahead) and the bits read so far. The "
        "number of passes does not grow with the image."),
    "tour": (
        "The guided tour: a step per panel, for someone who knows what an autoencoder is "
        "but not what an entropy model does. Each step brings its panel forward; Back and "
        "Next move between steps, Close ends the tour and Help ▸ Guided tour (F1) starts it "
        "again."),
    "blind_ab": (
        "A blind test: MSP and the classic codec at the same size shown as A and B in random "
        "order, without labels. Pick the better one (or can't tell); the labels, sizes and "
        "PSNR are then revealed and a tally counts the rounds."),
}


def panel_help(key: str) -> str:
    return PANEL_HELP.get(key, "")


def plain_text(text: str) -> str:
    """The text without its HTML tags (for word counts and searches)."""
    text = re.sub(r"</p>|<br\s*/?>", " ", text)  # block breaks separate words
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()


def word_count(text: str) -> int:
    return len(plain_text(text).split())


class GuidedTour(QWidget):
    step_changed = Signal(int)
    closed = Signal()

    def __init__(self, steps: Sequence[TourStep] = TOUR_STEPS,
                 show_panel: Callable[[str], object] | None = None, parent=None):
        super().__init__(parent)
        if not steps:
            raise ValueError("a guided tour needs at least one step")
        self.steps = tuple(steps)
        self.show_panel = show_panel
        self.index = 0

        self.counter_label = QLabel()
        self.counter_label.setStyleSheet("color: #555;")
        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setWordWrap(True)
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title_label.setFont(font)
        self.text_label = QLabel()
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setWordWrap(True)
        self.text_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # a step's text scrolls where the dock is short (a laptop's window): a bare label was
        # cut through a line with no way to read the rest
        self.text_area = QScrollArea()
        self.text_area.setWidget(self.text_label)
        self.text_area.setWidgetResizable(True)
        self.text_area.setFrameShape(QFrame.Shape.NoFrame)
        self.text_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.back_button = QPushButton("Back")
        self.back_button.clicked.connect(self.back)
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.next_button.clicked.connect(self.next)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close_tour)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.counter_label)
        layout.addWidget(self.title_label)
        layout.addWidget(self.text_area, 1)
        layout.addLayout(buttons)
        self._render()

    # --- navigation ----------------------------------------------------------------------------
    def current_step(self) -> TourStep:
        return self.steps[self.index]

    def start(self, index: int = 0) -> None:
        """Show the tour at ``index`` (the first step by default) and its panel."""
        self.show()
        self.raise_()
        self.go(index)

    def go(self, index: int) -> None:
        """Show step ``index`` (clamped to the steps there are) and raise its panel."""
        index = max(0, min(int(index), len(self.steps) - 1))
        changed = index != self.index
        self.index = index
        self._render()
        if self.show_panel is not None:
            self.show_panel(self.current_step().panel_key)
        if changed:
            self.step_changed.emit(index)

    def next(self) -> bool:
        if self.index >= len(self.steps) - 1:
            return False
        self.go(self.index + 1)
        return True

    def back(self) -> bool:
        if self.index <= 0:
            return False
        self.go(self.index - 1)
        return True

    def close_tour(self) -> None:
        self.hide()
        self.closed.emit()

    def wanted_height(self, width: int) -> int:
        """The height at which every step's title and text show whole, ``width`` wide."""
        layout = self.layout()
        margins = layout.contentsMargins()
        inner = width - margins.left() - margins.right()

        def height_of(label: QLabel, text: str) -> int:
            probe = QLabel()
            probe.setTextFormat(label.textFormat())
            probe.setWordWrap(True)
            probe.setFont(label.font())
            probe.setText(text)
            return probe.heightForWidth(inner)

        title = max(height_of(self.title_label, step.title) for step in self.steps)
        text = max(height_of(self.text_label, step.text) for step in self.steps)
        buttons = max(self.next_button.sizeHint().height(), self.close_button.sizeHint().height())
        return (margins.top() + margins.bottom() + self.counter_label.sizeHint().height()
                + title + text + buttons + 3 * layout.spacing())

    # --- drawing -------------------------------------------------------------------------------
    def _render(self) -> None:
        step = self.current_step()
        self.counter_label.setText(f"Step {self.index + 1} of {len(self.steps)}")
        self.title_label.setText(step.title)
        self.text_label.setText(step.text)
        self.text_area.verticalScrollBar().setValue(0)  # each step from its first line
        self.back_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.steps) - 1)
