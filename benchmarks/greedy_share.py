"""What share of `max`'s gain its greedy search makes: J at the end of the gradient phase
against J at the end, per image, from the progress records of one encode each (the gradient
phase is seeded, so a second encode without the greedy search would repeat it exactly).

    python benchmarks/greedy_share.py IMAGE... [--lambda 0.013] [--crop 128x128] [--model M]
        [--profile max] [--threads 1] [--results OUT.jsonl]

Prints one JSON line per image (and appends it to ``--results``): J before LOF, after the
gradient phase and at the end, each phase's drop in percent of the first, the greedy trials
and accepted batches, and the seconds of each phase.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mspviewer.codec import load_model  # noqa: E402
from mspviewer.codec.api import encode_image_steps, run_steps  # noqa: E402
from mspviewer.codec.profiles import get_profile  # noqa: E402
from mspviewer.errors import MSPViewerError  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from profiles_table import centre_crop  # noqa: E402


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+")
    parser.add_argument("--lambda", dest="lam", type=float, default=0.013)
    parser.add_argument("--crop", default="128x128", help="HEIGHTxWIDTH centre crop")
    parser.add_argument("--profile", default="max")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", help="weights file (default: the shipped model)")
    parser.add_argument("--results", help="JSON-lines file the rows are appended to")
    args = parser.parse_args(argv)
    try:
        profile = get_profile(args.profile)
    except MSPViewerError as error:
        parser.error(str(error))
    if not (profile.uses_lof and profile.greedy and profile.greedy_budget > 0):
        parser.error(f"profile {args.profile} has no gradient phase and greedy search to split")
    torch.set_num_threads(args.threads)
    model = load_model(args.model) if args.model else load_model()
    rows = []
    for path in args.images:
        pixels = centre_crop(load_image(path).pixels, args.crop)
        records: list = []
        start = time.perf_counter()
        result = run_steps(encode_image_steps(model, pixels, args.lam, profile=args.profile),
                           progress=records.append)
        gradient = [r for r in records if r.phase == "gradient"]
        greedy = [r for r in records if r.phase == "greedy"]
        lof = result.lof
        # (a time limit may stop LOF before its first step: then the greedy search starts
        # from g_a's latent)
        after_gradient = min((r.best_J for r in gradient), default=lof.J_initial)
        gradient_s = gradient[-1].elapsed_s if gradient else 0.0
        rows.append({
            "image": Path(path).name, "lambda": args.lam, "crop": args.crop,
            "J_initial": lof.J_initial, "J_after_gradient": after_gradient,
            "J_best": lof.J_best,
            "gradient_drop_percent": 100 * (lof.J_initial - after_gradient) / lof.J_initial,
            "greedy_drop_percent": 100 * (after_gradient - lof.J_best) / lof.J_initial,
            "greedy_trials": len(greedy), "accepted": lof.accepted,
            "gradient_seconds": gradient_s,
            "greedy_seconds": (greedy[-1].elapsed_s - gradient_s) if greedy else 0.0,
            "encode_seconds": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
        if args.results:
            with open(args.results, "a") as results:
                results.write(json.dumps(rows[-1]) + "\n")
    return rows


if __name__ == "__main__":
    main()
