"""`eval` averages real measurements; `report` writes a table and plot that match them."""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest
import pytorch_msssim
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from conftest import KODAK, smooth_image
from mspviewer.cli import main
from mspviewer.codec import decode_bytes, default_model_path, encode_image, save_weights
from mspviewer.imageio import load_image, save_png

with warnings.catch_warnings():  # bjontegaard imports matplotlib.pyplot
    warnings.simplefilter("ignore")
    import bjontegaard


# --- independent references for the measurements -----------------------------------------------
#: BT.601 full-range luma as a matrix product (R, G, B weights).
BT601 = np.array([0.299, 0.587, 0.114])
MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]  # Wang et al. 2003, finest first


def reference_psnr_y(original: np.ndarray, decoded: np.ndarray) -> float:
    luma = [image.astype(np.float64) @ BT601 for image in (original, decoded)]
    return peak_signal_noise_ratio(luma[0], luma[1], data_range=255)


def _gaussian_valid(plane: np.ndarray) -> np.ndarray:
    """11-tap Gaussian (σ = 1.5) filtering of an (H, W) plane, valid part only."""
    taps = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    taps /= taps.sum()
    plane = sliding_window_view(plane, 11, axis=0) @ taps
    return sliding_window_view(plane, 11, axis=1) @ taps


def _ssim_and_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two (H, W) planes (Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = _gaussian_valid(x), _gaussian_valid(y)
    var_x = _gaussian_valid(x * x) - mu_x**2
    var_y = _gaussian_valid(y * y) - mu_y**2
    cov = _gaussian_valid(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return float(np.mean(luminance * cs)), float(np.mean(cs))


def reference_ms_ssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM written out from its definition (Wang et al. 2003), with the handling that
    mspviewer.metrics documents: as many scales as fit (smaller side > 10·2^(k−1) for k
    scales, at most 5), the first k standard weights renormalised, negative factors taken as
    0, the mean over R, G, B. 2×2 average pooling between scales; only even sides are used
    here, so no padding convention is involved."""
    side = min(original.shape[:2])
    scales = max(k for k in range(6) if k == 0 or side > 10 * 2 ** (k - 1))
    assert scales >= 1
    weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    values = []
    for channel in range(3):
        x = original[..., channel].astype(np.float64)
        y = decoded[..., channel].astype(np.float64)
        factors = []
        for scale in range(scales):
            ssim, cs = _ssim_and_cs(x, y)
            if scale == scales - 1:
                factors.append(max(ssim, 0.0))
            else:
                factors.append(max(cs, 0.0))
                assert x.shape[0] % 2 == 0 and x.shape[1] % 2 == 0
                x = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).mean(axis=(1, 3))
                y = y.reshape(y.shape[0] // 2, 2, y.shape[1] // 2, 2).mean(axis=(1, 3))
        values.append(float(np.prod(np.array(factors) ** weights)))
    return float(np.mean(values))


def test_reference_ms_ssim_is_pytorch_msssim_on_a_five_scale_image(one_thread):
    """The reference above agrees with the library where the library runs (side > 160)."""
    original = smooth_image(176, 192, seed=5)
    noise = np.random.default_rng(5).normal(0, 12, original.shape)
    decoded = np.clip(original + noise, 0, 255).astype(np.uint8)

    def tensor(image):
        return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]

    library = float(pytorch_msssim.ms_ssim(tensor(original), tensor(decoded), data_range=255))
    assert 0.5 < library < 0.99
    assert reference_ms_ssim(original, decoded) == pytest.approx(library, abs=1e-5)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model, one_thread):
    folder = tmp_path_factory.mktemp("eval")
    images = [smooth_image(48, 64, seed=s) for s in (1, 2)]
    (folder / "images").mkdir()
    for index, pixels in enumerate(images):
        save_png(pixels, folder / "images" / f"{index}.png")
    model_path = folder / "tiny.pt"
    save_weights(tiny_model, model_path, name="tiny")
    results = folder / "results.json"
    code = main(["eval", str(folder / "images"), "-o", str(results), "--lambdas", "0.004",
                 "0.02", "--classic", "webp", "--anchors", "vtm", "--model", str(model_path),
                 "--no-progress"])
    assert code == 0
    return folder, images, model_path, json.loads(results.read_text())


def test_eval_points_are_real_and_means_are_averages(evaluated):
    from mspviewer.codec import load_model

    folder, images, model_path, document = evaluated
    model = load_model(model_path)
    assert document["num_images"] == 2 and len(document["images"]) == 2
    for entry, pixels in zip(document["images"], images):
        for point in entry["points"]:
            encoded = encode_image(model, pixels, point["quality"])
            decoded = decode_bytes(model, encoded.bitstream)
            assert point["file_bytes"] == len(encoded.bitstream)
            assert point["bpp"] == pytest.approx(8 * len(encoded.bitstream) / pixels[..., 0].size)
            assert point["psnr_rgb"] == pytest.approx(
                peak_signal_noise_ratio(pixels, decoded.pixels, data_range=255), rel=1e-9)
            assert point["psnr_y"] == pytest.approx(reference_psnr_y(pixels, decoded.pixels),
                                                    rel=1e-9)
            # 48 x 64 fits three MS-SSIM scales only: the reference does as metrics documents
            assert point["ms_ssim"] == pytest.approx(
                reference_ms_ssim(pixels, decoded.pixels), abs=1e-5)
    for index, mean in enumerate(document["mean"]["points"]):
        column = [entry["points"][index] for entry in document["images"]]
        for key in ("bpp", "psnr_rgb", "psnr_y"):
            assert mean[key] == pytest.approx(np.mean([p[key] for p in column]))
    assert "webp" in document["classic_measured"]
    # synthetic images, not Kodak: the bundled (Kodak) anchor says whose curve it is
    assert set(document["bd_rate_vs"]) == {"webp (measured)", "vtm (published, Kodak)"}


def test_eval_marks_lambdas_past_the_trained_range(evaluated, tmp_path, capsys):
    from mspviewer.codec import load_model

    folder, _, model_path, document = evaluated
    assert document["lambdas_extrapolated"] == []
    high = load_model(model_path).config.lambda_range[1]
    above = 1.5 * high  # inside the 2x margin over the trained ladder
    results = tmp_path / "margin.json"
    code = main(["--json", "eval", str(folder / "images"), "-o", str(results), "--lambdas",
                 repr(high), repr(above), "--classic", "--anchors", "--limit", "1",
                 "--model", str(model_path), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(results.read_text())["lambdas_extrapolated"] == [above]
    assert json.loads(captured.out)["lambdas_extrapolated"] == [above]
    assert captured.err.count("extrapolated") == 1 and "above the trained range" in captured.err


def test_eval_without_an_increasing_mean_curve_gives_no_bd_rate_and_says_why(evaluated):
    """The untrained tiny model's PSNR does not rise with λ, so no BD-rate exists: eval must
    say so (the BD values themselves are checked on the shipped model below)."""
    _, _, _, document = evaluated
    psnr = [point["psnr_rgb"] for point in document["mean"]["points"]]
    assert not all(b > a for a, b in zip(psnr, psnr[1:]))
    for entry in document["bd_rate_vs"].values():
        assert entry["bd_rate_percent"] is None and entry["bd_quality"] is None
        assert "usable point" in entry["reason"]


def test_a_published_kodak_mean_is_like_for_like_on_kodak_s_24_images_only():
    """One Kodak image set against the 24 images' published mean read +281 % against VTM
    with no caveat, in eval's output and in a README section report writes from it."""
    from mspviewer.evaluation import KODAK_IMAGES, published_on_other_images

    assert published_on_other_images(sorted(KODAK_IMAGES)) is None
    assert published_on_other_images(["kodim05.png"]).endswith("; this is 1 of them")
    assert published_on_other_images(["kodim05.png", "x.png"]).endswith(
        "; these are 2 files, 1 of them among those")
    assert published_on_other_images(sorted(KODAK_IMAGES)[:23] + ["x.png"]).endswith(
        "; these are 24 files, 23 of them among those")
    assert published_on_other_images(["x.png"]).endswith("; this is 1 other file")


def test_the_eval_summary_lists_bd_rates_over_a_narrow_band(evaluated):
    from mspviewer import rd
    from mspviewer.cli.eval import summarise

    _, _, _, document = evaluated
    plain = summarise(document)
    assert plain["images"] == 2 and len(plain["mean"]) == 2
    # no BD-rate from the untrained model's curve: null for each (a number or null, never a
    # reason in its place), and why beside it
    assert plain["bd_rate_percent"] == dict.fromkeys(document["bd_rate_vs"])
    assert plain["bd_reasons"] == {k: v["reason"] for k, v in document["bd_rate_vs"].items()}
    # synthetic images against a published Kodak mean
    assert plain["bd_warnings"] == {"vtm (published, Kodak)": "the published curve is the "
                                    "mean over Kodak's 24 images (kodim01–24.png); these are "
                                    "2 other files"}

    def curve(name, points):
        return rd.RDCurve(name, name, [rd.RDPoint(bpp=b, psnr_rgb=q) for b, q in points])

    anchor = curve("a", [(0.1, 28.0), (0.2, 31.0), (0.4, 34.0), (0.8, 37.0)])
    narrow = rd.bd_curves(anchor, curve("b", [(0.5, 36.0), (0.7, 38.0), (0.9, 40.0)]))
    summary = summarise({**document, "bd_rate_vs": {"x (published)": narrow}})
    assert summary["bd_rate_percent"] == {"x (published)": narrow["bd_rate_percent"]}
    assert summary["bd_warnings"] == {"x (published)": narrow["warning"]}
    assert "25% of the narrower one's quality range" in narrow["warning"]


# --- the shipped model on Kodak crops: every number against an independent computation --------
#: (file, top, left) of 64 x 96 crops: sides even at every MS-SSIM scale (three fit).
KODAK_CROPS = [("kodim05.png", 100, 200), ("kodim23.png", 100, 200)]
CROP_HEIGHT, CROP_WIDTH = 64, 96
SHIPPED_LAMBDAS = [0.0018, 0.0067, 0.0483]


@pytest.fixture(scope="module")
def evaluated_shipped(tmp_path_factory, one_thread):
    folder = tmp_path_factory.mktemp("eval-kodak")
    (folder / "images").mkdir()
    images = []
    for index, (name, top, left) in enumerate(KODAK_CROPS):
        pixels = load_image(KODAK / name).pixels[top:top + CROP_HEIGHT, left:left + CROP_WIDTH]
        images.append(np.ascontiguousarray(pixels))
        save_png(images[-1], folder / "images" / f"{index}.png")
    results = folder / "results.json"
    code = main(["eval", str(folder / "images"), "-o", str(results), "--lambdas",
                 *map(str, SHIPPED_LAMBDAS), "--classic", "webp", "--anchors", "vtm",
                 "--model", str(default_model_path()), "--no-progress", "--dataset", "Kodak"])
    assert code == 0
    return images, json.loads(results.read_text())


def independent_point(original: np.ndarray, decoded: np.ndarray, num_bytes: int) -> dict:
    return {"bytes": num_bytes, "bpp": 8 * num_bytes / (original.shape[0] * original.shape[1]),
            "psnr_rgb": peak_signal_noise_ratio(original, decoded, data_range=255),
            "psnr_y": reference_psnr_y(original, decoded),
            "ms_ssim": reference_ms_ssim(original, decoded)}


def mean_points(per_image: list[list[dict]]) -> list[dict]:
    return [{key: float(np.mean([points[index][key] for points in per_image]))
             for key in per_image[0][index]} for index in range(len(per_image[0]))]


@pytest.fixture(scope="module")
def independent(evaluated_shipped, shipped_model, one_thread):
    """The learned and WebP curves measured again here, without mspviewer's metrics: the
    learned codec at the same λ (profile fast) and WebP through Pillow directly."""
    images, document = evaluated_shipped
    assert document["model"]["id"] == shipped_model.model_id().hex()
    webp = document["classic_measured"]["webp"]
    assert webp["settings"]["method"] == 6 and webp["settings"]["lossless"] is False
    qualities = [point["quality"] for point in webp["points"]]
    learned, classic = [], []
    for pixels in images:
        points = []
        for lam in SHIPPED_LAMBDAS:
            bitstream = encode_image(shipped_model, pixels, lam, "fast").bitstream
            decoded = decode_bytes(shipped_model, bitstream).pixels
            points.append(independent_point(pixels, decoded, len(bitstream)))
        learned.append(points)
        points = []
        for quality in qualities:
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="WEBP", quality=quality, method=6,
                                         lossless=False)
            with Image.open(io.BytesIO(buffer.getvalue())) as image:
                decoded = np.asarray(image.convert("RGB"))
            points.append(independent_point(pixels, decoded, len(buffer.getvalue())))
        classic.append(points)
    return {"learned": learned, "learned_mean": mean_points(learned),
            "webp_mean": mean_points(classic), "qualities": qualities}


def assert_point_matches(point: dict, expected: dict) -> None:
    assert point["bpp"] == pytest.approx(expected["bpp"], rel=1e-12)
    for key in ("psnr_rgb", "psnr_y"):
        assert point[key] == pytest.approx(expected[key], rel=1e-9), key
    assert point["ms_ssim"] == pytest.approx(expected["ms_ssim"], abs=1e-5)


def test_eval_points_and_mean_match_an_independent_measurement(evaluated_shipped, independent):
    _, document = evaluated_shipped
    for entry, expected_points in zip(document["images"], independent["learned"], strict=True):
        assert [p["quality"] for p in entry["points"]] == SHIPPED_LAMBDAS
        for point, expected in zip(entry["points"], expected_points, strict=True):
            assert point["file_bytes"] == expected["bytes"]
            assert_point_matches(point, expected)
            assert math.isfinite(point["ms_ssim_db"]) and 0.5 < point["ms_ssim"] < 1
    for point, expected in zip(document["mean"]["points"], independent["learned_mean"],
                               strict=True):
        assert_point_matches(point, expected)
    webp = document["classic_measured"]["webp"]["points"]
    assert len(webp) >= 5
    for point, expected in zip(webp, independent["webp_mean"], strict=True):
        assert_point_matches(point, expected)


def published_vtm() -> tuple[list[float], list[float]]:
    """VTM's published Kodak curve, read from the project's copy without mspviewer.rd."""
    from mspviewer.bundled import resources_dir

    raw = json.loads((resources_dir() / "anchors" / "kodak" / "vtm.json").read_text())
    return raw["results"]["bpp"], raw["results"]["psnr-rgb"]


def test_eval_bd_rates_match_the_bjontegaard_package(evaluated_shipped, independent):
    """BD-rate and BD-PSNR of the mean curve against VTM (published) and WebP (measured),
    recomputed with the ``bjontegaard`` package: PCHIP over the overlap of the two curves,
    as mspviewer.rd claims (the JVET CTC way)."""
    _, document = evaluated_shipped
    test_rates = [p["bpp"] for p in independent["learned_mean"]]
    test_psnr = [p["psnr_rgb"] for p in independent["learned_mean"]]
    anchors = {"vtm (published)": published_vtm(),
               "webp (measured)": ([p["bpp"] for p in independent["webp_mean"]],
                                   [p["psnr_rgb"] for p in independent["webp_mean"]])}
    assert set(document["bd_rate_vs"]) == set(anchors)
    for label, (rates, psnr) in anchors.items():
        for curve in (rates, psnr, test_rates, test_psnr):  # no point for rd.rd_front to drop
            assert all(b > a for a, b in zip(curve, curve[1:])), (label, curve)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the package warns on a partial overlap
            expected_rate = bjontegaard.bd_rate(rates, psnr, test_rates, test_psnr,
                                                method="pchip", require_matching_points=False,
                                                min_overlap=0)
            expected_psnr = bjontegaard.bd_psnr(rates, psnr, test_rates, test_psnr,
                                                method="pchip", require_matching_points=False,
                                                min_overlap=0)
        entry = document["bd_rate_vs"][label]
        assert entry["metric"] == "psnr_rgb" and entry["reason"] is None, entry
        assert math.isfinite(expected_rate) and abs(expected_rate) > 1, label  # a real value
        assert abs(entry["bd_rate_percent"] - expected_rate) < 0.1, (label, expected_rate)
        assert abs(entry["bd_quality"] - expected_psnr) < 0.01, (label, expected_psnr)


def test_report_table_and_plot_match_results(evaluated, tmp_path):
    folder, _, _, document = evaluated
    results = tmp_path / "results.json"
    results.write_text(json.dumps(document))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- kodak-results:begin (written by `mspviewer report`) -->\nold\n"
                      "<!-- kodak-results:end -->\noutro\n")
    plot = tmp_path / "rd.png"
    card = tmp_path / "card.md"
    from mspviewer.train.export import model_card_markdown
    card.write_text(model_card_markdown({
        "name": "t", "architecture": "a", "parameters": {"total": 1}, "training_data": "d",
        "training_steps": 1, "skipped_steps": 0, "batch_size": 1, "crop_schedule": [[0, 64]],
        "learning_rate": 1e-4, "precision": "bf16", "device": "cpu", "wall_seconds": 1,
        "lambdas": [0.01], "exported": "now"}))
    assert main(["report", str(results), "--plot", str(plot), "--readme", str(readme),
                 "--card", str(card)]) == 0
    assert f"| {document['mean']['points'][0]['bpp']:.3f} |" in card.read_text()
    assert "Not measured yet" not in card.read_text()
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro") and text.rstrip().endswith("outro")
    for point in document["mean"]["points"]:
        assert f"| {point['quality']:g} | {point['bpp']:.3f} | {point['psnr_rgb']:.2f} |" in text
    # named after the images' folder, not "Kodak" whatever the images
    assert document["dataset"] == "Images"
    assert "Images, 2 images, model `tiny`" in text and "![Images RD curves](rd.png)" in text
    from PIL import Image
    with Image.open(plot) as image:
        assert image.size[0] > 400 and image.size[1] > 300


def test_report_names_the_dataset_and_counts_images_in_words(evaluated):
    from mspviewer.cli.report import results_table

    _, _, _, document = evaluated
    one = {**document, "num_images": 1, "dataset": "Holiday photos"}
    assert results_table(one).startswith("Holiday photos, 1 image, model")
    legacy = {key: value for key, value in document.items() if key != "dataset"}
    assert results_table(legacy).startswith("Kodak, 2 images, model")  # all were Kodak runs


# --- refusals before any work ------------------------------------------------------------------
MARKED_README = ("intro\n<!-- kodak-results:begin (written by `mspviewer report`) -->\nold\n"
                 "<!-- kodak-results:end -->\noutro\n")


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(tiny_model, path, name="tiny")
    return path


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, seed in (("a.png", 1), ("b.png", 2)):
        save_png(smooth_image(32, 48, seed=seed), folder / name)
    return folder


def refuse_encoding(monkeypatch):
    """Make any encode of the learned codec a bug (exit 3): the checks must come first."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("encoded before every input was checked")

    monkeypatch.setattr("mspviewer.evaluation.learned_curve", refuse)


def run_eval(capsys, folder, output, weights, *options):
    code = main(["eval", str(folder), "-o", str(output), "--model", str(weights),
                 "--no-progress", *map(str, options)])
    return code, capsys.readouterr().err


def test_eval_names_every_unreadable_image_before_encoding(image_folder, weights, tmp_path,
                                                           monkeypatch, capsys):
    good = (image_folder / "a.png").read_bytes()
    (image_folder / "z.png").write_bytes(good[:len(good) // 2])  # truncated
    (image_folder / "m.png").write_bytes(b"")
    # readable, but 1 × (4 Mi + 1) pads to 16 × (4 Mi + 16): more than the format codes
    from mspviewer.codec.bitstream import MAX_CODED_PIXELS
    strip = np.zeros((1, MAX_CODED_PIXELS // 16 + 1, 3), np.uint8)
    Image.fromarray(strip).save(image_folder / "s.png")
    refuse_encoding(monkeypatch)
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--lambdas", "0.0067",
                         "--classic", "--anchors")
    assert code == 2, err
    assert "3 of 5 images cannot be read or coded" in err
    assert "z.png" in err and "m.png" in err and "s.png" in err and "padded to" in err
    assert len(err.strip().splitlines()) == 1
    assert not output.exists()


@pytest.mark.parametrize("options, message", [
    (["--anchors", "vtm", "nosuch"], "unknown anchor 'nosuch'"),
    (["--anchors", "no-such-file.json"], "cannot read anchor file"),
    (["--classic", "webp", "jpeg-9000"], "unknown codec 'jpeg-9000'"),
    (["--profile", "nosuch"], "unknown profile 'nosuch'"),
    (["--lambdas", "0.0067", "50"], "λ=50 is outside"),
])
def test_eval_refuses_bad_options_before_encoding(image_folder, weights, tmp_path, monkeypatch,
                                                  capsys, options, message):
    refuse_encoding(monkeypatch)
    output = tmp_path / "ev.json"
    arguments = ["--lambdas", "0.0067", "--classic", "--anchors", *options]
    code, err = run_eval(capsys, image_folder, output, weights, *arguments)
    assert code == 2 and message in err, err
    assert not output.exists()


@pytest.mark.parametrize("limit", ["-1", "0", "two"])
def test_eval_limit_must_be_a_positive_integer(image_folder, weights, tmp_path, monkeypatch,
                                               capsys, limit):
    refuse_encoding(monkeypatch)
    with pytest.raises(SystemExit) as stop:
        run_eval(capsys, image_folder, tmp_path / "ev.json", weights, "--limit", limit,
                 "--lambdas", "0.0067", "--classic", "--anchors")
    assert stop.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_eval_limit_checks_only_the_images_it_evaluates(image_folder, weights, tmp_path, capsys):
    (image_folder / "z.png").write_bytes(b"not a png")
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--limit", "1",
                         "--lambdas", "0.0067", "--classic", "--anchors")
    assert code == 0, err
    document = json.loads(output.read_text())
    assert document["num_images"] == 1 and [i["image"] for i in document["images"]] == ["a.png"]


def test_eval_takes_every_image_format_the_tool_reads(image_folder, weights, tmp_path, capsys):
    """eval took its suffixes from the training reader's short list: a PNM, GIF or AVIF in
    the folder was left out without a word (a folder of AVIFs alone was "no images"), while
    encode and compare read them."""
    pixels = smooth_image(32, 48, seed=3)
    Image.fromarray(pixels).save(image_folder / "c.pnm", format="PPM")
    Image.fromarray(pixels).save(image_folder / "d.gif")
    Image.fromarray(pixels).save(image_folder / "e.tga")
    (image_folder / "notes.txt").write_text("not an image")
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--lambdas", "0.0067",
                         "--classic", "--anchors")
    assert code == 0, err
    document = json.loads(output.read_text())
    assert [i["image"] for i in document["images"]] == ["a.png", "b.png", "c.pnm", "d.gif",
                                                         "e.tga"]


def test_eval_says_how_many_ms_ssim_scales_its_images_had_room_for(image_folder, weights,
                                                                   tmp_path, capsys):
    """MS-SSIM takes fewer scales on a small image (metrics.ms_ssim): a mean over a 32×48
    and a 200×180 image mixed a 2-scale and a 5-scale measure without a word."""
    save_png(smooth_image(200, 180, seed=5), image_folder / "c.png")
    output = tmp_path / "ev.json"
    code = main(["--json", "eval", str(image_folder), "-o", str(output), "--model",
                 str(weights), "--no-progress", "--lambdas", "0.0067", "--classic",
                 "--anchors"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(output.read_text())
    from mspviewer.metrics import ms_ssim_num_scales

    expected = [ms_ssim_num_scales(32, 48), ms_ssim_num_scales(32, 48), 5]
    assert [i["ms_ssim_scales"] for i in document["images"]] == expected
    assert document["ms_ssim_scales"] == sorted(set(expected)) == [2, 5]
    assert json.loads(captured.out)["ms_ssim_note"] == (
        "MS-SSIM over 2 and 5 scales (of 5: an image under 161 pixels a side has room for "
        "fewer); the mean mixes them")


def test_eval_leaves_out_a_classic_codec_that_fails_on_one_image(image_folder, weights,
                                                                  tmp_path, monkeypatch, capsys):
    import sys

    from mspviewer import rd
    from mspviewer.baselines.base import UnsupportedImageError

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # HEIC "not installed"
    real_sweep, calls = rd.sweep, []

    def sweep_failing_on_the_second_image(codec, pixels, *args, **kwargs):
        calls.append(codec.name)
        if len(calls) == 2:
            raise UnsupportedImageError("not this one")
        return real_sweep(codec, pixels, *args, **kwargs)

    monkeypatch.setattr(rd, "sweep", sweep_failing_on_the_second_image)
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--lambdas", "0.0067",
                         "--classic", "jpeg-420", "heic", "--anchors", "vtm")
    assert code == 0, err
    document = json.loads(output.read_text())
    assert document["num_images"] == 2 and len(document["images"]) == 2
    assert document["classic_measured"] == {}
    assert document["classic_skipped"]["jpeg-420"] == "failed on b.png: not this one"
    assert "pillow-heif" in document["classic_skipped"]["heic"]
    assert set(document["bd_rate_vs"]) == {"vtm (published, Kodak)"}  # images named "Images"
    assert "left out jpeg-420" in err and "left out heic" in err


def small_document() -> dict:
    from mspviewer import rd

    mean = rd.RDCurve("msp", "MSP (fast)", [
        rd.RDPoint(bpp=0.25, psnr_rgb=28.0, psnr_y=29.0, ms_ssim=0.95, quality=0.004,
                   encode_s=0.1, decode_s=0.1),
        rd.RDPoint(bpp=0.75, psnr_rgb=33.0, psnr_y=34.0, ms_ssim=0.98, quality=0.02,
                   encode_s=0.1, decode_s=0.1)])
    return {"format": "mspviewer-eval", "version": 1,
            "model": {"name": "tiny", "id": "ab", "card": {}}, "profile": "fast",
            "lambdas": [0.004, 0.02], "num_images": 1, "mean": mean.to_dict(),
            "classic_measured": {}, "images": [],
            "bd_rate_vs": {"vtm (published)": {"metric": "psnr_rgb", "bd_rate_percent": 12.5,
                                               "bd_quality": -0.5, "reason": None}}}


@pytest.fixture
def results_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(small_document()))
    return path


def test_report_links_a_plot_outside_the_markdown_folders(results_file, tmp_path):
    for folder in ("docs", "plots", "tables"):
        (tmp_path / folder).mkdir()
    readme = tmp_path / "docs" / "README.md"
    readme.write_text(MARKED_README)
    plot = tmp_path / "plots" / "rd plot.png"
    table = tmp_path / "tables" / "kodak.md"
    assert main(["report", str(results_file), "--plot", str(plot), "--readme", str(readme),
                 "--markdown", str(table)]) == 0
    assert "![Kodak RD curves](../plots/rd%20plot.png)" in readme.read_text()
    assert "![Kodak RD curves](../plots/rd%20plot.png)" in table.read_text()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("case", ["no markers", "no readme", "unknown plot format",
                                  "markdown is the results", "card is the readme"])
def test_report_checks_every_output_before_writing_any(results_file, tmp_path, capsys, case):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n" if case == "no markers" else MARKED_README)
    plot = tmp_path / ("rd.xyz" if case == "unknown plot format" else "rd.png")
    markdown = results_file if case == "markdown is the results" else tmp_path / "table.md"
    arguments = ["report", str(results_file), "--plot", str(plot), "--markdown", str(markdown),
                 "--readme", str(tmp_path / "missing.md" if case == "no readme" else readme)]
    if case == "card is the readme":
        arguments += ["--card", str(readme)]
    before = readme.read_text(), results_file.read_text()
    code = main(arguments)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert not plot.exists() and not (tmp_path / "table.md").exists()
    assert (readme.read_text(), results_file.read_text()) == before


def broken(change) -> str:
    document = small_document()
    change(document)
    return json.dumps(document)


@pytest.mark.parametrize("content, message", [
    ("[]", "is not an `mspviewer eval` result"),
    ('{"format": "mspviewer-eval"}', "no 'model', 'profile', 'num_images', 'mean', "
                                     "'bd_rate_vs'"),
    ('{"format": "mspviewer-rd", "curves": []}', "is not an `mspviewer eval` result"),
    (broken(lambda d: d.update(model=["tiny"])), "'model' is not a JSON dict"),
    (broken(lambda d: d["mean"]["points"][0].pop("bpp")), "no 'bpp'"),
    (broken(lambda d: d["mean"]["points"][0].update(psnr_rgb="high")), "not a valid"),
    (broken(lambda d: d["bd_rate_vs"].update({"vtm": {"bd_rate_percent": None}})),
     "no 'reason'"),
    (broken(lambda d: d.update(classic_measured={"webp": 3})), "not a valid"),
])
def test_report_refuses_what_is_not_an_eval_result(tmp_path, capsys, content, message):
    results = tmp_path / "results.json"
    results.write_text(content)
    code = main(["report", str(results), "--markdown", str(tmp_path / "table.md")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "table.md").exists()


def test_eval_anchors_none_lambdas_once_and_a_missing_folder(image_folder, weights, tmp_path,
                                                             capsys):
    """``--anchors none`` means no anchors, as the help says; a λ given twice is evaluated
    once (it would weigh twice in the mean curve and the BD-rates); a folder that is not
    there is named as such."""
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--limit", "1", "--lambdas",
                         "0.0067", "0.0067", "0.02", "--classic", "--anchors", "none")
    assert code == 0, err
    assert "λ given more than once: each is evaluated once (0.0067, 0.02)" in err
    document = json.loads(output.read_text())
    assert [round(p["quality"], 6) for p in document["mean"]["points"]] == [0.0067, 0.02]
    assert document["bd_rate_vs"] == {}
    code, err = run_eval(capsys, tmp_path / "nowhere", output, weights)
    assert code == 2 and "no such folder: " in err


def test_report_plot_widens_its_rate_axis_to_every_msp_point(evaluated, tmp_path,
                                                               monkeypatch):
    """Kodak's 0–1.6 bpp, unless the MSP points need more (a small noisy image did)."""
    import matplotlib.axes

    from mspviewer.cli.report import plot

    limits = []
    real = matplotlib.axes.Axes.set_xlim
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xlim",
                        lambda axis, *a, **k: (limits.append(a) if a[:1] == (0,) else None,
                                               real(axis, *a, **k))[1])
    _, _, _, document = evaluated
    document = json.loads(json.dumps(document))
    top = max(p["bpp"] for p in document["mean"]["points"])
    plot(document, str(tmp_path / "a.png"))
    assert limits[-1] == (0, max(1.6, 1.05 * top))
    for point in document["mean"]["points"]:
        point["bpp"] *= 10
    plot(document, str(tmp_path / "b.png"))
    assert limits[-1][1] == pytest.approx(1.05 * 10 * top) and limits[-1][1] > 1.6


def test_eval_sets_the_model_against_an_earlier_evaluation(image_folder, weights, tmp_path,
                                                           capsys):
    """An eval result is an anchor too (checkpoint against checkpoint): against its own
    curve with every rate 10 % higher, the BD-rate is 1/1.1 − 1 = −9.09 %, as pchip over
    identical quality values gives for a constant rate ratio."""
    first = tmp_path / "first.json"
    code, err = run_eval(capsys, image_folder, first, weights, "--limit", "1", "--lambdas",
                         "0.002", "0.008", "0.03", "--classic", "--anchors", "none")
    assert code == 0, err
    document = json.loads(first.read_text())
    for point in document["mean"]["points"]:
        point["bpp"] *= 1.1
    document["dataset"] = "Elsewhere"
    costlier = tmp_path / "costlier.json"
    costlier.write_text(json.dumps(document))
    second = tmp_path / "second.json"
    code, err = run_eval(capsys, image_folder, second, weights, "--limit", "1", "--lambdas",
                         "0.002", "0.008", "0.03", "--classic", "--anchors", costlier)
    assert code == 0, err
    (label, bd), = json.loads(second.read_text())["bd_rate_vs"].items()
    assert label == f"{costlier} (MSP fast, model tiny, Elsewhere)"
    assert bd["bd_rate_percent"] == pytest.approx(100 * (1 / 1.1 - 1), abs=1e-6)
    assert bd.get("warning") is None  # the same image
    third = tmp_path / "third.json"  # against it, the first two images: one more than it had
    code, err = run_eval(capsys, image_folder, third, weights, "--lambdas", "0.002", "0.008",
                         "0.03", "--classic", "--anchors", costlier)
    assert code == 0, err
    (_, bd), = json.loads(third.read_text())["bd_rate_vs"].items()
    assert "the earlier evaluation is of other images: 1 of its 1 are among these 2" \
        in bd["warning"]
    (tmp_path / "not-a-curve.json").write_text('{"format": "other"}')
    code, err = run_eval(capsys, image_folder, second, weights, "--anchors",
                         tmp_path / "not-a-curve.json")
    assert code == 2 and "no 'results' (an anchor is an RD curve" in err


def test_report_writes_n_a_where_eval_wrote_no_figure(results_file, tmp_path):
    """eval writes null for a figure that is not finite (an exact decode's PSNR, the MS-SSIM
    of images too small for one scale), as RDPoint.to_dict does: "n/a" in the table, a gap
    in the plot, not a crash; a NaN a hand wrote reads "n/a" too, never "nan"."""
    from mspviewer import rd

    document = small_document()
    lossless = rd.RDPoint(bpp=0.75, psnr_rgb=math.inf, psnr_y=math.inf, ms_ssim=None,
                          quality=0.02, encode_s=0.1, decode_s=0.1).to_dict()
    assert lossless["psnr_rgb"] is None and lossless["ms_ssim"] is None
    document["mean"]["points"][1] = lossless
    document["mean"]["points"][0]["ms_ssim"] = float("nan")
    results_file.write_text(json.dumps(document))
    table, plot = tmp_path / "table.md", tmp_path / "rd.png"
    assert main(["report", str(results_file), "--markdown", str(table), "--plot", str(plot)]) == 0
    text = table.read_text()
    assert "nan" not in text and "| 28.00 | 29.00 | n/a |" in text
    assert "| 0.02 | 0.750 | n/a | n/a | n/a |" in text and plot.stat().st_size > 0
