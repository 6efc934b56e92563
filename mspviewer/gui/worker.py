"""Run task generators off the GUI thread, one at a time per runner, never racing.

A :class:`TaskRunner` owns one ``QThread`` with a worker object in it. ``submit`` starts a
task (a generator function of a :class:`~mspviewer.gui.jobs.CancelToken`, see
:mod:`mspviewer.gui.jobs`); the worker consumes the generator, forwarding its progress
records in batches (at most one signal every ``PROGRESS_INTERVAL_S``, so a fast loop cannot
flood the event loop), then its return value.

Rules that keep the GUI consistent:

- A runner runs one task at a time. ``submit(task)`` *replaces* by default: the running
  task is cancelled with reason ``"superseded"`` (its result will be dropped) and anything
  pending is discarded; ``submit(task, replace=False)`` queues behind it instead. A task
  made with ``replaceable=False`` (a model being loaded) is never replaced: newer tasks
  queue behind it.
- ``cancel()`` cancels the running task with reason ``"user"``: the task stops at its next
  check and returns its best result so far, which *is* delivered (``cancelled=True``).
- Results and errors arrive on the GUI thread through signals; every exception of a task
  becomes ``task_failed(task, message, details)``, never a traceback.
- While a runner lives, Python's cyclic garbage collection runs on the GUI thread only
  (:mod:`mspviewer.gui.gc_guard`): Qt objects in a cycle collected on a worker thread
  deadlock or crash the process.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from mspviewer.errors import MSPViewerError, summarise
from mspviewer.gui import gc_guard
from mspviewer.gui.jobs import CancelToken

PROGRESS_INTERVAL_S = 0.04

_ids = itertools.count(1)
_live_runners: "weakref.WeakSet[TaskRunner]" = weakref.WeakSet()


@atexit.register
def _stop_runners_at_exit() -> None:
    """Safety net: a QThread still running at interpreter exit aborts the process."""
    for runner in list(_live_runners):
        try:
            runner.shutdown()
        except RuntimeError:  # the Qt side is already gone
            pass


@dataclass(eq=False)
class Task:
    """A unit of background work: ``run(token)`` returns the generator to consume."""

    kind: str
    label: str
    run: Callable[[CancelToken], Generator]
    context: Any = None  #: GUI-side data handed back with every signal
    #: False: ``submit`` and ``cancel_replaceable`` leave it be; only an explicit cancel
    #: (``cancel``, ``cancel_if``, shutdown) stops it
    replaceable: bool = True
    id: int = field(default_factory=lambda: next(_ids))
    token: CancelToken = field(default_factory=CancelToken)


#: How much nicer than the GUI thread the workers run (Linux). Encoding saturates the CPU;
#: at equal priority the event loop can wait tens of milliseconds for a core.
WORKER_NICENESS = int(os.environ.get("MSPVIEWER_WORKER_NICENESS", "10"))


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> bool:
    """Make the *calling* thread (and the threads it starts, e.g. torch's OpenMP pool) yield
    the CPU to the GUI thread. Linux only: elsewhere ``setpriority`` would renice the whole
    process, and Qt's thread priorities are ignored under Linux's default scheduler."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       min(19, max(current, os.getpriority(os.PRIO_PROCESS, 0) + niceness)))
    except OSError:
        return False
    return True


class _Worker(QObject):
    progress = Signal(object, list)
    finished = Signal(object, object)
    failed = Signal(object, str, str)

    def __init__(self) -> None:
        super().__init__()
        self._prioritised = False

    @Slot(object)
    def execute(self, task: Task) -> None:
        if not self._prioritised:
            self._prioritised = True
            lower_thread_priority()
        state = {"buffer": [], "last": time.perf_counter()}

        def report(item: Any) -> None:  # also called from callbacks inside the core
            state["buffer"].append(item)
            now = time.perf_counter()
            if now - state["last"] >= PROGRESS_INTERVAL_S:
                self.progress.emit(task, state["buffer"])
                state["buffer"], state["last"] = [], now

        def flush() -> None:
            if state["buffer"]:
                self.progress.emit(task, state["buffer"])
                state["buffer"] = []

        task.token.reporter = report
        generator = None
        try:
            generator = task.run(task.token)
            while True:
                try:
                    item = next(generator)
                except StopIteration as stop:
                    result = stop.value
                    break
                report(item)
        except MSPViewerError as error:
            flush()
            self.failed.emit(task, str(error), "")
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # a bug or a library failure (a Rust panic is a
            flush()                     # BaseException): one line plus details
            self.failed.emit(task, summarise(error), traceback.format_exc())
            return
        finally:
            task.token.reporter = None
            if generator is not None:  # what it holds (a model lease) goes back now, not at
                generator.close()      # some later garbage collection
        flush()
        self.finished.emit(task, result)


class TaskRunner(QObject):
    """One background thread running tasks one after the other (see the module doc)."""

    task_started = Signal(object)  #: Task
    task_progress = Signal(object, list)  #: Task, [progress records]
    task_finished = Signal(object, object, bool)  #: Task, result, cancelled by the user
    task_failed = Signal(object, str, str)  #: Task, one-line message, traceback (or "")
    busy_changed = Signal(bool)
    #: a task was queued, started, cancelled or ended (what a busy indicator names changed)
    tasks_changed = Signal()

    _execute = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._thread = QThread()
        self._thread.setObjectName(f"mspviewer-{name}")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._execute.connect(self._worker.execute)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        # Cycles are collected on the GUI thread while this thread runs Python (gc_guard).
        gc_guard.hold()
        self._holds_gc = True
        self._thread.start()
        self._current: Task | None = None
        self._pending: deque[Task] = deque()
        self._busy = False
        self._closed = False
        _live_runners.add(self)

    # --- state ------------------------------------------------------------------------------
    @property
    def current(self) -> Task | None:
        return self._current

    @property
    def pending(self) -> list[Task]:
        return list(self._pending)

    def is_busy(self) -> bool:
        return self._current is not None or bool(self._pending)

    def live(self, kind: str) -> list[Task]:
        """The tasks of ``kind`` running or queued and not cancelled, oldest first."""
        return [task for task in (self._current, *self._pending)
                if task is not None and task.kind == kind and not task.token.is_set()]

    # --- requests ---------------------------------------------------------------------------
    def submit(self, task: Task, replace: bool = True) -> Task:
        if self._closed:
            raise RuntimeError(f"runner {self.name} is shut down")
        if replace:  # (busy all along: no signal until the new task is queued)
            self._cancel_matching(lambda queued: queued.replaceable, "superseded")
        self._pending.append(task)
        self._start_next()
        return task

    def cancel(self, reason: str = "user") -> bool:
        """Cancel the running task (its best result so far still arrives) and the queue."""
        self._pending.clear()
        if self._current is None:
            self._update_busy()
            return False
        self._current.token.cancel(reason)
        self._update_busy()
        return True

    def cancel_if(self, predicate: Callable[[Task], bool], reason: str = "user") -> bool:
        """Cancel the running task and drop the queued ones for which ``predicate(task)``
        is true; the others go on. True when the running task was cancelled."""
        cancelled = self._cancel_matching(predicate, reason)
        self._update_busy()
        return cancelled

    def _cancel_matching(self, predicate: Callable[[Task], bool], reason: str) -> bool:
        self._pending = deque(task for task in self._pending if not predicate(task))
        current = self._current
        if current is not None and predicate(current):
            current.token.cancel(reason)
            return True
        return False

    def cancel_replaceable(self, reason: str = "superseded") -> bool:
        """Cancel the running task and drop the queued ones, except those made with
        ``replaceable=False``. True when the running task was cancelled."""
        return self.cancel_if(lambda task: task.replaceable, reason)

    def shutdown(self, timeout_ms: int | None = None) -> None:
        """Cancel everything and stop the thread (waits for the running task to return)."""
        if self._closed:
            return
        self._closed = True
        self.cancel("shutdown")
        self._thread.quit()
        if timeout_ms is None:
            self._thread.wait()
        else:
            self._thread.wait(timeout_ms)
        if self._holds_gc and self._thread.isFinished():  # (else: collected here for good)
            self._holds_gc = False
            gc_guard.release()

    # --- worker callbacks (GUI thread) -------------------------------------------------------
    def _start_next(self) -> None:
        if self._current is None and self._pending and not self._closed:
            self._current = self._pending.popleft()
            self._update_busy()
            self.task_started.emit(self._current)
            self._execute.emit(self._current)
        else:
            self._update_busy()

    def _delivers(self, task: Task) -> bool:
        return task.token.reason not in ("superseded", "shutdown")

    @Slot(object, list)
    def _on_progress(self, task: Task, items: list) -> None:
        if task is self._current and self._delivers(task):
            self.task_progress.emit(task, items)

    @Slot(object, object)
    def _on_finished(self, task: Task, result: Any) -> None:
        self._done(task)
        if self._delivers(task):
            self.task_finished.emit(task, result, task.token.reason == "user")
        self._start_next()

    @Slot(object, str, str)
    def _on_failed(self, task: Task, message: str, details: str) -> None:
        self._done(task)
        if self._delivers(task):
            self.task_failed.emit(task, message, details)
        self._start_next()

    def _done(self, task: Task) -> None:
        if task is self._current:
            self._current = None

    def _update_busy(self) -> None:
        busy = self.is_busy()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
        self.tasks_changed.emit()

    def busy_label(self) -> str | None:
        """What this runner is doing, for a busy indicator: the running task, or, once that
        one is cancelled and only returning, the next one queued ("stopping …" if none);
        then what waits behind it ("encode a.png, then λ ladder")."""
        task = self._current
        if task is None:
            return None
        queued = [t.label for t in self._pending if not t.token.is_set()]
        if task.token.is_set():
            if not queued:
                return f"stopping {task.label}"
            task_label, queued = queued[0], queued[1:]
        else:
            task_label = task.label
        return task_label + (f", then {', '.join(queued)}" if queued else "")
