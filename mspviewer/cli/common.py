"""Helpers shared by the sub-commands: model loading, device choice, notes to the user."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mspviewer.codec import load_model, resolve_device
from mspviewer.errors import MSPViewerError


def add_model_arguments(parser) -> None:
    parser.add_argument("--model", default=None,
                        help="weights file (default: $MSPVIEWER_MODEL or the shipped model)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where the networks run (default cpu)")


def model_from_args(args):
    return load_model(args.model, device=resolve_device(args.device))


def tell(message: str) -> None:
    """A note for the user on stderr (stdout stays clean for --json)."""
    print(f"mspviewer: {message}", file=sys.stderr)


def writable_output(path: str | Path) -> Path:
    """``path`` as an output file, refused *before* any work when it cannot be written
    (a missing folder, a folder in its place): an evaluation is not lost to a typo."""
    path = Path(path)
    if path.is_dir():
        raise MSPViewerError(f"output {path} is a folder, not a file")
    if not path.resolve().parent.is_dir():
        raise MSPViewerError(f"the folder of output {path} does not exist")
    return path


def pixel_limit(maximum: int):
    """An argparse type: an integer number of pixels in 1 … ``maximum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be between 1 and {maximum:,}")
        return value
    return parse
