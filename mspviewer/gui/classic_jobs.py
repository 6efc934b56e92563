"""The classic codecs' work off the GUI thread, Qt-free like :mod:`mspviewer.gui.jobs`: the
codec list, the classic pane at the learned codec's bpp and the RD panel's sweeps, as calls
to ``mspviewer.baselines`` (codecs, quality search) and ``mspviewer.rd`` (sweeps).

The viewer hands each task a :class:`~mspviewer.baselines.isolated.CodecProcess`: the
encodes and decodes then run in a helper process, which keeps Pillow's encoders from
holding the GUI's interpreter lock and lets a cancel stop an encode under way. Without one
(scripts, tests of the tasks themselves) they run in the calling thread.
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


def _in_process(codec, process, cancel: CancelToken):
    """``codec`` as it runs in ``process`` (stopped there by ``cancel``), or itself."""
    if process is None:
        return codec
    from mspviewer.baselines.isolated import IsolatedCodec

    return IsolatedCodec(codec, process, cancel)


_shared_processes: dict[str, Any] = {}


def codec_process(purpose: str):
    """The helper process for one kind of classic task ("same-bpp", "sweep"), shared by every
    window of this program: started on its first encode, killed by a cancel (and started
    again by the next encode), ended with the program."""
    if purpose not in _shared_processes:
        import atexit

        from mspviewer.baselines.isolated import CodecProcess

        _shared_processes[purpose] = process = CodecProcess()
        # not left to finish an encode nobody will read; without the lock, which a worker
        # thread waiting for an answer holds
        atexit.register(process.kill_now)
    return _shared_processes[purpose]


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
                  cancel: CancelToken, process=None
                  ) -> Generator[Any, None, ClassicOutcome | None]:
    """A classic codec at the setting the quality search finds for ``target_bpp``: the
    tried setting of largest rate not above it (see ``mspviewer.baselines.search``)."""
    from mspviewer.baselines.isolated import CodecCancelled
    from mspviewer.baselines.base import timed_call
    from mspviewer.baselines.search import find_quality_for_bpp

    codec = _in_process(_get_codec(codec_name), process, cancel)
    yield StageProgress("search", f"{codec.label}: searching the setting for "
                        f"{target_bpp:.4f} bpp")
    try:
        found = find_quality_for_bpp(codec, pixels, target_bpp, cancel=cancel)
        if found is None or cancel:  # stopped before its next encode
            return None
        decoded, decode_s = timed_call(codec, "decode", found.data)
    except CodecCancelled:  # stopped during one
        return None
    point = measure_decoded(pixels, decoded, found.num_bytes, quality=found.quality,
                            encode_s=found.encode_s, decode_s=decode_s)
    return ClassicOutcome(codec.name, codec.label, found.quality, found.data, decoded, point,
                          float(target_bpp), bool(found.below_target),
                          difference=difference_map(pixels, decoded))


def rd_sweep_task(codec_names: Iterable[str], pixels: np.ndarray,
                  cancel: CancelToken, process=None) -> Generator[Any, None, dict]:
    """Sweep classic codecs over their default settings: one progress record per point.

    A codec that is unavailable or fails at a setting is reported (``CodecProblem``) and
    skipped; the sweep goes on with the next one. Returns {name: RDCurve}.
    """
    from mspviewer.baselines.isolated import CodecCancelled
    from mspviewer.rd import RDCurve, measure_point

    curves: dict = {}
    for name in codec_names:
        if cancel:
            break
        try:
            codec = _in_process(_get_codec(name), process, cancel)
        except MSPViewerError as error:
            yield CodecProblem(name, str(error))
            continue
        curve = RDCurve(name=codec.name, label=codec.label, family=codec.family)
        curves[name] = curve
        for quality in codec.default_qualities:
            if cancel:
                break
            try:
                if process is not None:  # the point's encode time is the encode's alone
                    codec.prepare(pixels)
                point = measure_point(codec, pixels, quality, with_ms_ssim=True)
            except CodecCancelled:
                break
            except MSPViewerError as error:
                yield CodecProblem(name, f"{codec.label} at {codec.quality_name} {quality}: "
                                         f"{error}")
                continue
            curve.points.append(point)
            yield CurvePoint(codec.name, codec.label, point)
        if not cancel:
            yield SweepDone(name)
    return curves
