"""Training crops: random crop, flip and downscale, drawn deterministically from the step.

Every batch is a pure function of (seed, step, rank), so a resumed run sees exactly the
batches it would have seen without the interruption, and DDP ranks see different crops.
Images are decoded once and held in memory as uint8 (the training pool is ~0.34 GB decoded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mspviewer.errors import TrainingError
from mspviewer.imageio import load_image

# Fewer than the tool reads (mspviewer.formats): a run's data order follows the files found,
# and a wider list would change what a resumed run reads from a folder it began on.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


def list_images(folder: str | Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise TrainingError(f"training data folder {folder} does not exist")
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise TrainingError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return paths


class CropSampler:
    def __init__(self, paths: list[Path], crop: int, seed: int, min_scale: float = 0.5):
        self.crop = crop
        self.seed = seed
        self.min_scale = min_scale
        self.images = [load_image(p).pixels for p in paths]
        self.images = [im for im in self.images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise TrainingError(f"no training image has both sides >= {crop} px "
                                f"(the crop size)")

    def generator(self, step: int, rank: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, step, rank])

    def batch(self, step: int, batch_size: int, rank: int = 0) -> torch.Tensor:
        rng = self.generator(step, rank)
        crops = [self._crop(rng) for _ in range(batch_size)]
        array = np.stack(crops).astype(np.float32) / 255.0
        return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        image = self.images[rng.integers(len(self.images))]
        height, width = image.shape[:2]
        # Random downscaling: take a larger window and shrink it, so the model also sees
        # the statistics of smaller (sharper) renderings of the same scenes.
        largest = min(height, width) / self.crop
        scale = rng.uniform(self.min_scale, 1.0) if largest >= 1 / self.min_scale else 1.0
        window = min(int(round(self.crop / scale)), height, width)
        top = rng.integers(height - window + 1)
        left = rng.integers(width - window + 1)
        patch = image[top:top + window, left:left + window]
        if window != self.crop:
            patch = np.asarray(Image.fromarray(patch).resize((self.crop, self.crop),
                                                              Image.BICUBIC))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        if rng.random() < 0.5:
            patch = patch[::-1]
        return np.ascontiguousarray(patch)
