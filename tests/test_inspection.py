"""The Qt-free core of the inspector (issue 7): element inspection, decode replay, exports,
and the bit-exact check in a fresh process. Tiny random model, small images."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_image
from mspviewer.codec import bitstream, decode_bytes, encode_image, load_model
from mspviewer.codec.api import tensor_to_image
from mspviewer.codec.inspection import (ElementInspection, export_replay, image_to_latent,
                                        inspect_element, replay_frame_name, replay_frames,
                                        verify_in_fresh_process)
from mspviewer.errors import MSPViewerError

LAM = 0.01


@pytest.fixture(scope="module")
def file_model(model_file):
    """The tiny model as the fresh process loads it (float16-stored weights)."""
    return load_model(model_file)


@pytest.fixture(scope="module")
def encoded(file_model):
    pixels = smooth_image(64, 90, seed=3)  # padded 64×96: latent grid 4×6
    return pixels, encode_image(file_model, pixels, LAM, profile="fast")


@pytest.fixture(scope="module")
def decoded(file_model, encoded):
    return decode_bytes(file_model, encoded[1].bitstream)


def _steps(model) -> int:
    return model.config.msp.steps_per_scale


def _bound(model) -> int:
    return model.config.coding.symbol_bound


def test_inspection_matches_the_record(file_model, decoded):
    record = decoded.analysis
    m, h, w = record.y_hat.shape
    assert (h, w) == (4, 6)
    for channel in range(m):
        for row in range(h):
            for col in range(w):
                info = inspect_element(record, channel, row, col, _steps(file_model),
                                       _bound(file_model))
                assert info.y_hat == record.y_hat[channel, row, col]
                assert info.mu == record.mu[channel, row, col]
                assert info.sigma == record.sigma[channel, row, col]
                assert info.symbol == record.symbols[channel, row, col]
                assert info.bits == record.bits[channel, row, col]
                assert info.pass_index == record.pass_index[channel, row, col]
                assert info.bits_match, (channel, row, col, info.computed_bits, info.bits)
                assert info.channel_start <= channel < info.channel_stop
                assert info.known_channels == info.channel_start
    info = inspect_element(record, 5, 2, 1, _steps(file_model), _bound(file_model))
    assert isinstance(info, ElementInspection)
    stats = record.passes[info.pass_index]
    assert (info.scale, info.step, info.group, info.pass_label) == (
        stats.scale, stats.step, stats.group, stats.label)
    # the PMF window holds the coded symbol; its probability gives the record's bits
    assert info.symbol in info.pmf_symbols
    p = info.pmf[list(info.pmf_symbols).index(info.symbol)]
    assert not info.escaped
    # (float64 ndtr differs by ~1e-8 between torch's vectorised and scalar kernels)
    assert -math.log2(max(p, 2.0 ** -24)) == pytest.approx(info.bits, rel=1e-6)
    assert -math.log2(info.symbol_probability) == pytest.approx(info.bits, rel=1e-6)
    # independently: the discretised Gaussian's mass on the symbol's bin, from math.erfc
    def cdf(t):
        return 0.5 * math.erfc(-t / (info.sigma * math.sqrt(2)))
    expected = max(cdf(info.symbol + 0.5) - cdf(info.symbol - 0.5), 2.0 ** -24)
    assert -math.log2(expected) == pytest.approx(info.bits, rel=1e-4)
    assert info.pmf.sum() == pytest.approx(1.0, abs=1e-3)
    assert info.pmf.min() >= 0
    json.dumps(info.to_dict())  # the GUI / scripts can serialise it


def test_context_of_coarsest_and_step_b(file_model, decoded):
    record = decoded.analysis
    coarsest = inspect_element(record, 0, 0, 0, _steps(file_model), _bound(file_model))
    assert coarsest.step == "coarsest" and coarsest.scale == file_model.config.msp.num_scales - 1
    assert coarsest.spatial_context.num_known == 0
    assert coarsest.known_channels == 0
    later_group = inspect_element(record, 15, 0, 0, _steps(file_model), _bound(file_model))
    assert later_group.group == 1 and later_group.known_channels == 8

    # finest scale (stride 1): (2, 1) has lattice parity (0, 1), coded in step B
    b = inspect_element(record, 0, 2, 1, _steps(file_model), _bound(file_model))
    assert (b.scale, b.step, b.stride) == (0, "B", 1)
    ctx = b.spatial_context
    assert set(ctx.known_offsets()) == {(-1, 0), (1, 0), (0, -1), (0, 1)}
    odd_odd = [pos for pos, known in zip(ctx.latent_positions, ctx.known)
               if known and pos[0] % 2 == 1 and pos[1] % 2 == 1]
    assert odd_odd == [(1, 1), (3, 1)]  # decoded in step A
    grid = ctx.grid()
    assert grid[1, 1] == 0 and grid[0, 0] == 0  # itself and step-B diagonals not known

    # step A at the finest scale: (1, 1) sees only the (even, even) coarser lattice
    a = inspect_element(record, 0, 1, 1, _steps(file_model), _bound(file_model))
    assert a.step == "A"
    assert set(a.spatial_context.known_offsets()) == {(-1, -1), (-1, 1), (1, -1), (1, 1)}


def test_image_to_latent_and_bad_positions(decoded, file_model):
    assert image_to_latent(0, 0) == (0, 0)
    assert image_to_latent(17, 40) == (2, 1)
    assert image_to_latent(15, 15) == (0, 0)
    with pytest.raises(MSPViewerError):
        inspect_element(decoded.analysis, 0, 4, 0, _steps(file_model))


def test_replay_first_and_last_frames(file_model, encoded, decoded, tmp_path):
    pixels, enc = encoded
    record = decoded.analysis
    frames = replay_frames(file_model, record, original=pixels)
    assert len(frames) == len(record.passes) + 1
    assert np.array_equal(frames[-1].image, decoded.pixels)
    assert frames[-1].psnr_rgb == pytest.approx(
        10 * math.log10(255 ** 2 / np.mean((decoded.pixels.astype(float) - pixels) ** 2)))
    point = file_model.rate_point(record.lam)
    with torch.no_grad():
        means_only = file_model.synthesise(torch.from_numpy(record.mu)[None], point,
                                           record.image_size).clamp(0, 1)
    assert np.array_equal(frames[0].image, tensor_to_image(means_only))
    assert frames[0].estimated_bits == 0 and frames[0].actual_bits == 0
    assert frames[0].decoded_elements == 0
    assert frames[-1].decoded_elements == record.y_hat.size
    assert frames[-1].estimated_bits == pytest.approx(record.estimated_bits)
    assert frames[-1].actual_bits == record.actual_bits
    assert all(a.actual_bits <= b.actual_bits for a, b in zip(frames, frames[1:]))

    gif = tmp_path / "replay.gif"
    assert export_replay(frames, gif) == [gif]
    with Image.open(gif) as image:
        # Pillow merges identical consecutive frames (the tiny random model repeats some)
        distinct = 1 + sum(not np.array_equal(a.image, b.image) for a, b in zip(frames, frames[1:]))
        assert image.n_frames == distinct
    folder = tmp_path / "steps"
    written = export_replay(frames, folder)
    assert len(written) == len(frames)
    with Image.open(written[-1]) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), decoded.pixels)
    # an earlier, longer replay in the same folder: its extra frames go, other files stay
    extra = [folder / replay_frame_name(len(frames) + k) for k in range(3)]
    for path in extra:
        path.write_bytes(b"an earlier replay's frame")
    (folder / "notes.txt").write_text("mine")
    assert export_replay(frames, folder) == written
    assert sorted(folder.iterdir()) == sorted(written + [folder / "notes.txt"])
    with pytest.raises(MSPViewerError):
        export_replay(frames, tmp_path / "replay.jpg")


def _latent_after(record, k: int) -> np.ndarray:
    """The decoder's latent after passes 0..k-1, built pass by pass: start from the recorded
    predictions μ and write each pass's decoded values ŷ over its own elements."""
    latent = record.mu.astype(np.float32).copy()
    for stats in record.passes[:k]:
        mine = record.pass_index == stats.index
        assert int(mine.sum()) == stats.num_elements  # the pass's own count of its elements
        latent[mine] = record.y_hat[mine]
    return latent


def _synthesised(model, record, latent: np.ndarray) -> np.ndarray:
    """The model's own synthesis of ``latent``, quantised as the decoder does."""
    with torch.no_grad():
        x_hat = model.synthesise(torch.from_numpy(latent)[None], model.rate_point(record.lam),
                                 record.image_size).clamp(0, 1)
    return tensor_to_image(x_hat)


def test_replay_middle_frames_are_the_synthesis_of_the_partly_decoded_latent(
        file_model, encoded, decoded):
    from skimage.metrics import peak_signal_noise_ratio

    from mspviewer.codec.inspection import replay_latent

    pixels, _ = encoded
    record = decoded.analysis
    passes = len(record.passes)
    assert passes >= 4  # room for steps strictly between the first and the last
    frames = replay_frames(file_model, record, original=pixels)
    # replay_latent itself: μ before any pass, ŷ after all of them, the mix in between
    assert np.array_equal(replay_latent(record, 0), record.mu)
    assert np.array_equal(replay_latent(record, passes), record.y_hat)
    for k in range(1, passes):
        expected = _latent_after(record, k)
        got = replay_latent(record, k)
        assert got.dtype == np.float32 and np.array_equal(got, expected), k
        # a real mix: some elements already decoded (ŷ ≠ μ there), some still predicted
        assert not np.array_equal(expected, record.mu) and not np.array_equal(
            expected, record.y_hat), k
        frame = frames[k]
        assert frame.step == k and frame.label == record.passes[k - 1].label
        assert np.array_equal(frame.image, _synthesised(file_model, record, expected)), k
        decoded_mask = record.pass_index < k
        assert frame.decoded_elements == sum(p.num_elements for p in record.passes[:k])
        assert frame.estimated_bits == pytest.approx(record.bits[decoded_mask].sum(), rel=1e-9)
        assert frame.actual_bits == 8 * sum(p.actual_bytes for p in record.passes[:k])
        assert frame.psnr_rgb == pytest.approx(
            peak_signal_noise_ratio(pixels, frame.image, data_range=255), abs=1e-9)
    middle = frames[passes // 2]
    assert not np.array_equal(middle.image, frames[0].image)  # more than the prediction …
    assert not np.array_equal(middle.image, frames[-1].image)  # … and not yet the answer
    assert not np.array_equal(middle.image, decoded.pixels)


def test_replay_cli(model_file, file_model, encoded, tmp_path, capsys):
    from mspviewer.cli import main

    msp = tmp_path / "in.msp"
    msp.write_bytes(encoded[1].bitstream)
    out = tmp_path / "r.gif"
    assert main(["--json", "replay", str(msp), "-o", str(out), "--model", str(model_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == len(encoded[1].analysis.passes) + 1 and out.exists()
    # the frames written are the replay of the stream's decode, step by step, in order
    frames = replay_frames(file_model, decode_bytes(file_model, msp.read_bytes()).analysis)
    assert len(frames) == result["frames"]
    assert [s["actual_bits"] for s in result["steps"]] == [f.actual_bits for f in frames]
    with Image.open(out) as gif:  # (identical consecutive frames merge in a GIF)
        distinct = 1 + sum(not np.array_equal(a.image, b.image) for a, b in zip(frames, frames[1:]))
        assert gif.n_frames == distinct and gif.size == (90, 64)
    folder = tmp_path / "steps"
    assert main(["replay", str(msp), "-o", str(folder), "--model", str(model_file)]) == 0
    capsys.readouterr()
    pngs = sorted(folder.glob("step_*.png"))
    assert len(pngs) == len(frames)
    for png, frame in zip(pngs, frames):
        with Image.open(png) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), frame.image), png.name
    assert not np.array_equal(frames[0].image, frames[-1].image)  # the steps differ
    assert main(["replay", str(tmp_path / "missing.msp"), "-o", str(out),
                 "--model", str(model_file)]) == 2


def test_fresh_process_check(model_file, encoded, decoded, tmp_path):
    data = encoded[1].bitstream
    good = tmp_path / "good.msp"
    good.write_bytes(data)
    report = verify_in_fresh_process(good, model_file, decoded.pixels)
    assert report.ok and report.checksum_ok and report.pixels_identical, report

    header, _ = bitstream.parse(data)
    corrupted = bytearray(data)
    corrupted[bitstream.header_size(header) + 3] ^= 0x40  # a high bit of the first word
    bad = tmp_path / "bad.msp"
    bad.write_bytes(bytes(corrupted))
    report = verify_in_fresh_process(bad, model_file, decoded.pixels)
    assert not report.ok and report.checksum_ok is False, report
    assert "checksum" in report.message


def test_pmf_reaching_the_bound_is_the_coders_whole_distribution():
    """When the window reaches ±bound, its edge bins hold the tails (as constriction's
    QuantizedGaussian does), so the window sums to 1; inside, it is the plain Gaussian bin."""
    import math

    from mspviewer.codec.inspection import element_pmf

    symbols, pmf = element_pmf(sigma=3.0, symbol=8, bound=8)
    assert symbols[0] == -8 and symbols[-1] == 8
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    tail = 0.5 * math.erfc(7.5 / 3.0 / math.sqrt(2))
    assert pmf[-1] == pytest.approx(tail, rel=1e-9) and pmf[0] == pmf[-1]
    bin_7 = 0.5 * (math.erfc(6.5 / 3.0 / math.sqrt(2)) - math.erfc(7.5 / 3.0 / math.sqrt(2)))
    assert pmf[-2] == pytest.approx(bin_7, rel=1e-9)
    narrow_symbols, narrow = element_pmf(sigma=2.0, symbol=1, bound=20)  # ±8: no tails folded in
    assert narrow_symbols[-1] == 8
    assert narrow.sum() == pytest.approx(1.0 - math.erfc(8.5 / 2.0 / math.sqrt(2)), rel=1e-12)


def test_the_decoder_child_is_killed_when_the_wait_is_interrupted(monkeypatch):
    """A cancel callback that raises (or an interrupt during the wait) must not leave the
    fresh-process decoder running."""
    import subprocess

    from mspviewer.codec import inspection

    children = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        children.append(real_popen(*args, **kwargs))
        return children[-1]

    def broken_cancel():
        raise RuntimeError("the job runner went away")

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    with pytest.raises(RuntimeError, match="went away"):
        inspection._run_child([sys.executable, "-c", "import time; time.sleep(60)"],
                              dict(os.environ), 60, broken_cancel)
    assert len(children) == 1 and children[0].poll() is not None  # killed and reaped
