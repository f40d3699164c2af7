"""Model tables: train and evaluate every zoo model on a store with fixed seeds, write Markdown.

    python -m benchmarks.tables STORE --out DIR [--size tiny --epochs 2]

The same as ``voca benchmark`` (the runner is :func:`voca_models.benchmark.run_benchmark`; see
docs/benchmarks.md, "Model tables").
"""

from __future__ import annotations

import sys

from voca_data.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
