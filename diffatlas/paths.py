"""Where the data lives, so every command and the app agree on defaults."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_catalog_dir() -> Path:
    """The catalog folder: $DIFFATLAS_CATALOG, else the repository's catalog/."""
    return Path(os.environ.get("DIFFATLAS_CATALOG", REPO_ROOT / "catalog"))


def default_taxonomy_dir() -> Path:
    """The taxonomy folder: $DIFFATLAS_TAXONOMY, else the repository's taxonomy/."""
    return Path(os.environ.get("DIFFATLAS_TAXONOMY", REPO_ROOT / "taxonomy"))


def papers_dir(catalog_dir: Path) -> Path:
    """Papers sit in <catalog>/papers/; a folder of YAML files is accepted as is."""
    sub = Path(catalog_dir) / "papers"
    return sub if sub.is_dir() else Path(catalog_dir)
