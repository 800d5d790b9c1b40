"""Escaping for every catalog string that reaches HTML or Markdown.

The catalog's models already reject markup and non-http(s) links, but the app
does not rely on that alone: a fork's catalog, a future field or an object
built without validation must not be able to inject markup either. So every
string goes through one of these helpers on its way to the page:

- `esc` for HTML text and attribute values;
- `md` for Streamlit Markdown (which also renders LaTeX between `$`, emoji
  shortcodes between `:` and coloured `:red[...]` directives), `md_code`
  for inline code;
- `safe_url` / `md_link` / `html_link`, which let through only the links the
  catalog itself accepts (absolute http(s), a plain host, no user-info) and drop
  every other scheme (javascript:, data:, file:, ...).
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from .textnorm import is_safe_url

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:&=\"'^])")
_WS = re.compile(r"\s+")


def esc(text: object) -> str:
    """HTML-escape text for element content and quoted attribute values."""
    return html.escape("" if text is None else str(text), quote=True)


def md(text: object) -> str:
    """Escape text so Streamlit Markdown shows it literally, on one line."""
    value = _WS.sub(" ", "" if text is None else str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", value)


def md_code(text: object) -> str:
    """Inline code in Markdown: backslashes are literal there, so only backticks
    and line breaks need care (a backtick would end the code span)."""
    value = _WS.sub(" ", "" if text is None else str(text)).strip().replace("`", "'")
    return f"`{value}`" if value else ""


def safe_url(url: object) -> str | None:
    """The link itself if it is one the catalog accepts (textnorm.url_problem: absolute http(s), a
    plain host, no user-info, no space, control, quote or bracket), else None."""
    return url if isinstance(url, str) and is_safe_url(url) else None


def _md_target(url: str) -> str:
    # Percent-encode the characters that would end or confuse a Markdown link target.
    return quote(url, safe=":/?#@!$&'*+,;=%~-._")


def md_link(label: object, url: object) -> str:
    """A Markdown link when the URL is safe, else the escaped label as plain text."""
    target = safe_url(url)
    if target is None:
        return md(label)
    return f"[{md(label)}]({_md_target(target)})"


def html_link(label: object, url: object) -> str:
    """An HTML link opening in a new tab when the URL is safe, else escaped text."""
    target = safe_url(url)
    if target is None:
        return esc(label)
    return f'<a href="{esc(target)}" target="_blank" rel="noopener noreferrer">{esc(label)}</a>'


def plain(text: object, limit: int | None = None) -> str:
    """One-line plain text (for tooltips rendered as text), optionally shortened."""
    value = _WS.sub(" ", "" if text is None else str(text)).strip()
    if limit and len(value) > limit:
        value = value[: limit - 1].rstrip() + "\u2026"
    return value
