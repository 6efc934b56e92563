"""RD points, sweeps and BD values, checked against independent implementations."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from conftest import smooth_image
from scipy.interpolate import PchipInterpolator
from skimage.metrics import peak_signal_noise_ratio

from mspviewer import rd
from mspviewer.baselines import get_codec

with warnings.catch_warnings():  # bjontegaard imports matplotlib.pyplot
    warnings.simplefilter("ignore")
    import bjontegaard

ANCHOR = "vtm"
TESTS = ["hm", "bpg_444_x265_ycbcr", "av1", "jpeg", "jpeg2000", "webp"]


def reference(function, anchor, test, metric):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(anchor.rates(), anchor.values(metric), test.rates(), test.values(metric),
                        method="pchip", require_matching_points=False, min_overlap=0)


# --- published anchors -------------------------------------------------------------------------
def test_project_keeps_its_anchor_copies():
    names = rd.published_anchor_names()
    assert {ANCHOR, *TESTS} <= set(names)
    assert (rd.ANCHOR_DIR.parent / "README.md").is_file()


def test_load_published_anchor_reads_the_file():
    curve = rd.load_published_anchor(ANCHOR)
    raw = json.loads((rd.ANCHOR_DIR / f"{ANCHOR}.json").read_text())["results"]
    assert len(curve.points) == len(raw["bpp"]) == 8
    assert curve.rates().tolist() == raw["bpp"]
    assert curve.values("psnr_rgb").tolist() == raw["psnr-rgb"]
    ms_db = [-10 * math.log10(1 - v) for v in raw["ms-ssim-rgb"]]
    assert np.allclose(curve.values("ms_ssim_db"), ms_db)
    assert curve.source.startswith("published")


def test_ms_ssim_db_columns_are_converted(tmp_path):
    path = tmp_path / "paper.json"
    path.write_text(json.dumps({"name": "p", "description": "d", "meta": {"url": "u"},
                                "results": {"bpp": [0.1, 0.5], "ms-ssim-db-rgb": [10.0, 20.0]}}))
    curve = rd.load_published_anchor(path)
    assert np.allclose(curve.values("ms_ssim_db"), [10.0, 20.0])
    assert curve.points[0].ms_ssim == pytest.approx(0.9)
    assert curve.points[0].psnr_rgb is None


# --- BD-rate against the bjontegaard package ---------------------------------------------------
@pytest.mark.parametrize("metric", ["psnr_rgb", "ms_ssim_db"])
@pytest.mark.parametrize("name", TESTS)
def test_bd_rate_matches_bjontegaard_on_published_anchors(name, metric):
    anchor, test = rd.load_published_anchor(ANCHOR), rd.load_published_anchor(name)
    ours = rd.bd_rate(anchor.rates(), anchor.values(metric), test.rates(), test.values(metric))
    theirs = reference(bjontegaard.bd_rate, anchor, test, metric)
    assert abs(ours - theirs) < 0.1  # percentage points
    assert ours > 0  # every classic codec here needs more bits than VTM

    ours_q = rd.bd_quality(anchor.rates(), anchor.values(metric), test.rates(),
                           test.values(metric))
    theirs_q = reference(bjontegaard.bd_psnr, anchor, test, metric)
    assert abs(ours_q - theirs_q) < 0.01  # dB
    assert ours_q < 0


def test_bd_rate_of_a_curve_against_itself_is_zero():
    vtm = rd.load_published_anchor(ANCHOR)
    assert rd.bd_rate(vtm.rates(), vtm.values("psnr_rgb"), vtm.rates(),
                      vtm.values("psnr_rgb")) == pytest.approx(0, abs=1e-12)


def test_bd_rate_of_a_uniformly_cheaper_codec():
    # 20 % fewer bits at every quality is exactly -20 % BD-rate and a positive BD-PSNR.
    vtm = rd.load_published_anchor(ANCHOR)
    rates, psnr = vtm.rates(), vtm.values("psnr_rgb")
    assert rd.bd_rate(rates, psnr, rates * 0.8, psnr) == pytest.approx(-20.0, abs=1e-9)
    assert rd.bd_quality(rates, psnr, rates * 0.8, psnr) > 0
    # 0.5 dB better at every rate is exactly +0.5 dB BD-PSNR.
    assert rd.bd_quality(rates, psnr, rates, psnr + 0.5) == pytest.approx(0.5, abs=1e-12)


def test_bd_errors():
    with pytest.raises(rd.BDError, match="overlap"):
        rd.bd_rate([0.1, 0.2], [20, 25], [1.0, 2.0], [30, 35])
    with pytest.raises(rd.BDError, match="usable"):
        rd.bd_rate([0.1, 0.2], [20, 25], [0.15], [22])
    # Non-increasing points leave too few usable ones.
    with pytest.raises(rd.BDError, match="usable"):
        rd.bd_rate([0.1, 0.2], [20, 25], [0.15, 0.3], [22, 21])


def test_bd_curves_warns_when_the_curves_barely_overlap():
    def curve(name, points):
        return rd.RDCurve(name, name, [rd.RDPoint(bpp=b, psnr_rgb=q) for b, q in points])

    anchor = curve("anchor", [(0.1, 28.0), (0.2, 31.0), (0.4, 34.0), (0.8, 37.0)])  # 9 dB
    # the test curve's quality spans 36-40 dB, of which 36-37 overlaps the anchor's:
    # 1 dB of the narrower (the test's, 4 dB) span, 25 %
    narrow = curve("narrow", [(0.5, 36.0), (0.7, 38.0), (0.9, 40.0)])
    bd = rd.bd_curves(anchor, narrow)
    assert bd["bd_rate_percent"] is not None and bd["reason"] is None
    assert bd["overlap"] == pytest.approx([36.0, 37.0, 0.25])
    assert bd["warning"] == ("the curves overlap only from 36.00 to 37.00 dB, 25% of the "
                             "narrower one's quality range: the BD-rate holds for that band "
                             "only")
    # a curve inside the anchor's range overlaps all of itself: no warning
    inside = curve("inside", [(0.15, 30.0), (0.3, 33.0), (0.6, 35.0)])
    bd = rd.bd_curves(anchor, inside)
    assert bd["overlap"] == pytest.approx([30.0, 35.0, 1.0]) and bd["warning"] is None
    # at exactly half, still no warning; just under, one
    assert rd.bd_curves(anchor, curve("half", [(0.5, 35.0), (0.9, 39.0)]))["warning"] is None
    assert rd.bd_curves(anchor, curve("less", [(0.5, 35.1), (0.9, 39.0)]))["warning"]
    # overlapping in quality but not in rate: a BD-rate (warned about), no BD-PSNR
    far = rd.bd_curves(anchor, curve("far", [(2.0, 36.5), (4.0, 40.0)]))
    assert far["bd_rate_percent"] > 0 and far["bd_quality"] is None
    assert far["reason"] == "no BD-quality: the curves do not overlap in rate"
    assert far["warning"].startswith("the curves overlap only from 36.50 to 37.00 dB, 14%")
    # curves that do not overlap: no BD-rate, the reason, a share of 0 and no warning
    apart = rd.bd_curves(anchor, curve("apart", [(2.0, 40.0), (3.0, 42.0)]))
    assert apart["bd_rate_percent"] is None and "do not overlap" in apart["reason"]
    assert apart["overlap"][2] == 0.0 and apart["warning"] is None
    assert rd.bd_curves(anchor, curve("one", [(2.0, 40.0)]))["overlap"] is None


def test_rd_front_keeps_only_improving_points():
    rates, values = rd.rd_front([0.5, 0.1, 0.3, 0.4, 0.4, 0.6], [30, 20, 28, 27, 29, float("nan")])
    assert rates.tolist() == [0.1, 0.3, 0.4, 0.5]
    assert values.tolist() == [20, 28, 29, 30]


def test_pchip_integral_matches_scipy():
    rng = np.random.default_rng(7)
    for _ in range(20):
        count = rng.integers(2, 9)
        x = np.cumsum(rng.uniform(0.1, 2.0, count))
        y = rng.normal(0, 3, count)  # not monotone: exercises the zero-slope rules
        low, high = np.sort(rng.uniform(x[0], x[-1], 2))
        expected = PchipInterpolator(x, y).integrate(low, high)
        assert rd.pchip_integral(x, y, low, high) == pytest.approx(expected, rel=1e-9,
                                                                   abs=1e-9)
        assert np.allclose(rd.pchip_slopes(x, y), PchipInterpolator(x, y).derivative()(x))


# --- measuring ---------------------------------------------------------------------------------
def test_sweep_measures_real_files():
    pixels = smooth_image(64, 96, seed=11)
    jpeg = get_codec("jpeg-444")
    curve = rd.sweep(jpeg, pixels, [30, 70], with_ms_ssim=False)
    assert [p.quality for p in curve.points] == [30, 70]
    for point in curve.points:
        data = jpeg.encode(pixels, point.quality)  # deterministic: same bytes again
        assert point.num_bytes == len(data)
        assert point.bpp == pytest.approx(8 * len(data) / (64 * 96))
        decoded = jpeg.decode(data)
        assert point.psnr_rgb == pytest.approx(
            peak_signal_noise_ratio(pixels, decoded, data_range=255), abs=1e-9)
        assert point.ms_ssim is None and point.encode_s > 0 and point.decode_s > 0
    assert curve.library_version.startswith("Pillow")
    again = rd.RDCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert again.rates().tolist() == curve.rates().tolist()


def test_points_with_infinite_psnr_serialise_as_null():
    point = rd.RDPoint(bpp=8.0, psnr_rgb=math.inf, ms_ssim=1.0)
    data = json.loads(json.dumps(point.to_dict(), allow_nan=False))
    assert data["psnr_rgb"] is None and data["ms_ssim_db"] is None


def test_bd_quality_over_a_sliver_of_shared_rates_is_flagged():
    """A steep curve beside a flat one: their qualities overlap well (the BD-rate is fine),
    their rates hardly at all, and BD-PSNR (−15.5 dB for JPEG against VVC on a small crop)
    came with no word that it held for 0.255–0.265 bpp only."""
    from mspviewer.rd import RDCurve, RDPoint, bd_curves

    steep = RDCurve("a", "a", [RDPoint(bpp=b, psnr_rgb=q)
                               for b, q in ((0.15, 30.0), (0.2, 34.0), (0.26, 38.0))])
    flat = RDCurve("b", "b", [RDPoint(bpp=b, psnr_rgb=q)
                              for b, q in ((0.25, 29.0), (0.6, 33.0), (1.7, 38.5))])
    bd = bd_curves(steep, flat)
    assert bd["bd_quality"] is not None and bd["warning"] is None
    low, high, share = bd["rate_overlap"]
    assert (low, high) == (0.25, 0.26)
    # independently: the shared log-rate span over the narrower curve's
    assert share == pytest.approx(math.log(0.26 / 0.25) / math.log(0.26 / 0.15))
    assert "from 0.250 to 0.260 bpp" in bd["quality_warning"]
    # curves that share their rates: no warning
    shifted = RDCurve("c", "c", [RDPoint(bpp=p.bpp, psnr_rgb=p.psnr_rgb + 1.0)
                                 for p in steep.points])
    close = bd_curves(steep, shifted)
    assert close["rate_overlap"][2] == pytest.approx(1.0) and close["quality_warning"] is None
