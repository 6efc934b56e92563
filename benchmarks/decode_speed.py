"""Decode time against image size: MSP versus a serial autoregressive context model.

MSP decodes in a fixed number of network passes whatever the image size; a Minnen-2018
style context model (``serial_context_model.py``, a timing reference with random weights,
not a codec of this project) must visit every latent position in raster order. Both are
measured side by side in one run, on the same latent (M channels, h = H/16, w = W/16, from
the MSP model's g_a on a synthetic image) and with the same synthesis transform g_s.

For each, the time is split into the entropy-decoding stage (everything before g_s: for MSP
the bitstream header and model check, the context networks and range decoding; for the
reference the serial loop with range decoding) and the synthesis g_s, measured in the same
decode call. Timed decodes of the two alternate (MSP, serial, MSP, ...) so both see the same
machine load; the median of ``--repeat`` runs is reported. Each decoder first encodes a real
stream and every timed decode must reproduce the encoded symbols exactly ("verified").

    python benchmarks/decode_speed.py                    # all sizes, CPU (+ CUDA if present)
    python benchmarks/decode_speed.py --sizes 256x256,1080x1920 --repeat 1 --json out.json
    python benchmarks/decode_speed.py --quick            # 256×256 once: a smoke run

Sizes are HEIGHTxWIDTH. CPU runs use ``--threads`` (default 1) for both decoders: on a shared
machine one thread is the steadiest (two contended threads slowed the serial loop's many
small products several-fold here). ``--serial-positions N`` times only the first N positions
of the serial reference and extrapolates linearly; such rows are marked "extrapolated".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serial_context_model import SerialContextModel  # noqa: E402

from mspviewer.codec import (build_random_model, default_model_path, image_to_tensor,  # noqa: E402
                             load_model)
from mspviewer.codec.transforms import DOWNSAMPLING  # noqa: E402

DEFAULT_SIZES = ((256, 256), (512, 768), (1024, 1024), (1080, 1920))
QUICK_SIZES = ((256, 256),)
SIZE_2K = (1080, 1920)


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    sizes = []
    for item in text.split(","):
        height, _, width = item.strip().lower().partition("x")
        if not height.isdigit() or not width.isdigit() or int(height) < 1 or int(width) < 1:
            raise argparse.ArgumentTypeError(f"size {item!r} is not HEIGHTxWIDTH")
        sizes.append((int(height), int(width)))
    return tuple(sizes)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="comma-separated HEIGHTxWIDTH list (default: 256x256,512x768,"
                             "1024x1024,1080x1920; with --quick: 256x256)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed decodes per size and decoder; the median is reported "
                             "(default 3, with --quick 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 256x256, repeat 1")
    parser.add_argument("--devices", default="auto",
                        help="cpu, cuda or cpu,cuda (default: cpu, plus cuda when available)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both decoders (default 1)")
    parser.add_argument("--lam", type=float, default=0.0067, help="rate point λ for MSP")
    parser.add_argument("--model", default=None,
                        help="MSP weights file (default: the shipped model if present, else "
                             "a random model of the default configuration)")
    parser.add_argument("--serial-positions", type=int, default=None,
                        help="time only this many positions of the serial reference and "
                             "extrapolate linearly (default: decode every position)")
    parser.add_argument("--json", dest="json_out", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.devices == "auto":
        args.devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    args.devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if any(d.startswith("cuda") for d in args.devices) and not torch.cuda.is_available():
        parser.error("CUDA was requested but is not available")
    return args


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients with texture and noise, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [128 + 70 * np.sin(cols / (9 + 4 * c) + rng.uniform(0, 6.3))
              * np.cos(rows / (13 + 5 * c)) + rng.normal(0, 10, (height, width))
              for c in range(3)]
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def load_msp(model_path):
    path = Path(model_path) if model_path else default_model_path()
    if model_path or path.exists():
        return load_model(path), f"{path.name} (trained weights)"
    return build_random_model(), "random weights, default ModelConfig (no shipped model)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class MSPTimer:
    """Times ``model.decompress(data)``, splitting off g_s's time inside the same call."""

    def __init__(self, model, data: bytes, expected_y_hat, device):
        self.model, self.data, self.expected, self.device = model, data, expected_y_hat, device
        self.runs, self.verified = [], True

    def decode_once(self, record: bool = True) -> None:
        model, device, spent = self.model, self.device, {}
        original = model.synthesise

        def timed_synthesise(*args, **kwargs):
            _sync(device)
            start = time.perf_counter()
            image = original(*args, **kwargs)
            _sync(device)
            spent["synthesis"] = time.perf_counter() - start
            return image

        model.synthesise = timed_synthesise  # instance attribute: shadows the method here only
        try:
            _sync(device)
            start = time.perf_counter()
            result = model.decompress(self.data)
            _sync(device)
            total = time.perf_counter() - start
        finally:
            del model.synthesise
        self.verified &= bool(torch.equal(result.y_hat, self.expected))
        if record:  # False for the warm-up decode
            self.runs.append({"total_s": total, "synthesis_s": spent["synthesis"],
                              "entropy_s": total - spent["synthesis"]})

    def summary(self) -> dict:
        return _summarise(self.runs, verified=self.verified, bytes=len(self.data),
                          extrapolated=False)


class SerialTimer:
    """Encodes ``y`` serially once, then times serial decodes followed by g_s."""

    def __init__(self, reference, model, point, y, image_size, positions, device):
        _, _, self.height, self.width = y.shape
        total_positions = self.height * self.width
        self.measured = total_positions if positions is None else min(positions,
                                                                       total_positions)
        self.scale = total_positions / self.measured  # 1 unless a prefix is timed
        self.reference, self.model, self.point = reference, model, point
        self.image_size, self.device = image_size, device
        self.words, self.symbols, self.y_hat = reference.encode(y, self.measured)
        self.runs, self.verified = [], True

    def decode_once(self) -> None:
        device = self.device
        _sync(device)
        start = time.perf_counter()
        decoded, y_hat = self.reference.decode(self.words, self.height, self.width,
                                               self.measured)
        _sync(device)
        middle = time.perf_counter()
        with torch.no_grad():
            self.model.synthesise(y_hat, self.point, self.image_size).clamp_(0, 1)
        _sync(device)
        end = time.perf_counter()
        self.verified &= bool(np.array_equal(decoded, self.symbols)
                              and torch.equal(y_hat, self.y_hat))
        entropy = (middle - start) * self.scale
        self.runs.append({"entropy_s": entropy, "synthesis_s": end - middle,
                          "total_s": entropy + end - middle})

    def summary(self) -> dict:
        return _summarise(self.runs, verified=self.verified, bytes=4 * len(self.words),
                          extrapolated=self.scale > 1, measured_positions=self.measured,
                          symbols=int(self.symbols.size))


def _summarise(runs, **extra) -> dict:
    summary = {key: statistics.median(run[key] for run in runs)
               for key in ("entropy_s", "synthesis_s", "total_s")}
    summary["total_min_s"] = min(run["total_s"] for run in runs)
    return {**summary, **extra, "runs": runs}


def measure_device(device_name, args, model, sizes) -> list[dict]:
    device = torch.device(device_name)
    model = model.to(device)
    coding = model.config.coding
    latent_channels = model.config.transform.latent_channels
    reference = SerialContextModel(latent_channels, model.sigma_table,
                                   coding.symbol_bound).to(device).eval()
    rows = []
    for height, width in sizes:
        pixels = synthetic_image(height, width)
        with torch.no_grad():
            x = image_to_tensor(pixels, device)
            compressed = model.compress(x, args.lam)
            point = model.rate_point(compressed.analysis.lam)
            y = model.analyse(x, point)  # the gained latent MSP codes
        msp_timer = MSPTimer(model, compressed.bitstream, compressed.y_hat, device)
        serial_timer = SerialTimer(reference, model, point, y, (height, width),
                                   args.serial_positions, device)  # encodes: also a warm-up
        msp_timer.decode_once(record=False)  # warm-up
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            msp_timer.decode_once()
            serial_timer.decode_once()
        msp, serial = msp_timer.summary(), serial_timer.summary()
        _, m, h, w = y.shape
        rows.append({"device": device_name, "height": height, "width": width,
                     "latent": [m, h, w], "positions": h * w, "msp": msp, "serial": serial,
                     "ratio_total": serial["total_s"] / msp["total_s"],
                     "ratio_entropy": serial["entropy_s"] / msp["entropy_s"]})
        print(f"  {device_name} {height}x{width}: MSP {msp['total_s']:.3f} s, serial "
              f"{serial['total_s']:.3f} s", flush=True)
    model.to("cpu")
    return rows


def format_table(rows) -> str:
    header = (f"{'device':<6} {'size (HxW)':>10} {'latent h×w':>10} {'positions':>9} | "
              f"{'MSP ent':>8} {'MSP g_s':>8} {'MSP tot':>8} | {'ser ent':>8} {'ser g_s':>8} "
              f"{'ser tot':>8} | {'ratio':>7} {'ent rat':>7} | verified")
    lines = [header, "-" * len(header)]
    for row in rows:
        msp, serial = row["msp"], row["serial"]
        mark = "*" if serial["extrapolated"] else " "
        ok = "yes" if msp["verified"] and serial["verified"] else "NO"
        lines.append(
            f"{row['device']:<6} {row['height']:>4}x{row['width']:<5} "
            f"{row['latent'][1]:>4}x{row['latent'][2]:<5} {row['positions']:>9} | "
            f"{msp['entropy_s']:>8.3f} {msp['synthesis_s']:>8.3f} {msp['total_s']:>8.3f} | "
            f"{serial['entropy_s']:>7.3f}{mark} {serial['synthesis_s']:>8.3f} "
            f"{serial['total_s']:>7.3f}{mark} | {row['ratio_total']:>6.1f}× "
            f"{row['ratio_entropy']:>6.1f}× | {ok}")
    if any(row["serial"]["extrapolated"] for row in rows):
        lines.append("* serial entropy stage EXTRAPOLATED linearly from a measured prefix of "
                     "positions (see measured_positions in the JSON)")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model, model_source = load_msp(args.model)
    model.eval()
    config = model.config
    print(f"MSP model: {model_source}; M={config.transform.latent_channels}, "
          f"{config.msp.sequential_passes} sequential passes; λ={args.lam}")
    print(f"serial reference: Minnen-2018-style 5×5 type-A masked context + 1×1 entropy "
          f"parameters, random weights (timing only; hyperprior branch omitted)")
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, devices "
          f"{', '.join(args.devices)}, repeat {args.repeat} (median)")
    if any(d.startswith("cuda") for d in args.devices):
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    rows = []
    for device_name in args.devices:
        rows += measure_device(device_name, args, model, args.sizes)
    print()
    print("decode time in seconds: entropy-decoding stage (ent), synthesis g_s, total (tot); "
          "ratio = serial / MSP")
    print(format_table(rows))
    ratio_2k = {row["device"]: row["ratio_total"] for row in rows
                if (row["height"], row["width"]) == SIZE_2K}
    for device_name, ratio in ratio_2k.items():
        print(f"ratio at 2K (1080x1920) on {device_name}: the serial reference takes "
              f"{ratio:.1f}× as long as MSP to decode")
    results = {
        "model": model_source, "latent_channels": config.transform.latent_channels,
        "msp_sequential_passes": config.msp.sequential_passes, "lam": args.lam,
        "threads": torch.get_num_threads(), "repeat": args.repeat, "torch": torch.__version__,
        "downsampling": DOWNSAMPLING,
        "cuda_device": torch.cuda.get_device_name() if "cuda" in ",".join(args.devices)
        else None,
        "rows": rows, "ratio_2k": ratio_2k,
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
        print(f"figures written to {args.json_out}")
    return results


if __name__ == "__main__":
    main()
