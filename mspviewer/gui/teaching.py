"""The window's teaching actions: inspecting an element, the decode replay, the fresh-process
bit-exact check, the blind A/B test and the guided tour (issue 7), and showing the images alone
for a demo.

A mixin of :class:`~mspviewer.gui.main_window.MainWindow`, kept apart so the window module
stays about files, encoding and layout. It uses the window's panels (``inspector``,
``replay``, ``blind_ab``, ``tour``, ``compare``, ``latents``), its ``docks``, ``centre``,
``blind_action``, ``images_only_action``, ``check_runner`` and ``session``, and its
``show_message`` / ``show_error`` / ``read_bitstream``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog

from mspviewer.gui import jobs
from mspviewer.gui.worker import Task


#: the guided tour's dock takes at most this share of the window's height (the panels its
#: steps point at keep the rest)
TOUR_MAX_SHARE = 0.45


class TeachingActions:
    #: the tour's last step switched the blind A/B test on: leaving that step switches it off
    _blind_by_tour = False
    #: View ▸ Images only is on: the panels it hid, to show again (None: it is off), and
    #: which of them were in front in their tab groups
    _panels_before_images_only: list[str] | None = None
    _tabs_on_top: list[str] = []

    # --- a demo: the images alone --------------------------------------------------------------
    def set_images_only(self, on: bool) -> None:
        """Hide every panel, so the compare view (or the blind test) has the window: on a
        laptop's screen the panels leave the images about 150 pixels wide. Off again, the
        panels that were shown come back (and only those)."""
        on = bool(on)
        self.images_only_action.setChecked(on)
        if on == self.images_only():
            return
        if on:  # (not hidden: a window not shown yet has no dock visible; a tab behind
            # another is not visible either, and is to come back)
            shown = [key for key, dock in self.docks.items() if not dock.isHidden()]
            self._panels_before_images_only = shown
            self._tabs_on_top = [key for key in shown if self.docks[key].isVisible()]
            for key in shown:
                self.docks[key].hide()
        else:
            for key in self._panels_before_images_only:
                self.docks[key].show()
            for key in self._tabs_on_top:  # each tab group's front tab as it was
                self.docks[key].raise_()
            self._panels_before_images_only = None

    def images_only(self) -> bool:
        return self._panels_before_images_only is not None

    # --- teaching: blind A/B and the tour ------------------------------------------------------
    def set_blind_mode(self, on: bool) -> None:
        """Show the blind A/B test in the centre instead of the labelled compare view."""
        on = bool(on)
        if on == self.blind_mode():
            self.blind_action.setChecked(on)
            return
        self.centre.setCurrentWidget(self.blind_ab if on else self.compare)
        self.blind_action.setChecked(on)
        # The replay's last frame is the MSP image: a viewer could match it against A or B.
        replay = self.docks["replay"]
        if on:
            self._replay_was_visible = replay.isVisible()
            replay.hide()
        elif getattr(self, "_replay_was_visible", False):
            replay.show()
        replay.toggleViewAction().setEnabled(not on)
        if on and not self.blind_ab.assignment:
            self.blind_ab.new_round()  # a warning explains what is missing, if anything

    def _blind_mode_by_user(self) -> None:
        """View ▸ Blind A/B test (Ctrl+T): the blind test is the user's from now on, not the
        tour's to leave."""
        self._blind_by_tour = False

    def show_compare_mode(self, mode: str) -> None:
        """Side by side, split, difference or flicker (leaving the blind test if it is on)."""
        self.set_blind_mode(False)
        self.compare.set_mode(mode)

    def blind_mode(self) -> bool:
        return self.centre.currentWidget() is self.blind_ab

    def show_panel(self, key: str) -> None:
        """Bring a panel into view (the tour calls this at each step)."""
        if key in ("compare", "blind_ab"):
            self._blind_by_tour = key == "blind_ab" and not self.blind_mode()
            self.set_blind_mode(key == "blind_ab")
            return
        self.leave_tour_blind_test()
        if key == "replay" and self.blind_mode():
            # its last frame is the MSP image: never beside an unlabelled A and B
            self.set_blind_mode(False)
        dock = self.docks.get(key)
        if dock is not None:
            dock.show()
            dock.raise_()
            if self.docks["tour"].isVisible() and key != "tour":
                QTimer.singleShot(0, self, lambda: self._fit_tour(beside=dock))
        if key == "inspector":  # the step's text is about the PMF: its page, where paged
            self.inspector.set_page("pmf")

    def start_tour(self) -> None:
        """Open the tour at its first step, its dock tall enough for a whole step (a
        laptop's 68 px showed four lines of each) up to :data:`TOUR_MAX_SHARE` of the
        window."""
        dock = self.docks["tour"]
        dock.show()
        dock.raise_()
        self.tour.start(0)
        # (once the dock, just shown, has its place in the column: before, a resize of it
        # did not take)
        QTimer.singleShot(0, self, self._fit_tour)

    def _fit_tour(self, beside=None) -> None:
        """The tour's dock as tall as its longest step wants, within TOUR_MAX_SHARE; at a
        step about a panel in its own column that lacks room (a laptop's Metrics had been
        squeezed to three rows), an even share of the room of the two."""
        dock = self.docks["tour"]
        if not dock.isVisible():
            return
        title_bar = dock.height() - self.tour.height()
        wanted = min(self.tour.wanted_height(self.tour.width()) + title_bar,
                     int(TOUR_MAX_SHARE * self.height()))
        # the room comes from the other docks of its column (all of them named: a resize of
        # the tour's dock alone took a little from its neighbour only)
        column = [other for other in self.docks.values() if other.isVisible()
                  and not other.isFloating() and other is not dock
                  and self.dockWidgetArea(other) == self.dockWidgetArea(dock)
                  and abs(other.x() - dock.x()) < 2]
        if dock.isFloating():  # (a window of its own: no column to share)
            dock.resize(dock.width(), wanted)
            return
        if beside in column and beside.height() < beside.sizeHint().height():
            # an even share of their room where the panel lacks some (the Encode panel, at
            # its least height, lacks none), the rest of the column as it is
            shared = dock.height() + beside.height()
            tour = min(wanted, max(shared // 2, shared - beside.sizeHint().height()))
            self.resizeDocks([dock, *column],
                             [tour, *(shared - tour if other is beside else other.height()
                                      for other in column)], Qt.Orientation.Vertical)
            return
        if beside is not None and dock.height() >= wanted:
            return  # (a step about a panel elsewhere: the tour is tall enough already)
        # taken from the docks with the most room above their least height first (the
        # Encode panel has none: shared in proportion, the tour got less than asked)
        column.sort(key=lambda other: other.minimumSizeHint().height() - other.height())
        short, heights = wanted - dock.height(), []
        for other in column:
            taken = max(0, min(short, other.height() - other.minimumSizeHint().height()))
            heights.append(other.height() - taken)
            short -= taken
        self.resizeDocks([dock, *column], [wanted - max(short, 0), *heights],
                         Qt.Orientation.Vertical)

    def _on_tour_dock_toggled(self, shown: bool) -> None:
        """The tour's dock closed by its ✕ or View ▸ Guided tour leaves the tour's blind
        test as its Close button does; shown again, it shows the tour (Close had hidden it:
        the dock came back empty)."""
        if shown:
            self.tour.show()
        else:
            self.leave_tour_blind_test()

    def leave_tour_blind_test(self) -> None:
        """Leaving the tour's blind A/B step (Back, or Close) leaves the blind test it had
        switched on: the labelled compare view and the replay had stayed hidden."""
        if self._blind_by_tour:
            self._blind_by_tour = False
            self.set_blind_mode(False)

    # --- inspection ------------------------------------------------------------------------------
    def inspect_latent(self, _scale: int, row: int, col: int):
        """A click on a heatmap: inspect that element (the heatmap's channel when it shows
        one, else the inspector's choice) and bring the inspector to the front."""
        found = self.inspector.inspect(row, col, self.latents.channel())
        if found is not None:
            self.docks["inspector"].raise_()
        return found

    def mark_inspected(self, _channel: int, row: int, col: int) -> None:
        """Outline the inspected element in its heatmap and its 16×16 block in the image
        (cut to the image), so that the table and the pictures point at the same place."""
        from PySide6.QtCore import QRectF

        from mspviewer.codec.inspection import latent_to_image

        self.latents.mark_position(row, col, self.inspector.current.scale)
        x0, y0, x1, y1 = latent_to_image(row, col)
        result = self.session.result
        if result is not None:
            height, width = result.decoded.shape[:2]
            x1, y1 = min(x1, width), min(y1, height)
        self.compare.mark_block(QRectF(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0
                                else None)  # (a position wholly in the padding)

    def unmark_inspected(self) -> None:
        self.latents.mark_position(None)
        self.compare.mark_block(None)

    def inspect_pixel(self, x: int, y: int):
        """A click on the image: inspect the latent position that covers the pixel (in the
        heatmaps' channel when they show one, as a click on them does)."""
        found = self.inspector.inspect_pixel(x, y, self.latents.channel())
        if found is not None:
            self.docks["inspector"].raise_()
        return found

    def start_replay(self) -> bool:
        """Build the step-by-step decode replay of the current result (shown in its tab)."""
        started = self.replay.build()
        if started:
            self.docks["replay"].raise_()
        return started

    # --- bit-exact check --------------------------------------------------------------------------
    def start_fresh_check(self, bitstream_data: bytes | None = None,
                          source: str | None = None) -> Task | None:
        """Decode the current result's bitstream (or ``bitstream_data``, e.g. a file from
        disk, named ``source`` in the report) in a new process with the model's weights file,
        and compare the pixels with the ones shown. The report goes to the metrics panel and
        the message bar."""
        result = self.session.result
        if result is None:
            self.show_error("Nothing to check yet: encode an image or open a .msp first.")
            return None
        # The menu action's triggered(bool) passes its checked flag here (False): only
        # bytes name another stream, anything else means the result's own.
        data = (bytes(bitstream_data)
                if isinstance(bitstream_data, (bytes, bytearray, memoryview))
                else result.bitstream)
        model, expected = self.session.model, result.decoded
        task = Task("check", "bit-exact check",
                    lambda token: jobs.fresh_process_check_task(model, data, expected, token),
                    context={"result": result, "source": source})
        self.check_runner.submit(task)
        self.statusBar().showMessage("bit-exact check: decoding in a fresh process…", 10000)
        return task

    def check_file(self, path) -> Task | None:
        """The bit-exact check of a ``.msp`` file (written by another machine, another
        build, …) against the decoded image on screen."""
        if self.session.result is None:
            return self.start_fresh_check()  # refuses, with the message
        data = self.read_bitstream(path)
        return self.start_fresh_check(data, Path(path).name) if data is not None else None

    def check_file_dialog(self) -> Task | None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Check a bitstream against the decoded image", "",
            "MSP bitstream (*.msp);;All files (*)")
        return self.check_file(path) if path else None

    def _on_check_finished(self, task: Task, result) -> None:
        if result is None or (task.context or {}).get("result") is not self.session.result:
            return  # cancelled, or the result it checked is gone
        source = task.context.get("source")
        if source is not None:  # another stream than the result's own: the row says which
            result = dataclasses.replace(result, message=f"{source}: {result.message}")
        self.session.set_fresh_check(result)
        if result.ok:
            self.show_message(f"Bit-exact check passed: {result.message}.", "info",
                              about="result")
        else:
            self.show_error(f"Bit-exact check FAILED: {result.message}")
