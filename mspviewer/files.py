"""Files written whole or not at all, shared by the codec core, the command line and the GUI."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then move it into place.

    A failure (disk full, an exception in ``write``, an interruption) leaves any previous
    file at ``path`` intact and no partial file behind; two writers never share a temporary
    name. The file gets the mode a plain ``open()`` would give (the temporary is 0600)."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(dir=path.resolve().parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            write(handle)
        os.chmod(handle.name, path.stat().st_mode & 0o777 if path.exists() else _new_file_mode())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_output(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see ``write_atomically``)."""
    write_atomically(path, lambda handle: handle.write(data))


def _new_file_mode() -> int:
    umask = os.umask(0)  # the only way to read the umask; set back at once
    os.umask(umask)
    return 0o666 & ~umask
