"""The author's published notes: front matter, sections and links of each, read from a folder.

A note is a Markdown file with YAML (``---``) or TOML (``+++``) front matter, as Hugo keeps them
in ``content/weekly-notes``: ``2018-34.md`` or a page bundle ``2018-47/index.md``. What the digest
needs of it: its date, title, slug and URL (front matter ``url``, else ``digest.url_pattern``),
its keywords (``keywords``, or the ``keyword`` the author sometimes wrote), and its sections (the
headings of the top level it uses, ``#`` in the older posts, ``##`` in the newer ones) with the
links in each: inline, reference-style, autolinks and bare URLs, footnotes counted where they
are referenced. Front matter keys are case-insensitive (``Date``, ``Description``), as in Hugo.
What the house style learns of it (``style``): that heading level, its ``categories``, how its
footnotes are written, and which sections are a bare list of links (the community corner).

``parse_note`` is pure; ``read_notes`` reads the folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..errors import ConfigError

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A\ufeff?(---|\+\+\+)[ \t]*\r?\n(.*?)\r?\n\1[ \t]*(?:\r?\n|\Z)", re.S)
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^[ ]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_REF_DEF = re.compile(r"^[ ]{0,3}\[([^\]^][^\]]*)\]:[ \t]*<?([^\s>]+)>?")
_FOOTNOTE_DEF = re.compile(r"^[ ]{0,3}\[\^([^\]]+)\]:([ \t]?)")
_FOOTNOTE_REF = re.compile(r"\[\^([^\]]+)\](?!:)")
_INLINE = re.compile(r"\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))+)>?")
_REF_USE = re.compile(r"\[([^\]]*)\]\[([^\]]*)\]")
_SHORTCUT = re.compile(r"\[([^\]\[^]+)\](?![\[(:])")
_AUTOLINK = re.compile(r"<(https?://[^\s>]+)>")
_BARE = re.compile(r"(?<![(<\[\w/])https?://[^\s)<>\]\"'`]+")
_TITLE_WEEK = re.compile(r"\bweek\s+(\d{1,2}),?\s+(\d{4})\b", re.I)
_KEYWORD = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_LINK_ITEM = re.compile(r"^[ ]{0,3}[*+-][ \t]+\[[^\]]+\]\([^)\s]+\)[ \t]*$")
"""A list item that is a link and nothing else: ``* [Post title](url)``."""


@dataclass(frozen=True, kw_only=True)
class Section:
    """One top-level section of a note: its heading and the link targets in it, in order."""

    heading: str
    links: tuple[str, ...]
    bare_list: bool = False
    """Its text is a bullet list of links and nothing else, as the community corner
    ("Ambassador Corner": ``* [Post title](url)`` lines)."""


@dataclass(frozen=True, kw_only=True)
class Note:
    """A published weekly note."""

    path: str
    """Where it was read from, relative to the notes folder (``2018-47/index.md``)."""
    title: str
    slug: str
    date: dt.datetime
    """Aware: the front matter's ``Date`` with its offset."""
    year: int
    week: int
    """The week the note is about: "Week 34, 2018" in its title, else the ISO week of its date."""
    url: str
    """Site-relative URL: front matter ``url``, else ``digest.url_pattern``."""
    aliases: tuple[str, ...]
    keywords: tuple[str, ...]
    description: str
    draft: bool
    topics: tuple[str, ...]
    """The topics of the title ("Week 34, 2018 - A; B" -> A, B)."""
    sections: tuple[Section, ...]
    links: tuple[str, ...]
    """Every link target of the body, in order, without duplicates."""
    heading_level: int | None = None
    """The level of its section headings (1 for ``#``, 2 for ``##``); None without headings."""
    categories: tuple[str, ...] = ()
    """The front matter's ``categories``."""
    blog: str = ""
    author: str = ""
    """The front matter's ``blog`` and ``author``."""
    footnote_separator: str | None = None
    """What follows the colon of its footnote definitions (``[^1]:<TAB>text``): a tab, a space,
    or "" for nothing; None when it has no footnotes."""

    @property
    def label(self) -> str:
        """How the author names a note in a link: "Week 34, 2018"."""
        return f"Week {self.week}, {self.year}"

    def paths(self) -> tuple[str, ...]:
        """The URL paths this note answers to (its URL and aliases), normalized for matching."""
        return tuple(dict.fromkeys(note_path(u) for u in (self.url, *self.aliases) if u))


def note_path(url: str) -> str:
    """The path of a (site-relative or absolute) URL, lowercased, with one leading and no
    trailing slash: what links to a note are matched on, whatever host or slash they use."""
    parts = urlsplit(url.strip())
    path = parts.path if parts.scheme or parts.netloc or url.startswith("/") else "/" + parts.path
    return "/" + path.strip("/").lower()


def _front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ValueError("no front matter (--- YAML --- or +++ TOML +++ at the top)")
    fence, raw = match.group(1), match.group(2)
    try:
        data = yaml.safe_load(raw) if fence == "---" else tomllib.loads(raw)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"invalid front matter: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ValueError("the front matter is not a table of keys")
    return {str(k).lower(): v for k, v in data.items()}, text[match.end() :]


def _when(value: object, tz: dt.tzinfo) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and value.strip():
        try:
            when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    return ()


def _body_lines(body: str) -> list[str]:
    """The lines of the body with fenced code blocks blanked (a ``# comment`` there is no heading)."""
    lines = body.splitlines()
    fence: str | None = None
    for i, line in enumerate(lines):
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            lines[i] = ""
        elif match:
            fence = match.group(1)
            lines[i] = ""
    return lines


def _links_in(text: str, definitions: dict[str, str]) -> list[str]:
    found: list[tuple[int, str]] = []
    for match in _INLINE.finditer(text):
        found.append((match.start(), match.group(1)))
    for match in _REF_USE.finditer(text):
        label = (match.group(2) or match.group(1)).strip().lower()
        if label in definitions:
            found.append((match.start(), definitions[label]))
    for match in _SHORTCUT.finditer(text):
        label = match.group(1).strip().lower()
        if label in definitions:
            found.append((match.start(), definitions[label]))
    for match in _AUTOLINK.finditer(text):
        found.append((match.start(), match.group(1)))
    for match in _BARE.finditer(text):
        found.append((match.start(), match.group(0).rstrip(".,;:!?")))
    return [url for _, url in sorted(found, key=lambda item: item[0])]


@dataclass(frozen=True)
class _Body:
    sections: list[tuple[str, str]]
    """(heading, text) per top-level section, the part before the first heading under ""."""
    definitions: dict[str, str]
    level: int | None
    footnote_separator: str | None


def _sections(body: str) -> _Body:
    """The top-level sections, footnote texts moved to the section that references them; the
    link definitions; the level of the section headings and how footnotes are written."""
    lines = _body_lines(body)
    definitions: dict[str, str] = {}
    footnotes: dict[str, list[str]] = {}
    separator: str | None = None
    kept: list[str] = []
    current: str | None = None
    for line in lines:
        footnote = _FOOTNOTE_DEF.match(line)
        definition = _REF_DEF.match(line)
        if footnote:
            separator = footnote.group(2) if separator is None else separator
            current = footnote.group(1).lower()
            footnotes[current] = [line[footnote.end() :]]
            continue
        if current is not None and line.startswith(("    ", "\t")):
            footnotes[current].append(line)
            continue
        current = None
        if definition:
            definitions.setdefault(definition.group(1).strip().lower(), definition.group(2))
            continue
        kept.append(line)
    levels = [len(m.group(1)) for line in kept if (m := _HEADING.match(line))]
    top = min(levels, default=1)
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in kept:
        match = _HEADING.match(line)
        if match and len(match.group(1)) == top:
            sections.append((match.group(2).strip(), []))
        else:
            sections[-1][1].append(line)
    texts = ["\n".join(lines) for _, lines in sections]
    for label, note_lines in footnotes.items():
        target = len(texts) - 1
        for i, text in enumerate(texts):
            if any(m.group(1).lower() == label for m in _FOOTNOTE_REF.finditer(text)):
                target = i
                break
        texts[target] += "\n" + "\n".join(note_lines)
    return _Body(
        sections=[(heading, texts[i]) for i, (heading, _) in enumerate(sections)],
        definitions=definitions,
        level=top if levels else None,
        footnote_separator=separator,
    )


def _bare_list(text: str) -> bool:
    """Only ``* [title](url)`` lines (and blank ones), at least one."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(_LINK_ITEM.match(line) for line in lines)


def parse_note(
    text: str,
    *,
    path: str,
    url_pattern: str,
    slug_pattern: str,
    tz: dt.tzinfo = dt.UTC,
) -> Note:
    """One note file's text -> ``Note``. Raises ValueError saying what is missing or wrong."""
    meta, body = _front_matter(text, path)
    date = _when(meta.get("date") or meta.get("publishdate"), tz)
    if date is None:
        raise ValueError("no Date in the front matter")
    title = " ".join(str(meta.get("title") or "").split())
    match = _TITLE_WEEK.search(title)
    if match:
        week, year = int(match.group(1)), int(match.group(2))
    else:
        year, week, _ = date.date().isocalendar()
    slug = str(meta.get("slug") or "").strip() or slug_pattern.format(year=year, week=week)
    url = str(meta.get("url") or "").strip() or url_pattern.format(slug=slug, year=year, week=week)
    keywords = tuple(
        dict.fromkeys(
            k.lower()
            for k in _strings(meta.get("keywords") or meta.get("keyword") or meta.get("tags"))
            if _KEYWORD.match(k.lower())
        )
    )
    topics: tuple[str, ...] = ()
    if " - " in title:
        topics = tuple(t.strip() for t in title.split(" - ", 1)[1].split(";") if t.strip())
    parsed = _sections(body)
    sections = tuple(
        Section(
            heading=heading,
            links=tuple(dict.fromkeys(_links_in(text_, parsed.definitions))),
            bare_list=bool(heading) and _bare_list(text_),
        )
        for heading, text_ in parsed.sections
    )
    links = tuple(dict.fromkeys(link for section in sections for link in section.links))
    return Note(
        path=path,
        title=title,
        slug=slug,
        date=date,
        year=year,
        week=week,
        url=url,
        aliases=_strings(meta.get("aliases")),
        keywords=keywords,
        description=" ".join(str(meta.get("description") or "").split()),
        draft=meta.get("draft") is True or str(meta.get("draft")).lower() == "true",
        topics=topics,
        sections=sections,
        links=links,
        heading_level=parsed.level,
        categories=_strings(meta.get("categories")),
        blog=" ".join(str(meta.get("blog") or "").split()),
        author=" ".join(str(meta.get("author") or "").split()),
        footnote_separator=parsed.footnote_separator,
    )


def note_files(folder: Path) -> list[Path]:
    """The note files of a folder: ``*.md`` at any depth, page bundles' ``index.md`` included,
    section pages (``_index.md``) left out; sorted, so the order never depends on the file system."""
    return sorted(p for p in folder.rglob("*.md") if p.is_file() and p.name != "_index.md")


def read_notes(
    folder: Path, *, url_pattern: str, slug_pattern: str, tz: dt.tzinfo = dt.UTC
) -> tuple[list[Note], list[str]]:
    """The published notes of a folder, oldest first, and the files that could not be read
    (each as "path: problem"). Drafts (``draft: true``) are not published: left out."""
    if not folder.is_dir():
        raise ConfigError("the notes folder does not exist (digest.notes_dir or --notes-dir)", path=str(folder))
    notes: list[Note] = []
    problems: list[str] = []
    for file in note_files(folder):
        where = file.relative_to(folder).as_posix()
        try:
            text = file.read_text(encoding="utf-8")
            note = parse_note(text, path=where, url_pattern=url_pattern, slug_pattern=slug_pattern, tz=tz)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("notes: %s not read: %s", where, exc)
            problems.append(f"{where}: {exc}")
            continue
        if not note.draft:
            notes.append(note)
    if not notes and not problems:
        log.warning("notes: no published notes in %s: nothing counts as covered, nothing is learned", folder)
    notes.sort(key=lambda n: (n.date, n.path))
    return notes, problems
