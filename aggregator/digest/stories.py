"""The window's posts as candidates, and candidates joined into stories.

One launch, however many posts tell it: posts are joined when one links the other (a News Blog
post and its What's New item), or when they share a service, are at most ``digest.cluster_days``
apart and have similar titles. A post that links three stories or more is a roundup: it joins
nothing and counts as a mention of each. What's New items at two addresses (``…-available/`` and
``…-available1/``) are one story. Pure but for ``load_candidates`` and ``load_posts``, which read
the store's records.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from .. import store
from ..normalize import canonical_url
from ..normalize import link_id as _link_id
from ..taxonomy import Registry

SourceType = Literal["whats-new", "news-blog", "aws-blog", "community", "other"]
SOURCE_ORDER: tuple[SourceType, ...] = ("whats-new", "news-blog", "aws-blog", "other", "community")
"""Which post of a story leads it: a What's New item, else a News Blog post, and so on."""
NEWS_BLOG_PATH = "/blogs/aws/"
"""The AWS News Blog lives at aws.amazon.com/blogs/aws/; the other AWS blogs beside it."""
ROUNDUP_LINKS = 3
"""A post linking this many stories of the window or more is a roundup, not a source of one."""
_ROUNDUP_TITLE = re.compile(r"\b(round-?up|week in review|this week in)\b", re.I)

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


def name_words(names: ServiceNames, services: Iterable[str]) -> set[str]:
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
    words = {c.id: tokens(c.title, name_words(names, c.services)) for c in candidates}
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
