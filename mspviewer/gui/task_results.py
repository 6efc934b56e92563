"""What the window does with its runners' signals: progress into the panels, each kind of
task's result into the session, failures into the message bar.

A mixin of :class:`~mspviewer.gui.main_window.MainWindow`, kept apart as the file actions
are. A result is applied only while it is still about what is on screen: a task whose image
was replaced is dropped (``_stale``), and each kind checks what else it depends on (the
model a stream was decoded with, the result a classic codec ran for). It uses the window's
``session``, ``lof``, ``compare``, ``encoder``, ``problems``, ``_swept``, ``status_busy``,
``runners()``, ``controls``, ``set_image``, ``_start_same_bpp``, ``_remember``,
``_show_loaded``, ``_model_loaded``, ``_show_model_status``, ``_on_check_finished``,
``statusBar()``, ``docks``, ``tabifiedDockWidgets()``, ``show_error`` and ``show_message``.
"""

from __future__ import annotations

from pathlib import Path

from mspviewer.gui import jobs
from mspviewer.gui.outcomes import PLAIN_PANE, CodecProblem, CurvePoint, SweepDone
from mspviewer.gui.widgets.lof import uses_lof
from mspviewer.gui.worker import Task

#: the first words of a failure's message, by task kind (else "<label> failed")
FAILURE_HEADINGS = {"encode": "Encoding failed", "ladder": "λ ladder failed",
                    "decode": "Cannot open the bitstream", "same-bpp": "Classic codec failed",
                    "sweep": "RD sweep failed", "check": "Bit-exact check could not run"}


class TaskResults:
    def _stale(self, task: Task) -> bool:
        context = task.context or {}
        return "image" in context and context["image"] is not self.session.image

    # --- progress ---------------------------------------------------------------------------------
    def _on_task_started(self, task: Task) -> None:
        # A ladder queued behind an encode takes the LOF panel only now: the encode still
        # running when it was asked for keeps its curves and its iteration count.
        if task.kind == "ladder" and not self._stale(task):
            self.lof.start_ladder(task.context["title"])
            if self.tabifiedDockWidgets(self.docks["rd"]):
                self.docks["rd"].raise_()  # where its points go (an LOF encode raised LOF)

    def _on_task_progress(self, task: Task, items: list) -> None:
        if self._stale(task):
            return
        if task.kind in ("encode", "ladder"):
            self.lof.add(items)
        for item in items:
            if isinstance(item, CurvePoint):
                if task.kind == "ladder":
                    self.session.add_learned_point(f"{item.label} λ={item.point.quality:.4g}",
                                                   item.point, profile=task.context["curve"],
                                                   from_ladder=True)
                else:
                    self.session.add_curve_point(item.codec, item.label, item.point)
            elif isinstance(item, SweepDone):
                self._swept.add(item.codec)
            elif isinstance(item, CodecProblem):
                self.problems.append(item.message)
                self.statusBar().showMessage(item.message, 8000)

    # --- results ----------------------------------------------------------------------------------
    def _on_task_finished(self, task: Task, result, cancelled: bool) -> None:
        if self._stale(task):
            return
        handler = {"encode": self._encoded, "decode": self._decoded, "model": self._got_model,
                   "load": self._image_read, "ladder": self._ladder_done,
                   "check": self._check_done, "same-bpp": self._classic_done,
                   "reference": self._reference_decoded, "export": self._exported
                   }.get(task.kind)
        if handler is not None:
            handler(task, result, cancelled)

    def _encoded(self, task: Task, result, cancelled: bool) -> None:
        # a cancel that came too late to stop anything leaves a complete result
        cancelled = result.cancelled if result is not None else cancelled
        self.lof.finish(result, cancelled)
        if result is None:
            self.statusBar().showMessage("encode cancelled before any result", 8000)
            return
        self.session.set_result(result)
        if result.target_bpp is not None:  # the greyed λ shows the one the search found
            self.controls.show_found_lambda(result.lam)
        state = "cancelled, best so far kept" if cancelled else "done"
        self.statusBar().showMessage(
            f"encoded: {result.bpp:.4f} bpp, "
            + (f"{result.point.psnr_rgb:.2f} dB" if result.point else "") + f" ({state})",
            10000)
        self._start_same_bpp()

    def _decoded(self, task: Task, result, cancelled: bool) -> None:
        context = task.context or {}
        if result is None or context.get("model") is not self.session.model:
            return
        # the stream decoded: now, and only now, it replaces whatever the encoder is doing
        self.encoder.cancel("superseded")
        if result.original is None and self.session.image is not None:
            self.set_image(None)  # the open image is not this stream's original
        # after set_image, which empties the LOF panel
        self.lof.start(f"decoded {Path(context['path']).name}", None)
        self.lof.finish(result, cancelled)
        self.session.set_result(result)
        if self.session.image is None:
            height, width = result.decoded.shape[:2]
            self.setWindowTitle(f"MSP viewer: {Path(context['path']).name} "
                                f"({width}×{height})")
        self._remember(context.get("path"))
        if result.warning is not None:
            self.show_message("; ".join([result.warning, *result.notes]), "warning",
                              about="result")
        elif result.notes:
            self.show_message("; ".join(result.notes), "info", about="result")
        self.statusBar().showMessage(f"decoded {context.get('path')}: {result.bpp:.4f} bpp "
                                     f"in {result.decode_seconds:.2f} s", 10000)
        self._start_same_bpp()

    def _got_model(self, task: Task, result, cancelled: bool) -> None:
        self._model_loaded(task.context["path"], result)

    def _image_read(self, task: Task, result, cancelled: bool) -> None:
        context = task.context or {}
        if result is not None:
            self._show_loaded(context["path"], result, context.get("remember", True))
            self.statusBar().showMessage(f"opened {context['path'].name}", 5000)

    def _ladder_done(self, task: Task, result, cancelled: bool) -> None:
        self.lof.finish_ladder(cancelled)
        profile = task.context["profile"]
        drawn = " (its LOF runs, one per λ, are not drawn)" if uses_lof(profile) else ""
        points = ("the points it made stay on the RD plot" if cancelled
                  else "its points are on the RD plot")
        self.statusBar().showMessage(
            f"λ ladder {'cancelled' if cancelled else 'done'} with {profile}: {points}{drawn}",
            8000)

    def _check_done(self, task: Task, result, cancelled: bool) -> None:
        self._on_check_finished(task, result)

    def _classic_done(self, task: Task, result, cancelled: bool) -> None:
        if result is not None and (task.context or {}).get("result") is self.session.result:
            self.session.set_classic(result)

    def _reference_decoded(self, task: Task, result, cancelled: bool) -> None:
        if result is None:
            return
        if task.context["result"] is not self.session.result:
            self.statusBar().showMessage(f"reference {task.context['path'].name} not set: "
                                         "the result it was for was replaced", 8000)
            return
        self.session.set_reference(result)
        if self.compare.classic_box.currentData() == PLAIN_PANE:
            self.session.set_classic(result.as_pane())  # the third pane shows it
        text = (f"The result is now set against {result.label}: "
                f"{result.change.symbols_changed:,} of {result.change.elements:,} "
                "symbols differ")
        psnr = getattr(result.point, "psnr_rgb", None)
        if psnr is not None and psnr < jobs.UNRELATED_ORIGINAL_PSNR_DB:
            # same size, model and λ, but far from the open image: another image's coding,
            # most likely, which no element-by-element view can tell
            self.show_message(f"{text}; but it decodes to {psnr:.1f} dB against the open "
                              "image: probably a coding of another image", "warning",
                              about="reference")
        else:
            self.show_message(text, "info", about="reference")

    def _exported(self, task: Task, result, cancelled: bool) -> None:
        if result is not None:
            self.show_message(f"Saved the {task.context['what']} to {result}", "info")

    # --- failures ---------------------------------------------------------------------------------
    def _on_task_failed(self, task: Task, message: str, details: str) -> None:
        if self._stale(task):
            return
        if task.kind in ("load", "model"):  # the loader's message names the file and why
            self.show_error(message, details)
            if task.kind == "model":
                self._show_model_status()  # no longer "loading"
            return
        if task.kind == "export":
            self.show_error(f"Cannot export the {task.context['what']}: {message}", details)
            return
        if task.kind == "reference":
            # about the result it was to be set against: moot once that is replaced
            if task.context["result"] is not self.session.result:
                self.statusBar().showMessage(f"Cannot set the reference: {message}", 8000)
            else:
                self.show_error(f"Cannot set the reference: {message}", details,
                                about="result")
            return
        if task.kind == "same-bpp" and (task.context or {}).get("result") is self.session.result:
            self.session.set_classic(None, problem=message)
        what = FAILURE_HEADINGS.get(task.kind, f"{task.label} failed")
        if task.kind == "decode" and (task.context or {}).get("path") is not None:
            what = f"Cannot open {Path(task.context['path']).name}"
        if task.kind in ("encode", "ladder"):  # a failed decode leaves the encoder's panel
            self.lof.fail(f"{what}: {message}")
        self.show_error(f"{what}: {message}", details)

    # --- the busy indicator -----------------------------------------------------------------------
    def _on_busy(self, _busy: bool) -> None:
        self.controls.set_busy(self.encoder.is_busy())

    def _update_busy_label(self) -> None:
        # (on every runner's tasks_changed, which follows each start, end, queue and cancel)
        running = [label for label in (r.busy_label() for r in self.runners()) if label]
        self.status_busy.setText("working: " + ", ".join(running) if running else "ready")
