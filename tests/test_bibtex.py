"""BibTeX export is valid, import makes stubs, and the two round-trip."""

from __future__ import annotations

import bibtexparser
import pytest
from click.testing import CliRunner

from diffatlas.bibtex import export_bibtex, parse_bibtex
from diffatlas.catalog import load_catalog
from diffatlas.cli import main
from diffatlas.models import Paper
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


# --- BibTeX that compiles (issue 11 item 5) ---------------------------------------------------

# (venue, bibtex_type, expected entry type, expected venue field or None): the venue table of diffatlas.bibtex.
ENTRY_TYPES = [
    ("ICLR", None, "inproceedings", "booktitle = {ICLR}"),
    ("CVPRW", None, "inproceedings", "booktitle = {CVPRW}"),
    ("NeurIPS Workshop", None, "inproceedings", "booktitle = {NeurIPS Workshop}"),
    ("SIGGRAPH Asia", None, "inproceedings", "booktitle = {SIGGRAPH Asia}"),
    ("JMLR", None, "article", "journal = {JMLR}"),
    ("TMLR", None, "article", "journal = {TMLR}"),
    ("PAMI", None, "article", "journal = {PAMI}"),
    ("Nature", None, "article", "journal = {Nature}"),
    ("Nature Communications", None, "article", "journal = {Nature Communications}"),
    ("ACM Transactions on Graphics", None, "article", "journal = {ACM Transactions on Graphics}"),
    ("IEEE Transactions on Image Processing", None, "article", "journal = {IEEE Transactions on Image Processing}"),
    ("Entropy", None, "article", "journal = {Entropy}"),
    ("TASLP", None, "article", "journal = {TASLP}"),
    ("PhD thesis, Stanford University", None, "phdthesis", "school = {Stanford University}"),
    ("Technical report, OpenAI", None, "techreport", "institution = {OpenAI}"),
    ("Technical report", None, "misc", "howpublished = {Technical report}"),
    ("arXiv", None, "misc", "howpublished = {arXiv}"),
    ("OpenReview", None, "misc", "howpublished = {OpenReview}"),
    ("Online", None, "misc", "howpublished = {Online}"),
    (None, None, "misc", None),
    ("CVPRW", "inproceedings", "inproceedings", "booktitle = {CVPRW}"),
    ("Nature", "misc", "misc", "howpublished = {Nature}"),
    ("Stanford University", "phdthesis", "phdthesis", "school = {Stanford University}"),
]


@pytest.mark.parametrize("venue, bibtex_type, kind, venue_field", ENTRY_TYPES)
def test_entry_type_matches_the_venue(venue, bibtex_type, kind, venue_field):
    extra = {"bibtex_type": bibtex_type} if bibtex_type else {}
    p = Paper.model_validate(paper("typed-2020", "A Title", venue=venue, **extra))
    text = export_bibtex([p])
    assert text.startswith(f"@{kind}{{typed-2020,"), text
    if venue_field:
        assert venue_field in text
    assert text.count(" = ") == 3 + bool(venue_field)  # title, year, url, venue field


def test_export_writes_latex_not_unicode():
    p = Paper.model_validate(paper("pixart-alpha-2024", "PixArt-α: Fast Training of Diffusion Transformer", venue="ICLR",
                                   authors=["Björn Ommer", "Mateusz Ńowak"], month=2))
    text = export_bibtex([p])
    assert text.isascii(), text
    assert r"title = {{PixArt-{$\alpha$}}: Fast Training of Diffusion Transformer}" in text, text
    assert r'author = {Bj{\"o}rn Ommer and Mateusz {\'N}owak}' in text, text
    assert "month = feb," in text


@pytest.mark.parametrize("title, protected", [
    ("DDIM: Denoising Diffusion Implicit Models", "{DDIM}: Denoising Diffusion Implicit Models"),
    ("Δ-DiT: A Training-Free Acceleration Method", "{{$\\Delta$}-DiT}: {A} Training-Free Acceleration Method"),
    ("DPM-Solver++: Fast Solver for Guided Sampling", "{DPM-Solver++}: Fast Solver for Guided Sampling"),
    ("Diffusion Schrödinger Bridge with Gaussian Noise", "Diffusion {Schr{\\\"o}dinger} Bridge with {Gaussian} Noise"),
    ("eDiff-I and 3D U-Net with LoRA", "{eDiff-I} and {3D} {U-Net} with {LoRA}"),
    ("A Survey on Efficient Diffusion", "A Survey on Efficient Diffusion"),
])
def test_titles_protect_capitals_and_acronyms(title, protected):
    p = Paper.model_validate(paper("protect-2020", title))
    text = export_bibtex([p])
    assert f"title = {{{protected}}}," in text, text
    assert parse_bibtex(text).records[0]["title"] == title


def test_committed_catalog_round_trips_through_bibtex():
    """Every exported field of every committed paper reads back as the catalog holds it.

    One form reads back differently but equivalently: a bare venue 'Technical report' with
    bibtex_extra's institution comes back as the venue 'Technical report, INSTITUTION'.
    """
    from diffatlas.paths import REPO_ROOT

    catalog = load_catalog(REPO_ROOT / "catalog", TAXONOMY)
    parsed = parse_bibtex(export_bibtex(catalog.papers.values()), source="catalog.bib")
    assert parsed.errors == []
    for record in parsed.records:
        original = catalog.papers[record["bibkey"]]
        venue = original.venue
        if original.bibtex_type == "techreport" and "institution" in original.bibtex_extra:
            venue = f"Technical report, {original.bibtex_extra['institution']}"
        for name in ROUND_TRIP_FIELDS:
            expected = venue if name == "venue" else getattr(original, name)
            assert record.get(name) == (expected or None), (original.id, name)


def test_a_corporate_author_is_one_name():
    from diffatlas.bibtex import name_to_bibtex

    assert name_to_bibtex("Kolors Team") == "{Kolors Team}"
    assert name_to_bibtex("Ada Lovelace") == "Ada Lovelace"
