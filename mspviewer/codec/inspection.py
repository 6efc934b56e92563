"""Inspection of the probability model: one element at a time, and decoding step by step.

Qt-free (the GUI's inspector and replay panels, the ``replay`` sub-command and scripts call
it). Everything is computed from an :class:`AnalysisRecord`, which the encoder and the decoder
fill identically, plus the model for the synthesis of replay frames:

- :func:`inspect_element`: scale, step, group, pass, ŷ, μ, σ, symbol and cost of one latent
  element, the discretised Gaussian PMF the coder used for it, and the context it was
  predicted from (which 3×3 lattice neighbours and how many channels were already known);
- :func:`replay_frames`: the image after each MSP decoding pass, the elements not decoded yet
  set to the means their own, later passes predicted (a look ahead), with the bits spent
  so far;
- :func:`export_replay`: those frames as an animated GIF or a PNG sequence;
- :func:`verify_in_fresh_process`: re-decodes a saved bitstream with ``python -m mspviewer
  decode`` in a new process and compares its pixels with the expected ones.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from mspviewer.codec import bitstream
from mspviewer.codec.analysis import AnalysisRecord, PassStatistics
from mspviewer.codec.api import tensor_to_image
from mspviewer.codec.entropy import ESCAPE_BITS, MIN_PROBABILITY, coded_bits
from mspviewer.codec.lattice import STEP_NAMES, lattice_size, step_masks
from mspviewer.codec.msp import discretized_gaussian_likelihood, gaussian_upper_tail
from mspviewer.errors import MSPViewerError

LATENT_STRIDE = bitstream.PADDING_UNIT  # image pixels per latent position, in each direction
DEFAULT_SYMBOL_BOUND = 256  # CodingConfig's default; pass the model's own when it differs
PMF_MIN_HALF_WIDTH = 6
PMF_SIGMAS = 4
# |−log2 P − bits| accepted as equal, relative: torch's vectorised and scalar float64 ndtr
# kernels differ in the last ~8 digits, so a PMF evaluated here can differ by ~1e-8 bits.
BITS_TOLERANCE = 1e-6


# -- one element ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NeighbourContext:
    """The 3×3 neighbourhood of an element on its scale's lattice, as its pass saw it.

    ``offsets[i]`` is (d_row, d_col) in lattice units; ``known[i]`` says whether that lattice
    position was decoded before the element's step (coarser lattice or an earlier step of
    the same scale: the context network runs once per step, so the same step's earlier
    channel groups are not spatial context); ``inside[i]`` whether it lies on the grid at
    all. The centre (0, 0) is the element itself and is never known.
    """

    offsets: tuple[tuple[int, int], ...]
    known: tuple[bool, ...]
    inside: tuple[bool, ...]
    latent_positions: tuple[tuple[int, int] | None, ...]  # (row, col) on the full latent grid

    @property
    def num_known(self) -> int:
        return sum(self.known)

    def known_offsets(self) -> list[tuple[int, int]]:
        return [o for o, k in zip(self.offsets, self.known) if k]

    def grid(self) -> np.ndarray:
        """(3, 3) int8: 1 known, 0 not known yet, -1 outside the grid (centre: 0)."""
        out = np.zeros((3, 3), np.int8)
        for (dr, dc), known, inside in zip(self.offsets, self.known, self.inside):
            out[dr + 1, dc + 1] = 1 if known else (0 if inside else -1)
        return out


@dataclass(frozen=True)
class ElementInspection:
    channel: int
    row: int  # on the (padded) latent grid
    col: int
    scale: int
    stride: int  # lattice spacing of the scale, in latent positions
    lattice_row: int  # position in the scale's lattice coordinates
    lattice_col: int
    step: str  # "coarsest", "A", "B" or "C"
    group: int
    channel_start: int
    channel_stop: int
    pass_index: int
    pass_label: str
    y_hat: float
    mu: float
    sigma: float  # the table σ the coder used
    symbol: int  # round(y − μ), what was coded
    bits: float  # the record's cost of this element
    pmf_symbols: np.ndarray  # int64, a window of symbols around 0
    pmf: np.ndarray  # float64, P(symbol) under N(0, σ) discretised (no coder floor)
    symbol_probability: float  # the coder's probability of ``symbol`` (floored, clamped)
    computed_bits: float  # −log2(symbol_probability) (+ escape words beyond ±bound)
    escaped: bool  # the symbol was at or beyond ±bound (escape words follow)
    spatial_context: NeighbourContext
    known_channels: int  # channels of the same position decoded before (earlier groups)

    @property
    def bits_match(self) -> bool:
        return abs(self.computed_bits - self.bits) <= BITS_TOLERANCE * max(1.0, self.bits)

    def to_dict(self) -> dict:
        """JSON-friendly view (arrays as lists)."""
        ctx = self.spatial_context
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("pmf_symbols", "pmf", "spatial_context")}
        out.update(pmf_symbols=self.pmf_symbols.tolist(), pmf=self.pmf.tolist(),
                   bits_match=self.bits_match,
                   known_neighbours=[list(o) for o in ctx.known_offsets()],
                   neighbour_grid=ctx.grid().tolist())
        return out


def image_to_latent(x: int, y: int) -> tuple[int, int]:
    """Latent (row, col) of image pixel (x, y): the synthesis upsamples by 16 each way."""
    if x < 0 or y < 0:
        raise ValueError(f"pixel ({x}, {y}) is outside the image")
    return int(y) // LATENT_STRIDE, int(x) // LATENT_STRIDE


def latent_to_image(row: int, col: int) -> tuple[int, int, int, int]:
    """The image rectangle (x0, y0, x1, y1) (end exclusive, padded grid) of a latent position."""
    return (col * LATENT_STRIDE, row * LATENT_STRIDE, (col + 1) * LATENT_STRIDE,
            (row + 1) * LATENT_STRIDE)


def _step_index(stats: PassStatistics) -> int:
    return 0 if stats.step == "coarsest" else STEP_NAMES.index(stats.step)


def _spatial_context(stats: PassStatistics, height: int, width: int, row: int, col: int,
                     steps_per_scale: int) -> tuple[int, int, int, NeighbourContext]:
    stride = 2 ** stats.scale
    lattice_row, lattice_col = row // stride, col // stride
    rows, cols = lattice_size(height, width, stride)
    if stats.step == "coarsest":  # predicted from earlier groups and λ only
        known_mask = torch.zeros(rows, cols, dtype=torch.bool)
    else:
        known_mask, _ = step_masks(rows, cols, steps_per_scale, _step_index(stats))
    offsets, known, inside, positions = [], [], [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = lattice_row + dr, lattice_col + dc
            on_grid = 0 <= r < rows and 0 <= c < cols
            offsets.append((dr, dc))
            inside.append(on_grid)
            known.append(bool(on_grid and (dr, dc) != (0, 0) and known_mask[r, c]))
            positions.append((r * stride, c * stride) if on_grid else None)
    return stride, lattice_row, lattice_col, NeighbourContext(
        tuple(offsets), tuple(known), tuple(inside), tuple(positions))


def element_pmf(sigma: float, symbol: int, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Symbols −n..n (n = max(6, ⌈4σ⌉), widened to include ``symbol``, clipped to ±bound) and
    their discretised-Gaussian probabilities at the table σ (the coder's formula); when the
    window reaches ±bound, those edge bins hold the whole tail beyond them, as in the coder."""
    half = max(PMF_MIN_HALF_WIDTH, math.ceil(PMF_SIGMAS * sigma), abs(int(symbol)))
    half = min(half, bound)
    symbols = np.arange(-half, half + 1, dtype=np.int64)
    sigma_t = torch.tensor(float(sigma), dtype=torch.float64)
    pmf = discretized_gaussian_likelihood(torch.from_numpy(symbols.astype(np.float64)),
                                          sigma_t).numpy()
    if half == bound:
        pmf[0] = pmf[-1] = float(gaussian_upper_tail(bound - 0.5, sigma_t))
    return symbols, pmf


def symbol_costs(symbols: np.ndarray, sigma: float, bound: int) -> np.ndarray:
    """What the coder would charge for each symbol of an :func:`element_pmf` window at the
    table σ, in bits: :func:`~mspviewer.codec.entropy.coded_bits` itself (−log2 P floored at
    the coder's smallest probability, plus the escape words at ±bound)."""
    return coded_bits(torch.from_numpy(np.asarray(symbols, np.float64)),
                      torch.tensor(float(sigma), dtype=torch.float64), bound).numpy()


def inspect_element(record: AnalysisRecord, channel: int, row: int, col: int,
                    steps_per_scale: int, symbol_bound: int = DEFAULT_SYMBOL_BOUND
                    ) -> ElementInspection:
    """Everything about latent element (channel, row, col) of the padded latent grid.

    ``steps_per_scale`` is the model's (``model.config.msp.steps_per_scale``); ``symbol_bound``
    the coder's (``model.config.coding.symbol_bound``).
    """
    m, height, width = record.y_hat.shape
    if not (0 <= channel < m and 0 <= row < height and 0 <= col < width):
        raise MSPViewerError(f"latent element ({channel}, {row}, {col}) is outside the "
                             f"latent grid {m}×{height}×{width}")
    index = int(record.pass_index[channel, row, col])
    if not 0 <= index < len(record.passes):
        raise MSPViewerError(f"latent element ({channel}, {row}, {col}) was not coded by any "
                             "pass of this record")
    stats = record.passes[index]
    stride, lattice_row, lattice_col, context = _spatial_context(
        stats, height, width, row, col, steps_per_scale)
    sigma = float(record.sigma[channel, row, col])
    symbol = int(record.symbols[channel, row, col])
    pmf_symbols, pmf = element_pmf(sigma, symbol, symbol_bound)
    clamped = max(-symbol_bound, min(symbol_bound, symbol))
    probability = float(pmf[np.searchsorted(pmf_symbols, clamped)])
    probability = max(probability, MIN_PROBABILITY)
    escaped = abs(clamped) == symbol_bound
    # From the PMF window, not from coded_bits: the record's bits come from coded_bits, so
    # bits_match compares two computations of the same cost.
    computed = -math.log2(probability) + (ESCAPE_BITS if escaped else 0)
    return ElementInspection(
        channel=channel, row=row, col=col, scale=stats.scale, stride=stride,
        lattice_row=lattice_row, lattice_col=lattice_col, step=stats.step, group=stats.group,
        channel_start=stats.channel_start, channel_stop=stats.channel_stop, pass_index=index,
        pass_label=stats.label, y_hat=float(record.y_hat[channel, row, col]),
        mu=float(record.mu[channel, row, col]), sigma=sigma, symbol=symbol,
        bits=float(record.bits[channel, row, col]), pmf_symbols=pmf_symbols, pmf=pmf,
        symbol_probability=probability, computed_bits=computed, escaped=escaped,
        spatial_context=context, known_channels=stats.channel_start)


# -- step-by-step replay --------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayFrame:
    step: int  # k: passes 0..k-1 decoded
    num_steps: int  # P, the number of passes
    label: str  # the pass decoded last ("predicted means only" at k = 0)
    image: np.ndarray  # uint8 (H, W, 3)
    decoded_elements: int
    estimated_bits: float  # model bits of passes < k
    actual_bits: int  # 8 × payload bytes attributed to passes < k
    psnr_rgb: float | None  # against the original, when given

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "image"}


def replay_latent(record: AnalysisRecord, k: int) -> np.ndarray:
    """The latent after k passes: ŷ where already decoded, μ (the prediction) elsewhere."""
    return np.where(record.pass_index < k, record.y_hat, record.mu).astype(np.float32)


def iter_replay_frames(model, record: AnalysisRecord, original: np.ndarray | None = None
                       ) -> Iterator[ReplayFrame]:
    """Frames k = 0..P, synthesised like the decoder does (clamp, ×255, round).

    The μ of an element not yet decoded is the one recorded for it, i.e. predicted from the
    context that was available when its own pass ran.
    """
    from mspviewer.metrics import psnr_rgb  # light; kept local to keep imports minimal

    point = model.rate_point(record.lam)
    num_steps = len(record.passes)
    estimated, actual = 0.0, 0
    for k in range(num_steps + 1):
        if k > 0:
            estimated += record.passes[k - 1].estimated_bits
            actual += 8 * record.passes[k - 1].actual_bytes
        latent = torch.from_numpy(replay_latent(record, k)).unsqueeze(0).to(model.device)
        with torch.no_grad():
            x_hat = model.synthesise(latent, point, record.image_size).clamp_(0, 1)
        image = tensor_to_image(x_hat)
        yield ReplayFrame(
            step=k, num_steps=num_steps,
            label=record.passes[k - 1].label if k else "predicted means only",
            image=image, decoded_elements=int((record.pass_index < k).sum()),
            estimated_bits=estimated, actual_bits=actual,
            psnr_rgb=None if original is None else psnr_rgb(image, original))


def replay_frames(model, record: AnalysisRecord, original: np.ndarray | None = None
                  ) -> list[ReplayFrame]:
    return list(iter_replay_frames(model, record, original))


_REPLAY_FRAME = re.compile(r"step_[0-9]{3,}\.png")  # the names replay_frame_name gives


def replay_frame_name(step: int) -> str:
    """The file of replay step ``step`` in a PNG sequence."""
    return f"step_{step:03d}.png"


def is_replay_frame_name(name: str) -> bool:
    """Whether ``name`` is one that :func:`replay_frame_name` gives."""
    return _REPLAY_FRAME.fullmatch(name) is not None


def export_replay(frames: Sequence[ReplayFrame], path: str | os.PathLike,
                  frame_ms: int = 500, last_frame_ms: int = 2000) -> list[Path]:
    """Write the frames as an animated GIF (``*.gif``) or as ``step_000.png`` … in a folder
    (an existing folder, or a path without suffix). Returns the files written.

    In a GIF, Pillow merges identical consecutive frames (adding their durations) and
    quantises colours to a palette; the PNG sequence keeps every frame exactly. A GIF frame
    lasts at most 655.35 s (16-bit hundredths of a second): durations whose sum could pass
    that once merged are refused, not left to overflow in Pillow."""
    import io

    from PIL import Image

    from mspviewer.files import write_file_set, write_output
    from mspviewer.imageio import encode_rgb8

    if not frames:
        raise MSPViewerError("no replay frames to export")
    path = Path(path)
    try:
        if path.suffix.lower() == ".gif":
            durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
            if min(durations) < 0 or sum(durations) > 655_350:  # any run of merged frames
                raise MSPViewerError(f"{len(frames)} GIF frames of {frame_ms} ms (the last "
                                     f"{last_frame_ms} ms) do not fit a GIF frame's 0 … "
                                     "655.35 s once identical frames merge")
            images = [Image.fromarray(f.image) for f in frames]
            encoded = io.BytesIO()
            images[0].save(encoded, format="GIF", save_all=True, append_images=images[1:],
                           duration=durations, loop=0, optimize=False)
            write_output(path, encoded.getvalue())  # whole or not at all
            return [path]
        if path.is_dir() or not path.suffix:
            # every frame encoded before the folder is touched, then written as one set:
            # an interruption never leaves this replay's first frames beside another's last
            pngs = {replay_frame_name(frame.step): encode_rgb8(frame.image, "PNG")
                    for frame in frames}
            return write_file_set(path, pngs, replaces=_REPLAY_FRAME.fullmatch)
    except OSError as error:
        raise MSPViewerError(f"cannot write the replay to {path}: {error}") from None
    raise MSPViewerError(f"replay output must be a .gif file or a folder, got {path}")


# -- bit-exact check in a fresh process ---------------------------------------------------
@dataclass(frozen=True)
class VerifyReport:
    ok: bool  # decoded, checksum verified and pixels identical
    checksum_ok: bool | None  # None: decoding stopped before the checksum (other error)
    pixels_identical: bool | None  # None: nothing to compare
    message: str
    returncode: int
    differing_pixels: int = 0
    max_abs_difference: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def verify_in_fresh_process(bitstream_path: str | os.PathLike, model_path: str | os.PathLike
                            | None, expected: np.ndarray | str | os.PathLike,
                            threads: int | None = None, timeout: float = 300,
                            cancel: Callable[[], bool] | None = None) -> VerifyReport:
    """Decode ``bitstream_path`` with ``python -m mspviewer decode`` in a new process and
    compare with ``expected`` (uint8 pixels or a PNG path).

    The decoder itself checks the symbols checksum and refuses on a mismatch. The child runs
    with ``threads`` CPU threads (default: this process's count), since the synthesis may
    differ by one level across thread counts. ``cancel()`` returning True kills the child
    (polled every 0.1 s) and returns a report saying so.
    """
    from mspviewer.imageio import load_image

    if not isinstance(expected, np.ndarray):
        expected = load_image(expected).pixels
    threads = threads or torch.get_num_threads()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("MSPVIEWER_DEBUG", None)
    with tempfile.TemporaryDirectory(prefix="mspviewer-verify-") as folder:
        output = Path(folder) / "decoded.png"
        command = [sys.executable, "-m", "mspviewer", "--json", "decode", str(bitstream_path),
                   "-o", str(output)]
        if model_path is not None:
            command += ["--model", str(model_path)]
        outcome = _run_child(command, env, timeout, cancel)
        if isinstance(outcome, VerifyReport):
            return outcome
        returncode, stderr = outcome
        if returncode != 0:
            message = stderr.strip().splitlines()[-1] if stderr.strip() else \
                f"decoder exited with status {returncode}"
            checksum_ok = False if "checksum" in message.lower() else None
            return VerifyReport(False, checksum_ok, None, message, returncode)
        decoded = load_image(output).pixels
    if decoded.shape != expected.shape:
        return VerifyReport(False, True, False, f"decoded size {decoded.shape[:2]} differs from "
                            f"the expected {expected.shape[:2]}", 0)
    difference = np.abs(decoded.astype(np.int16) - expected.astype(np.int16))
    differing = int(difference.any(axis=-1).sum())
    if differing:
        return VerifyReport(False, True, False, f"checksum ok, but {differing} pixels differ "
                            f"(max {int(difference.max())} levels)", 0, differing,
                            int(difference.max()))
    return VerifyReport(True, True, True, "checksum ok, pixels identical", 0)


def _run_child(command: list[str], env: dict, timeout: float,
               cancel: Callable[[], bool] | None) -> tuple[int, str] | VerifyReport:
    """Run the decoder child; (returncode, stderr), or a failed report on timeout/cancel."""
    with tempfile.TemporaryFile("w+") as errors:  # a file: a full pipe would block the child
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env,
                                 text=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    returncode = child.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    stop = "cancelled" if cancel is not None and cancel() else (
                        f"decoder timed out after {timeout} s" if time.monotonic() > deadline
                        else None)
                    if stop:
                        return VerifyReport(False, None, None, stop, -1)
        finally:  # also when cancel() raises or the wait is interrupted: no orphan decoder
            if child.poll() is None:
                child.kill()
                child.wait()
        errors.seek(0)
        return returncode, errors.read()
