"""`diffatlas validate` and `diffatlas stats`: check and describe the catalog."""

from __future__ import annotations

import sys
from collections import Counter

import click

from .common import catalog_option, open_catalog


@click.command()
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
