"""The window at a laptop's size (1280×720): which panels share a column as tabs, and that the
decode replay's frame and controls are on screen, not below the fold or past the dock's edge
(tiny random model, offscreen)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, make_window, wait_idle, write_png  # noqa: E402

LAPTOP = (1280, 720)
PROFILES = {"format": "mspviewer-profiles", "version": 1, "profiles": [
    {"name": "fast", "description": "no LOF", "lof_iterations": 0},
    {"name": "quick-lof", "description": "a few Adam steps", "lof_iterations": 4}]}


@pytest.fixture(autouse=True)
def quick_profiles(tmp_path, monkeypatch):
    from mspviewer.codec.profiles import PROFILES_ENV

    (tmp_path / "profiles.json").write_text(json.dumps(PROFILES))
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path / "profiles.json"))


def laptop_window(qtbot, model, tmp_path):
    """A window opened at the laptop's size: its docks are arranged for it when it shows."""
    from PySide6.QtCore import QSettings

    from mspviewer.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(model, settings=settings, open_sample=False, rd_codecs=(),
                        same_bpp_codec=None)
    qtbot.addWidget(window)
    window.resize(*LAPTOP)
    window.show()
    qtbot.waitExposed(window)
    write_png(tmp_path / "picture.png", 96, 128, seed=4)
    assert window.open_path(tmp_path / "picture.png")
    return window


def on_screen(dock) -> bool:
    return not dock.visibleRegion().isEmpty()


def test_a_short_window_has_lof_and_rd_as_tabs_and_an_lof_encode_shows_lof(
        qtbot, tiny_model, tmp_path):
    from mspviewer.gui.main_window import TABBED_RIGHT_COLUMN_BELOW_PX

    window = laptop_window(qtbot, tiny_model, tmp_path)
    assert LAPTOP[1] < TABBED_RIGHT_COLUMN_BELOW_PX
    lof, rd = window.docks["lof"], window.docks["rd"]
    assert window.tabifiedDockWidgets(lof) == [rd]
    assert on_screen(rd) and not on_screen(lof)
    # in a whole column, not a third of one: taller than both had stacked (~390 px)
    assert rd.height() > 300
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=0.01)
    assert on_screen(rd) and not on_screen(lof)  # no iterations to watch: the RD tab stays
    window.controls.set_profile("quick-lof")
    encode(qtbot, window, lam=0.01)
    assert on_screen(lof) and not on_screen(rd)
    assert lof.height() > 300
    # the kept rate as the bpp plot counts it (model bits, no header) beside the file's: the
    # file's alone read as a contradiction of the plot
    result = window.session.result
    assert (f"kept {result.analysis.estimated_bpp:.4f} bpp (model, as plotted), "
            f"{result.bpp:.4f} bpp (file)") in window.lof.status.text()
    assert result.analysis.estimated_bpp < result.bpp
    # a λ ladder brings the RD plot forward, where its points go (with an LOF profile it
    # stayed behind the LOF tab), and leaves the LOF panel the result's
    status = window.lof.status.text()
    assert window.start_lambda_ladder() is not None
    wait_idle(qtbot, window, 120_000)
    assert on_screen(rd) and not on_screen(lof)
    assert len(window.lof.records) == len(result.lof_history) and window.lof.showing_plots()
    assert window.lof.status.text() == status


def test_a_tall_window_has_lof_above_rd(qtbot, tiny_model, tmp_path):
    from mspviewer.gui.main_window import TABBED_RIGHT_COLUMN_BELOW_PX

    window = make_window(qtbot, tiny_model, tmp_path, size=(1600, 1300))
    if window.height() < TABBED_RIGHT_COLUMN_BELOW_PX:  # (a real screen may be smaller)
        pytest.skip(f"the screen holds no window {TABBED_RIGHT_COLUMN_BELOW_PX} px tall")
    lof, rd = window.docks["lof"], window.docks["rd"]
    assert window.tabifiedDockWidgets(lof) == []
    assert on_screen(lof) and on_screen(rd)
    assert lof.geometry().bottom() < rd.geometry().top()


def test_the_replay_fits_a_laptop_dock(qtbot, tiny_model, tmp_path):
    """Its five buttons made it 486 px wide in a 430-px dock (it scrolled sideways), and its
    scroll area laid it out at its preferred height: the frame view was 480 px tall in a
    dock 250 px tall, the picture below the fold."""
    from PySide6.QtCore import QPoint, QRect

    window = laptop_window(qtbot, tiny_model, tmp_path)
    encode(qtbot, window, lam=0.01)
    window.show_panel("replay")
    panel = window.replay
    assert panel.build()
    qtbot.waitUntil(panel.is_complete, timeout=60_000)
    qtbot.wait(50)
    scroller = window.docks["replay"].widget()
    viewport = scroller.viewport()
    assert not scroller.horizontalScrollBar().isVisible()
    assert panel.width() <= viewport.width()
    seen = QRect(QPoint(0, 0), viewport.size())
    for part in (panel.view, panel.plot, panel.export_button, panel.step_info):
        where = QRect(part.mapTo(viewport, QPoint(0, 0)), part.size())
        assert seen.contains(where), (part, where, seen)
    # and the frame is fitted in it: the whole picture, touching two opposite sides
    rect = panel.image_box.viewRect()
    assert rect.contains(0, 0) and rect.contains(127.99, 95.99)
    assert rect.width() == pytest.approx(128, rel=0.01) or \
        rect.height() == pytest.approx(96, rel=0.01)


def test_the_bit_allocation_bar_fits_a_laptop_dock(qtbot, tiny_model, tmp_path):
    """The "Bars by" box was as wide as its longest entry ("every pass (scale, step, group)"),
    which left the opacity slider a 15-px stub at the dock's edge, and the bits map's title
    pushed the map's colour bar out of its view."""
    from PySide6.QtCore import QPoint, QRect

    from mspviewer.gui.widgets.bits import OPACITY_SLIDER_MIN_PX

    window = laptop_window(qtbot, tiny_model, tmp_path)
    encode(qtbot, window, lam=0.01)
    panel, dock = window.bits, window.docks["bits"]
    # the share of the bottom row that arrange_docks gives it (a dock grows to its panel's
    # least width: the panel must ask for no more than that share)
    row = window.docks["latents"].width() + dock.width()
    assert panel.minimumSizeHint().width() <= row - int(row * 0.54)
    assert panel.opacity.width() >= OPACITY_SLIDER_MIN_PX
    seen = QRect(QPoint(0, 0), panel.size())
    for part in (panel.group_box, panel.overlay_box, panel.opacity):
        assert seen.contains(QRect(part.mapTo(panel, QPoint(0, 0)), part.size())), part
    # the bits map and its colour bar inside their view: the map's title, which asked for its
    # whole text's width, pushed them past the dock's edge
    view = panel.map_view
    assert panel.map_bar.sceneBoundingRect().right() <= view.viewport().width()
    assert panel.map_box.sceneBoundingRect().left() >= 0
    assert panel.map_title.text.startswith(panel.map_title.shown_text.rstrip("…"))
    # where the bar has room, the box asks for its longest entry's width
    box = panel.group_box
    longest = max((box.itemText(index) for index in range(box.count())),
                  key=box.fontMetrics().horizontalAdvance)
    assert box.sizeHint().width() > box.fontMetrics().horizontalAdvance(longest)


def test_flicker_mode_fits_a_laptop_window(qtbot, tiny_model, tmp_path):
    """The flicker controls (B's choice, the period, Play) sat in the compare bar, which then
    asked for 200 px more than a laptop's window has: switching to flicker widened the window
    past the screen (1480 px at 1280)."""
    from PySide6.QtCore import QPoint, QRect

    window = laptop_window(qtbot, tiny_model, tmp_path)
    encode(qtbot, window, lam=0.01)
    compare = window.compare
    for mode in ("flicker", "side"):
        compare.set_mode(mode)
        qtbot.wait(50)
        assert window.minimumSizeHint().width() <= LAPTOP[0], mode
        assert window.width() == LAPTOP[0], mode
    compare.set_mode("flicker")
    qtbot.wait(50)
    seen = QRect(QPoint(0, 0), compare.size())
    # (B's choice shows with a third pane only: none here)
    for part in (compare.flicker_period_box, compare.flicker_play, compare.fit_button,
                 compare.one_button):
        where = QRect(part.mapTo(compare, QPoint(0, 0)), part.size())
        assert part.isVisible() and seen.contains(where), part


def test_the_metrics_table_shows_every_row_in_a_laptop_dock(qtbot, tiny_model, tmp_path):
    """With a classic column beside MSP's, the table had scrolled by about a row: the image's
    name wrapped to three lines of one column where both columns name the same image. After
    an LOF encode the change it made took four lines of one column, and the classic codec's
    setting three ("JPEG 4:2:0, quality 1 (its smallest)"): the change now has the table's
    width, and the codec names its column."""
    window = laptop_window(qtbot, tiny_model, tmp_path)
    path = tmp_path / "picture-23.png"
    write_png(path, 160, 224, seed=2)
    assert window.open_path(path)
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=0.01)
    window.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    table = window.metrics.table
    assert window.session.classic is not None and not table.isColumnHidden(1)
    qtbot.waitUntil(lambda: table.viewport().height() > 0)
    assert window.metrics.value("image") == "picture-23.png: 224×160"
    # one line like the file size's: the name has both columns' width (in one it wrapped)
    rows = window.metrics._rows
    assert table.rowHeight(rows["image"]) == table.rowHeight(rows["file_size"])
    assert table.verticalScrollBar().maximum() == 0, "the table scrolls in a laptop's dock"
    # after an LOF encode, with its row of what LOF changed, beside a classic codec
    window.controls.set_profile("quick-lof")
    encode(qtbot, window, lam=0.01)
    window.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    assert "symbols changed" in window.metrics.value("lof_change")
    qtbot.wait(50)
    # the change in two lines at most, across both columns (how many symbols there are: in
    # its tooltip), and every row on screen
    assert table.rowHeight(rows["lof_change"]) < 2.5 * table.rowHeight(rows["file_size"])
    assert table.columnSpan(rows["lof_change"], 0) == 2
    assert table.horizontalHeaderItem(1).text() == "JPEG 4:2:0"
    assert table.verticalScrollBar().maximum() == 0, "the table scrolls after an LOF encode"


def label_inside_axis(plot, side: str) -> bool:
    """Whether the vertical axis label on ``side`` lies within its axis's height (within 1 px):
    a longer one was drawn past the plot's top and bottom and cut by the panel."""
    axis = plot.getAxis(side)
    label, span = axis.label.sceneBoundingRect(), axis.sceneBoundingRect()
    return label.top() >= span.top() - 1 and label.bottom() <= span.bottom() + 1


def test_colour_bar_labels_fit_their_bars(qtbot, tiny_model, tmp_path):
    """In a laptop's window the latents' colour bar read "mean ŷ² over channe": a label set
    after the bar was laid out kept the last one's place, past the bar's top. Every label now
    lies within its bar, centred, in a short form where the bar is too short for the long one;
    so do the difference and bits-map bars."""
    from mspviewer.gui import latent_data

    window = laptop_window(qtbot, tiny_model, tmp_path)
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=0.01)
    latents, bar = window.latents, window.latents.color_bar

    def labels_shown() -> set[str]:
        shown = set()
        for key in ("y_hat", "sigma", "bits", "surprise"):
            latents.set_quantity(key)
            for channel in (None, 3):
                latents.set_channel(channel)
                qtbot.wait(20)
                label, _, reduced = latent_data.QUANTITIES[key]
                one_channel, over_channels = latent_data.SHORT_LABELS[key]
                text = bar.getAxis("right").labelText
                assert text in ((label, one_channel) if channel is not None
                                else (reduced, over_channels))
                assert label_inside_axis(bar, "right"), (key, channel, text)
                shown.add(text)
        return shown

    assert set(latent_data.SHORT_LABELS) == set(latent_data.QUANTITIES)
    assert "mean ŷ² over channels" in labels_shown()  # the bar is tall enough for it here
    latents.view.setFixedHeight(110)  # (the dock dragged short: heatmaps and bar as strips)
    qtbot.waitUntil(lambda: bar.getViewBox().height() < 100)
    assert {"mean ŷ²", "σ", "bits"} <= labels_shown()  # and is not at 70 px
    # the compare view's difference bar and the bits map's bar, as the window shows them
    window.compare.set_mode("difference")
    window.docks["bits"].raise_()
    window.bits.set_view("chart")
    wait_idle(qtbot, window)
    qtbot.wait(50)
    for plot in (window.compare.color_bar, window.bits.map_bar):
        assert plot.isVisible()
        assert label_inside_axis(plot, "left"), plot.getAxis("left").labelText


def test_every_tour_step_can_be_read_whole_in_a_laptop_window(qtbot, tiny_model, tmp_path):
    """The tour's text was a bare label cut through a line in a short dock, the rest of the
    step out of reach: it now scrolls, and each step starts at its first line."""
    from PySide6.QtCore import Qt

    window = laptop_window(qtbot, tiny_model, tmp_path)
    window.start_tour()
    tour = window.tour
    # (it opens tall enough for most steps: dragged short, as a user may leave it)
    window.resizeDocks([window.docks["tour"]], [200], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: 0 < tour.text_area.viewport().height() < 120)
    scrolled = 0
    for index in range(len(tour.steps)):
        tour.go(index)
        qtbot.wait(20)
        label, bar = tour.text_label, tour.text_area.verticalScrollBar()
        assert bar.value() == 0
        # the label has every line of its text; the viewport shows them, or scrolls to them
        assert label.height() >= label.heightForWidth(label.width())
        hidden = label.height() - tour.text_area.viewport().height()
        assert bar.maximum() == max(0, hidden)
        if hidden > 0:
            scrolled += 1
            bar.setValue(bar.maximum())
    assert scrolled > 0  # (the laptop's dock is short for some steps: the case in question)


def test_narrow_compare_panes_keep_their_names(qtbot, tiny_model, tmp_path):
    """At 1280×720 the panes' shortest titles were their rates alone: with the third pane
    showing MSP without LOF, difference mode titled two panes "0.1111 bpp". A narrow pane
    now keeps its name and drops the rate's details first."""
    from mspviewer.gui.outcomes import PLAIN_PANE

    window = laptop_window(qtbot, tiny_model, tmp_path)
    window.controls.set_profile("quick-lof")
    encode(qtbot, window, lam=0.01)
    compare = window.compare
    for codec, name in ((PLAIN_PANE, "no LOF"), ("jpeg-420", "JPEG 4:2:0")):
        compare.set_classic_codec(codec)
        wait_idle(qtbot, window)
        for mode in ("side", "difference"):
            compare.set_mode(mode)
            for width in (1280, 1000):  # (the narrower window: the shortest titles)
                window.resize(width, LAPTOP[1])
                qtbot.wait(50)
                decoded = compare.decoded.title.shown_text
                third = compare.classic.title.shown_text
                assert decoded != third, (codec, mode, width, decoded)
                assert "MSP" in decoded and (name in third or third.endswith("…")), \
                    (codec, mode, width, decoded, third)
                if mode == "difference":
                    assert "Δ" in decoded and "Δ" in third[:3], (decoded, third)
    window.resize(*LAPTOP)


def tick_label_rects(plot, side: str = "left"):
    """The rectangles pyqtgraph draws the axis's tick labels in (its own layout of them)."""
    from PySide6.QtGui import QImage, QPainter

    axis = plot.getAxis(side)
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [rect for rect, _flags, text in specs[2] if text]


def test_per_channel_ticks_never_overlap_in_a_laptop_dock(qtbot, tiny_model, tmp_path):
    """At 1280×720 the per-channel plots are about 35 px tall: pyqtgraph's "60", "40" and
    "20" were drawn on top of each other, and the 50 % mark's label ran into the channel
    numbers. Now the ticks are as many round values as fit, each label whole inside its
    axis, and a mark label that would leave its plot is hidden (the summary has it)."""
    window = laptop_window(qtbot, tiny_model, tmp_path)
    window.docks["bits"].raise_()
    window.bits.set_view("channels")
    path = tmp_path / "textured.png"
    write_png(path, 192, 256, seed=5)
    assert window.open_path(path)
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=0.01)
    chart = window.bits.channels
    qtbot.wait(50)
    for plot in (chart.share_plot, chart.cumulative_plot):
        rects = tick_label_rects(plot)
        assert rects, "no value on the axis at all"
        axis = plot.getAxis("left")
        for index, rect in enumerate(rects):
            assert axis.boundingRect().contains(rect)
            assert not any(rect.intersects(other) for other in rects[index + 1:]), \
                [r.getRect() for r in rects]
    # a zoom on the short plot: ticks for the new range (the fitted ones were of the old)
    chart.share_plot.setYRange(0, 0.5, padding=0)
    qtbot.wait(20)
    assert [axis_value for axis_value, _ in chart.share_plot.getAxis("left")._tickLevels[0]] \
        and all(0 < value <= 0.5 for value, _ in chart.share_plot.getAxis("left")._tickLevels[0])
    box = chart.cumulative_plot.getViewBox().sceneBoundingRect()
    for label, _mark in chart.mark_labels:
        if label.isVisible():
            assert box.adjusted(-1, -1, 1, 1).contains(label.sceneBoundingRect())


def test_a_plot_grown_tall_again_gets_pyqtgraphs_own_ticks_back(qtbot):
    import pyqtgraph as pg

    from mspviewer.gui.widgets.common import fit_axis_ticks

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    plot = widget.getPlotItem()
    plot.setYRange(0, 100, padding=0)
    widget.show()
    for height, fitted in ((300, False), (60, True), (300, False)):
        widget.resize(300, height)
        qtbot.waitUntil(lambda: abs(widget.height() - height) < 2)
        qtbot.wait(20)
        fit_axis_ticks(plot)
        rects = tick_label_rects(plot)
        assert (len(rects) < 4) == fitted, (height, [r.getRect() for r in rects])
        assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_a_scale_with_no_positions_says_so_in_a_narrow_title(qtbot, tiny_model, tmp_path):
    """A 16×16 image's latent is one position, all of the coarsest scale: the other maps
    were blank under titles cut to "scale 2"."""
    window = laptop_window(qtbot, tiny_model, tmp_path)
    write_png(tmp_path / "tiny.png", 16, 16, seed=3)
    assert window.open_path(tmp_path / "tiny.png")
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=0.01)
    qtbot.wait(50)
    latents = window.latents
    empty = [(layer, title) for layer, title in zip(latents.layers, latents.titles)
             if layer.num_elements == 0]
    assert empty and len(empty) < len(latents.layers)
    for layer, title in empty:
        assert title.shown_text.endswith("none") or title.shown_text == title.text, \
            title.shown_text
        assert ": 0 positions" in title.text


def test_the_inspector_shows_its_pmf_whole_in_a_laptop_dock(qtbot, tiny_model, tmp_path):
    """The PMF plot sat below the values, its axis below the fold of a 250-px dock, where
    nobody scrolled to it. In a room too short for everything the values, the PMF and the
    context take turns on tabs, and each page shows whole."""
    from PySide6.QtCore import QPoint, QRect

    window = laptop_window(qtbot, tiny_model, tmp_path)
    encode(qtbot, window, lam=0.01)
    window.show_panel("inspector")
    panel = window.inspector
    assert panel.inspect_pixel(40, 30) is not None
    scroller = window.docks["inspector"].widget()
    viewport = scroller.viewport()
    # paged, on the PMF page: show_panel (the tour's step, whose text is about the PMF)
    # brings that one
    qtbot.waitUntil(lambda: panel.page() == "pmf", timeout=2000)

    def inside(part) -> bool:
        where = QRect(part.mapTo(viewport, QPoint(0, 0)), part.size())
        return part.isVisible() and QRect(QPoint(0, 0), viewport.size()).contains(where)

    for page, parts in (("pmf", (panel.pmf_plot, panel.pmf.caption, panel.pmf_view_box)),
                        ("context", (panel.context.table, panel.context.legend))):
        panel.set_page(page)
        # (the scroll area settles in a few layout passes)
        qtbot.waitUntil(lambda: all(inside(part) for part in parts), timeout=3000)
        assert not panel.table.isVisible()
        assert not scroller.verticalScrollBar().isVisible()
        assert not scroller.horizontalScrollBar().isVisible()


def test_the_tour_shares_its_column_with_the_panel_it_is_about(qtbot, tiny_model, tmp_path):
    """Opened as tall as its longest step, the tour squeezed the Metrics dock beside it to
    three rows on a laptop, at the step about the metrics. At that step the two share their
    room evenly; at the next the tour takes its height back."""
    window = laptop_window(qtbot, tiny_model, tmp_path)
    window.start_tour()
    qtbot.wait(100)
    tour, metrics = window.docks["tour"], window.docks["metrics"]
    fitted = tour.height()
    keys = [step.panel_key for step in window.tour.steps]
    window.tour.go(keys.index("metrics"))
    qtbot.waitUntil(lambda: abs(metrics.height() - tour.height()) <= 2)
    assert metrics.height() > metrics.minimumSizeHint().height() + 50
    window.tour.next()
    qtbot.waitUntil(lambda: tour.height() == fitted)
    # the Encode panel, at its least height, lacks nothing: the tour keeps its height there
    window.tour.go(keys.index("controls"))
    qtbot.wait(100)
    assert tour.height() == fitted


def test_images_only_gives_the_compare_view_the_window_and_brings_the_panels_back(
        qtbot, tiny_model, tmp_path):
    """On a laptop the panels leave each compared image about 150 pixels wide; View ▸ Images
    only (Ctrl+Shift+F) hides them all, and again shows the ones that were shown."""
    window = laptop_window(qtbot, tiny_model, tmp_path)
    encode(qtbot, window, lam=0.01)
    window.docks["replay"].hide()  # a panel the user had closed stays closed
    qtbot.wait(50)
    shown = {key for key, dock in window.docks.items() if dock.isVisible()}
    assert shown and "replay" not in shown
    pane = window.compare.original.box.width()
    assert window.compare.width() < 0.6 * window.width()
    window.images_only_action.trigger()
    qtbot.wait(50)
    assert window.images_only() and window.images_only_action.isChecked()
    assert not any(dock.isVisible() for dock in window.docks.values())
    assert window.compare.width() > 0.95 * window.width()
    assert window.compare.original.box.width() > 1.8 * pane  # the images, not the margins
    window.images_only_action.trigger()
    qtbot.wait(50)
    assert not window.images_only() and not window.images_only_action.isChecked()
    assert {key for key, dock in window.docks.items() if dock.isVisible()} == shown
    assert on_screen(window.docks["rd"]) and not on_screen(window.docks["lof"])  # its tab


def test_images_only_asked_for_before_the_window_shows_hides_every_panel(qtbot, tiny_model,
                                                                         tmp_path):
    """`mspviewer --images-only` sets it before the window is shown, when no panel is
    visible yet: every panel is hidden still, and comes back."""
    from PySide6.QtCore import QSettings

    from mspviewer.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(tiny_model, settings=settings, open_sample=False, rd_codecs=(),
                        same_bpp_codec=None)
    qtbot.addWidget(window)
    window.set_images_only(True)
    window.resize(*LAPTOP)
    window.show()
    qtbot.waitExposed(window)
    assert not any(dock.isVisible() for dock in window.docks.values())
    window.set_images_only(False)
    qtbot.wait(50)
    assert window.docks["controls"].isVisible() and window.docks["metrics"].isVisible()
