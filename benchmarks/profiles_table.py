"""Encoding profiles on a folder of images: BD-rate against ``fast`` and encode time.

Every image is encoded with every profile at every λ of a ladder with the shipped model
(or ``--model``); each bitstream is decoded and must reproduce the encoder's reconstruction
exactly. Rates are real file sizes (header included), quality is PSNR on RGB. The table
(markdown) is printed and written into ``docs/profiles.md`` between the markers of this
device (``<!-- profiles-table:cpu:begin -->`` … ``:end -->``, added at the end if absent),
so CPU and GPU runs keep separate tables.

BD-rate (``mspviewer.rd.bd_rate``, PCHIP in log rate) of each profile against ``fast`` is
given two ways: on the mean curve (bpp and PSNR averaged over the images at each λ, as
CompressAI-style Kodak figures are), and as the mean of the per-image BD-rates.

Each encode is appended to a results file (JSON lines, ``--results``) and reused by a later
run with the same image, crop, λ, profile settings, model and device, so a long run can be
interrupted and resumed.

    python benchmarks/profiles_table.py                        # Kodak, full ladder, CPU
    python benchmarks/profiles_table.py --device cuda --threads 4
    python benchmarks/profiles_table.py --limit 2 --lambdas 0.0035,0.013,0.0483 --crop 128x128
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mspviewer import metrics  # noqa: E402
from mspviewer.codec import decode_bytes, load_model, resolve_device  # noqa: E402
from mspviewer.codec.api import encode_batch_steps, encode_image, run_steps  # noqa: E402
from mspviewer.codec.profiles import get_profile, load_profiles  # noqa: E402
from mspviewer.imageio import load_image  # noqa: E402

DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "kodak"
DEFAULT_DOC = REPO / "docs" / "profiles.md"
DEFAULT_RESULTS = REPO / "runs" / "profiles-table.jsonl"
ANCHOR = "fast"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES,
                        help=f"folder of PNG images (default {DEFAULT_IMAGES})")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--lambdas", default=None,
                        help="comma-separated λ ladder (default: the model's trained ladder)")
    parser.add_argument("--profiles", default="fast,balanced,max",
                        help="comma-separated profile names; fast is the anchor")
    parser.add_argument("--profiles-file", default=None,
                        help="profiles JSON file (default: the shipped profiles)")
    parser.add_argument("--crop", default=None,
                        help="HEIGHTxWIDTH centre crop of every image (quick runs)")
    parser.add_argument("--model", default=None, help="weights file (default: the shipped model)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="JSON-lines cache of encodes, for resuming "
                             f"(default {DEFAULT_RESULTS})")
    parser.add_argument("--cached-only", action="store_true",
                        help="build the table from --results alone, encoding nothing: the "
                             "encodes were measured on --device (which this machine need not "
                             "have); one missing from the file is an error naming it")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="where a decoded image differs from the encoder's reconstruction, "
                             "record by how much and go on (rate and PSNR are the decoded "
                             "image's) instead of stopping")
    parser.add_argument("--batch", type=int, default=1,
                        help="LOF encodes run together, images of one size at any λ "
                             "(default 1), for a GPU, where one encode's LOF iterations are mostly "
                             "kernel launches. "
                             "A row's encode time is then its share of the batch's time")
    parser.add_argument("--note", default=None,
                        help="a sentence printed with the table (how it was run, caveats)")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC,
                        help=f"markdown file to update (default {DEFAULT_DOC}); '-' for none")
    return parser.parse_args(argv)


def centre_crop(pixels: np.ndarray, crop: str | None) -> np.ndarray:
    if not crop:
        return pixels
    height, _, width = crop.lower().partition("x")
    h, w = min(int(height), pixels.shape[0]), min(int(width), pixels.shape[1])
    top, left = (pixels.shape[0] - h) // 2, (pixels.shape[1] - w) // 2
    return np.ascontiguousarray(pixels[top:top + h, left:left + w])


#: fields added to profiles after the cache began; left out of the key at their defaults, so
#: encodes cached before a field existed still match the profile that does not use it
LATER_FIELDS = ("lr_backoff_patience", "lr_lambda_exponent", "lr_reference_lambda",
                "schedule_iterations")


def settings_key(profile) -> str:
    settings = profile.to_dict()
    defaults = {field.name: field.default for field in dataclasses.fields(profile)}
    for name in LATER_FIELDS:
        if settings[name] == defaults[name]:
            del settings[name]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def load_cache(path: Path) -> dict[str, dict]:
    cache = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                cache[row["key"]] = row
    return cache


def encode_one(model, pixels, lam, profile, allow_mismatch: bool = False) -> dict:
    return measured_row(model, pixels, encode_image(model, pixels, lam, profile),
                        allow_mismatch)


def encode_together(model, jobs: list[dict], profile, allow_mismatch: bool = False
                    ) -> list[dict]:
    """Rows of several encodes of one size with one LOF run (``--batch``)."""
    encoded = run_steps(encode_batch_steps(model, [job["pixels"] for job in jobs],
                                           [job["lam"] for job in jobs], profile))
    return [dict(measured_row(model, job["pixels"], one, allow_mismatch), batch=len(jobs))
            for job, one in zip(jobs, encoded)]


def measured_row(model, pixels, encoded, allow_mismatch: bool) -> dict:
    """Rate, quality and time of an encode, from decoding its bitstream."""
    decoded = decode_bytes(model, encoded.bitstream)
    row = {"lambda": encoded.analysis.lam, "bpp": encoded.analysis.bpp,
           "psnr_rgb": metrics.psnr_rgb(pixels, decoded.pixels),
           "encode_seconds": encoded.encode_seconds,
           "header_bytes": encoded.analysis.header_bytes}  # (benchmarks/header_share.py)
    if not np.array_equal(decoded.pixels, encoded.reconstruction):
        if not allow_mismatch:
            raise SystemExit("decoded pixels differ from the encoder's reconstruction")
        difference = np.abs(decoded.pixels.astype(np.int16) - encoded.reconstruction)
        row.update(mismatch_values=int(np.count_nonzero(difference)),
                   mismatch_max=int(difference.max()))
    if encoded.lof is not None:
        row.update(J_initial=encoded.lof.J_initial, J_best=encoded.lof.J_best,
                   iterations=encoded.lof.iterations, accepted=encoded.lof.accepted,
                   refused=encoded.lof.refused)
    return row


def encode_groups(jobs: list[dict], batch: int) -> list[list[dict]]:
    """The encodes to run, in order: one by one, or (``batch`` > 1) those of one LOF profile
    and one image size together, at most ``batch`` at a time (``fast`` runs no LOF and gains
    nothing from a batch)."""
    if batch <= 1:
        return [[job] for job in jobs]
    groups, pending = [], {}
    for job in jobs:
        if not job["profile"].uses_lof:
            groups.append([job])
            continue
        together = (job["profile"].name, job["pixels"].shape)
        pending.setdefault(together, []).append(job)
        if len(pending[together]) == batch:
            groups.append(pending.pop(together))
    return groups + list(pending.values())


def bd_rate_or_none(anchor_rates, anchor_psnr, rates, psnr):
    try:
        from mspviewer.rd import bd_rate
    except ImportError:
        return None
    try:
        return bd_rate(anchor_rates, anchor_psnr, rates, psnr)
    except Exception as error:  # curves too short or not overlapping
        print(f"  BD-rate not computed: {error}", file=sys.stderr)
        return None


def j_drop_percent(row: dict) -> float:
    """Relative drop of J from g_a's latent to the one LOF coded."""
    return 100 * (row["J_initial"] - row["J_best"]) / row["J_initial"]


def j_drops_at(rows: list[dict], lam: float) -> dict:
    """J drops at one λ: their mean, and on how many images LOF kept g_a's latent (a step
    too large for this λ shows as J unchanged)."""
    at = [r for r in rows if r["lambda_key"] == lam and "J_initial" in r]
    return {"mean": statistics.fmean(j_drop_percent(r) for r in at) if at else None,
            "unchanged": sum(r["J_best"] >= r["J_initial"] for r in at), "images": len(at)}


def summarise(rows: list[dict], profiles: list[str], images: list[str], lambdas: list[float]):
    """Per profile: BD-rates against the anchor, mean encode time, mean bpp/PSNR/J drop."""
    def curve(profile, image=None):
        selected = [[r for r in rows if r["profile"] == profile and r["lambda_key"] == lam
                     and (image is None or r["image"] == image)] for lam in lambdas]
        bpp = [statistics.fmean(r["bpp"] for r in group) for group in selected]
        psnr = [statistics.fmean(r["psnr_rgb"] for r in group) for group in selected]
        return bpp, psnr

    summary = {}
    anchor_mean = curve(ANCHOR)
    for profile in profiles:
        own = [r for r in rows if r["profile"] == profile]
        entry = {
            "encode_seconds": statistics.fmean(r["encode_seconds"] for r in own),
            "mean_bpp": statistics.fmean(r["bpp"] for r in own),
            "mean_psnr": statistics.fmean(r["psnr_rgb"] for r in own),
            "bd_rate_mean_curve": None, "bd_rate_per_image": None,
            "encodes": len(own), "mismatched": sum("mismatch_values" in r for r in own),
            "mismatch_max": max((r.get("mismatch_max", 0) for r in own), default=0),
            "batches": sorted({r["batch"] for r in own if "batch" in r}),
        }
        if any("J_initial" in r for r in own):
            entry["j_drop_percent"] = statistics.fmean(j_drop_percent(r) for r in own)
            entry["j_drop_by_lambda"] = [j_drops_at(own, lam) for lam in lambdas]
        if profile != ANCHOR and len(lambdas) >= 2:
            entry["bd_rate_mean_curve"] = bd_rate_or_none(*anchor_mean, *curve(profile))
            per_image = [bd_rate_or_none(*curve(ANCHOR, image), *curve(profile, image))
                         for image in images]
            per_image = [v for v in per_image if v is not None]
            entry["bd_rate_per_image"] = statistics.fmean(per_image) if per_image else None
            entry["bd_images"] = len(per_image)
        summary[profile] = entry
    return summary


def markdown(summary, profiles, context) -> str:
    def pct(value):
        return "—" if value is None else f"{value:+.2f} %"

    def per_image(entry):
        text = pct(entry["bd_rate_per_image"])
        counted = entry.get("bd_images", context["images"])
        return text if counted == context["images"] else f"{text} ({counted}/{context['images']})"

    lines = []
    partial = partial_reasons(context)
    if partial:
        lines += [f"**Partial run** ({'; '.join(partial)}): it compares the profiles on what "
                  "it measured; it is not the full-ladder, full-size result.", ""]
    if context.get("note"):
        lines += [context["note"], ""]
    names = context.get("image_names") or []
    lines += [
        f"Measured by `{context['command']}` on {context['date']}.",
        "",
        f"- Model: `{context['model']}` ({context['model_note']})",
        f"- Images: {context['images']} from `{context['folder']}`"
        + (f" ({', '.join(names)})" if 0 < len(names) <= 8 else "")
        + (f", centre crop {context['crop']}" if context["crop"] else " (full size)"),
        f"- λ ladder: {', '.join(f'{v:g}' for v in context['lambdas'])}",
        f"- Device: {context['device']}",
        "",
        "| profile | BD-rate vs fast (mean curve) | BD-rate vs fast (mean of images) | "
        "J drop (mean) | encode s / image | mean bpp | mean PSNR-RGB (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for profile in profiles:
        entry = summary[profile]
        drop = entry.get("j_drop_percent")
        lines.append(
            f"| {profile} | {pct(entry['bd_rate_mean_curve']) if profile != ANCHOR else 'anchor'}"
            f" | {per_image(entry) if profile != ANCHOR else 'anchor'}"
            f" | {'—' if drop is None else f'{drop:.2f} %'}"
            f" | {entry['encode_seconds']:.2f} | {entry['mean_bpp']:.4f}"
            f" | {entry['mean_psnr']:.2f} |")
    lines += j_drop_table(summary, profiles, context["lambdas"])
    lines += ["", "BD-rate: negative means fewer bits than `fast` at equal PSNR-RGB; a count "
              "(k/n) means the curves of only k images overlapped. J drop: mean relative "
              "drop of J = bpp + λ·255²·MSE (bpp of the coded latent, without the file's "
              "header, which the mean bpp column includes) from g_a's latent to LOF's. "
              + batch_note(summary) + exactness_note(summary)]
    return "\n".join(lines) + "\n"


def batch_note(summary) -> str:
    """Says which profiles' encode times are shares of batches (``--batch``)."""
    batched = {name: entry["batches"] for name, entry in summary.items() if entry["batches"]}
    if not batched:
        return ""
    parts = [f"`{name}` in batches of {', '.join(map(str, sizes))}"
             for name, sizes in batched.items()]
    return ("Encode times of LOF encodes run together (" + "; ".join(parts) + ") are each "
            "encode's share of its batch's time, not the time of one encode alone. ")


def exactness_note(summary) -> str:
    mismatched = sum(entry["mismatched"] for entry in summary.values())
    if not mismatched:
        return "Every bitstream was decoded and matched the encoder's reconstruction exactly."
    largest = max(entry["mismatch_max"] for entry in summary.values())
    return (f"**{mismatched} of {sum(entry['encodes'] for entry in summary.values())} "
            "bitstreams decoded to an image that differs from the encoder's reconstruction** "
            f"(by up to {largest} in a pixel value); rates and PSNR are those of the decoded "
            "images.")


def partial_reasons(context) -> list[str]:
    """What makes a run less than the full measurement: crops, a subset of the folder's
    images, a λ ladder other than the model's."""
    reasons = []
    if context["crop"]:
        reasons.append(f"centre crops of {context['crop']}")
    if context["images"] < context.get("folder_images", context["images"]):
        reasons.append(f"{context['images']} of the folder's {context['folder_images']} images")
    ladder = context.get("model_lambdas")
    if ladder and list(context["lambdas"]) != list(ladder):
        reasons.append(f"{len(context['lambdas'])} λ, not the model's ladder of {len(ladder)}")
    return reasons


def j_drop_table(summary, profiles, lambdas) -> list[str]:
    """J drop per λ for the profiles that run LOF: where in the ladder LOF gains, and at
    which λ its step leaves g_a's latent unimproved ("k unchanged")."""
    optimised = [p for p in profiles if "j_drop_by_lambda" in summary[p]]
    if not optimised:
        return []
    lines = ["", "J drop by λ (mean over the images; k unchanged: images where LOF kept g_a's "
             "latent):", "", "| profile | " + " | ".join(f"λ = {v:g}" for v in lambdas) + " |",
             "| --- |" + " --- |" * len(lambdas)]
    for profile in optimised:
        cells = []
        for at in summary[profile]["j_drop_by_lambda"]:
            text = "—" if at["mean"] is None else f"{at['mean']:.2f} %"
            if at["unchanged"]:
                text += f" ({at['unchanged']}/{at['images']} unchanged)"
            cells.append(text)
        lines.append(f"| {profile} | " + " | ".join(cells) + " |")
    return lines


def update_doc(path: Path, block: str, device_kind: str) -> None:
    begin = f"<!-- profiles-table:{device_kind}:begin -->"
    end = f"<!-- profiles-table:{device_kind}:end -->"
    text = path.read_text() if path.exists() else "# Encoding profiles\n"
    section = f"{begin}\n{block}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + f"\n\n{section}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    if args.cached_only:
        if args.device not in ("cpu", "cuda"):
            raise SystemExit("--cached-only needs --device cpu or cuda (the device of the "
                             "cached encodes)")
        device = torch.device(args.device)  # only names the cached rows; nothing runs on it
        model = load_model(args.model, device="cpu")
    else:
        device = resolve_device(args.device)
        model = load_model(args.model, device=device)
    available = load_profiles(args.profiles_file)
    profile_names = [name.strip() for name in args.profiles.split(",") if name.strip()]
    if ANCHOR not in profile_names:
        profile_names.insert(0, ANCHOR)
    profiles = [available[name] if name in available else get_profile(name)
                for name in profile_names]
    lambdas = ([float(v) for v in args.lambdas.split(",")] if args.lambdas
               else list(model.config.rate.lambdas))
    folder_images = sorted(args.images.glob("*.png"))
    paths = folder_images[:args.limit]
    if not paths:
        raise SystemExit(f"no PNG images in {args.images}")
    model_id = model.model_id().hex()
    cache = load_cache(args.results)
    device_name = None  # with --cached-only, named after the loop from the rows it used
    if not args.cached_only:
        device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                       else f"CPU ({platform.machine()}, {args.threads} thread(s))")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    jobs = []
    for path in paths:
        pixels = centre_crop(load_image(path).pixels, args.crop)
        for lam in lambdas:
            for profile in profiles:
                key = "|".join([path.name, args.crop or "full", f"{lam:g}", profile.name,
                                settings_key(profile), model_id, device.type])
                if args.batch > 1 and profile.uses_lof:  # its time is a share of a batch's
                    key += f"|batch{args.batch}"
                jobs.append(dict(key=key, path=path, pixels=pixels, lam=lam, profile=profile))
    missing = [job for job in jobs if job["key"] not in cache]
    if missing and args.cached_only:
        job = missing[0]
        raise SystemExit(f"{args.results} holds no encode of {job['path'].name} at "
                         f"λ={job['lam']:g} with {job['profile'].name} (these settings, this "
                         f"model, {device.type})")
    done = len(jobs) - len(missing)
    for group in encode_groups(missing, args.batch):
        start = time.perf_counter()
        profile = group[0]["profile"]
        if len(group) == 1:
            new_rows = [encode_one(model, group[0]["pixels"], group[0]["lam"], profile,
                                   args.allow_mismatch)]
        else:
            new_rows = encode_together(model, group, profile, args.allow_mismatch)
        with args.results.open("a") as stream:
            for job, row in zip(group, new_rows):
                row.update(key=job["key"], image=job["path"].name, profile=profile.name,
                           lambda_key=job["lam"], crop=args.crop, model_id=model_id,
                           device=device_name)
                cache[job["key"]] = row
                stream.write(json.dumps(row) + "\n")
        for job, row in zip(group, new_rows):
            done += 1
            print(f"[{done}/{len(jobs)}] {job['path'].name} λ={job['lam']:g} {profile.name}: "
                  f"{row['bpp']:.4f} bpp, {row['psnr_rgb']:.2f} dB", file=sys.stderr)
        print(f"  {len(group)} encode(s) in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    rows = [cache[job["key"]] for job in jobs]
    if args.cached_only:  # the devices that measured the rows of this table
        device_name = " / ".join(sorted({row["device"] for row in rows}))
    names = [p.name for p in profiles]
    summary = summarise(rows, names, [p.name for p in paths], lambdas)
    card = getattr(model, "card", {}) or {}
    note = (f"{card['training_steps']} training steps" if "training_steps" in card
            else "no training record")
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--note" in arguments[:-1]:  # the note stands above the command already
        arguments[arguments.index("--note") + 1] = "..."
    command = shlex.join(["python", "benchmarks/profiles_table.py", *arguments])
    context = {"command": command.strip(), "date": time.strftime("%Y-%m-%d"),
               "model": f"{model.name} {model_id}", "model_note": note,
               "images": len(paths), "folder": str(args.images), "crop": args.crop,
               "lambdas": lambdas, "device": device_name, "note": args.note,
               "image_names": [p.stem for p in paths], "folder_images": len(folder_images),
               "model_lambdas": list(model.config.rate.lambdas)}
    block = markdown(summary, names, context)
    print(block)
    if str(args.doc) != "-":
        update_doc(args.doc, block, device.type)
        print(f"table written into {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
