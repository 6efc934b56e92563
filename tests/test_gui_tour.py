"""The guided tour: its text (data) and the small widget that walks through it (offscreen)."""

from __future__ import annotations

import dataclasses
import re

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from mspviewer.gui.tour import (MAX_WORDS, PANEL_HELP, PANEL_KEYS, TOUR_STEPS,  # noqa: E402
                                GuidedTour, TourStep, panel_help, plain_text, word_count)


def step_for(key: str) -> TourStep:
    return next(step for step in TOUR_STEPS if step.panel_key == key)


def all_text() -> str:
    return " ".join(plain_text(step.text) for step in TOUR_STEPS)


# --- the text ------------------------------------------------------------------------------------
def test_steps_are_short_titled_and_one_per_known_panel():
    assert 8 <= len(TOUR_STEPS) <= 10
    keys = [step.panel_key for step in TOUR_STEPS]
    assert len(set(keys)) == len(keys)
    assert set(keys) <= set(PANEL_KEYS)
    for step in TOUR_STEPS:
        assert step.title.strip() and plain_text(step.text)
        assert 20 <= word_count(step.text) <= MAX_WORDS, step.panel_key
        assert step.text.startswith("<p>") and step.text.endswith("</p>")
        # light HTML only: paragraphs, bold, italics
        tags = {tag.strip("/").split()[0] for tag in
                re.findall(r"<(/?[a-zA-Z]+)[^>]*>", step.text)}
        assert tags <= {"p", "b", "i"}, (step.panel_key, tags)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TOUR_STEPS[0].title = "changed"
    # teaching order: what a latent is, then why probabilities, then how MSP orders them
    # (replay), then what the encoder can still do (LOF), and the blind test last
    order = {key: i for i, key in enumerate(keys)}
    assert order["compare"] < order["latents"] < order["inspector"] < order["replay"] \
        < order["lof"]
    assert keys[-1] == "blind_ab"


def test_text_covers_the_key_concepts_where_they_belong():
    text = all_text()
    for concept in ("latent", "−log2 P", "μ", "σ", "λ", "coarse to fine", "parallel",
                    "28 sequential passes", "autoregressive", "LOF",
                    "the decoder does not change", "arithmetic coder"):
        assert concept in text, concept
    assert "latent" in plain_text(step_for("compare").text)
    assert "−log2 P" in plain_text(step_for("latents").text)
    latents = plain_text(step_for("latents").text)
    assert "μ" in latents and "σ" in latents and "Gaussian" in latents
    assert "context" in plain_text(step_for("inspector").text)
    replay = plain_text(step_for("replay").text)
    assert "coarse to fine" in replay and "autoregressive" in replay
    assert "λ" in plain_text(step_for("controls").text)
    lof = plain_text(step_for("lof").text)
    assert "this image" in lof and "decoder does not change" in lof


def test_numbers_in_the_text_are_the_shipped_models():
    """The tour quotes the shipped configuration: check it against the weights file."""
    from mspviewer.codec.config import ModelConfig
    from mspviewer.codec.lattice import coding_passes
    from mspviewer.codec.weights import default_model_path, read_weights_file

    config = ModelConfig.from_dict(read_weights_file(default_model_path())["config"])
    msp = config.msp
    channels = config.transform.latent_channels
    passes = len(coding_passes(msp, channels))
    text = all_text()
    assert f"{channels} in the shipped model" in text
    assert f"{msp.num_groups} + {msp.num_scales - 1}·{msp.steps_per_scale}·{msp.num_groups} " \
           f"= {passes} sequential passes" in text
    coarsest_stride = 2 ** (msp.num_scales - 1)
    assert f"multiples of {coarsest_stride}" in text
    assert f"1/{coarsest_stride ** 2} of the elements" in text
    assert f"{config.coding.sigma_levels} table values" in text
    lambdas = config.rate.lambdas
    assert f"λ from {min(lambdas):g} to {max(lambdas):g}" in text


def test_panel_help_for_every_panel():
    assert set(PANEL_HELP) == set(PANEL_KEYS)
    for key in PANEL_KEYS:
        help_text = panel_help(key)
        assert help_text and "<p>" not in help_text  # one paragraph, tooltip-ready
        assert word_count(help_text) <= MAX_WORDS
    assert panel_help("no-such-panel") == ""
    assert "−log2 P" in panel_help("latents") and "σ" in panel_help("inspector")


# --- the widget ----------------------------------------------------------------------------------
@pytest.fixture
def tour_and_calls(qtbot):
    calls: list[str] = []
    tour = GuidedTour(show_panel=calls.append)
    qtbot.addWidget(tour)
    tour.resize(380, 360)
    return tour, calls


def assert_shows(tour: GuidedTour, index: int) -> None:
    step = TOUR_STEPS[index]
    assert tour.index == index and tour.current_step() == step
    assert tour.title_label.text() == step.title
    assert tour.text_label.text() == step.text
    assert tour.counter_label.text() == f"Step {index + 1} of {len(TOUR_STEPS)}"


def test_next_and_back_walk_the_steps_and_raise_each_panel(qtbot, tour_and_calls):
    tour, calls = tour_and_calls
    assert calls == []  # building the tour moves no panel
    assert_shows(tour, 0)
    tour.start()
    qtbot.waitExposed(tour)
    assert calls == [TOUR_STEPS[0].panel_key]
    assert not tour.back_button.isEnabled() and tour.next_button.isEnabled()
    emitted: list[int] = []
    tour.step_changed.connect(emitted.append)
    for i in range(1, len(TOUR_STEPS)):
        assert tour.next()
        assert_shows(tour, i)
    last = len(TOUR_STEPS) - 1
    assert calls == [step.panel_key for step in TOUR_STEPS]
    assert emitted == list(range(1, len(TOUR_STEPS)))
    # clamped at the end: nothing moves, nothing is raised again
    assert not tour.next()
    assert_shows(tour, last)
    assert len(calls) == len(TOUR_STEPS) and not tour.next_button.isEnabled()
    # and back again, through the button
    qtbot.mouseClick(tour.back_button, Qt.MouseButton.LeftButton)
    assert_shows(tour, last - 1)
    assert calls[-1] == TOUR_STEPS[last - 1].panel_key
    tour.go(0)
    assert_shows(tour, 0)
    assert not tour.back()
    assert tour.index == 0 and emitted[-1] == 0


def test_go_clamps_and_works_without_a_callback(qtbot):
    tour = GuidedTour()  # no show_panel: nothing to raise, no error
    qtbot.addWidget(tour)
    tour.go(99)
    assert tour.index == len(TOUR_STEPS) - 1
    assert tour.title_label.text() == TOUR_STEPS[-1].title
    tour.go(-5)
    assert tour.index == 0 and tour.text_label.text() == TOUR_STEPS[0].text


def test_custom_steps_and_close(qtbot):
    steps = (TourStep("rd", "First", "<p>one</p>"), TourStep("bits", "Second", "<p>two</p>"))
    calls: list[str] = []
    tour = GuidedTour(steps, show_panel=calls.append)
    qtbot.addWidget(tour)
    tour.start()
    qtbot.mouseClick(tour.next_button, Qt.MouseButton.LeftButton)
    assert calls == ["rd", "bits"] and tour.counter_label.text() == "Step 2 of 2"
    assert tour.title_label.text() == "Second" and tour.text_label.text() == "<p>two</p>"
    assert tour.isVisible()
    with qtbot.waitSignal(tour.closed, timeout=1000):
        tour.close_button.click()
    assert not tour.isVisible()
    with pytest.raises(ValueError):
        GuidedTour(())
