"""Issue 7 in the window: the fresh-process bit-exact check and the estimated-vs-actual bits
table. The check needs a model with a weights file, so these tests save the tiny model and
load it back (the child process loads the same file)."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, make_window, wait_idle, write_png  # noqa: E402

from mspviewer.codec import bitstream, load_model  # noqa: E402
from mspviewer.codec.inspection import VerifyReport  # noqa: E402
from mspviewer.gui import latent_data  # noqa: E402

CHECK_TIMEOUT_MS = 120_000  # a fresh interpreter importing torch, on a contended machine


@pytest.fixture(scope="module")
def file_model(model_file):
    return load_model(model_file)


@pytest.fixture
def encoded_window(qtbot, file_model, tmp_path):
    window = make_window(qtbot, file_model, tmp_path)
    path = tmp_path / "picture.png"
    write_png(path, 48, 80, seed=5)
    assert window.open_path(path)
    encode(qtbot, window, lam=0.01)
    return window


def test_fresh_process_check_passes_then_fails_on_a_flipped_bit(qtbot, encoded_window,
                                                                 tmp_path, monkeypatch):
    from PySide6.QtGui import QAction

    window = encoded_window
    assert window.metrics.value("fresh_check").startswith("not run")
    # through the menu action, as a user runs it: its triggered(bool) argument must not be
    # taken for a bitstream
    window.check_action.trigger()
    assert window.check_runner.is_busy()
    wait_idle(qtbot, window, CHECK_TIMEOUT_MS)
    report = window.session.fresh_check
    assert report is not None and report.ok, report
    assert report.checksum_ok and report.pixels_identical
    assert window.metrics.value("fresh_check").startswith("identical ✓")
    assert ".msp" not in report.message  # the result's own stream: no file to name
    assert not window.errors

    data = window.session.result.bitstream
    header, _ = bitstream.parse(data)
    corrupted = bytearray(data)
    corrupted[bitstream.header_size(header) + 3] ^= 0x40  # one payload bit
    bad = tmp_path / "flipped.msp"
    bad.write_bytes(bytes(corrupted))
    # File ▸ Check a .msp file…, through its menu entry and file dialog
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    action = next(a for a in window.findChildren(QAction)
                  if a.text().startswith("Check a .msp &file"))
    action.trigger()
    assert window.check_runner.is_busy()
    wait_idle(qtbot, window, CHECK_TIMEOUT_MS)
    report = window.session.fresh_check
    assert report is not None and not report.ok
    assert report.checksum_ok is False and "checksum" in report.message
    assert window.metrics.value("fresh_check").startswith("FAILED ✗ flipped.msp: ")
    assert window.errors and "Bit-exact check FAILED" in window.errors[-1]
    # the result on screen is untouched by a failed check
    assert window.session.result.bitstream == data
    # a file that is not a stream of this model is refused before any process starts
    errors = len(window.errors)
    (tmp_path / "garbage.msp").write_bytes(b"MSPV" + bytes(64))
    assert window.check_file(tmp_path / "garbage.msp") is None
    assert not window.check_runner.is_busy() and len(window.errors) == errors + 1


def test_a_new_result_clears_the_check(qtbot, encoded_window):
    window = encoded_window
    window.session.set_fresh_check(VerifyReport(True, True, True, "checked earlier", 0))
    wait_idle(qtbot, window)
    assert window.metrics.value("fresh_check") == "identical ✓ checked earlier"
    encode(qtbot, window, lam=0.02)
    assert window.session.fresh_check is None
    assert window.metrics.value("fresh_check").startswith("not run")


def test_check_refuses_a_model_without_weights_file(qtbot, tiny_model, tmp_path):
    window = make_window(qtbot, tiny_model, tmp_path)
    assert window.start_fresh_check() is None  # nothing encoded yet
    assert "Nothing to check" in window.errors[-1]
    path = tmp_path / "picture.png"
    write_png(path, 32, 48, seed=1)
    window.open_path(path)
    encode(qtbot, window, lam=0.01)
    window.start_fresh_check()
    wait_idle(qtbot, window)
    assert window.session.fresh_check is None
    assert "weights file" in window.errors[-1]


def test_estimated_vs_actual_table(qtbot, encoded_window):
    window = encoded_window
    analysis = window.session.result.analysis
    ledger = window.bits.ledger
    per_scale = analysis.bits_per_scale()
    scale_rows = ledger[:-3]
    assert [int(r.label.split()[1]) for r in scale_rows] == sorted(per_scale, reverse=True)
    for row in scale_rows:
        scale = int(row.label.split()[1])
        # independent: mask the dense per-element arrays by the passes of this scale
        passes = [p.index for p in analysis.passes if p.scale == scale]
        in_scale = np.isin(analysis.pass_index, passes)
        assert row.elements == int(in_scale.sum())
        assert row.estimated_bits == pytest.approx(float(analysis.bits[in_scale].sum()))
        assert row.actual_bits == 8 * per_scale[scale]["actual_bytes"]
    payload, header, total = ledger[-3:]
    assert payload.elements == analysis.y_hat.size
    assert payload.actual_bits == 8 * analysis.payload_bytes
    assert payload.actual_bits == sum(r.actual_bits for r in scale_rows)
    assert payload.estimated_bits == pytest.approx(analysis.estimated_bits)
    assert header.actual_bits == 8 * analysis.header_bytes and header.overhead_percent is None
    assert total.actual_bits == 8 * len(window.session.result.bitstream)
    # the table shows those numbers
    table = window.bits.ledger_table
    assert table.rowCount() == len(ledger)
    last = len(ledger) - 1
    assert table.verticalHeaderItem(last).text() == "file"
    assert window.bits.ledger_text(last, 2) == f"{total.actual_bits:,}"
    overhead = 100 * (payload.actual_bits - payload.estimated_bits) / payload.estimated_bits
    assert window.bits.ledger_text(last - 2, 4) == f"{overhead:+.2f} %"
    assert latent_data.bits_ledger(analysis) == ledger
    # the line under the chart: the stream's own byte counts, the model's from the dense bits
    data = window.session.result.bitstream
    _, words = bitstream.parse(data)  # the payload, as 32-bit words
    stream_bytes = int(words.nbytes)
    estimated = float(analysis.bits.sum(dtype=np.float64)) / 8
    found = re.fullmatch(r"payload ([\d,]+) B from the stream vs ([\d,]+) B estimated by the "
                         r"model \(([+−]\d+\.\d\d) %\), header (\d+) B, file ([\d,]+) B\. .*",
                         window.bits.summary.text())
    assert found, window.bits.summary.text()
    payload_bytes, shown_estimate, shown_overhead, header_bytes, file_bytes = found.groups()
    assert int(payload_bytes.replace(",", "")) == stream_bytes == 4 * len(words)
    assert int(header_bytes) == len(data) - stream_bytes
    assert int(file_bytes.replace(",", "")) == len(data)
    assert float(shown_estimate.replace(",", "")) == pytest.approx(estimated, abs=0.51)
    assert float(shown_overhead.replace("−", "-")) == pytest.approx(
        100 * (stream_bytes - estimated) / estimated, abs=0.0051)


def test_a_new_result_stops_a_running_check(qtbot, encoded_window):
    window = encoded_window
    task = window.start_fresh_check()
    assert window.check_runner.is_busy()
    # a result arrives (here the same object again, so only the cancellation can drop it)
    window.session.set_result(window.session.result)
    assert task.token.reason == "superseded"
    wait_idle(qtbot, window, 20_000)  # the child is killed within 0.1 s, not run to the end
    assert window.session.fresh_check is None and not window.errors


def test_the_estimated_vs_actual_table_shows_every_column(qtbot, tiny_model, tmp_path):
    """In the default window the table scrolled sideways, the actual bits and the overhead
    cut at the dock's edge, while the bits map beside it kept its share. On its tab the table
    now takes the width its columns need (the map the rest), the chart gets its share back,
    and a split the user dragged stays as they left it."""
    from mspviewer.gui.widgets.bits import MAP_MIN_PX, NOT_MODELLED

    window = make_window(qtbot, tiny_model, tmp_path, size=(1600, 1000))
    path = tmp_path / "kodak-sized.png"
    write_png(path, 512, 768)
    window.open_image(path)
    encode(qtbot, window)
    window.show_panel("bits")
    bits, table = window.bits, window.bits.ledger_table
    qtbot.wait(50)
    chart_split = bits.splitter.sizes()
    bits.set_view("ledger")
    qtbot.waitUntil(table.isVisible)
    qtbot.wait(50)
    assert table.horizontalScrollBar().maximum() == 0
    last = table.columnCount() - 1
    header = table.horizontalHeader()
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= \
        table.viewport().width()
    assert table.verticalScrollBar().maximum() == 0  # (and every row: none is 30 px tall)
    ledger_split = bits.splitter.sizes()
    assert ledger_split[0] > chart_split[0] and ledger_split[1] >= MAP_MIN_PX
    # the header's estimate: a dash that says why
    header_row = [row.label for row in bits.ledger].index("header")
    assert bits.ledger_text(header_row, 1) == "—"
    assert table.item(header_row, 1).toolTip() == NOT_MODELLED
    # after the window is resized (the table's share had been worked out from the old width)
    for width in (1400, 1900, 1600):
        window.resize(width, 1000)
        qtbot.wait(100)
        assert table.horizontalScrollBar().maximum() == 0, width
    # in a laptop's window the map gives the table its width (and takes it back after)
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: bits.splitter.sizes()[1] == 0)
    assert table.horizontalScrollBar().maximum() == 0
    bits.set_view("chart")
    qtbot.wait(50)
    assert bits.splitter.sizes()[1] >= MAP_MIN_PX
    # every tab's name whole (the last one had been behind scroll arrows)
    bar = bits.tabs.tabBar()
    assert all(bar.tabRect(i).width() >= bar.tabSizeHint(i).width() for i in range(bar.count()))
    assert bar.tabRect(bar.count() - 1).right() <= bar.width()
    window.resize(1600, 1000)
    qtbot.wait(100)
    assert bits.splitter.sizes() == chart_split
    # dragged by the user, the split is theirs
    bits.splitter.moveSplitter(chart_split[0] - 40, 1)
    dragged = bits.splitter.sizes()
    bits.set_view("ledger")
    qtbot.wait(50)
    assert bits.splitter.sizes() == dragged
