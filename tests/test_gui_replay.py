"""The decode replay panel: frames built in the background, stepping, playing, exporting.

The shipped model, not the tiny random one: the tiny model codes only zero symbols (every
replay frame is the same picture), so step 0 could not be told from step P. At 64×96 the
shipped model encodes in ~0.15 s and replays its 29 frames in ~0.2 s.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import torch  # noqa: E402
from conftest import smooth_image  # noqa: E402
from gui_support import rendered_pixels, slow_fake_task  # noqa: E402

from mspviewer.codec import inspection  # noqa: E402
from mspviewer.codec.api import run_steps, tensor_to_image  # noqa: E402
from mspviewer.gui import jobs  # noqa: E402
from mspviewer.gui.outcomes import EncodeOutcome, EncodeRequest  # noqa: E402
from mspviewer.gui.session import Session  # noqa: E402
from mspviewer.gui.widgets.replay import ReplayPanel  # noqa: E402
from mspviewer.gui.worker import Task, TaskRunner  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from mspviewer.metrics import psnr_rgb  # noqa: E402

HEIGHT, WIDTH = 64, 96
BUILD_TIMEOUT_MS = 30_000


def _encode(model, seed: int, lam: float) -> EncodeOutcome:
    pixels = smooth_image(HEIGHT, WIDTH, seed)
    request = EncodeRequest(profile="fast", lam=lam)
    return run_steps(jobs.encode_task(model, pixels, request, jobs.CancelToken()))


@pytest.fixture(scope="module")
def model(shipped_model):
    return shipped_model


@pytest.fixture(scope="module")
def outcomes(model):
    """Two different results (other image, other λ), so stale frames would be visible."""
    first, second = _encode(model, seed=4, lam=0.01), _encode(model, seed=9, lam=0.03)
    assert not np.array_equal(first.decoded, second.decoded)
    return first, second


@pytest.fixture
def session(model, outcomes):
    session = Session()
    session.set_model(model)
    session.set_result(outcomes[0])
    return session


@pytest.fixture
def messages():
    return []


@pytest.fixture
def panel(qtbot, session, messages):
    panel = ReplayPanel(session)
    panel.message.connect(lambda text, level: messages.append((level, text)))
    qtbot.addWidget(panel)
    panel.resize(1000, 650)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.shutdown()


def build_all(qtbot, panel) -> None:
    assert panel.build()
    qtbot.waitUntil(panel.is_complete, timeout=BUILD_TIMEOUT_MS)


@pytest.fixture
def built(qtbot, panel):
    build_all(qtbot, panel)
    return panel


@pytest.fixture
def slow_frames(monkeypatch):
    """Make every frame take ``delay`` seconds, so a build can be caught half-way."""
    def install(delay: float) -> None:
        fast = inspection.iter_replay_frames

        def slow(model, record, original=None):
            for frame in fast(model, record, original):
                time.sleep(delay)
                yield frame

        monkeypatch.setattr(inspection, "iter_replay_frames", slow)
    return install


def test_build_yields_every_step_and_ends_at_the_decoded_image(qtbot, built, outcomes):
    panel, outcome = built, outcomes[0]
    passes = len(outcome.analysis.passes)
    assert panel.num_steps() == passes
    assert [f.step for f in panel.frames] == list(range(passes + 1))
    assert np.array_equal(panel.frames[-1].image, outcome.decoded)
    # the view followed the build to its newest frame: the decoded image
    assert panel.step() == passes and panel.slider.maximum() == passes
    assert np.array_equal(panel.displayed_image(), outcome.decoded)
    assert not panel.is_building() and panel.export_button.isEnabled()
    panel.set_step(0)
    panel.set_step(passes)
    assert np.array_equal(panel.displayed_image(), outcome.decoded)


def test_step_zero_is_the_prediction_and_bits_add_up(qtbot, built, model, outcomes):
    panel, record = built, outcomes[0].analysis
    with torch.no_grad():
        means = model.synthesise(torch.from_numpy(record.mu)[None], model.rate_point(record.lam),
                                 record.image_size).clamp(0, 1)
    first, last = panel.frames[0], panel.frames[-1]
    assert np.array_equal(first.image, tensor_to_image(means))
    assert not np.array_equal(first.image, last.image)  # the prediction is not the answer
    assert first.psnr_rgb < last.psnr_rgb
    assert first.decoded_elements == 0
    assert first.estimated_bits == 0 and first.actual_bits == 0
    assert last.estimated_bits == pytest.approx(record.estimated_bits, rel=1e-9)
    assert last.actual_bits == 8 * record.payload_bytes
    panel.set_step(0)
    assert np.array_equal(panel.displayed_image(), first.image)
    assert "bits so far: estimated 0 / actual 0 (payload 0.0000 bpp)" in panel.step_text()
    assert "predicted means only" in panel.step_text()


def test_a_middle_step_shows_its_own_numbers(qtbot, built, outcomes):
    panel, outcome = built, outcomes[0]
    record = outcome.analysis
    k = len(record.passes) // 2
    with qtbot.waitSignal(panel.frame_changed, timeout=1000) as changed:
        panel.set_step(k)
    assert changed.args == [k]
    assert panel.slider.value() == k and panel.step_label.text() == f"step {k}/{len(record.passes)}"
    estimated = sum(p.estimated_bits for p in record.passes[:k])
    actual = 8 * sum(p.actual_bytes for p in record.passes[:k])
    decoded = int((record.pass_index < k).sum())
    psnr = psnr_rgb(panel.frames[k].image, outcome.original)
    text = panel.step_text()
    assert text.startswith(f"step {k}/{len(record.passes)}: {record.passes[k - 1].label}, "
                           f"{decoded:,} of ")
    assert (f"bits so far: estimated {estimated:,.0f} / actual {actual:,} "
            f"(payload {actual / (HEIGHT * WIDTH):.4f} bpp), PSNR {psnr:.2f} dB") in text
    # the PSNR-vs-bits plot: one point per step, the marker on this step's
    x, y = panel.curve.getData()
    assert len(x) == len(record.passes) + 1 and x[0] == 0
    assert np.all(np.diff(x) >= 0)  # bits only grow
    mx, my = panel.marker.getData()
    assert mx[0] == pytest.approx(actual / (HEIGHT * WIDTH)) and my[0] == pytest.approx(psnr)
    # the axes hold still as the marker moves (its size padded the auto range at the ends)
    box = panel.plot.getViewBox()
    ranges = []
    for step in (0, k, len(record.passes)):
        panel.set_step(step)
        box.updateAutoRange()
        ranges.append(box.viewRange())
    assert ranges[0] == ranges[1] == ranges[2]


def test_play_advances_pause_stops_and_the_end_stops_playing(qtbot, built):
    panel = built
    last = len(panel.frames) - 1
    panel.set_interval(30)
    assert panel.timer.interval() == 30
    panel.set_step(0)
    assert panel.play() and panel.is_playing() and panel.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: panel.step() >= 2, timeout=3000)
    panel.pause()
    stopped_at = panel.step()
    qtbot.wait(200)
    assert panel.step() == stopped_at and not panel.is_playing()
    assert panel.play_button.text() == "Play"
    # played to the end it stops there; Play at the end starts again from step 0
    panel.set_step(last - 2)
    panel.play_button.click()
    qtbot.waitUntil(lambda: not panel.is_playing(), timeout=3000)
    assert panel.step() == last
    assert panel.play() and panel.step() == 0
    panel.pause()


def test_export_gif_and_png_sequence(qtbot, built, outcomes, tmp_path, messages):
    from PIL import Image

    panel, outcome = built, outcomes[0]
    written = panel.export(tmp_path / "replay.gif")
    assert written == [tmp_path / "replay.gif"] and written[0].stat().st_size > 0
    with Image.open(written[0]) as gif:
        assert gif.format == "GIF" and gif.size == (WIDTH, HEIGHT)
        # Pillow merges identical consecutive frames; the late steps all differ
        assert len(panel.frames) // 2 < gif.n_frames <= len(panel.frames)
    files = panel.export(tmp_path / "steps")
    assert [f.name for f in files] == [f"step_{k:03d}.png" for k in range(len(panel.frames))]
    assert np.array_equal(load_image(files[-1]).pixels, outcome.decoded)
    for file, frame in zip(files, panel.frames):  # every step, in order, exactly
        assert np.array_equal(load_image(file).pixels, frame.image), file.name
    assert [level for level, _ in messages] == ["info", "info"]


def test_the_buttons_export_in_the_background(qtbot, built, outcomes, tmp_path, messages):
    panel, outcome = built, outcomes[0]
    target = tmp_path / "background"
    assert panel.export_in_background(target) is not None
    qtbot.waitUntil(lambda: not panel.is_exporting(), timeout=60_000)
    qtbot.waitUntil(lambda: any("exported" in text for _, text in messages), timeout=5_000)
    assert np.array_equal(load_image(target / f"step_{len(panel.frames) - 1:03d}.png").pixels,
                          outcome.decoded)
    # a failure is a message, not a traceback
    blocker = tmp_path / "a-file.gif"
    blocker.write_text("not a folder")
    assert panel.export_in_background(blocker / "replay.gif") is not None
    qtbot.waitUntil(lambda: any(level == "error" for level, _ in messages), timeout=60_000)
    assert "Replay export failed" in [text for level, text in messages if level == "error"][-1]


def test_export_refuses_without_a_complete_replay(qtbot, panel, tmp_path, messages):
    assert panel.export(tmp_path / "nothing.gif") == []
    assert not (tmp_path / "nothing.gif").exists()
    assert messages and messages[-1][0] == "warning" and "Build replay" in messages[-1][1]
    assert not panel.export_button.isEnabled()


def test_a_new_result_drops_the_frames(qtbot, built, session, outcomes):
    panel = built
    session.set_result(outcomes[1])
    assert panel.frames == [] and panel.displayed_image() is None
    assert panel.slider.maximum() == 0 and not panel.is_building()
    assert not panel.export_button.isEnabled()
    assert panel.step_text().startswith("Press Build replay")
    build_all(qtbot, panel)  # and the new build is of the new result
    assert np.array_equal(panel.frames[-1].image, outcomes[1].decoded)
    assert panel.num_steps() == len(outcomes[1].analysis.passes)


def test_a_new_result_during_a_build_cancels_it(qtbot, panel, session, outcomes, slow_frames):
    slow_frames(0.25)
    assert panel.build()
    qtbot.waitUntil(lambda: len(panel.frames) >= 1, timeout=BUILD_TIMEOUT_MS)
    session.set_result(outcomes[1])
    assert panel.frames == [] and not panel.is_building()
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=5000)
    qtbot.wait(100)
    assert panel.frames == [] and panel.displayed_image() is None  # nothing stale arrived


def test_cancel_stops_early_and_early_frames_show_while_building(qtbot, panel, outcomes,
                                                                  messages, tmp_path,
                                                                  slow_frames):
    slow_frames(0.25)
    total = len(outcomes[0].analysis.passes) + 1
    assert panel.build() and panel.is_building()
    qtbot.waitUntil(lambda: len(panel.frames) >= 1, timeout=BUILD_TIMEOUT_MS)
    # the first frame is on screen while the others are still being computed
    assert panel.is_building() and panel.slider.maximum() == len(panel.frames) - 1
    assert np.array_equal(panel.displayed_image(), panel.frames[panel.step()].image)
    assert "building" in panel.step_text()
    assert panel.cancel()
    qtbot.waitUntil(lambda: not panel.is_building(), timeout=5000)
    received = len(panel.frames)
    assert 1 <= received < total
    assert panel.build_status.text() == f"stopped: {received} of {total} frames"
    qtbot.wait(300)
    assert len(panel.frames) == received
    assert panel.export(tmp_path / "partial.gif") == []
    assert messages[-1][0] == "warning" and "incomplete" in messages[-1][1]


def test_failures_become_messages(qtbot, panel, messages, monkeypatch):
    def broken(model, record, original=None):
        raise RuntimeError("synthesis exploded")
        yield  # a generator, like the real one

    monkeypatch.setattr(inspection, "iter_replay_frames", broken)
    assert panel.build()
    qtbot.waitUntil(lambda: not panel.is_building(), timeout=5000)
    assert messages[-1][0] == "error" and "synthesis exploded" in messages[-1][1]
    assert panel.frames == [] and panel.build_status.text() == "build failed"


def test_build_without_a_result_is_refused(qtbot, model, messages):
    session = Session()
    session.set_model(model)
    panel = ReplayPanel(session)
    qtbot.addWidget(panel)
    panel.message.connect(lambda text, level: messages.append((level, text)))
    try:
        assert not panel.build() and not panel.is_building()
        assert messages[-1][0] == "warning"
        assert not panel.build_button.isEnabled()
    finally:
        panel.shutdown()


def test_a_shared_runner_is_queued_behind_not_cancelled(qtbot, session, outcomes):
    runner = TaskRunner("shared")
    other_results = []
    runner.task_finished.connect(lambda task, result, _c: other_results.append(task.kind))
    panel = ReplayPanel(session, runner=runner)
    qtbot.addWidget(panel)
    try:
        other = runner.submit(Task("fake", "fake", lambda token: slow_fake_task(
            3, 0.05, token)))
        assert panel.build()
        assert other.token.reason is None  # the panel did not cancel the other task
        qtbot.waitUntil(panel.is_complete, timeout=BUILD_TIMEOUT_MS)
        assert other_results == ["fake", "replay"]
        assert np.array_equal(panel.frames[-1].image, outcomes[0].decoded)
        # another task replacing ours on the shared runner: the panel notices
        panel.build()
        runner.submit(Task("fake", "fake", lambda token: slow_fake_task(1, 0.01, token)))
        qtbot.waitUntil(lambda: not panel.is_building(), timeout=5000)
        assert panel.build_status.text().startswith("interrupted")
        panel.shutdown()  # not ours to stop
        assert runner.submit(Task("fake", "fake", lambda t: slow_fake_task(1, 0.0, t)))
    finally:
        runner.shutdown()


def test_the_view_renders_the_current_frame(qtbot, built):
    panel = built
    for k in (0, len(panel.frames) - 1):
        panel.set_step(k)
        qtbot.wait(30)
        shown = rendered_pixels(panel.view, panel.image_box, HEIGHT, WIDTH)
        assert np.array_equal(shown, panel.frames[k].image)


def test_a_middle_slider_position_shows_the_partly_decoded_synthesis(qtbot, built, model,
                                                                     outcomes):
    """At step k the panel shows the synthesis of the latent after k passes (ŷ where decoded,
    μ elsewhere), computed here independently of the panel and of inspection.py."""
    import re

    from skimage.metrics import peak_signal_noise_ratio

    panel, outcome = built, outcomes[0]
    record = outcome.analysis
    passes = len(record.passes)
    frames = panel.frames

    def told_apart(k: int) -> bool:  # from both neighbours, in pixels and in the label's PSNR
        return all(not np.array_equal(frames[k].image, frames[j].image)
                   and f"{frames[k].psnr_rgb:.2f}" != f"{frames[j].psnr_rgb:.2f}"
                   for j in (k - 1, k + 1))

    # a middle step that a neighbouring step's picture or PSNR could not pass for
    k = next(k for k in range(passes // 2, 1, -1) if told_apart(k))
    assert passes // 3 <= k  # still in the middle
    latent = record.mu.astype(np.float32).copy()
    for stats in record.passes[:k]:  # decode passes 0..k-1 over the predictions
        mine = record.pass_index == stats.index
        assert int(mine.sum()) == stats.num_elements
        latent[mine] = record.y_hat[mine]
    with torch.no_grad():
        expected = tensor_to_image(model.synthesise(
            torch.from_numpy(latent)[None], model.rate_point(record.lam),
            record.image_size).clamp(0, 1))
    # a picture of its own: neither the prediction (step 0) nor the decoded image (step P)
    assert not np.array_equal(expected, frames[0].image)
    assert not np.array_equal(expected, outcome.decoded)

    with qtbot.waitSignal(panel.frame_changed, timeout=1000) as changed:
        panel.slider.setValue(k)  # as a user dragging the slider would
    assert changed.args == [k] and panel.step() == k
    assert panel.step_label.text() == f"step {k}/{passes}"
    qtbot.wait(30)
    assert np.array_equal(panel.displayed_image(), expected)
    shown = rendered_pixels(panel.view, panel.image_box, HEIGHT, WIDTH)
    assert np.array_equal(shown, expected)  # the pixels on screen
    reference = peak_signal_noise_ratio(outcome.original, expected, data_range=255)
    found = re.search(r"PSNR (\d+\.\d\d) dB", panel.step_info.text())
    assert found, panel.step_info.text()
    assert found.group(1) == f"{reference:.2f}"
    assert reference < psnr_rgb(outcome.decoded, outcome.original)  # not the final PSNR


def test_frame_reduction_keeps_the_frames_within_the_budget():
    from mspviewer.gui.replay_jobs import REPLAY_MEMORY_BYTES, frame_reduction

    assert frame_reduction((1080, 1920), 29) == 1  # 180 MB
    assert frame_reduction((2160, 3840), 29) == 2  # 722 MB at full size, 180 MB halved
    for size, frames, budget in (((2160, 3840), 29, REPLAY_MEMORY_BYTES), ((500, 700), 29, 10**6),
                                 ((64, 96), 29, 1000), ((7, 5), 3, 1)):
        f = frame_reduction(size, frames, budget)
        fits = lambda k: frames * 3 * -(-size[0] // k) * -(-size[1] // k) <= budget  # noqa: E731
        assert f == 1 or not fits(f - 1)  # the smallest factor that fits …
        assert fits(f) or f >= max(size)  # … or a single pixel per frame


def test_large_images_replay_at_reduced_resolution(qtbot, panel, model, outcomes, monkeypatch):
    from mspviewer.gui import replay_jobs

    monkeypatch.setattr(replay_jobs, "REPLAY_MEMORY_BYTES", 29 * 3 * 32 * 48)  # room for 1/2 size
    build_all(qtbot, panel)
    assert panel.reduction == 2
    record = outcomes[0].analysis
    full = inspection.replay_frames(model, record, outcomes[0].original)
    for got, want in zip(panel.frames, full):
        assert got.image.shape == (HEIGHT // 2, WIDTH // 2, 3)
        box = want.image.reshape(HEIGHT // 2, 2, WIDTH // 2, 2, 3).astype(float).mean(axis=(1, 3))
        assert np.abs(got.image.astype(float) - box).max() <= 0.5  # a 2×2 box average
        assert got.psnr_rgb == want.psnr_rgb  # measured at full resolution
    assert "1/2 resolution" in panel.step_text()


def test_export_never_replaces_an_input(qtbot, built, tmp_path, messages):
    """An image the work came from (a GIF, or a file named like a frame) is not overwritten
    by a replay export, in the foreground or the background; other names still export."""
    panel = built
    source_gif = tmp_path / "photo.gif"
    source_gif.write_bytes(b"the user's image")
    folder = tmp_path / "frames"
    folder.mkdir()
    source_frame = folder / "step_003.png"
    source_frame.write_bytes(b"the user's other image")
    panel.input_files = lambda: [None, source_gif, source_frame]
    assert panel.export(source_gif) == []
    assert panel.export_in_background(source_gif) is None
    assert panel.export(folder) == []
    assert panel.export_in_background(folder) is None
    assert source_gif.read_bytes() == b"the user's image"
    assert sorted(p.name for p in folder.iterdir()) == ["step_003.png"]
    refusals = [text for level, text in messages if level == "error"]
    assert len(refusals) == 4 and all("which this work came from" in t for t in refusals)
    assert panel.export(tmp_path / "replay.gif") == [tmp_path / "replay.gif"]


def test_the_plot_has_axes_only_once_it_has_a_curve(qtbot, panel):
    """Before a replay is built, no made-up 0…1 axes: a title says what will be drawn."""
    from mspviewer.gui.widgets.replay import PLOT_TITLE, PLOT_WAITING

    item = panel.plot.getPlotItem()
    assert not item.getAxis("left").isVisible() and not item.getAxis("bottom").isVisible()
    assert item.titleLabel.text == PLOT_WAITING
    panel.frames = [object()]  # what a built replay holds, as far as the controls look
    panel._refresh_controls()
    assert item.getAxis("left").isVisible() and item.titleLabel.text == PLOT_TITLE


def test_without_an_original_the_plot_says_why_it_is_empty(qtbot, panel, session, outcomes):
    """A stream opened without its original: the plot had stayed empty under 0…1 axes, and
    the only word of why was at the end of a cut step line."""
    import dataclasses

    from mspviewer.gui.widgets.replay import PLOT_NO_ORIGINAL

    session.set_result(dataclasses.replace(outcomes[0], original=None, point=None,
                                           difference=None))
    build_all(qtbot, panel)
    item = panel.plot.getPlotItem()
    assert item.titleLabel.text == PLOT_NO_ORIGINAL
    xs, _ = panel.curve.getData()
    assert not item.getAxis("left").isVisible() and (xs is None or len(xs) == 0)
    assert panel.step_text().endswith("no PSNR (no original)")
