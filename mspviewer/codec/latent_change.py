"""What LOF changed: one coding of an image set against another of the same image.

LOF changes only the latent the encoder codes; the decoder is the same. Setting the coded
latent of an LOF encode against the plain encoder's (g_a's latent, rounded) at the same λ
shows where the optimisation moved elements and where it saved or spent bits. Both sides
are :class:`~mspviewer.codec.analysis.AnalysisRecord` s filled by the real coder, so every
figure here is one of the two streams' own.

A symbol is the integer the coder writes, ``round(y − μ)``; ŷ = μ + symbol is what the
decoder rebuilds. An element whose symbol did not change can still move, because μ comes
from the elements decoded before it: "symbols changed" counts what LOF rewrote in the
stream, the shift ŷ − ŷ_reference what the synthesis sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mspviewer.codec.analysis import AnalysisRecord


@dataclass(frozen=True)
class ScaleChange:
    """One MSP scale: its elements (all channels), how many symbols differ, and their bits."""

    scale: int
    elements: int
    symbols_changed: int
    bits_reference: float  #: model bits of the scale in the reference coding
    bits: float  #: model bits of the scale in the coding compared with it

    @property
    def bits_change_percent(self) -> float:
        return 100.0 * (self.bits - self.bits_reference) / self.bits_reference \
            if self.bits_reference else 0.0

    def to_dict(self) -> dict:
        return {"scale": self.scale, "elements": self.elements,
                "symbols_changed": self.symbols_changed,
                "bits_reference": self.bits_reference, "bits": self.bits,
                "bits_change_percent": self.bits_change_percent}


@dataclass(frozen=True)
class CodingChange:
    """Totals of :func:`compare_codings`: per scale, coarsest (decoded first) first."""

    scales: tuple[ScaleChange, ...]
    mean_abs_shift: float  #: mean |ŷ − ŷ_reference| over every element
    file_bytes_reference: int
    file_bytes: int

    @property
    def elements(self) -> int:
        return sum(s.elements for s in self.scales)

    @property
    def symbols_changed(self) -> int:
        return sum(s.symbols_changed for s in self.scales)

    @property
    def bits_reference(self) -> float:
        return sum(s.bits_reference for s in self.scales)

    @property
    def bits(self) -> float:
        return sum(s.bits for s in self.scales)

    @property
    def file_change_percent(self) -> float:
        """Relative change of the whole file (header included), in percent."""
        return 100.0 * (self.file_bytes - self.file_bytes_reference) / self.file_bytes_reference

    def to_dict(self) -> dict:
        return {"elements": self.elements, "symbols_changed": self.symbols_changed,
                "mean_abs_shift": self.mean_abs_shift, "bits_reference": self.bits_reference,
                "bits": self.bits, "file_bytes_reference": self.file_bytes_reference,
                "file_bytes": self.file_bytes, "file_change_percent": self.file_change_percent,
                "scales": [s.to_dict() for s in self.scales]}


def stream_identity(header) -> dict[str, str]:
    """What two streams must share to be compared element by element, from a header
    (:func:`mspviewer.codec.bitstream.parse`): checked before any decoding."""
    return {"model": header.model_id.hex(), "λ": f"{header.lam:g}",
            "image size": f"{header.width}×{header.height}",
            "latent channels": str(header.latent_channels)}


def record_identity(record: AnalysisRecord) -> dict[str, str]:
    """The same, for a coding already decoded (or encoded)."""
    height, width = record.image_size
    return {"model": record.model_id, "λ": f"{record.lam:g}",
            "image size": f"{width}×{height}", "latent channels": str(record.y_hat.shape[0])}


def identity_differences(first: dict[str, str], second: dict[str, str]
                         ) -> list[tuple[str, str, str]]:
    """(what, first's, second's) for every item of two identities that differs."""
    return [(what, first[what], second[what]) for what in first if first[what] != second[what]]


def check_comparable(record: AnalysisRecord, reference: AnalysisRecord) -> None:
    """Refuse two records that are not codings of one image by one model at one λ."""
    problems = []
    if record.model_id != reference.model_id:
        problems.append(f"models {record.model_id[:12]} and {reference.model_id[:12]}")
    if record.lam != reference.lam:
        problems.append(f"λ {record.lam:g} and {reference.lam:g}")
    if tuple(record.image_size) != tuple(reference.image_size):
        problems.append(f"image sizes {record.image_size} and {reference.image_size}")
    if record.y_hat.shape != reference.y_hat.shape:
        problems.append(f"latent shapes {record.y_hat.shape} and {reference.y_hat.shape}")
    if problems:
        raise ValueError("the two codings cannot be compared element by element: they differ "
                         "in " + ", ".join(problems))


def latent_shift(record: AnalysisRecord, reference: AnalysisRecord) -> np.ndarray:
    """float32 (M, h, w): ŷ − ŷ_reference, element by element."""
    check_comparable(record, reference)
    return np.subtract(record.y_hat, reference.y_hat, dtype=np.float32)


def bits_change(record: AnalysisRecord, reference: AnalysisRecord) -> np.ndarray:
    """float32 (M, h, w): model bits of each element minus the reference's.

    float32 is ample for one element's few bits and halves what a heatmap redraw allocates;
    the totals of :func:`compare_codings` are summed in float64 from the records."""
    check_comparable(record, reference)
    return np.subtract(record.bits, reference.bits, dtype=np.float32)


def compare_codings(record: AnalysisRecord, reference: AnalysisRecord) -> CodingChange:
    """Per-scale and total change from ``reference`` (the plain encoder) to ``record``."""
    shift = latent_shift(record, reference)
    changed = record.symbols != reference.symbols
    # Both records come from one model at one size, so their passes and scales are the
    # same: the per-scale totals are the records' own.
    after, before = record.bits_per_scale(), reference.bits_per_scale()
    scales = []
    for scale in sorted(after, reverse=True):
        mask = record.scale_mask(scale)  # (h, w): every channel of a position shares its scale
        scales.append(ScaleChange(
            scale, int(after[scale]["num_elements"]),
            int(np.count_nonzero(changed[:, mask])),
            float(before[scale]["estimated_bits"]), float(after[scale]["estimated_bits"])))
    mean_abs = float(np.abs(shift).mean(dtype=np.float64)) if shift.size else 0.0
    return CodingChange(tuple(scales), mean_abs, int(reference.file_bytes),
                        int(record.file_bytes))
