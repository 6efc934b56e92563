"""The real payload matches the model's estimate of the bits (entropy coder overhead)."""

from __future__ import annotations

import pytest

from mspviewer.codec import encode_image
from mspviewer.codec.bitstream import header_size, parse


@pytest.mark.parametrize("lam", [0.0018, 0.0130, 0.0483])
def test_payload_within_half_a_percent_of_estimate(shipped_model, kodim01, lam):
    encoded = encode_image(shipped_model, kodim01, lam)
    record = encoded.analysis
    header, _ = parse(encoded.bitstream)
    # The file is exactly header + payload, and the record counts them the same way.
    assert len(encoded.bitstream) == header_size(header) + record.payload_bytes
    assert record.header_bytes == header_size(header)
    overhead = (record.actual_bits - record.estimated_bits) / record.estimated_bits
    assert abs(overhead) < 0.005, f"payload {record.actual_bits} bits vs estimate " \
                                  f"{record.estimated_bits:.0f} ({100 * overhead:+.3f} %)"
    # Per pass, the stream's bytes follow the estimate too (within the 32-bit word size).
    for stats in record.passes:
        assert abs(8 * stats.actual_bytes - stats.estimated_bits) < 0.02 * stats.estimated_bits \
            + 64, stats


def test_likelihood_keeps_its_precision_in_the_tail():
    """float32 probabilities of improbable symbols, against Python's float64 erfc."""
    import math

    import torch

    from mspviewer.codec.msp import discretized_gaussian_likelihood

    def exact(residual, sigma):
        cdf = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
        m = abs(residual)
        return cdf((0.5 - m) / sigma) - cdf((-0.5 - m) / sigma)

    cases = [(r, s) for r in (0.0, 0.4, 1.0, -2.0, 2.7, 4.0, -7.0) for s in (0.11, 0.3, 1.0, 5.0)]
    residual = torch.tensor([r for r, _ in cases], dtype=torch.float32)
    sigma = torch.tensor([s for _, s in cases], dtype=torch.float32)
    got = discretized_gaussian_likelihood(residual, sigma)
    for (r, s), p in zip(cases, got.tolist()):
        want = exact(float(torch.tensor(r)), float(torch.tensor(s)))
        if want > 1e-30:  # float32's range (the coder floors at 2^-24 anyway)
            assert p == pytest.approx(want, rel=2e-4), (r, s, p, want)
    # the rate gradient survives 6σ out (it used to be exactly zero there)
    r = torch.tensor([2.3], requires_grad=True)
    torch.log2(discretized_gaussian_likelihood(r, torch.tensor([0.3]))).backward()
    assert r.grad.item() < -1.0
