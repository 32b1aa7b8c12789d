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
