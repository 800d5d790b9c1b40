"""Issue 13, validation of catalog text and links: hostile or mistyped values are refused
with the field, what is wrong and the fix, and no check can be made slow.

The hostile inputs are module-level lists so an attack runner can reuse them:
QUADRATIC_MARKUP, MARKUP_REFUSED / PLAIN_ACCEPTED, TEXT_LIMITS, HIDDEN_CHARACTERS,
BAD_URLS / GOOD_URLS, BAD_SURVEY_LINKS / KEPT_SURVEY_LINKS, BAD_BIBTEX_KEYS,
TYPE_ERRORS and NON_FINITE.
"""

from __future__ import annotations

import random
import re
import time

import pytest
from pydantic import ValidationError

from diffatlas import models
from diffatlas.catalog import load_catalog
from diffatlas.htmlsafe import safe_url
from diffatlas.models import Node, Paper, Taxonomy
from diffatlas.problems import Problem, from_validation_error

from .helpers import TAXONOMY, paper

# -- building entries -------------------------------------------------------------------------------


def full_paper(**changes) -> dict:
    """A valid paper that has every nested part (survey listing, figure, runs_here, BibTeX extra)."""
    data = paper(
        "hostile-2022", "A Test Paper Title",
        authors=["Ada Lovelace"], keywords=["sampling"], notes=["A short note."], doi="10.1234/abc",
        code="https://github.com/example/code",
        listed_in=[{"survey": "ulhaq2022", "section": "Fast sampling", "url": "https://example.org/s"}],
        reported=[{"metric": "FID", "value": 3.2, "source": "paper"}],
        runs_here={"checked": "2024-01-02", "machine": "CPU, Python 3.11", "status": "runs",
                   "tried": "pip install it", "outcome": "it ran", "reason": "It runs on the CPU as it is."},
        bibtex_extra={"note": "kept"},
    )
    data.update(changes)
    return data


def node(**changes) -> dict:
    data = {"id": "eps", "name": "Sampling", "description": "How samples are drawn.", "no_demo": "Too big here."}
    data.update(changes)
    return data


def taxonomy(**changes) -> dict:
    data = {"id": "ulhaq2022", "name": "A tree", "survey": "ulhaq2022", "description": "The survey's tree.",
            "nodes": [node()]}
    data.update(changes)
    return data


BUILDERS = {"Paper": (Paper, full_paper), "Node": (Node, node), "Taxonomy": (Taxonomy, taxonomy)}


def set_path(data: dict, path: str, value) -> dict:
    """Set 'listed_in.0.section' style paths inside nested dicts and lists."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = data
    for part in parents:
        target = target[part]
    target[last] = value
    return data


def problems_of(model_name: str, path: str | None = None, value=None) -> list[Problem]:
    model, build = BUILDERS[model_name]
    data = build()
    if path is not None:
        set_path(data, path, value)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return from_validation_error("entry.yaml", exc)
    return []


def field_name(path: str) -> str:
    """'listed_in.0.section' -> 'listed_in[0].section', as a Problem names it."""
    return re.sub(r"\.(\d+)", r"[\1]", path)


def only_problem(found: list[Problem], field: str) -> Problem:
    assert [p.field for p in found] == [field], [str(p) for p in found]
    assert found[0].hint or "; " in found[0].message, f"no fix given: {found[0]}"
    return found[0]


def test_the_base_entries_are_valid():
    for name in BUILDERS:
        assert problems_of(name) == []


# -- 1. the "no HTML" check is linear, and every text field has a size limit -----------------------

# Each would take seconds to scan with the old regex `<\s*/?\s*[a-zA-Z!?][^>]*>`, whose `[^>]*`
# restarts at every '<' (100 KB of '<x': about 2 s; 200 KB: 6-13 s).
QUADRATIC_MARKUP = [
    ("open tags, no '>'", "<x" * 50_000),
    ("closing tags, no '>'", "</x " * 25_000),
    ("bangs, no '>'", "<!" * 50_000),
    ("one '<' then spaces", "<" + " " * 100_000),
    ("'< /' then spaces", "< /" + " " * 100_000),
    ("entity starts", "&a" * 50_000),
]


def _fast(check, text: str, bound: float = 0.5) -> bool:
    """True if `check(text)` ever finishes within `bound` seconds in three tries (a linear scan of
    100 KB takes milliseconds even on a busy machine; the quadratic one takes seconds)."""
    for _ in range(3):
        start = time.perf_counter()
        check(text)
        if time.perf_counter() - start < bound:
            return True
    return False


def _check_quietly(text: str) -> None:
    try:
        models._clean_text(text)
    except ValueError:
        pass


@pytest.mark.parametrize("name, text", QUADRATIC_MARKUP, ids=[c[0] for c in QUADRATIC_MARKUP])
def test_markup_check_is_linear(name, text):
    assert _fast(_check_quietly, text), f"the markup check is slow on {name}"


# The regex the check replaced: the reference for "refuses the same markup as today".
OLD_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|<\s*[a-zA-Z]+[\s/>]|&#\d+;|&[a-z]+;", re.I)
MARKUP_REFUSED = [
    "<b>Bold</b> Title", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "< img src=x>", "</div>",
    "<!-- comment -->", "<?php echo 1 ?>", "&lt;script&gt;", "&#60;script", "&#x3c;script", "&#X3C;script",
    "a <br/> b", "<svg/onload=alert(1)>", "<a <3 >", "</x <3>", "x < y > z", "<a\nhref=x>", "<\n/ b >",
    "AT&amp;T", "R&D; more", "<A HREF=x>",
]
PLAIN_ACCEPTED = [
    "a < b", "x<3", "1 <= n", "<= 2 >", "AT&T", "R&D, more", "Q&A", "< 5 >", "p<0.05", "a<b", "f: R^n -> R",
    "speed-up > 2x", "x & y;", "&", "<", ">", "<>", "< >", "& ;", "&#;", "&#x;",
]


@pytest.mark.parametrize("text", MARKUP_REFUSED)
def test_markup_is_still_refused(text):
    with pytest.raises(ValueError, match="HTML"):
        models._clean_text(text)


@pytest.mark.parametrize("text", PLAIN_ACCEPTED)
def test_plain_text_with_angle_brackets_is_accepted(text):
    assert models._clean_text(text) == text


def test_markup_check_agrees_with_the_old_regex():
    """On thousands of short random strings the new check refuses exactly what the old regex refused,
    plus hexadecimal entities (&#x3c;), which the old one let through."""
    rng = random.Random(13)
    hex_entity = re.compile(r"&#x[0-9a-f]+;", re.I)
    for _ in range(20_000):
        text = "".join(rng.choice("<>/ \n!?aBx3&#;") for _ in range(rng.randint(1, 10)))
        try:
            models._clean_text(text)
            refused = False
        except ValueError:
            refused = True
        assert refused == bool(OLD_HTML.search(text) or hex_entity.search(text)), repr(text)


# (model, field path, limit): every text field of Paper, Listing, Reported, RunsHere, Node and Taxonomy.
TEXT_LIMITS = [
    ("Paper", "title", 500), ("Paper", "summary", 3000), ("Paper", "name", 60), ("Paper", "authors.0", 500),
    ("Paper", "venue", 500), ("Paper", "keywords.0", 500), ("Paper", "tags.shen2025.0", 500),
    ("Paper", "notes.0", 1000), ("Paper", "bibtex_extra.note", 4000), ("Paper", "url", 2000),
    ("Paper", "code", 2000), ("Paper", "doi", 300),
    ("Paper", "listed_in.0.section", 500), ("Paper", "listed_in.0.ref", 500), ("Paper", "listed_in.0.name", 500),
    ("Paper", "listed_in.0.title", 500), ("Paper", "listed_in.0.venue", 500), ("Paper", "listed_in.0.year", 500),
    ("Paper", "listed_in.0.note", 1000), ("Paper", "listed_in.0.url", 2000),
    ("Paper", "reported.0.metric", 500), ("Paper", "reported.0.value", 500), ("Paper", "reported.0.unit", 500),
    ("Paper", "reported.0.dataset", 500), ("Paper", "reported.0.steps", 500), ("Paper", "reported.0.baseline", 500),
    ("Paper", "reported.0.hardware", 500), ("Paper", "reported.0.source", 500), ("Paper", "reported.0.where", 500),
    ("Paper", "reported.0.note", 1000),
    ("Paper", "runs_here.machine", 200), ("Paper", "runs_here.tried", 300), ("Paper", "runs_here.outcome", 500),
    ("Paper", "runs_here.reason", 600),
    ("Node", "name", 500), ("Node", "description", 1000), ("Node", "no_demo", 1000),
    ("Taxonomy", "name", 500), ("Taxonomy", "description", 1000), ("Taxonomy", "survey", 80),
    ("Taxonomy", "nodes.0.name", 500),
]


def _text_of_length(path: str, length: int) -> str:
    if path.endswith(("url", "code")):
        return "https://example.org/" + "a" * (length - 20)
    if path == "doi":
        return "10.1234/" + "a" * (length - 8)
    if path == "survey":
        return "a" * length
    return ("word " * length)[: length - 1] + "x"


@pytest.mark.parametrize("model, path, limit", TEXT_LIMITS, ids=[f"{m}.{p}" for m, p, _ in TEXT_LIMITS])
def test_every_text_field_has_a_size_limit(model, path, limit):
    assert not [p for p in problems_of(model, path, _text_of_length(path, limit)) if p.field == field_name(path)]
    found = only_problem(problems_of(model, path, _text_of_length(path, limit + 1)), field_name(path))
    assert str(limit) in found.message, f"the error must name the limit: {found}"
    assert f"{limit + 1}" in found.message, f"the error says how long the value is: {found}"


def test_a_200_kb_title_is_refused_quickly_by_its_limit():
    start = time.perf_counter()
    found = only_problem(problems_of("Paper", "title", "<x" * 100_000), "title")
    assert "500" in found.message and time.perf_counter() - start < 1


def test_the_committed_catalog_fits_the_limits():
    catalog = load_catalog()
    assert not [p for p in catalog.problems if "at most" in p.message], catalog.problems


# -- 10. invisible and reordering characters in text ------------------------------------------------

HIDDEN_CHARACTERS = [
    *[chr(c) for c in range(0x202A, 0x202F)],  # bidirectional embeddings and overrides (Trojan Source)
    *[chr(c) for c in range(0x2066, 0x206A)],  # bidirectional isolates
    "\u200e", "\u200f", "\u061c",  # left-to-right, right-to-left and Arabic letter marks
    "\x80", "\x85", "\x9b", "\x9f",  # C1 controls (U+009B is the 8-bit CSI of terminal escapes)
    "\u2028", "\u2029",  # line and paragraph separators
    "\u200b", "\u2060", "\ufeff",  # zero-width space, word joiner, zero-width no-break space (BOM)
    "\u00ad", "\u2062", "\ufff9",  # soft hyphen, invisible times, interlinear annotation anchor
    "\U000e0041", "\U000e007f",  # tag characters: invisible copies of ASCII ("ASCII smuggling")
]
HIDDEN_FIELDS = [("Paper", "title"), ("Paper", "authors.0"), ("Paper", "summary"), ("Paper", "notes.0"),
                 ("Paper", "listed_in.0.note"), ("Paper", "reported.0.value"), ("Paper", "bibtex_extra.note"),
                 ("Paper", "runs_here.reason"), ("Node", "name"), ("Taxonomy", "description")]
TEXT_KEPT = ["Kurt Gödel", "Łukasz Kaiser", "扩散模型的高效采样", "Mehrdad Far\u200cahani",  # ZWNJ
             "coder 👩\u200d💻 emoji", "Ελληνικά", "line one\nline two\twith a tab"]


@pytest.mark.parametrize("char", HIDDEN_CHARACTERS, ids=[f"U+{ord(c):04X}" for c in HIDDEN_CHARACTERS])
@pytest.mark.parametrize("model, path", HIDDEN_FIELDS)
def test_hidden_characters_are_refused(model, path, char):
    found = only_problem(problems_of(model, path, f"Fast sampling {char}with a long enough text here"),
                         field_name(path))
    assert f"U+{ord(char):04X}" in found.message and "character 15" in found.message, found


@pytest.mark.parametrize("text", TEXT_KEPT)
def test_other_scripts_and_joiners_are_kept(text):
    assert problems_of("Paper", "summary", f"{text}: a summary long enough to pass.") == []


def test_a_lone_surrogate_is_refused_with_a_fix():
    found = only_problem(problems_of("Paper", "title", "Broken \ud800 escape"), "title")
    assert "surrogate" in found.hint


# -- 10. links: url and code ------------------------------------------------------------------------

BAD_URLS = [
    ("https://arxiv.org@evil.example/abs/2010.02502", "user"),
    ("https://user:secret@arxiv.org/abs/2010.02502", "user"),
    ("https://arxiv.org%40evil.example/", "host"),
    ("https://arxiv.org/abs/2010 02502", "space"),
    ("https://arxiv.org/abs/2010.02502\n<img src=x onerror=alert(1)>", "line"),
    ("https://arxiv.org/\tx", "tab"),
    ("https://arxiv.org/\u00a0x", "U+00A0"),
    ("https://arxiv.org/\u3000x", "U+3000"),
    ("https://arxiv.org/\x85x", "U+0085"),
    ("https://arxiv.org/\x00x", "U+0000"),
    ("https://arxiv.org/\x7fx", "U+007F"),
    ("https://arxiv.org/\u202egpj.exe", "U+202E"),
    ("https://arxiv.org/\u200bx", "U+200B"),
    ("https://arxiv.org/<script>", "'<'"),
    ("https://arxiv.org/>x", "'>'"),
    ('https://arxiv.org/"onmouseover=alert(1)', "'\"'"),
    ("https://arxiv.org/'x", "\"'\""),
    ("https://evil.example\\@arxiv.org/", "'\\\\'"),
    ("https://arxiv.org/`x`", "'`'"),
    ("javascript:alert(1)", "http(s)"),
    ("JaVaScRiPt:alert(1)", "http(s)"),
    ("data:text/html;base64,PHNjcmlwdD4=", "http(s)"),
    ("vbscript:msgbox(1)", "http(s)"),
    ("file:///etc/passwd", "http(s)"),
    ("ftp://example.org/x", "http(s)"),
    ("//evil.example/x", "http(s)"),
    ("arxiv.org/abs/2010.02502", "http(s)"),
    ("https://", "host"),
    ("https:///path", "host"),
    ("https://:443/x", "host"),
    ("https://arxiv.org:99999/", "port"),
    ("https://arxiv.org:http/", "port"),
    ("http://[::1/", "well-formed"),
    ("https://аrxiv.org/abs/2010.02502", "xn--"),  # a Cyrillic 'а'
]
GOOD_URLS = [
    "https://arxiv.org/abs/2010.02502", "http://example.org:8080/a?b=c&d=e#f", "https://github.com/x/y",
    "https://example.org/%E2%80%AE%20x", "https://xn--80ak6aa92e.com/", "https://[2001:db8::1]/x",
    "https://example.org/a_(b){c}|d^e~f", "https://zh.wikipedia.org/wiki/扩散模型",
    "https://github.com/Kwai-Kolors/Kolors#:~:text=We%20release%20Kolors%2C%20a%20large",
]


@pytest.mark.parametrize("field", ["url", "code"])
@pytest.mark.parametrize("url, words", BAD_URLS, ids=[repr(u[0])[:40] for u in BAD_URLS])
def test_unsafe_links_are_refused_with_the_reason(field, url, words):
    found = only_problem(problems_of("Paper", field, url), field)
    assert words in found.message + " " + found.hint, found
    assert safe_url(url) is None, "the app must not link it either"


@pytest.mark.parametrize("url", GOOD_URLS)
def test_ordinary_links_are_accepted(url):
    assert problems_of("Paper", "url", url) == []
    assert safe_url(url) == url


BAD_SURVEY_LINKS = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "javascript://%0aalert(1)", "data:text/html,x", "vbscript:x",
    "DATA:text/html;base64,PHNjcmlwdD4=", "javascript&colon;alert(1)", "javascript&#58;alert(1)",
    "javascript&#x3a;alert(1)", "java\tscript:alert(1)", "https://a.org/ x", "https://a.org/\nx",
    "https://a.org/<script>", 'https://a.org/"x', "https://a.org/'x", "https://a.org/\x01", "https://a.org/\x9b",
    "https://a.org/\u202e", "https://a.org/>",
]
KEPT_SURVEY_LINKS = ["hhttps://arxiv.org/abs/2010.02502", "arxiv.org/abs/2010.02502", "https//broken.example",
                     "https://user@example.org/as-printed", "ttp://x.org", "https://a.org/a,b;c"]


@pytest.mark.parametrize("url", BAD_SURVEY_LINKS, ids=[repr(u)[:40] for u in BAD_SURVEY_LINKS])
def test_dangerous_survey_links_are_refused(url):
    only_problem(problems_of("Paper", "listed_in.0.url", url), "listed_in[0].url")


@pytest.mark.parametrize("url", KEPT_SURVEY_LINKS)
def test_broken_survey_links_are_kept_as_given(url):
    assert problems_of("Paper", "listed_in.0.url", url) == []


# -- 10. bibtex_extra keys ----------------------------------------------------------------------------

# (key, other fields of the paper, words of the message or fix): a field the catalog writes from its own
# fields would be a second title, author list, ... in the exported entry.
BAD_BIBTEX_KEYS = [
    ("title", {}, "'title:'"), ("Title", {}, "'title:'"), (" title", {}, "'title:'"), ("author", {}, "'authors:'"),
    ("year", {}, "'year:'"), ("month", {}, "'month:'"), ("journal", {}, "'venue:'"), ("booktitle", {}, "'venue:'"),
    ("doi", {"doi": None}, "'doi:'"), ("url", {}, "'url:'"), ("eprint", {"arxiv": "2010.02502"}, "'arxiv:'"),
    ("archiveprefix", {"arxiv": "2010.02502"}, "'arxiv:'"),
    ("bad key", {}, "lower-case"), ("x=y", {}, "lower-case"), ("note}", {}, "lower-case"), ("", {}, "lower-case"),
    ("1abc", {}, "lower-case"), ("Pages", {}, "'pages'"), ("a" * 41, {}, "40"), ("ключ", {}, "lower-case"),
    ("note = {x},\n title", {}, "lower-case"),
]
# Kept: other fields, and the venue and eprint fields the catalog does not write for this paper
# (howpublished of a @misc beside its venue, a HAL eprint of a paper without an arXiv id).
GOOD_BIBTEX_KEYS = ["note", "pages", "publisher", "bdsk-url-1", "date_added", "abstract", "primaryclass",
                    "howpublished", "institution", "school", "eprint", "archiveprefix"]


@pytest.mark.parametrize("key, fields, words", BAD_BIBTEX_KEYS, ids=[repr(k)[:30] for k, _, _ in BAD_BIBTEX_KEYS])
def test_bad_or_standard_bibtex_extra_keys_are_refused(key, fields, words):
    data = full_paper(bibtex_extra={key: "a value"}, **fields)
    with pytest.raises(ValidationError) as exc:
        Paper.model_validate(data)
    found = only_problem(from_validation_error("entry.yaml", exc.value), f"bibtex_extra.{key}"[:72])
    assert words in found.message + " " + found.hint, found


@pytest.mark.parametrize("key", GOOD_BIBTEX_KEYS)
def test_other_bibtex_fields_are_kept(key):
    assert Paper.model_validate(full_paper(bibtex_extra={key: "a value"})).bibtex_extra == {key: "a value"}


# -- 12. type errors say how to write the value -------------------------------------------------------

# (field path, value as YAML would read it, words the message or the fix must hold)
TYPE_ERRORS = [
    ("arxiv", 2010.02502, "quote it: arxiv: '2010.02502'"),
    ("arxiv", 2010.025, "trailing zeros"),  # written 2010.0250
    ("arxiv", 2010.025, "arxiv: '2010.02500'"),
    ("arxiv", 704.0001, "arxiv: '0704.0001'"),  # 0704.0001 loses its leading zero
    ("arxiv", 2010, "quote it"),
    ("arxiv", "٢٠١٠.٠٢٥٠٢", "new-style arXiv id"),  # Arabic-Indic digits
    ("authors", "Ada Lovelace, Alan Turing", "write it as a list"),
    ("authors", None, "got nothing"),
    ("keywords", "sampling", "write it as a list"),
    ("notes", "one note", "write it as a list"),
    ("tags", "algorithm.sampling.solver", "shen2025: [algorithm.sampling.solver]"),
    ("tags.shen2025", "algorithm.sampling.solver", "write it as a list"),
    ("title", 1984, "quote it"),
    ("venue", ["ICLR", "NeurIPS"], "write it as text"),
    ("summary", {"a": 1}, "got a mapping"),
    ("month", "May", "1 to 12"),
    ("year", "twenty twenty", "four-digit year"),
    ("year", 2022.5, "four-digit year"),
    ("unresolved", "maybe", "true or false"),
    ("listed_in", {"survey": "ulhaq2022", "section": "x"}, "write it as a list"),
    ("listed_in.0", "ulhaq2022", "field: value"),
    ("listed_in.0.year", [2022], "a whole number or text"),
    ("listed_in.0.ref", 12, "quote it"),
    ("reported.0.value", [1, 2], "a number or text"),
    ("reported.0.value", True, "true or false"),
    ("reported.0.value", {"fid": 3}, "got a mapping"),
    ("reported.0.steps", 10.5, "a whole number or text"),
    ("reported.0.speedup", "fast", "a number"),
    ("reported.0.speedup", True, "a number"),
    ("runs_here", "yes", "field: value"),
    ("bibtex_extra", ["note"], "key: value"),
    ("bibtex_extra.note", 12, "quote it"),
]


@pytest.mark.parametrize("path, value, words", TYPE_ERRORS, ids=[f"{p}={v!r}"[:40] for p, v, _ in TYPE_ERRORS])
def test_type_errors_say_how_to_write_it(path, value, words):
    found = only_problem(problems_of("Paper", path, value), field_name(path))
    assert words in found.message + " " + found.hint, found


def test_an_unquoted_arxiv_id_in_a_yaml_file(tmp_path):
    folder = tmp_path / "catalog" / "papers"
    folder.mkdir(parents=True)
    text = ("id: ddim-2021\ntitle: Denoising Diffusion Implicit Models\nyear: 2021\narxiv: 2010.0250\n"
            "url: https://arxiv.org/abs/2010.02502\nsummary: A summary that is long enough to pass.\n")
    (folder / "ddim-2021.yaml").write_text(text)
    found = [p for p in load_catalog(tmp_path / "catalog", TAXONOMY).problems if p.field == "arxiv"]
    assert len(found) == 1 and found[0].file.endswith("ddim-2021.yaml")
    assert "2010.025" in found[0].message and "trailing zeros" in found[0].message
    assert "quote it" in found[0].hint


NON_FINITE = [("reported.0.value", float("nan")), ("reported.0.value", float("inf")),
              ("reported.0.value", float("-inf")), ("reported.0.speedup", float("inf")),
              ("reported.0.speedup", float("nan"))]


@pytest.mark.parametrize("path, value", NON_FINITE)
def test_reported_figures_are_finite(path, value):
    found = only_problem(problems_of("Paper", path, value), field_name(path))
    assert "finite" in found.message + found.hint


def test_reported_figures_keep_their_type():
    data = full_paper(reported=[{"metric": "FID", "value": 3, "steps": 10, "speedup": 2, "source": "paper"},
                                {"metric": "FID", "value": "10-50", "steps": "NA", "speedup": 2.5, "source": "paper"}])
    first, second = Paper.model_validate(data).reported
    assert (first.value, first.steps, first.speedup) == (3, 10, 2) and isinstance(first.value, int)
    assert (second.value, second.steps, second.speedup) == ("10-50", "NA", 2.5)


def test_every_error_type_of_the_models_has_a_fix():
    """Each entry of TYPE_ERRORS, NON_FINITE and the limits gives a hint or a '; fix' clause (only_problem)."""
    from diffatlas.problems import _HINTS

    for kind in ("string_type", "list_type", "dict_type", "int_type", "int_from_float", "float_type",
                 "float_parsing", "bool_type", "bool_parsing", "model_type", "model_attributes_type",
                 "finite_number", "string_unicode", "greater_than"):
        assert _HINTS.get(kind), kind
