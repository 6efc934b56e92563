"""Encode controls: profile, λ (log slider + number) or target bpp, device, Encode/Cancel."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QRadioButton, QSlider,
                               QVBoxLayout, QWidget)

from mspviewer.gui.jobs import ProfileInfo
from mspviewer.gui.outcomes import EncodeRequest
from mspviewer.gui.widgets.common import status_label

#: lines a profile's description may take (the label keeps this height whatever the profile)
DESCRIPTION_LINES = 3

SLIDER_STEPS = 1000


def available_devices() -> list[tuple[str, str]]:
    """(key, label) of the devices the model can run on here."""
    devices = [("cpu", "CPU")]
    try:
        import torch

        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                name = torch.cuda.get_device_name(index)
                devices.append((f"cuda:{index}" if index else "cuda", f"CUDA {index}: {name}"))
    except Exception:  # a broken CUDA set-up must not stop the viewer
        pass
    return devices


class ControlsPanel(QWidget):
    encode_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, profiles: list[ProfileInfo], lambda_range: tuple[float, float],
                 parent=None, usable_range: tuple[float, float] | None = None):
        super().__init__(parent)
        self._lambda_range = lambda_range  # the slider's: the usable range
        self._trained_range = lambda_range
        # (before the profiles: choosing one enables or disables it)
        self.time_limit = QDoubleSpinBox()
        self.time_limit.setRange(0, 24 * 3600)
        self.time_limit.setDecimals(0)
        self.time_limit.setSingleStep(10)
        self.time_limit.setSuffix(" s")
        self.time_limit.setSpecialValueText("none")  # shown at 0
        self.time_limit.setToolTip(
            "Longest time LOF may take; when it is up, LOF stops and keeps the best latent "
            "so far (balanced and max take minutes on a CPU). "
            "With a target bpp, each LOF run of the rate search has this limit.")

        self.profile_box = QComboBox()
        # three lines, held whatever the profile, and no narrower than the longest
        # description needs (set_profiles): a word-wrapped label in a squeezed form was cut
        self.profile_description = status_label(lines=DESCRIPTION_LINES)
        self.profile_description.setStyleSheet("color: #555;")
        self.set_profiles(profiles)
        self.profile_box.currentIndexChanged.connect(self._on_profile)

        self.lambda_mode = QRadioButton("λ")
        self.bpp_mode = QRadioButton("target bpp")
        self.lambda_mode.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.lambda_mode)
        group.addButton(self.bpp_mode)
        self.lambda_mode.toggled.connect(self._on_mode)

        self.lambda_slider = QSlider(Qt.Orientation.Horizontal)
        self.lambda_slider.setRange(0, SLIDER_STEPS)
        self.lambda_slider.setToolTip(
            "λ on a logarithmic scale over the model's range: the trained range and, a little "
            "past its ends, extrapolated gains (untrained operating points)")
        self.lambda_spin = QDoubleSpinBox()
        self.lambda_spin.setDecimals(5)
        self.lambda_spin.setSingleStep(0.0005)
        self.lambda_spin.setKeyboardTracking(False)
        self.lambda_slider.valueChanged.connect(self._on_slider)
        self.lambda_spin.valueChanged.connect(self._on_spin)
        self.range_label = QLabel(" ")
        self.range_label.setWordWrap(True)
        self.range_label.setToolTip("The slider's scale is logarithmic. Between the trained "
                                    "range's ends and the usable range's the gains are "
                                    "extrapolated.")
        self.range_label.setStyleSheet("color: #555;")
        self.extrapolation_label = QLabel("λ past the trained range: extrapolated gains")
        self.extrapolation_label.setStyleSheet("color: #a15c00; font-weight: bold;")
        self.extrapolation_label.setToolTip(
            "The model was trained at λ from the range above; past its ends its gains are "
            "extrapolated. The stream decodes exactly, but the operating point is untrained.")
        self.extrapolation_label.setVisible(False)
        self.bpp_spin = QDoubleSpinBox()
        self.bpp_spin.setDecimals(3)
        self.bpp_spin.setRange(0.01, 8.0)
        self.bpp_spin.setSingleStep(0.05)
        self.bpp_spin.setValue(0.5)
        self.bpp_spin.setSuffix(" bpp")

        self.device_box = QComboBox()
        for key, label in available_devices():
            self.device_box.addItem(label, key)
        # The GPU where there is one: LOF's iterations run many times faster there (a full
        # Kodak image: 39 s of `balanced` on an H200, several minutes on a CPU core).
        if self.device_box.count() > 1:
            self.device_box.setCurrentIndex(1)
        self.device_box.setToolTip(
            "Where encodes and decodes run. A stream decodes bit-exactly on the kind of device "
            "that wrote it; a GPU stream decoded on a CPU can stop with a checksum error "
            "(their arithmetic differs in the last bits), never with a wrong image.")
        self.verify_box = QCheckBox("decode the stream to check it")
        self.verify_box.setChecked(True)
        self.verify_box.setToolTip("Decode the bitstream after encoding: decode time and a "
                                   "bit-exact check against the encoder's reconstruction")

        self.encode_button = QPushButton("Encode")
        self.encode_button.setDefault(True)
        self.encode_button.clicked.connect(self.encode_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop; LOF keeps the best result so far")
        self.cancel_button.clicked.connect(self.cancel_requested)

        form = QFormLayout()
        form.addRow("Profile", self.profile_box)
        form.addRow(self.profile_description)
        modes = QHBoxLayout()
        modes.addWidget(self.lambda_mode)
        modes.addWidget(self.bpp_mode)
        modes.addStretch(1)
        form.addRow("Rate", modes)
        lam_row = QHBoxLayout()
        lam_row.addWidget(self.lambda_slider, 1)
        lam_row.addWidget(self.lambda_spin)
        form.addRow("λ", lam_row)
        form.addRow(self.range_label)
        form.addRow(self.extrapolation_label)
        form.addRow("Target", self.bpp_spin)
        form.addRow("LOF limit", self.time_limit)
        form.addRow("Device", self.device_box)
        form.addRow(self.verify_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.encode_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.set_lambda_range(lambda_range, usable_range)
        self._on_mode()

    # --- profile -------------------------------------------------------------------------------
    def set_profiles(self, profiles: list[ProfileInfo]) -> None:
        current = self.profile_box.currentData()
        self.profile_box.blockSignals(True)
        self.profile_box.clear()
        for info in profiles:
            self.profile_box.addItem(info.name, info.name)
            self.profile_box.setItemData(self.profile_box.count() - 1, info.description,
                                         Qt.ItemDataRole.ToolTipRole)
        self._profiles = {p.name: p for p in profiles}
        self.profile_description.setMinimumWidth(
            _width_for_lines(self.profile_description, [p.description for p in profiles],
                             DESCRIPTION_LINES))
        index = self.profile_box.findData(current)
        self.profile_box.setCurrentIndex(max(index, 0))
        self.profile_box.blockSignals(False)
        self._on_profile()

    def _on_profile(self) -> None:
        info = self._profiles.get(self.profile_box.currentData())
        self.profile_description.setText(info.description if info else " ")
        self.profile_description.setToolTip(info.description if info else "")
        self.time_limit.setEnabled(bool(info and info.iterations))

    def profile(self) -> str:
        return self.profile_box.currentData()

    def set_profile(self, name: str) -> None:
        index = self.profile_box.findData(name)
        if index < 0:
            known = ", ".join(self._profiles)
            raise ValueError(f"unknown profile {name!r}; known: {known}")
        self.profile_box.setCurrentIndex(index)

    # --- λ --------------------------------------------------------------------------------------
    def set_lambda_range(self, lambda_range: tuple[float, float],
                         usable_range: tuple[float, float] | None = None) -> None:
        """The model's trained λ range and the range it encodes (``usable_range``, the trained
        one widened by extrapolation; default: the trained range only)."""
        trained = tuple(float(v) for v in lambda_range)
        low, high = (float(v) for v in (usable_range or trained))
        keep = (self.lambda_spin.value() if self.lambda_spin.value() > 0
                else math.sqrt(trained[0] * trained[1]))
        self._trained_range = trained
        self._lambda_range = (low, high)
        self.lambda_spin.blockSignals(True)
        self.lambda_spin.setRange(low, high)
        self.lambda_spin.blockSignals(False)
        self.set_lambda(min(max(keep, low), high))
        self._show_range()

    def lambda_extrapolated(self) -> bool:
        """The chosen λ lies past the trained range (its gains are extrapolated)."""
        low, high = self._trained_range
        value = self.lambda_spin.value()
        # the spin box rounds to its decimals: a trained end shown rounded is that end
        step = 0.5 * 10 ** -self.lambda_spin.decimals()
        return value < low - step or value > high + step

    def _show_range(self) -> None:
        low, high = self._trained_range
        text = f"trained range {low:g} … {high:g}"
        if (low, high) != self._lambda_range:  # short enough for one line in a narrow dock
            text += f", usable {self._lambda_range[0]:g} … {self._lambda_range[1]:g}"
        self.range_label.setText(text)
        # with a target bpp the λ shown is not used: rate control marks its own λ
        self.extrapolation_label.setVisible(self.lambda_mode.isChecked()
                                            and self.lambda_extrapolated())

    def _slider_to_lambda(self, position: int) -> float:
        low, high = self._lambda_range
        if high <= low:
            return low
        return math.exp(math.log(low) + (math.log(high) - math.log(low)) * position / SLIDER_STEPS)

    def _lambda_to_slider(self, lam: float) -> int:
        low, high = self._lambda_range
        if high <= low:
            return 0
        return round((math.log(lam) - math.log(low)) / (math.log(high) - math.log(low))
                     * SLIDER_STEPS)

    def _on_slider(self, position: int) -> None:
        self.lambda_spin.blockSignals(True)
        self.lambda_spin.setValue(self._slider_to_lambda(position))
        self.lambda_spin.blockSignals(False)
        self._show_range()

    def _on_spin(self, value: float) -> None:
        self.lambda_slider.blockSignals(True)
        self.lambda_slider.setValue(self._lambda_to_slider(value))
        self.lambda_slider.blockSignals(False)
        self._show_range()

    def set_lambda(self, lam: float) -> None:
        self.lambda_spin.setValue(lam)  # clamps to the range; syncs the slider
        self._on_spin(self.lambda_spin.value())

    def lam(self) -> float:
        return float(self.lambda_spin.value())

    def show_found_lambda(self, lam: float) -> None:
        """The λ a target-bpp encode settled on, in the λ control (greyed while the target
        is in use; the λ to start from when the user goes back to it)."""
        if self.bpp_mode.isChecked():
            self.set_lambda(lam)

    # --- mode, device, buttons ------------------------------------------------------------------
    def _on_mode(self) -> None:
        lam = self.lambda_mode.isChecked()
        self.lambda_slider.setEnabled(lam)
        self.lambda_spin.setEnabled(lam)
        self.bpp_spin.setEnabled(not lam)
        self._show_range()

    def set_target_bpp(self, bpp: float | None) -> None:
        if bpp is None:
            self.lambda_mode.setChecked(True)
        else:
            self.bpp_mode.setChecked(True)
            self.bpp_spin.setValue(bpp)

    def device(self) -> str:
        return self.device_box.currentData()

    def set_has_image(self, has_image: bool) -> None:
        """Encode is enabled with an image to encode only (it had said "Open an image
        first" after a click)."""
        self.encode_button.setEnabled(has_image)
        self.encode_button.setToolTip("" if has_image else
                                      "Open an image first (File ▸ Open, or drop a file on "
                                      "the window)")

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.encode_button.setText("Encode (replace)" if busy else "Encode")

    def request(self) -> EncodeRequest:
        target = self.bpp_spin.value() if self.bpp_mode.isChecked() else None
        limit = self.time_limit.value() if self.time_limit.isEnabled() else 0
        return EncodeRequest(profile=self.profile(), lam=self.lam(), target_bpp=target,
                             device=self.device(), verify_decode=self.verify_box.isChecked(),
                             time_budget_s=limit or None)


def _width_for_lines(label: QLabel, texts: list[str], lines: int) -> int:
    """The narrowest width (in steps of 10 px) at which every text wraps into ``lines``
    lines of ``label``'s font: the panel may not squeeze the label below it."""
    metrics = label.fontMetrics()
    room = metrics.lineSpacing() * lines
    margins = label.contentsMargins()
    extra = margins.left() + margins.right() + 2 * label.margin()
    for width in range(100, 1000, 10):
        if all(metrics.boundingRect(0, 0, width, 10 * room, Qt.TextFlag.TextWordWrap,
                                    text).height() <= room for text in texts):
            return width + extra
    return 1000 + extra
