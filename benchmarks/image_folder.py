"""What the per-image benchmarks over a folder share (``rate_control``,
``lambda_extrapolation``): the folder and its options, the images in it, the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mspviewer.codec import load_model  # noqa: E402
from mspviewer.train.data import IMAGE_SUFFIXES  # noqa: E402


def add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder")
    parser.add_argument("--model", default=None, help="weights file (default: shipped model)")
    parser.add_argument("--limit", type=int, default=None, help="the first N images only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write rows and summary here")


def open_folder(args: argparse.Namespace):
    """The model (with ``--threads`` set) and the folder's images, sorted by name."""
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    paths = sorted(p for p in Path(args.folder).iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:args.limit]
    return model, paths
