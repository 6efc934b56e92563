"""Memory layout of the transforms: contiguous (NCHW) against channels-last (NHWC).

The codec runs g_s in channels-last when its weights are fixed (autograd off, or LOF's
frozen weights; ``SynthesisTransform.forward``) and in the default layout for training, and
g_a always in the default layout. This measures why, side by side in one run: for each of
g_a (image → latent) and g_s (latent → image) of the shipped model at one image size, the
forward pass without autograd (coding), the forward and backward pass with the gradient to
the input only (LOF: weights frozen) and with the weights' gradients (training), in both
layouts. Runs alternate between the layouts so both see the same machine load; the median
of ``--repeat`` runs is printed, with the largest difference between the two layouts'
outputs (0 when they agree exactly).

    python benchmarks/transform_layout.py                       # 512×768, CPU, one thread
    python benchmarks/transform_layout.py --size 1080x1920 --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from mspviewer.codec import load_model

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: the passes measured: no autograd (coding); the gradient to the input with the weights
#: frozen (LOF); the weights' gradients too (training: g_s also passes one on to g_a)
PASSES = {"forward, no autograd": "none", "LOF: gradient to the input": "input",
          "training: weight gradients": "weights"}


def _run(net, x: torch.Tensor, layout, gradients: str) -> torch.Tensor:
    x = x.contiguous(memory_format=layout)
    # nn.Sequential's own forward: SynthesisTransform.forward would switch the layout itself
    run = torch.nn.Sequential.forward
    if gradients == "none":
        with torch.no_grad():
            return run(net, x)
    for p in net.parameters():
        p.requires_grad_(gradients == "weights")
        p.grad = None
    x = x.detach().requires_grad_(gradients == "input" or net.input_gradient)
    out = run(net, x)
    out.square().mean().backward()
    return out.detach()


def measure(net, x: torch.Tensor, gradients: str, repeat: int) -> dict:
    device = x.device
    times = {name: [] for name in LAYOUTS}
    outputs = {}
    for name, layout in LAYOUTS.items():  # warm-up, and the outputs to compare
        outputs[name] = _run(net, x, layout, gradients).contiguous()
    for _ in range(repeat):
        for name, layout in LAYOUTS.items():
            _sync(device)
            start = time.perf_counter()
            _run(net, x, layout, gradients)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    return {"seconds": seconds,
            "channels_last_speedup": seconds["contiguous"] / seconds["channels_last"],
            "max_abs_difference": float((outputs["contiguous"] - outputs["channels_last"])
                                        .abs().max())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x768", help="image HEIGHTxWIDTH (default 512x768)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    model = load_model(device=device)
    model.g_a.input_gradient = False  # its input is the image
    model.g_s.input_gradient = True  # its input gradient trains g_a
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=generator).to(device)
    latent = torch.randn(1, model.config.transform.latent_channels, height // 16, width // 16,
                         generator=generator).to(device)
    rows = {}
    for name, net, x in (("g_a", model.g_a, image), ("g_s", model.g_s, latent)):
        for label, gradients in PASSES.items():
            rows[f"{name} {label}"] = measure(net, x, gradients, args.repeat)
    print(f"{args.size} on {device} ({args.threads} thread(s)), median of {args.repeat}:")
    print(f"{'pass':34} {'contiguous':>11} {'channels-last':>14} {'speed-up':>9} {'max |Δ|':>9}")
    for key, row in rows.items():
        s = row["seconds"]
        print(f"{key:34} {s['contiguous']:10.3f}s {s['channels_last']:13.3f}s "
              f"{row['channels_last_speedup']:8.2f}× {row['max_abs_difference']:9.2g}")
    result = {"size": args.size, "device": str(device), "threads": args.threads,
              "repeat": args.repeat, "torch": torch.__version__, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
