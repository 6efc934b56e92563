"""LOF under a time budget: the schedule fitted to the budget against the same budget as a
plain cut-off, and the full schedule without a budget, on the same images and λ.

"fitted" is LOF as shipped: the cosine step and the annealing temperature run their whole
course over the iterations that fit. "cut" keeps the full-length schedule and stops when
the time is up (what a time budget did before the fit), so it ends at a large step and,
annealed, a high temperature. Both keep the best latent. Each row prints the mean relative
drop of J from g_a's latent and the mean iterations run; the modes of one image, λ and
budget run back to back, so they see the same machine.

    python benchmarks/lof_time_budget.py IMAGES_DIR --crop 128x128 --budgets 10,20 \\
        --lambdas 0.0035,0.013,0.0483 --profile balanced
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path
from unittest import mock

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from mspviewer.codec import load_model  # noqa: E402
from mspviewer.codec import lof  # noqa: E402
from mspviewer.codec.api import image_to_tensor  # noqa: E402
from mspviewer.codec.profiles import get_profile, load_profiles  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402
from profiles_table import centre_crop  # noqa: E402

def run_lof(model, x, lam, profile, mode: str) -> lof.LOFResult:
    generator = lof.optimise_latent(model, x, lam, profile)
    # "cut": the schedule never refits, so only the hard cap of the budget ends it
    patch = mock.patch.object(lof._ScheduleLength, "update", lambda self, done: None) \
        if mode == "cut" else contextlib.nullcontext()
    with patch:
        while True:
            try:
                next(generator)
            except StopIteration as stop:
                return stop.value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path, help="folder of PNG images")
    parser.add_argument("--crop", default=None, help="HEIGHTxWIDTH centre crop")
    parser.add_argument("--lambdas", default="0.013", help="comma-separated λ")
    parser.add_argument("--budgets", default="10,20", help="comma-separated seconds")
    parser.add_argument("--profile", default="balanced")
    parser.add_argument("--profiles-file", default=None,
                        help="profiles JSON file (default: the shipped profiles)")
    parser.add_argument("--model", default=None, help="weights (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write every run here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    profile = (load_profiles(args.profiles_file)[args.profile] if args.profiles_file
               else get_profile(args.profile))
    lambdas = [float(v) for v in args.lambdas.split(",")]
    budgets = [float(v) for v in args.budgets.split(",")]
    paths = sorted(args.images.glob("*.png"))
    runs = []
    for path in paths:
        x = image_to_tensor(centre_crop(load_image(path).pixels, args.crop))
        for lam in lambdas:
            full = run_lof(model, x, lam, profile, "full")
            runs.append({"image": path.stem, "lambda": lam, "budget": None, "mode": "full",
                         "drop": full.improvement, "iterations": full.iterations,
                         "seconds": full.elapsed_s})
            for budget in budgets:
                for mode in ("fitted", "cut"):
                    result = run_lof(model, x, lam, profile.replace(time_budget_s=budget), mode)
                    runs.append({"image": path.stem, "lambda": lam, "budget": budget,
                                 "mode": mode, "drop": result.improvement,
                                 "iterations": result.iterations,
                                 "seconds": result.elapsed_s})
                    print(f"{path.stem} λ={lam:g} {budget:g} s {mode}: J drop "
                          f"{result.improvement:.2f} % in {result.iterations} iterations "
                          f"(full schedule: {full.improvement:.2f} % in {full.iterations}, "
                          f"{full.elapsed_s:.0f} s)", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1) + "\n")
    print(f"{len(paths)} images, λ {args.lambdas}, profile {profile.name}, "
          f"{args.threads} thread(s){', crop ' + args.crop if args.crop else ''}")
    print("| budget | mode | mean J drop | mean iterations |")
    print("| --- | --- | --- | --- |")
    for budget in budgets:
        for mode in ("fitted", "cut"):
            own = [r for r in runs if r["budget"] == budget and r["mode"] == mode]
            print(f"| {budget:g} s | {mode} | {statistics.fmean(r['drop'] for r in own):.2f} % "
                  f"| {statistics.fmean(r['iterations'] for r in own):.0f} |")
    full = [r for r in runs if r["mode"] == "full"]
    print(f"| none ({statistics.fmean(r['seconds'] for r in full):.0f} s) | full | "
          f"{statistics.fmean(r['drop'] for r in full):.2f} % | "
          f"{statistics.fmean(r['iterations'] for r in full):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
