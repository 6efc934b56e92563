"""Training step time of the default model, in the default and the channels-last layout.

Both layouts are timed side by side in one run (alternating, best of N each), since these
machines are noisy. Prints forward, backward and whole-step times in seconds.

    python benchmarks/train_step.py [--crop 128] [--batch 8] [--steps 6] [--precision bf16]
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mspviewer.codec.config import ModelConfig  # noqa: E402
from mspviewer.codec.model import MSPCodec  # noqa: E402
from mspviewer.train.loop import rate_distortion_loss  # noqa: E402

LAYOUTS = {"default": torch.contiguous_format, "channels_last": torch.channels_last}


def make(layout, crop: int, batch: int, device: str):
    torch.manual_seed(0)
    model = MSPCodec(ModelConfig()).to(device, memory_format=LAYOUTS[layout]).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, crop, crop).to(device, memory_format=LAYOUTS[layout])
    return model, optimizer, x


def synchronise(device: torch.device) -> None:
    """Wait for queued GPU work, so that each timer reads the work of its own stage."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_step(model, optimizer, x, precision: str) -> tuple[float, float, float]:
    autocast = (torch.autocast(x.device.type, dtype=torch.bfloat16) if precision == "bf16"
                else nullcontext())
    start = time.perf_counter()
    with autocast:
        out = model(x, 0.013)
    loss = rate_distortion_loss(out, x, 0.013)["loss"]
    synchronise(x.device)
    forward = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    synchronise(x.device)
    backward = time.perf_counter()
    optimizer.step()
    synchronise(x.device)
    end = time.perf_counter()
    return forward - start, backward - forward, end - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per layout")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    setups = {layout: make(layout, args.crop, args.batch, args.device) for layout in LAYOUTS}
    times = {layout: [] for layout in LAYOUTS}
    for layout, setup in setups.items():  # warm-up
        one_step(*setup, args.precision)
    for _ in range(args.steps):
        for layout, setup in setups.items():
            times[layout].append(one_step(*setup, args.precision))
    print(f"batch {args.batch} × {args.crop}², {args.precision}, {args.device}, "
          f"{args.threads} thread(s); best of {args.steps}")
    for layout, rows in times.items():
        forward, backward, step = (min(column) for column in zip(*rows))
        print(f"{layout:>14}: forward {forward:.3f} s  backward {backward:.3f} s  "
              f"step {step:.3f} s")
    ratio = min(r[2] for r in times["default"]) / min(r[2] for r in times["channels_last"])
    print(f"channels_last speed-up: {ratio:.2f}×")


if __name__ == "__main__":
    main()
