"""Where a LOF iteration spends its time: torch.profiler over a few `balanced` iterations.

Prints the wall time per iteration, the number of operator calls per iteration, and the
operators (and, on CUDA, the kernels and host-device copies) that take the most time. On a
GPU this tells launch overhead from arithmetic: a `balanced` iteration on a full Kodak image
took about 0.2 s on an H200 (docs/profiles.md), where a 768×512 image's transforms need a
few milliseconds of arithmetic.

    python benchmarks/lof_profile.py [IMAGE] [--device cuda] [--crop 512x768] [--iterations 5]
        [--batches 1,6,24]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mspviewer.codec import load_model, resolve_device  # noqa: E402
from mspviewer.codec.api import image_to_tensor  # noqa: E402
from mspviewer.codec.lof import optimise_latent, optimise_latents  # noqa: E402
from mspviewer.codec.profiles import get_profile  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", type=Path,
                        default=REPO.parent / "shared" / "data" / "kodak" / "kodim01.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--crop", default=None, help="HEIGHTxWIDTH from the top left")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--batches", default="",
                        help="comma-separated batch sizes: afterwards, time iterations of that "
                             "many encodes at once (the image at the ladder's λ values in turn; "
                             "optimise_latents), without the profiler")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(None, device=device)
    pixels = load_image(args.image).pixels
    if args.crop:
        height, _, width = args.crop.lower().partition("x")
        pixels = pixels[:int(height), :int(width)].copy()
    x = image_to_tensor(pixels, device)
    # warm-up iterations outside the profile (first-call costs, cuDNN's choices)
    budget = dataclasses.replace(get_profile("balanced"), lof_iterations=args.iterations + 3)
    steps = optimise_latent(model, x, 0.013, budget)
    for _ in range(3):
        next(steps)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    start = time.perf_counter()
    with profile(activities=activities) as profiler:
        for _ in range(args.iterations):
            next(steps)
    seconds = (time.perf_counter() - start) / args.iterations
    steps.close()
    averages = profiler.key_averages()
    operators = sum(event.count for event in averages if event.key.startswith("aten::"))
    print(f"{pixels.shape[1]}x{pixels.shape[0]} on {device}: {seconds * 1000:.1f} ms per "
          f"iteration under the profiler, {operators / args.iterations:.0f} operator calls "
          "per iteration (nested calls included)")
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(averages.table(sort_by=sort, row_limit=args.top))
    if device.type == "cuda":
        copies = [event for event in averages if "Memcpy" in event.key]
        for event in copies:
            print(f"{event.key}: {event.count / args.iterations:.0f} per iteration")
    for size in [int(v) for v in args.batches.split(",") if v.strip()]:
        time_batch(model, x, size, budget, args.iterations)
    return 0


def time_batch(model, x, size: int, budget, iterations: int) -> None:
    """Seconds per iteration of ``size`` encodes run together, and per encode."""
    ladder = model.config.rate.lambdas
    lams = [ladder[k % len(ladder)] for k in range(size)]
    steps = optimise_latents(model, x.expand(size, -1, -1, -1), lams, budget)
    for _ in range(3):  # warm-up
        next(steps)
    start = time.perf_counter()
    for _ in range(iterations):
        next(steps)  # a round's records are on the host: the device has finished it
    seconds = (time.perf_counter() - start) / iterations
    steps.close()
    print(f"batch of {size}: {seconds * 1000:.1f} ms per iteration, "
          f"{seconds * 1000 / size:.1f} ms per encode and iteration", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
