"""Regenerate docs/cli.md from the ``voca`` parser: ``python docs/gen_cli.py``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("COLUMNS", "100")

from voca_data.cli import COMMANDS, EXIT_CODES, build_parser  # noqa: E402

HEADER = """# Command line

`voca` is installed with the package (`pip install -e '.[extract,models]'`). Every command has
`--help`; this page is generated from those (`python docs/gen_cli.py`), so it is always what the
code accepts.

Global options go before or after the command (`voca -q info s.zarr` = `voca info s.zarr -q`):

| option | effect |
| --- | --- |
| `-v`, `--verbose` | more logging, and the traceback of an error (`-vv`: debug logging) |
| `-q`, `--quiet` | warnings and errors only, and no progress bars |
| `--no-progress` | no progress bars (every command accepts it) |
| `--version` | print `voca VERSION` and exit |

Progress bars go to stderr. On a terminal they redraw in place; when stderr is a file or a pipe
(`make demo > log 2>&1`, CI) each bar writes whole lines: its first state, at most one line every
10 seconds, and its final state.

`voca --help` and `voca COMMAND --help` import only the command asked for, never torch (`voca
train --help` builds its flags from the torch-free `voca_models.configs`); a test checks this.
With the commands found through entry points, CPU time (user + system) of the process, median of
5 runs on 2026-11-30 02:56 UTC, load average 7.6 on this 2-core machine shared with four other
engineers (wall times 2-2.5x these): `voca --help` 0.09 s, `voca info --help` 0.10 s, `voca
extract --help` 0.24 s, `voca train --help` 0.11 s, `voca evaluate --help` 0.10 s. Reading the
`voca.commands` entry points costs 0.012 s of it (`importlib.metadata.entry_points`, measured in
the same run). Before the entry points (01:57 UTC, load 0.3, wall): `voca --help` 0.09 s, `voca
extract --help` 0.19 s.

## Commands and sources come from entry points

`voca` finds its commands through the `voca.commands` entry-point group, and `voca extract` its
sources through `voca.sources` (docs/datasets.md, "Adding a source"). voca registers its own in
its pyproject.toml (`info = "voca_data.commands.info"`, ..., `train = "voca_models.commands.train"`),
so the low-level package does not list the high-level one; the list below is in name order. Another
package adds a command without editing voca:

```toml
# my_package's pyproject.toml
[project.entry-points."voca.commands"]
hello = "my_package.hello"        # a module, or "module:object"
```

```python
# my_package/hello.py
import argparse

HELP = "say hello"                # the one line of `voca --help`: a string literal, read
                                  # from the source without importing the module

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")

def run(args: argparse.Namespace) -> int:
    from my_package.heavy import greet   # heavy imports inside run (or add_arguments)
    print(greet(args.name))
    return 0                             # the exit code
```

After `pip install -e .` of that package, `voca hello world` works and `voca --help` lists it;
`voca` gives it the global options and its error handling (exit codes below). Only the command
being run is imported; a command whose module cannot be imported is listed as unavailable and the
others keep working. `voca_data.cli.installed_commands()` returns name -> module.
`tests/test_entry_points.py` installs such a package (a dist-info folder on `PYTHONPATH`) and runs
its command and source.

## Errors and exit codes

A failure prints one line on stderr, `voca COMMAND: error: WHAT WENT WRONG AND WHAT TO DO`, and
exits with a code below; `-v` adds the traceback. Argument errors are argparse's usage line plus
`voca COMMAND: error: ...`, exit 2. Output piped into a reader that stops early
(`voca info lavdf.zarr | head`) ends quietly with exit 0, as in other Unix tools.

| code | meaning |
| --- | --- |
@EXIT_CODES@

## JSON output

`voca info STORE --json` prints one JSON object (`info_format` 1; keys are only ever added, a
change of meaning bumps `info_format`):

| key | value |
| --- | --- |
| `info_format` | 1 |
| `store` | the path or URL given |
| `format` | `zarr` or `hdf5` |
| `size_bytes` | bytes on disk (null where a remote store cannot list its files) |
| `schema` | the store's `voca_schema` |
| `voca_version` | voca version that created the store |
| `created` | creation time (ISO 8601) |
| `complete` | true once finalized (no video pending) |
| `videos` | `{"total", "pending", "ok", "failed"}` counts |
| `dataset` | dataset name from the provenance |
| `fps` | frames per second of the store timeline |
| `frames` | `{"ok_total", "min", "max", "dimension"}`: frames in ok videos, per-video min/max, the padded `frame` dimension |
| `dims` | `{"visual", "audio", "segment"}` sizes |
| `block_size` | videos per block / shard |
| `encoders` | `{"visual_encoder" / "audio_encoder" / "face_detector": {"name", "architecture", "pretrained"}}` |
| `statistics_split` | split the statistics were computed on, or null before finalize |
| `splits` | one object per split and label: `{"split", "label", "pending", "ok", "failed", "total", "frames_ok"}` |
| `failed` | `[{"video_id", "error"}]`: every failed video with its reason |
| `history` | `[{"action", "time"}]`, oldest first |
| `problems` | integrity problems of the quick check (local stores), one line each; the exit code is 1 when there are any |

`voca check STORE --json` prints `{"check_format": 1, "store", "ok", "n_problems", "problems"}`
(`problems`: the same one-line messages as the text output) and keeps the exit code (1 when
`ok` is false):

| key | value |
| --- | --- |
| `check_format` | 1 |
| `store` | the path given |
| `ok` | true when no problem was found |
| `n_problems` | number of problems |
| `problems` | list of strings, each naming the variable and the video |

## Commands

| command | what it does |
| --- | --- |
"""


def main() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    rows, sections = [], []
    for name in COMMANDS:
        if name not in sub.choices:
            continue
        p = sub.choices[name]
        help_line = next((c.help for c in sub._choices_actions if c.dest == name), "")
        rows.append(f"| [`voca {name}`](#voca-{name}) | {help_line} |")
        sections.append(f"## voca {name}\n\n```\n{p.format_help().rstrip()}\n```\n")
    codes = "\n".join(f"| {code} | {text} |" for code, text in EXIT_CODES.items())
    text = HEADER.replace("@EXIT_CODES@", codes) + "\n".join(rows) + "\n\n" + "\n".join(sections)
    Path(__file__).with_name("cli.md").write_text(text)


if __name__ == "__main__":
    main()
