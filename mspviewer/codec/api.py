"""Image-level entry points: uint8 arrays in, uint8 arrays out, with timings.

This is what the command line, the GUI, the comparisons and scripts call; the tensor-level
contract stays in :class:`mspviewer.codec.model.MSPCodec`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import numpy as np
import torch

from mspviewer.codec.analysis import AnalysisRecord
from mspviewer.codec.bitstream import MAX_CODED_PIXELS, check_codable
from mspviewer.codec.lof import LOFProgress, LOFResult, optimise_latent, optimise_latents
from mspviewer.codec.model import MSPCodec, as_float32
from mspviewer.codec.profiles import DEFAULT_PROFILE, Profile, get_profile
from mspviewer.errors import MSPViewerError
from mspviewer.imageio import DEFAULT_MAX_PIXELS

#: The largest image the tools encode: what the loader accepts and the bitstream can code.
MAX_ENCODABLE_PIXELS = min(DEFAULT_MAX_PIXELS, MAX_CODED_PIXELS)

Cancel = Callable[[], bool]
OnProgress = Callable[[LOFProgress], None]


@dataclass
class EncodedImage:
    bitstream: bytes
    analysis: AnalysisRecord
    # uint8 (H, W, 3): exactly what the decoder produces with the same CPU thread count (the
    # symbols never depend on it; the synthesis may differ by one level across thread counts)
    reconstruction: np.ndarray
    encode_seconds: float
    profile: str = DEFAULT_PROFILE
    lof: LOFResult | None = None  # the latent optimisation, for profiles that run it
    rate_search: list[dict] = field(default_factory=list)  # probes of encode_to_bpp
    # encode_to_bpp stopped by its cancel: the closest encoding so far, maybe plain (fast)
    # when the cancel came before the profile's first run
    search_cancelled: bool = False


@dataclass
class DecodedImage:
    pixels: np.ndarray
    analysis: AnalysisRecord
    decode_seconds: float


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MSPViewerError("CUDA was requested but no CUDA device is available here")
    if name != "cpu" and not name.startswith("cuda"):
        raise MSPViewerError(f"unknown device {name!r} (use cpu or cuda)")
    return torch.device(name)


def image_to_tensor(pixels: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {pixels.dtype} {pixels.shape}")
    tensor = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1).unsqueeze(0)
    return tensor.to(device=device, dtype=torch.float32) / 255.0


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] → uint8 (H, W, 3), rounding to nearest."""
    x = x.detach().clamp(0, 1).mul(255).round().to("cpu", torch.uint8)
    return x[0].permute(1, 2, 0).contiguous().numpy()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def encode_image_steps(model: MSPCodec, pixels: np.ndarray, lam: float,
                       profile: str | Profile = DEFAULT_PROFILE, cancel: Cancel | None = None
                       ) -> Generator[LOFProgress, None, EncodedImage]:
    """Encode with a profile, as a generator: yields a :class:`LOFProgress` after every LOF
    iteration (nothing for profiles without LOF) and returns the :class:`EncodedImage`
    (``StopIteration.value``). ``cancel()`` returning True stops LOF at the next iteration;
    the best latent found so far is still encoded and returned."""
    profile = get_profile(profile)
    check_codable(*pixels.shape[:2])
    device = model.device
    lam = as_float32(lam)
    start = time.perf_counter()
    x = image_to_tensor(pixels, device)
    lof = None
    if profile.uses_lof:
        lof = yield from optimise_latent(model, x, lam, profile, cancel=cancel)
        result = model.compress_latent(lof.y_best, lam, x.shape[-2:])
    else:
        result = model.compress(x, lam)
    _synchronize(device)
    return _encoded(model, result, pixels, time.perf_counter() - start, profile, lof)


def encode_batch_steps(model: MSPCodec, images: Sequence[np.ndarray], lams: Sequence[float],
                       profile: str | Profile = DEFAULT_PROFILE, cancel: Cancel | None = None
                       ) -> Generator[list[tuple[int, LOFProgress]], None,
                                      list[EncodedImage]]:
    """Encode several images of one size, each at its own λ, with one LOF run for all of
    them (:func:`mspviewer.codec.lof.optimise_latents`), for throughput on a GPU. Each image
    gets the bitstream it would get alone, up to the last bits of the batched arithmetic
    (see there for what that means on a GPU, and for a time budget, which the batch shares).
    Yields each round's LOF records as (image index, record); returns an
    :class:`EncodedImage` per image, whose ``encode_seconds`` is its share of the batch's
    time (the LOF run split evenly, plus its own coding)."""
    profile = get_profile(profile)
    if len(images) != len(lams) or not images:
        raise ValueError(f"{len(images)} images and {len(lams)} λ values")
    sizes = {image.shape for image in images}
    if len(sizes) != 1:
        raise ValueError(f"a batch encodes images of one size, got {sorted(sizes)}")
    check_codable(*images[0].shape[:2])
    device = model.device
    lams = [as_float32(lam) for lam in lams]
    start = time.perf_counter()
    x = torch.cat([image_to_tensor(pixels, device) for pixels in images])
    lofs: list[LOFResult | None] = [None] * len(images)
    if profile.uses_lof:
        lofs = yield from optimise_latents(model, x, lams, profile, cancel=cancel)
    _synchronize(device)
    shared_seconds = (time.perf_counter() - start) / len(images)
    encoded = []
    for row, (pixels, lam, lof) in enumerate(zip(images, lams, lofs)):
        start = time.perf_counter()
        result = (model.compress_latent(lof.y_best, lam, x.shape[-2:]) if lof is not None
                  else model.compress(x[row:row + 1], lam))
        _synchronize(device)
        seconds = shared_seconds + time.perf_counter() - start
        encoded.append(_encoded(model, result, pixels, seconds, profile, lof))
    return encoded


def _encoded(model: MSPCodec, result, pixels: np.ndarray, seconds: float, profile: Profile,
             lof: LOFResult | None) -> EncodedImage:
    """The :class:`EncodedImage` of a coded latent, with the decoder's reconstruction."""
    with torch.no_grad():
        point = model.rate_point(result.analysis.lam)
        x_hat = model.synthesise(result.y_hat, point, pixels.shape[:2]).clamp_(0, 1)
    return EncodedImage(result.bitstream, result.analysis, tensor_to_image(x_hat), seconds,
                        profile=profile.name, lof=lof)


def run_steps(steps: Generator, progress: OnProgress | None = None):
    """Drive a step generator to its end, calling ``progress`` on each record; returns its
    return value. If ``progress`` raises, the generator is closed at once (LOF gives the model
    back its ``requires_grad`` flags then, not whenever the generator is collected)."""
    with contextlib.closing(steps):
        while True:
            try:
                record = next(steps)
            except StopIteration as stop:
                return stop.value
            if progress is not None:
                progress(record)


def encode_image(model: MSPCodec, pixels: np.ndarray, lam: float,
                 profile: str | Profile = DEFAULT_PROFILE, cancel: Cancel | None = None,
                 progress: OnProgress | None = None) -> EncodedImage:
    return run_steps(encode_image_steps(model, pixels, lam, profile, cancel), progress)


DEFAULT_BPP_TOLERANCE = 0.03
MAX_FAST_PROBES = 14
MAX_PROFILE_PROBES = 6
#: g_a's latent coded as it is, whatever the profiles file says ``fast`` is: the rate
#: search's probes and the reference an LOF encode is compared with
PLAIN_PROFILE = Profile("plain", "g_a only, no latent optimisation", lof_iterations=0)


def encode_to_bpp(model: MSPCodec, pixels: np.ndarray, target_bpp: float,
                  profile: str | Profile = DEFAULT_PROFILE,
                  tolerance: float = DEFAULT_BPP_TOLERANCE, *, cancel: Cancel | None = None,
                  progress: OnProgress | None = None) -> EncodedImage:
    """Encode at the λ whose file (header included) is ``target_bpp`` within ±``tolerance``
    (relative), searching λ in the model's trained range first and, for a target beyond it,
    in the extrapolated margin past its nearer end (``config.usable_lambda_range``).

    λ is found by bisection in log λ (each probe interpolated in log λ / log bpp and kept
    inside the middle 80 % of the bracket) with the cheap ``fast`` encoder. A profile that
    runs LOF moves the rate at a given λ, so it is then run at that λ and corrected: until
    its own probes bracket the target, the fast search is repeated for
    target · bpp_fast(λ) / bpp_profile(λ) (LOF's rate ratio at the last λ); once they do,
    the next λ is interpolated between the bracketing probes (at most 6 profile runs).
    ``encode_seconds`` is the time of the whole search. Returns the closest encoding found
    (``rate_search`` lists every probe); a target outside the model's usable range gives the
    encoding at the nearest end of that range.
    """
    if not (target_bpp > 0 and math.isfinite(target_bpp)):
        raise MSPViewerError(f"target bpp must be a positive number, got {target_bpp}")
    if not 0 < tolerance < 1:
        raise MSPViewerError(f"bpp tolerance must be in (0, 1), got {tolerance}")
    profile = get_profile(profile)
    start = time.perf_counter()
    probes: list[dict] = []
    fast_cache: dict[float, EncodedImage] = {}

    def fast_bpp(lam: float) -> float:
        lam = as_float32(lam)
        if cancel is not None and cancel() and fast_cache:
            raise _SearchCancelled
        if lam not in fast_cache:
            encoded = encode_image(model, pixels, lam, PLAIN_PROFILE)
            fast_cache[lam] = encoded
            probes.append({"lambda": lam, "bpp": encoded.analysis.bpp, "profile": "fast"})
        return fast_cache[lam].analysis.bpp

    def fast_search(goal: float) -> float:
        return _search_lambda_in_ranges(fast_bpp, goal, model.config.lambda_range,
                                        model.config.usable_lambda_range, tolerance / 3,
                                        tolerance)

    cancelled = False
    try:
        lam = fast_search(target_bpp)
    except _SearchCancelled:  # keep the closest plain encode so far
        lam = min(fast_cache, key=lambda v: abs(fast_cache[v].analysis.bpp / target_bpp - 1))
        profile = get_profile(PLAIN_PROFILE)
        cancelled = True
    if not profile.uses_lof:
        encoded = fast_cache[as_float32(lam)]
        encoded.profile = profile.name
    else:
        candidates: list[EncodedImage] = []
        below: tuple[float, float] | None = None  # profile probes (λ, bpp) around the target
        above: tuple[float, float] | None = None
        tried: set[float] = set()  # the λ the profile ran at
        lam = _trained_end_first(as_float32(lam), tried, model.config)
        for _ in range(MAX_PROFILE_PROBES):
            tried.add(as_float32(lam))
            encoded = encode_image(model, pixels, lam, profile, cancel, progress)
            candidates.append(encoded)
            bpp = encoded.analysis.bpp
            probes.append({"lambda": encoded.analysis.lam, "bpp": bpp, "profile": profile.name})
            if encoded.lof and encoded.lof.cancelled:
                cancelled = True
                break
            if abs(bpp / target_bpp - 1) <= tolerance:
                break
            if bpp < target_bpp and (below is None or lam > below[0]):
                below = (lam, bpp)
            if bpp > target_bpp and (above is None or lam < above[0]):
                above = (lam, bpp)
            if below is not None and above is not None:  # bracketed: interpolate
                next_lam = _interpolate_lambda(below, above, target_bpp)
            else:  # correct the fast curve by LOF's rate ratio at this λ
                try:
                    goal = target_bpp * fast_bpp(lam) / bpp
                    next_lam = fast_search(goal)
                except _SearchCancelled:  # cancelled after the last LOF iteration
                    cancelled = True
                    break
                if (next_lam - lam) * (target_bpp - bpp) <= 0:  # wrong way: step to the end
                    next_lam = math.sqrt(lam * _next_end(lam, bpp < target_bpp, model.config))
            next_lam = _trained_end_first(as_float32(next_lam), tried, model.config)
            if next_lam == as_float32(lam):
                break  # at an end of the range, or no progress possible
            lam = next_lam
        encoded = min(candidates, key=lambda e: abs(e.analysis.bpp / target_bpp - 1))
    encoded.rate_search = probes
    encoded.search_cancelled = cancelled
    encoded.encode_seconds = time.perf_counter() - start
    return encoded


class _SearchCancelled(Exception):
    """Cancel pressed during the λ search of :func:`encode_to_bpp`."""


def _next_end(lam: float, upwards: bool, config) -> float:
    """The end of the range to step towards from ``lam``: the trained range's, or the usable
    range's once ``lam`` has reached the trained one."""
    (low, high), (outer_low, outer_high) = config.lambda_range, config.usable_lambda_range
    if upwards:
        return high if lam < as_float32(high) else outer_high
    return low if lam > as_float32(low) else outer_low


def _trained_end_first(lam: float, tried: set[float], config) -> float:
    """``lam``, or the trained range's end on its side while the profile has not run there: a
    λ past the trained range only once the trained end has been seen to fall short (LOF moves
    the rate, so the fast curve cannot tell)."""
    low, high = (as_float32(v) for v in config.lambda_range)
    if lam > high and high not in tried:
        return high
    if lam < low and low not in tried:
        return low
    return lam


def _search_lambda_in_ranges(bpp_of: Callable[[float], float], target: float,
                             trained: tuple[float, float], usable: tuple[float, float],
                             tolerance: float, accept: float) -> float:
    """:func:`_search_lambda` over the trained range (to ``tolerance``); for a target beyond
    one of its ends, by more than ``accept`` (the caller's tolerance), on over the extrapolated
    margin past that end, so that an untrained λ is used only where no trained one reaches
    the target."""
    low, high = (as_float32(v) for v in trained)
    lam = _search_lambda(bpp_of, target, low, high, tolerance, MAX_FAST_PROBES)
    outer_low, outer_high = (as_float32(v) for v in usable)
    if lam == high and bpp_of(high) < target * (1 - accept) and outer_high > high:
        lam = _search_lambda(bpp_of, target, high, outer_high, tolerance, MAX_FAST_PROBES)
    elif lam == low and bpp_of(low) > target * (1 + accept) and outer_low < low:
        lam = _search_lambda(bpp_of, target, outer_low, low, tolerance, MAX_FAST_PROBES)
    return lam


def _interpolate_lambda(below: tuple[float, float], above: tuple[float, float],
                       target: float) -> float:
    """λ between two probes (λ, bpp) that bracket ``target``: interpolated in log λ / log bpp,
    kept inside the middle 80 % of the bracket."""
    (lam_a, bpp_a), (lam_b, bpp_b) = below, above
    t = (math.log(target) - math.log(bpp_a)) / (math.log(bpp_b) - math.log(bpp_a))
    t = min(max(t, 0.1), 0.9)
    return math.exp(math.log(lam_a) + t * (math.log(lam_b) - math.log(lam_a)))


def _search_lambda(bpp_of: Callable[[float], float], target: float, low: float, high: float,
                   tolerance: float, max_probes: int) -> float:
    """λ in [low, high] with bpp_of(λ) within ``tolerance`` of ``target`` (bpp increasing in
    λ), or the closest probed λ."""
    f_low, f_high = bpp_of(low), bpp_of(high)
    if target <= f_low:
        return low
    if target >= f_high:
        return high
    best = min(((low, f_low), (high, f_high)), key=lambda p: abs(math.log(p[1] / target)))
    a, b = math.log(low), math.log(high)
    log_target = math.log(target)
    log_fa, log_fb = math.log(f_low), math.log(f_high)
    for _ in range(max_probes):
        t = (log_target - log_fa) / (log_fb - log_fa) if log_fb > log_fa else 0.5
        t = min(max(t, 0.1), 0.9)  # safeguard: the bracket shrinks by at least 10 %
        lam = as_float32(math.exp(a + t * (b - a)))
        f = bpp_of(lam)
        if abs(math.log(f / target)) < abs(math.log(best[1] / target)):
            best = (lam, f)
        if abs(f / target - 1) <= tolerance:
            return lam
        if f < target:
            a, log_fa = math.log(lam), math.log(f)
        else:
            b, log_fb = math.log(lam), math.log(f)
        if b - a < 1e-6:
            break
    return best[0]


def decode_bytes(model: MSPCodec, data: bytes, max_pixels: int | None = None) -> DecodedImage:
    """Decode a bitstream; a header claiming more than ``max_pixels`` (default: the format's
    limit) is refused before any decoding work."""
    start = time.perf_counter()
    result = model.decompress(data) if max_pixels is None else model.decompress(data, max_pixels)
    _synchronize(model.device)
    seconds = time.perf_counter() - start
    return DecodedImage(tensor_to_image(result.image), result.analysis, seconds)
