"""The classic codecs' work off the GUI thread, Qt-free like :mod:`mspviewer.gui.jobs`: the
codec list, the classic pane at the learned codec's bpp and the RD panel's sweeps, as calls
to ``mspviewer.baselines`` (codecs, quality search) and ``mspviewer.rd`` (sweeps).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import numpy as np

from mspviewer.errors import MSPViewerError
from mspviewer.gui.jobs import CancelToken, StageProgress, difference_map, measure_decoded
from mspviewer.gui.outcomes import ClassicOutcome, CodecProblem, CurvePoint, SweepDone

#: Classic codecs swept for the RD panel unless the user picks others (fast ones only:
#: VVC and HEIC take seconds per point).
DEFAULT_RD_CODECS: tuple[str, ...] = ("jpeg-420", "webp", "jpeg2000", "avif")
#: Classic codec of the third compare pane, at the learned codec's bpp.
DEFAULT_SAME_BPP_CODEC = "jpeg-420"


def _get_codec(name: str):
    from mspviewer.baselines.registry import get_codec

    codec = get_codec(name)
    reason = codec.unavailable_reason()
    if reason is not None:
        raise MSPViewerError(f"{codec.label} is unavailable here: {reason}")
    return codec


def classic_codec_names() -> list[tuple[str, str, bool]]:
    """(name, label, available) of every registered classic codec; [] without baselines."""
    try:
        from mspviewer.baselines.registry import codec_names, get_codec
    except ImportError:
        return []
    out = []
    for name in codec_names():
        codec = get_codec(name)
        out.append((name, codec.label, codec.is_available()))
    return out


def same_bpp_task(codec_name: str, pixels: np.ndarray, target_bpp: float,
                  cancel: CancelToken) -> Generator[Any, None, ClassicOutcome | None]:
    """A classic codec at the setting the quality search finds for ``target_bpp``: the
    tried setting of largest rate not above it (see ``mspviewer.baselines.search``)."""
    from mspviewer.baselines.search import find_quality_for_bpp

    codec = _get_codec(codec_name)
    yield StageProgress("search", f"{codec.label}: searching the setting for "
                        f"{target_bpp:.4f} bpp")
    found = find_quality_for_bpp(codec, pixels, target_bpp, cancel=cancel)
    if found is None or cancel:  # stopped before its next encode
        return None
    decoded = codec.decode(found.data)
    point = measure_decoded(pixels, decoded, found.num_bytes, quality=found.quality)
    return ClassicOutcome(codec.name, codec.label, found.quality, found.data, decoded, point,
                          float(target_bpp), bool(found.below_target),
                          difference=difference_map(pixels, decoded))


def rd_sweep_task(codec_names: Iterable[str], pixels: np.ndarray,
                  cancel: CancelToken) -> Generator[Any, None, dict]:
    """Sweep classic codecs over their default settings: one progress record per point.

    A codec that is unavailable or fails at a setting is reported (``CodecProblem``) and
    skipped; the sweep goes on with the next one. Returns {name: RDCurve}.
    """
    from mspviewer.rd import RDCurve, measure_point

    curves: dict = {}
    for name in codec_names:
        if cancel:
            break
        try:
            codec = _get_codec(name)
        except MSPViewerError as error:
            yield CodecProblem(name, str(error))
            continue
        curve = RDCurve(name=codec.name, label=codec.label, family=codec.family)
        curves[name] = curve
        for quality in codec.default_qualities:
            if cancel:
                break
            try:
                point = measure_point(codec, pixels, quality, with_ms_ssim=True)
            except MSPViewerError as error:
                yield CodecProblem(name, f"{codec.label} at {codec.quality_name} {quality}: "
                                         f"{error}")
                continue
            curve.points.append(point)
            yield CurvePoint(codec.name, codec.label, point)
        if not cancel:
            yield SweepDone(name)
    return curves
