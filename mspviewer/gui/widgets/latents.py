"""Latent views: per MSP scale heatmaps of ŷ, μ, σ, bits and surprise, with colour bars.

One heatmap per scale (coarsest first, the decoding order), all in latent coordinates and
linked, sharing one colour bar. A channel selector shows one latent channel, or the
channels reduced (energy of ŷ and μ, mean σ and surprise, summed bits). After an LOF
encode, two more quantities set it against the plain encoding at the same λ: where LOF
moved the latent (Δŷ; mean |Δŷ| over channels) and where it saved or spent bits (Δbits).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSpinBox,
                               QVBoxLayout, QWidget)

from mspviewer.gui import latent_data
from mspviewer.gui.widgets.common import (DIVERGING_MAP, SEQUENTIAL_MAP, FittedAxisLabel,
                                          Mark, Title, colormap, fit_box, heat_item,
                                          image_viewbox, info_label, link_image_view, observe,
                                          plain_axes, signed)

BACKGROUND = "#d9d9d9"


class LatentView(QWidget):
    #: a click on a latent element: (scale, latent row, latent column)
    element_clicked = Signal(int, int, int)

    def __init__(self, session, scheduler=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.quantity_box = QComboBox()
        for key, (label, _, _) in latent_data.QUANTITIES.items():
            self.quantity_box.addItem(label, key)
        self.all_channels = QCheckBox("all channels")
        self.all_channels.setChecked(True)
        self.all_channels.setToolTip("Reduce over channels (energy of ŷ and μ, mean of σ and "
                                     "surprise, sum of bits and of Δbits, mean |Δŷ|) instead "
                                     "of showing one channel")
        self.channel_box = QSpinBox()
        self.channel_box.setRange(0, 0)
        self.channel_box.setEnabled(False)
        self.channel_box.setPrefix("channel ")
        self.quantity_box.currentIndexChanged.connect(self.refresh)
        self.all_channels.toggled.connect(self._on_channel_mode)
        self.channel_box.valueChanged.connect(self.refresh)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.quantity_box)
        bar.addWidget(self.all_channels)
        bar.addWidget(self.channel_box)
        bar.addSpacing(12)
        self.caption = info_label()
        bar.addWidget(self.caption, 1)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=colormap(SEQUENTIAL_MAP),
                                         width=15, interactive=True)
        plain_axes(self.color_bar)
        #: (beside the numbers: the bar is as tall as the heatmaps, a few rows for a small image)
        self.bar_label = FittedAxisLabel(self.color_bar, "", "", side="right")
        self.boxes: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        self.titles: list[pg.LabelItem] = []
        self.layers: list[latent_data.ScaleLayer] = []
        self.mark = Mark()  #: the inspected element's outline
        self._marked: tuple[int, int, int] | None = None  #: (row, col, scale)
        self.readout = info_label(monospace=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.readout)
        self.view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        for signal in (session.result_changed, session.reference_changed):
            observe(signal, self.refresh, scheduler)
        session.model_changed.connect(self._prepare)
        self.refresh()

    # --- controls ----------------------------------------------------------------------------
    def quantity(self) -> str:
        return self.quantity_box.currentData()

    def channel(self) -> int | None:
        return None if self.all_channels.isChecked() else self.channel_box.value()

    def set_quantity(self, key: str) -> None:
        self.quantity_box.setCurrentIndex(self.quantity_box.findData(key))

    def set_channel(self, channel: int | None) -> None:
        self.all_channels.setChecked(channel is None)
        if channel is not None:
            self.channel_box.setValue(channel)
        self.refresh()

    def _enable_quantities(self, reference, plain: bool = True) -> None:
        """The Δ quantities can be picked only when the result has a reference coding, and
        are named after it."""
        items = self.quantity_box.model()
        for index in range(self.quantity_box.count()):
            key = self.quantity_box.itemData(index)
            items.item(index).setEnabled(latent_data.is_available(key, reference))
            label = latent_data.quantity_label(key, plain)
            if self.quantity_box.itemText(index) != label:
                self.quantity_box.setItemText(index, label)

    def _on_channel_mode(self, all_channels: bool) -> None:
        self.channel_box.setEnabled(not all_channels)
        self.refresh()

    # --- display -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Build one heatmap per scale of the model now, not when the first result arrives."""
        model = self.session.model
        if model is not None:
            self._ensure_boxes(model.config.msp.num_scales)

    def _ensure_boxes(self, count: int) -> None:
        if len(self.boxes) == count:
            return
        layout = self.view.ci
        self.mark.hide()  # before its box goes (Qt deletes the box's items with it)
        layout.clear()
        self.boxes, self.items, self.titles = [], [], []
        for index in range(count):
            title = Title("", elide=True, size="9pt")
            box = image_viewbox()
            item = heat_item(SEQUENTIAL_MAP)
            box.addItem(item)
            if self.boxes:
                link_image_view(box, self.boxes[0])
            layout.addItem(title, row=0, col=index)
            layout.addItem(box, row=1, col=index)
            self.boxes.append(box)
            self.items.append(item)
            self.titles.append(title)
        if count:
            layout.addItem(self.color_bar, row=1, col=count)
            self.color_bar.setImageItem(self.items)

    def refresh(self) -> None:
        self._refresh_layers()
        self._draw_mark()

    def _refresh_layers(self) -> None:
        result = self.session.result
        if result is None:
            self.layers = []
            for item, title in zip(self.items, self.titles):
                item.clear()
                title.setText("")
            self.caption.setText("encode an image to see its latent")
            self.color_bar.setVisible(False)  # (its levels would be the last result's)
            return
        analysis = result.analysis
        coding = getattr(result, "reference", None)  # the plain encoding, or a .msp set
        reference = coding.analysis if coding is not None else None
        plain = coding is None or coding.is_plain
        self._enable_quantities(reference, plain)
        channels = analysis.y_hat.shape[0]
        if self.channel_box.maximum() != channels - 1:
            self.channel_box.setRange(0, channels - 1)
        key, channel = self.quantity(), self.channel()
        if not latent_data.is_available(key, reference):
            self.layers = []
            for item, title in zip(self.items, self.titles):
                item.clear()
                title.setText("")
            reason = (result.no_reference_reason() if result.source == "file" else
                      "LOF did not run for this result: encode with quick, balanced or max "
                      "(or File ▸ Set a reference .msp)")
            self.caption.setText(f"{latent_data.QUANTITIES[key][0]}: {reason}")
            self.color_bar.setVisible(False)
            return
        values = latent_data.channel_values(analysis, key, channel, reference)
        self.layers = latent_data.scale_layers(analysis, values)
        self._ensure_boxes(len(self.layers))
        diverging = latent_data.is_signed(key, channel)
        levels = latent_data.finite_levels([layer.data for layer in self.layers],
                                           symmetric=diverging)
        cmap = colormap(DIVERGING_MAP if diverging else SEQUENTIAL_MAP)
        self.color_bar.setVisible(True)
        self.color_bar.setColorMap(cmap)
        for layer, item, title in zip(self.layers, self.items, self.titles):
            item.setImage(layer.data, autoLevels=False)
            item.setRect(QRectF(*layer.rect))
            kind = "coarsest" if layer.coarsest else f"stride {layer.stride}"
            noun = "position" if layer.num_elements == 1 else "positions"
            if layer.num_elements:
                shorter = (f"scale {layer.scale} ({kind})", f"scale {layer.scale}")
            else:  # (an image this small has none here: the blank map says why)
                shorter = (f"scale {layer.scale}: none", f"s{layer.scale}: none")
            title.setText(f"scale {layer.scale} ({kind}): {layer.num_elements:,} {noun}",
                          shorter=shorter)
        self.color_bar.setLevels(levels)
        _, _, reduced = latent_data.QUANTITIES[key]
        label = latent_data.quantity_label(key, plain)
        one_channel, over_channels = latent_data.SHORT_LABELS[key]
        if channel is not None:
            self.bar_label.set(label, one_channel)
        else:
            self.bar_label.set(reduced, over_channels)
        what = f"channel {channel}" if channel is not None else reduced
        # (the holes in each map are not missing data: a demo's audience had to be told)
        caption = (f"{label}: {what} · latent {channels}×{analysis.y_hat.shape[1]}"
                   f"×{analysis.y_hat.shape[2]} · blank: a coarser scale's positions")
        if key in latent_data.LOF_CHANGE:
            change = result.reference.change
            caption += (f" · {change.symbols_changed:,} of {change.elements:,} symbols "
                        f"changed, {signed(change.bits - change.bits_reference, ',.0f')} bits")
        self.caption.setText(caption)
        new_shape = analysis.y_hat.shape
        if getattr(self, "_fitted_shape", None) != new_shape and self.boxes:
            self._fitted_shape = new_shape
            _, _, width, height = self.layers[0].rect
            fit_box(self.boxes[0], width, height)

    # --- the inspected element -----------------------------------------------------------
    def mark_position(self, row: int | None, col: int | None = None,
                      scale: int | None = None) -> None:
        """Outline latent position (row, col) in the heatmap of ``scale``, the scale that
        codes it (the inspected element's); None: no outline."""
        self._marked = None if row is None else (int(row), int(col), int(scale))
        self._draw_mark()

    def _draw_mark(self) -> None:
        position = self._marked
        if position is None:
            self.mark.hide()
            return
        row, col, scale = position
        for box, layer in zip(self.boxes, self.layers):
            if layer.scale == scale:
                self.mark.show(box, QRectF(col, row, layer.stride, layer.stride))
                return
        self.mark.hide()  # no heatmaps (no result, or a quantity it cannot show)

    # --- mouse --------------------------------------------------------------------------------
    def _locate(self, scene_pos) -> tuple[int, int, int] | None:
        """(layer index, latent row, latent column) under a scene position."""
        for index, box in enumerate(self.boxes):
            if index < len(self.layers) and box.sceneBoundingRect().contains(scene_pos):
                point = box.mapSceneToView(scene_pos)
                layer = self.layers[index]
                row = math.floor(point.y() / layer.stride)
                col = math.floor(point.x() / layer.stride)
                rows, cols = layer.data.shape
                if 0 <= row < rows and 0 <= col < cols:
                    return index, row * layer.stride, col * layer.stride
        return None

    def value_at(self, layer_index: int, latent_row: int, latent_col: int) -> float:
        layer = self.layers[layer_index]
        return float(layer.data[latent_row // layer.stride, latent_col // layer.stride])

    def _on_mouse_moved(self, scene_pos) -> None:
        found = self._locate(scene_pos)
        if found is None:
            self.readout.setText(" ")
            return
        index, row, col = found
        value = self.value_at(index, row, col)
        layer = self.layers[index]
        text = (f"scale {layer.scale} · latent row {row}, col {col} · "
                + ("coded at a coarser scale" if np.isnan(value) else f"value {value:.4g}"))
        self.readout.setText(text)

    def _on_mouse_clicked(self, event) -> None:
        found = self._locate(event.scenePos())
        if found is not None:
            index, row, col = found
            if not np.isnan(self.value_at(index, row, col)):
                self.element_clicked.emit(self.layers[index].scale, row, col)
