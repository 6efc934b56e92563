"""The inspector panel (issue 7): every value it shows is the core's own inspection of a real
encoded result (tiny random model, small images), its PMF plot marks the coded symbol, its
context grid is the core's, and a new result clears or re-inspects the selection."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import loud_tiny_model, smooth_image  # noqa: E402
from gui_support import grab_array  # noqa: E402

from mspviewer.codec.inspection import element_pmf, image_to_latent, inspect_element  # noqa: E402

LAM = 0.01


def _encode(model, pixels, lam=LAM):
    """A real EncodeOutcome, as the window's worker would produce it (run here directly)."""
    from mspviewer.gui.jobs import CancelToken, encode_task
    from mspviewer.gui.outcomes import EncodeRequest

    steps = encode_task(model, pixels, EncodeRequest(profile="fast", lam=lam,
                                                     verify_decode=False), CancelToken())
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return done.value


@pytest.fixture(scope="module")
def loud_model():
    return loud_tiny_model(seed=1)


@pytest.fixture(scope="module")
def pixels():
    return smooth_image(64, 96, seed=5)  # latent grid 4×6


@pytest.fixture(scope="module")
def outcome(loud_model, pixels):
    return _encode(loud_model, pixels)


@pytest.fixture(scope="module")
def outcome_other_lambda(loud_model, pixels):
    return _encode(loud_model, pixels, lam=0.04)


@pytest.fixture(scope="module")
def outcome_other_shape(loud_model):
    return _encode(loud_model, smooth_image(64, 64, seed=6))  # latent 4×4


@pytest.fixture
def session(qtbot, loud_model):
    from mspviewer.gui.session import Session

    session = Session()
    session.model = loud_model  # as set_model leaves it, without the signals' clearing
    return session


@pytest.fixture
def panel(qtbot, session):
    from mspviewer.gui.widgets.inspector import InspectorPanel

    panel = InspectorPanel(session)
    qtbot.addWidget(panel)
    panel.messages = []
    panel.message.connect(lambda text, level: panel.messages.append((level, text)))
    panel.resize(760, 820)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _core(model, record, channel, row, col):
    return inspect_element(record, channel, row, col,
                           steps_per_scale=model.config.msp.steps_per_scale,
                           symbol_bound=model.config.coding.symbol_bound)


def _full(panel, key) -> float:
    """The full-precision number of a field's tooltip."""
    return float(panel.value_tooltip(key).splitlines()[0].split(": ", 1)[1])


def _check_shown(panel, model, record, channel, row, col):
    """Every field, the PMF and the context grid against the core, computed here."""
    info = _core(model, record, channel, row, col)
    shown = panel.current
    assert (shown.channel, shown.row, shown.col) == (channel, row, col)
    kind = "coarsest, " if info.step == "coarsest" else ""
    assert panel.value_text("element") == f"channel {channel}, row {row}, col {col}"
    assert panel.value_text("scale") == f"{info.scale} ({kind}stride {2 ** info.scale})"
    assert panel.value_text("step") == info.step
    assert panel.value_text("group") == (f"{info.group} (channels {info.channel_start}–"
                                         f"{info.channel_stop - 1})")
    assert panel.value_text("pass") == f"{info.pass_index}: {info.pass_label}"
    assert panel.value_text("order") == f"{info.pass_index + 1} of {len(record.passes)} passes"
    stats = record.passes[int(record.pass_index[channel, row, col])]
    assert (info.scale, info.step, info.group) == (stats.scale, stats.step, stats.group)
    for key, value in (("y_hat", record.y_hat[channel, row, col]),
                       ("mu", record.mu[channel, row, col]),
                       ("sigma", record.sigma[channel, row, col])):
        assert panel.value_text(key) == f"{float(value):.4g}", key
        assert _full(panel, key) == float(value), key
    symbol = int(record.symbols[channel, row, col])
    assert panel.value_text("symbol") == str(symbol)
    assert symbol == round(float(record.y_hat[channel, row, col])
                           - float(record.mu[channel, row, col]))
    bits = float(record.bits[channel, row, col])
    assert panel.value_text("bits") == f"{bits:.4f} bits"
    assert _full(panel, "bits") == bits
    assert panel.value_text("probability").startswith(f"{info.symbol_probability:.4g}")
    assert abs(-np.log2(_full(panel, "probability")) - bits) <= 1e-6 * max(1.0, bits)
    assert panel.value_text("bits_check").endswith("✓")
    assert panel.value_text("escaped") == "no"
    assert panel.value_text("channels") == (f"{info.channel_start} channels"
                                            if info.channel_start else "none (first group)")
    # the PMF as plotted is the coder's discretised Gaussian at this σ
    symbols, pmf = element_pmf(float(record.sigma[channel, row, col]), symbol,
                               model.config.coding.symbol_bound)
    x, heights = panel.pmf_data()
    np.testing.assert_array_equal(x, symbols.astype(float))
    np.testing.assert_array_equal(heights, pmf)
    assert panel.highlighted_x() == symbol
    assert panel.pmf.coded_bar.opts["height"][0] == pmf[list(symbols).index(symbol)]
    # the context grid as displayed is the core's
    np.testing.assert_array_equal(panel.context_grid(), info.spatial_context.grid())
    assert panel.value_text("neighbours").startswith(f"{info.spatial_context.num_known} of ")
    return info


def test_fields_pmf_and_context_match_the_core(qtbot, panel, session, loud_model, outcome):
    session.set_result(outcome)
    assert panel.current is None and panel.showing_placeholder()
    record = outcome.analysis
    assert record.y_hat.shape[1:] == (4, 6)
    # (channel, row, col): the coarsest scale (both of its positions), scale 1 steps A and B,
    # scale 0 steps A and B, an edge element, channels of both groups
    cases = [(0, 0, 0), (11, 0, 4), (3, 2, 2), (12, 0, 2), (7, 1, 1), (15, 1, 2), (9, 3, 5)]
    scales, steps = set(), set()
    for channel, row, col in cases:
        returned = panel.inspect(row, col, channel)
        assert returned is panel.current
        info = _check_shown(panel, loud_model, record, channel, row, col)
        scales.add(info.scale)
        steps.add(info.step)
        assert not panel.showing_placeholder()
        assert panel.channel_box.value() == channel
    assert scales == {0, 1, 2} and {"coarsest", "A", "B"} <= steps
    # and the most surprising element of the record (a symbol far from 0)
    channel, row, col = (int(v) for v in np.unravel_index(np.argmax(np.abs(record.symbols)),
                                                           record.symbols.shape))
    panel.inspect(row, col, channel)
    info = _check_shown(panel, loud_model, record, channel, row, col)
    assert abs(info.symbol) >= 2
    assert not panel.messages

    # an independent check of the context: scale 1, step A at lattice (1, 1) of a 2×3
    # lattice knows only the coarser lattice, i.e. the (even, even) diagonal neighbours;
    # lattice row 2 is off the grid
    panel.inspect(2, 2, 3)
    np.testing.assert_array_equal(panel.context_grid(),
                                  [[1, 0, 1], [0, 0, 0], [-1, -1, -1]])
    assert panel.value_text("step") == "A"
    # the coarsest scale: no spatial context at all
    panel.inspect(0, 4, 0)
    assert panel.value_text("step") == "coarsest"
    assert (panel.context_grid() != 1).all()


def test_channel_none_picks_the_costliest_channel_unless_pinned(qtbot, panel, session,
                                                                 loud_model, outcome):
    session.set_result(outcome)
    bits = outcome.analysis.bits
    for row, col in ((0, 0), (1, 3), (2, 5), (3, 5)):
        panel.inspect(row, col)
        assert panel.current.channel == int(np.argmax(bits[:, row, col]))
        assert panel.value_text("bits") == f"{bits[:, row, col].max():.4f} bits"

    # pinned by the main window (follow the heatmap's channel), then released
    panel.set_channel(6)
    assert (panel.current.channel, panel.current.row, panel.current.col) == (6, 3, 5)
    panel.inspect(1, 3)
    assert panel.current.channel == 6
    panel.set_channel(None)
    assert panel.current.channel == int(np.argmax(bits[:, 1, 3]))
    # picking a channel in the spin box pins it too
    pinned = (panel.current.channel + 1) % bits.shape[0]  # another channel than the shown one
    panel.channel_box.setValue(pinned)
    assert not panel.auto_channel.isChecked() and panel.current.channel == pinned
    panel.inspect(0, 0)
    assert panel.current.channel == pinned
    panel.auto_channel.setChecked(True)
    assert panel.current.channel == int(np.argmax(bits[:, 0, 0]))

    # ties go to the lowest channel index
    tied_bits = bits.copy()
    tied_bits[[4, 9], 2, 3] = bits[:, 2, 3].max() + 1.0
    tied = dataclasses.replace(outcome, analysis=dataclasses.replace(outcome.analysis,
                                                                     bits=tied_bits))
    session.set_result(tied)
    panel.inspect(2, 3)
    assert panel.current.channel == 4


def test_image_pixel_maps_to_its_latent_position(qtbot, panel, session, loud_model, outcome,
                                                 pixels):
    session.set_result(outcome)
    record = outcome.analysis
    for x, y in ((0, 0), (37, 21), (95, 63), (50, 40)):
        info = panel.inspect_pixel(x, y)
        row, col = image_to_latent(x, y)
        assert (info.row, info.col) == (row, col) == (y // 16, x // 16)
        assert info.channel == int(np.argmax(record.bits[:, row, col]))
        _check_shown(panel, loud_model, record, info.channel, row, col)
    before = panel.current
    texts = [panel.value_text(key) for key in ("element", "mu", "bits")]
    # outside the image: refused, nothing changes
    for x, y in ((96, 10), (-1, 5), (10, 64), (100, -3), (127, 63)):
        assert panel.inspect_pixel(x, y) is None
        assert panel.current is before
    assert [panel.value_text(key) for key in ("element", "mu", "bits")] == texts
    assert len(panel.messages) == 5 and all("outside" in text for _, text in panel.messages)
    # off the latent grid
    assert panel.inspect(4, 0) is None and panel.current is before
    # the arrow buttons move by one latent position and stop at the grid's edge
    panel.inspect(2, 4)
    panel.move_buttons["right"].click()
    assert (panel.current.row, panel.current.col) == (2, 5)
    panel.move_buttons["right"].click()
    assert (panel.current.row, panel.current.col) == (2, 5)
    panel.move_buttons["up"].click()
    assert (panel.current.row, panel.current.col) == (1, 5)
    assert panel.current.channel == int(np.argmax(record.bits[:, 1, 5]))


def test_new_result_reinspects_the_same_element_or_clears(qtbot, panel, session, loud_model,
                                                          outcome, outcome_other_lambda,
                                                          outcome_other_shape):
    from mspviewer.gui.widgets.inspector import NO_RESULT_PLACEHOLDER, PLACEHOLDER

    # no result: placeholder (which says to encode first: there is nothing to click yet),
    # nothing to inspect, no exception
    assert panel.current is None and panel.showing_placeholder()
    assert panel.placeholder.text() == NO_RESULT_PLACEHOLDER
    assert not any(b.isEnabled() for b in panel.move_buttons.values())
    assert panel.inspect(1, 1, 0) is None and panel.inspect_pixel(3, 3) is None
    assert panel.current is None and panel.pmf_data()[0].size == 0
    assert panel.messages  # told why

    session.set_result(outcome)
    panel.inspect(2, 2, 9)
    old_mu = panel.current.mu
    # the same image at another λ: same latent shape, so the same element is inspected again
    session.set_result(outcome_other_lambda)
    record = outcome_other_lambda.analysis
    assert (panel.current.channel, panel.current.row, panel.current.col) == (9, 2, 2)
    _check_shown(panel, loud_model, record, 9, 2, 2)
    assert panel.current.mu == record.mu[9, 2, 2]
    assert not np.array_equal(record.y_hat, outcome.analysis.y_hat)
    # without an explicit channel the costliest one of the new result is taken
    panel.inspect(1, 5)
    session.set_result(outcome)
    assert panel.current.channel == int(np.argmax(outcome.analysis.bits[:, 1, 5]))
    assert old_mu == outcome.analysis.mu[9, 2, 2]

    # another latent shape: the selection is dropped
    session.set_result(outcome_other_shape)
    assert panel.current is None and panel.showing_placeholder()
    assert panel.placeholder.text() == PLACEHOLDER
    assert panel.value_text("mu") == "" and panel.highlighted_x() is None
    assert panel.context_grid() is None
    # and it stays dropped when the first result comes back
    session.set_result(outcome)
    assert panel.current is None and panel.showing_placeholder()

    panel.inspect(0, 0, 1)
    session.set_image(None)  # no result any more
    assert panel.current is None and panel.showing_placeholder()
    assert panel.placeholder.text() == NO_RESULT_PLACEHOLDER


def test_the_coded_symbol_is_drawn_highlighted(qtbot, panel, session, loud_model, outcome):
    from mspviewer.gui.widgets.common import view_to_widget
    from mspviewer.gui.widgets.element_views import BAR_COLOUR, HIGHLIGHT

    session.set_result(outcome)
    record = outcome.analysis
    # the element of the most surprising symbol: its bar is off-centre
    channel, row, col = np.unravel_index(np.argmax(np.abs(record.symbols)), record.bits.shape)
    info = panel.inspect(int(row), int(col), int(channel))
    assert info.symbol != 0
    qtbot.wait(30)
    shot = grab_array(panel.pmf_plot)
    highlight = np.array([int(HIGHLIGHT[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)
    bar = np.array([int(BAR_COLOUR[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)
    marked = np.all(shot == highlight, axis=-1)
    assert marked.sum() > 20, "the coded symbol's highlight is not drawn"
    assert np.all(shot == bar, axis=-1).sum() > 20, "the PMF bars are not drawn"
    # the highlighted pixels sit on the coded symbol's column of the plot, nowhere else
    box = panel.pmf_plot.getPlotItem().getViewBox()
    ratio = panel.pmf_plot.devicePixelRatioF()
    centre = view_to_widget(panel.pmf_plot, box, float(info.symbol), 0.0).x() * ratio
    half_bar = abs(view_to_widget(panel.pmf_plot, box, 0.4, 0.0).x()
                   - view_to_widget(panel.pmf_plot, box, 0.0, 0.0).x()) * ratio
    columns = np.nonzero(marked.any(axis=0))[0]
    assert columns.min() >= centre - half_bar - 2 and columns.max() <= centre + half_bar + 2
    assert columns.min() <= centre <= columns.max()


def test_pixels_of_an_image_not_a_multiple_of_16(qtbot, panel, session, loud_model):
    """The encoder pads at the bottom and right, so pixel (x, y) is latent (y // 16, x // 16)
    for any size; the last row and column of positions cover real pixels and padding, and the
    header names only the real ones; a pixel in the padding is outside the image."""
    outcome = _encode(loud_model, smooth_image(50, 70, seed=8))
    record = outcome.analysis
    assert tuple(record.image_size) == (50, 70) and record.y_hat.shape[1:] == (4, 5)
    session.set_result(outcome)
    for x, y in ((69, 49), (64, 48), (63, 47), (0, 49), (69, 0)):
        info = panel.inspect_pixel(x, y)
        assert (info.row, info.col) == (y // 16, x // 16)
        _check_shown(panel, loud_model, record, info.channel, info.row, info.col)
    panel.inspect_pixel(69, 49)
    assert "image pixels x 64–69, y 48–49" in panel.header.text()
    panel.inspect_pixel(20, 20)
    assert "image pixels x 16–31, y 16–31" in panel.header.text()
    for x, y in ((70, 10), (10, 50), (79, 63)):
        assert panel.inspect_pixel(x, y) is None
    assert (panel.current.row, panel.current.col) == (1, 1)


def _coder_costs(symbols, pmf, bound) -> list[float]:
    """What the coder charges per symbol, one by one: −log2 P with P floored at 2^-24, and
    the two 12-bit escape words at ±bound (entropy.coded_bits' rule, restated)."""
    import math

    return [-math.log2(max(float(p), 2.0 ** -24)) + (24 if abs(int(s)) >= bound else 0)
            for s, p in zip(symbols, pmf)]


def _bar_rows(panel) -> int:
    """Rows of the rendered plot crossed by at least 6 pixels of the highlight: a bar of
    some height (the 2-pixel dashed marker alone gives none)."""
    from mspviewer.gui.widgets.element_views import HIGHLIGHT

    colour = np.array([int(HIGHLIGHT[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)
    marked = np.all(grab_array(panel.pmf_plot) == colour, axis=-1)
    return int((marked.sum(axis=1) >= 6).sum())


def test_the_bits_view_plots_what_each_symbol_would_cost(qtbot, panel, session, loud_model,
                                                         outcome):
    """The costliest element's coded symbol has a probability too small to see as a bar;
    plotted as its cost in bits it is a bar you can see, and the plot says which view it is."""
    from mspviewer.codec.entropy import ESCAPE_BITS

    assert ESCAPE_BITS == 24  # (what _coder_costs restates)
    session.set_result(outcome)
    record = outcome.analysis
    bound = loud_model.config.coding.symbol_bound
    channel, row, col = (int(v) for v in np.unravel_index(np.argmax(record.bits),
                                                           record.bits.shape))
    info = panel.inspect(row, col, channel)
    assert not info.escaped
    symbols, pmf = element_pmf(float(record.sigma[channel, row, col]), info.symbol, bound)
    coded = list(symbols).index(info.symbol)
    assert panel.pmf_view() == "probability"
    assert pmf[coded] < 0.02 * pmf.max()  # too low a bar to see …
    assert "too low to see here: plot bits" in panel.pmf.caption.text()  # … and it says so
    qtbot.wait(30)
    assert _bar_rows(panel) < 3, "a probability this small should not make a visible bar"

    panel.set_pmf_view("bits")
    x, heights = panel.pmf_data()
    np.testing.assert_array_equal(x, symbols.astype(float))
    np.testing.assert_allclose(heights, _coder_costs(symbols, pmf, bound), rtol=1e-12)
    # the coded bar is the element's cost as the record has it
    assert panel.pmf.coded_bar.opts["height"][0] == pytest.approx(heights[coded])
    assert panel.pmf.coded_bar.opts["height"][0] == pytest.approx(
        float(record.bits[channel, row, col]), rel=1e-5)
    assert panel.pmf_plot.getPlotItem().getAxis("left").labelText == "bits (−log2 P)"
    assert "what each symbol would have cost" in panel.pmf.caption.text()
    qtbot.wait(30)
    assert _bar_rows(panel) >= 10, "the coded symbol's bar is not drawn"

    # the view stays while other elements are inspected, and switches back
    other = panel.inspect(0, 0, 0)
    np.testing.assert_allclose(panel.pmf_data()[1],
                               _coder_costs(other.pmf_symbols, other.pmf, bound), rtol=1e-12)
    panel.set_pmf_view("probability")
    np.testing.assert_array_equal(panel.pmf_data()[1], other.pmf)
    assert panel.pmf_plot.getPlotItem().getAxis("left").labelText == "P"
    with pytest.raises(ValueError, match="unknown PMF view"):
        panel.set_pmf_view("nats")


def test_the_pmf_heading_wraps_in_a_short_wide_panel(qtbot, panel, session, outcome):
    """In a bottom dock the values sit beside the plots, and the PMF gets a narrow share of
    the width: its heading (σ and the coded symbol) wraps instead of being cut short."""
    from mspviewer.gui.widgets.element_views import sig4

    session.set_result(outcome)
    record = outcome.analysis
    channel, row, col = (int(v) for v in np.unravel_index(np.argmax(np.abs(record.symbols)),
                                                           record.bits.shape))
    info = panel.inspect(row, col, channel)
    heading = panel.pmf.heading
    assert heading.text() == (f"discretised N(0, σ = {sig4(info.sigma)}): coded symbol "
                              f"{info.symbol}")
    one_line = heading.fontMetrics().height()
    text_width = heading.fontMetrics().horizontalAdvance(heading.text())
    assert heading.width() > text_width and heading.height() < 2 * one_line  # tall: one line
    panel.resize(800, 440)  # wide: the values beside the plots
    qtbot.waitUntil(lambda: heading.width() < text_width)
    assert panel.page() is None
    assert heading.height() >= heading.heightForWidth(heading.width()) >= 2 * one_line
    panel.pmf.clear()
    assert heading.text().strip() == ""


def _two_decimals(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def test_context_cells_show_each_known_neighbour_in_full(qtbot, panel, session, outcome):
    """Each known neighbour's ŷ (two decimals, in full in the tooltip) fits its cell: no
    elided text, however large an escaped neighbour's value."""
    from PySide6.QtGui import QFontMetrics

    from mspviewer.gui.widgets.element_views import CONTEXT_VALUE_ROLE, neighbour_value

    for value, text in ((0.9997, "1.00"), (-0.004, "0.00"), (-0.0105, "-0.01"),
                        (-99.994, "-99.99"), (5000.2, "5000"), (-70000.0, "-70000"),
                        (-1.5e7, "-2e+07")):
        assert neighbour_value(value) == text
    session.set_result(outcome)
    record = outcome.analysis
    table = panel.context.table
    metrics = QFontMetrics(table.font())
    for value in (-0.987654, -99.994, -70000.0, -1.5e7):
        assert metrics.horizontalAdvance(f"ŷ {neighbour_value(value)}") \
            <= table.columnWidth(0) - 8, value
    shown = 0
    for channel, row, col in ((3, 2, 2), (7, 1, 1), (15, 1, 2)):
        panel.inspect(row, col, channel)
        for r in range(3):
            for c in range(3):
                item = table.item(r, c)
                if item.data(CONTEXT_VALUE_ROLE) != 1:
                    continue
                first, second = item.text().split("\n")
                where = item.toolTip().split(" (")[0].split()  # latent row R, col C
                latent_row, latent_col = int(where[2].rstrip(",")), int(where[4])
                assert first == "known"
                value = float(record.y_hat[channel, latent_row, latent_col])
                assert second == f"ŷ {_two_decimals(value)}"
                assert item.toolTip().endswith(f"ŷ = {value!r}")
                # the rendered cell holds the text with room to spare
                rect = table.visualItemRect(item)
                assert metrics.horizontalAdvance(second) <= rect.width() - 8
                assert 2 * metrics.lineSpacing() <= rect.height()
                shown += 1
    assert shown >= 4


@pytest.mark.parametrize("far", [5000.0, -5000.0])
def test_an_escaped_symbol_costs_its_escape_words(qtbot, panel, session, loud_model, outcome,
                                                  pixels, far):
    """A latent far beyond ±bound is coded as the edge bin plus escape words; in the bits
    view the edge bins cost their −log2 P and the escape words, as the coder charges."""
    import math

    import torch

    from mspviewer.codec import image_to_tensor
    from mspviewer.codec.entropy import ESCAPE_BITS

    with torch.no_grad():
        y = loud_model.analyse(image_to_tensor(pixels), loud_model.rate_point(LAM))
        y[0, 2, 1, 2] = far
        coded = loud_model.compress_latent(y, LAM, pixels.shape[:2])
    session.set_result(dataclasses.replace(outcome, analysis=coded.analysis,
                                           bitstream=coded.bitstream))
    panel.set_pmf_view("bits")
    info = panel.inspect(1, 2, 2)
    bound = loud_model.config.coding.symbol_bound
    assert info.escaped and abs(info.symbol) > bound
    assert panel.value_text("escaped").startswith("yes")
    x, heights = panel.pmf_data()
    edge = 0 if far < 0 else -1  # the edge bin stands for every symbol beyond it
    assert x[edge] == math.copysign(bound, far) and panel.highlighted_x() == x[edge]
    edge_cost = -math.log2(max(float(info.pmf[edge]), 2.0 ** -24)) + ESCAPE_BITS
    assert heights[0] == pytest.approx(edge_cost, rel=1e-9)  # (both tails hold the same)
    assert heights[-1] == pytest.approx(edge_cost, rel=1e-9)
    assert panel.pmf.coded_bar.opts["height"][0] == pytest.approx(edge_cost)
    assert panel.pmf.coded_bar.opts["height"][0] == pytest.approx(
        float(coded.analysis.bits[2, 1, 2]), rel=1e-5)
    assert f"{ESCAPE_BITS} bits of escape words" in panel.pmf.caption.text()


def test_in_a_scrolling_dock_the_layout_follows_the_room_not_the_panel(qtbot, panel):
    """In a scroll area the panel is at least as tall as its values-above-plots layout
    needs, which would keep the plots below the fold: the choice follows the view's shape."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    area = QScrollArea()
    area.setWidgetResizable(True)
    panel.setMinimumHeight(600)  # as tall as a squeezed dock's content can be
    area.setWidget(panel)
    qtbot.addWidget(area)
    area.resize(700, 250)  # a short, wide dock: the panel is 700×600 inside it
    area.show()
    qtbot.waitExposed(area)
    qtbot.waitUntil(lambda: panel.splitter.orientation() == Qt.Orientation.Horizontal,
                    timeout=2000)
    area.resize(300, 700)  # a tall, narrow one: above
    qtbot.waitUntil(lambda: panel.splitter.orientation() == Qt.Orientation.Vertical,
                    timeout=2000)
    area.takeWidget()  # the panel is the fixture's to close


def _inside(part, viewport) -> bool:
    from PySide6.QtCore import QPoint, QRect

    where = QRect(part.mapTo(viewport, QPoint(0, 0)), part.size())
    return part.isVisible() and QRect(QPoint(0, 0), viewport.size()).contains(where)


def test_a_short_dock_shows_values_pmf_and_context_in_turn_each_whole(qtbot, panel, session,
                                                                      outcome):
    """In a 250-px dock the PMF plot had its axis below the fold (and the scroll area laid
    the panel out at its preferred height, the plot's last size, so it stayed there): short,
    the three views take turns on tabs, each fits the view, and the plot gets a short form
    (no x-axis title, the caption's lesson in its tooltip) and the context its caption's."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    from mspviewer.gui.widgets.inspector import (PAGED_PLOT_PX, PAGES_HYSTERESIS_PX,
                                                  SHARED_PLOT_PX)

    session.set_result(outcome)
    info = panel.inspect(1, 2, 3)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(panel)
    qtbot.addWidget(area)
    area.resize(430, 250)
    area.show()
    qtbot.waitExposed(area)
    qtbot.waitUntil(lambda: panel.page() == "values", timeout=2000)
    assert panel.page_tabs.isVisible() and panel.table.isVisible()
    assert not panel.pmf_plot.isVisible() and not panel.context.isVisible()
    viewport = area.viewport()
    panel.set_page("pmf")
    parts = (panel.pmf_plot, panel.pmf.caption, panel.pmf_view_box)
    # (the scroll area settles in a few layout passes)
    qtbot.waitUntil(lambda: all(_inside(part, viewport) for part in parts), timeout=3000)
    assert not panel.table.isVisible() and not panel.context.isVisible()
    assert panel.pmf_plot.minimumHeight() == PAGED_PLOT_PX
    assert not area.verticalScrollBar().isVisible()
    # the short caption: what this symbol cost; the lesson in the tooltip
    caption = panel.pmf.caption
    assert f"the coded symbol {info.symbol}: P = " in caption.text()
    assert caption.toolTip() and caption.toolTip() not in caption.text()
    assert not panel.pmf_plot.getAxis("bottom").label.isVisible()
    panel.set_page("context")
    parts = (panel.context.table, panel.context.legend, panel.context.caption)
    qtbot.waitUntil(lambda: all(_inside(part, viewport) for part in parts), timeout=3000)
    assert not panel.pmf_plot.isVisible()
    grid = panel.context.table
    assert panel.context.legend.x() > grid.x() + grid.width()  # beside the grid
    assert panel.context.caption.text() != panel.context.caption.toolTip()
    assert panel.context.caption.toolTip().startswith(
        "the coarsest" if info.step == "coarsest" else f"{info.spatial_context.num_known} of "
        "the 8 nearest neighbours")
    # what the views need together does not move with their arrangement (it had, by a
    # short caption's lines, past the hysteresis: the panel paged and unpaged on every
    # resize at the boundary)
    paged_need = panel._needed_height(False)
    # tall again: everything together, at full size, with the long texts
    area.resize(430, 1000)
    qtbot.waitUntil(lambda: panel.page() is None, timeout=2000)
    assert abs(panel._needed_height(False) - paged_need) < PAGES_HYSTERESIS_PX / 2
    # and the table has its rows' height again (hidden, it had lost it to the plots)
    qtbot.waitUntil(lambda: panel.table.verticalScrollBar().maximum() == 0, timeout=2000)
    assert not panel.page_tabs.isVisible()
    assert panel.splitter.orientation() == Qt.Orientation.Vertical
    for part in (panel.table, panel.pmf_plot, panel.context):
        assert part.isVisible(), part
    assert panel.pmf_plot.minimumHeight() == SHARED_PLOT_PX
    assert panel.pmf_plot.getAxis("bottom").label.isVisible()
    assert caption.toolTip() in caption.text()
    assert panel.context.caption.text() == panel.context.caption.toolTip()
    assert panel.context.legend.y() > grid.y() + grid.height()  # below the grid
    with pytest.raises(ValueError, match="unknown inspector page"):
        panel.set_page("chart")
    area.takeWidget()  # the panel is the fixture's to close


def test_beside_the_plots_the_values_take_what_they_need(qtbot, panel, session, outcome):
    """Wide, the splitter gave the values half the panel: the PMF plot, sharing the other half
    with the context grid, was 110 px wide in a full-HD window."""
    from PySide6.QtCore import Qt

    session.set_result(outcome)
    assert panel.inspect(1, 2, 3) is not None
    panel.resize(1300, 560)
    qtbot.waitUntil(lambda: panel.splitter.orientation() == Qt.Orientation.Horizontal,
                    timeout=2000)
    assert panel.page() is None
    values, plots = panel.splitter.sizes()
    assert values < plots
    assert panel.pmf_plot.width() > 300
    # the values' column fills the table: no blank beside it where the meanings went
    table = panel.table
    qtbot.waitUntil(lambda: table.isColumnHidden(1), timeout=2000)
    assert table.columnWidth(0) >= table.viewport().width() - 1


def test_a_narrow_table_writes_the_meaning_of_the_row_pointed_at_below_it(qtbot, panel,
                                                                         session, outcome):
    """In a laptop's dock (or beside the plots) the "what it means" column had 100 px: each
    meaning wrapped into a row ten lines tall and was cut. Narrow, the column goes and the
    meaning of the row pointed at or selected is written under the table; wide, it stays."""
    from PySide6.QtCore import Qt

    from mspviewer.gui.widgets.inspector import FIELDS, MEANING_HINT, MIN_MEANING_PX

    session.set_result(outcome)
    assert panel.inspect(1, 2, 3) is not None
    table = panel.table
    panel.resize(760, 820)  # tall: values above the plots, the whole width for the table
    qtbot.waitUntil(lambda: panel.splitter.orientation() == Qt.Orientation.Vertical,
                    timeout=2000)
    assert not table.isColumnHidden(1) and panel.meaning.isHidden()
    panel.resize(400, 820)
    qtbot.waitUntil(lambda: table.isColumnHidden(1), timeout=2000)
    assert table.viewport().width() - table.columnWidth(0) < MIN_MEANING_PX
    assert panel.meaning.isVisible() and panel.meaning.text() == MEANING_HINT
    row = [key for key, _, _ in FIELDS].index("sigma")
    table.setCurrentCell(row, 0)
    assert panel.meaning.text().startswith("<b>σ</b>: ")
    assert panel.caption_text("sigma") in panel.meaning.text()
    # the value's tooltip has it too, after the value at full precision
    first, *rest = panel.value_tooltip("sigma").splitlines()
    assert first.startswith("full precision:") and rest == [panel.caption_text("sigma")]
    # a row pointed at with the mouse; when it leaves the table, the selected row's again
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    scale_row = [key for key, _, _ in FIELDS].index("scale")
    table.cellEntered.emit(scale_row, 0)
    assert panel.caption_text("scale") in panel.meaning.text()
    QApplication.sendEvent(table.viewport(), QEvent(QEvent.Type.Leave))
    assert panel.caption_text("sigma") in panel.meaning.text()
    # another element: its meaning, not the last one's (the step's caption differs)
    step_row = [key for key, _, _ in FIELDS].index("step")
    table.setCurrentCell(step_row, 0)
    before = panel.caption_text("step")
    assert panel.inspect(0, 0, 0) is not None
    assert panel.caption_text("step") != before
    assert panel.meaning.text().endswith(panel.caption_text("step"))
    panel.resize(760, 820)
    qtbot.waitUntil(lambda: not table.isColumnHidden(1), timeout=2000)
    assert panel.meaning.isHidden()


def test_the_compact_pmf_keeps_the_users_zoom(qtbot, panel, session, outcome):
    """Going compact (or back) changes the caption and the x title only: it had drawn the
    element again, resetting a zoom the user had made."""
    session.set_result(outcome)
    info = panel.inspect(1, 2, 3)
    box = panel.pmf_plot.getViewBox()
    box.setRange(xRange=(-1.5, 1.5), yRange=(0.0, 0.5), padding=0)
    zoomed = box.viewRange()
    for compact in (True, False):
        panel.pmf.set_compact(compact)
        assert box.viewRange() == zoomed
        assert (panel.pmf.caption.toolTip() in panel.pmf.caption.text()) == (not compact)
    assert f"the coded symbol {info.symbol}" in panel.pmf.caption.text()
