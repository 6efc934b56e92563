"""Metrics panel: size, rate, quality and timings of the learned codec and, beside it, the
classic codec of the third compare pane."""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from mspviewer.gui.outcomes import PLAIN_PANE
from mspviewer.metrics import MS_SSIM_WEIGHTS, ms_ssim_num_scales
from mspviewer.gui.widgets.common import duration, fmt, observe, signed

#: (key, row label, what the row means: the label's tooltip)
ROWS = (
    ("image", "Image", "The image encoded (a crop names its place in the image)"),
    ("file_size", "File size", "The whole file: header and payload, in bytes"),
    ("bpp", "Rate", "Bits per pixel: the whole file's bits over the image's pixels"),
    ("psnr_rgb", "PSNR-RGB", "Peak signal-to-noise ratio of the decoded image against the "
                             "original, over R, G and B (8-bit): 10·log10(255² / MSE)"),
    ("psnr_y", "PSNR-Y", "PSNR of the luma (BT.601 Y) alone, as codec papers often report"),
    ("ms_ssim", "MS-SSIM", "Multi-scale structural similarity (1 is identical), and in dB "
                           "as −10·log10(1 − MS-SSIM); a small image has fewer scales"),
    ("encode_time", "Encode time", "Wall time of the encode (with LOF, its iterations)"),
    ("decode_time", "Decode time", "Wall time of decoding the file back to pixels"),
    ("estimated_bits", "Estimated bits", "The payload's bits as the probability model "
                                         "predicts them: the sum of −log2 P(symbol)"),
    ("actual_bits", "Actual bits", "The payload's bits as the range coder wrote them"),
    ("overhead", "Overhead", "Coding overhead: actual bits against estimated, what the "
                             "range coder costs beyond the model's ideal code length"),
    ("header", "Header", "The file's header: model identity, λ, image size, the MSP "
                         "layout, checksums and each pass's section size (docs/bitstream.md)"),
    ("setting", "Setting", "Profile, λ, and the target rate where one was asked for"),
    ("lof_change", "LOF change", "The LOF encode against MSP without LOF at the same λ: "
                                 "file size, PSNR and latent symbols changed"),
    ("decode_check", "Decode check", "The file decoded here gives the encoder's "
                                     "reconstruction exactly (bit-exact)"),
    ("fresh_check", "Fresh check", "The file decoded in a fresh process, from the weights "
                                   "file, gives the same symbols and pixels "
                                   "(Encode ▸ Check bit-exact decode)"),
)
#: rows with one value for the whole table (the image, and what only the MSP result has)
WHOLE_WIDTH_ROWS = ("image", "lof_change", "decode_check", "fresh_check")
#: where the fresh-process check has not run: how to run it
FRESH_CHECK_HINT = "Encode ▸ Check bit-exact decode runs it"


class MetricsPanel(QWidget):
    def __init__(self, session, scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.table = QTableWidget(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["MSP", "Classic"])
        self.table.horizontalHeaderItem(1).setToolTip("The third pane: a classic codec at the "
                                                      "same bpp, or MSP without LOF, or the "
                                                      "reference .msp")
        self.table.setVerticalHeaderLabels([label for _, label, _ in ROWS])
        for row, (_, _, meaning) in enumerate(ROWS):
            self.table.verticalHeaderItem(row).setToolTip(meaning)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        self._rows = {key: index for index, (key, *_) in enumerate(ROWS)}
        # One image for both columns: its name gets the table's width, not three wrapped lines
        # of one column in a laptop's dock (the third pane's codec names its column). So do
        # the rows of the MSP result alone: the LOF change took three lines of one column.
        for key in WHOLE_WIDTH_ROWS:
            self.table.setSpan(self._rows[key], 0, 1, 2)
        for signal in (session.result_changed, session.reference_changed,
                       session.classic_changed, session.image_changed,
                       session.check_changed):
            observe(signal, self.refresh, scheduler)
        self.refresh()

    def row_label(self, key: str) -> str:
        return self.table.verticalHeaderItem(self._rows[key]).text()

    def value(self, key: str, column: int = 0) -> str:
        item = self.table.item(self._rows[key], column)
        return item.text() if item is not None else ""

    def tooltip(self, key: str, column: int = 0) -> str:
        item = self.table.item(self._rows[key], column)
        return item.toolTip() if item is not None else ""

    def _set(self, key: str, column: int, text: str, tooltip: str = "") -> None:
        item = QTableWidgetItem(text)
        # the whole text first, then the details: a cell too small for it ends in "…"
        item.setToolTip(tooltip if tooltip.startswith(text) else
                        "\n".join(part for part in (text, tooltip) if part))
        self.table.setItem(self._rows[key], column, item)

    def refresh(self) -> None:
        self.table.clearContents()
        self.table.horizontalHeaderItem(1).setText("Classic")
        # no third pane: its column goes, and the MSP values get the width (less wrapping)
        self.table.setColumnHidden(1, self.session.classic is None)
        self._name_reference_row(None)
        image = self.session.image
        result = self.session.result
        if image is not None:  # (a crop's name already says its size: "a.png [W×H at x, y]")
            size = "" if image.crop else f": {image.width}×{image.height}"
            self._set("image", 0, f"{image.name}{size}", "\n".join(image.notes))
        if result is None:
            return
        a = result.analysis
        height, width = a.image_size
        if image is None or result.original is None:
            self._set("image", 0, f"{width}×{height} (from {result.path or 'stream'})")
        point = result.point
        self._set("file_size", 0, f"{result.num_bytes:,} B")
        self._set("bpp", 0, f"{result.bpp:.4f} bpp")
        if point is not None:
            self._set("psnr_rgb", 0, fmt(point.psnr_rgb, "dB", 2))
            self._set("psnr_y", 0, fmt(point.psnr_y, "dB", 2))
            self._set("ms_ssim", 0, _ms_ssim_text(point, height, width))
        else:
            for key in ("psnr_rgb", "psnr_y", "ms_ssim"):
                self._set(key, 0, "no original")
        self._set("encode_time", 0, duration(result.encode_seconds))
        self._set("decode_time", 0, duration(result.decode_seconds))
        # (the rates in the tooltips: a cell of both wrapped to two lines in a laptop's dock)
        self._set("estimated_bits", 0, f"{a.estimated_bits:,.0f}",
                  f"{a.estimated_bpp:.4f} bpp of payload")
        self._set("actual_bits", 0, f"{a.actual_bits:,}",
                  f"{a.actual_bits / a.num_pixels:.4f} bpp of payload")
        if a.estimated_bits > 0:
            overhead = (a.actual_bits - a.estimated_bits) / a.estimated_bits * 100
            self._set("overhead", 0, f"{signed(overhead, '.2f')} %",
                      f"{a.actual_bits:,} bits written against {a.estimated_bits:,.0f} "
                      f"estimated")
        self._set("header", 0, f"{a.header_bytes} B")
        setting = f"λ = {result.lam:.5g}"
        if result.lam_extrapolated:
            setting += " (extrapolated)"
        if result.profile:
            setting = f"{result.profile}, {setting}"
        if result.target_bpp:
            setting += f" (target {result.target_bpp:g} bpp)"
        if result.cancelled:
            setting += ", cancelled: best so far"
        self._set("setting", 0, setting, "\n".join(result.notes))
        reference = result.reference
        self._name_reference_row(reference)
        if reference is not None:
            self._set("lof_change", 0, *lof_change_text(result))
        else:
            self._set("lof_change", 0, "none: read from a file" if result.source == "file"
                      else "none: no LOF", result.no_reference_reason())
        if result.decode_matches is None:
            check = "decoded from file" if result.source == "file" else "not decoded"
        else:
            check = "bit-exact ✓" if result.decode_matches else "MISMATCH ✗"
        self._set("decode_check", 0, check)
        report = self.session.fresh_check
        if report is None:
            self._set("fresh_check", 0, "not run", FRESH_CHECK_HINT)
        else:
            self._set("fresh_check", 0, ("identical ✓ " if report.ok else "FAILED ✗ ")
                      + report.message)
        classic = self.session.classic
        # the column is named after what it shows, so its Setting cell need not repeat it
        # (in a laptop's dock "JPEG 4:2:0, quality 1 (its smallest)" took three lines)
        if classic is None:
            header = "Classic"
        elif classic.codec != PLAIN_PANE:
            header = classic.label
        else:
            header = ("Without LOF" if reference is None or reference.is_plain
                      else "Reference")
        self.table.horizontalHeaderItem(1).setText(header)
        if classic is not None:
            p = classic.point
            self._set("file_size", 1, f"{p.num_bytes:,} B")
            self._set("bpp", 1, f"{p.bpp:.4f} bpp")
            self._set("psnr_rgb", 1, fmt(p.psnr_rgb, "dB", 2))
            self._set("psnr_y", 1, fmt(p.psnr_y, "dB", 2))
            self._set("ms_ssim", 1, _ms_ssim_text(p, height, width))
            self._set("encode_time", 1, duration(p.encode_s))
            self._set("decode_time", 1, duration(p.decode_s))
            setting, why = classic.setting_text, f"{classic.label}, {classic.setting_text}"
            if classic.misses_target:  # (the reason in the tooltip: 5 lines in a laptop's dock)
                setting += " (its smallest)"
                why = (f"{classic.label}, {setting}: {classic.label} cannot get down to MSP's "
                       f"{classic.target_bpp:.4f} bpp on this image; its smallest file is "
                       f"{p.bpp:.4f} bpp, so the two are not the same size")
            self._set("setting", 1, setting, why)


    def _name_reference_row(self, reference) -> None:
        """The row is "LOF change", or "vs reference" for a .msp set as the reference."""
        item = self.table.verticalHeaderItem(self._rows["lof_change"])
        if reference is not None and not reference.is_plain:
            item.setText("vs reference")
            item.setToolTip("The result against the .msp set as the reference (File ▸ Set "
                            "a reference .msp): file size, PSNR and latent symbols changed")
        else:
            item.setText("LOF change")
            item.setToolTip(ROWS[self._rows["lof_change"]][2])


def _ms_ssim_text(point, height: int, width: int) -> str:
    if point.ms_ssim is None:
        return "n/a (image too small)"
    text = f"{point.ms_ssim:.4f} ({fmt(point.ms_ssim_db, 'dB', 2)})"
    scales = ms_ssim_num_scales(height, width)
    if scales < len(MS_SSIM_WEIGHTS):  # not comparable with published 5-scale figures
        text += f", {scales} of {len(MS_SSIM_WEIGHTS)} scales"
    return text


def lof_change_text(result) -> tuple[str, str]:
    """(cell, tooltip): the result against its reference coding at the same λ (its plain
    encoding after LOF, or a .msp set as the reference)."""
    reference, change = result.reference, result.reference.change
    text = f"{signed(change.file_change_percent, '.2f')} % file"
    if result.point is not None and reference.point.psnr_rgb is not None:
        text += f", {signed(result.point.psnr_rgb - reference.point.psnr_rgb, '.2f')} dB"
    text += f"; {change.symbols_changed:,} symbols changed"  # (the total: in the tooltip)
    what, other, described = reference.short, reference.result_name, reference.describe()
    lines = [f"{change.symbols_changed:,} of {change.elements:,} symbols changed.",
             f"{described[:1].upper()}{described[1:]}: "
             f"{len(reference.bitstream):,} B, {reference.point.bpp:.4f} bpp, "
             f"{fmt(reference.point.psnr_rgb, 'dB', 2)}.",
             f"Model bits per scale, {what} → {other}:"]
    lines += [f"  scale {s.scale}: {s.bits_reference:,.0f} → {s.bits:,.0f} bits "
              f"({signed(s.bits_change_percent)} %), {s.symbols_changed:,} of {s.elements:,} "
              f"symbols changed" for s in change.scales]
    lines.append(f"Mean |Δŷ| over all elements: {change.mean_abs_shift:.4f}. Third pane ▸ "
                 f"{reference.label} shows its image; the latent heatmaps show Δŷ and "
                 f"Δbits.")
    return text, "\n".join(lines)
