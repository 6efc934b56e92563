"""``mspviewer replay IN.msp -o replay.gif``: the image after each MSP decoding pass.

Frame k is synthesised from the elements of passes 0..k-1, the others at their predicted
means; written as an animated GIF, or as a PNG sequence when ``-o`` names a folder.
"""

from __future__ import annotations

from mspviewer.cli.common import add_model_arguments, model_from_args
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.codec.inspection import export_replay, replay_frames


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help="step-by-step decode replay of an .msp file (GIF or PNG sequence)")
    parser.add_argument("bitstream")
    parser.add_argument("-o", "--output", required=True,
                        help="output .gif, or a folder for step_000.png …")
    parser.add_argument("--original", default=None,
                        help="original image, to report the PSNR of every step")
    parser.add_argument("--frame-ms", type=int, default=500,
                        help="GIF frame duration in milliseconds (default 500)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> dict:
    from mspviewer.errors import MSPViewerError

    if args.frame_ms <= 0:
        raise MSPViewerError(f"--frame-ms must be positive, got {args.frame_ms}")
    data = bitstream.read_file(args.bitstream)
    model = model_from_args(args)
    decoded = decode_bytes(model, data)
    original = None
    if args.original is not None:
        from mspviewer.imageio import load_image

        original = load_image(args.original).pixels
        if original.shape != decoded.pixels.shape:
            raise MSPViewerError(f"original is {original.shape[1]}×{original.shape[0]}, the "
                                 f"decoded image {decoded.pixels.shape[1]}×"
                                 f"{decoded.pixels.shape[0]}")
    frames = replay_frames(model, decoded.analysis, original)
    if not (frames[-1].image == decoded.pixels).all():  # a bug, never a user error
        raise RuntimeError("the last replay frame differs from the decoded image")
    written = export_replay(frames, args.output, frame_ms=args.frame_ms)
    return {"input": args.bitstream, "output": args.output, "model": model.name,
            "frames": len(frames), "files": [str(p) for p in written],
            "steps": [frame.to_dict() for frame in frames]}
