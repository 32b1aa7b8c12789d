"""What goes into a weekly draft: the window, the candidate posts, stories, ranking, history.

::

    posts in the window ──> candidates ──> stories (clustered) ──> minus what earlier notes covered
        ──> ranked (named score components) ──> featured (+ related, Previously, History),
            also since the previous note, earlier not yet covered, the community corner,
            source problems

The archive is read through the store's reads for the digest (``load_candidates``,
``load_posts``, ``find_history`` and ``source_problems`` call them), every query bounded by an
index (the window by ``posts.date``, posts by primary key, the history of a service by ``posts
(primary_service, date)``), so a week's draft costs the same on a large archive as on a small one. Everything else
is pure: the clock is never read, the publication time ``at`` is given, and every ordering ends
in an id, so the same archive and date give the same draft.

**Stories.** One launch, however many posts tell it: posts are joined when one links the other
(a News Blog post and its What's New item), or when they share a service, are at most
``digest.cluster_days`` apart and have similar titles. A post that links three stories or more
is a roundup: it joins nothing and counts as a mention of each. What's New items at two
addresses (``…-available/`` and ``…-available1/``) are one story. A story an earlier note
covered is left out (``Coverage``): the note linked any of its posts, linked an AWS page the
archive does not hold whose address reads like its title, or has a heading naming its service
and what is new.

**Ranking.** A story's score is a sum of named components (``sources``, ``kind``, ``interest``,
``recency``, ``novelty``, ``passed``), each a ``Scorer``; ``aggregator digest --explain`` prints
them and where each story went. A ``Ranking`` turns stories into ranked stories:
``rank_by_score`` (with any scorers, e.g. a learned profile beside these) or ``rank_newest``
(the baseline of the replay bench). Whatever the ranking, training announcements go last, then
pins first and mutes last. ``pick_featured`` chooses the sections: the weightiest story with its
related ones first, one per service, no topic in every slot.

**Reading the archive.** Everything comes from the store's reads (``store.window_posts``,
``store.posts_by_id``, ``store.service_history``...): the digest holds no SQL. It reads what the
tagger stored (``post_tags``, ``posts.kind``, ``primary_service``, ``regions``, ``region_count``)
and what each post links (``post_links``, resolved when the post was stored); only the links of the
author's notes, which are not stored, are resolved here (``normalize.link_id``). A post the tagger
has not seen (an archive from before tagging) is not tagged here: it has no services and no kind,
and the draft's source-problems comment counts such posts and says that ``aggregator tag`` tags
them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlite_utils import Database

from .. import store
from ..config import DEFAULT_KIND_WEIGHTS, DEFAULT_SOURCE_WEIGHTS, DigestSettings
from ..models import FeedGap
from ..normalize import canonical_url
from ..normalize import link_id as _link_id
from ..taxonomy import REGIONS, Registry
from .notes import Note

SourceType = Literal["whats-new", "news-blog", "aws-blog", "community", "other"]
SOURCE_ORDER: tuple[SourceType, ...] = ("whats-new", "news-blog", "aws-blog", "other", "community")
"""Which post of a story leads it: a What's New item, else a News Blog post, and so on."""
NEWS_BLOG_PATH = "/blogs/aws/"
"""The AWS News Blog lives at aws.amazon.com/blogs/aws/; the other AWS blogs beside it."""
ROUNDUP_LINKS = 3
"""A post linking this many stories of the window or more is a roundup, not a source of one."""
_ROUNDUP_TITLE = re.compile(r"\b(round-?up|week in review|this week in)\b", re.I)
RELATED_MAX = 3
"""Other stories of a featured story's service listed in its section at most."""
HISTORY_ROWS = 200
"""Earlier posts of a service examined for the history of a featured story (newest first)."""
HISTORY_MIN_AGE = dt.timedelta(days=30)

_WORD = re.compile(r"[a-z0-9@]+(?:\.[a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a an the and or for to of in on with by at from into via as its it is are be can your you now new
    also more most adds add added support supports supported available availability generally announcing
    announces announce introducing introduces introduce launches launch launched amazon aws region regions
    feature features capability capabilities enables enable allows allow using use lets let offers offer
    provides provide brings today preview general ga""".split()  # noqa: SIM905
)


# --- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A post of the window, with what the tagger says about it."""

    id: str
    url: str | None
    title: str
    date: dt.datetime
    feed: str
    feed_title: str
    source: SourceType
    kind: str | None
    services: tuple[str, ...]
    """Registry keys, the primary service first."""
    topics: tuple[str, ...]
    regions: tuple[str, ...]
    links: tuple[str, ...]
    """Ids of the posts it links (whether or not the archive holds them)."""
    region_count: int | None = None
    """How many Regions a region expansion adds, as the tagger counted them; None: it does not say."""
    tagged: bool = True
    """False: the archive has not tagged it (stored before tagging existed): no services, no kind."""
    variant: str | None = None
    """The id of its URL without the number What's New appends to an address used twice
    (``…-generally-available1/`` is ``…-generally-available/``); None when it has none."""

    def service_is(self, key: str) -> bool:
        return bool(self.services) and self.services[0] == key


@functools.lru_cache(maxsize=1 << 16)
def link_id(url: str) -> str | None:
    """``normalize.link_id``, remembered: the notes' links are resolved again for every window."""
    return _link_id(url)


_WHATS_NEW_SUFFIX = re.compile(r"^(https?://aws\.amazon\.com/about-aws/whats-new/\S*[a-z])\d{1,2}/?$", re.I)


@functools.lru_cache(maxsize=1 << 16)
def suffix_variant(url: str | None) -> str | None:
    """The id of a What's New URL without the number the site appends to an address it uses a
    second time (``…-available1/`` -> ``…-available/``): the same announcement. None otherwise."""
    canonical = canonical_url(url)
    match = _WHATS_NEW_SUFFIX.match(canonical) if canonical else None
    return link_id(match.group(1) + "/") if match else None


def _source_type(url: str | None, feed_kinds: Iterable[str]) -> SourceType:
    kinds = set(feed_kinds)
    if "aws-whats-new" in kinds:
        return "whats-new"
    if "aws-blog" in kinds:
        if url and re.match(r"https?://aws\.amazon\.com" + re.escape(NEWS_BLOG_PATH), url):
            return "news-blog"
        return "aws-blog"
    if "other" in kinds:
        return "other"
    if "community" in kinds:
        return "community"
    return "other"


def _candidate(post: store.PostRecord, feeds: Mapping[str, store.FeedLabel]) -> Candidate:
    """A stored post as a candidate: its services (the primary one first) and topics, the surest
    first; where it comes from."""
    services = [t.tag for t in post.tags if t.type == "service"]
    if post.primary_service:
        services = [post.primary_service, *(s for s in services if s != post.primary_service)]
    feed = feeds.get(post.feed)
    return Candidate(
        id=post.id,
        url=post.url,
        title=" ".join(post.title.split()),
        date=post.date,
        feed=post.feed,
        feed_title=(feed.title if feed else None) or post.feed,
        source=_source_type(post.url, post.feed_kinds),
        kind=post.kind,
        services=tuple(dict.fromkeys(services)),
        topics=tuple(dict.fromkeys(t.tag for t in post.tags if t.type == "topic")),
        regions=post.regions,
        links=post.links,
        region_count=post.region_count,
        tagged=post.tagged,
        variant=suffix_variant(post.url),
    )


def load_candidates(db: Database, *, start: dt.datetime, end: dt.datetime) -> list[Candidate]:
    """The posts dated in ``[start, end)``, oldest first."""
    feeds = store.feed_labels(db)
    return [_candidate(post, feeds) for post in store.window_posts(db, start=start, end=end)]


def load_posts(db: Database, ids: Iterable[str]) -> list[Candidate]:
    """The archive's posts with these ids, as candidates, by id."""
    feeds = store.feed_labels(db)
    return [_candidate(post, feeds) for post in store.posts_by_id(db, ids)]


class ServiceNames:
    """Names of services: the registry's, else how posts' titles spell a key the registry does
    not know (an archive tagged with another registry)."""

    def __init__(self, registry: Registry, candidates: Iterable[Candidate] = ()) -> None:
        self.registry = registry
        self.fallback: dict[str, str] = {}
        self._long: dict[str, re.Pattern[str] | None] = {}
        self._words: dict[str, NameWords] = {}
        self.add(candidates)

    def add(self, candidates: Iterable[Candidate]) -> None:
        """Learn how a title spells a key the registry does not know ("ECS" for ``ecs``)."""
        for candidate in candidates:
            for key in candidate.services:
                if key not in self.registry and key not in self.fallback:
                    match = re.search(r"(?<![\w@])" + re.escape(key) + r"(?![\w@])", candidate.title, re.I)
                    if match:
                        self.fallback[key] = match.group(0)
                        self._long.pop(key, None)
                        self._words.pop(key, None)

    def known(self, key: str) -> bool:
        """Whether the service has a name of its own here (else names fall back to the key)."""
        return key in self.registry or key in self.fallback

    def name(self, key: str) -> str:
        entry = self.registry.get(key)
        return entry.name if entry else self.fallback.get(key, key)

    def short(self, key: str) -> str:
        entry = self.registry.get(key)
        if entry:
            return entry.short
        name = self.fallback.get(key)
        if name:
            short = re.sub(r"^(amazon|aws)\s+", "", name, flags=re.I)
            return short or name
        return key

    def all_names(self, key: str) -> tuple[str, ...]:
        """Every name a text may use for the service, longest first (for matching and shortening)."""
        names = {key, self.name(key), self.short(key)}
        entry = self.registry.get(key)
        if entry:
            names.update(entry.aliases)
        return tuple(sorted((n for n in names if len(n) >= 2), key=lambda n: (-len(n), n)))

    def own_names(self, key: str) -> tuple[str, ...]:
        """The service's own long names: its display name with and without the Amazon/AWS
        prefix ("Amazon Elastic Container Service", "Elastic Container Service"), longest first.
        Never an alias: aliases also name sub-products ("SageMaker HyperPod", "MSK Connect",
        "Session Manager"), which a shortened title must keep."""
        name = self.name(key)
        bare = re.sub(r"^(amazon|aws)\s+", "", name, flags=re.I)
        return tuple(sorted({n for n in (name, bare) if n}, key=lambda n: (-len(n), n)))

    def long_names(self, key: str) -> re.Pattern[str] | None:
        """One pattern for the service's own names longer than its short name (to shorten them)."""
        if key not in self._long:
            short = self.short(key)
            longer = [n for n in self.own_names(key) if n.lower() != short.lower() and len(n) > len(short)]
            self._long[key] = (
                re.compile(r"(?<![\w@])(" + "|".join(re.escape(n) for n in longer) + r")(?![\w@])", re.I)
                if longer
                else None
            )
        return self._long[key]

    def topics(self, key: str) -> tuple[str, ...]:
        return self.registry.topics_of(key)

    def words(self, key: str) -> NameWords:
        """The words of the service's names (remembered: every story of a window asks)."""
        if key not in self._words:
            self._words[key] = _name_words_of(self.all_names(key))
        return self._words[key]


@dataclass(frozen=True)
class NameWords:
    written: frozenset[str]
    """The words of the names as written, lowercased ("step", "functions")."""
    drop: frozenset[str]
    """The same and as ``tokens`` spells them ("function"): what a title's words drop."""
    names: tuple[frozenset[str], ...]
    """Each name as ``tokens`` spells it ("Step Functions": step, function)."""


@functools.lru_cache(maxsize=4096)
def _name_words_of(names: tuple[str, ...]) -> NameWords:
    written = frozenset(w for name in names for w in _WORD.findall(name.lower()))
    spelled = tuple(words for name in names if (words := tokens(name)))
    return NameWords(written, written | tokens(" ".join(sorted(written))), spelled)


# --- stories -----------------------------------------------------------------------------------


def tokens(text: str, drop: Iterable[str] = ()) -> frozenset[str]:
    """The salient words of a title: lowercased, stopwords and the given words dropped, plural -s off."""
    dropped = set(drop)
    out = set()
    for word in _WORD.findall(text.lower()):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if word not in _STOPWORDS and word not in dropped:
            out.add(word)
    return frozenset(out)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _name_words(names: ServiceNames, services: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for key in services:
        words.update(names.words(key).written)
    return words


@dataclass(frozen=True, kw_only=True)
class Story:
    """One launch and every post that tells it."""

    id: str
    """The id of its lead post."""
    primary: Candidate
    posts: tuple[Candidate, ...]
    """The lead post first, then by source type, date and id."""
    services: tuple[str, ...]
    topics: tuple[str, ...]
    kind: str | None
    regions: tuple[str, ...]
    date: dt.datetime
    mentions: tuple[Candidate, ...] = ()
    """Roundups that link it."""

    @property
    def service(self) -> str:
        return self.services[0] if self.services else ""

    @property
    def region_count(self) -> int | None:
        """How many Regions it adds, as the tagger counted them in its lead post (a region
        expansion); None when that post does not say."""
        return self.primary.region_count


class _Union:
    def __init__(self, ids: Iterable[str]) -> None:
        self.parent = {i: i for i in ids}

    def find(self, i: str) -> str:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _is_roundup(candidate: Candidate, targets: set[str]) -> bool:
    return len(targets) >= ROUNDUP_LINKS or bool(_ROUNDUP_TITLE.search(candidate.title))


def _lead(posts: Sequence[Candidate]) -> Candidate:
    return min(posts, key=lambda c: (SOURCE_ORDER.index(c.source), c.date, c.id))


def _story(posts: Sequence[Candidate], mentions: Sequence[Candidate]) -> Story:
    lead = _lead(posts)
    ordered = sorted(posts, key=lambda c: (c is not lead, SOURCE_ORDER.index(c.source), c.date, c.id))
    counts: Counter[str] = Counter()
    for post in ordered:
        for rank, key in enumerate(post.services):
            counts[key] += 2 if rank == 0 else 1
    services = list(lead.services) + sorted(
        (k for k in counts if k not in lead.services), key=lambda k: (-counts[k], k)
    )
    topics = tuple(dict.fromkeys(t for post in ordered for t in post.topics))
    kind = lead.kind or next((p.kind for p in ordered if p.kind), None)
    regions = tuple(sorted({r for post in ordered if post.kind == kind for r in post.regions}))
    return Story(
        id=lead.id,
        primary=lead,
        posts=tuple(ordered),
        services=tuple(services),
        topics=topics,
        kind=kind,
        regions=regions,
        date=lead.date,
        mentions=tuple(sorted(mentions, key=lambda c: (c.date, c.id))),
    )


def cluster(candidates: Sequence[Candidate], *, names: ServiceNames, cluster_days: int) -> list[Story]:
    """Join the candidates into stories (links between posts, then same service and similar
    titles within ``cluster_days``). Roundups join nothing; they are the stories' ``mentions``."""
    by_id = {c.id: c for c in candidates}
    union = _Union(sorted(by_id))
    mentions: dict[str, list[Candidate]] = defaultdict(list)
    roundups: set[str] = set()
    for c in candidates:
        targets = {t for t in c.links if t in by_id and t != c.id}
        if c.source != "whats-new" and _is_roundup(c, targets):
            roundups.add(c.id)
            for target in sorted(targets):
                mentions[target].append(c)
            continue
        for target in sorted(targets):
            if target not in roundups:
                union.join(c.id, target)
    for c in candidates:  # What's New at two addresses, the second with a number appended
        if c.variant is not None and c.variant in by_id and c.variant not in roundups:
            union.join(c.id, c.variant)

    # Similar titles: an inverted index on salient words, so only posts sharing a rare word meet.
    words = {c.id: tokens(c.title, _name_words(names, c.services)) for c in candidates}
    index: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.id not in roundups:
            for word in sorted(words[c.id]):
                index[word].append(c)
    span = dt.timedelta(days=cluster_days)
    seen: set[tuple[str, str]] = set()
    best_item: dict[str, tuple[float, float, str]] = {}
    """Other post -> (similarity, -days apart, What's New id) of the item it is most like."""
    for word in sorted(index):
        posts = index[word]
        if len(posts) > 50:  # a word that common says nothing about sameness
            continue
        for i, a in enumerate(posts):
            for b in posts[i + 1 :]:
                pair = (a.id, b.id) if a.id < b.id else (b.id, a.id)
                if pair in seen or abs(a.date - b.date) > span:
                    continue
                seen.add(pair)
                if a.services and b.services and not set(a.services) & set(b.services):
                    continue
                both = (a.source == "whats-new") + (b.source == "whats-new")
                if both == 2:
                    threshold = 0.8  # What's New announces each launch once
                elif a.services and b.services:
                    threshold = 0.5
                else:
                    threshold = 0.6
                score = similarity(words[a.id], words[b.id])
                if score < threshold:
                    continue
                if both == 1:  # a post joins the one launch it is most like, never two through it
                    item, other = (a, b) if a.source == "whats-new" else (b, a)
                    key = (score, -abs((a.date - b.date).total_seconds()), item.id)
                    if other.id not in best_item or key > best_item[other.id]:
                        best_item[other.id] = key
                else:
                    union.join(a.id, b.id)
    for other_id in sorted(best_item):
        union.join(other_id, best_item[other_id][2])

    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.id not in roundups:
            groups[union.find(c.id)].append(c)
    stories = []
    for members in groups.values():
        story_mentions = {m.id: m for member in members for m in mentions.get(member.id, [])}
        stories.append(_story(members, list(story_mentions.values())))
    return sorted(stories, key=lambda s: (s.date, s.id))


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
    drop = _name_words(names, story.services)
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
