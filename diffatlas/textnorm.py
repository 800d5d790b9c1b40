"""Normalisation used to recognise the same paper under different spellings, and the character and
link rules every catalog string and link must meet."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

_ARXIV_RE = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
ARXIV_ID_RE = re.compile(r"^[0-9]{4}\.[0-9]{4,5}$")  # ASCII digits only (a bare \d takes any script)
SAFE_SCHEMES = ("http", "https")
_STOP = {
    "a", "an", "the", "of", "for", "with", "via", "and", "in", "on", "to", "by",
    "from", "at", "is", "are", "your", "you", "towards", "toward", "using", "through",
}


def normalize_title(title: str) -> str:
    """Lower-case ASCII letters and digits only: 'LoRA:' and 'Lora' compare equal."""
    text = unicodedata.normalize("NFKD", title)
    text = text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", text)


def arxiv_from_url(url: str | None) -> str | None:
    """The arXiv id inside an arxiv.org link, without version suffix."""
    if not url:
        return None
    match = _ARXIV_RE.search(url)
    return match.group(1) if match else None


# -- characters that hide or reorder text ------------------------------------------------------------
# Refused in every catalog string: C1 controls (U+0080-U+009F, e.g. U+009B, the 8-bit terminal escape),
# line and paragraph separators (U+2028, U+2029: JavaScript and YAML treat them as line breaks), lone
# surrogates (they cannot be written as UTF-8), and every Unicode *format* character (category Cf):
# the bidirectional embeddings, overrides, isolates and marks behind "Trojan Source" (U+202A-U+202E,
# U+2066-U+2069, U+200E, U+200F, U+061C) and the invisible ones that hide or split text so that what a
# reviewer reads is not what a search, a duplicate check or a copy-paste sees: zero-width space U+200B,
# word joiner U+2060, BOM U+FEFF, soft hyphen U+00AD, invisible operators U+2061-U+2064, interlinear
# annotations U+FFF9-U+FFFB and the tag characters U+E0000-U+E007F (invisible copies of ASCII).
# Kept: zero-width non-joiner and joiner (U+200C, U+200D), which spell Persian and Indic names and
# emoji sequences; they cannot reorder text. ASCII controls are the models' own check.
_KEPT_FORMAT = frozenset("\u200c\u200d")
_HIDDEN_CATEGORIES = {  # Unicode category -> what the error says the character is
    "Cc": "a control character",
    "Cf": "an invisible formatting character, which can hide or reorder text",
    "Zl": "a line separator, which breaks the line in JavaScript and YAML",
    "Zp": "a paragraph separator, which breaks the line in JavaScript and YAML",
    "Cs": "a lone surrogate, which cannot be written as UTF-8",
}


def describe_char(char: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': how an error names a character nobody can see."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def hidden_character(text: str) -> tuple[int, str, str] | None:
    """The first non-ASCII character that hides or reorders text, as (1-based position, character,
    what it is), or None. Linear, and nearly free for ASCII text."""
    if text.isascii():
        return None
    for index, char in enumerate(text, 1):
        if char > "\x7f" and char not in _KEPT_FORMAT:
            kind = _HIDDEN_CATEGORIES.get(unicodedata.category(char))
            if kind:
                return index, char, kind
    return None


# -- links ------------------------------------------------------------------------------------------
# Characters no catalog link may hold: every space and control character (a browser drops some, a
# Markdown renderer ends the link at others), the quotes and angle brackets that end an HTML attribute
# or start a tag, the backslash (a browser reads it as '/', so 'https://evil.example\@arxiv.org' goes
# to evil.example) and the backtick (it ends Markdown code). Percent-encode them instead (%20, %22, ...).
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f<>\"'`\\]")
_SURVEY_LINK_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f<>\"']")  # a survey's own link, kept as printed
_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?")
_NAMED_CHARS = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}
DANGEROUS_SCHEMES = ("javascript", "data", "vbscript")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.I)


def _forbidden_char(url: str, forbidden: re.Pattern = _URL_FORBIDDEN) -> str | None:
    """What the first character a link may not hold is, and where (None if there is none)."""
    bad = forbidden.search(url)
    if bad:
        char = bad.group()
        shown = _NAMED_CHARS.get(char) or (repr(char) if char.isprintable() and char.isascii() else describe_char(char))
        return f"contains {shown} at character {bad.start() + 1}"
    hidden = hidden_character(url)
    return f"contains {describe_char(hidden[1])} at character {hidden[0]}, {hidden[2]}" if hidden else None


def url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) link to a plain host, or None when it is one.

    The message says what is wrong and ends with the fix after '; '.
    """
    bad = _forbidden_char(url)
    if bad:
        return f"{bad}; percent-encode it (%20 for a space, %22 for a quote) or remove it"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a well-formed link; check the brackets of the host"
    if parts.scheme.lower() not in SAFE_SCHEMES:
        return "is not an absolute http(s) link; write it in full: https://host/path"
    if "@" in parts.netloc:
        return ("has user-info before '@' in the host part (the browser goes to the host after '@', not to "
                "the one before it); remove everything from '//' to '@'")
    host = parts.hostname or ""
    if not host:
        return "has no host; write it in full: https://host/path"
    try:
        parts.port
    except ValueError:
        return "has a port that is not a number from 0 to 65535; remove the ':port' or correct it"
    if not host.isascii():
        return (f"has non-ASCII letters in the host {host!r} (look-alike letters can fake a known site); "
                "write the host in its xn-- form")
    if not (_HOST.fullmatch(host) or _is_ip_literal(parts.netloc, host)):
        return (f"has {host!r} as its host, which is not a plain host name; "
                "write the host as letters, digits, '-' and '.'")
    return None


def _is_ip_literal(netloc: str, host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return ":" not in host or "[" in netloc  # an IPv6 address only between brackets


def is_safe_url(url: str) -> bool:
    """Only absolute http(s) links to a plain host, with nothing to hide or escape, enter the catalog."""
    return isinstance(url, str) and url_problem(url) is None


def survey_link_problem(url: str) -> str | None:
    """Why a survey's link, kept as the survey gives it (it may be broken: 'hhttps://...'), still may
    not enter the catalog, or None: no spaces, controls, quotes or brackets, no script or data scheme."""
    bad = _forbidden_char(url, _SURVEY_LINK_FORBIDDEN)
    if bad:
        return f"{bad}; percent-encode it (%20 for a space) or remove it"
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() in DANGEROUS_SCHEMES:
        return (f"is a {scheme.group(1).lower()}: link, which runs code or hides a page; "
                "give the survey's http(s) link or leave it out")
    return None


def slug_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [w for w in re.split(r"[^a-z0-9]+", text) if w]


def derive_id(title: str, year: int | None) -> str:
    """A readable, stable id from the title: 'DPM-Solver: ...' -> dpm-solver-2022.

    A short name before a colon wins (most method papers have one); otherwise
    the first four significant words are used.
    """
    head, sep, _ = title.partition(":")
    words = slug_words(head) if sep and len(slug_words(head)) <= 3 else []
    if not words:
        words = [w for w in slug_words(title) if w not in _STOP][:4] or slug_words(title)[:4]
    base = "-".join(words)[:60].strip("-") or "paper"
    return f"{base}-{year}" if year else base
