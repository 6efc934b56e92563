"""Kodak results of the shipped model's training run, step by step.

Each evaluation of a checkpoint (``mspviewer eval``, profile ``fast``, all 24 Kodak images)
becomes one record in ``training/kodak_by_step.json``; the table in ``training/README.md``
and the Kodak panel of the learning curve (``mspviewer.train.curve --kodak``) are drawn from
that file, so the three cannot disagree.

    python -m mspviewer.train.kodak_history add docs/kodak_results.json --shipped
    python -m mspviewer.train.kodak_history table --readme training/README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mspviewer.cli.report import load_results, marked_section, replace_marked_section
from mspviewer.errors import MSPViewerError

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
    Path(path).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


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
    args = parser.parse_args(argv)
    try:
        records = read_history(args.history)
        if args.command == "add":
            records = add_record(records, record_from_results(load_results(args.results),
                                                              args.results), args.shipped)
            write_history(args.history, records)
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
