"""The ``voca`` command line: one module per command (``voca_data/commands/*``,
``voca_models/commands/*``), each with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

Commands keep heavy imports (torch, av, open_clip) inside ``run`` so ``voca --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from .lock import LockError

log = logging.getLogger("voca")

COMMANDS: dict[str, str] = {
    "info": "voca_data.commands.info",
    "check": "voca_data.commands.check",
    "convert": "voca_data.commands.convert",
    "import-npz": "voca_data.commands.import_npz",
    "synth": "voca_data.commands.synth",
    "extract": "voca_data.commands.extract",
    "finalize": "voca_data.commands.finalize",
    "preview": "voca_data.commands.preview",
    "publish": "voca_data.commands.publish",
    "train": "voca_models.commands.train",
    "evaluate": "voca_models.commands.evaluate",
    "infer": "voca_models.commands.infer",
    "benchmark": "voca_models.commands.benchmark",
}

# errors a user can fix: printed as one line, exit code 2 (no traceback)
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, FileExistsError,
                                                 PermissionError, KeyError,
                                                 OSError,  # disk full, I/O errors: one line
                                                 LockError)  # a second writer


def _unavailable(name: str, exc: BaseException):
    def run(args: argparse.Namespace) -> int:
        print(f"voca {name}: unavailable: {exc} (install the matching extra, e.g. "
              "pip install 'voca[extract,models]')", file=sys.stderr)
        return 2
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voca", description="Audio-visual deepfake features in one Zarr store, and models on it.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = getattr(exc, "name", None)
            if missing and (missing == module_name or module_name.startswith(missing + ".")):
                continue  # command not installed (e.g. voca_models absent)
            # a broken optional dependency must not take the other commands down with it
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_run=_unavailable(name, exc))
            continue
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        for noisy in ("distributed", "numcodecs", "urllib3", "h5py", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except _USER_ERRORS as exc:
        if args.verbose > 1:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if "computed checksum do not match" in str(msg):  # zarr's crc32c codec names no file
            msg = (f"{msg}: a chunk of the store is corrupt (its crc32c checksum fails); "
                   "voca check STORE names the array, videos and file")
        print(f"voca {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"voca {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
