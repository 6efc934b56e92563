"""``mspviewer encode IMAGE -o OUT.msp [--lambda L]``."""

from __future__ import annotations

from pathlib import Path

from mspviewer import metrics
from mspviewer.cli.common import add_model_arguments, model_from_args, tell
from mspviewer.codec import encode_image
from mspviewer.imageio import DEFAULT_MAX_PIXELS, load_image

DEFAULT_LAMBDA = 0.0067


def register(subparsers) -> None:
    parser = subparsers.add_parser("encode", help="encode an image into an .msp bitstream")
    parser.add_argument("image")
    parser.add_argument("-o", "--output", required=True, help="output .msp file")
    parser.add_argument("--lambda", dest="lam", type=float, default=DEFAULT_LAMBDA,
                        help=f"rate-distortion trade-off (default {DEFAULT_LAMBDA})")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> dict:
    image = load_image(args.image, max_pixels=args.max_pixels)
    for note in image.notes:
        tell(note)
    model = model_from_args(args)
    encoded = encode_image(model, image.pixels, args.lam)
    Path(args.output).write_bytes(encoded.bitstream)
    record = encoded.analysis
    return {
        "input": args.image, "output": args.output, "model": model.name,
        "lambda": record.lam, "width": image.width, "height": image.height,
        "bytes": len(encoded.bitstream), "bpp": record.bpp,
        "psnr_rgb": metrics.psnr_rgb(image.pixels, encoded.reconstruction),
        "psnr_y": metrics.psnr_y(image.pixels, encoded.reconstruction),
        "estimated_payload_bits": record.estimated_bits,
        "actual_payload_bits": record.actual_bits, "header_bytes": record.header_bytes,
        "encode_seconds": encoded.encode_seconds, "notes": list(image.notes),
    }
