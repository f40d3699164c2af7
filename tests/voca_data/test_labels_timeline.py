"""Issue 10, point 2: frame labels follow the media's own timeline, periods stay float64, and
``voca check`` verifies labels with the same rule (real MP4s, real stores)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from extract_fixtures import make_synth, tiny_config

from voca_data import frame_labels
from voca_data.store import schema
from voca_data.store.check import check_store
from voca_data.records import VideoRecord, timeline_notes
from voca_data.testing import random_store
from voca_data.store.writer import init


@pytest.fixture(scope="module")
def relabelled(tmp_path_factory):
    """A synthetic LAV-DF set whose metadata disagrees with two of its media files, extracted."""
    pytest.importorskip("open_clip")
    from voca_data.extract import extract
    from voca_data.media import probe
    from voca_data.sources import load

    d = tmp_path_factory.mktemp("timeline")
    root = make_synth(d / "data", videos=4, seed=3)
    meta_file = root / "metadata.min.json"
    items = json.loads(meta_file.read_text())
    frames = {m["file"]: probe(root / m["file"])["n_frames_estimate"] for m in items}
    short, long = items[0], items[1]
    n = frames[short["file"]]
    # (a) the metadata counts 10 frames fewer than the media; the period runs to the media's end
    short.update(video_frames=n - 10, duration=n / 25, n_fakes=1, fake_periods=[[(n - 8) / 25, n / 25]],
                 modify_video=True)
    m = frames[long["file"]]
    # (b) the metadata counts 50 frames more; its only period lies past the media's end
    long.update(video_frames=m + 50, duration=(m + 50) / 25, n_fakes=1,
                fake_periods=[[(m + 10) / 25, (m + 40) / 25]], modify_video=True)
    meta_file.write_text(json.dumps(items))
    records = load("lavdf", root)
    store = extract(records, root, d / "s.zarr", tiny_config(), scheduler="synchronous", progress=False)
    return store, records, short, long, frames


def _video(store, video_id):
    import voca_data

    ds = voca_data.open(store)
    k = [str(v) for v in ds.video_id.values].index(video_id)
    return ds.isel(video=k)


def test_defect2a_metadata_shorter_than_media_labels_the_media(relabelled):
    store, _, short, _, frames = relabelled
    v = _video(store, short["file"][:-4])
    n = int(v.n_frames)
    assert abs(n - frames[short["file"]]) <= 1
    labels = np.asarray(v.frame_label[:n])
    # the last frames of the media, past video_frames / 25, are fake (they were labelled real)
    expected = frame_labels([((frames[short["file"]] - 8) / 25, frames[short["file"]] / 25)], n, 25)
    np.testing.assert_array_equal(labels, expected)
    assert labels[-3:].tolist() == [1, 1, 1]


def test_defect2b_period_past_the_media_is_a_note_not_silence(relabelled):
    store, _, _, long, _ = relabelled
    v = _video(store, long["file"][:-4])
    assert int(v.status) == schema.OK and int(v.label) == 1
    assert (np.asarray(v.frame_label[: int(v.n_frames)]) == 0).all()
    notes = str(v.notes.values)
    assert "label note:" in notes and "end after the media" in notes
    assert "labelled fake but none of its" in notes
    assert check_store(store) == []


def test_defect2c_float64_periods_match_frame_labels(tmp_path):
    # 0.14 s is the centre of frame 3 at 25 fps: float32 (0.140000001) made frame 3 real
    rec = VideoRecord("v", "v.mp4", "train", label=1, fake_periods=((0.14, 0.3),), modify_video=1)
    w = init(tmp_path / "s.zarr", [rec], visual_dim=4, audio_dim=4, max_frames=20, block_size=1)
    block = w.empty_block(0)
    block["n_frames"][0], block["status"][0] = 20, schema.OK
    block["visual"][0, :20] = 0
    block["audio"][0, :20] = 0
    w.write_block(0, block)
    import zarr

    got = np.asarray(zarr.open_group(str(tmp_path / "s.zarr"))["frame_label"][0, :20])
    np.testing.assert_array_equal(got, frame_labels(rec.fake_periods, 20, 25))
    assert got[3] == 1
    assert check_store(tmp_path / "s.zarr") == []
    # random_store's stores pass voca check (11 problems on 400 videos before)
    assert check_store(random_store(tmp_path / "r.zarr", n_videos=400, block_size=50, max_frames=80)) == []


def test_strict_fails_and_metadata_count_notes(tmp_path):
    recs = [VideoRecord("a", "a.mp4", "train", label=1, fake_periods=((3.0, 3.5),), modify_video=1),
            VideoRecord("b", "b.mp4", "train", label=0)]
    for strict in (False, True):
        w = init(tmp_path / f"s{strict}.zarr", recs, visual_dim=4, audio_dim=4, max_frames=50,
                 block_size=2)
        block = w.empty_block(0)
        block["n_frames"][:] = 50
        block["status"][:] = schema.OK
        block["visual"][:, :50] = 0
        block["audio"][:, :50] = 0
        w.write_block(0, block, strict=strict, metadata_frames=[50, 90])
        import zarr

        g = zarr.open_group(str(tmp_path / f"s{strict}.zarr"))
        status, errors = g["status"][:].tolist(), [str(e) for e in g["error"][:]]
        notes = [str(e) for e in g["notes"][:]]
        if strict:
            assert status == [schema.FAILED, schema.FAILED]
            assert errors[0].startswith("labels disagree with the media (strict): fake period(s) [3, 3.5]")
            assert errors[1] == ("labels disagree with the media (strict): the metadata says 90 frames, "
                                 "the media has 50")
        else:
            assert status == [schema.OK, schema.OK]
            assert "label note: fake period(s) [3, 3.5] end after the media (2.000 s)" in notes[0]
        assert check_store(tmp_path / f"s{strict}.zarr") == []
    assert timeline_notes(0, (), 100, 25, metadata_frames=101) == []  # within the tolerance


def test_extract_notes_the_metadata_count_and_strict_fails(relabelled, tmp_path):
    """The extractor passes the manifest's frame counts to the writer: a count off by more than
    the tolerance is a note; ``strict`` makes the disagreeing videos failures."""
    from voca_data.extract import extract

    store, records, short, long, _ = relabelled
    notes = str(_video(store, short["file"][:-4]).notes.values)
    assert "the metadata says" in notes and "label note:" in notes
    root = Path(store).parent / "data"
    strict = extract(records, root, tmp_path / "strict.zarr", tiny_config(strict=True),
                     scheduler="synchronous", progress=False)
    for item in (short, long):
        v = _video(strict, item["file"][:-4])
        assert int(v.status) == schema.FAILED and "the metadata says" in str(v.error.values)


def test_a_second_extract_on_the_same_store_is_refused(relabelled, tmp_path):
    import subprocess
    import sys

    from voca_data.extract import extract
    from voca_data.lock import LockError

    store, records, _, _, _ = relabelled
    hold = ("import sys, time\nfrom voca_data.lock import lock\n"
            "with lock(sys.argv[1], what='store'):\n    print('held', flush=True)\n    time.sleep(600)\n")
    out = tmp_path / "s.zarr"
    proc = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match=f"s.zarr: the store is being written by pid {proc.pid}"):
            extract(records, Path(store).parent / "data", out, tiny_config(),
                    scheduler="synchronous", progress=False)
        assert not out.exists()  # nothing created, no stale .init-tmp
        assert not list(tmp_path.glob("*init-tmp*"))
    finally:
        proc.kill()
        proc.wait()
