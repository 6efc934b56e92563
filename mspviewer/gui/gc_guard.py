"""Python's cyclic garbage collection on the GUI thread only, while worker threads run.

The interpreter collects reference cycles on whichever thread happens to allocate when a
generation's count passes its threshold: with the viewer's runners that is often a worker
thread in the middle of an encode. A collected cycle that holds Qt objects (a closed
window's widgets, menus, timers, which pyqtgraph and PySide tie into cycles) then has its
C++ destructors run on that thread. ``QObject::~QObject`` takes Qt's connection lock and
then asks for the interpreter lock (to look for Python overrides) while the GUI thread,
holding the interpreter lock, may be destroying other widgets and waiting for that same Qt
lock: a deadlock, the window frozen for good (seen in the test suite: the encoder thread
in ``gc_collect_main`` → ``QObject::~QObject`` → ``PyGILState_Ensure``, the GUI thread in
``QMenu::~QMenu`` → ``QBasicMutex::lockInternal``), or a crash.

So while any runner lives (:func:`hold` / :func:`release`, counted), automatic collection
is off and a timer on the GUI thread collects what the interpreter would have collected,
generation by generation, by the same thresholds. When the last runner stops, a full
collection runs on the GUI thread and automatic collection is restored as it was.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QTimer

#: How often the GUI thread looks at the collector's counts (ms): often enough that garbage
#: does not pile up during an encode, rarely enough to cost nothing when there is none.
CHECK_INTERVAL_MS = 500

_holders = 0
_was_enabled = True
_timer: QTimer | None = None


def hold() -> None:
    """Stop automatic collection until the matching :func:`release` (GUI thread only)."""
    global _holders, _was_enabled, _timer
    _require_main_thread()
    if _holders == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
        if _timer is None:
            _timer = QTimer()
            _timer.setInterval(CHECK_INTERVAL_MS)
            _timer.timeout.connect(collect_due)
        _timer.start()
    _holders += 1


def release() -> None:
    """End one :func:`hold`; after the last, collect everything here and restore
    automatic collection."""
    global _holders
    _require_main_thread()
    if _holders == 0:
        raise RuntimeError("gc_guard.release() without a matching hold()")
    _holders -= 1
    if _holders == 0:
        if _timer is not None:
            _timer.stop()
        gc.collect()
        if _was_enabled:
            gc.enable()


def holders() -> int:
    """How many holds are in force (0: collection is the interpreter's own)."""
    return _holders


def collect_due() -> int:
    """Collect the generations whose counts have passed their thresholds, as the
    interpreter's automatic collection would; the number of unreachable objects found."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    oldest = -1
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        oldest = generation
    return gc.collect(oldest) if oldest >= 0 else 0


def _require_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the garbage-collection guard is for the GUI thread")
