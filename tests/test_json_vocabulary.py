"""One name per quantity in what the commands write as JSON (README, "JSON output"): a
script that reads `encode` can read `eval`, `compare`, `decode` and `replay` the same way."""

from __future__ import annotations

import json

import pytest

from conftest import smooth_image
from mspviewer.cli import main
from mspviewer.imageio import save_png


def walk(value, path=()):
    """Every (path, key, dict holding it) in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, value
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def vocabulary_faults(document) -> list[str]:
    faults = []
    for path, key, holder in walk(document):
        where = "/".join(map(str, (*path, key)))
        if key == "seconds" or key.endswith("_seconds"):
            faults.append(f"{where}: a time in seconds is named *_s")
        if key.startswith("psnr") and not key.startswith(("psnr_rgb", "psnr_y")):
            faults.append(f"{where}: PSNR names its colour space (psnr_rgb, psnr_y)")
        if key == "bytes" and "bpp" in holder:
            faults.append(f"{where}: a coding's size is file_bytes")
        if key.endswith("_db") and key.startswith("bd_"):
            faults.append(f"{where}: BD-quality is bd_quality (dB, as in every BD table)")
    return faults


def test_the_checker_finds_each_old_name():
    old = {"bytes": 10, "bpp": 0.1, "encode_seconds": 1.0, "steps": [{"psnr": 30.0}],
           "environment": {"seconds": 2.0}, "bd_quality_db": {"webp": 1.0},
           "lof": {"psnr_best": 30.0}}
    assert len(vocabulary_faults(old)) == 6
    assert vocabulary_faults({"sections": [{"bytes": 4}], "file_bytes": 10, "bpp": 0.1,
                              "encode_s": 1.0, "psnr_rgb": 30.0, "bd_quality": 0.5}) == []


def run_json(capsys, arguments, options) -> dict:
    capsys.readouterr()
    assert main(["--json", *map(str, arguments), *options]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command", ["encode", "decode", "info", "diff", "replay", "compare",
                                     "eval"])
def test_every_command_names_shared_quantities_alike(command, capsys, tmp_path, model_file):
    folder = tmp_path
    image = folder / "a.png"
    save_png(smooth_image(40, 56, seed=3), image)
    model = ["--model", str(model_file)]
    run_json(capsys, ["encode", image, "-o", folder / "a.msp", "--lambda", "0.01"], model)
    other = folder / "other" / "b.png"  # (kept out of eval's folder)
    other.parent.mkdir()
    save_png(smooth_image(40, 56, seed=4), other)
    run_json(capsys, ["encode", other, "-o", folder / "b.msp", "--lambda", "0.01"], model)
    arguments = {
        "encode": ["encode", image, "-o", folder / "c.msp", "--lambda", "0.02", "--profile",
                   "quick", "--time-budget", "1"],  # (with LOF: its summary too)
        "decode": ["decode", folder / "a.msp", "-o", folder / "a-decoded.png"],
        "info": ["info", folder / "a.msp"],
        "diff": ["diff", folder / "a.msp", folder / "b.msp", "--original", image],
        "replay": ["replay", folder / "a.msp", "-o", folder / "replay.gif", "--original",
                   image],
        "compare": ["compare", image, "--codecs", "learned,jpeg-420", "--anchor", "jpeg-420",
                    "--lambdas", "0.004,0.01,0.03", "--quality", "jpeg-420=20,50,80",
                    "-o", folder / "results.json", "--no-progress", "--no-ms-ssim"],
        "eval": ["eval", folder, "--lambdas", "0.004", "0.01,0.03", "--classic", "webp",
                 "-o", folder / "results.json", "--no-progress"],
    }[command]
    printed = run_json(capsys, arguments, [] if command == "info" else model)
    documents = {"printed": printed}
    if command in ("compare", "eval"):
        documents["written"] = json.loads((folder / "results.json").read_text())
    for label, document in documents.items():
        assert vocabulary_faults(document) == [], (command, label)
    # the names the README promises, where the command has the quantity
    expected = {"encode": {"file_bytes", "bpp", "psnr_rgb", "psnr_y", "encode_s", "lof"},
                "decode": {"bpp", "decode_s"}, "info": {"file_bytes", "bpp"},
                "compare": {"elapsed_s", "bd_quality"}}.get(command, set())
    assert expected <= set(printed), expected - set(printed)


@pytest.mark.parametrize("command", [["eval", "folder", "-o", "r.json"],
                                     ["compare", "image.png", "-o", "r.json"],
                                     ["train", "folder", "--run-dir", "run"]])
def test_lambda_lists_are_given_alike_to_every_command(command, capsys):
    from mspviewer.cli import build_parser

    parser = build_parser()
    for given in (["0.004", "0.013"], ["0.004,0.013"], ["0.004,", "0.013"], ["0.004 0.013"]):
        assert parser.parse_args([*command, "--lambdas", *given]).lambdas == [0.004, 0.013]
    for bad, says in ((["0.004,-1"], "must be a finite number above 0, got -1"),
                      (["0.004,x"], "not a number: 'x'"), ([","], "at least one value")):
        with pytest.raises(SystemExit):
            parser.parse_args([*command, "--lambdas", *bad])
        assert says in capsys.readouterr().err


def test_codec_lists_are_given_alike():
    from mspviewer.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["eval", "f", "-o", "r.json", "--classic", "webp,jpeg-420",
                              "avif"]).classic == ["webp", "jpeg-420", "avif"]
    assert parser.parse_args(["eval", "f", "-o", "r.json", "--classic"]).classic == []
    assert parser.parse_args(["compare", "i.png", "-o", "r.json", "--codecs", "learned,webp",
                              "jpeg-420"]).codecs == ["learned", "webp", "jpeg-420"]


def test_a_file_after_a_list_option_is_named_in_the_error(tmp_path, capsys, monkeypatch):
    """`compare --lambdas 0.004,0.01 img.png` takes img.png for a λ (a list takes the words
    up to the next option): the error says where the image goes."""
    from mspviewer.cli import build_parser

    monkeypatch.chdir(tmp_path)
    (tmp_path / "img.png").write_bytes(b"")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--lambdas", "0.004,0.01", "img.png", "-o", "r"])
    assert ("argument --lambdas: not a number: 'img.png' (img.png is taken for one of its "
            "values: put it before --lambdas)") in capsys.readouterr().err
