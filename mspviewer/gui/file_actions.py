"""The window's opening of files: images (small ones at once, large ones on the file
thread), ``.msp`` bitstreams (header checked here, decoded on the file thread), a reference
``.msp``, model weights, the recent-files menu and drag and drop.

A mixin of :class:`~mspviewer.gui.main_window.MainWindow`, kept apart as the exports are. It
uses the window's ``session``, ``controls``, ``compare``, ``settings``, ``recent_menu``,
``file_runner``, ``encoder``, ``max_pixels``, ``sync_open_pixels``, ``set_image``,
``_reset_lof_panel``, ``statusBar()``, ``show_error`` and ``show_message``.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from mspviewer.codec import bitstream
from mspviewer.errors import MSPViewerError
from mspviewer.formats import IMAGE_SUFFIXES
from mspviewer.gui import jobs
from mspviewer.gui.outcomes import PLAIN_PANE
from mspviewer.gui.session import ImageState
from mspviewer.gui.worker import Task

MAX_RECENT = 10
IMAGE_FILTER = ("Images and bitstreams ("
                + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES + (".msp",))
                + ");;Bitstreams (*.msp);;All files (*)")
#: the settings key of Encode ▸ Encode each image on opening
ENCODE_ON_OPEN_KEY = "encode_on_open"
#: formats whose decoders are slow enough to freeze the window even on modest images
SLOW_DECODE_SUFFIXES = frozenset({".jp2", ".j2k", ".j2c", ".jpc", ".jpf", ".jpx", ".heic",
                                  ".heif", ".hif", ".avif", ".jxl"})


class FileActions:
    #: (the file last stepped to, the image and result open then): see _current_file
    _stepped: tuple = (None, None, None)
    #: an image opened while a model loaded, to be encoded on opening once it has
    _encode_when_loaded = False

    # --- opening files ----------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self.recent_files()[0]).parent) if self.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open an image or a bitstream", start,
                                              IMAGE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path) -> bool:
        """Open an image or a ``.msp`` bitstream (by extension or magic bytes), or load
        model weights (``.pt``)."""
        path = Path(path)
        if self._refused_as_special(path):
            return False
        if _is_bitstream(path):
            return self.open_bitstream(path)
        if path.suffix.lower() == ".pt":  # weights dropped on the window
            return self.load_model(path) is not None
        return self.open_image(path)

    def _refused_as_special(self, path: Path) -> bool:
        """A folder, pipe or device is refused before it is read: reading a pipe on the GUI
        thread would block the window until something writes to it."""
        reason = special_file_reason(path)
        if reason is not None:
            self.show_error(f"Cannot open {path}: {reason}")
        return reason is not None

    def open_image(self, path, remember: bool = True) -> bool:
        """Open an image file. One of up to ``sync_open_pixels`` pixels (by its header) is
        read here and is the current image on return; a larger one is read on the file
        thread, so the window stays responsive, and becomes current when it arrives (unless
        something opened meanwhile supersedes it). False when it was refused at once."""
        from mspviewer.imageio import load_image, pixel_count

        path = Path(path)
        if self._refused_as_special(path):
            return False
        # JPEG 2000, HEIF/AVIF and JPEG XL decode slowly (a 2048×2048 JPEG 2000 took 1 s,
        # and the JPEG XL reader decodes the whole file just to give its size): always read
        # on the file thread, so the window never freezes on them
        slow = path.suffix.lower() in SLOW_DECODE_SUFFIXES
        count = None if slow else pixel_count(path)
        if slow or (count is not None and self.sync_open_pixels < count <= self.max_pixels):
            task = Task("load", f"open {path.name}",
                        lambda token: jobs.load_image_task(path, self.max_pixels, token),
                        context={"path": path, "remember": remember})
            self.file_runner.submit(task)
            size = f" ({count:,} pixels)" if count is not None else ""
            self.show_progress(f"opening {path.name}{size}…", task)
            return True
        try:
            loaded = load_image(path, max_pixels=self.max_pixels)
        except MSPViewerError as error:
            self.show_error(str(error))
            return False
        except OSError as error:
            self.show_error(f"Cannot read {path}: {error.strerror or error}")
            return False
        self._show_loaded(path, loaded, remember)
        return True

    def _show_loaded(self, path: Path, loaded, remember: bool) -> None:
        self.set_image(ImageState(loaded.pixels, path, list(loaded.notes)))
        if remember:
            self._remember(path)
        if loaded.notes:
            self.show_message(f"{path.name}: " + "; ".join(loaded.notes), "info", about="image")
        # (not while a model loads: the encode would be refused, with an error per image;
        # it runs when the model has loaded)
        if self.encode_on_open_action.isChecked():
            self._encode_when_loaded = self.loading_model() is not None
            if not self._encode_when_loaded:
                self.start_encode()

    def set_encode_on_open(self, on: bool) -> None:
        """Encode each image as it opens, with the settings in the Encode panel (stepping
        through a folder, each image's result comes without a press of Encode); kept in
        the settings."""
        self.encode_on_open_action.setChecked(on)  # (from a script; the menu has done it)
        self.settings.setValue(ENCODE_ON_OPEN_KEY, bool(on))

    # --- stepping through a folder ------------------------------------------------------------
    def open_neighbour(self, step: int) -> bool:
        """Open the next (``step`` 1) or the previous (−1) image of the folder that the open
        image (or stream, opened alone) is in, in name order with numbers by value (kodim2
        before kodim10). False, with a note, at either end or with nothing open."""
        current = self._current_file()
        if current is None:
            self.show_message("Open an image first: the next one is the next in its folder",
                              "info")
            return False
        try:
            images = folder_images(current.parent)
        except OSError as error:
            self.show_error(f"Cannot list {current.parent}: {error.strerror or error}")
            return False
        here = natural_key(current.name)
        if step > 0:
            beyond = [path for path in images if natural_key(path.name) > here][:1]
        else:
            beyond = [path for path in images if natural_key(path.name) < here][-1:]
        if not beyond:
            end = "last" if step > 0 else "first"
            self.show_message(f"{current.name} is the {end} image in {current.parent}", "info")
            return False
        # The next step goes on from here, whether this file opens, fails (a corrupt file in
        # the folder had stopped every step at it) or is still being read (quick steps over
        # large images had all opened the same next one)
        self._stepped = (beyond[0], self.session.image, self.session.result)
        return self.open_image(beyond[0])

    def _current_file(self) -> Path | None:
        """The file stepping goes on from: the last one stepped to while the image is the
        one it opened, or while nothing has changed since (it failed, or is on its way);
        else the open image's file (a crop's whole image's), else the stream's."""
        image = self.session.image
        stepped, image_then, result_then = self._stepped
        unchanged = image is image_then and self.session.result is result_then
        if stepped is not None and (unchanged or (
                image is not None and image.path is not None and Path(image.path) == stepped)):
            return stepped
        if image is not None and image.path is not None:
            return Path(image.path)
        result = self.session.result
        path = getattr(result, "path", None)
        return Path(path) if path else None

    def reference_dialog(self) -> None:
        start = str(Path(self.recent_files()[0]).parent) if self.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Set a reference bitstream", start,
                                              "MSP bitstream (*.msp);;All files (*)")
        if path:
            self.set_reference(path)

    def set_reference(self, path) -> Task | None:
        """Set the result against another coding of the same image (same model, λ and
        size: another encoder, another build) instead of its plain encoding: Δŷ and Δbits,
        the third pane, the metrics row and the inspector then compare with that file. Its
        header is checked here, the decoding runs on the file thread; None, with a message,
        when it cannot start."""
        result = self.session.result
        if result is None:
            self.show_error("Set a reference after an encode (or with a .msp open): it is set "
                            "against the result")
            return None
        path = Path(path)
        if self.refused_while_model_loads("it replaces the result, so set a reference after "
                                          "encoding with it"):
            return None
        data = self.read_bitstream(path)
        if data is None:  # (it said why)
            return None
        model, device = self.session.model, self.controls.device()
        task = Task("reference", f"reference {path.name}",
                    lambda token: jobs.reference_task(model, data, path, result, device,
                                                      token),
                    context={"result": result, "path": path})
        # queued behind an image or a stream being read, never in their place
        self.file_runner.submit(task, replace=False)
        self.show_progress(f"decoding the reference {path.name}…", task)
        return task

    def clear_reference(self) -> bool:
        """Drop the .msp set as the reference: the result is set against its own encoding
        without LOF again, or against nothing where it has none (profile fast, a stream
        read from a file). False, with a message, where no .msp reference is set."""
        result = self.session.result
        reference = getattr(result, "reference", None)
        if reference is None or reference.is_plain:
            self.show_message("No reference .msp is set (File ▸ Set a reference .msp sets "
                              "one)", "info")
            return False
        plain = result.set_aside
        self.session.set_reference(plain)
        if self.compare.classic_box.currentData() == PLAIN_PANE:
            self.session.set_classic(None if plain is None else plain.as_pane())
        name = Path(reference.path).name
        if plain is not None:
            text = f"{name} cleared: the result is set against MSP without LOF (same λ) again"
        else:
            why = "it was read from a file" if result.source == "file" else "LOF did not run"
            text = (f"{name} cleared: the result has no encoding without LOF to be set "
                    f"against ({why})")
        self.show_message(text, "info", about="reference")
        return True

    def read_bitstream(self, path) -> bytes | None:
        """The bytes of a ``.msp`` file whose header this model can decode; otherwise None,
        with the reason in the message bar."""
        if self._refused_as_special(Path(path)):
            return None
        try:
            data = bitstream.read_file(path)
            # Header checks are cheap: a corrupt, foreign or oversized stream is refused here,
            # before any decode starts. The format limits the padded size; the viewer's own
            # limit counts the image's pixels, as for the images it opens.
            header, _ = bitstream.parse(data)
            if header.height * header.width > self.max_pixels:
                raise MSPViewerError(
                    f"the stream holds a {header.width}×{header.height} image, above the "
                    f"viewer's limit of {self.max_pixels:,} pixels")
            self.session.model.check_compatible(header)
        except MSPViewerError as error:  # unreadable, too large, corrupt or foreign
            self.show_error(_naming_the_file(str(error), Path(path)))
            return None
        return data

    def open_bitstream(self, path) -> bool:
        path = Path(path)
        if self.refused_while_model_loads(f"open {path.name} when it has loaded"):
            return False
        data = self.read_bitstream(path)
        if data is None:
            return False
        image = self.session.image
        original = image.pixels if image is not None else None
        model = self.session.model
        device = self.controls.device()  # jobs.model_lease keeps it put while others use it
        encoded_here = self.session.result
        known_source = (encoded_here is not None and encoded_here.source != "file"
                        and encoded_here.bitstream == data)
        # (random weights, with no trained model to load, decode anything to a few dB: no
        # PSNR would then tell another image's stream from this image's)
        judge_by_psnr = not self.session.model_note
        original_name = f"the open image {image.name}" if image is not None else ""
        task = Task("decode", f"decode {path.name}",
                    lambda token: jobs.decode_task(model, data, original, device, token,
                                                   str(path), None, original_name,
                                                   known_source, judge_by_psnr),
                    context={"path": path, "image": image, "model": model})
        self.file_runner.submit(task)
        self.show_progress(f"decoding {path.name}…", task)
        return True

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model weights", "",
                                              "Weights (*.pt);;All files (*)")
        if path:
            self.load_model(path)

    def load_model(self, path) -> Task | None:
        """Load model weights on the file thread, queued behind what it is reading; the
        model in use is replaced when they arrive. Until then no encode or stream decode
        starts (it would be with the old model). What was asked for before goes on: an
        image or a stream being read opens (a stream's result goes with the old model once
        the new one arrives, and stays if the load fails); an image opened meanwhile does not
        cancel the load; a newer load does. None, with a message, when it cannot start."""
        path = Path(path)
        if self._refused_as_special(path):
            return None
        self.file_runner.cancel_if(lambda task: task.kind == "model", "superseded")
        task = Task("model", f"load model {path.name}",
                    lambda token: jobs.load_model_task(path, token),
                    context={"path": path}, replaceable=False)
        self.file_runner.submit(task, replace=False)
        self.show_progress(f"loading the model {path.name}…", task)
        self._show_model_status()
        return task

    def loading_model(self) -> Task | None:
        """The model load in progress or queued (the latest one), if any."""
        loads = self.file_runner.live("model")
        return loads[-1] if loads else None

    def refused_while_model_loads(self, advice: str) -> bool:
        """True, with a message ending in ``advice``, while a model loads: what was asked for
        would run with the old one."""
        task = self.loading_model()
        if task is not None:
            self.show_error(f"The model {task.context['path'].name} is still loading: "
                            f"{advice}")
        return task is not None

    def _model_loaded(self, path: Path, model) -> None:
        # (no stream decode or reference can be queued behind the load: both are refused
        # while it runs, and what was asked for before it ran first)
        self.encoder.cancel("superseded")
        self._reset_lof_panel()
        self.session.set_model(model)
        self.show_message(f"model {model.name} loaded from {path}", "info")
        if self._encode_when_loaded and self.session.image is not None:
            self._encode_when_loaded = False
            self.start_encode()  # (an image opened, to be encoded, while the model loaded)

    # --- recent files -----------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: Path) -> None:
        entry = str(Path(path).resolve())
        files = [entry] + [f for f in self.recent_files() if f != entry]
        self.settings.setValue("recent_files", files[:MAX_RECENT])
        self.settings.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for entry in files:
            action = self.recent_menu.addAction(entry)
            action.triggered.connect(lambda _=False, p=entry: self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                lambda: self.settings.setValue("recent_files", []))

    # --- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])


def special_file_reason(path: Path) -> str | None:
    """Why ``path`` is not a file to read (a folder, a pipe, a device), or None: a missing
    file is left to the readers, which say so."""
    try:
        if not path.exists() or path.is_file():
            return None
    except OSError:
        return None
    return "it is a folder" if path.is_dir() else "not a regular file (a pipe or a device)"


def natural_key(name: str) -> tuple:
    """Sort key of a file name with its runs of digits by value (kodim2 before kodim10),
    letters in either case together; names that differ in case only are told apart (B.png
    before b.png), so that stepping meets each file once."""
    parts = re.split(r"(\d+)", name.casefold())
    return (tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in parts),
            name)


def folder_images(folder: Path) -> list[Path]:
    """The image files (by :data:`IMAGE_SUFFIXES`) in ``folder``, in :func:`natural_key`
    order."""
    return sorted((path for path in folder.iterdir()
                   if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()),
                  key=lambda path: natural_key(path.name))


def _is_bitstream(path: Path) -> bool:
    if path.suffix.lower() == ".msp":
        return True
    try:
        with open(path, "rb") as handle:
            from mspviewer.codec.bitstream import MAGIC

            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _naming_the_file(message: str, path: Path) -> str:
    """``message`` with the file it is about in front, unless it names it already (after a
    drop or an Open recent, "bitstream is empty" alone does not say which file)."""
    if path.name in message:
        return message
    return f"Cannot open {path.name}: {message}"
