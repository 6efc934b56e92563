"""Classic codecs run in a helper process, which the caller can stop at once.

Two reasons to code a classic image outside the caller's process. Pillow's encoders hold the
interpreter lock for a whole save (17–31 ms per JPEG save of a 4 MP image on two loaded
cores, more for AVIF), so a GUI's event loop stalls while a worker thread searches a
codec's settings. And a call inside a C library or a tool cannot be interrupted: a cancelled
search, a codec changed mid-search or a closed window had to wait for the encode under way,
seconds for AVIF or VVC on a large image.

A :class:`CodecProcess` owns one child process, a fresh interpreter that runs this module
(started on first use; no fork of a process that runs Qt and torch threads, and no
re-import of the caller's main script as ``multiprocessing`` would do), and talks to it
with pickled messages over its standard input and output. :class:`IsolatedCodec` wraps a
:class:`~mspviewer.baselines.base.ClassicCodec`: same description and quality grid, but its
``encode`` and ``decode`` run in the child. While it waits it asks ``cancel()`` every
:data:`POLL_S` seconds; once that is true it kills the child, with any tool the child started
(VVC's ffmpeg), and raises :class:`CodecCancelled`. The next call starts a fresh child.

The pixels travel once per image: the child keeps the last array it was sent, and an
array that cannot change (``writeable`` false, as the viewer's images are) is not sent
again while it is the last one. A codec's own errors come back as the same exception.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import struct
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mspviewer.baselines.base import ClassicCodec, CodecError, check_pixels

#: How often a waiting call asks ``cancel()`` (seconds): the longest a cancel waits.
POLL_S = 0.02
#: How long :meth:`CodecProcess.stop` waits for a killed child to be reaped.
REAP_S = 5.0
#: How long a Windows kill waits for taskkill before it kills the helper alone (at exit too).
KILL_TREE_S = 2.0
#: How often the child checks that its parent still runs (seconds).
PARENT_CHECK_S = 0.5
_LENGTH = struct.Struct("<Q")


class CodecCancelled(Exception):
    """``cancel()`` turned true while the child was coding; the child was killed."""


class CodecProcessDied(CodecError):
    """The helper process ended without answering (killed from outside, out of memory)."""


def _write_message(stream: BinaryIO, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_payload(stream: BinaryIO) -> bytes | None:
    """One message's bytes, or None at the end of the stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    return payload if len(payload) == length else None


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: answer ("pixels", array), ("encode", codec, quality) and ("decode",
    codec, data) until the parent closes its end. Every answer is ("ok", value, seconds) or
    ("error", exception, seconds); seconds is the codec's own call, timed here, without the
    messages' transfer (a decoded 4 MP image takes tens of ms to come back)."""
    pixels = None
    while (payload := _read_payload(requests)) is not None:
        start = time.perf_counter()
        try:
            request = pickle.loads(payload)
            start = time.perf_counter()
            if request[0] == "pixels":
                pixels = request[1]
                reply: tuple = ("ok", None)
            elif request[0] == "encode":
                reply = ("ok", request[1].encode(pixels, request[2]))
            else:
                reply = ("ok", request[1].decode(request[2]))
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            reply = ("error", error)
        reply += (time.perf_counter() - start,)
        try:
            _write_message(answers, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            _write_message(answers, ("error", CodecError(f"{type(error).__name__}: {error}"),
                                     reply[2]))


#: The parent's import path, which the child appends to its own (see ``_child_environment``).
_EXTRA_PATH_VARIABLE = "MSPVIEWER_CODEC_HELPER_PATH"


def _child_environment(temporary: str) -> dict[str, str]:
    """The parent's environment, with

    - the folder this package is in first on the import path (a checkout run without
      installing), and the parent's other import folders after the child's own (a test's
      codec class; after, so that the child's standard library stays its own);
    - its own temporary folder: a killed encode leaves its files there (VVC writes the
      image and the stream to disk), and :meth:`CodecProcess.stop` removes it."""
    environment = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p])
    paths = [str(Path(entry or os.getcwd()).resolve()) for entry in sys.path]
    environment[_EXTRA_PATH_VARIABLE] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    for name in ("TMPDIR", "TEMP", "TMP"):
        environment[name] = temporary
    return environment


def _watch_parent(parent: int) -> None:
    """In the child: end this process group once the parent is gone (killed, crashed), so
    that no encode runs on for nobody; without it the child would notice only at its next
    read of a request."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os.killpg(0, signal.SIGKILL)


class CodecProcess:
    """One helper process for classic codecs, used by one call at a time (a lock keeps
    threads' requests apart; a call waiting for it still sees its cancel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._answers: queue.Queue = queue.Queue()
        self._pixels_sent: np.ndarray | None = None  #: the read-only array the child holds
        self._temporary: str | None = None  #: the child's temporary folder

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs (for tests and diagnostics)."""
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        posix = os.name == "posix"
        self._temporary = tempfile.mkdtemp(prefix="mspviewer-codecs-")
        process = subprocess.Popen(
            [sys.executable, "-m", "mspviewer.baselines.isolated"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=_child_environment(self._temporary),
            # its own process group, so that a kill reaches the tools it starts too (not its
            # own session: Linux shares the CPU out per session, and the caller's share is
            # what a classic encode always had)
            process_group=0 if posix else None,
            creationflags=0 if posix else subprocess.CREATE_NEW_PROCESS_GROUP)
        answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_answers, args=(process.stdout, answers),
                         daemon=True, name="classic-codec-answers").start()
        self._process, self._answers, self._pixels_sent = process, answers, None

    @staticmethod
    def _read_answers(stream: BinaryIO, answers: queue.Queue) -> None:
        try:
            while (payload := _read_payload(stream)) is not None:
                answers.put(payload)
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass
        answers.put(None)

    def _acquire(self, cancel: Callable[[], bool] | None) -> None:
        while not self._lock.acquire(timeout=POLL_S):
            if cancel is not None and cancel():
                raise CodecCancelled

    def call(self, request: tuple | None, cancel: Callable[[], bool] | None = None,
             pixels: np.ndarray | None = None) -> tuple[Any, float]:
        """Send ``request`` (after ``pixels``, unless the child has them) and wait for the
        answer, asking ``cancel()`` all the while: (the answer, the seconds the child spent
        on it). ``None`` only starts the child and sends the pixels."""
        self._acquire(cancel)
        try:
            if cancel is not None and cancel():
                raise CodecCancelled
            if self._process is None or self._process.poll() is not None:
                self.stop(locked=True)
                self._start()
            if pixels is not None and pixels is not self._pixels_sent:
                self._pixels_sent = None
                self._exchange(("pixels", pixels), cancel)
                if not pixels.flags.writeable:
                    self._pixels_sent = pixels
            return (None, 0.0) if request is None else self._exchange(request, cancel)
        finally:
            self._lock.release()

    def _exchange(self, request: tuple, cancel: Callable[[], bool] | None) -> tuple[Any, float]:
        process = self._process
        try:
            _write_message(process.stdin, request)
            while True:
                try:
                    payload = self._answers.get(timeout=POLL_S)
                    break
                except queue.Empty:
                    if cancel is not None and cancel():
                        self.stop(locked=True)
                        raise CodecCancelled from None
        except OSError:  # a broken pipe: the child is gone
            payload = None
        if payload is None:
            code = _reap(process)  # (None: it closed its output but lives on)
            self.stop(locked=True)
            raise CodecProcessDied(f"the classic codecs' helper process ended without an "
                                   f"answer (exit code {code})")
        try:
            status, value, seconds = pickle.loads(payload)
        except Exception as error:  # an exception class that does not unpickle here
            raise CodecError(f"unreadable answer from the classic codecs' helper process: "
                             f"{type(error).__name__}: {error}") from None
        if status == "error":
            raise value
        return value, seconds

    def stop(self, locked: bool = False) -> None:
        """Kill the child (and its tools) now; the next call starts another. ``locked``:
        the caller holds the lock (a call being cancelled)."""
        if not locked:
            with self._lock:
                return self.stop(locked=True)
        process, self._process, self._pixels_sent = self._process, None, None
        temporary, self._temporary = self._temporary, None
        if process is not None:
            _kill_group(process)
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            _reap(process)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)

    def kill_now(self) -> None:
        """Kill the child and its tools without waiting for the lock (at exit, while a
        worker thread may be waiting for an answer: that call then ends with
        :class:`CodecProcessDied`). Its temporary folder goes with it."""
        process, temporary = self._process, self._temporary
        if process is not None:
            _kill_group(process)
        if temporary is not None:
            if process is not None:
                _reap(process)
            shutil.rmtree(temporary, ignore_errors=True)


def _reap(process: subprocess.Popen) -> int | None:
    """The child's exit status once it has ended, waiting up to :data:`REAP_S`; None if it
    has not."""
    try:
        return process.wait(REAP_S)
    except subprocess.TimeoutExpired:
        return None


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the child's process group: the child and the tools it started, even when
    the child itself has already ended (its group lives on while a tool does). On Windows,
    which has no process groups to signal, ``taskkill /T`` ends the child's process tree:
    a tool the child started goes with it while the child lives (a tool whose helper has
    already died is nobody's child, and runs to its end)."""
    if not hasattr(os, "killpg"):
        if process.poll() is None:
            _kill_tree(process.pid)
        if process.poll() is None:  # (taskkill missing or refused: the child at least)
            process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:  # the group is gone already
        pass


def _kill_tree(pid: int) -> None:
    """Windows: end process ``pid`` and every process it started, at once (``/F``)."""
    try:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)], capture_output=True,
                       timeout=KILL_TREE_S,
                       creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError):
        pass


class IsolatedCodec:
    """A classic codec whose ``encode`` and ``decode`` run in ``process``; everything else
    (name, label, quality grid, description) is the wrapped codec's own."""

    def __init__(self, codec: ClassicCodec, process: CodecProcess,
                 cancel: Callable[[], bool] | None = None) -> None:
        self._codec = codec
        self._process = process
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codec, name)

    def prepare(self, pixels: np.ndarray) -> None:
        """Start the child and send it ``pixels`` now, so that timing ``encode`` measures
        the encode and not the start (a few hundred ms) and the transfer."""
        self._process.call(None, self._cancel, check_pixels(pixels))

    def encode(self, pixels: np.ndarray, quality: float) -> bytes:
        return self.timed("encode", pixels, quality)[0]

    def decode(self, data: bytes) -> np.ndarray:
        return self.timed("decode", data)[0]

    def timed(self, operation: str, *arguments: Any) -> tuple[Any, float]:
        """``encode(pixels, quality)`` or ``decode(data)`` and the seconds it took in the
        child, which is what an RD point's timing means (``rd.measure_point``)."""
        if operation == "encode":
            pixels, quality = arguments
            return self._process.call(("encode", self._codec, quality), self._cancel,
                                      check_pixels(pixels))
        if operation == "decode":
            return self._process.call(("decode", self._codec, *arguments), self._cancel)
        raise ValueError(f"no operation {operation!r}")

    def __repr__(self) -> str:
        return f"<IsolatedCodec {self._codec.name!r}>"


if __name__ == "__main__":
    sys.path += [p for p in os.environ.get(_EXTRA_PATH_VARIABLE, "").split(os.pathsep)
                 if p and p not in sys.path]
    if hasattr(os, "killpg"):
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    # The protocol owns the real stdout; what a codec library prints goes to stderr.
    _answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, _answers)
