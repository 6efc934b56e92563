"""How good the λ past the trained range are: plain (``fast``) encodes of every image of a folder
at both ends of the model's usable λ range, against the trained ends beside them.

A model's gains are extrapolated up to 2× past each end of its trained λ ladder
(``mspviewer.codec.gain``). This checks, image by image, that the extrapolated operating points
carry on the trained curve. Each segment between two λ is measured by its slope in dB per bpp
set against the slope the Lagrangian of its λ predicts for an encoder that minimises
J = R + λ·255²·MSE exactly: dR = −λ·255²·dMSE, so dPSNR/dR = (10 / ln 10) / (λ·255²·MSE),
taken at the segment's geometric-mean λ and mean PSNR. A ratio near the adjacent trained
segment's says the extrapolated points are as good a trade as the trained ones; the rates and
PSNRs must also keep rising with λ.

    python benchmarks/lambda_extrapolation.py ../shared/data/kodak [--limit N] [--threads 1]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_folder import add_folder_arguments, open_folder  # noqa: E402
from mspviewer.codec import encode_image  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from mspviewer.metrics import psnr_rgb  # noqa: E402


def probe_lambdas(model) -> list[float]:
    """Past the bottom, the bottom two trained λ, the top two, past the top (ascending)."""
    ladder = model.config.rate.lambdas
    if len(ladder) < 4:  # the two trained segments compared would overlap
        raise SystemExit(f"this benchmark needs a λ ladder of 4 or more, the model has "
                         f"{len(ladder)}")
    usable_low, usable_high = model.config.usable_lambda_range
    return [usable_low, ladder[0], ladder[1], ladder[-2], ladder[-1], usable_high]


def lagrangian_ratio(lower: tuple[float, float], upper: tuple[float, float],
                     lam_lower: float, lam_upper: float) -> float:
    """A segment's slope (dB per bpp) over the slope an exact minimiser of J would have; NaN
    where the rate did not move (no slope to measure)."""
    (bpp_a, psnr_a), (bpp_b, psnr_b) = lower, upper
    if bpp_b == bpp_a:
        return math.nan
    slope = (psnr_b - psnr_a) / (bpp_b - bpp_a)
    lam = math.sqrt(lam_lower * lam_upper)
    mse = 10 ** (-(psnr_a + psnr_b) / 20)  # [0, 1] scale, at the mean PSNR
    return slope / (10 / math.log(10) / (lam * 255 ** 2 * mse))


#: the segments compared: (name, index of its lower λ in probe_lambdas)
SEGMENTS = (("past the bottom", 0), ("trained bottom", 1), ("trained top", 3),
            ("past the top", 4))


def measure(model, path: Path, lambdas: list[float]) -> dict:
    pixels = load_image(path).pixels
    points = []
    for lam in lambdas:
        encoded = encode_image(model, pixels, lam)
        points.append((8 * len(encoded.bitstream) / (pixels.shape[0] * pixels.shape[1]),
                       psnr_rgb(pixels, encoded.reconstruction)))
    ratios = {name: lagrangian_ratio(points[i], points[i + 1], lambdas[i], lambdas[i + 1])
              for name, i in SEGMENTS}
    rising = all(a[0] < b[0] and a[1] < b[1] for a, b in zip(points, points[1:]))
    return {"image": path.name, "points": points, "rising": rising, "ratios": ratios}


def _finite_mean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def _ratio_text(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "—"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_folder_arguments(parser)
    args = parser.parse_args(argv)

    model, paths = open_folder(args)
    lambdas = probe_lambdas(model)
    print(f"model {model.name} ({model.card.get('training_steps', '?')} training steps), "
          f"profile fast, λ " + ", ".join(f"{lam:g}" for lam in lambdas)
          + " (the first and last extrapolated)")
    names = [name for name, _ in SEGMENTS]
    print("| image | " + " | ".join(names) + " | rising |")
    print("| --- " * (len(names) + 2) + "|")
    rows = []
    for path in paths:
        row = measure(model, path, lambdas)
        rows.append(row)
        print(f"| {row['image']} | " + " | ".join(_ratio_text(row['ratios'][n]) for n in names)
              + f" | {'yes' if row['rising'] else 'NO'} |", flush=True)
    summary = {
        "images": len(rows), "rising": sum(r["rising"] for r in rows),
        "mean_ratio": {n: _finite_mean(r["ratios"][n] for r in rows) for n in names},
        "mean_bpp": [statistics.fmean(r["points"][i][0] for r in rows)
                     for i in range(len(lambdas))],
        "mean_psnr": [statistics.fmean(r["points"][i][1] for r in rows)
                      for i in range(len(lambdas))],
    }
    print("\nslope over the Lagrangian's, mean of images: "
          + ", ".join(f"{n} {_ratio_text(summary['mean_ratio'][n])}" for n in names))
    print(f"rates and PSNRs rising with λ on {summary['rising']} of {summary['images']} images")
    print("mean bpp / PSNR-RGB by λ: " + ", ".join(
        f"{lam:g}: {b:.4f} / {p:.2f} dB"
        for lam, b, p in zip(lambdas, summary["mean_bpp"], summary["mean_psnr"])))
    result = {"model": model.name, "lambdas": lambdas, "rows": rows, "summary": summary}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
