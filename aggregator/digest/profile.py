"""The author's interests, learned from their published notes: what the learned ranking scores.

Every note is a labelled example. The stories of its window that no earlier note covered (what
a draft for its date would have offered, ``select.window_stories``) are its candidates; those it
covers (links, or names in a heading or a blog post's address: ``select.Coverage``) are
positives, the others negatives. Only notes published before the draft's date are
read, oldest first:

- **Counts**, decayed with age (half-life ``HALF_LIFE_DAYS``, so recent interest weighs more
  than old): per service and per topic, how many candidates the author was offered and how many
  they featured, over the notes that featured at least one of the archive's announcements (a
  note about other things says nothing about which announcement they prefer); and how many
  notes *named* it (keywords, section headings, the posts it links), over all notes.
- **Features** of a candidate, from the counts of the notes before its own note (never its own
  or a later one): the featured rate of its service and of its best topic, smoothed towards the
  average rate (``PRIOR_STRENGTH`` candidates' worth) and taken relative to it as a log-lift,
  so a service never offered before is neutral, neither zero nor high; how many notes named its
  service and topics (log of the decayed count), and whether no note ever named its service (a
  weight of its own: the chance the notes give services new to them); its kind; its sources (an
  AWS News Blog post, the number of posts); its recency in the window; whether it is new since
  the previous note; how many earlier notes passed it over.
- **Weights**: a logistic regression on those features, each note's examples weighted by the
  note's age at the draft's date (the same half-life), L2-regularised (``L2``) towards the
  rule-based weights scaled by ``PRIOR_SCALE`` (``digest.kind_weights``, ``source_weights``,
  ``recency_weight``, ``novelty_weight``): what the notes do not tell, the rules still do
  (the archive of old years holds no News Blog post, so the sources weight stays the prior's).
  Newton's method on float64 in a fixed order: the same notes and archive give the same profile.

``learn_profile`` reads the archive (one window per note: milliseconds each) and is pure
otherwise; ``rank_learned`` is a ``Ranking`` that scores with a profile and shows the rule-based
components beside the learned ones. Without a single positive example the profile is empty
and the ranking is the rule-based one.

Hyperparameters (general, not per service; the only ones tuned on the replay): the half-life,
the prior strength, the L2 strength and the prior scale.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from .. import store
from ..config import DigestSettings
from ..models import KINDS
from ..taxonomy import Registry
from . import earlier as earlier_module
from . import ranking as ranking_module
from . import select as select_module
from . import stories as stories_module
from .earlier import Coverage, coverage_of
from .notes import Note
from .ranking import (
    PASSED_WEIGHT,
    SCORERS,
    Component,
    RankContext,
    Ranked,
    Ranking,
    kind_weights,
    rank_by_score,
    source_weights,
)
from .select import window_stories
from .stories import Candidate, Story, link_id, load_posts

HALF_LIFE_DAYS = 365.0
"""How fast a note's weight, and its counts, fade: half after a year."""
PRIOR_STRENGTH = 10.0
"""How many candidates' worth of the average featured rate each service's and topic's rate starts from."""
L2 = 1.0
"""Strength of the pull of the weights towards the prior (the scaled rule-based weights)."""
PRIOR_SCALE = 0.5
"""The rule-based weights times this are the prior of the learned ones (a score is not a log-odds)."""
NOT_NAMES = frozenset({"aws", "amazon"})
log = logging.getLogger(__name__)
"""Keywords that name no service or topic (every note is about AWS)."""

FEATURES: tuple[str, ...] = (
    "bias",
    "service",
    "service_notes",
    "unnamed",
    "topic",
    "topic_notes",
    *(f"kind:{k}" for k in KINDS),
    "news_blog",
    "sources",
    "recency",
    "novelty",
    "passed",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "service": ("service", "service_notes", "unnamed"),
    "topic": ("topic", "topic_notes"),
    "kind": tuple(f"kind:{k}" for k in KINDS),
    "sources": ("news_blog", "sources"),
    "recency": ("recency",),
    "novelty": ("novelty",),
    "passed": ("passed",),
}
"""The learned components of a score (``--explain``), each a sum of feature contributions."""


class Decayed:
    """Sums that fade with a half-life: an amount added at ``when`` counts half after a half-life.

    Kept in the units of an origin date, so adding is O(1) and reading scales once."""

    def __init__(self, origin: dt.datetime, half_life_days: float) -> None:
        self.origin = origin
        self.rate = math.log(2) / (half_life_days * 86400.0)
        self.raw: dict[str, float] = defaultdict(float)

    def _scale(self, when: dt.datetime) -> float:
        return math.exp(self.rate * (when - self.origin).total_seconds())

    def add(self, key: str, amount: float, when: dt.datetime) -> None:
        self.raw[key] += amount * self._scale(when)

    def get(self, key: str, when: dt.datetime) -> float:
        value = self.raw.get(key)
        return value / self._scale(when) if value else 0.0

    def items(self, when: dt.datetime) -> dict[str, float]:
        scale = self._scale(when)
        return {k: v / scale for k, v in self.raw.items() if v}


@dataclass
class _Counts:
    """What the notes before some moment said, decayed to that moment."""

    offered: Decayed
    featured: Decayed
    named: Decayed
    """Keys are ``service:<key>``, ``topic:<key>`` and ``total``."""

    def lift(self, key: str, when: dt.datetime) -> float:
        """log(smoothed featured rate / average rate): 0 for a key never offered."""
        base = self.base_rate(when)
        offered = self.offered.get(key, when)
        featured = self.featured.get(key, when)
        rate = (featured + PRIOR_STRENGTH * base) / (offered + PRIOR_STRENGTH)
        return math.log(rate / base)

    def base_rate(self, when: dt.datetime) -> float:
        offered = self.offered.get("total", when)
        featured = self.featured.get("total", when)
        return (featured + 1.0) / (offered + 2.0)

    def notes(self, key: str, when: dt.datetime) -> float:
        return math.log1p(self.named.get(key, when))


def _story_topics(story: Story, registry: Registry) -> tuple[str, ...]:
    topics = list(story.topics)
    for service in story.services[:1]:
        topics.extend(registry.topics_of(service))
    return tuple(dict.fromkeys(topics))


def _context_features(story: Story, ctx: RankContext) -> dict[str, float]:
    """The features that come from the story and its window alone."""
    counts = {p.source for p in story.posts}
    span = (ctx.at - ctx.window_start).total_seconds()
    age = (ctx.at - story.date).total_seconds()
    novel = ctx.previous is None or story.date > ctx.previous.date
    return {
        "bias": 1.0,
        f"kind:{story.kind or 'other'}": 1.0,
        "news_blog": 1.0 if "news-blog" in counts else 0.0,
        "sources": math.log(len(story.posts) + len(story.mentions)),
        "recency": max(0.0, min(1.0, 1 - age / span)) if span > 0 else 0.0,
        "novelty": 1.0 if novel else 0.0,
        "passed": float(ctx.passes(story)),
    }


def _interest_features(
    story: Story, counts: _Counts, registry: Registry, when: dt.datetime
) -> tuple[dict[str, float], str, str]:
    """The service and topic features, and the service and topic they come from."""
    service = story.service
    features: dict[str, float] = {}
    if service:
        features["service"] = counts.lift(f"service:{service}", when)
        if not counts.named.get(f"service:{service}", when):
            features["unnamed"] = 1.0  # a service new to the notes: a chance of its own, not a zero
    named = [(counts.notes(f"service:{s}", when), s) for s in story.services[:2]]
    if named:
        features["service_notes"] = max(named)[0]
    topics = _story_topics(story, registry)
    best_topic = ""
    if topics:
        lifts = sorted(((counts.lift(f"topic:{t}", when), t) for t in topics), key=lambda i: (-i[0], i[1]))
        features["topic"], best_topic = lifts[0]
        features["topic_notes"] = max(counts.notes(f"topic:{t}", when) for t in topics)
    return features, service, best_topic


def priors(settings: DigestSettings) -> dict[str, float]:
    """The rule-based weights as log-odds, scaled: where the learned weights start from."""
    kinds = kind_weights(settings)
    sources = source_weights(settings)
    out = {f"kind:{k}": PRIOR_SCALE * kinds.get(k, 0.0) for k in KINDS}
    out["news_blog"] = PRIOR_SCALE * (sources.get("news-blog", 0.0) - sources.get("whats-new", 0.0))
    out["sources"] = PRIOR_SCALE * sources.get("whats-new", 0.0)
    out["recency"] = PRIOR_SCALE * settings.recency_weight
    out["novelty"] = PRIOR_SCALE * settings.novelty_weight
    out["passed"] = PRIOR_SCALE * PASSED_WEIGHT
    return out


# --- the examples: one window per note -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NoteExamples:
    """One note as a labelled example: its candidates and the ones it linked."""

    note: Note
    ctx: RankContext
    stories: tuple[Story, ...]
    positives: frozenset[str]
    """Ids of the stories the note links."""
    weak: Mapping[str, float] = field(default_factory=dict)
    """Stories of a service a section heading names where the section links none of the
    archive's posts (the author linked a blog post instead): each of the ``k`` stories of that
    service counts ``1/k`` featured in the counts; never a label of the regression."""
    services: frozenset[str]
    topics: frozenset[str]
    """What the note names: its keywords, section headings and the posts it links."""
    keywords: frozenset[str]
    """Its keywords that are registry topics (``docker`` is ``containers``)."""


ExampleCache = dict[tuple[str, str, str, int], "NoteExamples"]
"""Examples by (note path, its date, its window, the number of notes before it): a caller that
learns many profiles from the same archive and notes folder (the replay) keeps one."""


def _named(note: Note, registry: Registry) -> tuple[set[str], set[str], set[str]]:
    """Services, topics and topic keywords a note names in its keywords and section headings."""
    services: set[str] = set()
    topics: set[str] = set()
    keyword_topics: set[str] = set()
    for word in note.keywords:
        if word in NOT_NAMES:
            continue
        key = registry.resolve(word)
        if key is None:
            continue
        if registry.is_service(key):
            services.add(key)
        else:
            topics.add(key)
            keyword_topics.add(key)
    for section in note.sections:
        for match in registry.matcher.find_in(section.heading):
            (services if registry.is_service(match.value) else topics).add(match.value)
    return services, topics, keyword_topics


def _weak_positives(
    note: Note, stories: Sequence[Story], positives: frozenset[str], archived: Iterable[str], registry: Registry
) -> dict[str, float]:
    held = set(archived)
    weak: dict[str, float] = {}
    for section in note.sections:
        if not section.heading or any(link_id(link) in held for link in section.links):
            continue
        for match in registry.matcher.find_in(section.heading):
            if not registry.is_service(match.value):
                continue
            of_service = [s.id for s in stories if s.service == match.value and s.id not in positives]
            for story_id in of_service:
                weak[story_id] = max(weak.get(story_id, 0.0), 1.0 / len(of_service))
    return weak


def _examples(
    db: Database,
    note: Note,
    ids: set[str],
    settings: DigestSettings,
    *,
    registry: Registry,
    coverage: Coverage,
    marker: Note | None,
    linked_posts: Mapping[str, Candidate],
) -> NoteExamples:
    """One note as an example: the stories of its window the notes before it (``coverage``)
    left open; those it covers (links, or names in a heading, as a later draft would count them
    covered) are its positives."""
    found = window_stories(db, settings, at=note.date, registry=registry, coverage=coverage)
    ctx = RankContext(
        at=note.date,
        window_start=found.start,
        previous=marker,
        settings=settings,
        names=found.names,
        coverage=coverage,
    )
    services, topics, keyword_topics = _named(note, registry)
    for post_id in sorted(ids & linked_posts.keys()):
        post = linked_posts[post_id]
        services.update(post.services[:1])
        topics.update(post.topics)
    own = coverage_of([note], held=linked_posts.keys())
    positives = frozenset(s.id for s in found.open if own.of(s, found.names) is not None)
    return NoteExamples(
        note=note,
        ctx=ctx,
        stories=found.open,
        positives=positives,
        weak=_weak_positives(note, found.open, positives, linked_posts.keys(), registry),
        services=frozenset(services),
        topics=frozenset(topics),
        keywords=frozenset(keyword_topics),
    )


def note_examples(
    db: Database,
    notes: Sequence[Note],
    settings: DigestSettings,
    *,
    registry: Registry,
    cache: ExampleCache | None = None,
) -> list[NoteExamples]:
    """Every note (oldest first) as an example: the window a draft for its date would have had,
    minus what the notes before it covered."""
    ordered = sorted(notes, key=lambda n: (n.date, n.path))
    link_ids = [{i for link in n.links if (i := link_id(link))} for n in ordered]
    every_link = set().union(*link_ids) if link_ids else set()
    linked_posts = {p.id: p for p in load_posts(db, every_link)} if every_link else {}
    coverage = coverage_of((), held=linked_posts.keys())
    last_cover: Note | None = None
    previous: Note | None = None
    out = []
    for before, (note, ids) in enumerate(zip(ordered, link_ids, strict=True)):
        key = (note.path, note.date.isoformat(), f"{settings.window}:{settings.cluster_days}", before)
        examples = cache.get(key) if cache is not None else None
        if examples is None:
            examples = _examples(
                db,
                note,
                ids,
                settings,
                registry=registry,
                coverage=coverage,
                marker=last_cover or previous,
                linked_posts=linked_posts,
            )
            if cache is not None:
                cache[key] = examples
        out.append(examples)
        coverage.add(note)
        if ids & linked_posts.keys() or examples.positives:
            coverage.picked(note)
        if ids & linked_posts.keys():
            last_cover = note
        previous = note
    return out


# --- the profile -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interest:
    """What the profile holds about one service or topic, decayed to the profile's date."""

    key: str
    weight: float
    """Its contribution to a story's score (log-odds): the learned weights times its features."""
    offered: float
    featured: float
    named: float


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The author's interests as of ``at``: counts and weights, and how to score a story with them."""

    at: dt.datetime
    registry: Registry
    notes: int
    """Notes read (published before ``at``)."""
    examples: int
    """Notes that linked some of the archive's announcements among their candidates."""
    positives: int
    candidates: int
    weights: Mapping[str, float]
    prior: Mapping[str, float]
    counts: _Counts | None = field(repr=False)
    keyword_topics: frozenset[str] = frozenset()
    """Registry topics the author used as keywords."""
    featured_kinds: Mapping[str, float] = field(default_factory=dict)
    """Decayed count of featured stories by kind."""

    @property
    def empty(self) -> bool:
        """No positive example: nothing learned; the ranking is the rule-based one."""
        return self.positives == 0 or self.counts is None

    def features(self, story: Story, ctx: RankContext) -> dict[str, float]:
        features = _context_features(story, ctx)
        if self.counts is not None:
            features.update(_interest_features(story, self.counts, self.registry, self.at)[0])
        return features

    def components(self, story: Story, ctx: RankContext) -> tuple[Component, ...]:
        """The learned contributions to the story's score, by group, with the reasons."""
        features = self.features(story, ctx)
        service, topic = "", ""
        if self.counts is not None:
            _, service, topic = _interest_features(story, self.counts, self.registry, self.at)
        out = []
        for group, names in GROUPS.items():
            value = sum(self.weights.get(n, 0.0) * features.get(n, 0.0) for n in names)
            why = ""
            if group == "service" and service:
                why = self._why(f"service:{service}", service)
            elif group == "topic" and topic:
                why = self._why(f"topic:{topic}", topic)
            elif group == "kind":
                why = story.kind or "other"
            elif group == "sources":
                why = f"{len(story.posts)} post{'s' if len(story.posts) != 1 else ''}" + (
                    ", News Blog" if features.get("news_blog") else ""
                )
            elif group == "recency":
                why = f"{(ctx.at - story.date).total_seconds() / 86400:.1f} days old"
            elif group == "novelty":
                why = "since the previous note" if features.get("novelty") else "before the previous note"
            out.append(Component(group, round(value, 6), why))
        return tuple(out)

    def _why(self, key: str, label: str) -> str:
        assert self.counts is not None
        featured = self.counts.featured.get(key, self.at)
        offered = self.counts.offered.get(key, self.at)
        named = self.counts.named.get(key, self.at)
        if not offered and not named:
            return f"{label}: new to the notes"
        return f"{label}: featured {featured:.1f} of {offered:.1f}, named by {named:.1f} notes"

    def interests(self, kind: str) -> list[Interest]:
        """Services (``kind="service"``) or topics the notes offered or named, with their weights,
        best first."""
        if self.counts is None:
            return []
        keys = {k for k in (*self.counts.offered.raw, *self.counts.named.raw) if k.startswith(kind + ":")}
        w_lift = self.weights.get(kind, 0.0)
        w_notes = self.weights.get(f"{kind}_notes", 0.0)
        out = []
        for key in keys:
            weight = w_lift * self.counts.lift(key, self.at) + w_notes * self.counts.notes(key, self.at)
            out.append(
                Interest(
                    key=key.split(":", 1)[1],
                    weight=round(weight, 6),
                    offered=self.counts.offered.get(key, self.at),
                    featured=self.counts.featured.get(key, self.at),
                    named=self.counts.named.get(key, self.at),
                )
            )
        return sorted(out, key=lambda i: (-i.weight, i.key))


def fit(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[float],
    sample_weights: Sequence[float],
    prior: Mapping[str, float],
    *,
    l2: float = L2,
    iterations: int = 100,
) -> dict[str, float]:
    """L2-regularised logistic regression towards ``prior``, by Newton's method (deterministic)."""
    x = np.array([[row.get(f, 0.0) for f in FEATURES] for row in rows], dtype=np.float64).reshape(-1, len(FEATURES))
    y = np.array(labels, dtype=np.float64)
    sw = np.array(sample_weights, dtype=np.float64)
    mean = np.array([prior.get(f, 0.0) for f in FEATURES], dtype=np.float64)
    penalty = np.full(len(FEATURES), l2)
    penalty[0] = 1e-6  # the intercept is free
    w = mean.copy()
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ w)))  # the logistic function, without overflow
        gradient = x.T @ (sw * (p - y)) + penalty * (w - mean)
        hessian = (x.T * (sw * p * (1.0 - p))) @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w = w - step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    return {f: float(v) for f, v in zip(FEATURES, w, strict=True)}


@dataclass(frozen=True, kw_only=True)
class Learned:
    """What the notes taught, whatever the draft's date: the fitted weights, the counts (in the
    units of ``origin``, the first note's date; ``Decayed``) and the totals. ``profile`` turns it
    into the profile as of a date. Plain data: ``to_json`` and ``from_json`` round-trip it exactly
    (the archive's cache of learned profiles keeps it)."""

    notes: int
    examples: int
    positives: int
    candidates: int
    weights: Mapping[str, float]
    origin: dt.datetime | None
    offered: Mapping[str, float] = field(default_factory=dict)
    featured: Mapping[str, float] = field(default_factory=dict)
    named: Mapping[str, float] = field(default_factory=dict)
    kinds: Mapping[str, float] = field(default_factory=dict)
    """Featured stories by kind."""
    keyword_topics: frozenset[str] = frozenset()

    def profile(self, at: dt.datetime, *, registry: Registry, settings: DigestSettings) -> Profile:
        def decayed(raw: Mapping[str, float]) -> Decayed:
            assert self.origin is not None
            out = Decayed(self.origin, HALF_LIFE_DAYS)
            out.raw.update(raw)
            return out

        counts = None
        kinds: dict[str, float] = {}
        if self.origin is not None:
            counts = _Counts(offered=decayed(self.offered), featured=decayed(self.featured), named=decayed(self.named))
            kinds = decayed(self.kinds).items(at)
        return Profile(
            at=at, registry=registry, notes=self.notes, examples=self.examples, positives=self.positives,
            candidates=self.candidates, weights=self.weights, prior=priors(settings), counts=counts,
            keyword_topics=self.keyword_topics, featured_kinds=kinds,
        )  # fmt: skip

    def to_json(self) -> str:
        data = {
            **{f: getattr(self, f) for f in ("notes", "examples", "positives", "candidates")},
            **{f: dict(getattr(self, f)) for f in ("weights", "offered", "featured", "named", "kinds")},
            "origin": self.origin.isoformat() if self.origin else None,
            "keyword_topics": sorted(self.keyword_topics),
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Learned:
        data = json.loads(text)
        return cls(
            **{f: data[f] for f in ("notes", "examples", "positives", "candidates")},
            **{f: data[f] for f in ("weights", "offered", "featured", "named", "kinds")},
            origin=dt.datetime.fromisoformat(data["origin"]) if data["origin"] else None,
            keyword_topics=frozenset(data["keyword_topics"]),
        )


def learn(
    db: Database, earlier: Sequence[Note], settings: DigestSettings, *, registry: Registry, cache: ExampleCache | None
) -> Learned:
    """Learn from the notes (oldest first). Each note's examples weigh by its age at the newest
    note: what is learned depends on the notes and the archive alone, not on the draft's date."""
    prior = priors(settings)
    if not earlier:
        return Learned(notes=0, examples=0, positives=0, candidates=0, weights=prior, origin=None)
    origin, newest = earlier[0].date, earlier[-1].date
    counts = _Counts(*(Decayed(origin, HALF_LIFE_DAYS) for _ in range(3)))
    kinds = Decayed(origin, HALF_LIFE_DAYS)
    rows: list[dict[str, float]] = []
    labels: list[float] = []
    weights: list[float] = []
    keyword_topics: set[str] = set()
    examples = positives = candidates = 0
    for example in note_examples(db, earlier, settings, registry=registry, cache=cache):
        when = example.note.date
        if example.positives:  # a note that covered some of the archive's news: an example
            examples += 1
            weight = 0.5 ** ((newest - when).total_seconds() / 86400.0 / HALF_LIFE_DAYS)
            for story in example.stories:
                features = _context_features(story, example.ctx)
                features.update(_interest_features(story, counts, registry, when)[0])
                rows.append(features)
                labels.append(1.0 if story.id in example.positives else 0.0)
                weights.append(weight)
            positives += len(example.positives)
            candidates += len(example.stories)
        if example.positives or example.weak:  # the counts the next notes see
            for story in example.stories:
                chosen = 1.0 if story.id in example.positives else example.weak.get(story.id, 0.0)
                keys = ["total", *(f"service:{s}" for s in story.services[:1])]
                keys += [f"topic:{t}" for t in _story_topics(story, registry)]
                for key in keys:
                    counts.offered.add(key, 1.0, when)
                    if chosen:
                        counts.featured.add(key, chosen, when)
                if chosen:
                    kinds.add(story.kind or "other", chosen, when)
        for service in sorted(example.services):
            counts.named.add(f"service:{service}", 1.0, when)
        for topic in sorted(example.topics):
            counts.named.add(f"topic:{topic}", 1.0, when)
        keyword_topics |= example.keywords
    return Learned(
        notes=len(earlier),
        examples=examples,
        positives=positives,
        candidates=candidates,
        weights=fit(rows, labels, weights, prior, l2=L2) if positives else prior,
        origin=origin,
        offered=dict(counts.offered.raw),
        featured=dict(counts.featured.raw),
        named=dict(counts.named.raw),
        kinds=dict(kinds.raw),
        keyword_topics=frozenset(keyword_topics),
    )


def learn_profile(
    db: Database,
    notes: Iterable[Note],
    settings: DigestSettings,
    *,
    at: dt.datetime,
    registry: Registry,
    cache: ExampleCache | None = None,
) -> Profile:
    """The profile as of ``at``, from the notes published before it (later ones are ignored)."""
    earlier = sorted((n for n in notes if n.date < at), key=lambda n: (n.date, n.path))
    return learn(db, earlier, settings, registry=registry, cache=cache).profile(
        at, registry=registry, settings=settings
    )


# --- the learned profile, kept in the archive ---------------------------------------------------


@functools.cache
def code_version() -> str:
    """The learning code's version: a digest of the modules that learn (this one, and those whose
    windows, stories, scores and coverage make the examples). Any change to them relearns."""
    digest = hashlib.sha256()
    profile_module = sys.modules[__name__]
    for module in (profile_module, select_module, stories_module, ranking_module, earlier_module):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def profile_key(db: Database, earlier: Sequence[Note], settings: DigestSettings, *, registry: Registry) -> str:
    """What a learned profile depends on, as one key: the learning code's version, the settings
    that change learning (the window, stories, the rule-based weights that are its prior), the
    registry, the notes read (in order: each one's content) and the archive's posts it learns
    from (those of the notes' windows and those the notes link: ``store.posts_digest``)."""
    digest = hashlib.sha256()
    learning = {
        "code": code_version(),
        "window": settings.window,
        "cluster_days": settings.cluster_days,
        "prior": priors(settings),
        "registry": registry.fingerprint(),
    }
    digest.update(json.dumps(learning, sort_keys=True).encode())
    for note in earlier:
        digest.update(repr(note).encode())
    if earlier:
        start = earlier[0].date - dt.timedelta(seconds=settings.window)
        links = {i for note in earlier for link in note.links if (i := link_id(link))}
        digest.update(store.posts_digest(db, start=start, end=earlier[-1].date, ids=links).encode())
    return digest.hexdigest()


def cached_profile(
    db: Database, notes: Iterable[Note], settings: DigestSettings, *, at: dt.datetime, registry: Registry
) -> Profile:
    """``learn_profile``, kept in the archive (``store.save_profile``) under ``profile_key``: the
    same notes, settings and archive learn nothing again, whatever the draft's date; a changed or
    added note, or new posts in the notes' windows, relearn. From a read-only archive it learns
    without keeping what it learned."""
    earlier = sorted((n for n in notes if n.date < at), key=lambda n: (n.date, n.path))
    key = profile_key(db, earlier, settings, registry=registry)
    kept = store.cached_profile(db, key)
    if kept is not None:
        log.debug("learned profile of %d notes read from the archive", len(earlier))
        return Learned.from_json(kept).profile(at, registry=registry, settings=settings)
    learned = learn(db, earlier, settings, registry=registry, cache=None)
    if store.save_profile(db, key, learned.to_json(), notes=len(earlier)):
        log.debug("learned profile of %d notes kept in the archive", len(earlier))
    return learned.profile(at, registry=registry, settings=settings)


def rank_learned(profile: Profile) -> Ranking:
    """Rank by the profile's learned score plus the interest the author configured
    (``digest.interest_services``, ``interest_topics``: their word), the other rule-based
    components shown beside it (not counted); an empty profile ranks by the rules."""
    rules = rank_by_score(SCORERS)

    def rank(stories: Sequence[Story], ctx: RankContext) -> list[Ranked]:
        if profile.empty:
            return rules(stories, ctx)
        ranked = []
        for story in stories:
            learned = profile.components(story, ctx)
            beside = tuple(
                c if c.name == "interest" else Component(f"rules.{c.name}", c.value, c.why, counted=False)
                for c in (s(story, ctx) for s in SCORERS)
            )
            ranked.append(Ranked(story, (*learned, *beside)))
        return sorted(ranked, key=lambda r: (-r.score, -r.story.date.timestamp(), r.story.id))

    return rank


# --- what ``aggregator profile`` shows -----------------------------------------------------------


def summary(profile: Profile, settings: DigestSettings, *, limit: int = 15) -> dict[str, object]:
    """The profile as plain data (``aggregator profile --json``)."""

    def interest(i: Interest) -> dict[str, object]:
        entry = profile.registry.get(i.key)
        return {
            "key": i.key,
            "name": entry.short if entry else i.key,
            "weight": round(i.weight, 3),
            "featured": round(i.featured, 2),
            "offered": round(i.offered, 2),
            "named_by_notes": round(i.named, 2),
        }

    services = profile.interests("service")
    never = sorted((i for i in services if i.offered >= 1 and i.featured == 0), key=lambda i: (-i.offered, i.key))
    w = profile.weights
    return {
        "at": profile.at.isoformat(timespec="seconds"),
        "notes": profile.notes,
        "notes_with_examples": profile.examples,
        "linked_announcements": profile.positives,
        "candidates": profile.candidates,
        "learned": not profile.empty,
        "half_life_days": HALF_LIFE_DAYS,
        "services": [interest(i) for i in services[:limit]],
        "topics": [interest(i) for i in profile.interests("topic")[:limit]],
        "never_featured": [{"key": i.key, "offered": round(i.offered, 2)} for i in never[:limit]],
        "kinds": sorted(
            (
                {
                    "kind": k,
                    "weight": round(w.get(f"kind:{k}", 0.0), 3),
                    "prior": round(profile.prior.get(f"kind:{k}", 0.0), 3),
                    "featured": round(profile.featured_kinds.get(k, 0.0), 2),
                }
                for k in KINDS
            ),
            key=lambda item: (-float(item["weight"]), str(item["kind"])),  # type: ignore[arg-type]
        ),
        "sources": {"news_blog": round(w.get("news_blog", 0.0), 3), "per_log_post": round(w.get("sources", 0.0), 3)},
        "recency": round(w.get("recency", 0.0), 3),
        "novelty": round(w.get("novelty", 0.0), 3),
        "passed": round(w.get("passed", 0.0), 3),
        "unnamed_service": round(w.get("unnamed", 0.0), 3),
        "keyword_topics": sorted(profile.keyword_topics),
        "pinned": {"services": list(settings.pin_services), "topics": list(settings.pin_topics)},
        "muted": {"services": list(settings.mute_services), "topics": list(settings.mute_topics)},
    }


def summary_lines(data: Mapping[str, object]) -> list[str]:
    """The profile for a terminal (``aggregator profile``)."""
    lines = [
        f"profile as of {data['at']}: {data['notes']} notes read, {data['notes_with_examples']} of them linked"
        f" {data['linked_announcements']} of the archive's announcements among {data['candidates']} candidates"
        f" (counts fade by half every {data['half_life_days']:g} days)"
    ]
    if not data["learned"]:
        lines.append("nothing learned yet (no note links a candidate of its window): drafts use the rule-based score")
    for title, key in (("services", "services"), ("topics", "topics")):
        rows = data[key]
        assert isinstance(rows, list)
        if not rows:
            continue
        lines.append("")
        lines.append(f"{title} (weight: added to a story's log-odds; featured of offered, decayed; notes naming it)")
        width = max(len(str(row["name"])) for row in rows)
        for row in rows:
            lines.append(
                f"  {row['name']:<{width}}  {row['weight']:+6.2f}   featured {row['featured']:5.1f} of {row['offered']:6.1f}"
                f"   named by {row['named_by_notes']:4.1f} notes"
            )
    never = data["never_featured"]
    assert isinstance(never, list)
    if never:
        lines.append("")
        lines.append(
            "never featured (most offered first): " + ", ".join(f"{n['key']} ({n['offered']:.0f})" for n in never)
        )
    kinds = data["kinds"]
    assert isinstance(kinds, list)
    lines.append("")
    lines.append("kinds (learned weight; rule-based prior; featured):")
    for row in kinds:
        lines.append(f"  {row['kind']:<22} {row['weight']:+6.2f}  ({row['prior']:+.2f})  {row['featured']:5.1f}")
    sources = data["sources"]
    assert isinstance(sources, dict)
    lines.append("")
    lines.append(
        f"sources: an AWS News Blog post {sources['news_blog']:+.2f}, per log(posts) {sources['per_log_post']:+.2f};"
        f" recency {data['recency']:+.2f}; new since the previous note {data['novelty']:+.2f};"
        f" each earlier note that passed it over {data['passed']:+.2f}; a service no note named"
        f" {data['unnamed_service']:+.2f}"
    )
    topics = data["keyword_topics"]
    assert isinstance(topics, list)
    if topics:
        lines.append(f"topics the author uses as keywords: {', '.join(topics)}")
    for word in ("pinned", "muted"):
        given = data[word]
        assert isinstance(given, dict)
        if given["services"] or given["topics"]:
            setting = {"pinned": "pin", "muted": "mute"}[word]
            lines.append(
                f"{word} (digest.{setting}_services, {setting}_topics): "
                + ", ".join([*given["services"], *given["topics"]])
            )
    return lines
