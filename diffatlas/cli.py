"""The `diffatlas` command. Every sub-command takes --catalog DIR."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from .catalog import Catalog, load_catalog
from .paths import default_catalog_dir, default_taxonomy_dir, papers_dir


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diffatlas")
def main() -> None:
    """diffatlas: the efficient-diffusion literature as a validated catalog, app and demos."""


@main.command()
@catalog_option
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the verdict.")
def validate(catalog_dir, taxonomy_dir, quiet):
    """Check every catalog file and taxonomy; list every problem; exit 1 if any."""
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    for problem in catalog.problems:
        click.echo(str(problem), err=True)
    if not quiet:
        kinds = Counter(p.kind for p in catalog.papers.values())
        click.echo(
            f"{len(catalog)} valid papers ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); "
            f"{len(catalog.taxonomies)} taxonomies with {sum(len(t.index()) for t in catalog.taxonomies.values())} nodes"
        )
    if catalog.problems:
        click.echo(f"FAILED: {len(catalog.problems)} problem(s) in {len({p.file for p in catalog.problems})} file(s)", err=True)
        sys.exit(1)
    click.echo("OK: catalog is valid")


@main.command()
@catalog_option
@click.option("--nodes", "nodes_of", metavar="TAXONOMY", help="List every node id of one taxonomy with its paper count.")
def stats(catalog_dir, taxonomy_dir, nodes_of):
    """Papers per survey, per node, per year, and the overlap between surveys."""
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    if nodes_of:
        tax = catalog.taxonomies.get(nodes_of)
        if tax is None:
            raise click.BadParameter(f"unknown taxonomy {nodes_of!r}; use one of {', '.join(catalog.taxonomies)}", param_hint="--nodes")
        for node, depth in tax.walk():
            click.echo(f"{'  ' * depth}{node.id:<45} {len(catalog.by_node(tax.id, node.id)):>4}  {node.name}")
        return
    papers = list(catalog.papers.values())
    kinds = Counter(p.kind for p in papers)
    click.echo(f"Papers: {len(papers)}  ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))})")
    if catalog.problems:
        click.echo(f"(catalog has {len(catalog.problems)} validation problem(s); run 'diffatlas validate')")
    click.echo("\nPer survey (papers listed by it):")
    for survey in ("ulhaq2022", "shen2025", "ma2024"):
        click.echo(f"  {survey:<10} {len(catalog.by_survey(survey)):>4}")
    click.echo("\nOverlap between surveys' lists:")
    sets = {s: {p.id for p in catalog.by_survey(s)} for s in ("ulhaq2022", "shen2025", "ma2024")}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            click.echo(f"  {a} & {b}: {len(sets[a] & sets[b])}")
    click.echo(f"  all three: {len(sets['ulhaq2022'] & sets['shen2025'] & sets['ma2024'])}")
    diffusion = [p for p in papers if p.kind in ("paper", "framework")]
    both = sum(1 for p in diffusion if p.tags.get("ulhaq2022") and p.tags.get("shen2025"))
    click.echo(f"\nNon-background papers tagged in both ulhaq2022 and shen2025: {both}/{len(diffusion)}")
    click.echo(f"Tagged in ma2024: {sum(1 for p in papers if p.tags.get('ma2024'))}")
    for tid, tax in catalog.taxonomies.items():
        click.echo(f"\n{tax.name} ({tid}), top level:")
        for node in tax.nodes:
            click.echo(f"  {node.id:<12} {len(catalog.by_node(tid, node.id)):>4}  {node.name}")
    click.echo("\nPer year:")
    years = Counter(p.year for p in papers if p.year)
    for year, count in sorted(years.items()):
        click.echo(f"  {year} {count:>4} {'#' * count}")
    undated = sum(1 for p in papers if not p.year)
    if undated:
        click.echo(f"  (no year: {undated} unresolved entries)")


@main.group()
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
    from .bibtex import export_bibtex

    catalog = open_catalog(catalog_dir, taxonomy_dir)
    text = export_bibtex(select_papers(catalog, node, survey, ids))
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {text.count('@')} entries to {output}", err=True)
    else:
        click.echo(text, nl=False)


@bib.command("import")
@catalog_option
@click.argument("bibfile", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Report what would be written; write nothing.")
def bib_import(catalog_dir, taxonomy_dir, bibfile, dry_run):
    """Turn BibTeX entries into catalog YAML stubs (duplicates skipped, files never overwritten)."""
    from .bibimport import import_records
    from .bibtex import parse_bibtex

    text = sys.stdin.read() if bibfile == "-" else Path(bibfile).read_text(encoding="utf-8", errors="replace")
    parsed = parse_bibtex(text, source=bibfile)
    for error in parsed.errors:
        click.echo(error, err=True)
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    result = import_records(catalog, papers_dir(catalog_dir or default_catalog_dir()), parsed.records, dry_run)
    for line in result.lines():
        click.echo(line)
    if parsed.errors:
        sys.exit(1)


@main.group()
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
    from .importers import parse_file
    from .merge import merge_entries

    catalog = open_catalog(catalog_dir, taxonomy_dir)
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


from .cli_contribute import add, render  # noqa: E402  (registered after main exists)

main.add_command(add)
main.add_command(render)


from .cli_app import app_command  # noqa: E402  (the web app; kept in its own module)

main.add_command(app_command)

from .cli_demo import demo, results  # noqa: E402  (demos and the results store; torch imported lazily)

main.add_command(demo)
main.add_command(results)
