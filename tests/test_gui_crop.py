"""Cropping the open image (File ▸ Crop to the visible region, ``--crop``): the crop is what
is encoded, it remembers where it lies in the full image, and the full image comes back."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import make_window, wait_idle, write_png  # noqa: E402
from test_gui_screenshot import run_viewer  # noqa: E402

from mspviewer.codec import decode_bytes, encode_image  # noqa: E402
from mspviewer.errors import MSPViewerError  # noqa: E402
from mspviewer.gui.session import MIN_CROP, ImageState  # noqa: E402


def full_image(height: int = 80, width: int = 96) -> ImageState:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return ImageState(pixels, None, notes=["converted from grey"])


def test_a_crop_is_the_region_clipped_to_the_image():
    image = full_image()
    crop = image.cropped(10, 20, 40, 30)
    assert np.array_equal(crop.pixels, image.pixels[20:50, 10:50])
    assert crop.crop == (10, 20, 40, 30) and crop.full is image
    assert crop.notes == ["converted from grey",
                          "cropped to 40×30 at x 10, y 20 of the 96×80 image"]
    assert crop.name == "image [40×30 at x 10, y 20]"
    # a region reaching past the image keeps only its part inside
    edge = image.cropped(-5, 60, 200, 100)
    assert edge.crop == (0, 60, 96, 20)
    assert np.array_equal(edge.pixels, image.pixels[60:, :])
    # a crop of a crop is placed in the full image, and goes back to it
    inner = crop.cropped(4, 2, 20, 16)
    assert inner.crop == (14, 22, 20, 16) and inner.full is image
    assert np.array_equal(inner.pixels, image.pixels[22:38, 14:34])
    assert inner.notes[-1] == "cropped to 20×16 at x 14, y 22 of the 96×80 image"
    assert len(inner.notes) == 2  # not the notes of every crop on the way


@pytest.mark.parametrize("region", [(0, 0, MIN_CROP - 1, 40), (0, 0, 40, MIN_CROP - 1),
                                    (90, 0, 40, 40), (200, 200, 50, 50)])
def test_too_small_a_region_is_refused(region):
    with pytest.raises(MSPViewerError, match=f"at least {MIN_CROP}×{MIN_CROP} pixels"):
        full_image().cropped(*region)


def test_the_window_encodes_the_crop_and_goes_back(qtbot, tiny_model, tmp_path):
    path = tmp_path / "picture.png"
    pixels = write_png(path, 80, 96, seed=5)
    window = make_window(qtbot, tiny_model, tmp_path)
    assert window.open_image(path)
    full = window.session.image
    assert window.crop_image(16, 8, 48, 32)
    image = window.session.image
    assert np.array_equal(image.pixels, pixels[8:40, 16:64])
    assert "picture.png [48×32 at x 16, y 8]" in window.windowTitle()
    assert window.compare.image_size() == (32, 48)
    window.start_encode()
    wait_idle(qtbot, window)
    result = window.session.result
    assert np.array_equal(result.original, pixels[8:40, 16:64])
    assert window.metrics.value("image") == "picture.png [48×32 at x 16, y 8]"
    # the stream is the core's encode of the crop, and what is shown is its decode
    crop = np.ascontiguousarray(pixels[8:40, 16:64])
    assert result.profile == "fast"
    assert result.bitstream == encode_image(tiny_model, crop, result.lam, "fast").bitstream
    assert np.array_equal(result.decoded, decode_bytes(tiny_model, result.bitstream).pixels)
    assert result.decoded.shape == (32, 48, 3)
    doc = window.metrics_document()
    assert doc["image"]["crop"] == [16, 8, 48, 32] and doc["image"]["width"] == 48
    assert window._default_stem() == "picture-crop-16-8-48x32"
    # back to the full image: the very image that was open, its results dropped
    assert window.uncrop()
    assert window.session.image is full and window.session.result is None
    assert window.compare.image_size() == (80, 96)
    assert not window.uncrop() and "not cropped" in window.messages.text()
    # refusals leave the image as it was
    assert not window.crop_image(90, 70, 40, 40)
    assert window.session.image is full
    assert window.errors[-1].startswith("Cannot crop: a crop needs at least 16×16")
    window.set_image(None)
    assert not window.crop_image(0, 0, 32, 32)
    assert window.errors[-1].startswith("Nothing to crop")


def test_crop_to_the_visible_region(qtbot, tiny_model, tmp_path, monkeypatch):
    """Every pixel at least partly in view, clipped to the image, less a last row or column
    where that makes a size even."""
    from PySide6.QtCore import QRectF

    path = tmp_path / "picture.png"
    pixels = write_png(path, 80, 96, seed=6)
    window = make_window(qtbot, tiny_model, tmp_path)
    window.open_image(path)
    box = window.compare.master_box()
    shown = QRectF(20.4, 10.6, 40.0, 30.0)  # pixels 20…60 and 10…40: 41×31, even: 40×30
    monkeypatch.setattr(box, "viewRect", lambda: shown)
    assert window.crop_to_view()
    assert window.session.image.crop == (20, 10, 40, 30)
    assert np.array_equal(window.session.image.pixels, pixels[10:40, 20:60])
    window.uncrop()
    shown = QRectF(-10.0, 50.5, 200.0, 100.0)  # past the image: clipped, then made even
    assert window.crop_to_view()
    assert window.session.image.crop == (0, 50, 96, 30)
    window.uncrop()
    shown = QRectF(-50.0, -50.0, 300.0, 300.0)  # zoomed out: the whole image, nothing to crop
    assert not window.crop_to_view()
    assert window.errors[-1] == "Cannot crop: the region is the whole image: nothing to crop"
    assert window.session.image.crop is None
    # the blind test hides the compare view (and its zoom): no crop from there
    shown = QRectF(20.0, 10.0, 40.0, 30.0)
    window.set_blind_mode(True)
    assert not window.crop_to_view()
    assert "blind A/B test" in window.errors[-1] and window.session.image.crop is None


def test_screenshot_crop_option(tiny_model, tmp_path):
    from mspviewer.codec import encode_image, load_model, save_weights

    model_path = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny-test")
    image = tmp_path / "picture.png"
    pixels = write_png(image, 64, 80, seed=7)
    out = tmp_path / "shot.png"
    probe = tmp_path / "probe.json"
    common = ["--screenshot", out, "--image", image, "--model", model_path, "--profile",
              "fast", "--lambda", "0.01", "--size", "1000x700"]
    done = run_viewer([*map(str, common), "--crop", "8,16,48,32"], tmp_path, probe=probe)
    assert done.returncode == 0, done.stderr
    assert json.loads(probe.read_text())["image_size"] == [32, 48]
    encoded = encode_image(load_model(model_path), pixels[16:48, 8:56], 0.01, profile="fast")
    assert f"{8 * len(encoded.bitstream) / (32 * 48):.4f} bpp" in done.stdout, done.stdout
    for bad, message in (("8,16,48", "four integers"), ("-1,0,32,32", "X,Y ≥ 0"),
                         ("70,0,8,32", "at least 16×16"),
                         ("60,0,32,32", "reaches past the 80×64 image"),
                         ("0,0,80,64", "the whole image")):
        done = run_viewer([*map(str, common), f"--crop={bad}"], tmp_path)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
