"""The extraction pipeline (CPU worker processes -> encoder -> writer) against the synchronous
reference path (voca 1's per-block extractor): same arrays, bitwise, on CPU; a CPU worker killed
mid-video; bounded in-flight videos; resume refusing other settings or a relabelled manifest."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from pathlib import Path as _Path

import pytest
import zarr

sys.path.insert(0, str(_Path(__file__).parent))

from extract_fixtures import assert_stores_equal, make_synth, tiny_config  # noqa: E402

from voca_data.store import schema  # noqa: E402
from voca_data.extract import SettingsMismatch, extract  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from voca_data.sources import load

    base = tmp_path_factory.mktemp("pipe")
    root = make_synth(base / "ds", "lavdf", videos=6, seed=3)
    records = load("lavdf", root)
    config = tiny_config(block_size=2, detector="mtcnn")
    ref = extract(records, root, base / "ref.zarr", config, scheduler="synchronous",
                  progress=False)
    return root, records, config, ref


def _last_extract(store) -> dict:
    history = zarr.open_group(str(store), mode="r").attrs["history"]
    return [h for h in history if h["action"] == "extract"][-1]


@pytest.mark.parametrize("cpu_workers", [2, 0])
def test_pipeline_equals_synchronous_bitwise(dataset, tmp_path, cpu_workers, capsys):
    import torch

    root, records, config, ref = dataset
    threads = torch.get_num_threads()
    out = extract(records, root, tmp_path / "p.zarr", config, cpu_workers=cpu_workers,
                  progress=False)
    # with 2 workers on this machine's cores the encoder ran on fewer torch threads than the
    # synchronous reference: the embeddings must not depend on it, and the setting comes back
    assert torch.get_num_threads() == threads
    assert_stores_equal(ref, out)  # MTCNN boxes, crops, visual, audio, similarity, labels
    h = _last_extract(out)
    assert h["scheduler"] == "pipeline" and h["cpu_workers"] == cpu_workers
    assert h["frames"] == int(zarr.open_array(str(out / "n_frames"), mode="r")[:].sum())
    for stage in ("cpu", "encoder", "writer"):  # which stage limits the run
        assert h[f"stage_{stage}_busy_seconds"] > 0
        assert f"stage_{stage}_wait_seconds" in h
    from voca_data.cli import main

    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert f"last extract {h['frames']:,} frames" in info and "frames/s" in info, info
    assert f"cpu_workers {cpu_workers}" in info


def test_cpu_worker_killed_mid_video_is_redone(dataset, tmp_path):
    root, records, config, ref = dataset
    out = tmp_path / "k.zarr"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            workers = [p for p in mp.active_children() if p.name == "voca-cpu-worker"]
            if workers:
                time.sleep(0.4)  # the workers are up (imports ~0.3 s) and taking their first videos
                for p in workers:
                    if p.is_alive():
                        os.kill(p.pid, signal.SIGKILL)
                        killed.append(p.pid)
                        return
            time.sleep(0.01)

    t = threading.Thread(target=killer)
    t.start()
    extract(records, root, out, config, cpu_workers=2, progress=False)
    t.join()
    assert killed, "no CPU worker was killed"
    h = _last_extract(out)
    assert h["stage_cpu_worker_deaths"] >= 1, h
    status = zarr.open_array(str(out / "status"), mode="r")[:]
    assert (status == schema.OK).all()
    assert_stores_equal(ref, out)


def test_in_flight_videos_are_bounded(tmp_path):
    """Memory is bounded by the videos between submission and the encoder, not by the dataset:
    with 1 CPU worker at most 2 * 1 + 2 videos are ever in flight, whatever their number."""
    from voca_data.sources import load

    root = make_synth(tmp_path / "ds", "folder", videos=12, seed=5, duration_range=(1.0, 1.2))
    out = extract(load("folder", root), root, tmp_path / "s.zarr", tiny_config(block_size=4),
                  cpu_workers=1, progress=False, finalize=False)
    h = _last_extract(out)
    assert h["max_in_flight"] == 4 and h["videos"] == 12
    assert 1 <= h["peak_in_flight"] <= 4


def test_resume_refuses_other_settings_and_a_relabelled_manifest(tmp_path, capsys):
    import dataclasses

    from voca_data.cli import main
    from voca_data.sources import load

    root = make_synth(tmp_path / "ds", "lavdf", videos=3, seed=9, duration_range=(1.0, 1.2))
    records = load("lavdf", root)
    out = tmp_path / "s.zarr"
    config = tiny_config(block_size=2, detector="mtcnn", min_face_size=24, detect_threshold=0.6)
    extract(records, root, out, config, cpu_workers=0, progress=False)
    attrs = zarr.open_group(str(out), mode="r").attrs
    det = attrs["face_detector"]
    assert det["min_face_size"] == 24 and det["detect_threshold"] == 0.6
    assert det["settings"]["min_face_size"] == 24 and det["settings"]["min_score"] == 0.6
    assert attrs["extraction"]["min_face_size"] == 24

    # same settings: nothing pending, nothing refused
    extract(records, root, out, config, progress=False)
    for change, word in [(dict(detector="center", min_face_size=None, detect_threshold=0.5),
                          "detector"),
                         (dict(min_face_size=40), "min_face_size"),
                         (dict(detect_threshold=0.9), "detect_threshold"),
                         (dict(detect_every=2), "detect_every")]:
        with pytest.raises(SettingsMismatch, match=word):
            extract(records, root, out, dataclasses.replace(config, **change), progress=False)

    # a relabelled video: named, with the field that changed
    relabelled = list(records)
    r = relabelled[1]
    relabelled[1] = dataclasses.replace(r, label=1 - r.label,
                                        fake_periods=() if r.label == 1 else ((0.1, 0.5),))
    with pytest.raises(SettingsMismatch, match=f"{r.video_id}.*label"):
        extract(relabelled, root, out, config, progress=False)

    # the CLI: an option given on resume must match the store (here the default detector)
    assert main(["extract", "lavdf", str(root), str(out), "--min-face-size", "30", "--device",
                 "cpu", "--no-progress"]) != 0
    assert "min_face_size: store 24, requested 30" in capsys.readouterr().err
    assert main(["extract", "lavdf", str(root), str(out), "--min-face-size", "24", "--device",
                 "cpu", "--no-progress"]) == 0


def test_two_encoder_lanes_equal_one(dataset, tmp_path):
    """Two encoders (the multi-GPU path: blocks dealt round-robin, here two CPU lanes) write the
    same store."""
    from voca_data.extract import finalize_store, run_pipeline
    from voca_data.extract.create import _create_store

    root, records, config, ref = dataset
    out = tmp_path / "two.zarr"
    writer = _create_store(records, root, out, config, None, progress=False)
    writer.prepare_for_writing()
    blocks = writer.pending_blocks()
    assert len(blocks) == 3
    summary = run_pipeline(out, blocks, root, config, ["cpu", "cpu"], cpu_workers=1)
    assert summary["devices"] == ["cpu", "cpu"] and sorted(summary["written_blocks"]) == blocks
    finalize_store(out, config)
    assert_stores_equal(ref, out, skip=())


def test_embeddings_do_not_depend_on_torch_threads():
    """The pipeline runs a CPU encoder on fewer torch threads while the CPU workers hold the
    cores (``_TorchThreads``): that must not change a bit of the store."""
    import numpy as np
    import torch

    from voca_data.extract import audio_encoder, visual_encoder

    config = tiny_config(batch_size=32)
    venc, aenc = visual_encoder(config, "cpu"), audio_encoder(config, "cpu")
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (96, venc.image_size, venc.image_size, 3), dtype=np.uint8)
    audio = rng.standard_normal(16000 * 2).astype(np.float32)
    before = torch.get_num_threads()
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out[n] = (venc.encode(crops), np.asarray(aenc.encode(audio, 50, 25.0, 16000)))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(out[1][0], out[2][0])
    np.testing.assert_array_equal(out[1][1], out[2][1])
