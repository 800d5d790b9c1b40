"""When two entries are the same paper: the one duplicate rule of the catalog.

`diffatlas validate` (catalog._check_duplicates), `diffatlas add` and the app's
Contribute check (contribute.prepare), `bib import` and `sources import`
(merge.MatchIndex) all compare entries by the keys below, so a paper one path
calls a duplicate is a duplicate on every path.

An entry's keys:

- title: NFKC, Latin look-alikes from other scripts folded to Latin (a Cyrillic
  'е' is an 'e'), case and accents dropped, letters and digits only; titles of
  8 characters or fewer after that are too short to tell papers apart;
- arxiv: the arXiv id from the `arxiv` field or from any arXiv link form
  (abs/, pdf/, html/, a version suffix, .pdf, the 10.48550/arXiv DOI);
- url: the link without scheme, `www.`, fragment, trailing slash, arXiv version
  and tracking query (utm_*, ref, fbclid, ...), the remaining query sorted;
- doi: lower-cased, from the `doi` field or a doi.org link.

Folding covers only cross-script look-alikes of Latin letters (Cyrillic, Greek,
a few IPA letters), not the whole Unicode confusables table: that table also
folds 'rn' to 'm' and 'l' to 'I', which would make distinct real titles collide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

MIN_TITLE_KEY = 9  # a normalised title must be longer than 8 characters to count

# Cyrillic, Greek and IPA letters drawn like a Latin letter, each with the Latin one.
_LOOKALIKES = str.maketrans(
    "АВЕЅІЈКМНОРСТХУӀԚԜ" "аеѕіјорсхуԁԛԝһӏ"  # Cyrillic
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ" "οαιρυχνϲϳ"  # Greek
    "ɑɡɩʏ",  # IPA
    "ABESIJKMHOPCTXYIQW" "aesijopcxydqwhl"
    "ABEZHIKMNOPTYX" "oaipuxvcj"
    "agiy",
)
_ARXIV_URL = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html|format)/|10\.48550/arxiv\.|huggingface\.co/papers/)(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
_ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.I)
_DOI_URL = re.compile(r"^(?:dx\.)?doi\.org/(10\.\d{4,9}/\S+)$", re.I)
_TRACKING = {"ref", "ref_src", "ref_url", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "si", "spm"}


@dataclass(frozen=True)
class Key:
    """One identity of an entry: `kind` and its normalised `value`, and the entry's `field` it came from."""

    kind: str  # "title" | "arxiv" | "url" | "doi"
    value: str
    field: str

    @property
    def token(self) -> str:
        return f"{self.kind}:{self.value}"


def title_key(title: object) -> str | None:
    """The title as compared: 'LoRA:' equals 'Lora', a Cyrillic 'о' equals 'o'; None when too short."""
    if not isinstance(title, str):
        return None
    text = unicodedata.normalize("NFKC", title).translate(_LOOKALIKES).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if ch.isalnum())
    return text if len(text) >= MIN_TITLE_KEY else None


def arxiv_id(value: object) -> str | None:
    """The bare arXiv id in an id ('2206.00927v2', 'arXiv:2206.00927') or in any arXiv link or DOI."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    match = _ARXIV_ID.match(value) or _ARXIV_URL.search(value)
    return match.group(1) if match else None


def doi_key(value: object) -> str | None:
    """A DOI lower-cased (DOIs are case-insensitive), from the bare DOI or a doi.org link."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = re.sub(r"^(?:https?://)?", "", value.strip(), flags=re.I)
    match = _DOI_URL.match(value)
    value = match.group(1) if match else value
    return value.lower() if value.startswith("10.") else None


def url_key(url: object) -> str | None:
    """The link as compared: host lower-cased, no scheme, www., fragment, trailing slash, version or tracking."""
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").removeprefix("www.")
    if not host:
        return None
    found = arxiv_id(url)
    if found:
        return f"arxiv.org/abs/{found}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in _TRACKING and not k.lower().startswith("utm_")]
    path = parts.path.rstrip("/")
    if host == "openreview.net" and path in ("/forum", "/pdf"):  # the forum and its PDF are one paper
        path, query = "/forum", [(k, v) for k, v in query if k == "id"]
    return host + path + (f"?{urlencode(sorted(query))}" if query else "")


def entry_keys(title: object = None, arxiv: object = None, url: object = None, doi: object = None) -> list[Key]:
    """Every key of an entry, from whichever of its fields are present (non-strings count as absent)."""
    found = [
        ("title", title_key(title), "title"),
        ("arxiv", arxiv_id(arxiv) or arxiv_id(url), "arxiv" if arxiv_id(arxiv) else "url"),
        ("url", url_key(url), "url"),
        ("doi", doi_key(doi) or doi_key(url), "doi" if doi_key(doi) else "url"),
    ]
    return [Key(kind, value, field_name) for kind, value, field_name in found if value]


def paper_keys(paper) -> list[Key]:
    """The keys of a catalog paper (a models.Paper or a mapping of its fields)."""
    get = paper.get if isinstance(paper, dict) else lambda name: getattr(paper, name, None)
    return entry_keys(get("title"), get("arxiv"), get("url"), get("doi"))


def listing_keys(listing) -> list[Key]:
    """The keys of a survey's listing of a paper (its own spelling of the title and link)."""
    get = listing.get if isinstance(listing, dict) else lambda name: getattr(listing, name, None)
    return entry_keys(get("title"), None, get("url"), None)
