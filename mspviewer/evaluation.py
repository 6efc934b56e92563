"""Dataset evaluation of the learned codec (and of classic codecs measured live).

Per image and per λ: bpp from the real bitstream (whole file), PSNR-RGB, PSNR-Y, MS-SSIM of
the *decoded* image, encode and decode time. Dataset curves average each quantity over the
images at a fixed λ (or quality), the convention of the published Kodak anchors. BD-rates
compare the mean curve with any RD curve: published anchors or codecs measured here.
Qt-free; used by ``mspviewer eval`` and ``mspviewer report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mspviewer import rd
from mspviewer.codec.api import MAX_ENCODABLE_PIXELS
from mspviewer.codec.bitstream import check_codable
from mspviewer.errors import BitstreamError, ImageLoadError, MSPViewerError
from mspviewer.imageio import load_image
from mspviewer.metrics import ms_ssim_num_scales

METRIC_KEYS = ("bpp", "psnr_rgb", "psnr_y", "ms_ssim", "encode_s", "decode_s")


def mean_curve(name: str, label: str, per_image: list[rd.RDCurve], **extra) -> rd.RDCurve:
    """Average the i-th point of every image's curve (same λ or quality on every image)."""
    lengths = {len(curve.points) for curve in per_image}
    if len(lengths) != 1:
        raise ValueError("every image must have the same number of points")
    points = []
    for index in range(lengths.pop()):
        column = [curve.points[index] for curve in per_image]
        means = {}
        for key in METRIC_KEYS:
            values = [getattr(p, key) for p in column if getattr(p, key) is not None]
            means[key] = float(np.mean(values)) if len(values) == len(column) else None
        points.append(rd.RDPoint(quality=column[0].quality, **means))
    return rd.RDCurve(name=name, label=label, points=points, source="measured", **extra)


def learned_curve(model, pixels: np.ndarray, lambdas: Iterable[float], profile: str,
                  on_point: Callable[[rd.RDPoint], None] | None = None,
                  with_ms_ssim: bool = True) -> rd.RDCurve:
    """The learned codec on one image: encode at each λ with ``profile``, decode the real
    bitstream, measure the decoded pixels (encode time includes the profile's LOF)."""
    from mspviewer.codec import decode_bytes, encode_image

    curve = rd.RDCurve(name="msp", label=f"MSP ({profile})", family="learned")
    for lam in lambdas:
        encoded = encode_image(model, pixels, lam, profile=profile)
        decoded = decode_bytes(model, encoded.bitstream)
        point = rd.evaluate_reconstruction(
            pixels, decoded.pixels, len(encoded.bitstream), quality=float(lam),
            encode_s=encoded.encode_seconds, decode_s=decoded.decode_seconds,
            with_ms_ssim=with_ms_ssim)
        curve.points.append(point)
        if on_point is not None:
            on_point(point)
    return curve


def check_images(image_paths: Iterable[Path]) -> None:
    """Read every image whole (a truncated file only fails when decoded) and refuse the set,
    naming every bad file, if any cannot be read or coded (too large once padded): an
    evaluation over the others only would silently change the set, hence its mean, and one
    that stopped at the first such image would lose the work before it."""
    paths = list(image_paths)
    problems = []
    for path in paths:
        try:
            image = load_image(path, max_pixels=MAX_ENCODABLE_PIXELS)
            check_codable(image.height, image.width)  # the padded size, as the codec sees it
        except ImageLoadError as error:  # its message names the file
            problems.append(str(error))
        except BitstreamError as error:
            problems.append(f"{path}: {error}")
        except OSError as error:
            problems.append(f"cannot read {path}: {error.strerror or error}")
    if problems:
        raise MSPViewerError(
            f"{len(problems)} of {len(paths)} images cannot be read or coded, nothing was "
            f"evaluated (fix or remove them): {'; '.join(problems)}")


def load_anchors(names: Iterable[str]) -> dict[str, rd.RDCurve]:
    """The published anchor curves by name (or JSON file), every one read before any work."""
    curves = {}
    for name in dict.fromkeys(names):
        try:
            curves[name] = rd.load_published_anchor(name)
        except MSPViewerError:
            path = Path(name)
            if not path.suffix and not (rd.ANCHOR_DIR / f"{path}.json").exists():
                raise MSPViewerError(
                    f"unknown anchor {name!r}; published anchors: "
                    f"{', '.join(rd.published_anchor_names())}, or a JSON file") from None
            raise
    return curves


#: the images the bundled published curves are means over (Kodak's 24, as the field uses them)
KODAK_IMAGES = frozenset(f"kodim{number:02d}.png" for number in range(1, 25))


def published_on_other_images(names: list[str]) -> str | None:
    """Why a BD-rate against a bundled published curve (a mean over Kodak's 24 images) may
    not be like for like on these images (told by their file names only), or None when
    they are the files kodim01.png … kodim24.png."""
    if set(names) == KODAK_IMAGES and len(names) == len(KODAK_IMAGES):
        return None
    kodak, count = len(set(names) & KODAK_IMAGES), len(names)
    if kodak == count:
        these = "this is 1 of them" if count == 1 else f"these are {count} of them"
    elif kodak:
        these = f"these are {count} files, {kodak} of them among those"
    else:
        these = "this is 1 other file" if count == 1 else f"these are {count} other files"
    return ("the published curve is the mean over Kodak's 24 images (kodim01–24.png); "
            + these)


def dataset_name(folder: Path) -> str:
    """How reports name a folder of images: its name with a capital ("kodak" → "Kodak")."""
    name = Path(folder).resolve().name or "images"
    return name[:1].upper() + name[1:]


def evaluate(model, image_paths: list[Path], lambdas: list[float], profile: str = "fast",
             classic: Iterable[str] = ("webp",), anchors: Iterable[str] = ("vtm",),
             progress: bool = True, dataset: str | None = None) -> dict:
    """The whole evaluation as a JSON-ready document (see ``mspviewer eval``); ``dataset``
    names the images in reports (default: their folder's name).

    Everything that can be checked is checked before the first encode (the profile, every
    λ against the model's range, every classic codec's name, every anchor, every image), so
    a typo or a bad file costs seconds, not the hours of the evaluation. A classic codec
    that is not installed, or that fails on one image, is left out of the whole set (and
    listed under ``classic_skipped``); the learned codec's mean is over every image.
    """
    from tqdm import tqdm

    from mspviewer.baselines import CodecError
    from mspviewer.baselines.registry import get_codec
    from mspviewer.codec.profiles import get_profile

    image_paths = [Path(path) for path in image_paths]
    lambdas = [float(lam) for lam in lambdas]
    if not image_paths:
        raise MSPViewerError("no images to evaluate")
    if not lambdas:
        raise MSPViewerError("no λ values to evaluate")
    get_profile(profile)
    # LambdaOutOfRangeError for a λ outside the usable range; the margins are reported
    extrapolated = [lam for lam in lambdas if model.rate_point(lam).extrapolated]
    codecs, skipped = [], {}
    for codec in [get_codec(name) for name in dict.fromkeys(classic)]:
        reason = codec.unavailable_reason()
        if reason is None:
            codecs.append(codec)
        else:
            skipped[codec.name] = f"unavailable: {reason}"
    published = load_anchors(anchors)
    check_images(image_paths)

    steps = len(image_paths) * (len(lambdas) + sum(len(c.default_qualities) for c in codecs))
    bar = tqdm(total=steps, desc="eval", disable=not progress, dynamic_ncols=True)
    learned, measured = [], {codec.name: [] for codec in codecs}
    images = []
    for path in image_paths:
        pixels = load_image(path, max_pixels=MAX_ENCODABLE_PIXELS).pixels
        bar.set_description(f"eval {path.name}")
        curve = learned_curve(model, pixels, lambdas, profile,
                              on_point=lambda _point: bar.update(1))
        learned.append(curve)
        images.append({"image": path.name, "height": pixels.shape[0],
                       "width": pixels.shape[1],
                       "ms_ssim_scales": ms_ssim_num_scales(*pixels.shape[:2]),
                       "points": curve.to_dict()["points"]})
        for codec in list(codecs):
            try:
                measured[codec.name].append(rd.sweep(codec, pixels,
                                                     on_point=lambda _p: bar.update(1)))
            except CodecError as error:  # a mean over some of the images would mislead
                skipped[codec.name] = f"failed on {path.name}: {error}"
                codecs.remove(codec)
                del measured[codec.name]
    bar.close()
    mean = mean_curve("msp", f"MSP ({profile})", learned, family="learned",
                      settings={"profile": profile, "model": model.name})
    live = {name: mean_curve(name, curves[0].label + " (measured)", curves,
                             family=curves[0].family,
                             library_version=curves[0].library_version,
                             settings=curves[0].settings)
            for name, curves in measured.items() if curves}
    dataset = dataset or dataset_name(image_paths[0].parent)
    references = {f"{name} (measured)": curve for name, curve in live.items()}
    other_images: dict[str, str] = {}  # label → how an earlier evaluation's images differ
    names = [path.name for path in image_paths]
    for anchor, curve in published.items():
        if curve.source.startswith("mspviewer eval"):  # another evaluation, e.g. a checkpoint
            elsewhere = curve.settings.get("dataset") not in (None, dataset)
            where = f", {curve.settings['dataset']}" if elsewhere else ""
            label = f"{anchor} ({curve.label}{where})"
            references[label] = curve
            theirs = curve.settings.get("images")
            if theirs is not None and sorted(theirs) != sorted(names):
                shared = len(set(theirs) & set(names))
                other_images[label] = (f"the earlier evaluation is of other images: {shared} "
                                       f"of its {len(theirs)} are among these {len(names)}")
            continue
        # The bundled anchors were measured on Kodak: set against other images (or some of
        # Kodak's only: one image against the 24's mean), say so.
        bundled = anchor in rd.published_anchor_names()
        on_kodak = dataset == "Kodak" or not bundled
        label = f"{anchor} (published{'' if on_kodak else ', Kodak'})"
        references[label] = curve
        not_kodak = published_on_other_images(names) if bundled else None
        if not_kodak:
            other_images[label] = not_kodak
    bd = {label: rd.bd_curves(reference, mean, "psnr_rgb")
          for label, reference in references.items()}
    for label, note in other_images.items():  # (a BD-rate between two sets of images)
        bd[label]["warning"] = "; ".join(filter(None, (bd[label].get("warning"), note)))
    return {
        "format": "mspviewer-eval", "version": 2,  # 2: "file_bytes" (1: "bytes")
        "model": {"name": model.name, "id": model.model_id().hex(),
                  "card": getattr(model, "card", {})},
        "dataset": dataset,
        "profile": profile, "lambdas": lambdas, "num_images": len(image_paths),
        # past the model's trained range: untrained operating points (gains extrapolated)
        "lambdas_extrapolated": extrapolated,
        # how many MS-SSIM scales each image had room for (5 from 161 pixels a side): a mean
        # over images with different counts mixes measures
        "ms_ssim_scales": sorted({image["ms_ssim_scales"] for image in images}),
        "mean": mean.to_dict(), "classic_measured": {k: v.to_dict() for k, v in live.items()},
        "classic_skipped": skipped, "bd_rate_vs": bd, "images": images,
    }
