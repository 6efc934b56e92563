"""Files written whole or not at all (mspviewer.files)."""

from __future__ import annotations

import os

import pytest

from mspviewer.files import write_atomically, write_output


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
