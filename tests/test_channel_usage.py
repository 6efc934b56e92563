"""Bits per latent channel (mspviewer.codec.channel_usage) against direct counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mspviewer.codec.api import PLAIN_PROFILE, encode_image
from mspviewer.codec.channel_usage import (INACTIVE_BITS_PER_ELEMENT, ChannelUsage,
                                           channel_usage)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def crop():
    from conftest import KODAK
    from mspviewer.imageio import load_image

    return load_image(KODAK / "kodim01.png").pixels[:128, :192]


@pytest.fixture(scope="module")
def codings(shipped_model, crop):
    """The shipped model's plain codings of a Kodak crop at the ends of its λ range."""
    return {lam: encode_image(shipped_model, crop, lam, PLAIN_PROFILE).analysis
            for lam in (0.0018, 0.0483)}


def test_per_channel_figures_are_the_record_summed_per_channel(codings):
    for record in codings.values():
        usage = channel_usage(record)
        channels, height, width = record.bits.shape
        assert usage.num_channels == channels
        assert usage.total_bits == pytest.approx(record.estimated_bits, rel=1e-12)
        for c in (0, 7, channels - 1):
            assert usage.bits[c] == pytest.approx(float(record.bits[c].sum()), rel=1e-12)
            assert usage.nonzero[c] == np.count_nonzero(record.symbols[c])
        assert np.all(usage.elements == height * width)  # every position of every channel
        assert usage.share.sum() == pytest.approx(1.0, rel=1e-12)
        assert usage.bpp.sum() == pytest.approx(record.estimated_bpp, rel=1e-12)
        # each group's channels hold the bits its passes reported while coding
        for group in np.unique(usage.group):
            passes = [p for p in record.passes if p.group == group]
            assert np.all(usage.group[passes[0].channel_start:passes[0].channel_stop] == group)
            assert usage.bits[usage.group == group].sum() == pytest.approx(
                sum(p.estimated_bits for p in passes), rel=1e-9)


def test_channel_counts_match_a_brute_force_count(codings):
    for record in codings.values():
        usage = channel_usage(record)
        ranked = sorted(range(usage.num_channels), key=lambda c: -usage.bits[c])
        assert list(usage.order) == ranked  # sorted() is stable too: ties in channel order
        assert np.all(np.diff(usage.bits[usage.order]) <= 0)
        for fraction in (0.1, 0.5, 0.9, 0.99, 1.0):
            total, count = 0.0, 0
            while total < fraction * usage.total_bits * (1 - 1e-12):
                total += usage.bits[ranked[count]]
                count += 1
            assert usage.channels_for(fraction) == count, fraction
        inactive = [c for c in range(usage.num_channels)
                    if record.bits[c].mean() < INACTIVE_BITS_PER_ELEMENT]
        assert list(np.nonzero(usage.inactive)[0]) == inactive


def test_a_smaller_lambda_spends_its_bits_in_fewer_channels(codings):
    """The trained model's behaviour: at a low rate it switches channels off."""
    low, high = (channel_usage(codings[lam]) for lam in (0.0018, 0.0483))
    assert low.total_bits < high.total_bits
    assert low.channels_for(0.9) < high.channels_for(0.9)
    assert low.inactive.sum() > high.inactive.sum()


def test_summary_is_json_and_names_every_channel(codings):
    usage = channel_usage(codings[0.0483])
    summary = json.loads(json.dumps(usage.summary()))
    assert summary["channels"] == usage.num_channels == len(summary["per_channel"])
    assert summary["channels_for_share"] == {"50%": usage.channels_for(0.5),
                                             "90%": usage.channels_for(0.9),
                                             "99%": usage.channels_for(0.99)}
    assert summary["inactive_channels"] == int(usage.inactive.sum())
    entry = summary["per_channel"][usage.order[0]]
    assert entry["bits"] == usage.bits.max() and entry["share"] == usage.share.max()
    line = usage.describe()
    assert f"50 % of the bits in {usage.channels_for(0.5)} channels" in line
    assert f"(of {usage.num_channels})" in line


def test_no_bits_and_bad_fractions():
    usage = ChannelUsage(bits=np.zeros(3), elements=np.full(3, 4), nonzero=np.zeros(3, int),
                         group=np.zeros(3, int), num_pixels=64)
    assert usage.channels_for(0.9) == 0
    assert np.all(usage.share == 0) and usage.inactive.all()
    assert usage.describe() == "no bits spent in any of the 3 channels"
    for fraction in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            usage.channels_for(fraction)


def test_one_dominant_channel():
    usage = ChannelUsage(bits=np.array([1.0, 3.0, 0.0, 96.0]), elements=np.full(4, 10),
                         nonzero=np.array([1, 2, 0, 9]), group=np.array([0, 0, 1, 1]),
                         num_pixels=160)
    assert list(usage.order) == [3, 1, 0, 2]
    assert [usage.rank(c) for c in range(4)] == [3, 2, 4, 1]
    assert [usage.channels_for(f) for f in (0.5, 0.96, 0.99, 1.0)] == [1, 1, 2, 3]
    assert list(usage.inactive) == [False, False, True, False]
    assert usage.describe() == ("50 % of the bits in 1 channel, 90 % in 1, 99 % in 2 (of 4); "
                                "1 inactive (< 0.01 bit per element)")
    np.testing.assert_allclose(usage.bpp, [1 / 160, 3 / 160, 0, 96 / 160])
