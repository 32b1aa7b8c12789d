"""Ranking stories: named score components, the rule-based and newest-first rankings, the
author's pins and mutes.

A story's score is a sum of named components (``sources``, ``kind``, ``interest``, ``recency``,
``novelty``, ``passed``), each a ``Scorer``; ``aggregator digest --explain`` prints them. A
``Ranking`` turns stories into ranked stories: ``rank_by_score`` (with any scorers, e.g. a learned
profile beside these) or ``rank_newest`` (the baseline of the replay bench). Whatever the ranking,
training announcements go last, then pins first and mutes last. Pure.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..config import DEFAULT_KIND_WEIGHTS, DEFAULT_SOURCE_WEIGHTS, DigestSettings
from .earlier import Coverage
from .notes import Note
from .stories import SOURCE_ORDER, ServiceNames, Story

# --- ranking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One named part of a story's score, with the reason for its value."""

    name: str
    value: float
    why: str
    counted: bool = True
    """False: shown beside the score (``--explain``) but not part of it (the rule-based
    components beside a learned ranking)."""


@dataclass(frozen=True)
class Ranked:
    story: Story
    components: tuple[Component, ...]

    @property
    def score(self) -> float:
        return round(sum(c.value for c in self.components if c.counted), 6)


@dataclass(frozen=True, kw_only=True)
class RankContext:
    at: dt.datetime
    window_start: dt.datetime
    previous: Note | None
    settings: DigestSettings
    names: ServiceNames
    coverage: Coverage | None = None
    """The earlier notes: which of them passed a story over (None: no notes known)."""

    def passes(self, story: Story) -> int:
        """Earlier notes that had the story among their candidates and left it out."""
        return self.coverage.passes(story, self.at) if self.coverage is not None else 0


class Scorer(Protocol):
    """One component of the score: a named function of a story and the context."""

    def __call__(self, story: Story, ctx: RankContext, /) -> Component: ...


Ranking = Callable[[Sequence[Story], RankContext], list[Ranked]]


def source_weights(settings: DigestSettings) -> dict[str, float]:
    """``digest.source_weights`` over its defaults: keys a file leaves out keep theirs."""
    return {**DEFAULT_SOURCE_WEIGHTS, **settings.source_weights}


def kind_weights(settings: DigestSettings) -> dict[str, float]:
    """``digest.kind_weights`` over its defaults."""
    return {**DEFAULT_KIND_WEIGHTS, **settings.kind_weights}


def score_sources(story: Story, ctx: RankContext) -> Component:
    """Each source by its type's weight (an AWS News Blog post is a strong signal); roundups mention."""
    weights = source_weights(ctx.settings)
    counts = Counter(p.source for p in story.posts)
    value = sum(weights.get(source, 0.0) * n for source, n in counts.items())
    value += weights.get("roundup", 0.0) * len(story.mentions)
    parts = [f"{n} {source}" for source, n in sorted(counts.items(), key=lambda i: SOURCE_ORDER.index(i[0]))]
    if story.mentions:
        parts.append(f"{len(story.mentions)} roundup")
    return Component("sources", value, ", ".join(parts))


def score_kind(story: Story, ctx: RankContext) -> Component:
    """New services and general availability above features; Regions and instance types at the bottom."""
    weights = kind_weights(ctx.settings)
    kind = story.kind or "other"
    return Component("kind", weights.get(kind, 0.0), kind + ("" if story.primary.tagged else " (not tagged)"))


def score_interest(story: Story, ctx: RankContext) -> Component:
    """The author's interest profile: the highest service weight plus the highest topic weight."""
    settings = ctx.settings
    services = [(settings.interest_services[s], s) for s in story.services if s in settings.interest_services]
    topic_names = list(story.topics) + [t for s in story.services for t in ctx.names.topics(s)]
    topics = [(settings.interest_topics[t], t) for t in dict.fromkeys(topic_names) if t in settings.interest_topics]
    value = 0.0
    why = []
    if services:
        best = max(services)
        value += best[0]
        why.append(best[1])
    if topics:
        best = max(topics)
        value += best[0]
        why.append(best[1])
    return Component("interest", value, ", ".join(why))


def score_recency(story: Story, ctx: RankContext) -> Component:
    """Newer is better: the full weight at the publication time, nothing at the window's start."""
    span = (ctx.at - ctx.window_start).total_seconds()
    age = (ctx.at - story.date).total_seconds()
    share = max(0.0, min(1.0, 1 - age / span)) if span > 0 else 0.0
    return Component("recency", ctx.settings.recency_weight * share, f"{age / 86400:.1f} days old")


def score_novelty(story: Story, ctx: RankContext) -> Component:
    """New since the previous note (what the author has not seen in a note yet)."""
    if ctx.previous is None or story.date > ctx.previous.date:
        return Component("novelty", ctx.settings.novelty_weight, "since the previous note")
    return Component("novelty", 0.0, f"before {ctx.previous.label}")


PASSED_WEIGHT = -0.5
"""Score of each earlier note that passed a story over (up to ``PASSES_MAX``): lower, not out."""


def score_passed(story: Story, ctx: RankContext) -> Component:
    """Passed over: a candidate of earlier notes that left it out ranks lower (not out)."""
    n = ctx.passes(story)
    if not n:
        return Component("passed", 0.0, "")
    return Component("passed", PASSED_WEIGHT * n, f"left out by {n} earlier note{'s' if n != 1 else ''}")


SCORERS: tuple[Scorer, ...] = (
    score_sources,
    score_kind,
    score_interest,
    score_recency,
    score_novelty,
    score_passed,
)


def rank_by_score(scorers: Sequence[Scorer] = SCORERS) -> Ranking:
    """Rank by the sum of the scorers' components; ties go to the newer story, then the id."""

    def rank(stories: Sequence[Story], ctx: RankContext) -> list[Ranked]:
        ranked = [Ranked(story, tuple(scorer(story, ctx) for scorer in scorers)) for story in stories]
        return sorted(ranked, key=lambda r: (-r.score, -r.story.date.timestamp(), r.story.id))

    return rank


def rank_newest(stories: Sequence[Story], ctx: RankContext) -> list[Ranked]:
    """The baseline: newest first."""
    ordered = sorted(stories, key=lambda s: (-s.date.timestamp(), s.id))
    return [
        Ranked(s, (Component("newest", float(len(ordered) - i), s.date.date().isoformat()),))
        for i, s in enumerate(ordered)
    ]


# --- the author's word: pinned and muted services and topics ------------------------------------

PIN_SCORE = 1000.0
"""Added to a pinned story's score (subtracted from a muted one's): above any model's score."""


def _about(story: Story, services: Iterable[str], topics: Iterable[str], names: ServiceNames | None) -> str | None:
    """The service (its primary one) or topic of the story among those given, else None. Its
    topics: its posts' and, with ``names``, those of its primary service in the registry."""
    if story.service and story.service in set(services):
        return story.service
    wanted = set(topics)
    own = [*story.topics, *(names.topics(story.service) if names and story.service else ())]
    return next((t for t in own if t in wanted), None)


def muted(story: Story, settings: DigestSettings, names: ServiceNames | None = None) -> str | None:
    """What mutes the story: its primary service in ``digest.mute_services`` or one of its
    topics in ``digest.mute_topics``; None when nothing does."""
    return _about(story, settings.mute_services, settings.mute_topics, names)


def pinned(story: Story, settings: DigestSettings, names: ServiceNames | None = None) -> str | None:
    """What pins the story (``digest.pin_services``, ``digest.pin_topics``); None when nothing does."""
    return _about(story, settings.pin_services, settings.pin_topics, names)


def with_pins(ranked: Sequence[Ranked], settings: DigestSettings, names: ServiceNames | None = None) -> list[Ranked]:
    """Pinned stories first and muted ones last, whatever the ranking said (a story both pinned
    and muted is muted); the ranking's order within each group."""
    if not (settings.pin_services or settings.pin_topics or settings.mute_services or settings.mute_topics):
        return list(ranked)
    out = []
    for r in ranked:
        mute = muted(r.story, settings, names)
        pin = None if mute else pinned(r.story, settings, names)
        if mute:
            r = Ranked(r.story, (*r.components, Component("muted", -PIN_SCORE, f"muted: {mute}")))
        elif pin:
            r = Ranked(r.story, (*r.components, Component("pinned", PIN_SCORE, f"pinned: {pin}")))
        out.append(r)
    return sorted(out, key=lambda r: (-r.score, -r.story.date.timestamp(), r.story.id))


BOTTOM_KIND = "training"
"""Courses, certifications and training: ranked below every other story (above muted ones)
while ``digest.kind_weights`` keeps their weight below every other kind's (the default)."""
BOTTOM_SCORE = 100.0
"""Subtracted from the score of a story of ``BOTTOM_KIND``: below any model's score, above a muted one."""


def at_the_bottom(ranked: Sequence[Ranked], settings: DigestSettings) -> list[Ranked]:
    """Stories of ``BOTTOM_KIND`` last (before muted ones), whatever the ranking said, while its
    weight is the lowest of ``digest.kind_weights``; the ranking's order otherwise."""
    weights = kind_weights(settings)
    lowest = all(weights.get(BOTTOM_KIND, 0.0) < w for k, w in weights.items() if k != BOTTOM_KIND)
    if not lowest or not any(r.story.kind == BOTTOM_KIND for r in ranked):
        return list(ranked)
    why = f"{BOTTOM_KIND}: ranked at the bottom (the lowest of digest.kind_weights)"
    out = [
        Ranked(r.story, (*r.components, Component("bottom", -BOTTOM_SCORE, why))) if r.story.kind == BOTTOM_KIND else r
        for r in ranked
    ]
    return sorted(out, key=lambda r: (-r.score, -r.story.date.timestamp(), r.story.id))
