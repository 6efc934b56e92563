"""decode(encode(x)) is bit-exact and equals the hard-quantised forward pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import smooth_image
from mspviewer.codec import decode_bytes, encode_image, image_to_tensor

SIZES = [(1, 1), (17, 33), (512, 768), (1080, 1920)]


def assert_round_trip(model, pixels: np.ndarray, lam: float) -> None:
    encoded = encode_image(model, pixels, lam)
    decoded = decode_bytes(model, encoded.bitstream)
    # Same coded symbols, element by element, and the same decoded latent.
    np.testing.assert_array_equal(decoded.analysis.symbols, encoded.analysis.symbols)
    np.testing.assert_array_equal(decoded.analysis.y_hat, encoded.analysis.y_hat)
    assert decoded.pixels.shape == pixels.shape
    # The decoder's image equals the hard-quantised forward pass, exactly.
    with torch.no_grad():
        forward = model(image_to_tensor(pixels), lam, quantization="hard")
    reference = forward["x_hat"].clamp(0, 1).mul(255).round().to(torch.uint8)
    np.testing.assert_array_equal(decoded.pixels, reference[0].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(decoded.pixels, encoded.reconstruction)
    # The forward pass's likelihoods are the model's estimate of the coded bits.
    forward_bits = -torch.log2(forward["likelihoods"].double()).sum().item()
    assert forward_bits == pytest.approx(encoded.analysis.estimated_bits, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("height,width", SIZES)
def test_round_trip_tiny_model(tiny_model, height, width):
    assert_round_trip(tiny_model, smooth_image(height, width, seed=height), lam=0.0067)


@pytest.fixture(scope="module")
def tiny_model_shipped_structure():
    """A tiny random model with the shipped model's MSP structure (4 scales, 2 steps, 4
    groups: 28 passes), so that odd sizes meet every scale's lattice in the fast run."""
    from conftest import amplify_analysis
    from mspviewer.codec import build_random_model, load_model, tiny_config

    shipped = load_model().config.msp
    config = tiny_config(num_scales=shipped.num_scales, steps_per_scale=shipped.steps_per_scale,
                         num_groups=shipped.num_groups)
    return amplify_analysis(build_random_model(config, seed=4))


@pytest.mark.parametrize("height,width", [(1, 1), (17, 33), (31, 47), (129, 65)])
def test_round_trip_tiny_model_of_the_shipped_structure(tiny_model_shipped_structure, height,
                                                         width):
    assert tiny_model_shipped_structure.config.msp.sequential_passes == 28
    assert_round_trip(tiny_model_shipped_structure, smooth_image(height, width, seed=width),
                      lam=0.0067)


@pytest.mark.parametrize("lam", [0.0018, 0.0049, 0.0483])
def test_round_trip_across_lambda_range(tiny_model, lam):
    assert_round_trip(tiny_model, smooth_image(40, 56, seed=3), lam)


def test_round_trip_shipped_model_kodak(shipped_model, kodim01):
    assert_round_trip(shipped_model, kodim01, lam=0.0130)


@pytest.mark.slow
@pytest.mark.parametrize("height,width", SIZES)
def test_round_trip_shipped_model_all_sizes(shipped_model, height, width):
    assert_round_trip(shipped_model, smooth_image(height, width, seed=7), lam=0.0067)


def test_escaped_symbols_round_trip(tiny_model):
    """Latents far beyond the symbol range are escaped, not clamped or crashed on."""
    pixels = smooth_image(32, 48, seed=5)
    model = tiny_model
    with torch.no_grad():
        point = model.rate_point(0.0067)
        y = model.analyse(image_to_tensor(pixels), point)
        y[0, 0, 0, 0] = 5000.0  # far outside ±symbol_bound
        y[0, 3, 1, 2] = -70000.0
        encoded = model.compress_latent(y, 0.0067, pixels.shape[:2])
    decoded = model.decompress(encoded.bitstream)
    np.testing.assert_array_equal(decoded.analysis.symbols, encoded.analysis.symbols)
    assert np.abs(encoded.analysis.symbols).max() > 60000


def test_lambda_outside_trained_range_is_refused(tiny_model):
    from mspviewer.codec.gain import LambdaOutOfRangeError

    with pytest.raises(LambdaOutOfRangeError, match="trained range"):
        encode_image(tiny_model, smooth_image(16, 16), lam=0.5)


def test_gain_interpolation_is_geometric(tiny_model):
    gains = tiny_model.gains
    a, b = gains.lambdas[1], gains.lambdas[2]
    middle = (a * b) ** 0.5  # halfway on a log scale
    expected = torch.sqrt(gains.gain(gains.locate(a)) * gains.gain(gains.locate(b)))
    torch.testing.assert_close(gains.gain(gains.locate(middle)), expected)


def test_gains_past_the_ladder_extend_its_end_segments(tiny_model):
    """Past an end of the ladder, log gain goes on along the line through the two end entries
    (checked against that line, computed here from the stored tables)."""
    gains = tiny_model.gains
    ladder = gains.lambdas
    for lam, (i, j) in ((ladder[-1] * 1.7, (-2, -1)), (ladder[0] / 1.6, (0, 1))):
        point = gains.locate(lam)
        assert point.extrapolated and (point.t > 1 if lam > ladder[-1] else point.t < 0)
        slope = math.log(lam / ladder[i]) / math.log(ladder[j] / ladder[i])
        for table, values in ((gains.log_gain, gains.gain(point)),
                              (gains.log_inverse_gain, gains.inverse_gain(point))):
            line = table[i] + slope * (table[j] - table[i])
            torch.testing.assert_close(values, line.exp())
    for lam in (ladder[0], math.sqrt(ladder[0] * ladder[-1]), ladder[-1]):
        assert not gains.locate(lam).extrapolated


@pytest.mark.parametrize("factor", [1 / 1.9, 1.9])
def test_round_trip_past_the_trained_range(tiny_model, factor):
    low, high = tiny_model.config.lambda_range
    lam = (high if factor > 1 else low) * factor
    assert tiny_model.rate_point(lam).extrapolated
    assert_round_trip(tiny_model, smooth_image(40, 56, seed=5), lam)


def test_lambda_beyond_the_extrapolated_margin_is_refused(tiny_model):
    from mspviewer.codec.config import LAMBDA_EXTRAPOLATION_FACTOR
    from mspviewer.codec.gain import LambdaOutOfRangeError

    low, high = tiny_model.config.lambda_range
    usable = tiny_model.config.usable_lambda_range
    assert usable == pytest.approx((low / LAMBDA_EXTRAPOLATION_FACTOR,
                                    high * LAMBDA_EXTRAPOLATION_FACTOR))
    for lam in usable:  # the ends themselves are usable, as float32 too
        encode_image(tiny_model, smooth_image(8, 8), lam=float(np.float32(lam)))
    for lam in (usable[0] * 0.98, usable[1] * 1.02):
        with pytest.raises(LambdaOutOfRangeError, match="trained range"):
            encode_image(tiny_model, smooth_image(8, 8), lam=lam)


@pytest.mark.parametrize("encode_threads,decode_threads", [(1, 2), (2, 1)])
def test_thread_count_does_not_change_the_coded_symbols(shipped_model, kodim01, encode_threads,
                                                         decode_threads):
    """A file encoded with one CPU thread count decodes with another (the σ-index decisions
    run single-threaded): same symbols, every λ."""
    threads = torch.get_num_threads()
    try:
        for lam in (0.0018, 0.013, 0.0483):
            torch.set_num_threads(encode_threads)
            encoded = encode_image(shipped_model, kodim01, lam)
            torch.set_num_threads(decode_threads)
            decoded = decode_bytes(shipped_model, encoded.bitstream)
            np.testing.assert_array_equal(decoded.analysis.symbols, encoded.analysis.symbols)
            # Synthesis keeps the machine's threads: pixels may differ by one level at most.
            difference = np.abs(decoded.pixels.astype(int) - encoded.reconstruction.astype(int))
            assert difference.max() <= 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e20])
def test_uncodable_latents_are_refused_clearly(tiny_model, bad):
    from mspviewer.codec.entropy import LatentOutOfRangeError

    pixels = smooth_image(16, 16)
    with torch.no_grad():
        y = tiny_model.analyse(image_to_tensor(pixels), tiny_model.rate_point(0.0067))
        y[0, 0, 0, 0] = bad
        with pytest.raises(LatentOutOfRangeError, match="non-finite|too far"):
            tiny_model.compress_latent(y, 0.0067, pixels.shape[:2])


def test_tiny_model_is_loud(tiny_model):
    """Guards the fixture the structural tests share: its symbols must vary, or a decoder
    that wrote zeros everywhere would pass them."""
    symbols = np.asarray(encode_image(tiny_model, smooth_image(48, 64, 3), 0.01).analysis.symbols)
    assert np.unique(symbols).size >= 7
    assert (symbols == 0).mean() < 0.3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (a lent GPU)")
def test_cuda_encode_decode_and_lof_then_cpu_decode(tiny_model):
    """On CUDA: bit-exact round trip, LOF never worse than g_a; the same stream decoded on
    the CPU gives the same image or a checksum error, never a different image."""
    import copy

    from mspviewer.errors import ChecksumError

    on_gpu = copy.deepcopy(tiny_model).to("cuda")
    pixels = smooth_image(40, 56, seed=3)
    for profile in ("fast", "balanced"):
        encoded = encode_image(on_gpu, pixels, 0.0067, profile)
        decoded = decode_bytes(on_gpu, encoded.bitstream)
        np.testing.assert_array_equal(decoded.analysis.symbols, encoded.analysis.symbols)
        np.testing.assert_array_equal(decoded.pixels, encoded.reconstruction)
        if encoded.lof is not None:
            assert encoded.lof.J_best <= encoded.lof.J_initial
        try:
            on_cpu = decode_bytes(tiny_model, encoded.bitstream)
        except ChecksumError:
            continue
        np.testing.assert_array_equal(on_cpu.pixels, encoded.reconstruction)


def test_coding_on_cuda_switches_cudnn_to_repeatable_arithmetic():
    """With cuDNN's defaults (TF32, heuristic algorithm choice) two syntheses of one latent
    on an H200 differed in up to 198,239 values (by 1.2e-7), and a decode missed the
    encoder's reconstruction (benchmarks/cuda_determinism.py, docs/profiles.md); the codec's
    coding sections on CUDA switch these settings off. Checked here on the flags, on any
    machine: the device type alone selects the branch."""
    from mspviewer.codec.model import coding_arithmetic

    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = True
        with coding_arithmetic(torch.device("cpu")):  # the CPU path leaves them alone
            assert torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark
        with coding_arithmetic(torch.device("cuda")):
            assert torch.backends.cudnn.deterministic
            assert not torch.backends.cudnn.benchmark
            assert not torch.backends.cudnn.allow_tf32
            assert not torch.backends.cuda.matmul.allow_tf32
    finally:
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) = flags
