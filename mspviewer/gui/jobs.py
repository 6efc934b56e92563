"""The work the viewer runs off the GUI thread, as Qt-free generators over the core.

Every task is a generator function taking a cancel token: it yields progress records
(whatever the core yields, e.g. LOF's per-iteration records, or a :class:`StageProgress`)
and *returns* its result (``StopIteration.value``). :mod:`mspviewer.gui.worker` runs them in a
thread; the tests and scripts can run them directly with
:func:`mspviewer.codec.api.run_steps`.

No codec logic lives here: these functions only sequence calls to ``mspviewer.codec``
(encode with a profile / LOF, rate control, decode) and ``mspviewer.rd`` (metrics). What
they are asked for and hand back (:class:`EncodeRequest`, :class:`EncodeOutcome`, ...) is in
:mod:`mspviewer.gui.outcomes`. The classic codecs' tasks are in
:mod:`mspviewer.gui.classic_jobs`, the file exports in :mod:`mspviewer.gui.export_jobs` and
the decode replay's in :mod:`mspviewer.gui.replay_jobs`; all of them use the cancel token
and progress record defined here.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mspviewer.errors import MSPViewerError
from mspviewer.gui.outcomes import CurvePoint, EncodeOutcome, EncodeRequest, ReferenceCoding

class CancelToken(threading.Event):
    """A cancellation flag shared with a running task.

    It is a :class:`threading.Event` (``is_set()``) and also callable (``token()`` is
    ``True`` once cancelled), so it can be handed to core generators whichever form they
    poll. ``reason`` says why: ``"user"`` (keep the best result so far), ``"superseded"``
    (a newer request replaced this one: its result is dropped) or ``"shutdown"``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None
        #: where a task may send progress records from inside a callback of the core (the
        #: worker sets it; ``None``: dropped)
        self.reporter: Callable[[Any], None] | None = None

    def report(self, record: Any) -> None:
        if self.reporter is not None:
            self.reporter(record)

    # A later, stronger reason overrides a weaker one: a task the user cancelled (keep its
    # best result) that is then superseded or shut down must drop its result instead.
    _STRENGTH = {"user": 0, "superseded": 1, "shutdown": 2}

    def cancel(self, reason: str = "user") -> None:
        if self.reason is None or self._STRENGTH[reason] > self._STRENGTH[self.reason]:
            self.reason = reason
        self.set()

    def __call__(self) -> bool:
        return self.is_set()

    def __bool__(self) -> bool:  # an Event is always truthy otherwise; keep `if cancel:` honest
        return self.is_set()


@dataclass(frozen=True)
class StageProgress:
    """Progress of a task step that is not a LOF iteration (bisection, decoding, ...)."""

    stage: str
    message: str
    fraction: float | None = None


def preload() -> None:
    """Import what the tasks use, on the GUI thread at start-up: a first import inside a
    worker holds the interpreter lock for long enough to stall the event loop."""
    import numpy.ma  # noqa: F401  (imported lazily by numpy while drawing a first result)
    import pytorch_msssim  # noqa: F401

    import mspviewer.codec.api  # noqa: F401
    import mspviewer.metrics  # noqa: F401
    import mspviewer.rd  # noqa: F401
    try:
        import mspviewer.baselines.registry  # noqa: F401
        import mspviewer.baselines.search  # noqa: F401
    except ImportError:
        pass


# --- profiles -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileInfo:
    name: str
    description: str
    iterations: int | None = None  #: most LOF progress records the profile yields (0: no LOF)


def available_profiles() -> list[ProfileInfo]:
    """The encoding profiles of the core (``mspviewer.codec.profiles``), in file order."""
    from mspviewer.codec.profiles import load_profiles

    return [ProfileInfo(p.name, p.description, p.max_iterations)
            for p in load_profiles().values()]


def profile_info(name: str) -> ProfileInfo:
    from mspviewer.codec.profiles import get_profile

    profile = get_profile(name)  # raises UnknownProfileError listing the valid names
    return ProfileInfo(profile.name, profile.description, profile.max_iterations)


# --- measurements -------------------------------------------------------------------------------
def difference_map(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Mean absolute difference over the RGB channels, float32 (H, W), 0..255."""
    diff = np.abs(original.astype(np.int16) - decoded.astype(np.int16))
    return diff.mean(axis=2, dtype=np.float32)


def measure_decoded(original: np.ndarray, decoded: np.ndarray, num_bytes: int, **extra):
    """The RD point of a decoded image (bpp from ``num_bytes``, PSNR, MS-SSIM); ``extra``
    fields (``quality``, ...) are stored with it."""
    from mspviewer.rd import evaluate_reconstruction

    return evaluate_reconstruction(original, decoded, num_bytes, with_ms_ssim=True, **extra)


# --- the shared model ---------------------------------------------------------------------------
_model_users: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
# Reentrant: a lease given back by a generator collected while this thread holds the lock
# (model.to allocates) must not deadlock.
_model_users_lock = threading.RLock()


def same_device(a, b) -> bool:
    """Whether two device names or torch devices are one device: "cuda" is the current GPU,
    so it is "cuda:0" on a one-GPU machine (torch compares them unequal)."""
    import torch

    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and \
            torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == \
            (b.index if b.index is not None else current)
    return a.index == b.index


@dataclass
class ModelLease:
    device: Any  #: where the task runs the model
    note: str | None = None  #: set when the model could not go where the task asked


@contextlib.contextmanager
def model_lease(model, requested=None) -> Iterator[ModelLease]:
    """Use the window's one model from a worker thread, on ``requested`` when possible.

    Encodes, the λ ladder, stream decodes and replays run on different threads. The model
    moves to another device only when no other task is using it: moving it under a running
    task fails that task ("expected all tensors on the same device"). Otherwise the task runs
    where the model is, and the lease's note says so. ``requested`` None: wherever it is."""
    with _model_users_lock:
        users = _model_users.get(model, 0)
        note = None
        if requested is not None and not same_device(model.device, requested):
            if users:
                note = (f"ran on {model.device}, not {requested}: another task was using the "
                        f"model there")
            else:
                model.to(requested)  # under the lock: no task starts on a model in transit
                if str(model.device).startswith("cuda"):  # as load_model does: g_a too
                    from mspviewer.codec.model import use_exact_cuda_arithmetic

                    use_exact_cuda_arithmetic()
        _model_users[model] = users + 1
        lease = ModelLease(model.device, note)
    try:
        yield lease
    finally:
        with _model_users_lock:
            _model_users[model] -= 1


# --- learned codec ------------------------------------------------------------------------------
def encode_task(model, pixels: np.ndarray, request: EncodeRequest,
                cancel: CancelToken) -> Generator[Any, None, EncodeOutcome | None]:
    """Encode ``pixels`` as ``request`` says; decode the stream back and measure it.

    With a λ, the core's ``encode_image_steps`` generator runs and its LOF records are
    yielded as they come. With a target bpp, the core's ``encode_to_bpp`` searches λ; its
    LOF records arrive through ``cancel.report``. Cancelling stops LOF at its next
    iteration and the best latent so far is still coded and returned.
    """
    from mspviewer.codec import api

    target = api.resolve_device(request.device)
    if not same_device(model.device, target):
        yield StageProgress("device", f"moving the model to {target}")
    with model_lease(model, target) as lease:
        return (yield from _encode_on(model, np.ascontiguousarray(pixels), request, cancel,
                                      lease))


def _encode_on(model, pixels: np.ndarray, request: EncodeRequest, cancel: CancelToken,
               lease: ModelLease) -> Generator[Any, None, EncodeOutcome | None]:
    from mspviewer.codec import api

    device = lease.device
    notes: list[str] = [lease.note] if lease.note else []
    profile = request.resolved_profile()
    if request.target_bpp is not None:
        yield StageProgress("rate", f"searching λ for {request.target_bpp:g} bpp "
                            f"(profile {request.profile})")
        encoded = api.encode_to_bpp(model, pixels, request.target_bpp, profile,
                                    cancel=cancel, progress=cancel.report)
        reached = encoded.analysis.bpp
        if abs(reached / request.target_bpp - 1) <= api.DEFAULT_BPP_TOLERANCE:
            notes.append(f"λ = {encoded.analysis.lam:.5g} found for {request.target_bpp:g} bpp "
                         f"in {len(encoded.rate_search)} encodes")
        elif encoded.search_cancelled:  # not the model's limit: where the search stopped
            notes.append(f"λ search cancelled after {len(encoded.rate_search)} encodes: "
                         f"{reached:.4f} bpp (λ = {encoded.analysis.lam:.5g}) is the closest "
                         f"to {request.target_bpp:g} bpp so far")
        else:  # outside the model's range: say so
            notes.append(f"{reached:.4f} bpp (λ = {encoded.analysis.lam:.5g}) is the closest "
                         f"this model got to {request.target_bpp:g} bpp, in "
                         f"{len(encoded.rate_search)} encodes")
        if encoded.search_cancelled and encoded.lof is None and profile.uses_lof:
            notes.append(f"cancelled during the λ search: an encode without LOF, not "
                         f"{profile.name}")
    else:
        if request.lam is None:
            raise MSPViewerError("no λ and no target bpp given")
        yield StageProgress("encode", f"encoding at λ = {request.lam:.5g}, profile "
                            f"{request.profile}")
        encoded = yield from api.encode_image_steps(model, pixels, request.lam,
                                                    profile, cancel=cancel)
    extrapolated = model.extrapolation_note(encoded.analysis.lam)
    if extrapolated:
        notes.append(extrapolated)
    lof = encoded.lof
    history = list(lof.history) if lof is not None else []
    cancelled = bool(lof.cancelled) if lof is not None else False
    cancelled = cancelled or encoded.search_cancelled
    if lof is not None:
        stopped = (" (cancelled: best so far)" if cancelled else
                   " (stopped: a step made the latent non-finite; best so far kept)"
                   if lof.stop_reason == "diverged" else
                   f" (time limit {profile.time_budget_s:g} s: best so far kept)"
                   if lof.stop_reason == "time_budget" else "")
        notes.append(f"LOF: {lof.iterations} iterations, J {lof.J_initial:.4f} → "
                     f"{lof.J_best:.4f}" + stopped)
    decoded = encoded.reconstruction
    decode_seconds = None
    matches = None
    if cancel.reason in ("superseded", "shutdown"):  # nobody will see this result
        return None
    if request.verify_decode:
        yield StageProgress("decode", "decoding the bitstream to check it")
        result = api.decode_bytes(model, encoded.bitstream)
        decode_seconds = result.decode_seconds
        matches = bool(np.array_equal(result.pixels, encoded.reconstruction))
        decoded = result.pixels
        if not matches:
            notes.append("the decoded stream differs from the encoder's reconstruction")
    yield StageProgress("metrics", "measuring PSNR and MS-SSIM")
    lam = float(encoded.analysis.lam)
    point = measure_decoded(pixels, decoded, len(encoded.bitstream), quality=lam,
                     encode_s=encoded.encode_seconds, decode_s=decode_seconds)
    plain = None
    if lof is not None:
        if cancel.reason in ("superseded", "shutdown"):
            return None
        yield StageProgress("reference", "encoding without LOF, to show what LOF changed")
        plain = _plain_reference(model, pixels, encoded.analysis)
    return EncodeOutcome(
        source="encode", bitstream=encoded.bitstream, analysis=encoded.analysis,
        decoded=decoded, original=pixels, lam=lam, lam_extrapolated=extrapolated is not None,
        profile=getattr(encoded, "profile", request.profile), device=str(device),
        model_name=getattr(model, "name", ""), encode_seconds=encoded.encode_seconds,
        decode_seconds=decode_seconds, decode_matches=matches, point=point,
        difference=difference_map(pixels, decoded), cancelled=cancelled,
        lof_history=history, target_bpp=request.target_bpp, notes=notes, reference=plain,
        time_budget_s=profile.time_budget_s if lof is not None else None)  # LOF ran


def _plain_reference(model, pixels: np.ndarray, lof_analysis) -> ReferenceCoding:
    """The plain encoder at the λ an LOF encode used (one g_a and one coding pass)."""
    from mspviewer.codec import api
    from mspviewer.codec.latent_change import compare_codings

    plain = api.encode_image(model, pixels, lof_analysis.lam, api.PLAIN_PROFILE)
    point = measure_decoded(pixels, plain.reconstruction, len(plain.bitstream),
                     quality=float(lof_analysis.lam), encode_s=plain.encode_seconds)
    return ReferenceCoding(plain.bitstream, plain.analysis, plain.reconstruction, point,
                          compare_codings(lof_analysis, plain.analysis),
                          difference_map(pixels, plain.reconstruction))


def reference_task(model, data: bytes, path, result, device: str, cancel: CancelToken
                   ) -> Generator[Any, None, ReferenceCoding]:
    """A .msp set as the reference of ``result``: refused before decoding unless it codes an
    image of the same size with the same model at the same λ; then decoded and set against
    the result element by element (and against the original, where it is known)."""
    from mspviewer.codec import api, bitstream
    from mspviewer.codec.latent_change import (check_comparable, compare_codings,
                                               identity_differences, record_identity,
                                               stream_identity)
    from mspviewer.rd import RDPoint

    name = Path(path).name
    header, _ = bitstream.parse(data)
    analysis = result.analysis
    problems = [f"{what} ({theirs} in {name}, {ours} in the result)"
                for what, theirs, ours in identity_differences(stream_identity(header),
                                                               record_identity(analysis))]
    if problems:
        raise MSPViewerError(f"{name} cannot be set against this result element by element: "
                             "they differ in " + ", ".join(problems))
    with model_lease(model, api.resolve_device(device)):
        yield StageProgress("decode", f"decoding {name}")
        decoded = api.decode_bytes(model, data)
    try:
        check_comparable(analysis, decoded.analysis)
    except ValueError as error:
        raise MSPViewerError(f"{name}: {error}") from None
    change = compare_codings(analysis, decoded.analysis)
    lam = float(decoded.analysis.lam)
    if result.original is not None:
        point = measure_decoded(result.original, decoded.pixels, len(data), quality=lam,
                         decode_s=decoded.decode_seconds)
        difference = difference_map(result.original, decoded.pixels)
    else:  # a stream opened without its source: sizes and latents still compare
        point, difference = RDPoint(bpp=decoded.analysis.bpp, num_bytes=len(data),
                                    quality=lam), None
    return ReferenceCoding(bytes(data), decoded.analysis, decoded.pixels, point, change,
                           difference, path=str(path))


# Below this PSNR the open image is almost surely not what the stream was encoded from: the
# model's lowest rate on Kodak still gives about 25 dB.
UNRELATED_ORIGINAL_PSNR_DB = 15.0


def load_image_task(path, max_pixels: int, cancel: CancelToken
                    ) -> Generator[Any, None, Any]:
    """Read an image file off the GUI thread (a large PNG takes about a second to decode).
    Returns :class:`~mspviewer.imageio.LoadedImage`; an unreadable file raises
    ``ImageLoadError`` with the same message the synchronous path shows."""
    from mspviewer.errors import ImageLoadError
    from mspviewer.imageio import load_image

    yield StageProgress("load", f"reading {path.name}")
    try:
        return load_image(path, max_pixels=max_pixels)
    except OSError as error:  # e.g. the file vanished or cannot be read at all
        raise ImageLoadError(f"Cannot read {path}: {error.strerror or error}") from error


def load_model_task(path, cancel: CancelToken) -> Generator[Any, None, Any]:
    """Read model weights off the GUI thread (the shipped ones take over a second to check
    and build). A file that is not a model raises ``ModelFileError`` saying why."""
    from mspviewer.codec import load_model

    yield StageProgress("load", f"reading the model {path.name}")
    return load_model(path)


def decode_task(model, data: bytes, original: np.ndarray | None, device: str,
                cancel: CancelToken, path: str | None = None, max_pixels: int | None = None,
                original_name: str = "the open image", known_source: bool = False,
                judge_by_psnr: bool = True) -> Generator[Any, None, EncodeOutcome]:
    """Decode a ``.msp`` stream; measure it against ``original`` when the sizes agree.

    A stream does not record its source image, so unless ``known_source`` (this session
    encoded these very bytes from ``original``) the measurement is labelled as being
    against whatever image is open; with ``judge_by_psnr`` (a trained model), one under
    :data:`UNRELATED_ORIGINAL_PSNR_DB` is taken for another image's stream and shown
    without an original (``warning`` says why).
    """
    from mspviewer.codec import api

    with model_lease(model, api.resolve_device(device)) as lease:
        target = lease.device
        yield StageProgress("decode", f"decoding {len(data):,} bytes")
        result = api.decode_bytes(model, data, max_pixels)
    notes: list[str] = [lease.note] if lease.note else []
    extrapolated = model.extrapolation_note(result.analysis.lam)
    if extrapolated:
        notes.append(extrapolated)
    point = difference = warning = None
    if original is not None and original.shape != result.pixels.shape:
        notes.append(f"the open image is {original.shape[1]}×{original.shape[0]}, the stream "
                     f"{result.pixels.shape[1]}×{result.pixels.shape[0]}: no original to "
                     f"compare with")
        original = None
    if original is not None:
        yield StageProgress("metrics", "measuring against the open image")
        point = measure_decoded(original, result.pixels, len(data), quality=result.analysis.lam,
                         decode_s=result.decode_seconds)
        difference = difference_map(original, result.pixels)
        if not known_source and judge_by_psnr and point.psnr_rgb < UNRELATED_ORIGINAL_PSNR_DB:
            # Another image of the same size: measuring against it (and coding it with a
            # classic codec for the third pane, or putting its point on the RD plot) would
            # show numbers about two different pictures as if they were one.
            name = original_name[:1].upper() + original_name[1:]  # (it begins a message)
            warning = (f"{name} has this stream's size, but the stream decodes to "
                       f"PSNR {point.psnr_rgb:.1f} dB against it: it is probably not this "
                       f"stream's original, so the stream is shown without one (open its "
                       f"original first to measure it)")
            original = point = difference = None
        elif not known_source:
            notes.append(f"PSNR and differences are measured against {original_name}, which "
                         f"has this stream's size; the stream does not record its source, so "
                         f"they hold only if it was encoded from that image")
    return EncodeOutcome(
        source="file", bitstream=bytes(data), analysis=result.analysis, decoded=result.pixels,
        original=original, lam=float(result.analysis.lam), profile=None, device=str(target),
        lam_extrapolated=extrapolated is not None,
        model_name=getattr(model, "name", ""), decode_seconds=result.decode_seconds,
        point=point, difference=difference, path=path, notes=notes, warning=warning)


def fresh_process_check_task(model, bitstream_data: bytes, expected: np.ndarray,
                             cancel: CancelToken) -> Generator[Any, None, Any]:
    """Re-decode ``bitstream_data`` with ``python -m mspviewer decode`` in a new process and
    compare with ``expected`` (the pixels this viewer decoded): returns a ``VerifyReport``.

    The child loads the model from its weights file, so the check covers what a user of
    the saved ``.msp`` and the shipped weights would get, with nothing shared in memory.
    """
    import tempfile
    from pathlib import Path

    from mspviewer.codec.inspection import verify_in_fresh_process

    model_path = getattr(model, "source_path", None)
    if model_path is None or not Path(model_path).is_file():
        raise MSPViewerError("the bit-exact check needs a model loaded from a weights file "
                             "(File ▸ Load model); this one exists only in memory")
    yield StageProgress("check", "decoding the saved bitstream in a fresh process")
    with tempfile.TemporaryDirectory(prefix="mspviewer-check-") as folder:
        stream = Path(folder) / "checked.msp"
        stream.write_bytes(bitstream_data)
        return verify_in_fresh_process(stream, model_path, expected, cancel=cancel)


def lambda_ladder_task(model, pixels: np.ndarray, lambdas: Iterable[float], device: str,
                       cancel: CancelToken, profile=None, curve: str = "fast",
                       together: bool | None = None) -> Generator[Any, None, list]:
    """The learned codec at several λ with ``profile`` (default: the plain encoder): RD
    points as progress records, as the curve ``curve``. An encode cancelled midway (its
    LOF cut short) yields no point.

    ``together``: run the LOF of every λ as one batch (:func:`_ladder_together`); ``None``:
    on a GPU, where an LOF iteration is mostly the launch of thousands of small kernels
    (docs/profiles.md), which a batch pays once for all its encodes; not on a CPU, where a
    batch saves little and the points would all come at the end instead of one by one.
    Profiles without LOF, and LOF under a time budget (each λ gets the budget, as the curve's
    label says), always run one λ at a time; so does a batch that does not fit in GPU
    memory."""
    from mspviewer.codec.api import resolve_device
    from mspviewer.codec.profiles import get_profile

    profile = get_profile(profile or "fast")
    lambdas = list(lambdas)
    with model_lease(model, resolve_device(device)) as lease:
        if lease.note:
            yield StageProgress("device", lease.note)
        if together is None:
            together = lease.device.type == "cuda"
        if (together and profile.uses_lof and profile.time_budget_s is None
                and len(lambdas) > 1):
            points = yield from _ladder_together(model, pixels, lambdas, cancel, profile,
                                                 curve)
            if points is not None:
                return points
        return (yield from _ladder_one_at_a_time(model, pixels, lambdas, cancel, profile,
                                                 curve))


def _ladder_one_at_a_time(model, pixels, lambdas, cancel, profile, curve):
    """One encode per λ, each point yielded as soon as it is measured."""
    from mspviewer.codec.api import encode_image

    points = []
    for i, lam in enumerate(lambdas):
        if cancel:
            break
        yield StageProgress("ladder", f"λ = {lam:.5g} ({i + 1} of {len(lambdas)}), "
                            f"profile {profile.name}", i / len(lambdas))
        encoded = encode_image(model, pixels, lam, profile, cancel=cancel)
        if cancel:
            break
        record = _ladder_point(pixels, lam, encoded, curve)
        points.append(record.point)
        yield record
    return points


def _ladder_together(model, pixels: np.ndarray, lambdas: list[float], cancel: CancelToken,
                     profile, curve: str) -> Generator[Any, None, list | None]:
    """The ladder's LOF encodes as one batch (:func:`mspviewer.codec.api.encode_batch_steps`):
    each λ runs the iterations it would run alone, and every iteration is one batched pass
    for all of them. The points come together at the end; cancelling stops them all, with
    no point. None when the batch does not fit in GPU memory (then it has said so)."""
    from mspviewer.codec.api import encode_batch_steps

    label = f"{len(lambdas)} λ together, profile {profile.name}"
    yield StageProgress("ladder", label, 0.0)
    encoded, shortfall = None, None
    try:
        steps = encode_batch_steps(model, [pixels] * len(lambdas), lambdas, profile,
                                   cancel=cancel)
        with contextlib.closing(steps):  # LOF gives the model back its flags at once
            while not cancel:  # checked before each round: never coding what is dropped
                try:
                    records = next(steps)
                except StopIteration as stop:
                    encoded = stop.value
                    break
                if records:
                    record = max((r for _, r in records), key=lambda r: r.iteration)
                    fraction = (min(record.iteration / record.total, 1.0) if record.total
                                else None)
                    yield StageProgress("ladder", f"{label}: {record.phase} iteration "
                                        f"{record.iteration}", fraction)
    except Exception as error:  # noqa: BLE001 (only a GPU memory shortfall is handled)
        if not _is_gpu_memory_error(error):
            raise
        shortfall = str(error).splitlines()[0] if str(error) else type(error).__name__
    if shortfall is not None:
        # out of the except clause: its traceback no longer holds the failed run's tensors
        _free_gpu_cache()
        yield StageProgress("ladder", f"the {len(lambdas)} λ together do not fit in GPU "
                            f"memory ({shortfall}); running them one at a time")
        return None
    if encoded is None:  # cancelled
        return []
    points = []
    for lam, one in zip(lambdas, encoded):
        record = _ladder_point(pixels, lam, one, curve)
        points.append(record.point)
        yield record
    return points


def _ladder_point(pixels: np.ndarray, lam: float, encoded, curve: str) -> CurvePoint:
    """One λ's encode measured on its decoded pixels, as the record that draws it."""
    point = measure_decoded(pixels, encoded.reconstruction, len(encoded.bitstream), quality=lam,
                     encode_s=encoded.encode_seconds)
    return CurvePoint(f"msp-{curve}", f"MSP ({curve})", point)


def _is_gpu_memory_error(error: BaseException) -> bool:
    """CUDA's caching allocator raises ``OutOfMemoryError``; cuDNN and cuBLAS report a failed
    allocation of their own as a plain RuntimeError."""
    import torch

    text = str(error)
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and ("out of memory" in text or "ALLOC_FAILED" in text))


def _free_gpu_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
