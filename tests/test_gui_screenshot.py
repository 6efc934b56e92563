"""``mspviewer --screenshot``: headless encode, every panel filled, the window saved as PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO
from gui_support import write_png
from mspviewer.codec import save_weights


def run_viewer(args, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run([sys.executable, "-m", "mspviewer", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_screenshot_headless(tiny_model, tmp_path):
    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "small.png"
    write_png(image, 64, 96, seed=2)
    out = tmp_path / "shot.png"
    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--model",
                       str(model_path), "--profile", "fast", "--lambda", "0.01",
                       "--size", "1200x800"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "bpp" in done.stdout
    shot = np.asarray(Image.open(out).convert("RGB"))
    assert shot.shape[0] >= 800 and shot.shape[1] >= 1200  # (or the window's minimum)
    assert shot.std() > 20  # a drawn window, not a blank image
    assert not (tmp_path / "shot.ini.tmp").exists()


def test_screenshot_bad_arguments(tmp_path):
    out = tmp_path / "shot.png"
    done = run_viewer(["--screenshot", str(out), "--image", str(tmp_path / "missing.png")],
                      tmp_path)
    assert done.returncode == 1 and "missing.png" in done.stderr
    done = run_viewer(["--screenshot", str(out), "--profile", "nope"], tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr
    assert "Traceback" not in done.stderr


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

    done = run_viewer(["--screenshot", str(out), "--image", str(image), "--panel", "nope"],
                      tmp_path)
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    done = run_viewer(["--screenshot", str(out), "--inspect", "1"], tmp_path)
    assert done.returncode == 2 and "--inspect" in done.stderr
