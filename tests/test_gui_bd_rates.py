"""The RD panel's BD-rates: this image's learned curve (one profile's points) against each
classic curve, checked on curves whose BD-rate is known in closed form."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import make_window, wait_idle, write_png  # noqa: E402

from mspviewer.rd import RDPoint  # noqa: E402
from test_json_vocabulary import vocabulary_faults  # noqa: E402

#: a classic codec's RD points: PSNR rising with log rate
CLASSIC_BPP = (0.2, 0.4, 0.8, 1.6, 3.2)


def classic_point(bpp: float, rate_scale: float = 1.0) -> RDPoint:
    """The reference curve's point at ``bpp``, its rate multiplied by ``rate_scale``."""
    return RDPoint(bpp=bpp * rate_scale, psnr_rgb=30 + 4 * math.log2(bpp / 0.2),
                   psnr_y=31 + 5 * math.log2(bpp / 0.2), ms_ssim=None)


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    window = make_window(qtbot, tiny_model, tmp_path)
    path = tmp_path / "picture.png"
    write_png(path, 32, 48)
    window.open_image(path)
    wait_idle(qtbot, window)
    return window


def add_classic(session, name: str, label: str, scale: float = 1.0) -> None:
    """A classic curve whose every point costs ``scale`` times the reference's rate."""
    for bpp in CLASSIC_BPP:
        session.add_curve_point(name, label, classic_point(bpp, scale))


def add_learned(session, profile: str, rates=(0.3, 0.5, 0.9, 1.2), scale: float = 0.5) -> None:
    """Learned points of ``profile`` on the reference curve at ``scale`` times its rate."""
    for bpp in rates:
        session.add_learned_point(f"MSP {profile} at {bpp}", classic_point(bpp, scale),
                                  profile=profile)


def test_bd_rates_against_every_classic_curve(window):
    session, rd = window.session, window.rd
    assert rd.bd_rates() == [] and "needs 3 or more MSP points" in rd.bd_label.text()
    assert rd.bd_summary is None  # (what a screenshot prints: no BD-rates to state)
    add_classic(session, "webp", "WebP", scale=1.0)
    add_classic(session, "jpeg-420", "JPEG 4:2:0", scale=2.0)
    add_learned(session, "fast", rates=(0.3, 0.5))  # two points: a line, no BD-rate
    rd.refresh()
    assert rd.learned_curve() is None and rd.bd_rates() == []
    add_learned(session, "fast", rates=(0.9, 1.2))
    rd.refresh()
    # the learned points lie on the WebP curve at half its rate, and on JPEG's at a quarter:
    # BD-rates of exactly −50 % and −75 %, listed in the menu's order (JPEG before WebP)
    rows = rd.bd_rates()
    assert [label for label, _, _ in rows] == ["JPEG 4:2:0", "WebP"]
    assert rows[0][1] == pytest.approx(-75.0, abs=1e-9)
    assert rows[1][1] == pytest.approx(-50.0, abs=1e-9)
    assert rd.bd_label.text() == ("BD-rate on PSNR-RGB [dB]: MSP fast (4 points) against "
                                  "JPEG 4:2:0 −75.0 % · WebP −50.0 %")
    assert rd.bd_summary == rd.bd_label.text()
    [document] = window._bd_rates_document()  # what the metrics JSON export carries
    assert document["curve"] == "MSP fast" and document["metric"] == "psnr_rgb"
    assert document["points_from"] == "encodes"  # (add_learned_point: no ladder here)
    assert [point["bpp"] for point in document["curve_points"]] == \
        pytest.approx([0.15, 0.25, 0.45, 0.6])
    assert [(row["curve"], round(row["bd_rate_percent"], 6)) for row in document["against"]] \
        == [("JPEG 4:2:0", -75.0), ("WebP", -50.0)]
    # on PSNR-Y the same rates hold (the points move along the same log-rate axis)
    rd.metric_box.setCurrentIndex(rd.metric_box.findData("psnr_y"))
    assert [round(v, 6) for _, v, _ in rd.bd_rates()] == [-75.0, -50.0]
    assert "PSNR-Y" in rd.bd_label.text()
    # MS-SSIM is missing on every point (an image too small for it): no curve, and the
    # panel says why rather than asking for more points
    rd.metric_box.setCurrentIndex(rd.metric_box.findData("ms_ssim_db"))
    assert rd.learned_curve() is None
    assert rd.bd_label.text() == ("BD-rate: the MSP points have no MS-SSIM [dB] (MS-SSIM "
                                  "needs an image of at least 161×161 pixels)")
    assert rd.bd_summary is None


def test_the_curve_is_the_profile_with_most_points_and_no_overlap_is_said(window):
    session, rd = window.session, window.rd
    add_classic(session, "webp", "WebP")
    add_learned(session, "balanced", rates=(0.3, 0.5, 0.9), scale=0.5)
    add_learned(session, "fast", rates=(0.25, 0.35, 0.6, 1.0, 1.4), scale=0.8)
    session.add_learned_point("MSP file", classic_point(0.3))  # no profile: in no curve
    rd.refresh()
    assert rd.learned_curve().label == "MSP fast"
    assert rd.bd_rates()[0][1] == pytest.approx(-20.0, abs=1e-9)
    # the LOF profile's curve is also set against the plain one: 0.5 / 0.8 of its rate
    balanced = rd.learned_curves()[1]
    assert balanced.label == "MSP balanced"
    rows = rd.bd_rates(balanced)
    assert [label for label, _, _ in rows] == ["WebP", "MSP fast"]
    assert rows[1][1] == pytest.approx(-37.5, abs=1e-9)
    assert rd.bd_label.text().endswith(
        "; MSP balanced (3 points) against WebP −50.0 % · MSP fast −37.5 %")
    # a classic curve entirely above the learned one's quality range: n/a, with the reason
    for bpp in (10.0, 20.0, 40.0):
        session.add_curve_point("avif", "AVIF", RDPoint(bpp=bpp, psnr_rgb=60 + bpp))
    rd.refresh()
    rows = dict((label, (value, reason)) for label, value, reason in rd.bd_rates())
    assert rows["AVIF"][0] is None and "do not overlap" in rows["AVIF"][1]
    assert "AVIF n/a" in rd.bd_label.text() and "do not overlap" in rd.bd_label.toolTip()
    # one that meets the learned curve over its top 1.2 dB only: starred, and the tooltip
    # says over which band
    for bpp, psnr in ((5.0, 40.0), (10.0, 45.0), (20.0, 50.0)):
        session.add_curve_point("jxl", "JPEG XL", RDPoint(bpp=bpp, psnr_rgb=psnr))
    rd.refresh()
    rows = dict((label, (value, note)) for label, value, note in rd.bd_rates())
    assert rows["JPEG XL"][0] is not None and "overlap only from 40.00 to 41.23 dB, 12%" \
        in rows["JPEG XL"][1]
    assert rows["WebP"][1] == ""
    assert re.search(r"JPEG XL [−+][0-9.]+ %\*", rd.bd_label.text())
    assert rd.bd_label.text().endswith(
        "(*: the curves overlap on a narrow band of quality only)")
    assert "against JPEG XL: * the curves overlap only" in rd.bd_label.toolTip()
    # the metrics JSON keeps the two apart: a reason where there is no value, a warning
    # beside a value
    fast = next(entry for entry in window._bd_rates_document() if entry["curve"] == "MSP fast")
    rows = {row["curve"]: row for row in fast["against"]}
    assert rows["JPEG XL"]["reason"] is None and "overlap only" in rows["JPEG XL"]["warning"]
    assert rows["AVIF"]["bd_rate_percent"] is None and rows["AVIF"]["warning"] is None
    assert "do not overlap" in rows["AVIF"]["reason"]
    assert rows["WebP"]["reason"] is None and rows["WebP"]["warning"] is None


def test_encodes_and_the_ladder_feed_the_curve(qtbot, window):
    """The real flow: encodes make their profile's curve until its λ ladder runs; then the
    curve is the ladder's points alone, whatever else is encoded (an encode past the
    ladder's top would move its BD-rates); a point of no profile (a stream opened from a
    file) joins none."""
    session = window.session
    window.controls.set_profile("fast")
    for lam in (0.004, 0.01, 0.02):
        window.controls.set_lambda(lam)
        window.start_encode()
        wait_idle(qtbot, window)
    curves = session.learned_curves()
    assert len(curves["fast"].points) == 3 and curves["fast"].settings["points"] == "encodes"
    front = len(window.rd.learned_line_data(curves["fast"])[0])  # (random weights: any)
    assert (f"MSP fast ({front} points) against" in window.rd.bd_label.text()) == (front >= 3)
    window.start_lambda_ladder()
    wait_idle(qtbot, window)
    ladder = len(session.model.config.rate.lambdas)
    curves = session.learned_curves()
    assert list(curves) == ["fast"] and len(curves["fast"].points) == ladder
    assert curves["fast"].settings["points"] == "λ ladder"
    assert window.rd.learned_curve().points == curves["fast"].points
    total = len(session.learned_points)
    window.start_lambda_ladder()  # again: its points replace the first run's (had doubled)
    wait_idle(qtbot, window)
    assert len(session.learned_points) == total
    assert len(session.learned_curves()["fast"].points) == ladder
    window.controls.set_lambda(0.09)  # past the ladder's top: plotted, not in the BD-rates
    window.start_encode()
    wait_idle(qtbot, window)
    assert len(session.learned_curves()["fast"].points) == ladder
    assert session.learned_points[-1].profile == "fast"
    front = len(window.rd.learned_line_data(session.learned_curves()["fast"])[0])
    assert f"MSP fast (λ ladder, {front} points)" in window.rd.bd_summary  # (on the RD front)
    assert 0.09 in [round(x, 6) for x in [p.point.quality for p in session.learned_points]]
    document = window.metrics_document()
    assert vocabulary_faults(document) == []  # the command line's names (README)
    assert {"file_bytes", "encode_s", "decode_s"} <= set(document["msp"])
    assert {point["profile"] for point in document["msp_points"]} == {"fast"}
    assert [d["curve"] for d in document["bd_rates"]] == [
        c.label for c in window.rd.learned_curves()]
    session.add_learned_point("MSP file λ=0.01", classic_point(0.3))
    assert len(session.learned_curves()["fast"].points) == ladder
    assert len(session.learned_curves()) == 1
    # a ladder with an LOF profile and a time limit is a curve of its own
    window.controls.set_profile("quick")
    window.controls.time_limit.setValue(1)  # (seconds of LOF per λ: a short test)
    task = window.start_lambda_ladder()
    assert task.context["curve"] == "quick (LOF ≤ 1 s)"
    wait_idle(qtbot, window)
    curves = session.learned_curves()
    assert sorted(curves) == ["fast", "quick (LOF ≤ 1 s)"]
    assert len(curves["quick (LOF ≤ 1 s)"].points) == ladder
    assert curves["quick (LOF ≤ 1 s)"].label == "MSP quick (LOF ≤ 1 s)"


def test_a_cancelled_ladder_adds_no_point_of_a_cut_lof(qtbot, window, monkeypatch):
    """Cancelled during an LOF encode, the ladder yields no point for it."""
    calls = []
    from mspviewer.codec import api  # (the task imports encode_image from it when it runs)

    original = api.encode_image

    def encode_then_cancel(model, pixels, lam, profile, cancel=None, progress=None):
        calls.append(lam)
        encoded = original(model, pixels, lam, profile, cancel=cancel)
        if len(calls) == 2:
            cancel.cancel("user")  # as if the user pressed Cancel during this encode
        return encoded

    monkeypatch.setattr(api, "encode_image", encode_then_cancel)
    window.controls.set_profile("quick")
    window.controls.time_limit.setValue(1)
    window.start_lambda_ladder()
    wait_idle(qtbot, window)
    assert len(calls) == 2
    assert len(window.session.learned_curves()["quick (LOF ≤ 1 s)"].points) == 1


def test_each_profile_has_a_line_through_its_front(window):
    """The stars of two ladders look alike: each profile's points get a line of their own
    (the plain encoder's dashed), through the points its BD-rates use."""
    from PySide6.QtCore import Qt

    session, rd = window.session, window.rd
    add_learned(session, "fast", rates=(0.3, 0.5, 0.9), scale=0.8)
    session.add_learned_point("MSP fast, not on the front", classic_point(0.5, 2.0),
                              profile="fast")  # more bits for the same quality
    add_learned(session, "balanced", rates=(0.3, 0.5), scale=0.5)
    add_learned(session, "max", rates=(0.4,), scale=0.4)  # one point: no line
    rd.refresh()
    assert sorted(rd.learned_lines) == ["balanced", "fast"]
    xs, ys = rd.learned_lines["fast"].getData()
    assert np.allclose(xs, [0.24, 0.4, 0.72])  # the dominated point is not on the line
    assert np.allclose(ys, [classic_point(b).psnr_rgb for b in (0.3, 0.5, 0.9)])
    styles = {p: item.opts["pen"].style() for p, item in rd.learned_lines.items()}
    assert styles == {"fast": Qt.PenStyle.DashLine, "balanced": Qt.PenStyle.SolidLine}
    legend = [label.text for _, label in rd.legend.items]
    assert "MSP fast" in legend and "MSP balanced" in legend
    session.set_image(session.image)  # a new image: its learned points are gone, and lines
    rd.refresh()
    assert rd.learned_lines == {}
    assert "MSP fast" not in [label.text for _, label in rd.legend.items]


def test_zoom_to_the_msp_points(window):
    session, rd = window.session, window.rd
    assert not rd.zoom_to_learned()  # nothing to zoom to
    add_classic(session, "webp", "WebP", scale=4.0)  # up to 12.8 bpp
    add_learned(session, "fast", rates=(0.3, 0.5, 0.9), scale=0.5)  # up to 0.45 bpp
    rd.refresh()
    assert rd.zoom_to_learned()
    (x0, x1), (y0, y1) = rd.plot.getViewBox().viewRange()
    assert x0 == pytest.approx(0.0, abs=1e-9) and x1 == pytest.approx(1.5 * 0.45, rel=1e-6)
    # every quality shown there is in range: the learned ones and WebP's below 0.675 bpp
    shown = [classic_point(b).psnr_rgb for b in (0.3, 0.5, 0.9)] + \
        [classic_point(b).psnr_rgb for b in CLASSIC_BPP if 4 * b <= 0.675]
    assert y0 < min(shown) and max(shown) < y1


def test_the_zoom_to_msp_keeps_whole_stars_in_a_short_plot(qtbot, window):
    """In a laptop's short plot a 5 % margin was less than half a star: the top one was cut
    by the plot's edge."""
    from mspviewer.gui.widgets.rd_panel import STAR_PX

    session, rd = window.session, window.rd
    rd.plot.setFixedHeight(150)
    qtbot.waitUntil(lambda: rd.plot.getViewBox().height() < 120, timeout=2000)
    add_learned(session, "fast", rates=(0.3, 0.5, 0.9), scale=0.5)
    rd.refresh()
    assert rd.zoom_to_learned()
    box = rd.plot.getViewBox()
    (_, _), (y0, y1) = box.viewRange()
    top = max(classic_point(b).psnr_rgb for b in (0.3, 0.5, 0.9))
    bottom = min(classic_point(b).psnr_rgb for b in (0.3, 0.5, 0.9))
    per_px = (y1 - y0) / box.height()
    assert (y1 - top) / per_px >= STAR_PX / 2 and (bottom - y0) / per_px >= STAR_PX / 2


def test_the_view_follows_the_msp_points_until_the_user_moves_it(window):
    """First view: MSP's rates with the classic curves there, not WebP's 12.8 bpp with the
    MSP points in a corner; a pan or zoom of the user's, or A, is left alone."""
    session, rd = window.session, window.rd
    box = rd.plot.getViewBox()
    add_classic(session, "webp", "WebP", scale=4.0)  # up to 12.8 bpp
    rd.refresh()
    assert all(box.autoRangeEnabled())  # no MSP point: every curve
    add_learned(session, "fast", rates=(0.3,), scale=0.5)  # 0.15 bpp
    rd.refresh()
    assert box.viewRange()[0][1] == pytest.approx(1.5 * 0.15)
    add_learned(session, "fast", rates=(0.9,), scale=0.5)  # a new point: the view follows
    rd.refresh()
    assert box.viewRange()[0][1] == pytest.approx(1.5 * 0.45)
    box.setRange(xRange=(0.1, 2.0), padding=0)  # the user zooms (as the mouse does)
    box.sigRangeChangedManually.emit([True, True])
    add_learned(session, "fast", rates=(1.2,), scale=0.5)
    rd.refresh()
    assert box.viewRange()[0] == pytest.approx([0.1, 2.0])  # left as the user set it
    assert rd.follow_learned()  # Zoom to MSP: following again
    assert box.viewRange()[0][1] == pytest.approx(1.5 * 0.6)
    box.enableAutoRange()  # A: every curve, and it stays so
    add_learned(session, "fast", rates=(0.5,), scale=0.5)
    rd.refresh()
    box.updateAutoRange()
    assert all(box.autoRangeEnabled()) and box.viewRange()[0][1] > 12.8
    box.setRange(xRange=(0.5, 1.0), padding=0)  # zoomed by the user...
    box.sigRangeChangedManually.emit([True, True])
    session.set_image(session.image)  # ...then a new image: every curve, following again
    rd.refresh()
    assert all(box.autoRangeEnabled())
    box.setRange(xRange=(0.5, 1.0), padding=0)  # a zoom of the user's before any MSP point
    box.sigRangeChangedManually.emit([True, True])
    add_classic(session, "jpeg2000", "JPEG 2000")  # a sweep's points leave it alone
    rd.refresh()
    assert box.viewRange()[0] == pytest.approx([0.5, 1.0])


def test_the_rate_axis_never_goes_below_zero(qtbot, window):
    """One point alone: auto range pads around it, but not into negative rates."""
    window.session.add_learned_point("MSP fast λ=0.01", classic_point(0.05), profile="fast")
    window.rd.refresh()
    window.rd.plot.autoRange()
    qtbot.wait(20)
    (left, right), _ = window.rd.plot.viewRange()
    assert left >= 0.0 and right > 0.05


def test_a_ladder_cut_short_leaves_the_encodes_curve(window):
    """Two ladder points make no BD-rate: until a ladder has given three, the profile's
    curve is all its points, the encodes' with them."""
    session = window.session
    for bpp in (0.3, 0.5, 0.9):
        session.add_learned_point(f"MSP fast at {bpp}", classic_point(bpp), profile="fast")
    for bpp in (0.2, 1.4):  # a ladder cancelled after two points
        session.add_learned_point(f"MSP fast ladder {bpp}", classic_point(bpp),
                                  profile="fast", from_ladder=True)
    curve = session.learned_curves()["fast"]
    assert curve.settings["points"] == "encodes" and len(curve.points) == 5
    session.add_learned_point("MSP fast ladder 0.7", classic_point(0.7), profile="fast",
                              from_ladder=True)
    curve = session.learned_curves()["fast"]
    assert curve.settings["points"] == "λ ladder"
    assert sorted(p.bpp for p in curve.points) == [0.2, 0.7, 1.4]


def test_a_curve_with_no_finite_point_says_so_in_the_legend(window):
    """A flat image: a codec that is lossless at every setting has PSNR ∞ everywhere, and
    nothing to draw; its legend entry says so rather than show a line that is not there."""
    from mspviewer.gui.widgets.rd_panel import NOT_DRAWN

    session, rd = window.session, window.rd
    for bpp in (0.1, 0.2):
        session.add_curve_point("jpeg2000", "JPEG 2000", RDPoint(bpp=bpp, psnr_rgb=math.inf))
    add_classic(session, "webp", "WebP")
    rd.refresh()
    labels = {label.text for _, label in rd.legend.items}
    assert "JPEG 2000" + NOT_DRAWN in labels and "WebP" in labels
    session.add_curve_point("jpeg2000", "JPEG 2000", RDPoint(bpp=0.05, psnr_rgb=40.0))
    rd.refresh()
    assert "JPEG 2000" in {label.text for _, label in rd.legend.items}


def test_a_curve_out_of_the_view_says_so_in_the_legend(window, qtbot):
    """Zoomed to MSP's rates, a codec whose curve lies wholly elsewhere (it cannot get down
    to them) was listed in the legend as if drawn. A line that crosses the view with both
    ends outside it is in view."""
    from mspviewer.gui.widgets.rd_panel import OFF_VIEW

    session, rd = window.session, window.rd
    add_classic(session, "webp", "WebP")  # 0.2 … 3.2 bpp
    add_classic(session, "jpeg-420", "JPEG 4:2:0", scale=40.0)  # 8 … 128 bpp
    for bpp in (0.3, 0.5, 0.9):
        session.add_learned_point(f"MSP at {bpp}", classic_point(bpp, 0.5), profile="fast")
    rd.refresh()

    def labels():
        return {label.text for _, label in rd.legend.items}

    qtbot.waitUntil(lambda: "JPEG 4:2:0" + OFF_VIEW in labels())
    assert "WebP" in labels()
    box = rd.plot.getViewBox()
    box.setXRange(0.25, 0.35, padding=0)  # between two WebP points: its line crosses
    box.setYRange(20, 45, padding=0)
    qtbot.waitUntil(lambda: "WebP" in labels())
    box.setRange(xRange=(0, 130), yRange=(0, 60), padding=0)  # every curve: no note
    qtbot.waitUntil(lambda: {"WebP", "JPEG 4:2:0"} <= labels())
    session.clear_curves()  # (a new image: the panel's refresh is queued) then a zoom
    box.setXRange(0, 2, padding=0)  # before it: no curve of the last image is looked up
    qtbot.wait(50)
    assert rd.curve_items == {}


def test_the_legend_covers_no_point_or_line_of_any_curve(window, qtbot):
    """No corner of an RD plot is always free: the legend sat in the bottom right, over the
    curves whenever the view had them there. It now takes the corner the data leave free, as
    the view pans; dragged, it stays where it was put, and a double click hands it back."""
    from PySide6.QtCore import QPointF, Qt

    session, rd = window.session, window.rd
    box = rd.plot.getViewBox()

    def covered() -> list[tuple[float, float]]:
        """Points of every curve, and points along its lines, under the legend."""
        legend, view = rd.legend.sceneBoundingRect(), box.sceneBoundingRect()
        assert view.contains(legend.center())
        under = []
        for item in rd.plot.getPlotItem().listDataItems():
            xs, ys = (np.atleast_1d(np.asarray(v, dtype=float)) for v in item.getData())
            if len(xs) > 1 and item.opts.get("pen") is not None:  # a line: its segments too
                t = np.linspace(0, 1, 101)[:, None]
                xs = (xs[:-1] + t * np.diff(xs)).ravel()
                ys = (ys[:-1] + t * np.diff(ys)).ravel()
            for x, y in zip(xs, ys):
                if not (math.isfinite(x) and math.isfinite(y)):
                    continue
                at = box.mapViewToScene(QPointF(x, y))
                if view.contains(at) and legend.contains(at):
                    under.append((round(float(x), 3), round(float(y), 2)))
        return under

    from mspviewer.rd import load_published_anchor

    # Kodak's published curves, and the shipped model's mean points on Kodak (README)
    for name in ("jpeg", "webp", "jpeg2000", "av1"):
        anchor = load_published_anchor(name)
        for point in anchor.points:
            session.add_curve_point(name, anchor.label, point)
    for bpp, psnr in ((0.171, 28.69), (0.261, 30.20), (0.375, 31.63), (0.516, 32.96),
                      (0.677, 34.06), (0.862, 34.93)):
        session.add_learned_point(f"MSP at {bpp}", RDPoint(bpp=bpp, psnr_rgb=psnr),
                                  profile="fast")
    rd.refresh()
    qtbot.wait(50)
    assert rd.legend.columnCount == 1 and len(rd.legend.items) == 6
    assert covered() == []
    # panned up, so that the curves fill that corner: it moves to the one free now
    corner = rd.legend.corner
    (x0, x1), (y0, y1) = box.viewRange()
    box.setRange(yRange=(y0 + 0.4 * (y1 - y0), y1 + 0.4 * (y1 - y0)), padding=0)
    qtbot.wait(50)
    assert covered() == [] and rd.legend.corner != corner
    # dragged by the user, it stays where they put it
    viewport = rd.plot.viewport()
    start = rd.plot.mapFromScene(rd.legend.sceneBoundingRect().center())
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):  # (pyqtgraph takes a mouse move every 20 ms at most)
        qtbot.wait(30)
        qtbot.mouseMove(viewport, start + QPointF(0, 12 * step).toPoint())
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=start + QPointF(0, 60).toPoint())
    assert rd.legend.moved_by_user
    dropped = rd.legend.pos()
    box.setRange(yRange=(y0, y1), padding=0)
    qtbot.wait(50)
    assert rd.legend.pos() == dropped
    # a double click (as pyqtgraph's scene delivers it: a click event that says double)
    rd.legend.mouseClickEvent(SimpleNamespace(double=lambda: True, accept=lambda: None))
    qtbot.wait(50)
    assert not rd.legend.moved_by_user and covered() == []


def test_the_freest_corner_is_the_one_that_covers_least():
    from mspviewer.gui.widgets.legend import (corner_rect, freest_corner, line_segments,
                                              segments_crossing)

    view, legend = (400, 300), (100, 60)
    assert corner_rect("top left", view, legend) == (5, 5, 105, 65)
    assert corner_rect("bottom right", view, legend) == (295, 235, 395, 295)
    nothing = (np.empty((0, 2)), np.empty((0, 2)))
    none = np.empty((0, 2))
    assert freest_corner(none, nothing, view, legend) == "top left"  # the preferred one
    assert freest_corner(none, nothing, view, legend, current="top right") == "top right"
    top_left, bottom_right = [20, 20], [380, 280]
    assert freest_corner(np.array([top_left]), nothing, view, legend) == "bottom right"
    assert freest_corner(np.array([top_left, bottom_right]), nothing, view,
                         legend) == "top right"
    # a marker just outside the rectangle is under the legend's edge all the same
    assert freest_corner(np.array([[110, 30]]), nothing, view, legend) == "bottom right"
    # a long segment with both ends far outside the view crosses the top left: exact, not
    # sampled along its length
    far = (np.array([[50.0, -1000.0]]), np.array([[50.0, 1500.0]]))
    assert segments_crossing(*far, corner_rect("top left", view, legend)).tolist() == [True]
    assert freest_corner(none, far, view, legend) == "bottom right"  # (the bottom left too)
    # segments that pass by, touch a corner, or run parallel outside
    starts = np.array([[0.0, 0.0], [110.0, 0.0], [0.0, 70.0], [104.0, 66.0]])
    ends = np.array([[200.0, 0.0], [110.0, 100.0], [200.0, 70.0], [106.0, 64.0]])
    assert segments_crossing(starts, ends, (5, 5, 105, 65)).tolist() == \
        [False, False, False, True]
    # a marker outweighs a line: two stars in the bottom right, one line across the top left
    line = (np.array([[0.0, 30.0]]), np.array([[200.0, 30.0]]))
    stars = np.array([[350.0, 260.0], [370.0, 270.0]])
    assert freest_corner(stars, line, view, legend) == "top right"
    # a wide legend: under the two stars at either bottom corner, or five lines at the top
    stars = np.array([[200.0, 260.0], [210.0, 270.0]])
    lines = (np.tile(line[0], (5, 1)), np.tile(line[1], (5, 1)))
    assert freest_corner(stars, lines, view, (300, 60)) == "top left"  # 5 < 2 × 3
    # a line breaks at a missing value
    joined = line_segments(np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 2.0], [3.0, 3.0]]))
    assert [pair.tolist() for pair in joined] == [[[0.0, 0.0]], [[1.0, 1.0]]]


def test_the_legend_moves_when_a_click_on_its_sample_shows_a_curve_under_it(qtbot):
    """A click on an entry's sample hides or shows its curve (pyqtgraph's doing): a curve
    shown in the legend's corner sends the legend to a free one."""
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    from mspviewer.gui.widgets.legend import CornerLegend

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    legend = CornerLegend()
    legend.attach(widget.getPlotItem())
    widget.plot([0.0, 0.1, 0.2, 0.3], [1.0, 0.98, 0.96, 0.94], name="top left", symbol="o")
    hidden = widget.plot([0.85, 0.9, 1.0], [0.0, 0.02, 0.05], name="bottom right", symbol="o")
    hidden.setVisible(False)
    widget.getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    widget.show()
    qtbot.waitExposed(widget)
    legend.place()
    assert legend.corner == "bottom right"  # (the curve there is hidden)
    sample = next(s for s, label in legend.items if label.text == "bottom right")
    sample.mouseClickEvent(SimpleNamespace(button=lambda: Qt.MouseButton.LeftButton,
                                           accept=lambda: None))
    assert hidden.isVisible() and legend.corner == "top right"


def test_a_short_plot_has_its_legend_beside_the_view(window, qtbot, monkeypatch):
    """In a laptop's short RD plot no corner is free: the legend, in rows of three, covered
    the curves' lower half. Where the plot is wide enough it now stands beside the view, in
    a column the plot makes for it (the view is that much narrower, and gets the room back
    when the plot is tall again); in a plot narrow as well, it keeps to rows in the view."""
    from PySide6.QtCore import QPointF, Qt

    from mspviewer.gui.widgets import rd_panel
    from mspviewer.rd import load_published_anchor

    session, rd = window.session, window.rd
    for name in ("jpeg", "webp", "jpeg2000", "av1"):
        anchor = load_published_anchor(name)
        for point in anchor.points:
            session.add_curve_point(name, anchor.label, point)
    for bpp, psnr in ((0.171, 28.69), (0.375, 31.63), (0.862, 34.93)):
        session.add_learned_point(f"MSP at {bpp}", RDPoint(bpp=bpp, psnr_rgb=psnr),
                                  profile="fast")
    rd.refresh()
    rd.setParent(None)  # (out of its dock: the test sets its size)
    qtbot.addWidget(rd)
    rd.show()
    box = rd.plot.getViewBox()

    def shape(width: int, height: int) -> None:
        rd.resize(width, rd.height())
        rd.plot.setFixedHeight(height)
        qtbot.waitUntil(lambda: rd.plot.width() == width - 4 and rd.plot.height() == height)
        qtbot.wait(50)

    def view_and_legend():
        return box.sceneBoundingRect(), rd.legend.sceneBoundingRect()

    shape(520, 400)  # tall: in a corner of the view
    view, legend = view_and_legend()
    assert not rd.legend.beside and rd.legend.columnCount == 1 and view.contains(legend)
    tall_view_width = view.width()
    rd.legend.moved_by_user = True  # (as a drag leaves it: see the test above)

    shape(520, 200)  # short: beside the view, whole, in the plot
    assert box.height() < 200
    view, legend = view_and_legend()
    assert rd.legend.beside and rd.legend.columnCount == 1
    assert not view.intersects(legend) and legend.left() >= view.right()
    assert rd.plot.sceneRect().contains(legend) and legend.top() >= view.top()
    assert view.width() <= tall_view_width - legend.width()
    # every entry in the legend's box, one under another
    tops = [label.sceneBoundingRect().top() for _, label in rd.legend.items]
    assert tops == sorted(tops) and len(set(tops)) == len(tops) == 6
    assert all(legend.contains(label.sceneBoundingRect()) for _, label in rd.legend.items)
    # it has a place of its own there: a drag does not move it
    viewport, at = rd.plot.viewport(), rd.legend.pos()
    start = rd.plot.mapFromScene(legend.center())
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 4):
        qtbot.wait(30)
        qtbot.mouseMove(viewport, start + QPointF(-20 * step, 0).toPoint())
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=start)
    assert rd.legend.pos() == at and not rd.legend.moved_by_user

    # short and narrow (the panel's buttons keep it wider than that here): rows in the view,
    # as many columns as its width takes (three had run past its left edge)
    monkeypatch.setattr(rd_panel, "MIN_WIDTH_BESIDE_LEGEND_PX", 521)
    shape(520, 201)
    view, legend = view_and_legend()
    assert not rd.legend.beside and rd.legend.columnCount in (2, 3)
    assert view.contains(legend)
    monkeypatch.undo()

    shape(520, 400)  # tall again: back in a corner, and the view has its width back
    view, legend = view_and_legend()
    assert not rd.legend.beside and rd.legend.columnCount == 1 and view.contains(legend)
    assert view.width() == pytest.approx(tall_view_width, abs=1)
    # where the user had dragged it went with the short plot: the freest corner again (it
    # had kept the anchor it had beside the view)
    from mspviewer.gui.widgets.legend import CORNERS

    assert not rd.legend.moved_by_user and rd.legend.corner in CORNERS

    # ten entries (more codecs, the ladders of three profiles) in a short plot: one column
    # would run past its bottom; every entry stays inside the plot
    for name in ("jpeg-444", "vvc"):
        for bpp in (0.3, 0.6, 1.2):
            session.add_curve_point(name, name.upper(), RDPoint(bpp=bpp, psnr_rgb=25 + 5 * bpp))
    for profile, gain in (("quick", 0.2), ("balanced", 0.4)):
        for bpp, psnr in ((0.171, 28.69), (0.375, 31.63), (0.862, 34.93)):
            session.add_learned_point(f"{profile} at {bpp}",
                                      RDPoint(bpp=bpp, psnr_rgb=psnr + gain), profile=profile)
    rd.refresh()
    shape(520, 170)
    assert len(rd.legend.items) == 10
    view, legend = view_and_legend()
    assert rd.plot.sceneRect().contains(legend)
    assert rd.legend.beside and rd.legend.columnCount == 2 and not view.intersects(legend)
    assert all(legend.contains(label.sceneBoundingRect()) for _, label in rd.legend.items)
