"""The viewer's state: the open image, the model, the current result and comparisons.

Panels observe a :class:`Session` through its signals and read its attributes; only the
main window changes it (after a task succeeded), so a failed action leaves it as it was.
Later tools (the inspector, the decode replay) read ``session.model`` and
``session.result.analysis`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from mspviewer.errors import MSPViewerError
from mspviewer.gui.outcomes import ClassicOutcome, EncodeOutcome
from mspviewer.imageio import PixelShape


#: the smallest crop each way: one latent position (the analysis transform's stride)
MIN_CROP = 16


@dataclass
class ImageState(PixelShape):
    pixels: np.ndarray  #: uint8 (H, W, 3), read-only
    path: Path | None
    notes: list[str] = field(default_factory=list)
    label: str = ""
    #: (x, y, width, height) of this image in ``full`` when it is a crop of it
    crop: tuple[int, int, int, int] | None = None
    full: ImageState | None = None

    @property
    def name(self) -> str:
        return self.label or (self.path.name if self.path else "image")

    def cropped(self, x: int, y: int, width: int, height: int,
                inside: bool = False) -> ImageState:
        """The region (x, y, width, height) of this image, clipped to it (refused instead,
        with ``inside``, when it reaches past the image), as a new image that remembers
        where it lies in the full one (a crop of a crop too). A region under
        :data:`MIN_CROP` pixels either way, or one that is the whole image, is refused."""
        if inside and (x < 0 or y < 0 or x + width > self.width or y + height > self.height):
            raise MSPViewerError(f"the region {width}×{height} at x {x}, y {y} reaches past "
                                 f"the {self.width}×{self.height} image")
        left, top = max(0, x), max(0, y)
        right, bottom = min(self.width, x + width), min(self.height, y + height)
        if (left, top, right, bottom) == (0, 0, self.width, self.height):
            raise MSPViewerError("the region is the whole image: nothing to crop")
        if right - left < MIN_CROP or bottom - top < MIN_CROP:
            raise MSPViewerError(f"a crop needs at least {MIN_CROP}×{MIN_CROP} pixels of the "
                                 f"image; this region holds {max(right - left, 0)}×"
                                 f"{max(bottom - top, 0)}")
        full = self.full or self
        offset_x, offset_y = self.crop[:2] if self.crop else (0, 0)
        region = (offset_x + left, offset_y + top, right - left, bottom - top)
        where = f"{region[2]}×{region[3]} at x {region[0]}, y {region[1]}"
        return ImageState(np.array(self.pixels[top:bottom, left:right]), self.path,
                          list(full.notes) + [f"cropped to {where} of the "
                                              f"{full.width}×{full.height} image"],
                          label=f"{full.name} [{where}]", crop=region, full=full)


#: the fewest RD points (on the front) a curve needs for a BD-rate: two only make a line
MIN_BD_POINTS = 3


def curve_profile(name: str | None, time_budget_s: float | None = None) -> str:
    """The learned curve a point joins: its profile, with its LOF time limit if it had one
    (LOF cut short is another encoder); "" for none."""
    if not name:
        return ""
    return f"{name} (LOF ≤ {time_budget_s:g} s)" if time_budget_s else name


@dataclass
class LearnedPoint:
    label: str
    point: object  #: RDPoint
    latest: bool = False
    #: the profile that encoded it; "" where unknown (a stream opened from a file) or not a
    #: profile's point (a cancelled LOF): those join no curve
    profile: str = ""
    from_ladder: bool = False  #: one of a λ ladder's points (else a single encode)


class Session(QObject):
    image_changed = Signal()
    model_changed = Signal()
    result_changed = Signal()
    classic_changed = Signal()
    rd_changed = Signal()
    check_changed = Signal()  #: the fresh-process bit-exact check of the result finished
    #: the result is set against another coding (its pixels and stream are unchanged)
    reference_changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.image: ImageState | None = None
        self.model = None
        self.model_note = ""  #: e.g. "random weights: the shipped model is missing"
        self.result: EncodeOutcome | None = None
        self.classic: ClassicOutcome | None = None
        #: why the classic codec at the result's size did not come (its run failed), so no
        #: view says "waiting" for a result that will never come
        self.classic_problem: str | None = None
        self.learned_points: list[LearnedPoint] = []
        self.curves: dict = {}  #: classic codec name → RDCurve (grows as points arrive)
        #: VerifyReport of the fresh-process check of ``result`` (None: not run yet)
        self.fresh_check = None

    # --- changes ----------------------------------------------------------------------------
    def set_model(self, model, note: str = "") -> None:
        self.model = model
        self.model_note = note
        self.result = None
        self.fresh_check = None
        self.classic, self.classic_problem = None, None
        self.learned_points = []
        self.model_changed.emit()
        self.result_changed.emit()
        self.classic_changed.emit()
        self.rd_changed.emit()

    def set_image(self, image: ImageState | None) -> None:
        if image is not None:
            image.pixels.setflags(write=False)  # shared with worker threads: never mutated
        self.image = image
        self.result = None
        self.fresh_check = None
        self.classic, self.classic_problem = None, None
        self.learned_points = []
        self.curves = {}
        self.image_changed.emit()
        self.result_changed.emit()
        self.classic_changed.emit()
        self.rd_changed.emit()

    def set_result(self, result: EncodeOutcome) -> None:
        for pixels in (result.decoded, result.original):  # shown and shared with worker
            if pixels is not None:                       # threads as they are
                pixels.setflags(write=False)
        self.result = result
        self.classic, self.classic_problem = None, None
        self.fresh_check = None
        if result.point is not None:
            for existing in self.learned_points:
                existing.latest = False
            label = f"MSP {result.profile or 'file'} λ={result.lam:.4g}"
            if result.cancelled:
                label += " (cancelled)"
            profile = "" if result.cancelled else curve_profile(result.profile,
                                                                 result.time_budget_s)
            self.learned_points.append(LearnedPoint(label, result.point, latest=True,
                                                    profile=profile))
        self.result_changed.emit()
        self.classic_changed.emit()
        self.rd_changed.emit()

    def set_reference(self, reference) -> None:
        """Set the current result against ``reference`` (a ReferenceCoding) instead of what
        it had: the heatmaps of Δŷ and Δbits, the third pane and the metrics follow."""
        current = self.result.reference
        if current is not None and current.is_plain:
            self.result.set_aside = current  # the LOF result's own: kept to go back to
        elif reference is not None and reference.is_plain:
            self.result.set_aside = None
        self.result.reference = reference
        # not result_changed: the result itself is the same (a blind round, a replay, the
        # classic codec at its size all stay)
        self.reference_changed.emit()
        self.rd_changed.emit()

    def set_fresh_check(self, report) -> None:
        self.fresh_check = report
        self.check_changed.emit()

    def set_classic(self, classic: ClassicOutcome | None, problem: str | None = None) -> None:
        """The classic codec at the result's size, or None with why it failed (``problem``;
        None: not computed yet)."""
        if classic is not None and classic.decoded is not None:
            classic.decoded.setflags(write=False)
        self.classic, self.classic_problem = classic, problem
        self.classic_changed.emit()

    def add_curve_point(self, name: str, label: str, point, family: str = "") -> None:
        from mspviewer.rd import RDCurve

        curve = self.curves.get(name)
        if curve is None:
            curve = self.curves[name] = RDCurve(name=name, label=label, family=family)
        curve.points.append(point)
        self.rd_changed.emit()

    def add_learned_point(self, label: str, point, profile: str = "",
                          from_ladder: bool = False) -> None:
        """Add an encode's RD point. A ladder's point replaces the point an earlier ladder
        of the profile made at its λ: a ladder run again is the same curve again, not twice
        the points (and, with a time-limited LOF, not the better of two runs per λ)."""
        if from_ladder and point.quality is not None:
            self.learned_points = [
                learned for learned in self.learned_points
                if not (learned.from_ladder and learned.profile == profile
                        and learned.point.quality == point.quality)]
        self.learned_points.append(LearnedPoint(label, point, profile=profile,
                                                from_ladder=from_ladder))
        self.rd_changed.emit()

    def learned_curves(self) -> dict:
        """This image's learned points as one RD curve per profile (profile → RDCurve);
        points of no known profile are left out. A profile whose λ ladder gave
        :data:`MIN_BD_POINTS` points or more is those points alone (``settings["points"]``
        is then "λ ladder"): a fixed set of λ, so that its BD-rates do not depend on what
        else was encoded (an encode past the ladder's top would stretch the interval they
        are measured over). Otherwise (no ladder, or one cancelled early) a profile's curve
        is all its points."""
        from mspviewer.rd import RDCurve

        by_profile: dict[str, list[LearnedPoint]] = {}
        for learned in self.learned_points:
            if learned.profile:
                by_profile.setdefault(learned.profile, []).append(learned)
        curves: dict = {}
        for profile, learned in by_profile.items():
            ladder = [point for point in learned if point.from_ladder]
            if len(ladder) < MIN_BD_POINTS:
                ladder = []
            curves[profile] = RDCurve(
                name=f"msp-{profile}", label=f"MSP {profile}",
                points=[point.point for point in ladder or learned],
                settings={"points": "λ ladder" if ladder else "encodes"})
        return curves

    def clear_curves(self, names=None) -> None:
        if names is None:
            self.curves = {}
        else:
            for name in names:
                self.curves.pop(name, None)
        self.rd_changed.emit()
