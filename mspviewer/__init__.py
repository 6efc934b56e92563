"""mspviewer: a learned image codec (MSP + LOF) and a tool to look inside it.

The package is split by audience:

- ``mspviewer.codec``: the learned codec itself (transforms, MSP probability model,
  bitstream). Never imports Qt.
- ``mspviewer.imageio`` / ``mspviewer.metrics``: image loading and quality metrics shared
  by the codec, the classic baselines and the GUI.
- ``mspviewer.cli``: the ``mspviewer`` command (JSON-friendly sub-commands).
- ``mspviewer.gui``: the Qt desktop application; it observes the core, holds no codec logic.
"""

__version__ = "0.1.0"
