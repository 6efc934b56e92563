"""Rate control on a folder of images: how close ``--bpp TARGET`` lands, in how many probes.

For every image, ``encode_to_bpp`` (the code behind ``mspviewer encode --bpp``) searches λ
for the target; the file written (header included) is measured against it. Prints one row
per image and a summary (within tolerance, mean and largest |error|, probes, seconds), marks
the images whose λ lies past the trained range (gains extrapolated, see
``mspviewer.codec.gain``), and names those whose target lies outside the model's usable range
(the encoder then returns the nearest end of that range and says so).

    python benchmarks/rate_control.py ../shared/data/kodak --bpp 0.5 [--profile fast]
        [--tolerance 0.03] [--limit N] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_folder import add_folder_arguments, open_folder  # noqa: E402
from mspviewer.codec.api import DEFAULT_BPP_TOLERANCE, encode_to_bpp  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402


def measure(model, path: Path, target: float, profile: str, tolerance: float) -> dict:
    pixels = load_image(path).pixels
    started = time.perf_counter()
    encoded = encode_to_bpp(model, pixels, target, profile, tolerance)
    seconds = time.perf_counter() - started
    height, width = pixels.shape[:2]
    bpp = 8 * len(encoded.bitstream) / (height * width)  # the file, header included
    low, high = model.config.usable_lambda_range
    lam = float(encoded.analysis.lam)
    at_end = "lowest" if lam <= low * (1 + 1e-6) else "highest" if lam >= high * (1 - 1e-6) \
        else None
    error = bpp / target - 1
    return {"image": path.name, "bpp": bpp, "error": error, "lambda": lam,
            "probes": len(encoded.rate_search or []), "seconds": seconds,
            "within": abs(error) <= tolerance,
            "extrapolated": model.rate_point(lam).extrapolated,
            "range_end": at_end if abs(error) > tolerance else None}


def summarise(rows: list[dict], tolerance: float) -> dict:
    reachable = [r for r in rows if r["range_end"] is None]
    return {
        "images": len(rows), "within_tolerance": sum(r["within"] for r in rows),
        "tolerance": tolerance,
        "mean_abs_error": sum(abs(r["error"]) for r in reachable) / max(len(reachable), 1),
        "max_abs_error": max((abs(r["error"]) for r in reachable), default=0.0),
        "mean_probes": sum(r["probes"] for r in rows) / max(len(rows), 1),
        "mean_seconds": sum(r["seconds"] for r in rows) / max(len(rows), 1),
        "extrapolated": [r["image"] for r in rows if r["extrapolated"]],
        "outside_range": {r["image"]: f"{r['bpp']:.4f} bpp at the {r['range_end']} λ"
                          for r in rows if r["range_end"]},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_folder_arguments(parser)
    parser.add_argument("--bpp", type=float, default=0.5)
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_BPP_TOLERANCE)
    args = parser.parse_args(argv)

    model, paths = open_folder(args)
    print(f"model {model.name} ({model.card.get('training_steps', '?')} training steps), "
          f"target {args.bpp} bpp ±{args.tolerance:.0%}, profile {args.profile}")
    print("| image | bpp (file) | error | λ | probes | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for path in paths:
        row = measure(model, path, args.bpp, args.profile, args.tolerance)
        rows.append(row)
        note = f" (the {row['range_end']} λ of the model)" if row["range_end"] else ""
        past = " (extrapolated)" if row["extrapolated"] else ""
        print(f"| {row['image']} | {row['bpp']:.4f} | {row['error']:+.2%}{note} | "
              f"{row['lambda']:.5f}{past} | {row['probes']} | {row['seconds']:.1f} |",
              flush=True)
    summary = summarise(rows, args.tolerance)
    print(f"\n{summary['within_tolerance']} of {summary['images']} within ±{args.tolerance:.0%}; "
          f"reachable targets: mean |error| {summary['mean_abs_error']:.2%}, largest "
          f"{summary['max_abs_error']:.2%}; {summary['mean_probes']:.1f} probes and "
          f"{summary['mean_seconds']:.1f} s per image on average")
    if summary["extrapolated"]:
        print(f"past the trained range (gains extrapolated): {', '.join(summary['extrapolated'])}")
    for image, reason in summary["outside_range"].items():
        print(f"outside the model's range: {image}, {reason}")
    result = {"model": model.name, "target_bpp": args.bpp, "profile": args.profile,
              "rows": rows, "summary": summary}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
