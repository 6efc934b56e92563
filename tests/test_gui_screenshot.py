"""``mspviewer --screenshot``: headless encode, every panel filled, the window saved as PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from gui_support import write_png
from mspviewer.codec import decode_bytes, encode_image, load_model, save_weights
from mspviewer.imageio import pixel_count

#: ``python -m mspviewer`` with a probe: when the real ``run_screenshot`` saves the window,
#: the probe notes where the compare view draws its two images (window coordinates) and the
#: message bar's state, then the errors once the run is over; it writes them as JSON to
#: $MSPVIEWER_TEST_PROBE.
PROBE = r"""
import json, os, runpy

from PySide6.QtCore import QPoint

from mspviewer.gui import app
from mspviewer.gui.widgets.common import view_to_widget

real_run_screenshot = app.run_screenshot


def layout(window) -> dict:
    compare = window.compare
    height, width = compare.image_size()
    view = compare.side_view
    origin = view.mapTo(window, QPoint(0, 0))

    def corners(box):  # image corners (0, 0) and (width, height) on the window
        return [[origin.x() + p.x(), origin.y() + p.y()]
                for p in (view_to_widget(view, box, 0, 0),
                          view_to_widget(view, box, width, height))]

    bar = window.messages
    return {
        "ratio": window.devicePixelRatioF(), "image_size": [height, width],
        "compare_shown": window.centre.currentWidget() is compare and compare.isVisible()
                         and compare.stack.currentWidget() is view,
        "view_rect": [origin.x(), origin.y(), view.width(), view.height()],
        "original": corners(compare.original.box), "decoded": corners(compare.decoded.box),
        "decoded_item_visible": compare.decoded.rgb.isVisible(),
        "bar_visible": bar.isVisible(), "bar_level": bar.level, "bar_text": bar.text(),
        "learned_profiles": [p.profile for p in window.session.learned_points],
        "bd_rates": window.rd.bd_rates(), "bd_text": window.rd.bd_label.text(),
        "lof_change": [window.metrics.row_label("lof_change"),
                       window.metrics.value("lof_change")],
    }


def probed(qapp, window, *args, **kwargs):
    probe = {}
    real_save = window.save_screenshot

    def save_screenshot(path):  # the layout of the very moment the window is grabbed
        probe.update(layout(window))
        return real_save(path)

    window.save_screenshot = save_screenshot
    code = real_run_screenshot(qapp, window, *args, **kwargs)
    probe["errors"] = list(window.errors)
    with open(os.environ["MSPVIEWER_TEST_PROBE"], "w") as file:
        json.dump(probe, file)
    return code


app.run_screenshot = probed
if os.environ.get("MSPVIEWER_TEST_SYNC_OPEN_PIXELS"):  # read larger images on the file thread
    from mspviewer.gui import main_window

    main_window.SYNC_OPEN_PIXELS = int(os.environ["MSPVIEWER_TEST_SYNC_OPEN_PIXELS"])
runpy.run_module("mspviewer", run_name="__main__", alter_sys=True)
"""

#: the message bar's background for an error (mspviewer.gui.widgets.message_bar)
ERROR_BACKGROUND = (0xFD, 0xE2, 0xE1)


def run_viewer(args, tmp_path, probe=None, sync_open_pixels=None):
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               TMPDIR=str(tmp_path / "tmp"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    if sync_open_pixels is not None:
        assert probe is not None, "the probe sets it"
        env["MSPVIEWER_TEST_SYNC_OPEN_PIXELS"] = str(sync_open_pixels)
    command = [sys.executable, "-m", "mspviewer"]
    if probe is not None:
        env["MSPVIEWER_TEST_PROBE"] = str(probe)
        command = [sys.executable, "-c", PROBE]
    return subprocess.run([*command, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def sample_image(shot: np.ndarray, corners, ratio: float, height: int, width: int
                 ) -> np.ndarray:
    """The screenshot's pixels at the centre of every image pixel of a pane drawn with its
    corners (0, 0) and (width, height) at ``corners`` (window coordinates)."""
    (x0, y0), (x1, y1) = corners
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
    cols = np.floor(xs * ratio).astype(int)
    rows = np.floor(ys * ratio).astype(int)
    assert 0 <= rows.min() and rows.max() < shot.shape[0], (rows.min(), rows.max())
    assert 0 <= cols.min() and cols.max() < shot.shape[1], (cols.min(), cols.max())
    return shot[rows[:, None], cols[None, :]]


def test_screenshot_headless(tiny_model, tmp_path):
    from skimage.metrics import peak_signal_noise_ratio

    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    pixels = write_png(image, 64, 96, seed=2)
    out = tmp_path / "shot.png"
    probe_path = tmp_path / "probe.json"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--model",
                       str(model_path), "--profile", "fast", "--lambda", "0.01",
                       "--size", "1280x800"], tmp_path, probe=probe_path)
    assert done.returncode == 0, done.stderr
    shot = np.asarray(Image.open(out).convert("RGB"))
    probe = json.loads(probe_path.read_text())
    ratio = probe["ratio"]
    # the size asked for: the window's minimum is far below it (it was 1407×867 before the
    # panels scrolled when squeezed)
    assert shot.shape[:2] == (round(800 * ratio), round(1280 * ratio)), shot.shape
    assert "cannot be that small" not in done.stderr
    # the run's settings lived in a temporary folder of their own, gone with the run
    assert not list(tmp_path.glob("shot*.ini*"))
    assert not list((tmp_path / "tmp").glob("mspviewer-screenshot-*"))

    # No error in the message bar: neither in the window's state nor anywhere on the picture.
    assert probe["errors"] == [] and probe["bar_level"] != "error", probe
    assert not probe["bar_visible"], probe["bar_text"]
    error_coloured = np.abs(shot.astype(int) - ERROR_BACKGROUND).max(axis=-1) <= 3
    assert not error_coloured.any(), int(error_coloured.sum())

    # The same encode, done here: the bitstream the viewer made, and its decoded image.
    model = load_model(model_path)  # as the viewer loads it (float16-stored weights)
    encoded = encode_image(model, pixels, 0.01, profile="fast")
    decoded = decode_bytes(model, encoded.bitstream).pixels
    assert decoded.std() > 3  # a picture with detail, not one flat colour
    bpp = 8 * len(encoded.bitstream) / (64 * 96)
    psnr = peak_signal_noise_ratio(pixels, decoded, data_range=255)
    assert re.search(rf"screenshot {re.escape(str(out))}: {bpp:.4f} bpp, PSNR {psnr:.2f} dB",
                     done.stdout), done.stdout
    # fast: no reference coding and no ladder, so no figure numbers below the first line
    assert done.stdout.strip().count("\n") == 0, done.stdout

    # Where the compare view draws the images, the screenshot shows them, sampled at the
    # centre of each image pixel: within the one level that thread counts may change, and
    # allowing a few rows or columns for the view's mapping and its painting to disagree by a
    # screen pixel at a fractional scale (seen with the decoded pane one pixel taller).
    assert probe["compare_shown"] and probe["decoded_item_visible"]
    assert probe["image_size"] == [64, 96]
    vx, vy, vw, vh = probe["view_rect"]
    for pane in ("original", "decoded"):
        (x0, y0), (x1, y1) = probe[pane]
        assert vx <= x0 < x1 <= vx + vw and vy <= y0 < y1 <= vy + vh, (pane, probe)
        assert x1 - x0 >= 96 and y1 - y0 >= 64  # fitted to the pane: at least 1:1 here
    assert probe["original"][1][0] <= probe["decoded"][0][0]  # side by side, original first
    for pane, expected in (("original", pixels), ("decoded", decoded)):
        shown = sample_image(shot, probe[pane], ratio, 64, 96).astype(int)
        close = np.abs(shown - expected).max(axis=-1) <= 1
        assert close.mean() >= 0.95, (pane, close.mean())
        assert np.corrcoef(shown.ravel(), expected.ravel())[0, 1] > 0.95, pane


def test_screenshot_with_the_lambda_ladder(shipped_model, tmp_path):
    """--ladder: the λ ladder's points after the encode, and the BD-rates they give (the
    shipped model: a random one's quality need not rise with its rate)."""
    image = tmp_path / "small.png"
    write_png(image, 48, 64, seed=5)
    out, probe_path = tmp_path / "shot.png", tmp_path / "probe.json"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--lambda", "0.013",
                       "--ladder", "--size", "1200x800"], tmp_path, probe=probe_path)
    assert done.returncode == 0, done.stderr
    probe = json.loads(probe_path.read_text())
    ladder = len(shipped_model.config.rate.lambdas)
    assert probe["learned_profiles"] == ["fast"] * (1 + ladder)  # the encode, then the ladder
    assert probe["errors"] == []
    assert probe["bd_text"].startswith("BD-rate on PSNR-RGB [dB]: MSP fast"), probe["bd_text"]
    assert probe["bd_rates"], "the classic sweeps give curves to compare with"
    for label, value, reason in probe["bd_rates"]:
        assert (value is not None and f"{label} " in probe["bd_text"]) or reason, label
    # the BD-rates as the window shows them, printed for texts that quote the screenshot
    assert f"\n  {probe['bd_text']}\n" in done.stdout, done.stdout


def test_screenshot_with_ladders_of_named_profiles(tiny_model, tmp_path):
    """--ladder P,P: one ladder per profile after the encode (the tiny model: LOF ladders
    of the shipped one take minutes); unknown names are refused before any work."""
    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    write_png(image, 32, 48, seed=5)
    out, probe_path = tmp_path / "shot.png", tmp_path / "probe.json"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--model",
                       str(model_path), "--lambda", "0.01", "--profile", "fast", "--ladder",
                       ",quick", "--size", "1200x800"], tmp_path, probe=probe_path)
    assert done.returncode == 0, done.stderr
    probe = json.loads(probe_path.read_text())
    ladder = len(tiny_model.config.rate.lambdas)
    # the encode, the ladder with its profile (""), then with quick
    assert probe["learned_profiles"] == ["fast"] * (1 + ladder) + ["quick"] * ladder
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--ladder",
                       "fast,nope"], tmp_path)
    assert done.returncode == 2 and "unknown profile 'nope'" in done.stderr
    assert "fast, quick, balanced, max" in done.stderr and "Traceback" not in done.stderr
    # the image after a bare --ladder becomes its value: said so, not "unknown profile"
    done = run_viewer(["--screenshot", str(out), "--ladder", str(image)], tmp_path)
    assert done.returncode == 2 and "--ladder takes profile names" in done.stderr
    assert "small.png" in done.stderr and "Traceback" not in done.stderr


def test_screenshot_prints_what_lof_changed(tiny_model, tmp_path):
    """After an LOF encode the screenshot prints the metrics row "LOF change" as shown,
    and the figure is that of the plain and LOF encodes made here."""
    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    pixels = write_png(image, 32, 48, seed=3)
    out, probe_path = tmp_path / "shot.png", tmp_path / "probe.json"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--model",
                       str(model_path), "--lambda", "0.01", "--profile", "quick",
                       "--threads", "1", "--size", "1200x800"], tmp_path, probe=probe_path)
    assert done.returncode == 0, done.stderr
    label, value = json.loads(probe_path.read_text())["lof_change"]
    assert label == "LOF change"
    assert f"\n  LOF change: {value}\n" in done.stdout, done.stdout
    model = load_model(model_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the viewer ran: LOF's rounding choices may follow it
    try:
        plain = encode_image(model, pixels, 0.01, profile="fast")
        tuned = encode_image(model, pixels, 0.01, profile="quick")
    finally:
        torch.set_num_threads(threads)
    change = 100 * (len(tuned.bitstream) / len(plain.bitstream) - 1)
    assert value.startswith(f"{change:+.2f} % file"), (value, change)


def test_screenshot_waits_for_an_image_read_on_the_file_thread(tiny_model, tmp_path):
    """With every image above 100 pixels read off the GUI thread, --screenshot still encodes
    the image it was given; one that fails there fails the run, naming the file."""
    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    pixels = write_png(image, 32, 48, seed=3)
    out = tmp_path / "shot.png"
    probe_path = tmp_path / "probe.json"
    common = ["--model", str(model_path), "--profile", "fast", "--lambda", "0.01",
              "--size", "1000x700"]
    done = run_viewer(["--screenshot", str(out), "--image", str(image), *common], tmp_path,
                      probe=probe_path, sync_open_pixels=100)
    assert done.returncode == 0, done.stderr
    probe = json.loads(probe_path.read_text())
    assert probe["errors"] == [] and probe["image_size"] == [32, 48], probe
    encoded = encode_image(load_model(model_path), pixels, 0.01, profile="fast")
    bpp = 8 * len(encoded.bitstream) / (32 * 48)
    assert f"screenshot {out}: {bpp:.4f} bpp" in done.stdout, done.stdout

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(image.read_bytes()[:200])  # header intact, pixel data cut
    assert pixel_count(truncated) == 32 * 48  # so it goes to the file thread, and fails there
    probe_path.unlink()
    done = run_viewer(["--screenshot", str(out), "--image", str(truncated), *common], tmp_path,
                      probe=probe_path, sync_open_pixels=100)
    assert done.returncode == 1, done.stderr
    assert "truncated.png" in done.stderr and "Traceback" not in done.stderr
    assert not probe_path.exists()  # it stopped before any screenshot


def test_screenshot_bad_arguments(tmp_path):
    out = tmp_path / "shot.png"
    done = run_viewer(["--screenshot", str(out), "--image", str(tmp_path / "missing.png")],
                      tmp_path)
    assert done.returncode == 1 and "missing.png" in done.stderr
    done = run_viewer(["--screenshot", str(out), "--profile", "nope"], tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr
    assert "Traceback" not in done.stderr
    # what the third pane and the heatmaps may show is listed in the refusal
    done = run_viewer(["--screenshot", str(out), "--third-pane", "nope"], tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr and "msp-plain" in done.stderr
    done = run_viewer(["--screenshot", str(out), "--latents", "nope"], tmp_path)
    assert done.returncode == 2 and "lof_bits" in done.stderr
    assert "Traceback" not in done.stderr
    # a bad option value is one line, not argparse's usage block
    done = run_viewer(["--screenshot", str(out), "--lambda", "abc"], tmp_path)
    assert done.returncode == 2 and "usage:" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "mspviewer gui: error: argument --lambda: invalid float value: 'abc' "
        "(see 'mspviewer gui --help')"]
    # the screenshot may not replace the image it shows
    image = tmp_path / "picture.png"
    write_png(image, 32, 48)
    before = image.read_bytes()
    done = run_viewer(["--screenshot", str(image), "--image", str(image)], tmp_path)
    assert done.returncode == 2 and "is the image to open" in done.stderr
    assert image.read_bytes() == before


def test_screenshot_refuses_what_it_cannot_honour(tiny_model, tmp_path, monkeypatch):
    """Values the viewer would clamp or round silently, sizes it cannot draw and a named
    model that is not there are refused (or noted), never a screenshot of something else."""
    out = tmp_path / "shot.png"
    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    write_png(image, 32, 48, seed=5)
    common = ["--screenshot", str(out), "--image", str(image), "--profile", "fast"]
    for option, value, words in (
            ("--size", "100000x100000", "each side from 200 to 16384"),
            ("--timeout", "-5", "argument --timeout: must be a finite number above 0")):
        done = run_viewer([*common, "--model", str(model_path), option, value], tmp_path)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    for bpp in ("nan", "20", "0.0001"):
        done = run_viewer([*common, "--model", str(model_path), "--bpp", bpp], tmp_path)
        assert done.returncode == 2 and "outside the viewer's range 0.01 … 8" in done.stderr
        assert not out.exists()
    done = run_viewer([*common, "--model", str(model_path), "--lambda", "0.0023456"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--lambda 0.0023456 is set as 0.00235 (the control keeps 5 decimals)" in done.stderr
    out.unlink()
    done = run_viewer([*common, "--model", str(model_path), "--bpp", "0.0125"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--bpp 0.0125 is set as 0.013 (the control keeps 3 decimals)" in done.stderr
    out.unlink()
    # a size under the window's minimum is drawn at that minimum, and said so
    done = run_viewer([*common, "--model", str(model_path), "--size", "300x200"], tmp_path)
    assert done.returncode == 0, done.stderr
    said = re.search(r"--size 300x200: the window cannot be that small; the screenshot is "
                     r"(\d+)x(\d+)", done.stderr)
    assert said, done.stderr
    width, height = int(said[1]), int(said[2])
    assert 300 < width <= 1280 and 200 < height <= 720
    with Image.open(out) as shot:
        assert shot.size[0] / shot.size[1] == pytest.approx(width / height, rel=0.02)
    out.unlink()
    # a model named by the environment is loaded like --model: missing, it is refused
    monkeypatch.setenv("MSPVIEWER_MODEL", str(tmp_path / "no-such-model.pt"))
    done = run_viewer(common, tmp_path)
    assert done.returncode == 2 and "no-such-model.pt" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_the_viewer_without_a_display_says_so(tmp_path):
    """On Linux without X, Wayland or a Qt platform, Qt would abort with a page of text."""
    if not sys.platform.startswith("linux"):
        return
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "mspviewer"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mspviewer: no display to open the viewer on: render it headless with "
        "--screenshot OUT.png, or set QT_QPA_PLATFORM"]


def test_screenshot_of_the_inspector_and_replay_steps(shipped_model, tmp_path):
    image = tmp_path / "small.png"
    write_png(image, 64, 96, seed=2)
    out = tmp_path / "replay.png"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--lambda", "0.013",
                       "--size", "1400x900", "--inspect", "40,20", "--replay-steps", "0,9,99",
                       "--panel", "replay"], tmp_path)
    assert done.returncode == 0, done.stderr
    last = shipped_model.config.msp.sequential_passes  # step 99 is clamped to the last
    shots = [tmp_path / f"replay-step{k:02d}.png" for k in (0, 9, last)]
    assert [str(path) in done.stdout for path in shots] == [True] * 3, done.stdout
    images = [np.asarray(Image.open(path).convert("RGB")) for path in shots]
    assert all(shot.std() > 10 for shot in images)
    assert not np.array_equal(images[0], images[2])  # the panel shows different steps

    # the inspector's bars as probabilities or as costs in bits
    views = {}
    for view in ("probability", "bits"):
        out = tmp_path / f"inspector-{view}.png"
        done = run_viewer(["--screenshot", str(out), "--image", str(image), "--lambda", "0.013",
                           "--size", "1400x900", "--third-pane", "none", "--inspect", "40,20",
                           "--pmf-view", view, "--panel", "inspector"], tmp_path)
        assert done.returncode == 0, done.stderr
        views[view] = np.asarray(Image.open(out).convert("RGB"))
    assert views["probability"].shape == views["bits"].shape
    # the plot (below the values; the view's menu at the top is left out) changed
    plots = {view: shot[int(shot.shape[0] * 0.6):] for view, shot in views.items()}
    assert not np.array_equal(plots["probability"], plots["bits"])

    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--panel", "nope"],
                      tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    done = run_viewer(["--screenshot", str(out), "--inspect", "1"], tmp_path)
    assert done.returncode == 2 and "--inspect" in done.stderr


def test_screenshot_of_the_bits_per_channel(shipped_model, tmp_path):
    image = tmp_path / "small.png"
    write_png(image, 64, 96, seed=2)
    shots = {}
    for view in ("chart", "channels"):
        out = tmp_path / f"bits-{view}.png"
        done = run_viewer(["--screenshot", str(out), "--image", str(image), "--lambda", "0.013",
                           "--third-pane", "none", "--bits-view", view, "--channel", "7",
                           "--panel", "bits"], tmp_path)
        assert done.returncode == 0, done.stderr
        shots[view] = np.asarray(Image.open(out).convert("RGB"))
    assert shots["chart"].shape == shots["channels"].shape
    assert not np.array_equal(shots["chart"], shots["channels"])  # another tab in front

    # an opened .msp is decoded, not encoded: a good screenshot of it exits 0
    stream = tmp_path / "small.msp"
    stream.write_bytes(encode_image(shipped_model, np.asarray(Image.open(image).convert("RGB")),
                                    0.013).bitstream)
    out = tmp_path / "stream.png"
    done = run_viewer(["--screenshot", str(out), str(stream), "--third-pane", "none",
                       "--bits-view", "channels", "--channel", "3", "--panel", "bits"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(out).convert("RGB")).std() > 10

    out = tmp_path / "bad.png"
    channels = shipped_model.config.transform.latent_channels
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--third-pane", "none",
                       "--channel", str(channels)], tmp_path)
    # refused with the options, before the encode
    assert done.returncode == 2 and f"has {channels} channels" in done.stderr
    assert not out.exists()
    for bad in (["--channel", "-1"], ["--bits-view", "nope"], ["--pmf-view", "nats"]):
        done = run_viewer(["--screenshot", str(out), *bad], tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
