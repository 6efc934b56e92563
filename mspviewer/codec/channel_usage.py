"""Where the bits go across latent channels: how many channels an image really uses.

A learned codec's latent has M channels (192 here), but at a given λ the model spends its
bits in few of them: the rest are predicted so sharply (σ at the table's floor, every symbol
0) that they cost almost nothing. How many channels carry most of the bits, and which, is
a first look at the latent's effective dimensionality; it shrinks as λ falls, and a channel
that is never used at any λ is capacity the model does not need.

The figures are the model's cost Σ −log₂ P per channel (the stream is written per coding
pass, not per channel, so there is no per-channel "actual" count); over all channels they
add up to :attr:`AnalysisRecord.estimated_bits`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mspviewer.codec.analysis import AnalysisRecord

#: a channel costing less than this per coded element is "inactive": switched off at this λ
INACTIVE_BITS_PER_ELEMENT = 0.01

#: the bit shares of the summary line: channels needed for half, 90 % and 99 % of the bits
SUMMARY_SHARES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class ChannelUsage:
    bits: np.ndarray  #: (M,) float64, estimated bits of each channel
    elements: np.ndarray  #: (M,) int64, coded elements of each channel
    nonzero: np.ndarray  #: (M,) int64, symbols other than 0
    group: np.ndarray  #: (M,) int64, the channel group that codes each channel
    num_pixels: int

    @property
    def num_channels(self) -> int:
        return int(self.bits.size)

    @property
    def total_bits(self) -> float:
        return float(self.bits.sum())

    @property
    def share(self) -> np.ndarray:
        """Each channel's fraction of the bits (zeros if nothing was spent)."""
        total = self.total_bits
        return self.bits / total if total > 0 else np.zeros_like(self.bits)

    @property
    def bpp(self) -> np.ndarray:
        """(M,) each channel's part of the image's bits per pixel."""
        return self.bits / max(self.num_pixels, 1)

    @property
    def bits_per_element(self) -> np.ndarray:
        return self.bits / np.maximum(self.elements, 1)

    @property
    def order(self) -> np.ndarray:
        """Channel indices from the costliest to the cheapest (ties in channel order)."""
        return np.argsort(-self.bits, kind="stable")

    @property
    def inactive(self) -> np.ndarray:
        """(M,) bool: channels below :data:`INACTIVE_BITS_PER_ELEMENT`."""
        return self.bits_per_element < INACTIVE_BITS_PER_ELEMENT

    def rank(self, channel: int) -> int:
        """``channel``'s place in :attr:`order`, 1 for the costliest."""
        return int(np.nonzero(self.order == channel)[0][0]) + 1

    def cumulative_share(self) -> np.ndarray:
        """Share of the bits in the k costliest channels, k = 1 … M."""
        return np.cumsum(self.share[self.order])

    def channels_for(self, fraction: float) -> int:
        """The fewest channels that carry at least ``fraction`` of the bits."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if self.total_bits <= 0:
            return 0
        # a relative tolerance, so that a fraction of 1 is reached by the float sum
        reached = self.cumulative_share() >= fraction * (1 - 1e-12)
        return int(np.argmax(reached)) + 1

    def summary(self) -> dict:
        """JSON-friendly: the counts of the summary line, then every channel."""
        return {
            "channels": self.num_channels,
            "estimated_payload_bits": self.total_bits,
            "channels_for_share": {f"{round(100 * f)}%": self.channels_for(f)
                                   for f in SUMMARY_SHARES},
            "inactive_channels": int(self.inactive.sum()),
            "inactive_below_bits_per_element": INACTIVE_BITS_PER_ELEMENT,
            "per_channel": [
                {"channel": c, "group": int(self.group[c]), "bits": float(self.bits[c]),
                 "share": float(self.share[c]), "nonzero_symbols": int(self.nonzero[c]),
                 "elements": int(self.elements[c])}
                for c in range(self.num_channels)],
        }

    def describe(self) -> str:
        """One line: how concentrated the bits are."""
        if self.total_bits <= 0:
            return f"no bits spent in any of the {self.num_channels} channels"
        first, *rest = SUMMARY_SHARES
        count = self.channels_for(first)
        shares = ", ".join([f"{round(100 * first)} % of the bits in {count} "
                            f"channel{'' if count == 1 else 's'}"]
                           + [f"{round(100 * f)} % in {self.channels_for(f)}" for f in rest])
        return (f"{shares} (of {self.num_channels}); {int(self.inactive.sum())} inactive "
                f"(< {INACTIVE_BITS_PER_ELEMENT} bit per element)")


def channel_usage(record: AnalysisRecord) -> ChannelUsage:
    """Per-channel bits, coded elements and non-zero symbols of a coded image."""
    group = np.full(record.bits.shape[0], -1, np.int64)
    for stats in record.passes:
        group[stats.channel_start:stats.channel_stop] = stats.group
    # An element no pass coded holds 0 bits and symbol 0 in the record (AnalysisBuilder),
    # so plain sums need no mask: this runs on the GUI thread for every new result.
    return ChannelUsage(
        bits=record.bits.sum(axis=(1, 2)),
        elements=np.count_nonzero(record.pass_index >= 0, axis=(1, 2)).astype(np.int64),
        nonzero=np.count_nonzero(record.symbols, axis=(1, 2)).astype(np.int64),
        group=group, num_pixels=record.num_pixels)
