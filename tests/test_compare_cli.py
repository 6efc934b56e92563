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
            assert point["bytes"] == len(data)
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
    output = tmp_path / "rd.json"
    code, out, err = run_compare(
        capsys, image_file, "--codecs", "learned", "heic", "jpeg-444", "--anchor", "jpeg-444",
        "--model", tmp_path / "no-such-model.pt", "-o", output, "--no-progress",
        "--no-ms-ssim", "--quality", "jpeg-444=20,60",
    )
    assert code == 0, err
    skipped = json.loads(output.read_text())["skipped"]
    assert "not found" in skipped["learned"]
    assert "pillow-heif" in skipped["heic"]
    assert "skipping learned" in err and "skipping heic" in err
    assert json.loads(out)["points"] == {"jpeg-444": 2}


def test_learned_codec_runs_when_a_model_is_given(image_file, tmp_path, capsys):
    from mspviewer.codec import build_random_model, save_weights, tiny_config

    weights = tmp_path / "tiny.pt"
    save_weights(build_random_model(tiny_config(), seed=3), weights, "tiny-random")
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
    for point in learned["points"]:
        assert point["bytes"] > 0
        assert point["bpp"] == pytest.approx(8 * point["bytes"] / (HEIGHT * WIDTH))
    assert "jpeg-420" in curves  # the anchor is always run


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
