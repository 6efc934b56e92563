"""decode(encode(x)) is bit-exact and equals the hard-quantised forward pass."""

from __future__ import annotations

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
