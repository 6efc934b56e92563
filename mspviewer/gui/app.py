"""``mspviewer`` without a sub-command: the desktop viewer, or a headless screenshot.

    mspviewer [IMAGE_OR_MSP] [--image IMG] [--model PATH] [--crop X,Y,W,H]
    mspviewer --screenshot OUT.png [--image IMG] [--crop X,Y,W,H] [--profile P]
              [--lambda L | --bpp B] [--model PATH] [--size 2200x1400] [--timeout 900]
              [--cancel-after S] [--ladder [P,P...]] [--inspect X,Y]
              [--replay-steps K,K,...] [--panel KEY] [--third-pane CODEC|msp-plain|none]
              [--latents QUANTITY] [--bits-view chart|ledger|channels] [--channel C]
              [--pmf-view probability|bits] [--images-only]

``--screenshot`` encodes the image (default: the bundled sample), waits until every panel
is filled (encode, decode check, the classic codec at the same bpp, the RD curves),
renders the main window to a PNG and exits: 0 on success, 1 if something failed (the
window, with its error message, is still saved), 2 for bad arguments. ``--inspect`` and
``--replay-steps`` show the teaching tools (one PNG per replay step), ``--panel`` saves one
panel instead of the window, ``--ladder`` adds the λ ladder's RD points (and BD-rates),
with the encode's profile or with each one named.
``--crop`` works on a region of the image; a region reaching past it is refused, and the
coordinates of ``--inspect`` are then the crop's.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from mspviewer.errors import summarise


def build_parser() -> argparse.ArgumentParser:
    from mspviewer.cli import OneLineParser
    from mspviewer.cli.common import add_threads_argument, positive_number

    parser = OneLineParser(prog="mspviewer gui", description="The MSP desktop viewer.")
    parser.add_argument("path", nargs="?", help="an image or a .msp bitstream to open")
    parser.add_argument("--image", help="the image to open (default: the bundled sample)")
    parser.add_argument("--model",
                        help="weights file (default: $MSPVIEWER_MODEL or the shipped model)")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="encode, fill every panel, save the window as PNG and exit")
    parser.add_argument("--profile", help="encoding profile (see `mspviewer profiles`)")
    parser.add_argument("--lambda", dest="lam", type=float, help="rate-distortion trade-off λ")
    parser.add_argument("--bpp", type=float, help="target bits per pixel instead of a λ")
    parser.add_argument("--device",
                        help="cpu or cuda (default: the first GPU where there is one, else cpu)")
    add_threads_argument(parser)
    parser.add_argument("--size", default="2200x1400",
                        help="window size for --screenshot, WIDTHxHEIGHT (default 2200x1400)")
    parser.add_argument("--timeout", type=positive_number, default=900.0,
                        help="seconds --screenshot waits for the work to finish (default 900)")
    parser.add_argument("--inspect", metavar="X,Y",
                        help="with --screenshot: inspect the latent element under image pixel "
                             "(X, Y) (of the crop, with --crop) and show the inspector")
    parser.add_argument("--replay-steps", metavar="K[,K...]",
                        help="with --screenshot: build the decode replay and save one "
                             "screenshot per step K (OUT-stepKK.png, K in two digits); a "
                             "step past the last is the last (the file names that step)")
    parser.add_argument("--panel", metavar="KEY",
                        help="with --screenshot: save only this panel (e.g. inspector, "
                             "replay, latents), not the whole window")
    parser.add_argument("--third-pane", metavar="CODEC",
                        help="the compare view's third pane: a classic codec (e.g. jpeg-420, "
                             "webp), msp-plain (the same λ without LOF) or none")
    parser.add_argument("--images-only", action="store_true",
                        help="the compare view alone, every panel hidden (View ▸ Images only, "
                             "Ctrl+Shift+F): for a demo on a small screen")
    parser.add_argument("--latents", metavar="QUANTITY",
                        help="what the latent heatmaps show: y_hat, mu, sigma, bits, surprise, "
                             "lof_shift or lof_bits (the last two after an LOF encode)")
    parser.add_argument("--bits-view", choices=("chart", "ledger", "channels"),
                        help="the bit allocation's tab: bytes per pass group (chart), "
                             "estimated vs actual (ledger) or bits per latent channel")
    parser.add_argument("--pmf-view", choices=("probability", "bits"),
                        help="what the inspector's bars show: each symbol's probability, or "
                             "what it would have cost in bits (−log2 P)")
    parser.add_argument("--channel", type=int, metavar="C",
                        help="with --screenshot: show latent channel C in the heatmaps and "
                             "mark it in the bits per channel")
    parser.add_argument("--ladder", nargs="?", const="", metavar="P[,P...]",
                        help="with --screenshot: also encode at every λ of the model's ladder, "
                             "with the encode's profile or with each profile named (the RD "
                             "panel's MSP curves and their BD-rates)")
    parser.add_argument("--crop", metavar="X,Y,W,H",
                        help="work on the region W×H at (X, Y) of the image (in its pixels, "
                             "after any EXIF rotation; it must lie inside the image); File ▸ "
                             "Back to the full image undoes it")
    parser.add_argument("--cancel-after", type=float, metavar="S",
                        help="with --screenshot: press Cancel after S seconds (LOF keeps its "
                        "best latent so far)")
    return parser


def _headless_platform() -> None:
    """Without a display, render offscreen (must run before the QApplication exists)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def install_excepthook(get_window) -> None:
    """Show unexpected exceptions in the window (and print them to stderr) instead of
    letting a traceback be the only trace."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        window = get_window()
        if window is None:
            print(details, file=sys.stderr)
            return
        try:  # (show_error prints the details to stderr too)
            window.show_error(f"Internal error: {summarise(value)}", details)
        except Exception:  # a broken window: the hook must never raise
            print(details, file=sys.stderr)

    sys.excepthook = hook


def _make_model(path: str | None, headless: bool):
    """The model a named file holds (``--model``, else ``$MSPVIEWER_MODEL``): one that
    cannot be loaded is refused. Unnamed: the shipped model, which the window replaces by
    random weights with a warning when it cannot be loaded; a headless run has no one to
    read the warning, so there it is refused too (None: the window's default)."""
    from mspviewer.codec import load_model

    path = path or os.environ.get("MSPVIEWER_MODEL") or None
    if path is None and not headless:
        return None
    return load_model(path)


def _fail(message, code: int = 2, window=None) -> int:
    """One line on stderr and the exit status, never a traceback (and no thread left)."""
    print(f"mspviewer: {message}", file=sys.stderr)
    if window is not None:
        window.shutdown()
    return code


# Sides of a --screenshot window: below the minimum the panels cannot lay out; above the
# maximum the window's pixels alone would take gigabytes (16384² RGBA is 1 GiB).
MIN_SHOT_SIDE, MAX_SHOT_SIDE = 200, 16384


def _check_options(args) -> tuple[ShotExtras, tuple[int, int]]:
    """The options that need more than argparse checks; ValueError says what is wrong."""
    if args.lam is not None and args.bpp is not None:
        raise ValueError("give --lambda or --bpp, not both")
    extras = ShotExtras.from_args(args)
    if args.crop is not None:
        args.crop = _parse_crop(args.crop)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(size) != 2 or min(size) < MIN_SHOT_SIDE or max(size) > MAX_SHOT_SIDE:
            raise ValueError
    except ValueError:
        raise ValueError(f"--size must look like 2200x1400, each side from {MIN_SHOT_SIDE} to "
                         f"{MAX_SHOT_SIDE}, got {args.size!r}") from None
    from mspviewer.files import same_file

    image = args.image or args.path
    if args.screenshot and image and same_file(args.screenshot, image):
        raise ValueError(f"--screenshot {args.screenshot} is the image to open: give the "
                         "screenshot another name")
    return extras, size


def _parse_crop(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, width, height = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--crop takes X,Y,W,H as four integers, got {text!r}") from None
    if x < 0 or y < 0 or width <= 0 or height <= 0:
        raise ValueError(f"--crop takes X,Y ≥ 0 and W,H > 0, got {text!r}")
    return x, y, width, height


def _has_display() -> bool:
    """False only where the viewer certainly cannot open a window: on Linux without an X or
    Wayland display and no Qt platform chosen (Qt would abort with a page of its own)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        extras, size = _check_options(args)
    except ValueError as error:
        return _fail(error)
    from mspviewer.cli.common import apply_threads

    apply_threads(args.threads)
    if args.screenshot:
        _headless_platform()
    elif not _has_display():
        return _fail("no display to open the viewer on: render it headless with "
                     "--screenshot OUT.png, or set QT_QPA_PLATFORM")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from mspviewer.errors import MSPViewerError
    from mspviewer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("mspviewer")
    app.setOrganizationName("mspviewer")
    try:
        model = _make_model(args.model, headless=bool(args.screenshot))
    except MSPViewerError as error:
        return _fail(error)
    image = args.image or args.path
    settings = None
    if args.screenshot:  # never touch the user's recent files from a headless run
        # (in a folder of its own: beside the picture, a run's file could be committed)
        folder = tempfile.mkdtemp(prefix="mspviewer-screenshot-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        settings = QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(model, settings=settings, open_sample=image is None)
    install_excepthook(lambda: window)
    try:
        _apply_options(window, args)
    except (ValueError, MSPViewerError) as error:
        return _fail(error, window=window)
    if image is not None:
        errors_before = len(window.errors)
        opened = window.open_path(image)
        if opened and args.screenshot:  # a large image is still being read on the file thread
            opened = (wait_for_file_thread(app, window, args.timeout)
                      and len(window.errors) == errors_before)
        if not opened and args.screenshot:
            message = (window.errors[-1] if len(window.errors) > errors_before
                       else f"--screenshot: {image} still opening after {args.timeout:g} s")
            return _fail(message, 1, window)
    if args.crop is not None:
        errors_before = len(window.errors)
        if not _crop(app, window, args) and args.screenshot:  # (the window says why)
            return _fail(window.errors[-1] if len(window.errors) > errors_before else
                         f"--crop: the image is still opening after {args.timeout:g} s",
                         2, window)
    if args.screenshot:
        try:
            return run_screenshot(app, window, Path(args.screenshot), size, args.timeout,
                                  args.cancel_after, extras)
        finally:
            window.shutdown()
            if settings is not None:  # write what is pending first, or it comes back later
                settings.sync()
                shutil.rmtree(Path(settings.fileName()).parent, ignore_errors=True)
    window.place_on_screen()
    window.show()
    _quit_on_interrupt(app)
    code = app.exec()
    window.shutdown()
    return int(code)


def _crop(app, window, args) -> bool:
    """Crop the opened image as ``--crop`` says, once it is read (a large one is read on the
    file thread)."""
    if not wait_for_file_thread(app, window, args.timeout):
        return False
    return window.crop_image(*args.crop, inside=True)


def _quit_on_interrupt(app) -> None:
    """Ctrl+C in the terminal closes the viewer (Python only sees signals between Qt events,
    so a timer gives it a chance every 200 ms)."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)


def _note_rounding(option: str, asked: float, spin_box) -> None:
    """Say so when a control keeps fewer decimals than the value given on the command line."""
    shown = spin_box.value()
    if not math.isclose(shown, asked, rel_tol=1e-9):
        print(f"mspviewer: {option} {asked:g} is set as {shown:g} (the control keeps "
              f"{spin_box.decimals()} decimals)", file=sys.stderr)


def _apply_options(window, args) -> None:
    if args.profile:
        window.controls.set_profile(args.profile)
    if args.ladder:  # unknown names refused (with the list) before any work
        from mspviewer.codec.profiles import get_profile, load_profiles

        known = load_profiles()  # (read once: $MSPVIEWER_PROFILES may name a file)
        for name in filter(None, args.ladder.split(",")):
            if name not in known and os.path.exists(name):
                # nargs="?" took the positional image path as the option's value
                raise ValueError(f"--ladder takes profile names, not the file {name!r}: "
                                 f"put the image before --ladder or give it with --image")
            get_profile(name)
    if args.lam is not None:
        low, high = window.session.model.config.usable_lambda_range
        if not low <= args.lam <= high:
            raise ValueError(f"--lambda {args.lam:g} is outside the model's range "
                             f"{low:g} … {high:g}")
        window.controls.set_lambda(args.lam)
        _note_rounding("--lambda", args.lam, window.controls.lambda_spin)
    if args.bpp is not None:
        low, high = window.controls.bpp_spin.minimum(), window.controls.bpp_spin.maximum()
        if not low <= args.bpp <= high:  # (nan fails too)
            raise ValueError(f"--bpp {args.bpp:g} is outside the viewer's range "
                             f"{low:g} … {high:g}")
        window.controls.set_target_bpp(args.bpp)
        _note_rounding("--bpp", args.bpp, window.controls.bpp_spin)
    if args.device:
        index = window.controls.device_box.findData(args.device)
        if index < 0:
            raise ValueError(f"device {args.device!r} is not available here")
        window.controls.device_box.setCurrentIndex(index)
    if args.third_pane:
        window.compare.set_classic_codec("" if args.third_pane == "none" else args.third_pane)
    if args.images_only:
        window.set_images_only(True)
    if args.latents:
        from mspviewer.gui.latent_data import QUANTITIES

        if args.latents not in QUANTITIES:
            raise ValueError(f"--latents {args.latents!r} is not a quantity; use one of "
                             f"{', '.join(QUANTITIES)}")
        window.latents.set_quantity(args.latents)
    if args.bits_view:
        window.bits.set_view(args.bits_view)
    if args.pmf_view:
        window.inspector.set_pmf_view(args.pmf_view)
    if args.channel is not None:  # known before any work: an opened .msp must match the model
        channels = window.session.model.config.transform.latent_channels
        if args.channel >= channels:
            raise ValueError(f"--channel {args.channel}: the latent has {channels} channels "
                             f"(0 … {channels - 1})")


def run_events_until(app, done, timeout_s: float) -> bool:
    """Run the event loop until ``done()`` holds twice in a row (a finished task's result is
    delivered by the events in between); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if done():
            app.processEvents()
            if done():
                return True
        time.sleep(0.02)
    return False


def wait_for_file_thread(app, window, timeout_s: float) -> bool:
    """Until the file thread (opening an image or a stream) is done; False on timeout."""
    return run_events_until(app, lambda: not window.file_runner.is_busy(), timeout_s)


def wait_until_idle(app, window, timeout_s: float) -> bool:
    """Until no task is running or pending; False on timeout."""
    return run_events_until(app, lambda: not window.is_busy(), timeout_s)


PANEL_SHOT_SIZE = (1100, 850)  # a panel saved alone with --panel


@dataclass(frozen=True)
class ShotExtras:
    """What a screenshot shows beyond the encoded image: an inspected element, replay
    steps, one panel only, the λ ladder's RD points."""

    inspect: tuple[int, int] | None = None
    replay_steps: tuple[int, ...] = ()
    panel: str | None = None
    channel: int | None = None
    #: profiles to run the λ ladder with ("" for the encode's own); None: no ladder
    ladder: tuple[str, ...] | None = None

    @classmethod
    def from_args(cls, args) -> ShotExtras:
        try:
            inspect = (tuple(int(v) for v in args.inspect.split(","))
                       if args.inspect else None)
            steps = (tuple(int(v) for v in args.replay_steps.split(","))
                     if args.replay_steps else ())
        except ValueError:
            raise ValueError("--inspect takes X,Y and --replay-steps K[,K...], as integers") \
                from None
        if inspect is not None and len(inspect) != 2:
            raise ValueError(f"--inspect takes X,Y, got {args.inspect!r}")
        if any(k < 0 for k in steps):  # step 0 is the prediction; there is none before it
            raise ValueError(f"--replay-steps takes steps ≥ 0, got {args.replay_steps!r}")
        if args.channel is not None and args.channel < 0:
            raise ValueError(f"--channel takes a channel index ≥ 0, got {args.channel}")
        ladder = None if args.ladder is None else tuple(args.ladder.split(","))
        return cls(inspect, steps, args.panel, args.channel, ladder)


def _run_ladders(app, window, profiles: tuple[str, ...], timeout_s: float) -> bool:
    """The λ ladder with each of ``profiles`` in turn ("": the encode's), the controls
    left on the encode's profile; False on timeout."""
    encode_profile = window.controls.profile()
    try:
        for profile in profiles:
            window.controls.set_profile(profile or encode_profile)
            if window.start_lambda_ladder() is None:  # (it said why)
                return True
            if not wait_until_idle(app, window, timeout_s):
                return False
    finally:
        window.controls.set_profile(encode_profile)
    return True


def _save(window, out: Path, panel: str | None) -> bool:
    if panel is None:
        return window.save_screenshot(out)
    return window.docks[panel].grab().save(str(out))


def figure_numbers(window) -> list[str]:
    """The numbers a text quoting the screenshot would cite, as the window shows them: what
    LOF (or a reference) changed, and the BD-rates of the λ ladder. Printed with the
    screenshot so that docs/figures.sh and its readers take them from the same run."""
    lines = []
    result = window.session.result
    if result is not None and result.reference is not None:
        lines.append(f"{window.metrics.row_label('lof_change')}: "
                     f"{window.metrics.value('lof_change')}")
    if window.rd.bd_summary is not None:
        lines.append(window.rd.bd_summary)
    return lines


def run_screenshot(app, window, out: Path, size: tuple[int, int], timeout_s: float,
                   cancel_after_s: float | None = None,
                   extras: ShotExtras = ShotExtras()) -> int:
    if extras.panel is not None and extras.panel not in window.docks:
        return _fail(f"--panel {extras.panel!r} is not a panel; use one of "
                     f"{', '.join(window.docks)}")
    window.resize(*size)
    window.show()
    app.processEvents()
    if (window.width(), window.height()) != size:  # smaller than the window's minimum
        print(f"--size {size[0]}x{size[1]}: the window cannot be that small; the screenshot "
              f"is {window.width()}x{window.height()}", file=sys.stderr)
    errors_before = len(window.errors)
    encoded = False
    if window.session.image is not None:
        task = window.start_encode()
        encoded = task is not None
    if encoded and cancel_after_s is not None:
        if not wait_until_idle(app, window, cancel_after_s) and window.encoder.current is task:
            window.cancel_encode()
    finished = wait_until_idle(app, window, timeout_s)
    if finished and extras.ladder is not None:  # (the encode's result stays the one shown)
        finished = _run_ladders(app, window, extras.ladder, timeout_s)
    if not finished:
        window.show_error(f"--screenshot: still working after {timeout_s:g} s; saving the "
                          f"window as it is")
    window.compare.zoom_fit()
    if finished and extras.inspect is not None and window.inspect_pixel(*extras.inspect) is None:
        # the inspector only says why in the message bar: a screenshot asked for it must fail
        window.show_error(f"--inspect {extras.inspect[0]},{extras.inspect[1]}: nothing to "
                          "inspect there (outside the image?)")
    if finished and extras.channel is not None and window.session.result is not None:
        window.latents.set_channel(extras.channel)  # in range: checked with the options
        window.bits.channels.select_channel(extras.channel)
    outputs = [(out, None)]
    if finished and extras.replay_steps:
        finished = window.start_replay() and wait_until_idle(app, window, timeout_s)
        last = max(len(window.replay.frames) - 1, 0)  # no frames: the build failed
        outputs = [(out.with_name(f"{out.stem}-step{min(k, last):02d}{out.suffix}"), min(k, last))
                   for k in extras.replay_steps]
    if extras.panel is not None:  # on its own at a readable size, not squeezed in a column
        dock = window.docks[extras.panel]
        dock.setFloating(True)
        dock.show()
        dock.resize(PANEL_SHOT_SIZE[0], PANEL_SHOT_SIZE[1])
        dock.raise_()
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, step in outputs:
        if step is not None:
            window.replay.set_step(step)
        for _ in range(5):
            app.processEvents()
        if not _save(window, path, extras.panel):
            return _fail(f"cannot write {path}", 1)
    new_errors = window.errors[errors_before:]
    for message in new_errors:
        print(f"mspviewer: {message}", file=sys.stderr)
    result = window.session.result
    if result is not None:
        point = result.point
        quality = f", PSNR {point.psnr_rgb:.2f} dB" if point is not None else ""
        for path, _ in outputs:
            print(f"screenshot {path}: {result.bpp:.4f} bpp{quality}")
        for line in figure_numbers(window):
            print(f"  {line}")
    # an opened .msp is decoded, not encoded: its result is the work to wait for
    ok = (encoded or window.session.image is None) and finished and result is not None \
        and not new_errors
    return 0 if ok else 1
