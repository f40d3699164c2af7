"""Regenerate docs/cli.md from the ``voca`` parser: ``python docs/gen_cli.py``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("COLUMNS", "100")

from voca_data.cli import COMMANDS, build_parser  # noqa: E402

HEADER = """# Command line

`voca` is installed with the package (`pip install -e '.[extract,models]'`). Every command has
`--help`; this page is generated from those (`python docs/gen_cli.py`), so it is always what the
code accepts. Global options go before the command: `voca -v extract ...` (more logging),
`voca -q ...` (warnings only). A user error (missing file, bad manifest, wrong dims) prints one
line `voca COMMAND: error: ...` and exits 2; `voca check` exits 1 when it finds problems.

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
    text = HEADER + "\n".join(rows) + "\n\n" + "\n".join(sections)
    Path(__file__).with_name("cli.md").write_text(text)


if __name__ == "__main__":
    main()
