"""Plot the learning curve of a run from its ``log.jsonl``.

    python -m mspviewer.train.curve training/msp-default/log.jsonl -o docs/learning_curve.png \
        --kodak training/kodak_by_step.json

One line per λ of the ladder (records are per batch, each batch has one λ): smoothed PSNR
and bpp of the training crops against the step. Smoothing never crosses a change of crop
size, which is marked: a larger crop has fewer border pixels, so its bpp and PSNR move at
the change without the model having changed. With ``--kodak`` a third panel shows the
Kodak BD-rates of the evaluated checkpoints (``kodak_history``), the measure that counts.
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


def crop_stretches(records: list[dict]) -> list[list[dict]]:
    """The log cut into stretches of consecutive records at one crop size."""
    stretches: list[list[dict]] = []
    for record in records:
        if not stretches or stretches[-1][-1].get("crop") != record.get("crop"):
            stretches.append([])
        stretches[-1].append(record)
    return stretches


def crop_changes(records: list[dict]) -> list[tuple[int, int]]:
    """(first logged step, crop size) of every stretch of the log at one crop size."""
    return [(stretch[0]["step"], stretch[0].get("crop")) for stretch in crop_stretches(records)]


def smoothed_series(records: list[dict], key: str, window: int
                    ) -> dict[float, list[tuple[np.ndarray, np.ndarray]]]:
    """Per λ, the (steps, values) pieces of ``key`` smoothed over ``window`` records, one
    piece per stretch at one crop size."""
    pieces: dict[float, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for stretch in crop_stretches(records):
        by_lambda: dict[float, list[dict]] = defaultdict(list)
        for record in stretch:
            by_lambda[record["lambda"]].append(record)
        for lam, rows in by_lambda.items():
            steps = np.array([r["step"] for r in rows])
            values = smooth(np.array([r[key] for r in rows], dtype=float), window)
            pieces[lam].append((steps[len(steps) - len(values):], values))
    return pieces


def plot(records: list[dict], output: str, window: int = 10,
         kodak: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if kodak else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), dpi=110, sharex=True)
    psnr_axis, bpp_axis = axes[0], axes[1]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, key in ((psnr_axis, "psnr"), (bpp_axis, "bpp")):
        for index, (lam, pieces) in enumerate(sorted(smoothed_series(records, key,
                                                                     window).items())):
            for number, (steps, values) in enumerate(pieces):
                axis.plot(steps, values, color=colours[index % len(colours)],
                          label=f"λ={lam:g}" if number == 0 else None)
    for step, crop in crop_changes(records)[1:]:
        for axis in axes:
            axis.axvline(step, color="grey", linestyle="--", linewidth=0.8)
        bpp_axis.annotate(f"crops {crop}² →", (step, 1), xycoords=("data", "axes fraction"),
                          xytext=(-3, -12), textcoords="offset points", fontsize=8,
                          horizontalalignment="right")
    psnr_axis.set_ylabel("PSNR of training crops (dB)")
    bpp_axis.set_ylabel("bpp of training crops")
    if kodak:
        plot_kodak(axes[2], kodak)
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    psnr_axis.legend(fontsize=8)
    last = records[-1]
    figure.suptitle(f"training: {last['step']} steps, {last['wall_seconds'] / 3600:.2f} h "
                    f"of compute (smoothed over {window} log records per λ)")
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def plot_kodak(axis, history: list[dict]) -> None:
    """BD-rate on Kodak by step against each anchor: the moving-average (shipped kind)
    checkpoints joined by lines, checkpoints evaluated with their raw weights as hollow marks."""
    from mspviewer.train.kodak_history import ANCHORS

    colours = ("tab:green", "tab:red", "tab:purple")
    for colour, (name, label) in zip(colours, ANCHORS.items()):
        for weights, style in (("moving average", "-o"), ("raw", "o")):
            rows = [r for r in history if r["weights"] == weights
                    and r["bd_rate_percent"].get(name) is not None]
            if rows:
                hollow = weights == "raw"
                axis.plot([r["step"] for r in rows], [r["bd_rate_percent"][name] for r in rows],
                          style, color=colour, markerfacecolor="none" if hollow else colour,
                          label=label.removeprefix("vs ") + (" (raw weights)" if hollow else ""))
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel("Kodak BD-rate, PSNR-RGB (%)")
    axis.set_title("Kodak, profile fast (negative: fewer bits)", fontsize=9)
    axis.legend(fontsize=7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--kodak", help="Kodak history (training/kodak_by_step.json): adds "
                                         "the panel of Kodak BD-rates by step")
    args = parser.parse_args(argv)
    kodak = None
    if args.kodak:
        from mspviewer.train.kodak_history import read_history

        kodak = read_history(args.kodak)
    plot(read_log(args.log), args.output, args.window, kodak)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
