"""Plot the learning curve of a run from its ``log.jsonl``.

    python -m mspviewer.train.curve training/msp-default/log.jsonl -o docs/learning_curve.png

One line per λ of the ladder (records are per batch, each batch has one λ): smoothed PSNR
and bpp of the training crops against the step.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def read_log(path: str) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot(records: list[dict], output: str, window: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_lambda: dict[float, list[dict]] = defaultdict(list)
    for record in records:
        by_lambda[record["lambda"]].append(record)
    figure, (psnr_axis, bpp_axis) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for lam in sorted(by_lambda):
        rows = by_lambda[lam]
        steps = np.array([r["step"] for r in rows])
        for axis, key in ((psnr_axis, "psnr"), (bpp_axis, "bpp")):
            values = smooth(np.array([r[key] for r in rows]), window)
            axis.plot(steps[len(steps) - len(values):], values, label=f"λ={lam:g}")
    psnr_axis.set_ylabel("PSNR of training crops (dB)")
    bpp_axis.set_ylabel("bpp of training crops")
    for axis in (psnr_axis, bpp_axis):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    psnr_axis.legend(fontsize=8)
    last = records[-1]
    figure.suptitle(f"training: {last['step']} steps, {last['wall_seconds'] / 3600:.2f} h "
                    f"of compute (smoothed over {window} log records per λ)")
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args(argv)
    plot(read_log(args.log), args.output, args.window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
