"""Model tables: train and evaluate every zoo model on a store with fixed seeds, write Markdown.

    python -m benchmarks.tables STORE --out DIR [--size tiny --epochs 2]

Same as ``voca benchmark`` (see ``voca_models/commands/benchmark.py`` and docs/benchmarks.md,
"Model tables").
"""

from __future__ import annotations

import sys

from voca_models.commands.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
