"""Reading training checkpoints, and their hand-off copy: what is committed between sessions.

A run's own checkpoints are exact (float32 weights, Adam moments and the weight average), so
a run that stops and resumes inside a session replays exactly. The copy committed to the
repository must be small: everything that travels to a lent GPU machine (the working tree
and whatever it carries: training data, this checkpoint) must fit in 64 MiB, and files come
back from it 16 MiB at a time. The hand-off keeps what a resumed run needs exactly, the
weights, step counter and settings (hence the batches, λ and noise of every later step),
and stores Adam's moments in bfloat16, which halves them; it leaves out the weight average,
which forgets its start within a few thousand steps (decay 0.999: 0.999⁵⁰⁰⁰ < 1 %), so a
resumed run starts a new one at the weights.

A run resumed from the hand-off therefore takes the same steps on the same data from the
same weights; its first updates differ from the uninterrupted run's by the bfloat16
rounding of the moments (at most 2⁻⁸ relative), which Adam's averages forget as it goes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mspviewer.codec.weights import load_tensor_file
from mspviewer.errors import TrainingError
from mspviewer.files import write_atomically

MOMENT_DTYPE = torch.bfloat16


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A training checkpoint's payload, on the CPU; anything else is a TrainingError."""
    path = Path(path)
    payload = load_tensor_file(path, TrainingError, "checkpoint", "training checkpoint")
    required = {"model", "optimizer", "settings", "step"}
    if not isinstance(payload, dict) or not required <= set(payload):
        raise TrainingError(f"{path} is not a training checkpoint (a shipped weights file? "
                            f"export-model and pack-checkpoint take runs/NAME/checkpoint.pt)")
    return payload


def cast_adam_moments(optimizer_state: dict, dtype: torch.dtype) -> None:
    """Adam's first and second moments in an optimiser state dict, cast in place."""
    for state in optimizer_state["state"].values():
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key] = state[key].to(dtype)


def pack_checkpoint(source: str | os.PathLike, target: str | os.PathLike) -> dict:
    """Write the hand-off copy of checkpoint ``source`` to ``target``; returns both sizes."""
    source, target = Path(source), Path(target)
    payload = read_checkpoint(source)
    cast_adam_moments(payload["optimizer"], MOMENT_DTYPE)
    payload.pop("ema", None)
    payload["handoff"] = {"moments": str(MOMENT_DTYPE).removeprefix("torch."),
                          "weight_average": "not kept"}
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda handle: torch.save(payload, handle))
    return {"source": str(source), "source_bytes": source.stat().st_size,
            "target": str(target), "target_bytes": target.stat().st_size,
            "step": int(payload["step"])}
