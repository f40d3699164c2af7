"""The docs stay true: every command is documented with every option it accepts, and the
README opens with the two commands."""

import argparse
from pathlib import Path

from voca_data.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_cli_doc_lists_every_command_and_option():
    text = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS), "a command failed to import"
    for name, p in sub.choices.items():
        assert f"## voca {name}" in text, f"docs/cli.md lacks voca {name}: run python docs/gen_cli.py"
        for action in p._actions:
            for opt in action.option_strings:
                if opt.startswith("--"):
                    assert opt in text, f"docs/cli.md lacks {opt} of voca {name}: run python docs/gen_cli.py"


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = "\n".join(lines[:8])
    assert "make demo" in block and "make test" in block


def test_docs_exist():
    for name in ("architecture", "schema", "store", "datasets", "extraction", "models", "evaluation", "benchmarks", "cli"):
        assert (ROOT / "docs" / f"{name}.md").stat().st_size > 500, name
