"""`diffatlas validate` and `diffatlas stats`: check and describe the catalog."""

from __future__ import annotations

import sys
from collections import Counter

import click

from ..placement import origins
from .common import catalog_option, open_catalog

FIELD_COVERAGE = (  # (field, does a paper have it) for `stats`
    ("authors", lambda p: bool(p.authors)),
    ("arxiv", lambda p: bool(p.arxiv)),
    ("doi", lambda p: bool(p.doi)),
    ("code", lambda p: bool(p.code)),
    ("name", lambda p: bool(p.name)),
    ("reported", lambda p: bool(p.reported)),
    ("keywords", lambda p: bool(p.keywords)),
)


@click.command()
@catalog_option
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the verdict.")
@click.option("--warnings", "show_warnings", is_flag=True,
              help="List every warning (e.g. a research paper with no authors); by default only their count.")
def validate(catalog_dir, taxonomy_dir, quiet, show_warnings):
    """Check every catalog file and taxonomy; list every problem; exit 1 if any.

    Warnings (incomplete citations) are counted, listed with --warnings, and never fail the check.
    """
    catalog = open_catalog(catalog_dir, taxonomy_dir)
    for problem in catalog.problems:
        click.echo(str(problem), err=True)
    if show_warnings:
        for warning in catalog.warnings:
            click.echo(str(warning), err=True)
    if catalog.warnings and not quiet:
        click.echo(f"{len(catalog.warnings)} warning(s) in {len({w.file for w in catalog.warnings})} file(s)"
                   + ("" if show_warnings else " (list them with --warnings)"))
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


@click.command()
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
    outside = {tid: sum(1 for p in diffusion if tid in p.outside) for tid in ("ulhaq2022", "shen2025")}
    click.echo(f"Marked outside a main tree (with a reason): {', '.join(f'{t} {n}' for t, n in outside.items())}")
    click.echo("\nResearch papers with each field:")
    research = [p for p in papers if p.kind == "paper"]
    for name, has in FIELD_COVERAGE:
        count = sum(1 for p in research if has(p))
        click.echo(f"  {name:<9} {count:>4}/{len(research)}  {100 * count / max(len(research), 1):5.1f}%")
    click.echo("\nPlacements by origin (survey: the survey's own list files it there; refined: the survey files it "
               "one level up; curated: placed by diffatlas):")
    origin_counts = Counter((tid, origin) for p in papers for tid, nodes in origins(p).items() for origin in nodes.values())
    for tid in catalog.taxonomies:
        click.echo(f"  {tid:<10} " + "  ".join(f"{o} {origin_counts[(tid, o)]}" for o in ("survey", "refined", "curated")))
    for tid, tax in catalog.taxonomies.items():
        click.echo(f"\n{tax.name} ({tid}), top level:")
        for node in tax.nodes:
            click.echo(f"  {node.id:<12} {len(catalog.by_node(tid, node.id)):>4}  {node.name}")
    years = Counter(p.year for p in papers if p.year)
    peak = max(years.values(), default=0)
    click.echo("\nPer year:" + (f" (# = {peak / HISTOGRAM_WIDTH:.1f} papers)" if peak > HISTOGRAM_WIDTH else ""))
    for year, count in sorted(years.items()):
        click.echo(f"  {year} {count:>4} {histogram_bar(count, peak)}")
    undated = sum(1 for p in papers if not p.year)
    if undated:
        click.echo(f"  (no year: {undated} unresolved entries)")


HISTOGRAM_WIDTH = 50


def histogram_bar(count: int, peak: int, width: int = HISTOGRAM_WIDTH) -> str:
    """'#' per paper, scaled so the busiest year is `width` characters; a year with papers always gets one."""
    if peak <= width:
        return "#" * count
    return "#" * max(1 if count else 0, round(count * width / peak))
