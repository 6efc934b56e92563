"""Dataset evaluation of the learned codec (and of classic codecs measured live).

Per image and per λ: bpp from the real bitstream (whole file), PSNR-RGB, PSNR-Y, MS-SSIM of
the *decoded* image, encode and decode time. Dataset curves average each quantity over the
images at a fixed λ (or quality), the convention of the published Kodak anchors. BD-rates
compare the mean curve with any RD curve: published anchors or codecs measured here.
Qt-free; used by ``mspviewer eval`` and ``mspviewer report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mspviewer import rd
from mspviewer.imageio import load_image

METRIC_KEYS = ("bpp", "psnr_rgb", "psnr_y", "ms_ssim", "encode_s", "decode_s")


def mean_curve(name: str, label: str, per_image: list[rd.RDCurve], **extra) -> rd.RDCurve:
    """Average the i-th point of every image's curve (same λ or quality on every image)."""
    lengths = {len(curve.points) for curve in per_image}
    if len(lengths) != 1:
        raise ValueError("every image must have the same number of points")
    points = []
    for index in range(lengths.pop()):
        column = [curve.points[index] for curve in per_image]
        means = {}
        for key in METRIC_KEYS:
            values = [getattr(p, key) for p in column if getattr(p, key) is not None]
            means[key] = float(np.mean(values)) if len(values) == len(column) else None
        points.append(rd.RDPoint(quality=column[0].quality, **means))
    return rd.RDCurve(name=name, label=label, points=points, source="measured", **extra)


def learned_curve(model, pixels: np.ndarray, lambdas: Iterable[float], profile: str,
                  on_point: Callable[[rd.RDPoint], None] | None = None,
                  with_ms_ssim: bool = True) -> rd.RDCurve:
    """The learned codec on one image: encode at each λ with ``profile``, decode the real
    bitstream, measure the decoded pixels (encode time includes the profile's LOF)."""
    from mspviewer.codec import decode_bytes, encode_image

    curve = rd.RDCurve(name="msp", label=f"MSP ({profile})", family="learned")
    for lam in lambdas:
        encoded = encode_image(model, pixels, lam, profile=profile)
        decoded = decode_bytes(model, encoded.bitstream)
        point = rd.evaluate_reconstruction(
            pixels, decoded.pixels, len(encoded.bitstream), quality=float(lam),
            encode_s=encoded.encode_seconds, decode_s=decoded.decode_seconds,
            with_ms_ssim=with_ms_ssim)
        curve.points.append(point)
        if on_point is not None:
            on_point(point)
    return curve


def evaluate(model, image_paths: list[Path], lambdas: list[float], profile: str = "fast",
             classic: Iterable[str] = ("webp",), anchors: Iterable[str] = ("vtm",),
             progress: bool = True) -> dict:
    """The whole evaluation as a JSON-ready document (see ``mspviewer eval``)."""
    from tqdm import tqdm

    from mspviewer.baselines.registry import get_codec

    codecs = [get_codec(name) for name in classic]
    codecs = [codec for codec in codecs if codec.is_available()]
    steps = len(image_paths) * (len(lambdas) + sum(len(c.default_qualities) for c in codecs))
    bar = tqdm(total=steps, desc="eval", disable=not progress, dynamic_ncols=True)
    learned, measured = [], {codec.name: [] for codec in codecs}
    images = []
    for path in image_paths:
        pixels = load_image(path).pixels
        bar.set_description(f"eval {Path(path).name}")
        curve = learned_curve(model, pixels, lambdas, profile,
                              on_point=lambda _point: bar.update(1))
        learned.append(curve)
        images.append({"image": Path(path).name, "height": pixels.shape[0],
                       "width": pixels.shape[1], "points": curve.to_dict()["points"]})
        for codec in codecs:
            measured[codec.name].append(rd.sweep(codec, pixels,
                                                 on_point=lambda _p: bar.update(1)))
    bar.close()
    mean = mean_curve("msp", f"MSP ({profile})", learned, family="learned",
                      settings={"profile": profile, "model": model.name})
    live = {name: mean_curve(name, curves[0].label + " (measured)", curves,
                             family=curves[0].family,
                             library_version=curves[0].library_version,
                             settings=curves[0].settings)
            for name, curves in measured.items() if curves}
    references = {f"{name} (measured)": curve for name, curve in live.items()}
    for anchor in anchors:
        references[f"{anchor} (published)"] = rd.load_published_anchor(anchor)
    bd = {label: rd.bd_curves(reference, mean, "psnr_rgb")
          for label, reference in references.items()}
    return {
        "format": "mspviewer-eval", "version": 1,
        "model": {"name": model.name, "id": model.model_id().hex(),
                  "card": getattr(model, "card", {})},
        "profile": profile, "lambdas": list(lambdas), "num_images": len(image_paths),
        "mean": mean.to_dict(), "classic_measured": {k: v.to_dict() for k, v in live.items()},
        "bd_rate_vs": bd, "images": images,
    }
