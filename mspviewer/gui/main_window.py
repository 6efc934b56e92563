"""The main window: menus, docks, and the wiring between controls, runners and panels.

The window owns a :class:`~mspviewer.gui.session.Session` (what is shown) and
:class:`~mspviewer.gui.worker.TaskRunner` threads: ``encoder`` (encode, λ ladder),
``files`` (decoding an opened ``.msp``), ``classic`` (the third pane's codec at the same
bpp), ``sweeps`` (classic RD curves), ``checks`` (the fresh-process bit-exact check)
and ``exports`` (PNG exports, encoded and written whole or not at all).
The session changes only when a task succeeds, so a failure leaves the previous state on
screen (and a running encode going), with a message in the message bar. Opening files
(:mod:`~mspviewer.gui.file_actions`), saving and exporting (:mod:`~mspviewer.gui.exports`) and
the teaching actions (:mod:`~mspviewer.gui.teaching`) and what becomes of each task's result
(:mod:`~mspviewer.gui.task_results`) are mixins of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFrame, QLabel, QMainWindow, QScrollArea,
                               QStackedWidget, QVBoxLayout, QWhatsThis, QWidget)

from mspviewer.bundled import resources_dir
from mspviewer.errors import MSPViewerError
from mspviewer.gui import classic_jobs, jobs
from mspviewer.gui.exports import ExportActions
from mspviewer.gui.file_actions import ENCODE_ON_OPEN_KEY, FileActions
from mspviewer.gui.jobs import CancelToken
from mspviewer.gui.outcomes import PLAIN_PANE, EncodeRequest
from mspviewer.gui.session import ImageState, Session, curve_profile
from mspviewer.gui.task_results import TaskResults
from mspviewer.gui.teaching import TeachingActions
from mspviewer.gui.tour import GuidedTour, panel_help
from mspviewer.gui.widgets import (BitAllocationView, CompareView, ControlsPanel, LatentView,
                                   LOFPanel, MessageBar, MetricsPanel, RDPanel)
from mspviewer.gui.widgets.common import RefreshScheduler, disable_drops
from mspviewer.gui.widgets.blind_ab import MESSAGE_SUBJECT as BLIND_AB_SUBJECT
from mspviewer.gui.widgets.blind_ab import BlindABPanel
from mspviewer.gui.widgets.inspector import InspectorPanel
from mspviewer.gui.widgets.region import visible_region
from mspviewer.gui.widgets.replay import ReplayPanel
from mspviewer.gui.worker import Task, TaskRunner

SAMPLE_IMAGE = resources_dir() / "sample.png"
#: Largest image the viewer opens (pixels); larger ones are refused with a message.
GUI_MAX_PIXELS = 16 * 1024 * 1024
#: Largest image read on the GUI thread (a 1920×1080 frame is under it). A 4-megapixel PNG
#: took 0.16–0.21 s to open there on two loaded cores, a visible hitch; at the 16-megapixel
#: limit reading alone took 0.5 s. Larger images are read on the file thread.
SYNC_OPEN_PIXELS = 2 * 1024 * 1024

#: The window's size when it opens for the first time (cut to the screen's free area).
DEFAULT_SIZE = (1600, 1000)
#: Below this window height, LOF progress and Rate–distortion are tabs of the right column
#: rather than one above the other: stacked in the ~390 px that a 720-px window leaves them,
#: LOF's three plots had 20 px each and the RD plot's legend covered its curves; in the
#: ~650 px of a full-HD screen's window, the RD plot was 160–200 px tall, and its legend
#: had no corner free of curves.
TABBED_RIGHT_COLUMN_BELOW_PX = 1200
#: A dock's title bar and a tab bar, in pixels: what a panel's own minimum height leaves out.
DOCK_CHROME_PX = 48
#: A scroll bar's width, with a little to spare.
SCROLL_BAR_PX = 20
#: What a window manager's frame and title bar add to the window's size, at most (pixels).
FRAME_ALLOWANCE = (16, 40)
#: Where its size and place are kept between runs (``QWidget.saveGeometry``).
GEOMETRY_KEY = "window/geometry"

EncodeJob = Callable[[object, np.ndarray, EncodeRequest, CancelToken], Generator]


def default_model():
    """The shipped model, or a random one (with a note saying so) when it cannot be loaded."""
    from mspviewer.codec import build_random_model, load_model

    try:
        return load_model(), ""
    except MSPViewerError as error:
        return build_random_model(), (f"{error}. Using a randomly initialised model: "
                                      f"its results are meaningless.")


class MainWindow(FileActions, TeachingActions, ExportActions, TaskResults, QMainWindow):
    def __init__(self, model=None, *, model_factory: Callable[[], object] | None = None,
                 settings: QSettings | None = None, open_sample: bool = True,
                 rd_codecs: tuple[str, ...] | None = classic_jobs.DEFAULT_RD_CODECS,
                 same_bpp_codec: str | None = classic_jobs.DEFAULT_SAME_BPP_CODEC,
                 max_pixels: int = GUI_MAX_PIXELS, sync_open_pixels: int | None = None,
                 encode_job: EncodeJob | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("MSP viewer")
        self.settings = settings if settings is not None else QSettings("mspviewer", "mspviewer")
        self.max_pixels = max_pixels
        #: images above this many pixels are read on the file thread (see ``open_image``)
        self.sync_open_pixels = (SYNC_OPEN_PIXELS if sync_open_pixels is None
                                 else sync_open_pixels)
        self.encode_job: EncodeJob = encode_job or jobs.encode_task
        self.errors: list[str] = []  #: every error message shown, oldest first
        self.problems: list[str] = []  #: codec problems reported by sweeps
        self.session = Session(self)
        self.encoder = TaskRunner("encoder", self)
        self.classic_runner = TaskRunner("classic", self)
        self.sweep_runner = TaskRunner("sweeps", self)
        #: the fresh-process bit-exact check: its own thread, so encoding goes on meanwhile
        self.check_runner = TaskRunner("checks", self)
        #: decoding an opened ``.msp`` or reading a large image: its own thread, so a running
        #: encode survives a stream whose payload turns out to be corrupt (only a successful
        #: decode replaces it)
        self.file_runner = TaskRunner("files", self)
        #: PNG exports: encoded and written off the GUI thread, one after the other
        self.export_runner = TaskRunner("exports", self)
        self._swept: set[str] = set()  #: classic codecs whose RD sweep of this image is complete
        #: status-bar messages that last while their task does (``show_progress``)
        self._progress_messages: list[tuple[str, Task]] = []
        self._closed = False
        self.view_menu = None
        try:
            self._setup(model, model_factory, rd_codecs, same_bpp_codec, open_sample)
        except BaseException:
            self.shutdown()  # never leave a running QThread behind
            raise

    def _setup(self, model, model_factory, rd_codecs, same_bpp_codec, open_sample) -> None:
        codecs = classic_jobs.classic_codec_names()
        self.profiles = jobs.available_profiles()

        # --- panels ------------------------------------------------------------------------------
        jobs.preload()
        self.refresher = RefreshScheduler(interval_ms=20, parent=self,
                                          on_error=self.show_error)
        self.messages = MessageBar()
        self.compare = CompareView(self.session, codecs, self.refresher)
        self.controls = ControlsPanel(self.profiles, (0.001, 0.1))
        self.metrics = MetricsPanel(self.session, self.refresher)
        self.lof = LOFPanel()
        self.rd = RDPanel(self.session, codecs, tuple(rd_codecs or ()), self.refresher)
        self.latents = LatentView(self.session, self.refresher)
        self.bits = BitAllocationView(self.session, self.refresher)
        self.inspector = InspectorPanel(self.session, self.refresher)
        # the replay owns its thread: a build (one synthesis per step) never waits behind
        # an encode, and its failures are reported by the panel itself
        self.replay = ReplayPanel(self.session, scheduler=self.refresher)
        self.replay.input_files = self._input_files
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.messages)
        # The centre shows the labelled compare view, or the blind A/B test in its place: a
        # blind round must not have the answer on screen beside it.
        self.blind_ab = BlindABPanel(self.session)
        self.centre = QStackedWidget()
        self.centre.addWidget(self.compare)
        self.centre.addWidget(self.blind_ab)
        layout.addWidget(self.centre, 1)
        self.setCentralWidget(central)
        self.docks: dict[str, QDockWidget] = {}
        # The left column (Encode, Metrics) runs down to the status bar, beside the bottom
        # row: its table gets the height, which on a laptop's screen the bottom row's
        # panels, wide rather than tall, do not need.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_panel("controls", "Encode", self.controls, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_panel("metrics", "Metrics", self.metrics, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_panel("lof", "LOF progress", self.lof, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_panel("rd", "Rate–distortion", self.rd, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_panel("latents", "Latents per scale", self.latents,
                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.add_panel("bits", "Bit allocation", self.bits,
                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(self.docks["latents"], self.docks["bits"], Qt.Orientation.Horizontal)
        # The teaching tools are tabs beside the bit allocation: wide enough for a table and
        # a PMF, and a click on a heatmap (left of them) or the image never hides its source.
        self.add_panel("inspector", "Inspector", self.inspector,
                       Qt.DockWidgetArea.BottomDockWidgetArea, scroll=True)
        self.tabifyDockWidget(self.docks["bits"], self.docks["inspector"])
        self.add_panel("replay", "Decode replay", self.replay,
                       Qt.DockWidgetArea.BottomDockWidgetArea, scroll=True)
        self.tabifyDockWidget(self.docks["inspector"], self.docks["replay"])
        self.docks["bits"].raise_()
        self.tour = GuidedTour(show_panel=self.show_panel)
        self.add_panel("tour", "Guided tour", self.tour, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.docks["tour"].hide()  # Help ▸ Guided tour opens it, beside the panels it shows
        for key, dock in self.docks.items():
            dock.widget().setWhatsThis(panel_help(key))
        self.compare.setWhatsThis(panel_help("compare"))
        self.blind_ab.setWhatsThis(panel_help("blind_ab"))
        self._arranged = False

        self.status_model = QLabel(" ")
        self.status_busy = QLabel(" ")
        self.statusBar().addPermanentWidget(self.status_busy)
        self.statusBar().addPermanentWidget(self.status_model)
        self._build_menus()
        self.setAcceptDrops(True)
        disable_drops(self)

        # --- wiring -------------------------------------------------------------------------------
        self.controls.encode_requested.connect(self.start_encode)
        self.controls.cancel_requested.connect(self.cancel_encode)
        self.compare.classic_codec_changed.connect(self._on_classic_codec)
        self.rd.codecs_changed.connect(self._on_rd_codecs)
        self.rd.ladder_requested.connect(self.start_lambda_ladder)
        self.latents.element_clicked.connect(self.inspect_latent)
        self.bits.channels.channel_selected.connect(self.latents.set_channel)
        # and back: the channel the heatmaps show is the one outlined among the bars
        for changed in (self.latents.all_channels.toggled, self.latents.channel_box.valueChanged):
            changed.connect(lambda *_: self.bits.channels.select_channel(self.latents.channel()))
        self.compare.image_clicked.connect(self.inspect_pixel)
        self.inspector.element_selected.connect(self.mark_inspected)
        self.inspector.selection_cleared.connect(self.unmark_inspected)
        self.inspector.message.connect(self.show_message)
        self.replay.message.connect(self.show_message)
        self.blind_ab.message.connect(self.show_message)
        # a check belongs to one result: a newer result makes its report moot (it would
        # be dropped), so stop its child process instead of letting it run to the end
        self.session.result_changed.connect(lambda: self.check_runner.cancel("superseded"))
        # a note about an image, a result or a reference goes when they do
        self.session.image_changed.connect(
            lambda: self.messages.dismiss_about("image", "result", "reference"))
        self.session.result_changed.connect(
            lambda: self.messages.dismiss_about("result", "reference"))
        self.session.reference_changed.connect(lambda: self.messages.dismiss_about("reference"))
        self.session.classic_changed.connect(
            lambda: self.messages.dismiss_about(BLIND_AB_SUBJECT))
        # actions wait for what they work on: Encode (the default button) for an image, the
        # exports for a result, … (see _enable_actions)
        for changed in (self.session.image_changed, self.session.result_changed,
                        self.session.reference_changed):
            changed.connect(self._enable_actions)
        self._enable_actions()
        self.tour.closed.connect(self.docks["tour"].hide)
        self.tour.closed.connect(self.leave_tour_blind_test)
        self.docks["tour"].toggleViewAction().toggled.connect(self._on_tour_dock_toggled)
        self.blind_action.triggered.connect(self._blind_mode_by_user)
        for runner in self.runners():
            runner.task_started.connect(self._on_task_started)
            runner.task_progress.connect(self._on_task_progress)
            runner.task_finished.connect(self._on_task_finished)
            runner.task_failed.connect(self._on_task_failed)
            runner.busy_changed.connect(self._on_busy)
            runner.tasks_changed.connect(self._update_busy_label)
            runner.tasks_changed.connect(self._drop_finished_progress)
        self.session.model_changed.connect(self._on_model_changed)

        # --- model and first image ---------------------------------------------------------------
        note = ""
        if model is None:
            if model_factory is not None:
                model = model_factory()
            else:
                model, note = default_model()
        self.session.set_model(model, note)
        if note:
            self.show_message(note, "warning")
        if same_bpp_codec and any(name == same_bpp_codec and ok for name, _, ok in codecs):
            self.compare.set_classic_codec(same_bpp_codec)
        if open_sample and SAMPLE_IMAGE.exists():
            self.open_image(SAMPLE_IMAGE, remember=False)

    # --- construction helpers ---------------------------------------------------------------------
    def add_panel(self, key: str, title: str, widget: QWidget,
                  area=Qt.DockWidgetArea.RightDockWidgetArea,
                  scroll: bool = False) -> QDockWidget:
        """Add a dockable panel (later tools, e.g. an inspector or a decode replay, plug in
        here); it gets a toggle in the View menu.

        With ``scroll``, the panel sits in a scroll area: squeezed below the size its
        tables need, it scrolls instead of setting the window's minimum size (the
        inspector's 387 px made the window at least 867 px tall, past a 1366×768 laptop's
        screen). Plots do without: scrolled, they would hide their axes."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")
        if scroll:
            scroller = QScrollArea()
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QFrame.Shape.NoFrame)
            scroller.setWidget(widget)
            widget = scroller
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        if getattr(self, "view_menu", None) is not None:
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _panel_minimum(self, key: str) -> tuple[int, int]:
        """The size a docked panel needs to show all of itself: its own minimum, with its
        title bar and tabs, and a scroll bar's worth to spare."""
        widget = self.docks[key].widget()
        panel = widget.widget() if isinstance(widget, QScrollArea) else widget
        hint = panel.minimumSizeHint()
        # (word-wrapped labels ask for more height when narrower: a scroll bar's worth more)
        return hint.width() + SCROLL_BAR_PX, hint.height() + DOCK_CHROME_PX + SCROLL_BAR_PX

    def arrange_docks(self) -> None:
        """Default proportions of the docks for the current window size: each panel gets
        at least what it needs to show all of itself, as long as the window has room."""
        width, height = self.width(), self.height()
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        self.resizeDocks(
            [self.docks["controls"], self.docks["lof"]],
            [max(self._panel_minimum("controls")[0], 340, int(width * 0.18)),
             max(self._panel_minimum("rd")[0], 400, int(width * 0.22))], horizontal)
        self.resizeDocks([self.docks["latents"]],
                         [max(self._panel_minimum("bits")[1], int(height * 0.36))], vertical)
        row = self.docks["latents"].width() + self.docks["bits"].width()
        self.resizeDocks([self.docks["latents"], self.docks["bits"]],
                         [int(row * 0.54), row - int(row * 0.54)], horizontal)
        # The Encode panel as small as it can be (it never scrolls); the metrics table gets
        # the rest of the column. (resizeDocks scales sizes that add up to more than the
        # column down in proportion: they must add up to the column.)
        column = self.docks["controls"].height() + self.docks["metrics"].height()
        controls = max(self.docks["controls"].minimumSizeHint().height(), int(column * 0.3))
        self.resizeDocks([self.docks["controls"], self.docks["metrics"]],
                         [controls, column - controls], vertical)
        if height < TABBED_RIGHT_COLUMN_BELOW_PX:
            self.tabifyDockWidget(self.docks["lof"], self.docks["rd"])
            self.docks["rd"].raise_()  # (an LOF encode raises its own: see start_encode)
        else:
            self.resizeDocks([self.docks["lof"], self.docks["rd"]],
                             [int(height * 0.45), int(height * 0.55)], vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._arranged:
            self._arranged = True
            self.arrange_docks()

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self._action(menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        # (one mnemonic per letter in a menu: with two, Alt+letter only moves between them)
        self._action(menu, "Open sample &image", lambda: self.open_image(SAMPLE_IMAGE, False))
        self._action(menu, "&Next image in the folder", lambda: self.open_neighbour(1),
                     "Ctrl+PgDown")
        self._action(menu, "Pre&vious image in the folder", lambda: self.open_neighbour(-1),
                     "Ctrl+PgUp")
        self.crop_action = self._action(menu, "&Crop to the visible region", self.crop_to_view,
                                        "Ctrl+Shift+X")
        self.uncrop_action = self._action(menu, "Back to the f&ull image", self.uncrop)
        self._action(menu, "Load &model…", self.load_model_dialog)
        reference_action = self._action(
            menu, "Set a r&eference .msp (compare the result with it)…", self.reference_dialog)
        self.clear_reference_action = self._action(menu, "C&lear the reference .msp",
                                                   self.clear_reference)
        menu.addSeparator()
        # (menu text, dialog title, file filter, suffix of the suggested name, writer, shortcut)
        exports = (
            ("&Save bitstream (.msp)…", "Save bitstream", "MSP bitstream (*.msp)", ".msp",
             self.export_bitstream, QKeySequence.StandardKey.Save),
            ("Export &decoded PNG…", "Export decoded image", "PNG (*.png)", "-decoded.png",
             self.export_decoded_png, None),
            ("Export side-by-side &PNG…", "Export comparison", "PNG (*.png)", "-compare.png",
             self.export_side_by_side_png, None),
            ("Export me&trics JSON…", "Export metrics", "JSON (*.json)", "-metrics.json",
             self.export_metrics_json, None),
            ("Export latent &arrays (.npz)…", "Export latent arrays", "NumPy arrays (*.npz)",
             "-latents.npz", self.export_latent_arrays, None),
            ("Save &window screenshot…", "Save screenshot", "PNG (*.png)", "-window.png",
             self.save_screenshot, None))
        #: the actions that work on a result: setting a reference, its exports (the window's
        #: screenshot needs none), and below, the replay and the checks
        self.result_actions: list[QAction] = [reference_action]
        for text, title, filter_, suffix, write, shortcut in exports:
            action = self._action(menu, text,
                                  lambda _=False, t=title, f=filter_, x=suffix, w=write:
                                  self._save_dialog(t, f, x, w), shortcut)
            if write != self.save_screenshot:
                self.result_actions.append(action)
        menu.addSeparator()
        self._action(menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        menu = self.menuBar().addMenu("&Encode")
        self.encode_action = self._action(menu, "&Encode", self.start_encode, "Ctrl+E")
        self._action(menu, "&Cancel", self.cancel_encode, "Esc")
        self.ladder_action = self._action(
            menu, "λ &ladder (MSP's RD points, with the chosen profile)",
            self.start_lambda_ladder)
        self.result_actions.append(
            self._action(menu, "Build decode &replay", self.start_replay, "Ctrl+R"))
        self.encode_on_open_action = self._action(menu, "Encode each image on &opening",
                                                  self.set_encode_on_open)
        self.encode_on_open_action.setCheckable(True)
        self.encode_on_open_action.setChecked(
            self.settings.value(ENCODE_ON_OPEN_KEY, False, type=bool))
        menu.addSeparator()
        self.check_action = self._action(
            menu, "Check &bit-exact decode (fresh process)", self.start_fresh_check, "Ctrl+B")
        self.result_actions += [self.check_action, self._action(
            menu, "Check a .msp &file against the decoded image…", self.check_file_dialog)]

        menu = self.view_menu = self.menuBar().addMenu("&View")
        for key, label in (("side", "&Side by side"), ("split", "S&plit slider"),
                           ("difference", "&Difference heatmap"),
                           ("flicker", "F&licker (A/B)")):
            self._action(menu, label, lambda _=False, k=key: self.show_compare_mode(k))
        self.blind_action = self._action(menu, "&Blind A/B test (hides the labels)",
                                         self.set_blind_mode, "Ctrl+T")
        self.blind_action.setCheckable(True)
        self.zoom_actions = [
            self._action(menu, "Zoom to &fit", self.compare.zoom_fit, "Ctrl+0"),
            self._action(menu, "Zoom &1:1", self.compare.zoom_one_to_one, "Ctrl+1")]
        self.images_only_action = self._action(menu, "&Images only (panels hidden)",
                                               self.set_images_only, "Ctrl+Shift+F")
        self.images_only_action.setCheckable(True)
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())

        menu = self.menuBar().addMenu("&Help")
        self._action(menu, "&Guided tour", self.start_tour, "F1")
        menu.addAction(QWhatsThis.createAction(self))
        self._action(menu, "&About", self._about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _enable_actions(self) -> None:
        """Actions wait for what they work on (each had answered a click, or a file dialog,
        with "open an image first" or "nothing to export yet"): encoding, the λ ladder, the
        crop and the zoom for an image (a .msp opened alone has none), going back for a
        crop, the exports, the replay and the checks for a result, clearing the reference
        for a reference .msp."""
        image, result = self.session.image, self.session.result
        has_image = image is not None
        self.controls.set_has_image(has_image)
        for action in (self.encode_action, self.ladder_action, self.crop_action):
            action.setEnabled(has_image)
        self.rd.ladder_button.setEnabled(has_image)
        for action in self.zoom_actions:
            action.setEnabled(has_image or result is not None)
        self.uncrop_action.setEnabled(has_image and image.full is not None)
        for action in self.result_actions:
            action.setEnabled(result is not None)
        reference = getattr(result, "reference", None)
        self.clear_reference_action.setEnabled(reference is not None and not reference.is_plain)

    # --- messages ---------------------------------------------------------------------------------
    def show_message(self, text: str, level: str = "info", about: str | None = None,
                     details: str = "") -> None:
        """A message in the bar at the top and in the status bar. ``about`` ("image",
        "result", "reference" or "classic") ties it to what it describes: replacing that
        takes it down (the image takes down the first three, a result the last two of them,
        the third pane's codec the last). ``details`` (a traceback)
        are behind the bar's Details… button."""
        self.messages.show_message(text, level, about, details)
        self.statusBar().showMessage(text.splitlines()[0] if text else "", 10000)

    def show_progress(self, text: str, task: Task) -> None:
        """A status-bar message that lasts as long as ``task`` is queued or running: it goes
        when the task ends, is cancelled or is replaced by a newer one."""
        self.statusBar().showMessage(text)
        self._progress_messages.append((text, task))

    def _drop_finished_progress(self) -> None:
        live = {id(task) for runner in self.runners()
                for task in (runner.current, *runner.pending) if task is not None}
        kept = []
        for text, task in self._progress_messages:
            if id(task) in live and not task.token.is_set():
                kept.append((text, task))
            elif self.statusBar().currentMessage() == text:
                self.statusBar().clearMessage()
        self._progress_messages = kept

    def show_error(self, text: str, details: str = "", about: str | None = None) -> None:
        """An error in the window (message bar and status bar); details (a traceback) are
        behind its Details… button and go to stderr too. ``about`` as for show_message:
        most errors stay until dismissed, one about the result goes with it."""
        self.errors.append(text)
        self.show_message(text, "error", about=about, details=details)
        if details:
            import sys

            print(details, file=sys.stderr)

    # --- the image to encode ---------------------------------------------------------------------
    def crop_image(self, x: int, y: int, width: int, height: int,
                   inside: bool = False) -> bool:
        """Make a region of the open image the image to encode: LOF on a CPU takes minutes
        for a whole Kodak image and seconds for a detail. The region is in the pixels of
        the image on screen (a crop of a crop is placed in the full image), clipped to it
        (refused, with ``inside``, if it reaches past it); ``uncrop`` goes back. False,
        with a message, when there is nothing to crop or too little."""
        image = self.session.image
        if image is None:
            self.show_error("Nothing to crop: open an image first (a .msp file without its "
                            "source has no original to crop)")
            return False
        try:
            cropped = image.cropped(x, y, width, height, inside)
        except MSPViewerError as error:
            self.show_error(f"Cannot crop: {error}")
            return False
        dropped = self._drop_stream_being_opened(f"the crop {cropped.name} came after it")
        self.set_image(cropped)
        # the status bar, not the message bar: the title and the metrics name the crop already
        self.statusBar().showMessage(f"now on {self.session.image.name}; File ▸ Back to the "
                                     "full image undoes the crop"
                                     + (f" ({dropped})" if dropped else ""), 10000)
        return True

    def crop_to_view(self) -> bool:
        """Crop to the part of the image the compare view shows: every pixel at least
        partly in view, less a last row or column where that makes a size even (VVC
        refuses odd sizes, 4:2:0 codecs pad them)."""
        image = self.session.image
        if image is not None and self.blind_mode():  # its panes do not show that zoom
            self.show_error("Cannot crop during the blind A/B test: leave it (View menu) and "
                            "zoom the compare view to the region first")
            return False
        if image is None:
            return self.crop_image(0, 0, 0, 0)  # (refused: it says why)
        region = visible_region(self.compare.master_box().viewRect(), image.width,
                                image.height)
        if region is None:  # panned off the image: none of it to crop
            return self.crop_image(0, 0, 0, 0)
        left, top, width, height = region
        if (width, height) == (image.width, image.height):
            return self.crop_image(0, 0, width, height)  # refused: it says why
        return self.crop_image(left, top, width - width % 2, height - height % 2)

    def uncrop(self) -> bool:
        image = self.session.image
        if image is None or image.full is None:
            self.show_message("The image is not cropped", "info", about="image")
            return False
        self.set_image(image.full)
        return True

    def set_image(self, image: ImageState | None) -> None:
        """Make ``image`` the current original (drops results of the previous one)."""
        self.encoder.cancel("superseded")
        self.classic_runner.cancel("superseded")
        self.sweep_runner.cancel("superseded")
        if image is not None:  # (the stream would have replaced it on arrival)
            self._drop_stream_being_opened(f"{image.name} was shown after it")
        self.file_runner.cancel_replaceable()  # a model being loaded goes on
        self._swept = set()
        self._reset_lof_panel()
        self.session.set_image(image)
        if image is not None:
            self.setWindowTitle(f"MSP viewer: {image.name} ({image.width}×{image.height})")
            self._start_sweeps()
        else:  # never the name of an image that is gone
            self.setWindowTitle("MSP viewer")

    def _reset_lof_panel(self) -> None:
        """Empty the LOF panel: the encode it showed was superseded (no finish will come)."""
        self.lof.start("", None)
        self.lof.finish(None)
        self.lof.progress.setFormat("idle")
        self.lof.status.setText(" ")

    # --- encoding ---------------------------------------------------------------------------------
    def start_encode(self, request: EncodeRequest | None = None) -> Task | None:
        """Encode the current image (replacing any encode in progress, and a ``.msp``
        still decoding: the latest request wins)."""
        image = self.session.image
        if image is None:
            self.show_error("Open an image first (File ▸ Open, or drop a file on the window).")
            return None
        if self.refused_while_model_loads("encode when it has loaded"):
            return None
        request = request if isinstance(request, EncodeRequest) else self.controls.request()
        model, job = self.session.model, self.encode_job
        pixels = image.pixels
        task = Task("encode", f"encode {image.name}",
                    lambda token: job(model, pixels, request, token),
                    context={"image": image, "request": request})
        try:
            total = jobs.profile_info(request.profile).iterations
        except MSPViewerError:
            total = None
        self.lof.start(request.describe(), total, request.time_budget_s)
        if total and self.tabifiedDockWidgets(self.docks["lof"]):
            self.docks["lof"].raise_()  # the iterations are to be watched as they run
        self._drop_stream_being_opened(f"an encode of {image.name} was asked for after it")
        self.encoder.submit(task)
        return task

    def _drop_stream_being_opened(self, why: str) -> str | None:
        """The latest request wins: a ``.msp`` still decoding when an encode, a ladder or a
        crop of the open image is asked for is not opened (arriving, it had cancelled them).
        Returns what the status bar says of it (None: no stream was decoding)."""
        decoding = self.file_runner.live("decode")
        if decoding:
            self.file_runner.cancel_if(lambda task: task.kind == "decode", "superseded")
            message = f"{Path(decoding[-1].context['path']).name} not opened: {why}"
            self.statusBar().showMessage(message, 8000)
            return message
        return None

    def cancel_encode(self) -> None:
        """Stop the running encode or ladder and drop what was queued behind it, saying so."""
        running = self.encoder.current
        dropped = [task.label for task in self.encoder.pending if not task.token.is_set()]
        if not self.encoder.cancel("user") and not dropped:
            return
        if running is not None and running.kind == "ladder":
            message = "cancelling the λ ladder: the points already on the RD plot stay"
        elif running is not None:
            message = "cancelling: the best result so far will be kept"
        else:
            message = "cancelled"
        if dropped:  # (the queue goes too: a Cancel that let the next task start would not
            message += f"; not started: {', '.join(dropped)}"  # read as a cancel)
        self.statusBar().showMessage(message, 8000)

    def start_lambda_ladder(self) -> Task | None:
        image = self.session.image
        if image is None:
            self.show_error("Open an image first.")
            return None
        if self.refused_while_model_loads("run the λ ladder when it has loaded"):
            return None
        model, pixels, device = self.session.model, image.pixels, self.controls.device()
        lambdas = tuple(model.config.rate.lambdas)
        # the profile and LOF limit of the encode controls: the ladder of any encoder
        try:
            profile = self.controls.request().resolved_profile()
        except MSPViewerError as error:  # e.g. a profiles file changed since the start
            self.show_error(f"λ ladder: {error}")
            return None
        curve = curve_profile(profile.name,
                              profile.time_budget_s if profile.uses_lof else None)
        task = Task("ladder", "λ ladder",
                    lambda token: jobs.lambda_ladder_task(model, pixels, lambdas, device, token,
                                                          profile, curve),
                    context={"image": image, "curve": curve, "profile": profile.name,
                             "title": f"λ ladder, {curve} ({len(lambdas)} encodes)"})
        self._drop_stream_being_opened("a λ ladder of the open image was asked for after it")
        self.encoder.submit(task, replace=False)  # the LOF panel is its own once it starts
        return task

    def runners(self) -> tuple[TaskRunner, ...]:
        return (self.encoder, self.classic_runner, self.sweep_runner, self.check_runner,
                self.file_runner, self.export_runner)

    def is_busy(self) -> bool:
        """True while a task runs or is queued, or panels still have to catch up."""
        return (self.refresher.pending() or self.replay.is_building()
                or self.replay.is_exporting()
                or self.compare.region_timer.isActive()  # (a screenshot had the line stale)
                or any(r.is_busy() for r in self.runners()))

    # --- classic codecs ---------------------------------------------------------------------------
    def _on_classic_codec(self, name: str) -> None:
        self.session.set_classic(None)
        self._start_same_bpp()

    def _start_same_bpp(self) -> None:
        name = self.compare.classic_box.currentData()
        result, image = self.session.result, self.session.image
        if self.session.classic_problem is not None:  # a new run: its failure is moot
            self.session.set_classic(None)
        if name == PLAIN_PANE:  # computed with the result: nothing to run
            self.classic_runner.cancel("superseded")
            if result is not None and result.reference is not None:
                self.session.set_classic(result.reference.as_pane())
            return
        if not name or result is None or result.original is None:
            self.classic_runner.cancel("superseded")
            return
        pixels, target = result.original, result.bpp
        self.classic_runner.submit(Task(
            "same-bpp", f"{name} at {target:.4f} bpp",
            lambda token: classic_jobs.same_bpp_task(
                name, pixels, target, token, classic_jobs.codec_process("same-bpp")),
            context={"image": image, "result": result}))

    def _on_rd_codecs(self, _names: list) -> None:
        self._start_sweeps()

    def _start_sweeps(self) -> None:
        """Sweep the ticked classic codecs whose curves are not complete for this image.

        The running sweep is replaced, and curves that are unticked or incomplete are
        cleared first (an incomplete one is swept again from its first setting), so a
        codec's points never arrive twice and an unticked codec never comes back.
        """
        self.sweep_runner.cancel("superseded")
        selected = list(self.rd.selected())
        stale = [n for n in self.session.curves
                 if n not in selected or n not in self._swept]
        if stale:
            self.session.clear_curves(stale)
        image = self.session.image
        names = [n for n in selected if n not in self._swept]
        if image is None or not names:
            return
        pixels = image.pixels
        self.sweep_runner.submit(Task(
            "sweep", "classic RD curves",
            lambda token: classic_jobs.rd_sweep_task(
                names, pixels, token, classic_jobs.codec_process("sweep")),
            context={"image": image}))

    def _on_model_changed(self) -> None:
        model = self.session.model
        if model is None:
            return
        self.controls.set_lambda_range(model.config.lambda_range,
                                       model.config.usable_lambda_range)
        self._show_model_status()

    def _show_model_status(self) -> None:
        """The model in use, and the one being loaded to replace it, if any."""
        model = self.session.model
        text = (f"model: {getattr(model, 'name', '?')}"
                + (" (random weights)" if self.session.model_note else ""))
        loading = self.loading_model()
        if loading is not None:
            text += f" · loading {loading.context['path'].name}…"
        self.status_model.setText(text)

    def _about(self) -> None:
        self.show_message(
            "MSP viewer: a learned image codec (multi-scale progressive probability model with "
            "latent overfitting) next to classic codecs. Encode an image, watch LOF, compare, "
            "and look at the latent, its probability model and where the bits go.", "info")

    # --- closing ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Cancel everything before waiting for anything, so the waits overlap, and hide the
        # window meanwhile: a task inside one long torch call (a 4K synthesis) returns only
        # when that call does, and a window that lingers looks frozen.
        for runner in self.runners():
            runner.cancel("shutdown")
        if hasattr(self, "replay"):
            self.replay.stop()
        self.hide()
        for runner in self.runners():
            runner.shutdown()
        if hasattr(self, "replay"):
            self.replay.shutdown()

    def place_on_screen(self) -> None:
        """The size and place the window had when it was last closed, if that still fits a
        screen; else :data:`DEFAULT_SIZE`, cut to the screen's free area."""
        saved = self.settings.value(GEOMETRY_KEY)
        if saved is not None and self.restoreGeometry(saved):
            return
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        width, height = DEFAULT_SIZE
        if screen is not None and screen.width() > 0 and screen.height() > 0:
            # (the size set is the inside of the window: its frame and title bar come on top)
            width = min(width, screen.width() - FRAME_ALLOWANCE[0])
            height = min(height, screen.height() - FRAME_ALLOWANCE[1])
        self.resize(width, height)
        if screen is not None:
            frame = self.frameGeometry()
            frame.moveCenter(screen.center())
            self.move(frame.topLeft())

    def closeEvent(self, event) -> None:
        if self.isVisible():  # (a window closed before it was shown has no place to keep)
            self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.shutdown()
        super().closeEvent(event)
