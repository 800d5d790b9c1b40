"""Every location reference_impls reads or writes (torch-free; diffatlas reads it too).

* `WEIGHTS_DIR`: the committed checkpoints (reference_impls/weights/).
* `cache_dir()`: $DIFFATLAS_CACHE, else ~/.cache/diffatlas: checkpoints trained on
  first use, optimised schedules, and the default results database.
* `runs_dir()`: one folder per demo run (sample grids) under the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def cache_root() -> Path:
    """The cache folder, not created (for callers that only need the name)."""
    root = os.environ.get("DIFFATLAS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "diffatlas"


def cache_dir(*parts: str) -> Path:
    """The cache folder (or a sub-folder of it), created on first use."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    return cache_dir("runs")
