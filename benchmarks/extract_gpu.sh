#!/usr/bin/env bash
# The extraction benchmark on the GPU node (one H200, 16 cores), as one run that fits in 5 minutes:
# 32 synthetic 224 px videos of 4 s (3,200 frames), ViT-B-32 random weights, MTCNN every 5th frame,
# block 4, batch 256 (the media and settings of issue 9's table); the pipeline with 15 and 8 CPU
# workers, the sum-of-parts ceiling, the encoder alone, the per-video script way, MTCNN per size.
#
# On the device (project root; .whl built by ../shared/device/prepare.sh and carried):
#     bash benchmarks/extract_gpu.sh            # table on stdout and in $OUT/extract_gpu.md
# Here, on CPU, to prove it runs (small):
#     PY=.venv/bin/python DEVICE=cpu ARCH=voca-tiny VIDEOS=4 CPU_WORKERS="1 2" ENCODER_FRAMES=256 \
#         bash benchmarks/extract_gpu.sh
set -euo pipefail
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
ARCH=${ARCH:-ViT-B-32}
LIMIT=${LIMIT:-270}
VIDEOS=${VIDEOS:-32}
CPU_WORKERS=${CPU_WORKERS:-"15 8"}
ENCODER_FRAMES=${ENCODER_FRAMES:-2048}
OUTDIR=${OUT:-/tmp}
if [[ -d .whl && "$PY" == python3 ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
uptime
# shellcheck disable=SC2086
timeout "$LIMIT" "$PY" benchmarks/extract.py --device "$DEVICE" --arch "$ARCH" --videos "$VIDEOS" \
  --duration 4 4 --batch-size 256 --block-size 4 --cpu-workers $CPU_WORKERS --max-sides 480 112 \
  --parts-videos 2 --baseline-videos 2 --encoder-frames "$ENCODER_FRAMES" --synth-workers 16 \
  --work /tmp/voca_bench_gpu --output "$OUTDIR/extract_gpu.md"
date -u
