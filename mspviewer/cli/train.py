"""``mspviewer train``, ``mspviewer export-model`` and ``mspviewer pack-checkpoint``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from mspviewer.codec.config import DEFAULT_LAMBDAS, ModelConfig, MSPConfig, TransformConfig
from mspviewer.codec.config import RateConfig, tiny_config
from mspviewer.cli.common import (add_threads_argument, integer_type, listed,
                                  positive_number, writable_output)
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


# The run's own options: a new run's defaults; a resumed run takes the checkpoint's unless
# they are given again, so that retyping the command with one option forgotten cannot
# quietly halve the learning rate or shrink the crops. (Option name -> TrainSettings field.)
RUN_DEFAULTS = {"steps": 100_000, "batch_size": 8, "crop": ((0, 128),), "lr": 1e-4,
                "warmup": 500, "lr_drop": [], "seed": 0, "ema_decay": 0.999}
_SETTING_OF_OPTION = {"steps": "steps", "batch_size": "batch_size", "crop": "crop_schedule",
                      "lr": "learning_rate", "warmup": "warmup_steps", "lr_drop": "lr_drops",
                      "seed": "seed", "ema_decay": "ema_decay"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train the variable-rate MSP model",
        description="Train the variable-rate MSP model. With --resume, the run's own settings "
                    "(steps, batch, crops, learning rate, warm-up, drops, seed, weight "
                    "average, model) come from its checkpoint unless given again; the "
                    "machine's (device, precision, compile, checkpoint interval) do not.")
    parser.add_argument("data", help="folder of training images")
    parser.add_argument("--run-dir", default="runs/msp-default",
                        help="run folder (checkpoints, log; default runs/msp-default)")
    parser.add_argument("--steps", type=integer_type(1),
                        help=f"total steps to reach (default {RUN_DEFAULTS['steps']:,})")
    parser.add_argument("--batch-size", type=integer_type(1),
                        help=f"crops per step (default {RUN_DEFAULTS['batch_size']})")
    parser.add_argument("--crop", type=_crop_schedule,
                        help='crop size, or a schedule "0:128,20000:256" (default 128)')
    parser.add_argument("--lr", type=positive_number,
                        help=f"Adam's learning rate (default {RUN_DEFAULTS['lr']:g})")
    parser.add_argument("--warmup", type=integer_type(0),
                        help="steps of linear learning-rate warm-up (0: none; default "
                             f"{RUN_DEFAULTS['warmup']})")
    parser.add_argument("--lr-drop", type=integer_type(1), action="append",
                        help="divide the learning rate by 10 after this step (repeatable)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="auto (default): bf16 autocast where the hardware runs bf16 "
                             "natively (CUDA, or a CPU with AVX-512 BF16 / AMX), else fp32")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the networks: about 1.2× faster steps on a CPU "
                             "after a first step that compiles (30 s to 3 min; on a CPU it "
                             "needs a C++ compiler)")
    add_threads_argument(parser)
    parser.add_argument("--seed", type=integer_type(0, SEED_LIMIT - 1),
                        help="seed of the crops, flips and λ draws (default 0)")
    parser.add_argument("--checkpoint-minutes", type=positive_number, default=5.0,
                        help="minutes between checkpoints (default 5)")
    parser.add_argument("--ema-decay", type=_ema_decay,
                        help="decay of the moving average of the weights that export-model "
                             f"ships (0: none; default {RUN_DEFAULTS['ema_decay']})")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run's checkpoint, with its settings")
    parser.add_argument("--preset", choices=("default", "tiny"),
                        help="model size (default: default; tiny: for tests)")
    parser.add_argument("--lambdas", **listed(positive_number),
                        help="the model's λ ladder, space or comma separated (default: "
                             + " ".join(f"{lam:g}" for lam in DEFAULT_LAMBDAS) + ")")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_train)

    export = subparsers.add_parser("export-model",
                                   help="write a checkpoint as a shipped fp16 weights file")
    export.add_argument("checkpoint")
    export.add_argument("-o", "--output", required=True)
    export.add_argument("--name", default="msp-default",
                        help="the model's name in the file and its card (default msp-default)")
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
    checkpoint = _run_checkpoint(args.run_dir) if args.resume else None
    saved = dict(checkpoint["settings"]) if checkpoint is not None else {}

    def option(name: str):
        value = getattr(args, name)
        if value is not None:
            return value
        return saved.get(_SETTING_OF_OPTION[name], RUN_DEFAULTS[name])

    settings = TrainSettings(
        data=args.data, run_dir=args.run_dir, steps=option("steps"),
        batch_size=option("batch_size"), crop_schedule=option("crop"),
        learning_rate=option("lr"), warmup_steps=option("warmup"),
        lr_drops=tuple(option("lr_drop")), precision=args.precision, seed=option("seed"),
        checkpoint_minutes=args.checkpoint_minutes, ema_decay=option("ema_decay"),
        device=args.device, compile_networks=args.compile,
        model_config=_model_config(args, saved))
    try:
        return Trainer(settings, progress=not args.no_progress).run(resume=args.resume,
                                                                    checkpoint=checkpoint)
    finally:
        end_distributed()


def _run_checkpoint(run_dir: str) -> dict | None:
    """The run's checkpoint, read once: its settings are the resumed run's defaults and the
    trainer continues from it (None without one: the trainer then says that --resume has
    nothing to continue)."""
    from mspviewer.train.checkpoint import read_checkpoint
    from mspviewer.train.loop import CHECKPOINT_NAME

    path = Path(run_dir) / CHECKPOINT_NAME
    return read_checkpoint(path) if path.exists() else None


def _model_config(args, saved: dict) -> dict:
    """The model's configuration: the preset's networks with the ladder of --lambdas; on
    --resume, what is not given again (the networks, the ladder or both) is the run's."""
    saved_config = saved.get("model_config")
    run_config = None if saved_config is None else ModelConfig.from_dict(saved_config)
    if run_config is not None and args.preset is None:
        base = run_config
    else:
        base = tiny_config() if args.preset == "tiny" else ModelConfig()
    if args.lambdas is not None:
        lambdas = tuple(sorted(args.lambdas))
    elif run_config is not None:
        lambdas = tuple(run_config.rate.lambdas)
    else:
        lambdas = DEFAULT_LAMBDAS
    return ModelConfig(transform=TransformConfig(**vars(base.transform)),
                       msp=MSPConfig(**vars(base.msp)),
                       rate=RateConfig(lambdas=tuple(lambdas)),
                       coding=base.coding).to_dict()


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
