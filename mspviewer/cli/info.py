"""``mspviewer info IN.msp``: the header and the bytes of every scale / step / group.

Needs no model: the pass structure follows from the MSP configuration in the header.
``--channels`` decodes the stream with the model to add how the bits spread over the latent
channels (:mod:`mspviewer.codec.channel_usage`) and whether its λ is past the model's
trained range (``lambda_extrapolated``); ``--arrays OUT.npz`` decodes it to write
every element's ŷ, μ, σ, bits and symbol for scripts (:mod:`mspviewer.codec.record_file`).
"""

from __future__ import annotations

from mspviewer.cli.common import (about_bitstream, add_model_arguments, header_lambda,
                                  model_file, model_from_args, writable_output)
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.codec.channel_usage import channel_usage
from mspviewer.codec.config import MSPConfig
from mspviewer.codec.lattice import coding_passes
from mspviewer.codec.record_file import save_record


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show an .msp file's header and bytes per pass")
    parser.add_argument("bitstream")
    parser.add_argument("--channels", action="store_true",
                        help="decode with the model and add the estimated bits per latent "
                             "channel (how many channels carry 50/90/99 %% of the bits)")
    parser.add_argument("--arrays", metavar="OUT.npz", default=None,
                        help="decode with the model and write every latent element's ŷ, μ, "
                             "σ, bits, symbol and pass as NumPy arrays (.npz)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def describe(data: bytes) -> dict:
    header, _ = bitstream.parse(data)  # validates the MSP configuration and section count
    msp = MSPConfig(num_scales=header.num_scales, steps_per_scale=header.steps_per_scale,
                    num_groups=header.num_groups)
    passes = coding_passes(msp, header.latent_channels)
    sections = [{"pass": p.index, "scale": p.scale, "step": p.step_name, "group": p.group,
                 "bytes": 4 * words} for p, words in zip(passes, header.section_words)]
    per_scale: dict[int, int] = {}
    for section in sections:
        per_scale[section["scale"]] = per_scale.get(section["scale"], 0) + section["bytes"]
    pixels = header.height * header.width
    return {
        "format_version": bitstream.FORMAT_VERSION, "model_id": header.model_id.hex(),
        "lambda": header_lambda(header.lam), "width": header.width, "height": header.height,
        "padding": {"bottom": header.pad_bottom, "right": header.pad_right},
        "msp": {"scales": header.num_scales, "steps_per_scale": header.steps_per_scale,
                "groups": header.num_groups, "latent_channels": header.latent_channels},
        "symbols_checksum": header.symbols_checksum.hex(),
        "file_bytes": len(data), "header_bytes": bitstream.header_size(header),
        "payload_bytes": 4 * header.payload_words, "bpp": 8 * len(data) / pixels,
        "bytes_per_scale": {str(k): v for k, v in sorted(per_scale.items(), reverse=True)},
        "sections": sections,
    }


#: channels listed in the plain-text output (``--json`` lists every channel)
TOP_CHANNELS = 10


def describe_channels(record, every_channel: bool) -> dict:
    usage = channel_usage(record)
    if every_channel:
        return usage.summary()
    top = usage.order[:TOP_CHANNELS]
    return {"summary": usage.describe(),
            "costliest": ", ".join(f"{c} ({100 * usage.share[c]:.1f} %)" for c in top)}


def run(args) -> dict:
    if args.arrays is not None:  # before any decoding: a typo costs nothing
        writable_output(args.arrays, args.bitstream, model_file(args))
    data = bitstream.read_file(args.bitstream)
    with about_bitstream(args.bitstream):
        result = describe(data)
    if args.channels or args.arrays is not None:
        model = model_from_args(args)
        with about_bitstream(args.bitstream):
            record = decode_bytes(model, data).analysis
        # only the model knows its trained range (the header carries λ alone)
        result["lambda_extrapolated"] = model.rate_point(record.lam).extrapolated
        if args.channels:
            result["channels"] = describe_channels(record,
                                                   every_channel=getattr(args, "json", False))
        if args.arrays is not None:
            save_record(record, args.arrays)
            result["arrays"] = args.arrays
    return result
