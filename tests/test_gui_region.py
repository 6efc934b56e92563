"""The line under the compare view: PSNR-RGB of MSP and of the third pane's coding in the
part of the image the view shows, checked against scikit-image on the same pixels."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_support import encode, make_window, user_zoom, wait_idle, write_png  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio  # noqa: E402

from mspviewer.gui.widgets.region import (IDENTICAL, NOTHING_IN_VIEW, Coding,  # noqa: E402
                                          region_line, visible_region)


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    return peak_signal_noise_ratio(original, decoded, data_range=255)


def test_the_region_in_view_is_every_pixel_at_least_partly_shown():
    from PySide6.QtCore import QRectF

    assert visible_region(QRectF(10.5, 8.2, 20.0, 11.9), 96, 64) == (10, 8, 21, 13)
    # clipped to the image where the view reaches past it
    assert visible_region(QRectF(-30, -5, 200, 40), 96, 64) == (0, 0, 96, 35)
    assert visible_region(QRectF(-30, -30, 300, 300), 96, 64) == (0, 0, 96, 64)
    assert visible_region(QRectF(100, 0, 20, 20), 96, 64) is None  # panned off it


def test_the_region_line_measures_the_region_s_pixels():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    decoded = np.clip(original.astype(int) + rng.integers(-6, 7, original.shape), 0,
                      255).astype(np.uint8)
    other = original.copy()
    other[10:20, 5:25] ^= 16  # wrong in the region only
    line = region_line((5, 10, 20, 10), original,
                       [Coding("MSP", decoded, 33.3, 0.4567),
                        Coding("JPEG", other, 44.4, note="its smallest: 0.62 bpp")])
    window = (slice(10, 20), slice(5, 25))
    # the comparison first (a narrow panel cuts the end), then the bits, the whole image,
    # the region
    assert line == (f"PSNR-RGB in view: "
                    f"MSP {psnr(original[window], decoded[window]):.2f} dB · "
                    f"JPEG {psnr(original[window], other[window]):.2f} dB (its smallest: "
                    f"0.62 bpp) · MSP est. 0.46 bpp here · whole image 33.30 · 44.40 dB · "
                    f"view 20×10 at 5, 10")
    # an identical region; and the whole image, whose PSNR (and bpp) the metrics have
    assert f"MSP {IDENTICAL}" in region_line((30, 30, 10, 10), original,
                                            [Coding("MSP", other)])
    assert region_line((0, 0, 60, 40), original, [Coding("MSP", decoded, 33.3, 0.5)]) == \
        "PSNR-RGB, whole image in view: MSP 33.30 dB"


def test_a_region_taller_than_a_chunk_of_rows_is_measured_whole(monkeypatch):
    """The region's PSNR (metrics.psnr_rgb) sums squared errors of 8-bit images in integers
    a few rows at a time (float64 copies of a 4K region held the window for seconds): every
    chunk counts, and the worst case (0 against 255 everywhere) does not overflow."""
    from mspviewer import metrics

    monkeypatch.setattr(metrics, "_MSE_ROWS", 7)
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)
    decoded = rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)
    line = region_line((0, 1, 30, 47), original, [Coding("MSP", decoded)])
    assert f"MSP {psnr(original[1:48], decoded[1:48]):.2f} dB" in line
    black, white = np.zeros((600, 800, 3), np.uint8), np.full((600, 800, 3), 255, np.uint8)
    assert metrics.psnr_rgb(black, white) == 0.0


def test_the_bits_in_a_region_share_each_block_s_bits_among_its_pixels(tiny_model):
    """MSP's bpp in view, checked against the bits map blown up to one value per pixel."""
    from conftest import smooth_image

    from mspviewer.codec import decode_bytes, encode_image
    from mspviewer.gui.latent_data import (bits_per_pixel_map, latent_stride,
                                           padding_bits_share, region_bits_per_pixel)

    pixels = smooth_image(40, 56, seed=2)  # (not multiples of 16: blocks cut by the edge)
    analysis = decode_bytes(tiny_model, encode_image(tiny_model, pixels, 0.01,
                                                     profile="fast").bitstream).analysis
    stride = latent_stride(analysis)
    per_block = bits_per_pixel_map(analysis).astype(np.float64)
    per_pixel = np.kron(per_block, np.ones((stride, stride)))[:40, :56]
    for region in ((0, 0, 56, 40), (5, 3, 20, 30), (17, 33, 39, 7), (0, 0, 1, 1)):
        x, y, width, height = region
        assert region_bits_per_pixel(analysis, region) == pytest.approx(
            per_pixel[y:y + height, x:x + width].mean(), rel=1e-9)
    # the whole image's bits and the padding's are the model's total (to the map's float32)
    total = float(np.asarray(analysis.bits, np.float64).sum())
    assert region_bits_per_pixel(analysis, (0, 0, 56, 40)) * 40 * 56 == pytest.approx(
        total * (1 - padding_bits_share(analysis)), rel=1e-6)


def test_the_compare_view_says_how_each_coding_fares_in_the_region_in_view(
        qtbot, tiny_model, tmp_path):
    from PySide6.QtCore import QRectF

    window = make_window(qtbot, tiny_model, tmp_path)
    path = tmp_path / "picture.png"
    write_png(path, 64, 96)
    window.open_image(path)
    assert window.compare.region_label.text().strip() == ""  # nothing coded yet
    result = encode(qtbot, window)
    window.compare.set_classic_codec("jpeg-420")
    wait_idle(qtbot, window)
    classic = window.session.classic
    assert classic is not None and classic.decoded is not None
    line = window.compare.region_label
    whole = (f"PSNR-RGB, whole image in view: MSP {result.point.psnr_rgb:.2f} dB · "
             f"JPEG 4:2:0 {classic.point.psnr_rgb:.2f} dB")
    # idle means the line is up to date (a screenshot taken at idle had only MSP's PSNR)
    assert line.text() == whole
    # zoomed in on a detail: the detail's PSNRs
    user_zoom(window.compare.original.box, QRectF(30, 20, 24, 16))
    qtbot.waitUntil(lambda: line.text().startswith("PSNR-RGB in view"))
    # (the pane keeps square pixels: the view widens the range asked for to its shape)
    found = re.search(r" · view (\d+)×(\d+) at (\d+), (\d+)$", line.text())
    width, height, x, y = map(int, found.groups())
    assert x <= 30 and y <= 20 and x + width >= 54 and y + height >= 36
    assert (width, height) != (96, 64)
    region = (slice(y, y + height), slice(x, x + width))
    original = result.original
    numbers = [float(v) for v in re.findall(r"(\d+\.\d\d) dB", line.text())[:2]]
    assert numbers == [pytest.approx(psnr(original[region], result.decoded[region]),
                                     abs=0.005),
                       pytest.approx(psnr(original[region], classic.decoded[region]),
                                     abs=0.005)]
    # the split view (one wide pane: more of the image beside the region) measures what it
    # shows
    shown = line.text()
    window.compare.set_mode("split")
    qtbot.waitUntil(lambda: line.text() != shown)
    x, y, width, height = visible_region(window.compare.split_box.viewRect(), 96, 64)
    assert line.text().endswith(f" · view {width}×{height} at {x}, {y}")
    # panned off the image: it says so
    user_zoom(window.compare.split_box, QRectF(500, 500, 20, 20))
    qtbot.waitUntil(lambda: line.text() == NOTHING_IN_VIEW)
