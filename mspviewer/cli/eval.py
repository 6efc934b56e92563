"""``mspviewer eval DIR [--lambdas …] [--profile …] -o results.json``."""

from __future__ import annotations

from pathlib import Path

from mspviewer.cli.common import (add_model_arguments, integer_type, listed, model_file,
                                  model_from_args, positive_number, tell, writable_output)
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_json
from mspviewer.formats import IMAGE_SUFFIXES
from mspviewer.metrics import MS_SSIM_WEIGHTS


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate the learned codec on a folder of "
                                                "images (RD points, BD-rates)")
    parser.add_argument("folder")
    parser.add_argument("-o", "--output", required=True, help="results JSON")
    parser.add_argument("--lambdas", **listed(positive_number), default=None,
                        help="λ values, space or comma separated (default: the model's "
                             "ladder)")
    parser.add_argument("--profile", default="fast",
                        help="encoding profile (default fast; see `mspviewer profiles`)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="what reports call these images (default: the folder's name, "
                             "capitalised: Kodak)")
    parser.add_argument("--classic", **listed(nargs="*"), default=["webp"],
                        help="classic codecs measured live on the same images, space or "
                             "comma separated (default webp; none without a name)")
    parser.add_argument("--anchors", nargs="*",
                        default=["vtm", "compressai-bmshj2018-hyperprior_mse_cpu", "webp"],
                        help="published anchor curves (resources/anchors/kodak) or JSON "
                             "files: CompressAI-style curves, or an earlier eval's result "
                             "to compare models or checkpoints (default: vtm, "
                             "compressai-bmshj2018-hyperprior_mse_cpu, webp; none: no "
                             "anchors)")
    parser.add_argument("--limit", type=integer_type(1), default=None, metavar="N",
                        help="only the first N images (in name order)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> dict:
    from mspviewer.evaluation import evaluate

    folder = Path(args.folder)
    if not folder.is_dir():
        raise MSPViewerError(f"{folder} is not a folder" if folder.exists()
                             else f"no such folder: {folder}")
    paths = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise MSPViewerError(f"no images in {folder}")
    if args.anchors == ["none"]:  # (as the help says; a bare --anchors does the same)
        args.anchors = []
    if args.limit is not None:
        paths = paths[:args.limit]
    # before hours of evaluation, not after; anchors given as JSON files are inputs too
    anchor_files = [Path(name) for name in args.anchors if Path(name).is_file()]
    output = writable_output(args.output, *paths, *anchor_files, model_file(args))
    model = model_from_args(args)
    lambdas = args.lambdas or list(model.config.rate.lambdas)
    if len(set(lambdas)) < len(lambdas):  # a point twice would weigh twice in the curves
        lambdas = list(dict.fromkeys(lambdas))
        tell(f"λ given more than once: each is evaluated once ({', '.join(map(str, lambdas))})")
    for note in filter(None, map(model.extrapolation_note, dict.fromkeys(lambdas))):
        tell(note)  # before the evaluation's hours, not after
    # evaluate() checks every image, λ, codec and anchor before the first encode
    document = evaluate(model, paths, lambdas, args.profile, args.classic, args.anchors,
                        progress=not args.no_progress, dataset=args.dataset)
    for name, reason in document["classic_skipped"].items():
        tell(f"left out {name}: {reason}")
    write_json(output, document, indent=1, allow_nan=True)
    tell(f"wrote {args.output}")
    return summarise(document)


def summarise(document: dict) -> dict:
    """What ``eval`` prints: the mean points, the BD-rates (or why there is none), and what
    to be wary of (a BD-rate over a narrow band of quality, extrapolated λ, codecs left out)."""
    summary = {"images": document["num_images"], "profile": document["profile"], "mean": [
        {k: p[k] for k in ("quality", "bpp", "psnr_rgb", "ms_ssim")}
        for p in document["mean"]["points"]]}
    # a number or null for each, as in the document (a reason in place of a number had made
    # the values strings or numbers); why there is none, and what to be wary of, beside them
    bd = document["bd_rate_vs"]
    summary["bd_rate_percent"] = {k: v["bd_rate_percent"] for k, v in bd.items()}
    reasons = {k: v["reason"] for k, v in bd.items() if v["bd_rate_percent"] is None}
    if reasons:
        summary["bd_reasons"] = reasons
    warnings = {k: v["warning"] for k, v in bd.items() if v.get("warning")}
    if warnings:
        summary["bd_warnings"] = warnings
    if document["lambdas_extrapolated"]:
        summary["lambdas_extrapolated"] = document["lambdas_extrapolated"]
    scales = document.get("ms_ssim_scales", [])
    if scales != [len(MS_SSIM_WEIGHTS)] and scales:
        summary["ms_ssim_note"] = (
            f"MS-SSIM over {' and '.join(map(str, scales))} scales (of {len(MS_SSIM_WEIGHTS)}: "
            "an image under 161 pixels a side has room for fewer)"
            + ("; the mean mixes them" if len(scales) > 1 else ""))
    if document["classic_skipped"]:
        summary["classic_skipped"] = document["classic_skipped"]
    return summary
