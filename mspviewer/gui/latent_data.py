"""Qt-free views of an :class:`~mspviewer.codec.analysis.AnalysisRecord` for display.

The record holds dense (M, h, w) arrays on the padded latent grid. The panels show them
per MSP scale, per quantity, for one channel or reduced over channels; the bit-allocation
panel groups the real per-pass byte counts. These helpers only reshape and reduce what the
core reported: they compute nothing the codec decides.

Per-scale layout: scale ``s`` lives on the stride-``2^s`` lattice minus the coarser one,
so its elements are shown on the sub-grid ``array[::2^s, ::2^s]``, where positions owned by
coarser scales are NaN (drawn transparent). Every layer is also placed in *latent
coordinates* (``rect``): element (r, c) of scale ``s`` covers latent rows r·2^s … r·2^s + 2^s
and columns likewise, so all scales share one coordinate system (and can be linked), and
the latent position under a point is ``(int(y) // stride * stride, int(x) // stride * stride)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mspviewer.codec import latent_change

#: Quantity key → (label, reduction over channels when no channel is chosen, unit).
QUANTITIES: dict[str, tuple[str, str, str]] = {
    "y_hat": ("ŷ (coded latent)", "energy", "mean ŷ² over channels"),
    "mu": ("μ (predicted mean)", "energy", "mean μ² over channels"),
    "sigma": ("σ (predicted scale)", "mean", "mean σ over channels"),
    "bits": ("bits per element", "sum", "bits per position, all channels"),
    "surprise": ("surprise |ŷ−μ|/σ", "mean", "mean surprise over channels"),
    "lof_shift": ("Δŷ by LOF", "mean_abs", "mean |Δŷ| over channels"),
    "lof_bits": ("Δbits by LOF", "sum", "Δbits per position, all channels"),
}

#: Quantity key → the colour bar's short labels (one channel, reduced over channels), for a
#: bar shorter than the long ones (the heatmaps of a small image in a laptop's dock)
SHORT_LABELS: dict[str, tuple[str, str]] = {
    "y_hat": ("ŷ", "mean ŷ²"),
    "mu": ("μ", "mean μ²"),
    "sigma": ("σ", "mean σ"),
    "bits": ("bits", "bits"),
    "surprise": ("surprise", "surprise"),
    "lof_shift": ("Δŷ", "mean |Δŷ|"),
    "lof_bits": ("Δbits", "Δbits"),
}

#: Quantities set against the plain encoding at the same λ: they need its record.
LOF_CHANGE = frozenset({"lof_shift", "lof_bits"})
#: ... their labels when the result is set against a .msp reference instead
REFERENCE_LABELS = {"lof_shift": "Δŷ vs reference", "lof_bits": "Δbits vs reference"}


def quantity_label(name: str, plain_reference: bool = True) -> str:
    """A quantity's label; the Δ quantities name the coding they compare with."""
    if name in REFERENCE_LABELS and not plain_reference:
        return REFERENCE_LABELS[name]
    return QUANTITIES[name][0]


#: Quantities that are signed for one channel (shown with a diverging colour map) ...
SIGNED = frozenset({"y_hat", "mu", "lof_shift"})
#: ... and those signed reduced over channels too (a sum of gains and losses).
ALWAYS_SIGNED = frozenset({"lof_bits"})


def is_signed(name: str, channel: int | None) -> bool:
    return name in ALWAYS_SIGNED or (name in SIGNED and channel is not None)


def is_available(name: str, reference) -> bool:
    """Whether ``name`` can be shown: the LOF quantities need the plain record."""
    return name not in LOF_CHANGE or reference is not None


@dataclass(frozen=True)
class ScaleLayer:
    scale: int
    stride: int
    coarsest: bool
    data: np.ndarray  #: float32 (rows, cols), NaN where a coarser scale owns the position
    num_elements: int  #: elements of this scale per channel

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the layer in latent coordinates."""
        rows, cols = self.data.shape
        return 0.0, 0.0, float(cols * self.stride), float(rows * self.stride)


def full_quantity(analysis, name: str, reference=None) -> np.ndarray:
    """The (M, h, w) array of a quantity (surprise is |ŷ − μ| / σ). The LOF quantities set
    ``analysis`` against ``reference``, the plain encoding at the same λ."""
    if name not in QUANTITIES:
        raise ValueError(f"unknown quantity {name!r}; use one of {tuple(QUANTITIES)}")
    if name in LOF_CHANGE:
        if reference is None:
            raise ValueError(f"{QUANTITIES[name][0]} needs MSP without LOF at the same λ: "
                             f"encode with a profile that runs LOF (quick, balanced or max)")
        if name == "lof_shift":
            return latent_change.latent_shift(analysis, reference)
        return latent_change.bits_change(analysis, reference)
    if name == "surprise":  # float32, computed in place: no float64 copies of (M, h, w)
        sigma = np.asarray(analysis.sigma, np.float32)
        residual = np.subtract(np.asarray(analysis.y_hat, np.float32),
                               np.asarray(analysis.mu, np.float32))
        np.abs(residual, out=residual)
        np.divide(residual, sigma, out=residual, where=sigma > 0)
        residual[~(sigma > 0)] = 0.0
        return residual
    return np.asarray(getattr(analysis, name))


def channel_values(analysis, name: str, channel: int | None, reference=None) -> np.ndarray:
    """(h, w) float32: one channel of a quantity, or its reduction over channels."""
    values = full_quantity(analysis, name, reference)
    if channel is not None:
        if not 0 <= channel < values.shape[0]:
            raise ValueError(f"channel {channel} is outside 0..{values.shape[0] - 1}")
        return values[channel].astype(np.float32)
    # float32 throughout (the panel redraws on the GUI thread): the sums run over the
    # channels only, a few hundred terms at most, well within float32's precision
    reduction = QUANTITIES[name][1]
    values = np.asarray(values, np.float32)
    if reduction == "energy":
        return np.mean(np.square(values), axis=0, dtype=np.float32)
    if reduction == "sum":
        return values.sum(axis=0, dtype=np.float32)
    if reduction == "mean_abs":  # the LOF differences are fresh arrays: abs in place
        return np.abs(values, out=values).mean(axis=0, dtype=np.float32)
    return values.mean(axis=0, dtype=np.float32)


def scales(analysis) -> list[int]:
    """The MSP scales present, coarsest first (the decoding order)."""
    return sorted({p.scale for p in analysis.passes}, reverse=True)


def scale_layers(analysis, values: np.ndarray) -> list[ScaleLayer]:
    """Split an (h, w) map into one layer per scale, coarsest first (see module doc)."""
    present = scales(analysis)
    coarsest = present[0] if present else 0
    layers = []
    for scale in present:
        stride = 2 ** scale
        mask = analysis.scale_mask(scale)
        sub_mask = mask[::stride, ::stride]
        if int(sub_mask.sum()) != int(mask.sum()):  # not on the stride lattice: show it all
            stride, sub_mask = 1, mask
        data = np.where(sub_mask, values[::stride, ::stride], np.nan).astype(np.float32)
        layers.append(ScaleLayer(scale, stride, scale == coarsest, data, int(mask.sum())))
    return layers


def finite_levels(arrays, symmetric: bool = False, percentile: float = 99.5
                  ) -> tuple[float, float]:
    """Colour levels covering the finite values of ``arrays`` (robust to a few outliers)."""
    values = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]) \
        if arrays else np.zeros(1)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    if symmetric:
        bound = float(np.percentile(np.abs(values), percentile))
        bound = bound if bound > 0 else 1.0
        return -bound, bound
    low = float(values.min())
    high = float(np.percentile(values, percentile)) if values.size > 100 else float(values.max())
    if high <= low:
        high = low + 1.0
    return low, high


def latent_stride(analysis) -> int:
    """Image pixels per latent position along each axis (16 for the MSP transforms)."""
    return int(analysis.padded_size[0] // analysis.y_hat.shape[1])


def image_blocks(analysis) -> tuple[int, int]:
    """(rows, cols) of the latent positions whose stride × stride blocks hold image pixels:
    the rest of the grid codes only the padding (bottom and right)."""
    stride = latent_stride(analysis)
    height, width = analysis.image_size
    return -(-height // stride), -(-width // stride)


def bits_per_pixel_map(analysis) -> np.ndarray:
    """(rows, cols) float32 over :func:`image_blocks`: the model bits of each latent position
    (all channels) over the image pixels its block covers. A block cut by the image's edge
    counts the pixels inside, so it is not diluted by the padding; the bits of positions
    wholly in the padding are not in the map (:func:`padding_bits_share`)."""
    stride = latent_stride(analysis)
    height, width = analysis.image_size
    rows, cols = image_blocks(analysis)
    bits = np.asarray(analysis.bits, np.float64).sum(axis=0)[:rows, :cols]
    row_pixels = np.minimum(stride, height - stride * np.arange(rows))
    col_pixels = np.minimum(stride, width - stride * np.arange(cols))
    return (bits / np.outer(row_pixels, col_pixels)).astype(np.float32)


def region_bits_per_pixel(analysis, region: tuple[int, int, int, int]) -> float:
    """The model's bits per pixel in ``region`` (x, y, width, height) of the image: each
    block of :func:`bits_per_pixel_map` shares its bits evenly among its pixels, so a block
    the region cuts counts for the pixels it has in it."""
    x, y, width, height = region
    stride = latent_stride(analysis)
    per_pixel = bits_per_pixel_map(analysis).astype(np.float64)
    rows, cols = per_pixel.shape

    def overlap(count: int, start: int, length: int) -> np.ndarray:
        """Pixels of each block along one axis inside [start, start + length)."""
        first = stride * np.arange(count)
        return np.clip(np.minimum(first + stride, start + length) - np.maximum(first, start),
                       0, None)

    bits = overlap(rows, y, height) @ per_pixel @ overlap(cols, x, width)
    return float(bits / (width * height))


def padding_bits_share(analysis) -> float:
    """The share of the model's bits spent on latent positions that cover no image pixel
    (the padding to the MSP grid: large for a small image)."""
    bits = np.asarray(analysis.bits, np.float64).sum(axis=0)
    rows, cols = image_blocks(analysis)
    total = bits.sum()
    return float(1 - bits[:rows, :cols].sum() / total) if total > 0 else 0.0


#: How the bit-allocation chart can group the coding passes.
GROUPINGS = ("pass", "scale", "step", "group")


@dataclass(frozen=True)
class Allocation:
    labels: list[str]
    actual_bytes: np.ndarray  #: from the real stream (payload sections)
    estimated_bytes: np.ndarray  #: model estimate, bits / 8
    header_bytes: int
    #: the labels at their shortest ("s3", "g0", a pass's number), for a narrow chart
    short_labels: list[str] = field(default_factory=list)


def bit_allocation(analysis, by: str = "pass") -> Allocation:
    """Bytes per pass / scale / step / channel group, actual (stream) and estimated."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; use one of {GROUPINGS}")
    order: list = []
    actual: dict = {}
    estimated: dict = {}
    for p in analysis.passes:
        key = {"pass": (p.index,), "scale": (-p.scale,), "step": (p.step,),
               "group": (p.group,)}[by]
        if key not in actual:
            order.append(key)
            actual[key] = 0
            estimated[key] = 0.0
        actual[key] += p.actual_bytes
        estimated[key] += p.estimated_bits / 8.0
        if by == "pass":
            label, short = f"s{p.scale} {p.step} g{p.group}", f"{p.index}"
        elif by == "scale":
            label, short = f"scale {p.scale}", f"s{p.scale}"
        elif by == "step":
            label, short = f"step {p.step}", f"{p.step}"
        else:
            label = f"group {p.group} (ch {p.channel_start}–{p.channel_stop - 1})"
            short = f"g{p.group}"
        actual.setdefault(("label",) + key, label)
        actual.setdefault(("short",) + key, short)
    if by == "step":
        rank = {"coarsest": 0}
        order.sort(key=lambda k: rank.get(k[0], 1 + ord(str(k[0])[0])))
    elif by != "pass":
        order.sort()
    labels = [actual[("label",) + k] for k in order]
    return Allocation(labels, np.array([actual[k] for k in order], np.int64),
                      np.array([estimated[k] for k in order], np.float64),
                      int(analysis.header_bytes), [actual[("short",) + k] for k in order])


@dataclass(frozen=True)
class LedgerRow:
    """One line of the estimated-vs-actual bits table."""

    label: str
    elements: int  #: latent elements coded (0 for the header)
    estimated_bits: float  #: the model's cost, Σ −log2 P (0 for the header: not modelled)
    actual_bits: int  #: from the real stream

    @property
    def overhead_bits(self) -> float:
        return self.actual_bits - self.estimated_bits

    @property
    def overhead_percent(self) -> float | None:
        """The overhead relative to the estimate, 100·(actual − estimated)/estimated; None
        where the model estimates nothing (the header)."""
        if self.estimated_bits <= 0:
            return None
        return 100.0 * self.overhead_bits / self.estimated_bits


def bits_ledger(analysis) -> list[LedgerRow]:
    """Estimated (model) vs actual (stream) bits per scale, coarsest first, then the payload
    total, the header (pure overhead: the model does not price it) and the whole file.

    The per-scale actual bits are the coder's byte positions at the pass boundaries, so they
    include the range coder's rounding; their sum is the payload exactly.
    """
    per_scale = analysis.bits_per_scale()
    rows = [LedgerRow(f"scale {scale}", int(entry["num_elements"]), entry["estimated_bits"],
                      8 * int(entry["actual_bytes"]))
            for scale, entry in sorted(per_scale.items(), reverse=True)]  # (coarsest first)
    payload = LedgerRow("payload", sum(r.elements for r in rows),
                        sum(r.estimated_bits for r in rows), 8 * int(analysis.payload_bytes))
    header = LedgerRow("header", 0, 0.0, 8 * int(analysis.header_bytes))
    total = LedgerRow("file", payload.elements, payload.estimated_bits,
                      payload.actual_bits + header.actual_bits)
    return rows + [payload, header, total]
