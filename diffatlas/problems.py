"""One validation problem: which file, which field, what is wrong, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    file: str
    field: str | None
    message: str
    hint: str = ""
    line: int | None = None
    severity: str = "error"  # "warning": reported, never fails validation

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        field = f" field '{self.field}':" if self.field else ""
        hint = f" (fix: {self.hint})" if self.hint else ""
        level = " warning:" if self.severity == "warning" else ""
        return f"{where}:{level}{field} {self.message}{hint}"


_QUOTE = "quote it when YAML reads it as something else: a number, a date or true/false (title: '1984')"
_HINTS = {
    "extra_forbidden": "remove it or check its spelling against CONTRIBUTING.md",
    "missing": "add it",
    "string_pattern_mismatch": "see the allowed pattern in the message",
    "literal_error": "use one of the listed values",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number such as 2.5, without a unit (the unit has its own field)",
    "float_parsing": "write a number such as 2.5, without a unit (the unit has its own field)",
    "finite_number": "write a finite number: NaN and infinity are not figures",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "string_type": "write it as text; " + _QUOTE,
    "string_unicode": "the text holds a lone surrogate (a broken \\uD800-\\uDFFF escape); delete the escape",
    "list_type": "write it as a list, one '- item' per line (a list of one item too)",
    "dict_type": "write it as a mapping, one 'key: value' per line",
    "model_type": "write it as a mapping of 'field: value' lines, one per line (see CONTRIBUTING.md)",
    "model_attributes_type": "write it as a mapping of 'field: value' lines, one per line (see CONTRIBUTING.md)",
    "less_than_equal": "check the value",
    "greater_than_equal": "check the value",
    "greater_than": "check the value",
    "string_too_short": "write at least a sentence",
    "string_too_long": "shorten it to the limit in the message",
    "date_type": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_inexact": "write the date as YYYY-MM-DD, without a time",
}
# Hints for a type error in one field, where the general one would not show the shape: (field, type) -> fix.
_NOT_AN_INT = ("int_parsing", "int_type", "int_from_float")
_FIELD_HINTS = {
    **{("year", kind): "write the four-digit year, e.g. 2023" for kind in _NOT_AN_INT},
    **{("month", kind): "write the month as a number from 1 to 12 (5 for May)" for kind in _NOT_AN_INT},
    ("tags", "dict_type"): "write tags as 'tree: [node ids]', e.g. tags: {shen2025: [algorithm.sampling.solver]}",
    ("outside", "dict_type"): "write it as 'tree: one-line reason', e.g. outside: {ulhaq2022: why no node fits}",
}
_TYPE_ERRORS = {"string_type", "list_type", "dict_type", "int_type", "float_type", "bool_type", "model_type",
                "model_attributes_type", "date_type", "int_from_float"}


def kind_of(value: object) -> str:
    """What YAML read, in the words of an error message ('got the number 2010.025')."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()}, a true or false value (YAML reads yes, no, on and off as true or false)"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return {list: "a list", dict: "a mapping"}.get(type(value), f"a {type(value).__name__}")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # an error in a mapping's key: the key itself names the place
            continue
        part = part if isinstance(part, int) or len(str(part)) <= 60 else str(part)[:59] + "\u2026"
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or None


def _message(item: dict) -> str:
    kind, message = item["type"], item["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "missing required field"
    if kind in _TYPE_ERRORS:
        return f"{message}, got {kind_of(item.get('input'))}"
    if kind == "string_too_long" and isinstance(item.get("input"), str):
        return f"{message} (it has {len(item['input'])})"
    return message


def _hint(item: dict) -> str:
    leaf = next((part for part in reversed(item["loc"]) if isinstance(part, str) and part != "[key]"), None)
    return ((item.get("ctx") or {}).get("hint") or _FIELD_HINTS.get((leaf, item["type"]))
            or _HINTS.get(item["type"], ""))


def from_validation_error(file: str | Path, error: ValidationError) -> list[Problem]:
    """One Problem per pydantic error: the field, the message (with what was read, for a type
    error) and the fix (the model's own, or the hint for that kind of error)."""
    return [Problem(str(file), _loc(item["loc"]), _message(item), _hint(item)) for item in error.errors()]
