"""``mspviewer info IN.msp``: the header and the bytes of every scale / step / group.

Needs no model: the pass structure follows from the MSP configuration in the header.
``--channels`` decodes the stream with the model to add how the bits spread over the latent
channels (:mod:`mspviewer.codec.channel_usage`).
"""

from __future__ import annotations

from mspviewer.cli.common import add_model_arguments, model_from_args
from mspviewer.codec import bitstream, decode_bytes
from mspviewer.codec.channel_usage import channel_usage
from mspviewer.codec.config import MSPConfig
from mspviewer.codec.lattice import coding_passes


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show an .msp file's header and bytes per pass")
    parser.add_argument("bitstream")
    parser.add_argument("--channels", action="store_true",
                        help="decode with the model and add the estimated bits per latent "
                             "channel (how many channels carry 50/90/99 %% of the bits)")
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
        "lambda": header.lam, "width": header.width, "height": header.height,
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


def describe_channels(data: bytes, model, every_channel: bool) -> dict:
    usage = channel_usage(decode_bytes(model, data).analysis)
    if every_channel:
        return usage.summary()
    top = usage.order[:TOP_CHANNELS]
    return {"summary": usage.describe(),
            "costliest": ", ".join(f"{c} ({100 * usage.share[c]:.1f} %)" for c in top)}


def run(args) -> dict:
    data = bitstream.read_file(args.bitstream)
    result = describe(data)
    if args.channels:
        result["channels"] = describe_channels(data, model_from_args(args),
                                               every_channel=getattr(args, "json", False))
    return result
