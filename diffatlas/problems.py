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


_HINTS = {
    "extra_forbidden": "remove it or check its spelling against CONTRIBUTING.md",
    "missing": "add it",
    "string_pattern_mismatch": "see the allowed pattern in the message",
    "literal_error": "use one of the listed values",
    "int_parsing": "write a whole number",
    "less_than_equal": "check the value",
    "greater_than_equal": "check the value",
    "string_too_short": "write at least a sentence",
    "string_too_long": "shorten it to the limit in the message",
    "date_type": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_inexact": "write the date as YYYY-MM-DD, without a time",
}


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or None


def from_validation_error(file: str | Path, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        kind = item["type"]
        field = _loc(item["loc"])
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "missing required field"
        else:
            message = item["msg"].removeprefix("Value error, ")
        problems.append(Problem(str(file), field, message, _HINTS.get(kind, "")))
    return problems
