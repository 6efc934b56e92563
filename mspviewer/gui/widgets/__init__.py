"""The viewer's panels; each observes a :class:`~mspviewer.gui.session.Session`."""

from mspviewer.gui.widgets.bits import BitAllocationView
from mspviewer.gui.widgets.compare import CompareView
from mspviewer.gui.widgets.controls import ControlsPanel
from mspviewer.gui.widgets.latents import LatentView
from mspviewer.gui.widgets.lof import LOFPanel
from mspviewer.gui.widgets.message_bar import MessageBar
from mspviewer.gui.widgets.metrics import MetricsPanel
from mspviewer.gui.widgets.rd_panel import RDPanel

__all__ = ["BitAllocationView", "CompareView", "ControlsPanel", "LatentView", "LOFPanel",
           "MessageBar", "MetricsPanel", "RDPanel"]
