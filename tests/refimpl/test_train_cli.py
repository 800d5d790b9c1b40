"""`python -m reference_impls.train all` reaches every target and finds every committed checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_train_all_finds_every_committed_checkpoint_and_trains_nothing():
    # With every checkpoint committed, each target only checks and skips (seconds); a target that
    # would train instead runs into the timeout, and one that names a missing function fails at once.
    out = subprocess.run([sys.executable, "-m", "reference_impls.train", "all"], cwd=REPO, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "done in" in out.stdout
    for word in ("teacher", "pruned", "cond-unet", "noisy-classifier"):
        assert word in out.stdout, (word, out.stdout[-2000:])
