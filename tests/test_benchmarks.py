"""Smoke tests of the benchmarks (decode speed and its serial reference context model, …)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import load_script


def _load(name: str):
    return load_script("benchmarks", name)


def test_decode_speed_quick_run(tmp_path, capsys):
    decode_speed = _load("decode_speed")
    out = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        results = decode_speed.main(["--quick", "--sizes", "64x96", "--devices", "cpu",
                                     "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "ratio = serial / MSP" in printed and "64x96" in printed
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(results["rows"]))
    (row,) = results["rows"]
    assert (row["device"], row["height"], row["width"]) == ("cpu", 64, 96)
    assert row["latent"][1:] == [4, 6] and row["positions"] == 24
    assert row["latent"][0] == results["latent_channels"]
    for decoder in ("msp", "serial"):
        stage = row[decoder]
        assert stage["verified"] is True
        assert stage["total_s"] > 0 and stage["entropy_s"] > 0 and stage["synthesis_s"] > 0
        assert len(stage["runs"]) == 1
    serial = row["serial"]
    assert serial["extrapolated"] is False and serial["measured_positions"] == 24
    assert serial["symbols"] == 24 * results["latent_channels"]
    assert row["ratio_total"] == serial["total_s"] / row["msp"]["total_s"]


def test_serial_reference_is_a_causal_masked_context_and_round_trips():
    from mspviewer.codec.config import CodingConfig
    from mspviewer.codec.sigma_table import SigmaTable

    reference_module = _load("serial_context_model")
    coding = CodingConfig()
    reference = reference_module.SerialContextModel(12, SigmaTable(coding),
                                                    coding.symbol_bound).eval()
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(1, 12, 5, 7, generator=generator) * 4
    words, symbols, y_hat = reference.encode(y)
    decoded, y_hat_decoded = reference.decode(words, 5, 7)
    np.testing.assert_array_equal(decoded, symbols)
    assert torch.equal(y_hat, y_hat_decoded)
    assert symbols.shape == (35, 12) and np.abs(symbols).max() > 0
    # The per-position loop equals the full 5×5 type-A masked convolution of ŷ ...
    with torch.no_grad():
        context = reference.masked_context(y_hat)[0].permute(1, 2, 0).reshape(35, -1)
        hyper = reference.hyper_features(5, 7).reshape(35, -1)
        mu = reference.entropy_parameters(torch.cat([context, hyper], 1))[:, :12]
    residual = y_hat[0].permute(1, 2, 0).reshape(35, 12) - mu
    assert torch.allclose(residual, torch.from_numpy(symbols).float(), atol=1e-4)
    # ... which is causal: changing ŷ at a position changes no context at or before it.
    changed = y_hat.clone()
    changed[0, :, 2, 3] += 10
    with torch.no_grad():
        before = reference.masked_context(y_hat)[0].permute(1, 2, 0).reshape(35, -1)
        after = reference.masked_context(changed)[0].permute(1, 2, 0).reshape(35, -1)
    differs = (before - after).abs().amax(1) > 0
    assert not differs[:2 * 7 + 3 + 1].any() and differs[2 * 7 + 4]


def test_train_step_benchmark_times_both_layouts(capsys):
    train_step = _load("train_step")
    threads = torch.get_num_threads()
    try:
        train_step.main(["--crop", "32", "--batch", "1", "--steps", "1", "--precision", "fp32",
                         "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "batch 1 × 32², fp32, cpu, 1 thread(s)" in printed
    assert "default: forward" in printed and "channels_last: forward" in printed
    assert "channels_last speed-up:" in printed


def test_rate_control_benchmark_lands_on_a_reachable_target(tmp_path, capsys, tiny_model):
    """Targets taken from real encodes of each image at a mid-range λ are reachable: every
    row lands within tolerance, measured from the file the encoder wrote."""
    from conftest import smooth_image
    from mspviewer.codec import encode_image, save_weights
    from mspviewer.imageio import save_png

    rate_control = _load("rate_control")
    model_file = tmp_path / "tiny.pt"
    save_weights(tiny_model, model_file, name="tiny")
    folder = tmp_path / "images"
    folder.mkdir()
    low, high = tiny_model.config.lambda_range
    middle = (low * high) ** 0.5
    bpps = []
    for index, (height, width) in enumerate([(48, 64), (64, 48)]):
        pixels = smooth_image(height, width, seed=index)
        save_png(pixels, folder / f"{index}.png")
        bpps.append(8 * len(encode_image(tiny_model, pixels, middle).bitstream) / (height * width))
    threads = torch.get_num_threads()
    try:
        result = rate_control.main([str(folder), "--bpp", f"{sum(bpps) / 2:.6f}",
                                    "--model", str(model_file), "--tolerance", "0.2"])
    finally:
        torch.set_num_threads(threads)
    assert [row["image"] for row in result["rows"]] == ["0.png", "1.png"]
    for row in result["rows"]:
        assert abs(row["bpp"] / result["target_bpp"] - 1) == pytest.approx(abs(row["error"]))
        assert row["within"] == (abs(row["error"]) <= 0.2)
    assert result["summary"]["within_tolerance"] == 2 and not result["summary"]["outside_range"]
    assert not result["summary"]["extrapolated"]  # reachable in the trained range
    assert "2 of 2 within ±20%" in capsys.readouterr().out
    try:  # far above what the model can spend: each image at the top of its range, named
        result = rate_control.main([str(folder), "--bpp", "100", "--model", str(model_file)])
    finally:
        torch.set_num_threads(threads)
    assert result["summary"]["within_tolerance"] == 0
    top = tiny_model.config.usable_lambda_range[1]  # the trained range's top, extrapolated
    assert all(row["range_end"] == "highest" and row["lambda"] == pytest.approx(top)
               and row["extrapolated"] for row in result["rows"])
    printed = capsys.readouterr().out
    assert "outside the model's range: 0.png" in printed
    assert "past the trained range (gains extrapolated): 0.png, 1.png" in printed


def test_lambda_extrapolation_benchmark_measures_both_ends(tmp_path, capsys):
    """Its points are the files the encoder writes at each λ, and its ratios a segment's
    slope over the Lagrangian's, recomputed here from the encodes with scikit-image."""
    from skimage.metrics import peak_signal_noise_ratio

    from conftest import smooth_image
    from mspviewer.codec import (build_random_model, encode_image, load_model, save_weights,
                                 tiny_config)
    from mspviewer.imageio import save_png

    extrapolation = _load("lambda_extrapolation")
    model = build_random_model(tiny_config(), seed=1)
    with torch.no_grad():  # gains spread out, so that the rate moves with λ
        model.gains.log_gain.mul_(3).add_(3)
    model_file = tmp_path / "wide.pt"
    save_weights(model, model_file, name="wide")
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = smooth_image(48, 64, seed=2)
    save_png(pixels, folder / "a.png")
    threads = torch.get_num_threads()
    try:
        result = extrapolation.main([str(folder), "--model", str(model_file)])
    finally:
        torch.set_num_threads(threads)
    model = load_model(model_file)  # as the script has it (weights stored in half precision)
    ladder = model.config.rate.lambdas
    low, high = model.config.usable_lambda_range
    assert result["lambdas"] == [low, ladder[0], ladder[1], ladder[-2], ladder[-1], high]
    (row,) = result["rows"]
    points = []
    for lam in result["lambdas"]:
        encoded = encode_image(model, pixels, lam)
        points.append((8 * len(encoded.bitstream) / pixels[..., 0].size,
                       peak_signal_noise_ratio(pixels, encoded.reconstruction, data_range=255)))
    np.testing.assert_allclose(row["points"], points, rtol=1e-9)
    (bpp_a, psnr_a), (bpp_b, psnr_b) = points[4], points[5]
    mse = 10 ** (-(psnr_a + psnr_b) / 20)
    expected = ((psnr_b - psnr_a) / (bpp_b - bpp_a)) * math.sqrt(ladder[-1] * high) \
        * 255 ** 2 * mse * math.log(10) / 10
    assert row["ratios"]["past the top"] == pytest.approx(expected, rel=1e-9)
    assert row["rising"] == all(a[0] < b[0] and a[1] < b[1] for a, b in zip(points, points[1:]))
    printed = capsys.readouterr().out
    assert "| a.png |" in printed and "slope over the Lagrangian's" in printed


def test_transform_layout_benchmark_compares_both_layouts(capsys):
    transform_layout = _load("transform_layout")
    threads = torch.get_num_threads()
    try:
        result = transform_layout.main(["--size", "32x48", "--repeat", "1"])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "32x48 on cpu (1 thread(s)), median of 1" in printed
    assert len(result["rows"]) == 6
    for key, row in result["rows"].items():
        assert key.split()[0] in ("g_a", "g_s")
        assert set(row["seconds"]) == {"contiguous", "channels_last"}
        assert row["channels_last_speedup"] == pytest.approx(
            row["seconds"]["contiguous"] / row["seconds"]["channels_last"])
        assert row["max_abs_difference"] < 1e-3  # the layouts compute the same transform
        assert key.split(" ", 1)[1] in printed


def test_synthesis_runs_channels_last_only_with_its_weights_fixed(tiny_model):
    """The layout of benchmarks/transform_layout.py's choice: channels-last for decoding and
    LOF from a 256×256 image up, the default layout for training and for smaller latents
    (where channels-last was slower)."""
    from mspviewer.codec.transforms import CHANNELS_LAST_MIN_POSITIONS

    g_s = tiny_model.g_s
    channels = tiny_model.config.transform.latent_channels
    y = torch.randn(1, channels, 16, CHANNELS_LAST_MIN_POSITIONS // 16)
    channels_last = torch.channels_last
    with torch.no_grad():
        decoded = g_s(y)
        small = g_s(y[..., :-1])  # one position short: the default layout
    assert decoded.is_contiguous(memory_format=channels_last)
    assert small.is_contiguous() and not small.is_contiguous(memory_format=channels_last)
    flags = [p.requires_grad for p in g_s.parameters()]
    try:
        for p in g_s.parameters():
            p.requires_grad_(False)  # LOF: gradient to the latent only
        lof = g_s(y.clone().requires_grad_(True))
        assert lof.is_contiguous(memory_format=channels_last)
        for p in g_s.parameters():
            p.requires_grad_(True)  # training
        trained = g_s(y)
        assert trained.is_contiguous() and not trained.is_contiguous(memory_format=channels_last)
    finally:
        for p, flag in zip(g_s.parameters(), flags):
            p.requires_grad_(flag)
    torch.testing.assert_close(decoded, trained.detach(), rtol=1e-5, atol=1e-6)


def test_channel_usage_benchmark_counts_per_lambda(tmp_path, capsys, tiny_model):
    from conftest import smooth_image
    from mspviewer.codec import encode_image, save_weights
    from mspviewer.codec.api import PLAIN_PROFILE
    from mspviewer.codec.channel_usage import channel_usage
    from mspviewer.imageio import save_png

    channel_usage_script = _load("channel_usage")
    images = tmp_path / "images"
    images.mkdir()
    pixels = [smooth_image(32, 48, seed=seed) for seed in (1, 2)]
    for index, array in enumerate(pixels):
        save_png(array, images / f"im{index}.png")
    weights = tmp_path / "tiny.pt"
    save_weights(tiny_model, weights, name="tiny")
    threads = torch.get_num_threads()
    try:
        rows = channel_usage_script.main([str(images), "--lambdas", "0.002,0.04",
                                          "--model", str(weights),
                                          "--json", str(tmp_path / "rows.json")])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "rows.json").read_text()) == rows
    from mspviewer.codec import load_model

    model = load_model(weights)
    for row in rows:
        usages = [channel_usage(encode_image(model, array, row["lambda"],
                                             PLAIN_PROFILE).analysis) for array in pixels]
        assert row["mean_channels_for_share"]["90%"] == pytest.approx(
            np.mean([u.channels_for(0.9) for u in usages]))
        assert row["mean_inactive"] == pytest.approx(np.mean([u.inactive.sum() for u in usages]))
        common = set(usages[0].order[:10]) & set(usages[1].order[:10])
        assert row["top_in_every_image"] == sorted(int(c) for c in common)
    printed = capsys.readouterr().out
    assert "2 images from" in printed and printed.count("\n| 0.0") == 2


def test_lof_profile_counts_the_operators_of_an_iteration(capsys):
    """The count it prints is the profiler's, per iteration: two runs of 1 and 2 iterations
    print about the same count (iterations cost alike), and the table names convolutions."""
    lof_profile = _load("lof_profile")
    counts = []
    threads = torch.get_num_threads()
    try:
        for iterations in (1, 2):
            assert lof_profile.main(["--crop", "32x48", "--iterations", str(iterations),
                                     "--top", "5"]) == 0
            printed = capsys.readouterr().out
            first = printed.splitlines()[0]
            assert first.startswith("48x32 on cpu: ")
            counts.append(int(first.split(" ms per iteration under the profiler, ")[1]
                              .split(" operator calls")[0]))
            assert "conv" in printed
    finally:
        torch.set_num_threads(threads)
    assert counts[0] > 1000 and abs(counts[1] - counts[0]) < 0.05 * counts[0]


def test_cuda_determinism_check_runs_on_the_cpu_too(tmp_path, capsys):
    from mspviewer.imageio import load_image, save_png
    from conftest import KODAK

    image = tmp_path / "crop.png"
    save_png(load_image(KODAK / "kodim23.png").pixels[:48, :64].copy(), image)
    check = _load("cuda_determinism")
    threads = torch.get_num_threads()
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        assert check.main([str(image), "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) = flags
    printed = capsys.readouterr().out
    assert "decoded pixels vs encoder's reconstruction: equal" in printed
    assert printed.rstrip().endswith("bit-exact")
    assert check.difference(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])) == \
        "1 values differ, by up to 0.5"


def test_classic_stall_benchmark_runs_the_search_both_ways(capsys):
    classic_stall = _load("classic_stall")
    results = classic_stall.main(["--size", "128", "--repeat", "1", "--bpp", "1.0"])
    printed = capsys.readouterr().out
    assert "in this process" in printed and "helper process" in printed
    assert f"every run found quality {results['quality']}" in printed
    for runs in results["rows"].values():
        (run,) = runs
        assert run["search_s"] > 0 and run["longest_gap_s"] >= run["p99_gap_s"]


def test_greedy_share_splits_the_drop_of_j_between_the_two_phases(tmp_path, capsys,
                                                                  tiny_model, monkeypatch):
    """J after the gradient phase is what the same encode without the greedy search ends
    with (the phase is seeded); the greedy search only lowers it, within its budget."""
    from conftest import smooth_image
    from mspviewer.codec import save_weights
    from mspviewer.codec.profiles import PROFILES_ENV
    from mspviewer.imageio import save_png

    (tmp_path / "profiles.json").write_text(json.dumps({
        "format": "mspviewer-profiles", "version": 1, "profiles": [
            {"name": "fast", "description": "no LOF", "lof_iterations": 0},
            {"name": "max", "description": "a short max", "lof_iterations": 6,
             "learning_rate": 0.05, "rounding": "annealed", "greedy": True,
             "greedy_budget": 12, "greedy_batch_fraction": 0.05},
            {"name": "gradient-only", "description": "the same without the greedy search",
             "lof_iterations": 6, "learning_rate": 0.05, "rounding": "annealed"}]}))
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path / "profiles.json"))
    save_png(smooth_image(48, 64, seed=3), tmp_path / "picture.png")
    weights = tmp_path / "tiny.pt"
    save_weights(tiny_model, weights, name="tiny")
    threads = torch.get_num_threads()
    try:
        [row] = _load("greedy_share").main([str(tmp_path / "picture.png"), "--crop", "32x32",
                                            "--lambda", "0.02", "--model", str(weights)])
    finally:
        torch.set_num_threads(threads)
    from mspviewer.codec import encode_image, load_model
    from mspviewer.imageio import load_image

    crop = load_image(tmp_path / "picture.png").pixels[8:40, 16:48]  # (the centre 32×32)
    try:  # (on the script's one thread: another count may sum, and so round, differently)
        torch.set_num_threads(1)
        alone = encode_image(load_model(weights), crop, 0.02, "gradient-only").lof
    finally:
        torch.set_num_threads(threads)
    assert row["J_initial"] == pytest.approx(alone.J_initial, rel=1e-9)
    assert row["J_after_gradient"] == pytest.approx(alone.J_best, rel=1e-9)
    assert row["gradient_drop_percent"] == pytest.approx(
        100 * (alone.J_initial - alone.J_best) / alone.J_initial)
    # (the tiny model's latent leaves the search moves to accept: it lowers J here)
    assert row["accepted"] > 0 and row["J_best"] < row["J_after_gradient"]
    assert row["greedy_drop_percent"] == pytest.approx(
        100 * (alone.J_best - row["J_best"]) / alone.J_initial)
    assert row["accepted"] <= row["greedy_trials"] <= 12
    assert 0 < row["gradient_seconds"]
    assert row["gradient_seconds"] + row["greedy_seconds"] <= row["encode_seconds"]
    with pytest.raises(SystemExit):  # a profile without the two phases has nothing to split
        _load("greedy_share").main([str(tmp_path / "picture.png"), "--profile", "fast",
                                    "--model", str(weights)])
    assert json.loads(capsys.readouterr().out.strip()) == row
