"""The window's saving and exporting: the bitstream, the decoded image, the side-by-side
comparison, the metrics document, the latent arrays and the window as an image.

A mixin of :class:`~mspviewer.gui.main_window.MainWindow`, kept apart so the window module
stays about files, encoding and layout. Every export is written whole or not at all and never
over one of the files the work came from (the image, its reference, the model, an opened
``.msp``). Small files are written at once; PNGs and latent arrays are encoded on the window's
``export_runner``. It uses the window's ``session``, ``compare``, ``rd``, ``export_runner`` and
``show_error``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from mspviewer.errors import MSPViewerError
from mspviewer.files import json_bytes, same_file
from mspviewer.gui import export_jobs
from mspviewer.gui.outcomes import PLAIN_PANE
from mspviewer.gui.worker import Task


class ExportActions:
    # --- saving and exporting ---------------------------------------------------------------------
    def _default_stem(self) -> str:
        result, image = self.session.result, self.session.image
        if image is not None and image.path is not None:
            stem = image.path.with_suffix("").name
            if image.crop is not None:  # never the name of an export of the whole image
                stem += "-crop-{}-{}-{}x{}".format(*image.crop)
            return stem
        if result is not None and result.path:
            return Path(result.path).stem
        return "image"

    def _save_dialog(self, title: str, filter_: str, suffix: str, save) -> None:
        suggestion = self._default_stem() + suffix
        path, _ = QFileDialog.getSaveFileName(self, title, suggestion, filter_)
        if path and not Path(path).suffix:  # a name typed without its extension
            path += Path(suffix).suffix
            if Path(path).exists():  # the dialog asked about the name without it, not this
                self.show_error(f"{path} exists: choose it in the dialog to replace it")
                return
        if path:
            save(path)

    def _require_result(self):
        if self.session.result is None:
            raise MSPViewerError("nothing to export yet: encode an image or open a .msp first")
        return self.session.result

    def _input_files(self) -> list[Path]:
        """The files the current work came from, which no export may replace."""
        paths = []
        image = self.session.image
        while image is not None:
            paths.append(image.path)
            image = image.full
        paths.append(getattr(self.session.model, "source_path", None))
        result = self.session.result
        if result is not None:
            paths.append(result.path)  # the .msp it was opened from, if any
            if result.reference is not None:
                paths.append(result.reference.path)
        return [Path(path) for path in paths if path]

    def _refuse_export_target(self, what: str, path: Path, suffix: str | None = None) -> bool:
        """True (with a message) when ``path`` is one of the inputs, or (``suffix`` given)
        names another format than the one the export writes."""
        for source in self._input_files():
            if same_file(path, source):
                self.show_error(f"Cannot export the {what} to {path}: it is the file "
                                f"{source.name} this work came from; choose another name")
                return True
        if suffix is not None and path.suffix.lower() != suffix:
            self.show_error(f"Cannot export the {what} to {path}: the export writes "
                            f"{suffix[1:].upper()}; name the file {path.stem}{suffix}")
            return True
        return False

    def _export(self, what: str, path, data: Callable[[], bytes]) -> bool:
        """Write a small file (bitstream, metrics) now, whole or not at all."""
        if self._refuse_export_target(what, Path(path)):
            return False
        try:
            export_jobs.write_file(Path(path), data())
        except MSPViewerError as error:
            self.show_error(f"Cannot export the {what}: {error}")
            return False
        self.statusBar().showMessage(f"saved {path}", 8000)
        return True

    def _export_png(self, what: str, path, panes: Callable[[], list]) -> Task | None:
        """Encode and write a PNG on the export thread (whole or not at all); the outcome
        comes as a message. None (with a message) when there is nothing to export."""
        try:
            images = panes()
        except MSPViewerError as error:
            self.show_error(f"Cannot export the {what}: {error}")
            return None
        path = Path(path)
        if self._refuse_export_target(what, path, ".png"):
            return None
        return self._submit_export(
            what, path, lambda token: export_jobs.png_export_task(images, path, token))

    def _submit_export(self, what: str, path: Path, work) -> Task:
        task = Task("export", f"export {path.name}", work, context={"what": what, "path": path})
        self.export_runner.submit(task, replace=False)
        self.statusBar().showMessage(f"exporting the {what} to {path}…", 8000)
        return task

    def export_bitstream(self, path) -> bool:
        return self._export("bitstream", path, lambda: self._require_result().bitstream)

    def export_decoded_png(self, path) -> Task | None:
        return self._export_png("decoded image", path,
                                lambda: [self._require_result().decoded])

    def _side_by_side_panes(self) -> list[np.ndarray]:
        result = self._require_result()
        panes = [p for p in (result.original, result.decoded) if p is not None]
        if self.compare.show_classic() and self.session.classic is not None:
            panes.append(self.session.classic.decoded)
        return panes

    def export_side_by_side_png(self, path) -> Task | None:
        return self._export_png("comparison", path, self._side_by_side_panes)

    def metrics_document(self) -> dict:
        result = self._require_result()
        image = self.session.image
        model = self.session.model
        doc = {
            "image": None if image is None else {
                "path": str(image.path) if image.path else None, "width": image.width,
                "height": image.height, "notes": image.notes,
                # x, y, width, height in the file's pixels (after any EXIF rotation)
                "crop": list(image.crop) if image.crop else None},
            "model": {"name": getattr(model, "name", ""), "id": result.analysis.model_id,
                      "random_weights": bool(self.session.model_note)},
            "msp": result.metrics_dict(),
            # (the plain pane is not a codec at the same bpp: it is under msp.without_lof)
            "classic_same_bpp": (self.session.classic.metrics_dict()
                                 if self.session.classic is not None
                                 and self.session.classic.codec != PLAIN_PANE else None),
            "rd_curves": [curve.to_dict() for curve in self.session.curves.values()],
            "msp_points": [{"label": lp.label, "profile": lp.profile, **lp.point.to_dict()}
                           for lp in self.session.learned_points],
            "bd_rates": self._bd_rates_document(),
        }
        return _json_safe(doc)

    def _bd_rates_document(self) -> list[dict]:
        """The RD panel's BD-rates as it shows them (on its quality measure), one entry per
        learned curve."""
        return [{"curve": curve.label, "metric": self.rd.quality_metric(),
                 # which points: the λ ladder's, or (without a ladder) the encodes
                 "points_from": curve.settings.get("points", "encodes"),
                 # (of these, the BD-rates use those on the curve's RD front)
                 "curve_points": [{"bpp": point.bpp, "lambda": point.quality}
                                  for point in curve.sorted_points()],
                 "against": [{"curve": label, "bd_rate_percent": value,
                              "reason": (note or None) if value is None else None,
                              "warning": (note or None) if value is not None else None}
                             for label, value, note in self.rd.bd_rates(curve)]}
                for curve in self.rd.learned_curves()]

    def export_metrics_json(self, path) -> bool:
        return self._export("metrics", path, lambda: json_bytes(self.metrics_document()))

    def export_latent_arrays(self, path) -> Task | None:
        """Every coded element's ŷ, μ, σ, bits, symbol and pass as NumPy arrays (.npz, see
        :mod:`mspviewer.codec.record_file`), written on the export thread: compressing the
        record of a large image takes seconds."""
        try:
            record = self._require_result().analysis
        except MSPViewerError as error:
            self.show_error(f"Cannot export the latent arrays: {error}")
            return None
        path = Path(path)
        if self._refuse_export_target("latent arrays", path):
            return None
        return self._submit_export(
            "latent arrays", path,
            lambda token: export_jobs.record_export_task(record, path, token))

    def save_screenshot(self, path) -> bool:
        """The window as an image (PNG unless the name says another format Qt writes), now
        (the command line's screenshot waits for it), written whole or not at all."""
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        if self._refuse_export_target("screenshot", Path(path)):
            return False
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        kind = Path(path).suffix.lstrip(".").upper() or "PNG"
        if not self.grab().save(buffer, kind):
            self.show_error(f"Cannot write the screenshot {path}: no {kind} writer")
            return False
        buffer.close()
        try:
            export_jobs.write_file(Path(path), bytes(data.data()))
        except MSPViewerError as error:
            self.show_error(f"Cannot save the screenshot: {error}")
            return False
        return True


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
