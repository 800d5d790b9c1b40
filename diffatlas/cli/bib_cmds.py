"""`diffatlas bib export|import` and `diffatlas sources import`: BibTeX and the surveys' paper lists."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import Catalog
from ..contribute import unread_note
from ..paths import default_catalog_dir, papers_dir
from ..yamlio import atomic_write
from .common import announce_catalog, catalog_option, fail, open_catalog


@click.group()
def bib():
    """Export or import BibTeX."""


def select_papers(catalog: Catalog, node: str | None, survey: str | None, ids: tuple[str, ...] = ()):
    papers = list(catalog.papers.values())
    if node:
        tid, _, node_id = node.partition(":")
        if not node_id or tid not in catalog.taxonomies or catalog.node(tid, node_id) is None:
            raise click.BadParameter(f"{node!r} is not TAXONOMY:NODE with a known node (see 'diffatlas stats --nodes TAXONOMY')", param_hint="--node")
        wanted = {p.id for p in catalog.by_node(tid, node_id)}
        papers = [p for p in papers if p.id in wanted]
    if survey:
        papers = [p for p in papers if survey in p.surveys()]
    if ids:
        unknown = [i for i in ids if i not in catalog.papers]
        if unknown:
            raise click.BadParameter(f"unknown paper id(s): {', '.join(unknown)}", param_hint="--id")
        papers = [p for p in papers if p.id in set(ids)]
    return papers


@bib.command("export")
@catalog_option
@click.option("--node", help="Only papers at or below TAXONOMY:NODE, e.g. shen2025:algorithm.sampling.solver.")
@click.option("--survey", type=click.Choice(["ulhaq2022", "shen2025", "ma2024"]), help="Only papers this survey lists.")
@click.option("--id", "ids", multiple=True, help="Only these paper ids (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of standard output.")
def bib_export(catalog_dir, taxonomy_dir, node, survey, ids, output):
    """Write BibTeX for the whole catalog or a selection."""
    from ..bibtex import export_bibtex

    catalog = open_catalog(catalog_dir, taxonomy_dir)
    text = export_bibtex(select_papers(catalog, node, survey, ids))
    if output:
        try:
            atomic_write(output, text)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}; choose a writable file with -o FILE")
        announce_catalog(catalog_dir)
        click.echo(f"wrote {text.count('@')} entries to {output}", err=True)
    else:
        click.echo(text, nl=False)


@bib.command("import")
@catalog_option
@click.argument("bibfile", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Report what would be written; write nothing.")
def bib_import(catalog_dir, taxonomy_dir, bibfile, dry_run):
    """Turn BibTeX entries into catalog YAML stubs (duplicates skipped, files never overwritten)."""
    from ..bibimport import import_bibtex
    from ..bibtex import MAX_BIB_BYTES, BibtexError, read_bib_bytes

    try:
        with click.open_file(bibfile, "rb") as handle:
            text = read_bib_bytes(handle.read(MAX_BIB_BYTES + 1), bibfile)
    except OSError as exc:
        fail(f"cannot read {bibfile}: {exc.strerror or exc}")
    except BibtexError as exc:
        fail(str(exc))
    catalog = open_catalog(catalog_dir, taxonomy_dir, writes=True)
    if note := unread_note(catalog):
        click.echo(note, err=True)
    result = import_bibtex(catalog, papers_dir(catalog_dir or default_catalog_dir()), text, bibfile, dry_run)
    lines = result.lines()
    for line in lines[:-1] if result.refused else lines:
        click.echo(line, err=bool(result.refused))
    if result.refused:
        fail(lines[-1])


@click.group()
def sources():
    """Import the surveys' own paper lists (Markdown) into the catalog."""


@sources.command("import")
@catalog_option
@click.argument("listfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["shen", "ma"]), required=True, help="shen: '- **[Venue Year]** Title. [[Paper]](url)'; ma: '* Title [[Paper]](url) ![](badge)'.")
@click.option("--survey", type=click.Choice(["ulhaq2022", "shen2025", "ma2024"]), required=True, help="The survey the list belongs to (recorded as provenance).")
@click.option("--dry-run", is_flag=True, help="Only measure coverage: how many entries the catalog already holds.")
@click.option("--show-missing", is_flag=True, help="List entries the catalog does not hold yet.")
def sources_import(catalog_dir, taxonomy_dir, listfile, fmt, survey, dry_run, show_missing):
    """Merge a survey's paper list into the catalog, adding provenance instead of duplicates."""
    from ..importers import parse_file
    from ..merge import merge_entries

    catalog = open_catalog(catalog_dir, taxonomy_dir, writes=True)
    if note := unread_note(catalog):
        click.echo(note, err=True)
    entries = parse_file(listfile, fmt)
    report = merge_entries(catalog, entries, survey, papers_dir(catalog_dir or default_catalog_dir()), dry_run)
    click.echo(report.summary())
    matched = len(report.matched)
    click.echo(f"coverage: {matched}/{report.parsed} entries of {listfile.name} found in the catalog before this run ({100 * matched / max(report.parsed, 1):.1f}%)")
    if show_missing or dry_run:
        for pid in report.created:
            click.echo(f"  {'would create' if dry_run else 'created'} {pid}")
    if not dry_run and report.created:
        click.echo("New stubs need a summary and tags: run 'diffatlas validate' to see what to fill in.")
