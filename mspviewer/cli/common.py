"""Helpers shared by the sub-commands: model loading, device choice, notes to the user."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mspviewer.codec import default_model_path, load_model, resolve_device
from mspviewer.errors import BitstreamError, MSPViewerError


def add_model_arguments(parser) -> None:
    parser.add_argument("--model", default=None,
                        help="weights file (default: $MSPVIEWER_MODEL or the shipped model)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where the networks run (default cpu)")
    add_threads_argument(parser)


#: More threads than any machine has cores (torch takes a C int: 2**31 crashed it).
MAX_THREADS = 4096


def add_threads_argument(parser) -> None:
    parser.add_argument("--threads", type=integer_type(1, MAX_THREADS), metavar="N",
                        help="CPU threads for the networks (default: PyTorch's, one per "
                             "core; 1 on a machine busy with other work, where more threads "
                             "wait on each other)")


def apply_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch's operations (None: leave PyTorch's choice).
    The coding passes run on one thread whatever this is (model.coding_arithmetic)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def model_from_args(args):
    return load_model(args.model, device=resolve_device(args.device))


def header_lambda(lam: float) -> float:
    """λ as the header stores it (float32), printed as the shortest decimal that is that
    float32: 0.0067, not 0.0066999997943639755. Display only: the codec keeps the float32."""
    import numpy as np

    return float(str(np.float32(lam)))


def tell(message: str) -> None:
    """A note for the user on stderr (stdout stays clean for --json)."""
    print(f"mspviewer: {message}", file=sys.stderr)


def model_file(args) -> Path:
    """The weights file a command reads: ``--model``, else $MSPVIEWER_MODEL or the shipped
    model. An input like the image or the bitstream: no output of the command may replace
    it (``encode img.png -o m.pt --model m.pt`` would trade the weights for a bitstream)."""
    return Path(args.model) if args.model else default_model_path()


def writable_output(path: str | Path, *inputs: str | Path, create_folders: bool = False) -> Path:
    """``path`` as an output file, refused *before* any work when it cannot be written (a
    missing folder, a folder in its place, a file where a folder should be, no permission)
    or when it is one of ``inputs`` (writing it would destroy what is being read): an
    evaluation is not lost to a typo. With ``create_folders`` a missing folder is not an
    error (the writer creates it); the nearest existing folder above it is probed instead."""
    path = Path(path)
    if path.is_dir():
        raise MSPViewerError(f"output {path} is a folder, not a file")
    folder = _existing_folder(path.resolve().parent, path, create_folders)
    _refuse_overwriting(path, inputs)
    _probe(folder, path)
    return path


def writable_folder(path: str | Path, *inputs: str | Path, names: Iterable[str] = ()) -> Path:
    """``path`` as an output folder (the writer creates it if missing) that receives the
    files ``names``, refused before any work like :func:`writable_output`: a file in its
    place or above it, no permission, or one of those files is one of ``inputs``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MSPViewerError(f"output {path} is a file, not a folder")
    folder = _existing_folder(path.resolve(), path, create_folders=True)
    for name in names:
        _refuse_overwriting(path / name, inputs)
    _probe(folder, path)
    return path


def _existing_folder(folder: Path, path: Path, create_folders: bool) -> Path:
    """The folder an output ``path`` is written in, or with ``create_folders`` the nearest
    existing one above it (the one a missing folder would be created in)."""
    if create_folders:
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            raise MSPViewerError(f"output {path}: {folder} is a file, not a folder")
    elif not folder.is_dir():
        raise MSPViewerError(f"the folder of output {path} does not exist")
    return folder


def _refuse_overwriting(path: Path, inputs) -> None:
    """Refuse an output file that is one of ``inputs`` or that is read-only."""
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise MSPViewerError(f"output {path} is the input {source}; writing it would "
                                 "destroy the input, choose another output name")
    if path.exists() and not os.access(path, os.W_OK):
        raise MSPViewerError(f"cannot write {path}: the file is read-only")


def _probe(folder: Path, path: Path) -> None:
    try:  # the only sure test of a folder: permissions, read-only or special file systems
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mspviewer-probe-"):
            pass
    except OSError as error:
        raise MSPViewerError(f"cannot write output {path}: {error.strerror or error}") from None


def integer_type(minimum: int, maximum: int | None = None):
    """An argparse type: an integer in ``minimum`` … ``maximum`` (no upper bound if None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value}")
        return value
    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0 (refuses 0, negatives, nan and inf)."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def listed(parse=str, nargs: str = "+") -> dict:
    """argparse keywords of a list option given space- or comma-separated, or both mixed:
    ``--lambdas 0.004 0.013``, ``--lambdas 0.004,0.013``, ``--lambdas "0.004 0.013"`` (every
    command takes each, as ``--codecs`` always did). Each value goes through ``parse``; with
    ``nargs="*"`` the option alone means an empty list. The list takes every word up to the
    next option, so a file named after it is taken for a value: the error says so."""
    class SplitList(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            parsed = []
            for part in (p for value in values for p in re.split(r"[,\s]+", value) if p):
                try:
                    parsed.append(parse(part))
                except (argparse.ArgumentTypeError, ValueError) as error:
                    hint = (f" ({part} is taken for one of its values: put it before "
                            f"{option_string})" if os.path.exists(part) else "")
                    parser.error(f"argument {option_string}: {error}{hint}")
            if nargs == "+" and not parsed:
                parser.error(f"argument {option_string}: expected at least one value")
            setattr(namespace, self.dest, parsed)
    return {"nargs": nargs, "action": SplitList}


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1 (a relative tolerance)."""
    value = _number(text)
    if not 0 < value < 1:  # (false for nan too)
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text}")
    return value


def pixel_limit(maximum: int):
    """An argparse type: an integer number of pixels in 1 … ``maximum``."""
    return integer_type(1, maximum)


@contextmanager
def about_bitstream(path: str | Path) -> Iterator[None]:
    """A :class:`BitstreamError` raised inside names the file ``path`` it is about (``diff``
    reads two: "B.msp: bitstream is truncated …"), of the same class."""
    try:
        yield
    except BitstreamError as error:
        raise type(error)(f"{path}: {error}") from None
