"""The command line: encode / decode / info, JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import smooth_image
from mspviewer.codec import save_weights
from mspviewer.imageio import load_image, save_png


def run_cli(*args, env_model=None):
    env = None
    if env_model is not None:
        import os
        env = dict(os.environ, MSPVIEWER_MODEL=str(env_model))
    return subprocess.run([sys.executable, "-m", "mspviewer", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_encode_info_decode(tmp_path, model_file):
    image = tmp_path / "in.png"
    pixels = smooth_image(50, 70)
    save_png(pixels, image)
    out = tmp_path / "out.msp"
    done = run_cli("--json", "encode", image, "-o", out, "--lambda", "0.01", "--model", model_file)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    size = out.stat().st_size
    assert result["file_bytes"] == size
    assert result["bpp"] == pytest.approx(8 * size / (50 * 70))
    info = run_cli("--json", "info", out)
    assert info.returncode == 0, info.stderr
    header = json.loads(info.stdout)
    assert (header["width"], header["height"]) == (70, 50)
    assert header["file_bytes"] == size
    assert sum(s["bytes"] for s in header["sections"]) == header["payload_bytes"]
    assert header["header_bytes"] + header["payload_bytes"] == size
    assert sum(header["bytes_per_scale"].values()) == header["payload_bytes"]
    # info reads the header alone; the decoder's own record of each pass must agree with it
    from mspviewer.codec import decode_bytes, load_model
    model = load_model(model_file)
    reference = decode_bytes(model, out.read_bytes())
    record = reference.analysis
    assert [(s["pass"], s["scale"], s["step"], s["group"], s["bytes"])
            for s in header["sections"]] == [(p.index, p.scale, p.step, p.group, p.actual_bytes)
                                             for p in record.passes]
    assert len({s["bytes"] for s in header["sections"]}) > 1  # not one size for every pass
    per_scale = record.bits_per_scale()
    assert header["bytes_per_scale"] == {str(k): per_scale[k]["actual_bytes"]
                                         for k in sorted(per_scale, reverse=True)}
    assert header["lambda"] == 0.01  # the float32 of the header, printed as its shortest decimal
    assert header["model_id"] == model.model_id().hex()
    png = tmp_path / "out.png"
    decoded = run_cli("--json", "decode", out, "-o", png, env_model=model_file)
    assert decoded.returncode == 0, decoded.stderr
    report = json.loads(decoded.stdout)
    assert report["lambda"] == header["lambda"] and report["lambda_extrapolated"] is False
    reconstruction = load_image(png).pixels
    assert np.array_equal(reconstruction, reference.pixels)  # the decode, bit for bit
    from mspviewer.metrics import psnr_rgb
    assert psnr_rgb(pixels, reconstruction) == pytest.approx(result["psnr_rgb"], abs=1e-9)


def test_info_channels_decodes_with_the_model(tmp_path, model_file):
    from mspviewer.codec import decode_bytes, load_model
    from mspviewer.codec.channel_usage import channel_usage

    image, out = tmp_path / "in.png", tmp_path / "out.msp"
    save_png(smooth_image(40, 56, seed=2), image)
    done = run_cli("encode", image, "-o", out, "--lambda", "0.02", "--model", model_file)
    assert done.returncode == 0, done.stderr
    usage = channel_usage(decode_bytes(load_model(model_file), out.read_bytes()).analysis)
    info = run_cli("--json", "info", out, "--channels", "--model", model_file)
    assert info.returncode == 0, info.stderr
    channels = json.loads(info.stdout)["channels"]
    assert json.loads(info.stdout)["lambda_extrapolated"] is False  # 0.02: a trained λ
    assert channels["estimated_payload_bits"] == pytest.approx(usage.total_bits, rel=1e-12)
    assert [c["bits"] for c in channels["per_channel"]] == pytest.approx(list(usage.bits),
                                                                         rel=1e-12)
    assert channels["channels_for_share"]["90%"] == usage.channels_for(0.9)
    text = run_cli("info", out, "--channels", env_model=model_file)
    assert text.returncode == 0, text.stderr
    line = next(line for line in text.stdout.splitlines() if line.startswith("channels: "))
    assert json.loads(line[len("channels: "):])["summary"] == usage.describe()
    # without --channels, info still needs no model
    plain = run_cli("--json", "info", out, "--model", tmp_path / "missing.pt")
    assert plain.returncode == 0 and "channels" not in json.loads(plain.stdout)
    wrong = run_cli("info", out, "--channels", "--model", tmp_path / "missing.pt")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


@pytest.mark.parametrize("args, message", [
    (["encode", "in.png", "-o", "x.msp", "--lambda", "abc"],
     "mspviewer encode: error: argument --lambda: invalid float value: 'abc' "
     "(see 'mspviewer encode --help')"),
    (["decode"], "mspviewer decode: error: the following arguments are required: bitstream, "
                 "-o/--output (see 'mspviewer decode --help')"),
    (["nope-command"], "mspviewer: error: argument COMMAND: invalid choice: 'nope-command'"),
    # refused by the parser, before the image and the model are read (no such in.png here)
    (["encode", "in.png", "-o", "x.msp", "--bpp", "0.5", "--bpp-tolerance", "nan"],
     "mspviewer encode: error: argument --bpp-tolerance: must be a number between 0 and 1, "
     "got nan"),
])
def test_bad_options_are_one_line_without_the_usage_block(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "mspviewer", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr


@pytest.mark.parametrize("case", ["missing", "corrupt", "not-an-image", "bad-lambda",
                                  "wrong-model", "no-output-folder", "eval-no-output-folder",
                                  "train-no-images", "train-no-folder", "export-weights-file",
                                  "pack-not-a-checkpoint", "resume-truncated-checkpoint"])
def test_errors_are_one_line_without_traceback(tmp_path, model_file, tiny_model, case):
    image = tmp_path / "in.png"
    save_png(smooth_image(20, 20), image)
    if case == "missing":
        done = run_cli("decode", tmp_path / "nope.msp", "-o", tmp_path / "x.png",
                       "--model", model_file)
    elif case == "corrupt":
        bad = tmp_path / "bad.msp"
        bad.write_bytes(b"MSPV" + bytes(40))
        done = run_cli("decode", bad, "-o", tmp_path / "x.png", "--model", model_file)
    elif case == "not-an-image":
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        done = run_cli("encode", text, "-o", tmp_path / "x.msp", "--model", model_file)
    elif case == "bad-lambda":
        done = run_cli("encode", image, "-o", tmp_path / "x.msp", "--lambda", "3",
                       "--model", model_file)
    elif case == "no-output-folder":
        done = run_cli("encode", image, "-o", tmp_path / "absent" / "x.msp", "--model", model_file)
    elif case == "eval-no-output-folder":  # refused before the evaluation, not after it
        done = run_cli("eval", tmp_path, "-o", tmp_path / "absent" / "r.json", "--model",
                       model_file, "--lambdas", "0.01", "--classic", "--no-progress")
    elif case in ("train-no-images", "train-no-folder"):
        data = tmp_path / "empty"
        if case == "train-no-images":
            data.mkdir()
        done = run_cli("train", data, "--run-dir", tmp_path / "run", "--steps", "2",
                       "--preset", "tiny")
        assert not (tmp_path / "run" / "checkpoint.pt").exists()  # nothing ran, nothing saved
    elif case == "export-weights-file":  # a shipped model is not a training checkpoint
        done = run_cli("export-model", model_file, "-o", tmp_path / "m.pt")
        assert not (tmp_path / "m.pt").exists()
    elif case == "resume-truncated-checkpoint":  # e.g. hand-off parts joined incompletely
        data = tmp_path / "data"
        data.mkdir()
        save_png(smooth_image(64, 64), data / "a.png")
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / "checkpoint.pt").write_bytes(model_file.read_bytes()[:5000])
        done = run_cli("train", data, "--run-dir", run_dir, "--steps", "2", "--preset", "tiny",
                       "--resume", "--crop", "48")
    elif case == "pack-not-a-checkpoint":
        done = run_cli("pack-checkpoint", image, "-o", tmp_path / "c.pt")
        assert not (tmp_path / "c.pt").exists()
    else:
        out = tmp_path / "x.msp"
        assert run_cli("encode", image, "-o", out, "--model", model_file).returncode == 0
        other = tmp_path / "other.pt"
        from mspviewer.codec import build_random_model
        save_weights(build_random_model(tiny_model.config, seed=99), other, name="other")
        done = run_cli("decode", out, "-o", tmp_path / "x.png", "--model", other)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0], done.stderr
    assert not (tmp_path / "x.png").exists()


def test_encode_past_the_trained_range_says_the_lambda_is_extrapolated(tmp_path, model_file,
                                                                        capsys):
    from mspviewer.cli import main
    from mspviewer.codec import decode_bytes, load_model

    image = tmp_path / "in.png"
    save_png(smooth_image(24, 32), image)
    model = load_model(model_file)
    low, high = model.config.lambda_range
    results = {}
    for lam in (high, 1.5 * high, 2.5 * high):
        out = tmp_path / f"{lam:g}.msp"
        code = main(["--json", "encode", str(image), "-o", str(out), "--lambda", f"{lam:g}",
                     "--model", str(model_file)])
        captured = capsys.readouterr()
        results[lam] = (code, captured, out)
    code, captured, _ = results[high]
    assert code == 0 and not json.loads(captured.out)["lambda_extrapolated"]
    assert "extrapolated" not in captured.err
    code, captured, out = results[1.5 * high]
    assert code == 0 and json.loads(captured.out)["lambda_extrapolated"]
    assert "above the trained range" in captured.err and "extrapolated" in captured.err
    decoded = decode_bytes(model, out.read_bytes())  # decodes like any other stream
    info = run_cli("--json", "info", out, "--channels", "--model", model_file)
    assert info.returncode == 0 and json.loads(info.stdout)["lambda_extrapolated"] is True
    code = main(["--json", "decode", str(out), "-o", str(tmp_path / "x.png"),
                 "--model", str(model_file)])
    reported = json.loads(capsys.readouterr().out)
    assert code == 0 and reported["lambda_extrapolated"] is True
    assert reported["lambda"] == pytest.approx(1.5 * high, rel=1e-6)
    assert decoded.analysis.lam == pytest.approx(1.5 * high, rel=1e-6)
    code, captured, out = results[2.5 * high]  # past the margin: refused, nothing written
    assert code == 2 and "outside this model's range" in captured.err and not out.exists()


@pytest.mark.parametrize("typed", ["1e39", "1e-50"])
def test_a_lambda_past_float32_is_refused_in_one_line_naming_it(tmp_path, model_file, typed):
    """1e39 overflows the float32 the bitstream stores λ in and 1e-50 underflows it: the
    refusal names the value typed (not inf or 0) and no NumPy warning comes with it."""
    image = tmp_path / "in.png"
    save_png(smooth_image(16, 16), image)
    done = run_cli("encode", image, "-o", tmp_path / "x.msp", "--lambda", typed,
                   "--model", model_file)
    assert done.returncode == 2 and not (tmp_path / "x.msp").exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"λ={float(typed):g} is outside this model's range" in lines[0]


def test_encode_reports_image_conversions(tmp_path, model_file):
    from PIL import Image
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[..., 3] = 128
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    done = run_cli("encode", path, "-o", tmp_path / "a.msp", "--model", model_file)
    assert done.returncode == 0, done.stderr
    assert "alpha" in done.stderr.lower()


def test_threads_option_sets_the_networks_thread_count(tmp_path, model_file):
    """--threads N is applied before the work (and left so after it: the coding passes'
    one-thread section restores it); 0 is refused by the parser, here and in the viewer."""
    image = tmp_path / "in.png"
    save_png(smooth_image(32, 32), image)
    script = ("import sys, torch; from mspviewer.cli import main; code = main(sys.argv[1:]); "
              "print('threads', torch.get_num_threads()); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, "encode", str(image), "-o",
                           str(tmp_path / "out.msp"), "--model", str(model_file), "--threads",
                           "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("threads 3")
    for command in (["encode", str(image), "-o", str(tmp_path / "x.msp")], ["gui"]):
        refused = run_cli(*command, "--threads", "0")
        assert refused.returncode == 2 and "--threads" in refused.stderr, refused.stderr


def test_gui_is_the_default_job():
    from mspviewer.cli import wants_gui

    commands = {"encode", "decode", "info"}
    assert wants_gui([], commands)
    assert wants_gui(["gui"], commands)
    assert wants_gui(["--screenshot", "x.png"], commands)
    assert wants_gui(["--model", "m.pt"], commands)
    assert wants_gui([__file__], commands)  # an existing file to open
    assert not wants_gui(["encode", "x.png"], commands)
    assert not wants_gui(["--json", "info", "x.msp"], commands)
    assert not wants_gui(["--help"], commands)
    assert not wants_gui(["no-such-command"], commands)


def test_a_command_after_the_options_is_pointed_out(tmp_path):
    """``mspviewer --threads 1 info x.msp`` would hand everything to the viewer, whose
    parser knows no ``x.msp`` argument; the user is told where the options go instead."""
    from mspviewer.cli import misplaced_command

    commands = {"encode", "decode", "info", "gui"}
    assert misplaced_command(["--threads", "1", "info", "x.msp"], commands) == "info"
    assert misplaced_command(["--json", "info", "x.msp"], commands) is None
    assert misplaced_command(["info", "x.msp", "--threads", "1"], commands) is None
    assert misplaced_command(["--threads", "1", "gui"], commands) is None
    assert misplaced_command(["--screenshot", "x.png", "photo.png"], commands) is None
    # an option's value that is also a command's name (README's replay screenshots)
    replay_shots = ["--threads", "1", "--screenshot", "r.png", "--replay-steps", "4,12",
                    "--panel", "replay"]
    assert misplaced_command(replay_shots, commands | {"replay"}) is None
    assert misplaced_command(["--threads", "x", "info"], commands) is None  # viewer says why
    done = run_cli("--threads", "1", "info", tmp_path / "x.msp")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "'info' is a command: put its options after it" in done.stderr
    assert "mspviewer [--json] info … --threads …" in done.stderr


@pytest.mark.parametrize("content, words", [(b"{ not json", "profiles"),
                                            (b"\xff\xfe\x00binary", "not UTF-8")])
def test_broken_profiles_file_is_one_line(tmp_path, content, words):
    import os
    broken = tmp_path / "profiles.json"
    broken.write_bytes(content)
    env = dict(os.environ, MSPVIEWER_PROFILES=str(broken))
    done = subprocess.run([sys.executable, "-m", "mspviewer", "profiles"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert words in done.stderr and "(named by $MSPVIEWER_PROFILES)" in done.stderr


@pytest.mark.parametrize("content", [
    b"II*\x00" + bytes([8, 0, 0, 0]),  # its first page lies past the end of the file
    b"II*\x00" + bytes([8, 0, 0, 0, 0, 0, 0, 0, 0, 0]),  # a page with no entries at all
])
def test_a_damaged_tiff_is_one_line_on_stderr(tmp_path, model_file, content):
    """Pillow's warnings ("Corrupt EXIF data") and tifffile's log lines went to stderr too,
    and a page without samples was called "a TIFF of 1 None sample per pixel"."""
    image = tmp_path / "damaged.tif"
    image.write_bytes(content)
    done = run_cli("encode", image, "-o", tmp_path / "x.msp", "--model", model_file)
    assert done.returncode == 2 and not (tmp_path / "x.msp").exists()
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not an image, or in a format Pillow cannot read" in done.stderr


def test_pixel_limits_beyond_the_format_are_refused_by_the_parser(tmp_path, model_file):
    from mspviewer.codec.bitstream import MAX_CODED_PIXELS

    image = tmp_path / "in.png"
    save_png(smooth_image(20, 20), image)
    for value in ("0", str(MAX_CODED_PIXELS + 1), "many"):
        done = run_cli("encode", image, "-o", tmp_path / "x.msp", "--max-pixels", value,
                       "--model", model_file)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "--max-pixels" in done.stderr
    assert not (tmp_path / "x.msp").exists()


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, model_file,
                                                                   capsys, command):
    from mspviewer.cli import main

    image = tmp_path / "in.png"
    save_png(smooth_image(20, 20), image)
    source = image
    if command == "decode":
        source = tmp_path / "stream.png"  # named so that only the same-file check refuses
        stream = tmp_path / "stream.msp"  # encode refuses an image's name for a bitstream
        assert main(["encode", str(image), "-o", str(stream), "--model", str(model_file)]) == 0
        stream.rename(source)
    link = tmp_path / "alias.png"  # the same file under another name is the same file
    link.symlink_to(source)
    before = source.read_bytes()
    for output in (source, link):
        capsys.readouterr()
        assert main([command, str(source), "-o", str(output), "--model", str(model_file)]) == 2
        assert "is the input" in capsys.readouterr().err
        assert source.read_bytes() == before


def test_decode_writes_the_lossless_format_its_name_asks_for(tmp_path, model_file, capsys):
    from PIL import Image

    from mspviewer.cli import main

    image = tmp_path / "in.png"
    save_png(smooth_image(24, 32), image)
    bitstream = tmp_path / "in.msp"
    assert main(["encode", str(image), "-o", str(bitstream), "--model", str(model_file)]) == 0
    decoded = {}
    for name in ("out.png", "out.PPM", "out.tiff", "out.bmp"):
        assert main(["decode", str(bitstream), "-o", str(tmp_path / name),
                     "--model", str(model_file)]) == 0
        with Image.open(tmp_path / name) as written:
            assert written.format == {".png": "PNG", ".ppm": "PPM", ".tiff": "TIFF",
                                      ".bmp": "BMP"}[(tmp_path / name).suffix.lower()]
            decoded[name] = np.asarray(written.convert("RGB"))
    from mspviewer.codec import decode_bytes, load_model
    expected = decode_bytes(load_model(model_file), bitstream.read_bytes()).pixels
    assert all(np.array_equal(pixels, expected) for pixels in decoded.values())  # bit-exact
    assert oct((tmp_path / "out.png").stat().st_mode & 0o777) != oct(0o600)  # not private
    capsys.readouterr()
    for lossy in ("out.jpg", "out.webp", "out"):
        assert main(["decode", str(bitstream), "-o", str(tmp_path / lossy),
                     "--model", str(model_file)]) == 2
        assert "lossless" in capsys.readouterr().err
        assert not (tmp_path / lossy).exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_an_output_folder_that_cannot_be_written_is_refused_before_encoding(tmp_path,
                                                                           model_file, capsys):
    from mspviewer.cli import main

    image = tmp_path / "in.png"
    save_png(smooth_image(20, 20), image)
    # /proc refuses new files even to root, for whom permission bits do not count.
    assert main(["encode", str(image), "-o", "/proc/x.msp", "--model", str(model_file)]) == 2
    err = capsys.readouterr().err
    assert "cannot write output /proc/x.msp" in err and "PSNR" not in err


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    import os

    from mspviewer.files import write_output

    target = tmp_path / "out.msp"
    target.write_bytes(b"previous")
    write_output(target, b"first")
    assert target.read_bytes() == b"first"

    def failing_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_output(target, b"second, larger" * 1000)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.msp"]  # no temporary left


def test_a_reader_that_stops_early_is_not_an_error():
    """`mspviewer --json profiles | head -1`: the reader closes the pipe before the output is
    written; no traceback, a clean exit."""
    process = subprocess.Popen([sys.executable, "-m", "mspviewer", "--json", "profiles"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the interpreter has even started
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_json_output_has_no_nan_or_infinity(capsys):
    """Strict JSON: an exact decode's infinite PSNR, or a NaN, prints as null."""
    from mspviewer.cli import _print_result

    _print_result({"psnr_rgb": float("inf"), "steps": [{"psnr_rgb": float("nan"), "bpp": 0.5}],
                   "pair": (1.0, float("-inf")), "name": "x"}, as_json=True)
    printed = capsys.readouterr().out

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    assert json.loads(printed, parse_constant=refuse) == {
        "psnr_rgb": None, "steps": [{"psnr_rgb": None, "bpp": 0.5}], "pair": [1.0, None],
        "name": "x"}


def test_diff_sets_one_coding_against_another(tmp_path, model_file):
    from mspviewer.codec import decode_bytes, load_model
    from mspviewer.codec.latent_change import compare_codings
    from mspviewer.metrics import psnr_rgb

    streams = {}
    for name, seed, lam in (("a", 1, "0.01"), ("b", 2, "0.01"), ("c", 1, "0.03")):
        save_png(smooth_image(40, 56, seed=seed), tmp_path / f"{name}.png")
        done = run_cli("encode", tmp_path / f"{name}.png", "-o", tmp_path / f"{name}.msp",
                       "--lambda", lam, "--model", model_file)
        assert done.returncode == 0, done.stderr
        streams[name] = tmp_path / f"{name}.msp"
    done = run_cli("--json", "diff", streams["a"], streams["b"], "--original", tmp_path / "a.png",
                   "--model", model_file)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    model = load_model(model_file)
    a, b = (decode_bytes(model, streams[n].read_bytes()) for n in ("a", "b"))
    expected = compare_codings(b.analysis, a.analysis).to_dict()
    assert result["change"] == json.loads(json.dumps(expected))  # the same decode, exactly
    assert result["change"]["symbols_changed"] == int(
        np.count_nonzero(a.analysis.symbols != b.analysis.symbols)) > 0
    assert result["change"]["file_bytes"] == streams["b"].stat().st_size
    difference = np.abs(a.pixels.astype(int) - b.pixels.astype(int))
    assert result["pixels_differing"] == int(np.count_nonzero(difference.max(axis=2)))
    assert result["max_pixel_difference"] == int(difference.max())
    original = load_image(tmp_path / "a.png").pixels
    assert result["psnr_rgb"] == pytest.approx({"reference": psnr_rgb(original, a.pixels),
                                                "bitstream": psnr_rgb(original, b.pixels)})
    assert result["identical_files"] is False

    same = json.loads(run_cli("--json", "diff", streams["a"], streams["a"],
                              env_model=model_file).stdout)
    assert same["identical_files"] is True and same["change"]["symbols_changed"] == 0
    assert same["pixels_differing"] == 0 and same["change"]["file_change_percent"] == 0
    # codings at different λ cannot be set element by element against each other
    other = run_cli("diff", streams["a"], streams["c"], env_model=model_file)
    assert other.returncode == 2 and "cannot be compared" in other.stderr
    assert "λ (0.01 in the reference, 0.03 in the other)" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    save_png(smooth_image(20, 20), tmp_path / "small.png")
    wrong = run_cli("diff", streams["a"], streams["b"], "--original", tmp_path / "small.png",
                    env_model=model_file)
    assert wrong.returncode == 2 and "original is 20×20" in wrong.stderr


def _encoded(tmp_path, model_file, name="a.msp"):
    from mspviewer.cli import main

    image, stream = tmp_path / "in.png", tmp_path / name
    save_png(smooth_image(24, 32), image)
    assert main(["encode", str(image), "-o", str(stream), "--model", str(model_file)]) == 0
    return stream


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_bitstream_errors_name_the_file_they_are_about(tmp_path, model_file, capsys):
    """diff reads two streams: "bitstream is truncated" alone did not say which; decode,
    info and replay name theirs too."""
    from mspviewer.cli import main

    good = _encoded(tmp_path, model_file)
    cut = tmp_path / "b.msp"
    cut.write_bytes(good.read_bytes()[:-4])
    for reference, other in ((good, cut), (cut, good)):
        capsys.readouterr()
        assert main(["diff", str(reference), str(other), "--model", str(model_file)]) == 2
        assert _one_error_line(capsys).startswith(
            f"mspviewer diff: error: {cut}: bitstream is truncated")
    for command in (["decode", str(cut), "-o", str(tmp_path / "x.png")], ["info", str(cut)],
                    ["replay", str(cut), "-o", str(tmp_path / "x.gif")]):
        capsys.readouterr()
        assert main([*command, "--model", str(model_file)]) == 2
        assert _one_error_line(capsys).startswith(
            f"mspviewer {command[0]}: error: {cut}: bitstream is truncated"), command
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()
    # an error found while decoding (another model's stream) names the file as well
    other_model = tmp_path / "other.pt"
    from mspviewer.codec import build_random_model, tiny_config
    save_weights(build_random_model(tiny_config(), seed=99), other_model, name="other")
    capsys.readouterr()
    assert main(["diff", str(good), str(good), "--model", str(other_model)]) == 2
    assert _one_error_line(capsys).startswith(
        f"mspviewer diff: error: {good}: bitstream was written by model")


def test_an_undecodable_payload_is_called_damaged(tmp_path, model_file, capsys):
    """The range coder's own words ("Tried to decode from compressed data that is invalid
    for the employed entropy model") follow a plain statement (the codec's, which the viewer
    shows too), with the file's name."""
    from mspviewer.cli import main
    from mspviewer.codec import bitstream

    good = _encoded(tmp_path, model_file)
    header, words = bitstream.parse(good.read_bytes())
    damaged = tmp_path / "damaged.msp"
    damaged.write_bytes(bitstream.pack(header, np.full_like(words, 0xFFFFFFFF)))
    for command in (["decode", str(damaged), "-o", str(tmp_path / "x.png")],
                    ["diff", str(good), str(damaged)]):
        capsys.readouterr()
        assert main([*command, "--model", str(model_file)]) == 2
        line = _one_error_line(capsys)
        assert line.startswith(f"mspviewer {command[0]}: error: {damaged}: the payload cannot "
                               "be decoded (damaged data): "), line
    assert not (tmp_path / "x.png").exists()


def test_encode_refuses_an_image_name_for_the_bitstream(tmp_path, model_file, capsys):
    """`encode img.png -o out.png` wrote an .msp bitstream under a PNG's name."""
    from mspviewer.cli import main

    image = tmp_path / "in.png"
    save_png(smooth_image(20, 20), image)
    missing_model = tmp_path / "missing.pt"  # refused before the model would be loaded
    for name in ("out.png", "OUT.JPG", "out.tiff", "out.webp", "out.pnm", "out.gif"):
        output = tmp_path / name
        capsys.readouterr()
        assert main(["encode", str(image), "-o", str(output), "--model",
                     str(missing_model)]) == 2
        assert _one_error_line(capsys) == (f"mspviewer encode: error: -o {output}: a bitstream "
                                           f"goes to a .msp file ({name} names an image)")
        assert not output.exists()
    from mspviewer.cli.encode import check_bitstream_name
    for allowed in ("a.msp", "out", "out.bin", "images.png/out.msp"):
        check_bitstream_name(allowed)
    assert main(["encode", str(image), "-o", str(tmp_path / "out"), "--model",
                 str(model_file)]) == 0
    from mspviewer.codec import bitstream
    assert bitstream.parse((tmp_path / "out").read_bytes())[0].width == 20


def test_a_file_to_open_that_does_not_exist_is_named(tmp_path, monkeypatch, capsys):
    """`mspviewer nonexist.png` was answered with the list of commands."""
    from mspviewer.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("nonexist.png", "photo.JPEG", "stream.msp", "photo.heic", "photos/holiday",
                 str(tmp_path / "gone" / "x")):
        capsys.readouterr()
        assert main([name, "--lambda", "0.01"]) == 2
        assert _one_error_line(capsys) == f"mspviewer: error: no such file: {name}"
    from mspviewer.cli import missing_file
    commands = {"encode", "decode", "info"}
    assert missing_file(["encode", "x.png"], commands) is None
    assert missing_file(["nope-command"], commands) is None  # still "invalid choice"
    assert missing_file(["--json", "x.png"], commands) is None
    assert missing_file([], commands) is None
    assert missing_file(["x.txt"], commands) is None  # neither an image's nor a stream's name
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")  # a broken link: missing
    assert missing_file(["link.png"], commands) == "link.png"


def test_encode_refuses_a_bpp_target_at_parse_time(tmp_path, capsys):
    """--bpp 0 was refused only after the model had loaded."""
    from mspviewer.cli import build_parser

    parser = build_parser()
    for value in ("0", "-0.5", "nan", "inf"):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["encode", "in.png", "-o", "x.msp", "--bpp", value])
        assert exit_.value.code == 2
        assert "argument --bpp: must be a finite number above 0" in _one_error_line(capsys)
    assert parser.parse_args(["encode", "in.png", "-o", "x.msp", "--bpp", "0.3"]).target_bpp \
        == 0.3
    # the whole command: the parser's one line, no model read (this one does not exist)
    done = run_cli("encode", tmp_path / "in.png", "-o", tmp_path / "x.msp", "--bpp", "0",
                   "--model", tmp_path / "missing.pt")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--bpp: must be a finite number above 0" in done.stderr


def test_threads_beyond_any_machine_are_refused_by_the_parser(tmp_path):
    """torch takes a C int: 2**31 threads ended in a traceback."""
    done = run_cli("--json", "info", tmp_path / "x.msp", "--threads", 2 ** 31)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--threads: must be at most 4,096" in done.stderr


def test_a_broken_profiles_file_stops_only_what_uses_a_profile(tmp_path, model_file):
    import os

    broken = tmp_path / "profiles.json"
    broken.write_text("{")
    env = dict(os.environ, MSPVIEWER_PROFILES=str(broken))
    image = tmp_path / "a.png"
    save_png(smooth_image(16, 16), image)
    stream = tmp_path / "a.msp"
    assert run_cli("encode", image, "-o", stream, "--model", model_file).returncode == 0
    decoded = subprocess.run([sys.executable, "-m", "mspviewer", "decode", str(stream), "-o",
                              str(tmp_path / "b.png"), "--model", str(model_file)],
                             capture_output=True, text=True, timeout=300, env=env)
    assert decoded.returncode == 0, decoded.stderr
    encoded = subprocess.run([sys.executable, "-m", "mspviewer", "encode", str(image), "-o",
                              str(tmp_path / "c.msp"), "--model", str(model_file)],
                             capture_output=True, text=True, timeout=300, env=env)
    assert encoded.returncode == 2 and "(named by $MSPVIEWER_PROFILES)" in encoded.stderr


def test_json_may_follow_the_command_and_is_not_a_command_itself(capsys):
    """``mspviewer profiles --json`` prints what ``mspviewer --json profiles`` does;
    ``mspviewer --json`` alone is an error (it used to print the help with status 0)."""
    from mspviewer.cli import main

    assert main(["--json", "profiles"]) == 0
    before = capsys.readouterr().out
    assert main(["profiles", "--json"]) == 0
    after = capsys.readouterr().out
    assert json.loads(after) == json.loads(before) and "balanced" in after
    assert main(["profiles"]) == 0
    assert not capsys.readouterr().out.startswith("{")  # without it, no JSON
    assert main(["--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "a command is needed" in captured.err
