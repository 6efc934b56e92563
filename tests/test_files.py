"""Files written whole or not at all (mspviewer.files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mspviewer import files
from mspviewer.files import (remove_stale_temporaries, write_atomically, write_file_set,
                            write_output)


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


def _fail_on_sync(monkeypatch, call: int) -> None:
    """Make the ``call``-th file sync raise a disk-full error (``call`` counts from 1)."""
    real, calls = files._sync_file, []

    def sync(descriptor):
        calls.append(descriptor)
        if len(calls) == call:
            raise OSError(28, "No space left on device")
        real(descriptor)

    monkeypatch.setattr(files, "_sync_file", sync)


def test_a_file_set_in_a_new_folder_appears_whole_with_a_plain_folders_mode(tmp_path):
    target = tmp_path / "deep" / "frames"
    written = write_file_set(target, {"a.png": b"1", "b.png": b"22"})
    assert written == [target / "a.png", target / "b.png"]
    assert sorted(p.name for p in target.iterdir()) == ["a.png", "b.png"]
    assert (target / "b.png").read_bytes() == b"22"
    assert [p.name for p in target.parent.iterdir()] == ["frames"]  # no temporary folder
    (tmp_path / "plain").mkdir()
    assert target.stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_a_file_set_that_fails_in_a_new_folder_leaves_no_folder(tmp_path, monkeypatch):
    _fail_on_sync(monkeypatch, call=2)
    with pytest.raises(OSError, match="No space"):
        write_file_set(tmp_path / "frames", {"a.png": b"1", "b.png": b"2", "c.png": b"3"})
    assert list(tmp_path.iterdir()) == []


def test_a_file_set_replaces_an_older_set_whole_and_keeps_other_files(tmp_path):
    """The older set had more files: those the new set does not overwrite are removed (as
    ``replaces`` says), so the folder never shows one set's first files with another's last;
    a file that is not part of any set stays."""
    for name in ("s0", "s1", "s2", "s3"):
        (tmp_path / name).write_bytes(b"old")
    (tmp_path / "notes.txt").write_bytes(b"mine")
    write_file_set(tmp_path, {"s0": b"new", "s1": b"new"}, replaces=lambda n: n[0] == "s")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        "s0": b"new", "s1": b"new", "notes.txt": b"mine"}


def test_a_file_set_that_fails_in_an_existing_folder_changes_nothing(tmp_path, monkeypatch):
    for name in ("s0", "s1", "s2"):
        (tmp_path / name).write_bytes(b"old")
    _fail_on_sync(monkeypatch, call=3)  # the last file's: two are written already
    with pytest.raises(OSError, match="No space"):
        write_file_set(tmp_path, {"s0": b"new", "s1": b"new", "s2": b"new"},
                       replaces=lambda n: n[0] == "s")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        "s0": b"old", "s1": b"old", "s2": b"old"}


def test_a_pipe_is_refused_and_stays_a_pipe(tmp_path):
    """Renaming over a named pipe (or, as root, over /dev/null) put a regular file in its
    place for every other program; it is refused, before anything is written."""
    import stat

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        write_output(pipe, b"data")
    with pytest.raises(OSError, match="not a regular file"):
        write_file_set(tmp_path, {"pipe": b"data"})
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_character_device_is_written_in_place(tmp_path):
    """``-o /dev/null`` discards the output and leaves /dev/null a device: the write used to
    rename a regular file over it, which as root replaced the system's /dev/null. Tried on
    devices made for the test (null and full), so a regression cannot harm the real ones."""
    import stat

    null, full = tmp_path / "null", tmp_path / "full"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot make device nodes here: {error}")
    before = null.stat()
    write_output(null, b"discarded")
    after = null.stat()
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    with pytest.raises(OSError):  # a device that fails the write says so
        write_output(full, b"no room")
    assert stat.S_ISCHR(full.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]


def test_the_longest_valid_name_can_be_written_and_its_leftovers_found(tmp_path):
    """A 250-byte name is valid, but ".NAME.xxxxxxxx.tmp" beside it was not: the temporary
    then takes a digest of the name, which ``remove_stale_temporaries`` knows."""
    target = tmp_path / ("y" * 250 + ".msp")
    write_output(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    temporary, handle = files._create_beside(target)
    handle.close()
    assert len(temporary.name) <= 255
    assert remove_stale_temporaries(target) == 1 and not temporary.exists()
