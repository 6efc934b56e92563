"""Entropy coding of MSP symbols with ``constriction``'s range coder.

Each coding pass is one vectorised call: symbols are zero-mean discretised Gaussians whose
σ comes from the fixed table. Two pitfalls of the library are handled here:

- symbols must lie in the model's finite range: values beyond ±bound are *escaped*, coded
  as ±bound followed by the excess in two 12-bit uniform words;
- a σ of 0 (or NaN) makes the Rust core panic, which ``except Exception`` cannot catch, so
  σ only ever comes from the table (validated once, in :class:`SymbolCoder`).

All passes go into one range-coded stream (a section per pass would cost up to a few words
each); the encoder notes its output position after each pass so the bytes spent per pass can
be stored in the header and shown from the real stream.
"""

from __future__ import annotations

import constriction
import numpy as np
import torch

from mspviewer.codec.msp import discretized_gaussian_likelihood, gaussian_upper_tail
from mspviewer.codec.sigma_table import SigmaTable
from mspviewer.errors import MSPViewerError

ESCAPE_WORD_BITS = 12
# constriction's leaky quantisation gives every symbol in range at least this probability
# (24-bit fixed point), so no coded symbol costs more than 24 bits.
MIN_PROBABILITY = 2.0 ** -24
ESCAPE_LIMIT = 1 << (2 * ESCAPE_WORD_BITS)  # excess must stay below 2^24
ESCAPE_BITS = 2 * ESCAPE_WORD_BITS


def coded_bits(symbols: torch.Tensor, table_sigma: torch.Tensor, bound: int) -> torch.Tensor:
    """What the coder charges for each symbol, in bits: −log2 of its zero-mean discretised
    Gaussian probability at the table σ, floored at the coder's smallest probability, plus
    the escape words for symbols at or beyond ±bound. The one cost model of the codec: the
    analysis record, the hard-quantised forward pass and LOF's exact J all use it.

    A symbol at or beyond ±bound is coded as ±bound, whose bin in constriction's
    ``QuantizedGaussian(-bound, bound)`` holds the whole tail beyond it."""
    clamped = symbols.clamp(-bound, bound)
    at_edge = clamped.abs() == bound
    p = discretized_gaussian_likelihood(clamped, table_sigma)
    p = torch.where(at_edge, gaussian_upper_tail(bound - 0.5, table_sigma), p)
    return -torch.log2(p.clamp_min(MIN_PROBABILITY)) + ESCAPE_BITS * at_edge


class LatentOutOfRangeError(MSPViewerError):
    """A latent value is too far from its prediction to be coded (never for sane images)."""


class SymbolCoder:
    """Shared parameters of :class:`SymbolEncoder` and :class:`SymbolDecoder`."""

    def __init__(self, sigma_table: SigmaTable, symbol_bound: int):
        if not np.all(np.isfinite(sigma_table.values)) or np.any(sigma_table.values <= 0):
            raise ValueError("σ table must hold finite positive values")
        self.sigmas = sigma_table.values
        self.bound = int(symbol_bound)
        self.gaussian = constriction.stream.model.QuantizedGaussian(-self.bound, self.bound)
        self.escape_word = constriction.stream.model.Uniform(1 << ESCAPE_WORD_BITS)

    def _stds(self, sigma_index: np.ndarray) -> np.ndarray:
        index = np.asarray(sigma_index, dtype=np.int64).ravel()
        if index.size and (index.min() < 0 or index.max() >= len(self.sigmas)):
            raise ValueError("σ index outside the table")  # a bug, not user input
        return self.sigmas[index]


class SymbolEncoder(SymbolCoder):
    def __init__(self, sigma_table: SigmaTable, symbol_bound: int):
        super().__init__(sigma_table, symbol_bound)
        self._encoder = constriction.stream.queue.RangeEncoder()
        self.section_ends: list[int] = []  # encoder output position (words) after each pass

    def encode_pass(self, symbols: np.ndarray, sigma_index: np.ndarray) -> None:
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        stds = self._stds(sigma_index)
        clamped = np.clip(symbols, -self.bound, self.bound).astype(np.int32)
        if clamped.size:
            self._encoder.encode(clamped, self.gaussian, np.zeros(clamped.size), stds)
        escaped = np.abs(clamped) == self.bound
        if escaped.any():
            excess = np.abs(symbols[escaped]) - self.bound
            if excess.max() >= ESCAPE_LIMIT or excess.min() < 0:  # < 0: int64 overflowed
                raise LatentOutOfRangeError(
                    "a latent value is too far from its prediction to be coded (beyond "
                    f"±{self.bound + ESCAPE_LIMIT - 1}); the latent is not finite or the "
                    "model does not fit this image")
            words = np.stack([excess >> ESCAPE_WORD_BITS,
                              excess & ((1 << ESCAPE_WORD_BITS) - 1)], axis=1)
            self._encoder.encode(words.ravel().astype(np.int32), self.escape_word)
        self.section_ends.append(int(self._encoder.num_words()))

    def finish(self) -> tuple[np.ndarray, list[int]]:
        """The compressed words and the number of words attributed to each pass."""
        words = self._encoder.get_compressed().astype("<u4")
        ends = self.section_ends[:-1] + [len(words)] if self.section_ends else []
        sizes = np.diff([0] + ends).tolist()
        return words, [int(s) for s in sizes]


class SymbolDecoder(SymbolCoder):
    def __init__(self, sigma_table: SigmaTable, symbol_bound: int, words: np.ndarray):
        super().__init__(sigma_table, symbol_bound)
        self._decoder = constriction.stream.queue.RangeDecoder(
            np.ascontiguousarray(words, dtype=np.uint32))

    def decode_pass(self, sigma_index: np.ndarray) -> np.ndarray:
        stds = self._stds(sigma_index)
        if not stds.size:
            return np.zeros(0, dtype=np.int64)
        symbols = self._decoder.decode(self.gaussian, np.zeros(stds.size), stds).astype(np.int64)
        escaped = np.abs(symbols) == self.bound
        count = int(escaped.sum())
        if count:
            words = self._decoder.decode(self.escape_word, 2 * count).astype(np.int64)
            excess = (words[0::2] << ESCAPE_WORD_BITS) | words[1::2]
            symbols[escaped] += np.sign(symbols[escaped]) * excess
        return symbols


