"""MSP decoding depth is constant in the image size: counted with hooks, not assumed."""

from __future__ import annotations

import numpy as np

from mspviewer.codec import build_random_model, encode_image, decode_bytes, tiny_config
from mspviewer.codec import entropy
from mspviewer.codec.msp import ContextNetwork, GroupNetwork


def count_decode_passes(model, pixels, monkeypatch) -> dict[str, int]:
    encoded = encode_image(model, pixels, 0.0067)
    counts = {"networks": 0, "entropy_calls": 0}

    def network_hook(module, inputs, output):
        counts["networks"] += 1

    handles = [m.register_forward_hook(network_hook) for m in model.prior.modules()
               if isinstance(m, (GroupNetwork, ContextNetwork))]
    original_decode = entropy.SymbolDecoder.decode_pass

    def counting_decode(self, sigma_index):
        counts["entropy_calls"] += 1
        return original_decode(self, sigma_index)

    monkeypatch.setattr(entropy.SymbolDecoder, "decode_pass", counting_decode)
    try:
        decoded = decode_bytes(model, encoded.bitstream)
    finally:
        for handle in handles:
            handle.remove()
        monkeypatch.undo()
    np.testing.assert_array_equal(decoded.pixels, encoded.reconstruction)
    return counts


def test_decode_depth_does_not_grow_with_image_size(monkeypatch):
    config = tiny_config(num_scales=4, num_groups=4)
    model = build_random_model(config, seed=3)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (1536, 2048, 3), dtype=np.uint8)
    small_counts = count_decode_passes(model, small, monkeypatch)
    large_counts = count_decode_passes(model, large, monkeypatch)
    assert small_counts == large_counts
    msp = config.msp
    # G + (S-1)·steps·G coding passes, each one vectorised entropy-decoder call ...
    assert small_counts["entropy_calls"] == msp.sequential_passes == 4 + 3 * 2 * 4
    # ... and one parameter network per pass plus one spatial context network per step.
    assert small_counts["networks"] == msp.sequential_passes + (msp.num_scales - 1) * 2
