"""Commands and sources are found through the ``voca.commands`` / ``voca.sources`` entry-point
groups: a third-party package (here a throwaway one, installed as a dist-info folder on the
PYTHONPATH of a subprocess) adds ``voca NEWCMD`` and ``voca extract NEWSOURCE`` without editing
voca."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_COMMAND = '''
"""``voca hello NAME``: a third-party command."""
import argparse

HELP = "say hello (a third-party command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")


def run(args: argparse.Namespace) -> int:
    print(f"hello {args.name}")
    return 0
'''

# a layout voca does not know: list.tsv with "PATH<TAB>LABEL" lines, every video in split test
_SOURCE = '''
from pathlib import Path

from voca_data.records import VideoRecord
from voca_data.sources.base import Candidate, finish


def load_tsv(root, *, splits=None, start=0, count=None, max_videos=None, skip_invalid=False,
             check_files=True, list_name="list.tsv"):
    candidates = []
    for i, line in enumerate((Path(root) / list_name).read_text().splitlines()):
        path, label = line.split("\\t")
        candidates.append(Candidate(i, path, VideoRecord(path[:-4], path, "test", int(label)),
                                    where=f"{list_name} line {i + 1}"))
    return finish("tsv", root, candidates, skip_invalid=skip_invalid, check_files=check_files,
                  splits=splits, start=start, count=count, max_videos=max_videos)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """A package ``voca_plugin_demo`` with one command and one source, "installed" as a dist-info
    folder next to it (what pip writes), so importlib.metadata finds its entry points."""
    site = tmp_path_factory.mktemp("site")
    pkg = site / "voca_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "hello.py").write_text(_COMMAND)
    (pkg / "tsv.py").write_text(_SOURCE)
    info = site / "voca_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voca-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [voca.commands]
        hello = voca_plugin_demo.hello

        [voca.sources]
        tsv = voca_plugin_demo.tsv:load_tsv
        """))
    return site


def _voca(site: Path, *args: object, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site),
                                                                     os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "voca_data.cli", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_voca_lists_and_runs_a_third_party_command(plugin: Path):
    top = _voca(plugin, "--help")
    assert top.returncode == 0, top.stderr
    assert "    hello " in top.stdout and "say hello (a third-party command)" in top.stdout
    assert "    extract " in top.stdout  # voca's own commands are still there
    r = _voca(plugin, "hello", "world", "-q")
    assert (r.returncode, r.stdout) == (0, "hello world\n"), r.stderr
    # without the package the command does not exist
    r = _voca(Path("/nonexistent"), "hello", "world")
    assert r.returncode == 2 and "invalid choice: 'hello'" in r.stderr


def test_voca_extract_takes_a_third_party_source(plugin: Path, tmp_path: Path):
    import zarr

    from voca_data.synth import make_dataset

    root = make_dataset(tmp_path / "ds", layout="folder", videos=2, seed=3)
    clips = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    (root / "clips.tsv").write_text("".join(f"{c}\t{int('/fake/' in c)}\n" for c in clips))
    help_text = _voca(plugin, "extract", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "{ffdv,folder,lavdf,tsv}" in help_text.stdout
    out = tmp_path / "s.zarr"
    r = _voca(plugin, "extract", "tsv", root, out, "--source-option", "list_name=clips.tsv",
              "--visual-arch", "voca-tiny", "--detector", "center", "--device", "cpu",
              "--cpu-workers", "0", "--no-progress", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("2 ok, 0 failed, 0 pending; complete=True")
    ids = zarr.open_array(str(out / "video_id"), mode="r")[:]
    assert sorted(ids.tolist()) == sorted(c[:-4] for c in clips)
    dataset = json.loads(json.dumps(dict(zarr.open_group(str(out), mode="r").attrs)["dataset"]))
    assert dataset["name"] == "tsv"
    # an option the source does not take is refused and names the sources that take it
    r = _voca(plugin, "extract", "tsv", root, tmp_path / "t.zarr", "--metadata", "m.json")
    assert r.returncode == 2
    assert "voca extract: error: --metadata does not apply to source 'tsv' (only lavdf)" in r.stderr
    assert not (tmp_path / "t.zarr").exists()


def test_sources_come_from_the_entry_points():
    from importlib.metadata import entry_points

    from voca_data.cli import installed_commands
    from voca_data.sources import SOURCE_GROUP, available

    declared = {ep.name for ep in entry_points(group=SOURCE_GROUP)}
    assert {"lavdf", "ffdv", "folder"} <= declared and declared <= set(available())
    assert installed_commands()["train"] == "voca_models.commands.train"
