"""``mspviewer decode IN.msp -o OUT.png``: also reports the stream's λ and whether it lies
past the model's trained range (``lambda_extrapolated``), which only the model knows."""

from __future__ import annotations

from pathlib import Path

from mspviewer.cli.common import (about_bitstream, add_model_arguments, header_lambda,
                                  model_file, model_from_args, writable_output)
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_output
from mspviewer.imageio import encode_rgb8

# The decoded image is written losslessly, in the format its name asks for: a lossy format
# (JPEG, WebP) would hand the user an image that is not what the decoder produced.
LOSSLESS_FORMATS = {".png": "PNG", ".ppm": "PPM", ".pnm": "PPM", ".bmp": "BMP",
                    ".tif": "TIFF", ".tiff": "TIFF"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("decode", help="decode an .msp bitstream to a lossless "
                                                  "image (PNG, PPM, BMP, TIFF)")
    parser.add_argument("bitstream")
    parser.add_argument("-o", "--output", required=True,
                        help="output image: .png, or another lossless format by its suffix "
                             f"({', '.join(LOSSLESS_FORMATS)})")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in LOSSLESS_FORMATS:
        raise MSPViewerError(f"cannot write the decoded image as {Path(path).name!r}: name it "
                             f"with a lossless format's suffix ({', '.join(LOSSLESS_FORMATS)})")
    return LOSSLESS_FORMATS[suffix]


def run(args) -> dict:
    image_format = output_format(args.output)
    data = bitstream.read_file(args.bitstream)
    writable_output(args.output, args.bitstream, model_file(args))
    model = model_from_args(args)
    with about_bitstream(args.bitstream):
        decoded = decode_bytes(model, data)
    write_output(args.output, encode_rgb8(decoded.pixels, image_format))
    height, width = decoded.pixels.shape[:2]
    lam = decoded.analysis.lam
    return {"input": args.bitstream, "output": args.output, "model": model.name,
            "width": width, "height": height, "bpp": decoded.analysis.bpp,
            "lambda": header_lambda(lam),
            "lambda_extrapolated": model.rate_point(lam).extrapolated,
            "decode_s": decoded.decode_seconds}
