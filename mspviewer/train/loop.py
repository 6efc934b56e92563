"""The training loop: variable-rate MSP on random crops, resumable to the step.

Loss (CompressAI convention): bpp + λ·255²·MSE, λ drawn per batch from the model's ladder.
Speed: CPU bf16 autocast for the networks; likelihoods and the rate term stay float32
(the MSP model computes them from float32 μ/σ). Robustness: gradient clipping, a NaN guard
that skips bad steps, atomic checkpoints every few minutes and on SIGTERM/SIGINT.

An exponential moving average of the weights (``ema_decay``) is kept beside them and saved in
the checkpoint; ``export-model`` ships it by default. With a constant learning rate the raw
weights wander around the optimum at the scale of the step size; their average sits closer
to it, which gives part of what a learning-rate decay would, without ending the run's ability
to keep learning at full speed in the next session.

Everything that decides what a step does — the batch, λ, the uniform noise, the learning
rate — is a function of (seed, step), so ``--resume`` continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from mspviewer.codec.api import resolve_device
from mspviewer.codec.config import ModelConfig
from mspviewer.codec.model import MSPCodec
from mspviewer.errors import MSPViewerError, TrainingError
from mspviewer.files import remove_stale_temporaries, write_atomically, write_output
from mspviewer.train.checkpoint import cast_adam_moments, read_checkpoint
from mspviewer.train.compilation import compile_networks
from mspviewer.train.data import CropSampler, list_images
from mspviewer.train.run_lock import exclusive_run_folder
from mspviewer.train.segments import close_segment, open_segment, unrecorded_segment

CHECKPOINT_NAME = "checkpoint.pt"
# Seeds are 0 … 2³²−1: numpy refuses negative ones, and the per-step seeds derived from it
# (seed·1,000,003 + step·97 + rank) must stay within torch's 64 bits.
SEED_LIMIT = 2 ** 32
LOG_NAME = "log.jsonl"


@dataclass
class TrainSettings:
    data: str
    run_dir: str
    steps: int = 100_000
    batch_size: int = 8
    crop_schedule: tuple[tuple[int, int], ...] = ((0, 128),)  # (from step, crop size)
    learning_rate: float = 1e-4
    warmup_steps: int = 500
    lr_drops: tuple[int, ...] = ()  # steps after which the learning rate is divided by 10
    clip_norm: float = 1.0
    ema_decay: float = 0.999  # weight of the old average per step (0: the EMA is the weights)
    precision: str = "bf16"  # bf16 autocast or fp32 ("auto" is resolved by the trainer)
    seed: int = 0
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    device: str = "cpu"
    compile_networks: bool = False  # torch.compile the networks (compilation.py): faster steps
    model_config: dict = field(default_factory=lambda: ModelConfig().to_dict())

    def __post_init__(self):
        """Refuse settings no run could use, with the field's name: the command line checks
        its options, and scripts that build settings themselves get the same checks."""
        def refuse(name: str, rule: str) -> None:
            raise TrainingError(f"training setting {name} must be {rule}, "
                                f"got {getattr(self, name)!r}")

        self.crop_schedule = check_crop_schedule(self.crop_schedule)
        self.lr_drops = tuple(self.lr_drops)
        for name in ("steps", "batch_size", "log_every"):
            if not _is_integer(getattr(self, name)) or getattr(self, name) < 1:
                refuse(name, "a whole number of at least 1")
        if not _is_integer(self.warmup_steps) or self.warmup_steps < 0:
            refuse("warmup_steps", "a whole number of at least 0")
        if any(not _is_integer(drop) or drop < 1 for drop in self.lr_drops):
            refuse("lr_drops", "steps of at least 1")
        if not _is_integer(self.seed) or not 0 <= self.seed < SEED_LIMIT:
            refuse("seed", f"a whole number from 0 to {SEED_LIMIT - 1}")
        for name in ("learning_rate", "clip_norm", "checkpoint_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                refuse(name, "a positive number")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            refuse("ema_decay", "in [0, 1)")
        if self.precision not in ("auto", "bf16", "fp32"):
            refuse("precision", "auto, bf16 or fp32")
        if not isinstance(self.compile_networks, bool):
            refuse("compile_networks", "True or False")

    def crop_at(self, step: int) -> int:
        crop = self.crop_schedule[0][1]
        for start, size in self.crop_schedule:
            if step >= start:
                crop = size
        return crop

    def learning_rate_at(self, step: int) -> float:
        rate = self.learning_rate * min(1.0, (step + 1) / max(self.warmup_steps, 1))
        return rate * 0.1 ** sum(step >= drop for drop in self.lr_drops)


def check_crop_schedule(schedule) -> tuple[tuple[int, int], ...]:
    """A crop schedule as ((from step, crop size), …): at least one entry, sizes of at least
    one pixel, starting at step 0 with strictly increasing steps. Raises TrainingError."""
    try:
        pairs = tuple((int(start), int(size)) for start, size in schedule)
        exact = all(_is_integer(value) for pair in schedule for value in pair)
    except (TypeError, ValueError):
        pairs, exact = (), False
    if not pairs or not exact:
        raise TrainingError(f"a crop schedule is (step, size) pairs of whole numbers, "
                            f"got {schedule!r}")
    if any(size < 1 for _, size in pairs):
        raise TrainingError(f"crop sizes must be at least 1 px, got {schedule!r}")
    starts = [start for start, _ in pairs]
    if starts[0] != 0 or any(a >= b for a, b in zip(starts, starts[1:])):
        raise TrainingError(f"a crop schedule starts at step 0 and its steps increase, "
                            f"got {schedule!r}")
    return pairs


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def rate_distortion_loss(out: dict, x: torch.Tensor, lam: float) -> dict:
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bpp = -torch.log2(out["likelihoods"]).sum() / num_pixels
    mse = torch.mean((out["x_hat"].float() - x) ** 2)
    return {"loss": bpp + lam * 255 ** 2 * mse, "bpp": bpp, "mse": mse}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX-512 BF16 or AMX).

    Without them, bf16 autocast on CPU is emulated: measured here on an AVX2-only EPYC, a
    step took 30 s instead of 0.25 s in fp32, while with AVX-512 BF16 it ran 2.5× faster than
    fp32. Linux only (reads /proc/cpuinfo); elsewhere we assume it is not there.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" → bf16 where the hardware runs it natively (CUDA with bf16, or such a CPU),
    fp32 elsewhere; "bf16" and "fp32" are kept as asked."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def training_layout(precision: str, device: torch.device) -> torch.memory_format:
    """The tensor layout a training step runs fastest in (benchmarks/train_step.py times
    both side by side): channels-last, oneDNN's and cuDNN's preferred layout, with bf16
    (1.24× faster per CPU step on an AMX machine) and on CUDA; the default layout for fp32
    on a CPU without native bf16, where channels-last ran 0.88-0.92× as fast (AVX2 EPYC)."""
    if device.type == "cuda" or precision == "bf16":
        return torch.channels_last
    return torch.contiguous_format


class Trainer:
    def __init__(self, settings: TrainSettings, progress: bool = True):
        self.settings = settings
        self.progress = progress
        self.rank, self.world_size = _distributed_rank()
        resolved = resolve_device(settings.device)  # a clear error where CUDA is missing
        if settings.device == "auto":
            settings.device = resolved.type
        self.device = torch.device(settings.device if self.world_size == 1 or
                                   settings.device == "cpu" else f"cuda:{self.rank}")
        settings.precision = resolve_precision(settings.precision, self.device)
        self.run_dir = Path(settings.run_dir)
        config = ModelConfig.from_dict(settings.model_config)
        torch.manual_seed(settings.seed)  # identical initial weights on every rank
        self.memory_format = training_layout(settings.precision, self.device)
        self.model = MSPCodec(config).to(self.device, memory_format=self.memory_format).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.step = 0
        self.wall_seconds = 0.0
        self.skipped_steps = 0
        self.segments: list[dict] = []  # where each resumed part of the run ran (segments.py)
        self.open_segment: dict | None = None  # this process's, while run() runs
        self.sampler: CropSampler | None = None
        self.ema = WeightAverage(self.model, settings.ema_decay)
        self._stop_requested = False

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.open_segment is not None:
            close_segment(self.open_segment, self.step, self.wall_seconds)
        payload = {
            "step": self.step, "wall_seconds": self.wall_seconds,
            "skipped_steps": self.skipped_steps, "settings": asdict(self.settings),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict(), "segments": self.segments,
        }
        write_atomically(self.checkpoint_path, lambda handle: torch.save(payload, handle))

    def load_checkpoint(self, path: Path | None = None, payload: dict | None = None) -> None:
        """Continue from the checkpoint at ``path`` (the run's own by default), or from its
        ``payload`` when the caller has read it already (the command line reads the run's
        settings from it first; a checkpoint is tens of MB)."""
        # On the CPU: load_state_dict copies weights and moments to the model's device.
        if payload is None:
            payload = read_checkpoint(path or self.checkpoint_path)
        saved_config = payload["settings"]["model_config"]
        if saved_config != self.settings.model_config:
            raise TrainingError(f"{path or self.checkpoint_path} was trained with another "
                                f"model configuration (--preset or the configuration changed)")
        changed = changed_settings(payload["settings"], asdict(self.settings))
        if changed and self.rank == 0:
            # Deliberate schedule changes (larger crops, a learning-rate drop) are allowed,
            # but the run then no longer replays what the old settings would have done.
            print("resuming with changed settings: " + "; ".join(changed), file=sys.stderr)
        if "handoff" in payload and self.rank == 0:
            print("resuming from a hand-off copy (Adam's moments stored in "
                  f"{payload['handoff']['moments']}; a new weight average starts here)",
                  file=sys.stderr)
        cast_adam_moments(payload["optimizer"], torch.float32)  # a hand-off stores bf16
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if "ema" in payload:
            self.ema.load_state_dict(payload["ema"])
        else:  # a checkpoint from before the EMA: the average starts at its weights
            self.ema.reset(self.model)
        self.step = int(payload["step"])
        self.wall_seconds = float(payload["wall_seconds"])
        self.skipped_steps = int(payload.get("skipped_steps", 0))
        self.segments = list(payload.get("segments") or
                             [unrecorded_segment(self.step, self.wall_seconds)])

    # -- one step ------------------------------------------------------------------------------
    def lambda_at(self, step: int) -> float:
        """λ for a step: the same on every rank, drawn from the ladder."""
        ladder = self.model.config.rate.lambdas
        rng = np.random.default_rng([self.settings.seed, step, 1 << 20])
        return float(ladder[rng.integers(len(ladder))])

    def train_step(self, network) -> dict | None:
        s = self.settings
        step = self.step
        crop = s.crop_at(step)
        if self.sampler is None or self.sampler.crop != crop:
            self.sampler = CropSampler(list_images(s.data), crop, s.seed)
        x = self.sampler.batch(step, s.batch_size, self.rank).to(
            self.device, memory_format=self.memory_format)
        lam = self.lambda_at(step)
        torch.manual_seed(s.seed * 1_000_003 + step * 97 + self.rank)  # the rate noise
        for group in self.optimizer.param_groups:
            group["lr"] = s.learning_rate_at(step)
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16)
                    if s.precision == "bf16" else nullcontext())
        with autocast:
            out = network(x, lam)
        terms = rate_distortion_loss(out, x, lam)
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_norm)
        finite = torch.isfinite(terms["loss"]) & torch.isfinite(grad_norm)
        if self.world_size > 1:  # every rank must agree to skip
            flag = finite.float().to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag > 0
        self.step += 1
        if not bool(finite):
            self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        self.ema.update(self.model)
        mse = float(terms["mse"].detach())
        return {"step": self.step, "lambda": lam, "crop": crop,
                "loss": float(terms["loss"].detach()),
                "bpp": float(terms["bpp"].detach()), "mse": mse,
                "psnr": 10 * math.log10(1 / max(mse, 1e-12)), "grad_norm": float(grad_norm),
                "lr": s.learning_rate_at(step)}

    # -- the loop ------------------------------------------------------------------------------
    def run(self, resume: bool = False, checkpoint: dict | None = None) -> dict:
        """Train to ``settings.steps``; with ``resume``, from the run's checkpoint (or its
        payload ``checkpoint``, already read by the caller)."""
        if self.settings.compile_networks:  # first: a refusal (no C++ compiler) leaves
            compile_networks(self.model, self.device)  # the run untouched
        if resume and checkpoint is None and not self.checkpoint_path.exists():
            raise MSPViewerError(f"--resume: no checkpoint at {self.checkpoint_path}")
        if self.rank != 0:  # rank 0 writes the run folder, and holds it for all ranks
            return self._run(resume, checkpoint)
        with exclusive_run_folder(self.run_dir):
            return self._run(resume, checkpoint)

    def _run(self, resume: bool, checkpoint: dict | None) -> dict:
        s = self.settings
        if resume:
            self.load_checkpoint(payload=checkpoint)
            if self.rank == 0:
                self._trim_log_to_checkpoint()
        else:
            self._refuse_an_earlier_run()
        if self.rank == 0 and remove_stale_temporaries(self.checkpoint_path):  # (locked)
            print("removed the partial checkpoint of an interrupted write", file=sys.stderr)
        self.open_segment = open_segment(self.step, self.wall_seconds, self.device,
                                         s.precision, self.world_size, s.compile_networks)
        self.segments.append(self.open_segment)
        network = self.model
        if self.world_size > 1:
            network = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        previous_handlers = self._install_signal_handlers()
        bar = None
        if self.progress and self.rank == 0:
            from tqdm import tqdm
            bar = tqdm(total=s.steps, initial=self.step, desc="train", dynamic_ncols=True)
        log = (self.run_dir / LOG_NAME) if self.rank == 0 else None
        if log is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        last_checkpoint = time.monotonic()
        smoothed: dict[str, float] = {}
        last = None
        first_step = self.step
        try:
            while self.step < s.steps and not self._stop_requested:
                started = time.monotonic()
                record = self.train_step(network)
                self.wall_seconds += time.monotonic() - started
                if record is None:
                    if self.skipped_steps > 100 and self.skipped_steps > self.step // 10:
                        raise TrainingError("training diverged: too many non-finite steps "
                                            "(try a lower --lr)")
                    continue
                last = record
                for key in ("loss", "bpp", "psnr"):
                    smoothed[key] = 0.98 * smoothed.get(key, record[key]) + 0.02 * record[key]
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{smoothed['loss']:.3f}", bpp=f"{smoothed['bpp']:.3f}",
                                    psnr=f"{smoothed['psnr']:.2f}")
                if log is not None and (self.step % s.log_every == 0 or self.step == s.steps):
                    with open(log, "a") as handle:
                        handle.write(json.dumps({**record, "wall_seconds": self.wall_seconds,
                                                 "skipped": self.skipped_steps}) + "\n")
                if time.monotonic() - last_checkpoint > 60 * s.checkpoint_minutes:
                    self.save_checkpoint()
                    last_checkpoint = time.monotonic()
        finally:
            if self.step > first_step:  # a run that failed before its first step saves nothing
                self.save_checkpoint()
            self.open_segment = None
            self._restore_signal_handlers(previous_handlers)
            if bar is not None:
                bar.close()
        return {"step": self.step, "wall_seconds": self.wall_seconds,
                "skipped_steps": self.skipped_steps, "last": last,
                "checkpoint": str(self.checkpoint_path)}

    def _trim_log_to_checkpoint(self) -> None:
        """Drop log lines past the checkpoint's step (and a line cut short): a run stopped
        without its last checkpoint (killed, or the session ended) logged steps that the
        resumed run takes again, and the curve must show each step once."""
        log = self.run_dir / LOG_NAME
        if not log.exists():
            return
        kept = []
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("step", 0) <= self.step:
                kept.append(line)
        write_output(log, "".join(line + "\n" for line in kept).encode())

    def _refuse_an_earlier_run(self) -> None:
        """A fresh run never writes into a run folder that holds an earlier run: it would save
        its new model over the trained checkpoint and append its steps to the old log."""
        if self.checkpoint_path.exists():
            raise TrainingError(
                f"{self.run_dir} already holds a training checkpoint ({CHECKPOINT_NAME}): pass "
                f"--resume to continue it, or choose another --run-dir to start a new run")
        if (self.run_dir / LOG_NAME).exists():  # a run stopped before its first checkpoint
            raise TrainingError(
                f"{self.run_dir} already holds the log of an earlier run ({LOG_NAME}, no "
                f"checkpoint): choose another --run-dir, or remove that log to start there")

    def _install_signal_handlers(self):
        def request_stop(signum, frame):
            self._stop_requested = True  # finish the step, checkpoint, exit cleanly

        try:
            return {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM,
                                                                        signal.SIGINT)}
        except ValueError:  # not in the main thread
            return {}

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class WeightAverage:
    """Exponential moving average of a model's floating-point parameters, in float32.

    After each optimiser step, ``average ← decay·average + (1 − decay)·weights``; buffers are
    not averaged (an exported model takes them from the weights)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise TrainingError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.average: dict[str, torch.Tensor] = {}
        self.reset(model)

    def reset(self, model: torch.nn.Module) -> None:
        self.average = {name: p.detach().float().clone()
                        for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for name, p in model.named_parameters():
            self.average[name].lerp_(p.detach().float(), 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.average)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != set(self.average):
            raise TrainingError("the checkpoint's weight average does not match the model")
        self.average = {name: tensor.float().clone() for name, tensor in state.items()}

    def averaged_state_dict(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """``model``'s state dict with the averaged parameters in place of its own."""
        state = model.state_dict()
        for name, tensor in self.average.items():
            state[name] = tensor.to(state[name].dtype)
        return state


def changed_settings(saved: dict, current: dict) -> list[str]:
    """Settings that differ from the checkpoint's, except those that never affect a step."""
    # compile_networks changes how a step is computed, not what: fused kernels round a little
    # differently, as two machines' kernels do
    ignored = {"steps", "checkpoint_minutes", "log_every", "run_dir", "data", "compile_networks"}
    # tuples and lists compare equal: a checkpoint may hold either, depending on its writer
    saved, current = json.loads(json.dumps(saved)), json.loads(json.dumps(current))
    return [f"{key}: {saved.get(key)!r} → {value!r}" for key, value in current.items()
            if key not in ignored and saved.get(key) != value]


def _distributed_rank() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if world_size > 1:
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def end_distributed() -> None:
    """Tear down the process group, if one is up, while the interpreter is still whole.

    A process that exits with a gloo group alive can abort at interpreter finalisation
    ("terminate called without an active exception", SIGABRT): gloo's worker threads still
    hold tensors whose release needs the GIL (pytorch/pytorch#190489). It happened at random,
    about once in many two-process runs."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
