"""`eval` averages real measurements; `report` writes a table and plot that match them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import smooth_image
from mspviewer import metrics
from mspviewer.cli import main
from mspviewer.codec import decode_bytes, encode_image, save_weights
from mspviewer.imageio import save_png


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model):
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
            assert point["bytes"] == len(encoded.bitstream)
            assert point["bpp"] == pytest.approx(8 * len(encoded.bitstream) / pixels[..., 0].size)
            assert point["psnr_rgb"] == pytest.approx(metrics.psnr_rgb(pixels, decoded.pixels))
    for index, mean in enumerate(document["mean"]["points"]):
        column = [entry["points"][index] for entry in document["images"]]
        for key in ("bpp", "psnr_rgb", "psnr_y"):
            assert mean[key] == pytest.approx(np.mean([p[key] for p in column]))
    assert "webp" in document["classic_measured"]
    assert set(document["bd_rate_vs"]) == {"webp (measured)", "vtm (published)"}


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
    assert "![Kodak RD curves](rd.png)" in text
    from PIL import Image
    with Image.open(plot) as image:
        assert image.size[0] > 400 and image.size[1] > 300


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
    refuse_encoding(monkeypatch)
    output = tmp_path / "ev.json"
    code, err = run_eval(capsys, image_folder, output, weights, "--lambdas", "0.0067",
                         "--classic", "--anchors")
    assert code == 2, err
    assert "2 of 4 images cannot be read" in err and "z.png" in err and "m.png" in err
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
    assert set(document["bd_rate_vs"]) == {"vtm (published)"}
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
    (broken(lambda d: d["mean"]["points"][0].update(psnr_rgb=None)), "not a valid"),
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
