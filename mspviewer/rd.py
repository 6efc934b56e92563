"""Rate-distortion points and curves, codec sweeps, BD-rate and BD-PSNR, published anchors.

BD-rate / BD-PSNR follow the JVET common-test-conditions way (the "piecewise cubic"
Bjøntegaard delta of the JVET CTC spreadsheets):

- **BD-rate**: for anchor and test, the logarithm of the rate is interpolated as a function
  of quality (PSNR, or MS-SSIM in dB) with a piecewise cubic Hermite interpolant whose
  slopes are the shape-preserving (Fritsch-Carlson/Fritsch-Butland "PCHIP") ones; both
  interpolants are integrated exactly over the quality interval where the two curves
  overlap; the mean log-rate difference d gives BD-rate = (e^d - 1) x 100 %. Negative means
  the test needs fewer bits than the anchor for the same quality.
- **BD-PSNR** (BD-metric): the same with the axes swapped: quality interpolated over
  log-rate, mean difference over the overlapping log-rate interval, in dB (or in whatever
  unit the metric has). Positive means the test is better.

The interpolation and its exact integral are implemented here in numpy (no scipy), and
checked in the tests against the independent ``bjontegaard`` package (which uses scipy's
``PchipInterpolator``). Before interpolating, a curve is reduced to its points where rate
and quality both strictly increase (points dominated by a cheaper, better one are left
out); at least two points per curve and a non-empty overlap are needed. ``bd_curves`` also
warns when the overlap is under half the narrower curve's quality range: a mean over a sliver
of quality is easily read as a verdict on the whole curve.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mspviewer.bundled import resources_dir
from mspviewer.errors import MSPViewerError

#: Quality measures a BD value can be computed on.
METRICS = ("psnr_rgb", "psnr_y", "ms_ssim_db")
METRIC_LABELS = {"psnr_rgb": "PSNR-RGB [dB]", "psnr_y": "PSNR-Y [dB]",
                 "ms_ssim_db": "MS-SSIM [dB]"}

#: Where the project's copies of published Kodak anchors live (see its README.md).
ANCHOR_DIR = resources_dir() / "anchors" / "kodak"


class BDError(MSPViewerError, ValueError):
    """A BD value cannot be computed (too few points, curves that do not overlap)."""


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def ms_ssim_to_db(value: float | None) -> float | None:
    """MS-SSIM as -10 log10(1 - MS-SSIM), the usual dB scale; ``None`` if undefined."""
    if value is None or not math.isfinite(value):
        return None
    if value >= 1.0:
        return math.inf
    return -10.0 * math.log10(1.0 - value)


def ms_ssim_from_db(value: float) -> float:
    return 1.0 - 10.0 ** (-value / 10.0)


# --- points and curves -------------------------------------------------------------------------
@dataclass(frozen=True)
class RDPoint:
    """One encoded version of an image: its rate, its quality and what it cost."""

    bpp: float
    psnr_rgb: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    num_bytes: int | None = None  #: the whole file (None for published averages)
    quality: float | int | None = None  #: the codec's setting (quality, QP, ratio, λ)
    encode_s: float | None = None
    decode_s: float | None = None

    @property
    def ms_ssim_db(self) -> float | None:
        return ms_ssim_to_db(self.ms_ssim)

    def metric(self, name: str) -> float | None:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; use one of {METRICS}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quality": self.quality,
            "file_bytes": self.num_bytes,
            "bpp": self.bpp,
            "psnr_rgb": _finite_or_none(self.psnr_rgb),
            "psnr_y": _finite_or_none(self.psnr_y),
            "ms_ssim": _finite_or_none(self.ms_ssim),
            "ms_ssim_db": _finite_or_none(self.ms_ssim_db),
            "encode_s": self.encode_s,
            "decode_s": self.decode_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RDPoint:
        return cls(
            bpp=float(data["bpp"]),
            psnr_rgb=data.get("psnr_rgb"),
            psnr_y=data.get("psnr_y"),
            ms_ssim=data.get("ms_ssim"),
            num_bytes=data.get("file_bytes", data.get("bytes")),  # "bytes" in version 1 files
            quality=data.get("quality"),
            encode_s=data.get("encode_s"),
            decode_s=data.get("decode_s"),
        )


@dataclass
class RDCurve:
    """The points of one codec configuration on one image (or a published average)."""

    name: str
    label: str
    points: list[RDPoint] = field(default_factory=list)
    family: str = ""
    library_version: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = "measured"  #: "measured", or where a published curve comes from

    def sorted_points(self) -> list[RDPoint]:
        return sorted(self.points, key=lambda point: point.bpp)

    def rates(self) -> np.ndarray:
        return np.array([point.bpp for point in self.points], dtype=np.float64)

    def values(self, metric: str) -> np.ndarray:
        return np.array(
            [np.nan if point.metric(metric) is None else point.metric(metric)
             for point in self.points],
            dtype=np.float64,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "family": self.family,
            "source": self.source,
            "library_version": self.library_version,
            "settings": self.settings,
            "points": [point.to_dict() for point in self.sorted_points()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RDCurve:
        return cls(
            name=data["name"],
            label=data.get("label", data["name"]),
            points=[RDPoint.from_dict(point) for point in data.get("points", [])],
            family=data.get("family", ""),
            library_version=data.get("library_version", ""),
            settings=dict(data.get("settings", {})),
            source=data.get("source", "measured"),
        )


# --- measuring ---------------------------------------------------------------------------------
def evaluate_reconstruction(original: np.ndarray, decoded: np.ndarray, num_bytes: int,
                            with_ms_ssim: bool = True, **extra: Any) -> RDPoint:
    """An :class:`RDPoint` from the original, the decoded image and the file size.

    MS-SSIM is ``None`` when skipped or when the image is too small for even one scale.
    """
    from mspviewer import metrics

    if decoded.shape != original.shape:
        raise MSPViewerError(
            f"decoded image is {decoded.shape}, the original is {original.shape}"
        )
    height, width = original.shape[:2]
    ms_ssim = metrics.ms_ssim(original, decoded) if with_ms_ssim else math.nan
    return RDPoint(
        bpp=metrics.bpp(num_bytes, height, width),
        psnr_rgb=metrics.psnr_rgb(original, decoded),
        psnr_y=metrics.psnr_y(original, decoded),
        ms_ssim=None if math.isnan(ms_ssim) else ms_ssim,
        num_bytes=num_bytes,
        **extra,
    )


def measure_point(codec, pixels: np.ndarray, quality: float | int,
                  with_ms_ssim: bool = True) -> RDPoint:
    """Encode with a classic codec, decode the bytes back, and measure (timings included)."""
    from mspviewer.baselines.base import timed_call

    data, encode_s = timed_call(codec, "encode", pixels, quality)
    decoded, decode_s = timed_call(codec, "decode", data)
    return evaluate_reconstruction(pixels, decoded, len(data), with_ms_ssim=with_ms_ssim,
                                   quality=quality, encode_s=encode_s, decode_s=decode_s)


def sweep(codec, pixels: np.ndarray, qualities: Sequence[float | int] | None = None,
          on_point: Callable[[RDPoint], None] | None = None,
          with_ms_ssim: bool = True) -> RDCurve:
    """RD curve of a classic codec over ``qualities`` (default: its ``default_qualities``)."""
    curve = RDCurve(
        name=codec.name,
        label=codec.label,
        family=codec.family,
        library_version=codec.library_version(),
        settings=codec.settings(),
    )
    for quality in (codec.default_qualities if qualities is None else qualities):
        point = measure_point(codec, pixels, quality, with_ms_ssim=with_ms_ssim)
        curve.points.append(point)
        if on_point is not None:
            on_point(point)
    return curve


# --- piecewise cubic (PCHIP) interpolation, integrated exactly ---------------------------------
def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shape-preserving derivatives at the knots (Fritsch-Carlson with Brodlie weights).

    Interior knot: zero where the neighbouring secant slopes differ in sign or one is
    zero, else their weighted harmonic mean with weights (2h_k + h_(k-1), h_k + 2h_(k-1)).
    End knots: the three-point one-sided estimate, set to zero if its sign differs from
    the first secant, limited to three times the secant if the secants change sign.
    Two knots: the straight line.
    """
    h = np.diff(x)
    secant = np.diff(y) / h
    n = len(x)
    slopes = np.zeros(n)
    if n == 2:
        slopes[:] = secant[0]
        return slopes
    for k in range(1, n - 1):
        left, right = secant[k - 1], secant[k]
        if left * right > 0:
            w_left = 2.0 * h[k] + h[k - 1]
            w_right = h[k] + 2.0 * h[k - 1]
            slopes[k] = (w_left + w_right) / (w_left / left + w_right / right)

    def end(h0: float, h1: float, s0: float, s1: float) -> float:
        slope = ((2.0 * h0 + h1) * s0 - h0 * s1) / (h0 + h1)
        if np.sign(slope) != np.sign(s0):
            return 0.0
        if np.sign(s0) != np.sign(s1) and abs(slope) > abs(3.0 * s0):
            return 3.0 * s0
        return slope

    slopes[0] = end(h[0], h[1], secant[0], secant[1])
    slopes[-1] = end(h[-1], h[-2], secant[-1], secant[-2])
    return slopes


def pchip_integral(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """Exact integral over [low, high] (inside [x0, xn]) of the PCHIP interpolant of y(x)."""
    slopes = pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(low, x[k]), min(high, x[k + 1])
        if b <= a:
            continue
        step = x[k + 1] - x[k]
        secant = (y[k + 1] - y[k]) / step
        c1 = slopes[k]
        c2 = (3.0 * secant - 2.0 * slopes[k] - slopes[k + 1]) / step
        c3 = (slopes[k] + slopes[k + 1] - 2.0 * secant) / step**2

        def antiderivative(t: float, k: int = k, c1: float = c1, c2: float = c2,
                           c3: float = c3) -> float:
            return y[k] * t + c1 * t**2 / 2.0 + c2 * t**3 / 3.0 + c3 * t**4 / 4.0

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return total


def rd_front(rates: Iterable[float], values: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """The points where rate and quality both strictly increase (non-finite ones dropped)."""
    pairs = [(float(r), float(v)) for r, v in zip(rates, values, strict=True)
             if r is not None and v is not None and math.isfinite(float(r))
             and math.isfinite(float(v)) and float(r) > 0]
    pairs.sort(key=lambda pair: (pair[0], -pair[1]))
    kept: list[tuple[float, float]] = []
    for rate, value in pairs:
        if not kept or (rate > kept[-1][0] and value > kept[-1][1]):
            kept.append((rate, value))
    return np.array([p[0] for p in kept]), np.array([p[1] for p in kept])


def _prepare(rates_a, values_a, rates_b, values_b):
    rate_a, value_a = rd_front(rates_a, values_a)
    rate_b, value_b = rd_front(rates_b, values_b)
    for label, count in (("anchor", len(rate_a)), ("test", len(rate_b))):
        if count < 2:
            raise BDError(f"the {label} curve has {count} usable point(s); 2 are needed")
    return np.log(rate_a), value_a, np.log(rate_b), value_b


def _mean_difference(x_a, y_a, x_b, y_b, what: str) -> float:
    low, high = max(x_a[0], x_b[0]), min(x_a[-1], x_b[-1])
    if not high > low:
        raise BDError(f"the curves do not overlap in {what}")
    integral_a = pchip_integral(x_a, y_a, low, high)
    integral_b = pchip_integral(x_b, y_b, low, high)
    return (integral_b - integral_a) / (high - low)


def bd_rate(anchor_rates, anchor_values, test_rates, test_values) -> float:
    """BD-rate of test against anchor in percent (negative: test saves bits)."""
    log_a, value_a, log_b, value_b = _prepare(anchor_rates, anchor_values,
                                              test_rates, test_values)
    mean_log_difference = _mean_difference(value_a, log_a, value_b, log_b, "quality")
    return (math.exp(mean_log_difference) - 1.0) * 100.0


def bd_quality(anchor_rates, anchor_values, test_rates, test_values) -> float:
    """BD-PSNR (or BD of another quality measure) of test against anchor, in its units."""
    log_a, value_a, log_b, value_b = _prepare(anchor_rates, anchor_values,
                                              test_rates, test_values)
    return _mean_difference(log_a, value_a, log_b, value_b, "rate")


bd_psnr = bd_quality


#: A BD value over an overlap narrower than this share of the narrower curve's range (of
#: quality for BD-rate, of log-rate for BD-quality) holds for that band only: ``bd_curves``
#: warns.
MIN_OVERLAP_FRACTION = 0.5


def _shared_span(axis_a: np.ndarray, axis_b: np.ndarray) -> tuple[float, float, float]:
    """(low, high, share) of two ascending axes: the interval both cover and its share of
    the narrower one's span (0 when they do not overlap)."""
    low, high = float(max(axis_a[0], axis_b[0])), float(min(axis_a[-1], axis_b[-1]))
    narrower = min(axis_a[-1] - axis_a[0], axis_b[-1] - axis_b[0])
    return low, high, float(max(0.0, high - low) / narrower)


def quality_overlap(anchor_rates, anchor_values, test_rates, test_values
                    ) -> tuple[float, float, float] | None:
    """(low, high, share): the quality interval both curves cover, over which BD-rate
    averages, and its share of the narrower curve's quality range (0 when they do not
    overlap); None when a curve has fewer than two usable points."""
    _, value_a = rd_front(anchor_rates, anchor_values)
    _, value_b = rd_front(test_rates, test_values)
    if len(value_a) < 2 or len(value_b) < 2:
        return None
    return _shared_span(value_a, value_b)


def rate_overlap(anchor_rates, anchor_values, test_rates, test_values
                 ) -> tuple[float, float, float] | None:
    """(low, high, share): the rates (bpp) both curves cover, over which BD-quality averages
    (in log-rate), and its share of the narrower curve's range of log-rate (0 when they do
    not overlap); None when a curve has fewer than two usable points."""
    rate_a, _ = rd_front(anchor_rates, anchor_values)  # (positive and rising: logs exist)
    rate_b, _ = rd_front(test_rates, test_values)
    if len(rate_a) < 2 or len(rate_b) < 2:
        return None
    low, high, _ = _shared_span(rate_a, rate_b)
    return low, high, _shared_span(np.log(rate_a), np.log(rate_b))[2]


def bd_curves(anchor: RDCurve, test: RDCurve, metric: str = "psnr_rgb") -> dict[str, Any]:
    """BD-rate and BD-quality of two curves on ``metric``; ``None`` for either that cannot
    be computed, with the ``reason`` (the BD-rate's first). ``overlap`` is
    :func:`quality_overlap`'s (low, high, share); ``warning`` says when the share is under
    :data:`MIN_OVERLAP_FRACTION`: the curves barely meet, so the BD-rate speaks for a narrow
    band of quality only. ``rate_overlap`` and ``quality_warning`` say the same of the
    rates, over which BD-quality averages (a steep curve beside a flat one can share most
    of their qualities and few of their rates)."""
    result: dict[str, Any] = {"metric": metric, "bd_rate_percent": None,
                              "bd_quality": None, "reason": None, "overlap": None,
                              "warning": None, "rate_overlap": None, "quality_warning": None}
    curves = (anchor.rates(), anchor.values(metric), test.rates(), test.values(metric))
    try:
        result["bd_rate_percent"] = bd_rate(*curves)
    except BDError as error:
        result["reason"] = str(error)
    # Apart: curves can overlap in quality but not in rate (a steep one beside a flat one)
    try:
        result["bd_quality"] = bd_quality(*curves)
    except BDError as error:
        result["reason"] = result["reason"] or f"no BD-quality: {error}"
    overlap = quality_overlap(anchor.rates(), anchor.values(metric),
                              test.rates(), test.values(metric))
    if overlap is not None:
        result["overlap"] = list(overlap)
        low, high, share = overlap
        if result["bd_rate_percent"] is not None and share < MIN_OVERLAP_FRACTION:
            result["warning"] = (f"the curves overlap only from {low:.2f} to {high:.2f} dB, "
                                 f"{share:.0%} of the narrower one's quality range: the "
                                 "BD-rate holds for that band only")
    rates = rate_overlap(*curves)
    if rates is not None:
        result["rate_overlap"] = list(rates)
        low, high, share = rates
        if result["bd_quality"] is not None and share < MIN_OVERLAP_FRACTION:
            result["quality_warning"] = (
                f"the curves overlap only from {low:.3f} to {high:.3f} bpp, {share:.0%} of "
                "the narrower one's range of log-rate: the BD-quality holds for that band only")
    return result


# --- published anchors -------------------------------------------------------------------------
def _eval_mean_curve(document: dict, path: Path) -> RDCurve:
    """The mean curve of an ``mspviewer eval`` result, as an anchor: BD-rates of one model,
    profile or checkpoint against another's evaluation on the same images."""
    curve = RDCurve.from_dict(document["mean"])
    model = document.get("model", {})
    steps = model.get("card", {}).get("training_steps")
    what = f"MSP {document.get('profile', '?')}, model {model.get('name', '?')}"
    if steps is not None:
        what += f" at {steps:,} steps"
    return RDCurve(name=path.stem, label=what, points=curve.points, family="learned",
                   settings={"dataset": document.get("dataset") or "Kodak",
                             "images": [entry["image"] for entry in document.get("images", [])
                                        if isinstance(entry, dict) and "image" in entry]
                             or None},  # (None: it does not say which)
                   source=f"mspviewer eval: {path.name}")


def published_anchor_names(directory: str | os.PathLike | None = None) -> list[str]:
    folder = Path(directory) if directory is not None else ANCHOR_DIR
    return sorted(path.stem for path in folder.glob("*.json"))


def load_published_anchor(name_or_path: str | os.PathLike,
                          directory: str | os.PathLike | None = None) -> RDCurve:
    """A published average RD curve (CompressAI ``results/image/<dataset>`` JSON format),
    or the mean curve of an ``mspviewer eval`` result (``"format": "mspviewer-eval"``).

    ``name_or_path`` is a file, or a name in ``directory`` (default :data:`ANCHOR_DIR`),
    e.g. ``"vtm"``. Reads ``bpp`` with ``psnr-rgb`` (or the older ``psnr``), ``ms-ssim-rgb``
    (or ``ms-ssim``) or ``ms-ssim-db-rgb``, and the optional encode/decode times.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = (Path(directory) if directory is not None else ANCHOR_DIR) / f"{path}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("format") == "mspviewer-eval":
            return _eval_mean_curve(data, path)
        results = data["results"]
        rates = [float(v) for v in results["bpp"]]
    except KeyError as error:
        raise MSPViewerError(
            f"cannot read anchor file {path}: no {error} (an anchor is an RD curve in "
            'CompressAI\'s format, {"results": {"bpp": [...], "psnr-rgb": [...]}}, or the '
            "result of `mspviewer eval`)") from error
    except (OSError, ValueError, TypeError) as error:
        raise MSPViewerError(f"cannot read anchor file {path}: {error}") from error

    def column(*keys: str) -> list | None:
        for key in keys:
            if key in results:
                if len(results[key]) != len(rates):
                    raise MSPViewerError(f"{path}: {key} and bpp differ in length")
                return list(results[key])
        return None

    psnr = column("psnr-rgb", "psnr")
    ms_ssim = column("ms-ssim-rgb", "ms-ssim")
    if ms_ssim is None and (ms_db := column("ms-ssim-db-rgb")) is not None:
        ms_ssim = [ms_ssim_from_db(float(v)) for v in ms_db]
    encode = column("encoding_time")
    decode = column("decoding_time")
    points = [
        RDPoint(
            bpp=rate,
            psnr_rgb=None if psnr is None else float(psnr[i]),
            ms_ssim=None if ms_ssim is None else float(ms_ssim[i]),
            encode_s=None if encode is None else float(encode[i]),
            decode_s=None if decode is None else float(decode[i]),
        )
        for i, rate in enumerate(rates)
    ]
    description = data.get("description", "")
    meta = data.get("meta", {})
    source = f"published: {path.name}" + (f" ({meta['url']})" if meta.get("url") else "")
    return RDCurve(name=path.stem, label=str(data.get("name", path.stem)), points=points,
                   family=str(data.get("name", path.stem)), library_version=str(description),
                   source=source)
