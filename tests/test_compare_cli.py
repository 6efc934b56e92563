"""``mspviewer compare`` end to end on a small image, through the real command entry point."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest
from conftest import smooth_image
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from mspviewer import rd
from mspviewer.baselines import get_codec
from mspviewer.cli import main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import bjontegaard

HEIGHT, WIDTH = 64, 96
JPEG_QUALITIES = [15, 40, 70, 90]
WEBP_QUALITIES = [10, 40, 70, 90]


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "small.png"
    Image.fromarray(smooth_image(HEIGHT, WIDTH, seed=21)).save(path)
    return path


def run_compare(capsys, *arguments):
    code = main(["--json", "compare", *map(str, arguments)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_two_codecs(image_file, tmp_path, capsys):
    output, plot = tmp_path / "rd.json", tmp_path / "rd.png"
    code, out, err = run_compare(
        capsys, image_file, "--codecs", "jpeg-420,webp", "--anchor", "jpeg-420",
        "-o", output, "--plot", plot, "--no-ms-ssim",
        "--quality", "jpeg-420=" + ",".join(map(str, JPEG_QUALITIES)),
        "--quality", "webp=" + ",".join(map(str, WEBP_QUALITIES)),
    )
    assert code == 0, err
    assert "%|" in err  # the tqdm progress bar went to stderr
    summary = json.loads(out)
    document = json.loads(output.read_text())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert document["anchor"] == "jpeg-420" and document["skipped"] == {}
    assert document["image"]["width"] == WIDTH and document["image"]["height"] == HEIGHT
    curves = {curve["name"]: curve for curve in document["curves"]}
    assert set(curves) == {"jpeg-420", "webp"}

    pixels = np.asarray(Image.open(image_file).convert("RGB"))
    for name, qualities in (("jpeg-420", JPEG_QUALITIES), ("webp", WEBP_QUALITIES)):
        codec = get_codec(name)
        points = curves[name]["points"]
        assert sorted(p["quality"] for p in points) == qualities
        assert curves[name]["library_version"] == codec.library_version()
        for point in points:
            data = codec.encode(pixels, point["quality"])  # both encoders are deterministic
            assert point["file_bytes"] == len(data)
            assert point["bpp"] == pytest.approx(8 * len(data) / (HEIGHT * WIDTH))
            decoded = codec.decode(data)
            assert point["psnr_rgb"] == pytest.approx(
                peak_signal_noise_ratio(pixels, decoded, data_range=255), abs=1e-9)
            assert point["ms_ssim"] is None
            assert point["encode_s"] > 0 and point["decode_s"] > 0

    anchor, test = (rd.RDCurve.from_dict(curves[n]) for n in ("jpeg-420", "webp"))
    entry = document["bd"]["psnr_rgb"]["webp"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = bjontegaard.bd_rate(anchor.rates(), anchor.values("psnr_rgb"), test.rates(),
                                        test.values("psnr_rgb"), method="pchip",
                                        require_matching_points=False, min_overlap=0)
    assert entry["bd_rate_percent"] == pytest.approx(reference, abs=0.1)
    assert summary["bd_rate_percent"]["webp"] == entry["bd_rate_percent"]
    assert document["bd"]["ms_ssim_db"]["webp"]["bd_rate_percent"] is None  # skipped metric
    assert "BD vs jpeg-420" in err and "webp" in err


def test_missing_learned_model_and_library_are_skipped(image_file, tmp_path, capsys,
                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # HEIC's library "not installed"
    # the default model missing (an explicit --model that is missing is an error)
    monkeypatch.setenv("MSPVIEWER_MODEL", str(tmp_path / "no-such-model.pt"))
    output = tmp_path / "rd.json"
    code, out, err = run_compare(
        capsys, image_file, "--codecs", "learned", "heic", "jpeg-444", "--anchor", "jpeg-444",
        "-o", output, "--no-progress", "--no-ms-ssim", "--quality", "jpeg-444=20,60",
    )
    assert code == 0, err
    skipped = json.loads(output.read_text())["skipped"]
    assert "not found" in skipped["learned"]
    assert "pillow-heif" in skipped["heic"]
    assert "skipping learned" in err and "skipping heic" in err
    assert json.loads(out)["points"] == {"jpeg-444": 2}


def test_learned_codec_runs_when_a_model_is_given(image_file, tmp_path, capsys):
    from conftest import loud_tiny_model
    from mspviewer.codec import decode_bytes, encode_image, load_model, save_weights

    # The loud tiny model: a plain random one codes every latent as 0, whatever the image.
    weights = tmp_path / "tiny.pt"
    save_weights(loud_tiny_model(seed=3), weights, "tiny-random")
    output = tmp_path / "rd.json"
    code, out, err = run_compare(
        capsys, image_file, "--codecs", "learned", "--anchor", "jpeg-420", "--model", weights,
        "--lambdas", "0.004,0.03", "-o", output, "--no-progress", "--no-ms-ssim",
        "--quality", "jpeg-420=30,80",
    )
    assert code == 0, err
    curves = {c["name"]: c for c in json.loads(output.read_text())["curves"]}
    learned = curves["learned"]
    assert [p["quality"] for p in learned["points"]] == [0.004, 0.03]
    assert learned["settings"]["profile"] == "fast"
    assert learned["settings"]["lambdas_extrapolated"] == [] and "extrapolated" not in err
    # Every point again, independently: the same weights file, λ and profile give the same
    # bitstream; its decode gives the PSNR (scikit-image) and the BT.601 luma PSNR.
    model = load_model(weights)
    pixels = np.asarray(Image.open(image_file).convert("RGB"))
    luma = np.array([0.299, 0.587, 0.114])
    for point in learned["points"]:
        bitstream = encode_image(model, pixels, point["quality"], "fast").bitstream
        decoded = decode_bytes(model, bitstream).pixels
        assert point["file_bytes"] == len(bitstream) > 0
        assert point["bpp"] == pytest.approx(8 * len(bitstream) / (HEIGHT * WIDTH), rel=1e-12)
        assert point["psnr_rgb"] == pytest.approx(
            peak_signal_noise_ratio(pixels, decoded, data_range=255), rel=1e-9)
        assert point["psnr_y"] == pytest.approx(peak_signal_noise_ratio(
            pixels.astype(np.float64) @ luma, decoded.astype(np.float64) @ luma,
            data_range=255), rel=1e-9)
    first, second = learned["points"][:2]
    assert first["file_bytes"] != second["file_bytes"]  # two real encodes
    assert "jpeg-420" in curves  # the anchor is always run


def test_learned_lambdas_past_the_trained_range_are_marked(image_file, tmp_path, capsys):
    from conftest import loud_tiny_model
    from mspviewer.codec import save_weights

    model = loud_tiny_model(seed=3)
    weights = tmp_path / "tiny.pt"
    save_weights(model, weights, "tiny-random")
    low, high = model.config.lambda_range
    below = 0.6 * low  # inside the 2x margin under the trained ladder
    output = tmp_path / "rd.json"
    code, _, err = run_compare(
        capsys, image_file, "--codecs", "learned", "--anchor", "jpeg-420", "--model", weights,
        "--lambdas", f"{below!r},{high!r}", "-o", output, "--no-progress", "--no-ms-ssim",
        "--quality", "jpeg-420=30,80")
    assert code == 0, err
    curves = {c["name"]: c for c in json.loads(output.read_text())["curves"]}
    assert curves["learned"]["settings"]["lambdas_extrapolated"] == [below]
    assert err.count("extrapolated") == 1 and f"λ = {below:.5g} is below" in err


def test_user_errors_exit_with_status_2(image_file, tmp_path, capsys):
    code, _, err = run_compare(capsys, image_file, "--codecs", "jpeg-9000", "-o",
                               tmp_path / "rd.json")
    assert code == 2 and "unknown codec" in err
    code, _, err = run_compare(capsys, tmp_path / "missing.png", "--codecs", "jpeg-420",
                               "--anchor", "jpeg-420", "-o", tmp_path / "rd.json")
    assert code == 2
    assert not (tmp_path / "rd.json").exists()
    code, _, err = run_compare(capsys, image_file, "--codecs", "jpeg-420", "--anchor",
                               "jpeg-420", "-o", tmp_path / "no-such-folder" / "rd.json")
    assert code == 2 and "does not exist" in err


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from mspviewer.codec import build_random_model, save_weights, tiny_config

    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(build_random_model(tiny_config(), seed=3), path, "tiny-random")
    return path


@pytest.mark.parametrize("value", ["-5", "0", "many"])
def test_max_pixels_must_be_a_positive_integer(image_file, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as stop:
        run_compare(capsys, image_file, "--codecs", "jpeg-420", "--anchor", "jpeg-420",
                    "-o", tmp_path / "rd.json", "--max-pixels", value)
    assert stop.value.code == 2
    assert "--max-pixels" in capsys.readouterr().err


def test_max_pixels_is_applied(image_file, tmp_path, capsys):
    code, _, err = run_compare(capsys, image_file, "--codecs", "jpeg-420", "--anchor",
                               "jpeg-420", "-o", tmp_path / "rd.json", "--max-pixels", "100")
    assert code == 2 and "more than the limit of 100 pixels" in err, err
    assert not (tmp_path / "rd.json").exists()


def test_nothing_measured_is_an_error_not_an_empty_result(image_file, tmp_path, capsys,
                                                          monkeypatch, tiny_weights):
    output = tmp_path / "rd.json"
    code, _, err = run_compare(capsys, image_file, "--codecs", "learned", "--anchor", "learned",
                               "--model", tiny_weights, "--lambdas", "5", "-o", output,
                               "--no-progress")
    assert code == 2 and "--lambdas: λ=5 is outside" in err, err  # refused before any work
    assert not output.exists()
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # HEIC's library "not installed"
    monkeypatch.setenv("MSPVIEWER_MODEL", str(tmp_path / "no-such-model.pt"))
    code, _, err = run_compare(capsys, image_file, "--codecs", "learned", "heic", "--anchor",
                               "heic", "-o", output, "--no-progress")
    assert code == 2 and "learned: " in err and "heic: " in err and "pillow-heif" in err, err
    assert not output.exists()


@pytest.mark.parametrize("options, message", [
    (["--quality", "jpeg-444=500,900"], "outside [1, 100]"),
    (["--quality", "jpeg-444=50.5"], "must be an integer"),
    (["--quality", "jpeg-444=,"], "no values"),
    (["--quality", "webp=50"], "webp is not among the codecs run"),
    # (refused by the option's parser: argparse's exit, status 2)
    (["--codecs", "learned", "jpeg-444", "--lambdas", "nan"], "finite number above 0"),
    (["--codecs", "learned", "jpeg-444", "--lambdas", "-0.01"], "finite number above 0"),
    (["--codecs", "learned", "jpeg-444", "--lambdas", ","], "at least one value"),
    (["--codecs", "learned", "jpeg-444", "--profile", "nosuch"], "unknown profile"),
    (["--plot", "rd.xyz"], "cannot write a plot as 'rd.xyz'"),
    # (matplotlib offers .pgf, and failed with an internal error after all the work: it
    # needs LaTeX, which this test hides)
    (["--plot", "rd.pgf"], "a .pgf plot needs LaTeX (xelatex), which is not installed"),
    (["--metric", "ms_ssim_db"], "--metric ms_ssim_db needs MS-SSIM, which --no-ms-ssim"),
])
def test_bad_options_are_refused_before_any_work(image_file, tmp_path, capsys, monkeypatch,
                                                 options, message):
    import shutil

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    output = tmp_path / "rd.json"
    arguments = ["--codecs", "jpeg-444", "--anchor", "jpeg-444", "-o", output, "--no-progress",
                 "--no-ms-ssim", "--model", tmp_path / "no-such-model.pt", *options]
    try:
        code, _, err = run_compare(capsys, image_file, *arguments)
    except SystemExit as exit_:
        code, err = exit_.code, capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not output.exists() and sorted(tmp_path.iterdir()) == []


def test_the_bd_table_states_both_a_missing_bd_psnr_and_a_narrow_overlap():
    from mspviewer import rd
    from mspviewer.cli.compare import format_bd_table

    def curve(name, points):
        return rd.RDCurve(name, name, [rd.RDPoint(bpp=b, psnr_rgb=q) for b, q in points])

    curves = {"anchor": curve("anchor", [(0.1, 28.0), (0.2, 31.0), (0.4, 34.0), (0.8, 37.0)]),
              "far": curve("far", [(2.0, 36.5), (4.0, 40.0)])}
    bd = {"psnr_rgb": {"far": rd.bd_curves(curves["anchor"], curves["far"])}}
    [line] = [line for line in format_bd_table(curves, bd, "anchor", "psnr_rgb", {})
              .splitlines() if line.strip().startswith("far")]
    assert "+" in line and "n/a" in line  # a BD-rate, no BD-PSNR
    assert line.endswith("(no BD-quality: the curves do not overlap in rate; the curves "
                         "overlap only from 36.50 to 37.00 dB, 14% of the narrower one's "
                         "quality range: the BD-rate holds for that band only)")

