"""The real main window, driven with a tiny random model and small images (offscreen)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, make_window, rendered_pixels, wait_idle, write_png  # noqa: E402

from mspviewer.codec import decode_bytes  # noqa: E402
from mspviewer.codec.record_file import load_record  # noqa: E402
from mspviewer.gui import latent_data  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return make_window(qtbot, tiny_model, tmp_path)


@pytest.fixture
def encoded_window(qtbot, window, tmp_path):
    path = tmp_path / "picture.png"
    write_png(path, 48, 80, seed=3)
    assert window.open_path(path)
    encode(qtbot, window, lam=0.01)
    return window


def test_load_and_encode_fills_every_panel(qtbot, window, tiny_model, tmp_path):
    path = tmp_path / "picture.png"
    pixels = write_png(path, 48, 80, seed=3)
    assert window.open_path(path)
    wait_idle(qtbot, window)  # panels redraw a few milliseconds apart
    image = window.session.image
    assert image is not None and np.array_equal(image.pixels, pixels)
    assert np.array_equal(window.compare.original.rgb.image, pixels)
    assert window.metrics.value("image").startswith("picture.png: 80×48")
    assert window.session.result is None
    assert window.metrics.table.isColumnHidden(1)  # no third pane yet: no empty column

    window.controls.set_lambda(0.01)
    result = encode(qtbot, window)
    assert not window.errors
    # the result is what the core produces for these pixels
    again = decode_bytes(tiny_model, result.bitstream)
    assert np.array_equal(again.pixels, result.decoded)
    assert result.decode_matches is True
    assert result.profile == "fast" and math.isclose(result.lam, 0.01, rel_tol=1e-6)
    # metrics panel: the figures, checked against an independent PSNR, then their labels
    point = result.point
    from skimage.metrics import peak_signal_noise_ratio
    assert point.psnr_rgb == pytest.approx(
        peak_signal_noise_ratio(pixels, result.decoded, data_range=255), abs=1e-9)
    assert result.bpp == pytest.approx(8 * len(result.bitstream) / (48 * 80))
    assert window.metrics.value("file_size") == f"{len(result.bitstream):,} B"
    assert window.metrics.value("bpp") == f"{result.bpp:.4f} bpp"
    assert window.metrics.value("psnr_rgb") == f"{point.psnr_rgb:.2f} dB"
    assert window.metrics.value("psnr_y") == f"{point.psnr_y:.2f} dB"
    assert window.metrics.value("ms_ssim").startswith(f"{point.ms_ssim:.4f}")
    # 48 rows fit 3 of MS-SSIM's 5 scales (each halves the image; the 11-px window must fit)
    assert window.metrics.value("ms_ssim").endswith(", 3 of 5 scales")
    assert window.metrics_document()["msp"]["ms_ssim_scales"] == 3
    assert window.metrics.value("decode_check") == "bit-exact ✓"
    analysis = result.analysis
    assert window.metrics.value("estimated_bits") == f"{analysis.estimated_bits:,.0f}"
    assert window.metrics.value("actual_bits") == f"{analysis.actual_bits:,}"
    assert window.metrics.tooltip("actual_bits") == \
        f"{analysis.actual_bits:,}\n{8 * analysis.payload_bytes / (48 * 80):.4f} bpp of payload"
    # the overhead, with its two terms behind it
    overhead = 100 * (analysis.actual_bits - analysis.estimated_bits) / analysis.estimated_bits
    assert window.metrics.value("overhead") == f"{overhead:+.2f} %".replace("-", "−")
    table = window.metrics.table
    assert window.metrics.tooltip("overhead").startswith(
        f"{window.metrics.value('overhead')}\n{analysis.actual_bits:,} bits written against")
    assert window.metrics.value("fresh_check") == "not run"
    assert all(table.verticalHeaderItem(row).toolTip() for row in range(table.rowCount()))
    # compare view: item data and rendered pixels
    assert np.array_equal(window.compare.decoded.rgb.image, result.decoded)
    window.compare.zoom_fit()
    qtbot.wait(20)
    shown = rendered_pixels(window.compare.side_view, window.compare.decoded.box, 48, 80)
    assert np.array_equal(shown, result.decoded)
    shown = rendered_pixels(window.compare.side_view, window.compare.original.box, 48, 80)
    assert np.array_equal(shown, pixels)
    # latent heatmaps hold the analysis arrays
    analysis = result.analysis
    assert len(window.latents.items) == len(latent_data.scales(analysis))
    for layer, item in zip(window.latents.layers, window.latents.items):
        np.testing.assert_array_equal(item.image, layer.data)
    # bit allocation: the bars are the stream's bytes per scale
    allocation = window.bits.allocation
    per_scale = analysis.bits_per_scale()
    expected = [per_scale[s]["actual_bytes"] for s in sorted(per_scale, reverse=True)]
    assert list(allocation.actual_bytes) == expected
    heights = window.bits.actual_bars.opts["height"]
    assert list(np.asarray(heights, int)) == expected
    np.testing.assert_allclose(window.bits.map_item.image,  # 80×48: 5×3 whole blocks
                               analysis.bits.sum(axis=0)[:3, :5] / 256.0, rtol=1e-5)
    share = latent_data.padding_bits_share(analysis)  # the rest of the grid is padding
    assert window.bits.map_title.text == "bits per pixel, by 16×16 block" + (
        f" · {100 * share:.1f} % of the bits code the padding (not shown)"
        if share >= 0.0005 else "")
    # RD panel: one learned point at the measured rate and quality
    xs, ys = window.rd.learned_data()
    assert xs == [point.bpp] and ys == [point.psnr_rgb]
    # LOF panel: profile fast runs no LOF; the plain encode is shown as iteration 0
    assert window.lof.progress.text() == "done"
    assert "no LOF" in window.lof.status.text()


def test_latent_views_show_the_analysis_arrays(qtbot, encoded_window):
    window = encoded_window
    analysis = window.session.result.analysis
    latents = window.latents
    for key in set(latent_data.QUANTITIES) - latent_data.LOF_CHANGE:  # (test_gui_lof_change)
        latents.set_quantity(key)
        for channel in (None, 3):
            latents.set_channel(channel)
            full = latent_data.full_quantity(analysis, key)
            for layer, item in zip(latents.layers, latents.items):
                mask = analysis.scale_mask(layer.scale)[::layer.stride, ::layer.stride]
                data = item.image
                assert np.isnan(data[~mask]).all()
                if channel is not None:
                    values = full[channel][::layer.stride, ::layer.stride][mask]
                    np.testing.assert_allclose(data[mask], values, rtol=1e-6, atol=1e-6)
    # one channel of μ, checked against the record directly
    latents.set_quantity("mu")
    latents.set_channel(5)
    coarsest = latents.layers[0]
    np.testing.assert_allclose(latents.items[0].image,
                               analysis.mu[5][::coarsest.stride, ::coarsest.stride],
                               rtol=1e-6)
    # the colour bar covers the values shown: μ of one channel is signed, so the levels are
    # symmetric, ± the 99.5th percentile of |μ| over every position the layers show (each
    # latent position once, so all of channel 5)
    low, high = latents.color_bar.levels()
    bound = float(np.percentile(np.abs(analysis.mu[5].astype(np.float64)), 99.5))
    assert bound > 0
    assert (low, high) == pytest.approx((-bound, bound), rel=1e-6)
    # levels under 1 are shown as they are: 0.4 reads 0.4, not 400 "(x0.001)"
    latents.color_bar.setLevels((0.0, 0.4))
    axis = latents.color_bar.axis
    assert axis.autoSIPrefixScale == 1.0 and "(x" not in axis.labelString()


def test_a_refresh_does_not_upload_unchanged_images_again(qtbot, encoded_window,
                                                           monkeypatch):
    import pyqtgraph as pg

    from mspviewer.gui.widgets.common import set_rgb

    window = encoded_window
    uploads = []
    real_set_image = pg.ImageItem.setImage

    def counting_set_image(item, image=None, **kwargs):
        uploads.append(item)
        return real_set_image(item, image, **kwargs)

    monkeypatch.setattr(pg.ImageItem, "setImage", counting_set_image)
    compare = window.compare
    compare.refresh()
    assert compare.original.rgb not in uploads and compare.decoded.rgb not in uploads
    assert not window.session.result.decoded.flags.writeable  # (why it may be skipped)
    # a writable array, or another one, is always shown anew; the rectangle follows
    item = pg.ImageItem(axisOrder="row-major")
    writable = np.zeros((4, 6, 3), np.uint8)
    set_rgb(item, writable)
    set_rgb(item, writable)
    assert uploads.count(item) == 2
    frozen = writable.copy()
    frozen.setflags(write=False)
    set_rgb(item, frozen)
    set_rgb(item, frozen)
    assert uploads.count(item) == 3
    set_rgb(item, frozen, x0=10.0)  # the same pixels elsewhere: placed again
    assert uploads.count(item) == 4 and item.mapRectToParent(item.boundingRect()).x() == 10


def test_switch_views(qtbot, encoded_window, monkeypatch):
    window = encoded_window
    result = window.session.result
    compare = window.compare
    compare.set_mode("difference")
    assert compare.stack.currentWidget() is compare.side_view
    assert compare.decoded.heat.isVisible() and not compare.decoded.rgb.isVisible()
    expected = np.abs(result.original.astype(int) - result.decoded.astype(int)).mean(axis=2)
    np.testing.assert_allclose(compare.decoded.heat.image, expected, rtol=1e-6)
    assert compare.color_bar.scene() is not None  # colour bar shown
    # its levels: 0 to the 99.5th percentile of the mean absolute difference (at least 1),
    # sampled every LEVEL_STRIDE-th pixel each way
    from mspviewer.gui.widgets.compare import LEVEL_STRIDE
    sample = expected[::LEVEL_STRIDE, ::LEVEL_STRIDE]
    assert sample.size > 100  # (a smaller sample would go by its maximum)
    top = float(np.percentile(sample, 99.5))
    assert top > 1.0  # the data decide, not the floor
    assert compare.color_bar.levels() == pytest.approx((0.0, top), rel=1e-6)

    compare.set_mode("split")
    assert compare.stack.currentWidget() is compare.split_view
    # what is drawn: the original left of the line, the decoded image right of it (the
    # columns beside the line, which its pen covers, are left out)
    assert np.abs(result.original.astype(int) - result.decoded).max() > 8  # tells them apart
    for line in (30, 55, 30):
        compare.split_line.setValue(line)
        shown = rendered_pixels(compare.split_view, compare.split_box, 48, 80)
        assert np.array_equal(shown[:, :line - 1], result.original[:, :line - 1]), line
        assert np.array_equal(shown[:, line + 1:], result.decoded[:, line + 1:]), line
    # dragging moves a clipping rectangle; no image is sliced or uploaded again
    uploads = []
    for item in (compare.split_left, compare.split_right):
        monkeypatch.setattr(item, "setImage", lambda *args, **kwargs: uploads.append(args))
    for line in range(20, 70, 5):
        compare.split_line.setValue(line)
    assert uploads == []
    monkeypatch.undo()
    compare.split_line.setValue(200.0)  # dragged past the edge: held at the image's width
    shown = rendered_pixels(compare.split_view, compare.split_box, 48, 80)
    assert np.array_equal(shown[:, :78], result.original[:, :78])

    compare.set_mode("side")
    assert compare.decoded.rgb.isVisible() and not compare.decoded.heat.isVisible()
    assert compare.color_bar.scene() is None

    window.bits.set_grouping("pass")
    assert len(window.bits.allocation.labels) == len(result.analysis.passes)
    window.bits.set_grouping("group")
    assert len(window.bits.allocation.labels) == window.session.model.config.msp.num_groups
    window.rd.metric_box.setCurrentIndex(window.rd.metric_box.findData("psnr_y"))
    assert window.rd.learned_data()[1] == [result.point.psnr_y]

    dock = window.docks["latents"]
    dock.toggleViewAction().trigger()
    assert dock.isHidden()
    dock.toggleViewAction().trigger()
    assert not dock.isHidden()
    # later tools add their own panels, with a View-menu toggle
    from PySide6.QtWidgets import QLabel

    extra = window.add_panel("extra", "Inspector", QLabel("inspector"))
    assert extra.toggleViewAction() in window.view_menu.actions()


def test_zoom_fit_one_to_one_and_pixel_readout(qtbot, encoded_window):
    window = encoded_window
    compare = window.compare
    result = window.session.result
    compare.zoom_one_to_one()
    box = compare.original.box
    rect = box.viewRect()
    assert rect.width() == pytest.approx(box.width(), rel=0.02)
    # linked views: the decoded pane follows
    assert compare.decoded.box.viewRect().width() == pytest.approx(rect.width(), rel=1e-6)
    compare.zoom_fit()
    rect = box.viewRect()
    assert rect.left() <= 0.01 and rect.right() >= 79.99 and rect.top() <= 0.01 \
        and rect.bottom() >= 47.99
    # pixel values under the cursor, through the real mouse-move path
    scene_pos = compare.decoded.box.mapViewToScene(
        __import__("PySide6.QtCore", fromlist=["QPointF"]).QPointF(10.5, 20.5))
    compare._on_mouse_moved(scene_pos)
    r, g, b = result.original[20, 10]
    assert compare.readout.text().startswith("x 10, y 20")
    assert f"original ({r:3d}, {g:3d}, {b:3d})" in compare.readout.text()
    r, g, b = result.decoded[20, 10]
    assert f"MSP ({r:3d}, {g:3d}, {b:3d})" in compare.readout.text()
    assert compare.pixel_info(500, 500) == " "


def test_fit_shows_a_thin_strip_from_its_start_at_a_visible_size(qtbot, encoded_window):
    """Fitted whole, a 4096×16 strip would be about 2 px tall in the pane: it is shown from
    its start with its short side MIN_FITTED_SIDE_PX tall; an ordinary image is shown whole."""
    from mspviewer.gui.widgets.common import MIN_FITTED_SIDE_PX, fit_range

    box = encoded_window.compare.original.box
    width, height = box.width(), box.height()
    assert 16 * min(width / 4096, height / 16) < 4  # shown whole, it would be that thin
    strip = fit_range(box, 4096, 16)
    assert (strip.left(), strip.top(), strip.height()) == (0, 0, 16)
    assert width / strip.width() == pytest.approx(MIN_FITTED_SIDE_PX / 16)  # pixels per pixel
    tall = fit_range(box, 16, 4096)
    assert (tall.width(), tall.top()) == (16, 0)
    assert tall.height() == pytest.approx(height * 16 / MIN_FITTED_SIDE_PX)
    assert fit_range(box, 80, 48).getRect() == (0, 0, 80, 48)
    box.setRange(strip, padding=0)  # the view honours it: 48 screen pixels for 16 rows
    assert box.viewRect().height() * MIN_FITTED_SIDE_PX / 16 == pytest.approx(height, rel=0.02)


def test_a_classic_codec_that_cannot_get_down_to_the_rate_says_so(qtbot, encoded_window):
    """When a codec's smallest file is above MSP's rate (the search's ``below_target`` is
    False), the pane and the metrics say so: it is not a same-size comparison."""
    from mspviewer.baselines.registry import get_codec
    from mspviewer.gui.outcomes import ClassicOutcome
    from mspviewer.rd import RDPoint

    window = encoded_window
    window.compare.set_classic_codec("jpeg-420")  # the pane shows it (the search's result
    wait_idle(qtbot, window)                       # is replaced below by known outcomes)
    pixels = window.session.image.pixels
    data = get_codec("jpeg-420").encode(pixels, 1)
    decoded = get_codec("jpeg-420").decode(data)
    bpp = 8 * len(data) / pixels.shape[0] / pixels.shape[1]
    point = RDPoint(bpp=bpp, num_bytes=len(data), quality=1)
    for below_target, target in ((False, bpp / 2), (True, bpp * 2)):
        window.session.set_classic(ClassicOutcome("jpeg-420", "JPEG 4:2:0", 1, data, decoded,
                                                  point, target, below_target))
        wait_idle(qtbot, window)
        title = window.compare.classic.title.text
        setting = window.metrics.value("setting", 1)
        # the column is named after the codec; its setting cell does not repeat the name
        assert window.metrics.table.horizontalHeaderItem(1).text() == "JPEG 4:2:0"
        assert setting.startswith("quality 1")
        if below_target:
            assert title == f"JPEG 4:2:0 quality 1 ({bpp:.4f} bpp)"
            assert "smallest" not in setting
        else:
            assert title == (f"JPEG 4:2:0 quality 1 ({bpp:.4f} bpp: its smallest, "
                             f"above {target:.4f})")
            assert setting.endswith("(its smallest)")
            tooltip = window.metrics.tooltip("setting", 1)
            assert f"down to MSP's {target:.4f} bpp" in tooltip and f"{bpp:.4f} bpp" in tooltip


def test_the_third_pane_waits_only_for_what_is_coming(qtbot, window, tiny_model, tmp_path):
    """A classic codec that fails (VVC on odd sizes) or has no original to code (a stream
    opened on its own) is said so in the pane and in the blind A/B test, not "waiting for a
    result" for ever."""
    from mspviewer.gui.widgets.blind_ab import BACK_TO_COMPARE, NOT_READY_NO_ORIGINAL

    odd = tmp_path / "odd.png"
    write_png(odd, 17, 33, seed=4)
    assert window.open_path(odd)
    encode(qtbot, window, lam=0.01)
    stream = tmp_path / "odd.msp"
    assert window.export_bitstream(stream)
    window.compare.set_classic_codec("vvc-faster")
    wait_idle(qtbot, window)
    title = window.compare.classic.title.text
    assert "failed: " in title and "VVC" in title and "waiting" not in title, title
    # the blind A/B test says so too, rather than to wait
    problem = window.session.classic_problem
    assert "even width and height" in problem
    assert window.blind_ab.outcome.text() == (
        f"Blind A/B needs the classic codec at the same size, and it failed: {problem}. "
        f"Choose another codec in the compare view (its third pane; {BACK_TO_COMPARE}).")
    assert not window.blind_ab.new_round()
    window.compare.set_classic_codec("jpeg-420")  # a codec that works clears it
    wait_idle(qtbot, window)
    assert window.session.classic is not None and "failed" not in \
        window.compare.classic.title.text
    assert window.session.classic_problem is None and window.blind_ab.new_round()

    alone = make_window(qtbot, tiny_model, tmp_path)
    assert alone.open_path(stream)
    wait_idle(qtbot, alone)
    assert alone.session.result.original is None
    alone.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, alone)
    assert "no original to code" in alone.compare.classic.title.text
    assert alone.blind_ab.outcome.text() == NOT_READY_NO_ORIGINAL


def test_a_pane_title_too_long_for_its_pane_is_cut_never_spilled(qtbot):
    import pyqtgraph as pg

    from mspviewer.gui.widgets.common import Title

    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    title = Title("", elide=True, size="10pt")
    view.ci.addItem(title, row=0, col=0)
    view.ci.addItem(pg.ViewBox(), row=1, col=0)
    view.resize(240, 120)
    view.show()
    whole = "VVC intra (faster): failed: VVC 4:2:0 needs an even width and height, got 191x191"
    title.setText(whole)
    qtbot.waitUntil(lambda: title.shown_text != whole, timeout=5000)
    assert title.text == whole and title.toolTip() == whole
    assert title.shown_text.endswith("…") and whole.startswith(title.shown_text[:-1])
    # the drawn text stays inside the title's own rectangle, so it cannot cover a neighbour
    assert title.itemRect().width() <= title.rect().width() + 1
    view.resize(1400, 120)  # room for all of it: whole again, no tooltip
    qtbot.waitUntil(lambda: title.shown_text == whole, timeout=5000)
    assert title.toolTip() == ""
    title.setText("a < b & c")  # plain text, not markup
    assert title.item.toPlainText() == "a < b & c"
    title.setText(whole)
    title.setMinimumWidth(4)
    title.setMaximumWidth(4)  # too narrow for even "…": nothing drawn, all in the tooltip
    qtbot.waitUntil(lambda: title.rect().width() <= 4, timeout=5000)
    assert title.shown_text.strip() == "" and title.toolTip() == whole
    assert title.itemRect().height() > 5  # the line keeps its height
    title.setMaximumWidth(10_000)
    title.setMinimumWidth(0)
    # shorter texts: the first that fits is drawn whole, before any is cut
    decoded = "Decoded (MSP balanced · cancelled, best so far, 0.2345 bpp)"
    title.setText(decoded, shorter=("MSP 0.2345 bpp", "0.2345 bpp"))
    view.resize(150, 120)
    qtbot.waitUntil(lambda: title.shown_text == "MSP 0.2345 bpp", timeout=5000)
    assert title.toolTip() == decoded
    view.resize(60, 120)
    qtbot.waitUntil(lambda: title.shown_text != "MSP 0.2345 bpp", timeout=5000)
    shown = title.shown_text  # the shortest, whole or (narrower still) cut
    assert shown == "0.2345 bpp" or (shown.endswith("…") and "0.2345 bpp".startswith(shown[:-1]))
    view.resize(1400, 120)
    qtbot.waitUntil(lambda: title.shown_text == decoded, timeout=5000)


def _plain_label_like(qtbot, label, text: str):
    """A plain QLabel showing ``text`` with ``label``'s size, wrapping and alignment."""
    from PySide6.QtWidgets import QLabel

    plain = QLabel(text)
    plain.setWordWrap(label.wordWrap())
    plain.setAlignment(label.alignment())
    plain.setFixedSize(label.size())
    qtbot.addWidget(plain)
    plain.show()
    qtbot.waitExposed(plain)
    return plain


def _hover_tooltip(label) -> str | None:
    """The tooltip a hover over ``label`` shows (None: none)."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    QToolTip.showText(QPoint(0, 0), "(none)")  # (what is left if the hover shows nothing:
    # a tooltip hidden is still QToolTip.text() for a while)
    hover = QHelpEvent(QEvent.Type.ToolTip, QPoint(5, 5), label.mapToGlobal(QPoint(5, 5)))
    if not label.event(hover):
        return None
    text = QToolTip.text()
    QToolTip.hideText()
    return None if text == "(none)" else text


def _drawn_as(qtbot, label, text: str) -> bool:
    from gui_support import grab_array

    return bool((grab_array(label) == grab_array(_plain_label_like(qtbot, label, text))).all())


def test_a_status_line_too_long_for_its_panel_is_cut_at_a_letter_with_an_ellipsis(qtbot):
    """A one-line label (a caption, a status, a readout) was cut by the panel's edge mid-letter,
    "ŷ (coded la", with no sign that text was missing: it now draws as a plain label showing
    the cut text and "…" would, and offers the whole text as its tooltip."""
    from PySide6.QtCore import Qt

    from gui_support import grab_array
    from mspviewer.gui.widgets.common import info_label

    whole = "ŷ (coded latent): mean ŷ² over channels · latent 192×32×48"
    label = info_label()
    label.setText(whole)
    label.resize(150, label.sizeHint().height())
    qtbot.addWidget(label)
    label.show()
    qtbot.waitExposed(label)
    shown = label.shown_text
    assert label.text() == whole and label.is_cut()
    assert shown.endswith("…") and whole.startswith(shown[:-1]) and len(shown) > 5
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert _drawn_as(qtbot, label, shown)
    assert not _drawn_as(qtbot, label, whole)  # (what it was)
    assert _hover_tooltip(label) == whole
    label.resize(1200, label.height())  # room for all of it: drawn whole, no tooltip
    assert label.shown_text == whole and not label.is_cut()
    assert _drawn_as(qtbot, label, whole)
    assert _hover_tooltip(label) is None
    label.setToolTip("its own")  # a tooltip of the label's own comes under the whole text
    assert _hover_tooltip(label) == "its own"
    label.resize(150, label.height())
    assert label.is_cut() and _hover_tooltip(label) == f"{whole}\n\nits own"
    # a selection made with the mouse (the compare readout is selectable) is QLabel's to
    # draw: the elided text has no place for its highlight
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setSelection(0, len(whole))
    qtbot.wait(10)
    selected = _plain_label_like(qtbot, label, whole)
    selected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    selected.setSelection(0, len(whole))
    qtbot.wait(10)
    assert (grab_array(label) == grab_array(selected)).all()


def test_a_status_text_too_long_for_its_lines_ends_in_an_ellipsis_not_half_a_line(qtbot):
    """The bit allocation's two-line summary needed three lines in its dock: the label's
    bottom edge cut the third through its letters. A fixed-height wrapped label now shows
    the lines that fit, the last ending in "…", drawn as a label of that text would be."""
    from mspviewer.gui.widgets.common import status_label

    whole = ("payload 1,180 B from the stream vs 1,177 B estimated by the model (+0.22 %), "
             "header 76 B, file 1,256 B. One stream for all passes: each pass's bytes are the "
             "coder's output growth in 32-bit words, nothing is padded per pass.")
    label = status_label(2)
    label.setText(whole)
    label.resize(300, label.height())
    qtbot.addWidget(label)
    label.show()
    qtbot.waitExposed(label)
    assert label.heightForWidth(300) > label.height()  # (QLabel would need more lines)
    shown = label.shown_text
    lines = shown.split("\n")
    assert len(lines) == 2 and lines[1].endswith("…") and label.is_cut()
    assert whole.startswith(" ".join(lines)[:-1])
    metrics = label.fontMetrics()
    assert all(metrics.horizontalAdvance(line) <= label.contentsRect().width()
               for line in lines)
    assert _drawn_as(qtbot, label, shown)
    assert not _drawn_as(qtbot, label, whole)  # (what it was)
    assert _hover_tooltip(label) == whole
    label.resize(1400, label.height())  # two lines hold it: drawn whole
    assert label.shown_text == whole and not label.is_cut()
    label.resize(300, label.height())
    markup = "<b>bold</b> " + whole  # markup is QLabel's to draw, never cut as plain text
    label.setText(markup)
    assert label.shown_text == markup and not label.is_cut()


def test_every_profile_description_fits_its_label(qtbot, window):
    from mspviewer.codec.profiles import load_profiles

    label = window.controls.profile_description
    heights = set()
    for profile in load_profiles().values():
        window.controls.set_profile(profile.name)
        qtbot.wait(10)
        assert label.text() == profile.description == label.toolTip()
        # the wrapped text needs no more height than the label has, at the width it has and
        # at the narrowest the panel may squeeze it to
        for width in (label.contentsRect().width(), label.minimumWidth()):
            assert label.heightForWidth(width) <= label.height(), (profile.name, width)
        heights.add(label.height())
    assert len(heights) == 1  # and picking a profile never moves the rows below
    # the panel can no longer be squeezed below that width
    assert window.controls.minimumSizeHint().width() >= label.minimumWidth()


def test_third_pane_classic_codec_at_same_bpp(qtbot, encoded_window):
    window = encoded_window
    compare = window.compare
    compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    classic = window.session.classic
    assert classic is not None and classic.codec == "jpeg-420"
    assert np.array_equal(compare.classic.rgb.image, classic.decoded)
    assert window.metrics.value("bpp", 1) == f"{classic.point.bpp:.4f} bpp"
    point = classic.point  # the chosen setting's encode and its decode, timed
    assert point.encode_s > 0 and point.decode_s > 0
    from mspviewer.gui.widgets.common import duration

    assert window.metrics.value("encode_time", 1) == duration(point.encode_s)
    assert window.metrics.value("decode_time", 1) == duration(point.decode_s)
    assert duration(0.0042) == "4.2 ms" and duration(0.25) == "250 ms" \
        and duration(3.14159) == "3.14 s" and duration(None) == "—" \
        and duration(0.9996) == "1.00 s" and duration(0.00999) == "10.0 ms"
    from mspviewer.baselines.registry import get_codec

    assert np.array_equal(get_codec("jpeg-420").decode(classic.data), classic.decoded)
    assert not window.metrics.table.isColumnHidden(1)
    compare.set_classic_codec("")
    wait_idle(qtbot, window)
    assert window.session.classic is None
    assert window.metrics.table.isColumnHidden(1)  # no third pane: no empty column
    assert compare.classic.box.scene() is None


def test_exports(qtbot, encoded_window, tiny_model, tmp_path):
    window = encoded_window
    result = window.session.result
    assert window.export_bitstream(tmp_path / "out.msp")
    data = (tmp_path / "out.msp").read_bytes()
    assert data == result.bitstream
    assert np.array_equal(decode_bytes(tiny_model, data).pixels, result.decoded)
    assert window.export_decoded_png(tmp_path / "decoded.png")
    wait_idle(qtbot, window)  # PNGs are written on the export thread
    assert np.array_equal(load_image(tmp_path / "decoded.png").pixels, result.decoded)
    assert window.export_side_by_side_png(tmp_path / "compare.png")
    wait_idle(qtbot, window)
    both = load_image(tmp_path / "compare.png").pixels
    assert both.shape == (48, 80 * 2 + 8, 3)
    assert np.array_equal(both[:, :80], result.original)
    assert np.array_equal(both[:, 88:], result.decoded)
    assert window.export_metrics_json(tmp_path / "metrics.json")
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["msp"]["file_bytes"] == len(result.bitstream)
    assert doc["msp"]["psnr_rgb"] == pytest.approx(result.point.psnr_rgb)
    assert doc["msp"]["analysis"]["passes"][0]["actual_bytes"] == \
        result.analysis.passes[0].actual_bytes
    assert doc["image"]["width"] == 80
    assert window.export_latent_arrays(tmp_path / "latents.npz") is not None
    wait_idle(qtbot, window)
    assert "Saved the latent arrays" in window.messages.text()
    latents = load_record(tmp_path / "latents.npz")
    assert np.array_equal(latents.y_hat, result.analysis.y_hat)
    assert np.array_equal(latents.bits, result.analysis.bits)
    assert latents.summary() == result.analysis.summary()
    # nothing to export before an encode: a message, no file
    window.set_image(None)
    assert not window.export_bitstream(tmp_path / "none.msp")
    assert not (tmp_path / "none.msp").exists()
    assert "nothing to export" in window.messages.text()
    assert window.export_latent_arrays(tmp_path / "none.npz") is None
    assert not (tmp_path / "none.npz").exists()
    assert window.errors[-1].startswith("Cannot export the latent arrays: nothing to export")


def test_the_viewers_limit_counts_a_streams_pixels_as_an_images(qtbot, window, tiny_model,
                                                                   tmp_path):
    """An image of exactly the viewer's limit opens, so its stream (padded to 48×80 for the
    transform, above that limit) opens too; one pixel less of limit refuses both."""
    from mspviewer.codec import encode_image

    pixels = write_png(tmp_path / "odd.png", 40, 72, seed=2)
    stream = tmp_path / "odd.msp"
    stream.write_bytes(encode_image(tiny_model, pixels, 0.01).bitstream)
    window.max_pixels = 40 * 72
    assert window.open_path(tmp_path / "odd.png")
    assert window.open_path(stream)
    wait_idle(qtbot, window)
    assert window.session.result.source == "file" and not window.errors
    window.max_pixels = 40 * 72 - 1
    assert not window.open_path(stream)
    assert "above the viewer's limit of 2,879 pixels" in window.errors[-1]


def test_open_msp_file(qtbot, encoded_window, tmp_path):
    window = encoded_window
    result = window.session.result
    window.export_bitstream(tmp_path / "again.msp")
    assert window.open_path(tmp_path / "again.msp")
    wait_idle(qtbot, window)
    opened = window.session.result
    assert opened is not result and opened.source == "file"
    assert np.array_equal(opened.decoded, result.decoded)
    assert opened.point.psnr_rgb == pytest.approx(result.point.psnr_rgb)  # same original
    assert window.metrics.value("decode_check") == "decoded from file"
    # the LOF panel claims no profile for it: a stream does not record how it was encoded
    status = window.lof.status.text()
    assert status.startswith("a stream read from a file") and "profile" not in status
    # a stream whose size differs from the open image: shown without an original
    other = tmp_path / "other.png"
    write_png(other, 32, 32, seed=9)
    window.open_path(other)
    assert window.windowTitle() == "MSP viewer: other.png (32×32)"
    assert window.open_path(tmp_path / "again.msp")
    wait_idle(qtbot, window)
    assert window.session.result.original is None and window.session.image is None
    assert window.windowTitle() == "MSP viewer: again.msp (80×48)"  # not other.png
    assert "no original open" in window.lof.status.text()
    window.set_image(None)
    assert window.windowTitle() == "MSP viewer"
    assert window.metrics.value("psnr_rgb") == "no original"
    assert np.array_equal(window.compare.decoded.rgb.image, result.decoded)


def test_a_stream_opened_alone_shows_nothing_it_does_not_have(qtbot, encoded_window,
                                                              tmp_path):
    """With no original open, the compare modes and the RD panel had shown what was not
    there: outlines over empty panes, the decoded picture under a difference colour bar,
    "Original (left)" in split mode over two decoded halves, a flicker title that widened its
    pane, and the legend's MSP star on an empty plot."""
    from PySide6.QtCore import QRectF

    from mspviewer.gui.widgets.rd_panel import LEARNED_LEGEND

    window, compare, rd = encoded_window, encoded_window.compare, encoded_window.rd

    def legend_names():  # (top to bottom, as laid out)
        labels = [label for _, label in rd.legend.items]
        labels.sort(key=lambda label: (label.mapToScene(0, 0).y(), label.mapToScene(0, 0).x()))
        return [label.text for label in labels]

    assert legend_names()[:1] == [LEARNED_LEGEND]  # an encode's star: listed first
    window.export_bitstream(tmp_path / "alone.msp")
    window.set_image(None)
    assert window.open_path(tmp_path / "alone.msp")
    wait_idle(qtbot, window)
    assert window.session.result.original is None
    compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    block = QRectF(16, 16, 16, 16)
    compare.mark_block(block)
    marks = compare.marks
    assert marks[compare.decoded.box].rect() == block
    assert marks[compare.original.box].rect() is None  # no picture there: no outline
    assert marks[compare.classic.box].rect() is None
    assert LEARNED_LEGEND not in legend_names()
    assert "no original open" in rd.status.text()

    compare.set_mode("difference")
    assert not compare.decoded.shows_picture() and not compare.color_bar.isVisible()
    assert "no original" in compare.decoded.title.text
    # narrow, the title keeps why the pane is empty
    title = compare.decoded.title
    title.resize(120, title.size().height())
    assert title.shown_text.endswith("no original") and "…" not in title.shown_text
    assert marks[compare.decoded.box].rect() is None

    compare.set_mode("split")
    assert not compare.split_line.isVisible()
    assert compare.split_title.text.startswith("Decoded only")
    assert marks[compare.split_box].rect() == block

    compare.set_mode("flicker")
    window.resize(1100, 800)  # (a pane narrower than the title's text)
    qtbot.wait(100)
    title = compare.flicker_title
    assert "no original to flick against" in title.text
    assert title.itemRect().width() <= title.rect().width() + 1  # cut to its pane, never wider
    box, view = compare.flicker_box, compare.flicker_view
    assert box.sceneBoundingRect().right() <= view.viewport().width() + 1

    compare.set_mode("side")  # back with the original: every pane shows, and is outlined
    window.set_image(None)
    path = tmp_path / "picture.png"
    assert window.open_path(path)
    encode(qtbot, window, lam=0.01)
    compare.mark_block(block)
    assert all(marks[b].rect() == block for b in (compare.original.box, compare.decoded.box))
    assert legend_names()[:1] == [LEARNED_LEGEND]


def test_a_stream_measured_against_another_open_image_says_so(qtbot, encoded_window,
                                                               tmp_path):
    """A stream does not record its source: measured against an open image that this session
    did not encode it from, the result says so, and flags an unrelated one by its PSNR."""
    from mspviewer.imageio import save_png

    window = encoded_window
    window.export_bitstream(tmp_path / "again.msp")
    assert window.open_path(tmp_path / "again.msp")  # the open image's own encode
    wait_idle(qtbot, window)
    assert not any("does not record its source" in note for note in window.session.result.notes)

    def stream_over(image_name: str):
        """Open ``image_name``, then the stream over it; the result."""
        assert window.open_path(tmp_path / image_name)
        assert window.open_path(tmp_path / "again.msp")
        wait_idle(qtbot, window)
        return window.session.result

    # Another image of that size, close enough to be its source (its own decode, which the
    # tiny test model makes far from the picture): measured, with a note.
    decoded = window.session.result.decoded
    save_png(decoded, tmp_path / "near.png")
    result = stream_over("near.png")
    assert result.original is not None and result.warning is None
    assert "measured against the open image near.png" in " ".join(result.notes)
    assert window.messages.level == "info"

    # The same size, and unrelated to it: no PSNR, third pane or RD point about two
    # different pictures; a warning says why.
    save_png(np.full((48, 80, 3), 255, np.uint8), tmp_path / "white.png")
    white = 10 * np.log10(255 ** 2 / np.mean((255.0 - decoded) ** 2))
    assert white < 15
    window.compare.set_classic_codec("jpeg-420")
    result = stream_over("white.png")
    assert result.original is None and result.point is None and window.session.image is None
    assert result.warning.startswith(
        f"The open image white.png has this stream's size, but the stream decodes to PSNR "
        f"{white:.1f} dB against it: it is probably not this stream's original")
    assert window.messages.level == "warning"
    assert window.messages.text().startswith(result.warning)
    assert window.metrics.value("psnr_rgb") == "no original"
    assert window.session.classic is None and "no original to code" in \
        window.compare.classic.title.text
    assert window.metrics_document()["msp"]["warning"] == result.warning

    # With random weights (no trained model to be had) every stream decodes to a few dB:
    # PSNR tells nothing, so the open image is measured against, as the note says.
    window.session.model_note = "random weights: the shipped model is missing"
    result = stream_over("white.png")
    assert result.original is not None and result.warning is None
    assert "measured against the open image white.png" in " ".join(result.notes)


def test_bad_inputs_keep_the_previous_state(qtbot, encoded_window, tmp_path):
    window = encoded_window
    image, result = window.session.image, window.session.result
    good = tmp_path / "good.msp"
    window.export_bitstream(good)
    data = good.read_bytes()

    cases = {}
    cases["corrupt.png"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    png = (tmp_path / "picture.png").read_bytes()
    cases["truncated.png"] = png[: len(png) // 2]
    cases["text.png"] = b"this is not an image\n"
    cases["empty.png"] = b""
    cases["unsupported.svg"] = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    cases["garbage.msp"] = b"MSPV" + bytes(range(200))
    cases["truncated.msp"] = data[: len(data) // 2]
    flipped = bytearray(data)
    flipped[result.analysis.header_bytes + 1] ^= 0x40  # a payload bit
    cases["flipped.msp"] = bytes(flipped)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)

    def check(name, expect):
        before = len(window.errors)
        window.open_path(tmp_path / name if not isinstance(name, type(tmp_path)) else name)
        wait_idle(qtbot, window)
        assert len(window.errors) == before + 1, (name, window.errors[before:])
        assert expect in window.errors[-1].lower() or expect == "", (name, window.errors[-1])
        # after a drop or an Open recent the message must say which file it is about
        assert Path(name).name in window.errors[-1], window.errors[-1]
        assert window.messages.level == "error" and window.messages.text()
        assert window.session.image is image, name
        assert window.session.result is result, name
        assert np.array_equal(window.compare.decoded.rgb.image, result.decoded)

    for name in cases:
        check(name, "")
    check(tmp_path / "missing.png", "")
    # a huge image: refused by its header, before decoding
    window.max_pixels = 1000
    check(tmp_path / "picture.png", "limit")
    window.max_pixels = 10**8
    # a stream written by another model
    from mspviewer.codec import build_random_model, encode_image, tiny_config

    other = build_random_model(tiny_config(), seed=7)
    (tmp_path / "other-model.msp").write_bytes(
        encode_image(other, image.pixels, 0.01).bitstream)
    check("other-model.msp", "model")
    # the same bad images read on the file thread: the same errors, nothing lost
    window.sync_open_pixels = 0
    for name in ("truncated.png", "corrupt.png", "text.png", "empty.png"):
        check(name, "")
    window.max_pixels = 1000
    check(tmp_path / "picture.png", "limit")


def test_a_large_image_opens_on_the_file_thread(qtbot, window, tmp_path):
    window.sync_open_pixels = 100
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    big_pixels = write_png(big, 32, 48, seed=5)
    small_pixels = write_png(small, 8, 8, seed=6)
    assert window.open_image(big)
    # nothing changes until the file thread's result arrives on the GUI thread
    assert window.session.image is None and window.file_runner.is_busy()
    assert "opening big.png (1,536 pixels)" in window.statusBar().currentMessage()
    wait_idle(qtbot, window)
    assert window.session.image.path == big
    assert np.array_equal(window.session.image.pixels, big_pixels)
    assert window.recent_files()[0] == str(big) and window.errors == []
    assert window.statusBar().currentMessage() == "opened big.png"

    # an image opened while another is still being read wins, whichever arrives last
    assert window.open_image(big) and window.file_runner.is_busy()
    assert window.open_image(small)  # 64 pixels: read at once
    assert window.session.image.path == small
    wait_idle(qtbot, window)
    assert window.session.image.path == small
    assert np.array_equal(window.session.image.pixels, small_pixels)
    assert window.errors == []


@pytest.mark.parametrize("suffix", [".jp2", ".jxl"])
def test_slow_formats_open_on_the_file_thread_even_when_small(qtbot, window, tmp_path,
                                                              suffix):
    """JPEG 2000 and JPEG XL decode slowly (and the JPEG XL reader decodes the whole file to
    give its size): even a small one is read off the GUI thread."""
    from PIL import Image

    pixels = write_png(tmp_path / "source.png", 24, 40, seed=8)
    path = tmp_path / f"small{suffix}"
    if suffix == ".jxl":
        from mspviewer.baselines.registry import get_codec

        path.write_bytes(get_codec("jpegxl").encode(pixels, 90))
    else:
        Image.fromarray(pixels).save(path)
    assert window.open_image(path)
    assert window.session.image is None and window.file_runner.is_busy()
    wait_idle(qtbot, window)
    assert window.session.image.path == path and window.errors == []
    assert np.array_equal(window.session.image.pixels, load_image(path).pixels)


def test_encode_errors_arrive_as_messages(qtbot, tiny_model, tmp_path):
    def broken(model, pixels, request, token):
        yield from ()
        raise RuntimeError("simulated failure inside the encoder")

    window = make_window(qtbot, tiny_model, tmp_path, encode_job=broken)
    write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    window.start_encode()
    wait_idle(qtbot, window)
    assert window.session.result is None
    assert "simulated failure" in window.messages.text()
    assert window.lof.progress.text() == "failed"
    # no image: a message instead of an encode
    window.set_image(None)
    assert window.start_encode() is None
    assert "Open an image first" in window.messages.text()


def test_recent_files_and_drag_and_drop(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    first, second = tmp_path / "first.png", tmp_path / "second.png"
    write_png(first, 32, 40, 1)
    pixels = write_png(second, 40, 32, 2)
    window.open_path(first)
    assert window.recent_files()[0] == str(first.resolve())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(second))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert np.array_equal(window.session.image.pixels, pixels)
    assert window.recent_files()[:2] == [str(second.resolve()), str(first.resolve())]
    window._fill_recent_menu()
    texts = [a.text() for a in window.recent_menu.actions()]
    assert str(first.resolve()) in texts
    # the recent-files menu opens a file
    next(a for a in window.recent_menu.actions() if a.text() == str(first.resolve())).trigger()
    assert window.session.image.path == first.resolve() or window.session.image.height == 32


def test_a_lambda_past_the_trained_range_is_offered_and_marked_extrapolated(
        qtbot, window, tiny_model, tmp_path):
    controls = window.controls
    low, high = tiny_model.config.lambda_range
    usable_low, usable_high = tiny_model.config.usable_lambda_range
    assert (controls.lambda_spin.minimum(), controls.lambda_spin.maximum()) == \
        pytest.approx((usable_low, usable_high), abs=1e-5)
    assert controls.range_label.text() == \
        f"trained range {low:g} … {high:g}, usable {usable_low:g} … {usable_high:g}"
    controls.set_lambda(high)
    assert not controls.lambda_extrapolated()
    assert not controls.extrapolation_label.isVisibleTo(controls)
    controls.lambda_slider.setValue(controls.lambda_slider.maximum())  # the slider reaches it
    assert controls.lam() == pytest.approx(usable_high, abs=1e-5)
    assert controls.lambda_extrapolated() and controls.extrapolation_label.isVisibleTo(controls)
    assert "extrapolated gains" in controls.extrapolation_label.text()
    controls.set_target_bpp(0.5)  # the λ is not used then: no warning
    assert not controls.extrapolation_label.isVisibleTo(controls)
    controls.set_target_bpp(None)
    assert controls.extrapolation_label.isVisibleTo(controls)
    write_png(tmp_path / "picture.png", 40, 56, seed=3)
    assert window.open_path(tmp_path / "picture.png")
    controls.set_lambda(1.5 * high)
    result = encode(qtbot, window)
    assert result.lam_extrapolated and result.decode_matches is True
    assert result.lam == pytest.approx(1.5 * high, abs=1e-5)
    assert "(extrapolated)" in window.metrics.value("setting")
    assert any("above the trained range" in note for note in result.notes)
    assert result.metrics_dict()["lambda_extrapolated"] is True
    stream = tmp_path / "past.msp"  # the decoder marks it too
    stream.write_bytes(result.bitstream)
    assert window.open_path(stream)
    wait_idle(qtbot, window)
    opened = window.session.result
    assert opened.source == "file" and opened.lam_extrapolated
    assert "(extrapolated)" in window.metrics.value("setting")
    controls.set_lambda(0.01)
    result = encode(qtbot, window)
    assert not result.lam_extrapolated and "extrapolated" not in window.metrics.value("setting")


def test_cancel_mid_lof_keeps_best_so_far(qtbot, window, tmp_path):
    write_png(tmp_path / "lof.png", 48, 64, seed=5)
    window.open_path(tmp_path / "lof.png")
    window.controls.set_profile("balanced")
    window.controls.set_lambda(0.01)
    task = window.start_encode()
    assert window.lof.progress.maximum() == 200
    qtbot.waitUntil(lambda: len(window.lof.records) >= 3, timeout=60_000)
    assert window.controls.cancel_button.isEnabled()
    window.controls.cancel_button.click()
    wait_idle(qtbot, window)
    result = window.session.result
    assert result is not None and result.cancelled
    assert task.token.reason == "user"
    history = result.lof_history
    assert 3 <= len(history) < 200
    assert [r.iteration for r in window.lof.records] == [r.iteration for r in history]
    # the kept latent is the best of the iterations run (keep-best), and it decodes
    best = min(r.J for r in history)
    assert history[-1].best_J == pytest.approx(best)
    assert result.decode_matches is True
    assert "cancelled" in window.metrics.value("setting")
    assert window.lof.progress.text() == "cancelled: best kept"
    xs, ys = window.lof.data("J")
    assert ys == [r.J for r in history]


def test_lof_time_limit_control(qtbot, window, tmp_path):
    """The LOF limit applies to profiles with LOF only; an encode under it stops in time
    with the best latent and says why."""
    controls = window.controls
    controls.set_profile("fast")
    assert not controls.time_limit.isEnabled()
    controls.time_limit.setValue(5)
    assert controls.request().time_budget_s is None  # fast runs no LOF
    controls.set_profile("balanced")
    assert controls.time_limit.isEnabled()
    controls.time_limit.setValue(0)
    assert controls.time_limit.text() == "none" and controls.request().time_budget_s is None

    write_png(tmp_path / "lof.png", 48, 64, seed=5)
    window.open_path(tmp_path / "lof.png")
    controls.set_lambda(0.01)
    controls.time_limit.setValue(1)
    request = controls.request()
    assert request.time_budget_s == 1 and "LOF at most 1 s" in request.describe()
    window.start_encode(request)
    wait_idle(qtbot, window)
    result = window.session.result
    assert result is not None and not result.cancelled and result.decode_matches is True
    history = result.lof_history
    assert 0 < len(history) < 200
    assert any("time limit 1 s: best so far kept" in note for note in result.notes), \
        result.notes
    # no iteration started after the limit (the last one may end past it)
    assert all(r.elapsed_s < 1 for r in history[:-1])
    assert history[-1].best_J == pytest.approx(min(r.J for r in history))


def test_new_request_replaces_the_running_encode(qtbot, tiny_model, tmp_path):
    from mspviewer.gui import jobs, outcomes

    started = []

    def slow(model, pixels, request, token):
        started.append(request.lam)
        for i in range(200):
            if token:
                break
            yield jobs.StageProgress("fake", f"step {i}")
            __import__("time").sleep(0.01)
        return (yield from jobs.encode_task(model, pixels, request, jobs.CancelToken()))

    window = make_window(qtbot, tiny_model, tmp_path, encode_job=slow)
    write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    first = window.start_encode(outcomes.EncodeRequest(lam=0.002))
    qtbot.waitUntil(lambda: started == [0.002], timeout=10_000)
    second = window.start_encode(outcomes.EncodeRequest(lam=0.04))
    assert first.token.reason == "superseded"
    wait_idle(qtbot, window)
    assert started == [0.002, 0.04]
    assert window.session.result.lam == pytest.approx(0.04)
    assert len(window.session.learned_points) == 1  # the superseded result was dropped
    assert second.token.reason is None


def test_exports_never_replace_an_input_or_misname_a_png(qtbot, encoded_window, tmp_path):
    """The open image (or the model) is not overwritten by an export, whatever the dialog
    was given; a PNG export under another format's name is refused with the right name."""
    window = encoded_window
    image = window.session.image.path
    before = image.read_bytes()
    assert not window.export_bitstream(image)
    assert window.export_decoded_png(image) is None
    assert window.export_latent_arrays(image) is None
    assert image.read_bytes() == before
    assert "picture.png this work came from" in window.errors[-1]
    assert window.export_decoded_png(tmp_path / "decoded.jpg") is None
    assert "name the file decoded.png" in window.errors[-1]
    assert not (tmp_path / "decoded.jpg").exists()
    assert not window.save_screenshot(image)
    assert image.read_bytes() == before
    window.session.model.source_path = tmp_path / "weights.pt"
    (tmp_path / "weights.pt").write_bytes(b"weights")
    assert not window.export_metrics_json(tmp_path / "weights.pt")
    assert (tmp_path / "weights.pt").read_bytes() == b"weights"
    # a stream opened from a file is an input too
    stream = tmp_path / "stream.msp"
    assert window.export_bitstream(stream)
    assert window.open_path(stream)
    wait_idle(qtbot, window)
    assert window.session.result.path is not None
    assert not window.export_metrics_json(stream)
    assert "stream.msp this work came from" in window.errors[-1]
    # the replay panel knows the window's inputs
    assert stream in window.replay.input_files() and image in window.replay.input_files()


def test_a_name_typed_without_extension_gets_it_but_replaces_nothing(qtbot, encoded_window,
                                                                     tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = encoded_window
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda parent, title, suggestion, filter_: (str(tmp_path / "photo"),
                                                                    filter_))
    window._save_dialog("Export decoded image", "PNG (*.png)", "-decoded.png",
                        window.export_decoded_png)
    wait_idle(qtbot, window)
    assert (tmp_path / "photo.png").is_file()  # the extension, not the suggested tail
    earlier = (tmp_path / "photo.png").read_bytes()
    window._save_dialog("Export comparison", "PNG (*.png)", "-compare.png",
                        window.export_side_by_side_png)  # the dialog asked about "photo"
    wait_idle(qtbot, window)
    assert (tmp_path / "photo.png").read_bytes() == earlier
    assert "photo.png exists" in window.errors[-1]


def test_a_pipe_or_a_folder_is_refused_without_reading_it(qtbot, window, tmp_path):
    """Reading a pipe on the GUI thread would freeze the window until a writer came."""
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    for path in (pipe, tmp_path / "stream.msp"):
        if path.suffix == ".msp":
            os.mkfifo(path)
        assert not window.open_path(path)  # (a blocking read would hang the test here)
        assert "not a regular file" in window.errors[-1]
    assert not window.open_image(tmp_path)
    assert "it is a folder" in window.errors[-1]


def test_missing_shipped_model_falls_back_to_random(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("MSPVIEWER_MODEL", str(tmp_path / "nope.pt"))
    from mspviewer.gui import main_window

    monkeypatch.setattr(main_window, "SAMPLE_IMAGE", tmp_path / "no-sample.png")
    from mspviewer.codec import build_random_model, tiny_config

    monkeypatch.setattr("mspviewer.codec.build_random_model",
                        lambda *a, **k: build_random_model(tiny_config()))
    window = make_window(qtbot, None, tmp_path)
    assert window.session.model is not None
    assert "random" in window.messages.text().lower()
    assert window.messages.level == "warning"
    assert "random weights" in window.status_model.text()


def test_excepthook_shows_errors_in_the_window(qtbot, window, capsys):
    import sys

    from mspviewer.gui.app import install_excepthook

    previous = sys.excepthook
    try:
        install_excepthook(lambda: window)
        try:
            raise ValueError("boom")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = previous
    assert window.errors[-1] == "Internal error: ValueError: boom"
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_failure_is_one_line_with_its_traceback_behind_details(qtbot, window,
                                                                           capsys):
    """A library's failure can run to pages (CUDA, a Rust panic): the message bar gets its
    first line, and Details… the whole traceback, to copy into a bug report."""
    from PySide6.QtGui import QGuiApplication

    from mspviewer.gui.worker import Task

    def run(token):
        raise RuntimeError("an illegal memory access was encountered\n"
                           + "".join(f"frame {k}\n" for k in range(40)))
        yield  # (a generator, as every task is)

    window.encoder.submit(Task("encode", "encode picture.png", run))
    qtbot.waitUntil(lambda: window.messages.level == "error", timeout=10_000)
    assert window.messages.text() == \
        "Encoding failed: RuntimeError: an illegal memory access was encountered…"
    assert window.messages.details_button.isVisible()
    dialog = window.messages.show_details()
    qtbot.waitExposed(dialog)
    shown = dialog.text.toPlainText()
    assert shown.startswith("Traceback") and "frame 0\n" in shown and "frame 39\n" in shown
    assert "in run" in shown  # the frame that raised
    dialog.copy()
    assert QGuiApplication.clipboard().text().startswith("Encoding failed: RuntimeError")
    assert "Traceback" in capsys.readouterr().err  # and on stderr, as before
    dialog.close()
    # a user's error has no details to show
    window.show_error("Open an image first")
    assert not window.messages.details_button.isVisible()
    assert window.messages.show_details() is None


@pytest.mark.parametrize("asked", ["encode", "ladder", "crop"])
def test_an_encode_asked_for_while_a_stream_decodes_wins(qtbot, tiny_model, tmp_path,
                                                        monkeypatch, asked):
    """The latest request wins: the stream still decoding is not opened, and the window
    says so (arriving, it had cancelled the encode asked for after it, without a word)."""
    from mspviewer.gui import outcomes

    window = make_window(qtbot, tiny_model, tmp_path)
    write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    encode(qtbot, window, lam=0.02)
    _, release = open_stream_held(window, tmp_path, monkeypatch)
    try:
        qtbot.waitUntil(lambda: window.file_runner.current is not None, timeout=10_000)
        if asked == "crop":
            assert window.crop_image(0, 0, 16, 16)
        else:
            assert (window.start_encode(outcomes.EncodeRequest(lam=0.01)) if asked == "encode"
                    else window.start_lambda_ladder())
        assert "stream.msp not opened: " in window.statusBar().currentMessage()
    finally:
        release.set()
    wait_idle(qtbot, window)
    result = window.session.result
    if asked == "crop":
        assert result is None and window.session.image.pixels.shape[:2] == (16, 16)
        return
    assert result.source == "encode"  # not the stream's ("file")
    if asked == "encode":
        assert result.lam == pytest.approx(0.01)
    else:
        assert any(p.from_ladder for p in window.session.learned_points)
    assert window.session.image is not None and window.session.image.name == "a.png"

def test_a_corrupt_stream_leaves_a_running_encode_alone(qtbot, tiny_model, tmp_path,
                                                        monkeypatch):
    """Opening a .msp decodes it beside the encoder: a payload that fails its checksum is
    reported and the encode carries on; a stream that decodes replaces the encode."""
    import threading
    import time

    from mspviewer.codec import encode_image
    from mspviewer.gui import jobs, outcomes

    # The tiny random model decodes its own stream of a.png to about 6 dB, which would count
    # as another image's stream (under 15 dB; a trained model's lowest λ gives over 20 dB).
    monkeypatch.setattr(jobs, "UNRELATED_ORIGINAL_PSNR_DB", 0.0)

    release, started = threading.Event(), []

    def held(model, pixels, request, token):
        started.append(request.lam)
        while not release.is_set() and not token:
            yield jobs.StageProgress("held", "waiting for the test")
            time.sleep(0.01)
        return (yield from jobs.encode_task(model, pixels, request, jobs.CancelToken()))

    window = make_window(qtbot, tiny_model, tmp_path, encode_job=held)
    pixels = write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    encoded = encode_image(tiny_model, pixels, 0.01)
    good, corrupt = tmp_path / "good.msp", tmp_path / "corrupt.msp"
    good.write_bytes(encoded.bitstream)
    flipped = bytearray(encoded.bitstream)
    flipped[encoded.analysis.header_bytes + 1] ^= 0x40
    corrupt.write_bytes(bytes(flipped))

    first = window.start_encode(outcomes.EncodeRequest(lam=0.02))
    qtbot.waitUntil(lambda: started == [0.02], timeout=10_000)
    assert window.open_path(corrupt)  # the header is fine: the decode starts
    qtbot.waitUntil(lambda: not window.file_runner.is_busy(), timeout=30_000)
    assert "checksum" in window.errors[-1].lower(), window.errors
    assert window.errors[-1].startswith("Cannot open corrupt.msp: "), window.errors[-1]
    assert window.encoder.current is first and first.token.reason is None
    assert window.lof.progress.text() != "failed"
    release.set()
    wait_idle(qtbot, window)
    assert window.session.result.source == "encode"
    assert window.session.result.lam == pytest.approx(0.02)

    release.clear()
    second = window.start_encode(outcomes.EncodeRequest(lam=0.03))
    qtbot.waitUntil(lambda: len(started) == 2, timeout=10_000)
    assert window.open_path(good)
    wait_idle(qtbot, window)
    assert second.token.reason == "superseded"
    result = window.session.result
    assert result.source == "file" and np.array_equal(result.decoded, encoded.reconstruction)
    assert window.session.image is not None and result.original is not None


def test_file_menu_exports_write_through_their_dialogs(qtbot, encoded_window, tmp_path,
                                                       monkeypatch):
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QFileDialog

    from mspviewer.imageio import load_image

    window = encoded_window
    result = window.session.result
    asked = []

    def answer(parent, title, suggestion, filter_):
        asked.append((title, suggestion, filter_))
        return str(tmp_path / f"out{len(asked)}{Path(suggestion).suffix}"), filter_

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    actions = {a.text(): a for a in window.findChildren(QAction)}
    save = actions["&Save bitstream (.msp)…"]
    assert save.shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    save.trigger()
    assert (tmp_path / "out1.msp").read_bytes() == result.bitstream
    assert asked[-1] == ("Save bitstream", "picture.msp", "MSP bitstream (*.msp)")
    actions["Export &decoded PNG…"].trigger()
    assert asked[-1][1] == "picture-decoded.png"
    wait_idle(qtbot, window)  # written on the export thread
    assert np.array_equal(load_image(tmp_path / "out2.png").pixels, result.decoded)
    actions["Export me&trics JSON…"].trigger()
    assert json.loads((tmp_path / "out3.json").read_text())["msp"]["bpp"] == \
        pytest.approx(result.bpp)
    for text in ("Export side-by-side &PNG…", "Save &window screenshot…"):
        actions[text].trigger()
    wait_idle(qtbot, window)
    assert [Path(a[1]).suffix for a in asked] == [".msp", ".png", ".json", ".png", ".png"]
    assert (tmp_path / "out4.png").is_file() and (tmp_path / "out5.png").is_file()
    assert not window.errors


def test_ticking_codecs_during_a_sweep_neither_doubles_nor_revives_curves(qtbot, tiny_model,
                                                                          tmp_path):
    from mspviewer.baselines.registry import get_codec

    window = make_window(qtbot, tiny_model, tmp_path, rd_codecs=("jpeg-420", "jpeg-444"))
    write_png(tmp_path / "a.png", 48, 64)
    window.open_path(tmp_path / "a.png")
    assert window.sweep_runner.is_busy()
    window.rd.set_selected(["jpeg-420", "jpeg-444", "webp"])  # tick webp mid-sweep
    window.rd.set_selected(["jpeg-420", "webp"])  # untick jpeg-444 mid-sweep
    wait_idle(qtbot, window)
    assert set(window.session.curves) == {"jpeg-420", "webp"}
    for name, curve in window.session.curves.items():
        qualities = [p.quality for p in curve.points]
        assert sorted(qualities) == sorted(get_codec(name).default_qualities), name
    assert window.rd.curve_data("jpeg-444") == ([], [])
    # ticked again later: swept again, once
    window.rd.set_selected(["jpeg-420", "jpeg-444", "webp"])
    wait_idle(qtbot, window)
    assert len(window.session.curves["jpeg-444"].points) == \
        len(get_codec("jpeg-444").default_qualities)
    assert len(window.session.curves["jpeg-420"].points) == \
        len(get_codec("jpeg-420").default_qualities)


def test_lof_panel_states_the_step_of_each_iteration(qtbot):
    """The status line names Adam's current step, so a backoff (J back to its best, step
    halved) reads as such; greedy trials have no step and show none."""
    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui.widgets.lof import LOFPanel

    panel = LOFPanel()
    qtbot.addWidget(panel)
    panel.start("test", 4)
    common = dict(bpp=0.5, psnr=30.0, elapsed_s=0.1, total=4)
    panel.add([LOFProgress(1, "gradient", J=1.0, best_J=1.0, learning_rate=0.03, **common)])
    assert "lr 0.03" in panel.status.text()
    panel.add([LOFProgress(2, "gradient", J=1.1, best_J=1.0, learning_rate=0.015, **common)])
    assert "lr 0.015" in panel.status.text() and "lr 0.03" not in panel.status.text()
    assert "τ" not in panel.status.text()  # straight-through rounding has no temperature
    panel.add([LOFProgress(3, "gradient", J=1.0, best_J=1.0, learning_rate=0.01,
                           temperature=0.25, **common)])
    assert "τ 0.25" in panel.status.text()  # annealed rounding names its temperature
    panel.add([LOFProgress(4, "greedy", J=0.9, best_J=0.9, accepted=1, **common)])
    assert not re.search(r"\blr\b", panel.status.text()) and "τ" not in panel.status.text()
    assert panel.data("J") == ([1.0, 2.0, 3.0, 4.0], [1.0, 1.1, 1.0, 0.9])


def test_lof_panel_plots_line_up_and_their_axis_labels_fit_their_height(qtbot):
    """In a dock a few hundred pixels tall "bpp (model)" ran over "PSNR [dB]" below it, and
    the plots began at different x (their tick texts differ in width). Short plots now take
    the labels' short forms; the value axes all have one width; a tall panel keeps the
    full labels."""
    from PySide6.QtGui import QImage, QPainter

    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui.widgets.lof import SERIES, LOFPanel

    panel = LOFPanel()
    qtbot.addWidget(panel)
    panel.resize(460, 300)
    panel.show()
    panel.start("test", 60)  # (tick texts as a real run's: "1.52", "0.908", "30.2")
    panel.add([LOFProgress(i, "gradient", J=1.56 - 0.0007 * i, best_J=1.5,
                           bpp=0.906 + 0.002 * math.sin(i), psnr=30.0 + 0.004 * i,
                           elapsed_s=0.1, total=60) for i in range(1, 61)])
    qtbot.wait(50)

    def label_rects():
        return [panel.plots[key].getAxis("left").label.sceneBoundingRect()
                for key, *_ in SERIES]

    rects = label_rects()
    assert [panel.axis_label(key) for key, *_ in SERIES] == ["J", "bpp", "dB"]
    for upper, lower in zip(rects, rects[1:]):
        assert not upper.intersects(lower)
    for key, *_ in SERIES:  # each label within its own plot's height
        box = panel.plots[key].getViewBox().sceneBoundingRect()
        label = label_rects()[[k for k, *_ in SERIES].index(key)]
        assert box.top() - 1 <= label.top() and label.bottom() <= box.bottom() + 1
    lefts = {round(panel.plots[key].getViewBox().sceneBoundingRect().left())
             for key, *_ in SERIES}
    assert len(lefts) == 1, lefts
    # The first iterations of a run span a narrow range: pyqtgraph writes more decimals
    # ("35.7416", "0.90617"), and the tick texts must not run into the axis label
    panel.start("test", 60)
    panel.add([LOFProgress(i, "gradient", J=1.24985 - 0.00005 * i, best_J=1.24985,
                           bpp=0.90616 + 0.00001 * i, psnr=35.7412 + 0.0004 * i,
                           elapsed_s=0.1, total=60) for i in range(1, 4)])
    qtbot.wait(50)
    for key, *_ in SERIES:
        axis = panel.plots[key].getAxis("left")
        image = QImage(8, 8, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        texts = axis.generateDrawSpecs(painter)[2]  # (rect, flags, text) of each tick
        painter.end()
        label = axis.label.mapRectToParent(axis.label.boundingRect())
        glyphs_end = label.right() - axis.label.document().documentMargin()
        assert texts and min(rect.left() for rect, _, _ in texts) >= glyphs_end, key
    lefts = {round(panel.plots[key].getViewBox().sceneBoundingRect().left())
             for key, *_ in SERIES}
    assert len(lefts) == 1, lefts
    panel.resize(460, 1000)
    qtbot.waitUntil(lambda: panel.axis_label("bpp") == "bpp (model)")
    assert [panel.axis_label(key) for key, *_ in SERIES] == [label for _, label, _ in SERIES]
    rects = label_rects()
    for upper, lower in zip(rects, rects[1:]):
        assert not upper.intersects(lower)


def test_an_axis_label_takes_the_longest_form_its_plot_has_room_for(qtbot):
    """"PSNR-RGB [dB]", else "PSNR [dB]", else "dB" (the LOF panel's PSNR had gone from its
    full name straight to "dB")."""
    import pyqtgraph as pg
    from PySide6.QtGui import QFontMetricsF

    from mspviewer.gui.widgets.common import fit_axis_label

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.show()
    plot = widget.getPlotItem()
    metrics = QFontMetricsF(plot.getAxis("left").label.font())
    forms = ("PSNR-RGB [dB]", "PSNR [dB]", "dB")
    for wanted in forms:
        room = {"PSNR-RGB [dB]": 200, "PSNR [dB]": 0.5 * (
            metrics.horizontalAdvance("PSNR-RGB [dB]") + metrics.horizontalAdvance("PSNR [dB]")),
            "dB": 0.5 * metrics.horizontalAdvance("PSNR [dB]")}[wanted]
        chrome = widget.height() - plot.getViewBox().height()
        widget.resize(300, int(room + chrome))
        qtbot.waitUntil(lambda: abs(plot.getViewBox().height() - int(room)) <= 2, timeout=2000)
        fit_axis_label(plot, forms[0], forms[1:])
        assert plot.getAxis("left").labelText == wanted


def test_lof_panel_axes_show_the_values_as_they_are(qtbot):
    """bpp 0.264 reads 0.264 on its axis, not 264 with "(x0.001)" in the label; only the
    bottom plot numbers the iterations the three share."""
    import pyqtgraph as pg

    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui.widgets.lof import SERIES, LOFPanel

    panel = LOFPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    panel.start("test", 3)
    panel.add([LOFProgress(i, "gradient", J=0.490 - 0.001 * i, best_J=0.490 - 0.001 * i,
                           bpp=0.265 - 0.001 * i, psnr=35.74 + 0.01 * i, elapsed_s=0.1,
                           total=3) for i in (1, 2, 3)])
    qtbot.wait(50)
    for key, label, short in SERIES:
        axis = panel.plots[key].getAxis("left")
        assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()
        shorter = (short,) if isinstance(short, str) else short
        assert any(text in axis.labelString() for text in (label, *shorter))
    # an axis made plain after it chose a scale drops the scale with the word of it
    from mspviewer.gui.widgets.common import plain_axes

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.setLabel("left", "bpp")
    plot.plot([0, 1], [0.2, 0.4])
    plot.show()
    qtbot.wait(20)
    assert plot.getAxis("left").autoSIPrefixScale == 1000.0  # (pyqtgraph's own choice)
    plain_axes(plot)
    plot.getPlotItem().clear()
    plot.plot([0, 1], [30.0, 40.0])
    qtbot.wait(20)
    axis = plot.getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and axis.tickStrings([35.0], 1.0, 5.0) == ["35"]
    shown = [panel.plots[key].getAxis("bottom").style["showValues"] for key, *_ in SERIES]
    assert shown == [False] * (len(SERIES) - 1) + [True]


def test_no_labelled_axis_rescales_its_numbers(qtbot, encoded_window):
    """pyqtgraph would show an axis of 0.2-0.4 bpp as 200-400 and put "(x0.001)" in its
    label (or "m%" for percent): every labelled axis of every panel shows values as they
    are."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsView

    window = encoded_window
    axes = [item for view in window.findChildren(QGraphicsView) for item in view.items()
            if isinstance(item, pg.AxisItem) and item.labelText.strip()]
    assert len(axes) >= 10
    assert [axis.labelText for axis in axes if axis.autoSIPrefix] == []


def test_lof_panel_says_why_it_has_no_curves(qtbot, encoded_window):
    """Three empty plots say nothing: idle, after a fast encode and after a fast λ ladder
    the panel explains itself; the first LOF iteration brings the plots back."""
    from types import SimpleNamespace

    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui.widgets.lof import LOFPanel

    panel = LOFPanel()
    qtbot.addWidget(panel)
    assert not panel.showing_plots() and panel.hint.text() == panel.idle_hint
    assert "as quick, balanced or max optimises" in panel.idle_hint  # the LOF profiles
    # an LOF profile's encode cancelled before its first iteration is not called plain
    point = SimpleNamespace(bpp=0.5, psnr_rgb=30.0)
    early = SimpleNamespace(source="encoder", point=point, lam=0.01, profile="balanced",
                            bpp=0.5, analysis=SimpleNamespace(estimated_bpp=0.49))
    panel.start("balanced, λ = 0.01", 200)
    panel.finish(early, cancelled=True)
    assert "before its first LOF iteration" in panel.hint.text()
    assert "no LOF iteration finished" in panel.status.text()
    # a ladder's encodes send no iterations: the panel keeps the shown result's hint, and its
    # status line comes back after the ladder's
    shown_status = panel.status.text()
    panel.start_ladder("λ ladder, msp-max (6 encodes)")
    assert panel.status.text() == "λ ladder, msp-max (6 encodes)…"
    # its fractions move the bar (the encode's iteration count had kept it a busy indicator)
    from mspviewer.gui.jobs import StageProgress

    panel.add([StageProgress("ladder", "λ = 0.0018 (2 of 6), profile max", 2 / 6)])
    assert panel.progress.maximum() == 1000 and panel.progress.value() == 333
    panel.finish_ladder(cancelled=False)
    assert "before its first LOF iteration" in panel.hint.text()
    assert panel.status.text() == shown_status and panel.progress.text() == "λ ladder done"
    assert panel.total == 200  # the shown encode's again
    panel.start("balanced, λ = 0.013", 200)
    assert not panel.showing_plots() and "waiting for the first" in panel.hint.text()
    panel.add([LOFProgress(1, "gradient", J=1.0, best_J=1.0, bpp=0.5, psnr=30.0,
                           elapsed_s=0.1, total=200)])
    assert panel.showing_plots()

    lof = encoded_window.lof  # encoded with the default profile, fast
    assert not lof.showing_plots()
    assert "This encode: no LOF iterations to draw (the fast profile" in lof.hint.text()
    # J as LOF counts it: the model's bits (not the file's) + λ·MSE on the 0..255 scale
    outcome = encoded_window.session.result
    squared = (outcome.original.astype(float) - outcome.decoded.astype(float)) ** 2
    expected_j = outcome.analysis.bits.sum() / outcome.decoded[..., 0].size \
        + outcome.lam * squared.mean()
    shown = re.search(r"J (\d+\.\d{4}) \(model bits, as LOF counts it\) · \d\.\d{4} bpp",
                      lof.status.text())
    assert shown and float(shown[1]) == pytest.approx(expected_j, abs=6e-5), lof.status.text()
    hint, status = lof.hint.text(), lof.status.text()
    encoded_window.start_lambda_ladder()
    wait_idle(qtbot, encoded_window)
    # the panel still describes the result on screen (the ladder's points are on the RD plot)
    assert lof.progress.text() == "λ ladder done" and not lof.showing_plots()
    assert lof.hint.text() == hint and lof.status.text() == status
    assert "λ ladder done with fast: its points are on the RD plot" in \
        encoded_window.statusBar().currentMessage()


def test_lof_progress_bar_states_the_time_left_at_the_pace_so_far(qtbot):
    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui.widgets.lof import LOFPanel

    panel = LOFPanel()
    qtbot.addWidget(panel)
    panel.start("test", 200)
    common = dict(J=1.0, best_J=1.0, bpp=0.5, psnr=30.0, total=200)
    panel.add([LOFProgress(10, "gradient", elapsed_s=5.0, **common)])  # 0.5 s per iteration
    assert panel.progress.text() == "10 / 200 iterations · about 2 min left"  # 190 × 0.5 s
    panel.add([LOFProgress(150, "gradient", elapsed_s=15.0, **common)])  # 0.1 s per iteration
    assert panel.progress.text() == "150 / 200 iterations · about 5 s left"
    panel.add([LOFProgress(200, "gradient", elapsed_s=20.0, **common)])
    assert panel.progress.text() == "200 / 200 iterations"
    panel.start("with a time limit", 200, time_limit_s=30)  # the limit comes first
    panel.add([LOFProgress(10, "gradient", elapsed_s=5.0, **common)])
    assert panel.progress.text() == "10 / 200 iterations · about 25 s left"


def test_a_panel_refresh_that_raises_is_reported_and_the_others_still_run(qtbot, window,
                                                                         capsys):
    ran: list[str] = []

    def broken():
        ran.append("broken")
        raise RuntimeError("panel bug")

    refresher = window.refresher
    # through the timer, one refresh at a time
    refresher.request(broken)
    refresher.request(lambda: ran.append("after"))
    qtbot.waitUntil(lambda: not refresher.pending(), timeout=5000)
    assert ran == ["broken", "after"]
    assert not window.is_busy()
    assert window.errors[-1] == \
        "Internal error while updating a panel: RuntimeError: panel bug"
    assert window.messages.isVisible()
    assert "Traceback" in capsys.readouterr().err  # details on stderr, not in the window

    # flush() runs the rest of the queue too
    ran.clear()
    refresher.request(broken)
    refresher.request(lambda: ran.append("flushed"))
    refresher.flush()
    assert ran == ["broken", "flushed"] and not refresher.pending()
    assert len(window.errors) == 2


def test_png_exports_are_written_off_the_gui_thread_whole_or_not_at_all(
        qtbot, encoded_window, tmp_path, monkeypatch):
    import threading

    from mspviewer.gui import export_jobs

    window = encoded_window
    result = window.session.result
    writers = []
    real_write = export_jobs.write_file

    def recording_write(path, data):
        writers.append(threading.current_thread())
        real_write(path, data)

    monkeypatch.setattr(export_jobs, "write_file", recording_write)
    target = tmp_path / "decoded.png"
    task = window.export_decoded_png(target)
    assert task is not None and task.kind == "export"
    assert task is window.export_runner.current or task in window.export_runner.pending
    wait_idle(qtbot, window)
    assert writers and all(t is not threading.main_thread() for t in writers)
    assert np.array_equal(load_image(target).pixels, result.decoded)
    assert "Saved the decoded image" in window.messages.text()
    earlier = target.read_bytes()

    # the disk fills up halfway through writing the next PNG: the earlier export survives
    from mspviewer import files

    def write_half_then_fail(path, data):
        def half(handle):
            handle.write(data[:len(data) // 2])
            raise OSError(28, "No space left on device")
        files.write_atomically(path, half)

    with monkeypatch.context() as patch:
        patch.setattr(files, "write_output", write_half_then_fail)
        for export in (window.export_decoded_png, window.export_side_by_side_png):
            export(target)
            wait_idle(qtbot, window)
            assert target.read_bytes() == earlier
            assert "No space left on device" in window.errors[-1]
            assert window.errors[-1].startswith("Cannot export the ")

    # ... or the file cannot be put in place at the very end
    import os

    def failing_replace(source, destination):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", failing_replace)
        window.export_side_by_side_png(target)
        wait_idle(qtbot, window)
    assert target.read_bytes() == earlier
    assert window.errors[-1] == (f"Cannot export the comparison: cannot write {target}: "
                                 "Input/output error")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def open_stream_held(window, tmp_path, monkeypatch):
    """Export the result as stream.msp and open it with its decode held on the file thread
    until the returned event is set."""
    import threading

    from mspviewer.gui import jobs

    stream = tmp_path / "stream.msp"
    assert window.export_bitstream(stream)
    release = threading.Event()
    real_decode = jobs.decode_task

    def held_decode(*args, **kwargs):
        release.wait(20)
        return (yield from real_decode(*args, **kwargs))

    monkeypatch.setattr(jobs, "decode_task", held_decode)
    assert window.open_path(stream)
    return stream, release


def test_a_model_asked_for_waits_for_a_stream_or_an_image_being_read(
        qtbot, encoded_window, tmp_path, monkeypatch):
    """The load queues behind what the file thread is reading: a stream being decoded
    opens (its result then goes with the old model, as everything else does), an image
    being read opens and stays."""
    import mspviewer.codec
    from conftest import loud_tiny_model

    from mspviewer.gui import jobs

    window = encoded_window
    new_models = iter([loud_tiny_model(seed=2), loud_tiny_model(seed=3)])
    monkeypatch.setattr(mspviewer.codec, "load_model", lambda path: next(new_models))
    _, release = open_stream_held(window, tmp_path, monkeypatch)
    decode = window.file_runner.current
    assert decode is not None and decode.kind == "decode"
    model_task = window.load_model("other.pt")
    assert not decode.token.is_set() and window.file_runner.pending == [model_task]
    opened = []
    window.session.result_changed.connect(
        lambda: opened.append(getattr(window.session.result, "source", None)))
    release.set()
    wait_idle(qtbot, window)
    assert opened[0] == "file"  # the stream opened first, then the new model replaced it
    assert window.session.model is not None and window.loading_model() is None
    assert window.session.result is None and window.errors == []

    # an image does not depend on the model: it is read, opens, and stays
    release.clear()
    real_load = jobs.load_image_task

    def held_load(path, max_pixels, token):
        release.wait(20)
        return (yield from real_load(path, max_pixels, token))

    monkeypatch.setattr(jobs, "load_image_task", held_load)
    window.sync_open_pixels = 100
    big = tmp_path / "big.png"
    pixels = write_png(big, 32, 48, seed=5)
    assert window.open_image(big)
    load = window.file_runner.current
    assert load is not None and load.kind == "load"
    assert window.load_model("third.pt")
    assert not load.token.is_set()
    release.set()
    wait_idle(qtbot, window)
    assert window.session.image is not None and window.session.image.path == big
    assert np.array_equal(window.session.image.pixels, pixels)
    assert window.errors == []


def test_a_model_loads_on_the_file_thread_and_nothing_uses_the_old_one_meanwhile(
        qtbot, encoded_window, tmp_path, monkeypatch):
    import threading

    import mspviewer.codec
    from conftest import loud_tiny_model

    window = encoded_window
    old_model, new_model = window.session.model, loud_tiny_model(seed=7)
    stream = tmp_path / "stream.msp"
    assert window.export_bitstream(stream)
    release, loader_threads = threading.Event(), []

    def held_load_model(path):
        loader_threads.append(threading.current_thread())
        assert release.wait(20)
        return new_model

    monkeypatch.setattr(mspviewer.codec, "load_model", held_load_model)
    task = window.load_model(tmp_path / "new.pt")
    assert task is not None and task.kind == "model"
    qtbot.waitUntil(lambda: loader_threads != [], timeout=5000)
    assert loader_threads[0] is not threading.main_thread()  # the window is not frozen
    assert window.session.model is old_model and window.session.result is not None
    assert window.loading_model() is task
    assert "loading the model new.pt" in window.statusBar().currentMessage()
    assert window.status_model.text() == f"model: {old_model.name} · loading new.pt…"

    # what needs a model is refused, saying why, rather than done with the old one
    assert window.start_encode() is None
    assert window.errors[-1] == "The model new.pt is still loading: encode when it has loaded"
    assert window.start_lambda_ladder() is None
    assert not window.open_path(stream)
    assert window.errors[-1] == ("The model new.pt is still loading: open stream.msp when it "
                                 "has loaded")
    assert window.set_reference(stream) is None
    assert window.errors[-1] == ("The model new.pt is still loading: it replaces the result, "
                                 "so set a reference after encoding with it")
    assert window.encoder.current is None and window.file_runner.pending == []

    # an image opened meanwhile (read at once, or queued on the file thread) does not
    # cancel the load
    small = tmp_path / "small.png"
    small_pixels = write_png(small, 24, 16, seed=8)
    assert window.open_image(small)
    assert np.array_equal(window.session.image.pixels, small_pixels)
    window.sync_open_pixels = 100
    big = tmp_path / "big.png"
    big_pixels = write_png(big, 32, 48, seed=9)
    assert window.open_image(big)
    assert not task.token.is_set() and window.file_runner.current is task
    assert [queued.kind for queued in window.file_runner.pending] == ["load"]

    release.set()
    wait_idle(qtbot, window)
    assert window.session.model is new_model and window.loading_model() is None
    assert window.status_model.text() == f"model: {new_model.name}"
    assert np.array_equal(window.session.image.pixels, big_pixels)
    assert window.messages.level == "info" and "loaded from" in window.messages.text()
    assert window.start_encode() is not None  # with the new model now
    wait_idle(qtbot, window)
    assert window.session.result is not None and window.session.result.bpp > 0


def test_the_busy_label_names_the_load_that_will_run(qtbot, window, tmp_path, monkeypatch):
    """A second model load replaces the first, which only returns (its file read cannot be
    interrupted): the status bar names the second, not the one that was cancelled."""
    import threading

    import mspviewer.codec
    from conftest import loud_tiny_model

    release, started = threading.Event(), threading.Event()

    def held_load_model(path):
        started.set()
        assert release.wait(20)
        return loud_tiny_model(seed=7)

    monkeypatch.setattr(mspviewer.codec, "load_model", held_load_model)
    first = window.load_model(tmp_path / "first.pt")
    qtbot.waitUntil(started.is_set, timeout=5000)
    qtbot.waitUntil(lambda: window.status_busy.text() == "working: load model first.pt",
                    timeout=5000)
    window.load_model(tmp_path / "second.pt")
    assert first.token.reason == "superseded" and window.file_runner.current is first
    assert window.status_busy.text() == "working: load model second.pt"
    window.file_runner.cancel_if(lambda task: task is not first, "superseded")
    assert window.status_busy.text() == "working: stopping load model first.pt"
    release.set()
    wait_idle(qtbot, window)
    assert window.status_busy.text() == "ready"


def test_a_file_that_is_not_a_model_leaves_the_model_in_use(qtbot, encoded_window, tmp_path,
                                                            monkeypatch):
    """A failed load loses nothing: the model, and a stream that was being opened when the
    load was asked for, which opens."""
    window = encoded_window
    model = window.session.model
    stream, release = open_stream_held(window, tmp_path, monkeypatch)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch file at all")
    assert window.load_model(broken) is not None
    release.set()
    wait_idle(qtbot, window)
    assert window.session.model is model
    assert window.session.result is not None and window.session.result.source == "file"
    assert window.recent_files()[0] == str(stream.resolve())
    assert window.messages.level == "error" and "broken.pt" in window.errors[-1]
    assert len(window.errors) == 1 and window.loading_model() is None
    assert window.status_model.text() == f"model: {model.name}"  # no longer "loading"
    assert window.start_encode() is not None  # nothing left waiting for a model
    wait_idle(qtbot, window)


def test_dropping_weights_on_the_window_loads_them(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from conftest import loud_tiny_model

    from mspviewer.codec import save_weights

    weights = tmp_path / "dropped.pt"
    save_weights(loud_tiny_model(seed=4), weights, name="dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(weights))])
    window.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    wait_idle(qtbot, window)
    assert window.errors == []
    assert window.session.model.name == "dropped"
    assert "model: dropped" in window.status_model.text()


def test_the_codecs_menu_arrow_never_covers_the_buttons_text(qtbot):
    """The style's menu arrow of an instant-popup tool button went over its last letter."""
    from gui_support import grab_array

    from mspviewer.gui import classic_jobs
    from mspviewer.gui.session import Session
    from mspviewer.gui.widgets.rd_panel import RDPanel

    panel = RDPanel(Session(), classic_jobs.classic_codec_names())
    qtbot.addWidget(panel)
    panel.show()
    button = panel.codec_button
    qtbot.waitUntil(button.isVisible)
    assert button.text().endswith("▾")  # (the arrow drawn, as part of the text)
    with_menu = grab_array(button).astype(int)
    menu = button.menu()
    button.setMenu(None)
    text_only = grab_array(button).astype(int)
    button.setMenu(menu)
    assert with_menu.shape == text_only.shape

    # the text: what is much darker than the button's face, clear of its frame
    face = np.median(text_only.reshape(-1, 3), axis=0)
    inner = np.zeros(text_only.shape[:2], bool)
    inner[3:-3, 3:-3] = True
    dark = (face - text_only).sum(axis=2) > 150
    columns = np.flatnonzero((dark & inner).any(axis=0))
    assert columns.size > 20  # the text was found (6 letters and an arrow)
    text_left, text_right = columns[0], columns[-1]
    # what the menu adds to the picture keeps a gap from the text (Fusion's corner arrow sat
    # one pixel from the last letter, over its baseline, and on it where the bar was short)
    added = np.abs(with_menu - text_only).sum(axis=2) > 60
    added_columns = np.flatnonzero(added.any(axis=0))
    crowded = added_columns[(added_columns >= text_left - 3) & (added_columns <= text_right + 3)]
    assert crowded.size == 0, f"menu arrow against the text in columns {crowded.tolist()}"
    assert button.menu() is menu and len(menu.actions()) == len(panel.codec_actions)


def test_rd_curve_colours_follow_the_codec_and_are_never_the_stars(qtbot):
    from mspviewer.gui import classic_jobs
    from mspviewer.gui.session import Session
    from mspviewer.gui.widgets.rd_panel import RDPanel
    from mspviewer.rd import RDPoint

    codecs = classic_jobs.classic_codec_names()
    session = Session()
    panel = RDPanel(session, codecs)
    qtbot.addWidget(panel)

    def add(name):
        label = dict((n, lab) for n, lab, _ in codecs)[name]
        for bpp in (0.5, 1.0):
            session.add_curve_point(name, label, RDPoint(bpp=bpp, psnr_rgb=30 + 4 * bpp))
        panel.refresh()

    def styles():
        return {name: (item.opts["pen"].color().name(), item.opts["symbol"])
                for name, item in panel.curve_items.items()}

    from mspviewer.gui.widgets.rd_panel import LATEST_COLOUR

    session.add_learned_point("MSP λ=0.01", RDPoint(bpp=0.7, psnr_rgb=33.0))
    session.add_learned_point("MSP λ=0.02", RDPoint(bpp=0.9, psnr_rgb=34.0))
    session.learned_points[0].latest = True  # (an encode, then a ladder point at its λ)
    panel.refresh()
    brushes = [brush.color().name() for brush in panel.learned_item.data["brush"]]
    stars = set(brushes)
    assert len(stars) == 2  # the latest point stands out from the earlier ones
    assert brushes[-1] == LATEST_COLOUR.lower()  # drawn last: over a point it repeats

    names = [name for name, _, _ in codecs]
    for name in names:
        add(name)
    first = styles()
    colours = [colour for colour, _ in first.values()]
    assert len(set(colours)) == len(colours) == len(names)  # one colour per shipped codec
    assert not set(colours) & stars
    # drawn over every curve, and the legend's star has the latest point's colour
    assert all(panel.learned_item.zValue() > item.zValue() for item in panel.curve_items.values())
    assert panel.learned_item.opts["brush"].color().name() == LATEST_COLOUR.lower()

    # unticked and ticked again, in another order: every codec keeps its own style
    for gone in (["webp", "jpeg-420"], ["avif", "jpeg2000", "heic"]):
        session.clear_curves(gone)
        panel.refresh()
        for name in reversed(gone):
            add(name)
        assert styles() == first
    session.clear_curves()
    panel.refresh()
    for name in ("vvc", "webp"):  # two codecs on their own still look like themselves
        add(name)
    assert styles() == {name: first[name] for name in ("vvc", "webp")}


def test_difference_mode_does_no_full_size_work_on_the_gui_thread(qtbot, encoded_window,
                                                                  monkeypatch):
    import threading

    from mspviewer.gui import classic_jobs, jobs

    window = encoded_window
    compare = window.compare
    callers = []
    real_map = jobs.difference_map

    def recording_map(original, decoded):
        callers.append(threading.current_thread())
        return real_map(original, decoded)

    monkeypatch.setattr(jobs, "difference_map", recording_map)  # the decoded pane's
    monkeypatch.setattr(classic_jobs, "difference_map", recording_map)  # the classic pane's
    compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    classic, result = window.session.classic, window.session.result
    assert classic is not None and classic.difference is not None
    window.show_compare_mode("difference")
    wait_idle(qtbot, window)
    assert callers and threading.main_thread() not in callers  # the worker made the map
    assert compare.classic.heat.isVisible() and compare.decoded.heat.isVisible()
    assert np.array_equal(compare.classic.heat.image, classic.difference)
    assert np.array_equal(compare.decoded.heat.image, result.difference)
    # the colour levels, from a strided sample, match the levels of the whole maps
    pixels = result.original.astype(np.float64)
    full = np.concatenate([np.abs(pixels - result.decoded).mean(axis=2).ravel(),
                           np.abs(pixels - classic.decoded).mean(axis=2).ravel()])
    low, high = compare.color_bar.levels()
    assert low == 0.0
    assert high == pytest.approx(max(np.percentile(full, 99.5), 1.0), rel=0.05)


def test_cancelling_says_what_is_kept(qtbot, encoded_window):
    """An encode keeps its best latent so far; a ladder keeps the points it has plotted
    (none, where its LOF encodes ran as one batch)."""
    window = encoded_window
    ladder = window.start_lambda_ladder()
    assert window.encoder.current is ladder
    window.cancel_encode()
    assert window.statusBar().currentMessage() == \
        "cancelling the λ ladder: the points already on the RD plot stay"
    wait_idle(qtbot, window)
    window.start_encode()
    window.cancel_encode()
    assert window.statusBar().currentMessage() == \
        "cancelling: the best result so far will be kept"
    wait_idle(qtbot, window)


def encode_paused_after(iterations: int):
    """An encode job for ``make_window``: the real encode, paused after ``iterations`` LOF
    iterations until ``release`` is set (30 s at most). Returns (job, paused, release)."""
    import threading

    from mspviewer.codec.lof import LOFProgress
    from mspviewer.gui import jobs

    paused, release = threading.Event(), threading.Event()

    def held(model, pixels, request, token):
        steps, seen = jobs.encode_task(model, pixels, request, token), 0
        while True:
            try:
                item = next(steps)
            except StopIteration as stop:
                return stop.value
            yield item
            seen += isinstance(item, LOFProgress)
            if seen == iterations and not paused.is_set():
                paused.set()
                release.wait(30)

    return held, paused, release


def test_a_ladder_queued_behind_an_encode_leaves_its_lof_panel_alone(qtbot, tiny_model,
                                                                     tmp_path):
    """The ladder waits for the running encode; the LOF panel is the encode's until then:
    the curves so far stay, and the count at the end is all the encode's iterations."""
    from mspviewer.gui import outcomes

    held, paused, release = encode_paused_after(5)
    window = make_window(qtbot, tiny_model, tmp_path, encode_job=held)
    write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    window.controls.set_profile("fast")  # what the ladder runs
    encode = window.start_encode(outcomes.EncodeRequest(lam=0.01, profile="quick",
                                                        verify_decode=False))
    qtbot.waitUntil(lambda: len(window.lof.records) == 5, timeout=30_000)
    status = window.lof.status.text()
    ladder = window.start_lambda_ladder()
    assert window.encoder.current is encode and window.encoder.pending == [ladder]  # queued
    assert len(window.lof.records) == 5 and window.lof.status.text() == status
    assert "ladder" not in window.lof.progress.text() + window.lof.status.text()
    shown_at_finish = []
    finish = window.lof.finish

    def counting_finish(outcome, cancelled=False):
        shown_at_finish.append(len(window.lof.records))
        finish(outcome, cancelled)

    window.lof.finish = counting_finish
    encode.token.cancel("user")  # the encode alone (the ladder stays queued): LOF stops
    release.set()
    wait_idle(qtbot, window)
    result = window.session.result
    assert result.source == "encode" and result.profile == "quick" and result.cancelled
    assert len(result.lof_history) >= 5
    assert shown_at_finish == [len(result.lof_history)]  # every iteration on the panel
    assert window.lof.progress.text() == "λ ladder done"
    # and after the ladder, still the encode's curves: the result on screen is the encode's
    assert len(window.lof.records) == len(result.lof_history) and window.lof.showing_plots()


def test_cancel_names_the_ladder_queued_behind_the_encode(qtbot, tiny_model, tmp_path):
    """The busy label names what waits, and Cancel, which drops it with the running encode,
    says so (the ladder had vanished without a word)."""
    from mspviewer.gui import outcomes

    held, paused, release = encode_paused_after(3)
    window = make_window(qtbot, tiny_model, tmp_path, encode_job=held)
    write_png(tmp_path / "a.png", 32, 48)
    window.open_path(tmp_path / "a.png")
    window.start_encode(outcomes.EncodeRequest(lam=0.01, profile="quick",
                                               verify_decode=False))
    qtbot.waitUntil(paused.is_set, timeout=30_000)
    ladder = window.start_lambda_ladder()
    assert window.encoder.pending == [ladder]
    qtbot.waitUntil(lambda: window.status_busy.text() == "working: encode a.png, then λ ladder",
                    timeout=5000)
    window.cancel_encode()
    assert window.statusBar().currentMessage() == (
        "cancelling: the best result so far will be kept; not started: λ ladder")
    assert window.encoder.pending == []
    release.set()
    wait_idle(qtbot, window)
    assert window.session.result.cancelled
    assert not any(p.from_ladder for p in window.session.learned_points)  # it never ran


def test_a_note_goes_when_what_it_is_about_does(qtbot, window, tmp_path):
    """A note about the open image, the result or its reference stays while they do, and
    goes when they are replaced; an error stays until dismissed."""
    from PIL import Image

    grey = tmp_path / "grey.png"
    Image.fromarray(np.linspace(0, 255, 48 * 80).reshape(48, 80).astype(np.uint8)).save(grey)
    assert window.open_path(grey)
    assert "grey.png: " in window.messages.text() and window.messages.about == "image"
    encode(qtbot, window, lam=0.01)  # a new result: the note about the image stays
    assert "grey.png: " in window.messages.text()
    window.session.set_image(None)
    assert window.messages.text() == ""  # the image went: its note too

    assert window.open_path(grey)
    encode(qtbot, window, lam=0.01)
    window.show_message("about this result", "info", about="result")
    encode(qtbot, window, lam=0.02)  # another result
    assert window.messages.text() == ""

    window.show_error("Cannot open x.png: broken")  # about nothing: it stays
    encode(qtbot, window, lam=0.01)
    window.session.set_image(None)
    assert window.messages.text() == "Cannot open x.png: broken"


def test_a_progress_message_lasts_as_long_as_its_task(qtbot, encoded_window, tmp_path,
                                                      monkeypatch):
    window = encoded_window
    stream, release = open_stream_held(window, tmp_path, monkeypatch)
    assert window.statusBar().currentMessage() == "decoding stream.msp…"
    small = tmp_path / "small.png"
    write_png(small, 24, 16, seed=8)
    assert window.open_image(small)  # read at once; the held decode is superseded
    assert window.file_runner.current.token.reason == "superseded"
    assert window.statusBar().currentMessage() != "decoding stream.msp…"
    release.set()
    wait_idle(qtbot, window)
    assert "decoding stream.msp" not in window.statusBar().currentMessage()
    assert window.session.image.path == small

    # a task that ends clears its message, which then no longer lingers
    release.clear()
    assert window.open_path(stream)
    assert window.statusBar().currentMessage() == "decoding stream.msp…"
    release.set()
    wait_idle(qtbot, window)
    assert window.statusBar().currentMessage().startswith("decoded ")


def test_the_window_fits_a_small_screen_and_opens_where_it_was(qtbot, tiny_model, tmp_path):
    """Every panel together once made the window at least 1407×867, past a 1366×768 laptop's
    screen: squeezed, a panel now scrolls. The window opens at the size and place it was
    closed with, and the first time at a size that fits the screen."""
    from PySide6.QtCore import QSettings

    from mspviewer.gui.main_window import DEFAULT_SIZE, FRAME_ALLOWANCE, MainWindow

    window = make_window(qtbot, tiny_model, tmp_path)
    write_png(tmp_path / "a.png", 48, 80, seed=3)
    assert window.open_path(tmp_path / "a.png")
    encode(qtbot, window, lam=0.01)
    for key in ("inspector", "replay", "bits"):  # the tallest tab first, then the others
        window.show_panel(key)
        window.resize(1280, 720)
        qtbot.wait(20)
        assert (window.width(), window.height()) == (1280, 720), key
        minimum = window.minimumSizeHint()
        assert minimum.width() <= 1280 and minimum.height() <= 720, (key, minimum)
    # what no longer fits scrolls: the inspector's table is still all there
    inspector_dock = window.docks["inspector"]
    window.show_panel("inspector")
    qtbot.wait(20)
    scroller = inspector_dock.widget()
    assert scroller.widget() is window.inspector
    assert window.inspector.height() >= window.inspector.minimumSizeHint().height()

    # placed for the first time: the default size, cut to the screen's free area
    settings = QSettings(str(tmp_path / "placed.ini"), QSettings.Format.IniFormat)
    first = MainWindow(tiny_model, settings=settings, open_sample=False, rd_codecs=(),
                       same_bpp_codec=None)
    qtbot.addWidget(first)
    first.place_on_screen()
    screen = first.screen().availableGeometry()
    assert first.width() == min(DEFAULT_SIZE[0], screen.width() - FRAME_ALLOWANCE[0])
    assert first.height() == min(DEFAULT_SIZE[1], screen.height() - FRAME_ALLOWANCE[1])
    first.show()
    qtbot.waitExposed(first)
    first.move(12, 34)
    qtbot.wait(20)
    saved = first.saveGeometry()
    first.close()  # keeps its size and place
    assert bytes(settings.value("window/geometry")) == bytes(saved)
    again = MainWindow(tiny_model, settings=settings, open_sample=False, rd_codecs=(),
                       same_bpp_codec=None)
    qtbot.addWidget(again)
    restored = []
    again.restoreGeometry = lambda data: restored.append(bytes(data)) or True
    again.resize(1300, 900)
    again.place_on_screen()  # what it was closed with, not the default size
    assert restored == [bytes(saved)] and (again.width(), again.height()) == (1300, 900)


def test_a_click_on_the_image_inspects_the_channel_the_heatmaps_show(qtbot, encoded_window):
    window = encoded_window
    own_choice = window.inspector.inspect_pixel(20, 10)  # the inspector picks the channel
    shown = (own_choice.channel + 1) % window.session.result.analysis.y_hat.shape[0]
    window.latents.set_channel(shown)
    info = window.inspect_pixel(20, 10)
    assert (info.row, info.col, info.channel) == (own_choice.row, own_choice.col, shown)
    window.latents.set_channel(None)  # all channels: the inspector's choice again
    assert window.inspect_pixel(20, 10).channel == own_choice.channel


def test_the_inspected_element_is_outlined_in_its_heatmap_and_the_image(qtbot, encoded_window,
                                                                         tmp_path):
    from PySide6.QtCore import QRectF

    window = encoded_window
    latents, compare = window.latents, window.compare
    for x, y in ((70, 40), (5, 5), (37, 20)):
        info = window.inspect_pixel(x, y)
        stride = 2 ** info.scale  # the scale the inspector says codes it
        owner = next(i for i, layer in enumerate(latents.layers) if layer.scale == info.scale)
        assert latents.mark.box is latents.boxes[owner]
        assert latents.mark.rect() == QRectF(info.col, info.row, stride, stride)
        block = QRectF(16 * info.col, 16 * info.row, 16, 16)  # 80×48: whole blocks
        assert block.contains(x + 0.5, y + 0.5)
        for box, mark in compare.marks.items():
            if box is compare.classic.box:  # (no third pane here: no picture to outline)
                assert mark.rect() is None
            else:
                assert mark.box is box and mark.rect() == block
    assert compare.marks[compare.decoded.box].item.scene() is compare.side_view.scene()
    write_png(tmp_path / "other.png", 40, 40, seed=9)
    assert window.open_path(tmp_path / "other.png")  # no result: nothing inspected
    wait_idle(qtbot, window)
    assert latents.mark.rect() is None
    assert all(mark.rect() is None for mark in compare.marks.values())


def test_a_target_bpp_encode_shows_the_lambda_it_found(qtbot, window, tmp_path):
    """The greyed λ control shows the λ the rate search settled on (it kept the λ of before),
    and a λ encode leaves the control as the user set it."""
    controls = window.controls
    write_png(tmp_path / "picture.png", 40, 56, seed=4)
    assert window.open_path(tmp_path / "picture.png")
    controls.set_lambda(0.01)
    controls.set_target_bpp(1.0)
    result = encode(qtbot, window)
    assert result.target_bpp == 1.0 and abs(result.lam - 0.01) > 1e-4
    assert controls.lam() == pytest.approx(result.lam, abs=1e-5)
    assert not controls.lambda_spin.isEnabled()
    controls.set_target_bpp(None)  # back to λ: it starts from the λ found
    controls.set_lambda(0.02)
    encode(qtbot, window)
    assert controls.lam() == pytest.approx(0.02)


def test_bar_labels_never_run_together(qtbot, encoded_window):
    """Every pass's label under a chart 300 pixels wide: the short labels (the passes'
    numbers) where the long ones would leave bars unnamed, every k-th written, far enough
    apart for the widest; with room, every long one."""
    bits = encoded_window.bits
    bits.set_view("chart")
    bits.set_grouping("pass")
    qtbot.wait(20)
    allocation = bits.allocation
    assert allocation.short_labels == [str(p.index) for p in
                                       encoded_window.session.result.analysis.passes]

    def written():
        return [(x, text) for x, text in bits.plot.getAxis("bottom")._tickLevels[0]]

    def widest(texts):
        return max(bits.plot.fontMetrics().horizontalAdvance(text) for text in texts)

    for width, labels in ((300, allocation.short_labels), (4000, allocation.labels)):
        bits.plot.setFixedWidth(width)
        qtbot.waitUntil(lambda: abs(bits.plot.width() - width) < 2, timeout=2000)
        qtbot.wait(20)
        shown = written()
        per_bar = bits.plot.getViewBox().width() / len(labels)
        if labels is allocation.short_labels:  # (the long ones would not fit under each)
            assert widest(allocation.labels) > per_bar
        assert shown[0] == (0.0, labels[0])
        assert all(labels[int(x)] == text for x, text in shown)
        gaps = {b[0] - a[0] for a, b in zip(shown, shown[1:])}
        assert len(gaps) == 1 and gaps.pop() * per_bar >= widest(labels)  # evenly, apart
    assert len(shown) == len(allocation.labels)  # 4000 px: room for every label
    bits.set_grouping("scale")  # four bars in 170 px: each named, "s3" … "s0"
    bits.plot.setFixedWidth(170)
    qtbot.waitUntil(lambda: abs(bits.plot.width() - 170) < 2, timeout=2000)
    qtbot.wait(20)
    assert [text for _, text in written()] == bits.allocation.short_labels  # every bar
    assert bits.plot.toolTip().splitlines() == [
        f"{brief}: {whole}" for brief, whole in zip(bits.allocation.short_labels,
                                                    bits.allocation.labels)]


def test_a_mark_leaves_a_box_taken_out_of_its_layout(qtbot):
    """The outline is taken off a box that its layout no longer shows (the third pane
    dropped, heatmaps rebuilt for another model): it neither comes back with that box nor
    goes when Qt deletes it."""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    from mspviewer.gui.widgets.common import Mark

    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    first, second = pg.ViewBox(), pg.ViewBox()
    view.ci.addItem(first, row=0, col=0)
    mark = Mark()
    mark.show(first, QRectF(1, 2, 3, 4))
    assert mark.item.scene() is view.scene() and mark.rect() == QRectF(1, 2, 3, 4)
    view.ci.clear()  # the box leaves the scene, the outline with it
    mark.hide()
    assert mark.item not in first.addedItems and mark.rect() is None
    view.ci.addItem(first, row=0, col=0)  # the box is back: without the outline
    assert mark.item.scene() is None
    view.ci.addItem(second, row=0, col=1)
    del first
    mark.show(second, QRectF(0, 0, 1, 1))  # still usable after its old box has gone
    assert mark.item.scene() is view.scene() and mark.box is second


def test_a_strip_fitted_before_its_pane_is_shown_is_fitted_again_when_it_is(qtbot):
    """A tab not shown yet has no size to judge a thin strip by: the fit waits for one."""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    from gui_support import user_zoom
    from mspviewer.gui.widgets.common import MIN_FITTED_SIDE_PX, fit_box, image_viewbox, view_of

    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    box = image_viewbox()
    view.ci.addItem(box)
    fit_box(box, 4096, 16)  # never shown: the whole strip, for now
    assert box.viewRect().width() >= 4096 - 1e-6
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: box.viewRect().width() < 4096, timeout=2000)
    rect = box.viewRect()
    assert rect.left() == pytest.approx(0, abs=1e-6)
    assert box.width() / rect.width() == pytest.approx(MIN_FITTED_SIDE_PX / 16, rel=0.02)
    # and again at each new size, until the user's own zoom
    view.resize(900, 500)
    qtbot.waitUntil(lambda: box.width() > 850, timeout=2000)
    rect = box.viewRect()
    assert rect.width() == pytest.approx(box.width() * 16 / MIN_FITTED_SIDE_PX, rel=0.02)
    user_zoom(box, QRectF(100, 0, 200, 16))
    zoomed = view_of(box)  # then the zoom is kept: its centre and its scale
    view.resize(700, 400)
    qtbot.waitUntil(lambda: box.width() < 720, timeout=2000)
    assert view_of(box) == pytest.approx(zoomed, rel=1e-3)


def test_with_nothing_open_the_compare_view_says_what_to_do(qtbot, tiny_model, tmp_path):
    """With no image and no result the panes' titles were cut to "Original: none" and
    "Decoded (MSP): …", over grey: no word of what to do."""
    from mspviewer.gui.widgets.compare import NOTHING_OPEN

    window = make_window(qtbot, tiny_model, tmp_path)
    compare = window.compare
    assert window.session.image is None
    assert compare.stack.currentWidget() is compare.nothing_open
    assert compare.nothing_open.isVisible() and compare.nothing_open.text() == NOTHING_OPEN
    # (they failed with "Open an image first")
    assert not window.controls.encode_button.isEnabled()
    assert not window.encode_action.isEnabled() and not window.ladder_action.isEnabled()
    assert not window.rd.ladder_button.isEnabled()
    write_png(tmp_path / "a.png", 32, 48)
    assert window.open_path(tmp_path / "a.png")
    wait_idle(qtbot, window)
    assert compare.stack.currentWidget() is compare.side_view
    assert window.controls.encode_button.isEnabled() and window.encode_action.isEnabled()
    assert window.ladder_action.isEnabled() and window.rd.ladder_button.isEnabled()
    compare.set_mode("split")
    assert compare.stack.currentWidget() is compare.split_view
    window.set_image(None)
    wait_idle(qtbot, window)
    assert compare.stack.currentWidget() is compare.nothing_open
    compare.set_mode("side")  # a mode chosen with nothing open waits for the image
    assert compare.stack.currentWidget() is compare.nothing_open


def test_actions_wait_for_what_they_work_on(qtbot, tiny_model, tmp_path):
    """With nothing to work on, the exports opened a file dialog and refused after a name
    was chosen; the replay, the checks, the crop and the zoom answered with a message.
    Each is enabled once there is what it needs."""
    from PySide6.QtGui import QAction

    window = make_window(qtbot, tiny_model, tmp_path)
    actions = {a.text(): a for a in window.findChildren(QAction)}
    needs_result = ["&Save bitstream (.msp)…", "Export &decoded PNG…",
                    "Export side-by-side &PNG…", "Export me&trics JSON…",
                    "Export latent &arrays (.npz)…", "Build decode &replay",
                    "Check &bit-exact decode (fresh process)",
                    "Check a .msp &file against the decoded image…"]
    needs_image = ["&Crop to the visible region", "Zoom to &fit", "Zoom &1:1"]

    def enabled(texts) -> list[bool]:
        return [actions[text].isEnabled() for text in texts]

    assert enabled(needs_result + needs_image) == [False] * 11
    assert not actions["Back to the f&ull image"].isEnabled()
    assert not actions["C&lear the reference .msp"].isEnabled()
    assert not actions["Set a r&eference .msp (compare the result with it)…"].isEnabled()
    assert actions["Save &window screenshot…"].isEnabled()
    path = tmp_path / "picture.png"
    write_png(path, 32, 48)
    window.open_image(path)
    assert enabled(needs_image) == [True] * 3 and enabled(needs_result) == [False] * 8
    encode(qtbot, window)
    assert enabled(needs_result) == [True] * 8
    assert not actions["C&lear the reference .msp"].isEnabled()  # (no reference .msp)
    assert actions["Set a r&eference .msp (compare the result with it)…"].isEnabled()
    stream = tmp_path / "picture.msp"
    assert window.export_bitstream(stream)
    window.crop_image(0, 0, 32, 16)
    assert actions["Back to the f&ull image"].isEnabled()
    assert enabled(needs_result) == [False] * 8  # (the crop has no result yet)
    window.uncrop()
    assert not actions["Back to the f&ull image"].isEnabled()
    # a stream opened alone: its exports, replay, checks and zoom, no crop
    alone = make_window(qtbot, tiny_model, tmp_path / "alone")
    alone.open_path(stream)
    wait_idle(qtbot, alone)
    actions = {a.text(): a for a in alone.findChildren(QAction)}
    assert enabled(needs_result) == [True] * 8
    assert enabled(needs_image) == [False, True, True]
    # mnemonics: one item per letter in each menu (File had three on S)
    for menu_action in window.menuBar().actions():
        letters = [a.text().split("&")[1][0].lower() for a in menu_action.menu().actions()
                   if "&" in a.text()]
        assert len(letters) == len(set(letters)), (menu_action.text(), letters)
