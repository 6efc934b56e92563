"""Files written whole or not at all, shared by the codec core, the command line and the GUI."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then move it into place.

    A failure (disk full, an exception in ``write``, an interruption) leaves any previous
    file at ``path`` intact and no partial file behind; two writers never share a temporary
    name. A symbolic link is written through (its target is replaced, the link stays). A new
    file gets the mode a plain ``open()`` gives (the umask applies); a replaced one keeps its
    mode where the file system allows it.

    A character device (``-o /dev/null``) is written in place: renaming over it would put a
    regular file where the device was, for every program (as root, /dev/null itself). A
    pipe, socket or block device is refused with an ``OSError``."""
    target = Path(os.path.realpath(path))
    if _is_character_device(target):
        with open(target, "wb") as handle:
            write(handle)
        return
    _refuse_special_file(target)
    temporary, handle = _create_beside(target)
    try:
        with handle:
            # on disk before the rename: after a crash of the system (not only of this
            # process) the name holds the old file or the new one, never an empty one
            _write_synced(handle, write)
        if target.exists():
            try:
                os.chmod(temporary, target.stat().st_mode & 0o7777)
            except OSError:  # e.g. FAT or some network shares: the write still counts
                pass
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def write_file_set(folder: str | os.PathLike, files: dict[str, bytes],
                   replaces: Callable[[str], bool] = lambda name: False) -> list[Path]:
    """Write ``files`` (name → bytes) into ``folder`` as one set, so that an interruption
    never leaves a mix of a new set and an older one; returns the paths, in ``files``' order.

    A new folder is built under a temporary name beside it and renamed into place: it
    appears whole or not at all. In an existing folder every file is first written to a
    temporary (the slow part, where a failure changes nothing), then all are renamed in
    one quick pass, and the files of an earlier set that this one does not overwrite (names
    for which ``replaces`` is true) are removed, so the folder holds one set only."""
    target = Path(os.path.realpath(folder))
    for name in files:
        _refuse_special_file(target / name, devices_too=True)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        building = _create_folder_beside(target)
        try:
            for name, data in files.items():
                with open(building / name, "xb") as handle:
                    _write_synced(handle, lambda out: out.write(data))
            _sync_folder(building)
            os.rename(building, target)  # refused if a folder of that name appeared meanwhile
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        _sync_folder(target.parent)
        return [Path(folder) / name for name in files]
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            temporary, handle = _create_beside(target / name)
            staged.append((temporary, target / name))
            with handle:
                _write_synced(handle, lambda out: out.write(data))
        for temporary, final in staged:
            os.replace(temporary, final)
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for leftover in target.iterdir():
        if leftover.name not in files and replaces(leftover.name) and leftover.is_file():
            leftover.unlink(missing_ok=True)
    _sync_folder(target)
    return [Path(folder) / name for name in files]


def remove_stale_temporaries(path: str | os.PathLike) -> int:
    """Delete the temporary files a killed :func:`write_atomically` of ``path`` left beside
    it (SIGKILL runs no cleanup); how many. Only for a path no other process writes now
    (training holds its run folder's lock, :mod:`mspviewer.train.run_lock`)."""
    target = Path(os.path.realpath(path))
    pattern = re.compile(re.escape(f".{_temporary_stem(target.name)}") + _TEMPORARY_SUFFIX)
    removed = 0
    if not target.parent.is_dir():  # a run not started yet
        return removed
    for leftover in target.parent.iterdir():
        if pattern.fullmatch(leftover.name) and leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file (through links too); for a path that does
    not exist yet, whether the two are the same absolute path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def write_output(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see ``write_atomically``)."""
    write_atomically(path, lambda handle: handle.write(data))


def json_bytes(document, *, indent: int = 2, allow_nan: bool = False) -> bytes:
    """``document`` as the project's JSON files are written: UTF-8 (λ, μ and σ stay
    readable), indented, one final newline; NaN refused unless ``allow_nan``."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=allow_nan)
    return (text + "\n").encode("utf-8")


def write_json(path: str | os.PathLike, document, *, indent: int = 2,
               allow_nan: bool = False) -> None:
    """Write ``document`` as JSON (:func:`json_bytes`), whole or not at all."""
    write_output(path, json_bytes(document, indent=indent, allow_nan=allow_nan))


# what follows ".NAME" in a temporary file's name (see _create_beside)
_TEMPORARY_SUFFIX = r"\.[0-9a-f]{8}\.tmp"
_NAME_MAX = 255  # bytes in a file name on the usual file systems (ext4, XFS, APFS, NTFS)


def _temporary_stem(name: str) -> str:
    """The NAME of a temporary ".NAME.xxxxxxxx.tmp" beside ``name``: the name itself, or
    where that would pass the file system's limit (a valid 250-byte name gains 14 bytes), a
    digest of it, so that every name that can be written can be written whole."""
    if len(os.fsencode(name)) + 14 <= _NAME_MAX:
        return name
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


def _is_character_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def _refuse_special_file(path: Path, devices_too: bool = False) -> None:
    """An existing pipe, socket or block device (with ``devices_too``, a character device
    as well) cannot be replaced by a file safely."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # missing (or unreadable: the write will say)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)
            or (stat.S_ISCHR(mode) and not devices_too)):
        raise OSError(errno.EINVAL, "not a regular file (a pipe, socket or device); "
                      "write to a file", str(path))


def _sync_file(descriptor: int) -> None:
    """fsync, where the file system has it: a few (some FUSE and network ones) refuse it as
    unsupported, and a write there must still succeed as before. An I/O error is a real
    failure and is raised."""
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def _write_synced(handle: BinaryIO, write: Callable[[BinaryIO], None]) -> None:
    """``write`` into ``handle``, then flush it to disk."""
    write(handle)
    handle.flush()
    _sync_file(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable, where the system allows it (not on Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _temporary_name(target: Path) -> Path:
    """A fresh ".NAME.xxxxxxxx.tmp" beside ``target`` (what remove_stale_temporaries finds)."""
    return target.with_name(f".{_temporary_stem(target.name)}.{secrets.token_hex(4)}.tmp")


def _create_folder_beside(target: Path) -> Path:
    """A new, empty folder beside ``target`` under a temporary name, with the mode a plain
    ``mkdir`` gives (the umask applies), for :func:`write_file_set`."""
    while True:
        temporary = _temporary_name(target)
        try:
            os.mkdir(temporary, 0o777)
        except FileExistsError:
            continue
        return temporary


def _create_beside(target: Path) -> tuple[Path, BinaryIO]:
    """A new, empty temporary file in ``target``'s folder, opened for writing. Mode 0o666
    before the umask, like ``open()``; the process umask is never changed (other threads
    create files meanwhile)."""
    while True:
        temporary = _temporary_name(target)
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return temporary, os.fdopen(descriptor, "wb")
