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
