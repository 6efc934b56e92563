"""Where the shipped model and the bundled resources are.

In a checkout (and an editable install) they are the top-level ``models/`` and
``resources/`` folders. A wheel carries the same folders inside the package, as
``mspviewer.bundled_models`` and ``mspviewer.bundled_resources`` (pyproject.toml maps
them), so an installed viewer finds its model without the checkout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def _locate(package: str, folder: str) -> Path:
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return CHECKOUT / folder


def models_dir() -> Path:
    """The folder holding ``msp-default.pt`` and its model card."""
    return _locate("mspviewer.bundled_models", "models")


def resources_dir() -> Path:
    """The folder holding the sample image and the published anchor curves."""
    return _locate("mspviewer.bundled_resources", "resources")
