"""Image-level entry points: uint8 arrays in, uint8 arrays out, with timings.

This is what the command line, the GUI, the comparisons and scripts call; the tensor-level
contract stays in :class:`mspviewer.codec.model.MSPCodec`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from mspviewer.codec.analysis import AnalysisRecord
from mspviewer.codec.model import MSPCodec
from mspviewer.errors import MSPViewerError


@dataclass
class EncodedImage:
    bitstream: bytes
    analysis: AnalysisRecord
    reconstruction: np.ndarray  # uint8 (H, W, 3): exactly what the decoder will produce
    encode_seconds: float


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


def encode_image(model: MSPCodec, pixels: np.ndarray, lam: float) -> EncodedImage:
    device = model.device
    start = time.perf_counter()
    result = model.compress(image_to_tensor(pixels, device), lam)
    _synchronize(device)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        point = model.rate_point(result.analysis.lam)
        x_hat = model.synthesise(result.y_hat, point, pixels.shape[:2]).clamp_(0, 1)
    return EncodedImage(result.bitstream, result.analysis, tensor_to_image(x_hat), seconds)


def decode_bytes(model: MSPCodec, data: bytes) -> DecodedImage:
    start = time.perf_counter()
    result = model.decompress(data)
    _synchronize(model.device)
    seconds = time.perf_counter() - start
    return DecodedImage(tensor_to_image(result.image), result.analysis, seconds)
