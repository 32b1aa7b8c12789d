"""What came before the window: what earlier notes covered, the notes a featured story's service
appeared in ("Previously"), and the earlier announcement it builds on ("History").

A story an earlier note covered is left out (``Coverage``): the note linked any of its posts,
linked an AWS page the archive does not hold whose address reads like its title, or has a
heading naming its service and what is new.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlite_utils import Database

from .. import store
from ..taxonomy import REGIONS
from .notes import Note
from .stories import (
    Candidate,
    ServiceNames,
    Story,
    link_id,
    load_posts,
    name_words,
    similarity,
    suffix_variant,
    tokens,
)

HISTORY_ROWS = 200
"""Earlier posts of a service examined for the history of a featured story (newest first)."""
HISTORY_MIN_AGE = dt.timedelta(days=30)


# --- what earlier notes covered ------------------------------------------------------------------

LAUNCH_KINDS = frozenset({"new-service", "general-availability", "preview"})
"""Kinds whose story a heading naming the service alone covers ("Amazon Neptune": its GA)."""
SOURCE_SIMILARITY = 0.6
"""A note's link to an AWS page the archive does not hold (a News Blog post) covers a story whose
title shares this much of the words of the link's address (and two words at least)."""
COVER_SLACK = dt.timedelta(days=1)
"""A heading or a blog post covers a story published at most this long after its note (the
News Blog post and the What's New item of a launch can be a day apart)."""
PASSES_MAX = 3
"""Earlier notes that passed a story over, counted at most (``passed``)."""
_AWS_PAGE = re.compile(r"^https?://aws\.amazon\.com/", re.I)
_LOOSE_WORDS = frozenset(
    "update updates improvement improvements change changes news love overview things roundup week".split()  # noqa: SIM905
)
"""Heading words that say nothing about which feature a section is about ("Aurora Updates")."""
_REGION_WORDS = frozenset(w for region in REGIONS.values() for w in tokens(f"{region.name} {region.code}"))
"""Words of Region names: two announcements in the same Region are not about the same thing."""


@dataclass(frozen=True)
class Cover:
    """How an earlier note covered a story."""

    note: Note
    how: Literal["linked", "source", "heading"]
    """``linked``: it links a post of the story (or its What's New item at another address);
    ``source``: it links an AWS page (a blog post the archive does not hold) about it;
    ``heading``: a section heading names its service and what is new (or the service alone, for
    its launch)."""
    heading: str = ""

    def __str__(self) -> str:
        what = {"linked": "linked it", "source": "linked a post about it", "heading": f'heading "{self.heading}"'}
        return f"{self.note.label} ({what[self.how]})"


@dataclass(frozen=True)
class _Section:
    note: int
    heading: str
    words: frozenset[str]
    """The words of its heading (``tokens``)."""
    sources: tuple[frozenset[str], ...]
    """The words of the addresses of its links to AWS pages the archive does not hold."""


@functools.lru_cache(maxsize=1 << 16)
def _title_words(title: str) -> frozenset[str]:
    return tokens(title)


def _address_words(url: str) -> frozenset[str]:
    path = [part for part in url.split("?", 1)[0].split("/")[3:] if part]
    return tokens(path[-1].replace("-", " ").replace("_", " ")) if path else frozenset()


class Coverage:
    """What the earlier notes covered (oldest first, ``add`` each in turn): a story counts as
    covered when a note links any of its posts (its What's New item at either address), links
    an AWS page the archive does not hold whose address reads like the story's title (a News Blog
    post), or has a section heading that names the story's service and what is new (a heading
    "ECS" alone covers no ECS story; "Amazon Neptune" covers Neptune's general availability).
    The last two only for notes published after the story (less ``slack``): a heading about a
    feature last year says nothing about this week's."""

    def __init__(self, *, slack: dt.timedelta = COVER_SLACK, held: Container[str] = frozenset()) -> None:
        self.slack = slack
        self.held = held
        """Ids of linked posts the archive holds: a link to one says which story it covers."""
        self.notes: list[Note] = []
        self.dates: list[dt.datetime] = []
        self.linked: dict[str, int] = {}
        """Post id -> the first note linking it (any link, held by the archive or not)."""
        self.variants: dict[str, int] = {}
        """The ids of linked What's New addresses without their appended number -> the note."""
        self.sections: list[_Section] = []
        self._section_dates: list[dt.datetime] = []
        self.picking: set[int] = set()
        """The notes that covered some of the archive's stories (``picked``): the others were
        about other things, and passed nothing over."""

    def add(self, note: Note) -> None:
        """The next note (no earlier than the ones added before)."""
        i = len(self.notes)
        self.notes.append(note)
        self.dates.append(note.date)
        for link in note.links:
            post = link_id(link)
            if post:
                self.linked.setdefault(post, i)
            variant = suffix_variant(link)
            if variant:
                self.variants.setdefault(variant, i)
        for section in note.sections:
            sources = tuple(
                words
                for url in section.links
                if _AWS_PAGE.match(url) and link_id(url) not in self.held
                if (words := _address_words(url))
            )
            if section.heading or sources:
                self.sections.append(_Section(i, section.heading, tokens(section.heading), sources))
                self._section_dates.append(note.date)

    def of(self, story: Story, names: ServiceNames) -> Cover | None:
        """How an earlier note covered the story (the first that did); None: none did."""
        for post in story.posts:
            i = self.linked.get(post.id)
            if i is None:
                i = self.variants.get(post.id)
            if i is None and post.variant is not None:
                i = self.linked.get(post.variant)
            if i is not None:
                return Cover(self.notes[i], "linked")
        first = bisect.bisect_left(self._section_dates, story.date - self.slack)
        if first == len(self.sections):
            return None
        drop = frozenset().union(*(names.words(key).drop for key in story.services[:2]))
        title = frozenset().union(*(_title_words(p.title) for p in story.posts if p.source != "community")) - drop
        own = names.words(story.service).names if story.service else ()
        second = names.words(story.services[1]).names if len(story.services) > 1 else ()
        for section in self.sections[first:]:
            words = section.words - drop
            primary = any(name <= section.words for name in own)
            if primary or any(name <= section.words for name in second):
                if words & title - _LOOSE_WORDS:
                    return Cover(self.notes[section.note], "heading", section.heading)
                if primary and not words and story.kind in LAUNCH_KINDS:
                    return Cover(self.notes[section.note], "heading", section.heading)
            for source in section.sources:
                source = source - drop
                shared = source & title
                if len(shared) >= 2 and shared - _REGION_WORDS and similarity(source, title) >= SOURCE_SIMILARITY:
                    return Cover(self.notes[section.note], "source", section.heading)
        return None

    def picked(self, note: Note) -> None:
        """The note (added already) covered some of the archive's stories."""
        i = bisect.bisect_left(self.dates, note.date)
        while i < len(self.notes) and self.notes[i] is not note:
            i += 1
        if i < len(self.notes):
            self.picking.add(i)

    def passes(self, story: Story, before: dt.datetime) -> int:
        """How many notes published after the story and before ``before`` that covered some of
        the archive's stories left this one out (it was among their candidates, uncovered), at
        most ``PASSES_MAX``."""
        after = bisect.bisect_right(self.dates, story.date)
        upto = bisect.bisect_left(self.dates, before)
        return min(PASSES_MAX, sum(1 for i in range(after, upto) if i in self.picking))


def coverage_of(notes: Iterable[Note], *, held: Container[str] = frozenset()) -> Coverage:
    """The coverage of these notes (oldest first); ``held``: the linked posts the archive holds."""
    coverage = Coverage(held=held)
    for note in notes:
        coverage.add(note)
    return coverage


# --- earlier notes -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NoteIndex:
    """The earlier notes and what they covered: the archive's posts they link, by id."""

    notes: tuple[Note, ...]
    """Oldest first."""
    linked: dict[str, tuple[int, ...]]
    """Post id -> indexes (in ``notes``) of the notes that link it."""
    posts: dict[str, Candidate]
    """The archive's posts the notes link, by id."""
    by_path: dict[str, Note] = field(default_factory=dict)

    @property
    def previous(self) -> Note | None:
        return self.notes[-1] if self.notes else None

    @property
    def last_coverage(self) -> Note | None:
        """The newest note that linked any of the archive's posts: what is new to the readers
        dates from there (a note about other things in between does not cover the archive's news).
        The previous note when none did."""
        covering = {i for indexes in self.linked.values() for i in indexes}
        return self.notes[max(covering)] if covering else self.previous


def index_notes(db: Database, notes: Sequence[Note]) -> NoteIndex:
    """Resolve the notes' links to the archive's posts (by the id the archive derives from a URL)."""
    linked: dict[str, list[int]] = defaultdict(list)
    for i, note in enumerate(notes):
        for link in note.links:
            post = link_id(link)
            if post and i not in linked[post]:
                linked[post].append(i)
    posts = {p.id: p for p in load_posts(db, linked)} if linked else {}
    by_path = {path: note for note in notes for path in note.paths()}
    return NoteIndex(
        notes=tuple(notes),
        linked={k: tuple(v) for k, v in linked.items() if k in posts},
        posts=posts,
        by_path=by_path,
    )


@dataclass(frozen=True)
class Previously:
    note: Note
    context: str
    """Why this note: the heading of its section about the service, or its topics."""


def _mentions(heading: str, names: Sequence[str]) -> bool:
    return any(re.search(r"(?<![\w@])" + re.escape(n) + r"(?![\w@])", heading, re.I) for n in names)


def note_about(index: NoteIndex, i: int, service: str, names: ServiceNames) -> str | None:
    """What note ``i`` said about ``service``: the heading of the section that links one of its
    posts or names it; else, when its keywords hold the service, its topics. None: nothing."""
    note = index.notes[i]
    service_names = [n for n in names.all_names(service) if len(n) >= 3 or n.isupper()]
    for section in note.sections:
        for link in section.links:
            post = index.posts.get(link_id(link) or "")
            if post and service in post.services:
                return section.heading or note.title
    for section in note.sections:
        if section.heading and _mentions(section.heading, service_names):
            return section.heading
    if service in note.keywords:
        return "; ".join(note.topics) or note.title
    return None


def previously(
    story: Story, index: NoteIndex, names: ServiceNames, *, history: Iterable[str] = (), limit: int
) -> tuple[Previously, ...]:
    """Earlier notes that covered the story's history or its services, newest first."""
    found: list[Previously] = []
    history_ids = set(history)
    for i in range(len(index.notes) - 1, -1, -1):
        if len(found) >= limit:
            break
        note = index.notes[i]
        context = None
        for post_id in sorted(history_ids):
            if i in index.linked.get(post_id, ()):
                context = next(
                    (
                        s.heading
                        for s in note.sections
                        if any(link_id(link) == post_id for link in s.links) and s.heading
                    ),
                    note.title,
                )
                break
        for service in story.services[:2]:
            if context is None:
                context = note_about(index, i, service, names)
        if context is not None:
            found.append(Previously(note, context))
    return tuple(found)


# --- history -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """The earlier announcement a story builds on."""

    post: Candidate
    reason: Literal["similar", "launch"]
    similarity: float


def _history_post(post: store.HistoryPost) -> Candidate:
    """An earlier post as a candidate, lightly: its primary service, kind and title; no sources,
    tags or links (a history line needs none, and a big archive has many such posts)."""
    return Candidate(
        id=post.id,
        url=post.url,
        title=" ".join(post.title.split()),
        date=post.date,
        feed=post.feed,
        feed_title=post.feed,
        source="other",
        kind=post.kind,
        services=(post.primary_service,) if post.primary_service else (),
        topics=(),
        regions=(),
        links=(),
    )


def _history_posts(db: Database, story: Story, before: dt.datetime) -> list[Candidate]:
    """The newest earlier posts of the story's services (two at most), and its service's launch."""
    found: dict[str, store.HistoryPost] = {}
    for key in story.services[:2]:
        for post in store.service_history(db, key, before=before, limit=HISTORY_ROWS):
            found.setdefault(post.id, post)
    launch = store.service_launch(db, story.service, before=before)
    if launch is not None:
        found.setdefault(launch.id, launch)
    return [_history_post(post) for post in found.values()]


def find_history(db: Database, story: Story, names: ServiceNames) -> History | None:
    """The most similar earlier announcement of the story's service, at least a month older;
    else the service's launch. None when the archive has neither."""
    if not story.service:
        return None
    before = story.date - HISTORY_MIN_AGE
    posts = [p for p in _history_posts(db, story, before) if set(story.services[:2]) & set(p.services)]
    if not posts:
        return None
    own = {p.id for p in story.posts}
    drop = name_words(names, story.services)
    mine = tokens(story.primary.title, drop)
    best: tuple[float, float, str] | None = None
    chosen: Candidate | None = None
    for post in posts:
        if post.id in own:
            continue
        score = similarity(mine, tokens(post.title, drop))
        key = (score, post.date.timestamp(), post.id)
        if score >= 0.25 and (best is None or key > best):
            best, chosen = key, post
    if chosen is not None and best is not None:
        return History(chosen, "similar", round(best[0], 3))
    launches = sorted(
        (p for p in posts if p.kind == "new-service" and p.service_is(story.service) and p.id not in own),
        key=lambda p: (p.date, p.id),
    )
    if launches:
        return History(launches[0], "launch", 0.0)
    return None
