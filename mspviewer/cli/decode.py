"""``mspviewer decode IN.msp -o OUT.png``."""

from __future__ import annotations

from pathlib import Path

from mspviewer.cli.common import add_model_arguments, model_from_args, writable_output
from mspviewer.codec import decode_bytes
from mspviewer.errors import BitstreamError
from mspviewer.imageio import save_png


def register(subparsers) -> None:
    parser = subparsers.add_parser("decode", help="decode an .msp bitstream to PNG")
    parser.add_argument("bitstream")
    parser.add_argument("-o", "--output", required=True, help="output PNG")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def read_bitstream(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise BitstreamError(f"cannot read {path}: {error.strerror}") from None


def run(args) -> dict:
    data = read_bitstream(args.bitstream)
    writable_output(args.output)
    model = model_from_args(args)
    decoded = decode_bytes(model, data)
    save_png(decoded.pixels, args.output)
    height, width = decoded.pixels.shape[:2]
    return {"input": args.bitstream, "output": args.output, "model": model.name,
            "width": width, "height": height, "bpp": decoded.analysis.bpp,
            "decode_seconds": decoded.decode_seconds}
