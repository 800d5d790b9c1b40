"""What every `diffatlas` command module shares: the --catalog/--taxonomy options and helpers.

This is the leaf of the CLI package: command modules import it, it imports no command
module and not the root group (diffatlas/cli/__init__.py), so there is no import circle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..catalog import Catalog, load_catalog
from ..paths import default_catalog_dir, default_taxonomy_dir


def catalog_option(func):
    func = click.option(
        "--taxonomy", "taxonomy_dir", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Folder of taxonomy YAML trees (default: the repository's taxonomy/).",
    )(func)
    return click.option(
        "--catalog", "catalog_dir", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Catalog folder holding papers/ (default: the repository's catalog/, or $DIFFATLAS_CATALOG).",
    )(func)


def open_catalog(catalog_dir: Path | None, taxonomy_dir: Path | None) -> Catalog:
    return load_catalog(catalog_dir or default_catalog_dir(), taxonomy_dir or default_taxonomy_dir())


def parse_key_values(items: tuple[str, ...], param_hint: str = "--param") -> dict:
    """KEY=VALUE strings (a repeatable option) as a dict; BadParameter on an item without '='."""
    out = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=param_hint)
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def fail(message: str) -> None:
    """Print 'error: MESSAGE' to standard error and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
