"""Helpers shared by the sub-commands: model loading, device choice, notes to the user."""

from __future__ import annotations

import sys

from mspviewer.codec import load_model, resolve_device


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
