"""Where the data lives, so every command and the app agree on defaults.

The catalog and taxonomy folders are chosen in this order (the first that applies wins):

1. an explicit `--catalog DIR` / `--taxonomy DIR` (the command line passes it in);
2. $DIFFATLAS_CATALOG / $DIFFATLAS_TAXONOMY;
3. discovered from the working directory upwards, as git finds `.git/`: the nearest folder
   holding both `catalog/papers/` and `taxonomy/` (a clone, a fork, a copy);
4. the checkout this package is installed from (`REPO_ROOT`).

The environment beats discovery so a script, a test or `diffatlas app --catalog` that sets it is
obeyed wherever it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_checkout(folder: Path) -> bool:
    """A folder laid out like this repository: catalog/papers/ and taxonomy/ side by side."""
    return (folder / "catalog" / "papers").is_dir() and (folder / "taxonomy").is_dir()


def discover_root(start: Optional[Path] = None) -> Optional[Path]:
    """The nearest checkout at or above `start` (default: the working directory), else None."""
    try:
        here = Path(start or os.getcwd()).resolve()
    except OSError:  # the working directory was deleted
        return None
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    return None


def _default(env_var: str, name: str) -> Path:
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    return (discover_root() or REPO_ROOT) / name


def default_catalog_dir() -> Path:
    """The catalog folder: $DIFFATLAS_CATALOG, else the discovered checkout's, else the installed one's."""
    return _default("DIFFATLAS_CATALOG", "catalog")


def default_taxonomy_dir() -> Path:
    """The taxonomy folder: $DIFFATLAS_TAXONOMY, else the discovered checkout's, else the installed one's."""
    return _default("DIFFATLAS_TAXONOMY", "taxonomy")


def papers_dir(catalog_dir: Path) -> Path:
    """Papers sit in <catalog>/papers/; a folder of YAML files is accepted as is."""
    sub = Path(catalog_dir) / "papers"
    return sub if sub.is_dir() else Path(catalog_dir)
