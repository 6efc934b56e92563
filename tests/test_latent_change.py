"""What LOF changed: an LOF coding set against the plain coding of the same image and λ."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import smooth_image
from mspviewer.codec.api import PLAIN_PROFILE, encode_image
from mspviewer.codec.latent_change import (bits_change, check_comparable, compare_codings,
                                           latent_shift)
from mspviewer.codec.profiles import Profile

LAM = 0.0067
# Large steps, so that the tiny random model's latent crosses quantisation bins.
STEPS = Profile("test-steps", "a few large Adam steps", lof_iterations=6, learning_rate=0.4,
                lr_schedule="constant")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def codings(tiny_model):
    pixels = smooth_image(48, 80, seed=3)
    lof = encode_image(tiny_model, pixels, LAM, STEPS)
    plain = encode_image(tiny_model, pixels, LAM, PLAIN_PROFILE)
    assert lof.lof is not None and lof.lof.J_best < lof.lof.J_initial  # LOF did something
    return lof, plain


def test_totals_match_each_record_and_the_streams(codings):
    lof, plain = codings
    change = compare_codings(lof.analysis, plain.analysis)
    assert change.elements == lof.analysis.y_hat.size
    assert change.bits == pytest.approx(lof.analysis.estimated_bits, rel=1e-9)
    assert change.bits_reference == pytest.approx(plain.analysis.estimated_bits, rel=1e-9)
    assert (change.file_bytes, change.file_bytes_reference) == (len(lof.bitstream),
                                                                len(plain.bitstream))
    assert change.file_change_percent == pytest.approx(
        100 * (len(lof.bitstream) - len(plain.bitstream)) / len(plain.bitstream))
    changed = int(np.count_nonzero(lof.analysis.symbols != plain.analysis.symbols))
    assert 0 < change.symbols_changed == changed < change.elements


def test_per_scale_figures_agree_with_the_scale_masks(codings):
    lof, plain = codings
    change = compare_codings(lof.analysis, plain.analysis)
    scales = [s.scale for s in change.scales]
    assert scales == sorted(scales, reverse=True)  # coarsest (decoded first) first
    channels = lof.analysis.y_hat.shape[0]
    for entry in change.scales:
        # the record's own (h, w) mask of the scale, the same for every channel
        mask = np.broadcast_to(lof.analysis.scale_mask(entry.scale), lof.analysis.y_hat.shape)
        assert entry.elements == channels * int(lof.analysis.scale_mask(entry.scale).sum())
        assert entry.symbols_changed == int(np.count_nonzero(
            (lof.analysis.symbols != plain.analysis.symbols) & mask))
        assert entry.bits == pytest.approx(float(lof.analysis.bits[mask].sum()), rel=1e-9)
        assert entry.bits_reference == pytest.approx(float(plain.analysis.bits[mask].sum()),
                                                     rel=1e-9)
        expected = 100 * (entry.bits - entry.bits_reference) / entry.bits_reference
        assert entry.bits_change_percent == pytest.approx(expected)


def test_shift_and_bits_are_element_by_element_differences(codings):
    lof, plain = codings
    shift = latent_shift(lof.analysis, plain.analysis)
    assert shift.dtype == np.float32 and shift.shape == lof.analysis.y_hat.shape
    np.testing.assert_array_equal(shift, lof.analysis.y_hat - plain.analysis.y_hat)
    delta = bits_change(lof.analysis, plain.analysis)
    assert delta.sum() == pytest.approx(lof.analysis.estimated_bits
                                        - plain.analysis.estimated_bits, abs=1e-6)
    # ŷ = μ + symbol: where the symbol changed ŷ moved (unless μ moved by exactly the
    # opposite whole number), and ŷ moves where only μ changed too
    changed = lof.analysis.symbols != plain.analysis.symbols
    assert (shift[changed] != 0).all()
    assert (shift[~changed] != 0).any()
    change = compare_codings(lof.analysis, plain.analysis)
    assert change.mean_abs_shift == pytest.approx(float(np.abs(shift.astype(np.float64)).mean()),
                                                  rel=1e-6)


def test_a_coding_against_itself_changes_nothing(codings):
    _, plain = codings
    change = compare_codings(plain.analysis, plain.analysis)
    assert change.symbols_changed == 0 and change.mean_abs_shift == 0.0
    assert change.file_change_percent == 0.0
    assert all(s.bits_change_percent == 0.0 for s in change.scales)
    summary = change.to_dict()
    assert summary["symbols_changed"] == 0 and len(summary["scales"]) == len(change.scales)


def test_codings_of_different_settings_are_refused(tiny_model, codings):
    _, plain = codings
    other_lambda = encode_image(tiny_model, smooth_image(48, 80, seed=3), 0.013, PLAIN_PROFILE)
    with pytest.raises(ValueError, match="λ"):
        check_comparable(other_lambda.analysis, plain.analysis)
    other_size = encode_image(tiny_model, smooth_image(64, 80, seed=3), LAM, PLAIN_PROFILE)
    with pytest.raises(ValueError, match="image sizes.*latent shapes"):
        compare_codings(other_size.analysis, plain.analysis)
