"""The controls panel's device choice: the GPU where there is one, the CPU otherwise."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from mspviewer.gui import jobs  # noqa: E402
from mspviewer.gui.widgets import controls  # noqa: E402


@pytest.mark.parametrize("devices,expected", [
    ([("cpu", "CPU")], "cpu"),
    ([("cpu", "CPU"), ("cuda", "CUDA 0: H200"), ("cuda:1", "CUDA 1: H200")], "cuda"),
])
def test_encodes_default_to_the_first_gpu_where_there_is_one(qtbot, monkeypatch, devices,
                                                             expected):
    monkeypatch.setattr(controls, "available_devices", lambda: devices)
    panel = controls.ControlsPanel(jobs.available_profiles(), (0.001, 0.1))
    qtbot.addWidget(panel)
    assert panel.device() == expected
    assert [panel.device_box.itemData(i) for i in range(panel.device_box.count())] == \
        [key for key, _ in devices]
    assert "checksum error" in panel.device_box.toolTip()
