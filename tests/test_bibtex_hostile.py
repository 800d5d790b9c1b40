"""Hostile and broken BibTeX (issue 13 items 5, 8, 9): read faithfully or refused, never mangled into a valid entry.

The cases are module-level lists so an attack runner can reuse them:
REFUSED (each gives exactly one error naming the entry and the field), DECODED (each
reads back to exactly these values), and ROUND_TRIP (catalog papers that export and
import back unchanged).
"""

from __future__ import annotations

import bibtexparser
import pytest
from click.testing import CliRunner

from diffatlas import bibtex
from diffatlas.bibtex import BibtexError, export_bibtex, parse_bibtex
from diffatlas.cli import main
from diffatlas.models import Paper
from diffatlas.yamlio import load_yaml

from .helpers import TAXONOMY, make_catalog, paper

TAGS = ["--tag", "ulhaq2022:eps.scheduling", "--tag", "shen2025:algorithm.sampling.solver"]
SUMMARY = ["--summary", "A made-up sampler used to test the add command end to end."]

# (case, BibTeX, words the one error must contain: the entry key, the field, what is wrong)
REFUSED = [
    ("missing comma folds the authors into the title",
     "@inproceedings{mc, title={A Title} author={Ann Smith and Bob Jones}, year={2021}}",
     ["{mc}", "field 'title'", "comma is missing before 'author'"]),
    ("missing comma after a bare number",
     "@article{mc2, year = 2021 title = {T}}", ["{mc2}", "field 'year'", "comma is missing before 'title'"]),
    ("undefined macro as the venue",
     "@inproceedings{um, title={T}, booktitle = neurips, year={2024}}", ["{um}", "field 'booktitle'", "'neurips' is not defined"]),
    ("concatenation with an undefined macro",
     '@inproceedings{cu, title={T}, booktitle = iclr # " 2024", year={2024}}', ["{cu}", "field 'booktitle'", "'iclr' is not defined"]),
    ("a dangling concatenation",
     '@inproceedings{dc, title={T}, booktitle = "ICLR" #, year={2024}}', ["{dc}", "field 'booktitle'", "#"]),
    ("'and others' is not an author",
     "@article{ao, title={T}, author={Ann Smith and others}, year=2020}", ["{ao}", "field 'author'", "others"]),
    ("an unknown month",
     "@article{m1, title={T}, month={Foo}, year=2020}", ["{m1}", "field 'month'", "'Foo'"]),
    ("month 13",
     "@article{m2, title={T}, month=13, year=2020}", ["{m2}", "field 'month'", "'13'"]),
    ("an unknown LaTeX command would be dropped",
     r"@article{lx, title={\foo{Bar} Baz}, year=2020}", ["{lx}", "field 'title'", "\\foo"]),
    ("LaTeX the decoder cannot read",
     r"@article{lh, title={See \href{u}}, year=2020}", ["{lh}", "field 'title'"]),
    ("braces nested too deep",
     "@article{nd, title={" + "{" * 40 + "x" + "}" * 40 + "}, year=2020}", ["{nd}", "field 'title'", "nested"]),
    ("a stray } ends the entry early",
     "@article{sb, title={T}}, year=2020}", ["{sb}", "'}'"]),
    ("crossref to an entry that is not in the file",
     "@inproceedings{cr, title={Child}, crossref={nowhere}}", ["{cr}", "field 'crossref'", "'nowhere'"]),
    ("an entry commented out with %",
     "% @article{co, title={Old}, year=2020}\n@article{ok1, title={Fine}, year=2021}", ["line 1", "commented out"]),
    ("two fields with one name",
     "@article{df, title={T}, title={U}, year=2020}", ["{df}", "field 'title'", "twice"]),
    ("year missing",
     "@article{ny, title={No Year}}", ["{ny}", "field 'year'"]),
    ("year not a year",
     "@article{yy, title={T}, year={20xx}}", ["{yy}", "field 'year'", "'20xx'"]),
    ("title missing",
     "@article{nt, year={2020}}", ["{nt}", "field 'title'"]),
    ("an empty title",
     "@article{et, title={ }, year={2020}}", ["{et}", "field 'title'"]),
    ("a name with too many commas",
     "@article{tc, title={T}, author={Smith, Jr., Ann, Extra}, year=2020}", ["{tc}", "field 'author'"]),
    ("an unbalanced brace runs into the next entry",
     "@article{ub, title={x\n@article{ok2, title={Fine}, year=2021}", ["{ub}", "malformed BibTeX"]),
    ("an entry type BibTeX does not have",
     "@foo{ft, title={T}, year=2020}", ["{ft}", "@foo"]),
    ("an accent with no letter",
     r"@article{na, title={T}, author={Jonas M{\u}ller}, year=2020}", ["{na}", "field 'author'", "\\u has no argument"]),
    ("a value over the size limit",
     "@article{big, title={" + "x" * 20_001 + "}, year=2020}", ["{big}", "field 'title'", "20000"]),
    ("journal and booktitle disagree",
     "@article{jb, title={T}, year=2020, journal={J}, booktitle={B}}", ["{jb}", "field 'journal'", "'B'"]),
    ("an arXiv eprint that is not an arXiv id",
     "@misc{ax, title={T}, year=2020, eprint={not-an-id}, archivePrefix={arXiv}}", ["{ax}", "field 'eprint'"]),
]

# Duplicate keys refuse both entries: one error naming the key and both lines.
DUPLICATE_KEYS = "@article{dk, title={First}, year=2020}\n@article{DK, title={Second}, year=2021}\n"

# (case, BibTeX, expected values of the one record)
DECODED = [
    ("LaTeX accents and letters",
     r'@article{a1, title={G{\"o}del, Escher and {\o}resund}, author={Kurt G{\"o}del and S{\o}ren Kierkegaard}, year=2020}',
     {"title": "Gödel, Escher and øresund", "authors": ["Kurt Gödel", "Søren Kierkegaard"]}),
    ("math becomes Unicode",
     r"@article{a2, title={An $\mathcal{O}(n)$ Sampler for {PixArt}-{$\alpha$} and {$\Delta$}-{DiT}}, year=2020}",
     {"title": "An 𝒪(n) Sampler for PixArt-α and Δ-DiT"}),
    ("LaTeX escapes",
     r"@article{a3, title={100\% Faster \& \#1 in\_Class}, year=2020}", {"title": "100% Faster & #1 in_Class"}),
    ("a bare % and & keep their meaning",
     "@article{a4, title={100% Faster & Better}, year=2020}", {"title": "100% Faster & Better"}),
    ("@string and concatenation",
     '@string{iclr = "ICLR"}\n@inproceedings{a5, title={T}, booktitle = iclr # " 2024", year={2024}}', {"venue": "ICLR 2024"}),
    ("month as a macro, a name, a number",
     "@article{a6, title={T}, year=2020, month=feb}", {"month": 2}),
    ("month as a braced full name", "@article{a7, title={T}, year=2020, month={September}}", {"month": 9}),
    ("month as a number", "@article{a8, title={T}, year=2020, month={03}}", {"month": 3}),
    ("crossref brings the year and booktitle from the parent",
     "@inproceedings{child, title={Child Paper}, crossref={proc}}\n"
     "@proceedings{proc, title={Proceedings of X}, booktitle={Proceedings of X}, year=2021, month=jul}",
     {"bibkey": "child", "year": 2021, "month": 7, "venue": "Proceedings of X"}),
    ("a % comment between fields",
     "@article{a9, title={T}, % a comment, with a comma and a } brace\n year=2020}", {"title": "T", "year": 2020}),
    ("King, Jr.", "@article{b1, title={T}, author={King, Jr., Martin Luther}, year=2020}", {"authors": ["Martin Luther King Jr."]}),
    ("braced last names and ties",
     "@article{b2, title={T}, author={{De Bortoli}, Valentin and D.~P. Kingma}, year=2020}",
     {"authors": ["Valentin De Bortoli", "D. P. Kingma"]}),
    ("a URL keeps its braces, escapes are undone",
     r"@misc{b3, title={T}, year=2020, url={https://x.org/a{b}c\_d}}", {"url": "https://x.org/a{b}c_d"}),
    ("Google Scholar's arXiv journal",
     "@article{b4, title={T}, year=2020, journal={arXiv preprint arXiv:2010.02502}}", {"venue": "arXiv", "arxiv": "2010.02502"}),
    ("a DOI given as a link", "@article{b5, title={T}, year=2020, doi={https://doi.org/10.1234/abc}}", {"doi": "10.1234/abc"}),
    ("an eprint with a version", "@misc{b6, title={T}, year=2020, eprint={2010.02502v3}, archivePrefix={arXiv}}", {"arxiv": "2010.02502"}),
    ("other fields are kept verbatim", "@article{b7, title={T}, year=2020, pages={1--33}, note={See {\\S}2}}",
     {"bibtex_extra": {"pages": "1--33", "note": "See {\\S}2"}}),
    ("a thesis", "@phdthesis{b8, title={T}, year=2023, school={Stanford University}}",
     {"venue": "PhD thesis, Stanford University", "bibtex_type": "phdthesis"}),
    ("quoted value with braces", '@article{b9, title="Quoted {T}itle", year=2020}', {"title": "Quoted Title"}),
]


def _paper(pid: str, title: str, **extra) -> Paper:
    return Paper.model_validate(paper(pid, title, **extra))


def _unchecked(pid: str, title: str, **extra) -> Paper:
    """A paper validation never saw (validation refuses these bibtex_extra keys): the export must still be safe."""
    return Paper.model_construct(**{**Paper.model_validate(paper(pid, title)).model_dump(), **extra})


# Catalog papers that must export and import back unchanged (item 9).
ROUND_TRIP = [
    _paper("king-2020", "A Dream Deferred", authors=["Martin Luther King Jr.", "Aaron van den Oord"], month=4, venue="ICML"),
    _paper("braces-url-2020", "Braces in a Link", url="https://example.org/a{b}c?x=1%202#frag"),
    _paper("extra-std-2020", "Standard Keys Kept", venue="JMLR", bibtex_extra={"volume": "23", "pages": "1--33", "publisher": "JMLR.org"}),
    _paper("greek-2024", "PixArt-α and Δ-DiT: Schrödinger’s {Odd} Title_with 100% & $5 #1 ~ ^ 1 < 2 > 0 \\ -- —", venue="arXiv",
           authors=["Gödel Ñandú", "Zoë Ångström"]),
    _paper("thesis-2023", "Modeling Sequences", venue="PhD thesis, Stanford University", authors=["Albert Gu"]),
]

# bibtex_extra keys that could write a second field or break the entry: refused on export.
BAD_EXTRA_KEYS = ["title", "Title", "title ", "note = {x},\n title", "year", "bad key", "url", ""]


@pytest.mark.parametrize("case, text, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_one_clear_error(case, text, words):
    parsed = parse_bibtex(text, source="x.bib")
    assert len(parsed.errors) == 1, parsed.errors
    assert parsed.errors[0].startswith("x.bib:")
    for word in words:
        assert word in parsed.errors[0], parsed.errors[0]
    refused_key = next((w.strip("{}") for w in words if w.startswith("{")), None)
    assert refused_key not in [r["bibkey"] for r in parsed.records]


def test_a_broken_string_is_named_where_it_is_used():
    parsed = parse_bibtex('@string{ven = nips # " 2020"}\n@article{sm, title={T}, year=2020, journal=ven}', source="x.bib")
    assert parsed.records == [] and len(parsed.errors) == 2, parsed.errors
    assert "@string{ven}" in parsed.errors[0] and "'nips' is not defined" in parsed.errors[0]
    assert "{sm}" in parsed.errors[1] and "the @string 'ven' could not be read" in parsed.errors[1]


def test_duplicate_keys_refuse_both_entries():
    parsed = parse_bibtex(DUPLICATE_KEYS, source="x.bib")
    assert parsed.records == []
    assert len(parsed.errors) == 1 and "'dk'" in parsed.errors[0].lower() and "lines 1 and 2" in parsed.errors[0], parsed.errors


@pytest.mark.parametrize("case, text, expected", DECODED, ids=[c[0] for c in DECODED])
def test_decoded_faithfully(case, text, expected):
    parsed = parse_bibtex(text, source="x.bib")
    assert parsed.errors == []
    assert len(parsed.records) == 1, parsed.records
    record = parsed.records[0]
    assert {k: record.get(k) for k in expected} == expected


def test_crossref_parent_is_not_a_paper():
    parsed = parse_bibtex(DECODED[8][1], source="x.bib")
    assert [r["bibkey"] for r in parsed.records] == ["child"]
    assert any("proc" in line and "crossref" in line for line in parsed.skipped)


@pytest.mark.parametrize("original", ROUND_TRIP, ids=[p.id for p in ROUND_TRIP])
def test_round_trip_keeps_every_field(original):
    text = export_bibtex([original])
    assert text.isascii(), text
    parsed = parse_bibtex(text, source="export")
    assert parsed.errors == []
    (record,) = parsed.records
    for name in ("title", "authors", "year", "month", "venue", "doi", "arxiv", "url"):
        assert record.get(name) == (getattr(original, name) or None), name
    assert record.get("bibtex_extra", {}) == original.bibtex_extra


def test_king_jr_is_written_last_name_first():
    text = export_bibtex([ROUND_TRIP[0]])
    assert "author = {King, Jr., Martin Luther and Aaron van den Oord}" in text, text


def test_standard_key_in_bibtex_extra_is_exported():
    p = _paper("std-extra-2020", "Kept", venue="Nature", bibtex_extra={"howpublished": "Online demo", "volume": "7"})
    text = export_bibtex([p])
    assert "howpublished = {Online demo}" in text and "volume = {7}" in text, text
    p = _unchecked("std-extra-2021", "Kept", bibtex_extra={"doi": "10.1234/xyz"})
    assert "doi = {10.1234/xyz}" in export_bibtex([p])


@pytest.mark.parametrize("key", BAD_EXTRA_KEYS)
def test_bibtex_extra_cannot_inject_a_field(key):
    p = _unchecked("inject-2020", "The Real Title", bibtex_extra={key: "Evil", "volume": "3"})
    assert bibtex.bibtex_extra_problems(p)[0].startswith("bibtex_extra key")
    text = export_bibtex([p])
    assert "% diffatlas: not written: inject-2020: bibtex_extra key" in text and "Evil" not in text
    (entry,) = bibtexparser.parse_string(text).entries
    assert [f.key for f in entry.fields] == ["title", "year", "booktitle", "url", "volume"]
    assert parse_bibtex(text).records[0]["title"] == "The Real Title"


def test_bibtex_extra_value_cannot_close_the_entry():
    p = _paper("inject-2021", "The Real Title", bibtex_extra={"note": "x}, title = {Evil"})
    text = export_bibtex([p])
    parsed = parse_bibtex(text, source="export")
    assert parsed.errors == [] and parsed.records[0]["title"] == "The Real Title"
    (entry,) = bibtexparser.parse_string(text).entries
    assert [f.key for f in entry.fields] == ["title", "year", "booktitle", "url", "note"]


# --- the commands: non-UTF-8 input, all-or-nothing import ------------------------------------

NOT_UTF8 = "@article{l1, title={G\xf6del}, year=2020}".encode("latin-1")


def test_non_utf8_is_refused():
    with pytest.raises(BibtexError, match="not UTF-8.*byte 0xf6"):
        bibtex.read_bib_bytes(NOT_UTF8, "x.bib")
    assert bibtex.read_bib_bytes("\ufeff@misc{a}".encode("utf-8"), "x.bib") == "@misc{a}"
    with pytest.raises(BibtexError, match="larger than 1 MB"):
        bibtex.read_bib_bytes(b" " * (bibtex.MAX_BIB_BYTES + 1), "x.bib")


@pytest.fixture
def root(tmp_path):
    return make_catalog(tmp_path, [paper("existing-2022", "Denoising Diffusion Implicit Models", arxiv="2010.02502",
                                         url="https://arxiv.org/abs/2010.02502")])


def files(root):
    return sorted(p.name for p in (root / "papers").glob("*.yaml"))


def test_add_refuses_a_non_utf8_file(root, tmp_path):
    path = tmp_path / "latin1.bib"
    path.write_bytes(NOT_UTF8)
    result = CliRunner().invoke(main, ["add", "--catalog", str(root), "--taxonomy", str(TAXONOMY), "--no-interactive",
                                       "--bibtex", str(path), *TAGS, *SUMMARY])
    assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit), result.output
    assert "not UTF-8" in result.output and str(path) in result.output
    assert files(root) == ["existing-2022.yaml"]


def test_add_refuses_folded_authors(root):
    bib = "@inproceedings{mc, title={A Made-Up Sampler} author={Ann Smith}, year={2021}, url={https://example.org/m}}"
    result = CliRunner().invoke(main, ["add", "--catalog", str(root), "--taxonomy", str(TAXONOMY), "--no-interactive",
                                       "--bibtex", "-", *TAGS, *SUMMARY], input=bib)
    assert result.exit_code not in (0, None) and "comma is missing before 'author'" in result.output, result.output
    assert files(root) == ["existing-2022.yaml"]


MIXED = (
    "@inproceedings{good1, title={A Good Paper About Caching}, year={2023}, booktitle={CVPR}}\n"
    "@article{bad1, title={Folded} author={Ann}, year={2021}}\n"
    "@inproceedings{good2, title={Another Good Paper About Pruning}, year={2024}, booktitle={ICLR}}\n"
    "@article{bad2, title={No Month}, year={2021}, month={Smarch}}\n"
)


@pytest.mark.parametrize("dry_run", [False, True])
def test_bib_import_is_all_or_nothing(root, tmp_path, dry_run):
    path = tmp_path / "mixed.bib"
    path.write_text(MIXED, encoding="utf-8")
    args = ["bib", "import", str(path), "--catalog", str(root), "--taxonomy", str(TAXONOMY)] + (["--dry-run"] if dry_run else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit), result.output
    assert "{bad1}" in result.output and "{bad2}" in result.output
    assert "nothing was imported" in result.output and "2 entries refused" in result.output
    assert files(root) == ["existing-2022.yaml"]


def test_bib_import_refuses_non_utf8(root, tmp_path):
    path = tmp_path / "latin1.bib"
    path.write_bytes(NOT_UTF8)
    result = CliRunner().invoke(main, ["bib", "import", str(path), "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit), result.output
    assert "not UTF-8" in result.output
    assert files(root) == ["existing-2022.yaml"]


def test_bib_import_of_a_clean_file_reports_skipped_parents(root, tmp_path):
    path = tmp_path / "clean.bib"
    path.write_text(DECODED[8][1], encoding="utf-8")
    result = CliRunner().invoke(main, ["bib", "import", str(path), "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0, result.output
    assert "created child" in result.output and "proc" in result.output
    assert load_yaml(root / "papers" / "child.yaml")["year"] == 2021
