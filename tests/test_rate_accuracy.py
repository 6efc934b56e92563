"""The real payload matches the model's estimate of the bits (entropy coder overhead)."""

from __future__ import annotations

import numpy as np
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


def test_lof_cost_counts_the_bits_the_coder_codes_at_two_threads(shipped_model, kodim01):
    """LOF's "exact" J uses the coder's one-thread arithmetic: at 2 threads the σ indices
    of kodim01 at λ = 0.013 used to differ (281,491.06 bits against the coder's 281,486.86)."""
    import torch

    from mspviewer.codec.api import image_to_tensor
    from mspviewer.codec.rd_cost import RDCost

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        record = encode_image(shipped_model, kodim01, 0.013).analysis
        cost = RDCost(shipped_model, image_to_tensor(kodim01), 0.013)
        measured = cost.cost(cost.initial_latent())
    finally:
        torch.set_num_threads(threads)
    # J's bits are a float32 sum: a few units in its last place (0.03 bits at 300 k bits) are
    # its rounding, while σ indices off by one thread's arithmetic moved the total by 4 bits
    float32_rounding = 8 * float(np.spacing(np.float32(record.estimated_bits)))
    assert measured["bpp"] * record.num_pixels == pytest.approx(record.estimated_bits,
                                                                abs=float32_rounding)


def test_coding_sections_of_threads_run_one_at_a_time():
    """torch's thread count is shared between Python threads: a second thread's coding
    section waits for the first, and the count is 1 inside and restored after both."""
    import threading

    import torch

    from mspviewer.codec.model import coding_arithmetic

    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    inside_first, release_first, log = threading.Event(), threading.Event(), []

    def first():
        with coding_arithmetic(cpu):
            log.append(("first in", torch.get_num_threads()))
            inside_first.set()
            release_first.wait(10)
            log.append(("first out", torch.get_num_threads()))

    def second():
        inside_first.wait(10)
        with coding_arithmetic(cpu):
            log.append(("second in", torch.get_num_threads()))

    try:
        workers = [threading.Thread(target=first), threading.Thread(target=second)]
        for worker in workers:
            worker.start()
        inside_first.wait(10)
        workers[1].join(0.3)
        assert workers[1].is_alive() and [e for e, _ in log] == ["first in"]  # waiting
        release_first.set()
        for worker in workers:
            worker.join(10)
        assert log == [("first in", 1), ("first out", 1), ("second in", 1)]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 4.0])
def test_coded_bits_equal_what_constriction_writes(sigma):
    """Per-symbol costs against the size of a real range-coded stream of 4000 copies,
    including the edge symbols ±bound (the whole tail) and escapes beyond them."""
    import constriction
    import numpy as np
    import torch

    from mspviewer.codec.entropy import ESCAPE_WORD_BITS, coded_bits

    bound, copies = 8, 4000
    model = constriction.stream.model.QuantizedGaussian(-bound, bound)
    escape = constriction.stream.model.Uniform(1 << ESCAPE_WORD_BITS)
    for symbol in (0, 1, -3, bound - 1, bound, -bound, bound + 5):
        clamped = np.full(copies, max(-bound, min(bound, symbol)), np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(clamped, model, np.zeros(copies), np.full(copies, sigma))
        if abs(symbol) >= bound:
            encoder.encode(np.zeros(2 * copies, np.int32), escape)
        measured = 32 * encoder.num_words() / copies
        expected = coded_bits(torch.tensor([float(symbol)], dtype=torch.float64),
                              torch.tensor([sigma], dtype=torch.float64), bound).item()
        assert measured == pytest.approx(expected, abs=0.02 + 0.002 * expected), symbol
