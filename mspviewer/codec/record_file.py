"""An analysis record as a NumPy ``.npz`` file, for scripts and notebooks without the model.

Every coded element's ŷ, μ, σ, model bits, symbol and pass, with the pass table and the
file's totals: ``numpy.load(path)`` reads it anywhere (no pickled objects, so
``allow_pickle=False`` works), and :func:`load_record` turns it back into an
:class:`~mspviewer.codec.analysis.AnalysisRecord` that the tools of this package
(:func:`~mspviewer.codec.channel_usage.channel_usage`,
:func:`~mspviewer.codec.inspection.inspect_element`, …) take as they take a decoded one.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib

import numpy as np

from mspviewer.codec.analysis import AnalysisRecord, PassStatistics
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_output

FORMAT_NAME = "mspviewer-analysis-record"
FORMAT_VERSION = 1
METADATA_KEY = "metadata_json"

#: the arrays, each (M, h, w) on the padded latent grid, with what they hold; the
#: descriptions travel in the file's metadata so that it explains itself
ARRAYS = {
    "y_hat": ("float32", "coded latent ŷ (gained domain)"),
    "mu": ("float32", "predicted mean μ of each element"),
    "sigma": ("float32", "predicted scale σ as coded (the σ table's value)"),
    "bits": ("float64", "model cost of each element, −log2 P(symbol), in bits"),
    "symbols": ("int32", "coded symbol round(ŷ − μ)"),
    "pass_index": ("int16", "index of the MSP pass that coded the element (see passes)"),
}


def record_npz_bytes(record: AnalysisRecord) -> bytes:
    """The record as the bytes of a compressed ``.npz`` file."""
    metadata = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "lambda": record.lam, "image_size": list(record.image_size),
        "padded_size": list(record.padded_size), "model_id": record.model_id,
        "header_bytes": record.header_bytes, "payload_bytes": record.payload_bytes,
        "sequential_passes": record.sequential_passes,
        "passes": [p.to_dict() for p in record.passes],
        "arrays": {name: f"{dtype} (channels, latent rows, latent columns): {text}"
                   for name, (dtype, text) in ARRAYS.items()},
    }
    arrays = {name: np.ascontiguousarray(getattr(record, name), dtype=dtype)
              for name, (dtype, _) in ARRAYS.items()}
    # JSON as bytes in a uint8 array: a string array would need no pickle either, but bytes
    # keep non-ASCII text (λ, μ, σ) exact whatever NumPy's string handling
    arrays[METADATA_KEY] = np.frombuffer(json.dumps(metadata, ensure_ascii=False)
                                         .encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save_record(record: AnalysisRecord, path: str | os.PathLike) -> None:
    """Write the record to ``path`` (``.npz``) whole or not at all."""
    write_output(path, record_npz_bytes(record))


# What NumPy and zipfile raise on a damaged archive: the zip structure (BadZipFile, OSError),
# the deflate stream inside it (zlib.error), a flipped compression method
# (NotImplementedError), a damaged .npy header (ValueError), a short member (EOFError).
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
               NotImplementedError)


def load_record(path: str | os.PathLike) -> AnalysisRecord:
    """Read a file written by :func:`save_record`; anything else (another ``.npz``, a
    truncated or corrupt file, inconsistent arrays) is refused with a one-line reason."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MSPViewerError(f"{path}: no such file") from None
    except _UNREADABLE as error:
        raise MSPViewerError(f"{path} is not a readable .npz file ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy holds one bare array
        raise MSPViewerError(f"{path} is a single NumPy array (.npy), not an .npz analysis "
                             "record")
    try:
        contents = {key: archive[key] for key in archive.files}
    except _UNREADABLE as error:
        raise MSPViewerError(f"{path} is not a readable .npz file ({error})") from None
    finally:
        archive.close()
    metadata = _metadata(path, contents)
    arrays = {}
    for name, (dtype, _) in ARRAYS.items():
        if name not in contents:
            raise MSPViewerError(f"{path}: the array {name!r} is missing")
        array = contents[name]
        if array.dtype != np.dtype(dtype) or array.ndim != 3:
            raise MSPViewerError(f"{path}: {name!r} is {array.dtype} with {array.ndim} "
                                 f"dimensions, expected {dtype} (channels, rows, columns)")
        arrays[name] = array
    _check_shapes(path, arrays, metadata)
    try:
        passes = [PassStatistics(**entry) for entry in metadata["passes"]]
        return AnalysisRecord(
            lam=float(metadata["lambda"]), image_size=tuple(metadata["image_size"]),
            padded_size=tuple(metadata["padded_size"]), passes=passes,
            header_bytes=int(metadata["header_bytes"]),
            payload_bytes=int(metadata["payload_bytes"]),
            sequential_passes=int(metadata["sequential_passes"]),
            model_id=str(metadata["model_id"]), **arrays)
    except (KeyError, TypeError, ValueError) as error:
        raise MSPViewerError(f"{path}: incomplete metadata ({type(error).__name__}: "
                             f"{error})") from None


def _metadata(path, contents: dict) -> dict:
    if METADATA_KEY not in contents:
        raise MSPViewerError(f"{path} is an .npz file but not an mspviewer analysis record "
                             f"(no {METADATA_KEY!r})")
    try:
        metadata = json.loads(contents[METADATA_KEY].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MSPViewerError(f"{path}: unreadable metadata ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise MSPViewerError(f"{path} is not an mspviewer analysis record")
    if metadata.get("version") != FORMAT_VERSION:
        raise MSPViewerError(f"{path}: analysis record version {metadata.get('version')!r}; "
                             f"this mspviewer reads version {FORMAT_VERSION}")
    return metadata


def _check_shapes(path, arrays: dict, metadata: dict) -> None:
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) != 1:
        raise MSPViewerError(f"{path}: the arrays differ in shape "
                             f"({', '.join(f'{k} {v.shape}' for k, v in arrays.items())})")
    _, rows, cols = shapes.pop()
    try:
        (height, width), (padded_height, padded_width) = (
            tuple(int(v) for v in metadata[key]) for key in ("image_size", "padded_size"))
    except (KeyError, TypeError, ValueError):
        raise MSPViewerError(f"{path}: the image and padded sizes are missing") from None
    # the grid must map onto the image: tools turn image pixels into latent positions with it
    if not (rows and cols and padded_height % rows == 0 and padded_width % cols == 0
            and padded_height // rows == padded_width // cols
            and 0 < height <= padded_height and 0 < width <= padded_width):
        raise MSPViewerError(f"{path}: a {rows}×{cols} latent grid does not fit the padded "
                             f"size {padded_height}×{padded_width} of a {height}×{width} image")
    passes = metadata.get("passes")
    if not isinstance(passes, list) or not passes:
        raise MSPViewerError(f"{path}: the pass table is missing")
    pass_index = arrays["pass_index"]
    if pass_index.size and not 0 <= int(pass_index.min()) <= int(pass_index.max()) \
            < len(passes):
        raise MSPViewerError(f"{path}: pass indices outside the {len(passes)} passes")
