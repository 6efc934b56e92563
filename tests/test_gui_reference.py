"""A .msp set as the reference of the result (File ▸ Set a reference .msp): another coding
of the same image, model and λ, compared element by element in place of the plain encoding
(tiny random model, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, make_window, wait_idle, write_png  # noqa: E402
# the same profiles and window as the plain-encoding tests (quick_profiles is autouse)
from test_gui_lof_change import (LAM, lof_encode, quick_profiles, shown_values,  # noqa: E402,F401
                                 window)

from mspviewer.codec import decode_bytes  # noqa: E402
from mspviewer.codec.latent_change import bits_change, compare_codings  # noqa: E402
from mspviewer.gui import latent_data, outcomes  # noqa: E402


def set_reference(qtbot, window, path):
    task = window.set_reference(path)
    assert task is not None, window.errors
    wait_idle(qtbot, window)
    return window.session.result.reference


def test_a_reference_file_replaces_the_plain_encoding_everywhere(qtbot, window, tiny_model,
                                                                 tmp_path):
    """An LOF result set against another encoder's stream (three LOF steps where the
    result took six): every panel compares with that file, not the plain encoding."""
    from mspviewer.codec.api import encode_image
    from mspviewer.codec.profiles import Profile

    image = window.session.image.pixels
    other_build = Profile("other-build", "three large Adam steps", lof_iterations=3,
                          learning_rate=0.4, lr_schedule="constant")
    other = encode_image(tiny_model, image, LAM, other_build)
    path = tmp_path / "other-build.msp"
    path.write_bytes(other.bitstream)
    result = lof_encode(qtbot, window)
    plain = result.reference
    assert plain.is_plain and plain.bitstream != other.bitstream  # three codings, all distinct
    assert result.bitstream != other.bitstream

    reference = set_reference(qtbot, window, path)
    assert window.session.result is result and result.reference is reference
    assert not reference.is_plain and reference.path == str(path)
    assert reference.label == "reference other-build.msp"
    assert reference.bitstream == other.bitstream
    decoded = decode_bytes(tiny_model, other.bitstream)
    assert np.array_equal(reference.decoded, decoded.pixels)
    # the change, computed here from the two streams' own records
    expected = compare_codings(result.analysis, decoded.analysis)
    assert reference.change == expected and expected != plain.change
    assert "symbols differ" in window.messages.text()

    metrics = window.metrics
    row = metrics.table.verticalHeaderItem(metrics._rows["lof_change"])
    assert row.text() == "vs reference" and "Set a reference .msp" in row.toolTip()
    assert metrics.value("lof_change").startswith(
        f"{expected.file_change_percent:+.2f} % file".replace("-", "−"))
    assert "The reference stream" in metrics.table.item(metrics._rows["lof_change"], 0).toolTip()

    compare = window.compare
    index = compare.classic_box.findData(outcomes.PLAIN_PANE)
    assert compare.classic_box.itemText(index) == "reference other-build.msp (same λ)"
    compare.set_classic_codec(outcomes.PLAIN_PANE)
    wait_idle(qtbot, window)
    assert np.array_equal(compare.classic.rgb.image, decoded.pixels)
    assert metrics.table.horizontalHeaderItem(1).text() == "Reference"

    latents = window.latents
    latents.set_quantity("lof_bits")
    assert latents.quantity_box.currentText() == "Δbits vs reference"
    wait_idle(qtbot, window)
    assert latents.caption.text().startswith("Δbits vs reference")
    per_position = bits_change(result.analysis, decoded.analysis).sum(axis=0)
    assert shown_values(latents).sum() == pytest.approx(float(per_position.sum()), rel=1e-4)
    against_plain = float(bits_change(result.analysis, plain.analysis).sum())
    assert shown_values(latents).sum() != pytest.approx(against_plain, rel=1e-4)

    info = window.inspect_pixel(10, 10)
    assert info is not None
    inspector = window.inspector
    assert inspector.table.verticalHeaderItem(
        inspector._rows["without_lof"]).text() == "In the reference"
    text = inspector.value_text("without_lof")
    element = (info.channel, info.row, info.col)
    assert text.startswith(f"ŷ {float(decoded.analysis.y_hat[element]):.4g}, symbol "
                           f"{int(decoded.analysis.symbols[element])}")
    assert text.endswith("(unchanged)") or "→ result: Δŷ" in text

    document = window.metrics_document()
    assert document["msp"]["reference"]["path"] == str(path)
    assert "without_lof" not in document["msp"]
    assert document["msp"]["reference"]["file_bytes"] == len(other.bitstream)

    # the blind test's classic codec and the result itself were left alone
    assert window.session.result is result and len(window.session.learned_points) == 1

    # back to the plain encoding: the very one the LOF encode made, labels and pane with it
    assert result.set_aside is plain
    assert window.clear_reference()
    wait_idle(qtbot, window)  # (the panels refresh on the next turn of the event loop)
    assert result.reference is plain and result.set_aside is None
    assert row.text() == "LOF change" and row.toolTip().startswith("The LOF encode against")
    assert compare.classic_box.itemText(index) == "MSP without LOF (same λ)"
    assert np.array_equal(compare.classic.rgb.image, plain.decoded)
    assert metrics.table.horizontalHeaderItem(1).text() == "Without LOF"
    assert "other-build.msp cleared: the result is set against MSP without LOF (same λ) " \
        "again" in window.messages.text()
    assert not window.clear_reference() and "No reference .msp is set" in \
        window.messages.text()
    set_reference(qtbot, window, path)  # and forth again, for the next check

    # a new encode brings back its own plain encoding, and the labels with it
    result = lof_encode(qtbot, window)
    assert result.reference.is_plain
    assert row.text() == "LOF change"
    assert compare.classic_box.itemText(index) == "MSP without LOF (same λ)"
    assert latents.quantity_box.currentText() == latent_data.QUANTITIES["lof_bits"][0]


def test_references_that_cannot_be_compared_are_refused(qtbot, window, tiny_model, tmp_path):
    from mspviewer.codec.api import PLAIN_PROFILE, encode_image

    assert window.set_reference(tmp_path / "none.msp") is None  # no result yet
    assert window.errors[-1].startswith("Set a reference after an encode")
    image = window.session.image.pixels
    result = encode(qtbot, window, lam=LAM)
    cases = {
        "other-lambda.msp": (encode_image(tiny_model, image, 0.02, PLAIN_PROFILE).bitstream,
                             "they differ in λ"),
        "other-size.msp": (encode_image(tiny_model, image[:32], LAM, PLAIN_PROFILE).bitstream,
                           "they differ in image size (64×32 in other-size.msp, 64×48 in "
                           "the result)"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        window.set_reference(tmp_path / name)
        wait_idle(qtbot, window)
        assert window.errors[-1].startswith("Cannot set the reference: " + name), name
        assert message in window.errors[-1]
        assert window.session.result is result and result.reference is None
    # the refusal is about this result: a new one takes it down (it stayed over an empty
    # window once the image and result had gone)
    assert window.messages.isVisible() and "Cannot set the reference" in window.messages.text()
    result = encode(qtbot, window, lam=LAM)
    assert "Cannot set the reference" not in window.messages.text()
    (tmp_path / "cut.msp").write_bytes(result.bitstream[:20])  # refused at the header
    assert window.set_reference(tmp_path / "cut.msp") is None
    assert "cut.msp" in window.errors[-1] or "truncated" in window.errors[-1]
    assert result.reference is None


def test_a_stream_without_its_source_compares_latents_not_quality(qtbot, tiny_model,
                                                                  tmp_path):
    """A .msp opened with no image: the reference has no PSNR, but sizes and latents."""
    from conftest import smooth_image
    from mspviewer.codec.api import PLAIN_PROFILE, encode_image

    window = make_window(qtbot, tiny_model, tmp_path)
    pixels = smooth_image(48, 64, seed=2)
    first = encode_image(tiny_model, pixels, LAM, PLAIN_PROFILE)
    second = encode_image(tiny_model, np.ascontiguousarray(pixels[:, ::-1]), LAM, PLAIN_PROFILE)
    (tmp_path / "a.msp").write_bytes(first.bitstream)
    (tmp_path / "b.msp").write_bytes(second.bitstream)
    assert window.open_path(tmp_path / "a.msp")
    wait_idle(qtbot, window)
    assert window.session.result.original is None
    reference = set_reference(qtbot, window, tmp_path / "b.msp")
    assert reference.point.psnr_rgb is None and reference.difference is None
    assert reference.point.num_bytes == len(second.bitstream)
    change = reference.change
    assert change.file_bytes == len(first.bitstream)
    assert change.file_bytes_reference == len(second.bitstream)
    # the mirrored image: many symbols differ (about a third), counted here from the two
    # streams' own records
    changed = int(np.count_nonzero(first.analysis.symbols != second.analysis.symbols))
    assert change.symbols_changed == changed > first.analysis.symbols.size // 10
    assert change.elements == first.analysis.symbols.size
    assert " dB" not in window.metrics.value("lof_change")
    assert window.rd.lof_move_data() == ([], [])
    # a result with no encoding without LOF: clearing the reference leaves it with none (the
    # menu had said there was no reference to go back from, while one was shown)
    window.compare.set_classic_codec(outcomes.PLAIN_PANE)
    wait_idle(qtbot, window)
    assert window.session.classic.label == "reference b.msp"  # the third pane shows it
    assert window.clear_reference()
    wait_idle(qtbot, window)
    assert window.session.result.reference is None and window.session.classic is None
    assert "b.msp cleared: the result has no encoding without LOF to be set against (it was " \
        "read from a file)" in window.messages.text()
    assert window.metrics.value("lof_change") == "none: read from a file"


def test_a_reference_waits_behind_an_image_being_read_and_is_dropped_by_it(
        qtbot, window, tmp_path):
    """Set while a large image is read on the file thread, the reference queues behind it
    (the image is not cancelled) and, the result it was for being gone with the new image,
    is dropped without an error."""
    result = encode(qtbot, window, lam=LAM)
    path = tmp_path / "result.msp"
    path.write_bytes(result.bitstream)
    write_png(tmp_path / "large.png", 96, 128, seed=8)
    window.sync_open_pixels = 100  # read anything larger on the file thread
    errors = len(window.errors)
    assert window.open_image(tmp_path / "large.png")
    assert window.set_reference(path) is not None  # for the result still shown
    wait_idle(qtbot, window)
    assert window.session.image.path == tmp_path / "large.png"  # the image arrived
    assert window.session.result is None and len(window.errors) == errors
    assert "set against" not in window.messages.text()


def test_a_reference_far_from_the_open_image_is_flagged(qtbot, window, tiny_model, tmp_path,
                                                        monkeypatch):
    """A stream of the same size, model and λ passes every identity check even when it codes
    another image; its PSNR against the open image then says so, as it does when such a
    stream is opened (the threshold is moved around the measured PSNR to test both sides)."""
    from mspviewer.codec.api import encode_image
    from mspviewer.gui import jobs
    from mspviewer.metrics import psnr_rgb

    image = window.session.image.pixels
    another = np.ascontiguousarray(image[::-1, ::-1])  # another picture, the same size
    path = tmp_path / "another-image.msp"
    coded = encode_image(tiny_model, another, LAM)
    path.write_bytes(coded.bitstream)
    lof_encode(qtbot, window)
    psnr = psnr_rgb(image, decode_bytes(tiny_model, coded.bitstream).pixels)

    monkeypatch.setattr(jobs, "UNRELATED_ORIGINAL_PSNR_DB", psnr + 0.01)
    reference = set_reference(qtbot, window, path)
    assert reference.point.psnr_rgb == pytest.approx(psnr)
    assert window.messages.level == "warning"
    assert f"decodes to {psnr:.1f} dB against the open image" in window.messages.text()
    assert "probably a coding of another image" in window.messages.text()

    monkeypatch.setattr(jobs, "UNRELATED_ORIGINAL_PSNR_DB", psnr - 0.01)
    set_reference(qtbot, window, path)
    assert window.messages.level == "info" and "symbols differ" in window.messages.text()
