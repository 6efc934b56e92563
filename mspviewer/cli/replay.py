"""``mspviewer replay IN.msp -o replay.gif``: the image after each MSP decoding pass.

Frame k is synthesised from the elements of passes 0..k-1, the others at the means their
own, later passes predicted (a look ahead: the decoder does not have them at frame k);
written as an animated GIF, or as a PNG sequence when ``-o`` names a folder.
"""

from __future__ import annotations

from pathlib import Path

from mspviewer.cli.common import (about_bitstream, add_model_arguments, integer_type, model_file,
                                  model_from_args, writable_folder, writable_output)
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.codec.inspection import export_replay, replay_frame_name, replay_frames
from mspviewer.errors import MSPViewerError

# The viewer's step interval box allows the same: below 20 ms browsers slow a GIF down to
# 100 ms, and a GIF stores durations as 16-bit hundredths of a second.
MIN_FRAME_MS, MAX_FRAME_MS = 20, 10_000
LAST_FRAME_MS = 2000  # the final image stays longer before the GIF loops
# Pillow merges identical consecutive frames into one, adding their durations; a GIF frame
# lasts at most 65,535 hundredths of a second.
GIF_MAX_FRAME_MS = 655_350


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help="step-by-step decode replay of an .msp file (GIF or PNG sequence)")
    parser.add_argument("bitstream")
    parser.add_argument("-o", "--output", required=True,
                        help="output .gif (its 256-colour palette approximates the "
                             "pictures), or a folder for step_000.png … (exact)")
    parser.add_argument("--original", default=None,
                        help="original image, to report the PSNR of every step")
    parser.add_argument("--frame-ms", type=integer_type(MIN_FRAME_MS, MAX_FRAME_MS),
                        default=500, metavar="MS",
                        help=f"GIF frame duration in milliseconds, {MIN_FRAME_MS} … "
                             f"{MAX_FRAME_MS:,} (default 500; the last frame shows "
                             f"{LAST_FRAME_MS} ms)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def frame_names(num_frames: int) -> list[str]:
    """The files of a PNG sequence (as ``export_replay`` names them)."""
    return [replay_frame_name(step) for step in range(num_frames)]


def check_output(args, num_frames: int) -> None:
    """Refuse, before decoding, an output that cannot be written or that would replace an
    input (the bitstream, --original, the weights); the GIF-or-folder rule is
    ``export_replay``'s."""
    inputs = [args.bitstream, model_file(args)]
    if args.original is not None:
        inputs.append(args.original)
    output = Path(args.output)
    if output.suffix.lower() == ".gif":
        writable_output(output, *inputs)
        # Every frame identical would make one frame of the whole duration.
        total = (num_frames - 1) * args.frame_ms + LAST_FRAME_MS
        if total > GIF_MAX_FRAME_MS:
            raise MSPViewerError(f"{num_frames} frames of {args.frame_ms} ms may last longer "
                                 f"than a GIF frame can ({GIF_MAX_FRAME_MS / 1000:g} s) where "
                                 "identical frames merge; use a shorter --frame-ms or a folder")
    elif output.is_dir() or not output.suffix:
        writable_folder(output, *inputs, names=frame_names(num_frames))
    else:
        raise MSPViewerError(f"replay output must be a .gif file or a folder, got {output}")


def load_original(path: str, header):
    """The --original image, refused before decoding when its size is not the stream's."""
    from mspviewer.imageio import load_image

    original = load_image(path).pixels
    if original.shape[:2] != (header.height, header.width):
        raise MSPViewerError(f"original is {original.shape[1]}×{original.shape[0]}, the "
                             f"bitstream's image {header.width}×{header.height}")
    return original


def run(args) -> dict:
    data = bitstream.read_file(args.bitstream)
    with about_bitstream(args.bitstream):
        header, _ = bitstream.parse(data)  # one frame per pass, and the means-only one
    check_output(args, num_frames=len(header.section_words) + 1)
    original = None if args.original is None else load_original(args.original, header)
    model = model_from_args(args)
    with about_bitstream(args.bitstream):
        decoded = decode_bytes(model, data)
    frames = replay_frames(model, decoded.analysis, original)
    if not (frames[-1].image == decoded.pixels).all():  # a bug, never a user error
        raise RuntimeError("the last replay frame differs from the decoded image")
    written = export_replay(frames, args.output, frame_ms=args.frame_ms,
                            last_frame_ms=LAST_FRAME_MS)
    return {"input": args.bitstream, "output": args.output, "model": model.name,
            "frames": len(frames), "files": [str(p) for p in written],
            "steps": [frame.to_dict() for frame in frames]}
