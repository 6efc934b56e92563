"""One training process per run folder.

A second ``train --resume`` on a run that is still going would interleave its checkpoints
and log lines with the first's, and its start-up clean-up would delete the first's
checkpoint while it is being written. The lock is an advisory ``flock`` on a hidden file in
the run folder, held for the whole run and released by the system when the process ends
however it ends (a SIGKILL leaves no stale lock)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mspviewer.errors import TrainingError

LOCK_NAME = ".train.lock"


@contextlib.contextmanager
def exclusive_run_folder(run_dir: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one process per folder is then up to the user
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(
                f"another training process is running in {run_dir}: let it finish, or stop "
                "it (Ctrl+C or SIGTERM saves its checkpoint) before resuming") from None
        yield  # the lock goes with the file's closing
