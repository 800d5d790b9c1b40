"""YAML in and out: safe, checked loading; a stable, readable output style; writes that a crash cannot cut.

Reading refuses what would change meaning silently or blow up: non-regular files,
files over MAX_FILE_BYTES, invalid UTF-8, aliases and merge keys, duplicate keys.
Writing goes through a temporary file beside the target: `write_new_file` never
replaces anything, `atomic_write` replaces in one step. Every writer of the project uses these two.
"""

from __future__ import annotations

import collections.abc
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import yaml

FIELD_ORDER = (
    "id", "title", "name", "year", "month", "authors", "venue", "arxiv", "doi", "url", "code",
    "kind", "unresolved", "summary", "keywords", "tags", "outside", "listed_in", "reported", "no_reported", "runs_here", "notes",
    "bibtex_type", "bibtex_extra",
)


MAX_FILE_BYTES = 1_000_000  # a paper file is a few KB; nothing larger is read at all


class YamlError(ValueError):
    """A catalog file that cannot be read faithfully: the line (1-based), the key when known, and the fix."""

    prefix = "malformed YAML: "

    def __init__(self, message: str, line: int | None = None, field: str | None = None,
                 hint: str = "fix the syntax at that line"):
        super().__init__(message)
        self.line, self.field, self.hint = line, field, hint


class UnreadableFile(YamlError):
    """A file refused before parsing: not a regular file, too large, or not UTF-8."""

    prefix = ""


class _CheckedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's C parser when present
    """The safe loader, refusing what would silently change meaning or blow up.

    - an alias (`*name`) or merge key (`<<`): a billion-laughs file stays small as text and
      expands when used; no catalog file needs them, so they are refused before any expansion;
    - a key given twice in one mapping: plain YAML keeps the last one without a word.
    Parsing stays in C; only construction, which is Python in PyYAML anyway, is overridden.
    """

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects or node in self.recursive_objects:
            raise _refusal(node, "an alias (*name) or anchor (&name) is not allowed", None,
                           "write the value out in full: anchors and aliases are not allowed in catalog files")
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)
        mapping: dict = {}
        lines: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _refusal(key_node, "a merge key (<<) is not allowed", "<<", "write the merged fields out in full")
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, collections.abc.Hashable):
                raise _refusal(key_node, "a list or mapping used as a key is not allowed", None, "use a plain name as the key")
            if key in mapping:
                raise _refusal(key_node, f"duplicate key {str(key)!r} (first on line {lines[key]})", str(key),
                               f"keep one '{key}:' (YAML would silently keep the last one)")
            lines[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _refusal(node, message: str, field: str | None, hint: str) -> YamlError:
    return YamlError(message, node.start_mark.line + 1, field, hint)


def load_yaml_text(text: str) -> Any:
    """Parse with the checked safe loader: no tag can construct a Python object, no alias expands."""
    try:
        return yaml.load(text, Loader=_CheckedLoader)  # noqa: S506 (a safe loader, see _CheckedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(str(problem), line) from None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _not_regular(mode: int) -> UnreadableFile:
    what = next((name for test, name in _KINDS if test(mode)), "not a plain file")
    return UnreadableFile(f"not a regular file ({what}); it is skipped",
                          hint="catalog folders hold plain <id>.yaml files: commit the file itself, or remove this entry")


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A regular file's text, at most `max_bytes`, decoded as strict UTF-8.

    Symlinks, directories, FIFOs and devices are refused from lstat() without being
    opened (a FIFO would block the reader forever); the open itself neither follows
    a symlink nor blocks, in case the entry changed in between.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(info.st_mode)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_regular(mode)
            data = handle.read(max_bytes + 1)
    except OSError as exc:  # vanished, unreadable, or turned into a symlink since the listing
        raise UnreadableFile(f"cannot be read ({exc.strerror or exc})", hint="check that it exists and is readable") from None
    if len(data) > max_bytes:
        raise UnreadableFile(f"larger than the limit of {max_bytes / 1e6:g} MB for a catalog file; it was not read",
                             hint="a paper file is a few KB: shorten it (summaries, notes) or split the data")
    return decode_utf8(data)


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8; a bad byte is reported with its offset and line instead of being replaced."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(f"not valid UTF-8: {data[exc.start:exc.end]!r} at byte offset {exc.start} ({exc.reason})",
                             line, hint="save the file as UTF-8 (an editor's 'encoding' menu), then fix that character") from None


def load_yaml(path: Path) -> Any:
    return load_yaml_text(read_text(Path(path)))


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


# -- writing: a crash leaves the old file or none, never part of one --------------------------------
class WriteRefused(OSError):
    """A write that would go through a symbolic link (and so land outside the folder meant)."""


def _write_bytes(fd: int, data: bytes) -> None:
    """Every byte of data to fd (the one place a test can break a write half-way)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _temporary_copy(path: Path, text: str) -> Path:
    """The text in a new hidden file beside path (same folder, so a rename is atomic), flushed to disk.

    Hidden (`.name.xxxxxxxx.tmp`), so the loader ignores what a kill -9 may leave behind.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"could not create a temporary file in {path.parent}")
    try:
        _write_bytes(fd, text.encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def write_new_file(path: Path, text: str) -> None:
    """Create path holding text; never replace anything there (FileExistsError), never leave part of it.

    The text goes to a temporary file first, then os.link puts it in place: the link
    fails if any entry has the name meanwhile (even a dangling symlink), and a crash
    before it leaves no file at path, so a retry is never blocked by a 0-byte file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_copy(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: rename, checked just before (a narrow race)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.rename(tmp, path)
        return
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def atomic_write(path: Path, text: str) -> None:
    """Replace path's content with text in one step (os.replace), refusing a symlink at path.

    Readers and crashes see the old text whole or the new text whole.
    """
    path = Path(path)
    if path.is_symlink():
        raise WriteRefused(errno.ELOOP, "is a symbolic link; refusing to write through it", str(path))
    tmp = _temporary_copy(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
