"""The ``voca`` command line: one module per command, each with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``, found through the ``voca.commands`` entry-point
group (:data:`COMMAND_GROUP`). voca registers its own (``voca_data.commands.*``,
``voca_models.commands.*``) in pyproject.toml; another package adds a command the same way, without
editing voca (docs/cli.md, "Adding a command")::

    [project.entry-points."voca.commands"]
    my-command = "my_package.voca_command"

Only the command being run is imported and given its options; the others are listed with the
``HELP`` string read from their source, without importing them, so ``voca --help`` and
``voca info --help`` never import torch; commands keep heavy imports (torch, av, open_clip) inside
``run``. Global options (``-v``, ``-q``, ``--no-progress``, ``--version``) go before or after the
command. A failure prints one line ``voca COMMAND: error: ...`` and exits with one of
:data:`EXIT_CODES` (the traceback only with ``-v``).

>>> from voca_data.cli import main
>>> main(["info", "lavdf.zarr", "--json"])          # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .lock import LockError

log = logging.getLogger("voca")

#: the entry-point group of the ``voca`` commands: NAME = "package.module"
COMMAND_GROUP = "voca.commands"


def installed_commands() -> dict[str, str]:
    """Every installed command: name -> module (or ``module:object``), from the
    :data:`COMMAND_GROUP` entry points, in the order of the installed metadata (setuptools writes
    a package's entry points in name order). The first package found wins a name.

    >>> installed_commands()["info"]
    'voca_data.commands.info'
    """
    from importlib.metadata import entry_points

    found: dict[str, str] = {}
    for ep in entry_points(group=COMMAND_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def __getattr__(name: str):
    if name == "COMMANDS":  # read at each access, so a package installed meanwhile is seen
        return installed_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

#: every exit code of ``voca`` and what it means (docs/cli.md lists them)
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_PROBLEMS: "`voca check` found problems in the store (each one printed)",
    EXIT_USAGE: "bad arguments or input you can fix: a missing file, an invalid manifest, store, "
                "checkpoint or option value (argparse's usage errors exit 2 as well)",
    EXIT_FAILED: "the run failed part-way: a failed block task in `voca extract` (its videos stay "
                 "pending: run the same command again to resume), a diverged training "
                 "(FloatingPointError: lower the learning rate), an I/O or out-of-memory error",
    EXIT_INTERNAL: "an unexpected error, most likely a bug in voca: run again with -v and report "
                   "the traceback",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

# errors a user can fix from the message alone
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError,
                                                 FileExistsError, NotADirectoryError,
                                                 IsADirectoryError, PermissionError,
                                                 LockError)  # a second writer: wait, or another path
# a run that failed part-way, for a reason outside voca's control or one the message names
_RUN_FAILURES: tuple[type[BaseException], ...] = (RuntimeError, FloatingPointError, OSError,
                                                  MemoryError)


def version() -> str:
    """The installed voca version (``voca --version``).

    >>> version()                                      # doctest: +SKIP
    '0.1.0'
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("voca")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        return "unknown (not installed)"


def _module_help(target: str) -> str | None:
    """A command module's ``HELP`` read from its source, without importing it (importing a
    ``voca_models`` command runs ``voca_models/__init__``, which imports torch); ``None`` when
    the module is not installed. ``target`` is an entry point's value (``module[:object]``)."""
    module_name = target.partition(":")[0].strip()
    top, _, rest = module_name.partition(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level package or module: found, not imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if rest:
        if not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations)), *rest.split(".")).with_suffix(".py")
    elif spec.origin and spec.origin.endswith(".py"):
        path = Path(spec.origin)
    else:
        return ""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "HELP"
                                                 for t in node.targets)):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return ""
            return value if isinstance(value, str) else ""
    return ""


def _load_command(target: str):
    """The object an entry point's value names: a module, or ``module:object``, with ``HELP``,
    ``add_arguments`` and ``run``."""
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    missing = [n for n in ("HELP", "add_arguments", "run") if not hasattr(obj, n)]
    if missing:
        raise TypeError(f"the voca command {target!r} (entry point group {COMMAND_GROUP}) lacks "
                        f"{', '.join(missing)}: a command module defines HELP, "
                        "add_arguments(parser) and run(args) (docs/cli.md)")
    return obj


def _unavailable(name: str, exc: BaseException):
    def run(args: argparse.Namespace) -> int:
        raise ValueError(f"unavailable: {exc} (install the matching extra, e.g. "
                         "pip install 'voca[extract,models]')")
    return run


def _add_global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """-v/-q/--no-progress/--version on the main parser (``top``) and on every command, so they
    work before or after the command. Different ``dest`` names keep a command's defaults from
    overwriting what was given before it; :func:`_merge_global_options` combines them."""
    where = "" if top else "command_"
    g = parser.add_argument_group("global options")
    g.add_argument("-v", "--verbose", action="count", default=0, dest=f"{where}verbose",
                   help="more logging and tracebacks of errors (-vv: debug)")
    g.add_argument("-q", "--quiet", action="store_true", dest=f"{where}quiet",
                   help="warnings and errors only, no progress bars")
    if top or "--no-progress" not in parser._option_string_actions:
        g.add_argument("--no-progress", action="store_true",
                       dest="global_no_progress" if top else "no_progress",
                       help="no progress bars (on a terminal a live bar; in a log one line "
                            "every 10 s)")
    g.add_argument("--version", action="version", version=f"voca {version()}",
                   help="print the voca version and exit")


def _merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    args.verbose = int(args.verbose) + int(getattr(args, "command_verbose", 0) or 0)
    args.quiet = bool(args.quiet or getattr(args, "command_quiet", False))
    no_progress = bool(getattr(args, "global_no_progress", False) or getattr(args, "no_progress", False))
    if getattr(args, "t__progress", None) is False:  # voca train's own --no-progress
        no_progress = True
    args.no_progress = no_progress or args.quiet
    return args


def build_parser(commands: Iterable[str] | None = None,
                 installed: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The ``voca`` parser: every command listed with its one-line help; the commands in
    ``commands`` (default: all) also get their options, which may import heavy modules
    (``voca train``'s options come from the model configs, which import torch). ``installed``:
    name -> module of the commands (default :func:`installed_commands`).

    >>> build_parser(["info"]).parse_args(["info", "s.zarr", "-q"]).command_quiet
    True
    """
    installed = installed_commands() if installed is None else dict(installed)
    selected = set(installed) if commands is None else set(commands)
    parser = argparse.ArgumentParser(
        prog="voca", description="Audio-visual deepfake features in one Zarr store, and models on it.",
        epilog="Exit codes: " + "; ".join(f"{code} {text.split(':')[0].split(' (')[0]}"
                                          for code, text in EXIT_CODES.items()) + ".")
    _add_global_options(parser, top=True)
    if not installed:
        parser.description += (f" No command is installed (none in the {COMMAND_GROUP!r} entry "
                               "points): install voca, e.g. pip install -e '.[extract,models]'.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in installed.items():
        if name not in selected:
            help_text = _module_help(module_name)
            if help_text is not None:
                sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            module = _load_command(module_name)
        except (ImportError, AttributeError, TypeError) as exc:
            missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
            if missing and (missing == module_name or module_name.startswith(missing + ".")):
                continue  # command not installed (e.g. voca_models absent)
            # a broken optional dependency must not take the other commands down with it
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            _add_global_options(p, top=False)
            p.set_defaults(_run=_unavailable(name, exc))
            continue
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        _add_global_options(p, top=False)
        p.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str], installed: Iterable[str]) -> str | None:
    """The command named in ``argv``: the first word that is not an option (the global options
    before it take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in installed else None
    return None


def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    text = " ".join(line.strip() for line in str(msg).splitlines() if line.strip())
    if _CHECKSUM_FAILED in text:  # zarr's crc32c codec names no file
        text += (": a chunk of the store is corrupt (its crc32c checksum fails); voca check STORE "
                 "names the array, videos and file")
    return text or type(exc).__name__


#: zarr's crc32c codec error: a corrupt chunk is bad input (exit 2), not a failed run
_CHECKSUM_FAILED = "computed checksum do not match"


def _warning_logger(verbose: int):
    """``warnings.showwarning`` for a command: a warning is one log line ``WARNING voca:
    Category: message`` (with ``-v``, where it was raised), not Python's two-line report that
    quotes the source line."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        where = f" ({filename}:{lineno})" if verbose else ""
        log.warning("%s: %s%s", category.__name__, " ".join(str(message).split()), where)
    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``voca`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code
    (:data:`EXIT_CODES`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    installed = installed_commands()
    command = _command_in(argv, installed)
    parser = build_parser([command] if command else [], installed)
    args = _merge_global_options(parser.parse_args(argv))
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        for noisy in ("distributed", "numcodecs", "urllib3", "h5py", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # dask.distributed sets its loggers from its config when it is imported (later, inside the
        # command, and in worker processes): INFO chatter off, and no "Compute Failed" report with
        # a traceback per failed task (voca logs one line per failed block and exits 3; -v shows it)
        os.environ.setdefault("DASK_LOGGING",
                              "{'distributed': 'warning', 'distributed.worker': 'critical'}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_logger(args.verbose)
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"voca {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _report(args, exc)
        return 0  # the reader of our output went away (`voca info | head`): nothing to report
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line and an exit code
        return _report(args, exc)


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone; if so it is pointed at
    ``/dev/null``, so that the interpreter's final flush stays quiet too."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return False
    if closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
    return closed


def _report(args: argparse.Namespace, exc: BaseException) -> int:
    """Print ``exc`` as one line ``voca COMMAND: error: ...``; return its exit code."""
    if isinstance(exc, _USER_ERRORS) or _CHECKSUM_FAILED in str(exc):
        code, line = EXIT_USAGE, _one_line(exc)
    elif isinstance(exc, _RUN_FAILURES):
        code, line = EXIT_FAILED, _one_line(exc)
    else:
        code = EXIT_INTERNAL
        line = (f"internal error {type(exc).__name__}: {_one_line(exc)} (most likely a bug in "
                "voca: run again with -v and report the traceback)")
    if args.verbose:
        traceback.print_exc(file=sys.stderr)
    elif code == EXIT_FAILED:
        line += " [-v shows the traceback]"
    print(f"voca {args.command}: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
