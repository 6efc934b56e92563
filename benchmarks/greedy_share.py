"""What share of `max`'s gain its greedy search makes: J at the end of the gradient phase
against J at the end, per image, from the progress records of one encode each (the gradient
phase is seeded, so a second encode without the greedy search would repeat it exactly).

    python benchmarks/greedy_share.py IMAGE... [--lambda 0.013] [--crop 128x128] [--model M]

Prints one JSON line per image: J before LOF, after the gradient phase and at the end, each
phase's drop in percent of the first, the greedy trials and accepted batches, and the seconds
of each phase.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mspviewer.codec import load_model  # noqa: E402
from mspviewer.codec.api import encode_image_steps, run_steps  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402


def centre_crop(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = max(0, (pixels.shape[0] - height) // 2), max(0, (pixels.shape[1] - width) // 2)
    return np.ascontiguousarray(pixels[top:top + height, left:left + width])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+")
    parser.add_argument("--lambda", dest="lam", type=float, default=0.013)
    parser.add_argument("--crop", default="128x128", help="HEIGHTxWIDTH centre crop")
    parser.add_argument("--profile", default="max")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", help="weights file (default: the shipped model)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.crop.split("x"))
    model = load_model(args.model) if args.model else load_model()
    rows = []
    for path in args.images:
        pixels = centre_crop(load_image(path).pixels, height, width)
        records: list = []
        start = time.perf_counter()
        result = run_steps(encode_image_steps(model, pixels, args.lam, profile=args.profile),
                           progress=records.append)
        gradient = [r for r in records if r.phase == "gradient"]
        greedy = [r for r in records if r.phase == "greedy"]
        lof = result.lof
        after_gradient = min(r.best_J for r in gradient)
        gradient_s = gradient[-1].elapsed_s if gradient else 0.0
        rows.append({
            "image": Path(path).name, "lambda": args.lam, "crop": args.crop,
            "J_initial": lof.J_initial, "J_after_gradient": after_gradient,
            "J_best": lof.J_best,
            "gradient_drop_percent": 100 * (lof.J_initial - after_gradient) / lof.J_initial,
            "greedy_drop_percent": 100 * (after_gradient - lof.J_best) / lof.J_initial,
            "greedy_trials": len(greedy), "accepted": lof.accepted,
            "gradient_seconds": gradient_s,
            "greedy_seconds": (greedy[-1].elapsed_s - gradient_s) if greedy else 0.0,
            "encode_seconds": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
