"""``mspviewer compare IMAGE [--codecs ...] -o rd.json [--plot rd.png] [--anchor vvc]``.

Runs the learned codec (at its λ ladder) and the classic codecs on the same image, measures
every point on the real decoded pixels and the real file size, and reports BD-rates and
BD-PSNRs of every codec against one anchor (default: VVC intra). Progress goes to stderr;
the JSON file holds every point; the returned summary is what ``--json`` prints.
"""

from __future__ import annotations

import math
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mspviewer import __version__, rd
from mspviewer.baselines import (
    DEFAULT_ANCHOR,
    DEFAULT_CODECS,
    CodecError,
    codec_names,
    get_codec,
)
from mspviewer.baselines.registry import UnknownCodecError
from mspviewer.cli.common import (add_threads_argument, listed, model_file, pixel_limit,
                                  positive_number, writable_output)
from mspviewer.codec.api import MAX_ENCODABLE_PIXELS
from mspviewer.codec.profiles import DEFAULT_PROFILE
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_json, write_output

LEARNED = "learned"


def _tell(message: str) -> None:
    """A note on stderr that does not break a running progress bar."""
    from tqdm import tqdm

    tqdm.write(f"mspviewer compare: {message}", file=sys.stderr)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="RD curves and BD-rates of the learned codec and classic codecs on one image",
        description="Encode IMAGE with the learned codec and every available classic codec, "
        "measure bpp (whole file), PSNR-RGB, PSNR-Y, MS-SSIM and timings, and compute "
        "BD-rate / BD-PSNR of every codec against an anchor.",
    )
    parser.add_argument("image")
    parser.add_argument(
        "--codecs", **listed(), default=None, metavar="NAME",
        help=f"codecs to run, space or comma separated: '{LEARNED}', 'classic' (the default "
        f"classic set), or any of {', '.join(codec_names())} "
        f"(default: {LEARNED} {' '.join(DEFAULT_CODECS)})",
    )
    parser.add_argument("-o", "--output", required=True, help="RD results, JSON")
    parser.add_argument("--plot", default=None,
                        help="RD plot (matplotlib), in the format its suffix names: .png, "
                        ".svg, .pdf …")
    parser.add_argument("--anchor", default=DEFAULT_ANCHOR,
                        help=f"codec the BD values are measured against; run even if not "
                        f"listed in --codecs (default {DEFAULT_ANCHOR})")
    parser.add_argument("--metric", default="psnr_rgb", choices=rd.METRICS,
                        help="quality measure of the BD table printed (the JSON has all)")
    parser.add_argument("--quality", action="append", default=[], metavar="NAME=Q1,Q2,...",
                        help="override a classic codec's sweep, e.g. jpeg-420=20,50,80")
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help=f"learned codec encoding profile (default {DEFAULT_PROFILE})")
    parser.add_argument("--lambdas", **listed(positive_number), default=None,
                        help="learned codec λ values, space or comma separated (default: the "
                        "model's λ ladder)")
    parser.add_argument("--model", default=None,
                        help="learned codec weights (default: $MSPVIEWER_MODEL or the shipped "
                        "model)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where the learned codec runs (default cpu)")
    add_threads_argument(parser)
    parser.add_argument("--max-pixels", type=pixel_limit(MAX_ENCODABLE_PIXELS),
                        default=MAX_ENCODABLE_PIXELS,
                        help="largest image accepted, in pixels")
    parser.add_argument("--no-ms-ssim", action="store_true",
                        help="skip MS-SSIM (its points and BD values become null)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


# --- argument handling -------------------------------------------------------------------------
def _selected_codecs(requested: list[str] | None, anchor: str) -> list[str]:
    if requested is None:
        names = [LEARNED, *DEFAULT_CODECS]
    else:
        names = []
        for name in requested:
            expanded = list(DEFAULT_CODECS) if name == "classic" else [name]
            names.extend(n for n in expanded if n not in names)
    for name in names:
        if name != LEARNED:
            get_codec(name)  # raises UnknownCodecError with the list of names
    if anchor != LEARNED and anchor not in codec_names():
        raise UnknownCodecError(
            f"unknown anchor {anchor!r}; use {LEARNED} or one of {', '.join(codec_names())}"
        )
    if anchor not in names:
        names.append(anchor)
    return names


def _quality_overrides(items: list[str], names: list[str]) -> dict[str, list[float | int]]:
    """``--quality NAME=Q1,Q2,...`` for codecs that are run, every value checked against the
    codec's range (and to be whole for integer settings) here, before any work (not found
    out codec by codec)."""
    overrides: dict[str, list[float | int]] = {}
    for item in items:
        name, _, values = item.partition("=")
        name = name.strip()
        if not values:
            raise MSPViewerError(f"--quality wants NAME=Q1,Q2,..., got {item!r}")
        codec = get_codec(name)
        if name not in names:
            raise MSPViewerError(f"--quality {item!r}: {name} is not among the codecs run "
                                 f"({', '.join(names)}); add it to --codecs")
        qualities = _numbers(values, f"--quality {item!r}")
        try:
            overrides[name] = [codec.check_quality(q) for q in qualities]
        except CodecError as error:
            raise MSPViewerError(f"--quality {item!r}: {error}") from None
    return overrides


def _numbers(text: str, option: str) -> list[float]:
    """The comma-separated numbers ``text`` of ``option``: at least one, each a number."""
    try:
        numbers = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise MSPViewerError(f"{option}: {error}") from None
    if not numbers:
        raise MSPViewerError(f"{option}: no values")
    return numbers


def _lambdas(lambdas: list[float] | None) -> list[float] | None:
    """``--lambdas``, each λ once (positive finite numbers by its parser; the model's range
    is checked once it is loaded, before its first encode)."""
    if lambdas is None:
        return None
    if len(set(lambdas)) < len(lambdas):  # (a point twice: the front drops it, no BD-rate)
        lambdas = list(dict.fromkeys(lambdas))
        _tell(f"λ given more than once: each is encoded once ({', '.join(map(str, lambdas))})")
    return lambdas


def check_plot_path(path: str) -> str:
    """The format of the plot ``path`` (its suffix), refused before any work when it cannot
    be written: no matplotlib, no suffix or one matplotlib does not know. A name without a
    suffix is refused rather than completed: matplotlib would append ".png" itself, writing
    (and overwriting) a file other than the one named, checked and reported."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as error:
        raise MSPViewerError("--plot needs matplotlib (pip install matplotlib)") from error
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = FigureCanvasAgg.get_supported_filetypes()
    known = ", ".join("." + name for name in sorted(formats))
    if not suffix:
        raise MSPViewerError(f"--plot {path} has no suffix to name its format: use one of "
                             f"{known}")
    if suffix not in formats:
        raise MSPViewerError(f"cannot write a plot as {Path(path).name!r}: use one of {known}")
    if suffix == "pgf":  # (matplotlib lists it, and needs LaTeX to lay its text out)
        tex = matplotlib.rcParams["pgf.texsystem"]
        if shutil.which(tex) is None:
            raise MSPViewerError(f"--plot {path}: a .pgf plot needs LaTeX ({tex}), which is "
                                 "not installed here; use .pdf or .svg")
    return suffix


def save_figure(figure, path: str | Path, **options) -> None:
    """``figure`` to exactly ``path`` (see :func:`check_plot_path`), whole or not at all:
    drawn in memory in the format its suffix names, then written in one piece."""
    import io
    import logging

    buffer = io.BytesIO()
    # PostScript has no transparency: the legend's translucent ground comes out opaque,
    # which is all matplotlib's log line about it says
    postscript_log = logging.getLogger("matplotlib.backends.backend_ps")
    level = postscript_log.level
    postscript_log.setLevel(logging.ERROR)
    try:
        figure.savefig(buffer, format=Path(path).suffix.lower().lstrip("."), **options)
    finally:
        postscript_log.setLevel(level)
    write_output(path, buffer.getvalue())


def _native(quality: float, codec) -> float | int:
    return int(quality) if float(quality).is_integer() and float(codec.quality_step).is_integer() \
        else quality


# --- the learned codec -------------------------------------------------------------------------
def _learned_codec(args, lambdas: list[float] | None) -> tuple[Any, list[float], str | None]:
    """``(model, λ ladder, None)`` of the learned codec, loaded before any work, or
    ``(None, [], reason)`` when it is left out.

    What the user named (``--model``, ``--device cuda``, ``--lambdas``) and is wrong is an
    error, as in ``encode`` and ``eval``: a comparison without the codec asked for would read
    as a success. Only the default model ($MSPVIEWER_MODEL or the shipped one) may be
    missing or unreadable; then the codec is skipped, like a classic codec whose library is
    not installed, so that the default codec set still runs where no weights are."""
    from mspviewer.codec import load_model, resolve_device

    device = resolve_device(args.device)  # "cpu" and "auto" always resolve
    try:
        model = load_model(args.model, device=device)
    except MSPViewerError as error:
        if args.model is not None:
            raise
        return None, [], f"learned codec unavailable: {error}"
    ladder = list(lambdas) if lambdas else list(model.config.rate.lambdas)
    try:
        for lam in ladder:  # every λ in the model's range before the first encode
            model.rate_point(lam)
    except MSPViewerError as error:
        if lambdas:
            raise MSPViewerError(f"--lambdas: {error}") from None
        return None, [], f"learned codec cannot run: {error}"
    for note in filter(None, map(model.extrapolation_note, dict.fromkeys(ladder))):
        _tell(note)
    return model, ladder, None


def _learned_codec_points(model, pixels: np.ndarray, ladder: list[float], profile: str,
                          on_point, with_ms_ssim: bool = True
                          ) -> tuple[rd.RDCurve | None, str | None]:
    """RD curve of the learned codec on ``pixels``, or ``(None, reason)`` if it fails
    (measured by :func:`mspviewer.evaluation.learned_curve`)."""
    from mspviewer.evaluation import learned_curve

    try:
        curve = learned_curve(model, pixels, ladder, profile, on_point, with_ms_ssim)
    except MSPViewerError as error:
        return None, f"learned codec failed: {error}"
    curve.name = LEARNED
    curve.label = f"MSP learned ({profile})"
    curve.library_version = f"mspviewer {__version__}, model {model.name}"
    curve.settings = {"profile": profile, "lambdas": ladder, "device": str(model.device),
                      "lambdas_extrapolated": [lam for lam in ladder
                                               if model.rate_point(lam).extrapolated],
                      "container": "mspviewer .msp bitstream, whole file counted"}
    return curve, None


# --- running -----------------------------------------------------------------------------------
def _progress(total: int, disable: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="pt", file=sys.stderr, disable=disable, leave=False,
                dynamic_ncols=True)


def run(args) -> dict[str, Any]:
    from mspviewer.codec.profiles import get_profile
    from mspviewer.imageio import load_image

    if args.no_ms_ssim and args.metric.startswith("ms_ssim"):
        raise MSPViewerError(f"--metric {args.metric} needs MS-SSIM, which --no-ms-ssim "
                             "leaves out")
    anchor = args.anchor
    names = _selected_codecs(args.codecs, anchor)
    overrides = _quality_overrides(args.quality, names)
    lambdas = _lambdas(args.lambdas)
    if LEARNED in names:
        get_profile(args.profile)  # a typo is the user's error, not "learned unavailable"

    output = Path(args.output)
    plot = Path(args.plot) if args.plot else None
    if plot is not None:  # its real name first, then the checks of that name
        check_plot_path(args.plot)
        if plot.resolve() == output.resolve():
            raise MSPViewerError(f"--plot and -o are the same file {args.plot}")
    inputs = [args.image] + ([model_file(args)] if LEARNED in names else [])
    for target in (output, plot):
        if target is not None:
            writable_output(target, *inputs)

    image = load_image(args.image, max_pixels=args.max_pixels)
    for note in image.notes:
        _tell(note)
    pixels = image.pixels

    curves: dict[str, rd.RDCurve] = {}
    skipped: dict[str, str] = {}
    model, ladder = None, []
    if LEARNED in names:
        model, ladder, reason = _learned_codec(args, lambdas)
        if model is None:
            skipped[LEARNED] = reason
            _tell(f"skipping {LEARNED}: {reason}")
    codecs = {}
    for name in names:
        if name == LEARNED:
            continue
        codec = get_codec(name)
        reason = codec.unavailable_reason()
        if reason is not None:
            skipped[name] = f"unavailable: {reason}"
            _tell(f"skipping {name}: {reason}")
            continue
        codecs[name] = codec

    total = len(ladder) + sum(len(overrides.get(n, c.default_qualities))
                              for n, c in codecs.items())
    started = time.perf_counter()
    with _progress(total, args.no_progress) as bar:
        for name in names:
            if name == LEARNED:
                if model is None:
                    continue
                bar.set_description(LEARNED)
                curve, reason = _learned_codec_points(
                    model, pixels, ladder, args.profile, on_point=lambda _point: bar.update(1),
                    with_ms_ssim=not args.no_ms_ssim,
                )
                if curve is None:
                    skipped[LEARNED] = reason
                    _tell(f"skipping {LEARNED}: {reason}")
                else:
                    curves[LEARNED] = curve
                continue
            if name not in codecs:
                continue
            codec = codecs[name]
            bar.set_description(name)
            qualities = [_native(q, codec) for q in overrides.get(name, codec.default_qualities)]
            try:
                curves[name] = rd.sweep(codec, pixels, qualities,
                                        on_point=lambda _point: bar.update(1),
                                        with_ms_ssim=not args.no_ms_ssim)
            except CodecError as error:  # unsupported image, tool failure: skip this codec
                skipped[name] = str(error)
                _tell(f"skipping {name}: {error}")
    elapsed = time.perf_counter() - started
    if not curves:  # an empty result would read as a success
        raise MSPViewerError("no codec produced an RD point, nothing written: " + "; ".join(
            f"{name}: {reason}" for name, reason in skipped.items()))

    bd = _bd_tables(curves, anchor)
    document = {
        "format": "mspviewer-rd",
        "version": 2,  # 2: points say "file_bytes" (1: "bytes")
        "image": {"path": str(args.image), "width": image.width, "height": image.height,
                  "notes": list(image.notes)},
        "anchor": anchor,
        "bd_method": "piecewise cubic (PCHIP) in log-rate, JVET CTC style; see docs/baselines.md",
        "curves": [curves[name].to_dict() for name in names if name in curves],
        "bd": bd,
        "skipped": skipped,
        "environment": {"mspviewer": __version__, "python": platform.python_version(),
                        "platform": platform.platform(), "elapsed_s": round(elapsed, 3)},
    }
    if plot is not None:  # (first: a plot that fails leaves no results file behind either)
        plot_curves([curves[n] for n in names if n in curves], args.plot, anchor=anchor,
                    title=Path(args.image).name)
    write_json(output, document)

    table = format_bd_table(curves, bd, anchor, args.metric, skipped)
    print(table, file=sys.stderr)
    metric_bd = bd.get(args.metric, {})
    warnings = {name: entry["warning"] for name, entry in metric_bd.items()
                if entry.get("warning")}
    quality_warnings = {name: entry["quality_warning"] for name, entry in metric_bd.items()
                        if entry.get("quality_warning")}
    return {
        "image": str(args.image),
        "width": image.width,
        "height": image.height,
        "output": str(output),
        "plot": args.plot,
        "anchor": anchor,
        "metric": args.metric,
        "points": {name: len(curve.points) for name, curve in curves.items()},
        "bd_rate_percent": {name: entry["bd_rate_percent"]
                            for name, entry in metric_bd.items()},
        "bd_quality": {name: entry["bd_quality"] for name, entry in metric_bd.items()},
        "skipped": skipped,
        **({"bd_warnings": warnings} if warnings else {}),
        **({"bd_quality_warnings": quality_warnings} if quality_warnings else {}),
        "elapsed_s": round(elapsed, 3),
    }


def _bd_tables(curves: dict[str, rd.RDCurve], anchor: str) -> dict[str, dict[str, Any]]:
    """``{metric: {codec: {bd_rate_percent, bd_quality, reason}}}`` against ``anchor``."""
    tables: dict[str, dict[str, Any]] = {}
    for metric in rd.METRICS:
        table: dict[str, Any] = {}
        for name, curve in curves.items():
            if name == anchor:
                continue
            if anchor not in curves:
                table[name] = {"metric": metric, "bd_rate_percent": None, "bd_quality": None,
                               "reason": f"anchor {anchor} has no RD curve"}
            else:
                table[name] = rd.bd_curves(curves[anchor], curve, metric)
        tables[metric] = table
    return tables


def format_bd_table(curves: dict[str, rd.RDCurve], bd: dict[str, dict[str, Any]],
                    anchor: str, metric: str, skipped: dict[str, str]) -> str:
    """A plain-text table of BD values against the anchor, one codec per line."""
    unit = "dB"
    quality_name = "BD-PSNR" if metric != "ms_ssim_db" else "BD-MS-SSIM"
    lines = [f"BD vs {anchor} on {rd.METRIC_LABELS[metric]}:",
             f"  {'codec':<12} {'points':>6} {'bpp range':>15} {'BD-rate':>9} "
             f"{quality_name + ' [' + unit + ']':>16}"]
    for name, curve in curves.items():
        rates = curve.rates()
        span = f"{rates.min():.3f}-{rates.max():.3f}" if len(rates) else "-"
        if name == anchor:
            lines.append(f"  {name:<12} {len(curve.points):>6} {span:>15} {'(anchor)':>9}")
            continue
        entry = bd.get(metric, {}).get(name, {})
        rate = entry.get("bd_rate_percent")
        quality = entry.get("bd_quality")
        rate_text = f"{rate:+.1f}%" if rate is not None and math.isfinite(rate) else "n/a"
        quality_text = f"{quality:+.2f}" if quality is not None else "n/a"
        notes = [entry.get("reason"), entry.get("warning"), entry.get("quality_warning")]
        note = f"  ({'; '.join(n for n in notes if n)})" if any(notes) else ""
        lines.append(f"  {name:<12} {len(curve.points):>6} {span:>15} {rate_text:>9} "
                     f"{quality_text:>16}{note}")
    for name, reason in skipped.items():
        lines.append(f"  {name:<12} skipped: {reason}")
    return "\n".join(lines)


def plot_curves(curves: list[rd.RDCurve], path: str, anchor: str | None = None,
                title: str = "") -> None:
    """PSNR-RGB and MS-SSIM (dB) against bpp, one line per codec, to ``path`` in the format
    its suffix names (matplotlib)."""
    try:
        import matplotlib
    except ImportError as error:
        raise MSPViewerError("--plot needs matplotlib (pip install matplotlib)") from error
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for axis, metric in zip(axes, ("psnr_rgb", "ms_ssim_db"), strict=True):
        for curve in curves:
            points = [p for p in curve.sorted_points() if p.metric(metric) is not None
                      and math.isfinite(p.metric(metric))]
            if not points:
                continue
            bold = curve.name == anchor or curve.name == LEARNED
            axis.plot([p.bpp for p in points], [p.metric(metric) for p in points],
                      marker="o", markersize=3.5, linewidth=2.4 if bold else 1.2,
                      label=curve.label + (" (anchor)" if curve.name == anchor else ""))
        axis.set_xlabel("bits per pixel (whole file)")
        axis.set_ylabel(rd.METRIC_LABELS[metric])
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    figure.suptitle(f"Rate-distortion: {title}" if title else "Rate-distortion")
    figure.tight_layout()
    try:
        save_figure(figure, path, dpi=110)
    except OSError as error:
        raise MSPViewerError(f"cannot write plot {path}: {error}") from error
    finally:
        plt.close(figure)
