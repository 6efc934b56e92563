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
