"""The hand-off copy of a training checkpoint: what is committed between sessions.

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
rounding of the moments (relative 2⁻⁹), which Adam's averages forget as it goes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mspviewer.errors import TrainingError

MOMENT_DTYPE = torch.bfloat16


def pack_checkpoint(source: str | os.PathLike, target: str | os.PathLike) -> dict:
    """Write the hand-off copy of checkpoint ``source`` to ``target``; returns both sizes."""
    source, target = Path(source), Path(target)
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise TrainingError(f"{source} is not a readable training checkpoint ({error})") \
            from None
    if not isinstance(payload, dict) or "optimizer" not in payload or "model" not in payload:
        raise TrainingError(f"{source} is not a training checkpoint")
    optimizer = payload["optimizer"]
    for state in optimizer["state"].values():
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key] = state[key].to(MOMENT_DTYPE)
    payload.pop("ema", None)
    payload["handoff"] = {"moments": str(MOMENT_DTYPE).removeprefix("torch."),
                          "weight_average": "not kept"}
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, target)
    return {"source": str(source), "source_bytes": source.stat().st_size,
            "target": str(target), "target_bytes": target.stat().st_size,
            "step": int(payload["step"])}
