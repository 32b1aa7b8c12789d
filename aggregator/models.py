"""Values that cross stage boundaries. Frozen, keyword-only, no I/O. And the one clock type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Clock = Callable[[], dt.datetime]
"""The current time, aware UTC: injected (``now=``) wherever a stage needs it, so tests and
replays give their own."""


def utcnow() -> dt.datetime:
    """The real clock: the default ``Clock``."""
    return dt.datetime.now(dt.UTC)


KINDS = (
    "new-service",
    "general-availability",
    "preview",
    "new-feature",
    "region-expansion",
    "new-instance-types",
    "price-change",
    "deprecation",
    "training",
    "other",
)
"""Kinds of announcement the tagger tells apart, as stored in ``posts.kind``, given to
``posts --kind`` and weighed by ``digest.kind_weights``."""

Outcome = Literal["stored", "unchanged", "not-modified", "gone", "deferred", "error"]
"""What a poll of one feed came to.

``stored``: a body was parsed and stored (possibly with nothing new); ``unchanged``: a 200 whose
body hash matches the last one, not parsed; ``not-modified``: a 304; ``gone``: a 410, the feed is
no longer polled; ``deferred``: not polled, the server asked us to wait (Retry-After) or it is gone;
``error``: fetching or parsing failed, the feed backs off.
"""


@dataclass(frozen=True, kw_only=True)
class FeedState:
    """What the archive remembers about a feed between polls."""

    name: str
    url: str
    """Where the feed is fetched from now: the configured URL, or where a 301/308 moved it."""
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_status: int | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    last_polled: dt.datetime | None = None
    last_success: dt.datetime | None = None
    consecutive_failures: int = 0
    next_check: dt.datetime | None = None
    retry_after_until: dt.datetime | None = None
    gone: bool = False


@dataclass(frozen=True, kw_only=True)
class FetchResult:
    """The answer of one fetch, after redirects, as the status policy classified it."""

    status: int
    """The final HTTP status (200 for a local file)."""
    outcome: Literal["ok", "not-modified", "gone"]
    url: str
    """The URL to fetch next time (changed only by a permanent redirect)."""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None
    """Where a 301/308 pointed, if one was met."""
    bytes_received: int = 0


@dataclass(frozen=True, kw_only=True)
class Post:
    """One entry of a feed, normalized."""

    id: str
    """Stable id: from the canonical URL, else the feed's guid, else a hash of the content."""
    url: str | None
    guid: str | None
    title: str
    summary: str
    """Plain text."""
    summary_html: str
    links: tuple[str, ...]
    """Absolute http(s) links found in the summary, in order, without duplicates."""
    published: dt.datetime | None
    """Aware UTC; None when the feed gives none or an absurd one."""
    updated: dt.datetime | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    content_hash: str
    link_ids: tuple[str, ...]
    """The id the archive gives the post at each of ``links`` (aligned with them): what the post
    links, resolved once when it is stored (``post_links``), whether or not the archive holds it."""


TagType = Literal["service", "topic"]
TagSource = Literal["category", "title", "body", "implied", "manual"]
"""Where a tag comes from: its own evidence (``category``, ``title``, ``body``), another tag
(``implied``: a parent or a topic of a service found directly), or a person (``manual``)."""


@dataclass(frozen=True, kw_only=True)
class Tag:
    tag: str
    """A registry key (``stepfunctions``) or a topic (``serverless``)."""
    type: TagType
    source: TagSource
    confidence: float


@dataclass(frozen=True, kw_only=True)
class Tagging:
    """What the tagger says a post is about."""

    tags: tuple[Tag, ...]
    primary_service: str | None
    kind: str
    regions: tuple[str, ...] = ()
    """Region codes (``ap-southeast-2``) a region expansion adds."""
    region_count: int | None = None
    """How many Regions a region expansion adds: those it names, else the number its text gives
    ("in seven more Regions"); None when it does not say (and for any other kind)."""
    unknown_tokens: tuple[str, ...] = ()
    """Category tokens the registry does not know (kept raw and reported, never dropped)."""

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(t.tag for t in self.tags if t.type == "service")

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(t.tag for t in self.tags if t.type == "topic")

    @property
    def tags_by_key(self) -> dict[str, Tag]:
        return {t.tag: t for t in self.tags}


@dataclass(frozen=True, kw_only=True)
class TaggedPost:
    """A post and what it is about: what the store takes (``pipeline`` tags before storing)."""

    post: Post
    tagging: Tagging | None
    """None: the archive holds this post already with the same content, so it is not tagged
    again (the store only records that the feed still carries it)."""


@dataclass(frozen=True, kw_only=True)
class TaggedFeed:
    """A document's posts, normalized and tagged, ready to store."""

    title: str
    posts: tuple[TaggedPost, ...]
    warnings: tuple[str, ...] = ()
    tagged_with: str = ""
    """The tagger's fingerprint (``posts.tagged_with``)."""


@dataclass(frozen=True, kw_only=True)
class ParsedFeed:
    title: str
    link: str | None
    posts: tuple[Post, ...]
    warnings: tuple[str, ...] = ()


GapStatus = Literal["open", "repaired", "unrepairable"]
"""``open``: detected, not (yet) repaired; ``repaired``: backfilled from the API; ``unrepairable``:
the repair failed ``backfill.repair_attempts`` times (or the feed has no history to read)."""


@dataclass(frozen=True, kw_only=True)
class FeedGap:
    """A stretch of time in which a feed may have carried items we never saw.

    Detected when a poll of a fixed-window feed shares no item with what we stored from it and
    its oldest item is newer than our newest: the items published between ``start`` (our newest)
    and ``end`` (the document's oldest) may have scrolled out of the feed while we were not looking.
    """

    id: int
    feed: str
    start: dt.datetime
    end: dt.datetime
    detected_at: dt.datetime
    status: GapStatus
    items_recovered: int = 0
    attempts: int = 0
    error: str | None = None
    repaired_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "feed": self.feed,
            "from": self.start.isoformat(timespec="seconds"),
            "until": self.end.isoformat(timespec="seconds"),
            "detected_at": self.detected_at.isoformat(timespec="seconds"),
            "status": self.status,
            "items_recovered": self.items_recovered,
            "attempts": self.attempts,
            "error": self.error,
            "repaired_at": self.repaired_at.isoformat(timespec="seconds") if self.repaired_at else None,
        }


@dataclass(frozen=True, kw_only=True)
class PollResult:
    """One line of ``aggregator poll``: what happened to one feed."""

    feed: str
    outcome: Outcome
    status: int | None
    new: int = 0
    updated: int = 0
    duration_ms: int = 0
    bytes: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    next_check: dt.datetime | None = None
    moved_to: str | None = None
    gap: FeedGap | None = None
    """A gap this poll revealed (see ``FeedGap``), recorded on the feed."""

    def as_json(self) -> dict[str, object]:
        return {
            "feed": self.feed,
            "status": self.status,
            "outcome": self.outcome,
            "new": self.new,
            "updated": self.updated,
            "duration_ms": self.duration_ms,
            "bytes": self.bytes,
            "error": self.error,
            "warnings": list(self.warnings),
            "next_check": self.next_check.isoformat(timespec="seconds") if self.next_check else None,
            "moved_to": self.moved_to,
            "gap": self.gap.as_json() if self.gap else None,
        }
