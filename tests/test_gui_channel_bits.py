"""The bits-per-channel tab through the real window: bars and curve from the analysis, a
click on a bar shows that channel in the latent heatmaps.

The shipped model: the tiny random one spends its bits almost evenly over its channels.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, grab_array, make_window, wait_idle, write_png  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from mspviewer.codec.channel_usage import channel_usage  # noqa: E402
from mspviewer.gui import latent_data  # noqa: E402
from mspviewer.gui.widgets.common import view_to_widget  # noqa: E402


@pytest.fixture
def window(qtbot, shipped_model, tmp_path):
    window = make_window(qtbot, shipped_model, tmp_path)
    path = tmp_path / "picture.png"
    write_png(path, 64, 96, seed=5)
    assert window.open_path(path)
    encode(qtbot, window, lam=0.013)
    window.docks["bits"].raise_()
    window.bits.set_view("channels")
    wait_idle(qtbot, window)
    return window


def test_bars_and_curve_are_the_channel_usage(window):
    chart = window.bits.channels
    usage = channel_usage(window.session.result.analysis)
    order = np.argsort(-usage.bits, kind="stable")
    np.testing.assert_allclose(chart.bar_heights(), 100 * usage.bits[order] / usage.bits.sum())
    # one bar item per channel group, each at the ranks of that group's channels
    plotted = {}
    for item in chart.group_bars:
        xs, heights = item.getData()
        for x, height in zip(xs, heights):
            plotted[int(x)] = height
    assert sorted(plotted) == list(range(1, usage.num_channels + 1))
    for rank, channel in enumerate(order, start=1):
        assert plotted[rank] == pytest.approx(100 * usage.share[channel])
    assert len(chart.group_bars) == len(np.unique(usage.group))
    xs, ys = chart.cumulative_curve.getData()
    assert xs[0] == 0 and ys[0] == 0
    np.testing.assert_allclose(ys[1:], 100 * np.cumsum(usage.bits[order]) / usage.bits.sum())
    marks_x, _ = chart.share_marks.getData()
    assert list(marks_x) == [usage.channels_for(f) for f in (0.5, 0.9, 0.99)]
    line = usage.describe()  # nothing selected yet: the line is the usage's own, capitalised
    assert chart.selected is None
    assert chart.summary.text() == line[0].upper() + line[1:]
    assert f"50 % of the bits in {usage.channels_for(0.5)} channel" in chart.summary.text()
    assert not window.bits.group_box.isEnabled()  # "Bars by" is the chart tab's option
    window.bits.set_view("chart")
    assert window.bits.group_box.isEnabled()


def test_clicking_a_bar_shows_that_channel_in_the_heatmaps(qtbot, window):
    chart = window.bits.channels
    usage = chart.usage
    box = chart.share_plot.getViewBox()
    for rank in (1, 3):
        channel = int(usage.order[rank - 1])
        point = view_to_widget(chart.view, box, rank, 0.5 * usage.share.max() * 100)
        before = grab_array(chart.view)
        qtbot.mouseClick(chart.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=point.toPoint())
        wait_idle(qtbot, window)
        assert chart.selected == channel
        assert window.latents.channel() == channel
        # the heatmaps now hold that channel's bits
        window.latents.set_quantity("bits")
        wait_idle(qtbot, window)
        expected = latent_data.channel_values(window.session.result.analysis, "bits", channel)
        layers = latent_data.scale_layers(window.session.result.analysis, expected)
        for layer, item in zip(layers, window.latents.items):
            np.testing.assert_array_equal(item.image, layer.data)
        assert f"channel {channel} (group {usage.group[channel]}), rank {rank}" in \
            chart.summary.text()
        assert not np.array_equal(grab_array(chart.view), before)  # the outline moved
    # a click inside the plot but right of the last bar selects nothing new
    selected = chart.selected
    point = view_to_widget(chart.view, box, usage.num_channels + 0.55, 0.1)
    assert chart.view.viewport().rect().contains(point.toPoint())
    qtbot.mouseClick(chart.view.viewport(), Qt.MouseButton.LeftButton, pos=point.toPoint())
    assert chart.selected == selected and window.latents.channel() == selected


def test_the_heatmaps_channel_is_the_one_outlined(qtbot, window):
    chart = window.bits.channels
    window.latents.set_channel(7)
    assert chart.selected == 7
    xs, _ = chart.selected_bar.getData()
    assert list(xs) == [float(np.nonzero(chart.usage.order == 7)[0][0] + 1)]
    assert chart.summary.text().startswith("Selected: channel 7 ")  # first: the click's
    window.latents.all_channels.setChecked(True)  # all channels: nothing outlined
    assert chart.selected is None and len(chart.selected_bar.getData()[0]) == 0
    assert "Selected" not in chart.summary.text()


def test_a_new_result_redraws_and_nothing_is_left_without_one(qtbot, window, tmp_path):
    chart = window.bits.channels
    first = chart.bar_heights().copy()
    encode(qtbot, window, lam=0.0018)
    usage = channel_usage(window.session.result.analysis)
    np.testing.assert_allclose(chart.bar_heights(), 100 * usage.share[usage.order])
    assert not np.allclose(chart.bar_heights(), first)
    # a new image drops the result: no bars, no curve, a hint instead
    path = tmp_path / "other.png"
    write_png(path, 32, 48, seed=9)
    assert window.open_path(path)
    wait_idle(qtbot, window)
    assert window.session.result is None
    assert chart.usage is None and chart.bar_heights().size == 0
    assert chart.group_bars == [] and chart.cumulative_curve.getData()[0] is None
    assert chart.summary.text().startswith("encode an image")


def axis_label_centred(plot) -> bool:
    """Whether the left axis's label is centred on its axis (within 2 px)."""
    axis = plot.getAxis("left")
    label, span = axis.label.sceneBoundingRect(), axis.sceneBoundingRect()
    return abs(label.center().y() - span.center().y()) <= 2


def test_the_tab_fits_a_short_dock(qtbot, window, monkeypatch):
    """In the default window (1600×1000) the tab's plots were 45 and 60 px tall: the axis
    labels ran over each other, the group legend covered the bars, and "99 %: 153" ran
    past the plot's right edge. A short tab now shows short axis labels centred on their
    axes, a legend only where it fits, and mark labels inside the plot and apart; the bit
    allocation's own summary makes way for the tab's."""
    import pyqtgraph as pg

    from mspviewer.gui.widgets.channel_bits import CUMULATIVE_LABEL, SHARE_LABEL

    chart, bits = window.bits.channels, window.bits
    assert not bits.summary.isVisible() and chart.summary.isVisible()
    bits.set_view("chart")
    assert bits.summary.isVisible()
    bits.set_view("channels")

    def check(short: bool) -> bool:
        """Checks the layout; returns whether the legend is shown."""
        qtbot.wait(50)
        for plot, (label, short_label) in ((chart.share_plot, SHARE_LABEL),
                                           (chart.cumulative_plot, CUMULATIVE_LABEL)):
            assert plot.getAxis("left").labelText == (short_label if short else label)
            assert axis_label_centred(plot), plot.getAxis("left").labelText
        share_box = chart.share_plot.getViewBox().sceneBoundingRect()
        legend = chart.legend
        if legend.isVisible():
            assert share_box.contains(legend.sceneBoundingRect())
        box = chart.cumulative_plot.getViewBox().sceneBoundingRect()
        shown = [label.sceneBoundingRect() for label, _ in chart.mark_labels
                 if label.isVisible()]
        assert shown  # (the first mark's label is always shown)
        for index, rect in enumerate(shown):
            assert box.left() - 1 <= rect.left() and rect.right() <= box.right() + 1
            assert not any(rect.intersects(other) for other in shown[index + 1:])
        return legend.isVisible()

    dock = window.docks["bits"]
    dock.setFloating(True)
    dock.resize(700, 700)  # tall: full labels and the legend
    assert check(short=False)
    dock.resize(580, 330)  # the default window's dock: short, no room for the legend
    assert not check(short=True)
    dock.resize(700, 700)  # back: the full labels, centred again, and the legend
    assert check(short=False)
    # bits spread evenly: the 90 and 99 % marks near the right end, where their labels
    # go left of them (this image's marks are all at the left)
    from mspviewer.codec.channel_usage import ChannelUsage
    from mspviewer.gui.widgets import channel_bits

    real = chart.usage
    spread = ChannelUsage(bits=np.linspace(2.0, 1.0, real.num_channels),
                          elements=real.elements, nonzero=real.nonzero, group=real.group,
                          num_pixels=real.num_pixels)
    monkeypatch.setattr(channel_bits, "channel_usage", lambda _analysis: spread)
    chart.refresh()
    assert [mark[0] for _, mark in chart.mark_labels][1:] == [
        spread.channels_for(f) for f in (0.9, 0.99)] and spread.channels_for(0.9) > 150
    for size in ((700, 700), (580, 330)):
        dock.resize(*size)
        check(short=size[1] < 500)
        # the 90 % label, near the right end, is left of its mark (the 99 % one, 9 % of the
        # plot's height above it, may be hidden under it)
        label, (x, y) = chart.mark_labels[1]
        box = chart.cumulative_plot.getViewBox()
        assert label.isVisible() and tuple(label.anchor) == (1, 0), size
        assert label.sceneBoundingRect().right() <= box.mapViewToScene(
            pg.Point(x, y)).x() + 1, size
