"""What goes into a weekly draft: the window's stories, ranked, chosen and placed.

::

    posts in the window ──> candidates ──> stories (clustered) ──> minus what earlier notes covered
        ──> ranked (named score components) ──> featured (+ related, Previously, History),
            also since the previous note, earlier not yet covered, the community corner,
            source problems

The stages have modules of their own: ``stories`` (candidates from the store's records, joined
into stories), ``ranking`` (score components, rankings, pins and mutes), ``earlier`` (what the
notes covered, Previously, History); this module puts them together (``select_for_draft``) and
picks the featured sections (``pick_featured``: the weightiest story with its related ones
first, one per service, no topic in every slot).

The archive is read through the store's reads (``store.window_posts``, ``store.posts_by_id``,
``store.service_history``...), every query bounded by an index, so a week's draft costs the same
on a large archive as on a small one: the digest holds no SQL. It reads what the tagger stored
(``post_tags``, ``posts.kind``, ``primary_service``, ``regions``, ``region_count``) and what each
post links (``post_links``); only the links of the author's notes, which are not stored, are
resolved here (``normalize.link_id``). A post the tagger has not seen (an archive from before
tagging) is not tagged here: it has no services and no kind, and the draft's source-problems
comment counts such posts and says that ``aggregator tag`` tags them. Everything else is pure:
the clock is never read, the publication time ``at`` is given, and every ordering ends in an id,
so the same archive and date give the same draft.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlite_utils import Database

from .. import store
from ..config import DigestSettings
from ..models import FeedGap
from ..taxonomy import Registry
from .earlier import Cover, Coverage, History, NoteIndex, Previously, coverage_of, find_history, index_notes, previously
from .notes import Note
from .ranking import RankContext, Ranked, Ranking, at_the_bottom, muted, rank_by_score, with_pins
from .stories import Candidate, ServiceNames, Story, cluster, load_candidates

RELATED_MAX = 3
"""Other stories of a featured story's service listed in its section at most."""


# --- source problems -----------------------------------------------------------------------------


FeedGaps = Callable[[Database, dt.datetime, dt.datetime], Sequence[FeedGap]]


@dataclass(frozen=True)
class Problem:
    feed: str
    text: str


def _local(when: dt.datetime, tz: dt.tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def source_problems(
    db: Database, *, start: dt.datetime, end: dt.datetime, tz: dt.tzinfo, gaps: FeedGaps = store.feed_gaps
) -> list[Problem]:
    """Feeds that failed during ``[start, end)`` (the fetch log), feeds that are gone, and gaps."""
    problems = []
    for failures in sorted(store.fetch_failures(db, start=start, end=end), key=lambda f: f.feed):
        first, last = failures.polls[0].started, failures.polls[-1].started
        statuses = sorted({f"HTTP {p.status}" if p.status else (p.error or "error") for p in failures.polls})
        n = len(failures.polls)
        polls = f"{n} failed poll" + ("s" if n != 1 else "")
        when = _local(first, tz) if first == last else f"{_local(first, tz)} to {_local(last, tz)}"
        recovered = ", recovered" if failures.recovered else ", not recovered"
        problems.append(Problem(failures.feed, f"{polls}, {when} ({'; '.join(statuses)[:200]}){recovered}"))
    for feed in store.feed_labels(db).values():
        if feed.gone:
            problems.append(Problem(feed.name, "gone (HTTP 410): no longer polled"))
    for gap in gaps(db, start, end):
        problems.append(
            Problem(gap.feed, f"possible gap from {_local(gap.start, tz)} to {_local(gap.end, tz)} ({gap.status})")
        )
    return problems


# --- the whole selection -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Featured:
    ranked: Ranked
    related: tuple[Ranked, ...]
    previously: tuple[Previously, ...]
    history: History | None


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Everything the draft shows, in order, and what ``--explain`` prints."""

    at: dt.datetime
    window_start: dt.datetime
    since: dt.datetime
    """Stories after this are "this week": the date of the last note that covered the archive's
    posts (normally the previous note), else a week before ``at``."""
    previous: Note | None
    since_note: Note | None = None
    """The note ``since`` comes from, when it is not the previous one."""
    featured: tuple[Featured, ...]
    also: tuple[Ranked, ...]
    earlier: tuple[Ranked, ...]
    earlier_unlisted: int = 0
    """Earlier uncovered stories beyond ``digest.earlier_max``, left out of the draft."""
    community: tuple[Candidate, ...]
    problems: tuple[Problem, ...]
    ranked: tuple[Ranked, ...]
    """Every uncovered story, best first."""
    covered: tuple[Story, ...]
    names: ServiceNames
    covers: Mapping[str, Cover] = field(default_factory=dict)
    """How each covered story was covered, by story id (``--explain``)."""
    not_featured: Mapping[str, str] = field(default_factory=dict)
    """Why stories the featured slots passed are not featured (muted, their service or topic
    taken), by story id."""
    earlier_listed: bool = True
    """Whether the draft lists the ``earlier`` stories (``digest.earlier_title`` is not empty)."""
    notes_skipped: tuple[str, ...] = ()
    untagged: int = 0
    """Posts of the window the archive has not tagged (stored before tagging existed): the draft
    knows no services or kind of theirs; ``aggregator tag`` tags them."""
    keyword_topics: frozenset[str] = frozenset()
    """Topics that go into the draft's keywords (``digest.keyword_topics``, and those the author
    used as keywords in earlier notes)."""
    ranking: str = ""
    """How the stories were ranked, in a line (``--explain``)."""

    def placements(self) -> dict[str, tuple[str, str]]:
        """Where each story of the window went, by story id: ``featured``, ``related`` (listed
        in a featured section), ``listed`` (the list of the other stories: ``also`` or
        ``earlier``) or ``left out``, and why."""
        out: dict[str, tuple[str, str]] = {}
        for f in self.featured:
            out[f.ranked.story.id] = ("featured", "")
            service = self.names.short(f.ranked.story.service) if f.ranked.story.service else "its"
            for r in f.related:
                out[r.story.id] = ("related", f"in the {service} section")
        for r in self.also:
            out.setdefault(r.story.id, ("listed", "also"))
        for r in self.earlier:
            out.setdefault(
                r.story.id,
                ("listed", "earlier")
                if self.earlier_listed
                else ("left out", "earlier: digest.earlier_title is empty"),
            )
        for r in self.ranked:
            out.setdefault(r.story.id, ("left out", "earlier: below the list cap (digest.earlier_max)"))
        for story_id, why in self.not_featured.items():
            where, said = out[story_id]
            out[story_id] = (where, f"{said}; not featured: {why}" if said else f"not featured: {why}")
        for story in self.covered:
            cover = self.covers.get(story.id)
            out[story.id] = ("left out", f"covered by {cover}" if cover else "covered by an earlier note")
        return out


def _linkable(post: Candidate) -> bool:
    return bool(post.url and re.match(r"https?://", post.url, re.I))


def _community(
    candidates: Sequence[Candidate],
    ranked: Sequence[Ranked],
    featured: Sequence[Featured],
    *,
    covered: set[str],
    since: dt.datetime,
    limit: int,
    settings: DigestSettings,
) -> tuple[Candidate, ...]:
    in_featured = {p.id for f in featured for r in (f.ranked, *f.related) for p in r.story.posts}
    in_story = {p.id for r in ranked for p in r.story.posts}
    scored = []
    for c in candidates:
        if c.source != "community" or c.id in covered or c.date <= since or not _linkable(c):
            continue
        score = 2.0 if c.id in in_featured else 1.0 if c.id in in_story else 0.0
        score += max((settings.interest_services.get(s, 0.0) for s in c.services), default=0.0)
        scored.append((-score, -c.date.timestamp(), c.id, c))
    return tuple(item[3] for item in sorted(scored)[:limit])


@dataclass(frozen=True, kw_only=True)
class Window:
    """The stories a draft (or a note, when the profile learns from it) could choose from."""

    start: dt.datetime
    at: dt.datetime
    candidates: tuple[Candidate, ...]
    names: ServiceNames
    open: tuple[Story, ...]
    """The stories no earlier note covered that a draft can show, oldest first."""
    covered: tuple[Story, ...]
    covers: Mapping[str, Cover] = field(default_factory=dict)
    """How each covered story was covered, by story id."""


def window_stories(
    db: Database,
    settings: DigestSettings,
    *,
    at: dt.datetime,
    registry: Registry,
    coverage: Coverage,
    known: Iterable[Candidate] = (),
) -> Window:
    """The posts of the window before ``at`` as stories, those the earlier notes covered
    (``coverage``) set apart. ``known``: more posts to learn service names from."""
    start = at - dt.timedelta(seconds=settings.window)
    candidates = load_candidates(db, start=start, end=at)
    names = ServiceNames(registry, candidates)
    names.add(known)
    stories = cluster(candidates, names=names, cluster_days=settings.cluster_days)
    covers = {s.id: cover for s in stories if (cover := coverage.of(s, names)) is not None}
    # The corner has the community's own stories; a story nothing links to cannot be shown.
    open_stories = tuple(
        s
        for s in stories
        if s.id not in covers and any(p.source != "community" for p in s.posts) and _linkable(s.primary)
    )
    return Window(
        start=start,
        at=at,
        candidates=tuple(candidates),
        names=names,
        open=open_stories,
        covered=tuple(s for s in stories if s.id in covers),
        covers=covers,
    )


def story_topics(story: Story, names: ServiceNames) -> tuple[str, ...]:
    """Its posts' topics and those of its primary service in the registry."""
    return tuple(dict.fromkeys((*story.topics, *(names.topics(story.service) if story.service else ()))))


@dataclass(frozen=True)
class Picks:
    """The featured stories (in the order chosen: the weightiest section first), the related
    stories of each by its id, and why other stories are not featured (by their ids)."""

    featured: tuple[Ranked, ...]
    related: Mapping[str, tuple[Ranked, ...]]
    skipped: Mapping[str, str]


def _log_sum_exp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def pick_featured(ranked: Sequence[Ranked], settings: DigestSettings, names: ServiceNames) -> Picks:
    """The featured stories, one at a time: the story whose section weighs most, its score with
    those of the related stories it would list taken together (log-sum-exp: a service with three
    good stories makes a stronger section than one with a single, slightly better story). Never
    a muted story; one section per service; and never one topic in every slot: a story whose
    topic fills ``max_featured - 1`` slots already is featured only when nothing else is left."""
    by_service: dict[str, list[Ranked]] = defaultdict(list)
    position = {id(r): i for i, r in enumerate(ranked)}
    for r in ranked:
        for key in dict.fromkeys(r.story.services[:2]):
            by_service[key].append(r)
    picks: list[Ranked] = []
    related: dict[str, tuple[Ranked, ...]] = {}
    used: set[str] = set()
    services: set[str] = set()
    topics: Counter[str] = Counter()
    topic_max = max(1, settings.max_featured - 1)
    skipped: dict[str, str] = {}

    def told(r: Ranked) -> tuple[Ranked, ...]:
        """Its related stories: others of its service, and those of other services that name it
        second and rank below it (one that ranks above it makes a section of its own)."""
        others = by_service[r.story.service] if r.story.service else []
        return tuple(
            o
            for o in others
            if o is not r
            and o.story.id not in used
            and (o.story.service == r.story.service or position[id(o)] > position[id(r)])
            and all(o is not p for p in picks)
        )[:RELATED_MAX]

    def blocked(story: Story) -> str | None:
        mute = muted(story, settings, names)
        if mute:  # the author's word
            return f"muted ({mute}): never featured"
        if story.service and story.service in services:
            return f"a {names.short(story.service)} story is featured already"
        full = sorted(t for t in story_topics(story, names) if topics[t] >= topic_max)
        return f"{full[0]} fills {topic_max} featured slots already" if full else None

    while len(picks) < settings.max_featured:
        best: tuple[float, Ranked, tuple[Ranked, ...]] | None = None
        for r in ranked:
            if r.story.id in used:
                continue
            reason = blocked(r.story)
            if reason is not None:
                skipped[r.story.id] = reason
                continue
            section = told(r)
            value = _log_sum_exp([r.score, *(o.score for o in section)])
            if best is None or value > best[0]:  # a tie goes to the better ranked
                best = (value, r, section)
        if best is None:  # only stories of a topic that fills its slots (or none) are left
            waiting = [r for r in ranked if r.story.id not in used and "fills" in skipped.get(r.story.id, "")]
            if not waiting:
                break
            best = (0.0, waiting[0], told(waiting[0]))
        _, r, section = best
        skipped.pop(r.story.id, None)
        picks.append(r)
        related[r.story.id] = section
        used.add(r.story.id)
        used.update(o.story.id for o in section)
        services.add(r.story.service)
        topics.update(story_topics(r.story, names))
    return Picks(
        featured=tuple(picks),
        related=related,
        skipped={k: v for k, v in skipped.items() if k not in used},
    )


def choose_featured(
    db: Database, ranked: Sequence[Ranked], settings: DigestSettings, *, names: ServiceNames, index: NoteIndex
) -> tuple[list[Featured], set[str], Mapping[str, str]]:
    """The featured stories (``pick_featured``), each with its related stories, history and
    Previously; the ids of every story they tell; why stories above the cut are not featured."""
    picks = pick_featured(ranked, settings, names)
    featured: list[Featured] = []
    used: set[str] = set()
    for r in picks.featured:
        related = picks.related[r.story.id]
        used.add(r.story.id)
        used.update(o.story.id for o in related)
        history = find_history(db, r.story, names)
        earlier = previously(
            r.story, index, names, history=[history.post.id] if history else [], limit=settings.previously_max
        )
        featured.append(Featured(ranked=r, related=related, previously=earlier, history=history))
    return featured, used, picks.skipped


def select_for_draft(
    db: Database,
    settings: DigestSettings,
    *,
    at: dt.datetime,
    tz: dt.tzinfo,
    registry: Registry,
    notes: Sequence[Note],
    ranking: Ranking | None = None,
    gaps: FeedGaps = store.feed_gaps,
    notes_skipped: Sequence[str] = (),
    keyword_topics: Iterable[str] = (),
    ranking_label: str = "",
) -> Selection:
    """Choose the draft's content for a publication at ``at``, given the notes published before it."""
    window_start = at - dt.timedelta(seconds=settings.window)
    index = index_notes(db, sorted((n for n in notes if n.date < at), key=lambda n: (n.date, n.path)))
    marker = index.last_coverage
    since = max(marker.date, window_start) if marker else at - dt.timedelta(days=7)
    covered_ids = set(index.linked)
    coverage = coverage_of(index.notes, held=index.posts.keys())
    window = window_stories(db, settings, at=at, registry=registry, coverage=coverage, known=index.posts.values())
    for note in {
        *(index.notes[i] for i in {i for ids in index.linked.values() for i in ids}),
        *(c.note for c in window.covers.values()),
    }:
        coverage.picked(note)
    names = window.names
    ctx = RankContext(
        at=at, window_start=window_start, previous=marker, settings=settings, names=names, coverage=coverage
    )
    ranked = with_pins(at_the_bottom((ranking or rank_by_score())(window.open, ctx), settings), settings, names)
    featured, used, skipped = choose_featured(db, ranked, settings, names=names, index=index)
    rest = [r for r in ranked if r.story.id not in used]
    older = tuple(r for r in rest if r.story.date <= since)
    return Selection(
        at=at,
        window_start=window_start,
        since=since,
        previous=index.previous,
        since_note=marker if marker is not index.previous else None,
        featured=tuple(featured),
        also=tuple(r for r in rest if r.story.date > since),
        earlier=older[: settings.earlier_max],
        earlier_unlisted=max(0, len(older) - settings.earlier_max),
        community=_community(
            window.candidates,
            ranked,
            featured,
            covered=covered_ids,
            since=since,
            limit=settings.community_max,
            settings=settings,
        ),
        problems=tuple(source_problems(db, start=window_start, end=at, tz=tz, gaps=gaps)),
        ranked=tuple(ranked),
        covered=window.covered,
        covers=window.covers,
        not_featured=skipped,
        earlier_listed=bool(settings.earlier_title),
        names=names,
        notes_skipped=tuple(notes_skipped),
        untagged=store.count_untagged(db, start=window_start, end=at),
        keyword_topics=frozenset(settings.keyword_topics) | frozenset(keyword_topics),
        ranking=ranking_label,
    )
