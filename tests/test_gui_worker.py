"""The background task runner: one task at a time, replace or queue, cancel keeps results."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

pytest.importorskip("pytestqt")

from gui_support import slow_fake_task  # noqa: E402

from mspviewer.errors import MSPViewerError  # noqa: E402
from mspviewer.gui import jobs  # noqa: E402
from mspviewer.gui.worker import Task, TaskRunner  # noqa: E402


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner("test")
    events = []
    runner.task_finished.connect(lambda t, r, c: events.append(("finished", t, r, c)))
    runner.task_failed.connect(lambda t, m, d: events.append(("failed", t, m, d)))
    runner.task_progress.connect(lambda t, items: events.append(("progress", t, items)))
    runner.events = events
    yield runner
    runner.shutdown()


def fake(iterations, seconds=0.01, result="done"):
    return Task("fake", "fake", lambda token: slow_fake_task(iterations, seconds, token,
                                                                  result))


def finished(runner):
    return [e for e in runner.events if e[0] == "finished"]


def test_result_and_batched_progress(qtbot, runner):
    task = runner.submit(fake(30, 0.002))
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=10_000)
    (_, done, result, cancelled), = finished(runner)
    assert done is task and not cancelled
    assert result["iterations"] == 30 and result["result"] == "done"
    progress = [item for e in runner.events if e[0] == "progress" for item in e[2]]
    assert [p.message for p in progress] == [f"iteration {i}" for i in range(1, 31)]
    batches = [e for e in runner.events if e[0] == "progress"]
    assert len(batches) < 30  # batched, not one signal per record
    assert not runner.is_busy()


def test_user_cancel_delivers_the_best_so_far(qtbot, runner):
    task = runner.submit(fake(1000, 0.005))
    qtbot.waitUntil(lambda: any(e[0] == "progress" for e in runner.events), timeout=10_000)
    assert runner.cancel()
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=10_000)
    (_, done, result, cancelled), = finished(runner)
    assert done is task and cancelled and task.token.reason == "user"
    assert 1 <= result["iterations"] < 1000


def test_submit_replaces_and_queue_waits(qtbot, runner):
    first = runner.submit(fake(1000, 0.005, "first"))
    qtbot.waitUntil(lambda: runner.current is first, timeout=5000)
    second = runner.submit(fake(3, 0.001, "second"))
    third = runner.submit(fake(2, 0.001, "third"), replace=False)
    assert first.token.reason == "superseded"
    assert runner.pending == [second, third]
    qtbot.waitUntil(lambda: len(finished(runner)) == 2, timeout=10_000)
    assert [e[2]["result"] for e in finished(runner)] == ["second", "third"]
    # the superseded task's result and progress were dropped
    assert all(e[1] is not first for e in runner.events)


def test_a_task_that_is_not_replaceable_lets_newer_ones_queue_behind_it(qtbot, runner):
    import dataclasses

    busy = []
    runner.busy_changed.connect(busy.append)
    kept = dataclasses.replace(fake(40, 0.005, "kept"), replaceable=False)
    runner.submit(kept)
    qtbot.waitUntil(lambda: runner.current is kept, timeout=5000)
    dropped = runner.submit(fake(3, 0.001, "dropped"))
    last = runner.submit(fake(2, 0.001, "last"))  # replaces the queued one, not the kept one
    assert not kept.token.is_set() and dropped.token.reason is None
    assert runner.pending == [last]
    assert not runner.cancel_replaceable()  # only the queued one goes
    assert runner.pending == [] and not kept.token.is_set()
    again = runner.submit(fake(2, 0.001, "again"))
    qtbot.waitUntil(lambda: len(finished(runner)) == 2, timeout=10_000)
    assert [e[2]["result"] for e in finished(runner)] == ["kept", "again"]
    assert again.token.reason is None
    assert busy == [True, False]  # never a moment of "idle" while tasks were replaced
    runner.submit(dataclasses.replace(fake(1000, 0.005), replaceable=False))
    assert runner.cancel("user")  # an explicit cancel still stops it


def test_errors_become_messages(qtbot, runner):
    def failing(token):
        yield jobs.StageProgress("x", "about to fail")
        raise MSPViewerError("a clear message")

    def buggy(token):
        yield from ()
        return 1 / 0

    runner.submit(Task("a", "a", failing))
    runner.submit(Task("b", "b", buggy), replace=False)
    qtbot.waitUntil(lambda: len([e for e in runner.events if e[0] == "failed"]) == 2,
                    timeout=10_000)
    failures = [e for e in runner.events if e[0] == "failed"]
    assert failures[0][2] == "a clear message" and failures[0][3] == ""
    assert failures[1][2].startswith("ZeroDivisionError") and "Traceback" in failures[1][3]
    # the runner keeps working after failures
    runner.submit(fake(2, 0.001))
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=10_000)


def test_reporter_forwards_records_from_callbacks(qtbot, runner):
    def with_callback(token):
        for i in range(5):
            token.report(jobs.StageProgress("cb", f"callback {i}"))
            time.sleep(0.001)
        yield from ()
        return "ok"

    runner.submit(Task("cb", "cb", with_callback))
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=10_000)
    messages = [item.message for e in runner.events if e[0] == "progress" for item in e[2]]
    assert messages == [f"callback {i}" for i in range(5)]


def test_cancel_token():
    token = jobs.CancelToken()
    assert not token and not token() and token.reason is None
    token.cancel("superseded")
    token.cancel("user")  # the first reason wins
    assert token and token() and token.is_set() and token.reason == "superseded"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_workers_run_at_a_lower_priority_than_the_gui(qtbot, runner):
    def priority(token):
        yield from ()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    runner.submit(Task("nice", "nice", priority))
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=10_000)
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert finished(runner)[0][2] > gui or finished(runner)[0][2] == 19


def test_cancel_if_cancels_and_drops_only_the_matching_tasks(qtbot, runner):
    def tagged(tag, iterations):
        task = fake(iterations, 0.005, result=tag)
        task.context = {"tag": tag}
        return task

    running = runner.submit(tagged("model", 1000))
    queued_keep = runner.submit(tagged("image", 3), replace=False)
    queued_drop = runner.submit(tagged("model", 3), replace=False)
    assert runner.cancel_if(lambda t: t.context["tag"] == "model", "superseded")
    assert running.token.reason == "superseded" and not queued_keep.token.is_set()
    assert runner.pending == [queued_keep]
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=10_000)
    assert [e[1] for e in finished(runner)] == [queued_keep]  # superseded: dropped
    assert queued_drop.token.reason is None  # never started
    # nothing matching: nothing cancelled
    other = runner.submit(tagged("image", 1000))
    assert not runner.cancel_if(lambda t: t.context["tag"] == "model")
    assert not other.token.is_set()
    runner.cancel()


# --- garbage collection on the GUI thread (gc_guard) -------------------------------------------
def test_automatic_collection_is_off_while_a_runner_lives(qtbot):
    import gc

    from mspviewer.gui import gc_guard

    before = gc_guard.holders()
    enabled_before = gc.isenabled()
    first, second = TaskRunner("gc-a"), TaskRunner("gc-b")
    try:
        assert gc_guard.holders() == before + 2 and not gc.isenabled()
        first.shutdown()
        assert gc_guard.holders() == before + 1 and not gc.isenabled()
    finally:
        first.shutdown()
        second.shutdown()
    second.shutdown()  # a second shutdown releases nothing more
    assert gc_guard.holders() == before
    assert gc.isenabled() == (enabled_before and before == 0)


class _CycleMember:
    """Half of a reference cycle that records the thread it is finalised on."""

    finalised_on: list = []

    def __init__(self):
        self.partner = None

    def __del__(self):
        _CycleMember.finalised_on.append(threading.current_thread())


def _allocate_containers(count: int, token):
    """A task that allocates many small containers and returns them (so that they stay
    counted): on the worker thread, this is what would start an automatic collection
    there."""
    kept = [[i] for i in range(count)]
    yield jobs.StageProgress("allocate", f"{len(kept)} lists")
    return kept


def test_cycles_are_collected_on_the_gui_thread_while_a_task_allocates(qtbot, runner):
    """A cycle left by the GUI thread (as a closed window's widgets are) must not be
    collected on the worker thread that happens to allocate next: Qt destructors there
    deadlock against the GUI thread."""
    _CycleMember.finalised_on.clear()
    a, b = _CycleMember(), _CycleMember()
    a.partner, b.partner = b, a
    del a, b
    runner.submit(Task("allocate", "allocate", lambda token: _allocate_containers(200_000,
                                                                                  token)))
    qtbot.waitUntil(lambda: bool(finished(runner)), timeout=30_000)
    assert len(finished(runner)[0][2]) == 200_000
    qtbot.waitUntil(lambda: len(_CycleMember.finalised_on) == 2, timeout=10_000)
    assert set(_CycleMember.finalised_on) == {threading.main_thread()}


def test_collect_due_collects_what_passed_its_threshold(qtbot):
    import gc

    from mspviewer.gui import gc_guard

    runner = TaskRunner("gc-due")  # automatic collection off
    try:
        gc.collect()
        assert gc_guard.collect_due() == 0  # nothing is due right after a full collection
        garbage = []
        for _ in range(gc.get_threshold()[0] + 10):
            cell = []
            cell.append(cell)  # a cycle: only the collector frees it
            garbage.append(cell)
        del garbage, cell
        assert gc.get_count()[0] > gc.get_threshold()[0]
        assert gc_guard.collect_due() >= gc.get_threshold()[0]
        assert gc.get_count()[0] < gc.get_threshold()[0]
    finally:
        runner.shutdown()
