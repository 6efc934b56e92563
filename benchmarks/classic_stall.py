"""How long a classic codec's quality search keeps the interpreter from other threads.

The viewer searches a classic codec's setting for the learned codec's rate in a worker
thread. Run in that thread, Pillow's encoders hold the interpreter lock for each whole
save, and the GUI thread's event loop waits; run in a helper process
(``mspviewer.baselines.isolated``), they do not. This script runs the same search both ways,
side by side, while the main thread ticks every ``--tick-ms``, and prints the longest and
the 99th-percentile gap between ticks, and the search's time.

    python benchmarks/classic_stall.py [IMAGE] [--codec jpeg-420] [--bpp 0.4] [--repeat 3]

Without IMAGE it codes a ``--size``² image of blocky noise (2048: a 4 MP photo's load).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mspviewer.baselines import find_quality_for_bpp, get_codec  # noqa: E402
from mspviewer.baselines.isolated import CodecProcess, IsolatedCodec  # noqa: E402


def test_image(size: int = 2048) -> np.ndarray:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (size // 16, size // 16, 3)).astype(np.float32)
    smooth = np.kron(coarse, np.ones((16, 16, 1), np.float32))
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def ticking_gaps(work, tick_s: float) -> tuple[np.ndarray, float, object]:
    """Run ``work`` in a thread; return the main thread's lateness at each tick, the work's
    time and its result."""
    done = threading.Event()
    took, results = [], []

    def run():
        start = time.perf_counter()
        results.append(work())
        took.append(time.perf_counter() - start)
        done.set()

    gaps = []
    thread = threading.Thread(target=run)
    last = time.perf_counter()
    thread.start()
    while not done.is_set():
        time.sleep(tick_s)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    thread.join()
    if not gaps:  # the work ended before the first tick
        gaps.append(time.perf_counter() - last)
    return np.array(gaps) - tick_s, took[0], results[0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", type=Path)
    parser.add_argument("--codec", default="jpeg-420")
    parser.add_argument("--bpp", type=float, default=0.4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tick-ms", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args(argv)
    if args.image is not None:
        from mspviewer.imageio import load_image

        pixels = load_image(args.image).pixels
    else:
        pixels = test_image(args.size)
    pixels.setflags(write=False)  # as the viewer's: sent to the helper once
    codec = get_codec(args.codec)
    helper = CodecProcess()
    isolated = IsolatedCodec(codec, helper)
    isolated.prepare(pixels)  # started beforehand, as after the viewer's first search
    ways = {"in this process": codec, "helper process": isolated}
    height, width = pixels.shape[:2]
    print(f"{codec.label} searched for {args.bpp} bpp on {width}x{height}, main thread "
          f"ticking every {args.tick_ms:g} ms; {args.repeat} runs each, alternating")
    print(f"{'where':<18}{'longest gap':>14}{'99th pct':>12}{'search':>10}")
    rows: dict[str, list] = {name: [] for name in ways}
    found = set()
    try:
        for _ in range(args.repeat):
            for name, runner in ways.items():
                gaps, took, result = ticking_gaps(
                    lambda runner=runner: find_quality_for_bpp(runner, pixels, args.bpp),
                    args.tick_ms / 1000)
                rows[name].append({"longest_gap_s": float(gaps.max()),
                                   "p99_gap_s": float(np.percentile(gaps, 99)),
                                   "search_s": took})
                found.add((result.quality, result.data))
    finally:
        helper.stop()
    for name, runs in rows.items():
        for run in runs:
            print(f"{name:<18}{run['longest_gap_s'] * 1000:>11.1f} ms"
                  f"{run['p99_gap_s'] * 1000:>9.1f} ms{run['search_s']:>9.2f} s")
    # the helper codes what this process codes: one setting and one file, every run
    (quality, data), = found
    print(f"every run found {codec.quality_name} {quality} ({len(data)} bytes)")
    return {"rows": rows, "quality": quality, "num_bytes": len(data)}


if __name__ == "__main__":
    main()
