"""``mspviewer encode IMAGE -o OUT.msp [--lambda L | --bpp TARGET] [--profile P]``."""

from __future__ import annotations

import sys
from pathlib import Path

from mspviewer import metrics
from mspviewer.cli.common import (add_model_arguments, fraction, header_lambda, model_file,
                                  model_from_args, pixel_limit, positive_number, tell,
                                  writable_output)
from mspviewer.codec import encode_image
from mspviewer.codec.api import DEFAULT_BPP_TOLERANCE, MAX_ENCODABLE_PIXELS, encode_to_bpp
from mspviewer.codec.bitstream import MAX_CODED_PIXELS
from mspviewer.codec.config import LAMBDA_EXTRAPOLATION_FACTOR
from mspviewer.codec.profiles import DEFAULT_PROFILE, get_profile, profile_names
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_output
from mspviewer.formats import IMAGE_SUFFIXES
from mspviewer.imageio import load_image

DEFAULT_LAMBDA = 0.0067



def _profile_list() -> str:
    """The profiles' names for the help text; a broken profiles file is reported when a
    command uses a profile, not by every command as the parser is built."""
    try:
        return ", ".join(profile_names())
    except MSPViewerError:
        return "see `mspviewer profiles`"

def register(subparsers) -> None:
    parser = subparsers.add_parser("encode", help="encode an image into an .msp bitstream")
    parser.add_argument("image")
    parser.add_argument("-o", "--output", required=True, help="output .msp file")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--lambda", dest="lam", type=float, default=None, metavar="L",
                      help=f"rate-distortion trade-off (default {DEFAULT_LAMBDA}); up to "
                           f"{LAMBDA_EXTRAPOLATION_FACTOR:g}× past the model's trained range, "
                           f"with extrapolated gains")
    # Refused by the parser, not after the model has loaded (λ's range is the model's).
    rate.add_argument("--bpp", dest="target_bpp", type=positive_number, default=None,
                      metavar="TARGET",
                      help="target bits per pixel of the file: λ is searched by bisection")
    # (default None, not the value: given without --bpp, even at the default, it is named)
    parser.add_argument("--bpp-tolerance", type=fraction, default=None,
                        metavar="T",
                        help=f"relative tolerance of --bpp (default {DEFAULT_BPP_TOLERANCE})")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="P",
                        help=f"encoding profile: {_profile_list()} "
                             f"(default {DEFAULT_PROFILE}; see `mspviewer profiles`)")
    parser.add_argument("--time-budget", type=positive_number, default=None, metavar="S",
                        help="seconds LOF may take (each LOF run, with --bpp); then it "
                             "stops with the best latent so far (default: the profile's, "
                             "none for the shipped ones)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar for the latent optimisation")
    # The format's own limit caps it: a larger image would give a file no decoder reads.
    parser.add_argument("--max-pixels", type=pixel_limit(MAX_CODED_PIXELS),
                        default=MAX_ENCODABLE_PIXELS,
                        help="largest image accepted, in pixels")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


class _ProgressBar:
    """tqdm bar on stderr for LOF iterations; one bar per LOF run (--bpp runs several)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.runs = 0

    def __call__(self, progress) -> None:
        if not self.enabled:
            return
        if self.bar is None or progress.iteration == 1:
            self.close()
            from tqdm import tqdm

            self.runs += 1
            self.bar = tqdm(total=progress.total or None, file=sys.stderr, unit="it",
                            desc="LOF" if self.runs == 1 else f"LOF (probe {self.runs})",
                            dynamic_ncols=True, leave=False)
        self.bar.set_postfix_str(
            f"{progress.phase} J={progress.J:.4f} best={progress.best_J:.4f} "
            f"bpp={progress.bpp:.3f} psnr={progress.psnr:.2f}"
            + (f" lr={progress.learning_rate:.2g}" if progress.learning_rate else "")
            + (f" τ={progress.temperature:.2g}" if progress.temperature else ""),
            refresh=False)
        self.bar.update(progress.iteration - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def check_bitstream_name(output: str) -> None:
    """Refuse an output named as an image (``-o out.png``): the file would hold an .msp
    bitstream that no image viewer opens. Any other name, with no suffix too, is allowed."""
    if Path(output).suffix.lower() in IMAGE_SUFFIXES:
        raise MSPViewerError(f"-o {output}: a bitstream goes to a .msp file "
                             f"({Path(output).name} names an image)")


def run(args) -> dict:
    profile = get_profile(args.profile)  # refuse an unknown name before loading anything
    if args.time_budget is not None and not profile.uses_lof:
        tell(f"--time-budget has no effect: profile {profile.name} runs no LOF")
    if args.bpp_tolerance is not None and args.target_bpp is None:
        tell("--bpp-tolerance has no effect without --bpp")
    tolerance = DEFAULT_BPP_TOLERANCE if args.bpp_tolerance is None else args.bpp_tolerance
    profile = profile.with_time_budget(args.time_budget)
    output = writable_output(args.output, args.image, model_file(args))
    check_bitstream_name(args.output)  # after: an output that is an input says so first
    image = load_image(args.image, max_pixels=args.max_pixels)
    for note in image.notes:
        tell(note)
    model = model_from_args(args)
    bar = _ProgressBar(profile.uses_lof and not args.no_progress)
    try:
        if args.target_bpp is not None:
            encoded = encode_to_bpp(model, image.pixels, args.target_bpp, profile,
                                    tolerance, progress=bar)
        else:
            lam = DEFAULT_LAMBDA if args.lam is None else args.lam
            encoded = encode_image(model, image.pixels, lam, profile, progress=bar)
    finally:
        bar.close()
    write_output(output, encoded.bitstream)
    record = encoded.analysis
    extrapolated = model.extrapolation_note(record.lam)
    if extrapolated:
        tell(extrapolated)
    result = {
        "input": args.image, "output": args.output, "model": model.name,
        "profile": encoded.profile,
        "lambda": header_lambda(record.lam), "width": image.width, "height": image.height,
        "file_bytes": len(encoded.bitstream), "bpp": record.bpp,
        "psnr_rgb": metrics.psnr_rgb(image.pixels, encoded.reconstruction),
        "psnr_y": metrics.psnr_y(image.pixels, encoded.reconstruction),
        "estimated_payload_bits": record.estimated_bits,
        "actual_payload_bits": record.actual_bits, "header_bytes": record.header_bytes,
        "encode_s": encoded.encode_seconds, "notes": list(image.notes),
        "lambda_extrapolated": extrapolated is not None,
    }
    if encoded.lof is not None:
        result["lof"] = encoded.lof.summary()
    if args.target_bpp is not None:
        result["target_bpp"] = args.target_bpp
        result["bpp_error_percent"] = 100 * (record.bpp / args.target_bpp - 1)
        result["rate_search"] = encoded.rate_search
        if abs(record.bpp / args.target_bpp - 1) > tolerance:
            tell(f"{record.bpp:.4f} bpp is the closest this model gets to {args.target_bpp} "
                 f"bpp (λ={record.lam:g}, tolerance ±{100 * tolerance:g} %)")
    return result
