"""Files written whole or not at all (mspviewer.files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mspviewer.files import remove_stale_temporaries, write_atomically, write_output


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    previous = os.umask(0o027)
    try:
        write_output(tmp_path / "new.bin", b"data")
        with open(tmp_path / "plain.bin", "wb") as handle:
            handle.write(b"data")
    finally:
        os.umask(previous)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "new.bin").stat().st_mode == (tmp_path / "plain.bin").stat().st_mode


def test_a_replaced_file_keeps_its_mode_and_a_link_is_written_through(tmp_path):
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    write_output(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_previous_file_and_nothing_else(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    def half_then_fail(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(target, half_then_fail)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_write_killed_midway_leaves_the_old_file_and_a_leftover_that_can_be_removed(
        tmp_path):
    """SIGKILL runs no cleanup: the previous file stays whole, and the temporary file of the
    interrupted write is what ``remove_stale_temporaries`` deletes (and nothing else)."""
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"previous")
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from mspviewer.files import write_atomically\n"
         "def slow(handle):\n"
         "    handle.write(b'x' * 4096); handle.flush(); print('writing', flush=True)\n"
         "    time.sleep(60)\n"
         f"write_atomically({str(target)!r}, slow)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert target.read_bytes() == b"previous"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "checkpoint.pt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".checkpoint.pt.")
    kept = [".checkpoint.pt.notatemp.tmp", ".other.pt.0123abcd.tmp", "checkpoint.pt.bak"]
    for name in kept:
        (tmp_path / name).write_bytes(b"keep")
    assert remove_stale_temporaries(target) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["checkpoint.pt"])
    assert remove_stale_temporaries(target) == 0


def test_a_file_system_without_fsync_still_gets_the_file_but_an_io_error_fails(tmp_path,
                                                                              monkeypatch):
    import errno

    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    def refuse(code):
        def fsync(descriptor):
            raise OSError(code, os.strerror(code))
        return fsync

    monkeypatch.setattr(os, "fsync", refuse(errno.EINVAL))  # "not supported here"
    write_output(target, b"new")
    assert target.read_bytes() == b"new"
    monkeypatch.setattr(os, "fsync", refuse(errno.EIO))  # the data did not reach the disk
    with pytest.raises(OSError, match="Input/output error"):
        write_output(target, b"newer")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
