"""Where a training run ran: one record per resumed segment, kept in its checkpoint.

The shipped model's run continues across many sessions, on whatever machine each session
gets (CPUs with or without native bf16, sometimes a GPU). Its model card must say what the
steps ran on, not just the last session's device and precision, so every ``Trainer.run``
opens a segment (steps, device, precision, hardware, whether the networks were compiled,
wall time) and the card lists them.
Checkpoints written before segments were recorded get one "not recorded" segment for the
steps they hold.
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

import torch


def describe_hardware(device: torch.device) -> str:
    """The processor a run computes on, in words: a GPU's name or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def open_segment(step: int, wall_seconds: float, device: torch.device, precision: str,
                 processes: int, compiled: bool) -> dict:
    return {
        "first_step": step, "last_step": step, "wall_seconds": 0.0,
        "wall_seconds_at_start": wall_seconds, "device": device.type, "precision": precision,
        "hardware": describe_hardware(device), "processes": processes,
        "threads": torch.get_num_threads(), "compiled": compiled,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def close_segment(segment: dict, step: int, wall_seconds: float) -> None:
    """Bring an open segment up to the run's current step and wall time."""
    segment["last_step"] = step
    segment["wall_seconds"] = wall_seconds - segment["wall_seconds_at_start"]


def unrecorded_segment(step: int, wall_seconds: float) -> dict:
    """What a checkpoint from before segments were recorded says about its steps."""
    return {"first_step": 0, "last_step": step, "wall_seconds": wall_seconds,
            "recorded": False}


def merged(segments: list[dict]) -> list[dict]:
    """Consecutive segments on the same hardware and settings as one (a session's run may be
    stopped and resumed several times); empty segments dropped."""
    result: list[dict] = []
    for segment in segments:
        if segment["last_step"] <= segment["first_step"]:
            continue
        key = _hardware_key(segment)
        if result and _hardware_key(result[-1]) == key and \
                result[-1]["last_step"] == segment["first_step"]:
            result[-1] = {**result[-1], "last_step": segment["last_step"],
                          "wall_seconds": result[-1]["wall_seconds"] + segment["wall_seconds"]}
        else:
            result.append(dict(segment))
    return result


def _hardware_key(segment: dict) -> tuple:
    if segment.get("recorded", True) is False:
        return ("unrecorded",)
    # Segments from before "compiled" was recorded count as eager: all steps before --compile
    # existed were, and the few compiled ones since cannot be told apart now.
    return tuple(segment.get(k) for k in ("device", "precision", "hardware", "processes",
                                          "threads")) + (bool(segment.get("compiled")),)


def segment_line(segment: dict) -> str:
    """One line of a model card: the steps, what ran them and how long they took."""
    steps = segment["last_step"] - segment["first_step"]
    where = (f"steps {segment['first_step']:,}–{segment['last_step']:,} "
             f"({steps:,} step{'' if steps == 1 else 's'}, {segment['wall_seconds'] / 3600:.2f} h)")
    if segment.get("recorded", True) is False:
        return f"{where}: hardware and precision not recorded (before segments were logged)"
    parallel = (f"{segment['processes']} processes" if segment["processes"] > 1
                else f"{segment['threads']} CPU thread{'' if segment['threads'] == 1 else 's'}"
                if segment["device"] == "cpu"
                else "1 process")
    if segment.get("compiled"):
        parallel += ", torch.compile"
    per_step = segment["wall_seconds"] / steps
    return (f"{where}: {segment['precision']} on {segment['device']} "
            f"({segment['hardware']}, {parallel}), {per_step:.2f} s per step")
