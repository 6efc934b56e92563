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

from mspviewer.gui.jobs import ClassicOutcome, EncodeOutcome
from mspviewer.imageio import PixelShape


@dataclass
class ImageState(PixelShape):
    pixels: np.ndarray  #: uint8 (H, W, 3), read-only
    path: Path | None
    notes: list[str] = field(default_factory=list)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or (self.path.name if self.path else "image")


@dataclass
class LearnedPoint:
    label: str
    point: object  #: RDPoint
    latest: bool = False


class Session(QObject):
    image_changed = Signal()
    model_changed = Signal()
    result_changed = Signal()
    classic_changed = Signal()
    rd_changed = Signal()
    check_changed = Signal()  #: the fresh-process bit-exact check of the result finished

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.image: ImageState | None = None
        self.model = None
        self.model_note = ""  #: e.g. "random weights: the shipped model is missing"
        self.result: EncodeOutcome | None = None
        self.classic: ClassicOutcome | None = None
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
        self.classic = None
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
        self.classic = None
        self.learned_points = []
        self.curves = {}
        self.image_changed.emit()
        self.result_changed.emit()
        self.classic_changed.emit()
        self.rd_changed.emit()

    def set_result(self, result: EncodeOutcome) -> None:
        self.result = result
        self.classic = None
        self.fresh_check = None
        if result.point is not None:
            for existing in self.learned_points:
                existing.latest = False
            label = f"MSP {result.profile or 'file'} λ={result.lam:.4g}"
            if result.cancelled:
                label += " (cancelled)"
            self.learned_points.append(LearnedPoint(label, result.point, latest=True))
        self.result_changed.emit()
        self.classic_changed.emit()
        self.rd_changed.emit()

    def set_fresh_check(self, report) -> None:
        self.fresh_check = report
        self.check_changed.emit()

    def set_classic(self, classic: ClassicOutcome | None) -> None:
        self.classic = classic
        self.classic_changed.emit()

    def add_curve_point(self, name: str, label: str, point, family: str = "") -> None:
        from mspviewer.rd import RDCurve

        curve = self.curves.get(name)
        if curve is None:
            curve = self.curves[name] = RDCurve(name=name, label=label, family=family)
        curve.points.append(point)
        self.rd_changed.emit()

    def add_learned_point(self, label: str, point) -> None:
        self.learned_points.append(LearnedPoint(label, point))
        self.rd_changed.emit()

    def clear_curves(self, names=None) -> None:
        if names is None:
            self.curves = {}
        else:
            for name in names:
                self.curves.pop(name, None)
        self.rd_changed.emit()
