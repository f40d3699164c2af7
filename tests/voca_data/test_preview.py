"""voca preview: a contact sheet PNG of one video of an extracted store."""

from __future__ import annotations


import sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

sys.path.insert(0, str(_Path(__file__).parent))

from extract_fixtures import make_synth, tiny_config

from voca_data.extract import extract


def test_preview_contact_sheet(tmp_path):
    lavdf_root = make_synth(tmp_path / "ds", "lavdf", videos=4, seed=1)
    from voca_data.cli import main
    from voca_data.sources import load

    records = load("lavdf", lavdf_root)
    out = extract(records, lavdf_root, tmp_path / "s.zarr", tiny_config(), scheduler="synchronous",
                  progress=False)
    vid = records[1].video_id
    png = tmp_path / "p.png"
    assert main(["preview", str(out), vid, "-o", str(png)]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 200 and img.shape[1] > 400 and img.std() > 0.05
    assert main(["preview", str(out), "no/such/video", "-o", str(png)]) == 2
    # the dataset moved: the recorded root fails with a clear error, --root finds it
    moved = lavdf_root.rename(tmp_path / "moved")
    assert main(["preview", str(out), vid, "-o", str(png)]) == 2
    png.unlink()
    assert main(["preview", str(out), vid, "-o", str(png), "--root", str(moved)]) == 0
    assert png.stat().st_size > 10_000
