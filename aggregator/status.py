"""Feed status: each configured feed merged with its state in the archive and its gaps not repaired.

One function, ``feed_statuses``, answers "how is each feed doing" wherever it is asked:
``aggregator feeds`` (text and ``--json``), the service's ``/healthz`` (the enabled feeds) and its
``/metrics`` gauges (failing feeds, failures, last success, next check, open gaps). A feed in the
configuration that the archive has not seen yet is listed too, never polled; a feed the archive
knows but the configuration no longer lists is left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import store
from .config import Config
from .logs import mask_credentials
from .models import FeedGap

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, kw_only=True)
class FeedStatus:
    """One configured feed as the archive has it now."""

    name: str
    kind: str
    enabled: bool
    url: str
    """The URL polled: the configured one, or where a permanent redirect moved it."""
    configured_url: str
    title: str | None
    last_status: int | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    last_polled: dt.datetime | None = None
    last_success: dt.datetime | None = None
    consecutive_failures: int = 0
    next_check: dt.datetime | None = None
    retry_after_until: dt.datetime | None = None
    gone: bool = False
    posts: int = 0
    """Posts this feed delivered (a post carried by several feeds counts for each)."""
    gaps: tuple[FeedGap, ...] = ()
    """Its gaps still a problem: open (a repair may follow) or unrepairable; oldest first."""

    @property
    def failing(self) -> bool:
        """Its last poll failed (it is backing off)."""
        return self.consecutive_failures > 0

    def as_json(self) -> dict[str, object]:
        """The record of ``aggregator feeds --json`` and of a feed in ``/healthz``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "enabled": self.enabled,
            "url": self.url,
            "configured_url": self.configured_url,
            "title": self.title,
            "last_status": self.last_status,
            "last_outcome": self.last_outcome,
            "last_error": self.last_error,
            "last_polled": store.iso(self.last_polled),
            "last_success": store.iso(self.last_success),
            "consecutive_failures": self.consecutive_failures,
            "next_check": store.iso(self.next_check),
            "retry_after_until": store.iso(self.retry_after_until),
            "gone": self.gone,
            "posts": self.posts,
            "gaps": [gap.as_json() for gap in self.gaps],
            "failing": self.failing,
        }


def feed_statuses(config: Config, db: Database | None, *, enabled_only: bool = False) -> list[FeedStatus]:
    """Every configured feed (only the enabled ones with ``enabled_only``), in the order of the
    feed list, with its stored state and gaps; ``db`` None: no archive yet, nothing stored."""
    snapshot = store.feed_snapshot(db) if db is not None else store.FeedSnapshot(rows={}, gaps={})
    statuses = []
    for feed in config.feeds:
        if enabled_only and not feed.enabled:
            continue
        row = snapshot.rows.get(feed.name, {})
        statuses.append(
            FeedStatus(
                name=feed.name,
                kind=feed.kind,
                enabled=feed.enabled,
                url=mask_credentials(row.get("url") or feed.url),  # shown and served: never a password
                configured_url=mask_credentials(feed.url),
                title=feed.title or row.get("title"),
                last_status=row.get("last_status"),
                last_outcome=row.get("last_outcome"),
                last_error=mask_credentials(row["last_error"]) if row.get("last_error") else None,
                last_polled=store.from_iso(row.get("last_polled")),
                last_success=store.from_iso(row.get("last_success")),
                consecutive_failures=row.get("consecutive_failures") or 0,
                next_check=store.from_iso(row.get("next_check")),
                retry_after_until=store.from_iso(row.get("retry_after_until")),
                gone=bool(row.get("gone")),
                posts=row.get("posts", 0),
                gaps=tuple(snapshot.gaps.get(feed.name, ())),
            )
        )
    return statuses


def read_feed_statuses(config: Config, *, enabled_only: bool = False) -> list[FeedStatus]:
    """``feed_statuses`` from the configuration's archive, opened read-only for the call; before
    the first poll (no archive file yet) every feed is listed as never polled."""
    if not config.database.exists():
        return feed_statuses(config, None, enabled_only=enabled_only)
    db = store.open_db(config.database, readonly=True)
    try:
        return feed_statuses(config, db, enabled_only=enabled_only)
    finally:
        db.close()
