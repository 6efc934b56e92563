"""Weights files: configuration + weights + model card in one ``torch.save`` dict.

Layout (loaded with ``torch.load(weights_only=True)``, so no code is unpickled)::

    {"format": "mspviewer-weights", "version": 1, "name": str,
     "config": ModelConfig.to_dict(), "card": {...}, "state_dict": {name: fp16 tensor}}

Loading validates the format, the configuration, that the tensor names and shapes are
exactly those the configuration builds, and that every value is finite. See
``models/README.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mspviewer.codec.config import ModelConfig
from mspviewer.codec.model import MSPCodec, use_exact_cuda_arithmetic
from mspviewer.bundled import models_dir
from mspviewer.errors import ModelFileError
from mspviewer.files import write_atomically

WEIGHTS_FORMAT = "mspviewer-weights"
WEIGHTS_VERSION = 1
DEFAULT_MODEL_FILE = "msp-default.pt"
MODELS_DIR = models_dir()


def default_model_path() -> Path:
    """$MSPVIEWER_MODEL if set, else the shipped model (``models/``, or the wheel's copy)."""
    override = os.environ.get("MSPVIEWER_MODEL")
    return Path(override) if override else MODELS_DIR / DEFAULT_MODEL_FILE


def build_random_model(config: ModelConfig | None = None, seed: int = 0) -> MSPCodec:
    """A randomly initialised model (tests, benchmarks of structure and speed)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = MSPCodec(config or ModelConfig())
    finally:
        torch.random.set_rng_state(generator_state)
    model.name = f"random-seed{seed}"
    return model.eval()


def save_weights(model: MSPCodec, path: str | os.PathLike, name: str, card: dict | None = None,
                 dtype: torch.dtype = torch.float16) -> None:
    state = {key: value.detach().to("cpu", dtype).contiguous()
             for key, value in model.state_dict().items()}
    payload = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "name": name,
               "config": model.config.to_dict(), "card": card or {}, "state_dict": state}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: torch.save(payload, handle))


def load_tensor_file(path: Path, error: type[Exception], name: str, readable_name: str):
    """``torch.load`` of a file (no code unpickled, on the CPU); a missing or unreadable
    file raises ``error`` with one line ("NAME not found: …", "… is not a readable …")."""
    if path.is_dir():
        raise error(f"{path} is a folder, not a {readable_name}")
    if not path.is_file():
        raise error(f"{name} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as failure:  # torch raises many kinds for a bad file
        raise error(f"{path} is not a readable {readable_name} "
                    f"({type(failure).__name__})") from None


def read_weights_file(path: str | os.PathLike) -> dict:
    path = Path(path)
    payload = load_tensor_file(path, ModelFileError, "model file", "weights file")
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ModelFileError(f"{path} is not an mspviewer weights file")
    if payload.get("version") != WEIGHTS_VERSION:
        raise ModelFileError(f"{path} has weights format version {payload.get('version')}, "
                             f"this build reads version {WEIGHTS_VERSION}")
    return payload


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
               ) -> MSPCodec:
    """The model in the weights file at ``path`` (the shipped one by default), checked
    against its configuration, on ``device``, in eval mode.

    On CUDA this also switches the process's cuDNN to deterministic algorithms without TF32
    (:func:`~mspviewer.codec.model.use_exact_cuda_arithmetic`), which bit-exact coding
    needs; other torch work in the same process runs with those settings too.
    """
    path = Path(path) if path is not None else default_model_path()
    payload = read_weights_file(path)
    config = ModelConfig.from_dict(payload.get("config", {}))
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} has no weights")
    # Shapes first, from a model on the meta device (no memory): a small file whose
    # configuration asks for huge widths must not allocate gigabytes before it is refused.
    with torch.device("meta"):
        expected = MSPCodec(config).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{path} does not match its configuration: missing "
                             f"{missing[:5]}, unexpected {unexpected[:5]}")
    for key, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise ModelFileError(f"{path}: {key} is not a floating-point tensor "
                                 f"({type(tensor).__name__})")
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ModelFileError(f"{path}: {key} has shape {tuple(tensor.shape)}, the "
                                 f"configuration needs {tuple(expected[key].shape)}")
        if not torch.isfinite(tensor).all():
            raise ModelFileError(f"{path}: {key} holds non-finite values")
    model = MSPCodec(config)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    card = payload.get("card", {})
    if not isinstance(card, dict):
        raise ModelFileError(f"{path}: its model card is not a mapping")
    name = payload.get("name")
    model.name = name if isinstance(name, str) and name else path.stem
    model.card = dict(card)
    # the file these weights came from: a fresh process (the bit-exact check) reloads it
    model.source_path = path.resolve()
    model = model.to(device).eval()
    if model.device.type == "cuda":  # g_a too, so that an encode is repeatable from the first
        use_exact_cuda_arithmetic()
    return model
