"""YAML in and out: safe loading only, and a stable, readable output style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FIELD_ORDER = (
    "id", "title", "name", "year", "month", "authors", "venue", "arxiv", "doi", "url", "code",
    "kind", "unresolved", "summary", "keywords", "tags", "outside", "listed_in", "reported", "no_reported", "runs_here", "notes",
    "bibtex_type", "bibtex_extra",
)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """Malformed YAML, with the line where the parser gave up (1-based)."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


def load_yaml_text(text: str) -> Any:
    """Parse with the safe loader (libyaml's C one when present): no tag can construct a Python object."""
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader, chosen above)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(str(problem), line) from None


def load_yaml(path: Path) -> Any:
    return load_yaml_text(Path(path).read_text(encoding="utf-8"))


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def ordered_paper_dict(data: dict) -> dict:
    """Known fields in a fixed order, empty optional values dropped."""
    out = {}
    for key in FIELD_ORDER:
        if key in data and data[key] not in (None, [], {}, False, ""):
            out[key] = data[key]
    for key in data:
        if key not in out and key not in FIELD_ORDER:
            out[key] = data[key]
    return out


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_new_file(path: Path, text: str) -> None:
    """Create a file, refusing to overwrite one that exists (exclusive open)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(text)
