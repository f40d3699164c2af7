"""Bounded memory of the extraction pipeline, and the encoder's batch staging.

Peak resident memory is measured on real runs in fresh processes (the pipeline's process:
``ru_maxrss``; the CPU workers: each reports its own ``VmHWM``, recorded in the run's history)
and must not grow with the number of videos. A pipeline that kept every video's crops would add
about 9 MB per video here (about 60 frames of 224 px crops), so 18 more videos would add about
160 MB, far above the tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

sys.path.insert(0, str(Path(__file__).parent))

from extract_fixtures import make_synth, tiny_config  # noqa: E402

_CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from extract_fixtures import tiny_config
from voca_data.extract import extract
from voca_data.sources import load

root, out = sys.argv[2], sys.argv[3]
extract(load("folder", root), root, out, tiny_config(block_size=2, crop_size=224), cpu_workers=2,
        progress=False, finalize=False)
print(json.dumps({"main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TOLERANCE_MIB = 64  # run-to-run noise of the same extraction here: up to about 30 MiB


def _peak(root: Path, out: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).parent), str(root),
                          str(out)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    peak = json.loads(res.stdout.strip().splitlines()[-1])
    history = zarr.open_group(str(out), mode="r").attrs["history"]
    run = [h for h in history if h["action"] == "extract"][-1]
    peak["workers_mib"] = run["cpu_worker_peak_rss_mib"]
    peak["videos"] = run["videos"]
    peak["peak_in_flight"] = run["peak_in_flight"]
    return peak


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_rss_does_not_grow_with_the_number_of_videos(tmp_path):
    n = 6
    small = make_synth(tmp_path / "small", "folder", videos=n, seed=5, duration_range=(2.0, 2.4))
    large = make_synth(tmp_path / "large", "folder", videos=4 * n, seed=5,
                       duration_range=(2.0, 2.4))
    a = _peak(small, tmp_path / "small.zarr")
    b = _peak(large, tmp_path / "large.zarr")
    assert (a["videos"], b["videos"]) == (n, 4 * n)
    assert 0 < a["workers_mib"] and 0 < b["workers_mib"]
    assert b["peak_in_flight"] <= 2 * 2 + 2  # the bound the memory rests on
    assert b["main_mib"] <= a["main_mib"] + TOLERANCE_MIB, (a, b)
    assert b["workers_mib"] <= a["workers_mib"] + TOLERANCE_MIB, (a, b)


def test_pinned_staging_assembles_the_same_block(tmp_path):
    """The CUDA lane's staging buffer (here in ordinary memory: no GPU) gives the block the same
    arrays as plain concatenation, across batches spanning videos and a buffer that grows."""
    from voca_data.extract import extract
    from voca_data.extract.encode import BlockAssembler, PinnedStaging
    from voca_data.extract.models import audio_encoder, visual_encoder
    from voca_data.extract.prepare import prepare_video
    from voca_data.sources import load
    from voca_data.store.writer import StoreWriter

    root = make_synth(tmp_path / "ds", "folder", videos=3, seed=2, duration_range=(1.0, 1.4))
    config = tiny_config(block_size=4, batch_size=16)
    out = extract(load("folder", root), root, tmp_path / "s.zarr", config, cpu_workers=0,
                  progress=False, finalize=False)
    writer = StoreWriter(out)
    venc, aenc = visual_encoder(config, "cpu"), audio_encoder(config, "cpu")
    preps = [prepare_video(k, rec, root, config, writer.n_frames_max, venc.image_size)
             for k, rec in enumerate(writer.records(0))]
    staging = PinnedStaging(8, pin=False)  # smaller than a batch: it must grow
    results = []
    for stage in (None, staging):
        asm = BlockAssembler(writer, 0, venc, aenc, config.fps, config.audio_rate,
                             config.batch_size, {}, staging=stage)
        for prep in preps:
            asm.add(prep)
        assert asm.done
        results.append(asm.result())
    assert staging.array is not None and len(staging.array) >= config.batch_size
    for name in results[0]:
        if results[0][name].dtype.kind in "fc":
            np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)
        else:
            assert (results[0][name] == results[1][name]).all(), name
    stored = zarr.open_array(str(out / "visual"), mode="r")[:4]
    np.testing.assert_array_equal(results[1]["visual"].astype(stored.dtype), stored)
