"""Normalisation used to recognise the same paper under different spellings."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlparse

_ARXIV_RE = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
ARXIV_ID_RE = re.compile(r"^\d{4}\.\d{4,5}$")
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


def is_safe_url(url: str) -> bool:
    """Only absolute http(s) links with a host are allowed into the catalog."""
    try:
        parsed = urlparse(url.strip())
    except ValueError:
        return False
    return parsed.scheme.lower() in SAFE_SCHEMES and bool(parsed.netloc) and url == url.strip()


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
