"""The house style: how the author's notes look, learned from the notes folder.

A draft should look like the author's next note, not like the software's idea of one: the level
of the section headings (``#`` in the blog's older posts, ``##`` in the newer ones), the time of
day in ``Date``, the ``categories``, how many keywords and whether ``aws`` is one of them, the
title of the community corner, how footnotes are written and how long the Description is.

``learn_style`` reads them from the notes (pure: notes in, a ``Learned`` out); ``house_style``
puts them beside the settings. **An explicit setting always wins**: a learned value is used only
where the configuration set nothing, and without notes every value is the setting's default, as
before there was anything to learn. Recent notes weigh most:

- what the author chose and may change at once (the heading level, the categories, the
  community corner's title, the footnote separator) is the latest note's that shows it: a
  change of style is deliberate, and the next draft follows it;
- numbers (the time of day, how many keywords, the Description's words) are the weighted median
  of the last ``RECENT`` notes that have them, each weighing half as much every ``HALF_LIFE``
  notes back; whether ``aws`` is a keyword, and whether the author writes footnotes at all, is
  the weighted majority of those notes; the footnote placeholder is there when any of them has
  footnotes.

``bench/style.py`` replays this over a notes folder (each note against the style learned from
the notes before it), which is how ``RECENT`` and ``HALF_LIFE`` were chosen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from ..config import DigestSettings
from .notes import Note

T = TypeVar("T")

RECENT = 26
"""Notes the numbers are learned from at most, the latest ones."""
HALF_LIFE = 2.0
"""A note weighs half as much as one written this many notes later."""

_AWS_LINK = re.compile(r"^https?://([a-z0-9-]+\.)*(aws\.amazon\.com|amazonaws\.com)(/|$)", re.I)

SETTINGS: dict[str, str] = {
    "heading_level": "heading_level",
    "publish_time": "publish_time",
    "categories": "categories",
    "keyword_count": "keywords_max",
    "keyword_aws": "keyword_aws",
    "community_title": "community_title",
    "footnote": "footnote",
    "description_words": "description_words",
}
"""Each value of the house style -> the ``digest`` setting that sets it explicitly."""


@dataclass(frozen=True, kw_only=True)
class Learned:
    """What the notes say; None where they say nothing. ``why``: how each value was found."""

    notes: int = 0
    """How many notes were read."""
    heading_level: int | None = None
    publish_time: str | None = None
    categories: tuple[str, ...] | None = None
    keyword_count: int | None = None
    keyword_aws: bool | None = None
    community_title: str | None = None
    footnote: str | None = None
    description_words: int | None = None
    why: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HouseStyle:
    """The style of the drafts: the settings where they were given, else what the notes say,
    else the settings' defaults. ``origins`` says which, for each value."""

    heading_level: int
    """Markdown level of the section headings: 1 for ``#``, 2 for ``##``."""
    publish_time: str
    """``HH:MM``: the time of day of ``Date`` (and the end of the window), in the author's zone."""
    categories: tuple[str, ...]
    keyword_count: int
    """How many keywords a draft has at most, ``aws`` included; 0: no limit."""
    keyword_aws: bool
    """Whether ``aws`` is one of the keywords."""
    community_title: str
    footnote: str
    """The footnote placeholder at the end of a draft (``[^1]:<TAB>``); empty: none."""
    description_words: int
    """The Description's usual length in words, a budget for it; 0: no budget."""
    notes: int = 0
    """How many notes the style was learned from."""
    origins: dict[str, str] = field(default_factory=dict)
    """Each value's origin: "setting digest.heading_level", "learned: the latest note that shows
    it (Week 50, 2018)", "default (digest.heading_level): no notes"."""

    def summary(self) -> dict[str, Any]:
        """The style as JSON-ready data: each value with its origin."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name in SETTINGS}
        return {
            "notes": self.notes,
            "values": {
                name: {"value": list(value) if isinstance(value, tuple) else value, "origin": self.origins[name]}
                for name, value in values.items()
            },
        }

    def lines(self) -> list[str]:
        """The style for a person: one value a line, with where it came from."""
        out = [f"house style (from {self.notes} note{'s' if self.notes != 1 else ''} and the settings):"]
        for name, entry in self.summary()["values"].items():
            out.append(f"  {name:<18} {_shown(entry['value']):<22} {entry['origin']}")
        return out


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, str):
        return repr(value) if not value or value != value.strip() or "\t" in value else value
    return str(value)


# --- learning ----------------------------------------------------------------------------------


def _latest(notes: Sequence[Note], get: Callable[[Note], T | None]) -> tuple[T, Note] | None:
    """The value of the latest note that has one, with that note."""
    for note in reversed(notes):
        value = get(note)
        if value is not None:
            return value, note
    return None


def _recent(notes: Sequence[Note], get: Callable[[Note], T | None]) -> list[tuple[T, float]]:
    """The values of the last ``RECENT`` notes that have one, with their weights (the latest 1)."""
    values = [v for v in (get(n) for n in notes) if v is not None][-RECENT:]
    return [(v, 0.5 ** ((len(values) - 1 - i) / HALF_LIFE)) for i, v in enumerate(values)]


def weighted_median(values: Sequence[tuple[float, float]]) -> float:
    """The value below and above which half of the weight lies (the lower one on a tie)."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= total / 2:
            return value
    raise ValueError("no values")


def _share(values: Sequence[tuple[bool, float]]) -> float:
    return sum(w for v, w in values if v) / sum(w for _, w in values)


def _minutes(note: Note) -> int:
    """The time of day of its ``Date`` as written (the author's clock), in minutes."""
    return note.date.hour * 60 + note.date.minute


def _clock(minutes: float) -> str:
    """Minutes of the day -> ``HH:MM``, to the nearest five minutes."""
    rounded = int(round(minutes / 5) * 5) % (24 * 60)
    return f"{rounded // 60:02d}:{rounded % 60:02d}"


def _community(note: Note) -> str | None:
    titles = [s.heading for s in note.sections if s.bare_list]
    return titles[-1] if titles else None


def _about_aws(note: Note) -> bool:
    return any(_AWS_LINK.match(link) for link in note.links)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def learn_style(notes: Sequence[Note]) -> Learned:
    """What the notes (oldest first) say about the house style."""
    notes = sorted(notes, key=lambda n: n.date)
    why: dict[str, str] = {}
    found: dict[str, Any] = {}

    def latest(name: str, get: Callable[[Note], Any]) -> None:
        hit = _latest(notes, get)
        if hit is not None:
            found[name] = hit[0]
            why[name] = f"the latest note that shows it ({hit[1].label})"

    latest("heading_level", lambda n: n.heading_level)
    latest("categories", lambda n: n.categories or None)
    latest("community_title", _community)

    times = _recent(notes, lambda n: float(_minutes(n)))
    if times:
        found["publish_time"] = _clock(weighted_median(times))
        why["publish_time"] = f"the weighted median of the last {_count(len(times), 'note')}"
    keyworded = [n for n in notes if n.keywords]
    counts = _recent(keyworded, lambda n: float(len(n.keywords)))
    if counts:
        found["keyword_count"] = round(weighted_median(counts))
        why["keyword_count"] = f"the weighted median of the last {_count(len(counts), 'note')} with keywords"
    aws = _recent([n for n in keyworded if _about_aws(n)], lambda n: "aws" in n.keywords)
    if aws:
        share = _share(aws)
        found["keyword_aws"] = share >= 0.5
        why["keyword_aws"] = (
            f"in {share:.0%} of the last {_count(len(aws), 'note')} with keywords that link AWS (weighted)"
        )
    words = _recent(notes, lambda n: float(len(n.description.split())) if n.description else None)
    if words:
        found["description_words"] = round(weighted_median(words))
        why["description_words"] = f"the weighted median of the last {_count(len(words), 'Description')}"
    recent = notes[-RECENT:]
    used = [n for n in recent if n.footnote_separator is not None]
    if recent:
        found["footnote"] = f"[^1]:{used[-1].footnote_separator}" if used else ""
        why["footnote"] = (
            f"footnotes in {len(used)} of the last {_count(len(recent), 'note')}, written as in {used[-1].label}"
            if used
            else f"no footnotes in the last {_count(len(recent), 'note')}"
        )
    return Learned(notes=len(notes), why=why, **found)


def house_style(notes: Sequence[Note], settings: DigestSettings, *, explicit: Collection[str] = ()) -> HouseStyle:
    """The style of a draft: for each value, the setting when ``explicit`` names it (``digest.x``),
    else what ``notes`` say, else the setting (its default)."""
    learned = learn_style(notes)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, key in SETTINGS.items():
        setting = getattr(settings, key)
        guess = getattr(learned, name)
        if f"digest.{key}" in explicit:
            values[name], origins[name] = setting, f"setting digest.{key}"
        elif guess is not None:
            values[name], origins[name] = guess, f"learned: {learned.why[name]}"
        else:
            values[name] = setting
            origins[name] = f"default (digest.{key})" + (": the notes do not say" if notes else ": no notes")
        if isinstance(values[name], list):
            values[name] = tuple(values[name])
    return HouseStyle(notes=learned.notes, origins=origins, **values)


# --- what a starter configuration needs (``aggregator init``) ----------------------------------

TIMEZONE_NOTES = 52
"""The time zone is matched against the ``Date`` offsets of this many latest notes (a year of
them: summer and winter)."""


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What a blog's configuration can take from its notes; None or empty where they do not say."""

    notes: int
    blog: str = ""
    author: str = ""
    timezone: str | None = None
    timezone_fit: str = ""
    """How well it fits: "the Date offsets of 50 of the last 52 notes"."""
    timezone_alternatives: tuple[str, ...] = ()
    """Other zones that fit the offsets as well."""
    heading_level: int | None = None
    slug_pattern: str | None = None
    url_pattern: str | None = None


def _zone_names() -> list[str]:
    """The candidate zones: the canonical ones (``zone.tab``), else every zone there is."""
    import importlib.resources
    import zoneinfo

    try:
        table = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):
        return sorted(zoneinfo.available_timezones())
    names = [line.split("\t")[2] for line in table.splitlines() if line and not line.startswith("#")]
    return sorted({*names, "UTC"})


@functools.cache
def _zone_data() -> dict[str, bytes]:
    """Every zone's compiled data, by name (the ``tzdata`` package's files)."""
    import importlib.resources
    import zoneinfo

    try:
        root = importlib.resources.files("tzdata").joinpath("zoneinfo")
    except ModuleNotFoundError:
        return {}
    found = {}
    for name in zoneinfo.available_timezones():
        try:
            found[name] = root.joinpath(*name.split("/")).read_bytes()
        except OSError:  # a name of the system's zone folder only ("localtime")
            continue
    return found


def _aliases(name: str) -> int:
    """How many names the zone has (its links: ``Australia/NSW`` is ``Australia/Sydney``): a
    tie-break towards the zone most people know."""
    data = _zone_data()
    if name not in data:
        return 1
    return sum(1 for other in data.values() if other == data[name])


def time_zones(notes: Sequence[Note]) -> list[tuple[str, int, int]]:
    """The zones whose offsets match the ``Date`` offsets of the latest notes, best first, as
    (name, notes matched, notes): a zone with summer time that fits both the summer and the
    winter offsets matches more notes than one that fits either. Empty without notes."""
    import zoneinfo

    recent = sorted(notes, key=lambda n: n.date)[-TIMEZONE_NOTES:]
    if not recent:
        return []
    scored = []
    for name in _zone_names():
        zone = zoneinfo.ZoneInfo(name)
        hits = sum(1 for n in recent if n.date.astimezone(zone).utcoffset() == n.date.utcoffset())
        if hits:
            scored.append((name, hits))
    if not scored:
        return []
    best = max(hits for _, hits in scored)
    top = sorted((name for name, hits in scored if hits == best), key=lambda name: (-_aliases(name), name))
    return [(name, best, len(recent)) for name in top]


_DIGITS = r"(?<!\d){}(?!\d)"


def _pattern(text: str, *, year: int, week: int, slug: str = "") -> str | None:
    """``week-34-2018`` -> ``week-{week}-{year}`` (``{week:02d}`` when padded); a URL holding
    the slug -> its ``{slug}``; None when the text does not hold the note's week and year."""
    if slug and slug in text:
        return text.replace(slug, "{slug}")
    out, found = re.subn(_DIGITS.format(year), "{year}", text)
    if not found:
        return None
    padded, found = re.subn(_DIGITS.format(f"{week:02d}"), "{week:02d}", out) if week < 10 else (out, 0)
    if found:
        return padded
    out, found = re.subn(_DIGITS.format(week), "{week}", out)
    return out if found else None


def _most_common(values: Sequence[str]) -> str | None:
    """The most frequent value, the latest on a tie."""
    if not values:
        return None
    counts = {v: values.count(v) for v in values}
    best = max(counts.values())
    return next(v for v in reversed(values) if counts[v] == best)


def _site_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url.strip()).path


def learn_setup(notes: Sequence[Note]) -> Setup:
    """What a configuration for the blog of ``notes`` can say. The notes must have been read
    without patterns (``url_pattern=""``, ``slug_pattern=""``): a ``slug`` or ``url`` that is
    not empty is then the front matter's own."""
    notes = sorted(notes, key=lambda n: n.date)
    slugs = [p for n in notes if n.slug and (p := _pattern(n.slug, year=n.year, week=n.week))]
    slug_pattern = _most_common([p for p in slugs if "{year}" in p and "{week" in p])
    by_slug = {n.slug: n for n in notes if n.slug}
    urls = [p for n in notes if n.url and (p := _pattern(_site_path(n.url), year=n.year, week=n.week, slug=n.slug))]
    for note in notes:  # how the notes link to each other
        for link in note.links:
            path = _site_path(link)
            for slug in (s for s in re.split(r"/+", path) if s in by_slug):
                urls.append(path.replace(slug, "{slug}", 1))
    zones = time_zones(notes)
    return Setup(
        notes=len(notes),
        blog=_most_common([n.blog for n in notes[-RECENT:] if n.blog]) or "",
        author=_most_common([n.author for n in notes[-RECENT:] if n.author]) or "",
        timezone=zones[0][0] if zones else None,
        timezone_fit=f"the Date offsets of {zones[0][1]} of the last {_count(zones[0][2], 'note')}" if zones else "",
        timezone_alternatives=tuple(name for name, _, _ in zones[1:]),
        heading_level=learn_style(notes).heading_level,
        slug_pattern=slug_pattern,
        url_pattern=_most_common([u for u in urls if u.startswith("/") and ("{slug}" in u or "{week" in u)]),
    )
