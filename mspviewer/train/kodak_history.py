"""Kodak results of the shipped model's training run, step by step.

Each evaluation of a checkpoint (``mspviewer eval``, profile ``fast``, all 24 Kodak images)
becomes one record in ``training/kodak_by_step.json``; the table in ``training/README.md``
and the Kodak panel of the learning curve (``mspviewer.train.curve --kodak``) are drawn from
that file, so the three cannot disagree.

    python -m mspviewer.train.kodak_history add docs/kodak_results.json --shipped
    python -m mspviewer.train.kodak_history table --readme training/README.md
    python -m mspviewer.train.kodak_history trend --since 46000 --target -35
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from mspviewer.cli.report import load_results, marked_section, replace_marked_section
from mspviewer.errors import MSPViewerError
from mspviewer.files import write_json

DEFAULT_HISTORY = "training/kodak_by_step.json"
# The anchors of the table, in its column order: measured WebP is the target anchor.
ANCHORS = {"webp (measured)": "vs WebP (measured)",
           "vtm (published)": "vs VTM (published)",
           "compressai-bmshj2018-hyperprior_mse_cpu (published)": "vs Ballé 2018 hyperprior"}
TABLE_LAMBDA = 0.013  # the λ whose mean point the table shows (mid-ladder, about 0.5 bpp)
MARKER_BEGIN = "<!-- kodak-by-step:begin (written by `python -m mspviewer.train.kodak_history`) -->"
MARKER_END = "<!-- kodak-by-step:end -->"
SECTION = marked_section(MARKER_BEGIN, MARKER_END)


def record_from_results(document: dict, source: str) -> dict:
    """The record of one ``mspviewer eval`` results document (its model card names the step
    and which weights were exported)."""
    card = (document.get("model") or {}).get("card") or {}
    step = card.get("training_steps")
    if not isinstance(step, int):
        raise MSPViewerError(f"{source}: its model card names no training step")
    if document.get("profile") != "fast":
        raise MSPViewerError(f"{source}: profile {document.get('profile')!r}; the history "
                             f"follows the plain encoder (fast)")
    points = {point["quality"]: point for point in document["mean"]["points"]}
    if TABLE_LAMBDA not in points:
        raise MSPViewerError(f"{source}: no mean point at λ = {TABLE_LAMBDA}")
    bd_rates = document.get("bd_rate_vs") or {}
    return {
        "step": step,
        "weights": ("moving average" if str(card.get("weights", "")).startswith("moving")
                    else "raw"),
        "model_id": document["model"].get("id"),
        "num_images": document.get("num_images"),
        "bd_rate_percent": {name: _rounded(bd_rates.get(name, {}).get("bd_rate_percent"))
                            for name in ANCHORS},
        "psnr_rgb": round(points[TABLE_LAMBDA]["psnr_rgb"], 2),
        "bpp": round(points[TABLE_LAMBDA]["bpp"], 3),
        "source": source,
    }


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), 1)


def read_history(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())["records"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MSPViewerError(f"{path} is not a Kodak history file ({error})") from None
    return records


def add_record(records: list[dict], record: dict, shipped: bool) -> list[dict]:
    """``records`` with ``record`` in step order; an earlier record of the same step and
    weights is replaced (an evaluation rerun), and ``shipped`` moves the mark to it."""
    kept = [r for r in records if (r["step"], r["weights"]) != (record["step"], record["weights"])]
    if shipped:
        kept = [{key: value for key, value in r.items() if key != "shipped"} for r in kept]
        record = {**record, "shipped": True}
    return sorted(kept + [record], key=lambda r: (r["step"], r["weights"] != "raw"))


def write_history(path: str | Path, records: list[dict]) -> None:
    document = {"about": "Kodak (24 images), profile fast, BD-rate of PSNR-RGB in percent, "
                         f"PSNR-RGB and bpp of the mean point at λ = {TABLE_LAMBDA}; one "
                         "record per evaluated checkpoint of the shipped model's run",
                "records": records}
    # Whole or not at all: the history is the only record of checkpoints no longer kept.
    write_json(path, document, indent=1)


def markdown_table(records: list[dict]) -> str:
    header = ["step", "weights", *ANCHORS.values(), f"PSNR-RGB at λ = {TABLE_LAMBDA:g}"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for record in records:
        weights = record["weights"] + (" (shipped)" if record.get("shipped") else "")
        rates = [_percent(record["bd_rate_percent"].get(name)) for name in ANCHORS]
        quality = f"{record['psnr_rgb']:.2f} dB ({record['bpp']:.3f} bpp)"
        lines.append("| " + " | ".join([f"{record['step']:,}", weights, *rates, quality]) + " |")
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f} %".replace("-", "−")


def replace_table(readme: str | Path, records: list[dict]) -> None:
    replace_marked_section(readme, MARKER_BEGIN, MARKER_END, markdown_table(records),
                           "kodak-by-step")


def trend(records: list[dict], since: int = 0, target: float = -35.0,
          anchor: str = "webp (measured)") -> dict:
    """Two fits of BD-rate against ``anchor`` over the moving-average records from step
    ``since`` on, and what each says about reaching ``target`` percent.

    The fits bracket the outlook rather than predict it: a straight line in log(step) (gains
    per doubling of the steps stay the same: the optimistic reading) and a + b/step (gains
    die away towards an asymptote ``a``: the pessimistic one)."""
    points = [(r["step"], r["bd_rate_percent"].get(anchor)) for r in records
              if r["step"] >= max(since, 1) and r["weights"] == "moving average"
              and r["bd_rate_percent"].get(anchor) is not None]
    if len({step for step, _ in points}) < 3:
        raise MSPViewerError(f"a trend needs records at 3 or more steps from {since:,} on "
                             f"(moving average, with a BD-rate against {anchor}); "
                             f"there are {len({step for step, _ in points})}")
    steps = np.array([step for step, _ in points], dtype=float)
    rates = np.array([rate for _, rate in points], dtype=float)
    per_log, log_intercept = np.polyfit(np.log(steps), rates, 1)
    per_inverse, asymptote = np.polyfit(1.0 / steps, rates, 1)
    improving = per_log < 0 and (target - log_intercept) / per_log < 700  # exp() stays finite
    log_step = math.exp((target - log_intercept) / per_log) if improving else None
    # a + b/step reaches the target only where the asymptote lies beyond it
    inverse_step = (per_inverse / (target - asymptote)
                    if per_inverse > 0 and asymptote < target else None)
    return {"anchor": anchor, "target_percent": target,
            "steps": [int(step) for step in steps], "bd_rate_percent": rates.tolist(),
            "log_linear": {"points_per_doubling": float(per_log * math.log(2)),
                           "step_at_target": log_step},
            "saturating": {"asymptote_percent": float(asymptote),
                           "step_at_target": inverse_step}}


def describe_trend(fit: dict) -> str:
    first, last = fit["steps"][0], fit["steps"][-1]
    log_fit, saturating = fit["log_linear"], fit["saturating"]
    if fit["bd_rate_percent"][-1] <= fit["target_percent"]:
        return (f"BD-rate against {fit['anchor']}: {_percent(fit['bd_rate_percent'][-1])} at "
                f"step {fit['steps'][-1]:,}, the target {_percent(fit['target_percent'])} "
                f"is reached\n")
    lines = [f"BD-rate against {fit['anchor']}: {len(fit['steps'])} records from step "
             f"{first:,} to {last:,} ({_percent(fit['bd_rate_percent'][0])} to "
             f"{_percent(fit['bd_rate_percent'][-1])}); target {_percent(fit['target_percent'])}"]
    per_doubling = f"{log_fit['points_per_doubling']:+.1f}".replace("-", "−")
    lines.append(f"straight line in log(step): {per_doubling} points per doubling of the steps; "
                 + _reaching(log_fit["step_at_target"]))
    lines.append(f"a + b/step: levels off at {_percent(saturating['asymptote_percent'])}; "
                 + _reaching(saturating["step_at_target"]))
    return "\n".join(lines) + "\n"


def _reaching(step: float | None) -> str:
    return "never reaches the target" if step is None else f"reaches the target at step {step:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default=DEFAULT_HISTORY, help="the history file")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add the record of an eval results file")
    add.add_argument("results")
    add.add_argument("--shipped", action="store_true",
                     help="these results are of the model shipped in models/")
    table = commands.add_parser("table", help="print the table, or write it into a README")
    table.add_argument("--readme", help="file with the kodak-by-step markers")
    outlook = commands.add_parser("trend", help="fit the BD-rate against WebP over the steps "
                                                "and say when a target would be reached")
    outlook.add_argument("--since", type=int, default=0, help="first step of the fit")
    outlook.add_argument("--target", type=float, default=-35.0, help="BD-rate in percent")
    outlook.add_argument("--json", action="store_true", help="print the fit as JSON")
    args = parser.parse_args(argv)
    try:
        records = read_history(args.history)
        if args.command == "add":
            records = add_record(records, record_from_results(load_results(args.results),
                                                              args.results), args.shipped)
            write_history(args.history, records)
        elif args.command == "trend":
            fit = trend(records, args.since, args.target)
            print(json.dumps(fit, indent=1) if args.json else describe_trend(fit).rstrip())
        elif args.readme:
            replace_table(args.readme, records)
        else:
            print(markdown_table(records), end="")
    except MSPViewerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
