"""A small copy of the training pool, to carry to a lent GPU machine.

What travels to the device machine (working tree plus carried paths) must fit in 64 MiB,
and the pool is 138 MB of PNG. The pack takes square tiles at the images' own resolution
(no resampling), round-robin over the images so that every image gives one tile before any
gives a second, and stores them as JPEG at quality 95 without chroma subsampling (40–50 dB,
mean 45 dB, on 10 of the pool's images; far above the 26–31 dB the model reconstructs at
its λ ladder), until the byte budget is reached. Tiles are placed at random, from ``--seed``,
so the pack is reproducible.

    python training/make_data_pack.py ../shared/data/train -o .gpu-data --budget-mb 11

Prints a JSON summary (files, bytes, images covered).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mspviewer.errors import TrainingError  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from mspviewer.train.data import list_images  # noqa: E402


def tile_positions(height: int, width: int, tile: int, count: int,
                   rng: np.random.Generator) -> list[tuple[int, int]]:
    return [(int(rng.integers(height - tile + 1)), int(rng.integers(width - tile + 1)))
            for _ in range(count)]


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def make_pack(source: Path, output: Path, budget_bytes: int, tile: int = 320,
              quality: int = 95, seed: int = 0, max_rounds: int = 16) -> dict:
    """Tiles are named ``<index>-<stem>-t<round>.jpg`` (index in the sorted source list, so
    equal stems in different subfolders stay apart). ``output`` must be empty or new: a
    pack is written whole, never over an older one."""
    if output.exists() and any(output.iterdir()):
        raise TrainingError(f"{output} is not empty: a data pack is written into a new folder")
    images = []
    for index, path in enumerate(list_images(source)):
        pixels = load_image(path).pixels
        height, width = pixels.shape[:2]
        if min(height, width) < tile:
            continue
        rng = np.random.default_rng([seed, index])
        images.append((f"{index:04d}-{path.stem}", pixels,
                       tile_positions(height, width, tile, max_rounds, rng)))
    if not images:
        raise TrainingError(f"no image in {source} has both sides >= {tile} px (the tile)")
    output.mkdir(parents=True, exist_ok=True)
    written, total, covered = [], 0, set()
    for round_index in range(max_rounds):
        for stem, pixels, positions in images:
            top, left = positions[round_index]
            data = jpeg_bytes(np.ascontiguousarray(pixels[top:top + tile, left:left + tile]),
                              quality)
            if total + len(data) > budget_bytes:
                return _summary(output, written, total, covered, len(images), round_index)
            name = f"{stem}-t{round_index}.jpg"
            (output / name).write_bytes(data)
            written.append(name)
            total += len(data)
            covered.add(stem)
    return _summary(output, written, total, covered, len(images), max_rounds)


def _summary(output, written, total, covered, usable, rounds) -> dict:
    return {"output": str(output), "files": len(written), "bytes": total,
            "images_covered": len(covered), "usable_images": usable,
            "complete_rounds": rounds}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of training images")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--budget-mb", type=float, default=11.0,
                        help="at most this many MB (default 11: what the working tree leaves of "
                             "the 64 MiB that travel, training/README.md)")
    parser.add_argument("--tile", type=int, default=320, help="tile side in pixels")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        summary = make_pack(args.source, args.output, int(args.budget_mb * 1e6), args.tile,
                            args.quality, args.seed)
    except TrainingError as error:
        parser.exit(2, f"make_data_pack: error: {error}\n")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
