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
