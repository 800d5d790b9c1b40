"""What every `diffatlas` command module shares: the --catalog/--taxonomy options and helpers.

This is the leaf of the CLI package: command modules import it, it imports no command
module and not the root group (diffatlas/cli/__init__.py), so there is no import circle.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from ..catalog import Catalog, load_catalog
from ..paths import default_catalog_dir, default_taxonomy_dir


def catalog_option(func):
    func = click.option(
        "--taxonomy", "taxonomy_dir", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Folder of taxonomy YAML trees (default: $DIFFATLAS_TAXONOMY, else the taxonomy/ of "
                           "the checkout found from here upwards, else the installed one's).",
    )(func)
    return click.option(
        "--catalog", "catalog_dir", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Catalog folder holding papers/ (default: $DIFFATLAS_CATALOG, else the catalog/ of the "
                           "checkout found from here upwards, as git finds .git/, else the installed one's).",
    )(func)


def open_catalog(catalog_dir: Path | None, taxonomy_dir: Path | None, writes: bool = False) -> Catalog:
    """The catalog the command acts on (see diffatlas/paths.py for the defaults).

    A command that writes passes writes=True and the folder it used is printed first, one line on
    standard error, so a second clone never changes the first one's catalog without saying so.
    """
    catalog_dir = Path(catalog_dir or default_catalog_dir())
    if writes:
        announce_catalog(catalog_dir)
    return load_catalog(catalog_dir, taxonomy_dir or default_taxonomy_dir())


def announce_catalog(catalog_dir: Path | None) -> None:
    """Print 'catalog: /absolute/folder' on standard error: the catalog a writing command used."""
    click.echo(f"catalog: {Path(catalog_dir or default_catalog_dir()).resolve()}", err=True)


def parse_key_values(items: tuple[str, ...], param_hint: str = "--param") -> dict:
    """KEY=VALUE strings (a repeatable option) as a dict; BadParameter on an item without '='."""
    out = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=param_hint)
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def needs_demos(func):
    """For a command that runs the demos: without their packages (the `demos` extra), one line
    naming the command that installs them, exit status 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ImportError:
            from ..demos import missing_demos_note

            note = missing_demos_note()
            if note is None:  # an ImportError of its own, not the missing extra
                raise
            click.echo(f"error: {note}", err=True)
            sys.exit(2)

    return wrapper


def fail(message: str) -> None:
    """Print 'error: MESSAGE' to standard error and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
