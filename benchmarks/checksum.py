"""Cost of the crc32c checksum on reads: the same sharded fp16 array (video x frame x dim, the
writer's chunking) with the writer's codecs, with and without the trailing ``crc32c`` codec,
read one video at a time, rounds interleaved. Prints the ratio (checksummed / plain) and the
bytes on disk.

    python -m benchmarks.checksum            # ~30 s on 2 shared cores
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr


def _make(path: Path, data: np.ndarray, checksum: bool) -> zarr.Array:
    codecs = [zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")]
    if checksum:
        codecs.append(zarr.codecs.Crc32cCodec())
    arr = zarr.create_array(str(path), shape=data.shape, dtype=data.dtype, chunks=(1, 128, data.shape[2]),
                            shards=(16, data.shape[1], data.shape[2]), compressors=codecs,
                            fill_value=np.nan, config={"write_empty_chunks": False})
    arr[:] = data
    return zarr.open_array(str(path), mode="r")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.videos, args.frames, args.dim)).astype(np.float16)
    d = Path(tempfile.mkdtemp(prefix="voca-crc-"))
    try:
        plain, checked = _make(d / "plain", data, False), _make(d / "crc", data, True)
        times: dict[str, list[float]] = {"plain": [], "crc32c": []}
        for r in range(args.rounds + 1):
            order = [("plain", plain), ("crc32c", checked)]
            for name, arr in order if r % 2 else order[::-1]:  # alternate who goes first
                t = time.perf_counter()
                for v in range(args.videos):
                    arr[v]
                if r:  # round 0 warms the page cache
                    times[name].append((time.perf_counter() - t) / args.videos * 1e3)
        p, c = statistics.median(times["plain"]), statistics.median(times["crc32c"])
        print(f"read one video ({args.frames} frames x {args.dim} fp16), median of {args.rounds} rounds:")
        print(f"  plain  {p:.2f} ms   crc32c {c:.2f} ms   ratio {c / p:.2f}x")
        print(f"  bytes on disk: plain {_size(d / 'plain'):,}  crc32c {_size(d / 'crc'):,}  "
              f"(+{_size(d / 'crc') - _size(d / 'plain'):,} = 4 per chunk)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
