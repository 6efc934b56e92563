"""What LOF changed, in the window: Δŷ and Δbits heatmaps, the metrics row and the third
pane showing the plain encoding at the same λ (tiny random model, offscreen)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import smooth_image  # noqa: E402
from gui_support import encode, make_window, wait_idle, write_png  # noqa: E402

from mspviewer.codec import decode_bytes  # noqa: E402
from mspviewer.codec.api import PLAIN_PROFILE, encode_image  # noqa: E402
from mspviewer.gui import jobs, latent_data, outcomes  # noqa: E402
from test_json_vocabulary import vocabulary_faults  # noqa: E402

LAM = 0.01
# A few large Adam steps: enough for a tiny random model's latent to cross quantisation bins,
# and a fixed amount of work (a time limit would do nothing on a slow, shared machine).
PROFILES = {"format": "mspviewer-profiles", "version": 1, "profiles": [
    {"name": "fast", "description": "no LOF", "lof_iterations": 0},
    {"name": "quick-lof", "description": "six large Adam steps", "lof_iterations": 6,
     "learning_rate": 0.4, "lr_schedule": "constant"}]}


@pytest.fixture(autouse=True)
def quick_profiles(tmp_path, monkeypatch):
    from mspviewer.codec.profiles import PROFILES_ENV

    (tmp_path / "profiles.json").write_text(json.dumps(PROFILES))
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path / "profiles.json"))


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    window = make_window(qtbot, tiny_model, tmp_path)
    write_png(tmp_path / "picture.png", 48, 64, seed=5)
    assert window.open_path(tmp_path / "picture.png")
    return window


def lof_encode(qtbot, window):
    window.controls.set_profile("quick-lof")
    result = encode(qtbot, window, lam=LAM)
    assert len(result.lof_history) == 6
    return result


def shown_values(latents) -> np.ndarray:
    """Every finite value the heatmaps show, all scales together."""
    values = np.concatenate([item.image.ravel() for item in latents.items])
    return values[np.isfinite(values)].astype(np.float64)


def test_an_lof_result_carries_its_plain_encoding(qtbot, window, tiny_model):
    result = lof_encode(qtbot, window)
    assert result.reference is not None
    # the reference is the plain encoder's stream at the same λ, byte for byte
    plain = encode_image(tiny_model, result.original, result.lam, PLAIN_PROFILE)
    assert result.reference.bitstream == plain.bitstream
    assert np.array_equal(result.reference.decoded,
                          decode_bytes(tiny_model, plain.bitstream).pixels)
    change = result.reference.change
    assert change.file_bytes == len(result.bitstream)
    assert change.file_bytes_reference == len(plain.bitstream)
    assert 0 < change.symbols_changed == int(np.count_nonzero(
        result.analysis.symbols != plain.analysis.symbols))
    summary = result.metrics_dict()["without_lof"]
    assert summary["file_bytes"] == len(plain.bitstream)
    assert summary["change"]["symbols_changed"] == change.symbols_changed
    # the metrics row states the same change
    text = window.metrics.value("lof_change")
    assert f"{change.file_change_percent:+.2f} % file".replace("-", "−") in text
    assert f"; {change.symbols_changed:,} symbols changed" in text
    # the cell's whole text first (a cut one ends in "…"), then the details
    assert window.metrics.tooltip("lof_change").startswith(
        f"{text}\n{change.symbols_changed:,} of {change.elements:,} symbols changed.")
    psnr_gain = result.point.psnr_rgb - result.reference.point.psnr_rgb
    assert f"{psnr_gain:+.2f} dB".replace("-", "−") in text


def test_latent_heatmaps_show_the_shift_and_the_bits_lof_changed(qtbot, window):
    result = lof_encode(qtbot, window)
    analysis, reference = result.analysis, result.reference.analysis
    latents = window.latents
    index = latents.quantity_box.findData("lof_bits")
    assert latents.quantity_box.model().item(index).isEnabled()
    # Δbits over all channels: the heatmaps add up to the change of the estimated bits
    latents.set_quantity("lof_bits")
    latents.set_channel(None)
    assert shown_values(latents).sum() == pytest.approx(
        analysis.estimated_bits - reference.estimated_bits, abs=1e-2)
    low, high = latents.color_bar.levels()
    assert low == pytest.approx(-high)  # gains and losses: a diverging map
    # the caption counts what changed, here counted from the two records directly
    changed = int(np.count_nonzero(analysis.symbols != reference.symbols))
    assert changed > 0
    bits = float(analysis.bits.astype(np.float64).sum() - reference.bits.astype(np.float64).sum())
    caption = latents.caption.text()
    assert f" · {changed:,} of {analysis.symbols.size:,} symbols changed, " in caption
    # the maps' holes are said to be the coarser scales' (they are: NaN there, and only there)
    assert " · blank: a coarser scale's positions" in caption
    assert not np.isnan(latents.layers[0].data).any()  # the coarsest has every position
    assert all(np.isnan(layer.data).any() for layer in latents.layers[1:])
    shown = caption.rsplit("symbols changed, ", 1)[1]
    assert shown.endswith(" bits")  # (rounded to whole bits: a float sum may round either way)
    assert float(shown[:-len(" bits")].replace(",", "")) == pytest.approx(bits, abs=0.51)
    # Δŷ of one channel, element by element, on every scale
    latents.set_quantity("lof_shift")
    latents.set_channel(2)
    expected = analysis.y_hat[2] - reference.y_hat[2]
    for layer, item in zip(latents.layers, latents.items):
        mask = analysis.scale_mask(layer.scale)[::layer.stride, ::layer.stride]
        np.testing.assert_allclose(item.image[mask],
                                   expected[::layer.stride, ::layer.stride][mask], atol=1e-6)
    # and reduced over channels: the mean |Δŷ|, never negative
    latents.set_channel(None)
    np.testing.assert_allclose(
        latents.items[-1].image[np.isfinite(latents.items[-1].image)].mean(),
        np.abs(analysis.y_hat - reference.y_hat).mean(axis=0)[
            analysis.scale_mask(latents.layers[-1].scale)].mean(), rtol=1e-5)
    assert shown_values(latents).min() >= 0


def test_a_stream_opened_from_a_file_has_no_plain_reference(qtbot, window, tmp_path):
    result = lof_encode(qtbot, window)
    window.compare.set_classic_codec(outcomes.PLAIN_PANE)
    path = tmp_path / "lof.msp"
    path.write_bytes(result.bitstream)
    assert window.open_path(path)
    wait_idle(qtbot, window)
    opened = window.session.result
    assert opened.source == "file" and opened.reference is None
    assert window.session.classic is None
    reason = ("opened from a file: no encoding without LOF to compare with (File ▸ Set a "
              "reference .msp)")
    assert window.metrics.value("lof_change") == "none: read from a file"
    assert window.metrics.tooltip("lof_change") == f"none: read from a file\n{reason}"
    assert reason in window.compare.classic.title.text


def test_cancelled_lof_still_gets_its_plain_reference(tiny_model):
    """Cancel keeps the best latent so far, and the comparison with the plain encoder."""
    request = outcomes.EncodeRequest(profile="quick-lof", lam=LAM)
    token = jobs.CancelToken()
    steps = jobs.encode_task(tiny_model, smooth_image(48, 64, seed=5), request, token)
    records = 0
    try:
        while True:
            record = next(steps)
            records += hasattr(record, "iteration")
            if records == 2:
                token.cancel("user")
    except StopIteration as stop:
        outcome = stop.value
    assert outcome.cancelled and len(outcome.lof_history) == 2
    assert outcome.reference is not None
    plain = encode_image(tiny_model, outcome.original, LAM, PLAIN_PROFILE)
    assert outcome.reference.bitstream == plain.bitstream
    assert outcome.reference.change.file_bytes == len(outcome.bitstream)
    # a task nobody will see (a newer request replaced it while it measured the LOF result)
    # does not go on to code the plain image
    token = jobs.CancelToken()
    steps = jobs.encode_task(tiny_model, smooth_image(48, 64, seed=5), request, token)
    stages = []
    with pytest.raises(StopIteration) as stop:
        while True:
            stages.append(getattr(next(steps), "stage", None))
            if stages[-1] == "metrics":
                token.cancel("superseded")
    assert "metrics" in stages and "reference" not in stages
    assert stop.value.value is None


def test_blind_ab_and_the_metrics_export_do_not_take_the_plain_pane_for_a_codec(
        qtbot, window):
    from mspviewer.gui.widgets.blind_ab import NOT_READY_PLAIN

    window.compare.set_classic_codec(outcomes.PLAIN_PANE)
    lof_encode(qtbot, window)
    assert window.session.classic.codec == outcomes.PLAIN_PANE
    assert not window.blind_ab.new_round()
    assert window.blind_ab.outcome.text() == NOT_READY_PLAIN
    document = window.metrics_document()
    assert document["classic_same_bpp"] is None
    assert document["msp"]["without_lof"]["bpp"] == window.session.result.reference.point.bpp
    assert document["msp"]["lof"] and vocabulary_faults(document) == []  # (LOF's records too)


def test_third_pane_shows_the_plain_encoding(qtbot, window):
    compare = window.compare
    compare.set_classic_codec(outcomes.PLAIN_PANE)
    result = lof_encode(qtbot, window)
    pane = window.session.classic
    assert pane is not None and pane.codec == outcomes.PLAIN_PANE
    assert np.array_equal(compare.classic.rgb.image, result.reference.decoded)
    assert "MSP without LOF" in compare.classic.title.text
    assert window.metrics.value("bpp", 1) == f"{result.reference.point.bpp:.4f} bpp"
    assert window.metrics.value("setting", 1) == f"λ = {result.lam:.5g}"
    header = window.metrics.table.horizontalHeaderItem(1)
    assert header.text() == "Without LOF"
    compare.set_classic_codec("")
    wait_idle(qtbot, window)
    assert header.text() == "Classic" and window.metrics.value("bpp", 1) == ""


def test_a_result_without_lof_says_so_everywhere(qtbot, window):
    compare, latents = window.compare, window.latents
    lof_encode(qtbot, window)
    latents.set_quantity("lof_shift")
    compare.set_classic_codec(outcomes.PLAIN_PANE)
    wait_idle(qtbot, window)
    window.controls.set_profile("fast")
    result = encode(qtbot, window, lam=LAM)
    assert result.reference is None
    assert window.session.classic is None
    reason = "LOF did not run for this result (or File ▸ Set a reference .msp)"
    assert reason in compare.classic.title.text
    assert window.metrics.value("lof_change") == "none: no LOF"
    assert window.metrics.tooltip("lof_change") == f"none: no LOF\n{reason}"
    assert latents.layers == [] and "LOF did not run for this result: encode with quick, " \
        "balanced or max (or File ▸ Set a reference .msp)" in latents.caption.text()
    assert not latents.color_bar.isVisible()  # no scale of the quantity shown before
    for key in latent_data.LOF_CHANGE:
        index = latents.quantity_box.findData(key)
        assert not latents.quantity_box.model().item(index).isEnabled()
    latents.set_quantity("bits")  # the other quantities still show
    assert len(latents.layers) > 0 and latents.color_bar.isVisible()


def test_inspector_states_the_element_without_lof(qtbot, window):
    result = lof_encode(qtbot, window)
    analysis, plain = result.analysis, result.reference.analysis
    inspector = window.inspector
    changed = np.argwhere(analysis.symbols != plain.symbols)
    same = np.argwhere((analysis.symbols == plain.symbols) & (analysis.y_hat == plain.y_hat))
    channel, row, col = (int(v) for v in changed[0])
    inspector.inspect(row, col, channel)
    delta_bits = analysis.bits[channel, row, col] - plain.bits[channel, row, col]
    text = inspector.value_text("without_lof")
    assert text.startswith(f"ŷ {plain.y_hat[channel, row, col]:.4g}, "
                           f"symbol {plain.symbols[channel, row, col]}, ")
    assert f"{delta_bits:+.4f} bits" in text and "→ LOF" in text
    if len(same):
        channel, row, col = (int(v) for v in same[0])
        inspector.inspect(row, col, channel)
        assert inspector.value_text("without_lof").endswith("(unchanged)")
    # a result without LOF says why the row has nothing to compare
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=LAM)
    inspector.inspect(row, col, channel)
    assert inspector.value_text("without_lof") == "none"
    assert inspector.caption_text("without_lof") == ("LOF did not run for this result (or "
                                                     "File ▸ Set a reference .msp)")


def test_rd_panel_draws_the_move_lof_made(qtbot, window):
    from mspviewer.gui.widgets.rd_panel import PLAIN_LEGEND

    rd = window.rd
    result = lof_encode(qtbot, window)
    xs, ys = rd.lof_move_data()
    assert xs == [result.reference.point.bpp, result.point.bpp]
    assert ys == [result.reference.point.psnr_rgb, result.point.psnr_rgb]
    assert list(rd.lof_move_item.getData()[0]) == xs
    assert list(rd.plain_item.getData()[1]) == ys[:1]
    labels = [label.text for _, label in rd.legend.items]
    assert labels.count(PLAIN_LEGEND) == 1
    # a view that leaves the point out says so in the legend, as for a curve (a reference
    # far below the view had been listed as if drawn)
    from mspviewer.gui.widgets.rd_panel import OFF_VIEW

    rd.plot.getViewBox().setRange(xRange=(3 * xs[0], 4 * xs[0]), padding=0)
    labels = [label.text for _, label in rd.legend.items]
    assert PLAIN_LEGEND + OFF_VIEW in labels, labels
    rd.plot.getViewBox().setRange(xRange=(0, 2 * max(xs)),
                                  yRange=(min(ys) - 1, max(ys) + 1), padding=0)
    assert PLAIN_LEGEND in [label.text for _, label in rd.legend.items]
    rd.metric_box.setCurrentIndex(rd.metric_box.findData("psnr_y"))
    assert rd.lof_move_data()[1] == [result.reference.point.psnr_y, result.point.psnr_y]
    # a result without LOF: no segment, no hollow point, not in the legend
    window.controls.set_profile("fast")
    encode(qtbot, window, lam=LAM)
    assert rd.lof_move_data() == ([], [])
    segment_x, _ = rd.lof_move_item.getData()
    assert segment_x is None or len(segment_x) == 0
    assert len(rd.plain_item.getData()[0]) == 0
    assert PLAIN_LEGEND not in [label.text for _, label in rd.legend.items]
