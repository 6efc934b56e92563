"""The blind A/B panel, on a session holding a real MSP result and a real classic codec at the
same bpp (tiny random model, small image, offscreen)."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF, Qt  # noqa: E402

from conftest import smooth_image  # noqa: E402
from gui_support import rendered_pixels, user_zoom  # noqa: E402

from mspviewer.codec.api import run_steps  # noqa: E402
from mspviewer.gui import classic_jobs, jobs  # noqa: E402
from mspviewer.gui.outcomes import EncodeRequest  # noqa: E402
from mspviewer.gui.widgets.common import is_fitted  # noqa: E402

HEIGHT, WIDTH = 48, 64
CLASSIC_CODEC = classic_jobs.DEFAULT_SAME_BPP_CODEC  # "jpeg-420"


@pytest.fixture(scope="module")
def outcomes(tiny_model):
    """(EncodeOutcome, ClassicOutcome) for one small image: computed once for the module."""
    pixels = smooth_image(HEIGHT, WIDTH, seed=4)
    request = EncodeRequest(profile="fast", lam=0.01)
    result = run_steps(jobs.encode_task(tiny_model, pixels, request, jobs.CancelToken()))
    classic = run_steps(classic_jobs.same_bpp_task(CLASSIC_CODEC, pixels, result.point.bpp,
                                                   jobs.CancelToken()))
    assert result is not None and classic is not None
    return result, classic


@pytest.fixture
def session(qtbot, tiny_model, outcomes):
    from mspviewer.gui.session import Session

    result, classic = outcomes
    session = Session()
    session.set_model(tiny_model)
    session.set_result(result)
    session.set_classic(classic)
    return session


def make_panel(qtbot, session, rng=None):
    from mspviewer.gui.widgets.blind_ab import BlindABPanel

    panel = BlindABPanel(session, rng=rng)
    qtbot.addWidget(panel)
    panel.resize(700, 420)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def variant_pixels(outcomes) -> dict:
    result, classic = outcomes
    return {"msp": result.decoded, "classic": classic.decoded}


def revealing_words(outcomes) -> list[str]:
    """Everything a caption must not show before the pick."""
    result, classic = outcomes
    return ["MSP", "msp", classic.label, classic.codec, "JPEG", "bpp", "PSNR", "dB",
            f"{result.num_bytes:,}", f"{classic.point.num_bytes:,}"]


def test_round_shows_the_assigned_variants_without_labels(qtbot, session, outcomes):
    panel = make_panel(qtbot, session, rng=random.Random(1))
    assert panel.assignment == {} and panel.displayed_image("A") is None
    assert not panel.choice_buttons["A"].isEnabled()

    with qtbot.waitSignal(panel.round_started, timeout=1000):
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert sorted(panel.assignment.values()) == ["classic", "msp"]
    assert not panel.revealed
    pixels = variant_pixels(outcomes)
    for side in ("A", "B"):
        shown = panel.displayed_image(side)
        assert np.array_equal(shown, pixels[panel.assignment[side]])
        assert panel.caption_text(side) == side
        for word in revealing_words(outcomes):
            assert word not in panel.caption_text(side)
        assert panel.choice_buttons[side].isEnabled()
    for word in revealing_words(outcomes):
        assert word not in panel.outcome.text()

    # what is painted on screen is those pixels, in both linked panes
    qtbot.wait(20)
    for side in ("A", "B"):
        painted = rendered_pixels(panel.view, panel.panes[side].box, HEIGHT, WIDTH)
        assert np.array_equal(painted, pixels[panel.assignment[side]])
    # zoom and pan are shared; square pixels
    a_box, b_box = panel.panes["A"].box, panel.panes["B"].box
    assert is_fitted(a_box)
    user_zoom(b_box, QRectF(10, 5, 20, 12))  # a zoom in B is A's too, and ends A's fit
    assert not is_fitted(a_box)
    assert a_box.viewRect().center().x() == pytest.approx(b_box.viewRect().center().x())
    assert b_box.viewRect().width() == pytest.approx(a_box.viewRect().width())
    assert a_box.state["aspectLocked"] and b_box.state["aspectLocked"]


@pytest.mark.parametrize("side", ["A", "B"])
def test_choose_reveals_the_right_labels_on_the_right_sides(qtbot, session, outcomes, side):
    result, classic = outcomes
    panel = make_panel(qtbot, session, rng=random.Random(7))
    assert panel.new_round()
    assignment = dict(panel.assignment)
    expected = {
        "msp": ("MSP (fast)", f"{result.num_bytes:,} B", f"{result.point.bpp:.4f} bpp",
                f"PSNR-RGB {result.point.psnr_rgb:.2f} dB"),
        "classic": (classic.label, f"{classic.point.num_bytes:,} B",
                    f"{classic.point.bpp:.4f} bpp", f"PSNR-RGB {classic.point.psnr_rgb:.2f} dB"),
    }
    with qtbot.waitSignal(panel.round_decided, timeout=1000) as decided:
        qtbot.mouseClick(panel.choice_buttons[side], Qt.MouseButton.LeftButton)
    assert decided.args == [side]
    assert panel.revealed and panel.choice == side
    other = "B" if side == "A" else "A"
    for s in ("A", "B"):
        caption = panel.caption_text(s)
        assert caption.startswith(f"{s}: ")
        for part in expected[assignment[s]]:
            assert part in caption
        wrong = "classic" if assignment[s] == "msp" else "msp"
        assert expected[wrong][0] not in caption
    assert "your pick" in panel.caption_text(side)
    assert "your pick" not in panel.caption_text(other)
    picked_label = expected[assignment[side]][0]
    assert f"You picked {side}: {picked_label}." in panel.outcome.text()
    assert f"MSP was {'A' if assignment['A'] == 'msp' else 'B'}" in panel.outcome.text()
    assert panel.tally[assignment[side]] == 1 and panel.rounds() == 1
    assert not panel.choice_buttons["A"].isEnabled()

    # a second pick in the same round is ignored
    assert not panel.choose(other)
    assert panel.choice == side and panel.rounds() == 1
    # the pixels did not move when the labels appeared
    for s in ("A", "B"):
        assert np.array_equal(panel.displayed_image(s), variant_pixels(outcomes)[assignment[s]])


def test_tally_counts_over_rounds(qtbot, session, outcomes):
    from mspviewer.gui.widgets.blind_ab import TIE

    panel = make_panel(qtbot, session, rng=np.random.default_rng(3))
    assert panel.tally_text() == "No rounds yet."
    wanted = ["msp", "msp", "classic", TIE, "msp"]
    for preferred in wanted:
        assert panel.new_round()
        if preferred == TIE:
            assert panel.choose(TIE)
            assert panel.outcome.text().startswith("You could not tell them apart.")
            assert "your pick" not in panel.caption_text("A") + panel.caption_text("B")
        else:
            side = next(s for s, key in panel.assignment.items() if key == preferred)
            assert panel.choose(side)
    assert panel.tally == {"msp": 3, "classic": 1, TIE: 1}
    assert [r.preferred for r in panel.history] == wanted
    label = outcomes[1].label
    expected = f"MSP preferred in 3 of 5 rounds, {label} in 1, can't tell in 1."
    assert panel.tally_text() == expected
    assert panel.tally_label.text() == expected
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert panel.rounds() == 0 and panel.tally_label.text() == "No rounds yet."


def test_seeded_rng_decides_the_sides_and_both_occur(qtbot, session):
    panel = make_panel(qtbot, session)
    first_on_a = {}
    for seed in range(12):
        panel.rng = random.Random(seed)
        assert panel.new_round()
        first_on_a[seed] = panel.assignment["A"]
        panel.rng = random.Random(seed)  # same seed, same sides
        assert panel.new_round()
        assert panel.assignment["A"] == first_on_a[seed]
        assert panel.assignment["B"] != panel.assignment["A"]
    assert set(first_on_a.values()) == {"msp", "classic"}
    # numpy Generators are accepted as well
    panel.rng = np.random.default_rng(0)
    seen = set()
    for _ in range(16):
        assert panel.new_round()
        seen.add(panel.assignment["A"])
    assert seen == {"msp", "classic"}


def test_no_classic_or_no_result_refuses_with_a_message(qtbot, tiny_model, outcomes):
    from mspviewer.gui.session import Session

    session = Session()
    session.set_model(tiny_model)
    panel = make_panel(qtbot, session, rng=random.Random(0))
    with qtbot.waitSignal(panel.message, timeout=1000) as sent:
        assert not panel.new_round()
    text, level, about = sent.args
    assert "encode an image" in text and "compare view" in text and level == "warning"
    assert about == "classic" and "Ctrl+T" in text  # (how to get back to the compare view)
    assert panel.assignment == {} and panel.displayed_image("A") is None

    session.set_result(outcomes[0])  # a result, but no classic variant yet
    with qtbot.waitSignal(panel.message, timeout=1000) as sent:
        assert not panel.new_round()
    assert "classic codec" in sent.args[0] and "compare view" in sent.args[0]
    assert panel.assignment == {}
    for side in ("A", "B"):
        assert panel.displayed_image(side) is None and panel.caption_text(side) == side
    assert not panel.choose("A") and panel.rounds() == 0
    assert not any(button.isEnabled() for button in panel.choice_buttons.values())


def test_a_new_result_or_classic_clears_the_round(qtbot, session, outcomes):
    result, classic = outcomes
    panel = make_panel(qtbot, session, rng=random.Random(5))
    assert panel.new_round()
    session.set_result(result)  # a new encode (also drops the classic variant)
    assert panel.assignment == {} and not panel.revealed
    for side in ("A", "B"):
        assert panel.displayed_image(side) is None and panel.caption_text(side) == side
    assert not panel.choose("A") and panel.rounds() == 0  # nothing to pick from

    session.set_classic(classic)
    assert panel.new_round() and panel.choose("B")
    assert panel.revealed and panel.rounds() == 1
    session.set_classic(None)  # e.g. another third-pane codec is being computed
    assert panel.assignment == {} and not panel.revealed
    assert panel.caption_text("A") == "A" and panel.displayed_image("B") is None
    assert panel.rounds() == 1  # the decided round stays counted


def test_original_as_labelled_reference(qtbot, session, outcomes):
    result, _ = outcomes
    panel = make_panel(qtbot, session, rng=random.Random(2))
    assert panel.reference.box.scene() is None  # not shown unless asked for
    panel.reference_box.setChecked(True)
    assert panel.new_round()
    assert panel.reference.box.scene() is not None
    assert np.array_equal(panel.displayed_image("reference"), result.original)
    assert panel.caption_text("reference") == "Original (reference)"
    # it follows the blind pair's zoom
    panel.panes["A"].box.setRange(QRectF(4, 4, 16, 10), padding=0)
    assert panel.reference.box.viewRect().center().x() == pytest.approx(
        panel.panes["A"].box.viewRect().center().x())


def test_pairs_of_different_sizes_are_pointed_out(qtbot, session, outcomes):
    import dataclasses

    result, classic = outcomes
    # a classic variant three times MSP's size (as JPEG's lowest quality is on a tiny image
    # that MSP codes in a few bytes)
    classic = dataclasses.replace(
        classic, point=dataclasses.replace(classic.point, num_bytes=3 * result.num_bytes))
    session.set_classic(classic)
    panel = make_panel(qtbot, session, rng=random.Random(4))
    assert panel.new_round()
    assert "differ in size" in panel.outcome.text()
    for word in revealing_words(outcomes):  # the note must not tell the sides apart
        assert word not in panel.outcome.text()
    assert panel.choose("A")
    assert (f"Sizes: MSP {result.num_bytes:,} B, {classic.label} {classic.point.num_bytes:,} B"
            in panel.outcome.text())

    # a classic variant of (nearly) the same size: no note
    same_size = dataclasses.replace(
        classic, point=dataclasses.replace(classic.point, num_bytes=result.num_bytes + 2))
    session.set_classic(same_size)
    assert panel.new_round()
    assert "differ in size" not in panel.outcome.text()
    assert panel.choose("B") and "not the same size" not in panel.outcome.text()
