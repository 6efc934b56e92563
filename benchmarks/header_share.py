"""How much the file header dilutes the profiles' BD-rates on small crops: the BD-rate of each
profile against ``fast`` from the rows of ``benchmarks/profiles_table.py``, on the whole file
(as the table gives it) and on the payload alone (file minus header).

The header is the same for every profile of an image size (48 bytes and one varint per MSP
pass: 76 B while no pass takes 512 B or more), so it adds a fixed number of bits to every
point of both curves. On a 128×128 crop that is several percent of the file and shrinks the
relative gain of a profile that saves payload bits; on a whole Kodak image (768×512) it is
0.15–2 % of a file, so the payload BD-rate of crops is the nearer estimate of what the same
profiles gain on whole images.

Rows written since this script exists carry their header's size (``header_bytes``). For an
older row it is the header of a ``fast`` encode of the same image, crop and λ, made here
(that encode must reproduce the ``fast`` row's rate exactly, or the model or images differ
and the script stops). A LOF row's header then differs from the one used only if LOF moved a
pass across a varint boundary (128 words); the largest pass of those encodes is printed to
show the margin.

    python benchmarks/header_share.py ROWS.jsonl --images DIR [--model M] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mspviewer.codec import encode_image, load_model  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from profiles_table import ANCHOR, centre_crop, summarise  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=Path, help="JSON-lines rows of profiles_table.py")
    parser.add_argument("--images", type=Path, required=True, help="the rows' image folder")
    parser.add_argument("--model", help="weights file (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    crops = {row["crop"] for row in rows}
    if len(crops) != 1 or len({row["model_id"] for row in rows}) != 1:
        raise SystemExit(f"{args.rows} mixes crops or models: one table's rows, please")
    crop = crops.pop()
    images = sorted({row["image"] for row in rows})
    lambdas = sorted({row["lambda_key"] for row in rows})
    profiles = [ANCHOR] + sorted({row["profile"] for row in rows} - {ANCHOR})
    torch.set_num_threads(args.threads)
    model = None
    pixels_of, headers, largest_pass = {}, {}, 0
    for image in images:
        pixels = centre_crop(load_image(args.images / image).pixels, crop)
        pixels_of[image] = pixels.shape[0] * pixels.shape[1]
        for lam in lambdas:
            own = [row for row in rows if row["image"] == image and row["lambda_key"] == lam]
            if all("header_bytes" in row for row in own):
                continue
            if model is None:
                model = load_model(args.model) if args.model else load_model()
            encoded = encode_image(model, pixels, lam)
            anchors = [row for row in own if row["profile"] == ANCHOR]
            if len(anchors) != 1:
                raise SystemExit(f"{image} at λ={lam:g}: {len(anchors)} fast rows, not one: "
                                 "the header of an older row comes from its fast encode")
            [anchor] = anchors
            if encoded.analysis.bpp != anchor["bpp"]:
                raise SystemExit(f"{image} at λ={lam:g}: fast gives {encoded.analysis.bpp} "
                                 f"bpp here and {anchor['bpp']} in the rows: another model "
                                 "or other images")
            headers[image, lam] = encoded.analysis.header_bytes
            largest_pass = max(largest_pass,
                               max(p.actual_bytes for p in encoded.analysis.passes))

    def header_bits_per_pixel(row) -> float:
        header = row.get("header_bytes", headers.get((row["image"], row["lambda_key"])))
        return 8 * header / pixels_of[row["image"]]

    payload_rows = [dict(row, bpp=row["bpp"] - header_bits_per_pixel(row)) for row in rows]
    on_file = summarise(rows, profiles, images, lambdas)
    on_payload = summarise(payload_rows, profiles, images, lambdas)
    shares = [header_bits_per_pixel(row) / row["bpp"] for row in rows]
    result = {"rows": str(args.rows), "crop": crop, "images": len(images), "lambdas": lambdas,
              "header_share_percent": 100 * statistics.fmean(shares),
              "largest_pass_bytes": largest_pass or None, "profiles": {}}
    print(f"{len(images)} images, crop {crop}, λ {', '.join(f'{lam:g}' for lam in lambdas)}; "
          f"the header is {result['header_share_percent']:.2f} % of a file on average")
    print("| profile | BD-rate vs fast, file (mean curve / mean of images) "
          "| BD-rate vs fast, payload (mean curve / mean of images) |")
    print("| --- | --- | --- |")
    for profile in profiles[1:]:
        entry = {kind: {"mean_curve": summary[profile]["bd_rate_mean_curve"],
                        "mean_of_images": summary[profile]["bd_rate_per_image"]}
                 for kind, summary in (("file", on_file), ("payload", on_payload))}
        result["profiles"][profile] = entry
        cells = [" / ".join("—" if v is None else f"{v:.2f} %" for v in part.values())
                 for part in entry.values()]
        print(f"| {profile} | {cells[0]} | {cells[1]} |")
    if largest_pass:
        print(f"largest pass of the fast encodes: {largest_pass} B (a header grows by a "
              "byte where a pass reaches 512 B)")
    if largest_pass >= 512:
        print("warning: a pass of 512 B or more: a LOF row's header may differ by a byte from "
              "the fast encode's used for it", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
