"""The ``voca`` command line as a user meets it: ``--version``, global options after the command,
progress output in a log, ``--json``, help without torch, one-line errors with exit codes.

Most tests run ``python -m voca_data.cli`` in a subprocess with stderr going to a pipe (not a
terminal), so they see exactly what a user's log file would hold."""

from __future__ import annotations

import importlib.metadata
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voca_data.cli import EXIT_CODES, EXIT_FAILED, EXIT_USAGE, main
from voca_data.progress import PLAIN_INTERVAL, tqdm
from voca_data.testing import random_store

ROOT = Path(__file__).resolve().parents[1]

#: the keys of ``voca info --json`` (docs/cli.md documents each one)
INFO_KEYS = {"info_format", "store", "format", "size_bytes", "schema", "voca_version", "created",
             "complete", "videos", "dataset", "fps", "frames", "dims", "block_size", "encoders",
             "statistics_split", "splits", "failed", "history", "problems"}
CHECK_KEYS = {"check_format", "store", "ok", "n_problems", "problems"}


def voca(*args: object, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voca_data.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    # 20 blocks, so `voca check` updates its bar 20 times; one failed video
    return random_store(tmp_path_factory.mktemp("cli") / "s.zarr", n_videos=40, block_size=2,
                        fail=[5], seed=1)


def test_version_before_and_after_the_command():
    expected = f"voca {importlib.metadata.version('voca')}\n"
    for argv in (["--version"], ["info", "--version"]):
        r = voca(*argv)
        assert (r.returncode, r.stdout) == (0, expected), r.stderr


def test_global_options_after_the_command_and_quiet_has_no_bars(store):
    loud = voca("check", store)
    assert loud.returncode == 0 and loud.stdout == f"{store}: ok\n"
    assert "check:" in loud.stderr
    for argv in (["check", store, "-q"], ["-q", "check", store], ["check", store, "--no-progress", "-q"]):
        r = voca(*argv)
        assert (r.returncode, r.stdout, r.stderr) == (0, loud.stdout, ""), argv
    r = voca("--no-progress", "check", store)
    assert r.returncode == 0 and "check:" not in r.stderr
    r = voca("info", store, "-q", "-v")  # both spellings parse after the command
    assert r.returncode == 0 and "complete  yes" in r.stdout


def test_output_piped_into_a_reader_that_stops_is_quiet(store):
    """`voca info STORE | head -1`: the reader closes the pipe before voca writes; voca ends
    quietly with exit 0 instead of "error: [Errno 32] Broken pipe" and exit 3."""
    proc = subprocess.Popen([sys.executable, "-m", "voca_data.cli", "info", str(store)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the interpreter has started and the store is read
    _, err = proc.communicate(timeout=300)
    assert (proc.returncode, err.decode()) == (0, "")


def test_progress_in_a_log_is_a_few_whole_lines(store):
    t0 = time.perf_counter()
    r = voca("check", store)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    bars = [line for line in r.stderr.splitlines() if line.startswith("check:")]
    # the first state, the final state, and at most one line per PLAIN_INTERVAL in between
    assert 2 <= len(bars) <= 2 + math.ceil(elapsed / PLAIN_INTERVAL)
    assert bars[-1].startswith("check: 100%") and "20/20" in bars[-1]


def test_progress_helper_plain_off_terminal_live_on_terminal():
    log = io.StringIO()
    for _ in tqdm(range(100_000), desc="blocks", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert 2 <= len(lines) <= 3 and "100000/100000" in lines[-1] and "\r" not in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    for _ in tqdm(range(3), desc="blocks", file=term, mininterval=0):
        pass
    assert term.getvalue().count("\r") >= 3  # redrawn in place

    silent = io.StringIO()
    for _ in tqdm(range(3), desc="blocks", file=silent, disable=True):
        pass
    assert silent.getvalue() == ""


def test_help_does_not_import_torch():
    code = """
import json, sys
from voca_data.cli import main
for argv in (["--help"], ["info", "--help"], ["check", "--help"], ["synth", "--help"],
             ["extract", "--help"], ["evaluate", "--help"], ["infer", "--help"],
             ["benchmark", "--help"], ["train", "--help"], ["convert", "--help"],
             ["publish", "--help"], ["preview", "--help"], ["import-npz", "--help"],
             ["finalize", "--help"]):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, (argv, exc.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "open_clip", "torchaudio"))
print(json.dumps(heavy))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == []
    top = voca("--help")
    for name in ("info", "check", "extract", "train", "evaluate", "infer", "benchmark", "synth"):
        assert f"    {name} " in top.stdout


def test_info_json_has_the_documented_keys(store):
    r = voca("info", store, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert set(info) == INFO_KEYS
    assert info["videos"] == {"total": 40, "pending": 0, "ok": 39, "failed": 1}
    assert info["complete"] is True and info["format"] == "zarr" and info["block_size"] == 2
    assert sum(row["total"] for row in info["splits"]) == 40
    assert info["encoders"]["visual_encoder"]["pretrained"] is False
    doc = (ROOT / "docs" / "cli.md").read_text()
    for key in INFO_KEYS | CHECK_KEYS:
        assert f"`{key}`" in doc, f"docs/cli.md does not document the --json key {key}"


def test_check_json_sound_and_broken(tmp_path):
    import zarr

    path = random_store(tmp_path / "s.zarr", n_videos=6, block_size=2, seed=1)
    r = voca("check", path, "--json", "-q")
    assert r.returncode == 0 and json.loads(r.stdout) == {
        "check_format": 1, "store": str(path), "ok": True, "n_problems": 0, "problems": []}
    visual = zarr.open_array(str(path / "visual"), mode="r+")
    visual[0, 3, :] = np.nan  # inside video 0's frames
    r = voca("check", path, "--json", "-q")
    report = json.loads(r.stdout)
    assert r.returncode == 1 and set(report) == CHECK_KEYS
    assert report["ok"] is False and report["n_problems"] == len(report["problems"]) >= 1
    assert any("visual" in p for p in report["problems"])


def test_user_error_is_one_line_and_the_traceback_needs_v(tmp_path):
    missing = tmp_path / "missing.zarr"
    r = voca("info", missing)
    assert r.returncode == EXIT_USAGE and r.stdout == ""
    expected = f"voca info: error: {missing}: no such store (expected a .zarr directory or an .h5 file)"
    assert r.stderr.splitlines() == [expected]
    r = voca("info", missing, "-v")
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.splitlines()[-1].startswith("voca info: error:")
    doc = (ROOT / "docs" / "cli.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in doc, f"docs/cli.md does not document exit code {code}"


def test_failed_block_task_is_one_line_exit_3(tmp_path):
    import zarr

    from voca_data.synth import make_dataset

    root = make_dataset(tmp_path / "ds", layout="folder", videos=2, seed=1)
    out = tmp_path / "s.zarr"
    argv = ["extract", "folder", root, out, "--visual-arch", "voca-tiny", "--detector", "center",
            "--block-size", "1", "--device", "cpu", "--scheduler", "threads"]
    assert main([*map(str, argv), "-q"]) == 0
    # the disk fails under block 1: its shard directory became a file, and the video is pending
    zarr.open_array(str(out / "status"), mode="r+")[1] = 0
    shard = out / "visual" / "c" / "1"
    assert shard.is_dir()
    import shutil

    shutil.rmtree(shard)
    shard.write_text("not a directory")
    r = voca(*argv)
    assert r.returncode == EXIT_FAILED, r.stderr
    assert "Traceback" not in r.stderr and "Compute Failed" not in r.stderr
    last = r.stderr.splitlines()[-1]
    assert last.startswith("voca extract: error: 1 block task(s) failed")
    assert "run the same command again to resume" in last


def test_diverged_training_is_one_line_exit_3(tmp_path, capsys):
    path = random_store(tmp_path / "s.zarr", n_videos=12, block_size=4)
    code = main(["train", "lstm", str(path), "--out", str(tmp_path / "run"), "--lr", "1e30",
                 "--epochs", "2", "--hidden", "8", "--num-layers", "1", "--window", "64",
                 "--batch-size", "8", "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert "Traceback" not in err
    # warnings (torch's about the NaN loss) are one log line each, like the error
    for line in err.strip().splitlines():
        assert line.startswith(("WARNING ", "ERROR ", "voca train: error: ")), line
    last = err.strip().splitlines()[-1]
    assert last.startswith("voca train: error: epoch ") and "the loss became" in last


def test_every_command_takes_the_global_options():
    import argparse

    from voca_data.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    for name, p in sub.choices.items():
        options = set(p._option_string_actions)
        assert {"-v", "-q", "--no-progress", "--version"} <= options, name
    args = parser.parse_args(["evaluate", "run", "s.zarr", "-q"])
    assert args.command_quiet is True
