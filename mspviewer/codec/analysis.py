"""The analysis record: everything the encoder and decoder know about each coded element.

Filled identically by ``compress`` and ``decompress`` (the decoder rebuilds it from the
stream), so the GUI and scripts can look at ŷ, μ, σ and the bits of every element, per
scale / step / channel group, with estimated (model) and actual (stream) bit counts.
Arrays live on the padded latent grid, shape (M, h, w).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from mspviewer.codec.entropy import coded_bits
from mspviewer.codec.lattice import CodingPass


@dataclass(frozen=True)
class PassStatistics:
    index: int
    label: str
    scale: int
    step: str
    group: int
    channel_start: int
    channel_stop: int
    num_elements: int
    estimated_bits: float
    actual_bytes: int  # payload bytes attributed to this pass by the coder's position

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class AnalysisRecord:
    lam: float
    image_size: tuple[int, int]  # (H, W) before padding
    padded_size: tuple[int, int]
    y_hat: np.ndarray  # float32 (M, h, w), gained domain (what is coded)
    mu: np.ndarray
    sigma: np.ndarray  # σ as coded: the table value
    bits: np.ndarray  # float64, model cost of each element (−log2 P)
    symbols: np.ndarray  # int32, round(y − μ)
    pass_index: np.ndarray  # int16, which pass coded each element
    passes: list[PassStatistics] = field(default_factory=list)
    header_bytes: int = 0
    payload_bytes: int = 0
    sequential_passes: int = 0
    model_id: str = ""

    @property
    def num_pixels(self) -> int:
        return self.image_size[0] * self.image_size[1]

    @property
    def estimated_bits(self) -> float:
        return float(self.bits.sum())

    @property
    def actual_bits(self) -> int:
        return 8 * self.payload_bytes

    @property
    def file_bytes(self) -> int:
        return self.header_bytes + self.payload_bytes

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file (header included)."""
        return 8 * self.file_bytes / self.num_pixels

    @property
    def estimated_bpp(self) -> float:
        return self.estimated_bits / self.num_pixels

    def scale_mask(self, scale: int) -> np.ndarray:
        """(h, w) boolean mask of the latent positions belonging to ``scale``."""
        scales = np.array([p.scale for p in self.passes])
        return np.isin(self.pass_index[0], np.nonzero(scales == scale)[0])

    def bits_per_scale(self) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for p in self.passes:
            entry = out.setdefault(p.scale, {"estimated_bits": 0.0, "actual_bytes": 0,
                                             "num_elements": 0})
            entry["estimated_bits"] += p.estimated_bits
            entry["actual_bytes"] += p.actual_bytes
            entry["num_elements"] += p.num_elements
        return out

    def summary(self) -> dict:
        """JSON-friendly totals (no arrays)."""
        return {
            "lambda": self.lam,
            "image_size": list(self.image_size),
            "padded_size": list(self.padded_size),
            "latent_shape": list(self.y_hat.shape),
            "model_id": self.model_id,
            "file_bytes": self.file_bytes,
            "header_bytes": self.header_bytes,
            "payload_bytes": self.payload_bytes,
            "bpp": self.bpp,
            "estimated_payload_bits": self.estimated_bits,
            "actual_payload_bits": self.actual_bits,
            "estimated_bpp": self.estimated_bpp,
            "sequential_passes": self.sequential_passes,
            "passes": [p.to_dict() for p in self.passes],
        }


def symbol_bits(symbols: np.ndarray, sigma: np.ndarray, bound: int) -> np.ndarray:
    """Model cost in bits of each symbol (:func:`coded_bits`), computed in float64."""
    return coded_bits(torch.from_numpy(np.asarray(symbols, dtype=np.float64)),
                      torch.from_numpy(np.asarray(sigma, dtype=np.float64)), bound).numpy()


class AnalysisBuilder:
    """Collects each pass's elements into the dense arrays of an :class:`AnalysisRecord`."""

    def __init__(self, latent_channels: int, height: int, width: int, symbol_bound: int):
        shape = (latent_channels, height * width)
        self.bound = symbol_bound
        self.y_hat = np.zeros(shape, np.float32)
        self.mu = np.zeros(shape, np.float32)
        self.sigma = np.zeros(shape, np.float32)
        self.bits = np.zeros(shape, np.float64)
        self.symbols = np.zeros(shape, np.int32)
        self.pass_index = np.full(shape, -1, np.int16)
        self.grid = (latent_channels, height, width)
        self.passes: list[tuple[CodingPass, int, float]] = []

    def add(self, coding_pass: CodingPass, positions: np.ndarray, symbols: np.ndarray,
            mu: np.ndarray, sigma: np.ndarray) -> None:
        """symbols, mu, sigma: (channels of the group, n) for one image."""
        rows = slice(coding_pass.channel_start, coding_pass.channel_stop)
        bits = symbol_bits(symbols, sigma, self.bound)
        self.symbols[rows, positions] = symbols
        self.mu[rows, positions] = mu
        self.sigma[rows, positions] = sigma
        self.y_hat[rows, positions] = mu + symbols
        self.bits[rows, positions] = bits
        self.pass_index[rows, positions] = coding_pass.index
        self.passes.append((coding_pass, symbols.size, float(bits.sum())))

    def build(self, lam: float, image_size, padded_size, section_words, header_bytes: int,
              model_id: str) -> AnalysisRecord:
        stats = [
            PassStatistics(p.index, p.label, p.scale, p.step_name, p.group, p.channel_start,
                           p.channel_stop, n, bits, 4 * words)
            for (p, n, bits), words in zip(self.passes, section_words)]
        return AnalysisRecord(
            lam=lam, image_size=tuple(image_size), padded_size=tuple(padded_size),
            y_hat=self.y_hat.reshape(self.grid), mu=self.mu.reshape(self.grid),
            sigma=self.sigma.reshape(self.grid), bits=self.bits.reshape(self.grid),
            symbols=self.symbols.reshape(self.grid),
            pass_index=self.pass_index.reshape(self.grid), passes=stats,
            header_bytes=header_bytes, payload_bytes=4 * sum(section_words),
            sequential_passes=len(self.passes), model_id=model_id)
