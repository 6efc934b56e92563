"""``mspviewer diff A.msp B.msp``: two codings of one image, set against each other.

For an encoder change seen from the stream: the plain encoder against LOF, one profile or
build against another. Both files are decoded with the model; B is compared with A
(the reference) element by element (:mod:`mspviewer.codec.latent_change`): file sizes,
symbols changed and model bits per MSP scale, the mean latent shift, and how the decoded
images differ, with their PSNR when ``--original`` gives the image they code.
"""

from __future__ import annotations

import numpy as np

from mspviewer import metrics
from mspviewer.cli.common import (about_bitstream, add_model_arguments, header_lambda,
                                  model_from_args)
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.codec.latent_change import (compare_codings, identity_differences,
                                           stream_identity)
from mspviewer.errors import MSPViewerError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "diff", help="compare two .msp codings of one image (sizes, symbols, bits per scale)")
    parser.add_argument("reference", help="the .msp compared against (e.g. the plain encode)")
    parser.add_argument("bitstream", help="the .msp compared with it (e.g. the LOF encode)")
    parser.add_argument("--original", default=None,
                        help="the image both code, for the PSNR of each")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def _check_headers(reference, other) -> None:
    """Refuse, before decoding, two streams that are not codings of one image size by one
    model at one λ (what an element-by-element comparison needs)."""
    problems = [f"{what} ({a} in the reference, {b} in the other)"
                for what, a, b in identity_differences(stream_identity(reference),
                                                       stream_identity(other))]
    if problems:
        raise MSPViewerError("the two codings cannot be compared element by element: they "
                             "differ in " + ", ".join(problems))


def run(args) -> dict:
    data_reference = bitstream.read_file(args.reference)
    data = bitstream.read_file(args.bitstream)
    files = ((args.reference, data_reference), (args.bitstream, data))
    headers = []
    for path, stream in files:  # both valid, early; an error names the file it is about
        with about_bitstream(path):
            headers.append(bitstream.parse(stream)[0])
    _check_headers(*headers)
    original = None
    if args.original is not None:
        from mspviewer.imageio import load_image

        original = load_image(args.original).pixels
        size = (headers[0].height, headers[0].width)
        if original.shape[:2] != size:
            raise MSPViewerError(f"original is {original.shape[1]}×{original.shape[0]}, the "
                                 f"coded image {size[1]}×{size[0]}")
    model = model_from_args(args)
    decoded = []
    for path, stream in files:
        with about_bitstream(path):
            decoded.append(decode_bytes(model, stream))
    reference, compared = decoded
    change = compare_codings(compared.analysis, reference.analysis)
    difference = np.abs(compared.pixels.astype(np.int16) - reference.pixels.astype(np.int16))
    result = {
        "reference": args.reference, "bitstream": args.bitstream, "model": model.name,
        "lambda": header_lambda(reference.analysis.lam), "identical_files": data == data_reference,
        "change": change.to_dict(),
        "pixels_differing": int(np.count_nonzero(difference.max(axis=2))),
        "max_pixel_difference": int(difference.max(initial=0)),
    }
    if original is not None:
        result["psnr_rgb"] = {"reference": metrics.psnr_rgb(original, reference.pixels),
                              "bitstream": metrics.psnr_rgb(original, compared.pixels)}
    return result
