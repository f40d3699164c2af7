"""Issue 10, points 5 and 8: bad metadata refused before anything is allocated, one-line errors,
import-npz float16 overflow, preview refusing paths outside the dataset root (real files)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from voca_data import cli
from voca_data.store import schema
from voca_data.records import ManifestError
from voca_data.sources import load

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


def test_defect8_csv_field_over_the_limit(tmp_path):
    root = shutil.copytree(FIXTURES / "ffdv", tmp_path / "ffdv")
    with open(root / "trainset_label.txt", "a") as fh:
        fh.write("x" * 200_000 + ",1\n")
    with pytest.raises(ManifestError, match=r"trainset_label.txt line \d+: field larger than field limit"):
        load("ffdv", root)


def test_defect8_sidecar_period_1e308_and_json_integer_10_400(tmp_path):
    root = shutil.copytree(FIXTURES / "folder", tmp_path / "folder")
    (root / "train" / "fake" / "b.json").write_text('{"fake_periods": [[0.5, 1e308]]}')
    with pytest.raises(ManifestError, match=r"fake period 0 \[0.5, 1e\+308\] lies beyond 86400 s"):
        load("folder", root)
    (root / "train" / "fake" / "b.json").write_text('{"fake_periods": [[0.5, 1%s]]}' % ("0" * 400))
    with pytest.raises(ManifestError, match=r"must be \[start, end\] in seconds, not \[0.5, 1000"):
        load("folder", root)


def test_defect5_metadata_sizes_refused_before_allocation(tmp_path):
    from voca_data.synth import make_dataset

    root = make_dataset(tmp_path / "lavdf", layout="lavdf", videos=3, seed=0, size=(64, 64),
                        duration_range=(1.0, 1.2))
    items = json.loads((root / "metadata.min.json").read_text())
    for frames in (10**9, 10**30):
        items[0]["video_frames"] = frames
        (root / "metadata.min.json").write_text(json.dumps(items))
        with pytest.raises(ManifestError, match="video_frames must be an integer > 0 and at most 2160000"):
            load("lavdf", root)
    text = json.dumps(items).replace(str(10**30), "1" + "0" * 5000, 1)
    (root / "metadata.min.json").write_text(text)
    with pytest.raises(ManifestError, match="cannot be read as JSON: Exceeds the limit"):
        load("lavdf", root)


def test_defect8_import_npz_float16_overflow_is_a_failure_not_inf(tmp_path):
    from npz_fixture import make_npz_tree

    from voca_data.sources.npz import import_npz

    fx = make_npz_tree(tmp_path / "npz", n_videos=6, visual_dim=8, audio_dim=4)
    vid = fx.records[1]["file"].rsplit(".", 1)[0]
    folder = fx.root / vid
    data = dict(np.load(folder / "visual_embeddings.npz"))
    data["embeddings"] = data["embeddings"].astype(np.float32)
    data["embeddings"][3, 0] = 1e6
    np.savez(folder / "visual_embeddings.npz", **data)
    import_npz(fx.root, tmp_path / "s.zarr", metadata=fx.metadata)
    import voca_data

    ds = voca_data.open(tmp_path / "s.zarr", warn_incomplete=False)
    k = [str(v) for v in ds.video_id.values].index(vid)
    assert int(ds.status[k]) == schema.FAILED
    assert "visual_embeddings.npz: embeddings reach 1e+06, beyond float16's range" in str(ds.error[k].values)
    assert not np.isinf(np.asarray(ds.visual.values, np.float32)).any()  # was stored as inf, status ok


def test_defect8_preview_refuses_paths_outside_the_root(tmp_path, capsys):
    import zarr

    from voca_data.store.check import check_store
    from voca_data.testing import random_store

    store = random_store(tmp_path / "s.zarr", n_videos=4, seed=0)
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.mp4").write_bytes(b"\0")
    (root / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    group = zarr.open_group(str(store))
    ids = [str(v) for v in group["video_id"][:]]
    for bad in ("../outside.mp4", str(tmp_path / "outside.mp4"), "link.mp4"):
        group["path"][0] = bad
        code = cli.main(["preview", str(store), ids[0], "--root", str(root), "-o", str(tmp_path / "p.png")])
        err = capsys.readouterr().err
        assert code == 2 and "refusing to open it" in err and len(err.strip().splitlines()) == 1, err
    group["path"][0] = "../outside.mp4"
    assert any("contains '..'" in p for p in check_store(store))
    assert not (tmp_path / "p.png").exists()


def test_defect8_disk_full_is_one_line(tmp_path):
    """A write that fails (here RLIMIT_FSIZE: EFBIG, as ENOSPC on a full disk) ends ``voca convert``
    with one line, and the output is not left half written."""
    import resource
    import signal
    import subprocess

    from voca_data.store.convert import convert
    from voca_data.testing import random_store

    h5 = convert(random_store(tmp_path / "r.zarr", n_videos=8, seed=0), tmp_path / "r.h5")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out = tmp_path / "o.zarr"
    proc = subprocess.run([sys.executable, "-m", "voca_data", "-q", "convert", str(h5), str(out)],
                          preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3  # docs/cli.md: an I/O error ends the run part-way (exit 3)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "->" not in ln]
    assert lines == ["voca convert: error: [Errno 27] File too large [-v shows the traceback]"], \
        proc.stderr
    assert not out.exists()


def test_defect8_disk_full_writing_hdf5_is_one_line(tmp_path):
    """The HDF5 direction: h5py reports a failed write (EFBIG here, ENOSPC on a full disk) only
    while freeing its objects and then crashed the process with SIGSEGV; now the HDF5 writer runs in
    a child process, the run ends with one line and exit 3, and no partial file is left."""
    import resource
    import signal
    import subprocess

    from voca_data.testing import random_store

    store = random_store(tmp_path / "r.zarr", n_videos=24, visual_dim=128, audio_dim=64, seed=0)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))

    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-m", "voca_data", "-q", "convert", str(store), str(out)],
                          preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == [f"voca convert: error: [Errno 27] File too large: '{out}' "
                     "[-v shows the traceback]"], proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]  # nothing half written
