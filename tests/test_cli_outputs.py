"""What the commands write: the real file name, never one of the inputs (the weights file
included), checked before any work; and options refused with one line and status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from test_eval_report import small_document
from mspviewer import rd
from mspviewer.cli import main
from mspviewer.imageio import save_png


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mspviewer", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = main(list(map(str, args)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "img.png"
    save_png(smooth_image(32, 48, seed=4), path)
    return path


@pytest.fixture(scope="module")
def bitstream_file(tmp_path_factory, model_file, image_file):
    path = tmp_path_factory.mktemp("stream") / "img.msp"
    done = run_cli("encode", image_file, "-o", path, "--lambda", "0.02", "--model", model_file)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Any decode, encode or RD sweep fails the test: a refusal must come before them."""
    import mspviewer.cli.decode as decode
    import mspviewer.cli.encode as encode
    import mspviewer.cli.replay as replay
    import mspviewer.evaluation as evaluation

    def work(*_args, **_kwargs):
        raise AssertionError("the work started before the refusal")

    for module, name in ((replay, "decode_bytes"), (decode, "decode_bytes"),
                         (encode, "encode_image"), (evaluation, "learned_curve"),
                         (evaluation, "evaluate"), (rd, "sweep")):
        monkeypatch.setattr(module, name, work)


# --- 1. plots: the name written is the name given, checked and reported -----------------------
def test_compare_plot_without_suffix_is_refused_and_the_input_kept(tmp_path, image_file):
    """matplotlib appended ".png": ``--plot out/victim`` overwrote the input out/victim.png
    and the command reported writing out/victim."""
    out = tmp_path / "out"
    out.mkdir()
    victim = out / "victim.png"
    shutil.copy(image_file, victim)
    before = victim.read_bytes()
    done = run_cli("compare", victim, "-o", out / "c.json", "--plot", out / "victim",
                   "--codecs", "webp", "--anchor", "webp", "--no-progress")
    assert done.returncode == 2, done.stderr
    assert one_line(done.stderr) and "has no suffix" in done.stderr
    assert ".png" in done.stderr and ".svg" in done.stderr and ".pdf" in done.stderr
    assert victim.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["victim.png"]  # nothing written


def test_compare_plot_that_is_the_input_is_refused(tmp_path, image_file, capsys):
    victim = tmp_path / "victim.png"
    shutil.copy(image_file, victim)
    before = victim.read_bytes()
    code, _, err = run_main(capsys, "compare", victim, "-o", tmp_path / "c.json",
                            "--plot", victim, "--codecs", "webp", "--anchor", "webp",
                            "--no-progress")
    assert code == 2 and one_line(err) and "is the input" in err, err
    assert victim.read_bytes() == before and not (tmp_path / "c.json").exists()


def test_compare_writes_and_reports_the_plot_it_names(tmp_path, image_file, capsys):
    plot = tmp_path / "rd.svg"
    code, out, err = run_main(capsys, "--json", "compare", image_file, "-o", tmp_path / "c.json",
                              "--plot", plot, "--codecs", "webp", "--anchor", "webp",
                              "--quality", "webp=40,90", "--no-progress", "--no-ms-ssim")
    assert code == 0, err
    assert json.loads(out)["plot"] == str(plot)
    assert b"<svg" in plot.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "rd.svg"]  # no temporaries


def test_report_plot_without_suffix_is_refused_before_writing_anything(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(small_document()))
    existing = tmp_path / "rd.png"  # what matplotlib would have replaced
    existing.write_bytes(b"keep me")
    code, _, err = run_main(capsys, "report", results, "--plot", tmp_path / "rd",
                            "--markdown", tmp_path / "table.md")
    assert code == 2 and one_line(err) and "has no suffix" in err, err
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.png", "results.json"]


def test_report_writes_reports_and_links_the_plot_it_names(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(small_document()))
    plot, table = tmp_path / "rd.pdf", tmp_path / "table.md"
    code, out, err = run_main(capsys, "--json", "report", results, "--plot", plot,
                              "--markdown", table)
    assert code == 0, err
    assert json.loads(out)["written"] == [str(plot), str(table)]
    assert plot.read_bytes()[:5] == b"%PDF-"
    assert "![Kodak RD curves](rd.pdf)" in table.read_text()


# --- 2. the weights file is an input of every command that reads it ---------------------------
@pytest.fixture
def own_model(tmp_path, model_file):
    """A copy of the weights, to be named as an output, with its bytes."""
    def copy(name: str):
        path = tmp_path / name
        shutil.copy(model_file, path)
        return path, path.read_bytes()
    return copy


@pytest.mark.parametrize("command", ["encode", "decode", "eval", "replay", "compare"])
def test_the_model_file_is_never_overwritten(tmp_path, capsys, own_model, image_file,
                                            bitstream_file, no_work, command):
    weights, before = own_model({"decode": "weights.png", "replay": "weights.gif"}
                                .get(command, "weights.pt"))
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(image_file, folder / "a.png")
    arguments = {
        "encode": ["encode", image_file],
        "decode": ["decode", bitstream_file],
        "eval": ["eval", folder],
        "replay": ["replay", bitstream_file],
        "compare": ["compare", image_file, "--codecs", "learned", "webp", "--anchor", "webp",
                    "--no-progress"],
    }[command]
    code, _, err = run_main(capsys, *arguments, "-o", weights, "--model", weights)
    assert code == 2 and one_line(err) and "is the input" in err, err
    assert weights.read_bytes() == before


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_the_model_of_mspviewer_model_is_never_overwritten(tmp_path, capsys, monkeypatch,
                                                          own_model, image_file,
                                                          bitstream_file, no_work, command):
    weights, before = own_model("weights.png")
    monkeypatch.setenv("MSPVIEWER_MODEL", str(weights))
    source = image_file if command == "encode" else bitstream_file
    code, _, err = run_main(capsys, command, source, "-o", weights)
    assert code == 2 and "is the input" in err, err
    assert weights.read_bytes() == before


# --- 3. replay checks its output before decoding ----------------------------------------------
def test_replay_output_that_is_the_bitstream_is_refused(tmp_path, capsys, model_file,
                                                        bitstream_file, no_work):
    stream = tmp_path / "b.gif"  # a bitstream under a GIF's name
    shutil.copy(bitstream_file, stream)
    before = stream.read_bytes()
    code, _, err = run_main(capsys, "replay", stream, "-o", stream, "--model", model_file)
    assert code == 2 and one_line(err) and "is the input" in err, err
    assert stream.read_bytes() == before


def test_replay_output_that_is_the_original_is_refused(tmp_path, capsys, model_file,
                                                       image_file, bitstream_file, no_work):
    original = tmp_path / "orig.gif"
    Image.open(image_file).save(original)
    before = original.read_bytes()
    code, _, err = run_main(capsys, "replay", bitstream_file, "-o", original,
                            "--original", original, "--model", model_file)
    assert code == 2 and one_line(err) and "is the input" in err, err
    assert original.read_bytes() == before


def test_replay_folder_that_holds_an_input_frame_name_is_refused(tmp_path, capsys, model_file,
                                                                 image_file, bitstream_file,
                                                                 no_work):
    folder = tmp_path / "steps"
    folder.mkdir()
    original = folder / "step_000.png"  # the name of the first frame written there
    shutil.copy(image_file, original)
    before = original.read_bytes()
    code, _, err = run_main(capsys, "replay", bitstream_file, "-o", folder,
                            "--original", original, "--model", model_file)
    assert code == 2 and one_line(err) and "is the input" in err, err
    assert original.read_bytes() == before


@pytest.mark.parametrize("output, message", [
    ("missing_dir/r.gif", "does not exist"),
    ("r.jpg", "must be a .gif file or a folder"),
    ("a_file", "is a file, not a folder"),
    ("a_file/steps", "is a file, not a folder"),
    pytest.param("/proc/r.gif", "cannot write output /proc/r.gif",
                 marks=pytest.mark.skipif(not sys.platform.startswith("linux"),
                                          reason="uses /proc")),
])
def test_replay_unwritable_output_is_refused_before_decoding(tmp_path, capsys, monkeypatch,
                                                             model_file, bitstream_file,
                                                             no_work, output, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_bytes(b"not a folder")
    code, _, err = run_main(capsys, "replay", bitstream_file, "-o", output,
                            "--model", model_file)
    assert code == 2 and one_line(err) and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_replay_original_of_another_size_is_refused_before_decoding(tmp_path, capsys,
                                                                    model_file, bitstream_file,
                                                                    no_work):
    original = tmp_path / "other.png"
    save_png(smooth_image(20, 20), original)
    code, _, err = run_main(capsys, "replay", bitstream_file, "-o", tmp_path / "r.gif",
                            "--original", original, "--model", model_file)
    assert code == 2 and "20×20" in err and "48×32" in err, err
    assert not (tmp_path / "r.gif").exists()


def test_replay_to_a_new_folder_writes_every_frame(tmp_path, capsys, model_file,
                                                   bitstream_file):
    folder = tmp_path / "new" / "steps"
    code, out, err = run_main(capsys, "--json", "replay", bitstream_file, "-o", folder,
                              "--model", model_file)
    assert code == 0, err
    result = json.loads(out)
    names = [f"step_{k:03d}.png" for k in range(result["frames"])]
    assert result["files"] == [str(folder / name) for name in names]
    assert sorted(p.name for p in folder.iterdir()) == names


# --- 4. --frame-ms within what a GIF holds ------------------------------------------------------
@pytest.mark.parametrize("value", ["131072", "10001", "19", "0", "-5", "half"])
def test_replay_frame_ms_out_of_range_is_refused(tmp_path, model_file, bitstream_file, value):
    gif = tmp_path / "r.gif"
    done = run_cli("replay", bitstream_file, "-o", gif, "--frame-ms", value,
                   "--model", model_file)
    assert done.returncode == 2, done.stderr
    assert "--frame-ms" in done.stderr and "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    assert not gif.exists()


def gif_durations(path) -> list[int]:
    with Image.open(path) as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    return durations


def test_replay_at_the_longest_frame_time_writes_every_millisecond(tmp_path, capsys,
                                                                   model_file, bitstream_file):
    gif = tmp_path / "r.gif"
    code, out, err = run_main(capsys, "--json", "replay", bitstream_file, "-o", gif,
                              "--frame-ms", "10000", "--model", model_file)
    assert code == 0, err
    frames = json.loads(out)["frames"]
    durations = gif_durations(gif)  # identical frames merged, their durations added
    assert sum(durations) == (frames - 1) * 10_000 + 2000
    assert all(d % 10_000 == 0 for d in durations[:-1])


def still_frames(count: int):
    from mspviewer.codec.inspection import ReplayFrame

    image = smooth_image(16, 16)
    return [ReplayFrame(step=k, num_steps=count - 1, label="", image=image, decoded_elements=0,
                        estimated_bits=0.0, actual_bits=0, psnr_rgb=None) for k in range(count)]


def test_export_replay_merged_frames_fit_a_gif_frame(tmp_path):
    """Pillow adds the durations of identical frames into one 16-bit count of hundredths of
    a second: 30 still frames at the longest --frame-ms still fit, 70 are refused."""
    from mspviewer.codec.inspection import export_replay
    from mspviewer.errors import MSPViewerError

    gif = tmp_path / "still.gif"
    assert export_replay(still_frames(30), gif, frame_ms=10_000) == [gif]
    assert gif_durations(gif) == [29 * 10_000 + 2000]
    too_long = tmp_path / "too_long.gif"
    with pytest.raises(MSPViewerError, match="655.35 s"):
        export_replay(still_frames(70), too_long, frame_ms=10_000)
    assert not too_long.exists()


# --- 5. compare refuses what the user asked for and cannot be done ----------------------------
@pytest.mark.parametrize("case", ["missing model", "not a model", "λ out of range", "cuda"])
def test_compare_refuses_explicit_learned_options_that_cannot_run(tmp_path, capsys, model_file,
                                                                  image_file, no_work, case):
    import torch

    if case == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_bytes(b"not weights")
    options, message = {
        "missing model": (["--model", tmp_path / "missing.pt"], "not found"),
        "not a model": (["--model", not_a_model], "is not a readable weights file"),
        "λ out of range": (["--model", model_file, "--lambdas", "0.5"],
                           "--lambdas: λ=0.5 is outside this model's range"),
        "cuda": (["--model", model_file, "--device", "cuda"], "no CUDA device"),
    }[case]
    output = tmp_path / "c.json"
    # webp first: its sweep would have run before the learned codec was looked at
    code, _, err = run_main(capsys, "compare", image_file, "--codecs", "webp", "learned",
                            "--anchor", "webp", "-o", output, "--no-progress", *options)
    assert code == 2 and one_line(err) and message in err, err
    assert not output.exists()


def test_compare_still_skips_a_missing_default_model(tmp_path, capsys, monkeypatch,
                                                     image_file):
    """The default codec set includes the learned codec: where no weights are installed
    (or $MSPVIEWER_MODEL names none), the classic codecs still run."""
    monkeypatch.setenv("MSPVIEWER_MODEL", str(tmp_path / "missing.pt"))
    output = tmp_path / "c.json"
    code, out, err = run_main(capsys, "--json", "compare", image_file, "--codecs", "learned",
                              "webp", "--anchor", "webp", "--quality", "webp=40,90", "-o",
                              output, "--no-progress", "--no-ms-ssim")
    assert code == 0, err
    assert "not found" in json.loads(output.read_text())["skipped"]["learned"]
    assert json.loads(out)["points"] == {"webp": 2}
    assert "skipping learned" in err


def test_compare_runs_the_learned_codec_at_explicit_lambdas(tmp_path, capsys, model_file,
                                                            image_file):
    output = tmp_path / "c.json"
    code, out, err = run_main(capsys, "--json", "compare", image_file, "--codecs", "learned",
                              "--anchor", "learned", "--model", model_file, "--lambdas",
                              "0.004,0.03", "-o", output, "--no-progress", "--no-ms-ssim")
    assert code == 0, err
    curve = json.loads(output.read_text())["curves"][0]
    assert curve["name"] == "learned" and [p["quality"] for p in curve["points"]] == [0.004,
                                                                                       0.03]
    assert np.all(np.array([p["file_bytes"] for p in curve["points"]]) > 0)


def test_an_eps_plot_is_written_without_matplotlib_s_transparency_warning(tmp_path, capsys,
                                                                         caplog):
    """PostScript has no transparency: matplotlib logged a warning about the legend's
    translucent ground (on stderr, outside pytest), beside a plot written as asked."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps(small_document()))
    plot = tmp_path / "rd.eps"
    code, _, err = run_main(capsys, "report", results, "--plot", plot)
    assert code == 0, err
    assert plot.read_bytes().startswith(b"%!PS-Adobe")
    assert not [r.getMessage() for r in caplog.records if "transparency" in r.getMessage()]


def test_an_unknown_option_is_refused_by_its_command(tmp_path, image_file, capsys):
    """The error named the program, not the command whose options these are (and whose
    --help lists the right ones)."""
    output = tmp_path / "x.msp"
    with pytest.raises(SystemExit) as stop:
        run_main(capsys, "encode", image_file, "-o", output, "--frobnicate")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and one_line(err)
    assert err.startswith("mspviewer encode: error: unrecognized arguments: --frobnicate")
    assert not output.exists()


def test_options_with_no_effect_are_named(tmp_path, image_file, capsys, monkeypatch):
    """A repeated λ (compare kept both: no BD-rate from a front of one) and a tolerance
    without a target were taken without a word."""
    from mspviewer.cli import compare

    assert compare._lambdas([0.013, 0.0067, 0.013]) == [0.013, 0.0067]
    assert "λ given more than once: each is encoded once (0.013, 0.0067)" in \
        capsys.readouterr().err
    from mspviewer.codec.api import DEFAULT_BPP_TOLERANCE

    _, _, err = run_main(capsys, "encode", image_file, "-o", tmp_path / "x.msp",
                         "--bpp-tolerance", str(DEFAULT_BPP_TOLERANCE), "--model",
                         tmp_path / "none.pt")
    assert "--bpp-tolerance has no effect without --bpp" in err
