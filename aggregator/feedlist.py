"""Editing the feed list in place: ``aggregator feeds add|remove|enable|disable``.

The file is edited as text, one ``[[feeds]]`` table at a time, so that its comments, blank lines
and the order of everything else stay as the author wrote them; the new table is rendered by
tomlkit. A table's own lines run from the comment lines right above its header (no blank line
between) to its last key; a comment after a blank line belongs to what follows. Every edit is
checked before the file is replaced (atomically): the result must read as TOML, as a feed list,
and differ from the old one by exactly that change; otherwise the file is left as it was and
``FeedListError`` says why.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from .errors import ConfigError

_HEADER = re.compile(r"^\s*\[\[\s*feeds\s*\]\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")
_ENABLED = re.compile(r"^\s*enabled\s*=")


class FeedListError(ConfigError):
    """The feed list cannot be edited as asked; the file is unchanged."""


@dataclass(frozen=True)
class _Block:
    """The lines of one ``[[feeds]]`` table: ``start`` (its comments), ``header``, ``end`` (its last key), inclusive."""

    start: int
    header: int
    end: int
    name: str


def _blocks(lines: list[str], path: Path) -> list[_Block]:
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    tables = [i for i, line in enumerate(lines) if _ANY_HEADER.match(line)]
    blocks = []
    for header in headers:
        following = next((t for t in tables if t > header), len(lines))
        end = header
        for i in range(header + 1, following):
            if lines[i].strip() and not lines[i].lstrip().startswith("#"):
                end = i
        start = header
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        try:
            name = tomllib.loads("".join(lines[header : end + 1]))["feeds"][0].get("name", "")
        except (tomllib.TOMLDecodeError, KeyError, IndexError):
            raise FeedListError(f"cannot tell the [[feeds]] table at line {header + 1} apart", path=str(path)) from None
        blocks.append(_Block(start, header, end, str(name)))
    return blocks


def _read(path: Path) -> tuple[str, list[str], list[_Block]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedListError(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeedListError(f"invalid TOML: {exc}", path=str(path)) from None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    blocks = _blocks(lines, path)
    if "feeds" in data and len(blocks) != len(data["feeds"]):
        raise FeedListError(
            "its feeds are not all written as [[feeds]] tables: edit it by hand, or rewrite them as [[feeds]] tables",
            path=str(path),
        )
    return text, lines, blocks


def _find(blocks: list[_Block], name: str, path: Path) -> _Block:
    for block in blocks:
        if block.name == name:
            return block
    raise FeedListError(f"no feed named {name!r} in this file", path=str(path))


def _feeds_of(text: str) -> list[dict[str, Any]]:
    feeds = tomllib.loads(text).get("feeds", [])
    return list(feeds) if isinstance(feeds, list) else []


def _write(path: Path, old: str, new_lines: list[str], expected: list[dict[str, Any]]) -> None:
    """Replace the file with ``new_lines`` once they read back as the ``expected`` feed tables."""
    new = "".join(new_lines)
    try:
        got = _feeds_of(new)
    except tomllib.TOMLDecodeError as exc:
        raise FeedListError(f"the edit would not be valid TOML ({exc}): edit it by hand", path=str(path)) from None
    if got != expected or {k: v for k, v in tomllib.loads(new).items() if k != "feeds"} != {
        k: v for k, v in tomllib.loads(old).items() if k != "feeds"
    }:
        raise FeedListError("the edit would change more than the feed asked for: edit it by hand", path=str(path))
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise FeedListError(f"cannot write it: {exc.strerror or exc}", path=str(path)) from None


def render_feed(entry: dict[str, Any]) -> str:
    """One ``[[feeds]]`` table as TOML text (keys in the order given)."""
    table = tomlkit.table()
    for key, value in entry.items():
        table[key] = value
    aot = tomlkit.aot()
    aot.append(table)
    document = tomlkit.document()
    document.append("feeds", aot)
    return tomlkit.dumps(document)


def add_feed(path: Path, entry: dict[str, Any]) -> None:
    """Append a ``[[feeds]]`` table after the last one (at the end of a file that has none)."""
    old, lines, blocks = _read(path)
    table = render_feed(entry).splitlines(keepends=True)
    at = blocks[-1].end + 1 if blocks else len(lines)
    before = ["\n"] if at > 0 and lines[at - 1].strip() else []
    after = ["\n"] if at < len(lines) and lines[at].strip() else []
    _write(path, old, [*lines[:at], *before, *table, *after, *lines[at:]], [*_feeds_of(old), entry])


def remove_feed(path: Path, name: str) -> None:
    """Remove a feed's table, with the comment lines right above it."""
    old, lines, blocks = _read(path)
    block = _find(blocks, name, path)
    start, end = block.start, block.end + 1
    if start > 0 and not lines[start - 1].strip() and (end == len(lines) or not lines[end].strip()):
        start -= 1  # one of the blank lines around it goes with it
    expected = [feed for feed in _feeds_of(old) if feed.get("name") != name]
    _write(path, old, [*lines[:start], *lines[end:]], expected)


def set_enabled(path: Path, name: str, enabled: bool) -> bool:
    """``enabled = false`` in a feed's table, or no ``enabled`` key (true); False when it was so already."""
    old, lines, blocks = _read(path)
    block = _find(blocks, name, path)
    expected = _feeds_of(old)
    for feed in expected:
        if feed.get("name") == name:
            if feed.get("enabled", True) == enabled:
                return False
            feed.pop("enabled", None)
            if not enabled:
                feed["enabled"] = False
    keyed = [i for i in range(block.header + 1, block.end + 1) if _ENABLED.match(lines[i])]
    new = list(lines)
    if keyed:
        del new[keyed[0]]
    if not enabled:
        at = block.end + (0 if keyed else 1)
        new.insert(at, "enabled = false\n")
    _write(path, old, new, expected)
    return True
