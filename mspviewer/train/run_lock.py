"""One training process per run folder.

A second ``train --resume`` on a run that is still going would interleave its checkpoints
and log lines with the first's, and its start-up clean-up would delete the first's
checkpoint while it is being written. The lock is held on a hidden file in the run folder
for the whole run and released by the system when the process ends however it ends (a
SIGKILL leaves no stale lock): an advisory ``flock`` on POSIX systems, a lock on the file's
first byte (``msvcrt.locking``) on Windows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mspviewer.errors import TrainingError

LOCK_NAME = ".train.lock"


@contextlib.contextmanager
def exclusive_run_folder(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a") as handle:
        if not _try_lock(handle):
            raise TrainingError(
                f"another training process is running in {run_dir}: let it finish, or stop "
                "it (Ctrl+C or SIGTERM saves its checkpoint) before resuming")
        yield  # the lock goes with the file's closing


def _try_lock(handle) -> bool:
    """Lock the open lock file without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # Windows

    handle.seek(0)  # the same byte in every process (a byte past the end can be locked)
    try:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except PermissionError:  # EACCES: "locked by another process"
        return False
    return True
