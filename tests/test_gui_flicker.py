"""The compare view's flicker mode: one pane swapping the original (A) and a decoded image (B)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import (encode, grab_array, make_window, rendered_pixels,  # noqa: E402
                         user_zoom, wait_idle, write_png)
from mspviewer.gui.widgets.common import view_of  # noqa: E402

HEIGHT, WIDTH = 48, 80


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    window = make_window(qtbot, tiny_model, tmp_path)
    path = tmp_path / "picture.png"
    write_png(path, HEIGHT, WIDTH, seed=3)
    assert window.open_path(path)
    wait_idle(qtbot, window)
    return window


@pytest.fixture
def encoded_window(qtbot, window):
    encode(qtbot, window, lam=0.01)
    return window


def shown_item(compare):
    """The flicker pane's visible image item (exactly one while there is an image)."""
    visible = [item for item in (compare.flicker_a, compare.flicker_b) if item.isVisible()]
    assert len(visible) == 1
    return visible[0]


def test_flick_swaps_original_and_decoded_in_place(qtbot, encoded_window, monkeypatch):
    window = encoded_window
    compare, result = window.compare, window.session.result
    assert np.abs(result.original.astype(int) - result.decoded).max() > 8  # tells them apart
    compare.set_mode("flicker")
    assert compare.stack.currentWidget() is compare.flicker_view
    assert compare.flicker_controls.isVisible() and compare.flicker_play.isEnabled()
    assert not compare.flicker_b_controls.isVisibleTo(compare)  # no third pane: B is MSP

    assert compare.flicker_showing == "A"
    assert np.array_equal(shown_item(compare).image, result.original)  # (row, column, RGB)
    assert compare.flicker_title.text == "A: Original"
    drawn_a = rendered_pixels(compare.flicker_view, compare.flicker_box, HEIGHT, WIDTH)
    assert np.array_equal(drawn_a, result.original)
    grab_a = grab_array(compare)

    compare.flick()
    assert compare.flicker_showing == "B"
    assert np.array_equal(shown_item(compare).image, result.decoded)
    assert compare.flicker_title.text.startswith("B: Decoded (MSP ")
    assert f"{result.bpp:.4f} bpp" in compare.flicker_title.text
    drawn_b = rendered_pixels(compare.flicker_view, compare.flicker_box, HEIGHT, WIDTH)
    assert np.array_equal(drawn_b, result.decoded)
    assert not np.array_equal(grab_array(compare), grab_a)

    # a flick only changes which item is visible: no image is set again
    uploads = []
    for item in (compare.flicker_a, compare.flicker_b):
        monkeypatch.setattr(item, "setImage", lambda *args, **kwargs: uploads.append(args))
    for _ in range(5):
        compare.flick()
    assert uploads == [] and compare.flicker_showing == "A"
    monkeypatch.undo()

    # Space flicks while the compare view has the focus, and only in flicker mode
    from PySide6.QtCore import Qt

    window.activateWindow()
    compare.flicker_view.setFocus()
    qtbot.waitUntil(compare.flicker_view.hasFocus)
    qtbot.keyClick(compare.flicker_view, Qt.Key.Key_Space)
    assert compare.flicker_showing == "B"
    compare.set_mode("side")
    compare.side_view.setFocus()
    qtbot.keyClick(compare.side_view, Qt.Key.Key_Space)
    compare.set_mode("flicker")
    assert compare.flicker_showing == "B"  # the side mode took no flick


def test_the_timer_flicks_by_itself_and_stops(qtbot, encoded_window):
    window = encoded_window
    compare = window.compare
    view_menu = {action.text(): action for action in window.view_menu.actions()}
    view_menu["F&licker (A/B)"].trigger()
    assert compare.mode == "flicker"
    assert compare.flicker_timer.interval() == 500  # the default period
    compare.flicker_period_box.setCurrentIndex(compare.flicker_period_box.findData(250))
    assert compare.flicker_timer.interval() == 250

    compare.flicker_play.click()
    assert compare.flicker_timer.isActive() and compare.flicker_play.text() == "Pause"
    qtbot.waitUntil(lambda: compare.flicker_showing == "B", timeout=3000)
    qtbot.waitUntil(lambda: compare.flicker_showing == "A", timeout=3000)

    compare.flicker_play.click()  # pause: the image shown stays
    assert not compare.flicker_timer.isActive() and compare.flicker_play.text() == "Play"
    showing = compare.flicker_showing
    qtbot.wait(700)
    assert compare.flicker_showing == showing

    # hidden (the blind test takes the centre): stopped; shown again: playing again
    compare.flicker_play.click()
    window.set_blind_mode(True)
    assert not compare.isVisible() and not compare.flicker_timer.isActive()
    window.set_blind_mode(False)
    assert compare.flicker_timer.isActive()

    compare.set_mode("side")  # leaving flicker mode stops (and pauses) it
    assert not compare.flicker_timer.isActive() and not compare.flicker_play.isChecked()
    assert not compare.flicker_controls.isVisible()
    compare.set_mode("flicker")
    assert not compare.flicker_timer.isActive()


def test_before_an_encode_flicker_shows_the_original_and_cannot_play(qtbot, window, tmp_path):
    compare = window.compare
    original = window.session.image.pixels
    compare.set_mode("flicker")
    assert compare.flicker_showing == "A"
    assert np.array_equal(shown_item(compare).image, original)
    assert "encode to flick" in compare.flicker_title.text
    assert not compare.flicker_play.isEnabled()
    compare.flicker_play.click()  # disabled: nothing happens
    compare.flick()
    assert not compare.flicker_timer.isActive() and compare.flicker_showing == "A"

    # playing, then a new image drops the result: back to the original, timer stopped
    encode(qtbot, window, lam=0.01)
    compare.flicker_play.click()
    compare.flick()
    assert compare.flicker_timer.isActive() and compare.flicker_showing == "B"
    path = tmp_path / "other.png"
    other = write_png(path, HEIGHT, WIDTH, seed=5)
    assert window.open_path(path)
    wait_idle(qtbot, window)
    assert window.session.result is None
    assert not compare.flicker_timer.isActive() and not compare.flicker_play.isChecked()
    assert compare.flicker_showing == "A"
    assert np.array_equal(shown_item(compare).image, other)
    assert "encode to flick" in compare.flicker_title.text


def test_zoom_and_pan_carry_into_and_out_of_flicker(qtbot, encoded_window):
    from PySide6.QtCore import QRectF

    compare = encoded_window.compare

    def centre(box):
        point = box.viewRect().center()
        return point.x(), point.y()

    user_zoom(compare.original.box, QRectF(10, 8, 20, 12))
    qtbot.wait(20)
    side = view_of(compare.original.box)
    compare.set_mode("flicker")
    qtbot.wait(20)
    assert compare.master_box() is compare.flicker_box
    assert_same_view(compare.flicker_box, side)

    user_zoom(compare.flicker_box, QRectF(40, 20, 16, 10))
    qtbot.wait(20)
    flicker = centre(compare.flicker_box)
    compare.set_mode("split")  # straight from flicker to split
    qtbot.wait(20)
    assert centre(compare.split_box) == pytest.approx(flicker, abs=0.5)
    compare.set_mode("flicker")
    compare.set_mode("side")
    qtbot.wait(20)
    assert centre(compare.original.box) == pytest.approx(flicker, abs=0.5)
    assert centre(compare.decoded.box) == pytest.approx(flicker, abs=0.5)  # linked

    compare.set_mode("flicker")
    compare.zoom_one_to_one()
    box = compare.flicker_box
    assert box.viewRect().width() == pytest.approx(box.width(), rel=0.02)
    compare.zoom_fit()
    rect = box.viewRect()
    assert rect.left() <= 0.01 and rect.right() >= WIDTH - 0.01 and rect.top() <= 0.01 \
        and rect.bottom() >= HEIGHT - 0.01


def assert_same_view(box, view, what="") -> None:
    now = view_of(box)
    assert now[:2] == pytest.approx(view[:2], abs=0.5), what  # the same point in the middle
    assert now[2] == pytest.approx(view[2], rel=0.02), what  # at the same scale


def test_switching_modes_keeps_the_zoom_s_scale_and_centre(qtbot, encoded_window):
    """The view entered shows the same point at the same scale: it had taken the rect of the
    one left, and a box of another shape widened it to hold it, so each switch zoomed out
    (1:1 became 3:1 after one round through split, 10:1 after two)."""
    compare = encoded_window.compare
    compare.zoom_one_to_one()
    qtbot.wait(20)
    start = view_of(compare.master_box())
    assert start[2] == pytest.approx(1.0, rel=0.02)
    for mode in ("split", "side", "flicker", "side", "difference", "split", "side"):
        compare.set_mode(mode)
        qtbot.wait(20)
        assert_same_view(compare.master_box(), start, mode)


def test_a_third_pane_keeps_the_user_s_zoom(qtbot, encoded_window):
    """Adding or taking away a pane narrows or widens every pane: the zoom stays (it had
    jumped to the whole image and more)."""
    from PySide6.QtCore import QRectF

    compare = encoded_window.compare
    compare.set_classic_codec("")
    qtbot.wait(20)
    user_zoom(compare.original.box, QRectF(20, 10, 12, 12))
    qtbot.wait(20)
    start = view_of(compare.original.box)
    for codec in ("jpeg-420", ""):
        compare.set_classic_codec(codec)
        qtbot.waitUntil(lambda: compare.show_classic() == bool(codec), timeout=5000)
        qtbot.wait(50)
        assert_same_view(compare.original.box, start, codec)
        assert_same_view(compare.decoded.box, start, codec)


def test_a_resized_window_keeps_the_user_s_zoom(qtbot, encoded_window):
    from PySide6.QtCore import QRectF

    compare = encoded_window.compare
    user_zoom(compare.original.box, QRectF(20, 10, 12, 12))
    qtbot.wait(20)
    start = view_of(compare.original.box)
    encoded_window.resize(1300, 900)
    qtbot.wait(100)
    assert_same_view(compare.original.box, start)


def test_a_fitted_view_stays_fitted_into_another_mode_and_through_a_resize(qtbot,
                                                                          encoded_window):
    """Carried as a visible rect, the side pane's letterbox margins became part of the
    flicker view's range; fitted, it shows the image whole and centred at any size."""
    from PySide6.QtCore import QRectF

    from mspviewer.gui.widgets.common import is_fitted

    window, compare = encoded_window, encoded_window.compare
    whole = QRectF(0, 0, WIDTH, HEIGHT)
    compare.zoom_fit()
    assert compare.original.box.viewRect() != whole  # (the pane's shape is not the image's)
    # side by side, linked: a resize keeps every pane fitted
    window.resize(window.width() + 160, window.height() + 90)
    qtbot.wait(50)
    for pane in (compare.original, compare.decoded):
        rect = pane.box.viewRect()
        assert rect.contains(whole.adjusted(0.01, 0.01, -0.01, -0.01)), pane
        assert rect.width() == pytest.approx(WIDTH, rel=0.01) or \
            rect.height() == pytest.approx(HEIGHT, rel=0.01)
    assert is_fitted(compare.original.box)
    compare.set_mode("flicker")
    qtbot.wait(20)
    box = compare.flicker_box
    assert is_fitted(box) and box.targetRect() == whole
    window.resize(window.width() + 200, window.height() + 120)
    qtbot.wait(50)
    assert box.targetRect() == whole
    # a zoom of the user's is kept (its centre and scale), through a resize and into the
    # next mode
    user_zoom(box, QRectF(10, 8, 20, 12))
    assert not is_fitted(box)
    zoomed = view_of(box)
    window.resize(window.width() - 200, window.height() - 120)
    qtbot.wait(50)
    assert_same_view(box, zoomed)
    compare.set_mode("split")
    qtbot.wait(20)
    assert not is_fitted(compare.split_box)
    assert_same_view(compare.split_box, zoomed)


def test_pixel_readout_and_clicks_over_the_flicker_pane(qtbot, encoded_window):
    from PySide6.QtCore import QPointF, Qt

    from mspviewer.gui.widgets.common import view_to_widget

    compare, result = encoded_window.compare, encoded_window.session.result
    compare.set_mode("flicker")
    qtbot.wait(20)
    box = compare.flicker_box
    compare.flicker_view.scene().sigMouseMoved.emit(box.mapViewToScene(QPointF(10.5, 20.5)))
    text = compare.readout.text()
    assert text.startswith("x 10, y 20")
    r, g, b = result.original[20, 10]
    assert f"original ({r:3d}, {g:3d}, {b:3d})" in text
    r, g, b = result.decoded[20, 10]
    assert f"MSP ({r:3d}, {g:3d}, {b:3d})" in text

    point = view_to_widget(compare.flicker_view, box, 30.5, 12.5).toPoint()
    with qtbot.waitSignal(compare.image_clicked, timeout=2000) as clicked:
        qtbot.mouseClick(compare.flicker_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == [30, 12]


def test_b_can_be_the_third_pane(qtbot, encoded_window):
    window = encoded_window
    compare = window.compare
    compare.set_mode("flicker")
    compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    classic = window.session.classic
    assert classic is not None
    assert compare.flicker_b_controls.isVisible()
    compare.flicker_b_box.setCurrentIndex(compare.flicker_b_box.findData("third"))
    compare.flick()
    assert compare.flicker_showing == "B"
    assert np.array_equal(shown_item(compare).image, classic.decoded)
    assert compare.flicker_title.text.startswith(f"B: {classic.label} ")
    assert f"{classic.point.bpp:.4f} bpp" in compare.flicker_title.text

    compare.set_classic_codec("")  # no third pane: the choice goes, B is MSP again
    wait_idle(qtbot, window)
    assert not compare.flicker_b_controls.isVisible()
    assert compare.flicker_showing == "B"
    assert np.array_equal(shown_item(compare).image, window.session.result.decoded)
    assert compare.flicker_title.text.startswith("B: Decoded (MSP ")


def test_space_flicks_right_after_choosing_the_mode(qtbot, encoded_window):
    """From the View menu, Space flicks at once (the pane takes the focus), and after a
    click on Play it still flicks: the controls never take the focus (nor Space)."""
    from PySide6.QtCore import Qt

    window = encoded_window
    compare = window.compare
    window.activateWindow()
    view_menu = {action.text(): action for action in window.view_menu.actions()}
    view_menu["F&licker (A/B)"].trigger()
    qtbot.waitUntil(compare.flicker_view.hasFocus)
    qtbot.keyClick(compare.flicker_view, Qt.Key.Key_Space)
    assert compare.flicker_showing == "B"
    for control in (compare.flicker_play, compare.flicker_period_box, compare.flicker_b_box):
        assert control.focusPolicy() == Qt.FocusPolicy.NoFocus
    qtbot.mouseClick(compare.flicker_play, Qt.MouseButton.LeftButton)  # play …
    assert compare.flicker_view.hasFocus()
    qtbot.mouseClick(compare.flicker_play, Qt.MouseButton.LeftButton)  # … and pause
    showing = compare.flicker_showing
    qtbot.keyClick(compare.flicker_view, Qt.Key.Key_Space)
    assert compare.flicker_showing != showing and not compare.flicker_play.isChecked()


def test_switching_modes_again_and_again_keeps_the_picture_fitted(qtbot, tiny_model, tmp_path):
    """Linked panes hand each other their visible range, letterbox margins included, so a
    fit judged by comparing ranges was lost at the first resize; each switch between side by
    side and difference (which adds a colour bar) then carried the widened range over and
    zoomed out further, until a portrait picture was a thumbnail in its pane. A pan or zoom of
    the user's, in any linked pane, still ends the fit."""
    from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from mspviewer.gui.widgets.common import is_fitted, view_to_widget

    window = make_window(qtbot, tiny_model, tmp_path)
    height, width = 96, 64  # portrait: letterboxed above and below in the tall panes
    write_png(tmp_path / "portrait.png", height, width, seed=5)
    assert window.open_path(tmp_path / "portrait.png")
    encode(qtbot, window, lam=0.01)
    compare = window.compare
    whole = QRectF(0, 0, width, height)

    def assert_fitted():
        box = compare.master_box()
        rect = box.viewRect()
        assert is_fitted(box), compare.mode
        assert rect.contains(whole.adjusted(0.01, 0.01, -0.01, -0.01)), (compare.mode, rect)
        assert rect.width() == pytest.approx(width, rel=0.01) or \
            rect.height() == pytest.approx(height, rel=0.01), (compare.mode, rect)

    assert_fitted()
    for mode in ("difference", "side", "split", "difference", "flicker", "difference", "side",
                 "difference", "side"):
        compare.set_mode(mode)
        qtbot.wait(30)
        assert_fitted()
    window.resize(window.width() - 150, window.height() + 60)
    qtbot.wait(50)
    assert_fitted()
    # the user turns the mouse wheel over the decoded pane: the original, which it is linked
    # to, follows and keeps that zoom through a resize
    original = compare.original.box

    def scale():  # screen pixels per image pixel
        return original.width() / original.viewRect().width()

    fitted_scale = scale()
    view = compare.side_view
    at = view_to_widget(view, compare.decoded.box, width / 2, height / 2)
    for _ in range(3):
        QApplication.sendEvent(view.viewport(), QWheelEvent(
            at, QPointF(view.viewport().mapToGlobal(at.toPoint())), QPoint(0, 0),
            QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase, False))
    qtbot.wait(20)
    assert not is_fitted(original)
    zoomed, centre = scale(), original.viewRect().center()
    assert zoomed > 1.5 * fitted_scale
    window.resize(window.width() + 150, window.height() - 60)
    qtbot.wait(50)
    assert original.viewRect().center().x() == pytest.approx(centre.x(), abs=0.5)
    # (a resize keeps the region zoomed to, not its scale: still well past the fit's)
    assert scale() > 1.5 * min(original.width() / width, original.height() / height)
    assert not is_fitted(original)
