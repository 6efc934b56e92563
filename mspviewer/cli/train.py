"""``mspviewer train``, ``mspviewer export-model`` and ``mspviewer pack-checkpoint``."""

from __future__ import annotations

import argparse
import math

from mspviewer.codec.config import DEFAULT_LAMBDAS, ModelConfig, MSPConfig, TransformConfig
from mspviewer.codec.config import RateConfig, tiny_config
from mspviewer.cli.common import integer_type, positive_number, writable_output
from mspviewer.errors import MSPViewerError, TrainingError
from mspviewer.train.loop import SEED_LIMIT, check_crop_schedule, end_distributed


def _crop_schedule(text: str) -> tuple[tuple[int, int], ...]:
    """"128" or "0:128,20000:256" → ((0, 128), (20000, 256)), checked as the trainer checks
    every schedule (TrainSettings)."""
    try:
        if ":" not in text:
            pairs = [(0, int(text))]
        else:
            pairs = [tuple(int(part) for part in item.split(":")) for item in text.split(",")]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad crop schedule {text!r} (a size, or STEP:SIZE pairs like 0:128,20000:256)"
        ) from None
    try:
        return check_crop_schedule(pairs)
    except TrainingError as error:
        raise argparse.ArgumentTypeError(f"crop schedule {text!r}: {error}") from None


def _ema_decay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:  # nan fails too
        raise argparse.ArgumentTypeError(f"the decay is in [0, 1), got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the variable-rate MSP model")
    parser.add_argument("data", help="folder of training images")
    parser.add_argument("--run-dir", default="runs/msp-default",
                        help="run folder (checkpoints, log)")
    parser.add_argument("--steps", type=integer_type(1), default=100_000,
                        help="total steps to reach")
    parser.add_argument("--batch-size", type=integer_type(1), default=8)
    parser.add_argument("--crop", type=_crop_schedule, default=((0, 128),),
                        help='crop size, or a schedule "0:128,20000:256"')
    parser.add_argument("--lr", type=positive_number, default=1e-4)
    parser.add_argument("--warmup", type=integer_type(0), default=500,
                        help="steps of linear learning-rate warm-up (0: none)")
    parser.add_argument("--lr-drop", type=integer_type(1), action="append", default=[],
                        help="divide the learning rate by 10 after this step (repeatable)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="auto: bf16 autocast where the hardware runs bf16 natively "
                             "(CUDA, or a CPU with AVX-512 BF16 / AMX), else fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=integer_type(0, SEED_LIMIT - 1), default=0)
    parser.add_argument("--checkpoint-minutes", type=positive_number, default=5.0)
    parser.add_argument("--ema-decay", type=_ema_decay, default=0.999,
                        help="decay of the moving average of the weights that export-model "
                             "ships (0: none)")
    parser.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    parser.add_argument("--preset", choices=("default", "tiny"), default="default",
                        help="model size (tiny: for tests)")
    parser.add_argument("--lambdas", type=positive_number, nargs="+",
                        default=list(DEFAULT_LAMBDAS))
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run_train)

    export = subparsers.add_parser("export-model",
                                   help="write a checkpoint as a shipped fp16 weights file")
    export.add_argument("checkpoint")
    export.add_argument("-o", "--output", required=True)
    export.add_argument("--name", default="msp-default")
    export.add_argument("--weights", choices=("ema", "raw"), default="ema",
                        help="ema: the moving average of the weights (default), raw: the "
                             "optimiser's current weights")
    export.set_defaults(func=run_export)

    pack = subparsers.add_parser(
        "pack-checkpoint",
        help="write the small hand-off copy of a training checkpoint (for version control)")
    pack.add_argument("checkpoint")
    pack.add_argument("-o", "--output", required=True)
    pack.set_defaults(func=run_pack)


def run_train(args) -> dict:
    from mspviewer.train.data import list_images
    from mspviewer.train.loop import TrainSettings, Trainer

    list_images(args.data)  # a missing or empty folder is refused before anything starts
    base = tiny_config() if args.preset == "tiny" else ModelConfig()
    config = ModelConfig(transform=TransformConfig(**vars(base.transform)),
                         msp=MSPConfig(**vars(base.msp)),
                         rate=RateConfig(lambdas=tuple(sorted(args.lambdas))),
                         coding=base.coding)
    settings = TrainSettings(
        data=args.data, run_dir=args.run_dir, steps=args.steps, batch_size=args.batch_size,
        crop_schedule=args.crop, learning_rate=args.lr, warmup_steps=args.warmup,
        lr_drops=tuple(args.lr_drop), precision=args.precision, seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes, ema_decay=args.ema_decay, device=args.device,
        model_config=config.to_dict())
    try:
        return Trainer(settings, progress=not args.no_progress).run(resume=args.resume)
    finally:
        end_distributed()


def run_export(args) -> dict:
    from mspviewer.train.export import export_checkpoint

    output = writable_output(args.output, args.checkpoint, create_folders=True)
    if output.suffix == ".md":  # the card is written beside the weights, as OUTPUT.md
        raise MSPViewerError(f"output {output}: the model card goes to the .md file beside "
                             f"the weights; name the weights file .pt")
    card = export_checkpoint(args.checkpoint, output, args.name, weights=args.weights)
    return {"output": args.output, "card": card}


def run_pack(args) -> dict:
    from mspviewer.train.checkpoint import pack_checkpoint

    output = writable_output(args.output, args.checkpoint, create_folders=True)
    return pack_checkpoint(args.checkpoint, output)
