"""Shared fixtures: tiny random models (fast), the shipped model, test images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KODAK = SHARED / "data" / "kodak"


@pytest.fixture(scope="module")
def one_thread():
    """For modules of many small network passes (LOF): on a shared machine one thread is far
    steadier (two contended threads made them 10-100x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model():
    return loud_tiny_model(seed=1)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, tiny_model):
    """The tiny model as a weights file (stored in float16: load it to compare ids)."""
    from mspviewer.codec import save_weights

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_weights(tiny_model, path, name="tiny")
    return path


#: How much the tiny model's analysis output is amplified (see :func:`loud_tiny_model`).
LOUD_GAIN = 80.0


def loud_tiny_model(seed: int = 1):
    """The tiny random model with its analysis output amplified ×``LOUD_GAIN``.

    Untrained, its latents stay under 0.4, so it would code every symbol as 0 and a test
    could not tell a right symbol from a wrong one. Amplified, a smooth test image gives
    symbols from about −4 to 4 with under a quarter of them 0 (``test_tiny_model_is_loud``).
    """
    from mspviewer.codec import build_random_model, tiny_config

    return amplify_analysis(build_random_model(tiny_config(), seed=seed))


def amplify_analysis(model, gain: float = LOUD_GAIN):
    """Scale the last convolution of ``model``'s analysis transform by ``gain`` (in place)."""
    import torch

    last = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(gain)
        if last.bias is not None:
            last.bias.mul_(gain)
    return model


@pytest.fixture(scope="session")
def shipped_model():
    from mspviewer.codec import default_model_path, load_model

    path = default_model_path()
    if not path.exists():
        pytest.fail(f"the shipped model {path} is missing")
    return load_model(path)


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A natural-looking test image: smooth gradients plus texture, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for c in range(3):
        phase = rng.uniform(0, 2 * np.pi)
        base = 128 + 60 * np.sin(xx / (7 + 5 * c) + phase) * np.cos(yy / (11 + 3 * c))
        channels.append(base + rng.normal(0, 8, (height, width)))
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


@pytest.fixture
def kodim01() -> np.ndarray:
    from mspviewer.imageio import load_image

    return load_image(KODAK / "kodim01.png").pixels


def load_script(folder: str, name: str):
    """A script of the checkout (``benchmarks/NAME.py``, ``training/NAME.py``) as a module;
    its folder goes on sys.path, as when it runs, for the modules beside it."""
    import importlib.util
    import sys

    directory = REPO / folder
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
