"""How many latent channels carry the bits, per λ, over a folder of images.

For every image and λ of the ladder, the plain encoder (profile ``fast``) codes the image
and :mod:`mspviewer.codec.channel_usage` counts the channels that carry 50, 90 and 99 % of
the estimated bits and the inactive ones (under 0.01 bit per element). Printed per λ: the
mean bpp and the mean of each count over the images, and the channels that are among the
ten costliest in every image at that λ.

    python benchmarks/channel_usage.py                       # Kodak, the model's λ ladder
    python benchmarks/channel_usage.py IMAGES --lambdas 0.0018,0.0483 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from mspviewer.codec import encode_image, load_model
from mspviewer.codec.api import PLAIN_PROFILE
from mspviewer.codec.channel_usage import SUMMARY_SHARES, channel_usage
from mspviewer.imageio import load_image

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"
TOP = 10


def measure(model, images: list[Path], lambdas: list[float]) -> list[dict]:
    rows = []
    for lam in lambdas:
        counts, inactive, bpp, tops = [], [], [], []
        for path in images:
            result = encode_image(model, load_image(path).pixels, lam, PLAIN_PROFILE)
            usage = channel_usage(result.analysis)
            counts.append([usage.channels_for(f) for f in SUMMARY_SHARES])
            inactive.append(int(usage.inactive.sum()))
            bpp.append(result.analysis.bpp)
            tops.append(set(int(c) for c in usage.order[:TOP]))
            print(f"  λ={lam:g} {path.name}: {usage.describe()}", file=sys.stderr)
        mean_counts = np.mean(counts, axis=0)
        rows.append({
            "lambda": lam, "images": len(images), "mean_bpp": float(np.mean(bpp)),
            "mean_channels_for_share": {f"{round(100 * f)}%": float(c)
                                        for f, c in zip(SUMMARY_SHARES, mean_counts)},
            "mean_inactive": float(np.mean(inactive)),
            "top_in_every_image": sorted(set.intersection(*tops))})
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(KODAK), help="folder of PNG images")
    parser.add_argument("--lambdas", help="comma-separated λ (default: the model's ladder)")
    parser.add_argument("--model", help="weights file (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    lambdas = ([float(v) for v in args.lambdas.split(",")] if args.lambdas
               else list(model.config.rate.lambdas))
    images = sorted(Path(args.images).glob("*.png"))
    if not images:
        parser.error(f"no PNG images in {args.images}")
    rows = measure(model, images, lambdas)
    channels = model.config.transform.latent_channels
    print(f"{len(images)} images from {args.images}, model {model.name}, profile fast; "
          f"means over the images ({channels} channels)")
    print("| λ | bpp | channels for 50 % of the bits | 90 % | 99 % | inactive | "
          f"in every image's top {TOP} |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        shares = row["mean_channels_for_share"]
        print(f"| {row['lambda']:g} | {row['mean_bpp']:.3f} | {shares['50%']:.1f} | "
              f"{shares['90%']:.1f} | {shares['99%']:.1f} | {row['mean_inactive']:.1f} | "
              f"{', '.join(map(str, row['top_in_every_image'])) or '—'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
