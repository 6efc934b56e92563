"""The ``mspviewer`` command.

Each sub-command lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser, returning a JSON-serialisable dict (printed with ``--json``) or
``None``. User errors become one line on stderr and exit status 2; nothing prints a
traceback unless ``MSPVIEWER_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import warnings

from mspviewer.errors import MSPViewerError
from mspviewer.formats import IMAGE_SUFFIXES

# Sub-command modules, imported lazily so `mspviewer --help` stays fast.
SUBCOMMAND_MODULES = (
    "mspviewer.cli.encode",
    "mspviewer.cli.decode",
    "mspviewer.cli.info",
    "mspviewer.cli.diff",
)
OPTIONAL_SUBCOMMAND_MODULES = (
    "mspviewer.cli.train",
    "mspviewer.cli.compare",
    "mspviewer.cli.eval",
    "mspviewer.cli.profiles",
    "mspviewer.cli.report",
    "mspviewer.cli.replay",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (exit status 2), like every other
    error of the command line, instead of the usage block followed by the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mspviewer",
        description="MSP learned image codec: encode, decode, inspect. "
        "Without a sub-command, opens the desktop viewer.",
        epilog="The viewer: mspviewer [gui] [IMAGE_OR_MSP] [options]; its options "
               "(--screenshot for a headless run, --image, --profile, --lambda, …) are "
               "listed by `mspviewer gui --help`.",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for name in OPTIONAL_SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # a real missing dependency inside the module
                raise
            continue
        module.register(subparsers)
    # `mspviewer info x.msp --json` means what `mspviewer --json info x.msp` does; SUPPRESS
    # leaves the main parser's value alone when the option is not repeated after the command.
    for subparser in {id(p): p for p in subparsers.choices.values()}.values():
        subparser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                               help="print the result as JSON on stdout (also before the "
                                    "command)")
    parser.set_defaults(command_names=frozenset(subparsers.choices),
                        command_parsers=dict(subparsers.choices))
    return parser


def _finite(value):
    """``value`` with every NaN or infinity replaced by None (JSON has neither; a PSNR is
    infinite when the decoded image is exact), as the project's JSON files write them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_finite(result), indent=2, sort_keys=False, default=str,
                         allow_nan=False))
        return
    for key, value in result.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        print(f"{key}: {value}")


# Options of the main parser itself; any other leading option belongs to the GUI.
MAIN_OPTIONS = ("--json", "-h", "--help")



def wants_gui(argv: list[str], commands: set[str]) -> bool:
    """The GUI is the default job: no arguments, ``gui``, a GUI option (``--screenshot``,
    ``--image``, ``--model`` …) or a file to open (``mspviewer photo.png``)."""
    if not argv or argv[0] == "gui":
        return True
    first = argv[0]
    if first.startswith("-"):
        return first.split("=")[0] not in MAIN_OPTIONS
    return first not in commands and os.path.exists(first)


def missing_file(argv: list[str], commands: set[str]) -> str | None:
    """The first argument when it is no command but names a file for the viewer that does
    not exist (an image's or .msp suffix, or a path separator): ``mspviewer photo.png`` with
    a typo is told so, not offered the list of commands."""
    if not argv or argv[0].startswith("-") or argv[0] in commands:
        return None
    first = argv[0]
    separators = [s for s in (os.sep, os.altsep, "/") if s]
    looks_like_file = (os.path.splitext(first)[1].lower() in IMAGE_SUFFIXES + (".msp",)
                       or any(s in first for s in separators))
    return first if looks_like_file and not os.path.exists(first) else None


class _Unparsed(Exception):
    pass


def misplaced_command(argv: list[str], commands: set[str]) -> str | None:
    """A command named after the viewer's options (``mspviewer --threads 1 info x.msp``):
    the viewer's parser takes it for the file to open, but the options belong after it.
    Else None: an option's value (``--panel replay``), an existing file of that name, or
    arguments the viewer's parser refuses anyway (it then says why)."""
    if not argv or not argv[0].startswith("-") or argv[0].split("=")[0] in MAIN_OPTIONS:
        return None
    from mspviewer.gui.app import build_parser as viewer_parser  # argparse only, no Qt

    parser = viewer_parser()

    def refuse(message: str):
        raise _Unparsed(message)

    parser.error = refuse  # quiet: this is a look ahead, not the viewer's own parse
    try:
        known, _ = parser.parse_known_args(argv)
    except _Unparsed:
        return None
    path = known.path
    if path in commands and path != "gui" and not os.path.exists(path):
        return path
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
    except MSPViewerError as error:  # e.g. a broken $MSPVIEWER_PROFILES file
        print(f"mspviewer: error: {error}", file=sys.stderr)
        return 2
    misplaced = misplaced_command(argv, parser.get_default("command_names"))
    if misplaced is not None:
        print(f"mspviewer: error: {misplaced!r} is a command: put its options after it "
              f"(mspviewer [--json] {misplaced} … {argv[0]} …)", file=sys.stderr)
        return 2
    if wants_gui(argv, parser.get_default("command_names")):
        from mspviewer.gui.app import main as gui_main  # imported only when needed

        return gui_main(argv[1:] if argv and argv[0] == "gui" else argv)
    missing = missing_file(argv, parser.get_default("command_names"))
    if missing is not None:
        print(f"mspviewer: error: no such file: {missing}", file=sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:  # only main options, e.g. `mspviewer --json`
        print("mspviewer: error: a command is needed after the options (see 'mspviewer "
              "--help')", file=sys.stderr)
        return 2
    if unknown:  # said by the command's parser ("mspviewer encode: error: …"), with its usage
        args.command_parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    # Pillow warns about what it tolerates in a damaged file ("Corrupt EXIF data"); the
    # command line's promise is one line per error, which load_image's error already is.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    from mspviewer.cli.common import apply_threads

    apply_threads(getattr(args, "threads", None))
    try:
        result = args.func(args)
    except MSPViewerError as error:
        print(f"mspviewer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system said no (permissions, a full disk, …)
        where = f": {error.filename}" if error.filename else ""
        print(f"mspviewer {args.command}: error: {error.strerror or error}{where}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mspviewer {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: still one line, unless debugging
        if os.environ.get("MSPVIEWER_DEBUG"):
            raise
        print(f"mspviewer {args.command}: internal error: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 3
    if result is not None:
        try:
            _print_result(result, args.json)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader (e.g. `| head`) has gone: not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
