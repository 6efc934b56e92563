"""The MSP codec model and its contract.

- ``forward(x, lam)``: training and evaluation pass: reconstruction plus the likelihood of
  every latent element (noise / straight-through rounding, or hard quantisation).
- ``compress(x, lam)`` → :class:`CompressResult` (real bitstream + analysis record).
- ``decompress(data)`` → :class:`DecompressResult` (image + the same analysis record).

Images are float tensors (1, 3, H, W) in [0, 1]; see :mod:`mspviewer.codec.api` for uint8
arrays and files. Images are padded by edge replication to a multiple of 16 pixels; the
latent grid may have any size (the MSP lattices do not need further padding).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mspviewer.codec import bitstream
from mspviewer.codec.analysis import AnalysisBuilder, AnalysisRecord
from mspviewer.codec.config import ModelConfig
from mspviewer.codec.entropy import (LatentOutOfRangeError, SymbolDecoder, SymbolEncoder,
                                     coded_bits)
from mspviewer.codec.gain import GainLadder, LambdaOutOfRangeError, RatePoint
from mspviewer.codec.lattice import CodingPass, grid_geometry
from mspviewer.codec.msp import MSPProbabilityModel, discretized_gaussian_likelihood, write_pass
from mspviewer.codec.sigma_table import SigmaTable
from mspviewer.codec.transforms import AnalysisTransform, SynthesisTransform
from mspviewer.errors import BitstreamError, ChecksumError, WrongModelError

LIKELIHOOD_FLOOR = 1e-9  # training only: keeps log2 finite


@dataclass
class CompressResult:
    bitstream: bytes
    analysis: AnalysisRecord
    y_hat: torch.Tensor  # (1, M, h, w), gained domain


@dataclass
class DecompressResult:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    analysis: AnalysisRecord
    y_hat: torch.Tensor


#: Serialises the coding sections of all Python threads (see :func:`coding_arithmetic`).
_CODING_LOCK = threading.RLock()


@contextlib.contextmanager
def coding_arithmetic(device: torch.device):
    """Run the MSP passes with one CPU thread.

    The σ-table index of every symbol must be the same in encoder and decoder. On a CPU
    the convolutions' summation order, hence the last bits of μ and σ, depends on the
    number of threads, so an encode with 8 threads and a decode with 2 could pick another
    index near a table boundary. One thread makes the coding decisions independent of the
    machine's thread settings (the latent grid is small, so this costs little). Across
    devices or instruction sets, the content checksum still catches a mismatch.

    torch's thread count is not private to a Python thread (one thread's
    ``set_num_threads`` can be read back in another), so the sections of different threads
    (the GUI encodes and decodes on several) run one at a time: none can restore the count
    while another is coding.
    """
    if device.type == "cuda":
        use_exact_cuda_arithmetic()
    if device.type != "cpu":
        yield
        return
    with _CODING_LOCK:
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if threads != 1:
                torch.set_num_threads(threads)


def use_exact_cuda_arithmetic() -> None:
    """Make CUDA convolutions repeatable, so that encoder and decoder on one GPU compute the
    same bits.

    By default cuDNN may pick another algorithm from one call to the next (by heuristics,
    workspace, or benchmarking) and computes fp32 convolutions in TF32; μ then differed in
    its last bits between an encode and its decode on an H200, and so did the decoded
    image. Deterministic algorithms without TF32 remove that; cuDNN can still fall back to
    another algorithm when the workspace of its first choice does not fit in free memory,
    and the content checksum would then report a symbol mismatch. These are process-wide
    settings (torch has no per-model ones); the codec sets them when it loads a model onto
    CUDA and whenever it codes there.
    """
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def as_float32(lam: float) -> float:
    """λ as stored in the bitstream; the encoder uses exactly this value."""
    value = float(lam)
    with np.errstate(over="ignore", under="ignore"):
        stored = float(np.float32(value))
    # Past float32's range (overflow to inf, underflow to 0) λ is outside every model's
    # range: keep it as given, so that the refusal names the number the user typed.
    if (math.isinf(stored) and math.isfinite(value)) or (stored == 0 and value != 0):
        return value
    return stored


class MSPCodec(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        m = self.config.transform.latent_channels
        self.g_a = AnalysisTransform(self.config.transform)
        self.g_s = SynthesisTransform(self.config.transform)
        self.gains = GainLadder(self.config.rate.lambdas, m)
        self.prior = MSPProbabilityModel(self.config)
        self.sigma_table = SigmaTable(self.config.coding)
        self.name = "untrained"
        self.source_path = None  # the weights file, when loaded from one (weights.load_model)

    # -- identity ----------------------------------------------------------------------
    def model_id(self) -> bytes:
        """8-byte identity: SHA-256 of the configuration and the float32 weights."""
        digest = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        for key, tensor in sorted(self.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.digest()[:8]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- shared pieces -------------------------------------------------------------------
    def rate_point(self, lam: float) -> RatePoint:
        # Everyone (training, encoder, decoder) sees λ as the bitstream stores it.
        return self.gains.locate(as_float32(lam))

    def extrapolation_note(self, lam: float) -> str | None:
        """A line for the user when ``lam`` is past the trained range (gains extrapolated),
        else None; λ taken as the bitstream stores it, like :meth:`rate_point`."""
        return self.gains.extrapolation_note(as_float32(lam))

    def analyse(self, x: torch.Tensor, point: RatePoint | Sequence[RatePoint]) -> torch.Tensor:
        """Gained latent y of the padded image (what is quantised and coded). ``point``: one
        for the batch, or one per image (LOF over several encodes at once)."""
        return self.g_a(pad_image(x)) * self.gain_planes(point)

    def synthesise(self, y_hat: torch.Tensor, point: RatePoint | Sequence[RatePoint],
                   image_size) -> torch.Tensor:
        height, width = image_size
        x_hat = self.g_s(y_hat * self.gain_planes(point, inverse=True))
        return x_hat[:, :, :height, :width]

    def gain_planes(self, point: RatePoint | Sequence[RatePoint], inverse: bool = False
                    ) -> torch.Tensor:
        """The gain (or inverse gain) to multiply a (batch, M, h, w) latent by: (1, M, 1, 1)
        for one rate point, (batch, M, 1, 1) for a sequence of them."""
        vector = self.gains.inverse_gain if inverse else self.gains.gain
        if isinstance(point, RatePoint):
            return vector(point).view(1, -1, 1, 1)
        return torch.stack([vector(p) for p in point]).view(len(point), -1, 1, 1)

    # -- training contract ---------------------------------------------------------------
    def forward(self, x: torch.Tensor, lam: float, quantization: str = "noise") -> dict:
        """``quantization``: "noise" (rate from additive uniform noise, context and synthesis
        from straight-through rounding) or "hard" (exactly what compress/decompress do)."""
        point = self.rate_point(lam)
        gain = self.gains.gain(point)
        y = self.analyse(x, point)
        batch, m, h, w = y.shape
        y_flat = y.reshape(batch, m, h * w)
        likelihoods = torch.zeros(batch, m, h * w, device=y.device, dtype=torch.float32)
        hard = quantization == "hard"
        if quantization not in ("noise", "hard"):
            raise ValueError(f"unknown quantization {quantization!r}")

        # the passes' indices on this grid (the same cached ones prior.run uses), looked up
        # once here rather than in every pass
        geometries = grid_geometry(self.prior.passes, h, w, self.prior.steps_per_scale,
                                   y.device, gain.dtype)

        def decide(coding_pass: CodingPass, positions, mu, sigma):
            nonlocal likelihoods
            y_pass = y_flat[:, coding_pass.channel_start:coding_pass.channel_stop][:, :, positions]
            residual = y_pass.float() - mu
            rounded = torch.round(residual)
            if hard:  # exactly what the coder charges
                values = mu + rounded
                bits = coded_bits(rounded, self.sigma_table.quantize(sigma),
                                  self.config.coding.symbol_bound)
                p = torch.exp2(-bits)
            else:
                noise = torch.empty_like(residual).uniform_(-0.5, 0.5)
                p = discretized_gaussian_likelihood(residual + noise, sigma)
                p = p.clamp_min(LIKELIHOOD_FLOOR)
                values = y_pass.float() + (mu + rounded - y_pass.float()).detach()
            likelihoods = write_pass(likelihoods, geometries[coding_pass.index].flat_index, p)
            return values

        if hard:  # the exact coding path: same arithmetic as compress / decompress
            with coding_arithmetic(y.device):
                y_hat = self.prior.run(batch, h, w, gain, point.position, decide)
        else:
            y_hat = self.prior.run(batch, h, w, gain, point.position, decide)
        x_hat = self.synthesise(y_hat, point, x.shape[-2:])
        return {"x_hat": x_hat, "likelihoods": likelihoods.view(batch, m, h, w),
                "y_hat": y_hat, "y": y}

    # -- bitstream contract -----------------------------------------------------------------
    @torch.no_grad()
    def compress(self, x: torch.Tensor, lam: float) -> CompressResult:
        lam = as_float32(lam)
        point = self.rate_point(lam)
        return self.compress_latent(self.analyse(x, point), lam, x.shape[-2:])

    @torch.no_grad()
    def compress_latent(self, y: torch.Tensor, lam: float, image_size) -> CompressResult:
        """Code a given gained latent (from g_a, or optimised by LOF) at ``lam``."""
        lam = as_float32(lam)
        point = self.rate_point(lam)
        if y.shape[0] != 1:
            raise ValueError("compress codes one image at a time")
        if not torch.isfinite(y).all():
            raise LatentOutOfRangeError("the latent holds non-finite values: nothing to code")
        _, m, h, w = y.shape
        height, width = (int(v) for v in image_size)
        unit = bitstream.PADDING_UNIT
        if (-(-height // unit), -(-width // unit)) != (h, w):
            raise ValueError(f"a {h}×{w} latent does not code a {height}×{width} image")
        bitstream.check_codable(height, width)
        coding = self.config.coding
        encoder = SymbolEncoder(self.sigma_table, coding.symbol_bound)
        builder = AnalysisBuilder(m, h, w, coding.symbol_bound)
        y_flat = y.reshape(1, m, h * w)
        coded_symbols = []

        def decide(coding_pass: CodingPass, positions, mu, sigma):
            y_pass = y_flat[:, coding_pass.channel_start:coding_pass.channel_stop][:, :, positions]
            symbols = torch.round(y_pass.float() - mu)
            index = self.sigma_table.index_of(sigma)
            symbols_np = symbols[0].to("cpu", torch.int64).numpy()
            encoder.encode_pass(symbols_np, index[0].cpu().numpy())
            coded_symbols.append(symbols_np)
            builder.add(coding_pass, positions.cpu().numpy(), symbols_np,
                        mu[0].cpu().numpy(), self.sigma_table.values[index[0].cpu().numpy()])
            return mu + symbols

        with coding_arithmetic(y.device):
            y_hat = self.prior.run(1, h, w, self.gains.gain(point), point.position, decide)
        words, section_words = encoder.finish()
        pad_bottom, pad_right = bitstream.padding_for(height, width)
        msp = self.config.msp
        header = bitstream.Header(
            model_id=self.model_id(), lam=lam, height=height, width=width,
            pad_bottom=pad_bottom, pad_right=pad_right, num_scales=msp.num_scales,
            steps_per_scale=msp.steps_per_scale, num_groups=msp.num_groups,
            latent_channels=m, symbols_checksum=bytes(8), section_words=tuple(section_words))
        header = dataclasses.replace(
            header, symbols_checksum=bitstream.content_checksum(header, coded_symbols))
        data = bitstream.pack(header, words)
        record = builder.build(lam, (height, width), header.padded_size, section_words,
                               bitstream.header_size(header), header.model_id.hex())
        return CompressResult(data, record, y_hat)

    @torch.no_grad()
    def decompress(self, data: bytes, max_pixels: int = bitstream.MAX_CODED_PIXELS
                   ) -> DecompressResult:
        header, words = bitstream.parse(data, max_pixels)
        self.check_compatible(header)
        try:
            point = self.rate_point(header.lam)
        except LambdaOutOfRangeError as error:
            raise BitstreamError(f"header is corrupt or from another model: {error}") from None
        m = header.latent_channels
        h, w = (size // bitstream.PADDING_UNIT for size in header.padded_size)
        coding = self.config.coding
        decoder = SymbolDecoder(self.sigma_table, coding.symbol_bound, words)
        builder = AnalysisBuilder(m, h, w, coding.symbol_bound)
        decoded_symbols = []

        def decide(coding_pass: CodingPass, positions, mu, sigma):
            index = self.sigma_table.index_of(sigma)[0].cpu().numpy()
            symbols_np = _decode_guarded(decoder, index).reshape(index.shape)
            decoded_symbols.append(symbols_np)
            builder.add(coding_pass, positions.cpu().numpy(), symbols_np,
                        mu[0].cpu().numpy(), self.sigma_table.values[index])
            symbols = torch.from_numpy(symbols_np).to(mu.device, mu.dtype).view_as(mu)
            return mu + symbols

        with coding_arithmetic(self.device):
            y_hat = self.prior.run(1, h, w, self.gains.gain(point), point.position, decide)
        if bitstream.content_checksum(header, decoded_symbols) != header.symbols_checksum:
            raise ChecksumError(
                "decoded symbols do not match the encoder's checksum: the payload is corrupt, "
                "or it was encoded on a device whose arithmetic differs from this one "
                "(e.g. a GPU encode decoded on a CPU)")
        image = self.synthesise(y_hat, point, (header.height, header.width)).clamp_(0, 1)
        record = builder.build(header.lam, (header.height, header.width), header.padded_size,
                               header.section_words, bitstream.header_size(header),
                               header.model_id.hex())
        return DecompressResult(image, record, y_hat)

    def check_compatible(self, header: bitstream.Header) -> None:
        """Refuse a bitstream written by another model or configuration, by name."""
        own_id = self.model_id()
        if header.model_id != own_id:
            raise WrongModelError(
                f"bitstream was written by model {header.model_id.hex()}, but the loaded model "
                f"'{self.name}' is {own_id.hex()}; load the model that wrote it")
        msp = self.config.msp
        expected = (msp.num_scales, msp.steps_per_scale, msp.num_groups,
                    self.config.transform.latent_channels)
        found = (header.num_scales, header.steps_per_scale, header.num_groups,
                 header.latent_channels)
        if expected != found:
            raise BitstreamError(f"header MSP configuration {found} does not match the model's "
                                 f"{expected}")
        if len(header.section_words) != len(self.prior.passes):
            raise BitstreamError(f"header lists {len(header.section_words)} sections, the model "
                                 f"codes {len(self.prior.passes)} passes")


def _decode_guarded(decoder: SymbolDecoder, sigma_index: np.ndarray) -> np.ndarray:
    """Decode one pass; any failure inside the Rust coder becomes a BitstreamError.

    A Rust panic surfaces as pyo3's PanicException, a BaseException, hence the broad catch.
    """
    try:
        return decoder.decode_pass(sigma_index)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - see docstring
        raise BitstreamError(f"the payload cannot be decoded (damaged data): {error}") from None


def pad_image(x: torch.Tensor) -> torch.Tensor:
    """Edge-replicate padding to a multiple of 16 at the bottom and right."""
    pad_bottom, pad_right = bitstream.padding_for(x.shape[-2], x.shape[-1])
    if not pad_bottom and not pad_right:
        return x
    return nn.functional.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
