"""`diffatlas add` and `diffatlas render`: the contributor's commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..bibtex import MAX_BIB_BYTES
from ..contribute import (ContributionError, fields_from_arxiv, fields_from_bibtex, leaf_choices, parse_tags, prepare,
                          unread_note, write_entry)
from ..models import KINDS
from ..paths import default_catalog_dir, papers_dir
from ..yamlio import MAX_FILE_BYTES, YamlError, atomic_write, read_text
from .common import catalog_option, fail, open_catalog


def _interactive_tags(catalog, wanted: list[str]) -> list[str]:
    """Numbered node lists for each tree that has no tag yet; blank skips ma2024."""
    chosen = []
    for tid in wanted:
        choices = leaf_choices(catalog, tid)
        click.echo(f"\n{catalog.taxonomies[tid].name} ({tid}):")
        for number, (_, label) in enumerate(choices, start=1):
            click.echo(f"  {number:>3}. {label}")
        optional = tid == "ma2024"
        while True:
            answer = click.prompt(
                f"Node number(s) for {tid}, comma-separated" + (" (blank to skip)" if optional else ""),
                default="" if optional else None, show_default=False,
            ).strip()
            if not answer and optional:
                break
            try:
                numbers = [int(x) for x in answer.replace(" ", "").split(",") if x]
                picks = [choices[n - 1][0] for n in numbers if 1 <= n <= len(choices)]
                if picks and len(picks) == len(numbers):
                    chosen += [f"{tid}:{node}" for node in picks]
                    break
            except ValueError:
                pass
            click.echo(f"  please enter numbers between 1 and {len(choices)}")
    return chosen


@click.command()
@catalog_option
@click.option("--bibtex", "bibtex_file", type=click.File("rb"), help="A .bib file with one entry, or - for standard input.")
@click.option("--arxiv", "arxiv_id", help="Fetch title, authors and date from arXiv (needs the network).")
@click.option("--title")
@click.option("--year", type=int)
@click.option("--month", type=int)
@click.option("--venue", help="As published: ICLR, CVPR, NeurIPS, arXiv, ...")
@click.option("--url", help="http(s) link to the paper.")
@click.option("--code", help="http(s) link to the code.")
@click.option("--doi")
@click.option("--author", "authors", multiple=True, help="Repeat per author, in order (only when sure).")
@click.option("--kind", type=click.Choice(KINDS), default="paper", show_default=True)
@click.option("--summary", help="One or two sentences in your own words: the idea and why it makes diffusion cheaper.")
@click.option("--keyword", "keywords", multiple=True, help="Repeatable.")
@click.option("--tag", "tag_values", multiple=True, metavar="TAXONOMY:NODE", help="e.g. --tag ulhaq2022:eps.scheduling --tag shen2025:algorithm.sampling.solver")
@click.option("--id", "paper_id", help="Override the derived id.")
@click.option("--interactive/--no-interactive", default=None, help="Ask for missing tags and summary (default: when standing at a terminal).")
@click.option("--dry-run", is_flag=True, help="Print the YAML; write nothing.")
def add(catalog_dir, taxonomy_dir, bibtex_file, arxiv_id, title, year, month, venue, url, code, doi, authors, kind,
        summary, keywords, tag_values, paper_id, interactive, dry_run):
    """Create catalog/papers/<id>.yaml from BibTeX, an arXiv id or plain flags; validate it; never overwrite."""
    catalog = open_catalog(catalog_dir, taxonomy_dir, writes=True)
    folder = papers_dir(catalog_dir or default_catalog_dir())
    if note := unread_note(catalog):
        click.echo(note, err=True)
    try:
        fields: dict = {}
        if bibtex_file is not None:
            source = getattr(bibtex_file, "name", "<stdin>")
            fields.update(fields_from_bibtex(bibtex_file.read(MAX_BIB_BYTES + 1), source=source))
        if arxiv_id:
            fields.update({k: v for k, v in fields_from_arxiv(arxiv_id).items() if k not in fields})
    except ContributionError as exc:
        fail(str(exc))
    flags = {"title": title, "year": year, "month": month, "venue": venue, "url": url, "code": code, "doi": doi,
             "authors": list(authors), "summary": summary, "keywords": list(keywords)}
    fields.update({k: v for k, v in flags.items() if v not in (None, [], "")})
    if kind != "paper":
        fields["kind"] = kind
    if interactive is None:
        interactive = sys.stdin.isatty()
    tag_values = list(tag_values)
    if interactive:
        have = {value.partition(":")[0] for value in tag_values}
        missing = [tid for tid in ("ulhaq2022", "shen2025", "ma2024") if tid not in have]
        if kind in ("paper", "framework") and missing:
            tag_values += _interactive_tags(catalog, missing)
        if not fields.get("summary"):
            fields["summary"] = click.prompt("Summary (one or two sentences, your own words)")
    tags, errors = parse_tags(tag_values, catalog)
    draft = prepare(fields, tags, catalog, folder, paper_id)
    draft.errors = errors + draft.errors
    if not draft.ok:
        fail("the entry was not written:\n  " + "\n  ".join(draft.errors))
    if dry_run:
        click.echo(draft.yaml(), nl=False)
        return
    try:
        path = write_entry(draft, folder)
    except FileExistsError:
        fail(f"{folder / (draft.data['id'] + '.yaml')} appeared meanwhile; nothing was overwritten")
    except OSError as exc:
        fail(f"cannot write in {folder}: {exc.strerror or exc}; nothing was written (check the folder's permissions)")
    click.echo(f"wrote {path}")
    click.echo("next: diffatlas validate && diffatlas render && diffatlas bib export -o bib/catalog.bib, then open a pull request")


@click.command()
@catalog_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the Markdown pages (default: docs/ beside the catalog folder).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a committed page is out of date.")
def render(catalog_dir, taxonomy_dir, out_dir, check):
    """Regenerate the Markdown paper lists (one page per taxonomy) from the catalog."""
    from ..render import render_all

    catalog = open_catalog(catalog_dir, taxonomy_dir, writes=not check)
    if catalog.problems:
        fail(f"the catalog has {len(catalog.problems)} problem(s); run 'diffatlas validate' and fix them first")
    out_dir = out_dir or docs_dir(catalog_dir or default_catalog_dir())
    pages = render_all(catalog)
    targets = {name: out_dir / name for name in pages}
    links = [path for path in (out_dir, *targets.values()) if path.is_symlink()]
    if links:
        fail(f"{links[0]} is a symbolic link; render writes only real files in a real folder "
             "(replace the link by the folder or file itself, or pass --out DIR)")
    stale = [name for name, text in pages.items() if _current(targets[name]) != text]
    if check:
        if stale:
            fail(f"out of date: {', '.join(stale)}; run 'diffatlas render' and commit the result")
        click.echo("docs are up to date")
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in stale:
            atomic_write(targets[name], pages[name])
    except OSError as exc:
        fail(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}; choose a writable folder with --out DIR")
    click.echo(f"wrote {len(stale)} changed page(s) of {len(pages)} to {out_dir}")


def docs_dir(catalog_dir: Path) -> Path:
    """docs/ beside the catalog folder: the repository's docs/ for its catalog/, OTHER/../docs for --catalog OTHER."""
    return Path(os.path.abspath(catalog_dir)).parent / "docs"


def _current(path: Path) -> str | None:
    """A page's text as it stands, or None when there is no readable regular file."""
    try:
        return read_text(path, max_bytes=64 * MAX_FILE_BYTES)
    except (OSError, YamlError):
        return None
