"""BibTeX export is valid, import makes stubs, and the two round-trip."""

from __future__ import annotations

import bibtexparser
from click.testing import CliRunner

from diffatlas.bibtex import export_bibtex, parse_bibtex
from diffatlas.catalog import load_catalog
from diffatlas.cli import main
from diffatlas.yamlio import load_yaml

from .helpers import TAXONOMY, make_catalog, paper

ROUND_TRIP_FIELDS = ("title", "authors", "year", "month", "venue", "doi", "arxiv", "url")


def sample_papers():
    return [
        paper("ddim-test-2021", "Denoising Diffusion Implicit Models", year=2021, month=5, venue="ICLR",
              authors=["Jiaming Song", "Chenlin Meng", "Stefano Ermon"], arxiv="2010.02502",
              url="https://arxiv.org/abs/2010.02502"),
        paper("odd-chars-2023", "Speed & Memory: 100% Faster #1 Sampler_v2 for $\\Delta$-DiT", year=2023, venue="arXiv",
              doi="10.1234/abc.def"),
        paper("journal-2022", "A Journal Paper on Cascades", venue="JMLR", bibtex_extra={"volume": "23", "pages": "1--33"}),
    ]


def test_export_parses_back(tmp_path):
    root = make_catalog(tmp_path, sample_papers())
    catalog = load_catalog(root, TAXONOMY)
    assert catalog.problems == []
    text = export_bibtex(catalog.papers.values())
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    assert {e.key for e in library.entries} == {"ddim-test-2021", "odd-chars-2023", "journal-2022"}
    types = {e.key: e.entry_type for e in library.entries}
    assert types == {"ddim-test-2021": "inproceedings", "odd-chars-2023": "misc", "journal-2022": "article"}


def test_export_import_round_trip(tmp_path):
    source = make_catalog(tmp_path / "a", sample_papers())
    catalog = load_catalog(source, TAXONOMY)
    bibfile = tmp_path / "out.bib"
    runner = CliRunner()
    result = runner.invoke(main, ["bib", "export", "--catalog", str(source), "--taxonomy", str(TAXONOMY), "-o", str(bibfile)])
    assert result.exit_code == 0, result.output
    target = make_catalog(tmp_path / "b", [])
    result = runner.invoke(main, ["bib", "import", str(bibfile), "--catalog", str(target), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output
    for original in catalog.papers.values():
        stub = load_yaml(target / "papers" / f"{original.id}.yaml")
        for name in ROUND_TRIP_FIELDS:
            assert stub.get(name) == (getattr(original, name) or None if name != "authors" else (original.authors or None)), name
        assert stub.get("bibtex_extra", {}) == original.bibtex_extra


def test_import_skips_duplicates_and_never_overwrites(tmp_path):
    root = make_catalog(tmp_path, [paper("existing-2021", "Denoising Diffusion Implicit Models", arxiv="2010.02502")])
    bib = tmp_path / "in.bib"
    bib.write_text(
        "@inproceedings{song2021, title={Denoising Diffusion {Implicit} Models}, year={2021}}\n"
        "@misc{existing-2021, title={A Different Paper With a Taken Key}, year={2024}}\n"
    )
    result = CliRunner().invoke(main, ["bib", "import", str(bib), "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0, result.output
    assert "skipped song2021: duplicate of existing entry existing-2021" in result.output
    assert "created existing-2021-a" in result.output
    assert load_yaml(root / "papers" / "existing-2021.yaml")["title"] == "Denoising Diffusion Implicit Models"


def test_malformed_and_incomplete_bibtex_are_named():
    parsed = parse_bibtex("@article{ok, title={Fine}, year={2020}}\n@article{notitle, year={2020}}\n"
                          "@article{noyear, title={No Year}}\n@article{broken, title={x\n", source="x.bib")
    assert [r["bibkey"] for r in parsed.records] == ["ok"]
    text = "\n".join(parsed.errors)
    assert "@article{notitle}: field 'title' is missing" in text
    assert "@article{noyear}: field 'year'" in text
    assert "malformed BibTeX" in text and "x.bib" in text
