"""Turn a training checkpoint into a shipped weights file with its model card."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

import torch

from mspviewer.codec.config import ModelConfig
from mspviewer.codec.model import MSPCodec
from mspviewer.codec.weights import save_weights


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    parts = {name: sum(p.numel() for p in module.parameters())
             for name, module in model.named_children()}
    parts["total"] = sum(parts.values())
    return parts


def export_checkpoint(checkpoint: str | Path, output: str | Path, name: str,
                      extra_card: dict | None = None) -> dict:
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    settings = payload["settings"]
    model = MSPCodec(ModelConfig.from_dict(settings["model_config"]))
    model.load_state_dict(payload["model"])
    card = {
        "name": name,
        "architecture": "MSP + gained variable rate; g_a/g_s: 4 stride-2 5x5 convs with GDN",
        "parameters": count_parameters(model),
        "training_data": settings["data"],
        "training_steps": int(payload["step"]),
        "skipped_steps": int(payload.get("skipped_steps", 0)),
        "wall_seconds": float(payload["wall_seconds"]),
        "device": settings["device"],
        "precision": settings["precision"],
        "batch_size": settings["batch_size"],
        "crop_schedule": settings["crop_schedule"],
        "learning_rate": settings["learning_rate"],
        "lambdas": list(model.config.rate.lambdas),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.machine(),
    }
    card.update(extra_card or {})
    save_weights(model, output, name=name, card=card)
    return card
