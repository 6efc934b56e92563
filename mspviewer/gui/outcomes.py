"""What the viewer's tasks are asked for and what they hand back: the encode request, the
coded result (:class:`EncodeOutcome`), the coding it is set against (:class:`ReferenceCoding`),
the classic codec's pane (:class:`ClassicOutcome`) and the RD sweep's progress records.

Plain data, Qt-free: :mod:`mspviewer.gui.jobs` makes them, the session holds them and the
widgets draw them; ``metrics_dict`` gives the JSON the window exports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: ``mspviewer.codec.profiles.DEFAULT_PROFILE``, repeated: importing the codec package loads
#: torch, which the window imports later, off its start-up path
DEFAULT_PROFILE = "fast"


@dataclass(frozen=True)
class EncodeRequest:
    """What the user asked for: a λ, or a target bpp (then λ is searched), and how."""

    profile: str = DEFAULT_PROFILE
    lam: float | None = None
    target_bpp: float | None = None
    device: str = "cpu"
    verify_decode: bool = True  #: decode the stream after encoding (timing and bit-exact check)
    time_budget_s: float | None = None  #: seconds LOF may take (None: the profile's)

    def describe(self) -> str:
        rate = f"target {self.target_bpp:g} bpp" if self.target_bpp else f"λ = {self.lam:.5g}"
        limit = f", LOF at most {self.time_budget_s:g} s" if self.time_budget_s else ""
        return f"profile {self.profile}{limit}, {rate}, {self.device}"

    def resolved_profile(self):
        """The :class:`~mspviewer.codec.profiles.Profile` to encode with: the named one,
        with this request's time budget where it runs LOF."""
        from mspviewer.codec.profiles import get_profile

        return get_profile(self.profile).with_time_budget(self.time_budget_s)


#: The compare view's third-pane choice that shows the result's reference coding: its own
#: plain encoding after LOF, or a .msp the user set as the reference
PLAIN_PANE = "msp-plain"
PLAIN_PANE_LABEL = "MSP without LOF"


@dataclass
class ReferenceCoding:
    """The coding a result is set against, element by element: the image coded at the same
    λ without LOF (after an LOF encode), or a .msp of the same image, model and λ that the
    user set as the reference (another encoder, another build)."""

    bitstream: bytes
    analysis: Any  #: mspviewer.codec.AnalysisRecord
    decoded: np.ndarray  #: uint8 (H, W, 3)
    point: Any  #: RDPoint (its quality None when no original is known)
    change: Any  #: mspviewer.codec.latent_change.CodingChange, from this to the result
    difference: np.ndarray | None = None  #: float32 (H, W): mean |original − decoded|
    path: str | None = None  #: the .msp file it came from; None: the plain encoder

    @property
    def is_plain(self) -> bool:
        return self.path is None

    @property
    def label(self) -> str:
        """What it is, in a pane title or a legend."""
        return PLAIN_PANE_LABEL if self.is_plain else f"reference {Path(self.path).name}"

    @property
    def short(self) -> str:
        """It, in "Δbits vs …" and "… → …" texts."""
        return "plain" if self.is_plain else "reference"

    @property
    def result_name(self) -> str:
        """The result set against it, in those texts."""
        return "LOF" if self.is_plain else "result"

    def describe(self) -> str:
        return (f"{PLAIN_PANE_LABEL} (g_a's latent) at the same λ" if self.is_plain else
                f"the reference stream {self.path}")

    def as_pane(self) -> ClassicOutcome:
        """This encoding as the third compare pane (and the metrics' second column)."""
        # (the label says what it is: "MSP without LOF", or the reference file's name)
        return ClassicOutcome(PLAIN_PANE, self.label, float(self.analysis.lam),
                              self.bitstream, self.decoded, self.point,
                              target_bpp=float(self.point.bpp), below_target=False,
                              difference=self.difference,
                              setting=f"λ = {self.analysis.lam:.5g}")


@dataclass
class EncodeOutcome:
    """A coded image as the viewer shows it: stream, analysis, pixels and measurements."""

    source: str  #: "encode" or "file" (a .msp opened from disk)
    bitstream: bytes
    analysis: Any  #: mspviewer.codec.AnalysisRecord
    decoded: np.ndarray  #: uint8 (H, W, 3): what the decoder produces
    original: np.ndarray | None  #: what it is compared with (None: no original known)
    lam: float
    profile: str | None = None
    device: str = "cpu"
    lam_extrapolated: bool = False  #: λ past the model's trained range (gains extrapolated)
    model_name: str = ""
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    decode_matches: bool | None = None  #: decoded stream == encoder's reconstruction
    point: Any = None  #: mspviewer.rd.RDPoint (None without an original)
    difference: np.ndarray | None = None  #: float32 (H, W): mean |original − decoded| over RGB
    cancelled: bool = False
    lof_history: list = field(default_factory=list)
    target_bpp: float | None = None
    path: str | None = None  #: the .msp file it came from, if any
    notes: list[str] = field(default_factory=list)
    #: what the result is set against: after LOF, the same λ without it; or a .msp set as the
    #: reference (File ▸ Set a reference .msp)
    reference: ReferenceCoding | None = None
    #: the plain encoding while a .msp is set as the reference (to go back to it)
    set_aside: ReferenceCoding | None = None
    time_budget_s: float | None = None  #: the LOF time limit it ran under (None: none)
    #: what the user must not miss about this result (shown as a warning, not a note)
    warning: str | None = None

    @property
    def num_bytes(self) -> int:
        return len(self.bitstream)

    def no_reference_reason(self) -> str | None:
        """Why there is no coding to set this result against (None: there is)."""
        if self.reference is not None:
            return None
        if self.source == "file":
            return ("opened from a file: no encoding without LOF to compare with (File ▸ "
                    "Set a reference .msp)")
        return "LOF did not run for this result (or File ▸ Set a reference .msp)"

    @property
    def bpp(self) -> float:
        return float(self.analysis.bpp)

    def metrics_dict(self) -> dict:
        """JSON-friendly summary of this result (no arrays)."""
        from mspviewer.codec.channel_usage import channel_usage
        from mspviewer.metrics import ms_ssim_num_scales

        a = self.analysis
        out = {
            "source": self.source,
            "path": self.path,
            "profile": self.profile,
            "lambda": self.lam,
            "lambda_extrapolated": self.lam_extrapolated,
            "target_bpp": self.target_bpp,
            "device": self.device,
            "model": self.model_name,
            "cancelled": self.cancelled,
            "file_bytes": self.num_bytes,
            "bpp": self.bpp,
            "encode_s": self.encode_seconds,
            "decode_s": self.decode_seconds,
            "decode_matches_encoder": self.decode_matches,
            "estimated_payload_bits": a.estimated_bits,
            "actual_payload_bits": a.actual_bits,
            "header_bytes": a.header_bytes,
            "notes": list(self.notes),
            "warning": self.warning,
        }
        if self.point is not None:
            out.update({k: v for k, v in self.point.to_dict().items()
                        if k in ("psnr_rgb", "psnr_y", "ms_ssim", "ms_ssim_db")})
            # under 5 on small images: not comparable with published MS-SSIM figures
            out["ms_ssim_scales"] = ms_ssim_num_scales(*a.image_size)
        out["analysis"] = a.summary()
        out["channels"] = channel_usage(a).summary()
        if self.lof_history:
            out["lof"] = [_lof_record_dict(r) for r in self.lof_history]
        reference = self.reference
        if reference is not None:  # the plain encoder, or a reference file by its path
            out["without_lof" if reference.is_plain else "reference"] = {
                "path": reference.path,
                "file_bytes": len(reference.bitstream), "bpp": float(reference.point.bpp),
                "psnr_rgb": reference.point.psnr_rgb, "psnr_y": reference.point.psnr_y,
                "change": reference.change.to_dict()}
        return out


@dataclass
class ClassicOutcome:
    """A classic codec at (about) the learned codec's rate: the third compare pane."""

    codec: str
    label: str
    quality: float | int
    data: bytes
    decoded: np.ndarray
    point: Any  #: RDPoint
    target_bpp: float
    below_target: bool
    #: float32 (H, W): mean |original − decoded| over RGB, computed off the GUI thread
    difference: np.ndarray | None = None
    setting: str = ""  #: how it was coded, for titles ("" : the codec's quality)

    @property
    def setting_text(self) -> str:
        return self.setting or f"quality {self.quality}"

    @property
    def misses_target(self) -> bool:
        """A classic codec whose smallest file is above the rate it was asked for: not a
        same-size comparison (the plain or reference pane has no target to miss)."""
        return self.codec != PLAIN_PANE and not self.below_target

    def metrics_dict(self) -> dict:
        return {"codec": self.codec, "label": self.label, "quality": self.quality,
                "target_bpp": self.target_bpp, "below_target": self.below_target,
                **self.point.to_dict()}


@dataclass(frozen=True)
class CurvePoint:
    """One measured point of a classic codec's RD sweep (a progress record)."""

    codec: str
    label: str
    point: Any  #: RDPoint


@dataclass(frozen=True)
class SweepDone:
    """Every setting of a classic codec's RD sweep was tried (a progress record)."""

    codec: str


@dataclass(frozen=True)
class CodecProblem:
    """A codec could not be used (unavailable, or a setting failed): a progress record."""

    codec: str
    message: str


def _lof_record_dict(record: Any) -> dict:
    """An LOF progress record in the command line's names (its PSNR is psnr_rgb)."""
    if dataclasses.is_dataclass(record):
        out = dataclasses.asdict(record)
    elif hasattr(record, "_asdict"):
        out = dict(record._asdict())
    else:
        out = dict(getattr(record, "__dict__", {"value": repr(record)}))
    if "psnr" in out:
        out["psnr_rgb"] = out.pop("psnr")
    return out
