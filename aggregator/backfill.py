"""What's New history from the JSON directory API behind its pages: backfills and gap repairs.

The RSS feed carries only the ~100 newest announcements. The What's New pages are rendered from
a JSON directory API (``backfill.api_url``)::

    GET /api/dirs/items/search?item.directoryId=whats-new-v2&sort_by=item.additionalFields.postDateTime
        &sort_order=desc&size=100&item.locale=en_US&page=0[&tags.id=whats-new-v2%23year%232024]

    {"metadata": {"count": 100, "totalHits": 2917},
     "items": [{"item": {"id": "whats-new-v2#p180320882", "name": "uRYJByhWKzVK6EHcA2jTUD",
                         "dateCreated": "2024-12-20T18:47:31+0000", "dateUpdated": "...",
                         "additionalFields": {"headline": "...", "postDateTime": "2024-12-23T13:00:00-05:00",
                                              "headlineUrl": "/about-aws/whats-new/2024/12/aws-neuron-2-21",
                                              "postBody": "<p>...</p>"}},
                "tags": [{"id": "whats-new-v2#general-products#amazon-s3", "name": "amazon-s3",
                          "tagNamespaceId": "whats-new-v2#general-products", "description": "..."}, ...]}]}

What the public open-source clients of this API show, and what this module does about it:

- **Paging.** ``page`` counts from 0; ``size`` is the page size. Clients use 100
  (vladholubiev/aws-news-api-client, daniele-salvagni/aws-newsroom); circa10a/go-aws-news asks for
  2000 in one request ("2000 seems to be the max or no results return"). The API serves nothing
  past the 100th page (daniele-salvagni/aws-newsroom ``backend/src/lib/aws-news/README.md``), so
  one query reaches at most 100 pages: ``backfill.page_size`` (default 100) and
  ``backfill.max_pages`` (default 100). A query that hits the cap without reaching the date bound
  is reported as truncated, never silently short.
- **Years.** Every client that reads history splits it by year with a tag filter,
  ``tags.id=whats-new-v2#year#YYYY`` (circa10a/go-aws-news, vladholubiev/aws-news-api-client,
  daniele-salvagni/aws-newsroom). 2025 items also carry ``GLOBAL#local-tags-whats-new-v2-year#2025``
  *alongside* the standard tag, so the standard one is enough (``backfill.year_tag``). Some
  late-December items carry the next year's tag (daniele-salvagni/aws-newsroom, "Known Issues";
  circa10a/go-aws-news checks the year of ``postDateTime`` for the same reason), so a window that
  ends in the last days of a year also reads the next year's tag, oldest first (one page), and a
  window that starts in the first days of a year reads the previous year's tag (one page too:
  newest first, it stops at the first item older than the window). Every item is filtered by its
  own ``postDateTime``, whatever tag brought it.
- **Order and stopping.** Results are sorted by ``postDateTime``, newest first; a query stops at
  the first page whose oldest item is older than ``--since`` (the date bound), on an empty page,
  or once ``totalHits`` are read.
- **Links.** ``headlineUrl`` is site-relative (``/about-aws/whats-new/2024/12/slug``), with or without
  the trailing slash the RSS ``<link>`` always has. It is resolved against ``backfill.site_url``
  and given the RSS form, so the canonical URL, and therefore the post id, are the RSS ones: an
  item delivered by both is one post.
- **Tags.** ``tagNamespaceId`` is ``whats-new-v2#general-products`` or
  ``whats-new-v2#marketing-marchitecture`` (``GLOBAL#...`` in newer data), the tag id ends in the
  slug (``...#amazon-vpc``), and ``name`` is that slug. The RSS ``<category>`` carries the same as
  ``general:products/amazon-vpc,marketing:marchitecture/networking``; ``categories_from_tags``
  builds those tokens (the first ``-`` of the namespace becomes ``:``) and leaves out the year tags.
- **Ids.** ``item.name`` is a random-looking 22-character string, unrelated to the RSS guid (a
  40-digit hex string), so API items carry no guid: the URL identifies them, as it does RSS items.

Politeness: one request at a time, ``backfill.pause`` between pages, Retry-After honoured on 429
and 503 and exponential backoff on other 5xx and network errors (``backfill.max_retries``), the
project's HTTP client (timeouts, size caps, User-Agent). Each page is stored in one transaction
together with the cursor (``backfills`` table), so an interrupted backfill continues with the page
it had not stored; a malformed page stores nothing and stops the backfill with its URL named.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlite_utils import Database

from . import store
from .config import BackfillSettings, Config, Feed
from .errors import BackfillError, ConfigError, FetchError, HTTPStatusError, MalformedPageError
from .fetch import backoff_delay, fetch
from .models import FeedGap
from .normalize import EARLIEST_DATE, FUTURE_SLACK, canonical_url, split_categories
from .parse import RawFeed
from .pipeline import Poller, ingest

log = logging.getLogger(__name__)

Sleep = Callable[[float], object]
Order = Literal["desc", "asc"]

BACKFILL_KIND = "aws-whats-new"
"""The kind of feed whose history the directory API holds."""
SPILL_DAYS = 15
"""A window this close to a year boundary also reads the neighbouring year's tag (mis-tagged items)."""
ACCEPT_JSON = "application/json"

_SLUG = re.compile(r"^[\w.-]+$")


# --- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One query of the API: a year tag (or none) and an order, read page by page."""

    tag: str | None
    order: Order = "desc"

    def label(self) -> str:
        return (self.tag or "all items") + (", oldest first" if self.order == "asc" else "")

    def as_json(self) -> dict[str, str | None]:
        return {"tag": self.tag, "order": self.order}


def plan_queries(since: dt.datetime, until: dt.datetime, settings: BackfillSettings) -> list[Query]:
    """The queries that cover ``[since, until)``, newest year first."""
    if not settings.year_tag:
        return [Query(None)]
    last = until - dt.timedelta(microseconds=1)
    queries: list[Query] = []
    if last >= dt.datetime(last.year + 1, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=SPILL_DAYS):
        queries.append(Query(settings.year_tag.format(year=last.year + 1), "asc"))
    first_year = since.year
    if since < dt.datetime(since.year, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=SPILL_DAYS):
        first_year -= 1
    queries.extend(Query(settings.year_tag.format(year=year)) for year in range(last.year, first_year - 1, -1))
    return queries


def page_url(settings: BackfillSettings, query: Query, page: int) -> str:
    params: dict[str, str] = {
        "item.directoryId": settings.directory_id,
        "sort_by": "item.additionalFields.postDateTime",
        "sort_order": query.order,
        "size": str(settings.page_size),
        "item.locale": settings.locale,
        "page": str(page),
    }
    if query.tag:
        params["tags.id"] = query.tag
    return str(httpx.URL(settings.api_url, params=params))


# --- items -> posts ----------------------------------------------------------------------------


def categories_from_tags(tags: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """API tags -> the RSS ``<category>`` tokens: ``whats-new-v2#general-products`` + ``amazon-s3``
    -> ``general:products/amazon-s3``. Year tags are left out."""
    tokens: list[str] = []
    for tag in tags:
        tag_id = str(tag.get("id") or "")
        namespace = str(tag.get("tagNamespaceId") or tag_id.rpartition("#")[0])
        space = namespace.rpartition("#")[2].strip().lower()
        if not space or space == "year" or space.endswith("-year"):
            continue
        head, dash, rest = space.partition("-")
        if not dash or not rest:
            continue
        slug = tag_id.rpartition("#")[2] if tag_id.count("#") >= 2 else str(tag.get("name") or "")
        slug = slug.strip().lower()
        if not _SLUG.match(slug):
            slug = re.sub(r"[^\w.]+", "-", slug).strip("-")
        if slug:
            tokens.append(f"{head}:{rest}/{slug}")
    return split_categories([",".join(tokens)]) if tokens else ()


def rss_link(url: str) -> str:
    """The form of the RSS ``<link>``: What's New page paths end with a slash."""
    parts = urlsplit(url)
    if parts.query or parts.path.endswith("/") or "." in parts.path.rpartition("/")[2]:
        return url
    return urlunsplit(parts._replace(path=parts.path + "/"))


def _parse_time(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


@dataclass(frozen=True, kw_only=True)
class ApiItem:
    """One item of a page: its date, and its entry (None: unusable, skipped), shaped as feedparser
    gives an RSS ``<item>``, so that it becomes a post through the same ``normalize`` code."""

    date: dt.datetime | None
    entry: dict[str, Any] | None
    why_skipped: str | None = None


@dataclass(frozen=True, kw_only=True)
class Page:
    items: tuple[ApiItem, ...]
    total_hits: int


class _Shape:
    """Type checks of a decoded page that name where the problem is."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, problem: str) -> MalformedPageError:
        return MalformedPageError(f"{self.label}: {where}: {problem}; nothing of this page was stored")

    def get(self, obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, *, required: bool) -> Any:
        if key not in obj or obj[key] is None:
            if required:
                raise self.fail(f"{where}.{key}" if where else key, "missing")
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}" if where else key, f"expected {names}, got {type(value).__name__}")
        return value


def parse_page(body: bytes, *, label: str, site_url: str, now: dt.datetime) -> Page:
    """Decode and check one API page, and turn its items into posts as the RSS would have
    delivered them. Raises ``MalformedPageError`` (naming ``label``) for anything not of the
    API's shape; an item without a headline, a link or a date is skipped, not an error."""
    shape = _Shape(label)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        start = body[:60].decode("utf-8", "replace")
        raise MalformedPageError(
            f"{label}: not JSON ({exc}); it starts with {start!r}; nothing of this page was stored"
        ) from None
    if not isinstance(data, dict):
        raise shape.fail("the page", f"expected a JSON object, got {type(data).__name__}")
    metadata = shape.get(data, "metadata", dict, "", required=True)
    total_hits = shape.get(metadata, "totalHits", int, "metadata", required=True)
    entries = shape.get(data, "items", list, "", required=True)
    items: list[ApiItem] = []
    for index, entry in enumerate(entries):
        where = f"items[{index}]"
        if not isinstance(entry, dict):
            raise shape.fail(where, f"expected an object, got {type(entry).__name__}")
        item = shape.get(entry, "item", dict, where, required=True)
        fields = shape.get(item, "additionalFields", dict, f"{where}.item", required=True)
        tags = shape.get(entry, "tags", list, where, required=False) or []
        for t, tag in enumerate(tags):
            if not isinstance(tag, dict):
                raise shape.fail(f"{where}.tags[{t}]", f"expected an object, got {type(tag).__name__}")
            for key in ("id", "name", "tagNamespaceId"):
                shape.get(tag, key, str, f"{where}.tags[{t}]", required=False)
        at = f"{where}.item.additionalFields"
        headline = shape.get(fields, "headline", str, at, required=False)
        link = shape.get(fields, "headlineUrl", str, at, required=False)
        body_html = shape.get(fields, "postBody", str, at, required=False) or ""
        posted = shape.get(fields, "postDateTime", str, at, required=False)
        created = shape.get(item, "dateCreated", str, f"{where}.item", required=False)
        item_id = shape.get(item, "id", str, f"{where}.item", required=False) or where
        date = None
        if posted is not None:
            date = _parse_time(posted)
            if date is None:
                raise shape.fail(f"{at}.postDateTime", f"not a date: {posted!r}")
        elif created is not None:
            date = _parse_time(created)
        url = canonical_url(link, base=site_url) if link else None
        why = None
        if not headline or not headline.strip():
            why = "no headline"
        elif url is None:
            why = f"no usable headlineUrl ({link!r})"
        elif date is None:
            why = "no postDateTime"
        elif not EARLIEST_DATE <= date <= now + FUTURE_SLACK:
            why = f"absurd date {date.isoformat()}"
        if why is not None:
            items.append(ApiItem(date=date, entry=None, why_skipped=f"{item_id}: {why}"))
            continue
        assert url is not None and headline is not None and date is not None
        items.append(
            ApiItem(
                date=date,
                entry=rss_entry(url=rss_link(url), headline=headline, body_html=body_html, date=date, tags=tags),
            )
        )
    return Page(items=tuple(items), total_hits=total_hits)


def rss_entry(
    *, url: str, headline: str, body_html: str, date: dt.datetime, tags: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """An API item as feedparser gives the same announcement's RSS ``<item>``: the headline as
    HTML, the body as the description, the product and area tokens as its one comma-joined
    ``<category>``, no guid. ``normalize`` makes the same post of either."""
    categories = categories_from_tags(tags)
    return {
        "title": headline,
        "title_detail": {"type": "text/html"},
        "link": url,
        "summary": body_html,
        "published_parsed": date.astimezone(dt.UTC).timetuple(),
        "tags": [{"term": ",".join(categories)}] if categories else [],
    }


def as_raw_feed(entries: Sequence[dict[str, Any]], *, site_url: str) -> RawFeed:
    """Items of the API as a parsed document, for ``pipeline.prepare`` to normalize and tag."""
    return RawFeed(feed={"link": site_url}, entries=list(entries), version="whats-new-api", warnings=())


# --- fetching ----------------------------------------------------------------------------------


def fetch_page(poller: Poller, url: str, *, label: str, sleep: Sleep, should_stop: Callable[[], bool]) -> bytes | None:
    """One page's body, politely: Retry-After on 429/503, exponential backoff on other 5xx and
    network errors; ``backfill.max_retries`` retries after the first request fails. None when
    ``should_stop`` said so while waiting. Raises ``BackfillError`` when the API keeps failing or
    refuses (other 4xx, 410)."""
    config = poller.config
    settings = config.settings.backfill
    for attempt in range(settings.max_retries + 1):
        try:
            result = fetch(
                poller.client,
                url,
                settings=config.settings.http,
                accept=ACCEPT_JSON,
                limiter=poller.limiter,
                now=poller.now,
            )
        except HTTPStatusError as exc:
            if exc.status != 429 and exc.status < 500:
                raise BackfillError(f"{label}: {exc}") from None
            error: FetchError = exc
            delay = exc.retry_after if exc.retry_after is not None else _backoff(attempt, settings)
        except FetchError as exc:
            error = exc
            delay = _backoff(attempt, settings)
        else:
            if result.outcome != "ok" or result.body is None:
                raise BackfillError(f"{label}: HTTP {result.status}: the API answered no page")
            return result.body
        if attempt == settings.max_retries:
            raise BackfillError(
                f"{label}: {error} (the first request and {_retries(settings.max_retries)} failed:"
                " backfill.max_retries)"
            ) from None
        delay = min(delay, settings.backoff_max)
        log.warning("backfill: %s: %s; trying again in %.1f s", label, error, delay)
        sleep(delay)
        if should_stop():
            return None
    raise AssertionError("unreachable")  # the loop returns or raises


def _retries(count: int) -> str:
    return "no retry" if count == 0 else "1 retry" if count == 1 else f"{count} retries"


def _backoff(attempt: int, settings: BackfillSettings) -> float:
    return backoff_delay(attempt + 1, initial=settings.backoff_initial, maximum=settings.backoff_max)


# --- the backfill ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PageReport:
    """What one page brought, for progress displays."""

    query: str
    page: int
    items: int
    in_window: int
    new: int
    updated: int
    skipped: int
    oldest: dt.datetime | None
    total_hits: int


@dataclass(frozen=True, kw_only=True)
class BackfillResult:
    id: int
    feed: str
    since: dt.datetime
    until: dt.datetime
    status: Literal["done", "interrupted"]
    resumed: bool
    pages: int = 0
    items: int = 0
    """Items in the window, from every page read (across resumes)."""
    new: int = 0
    updated: int = 0
    skipped: int = 0
    truncated: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def already(self) -> int:
        """Items in the window that were stored already (by the RSS or an earlier backfill)."""
        return self.items - self.new - self.updated

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "feed": self.feed,
            "since": self.since.isoformat(timespec="seconds"),
            "until": self.until.isoformat(timespec="seconds"),
            "status": self.status,
            "resumed": self.resumed,
            "pages": self.pages,
            "items": self.items,
            "new": self.new,
            "updated": self.updated,
            "already_stored": self.already,
            "skipped": self.skipped,
            "truncated": list(self.truncated),
            "seconds": round(self.seconds, 3),
        }


def backfill_feed(config: Config, name: str | None = None) -> Feed:
    """The feed a backfill stores into: the named one, else the enabled What's New feed."""
    if name:
        feed = config.feed(name)
        if feed.kind != BACKFILL_KIND:
            raise ConfigError(
                f"feed {name!r} is of kind {feed.kind!r}: the API holds the history of {BACKFILL_KIND} feeds only"
            )
        return feed
    enabled = [feed for feed in config.feeds if feed.enabled and feed.kind == BACKFILL_KIND]
    if len(enabled) > 1:
        raise ConfigError(
            f"{len(enabled)} enabled feeds of kind {BACKFILL_KIND!r} in {config.feeds_path}"
            f" ({', '.join(f.name for f in enabled)}): name the one to fill with --feed"
        )
    if enabled:
        return enabled[0]
    raise ConfigError(f"no enabled feed of kind {BACKFILL_KIND!r} in {config.feeds_path}: name one with --feed")


def backfill(
    db: Database,
    poller: Poller,
    feed: Feed,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    gap_id: int | None = None,
    sleep: Sleep = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[PageReport], object] | None = None,
) -> BackfillResult:
    """Store the What's New items published in ``[since, until)`` (until: now) as posts of ``feed``.

    Continues an unfinished backfill of the same feed and window from its cursor. Returns with
    status ``interrupted`` when ``should_stop`` says so (checked before each page and before
    storing it); raises ``BackfillError`` (``MalformedPageError``) when a page cannot be had or
    used: everything before it is stored, and the same call continues from it.
    """
    settings = poller.config.settings.backfill
    now = poller.now
    started = time.perf_counter()
    if until is not None and until <= since:
        raise ValueError(f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})")
    store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now())
    row = store.resumable_backfill(db, feed.name, since=since, until=until, gap_id=gap_id)
    resumed = row is not None
    if row is None:
        end = until or now()
        queries = plan_queries(since, end, settings)
        with store.write_transaction(db):
            backfill_id = store.insert_backfill(
                db,
                {
                    "feed": feed.name,
                    "since": store.iso(since),
                    "until": store.iso(end),
                    "open_ended": int(until is None),
                    "queries": json.dumps([q.as_json() for q in queries]),
                    "status": "running",
                    "started": store.iso(now()),
                    "updated_at": store.iso(now()),
                    "gap_id": gap_id,
                },
            )
        row = store.backfill_row(db, backfill_id)
        assert row is not None
    else:
        log.info(
            "backfill %d of %s: resuming at query %d, page %d",
            row["id"],
            feed.name,
            row["query_index"],
            row["next_page"],
        )
    run = _Run(db, poller, feed, row, sleep=sleep, should_stop=should_stop)
    try:
        status = run.go(on_page)
    except BackfillError as exc:
        run.set_status("failed", error=str(exc))
        raise type(exc)(f"{exc}; run it again to continue from there") from None
    except BaseException as exc:  # KeyboardInterrupt, a bug: the cursor is where it was
        run.set_status("interrupted", error=f"{type(exc).__name__}: {exc}")
        raise
    return dataclasses.replace(run.result(status, resumed), seconds=time.perf_counter() - started)


class _Run:
    """One backfill's walk over its queries and pages, with its cursor in ``backfills``."""

    def __init__(
        self,
        db: Database,
        poller: Poller,
        feed: Feed,
        row: dict[str, Any],
        *,
        sleep: Sleep,
        should_stop: Callable[[], bool],
    ) -> None:
        self.db, self.poller, self.feed, self.row = db, poller, feed, dict(row)
        self.now, self.sleep, self.should_stop = poller.now, sleep, should_stop
        self.settings = poller.config.settings.backfill
        self.since = store.from_iso(row["since"]) or dt.datetime.min.replace(tzinfo=dt.UTC)
        self.until = store.from_iso(row["until"]) or self.now()
        self.queries = [Query(q["tag"], q["order"]) for q in json.loads(row["queries"])]
        self.truncated: list[str] = []

    def set_status(self, status: str, *, error: str | None = None) -> None:
        finished = store.iso(self.now()) if status == "done" else None
        with store.write_transaction(self.db):
            store.update_backfill(
                self.db, self.row["id"], status=status, error=error, updated_at=store.iso(self.now()), finished=finished
            )
        self.row.update(status=status, error=error)

    def result(self, status: Literal["done", "interrupted"], resumed: bool) -> BackfillResult:
        r = self.row
        return BackfillResult(
            id=r["id"],
            feed=self.feed.name,
            since=self.since,
            until=self.until,
            status=status,
            resumed=resumed,
            pages=r["pages"],
            items=r["items"],
            new=r["new"],
            updated=r["updated"],
            skipped=r["skipped"],
            truncated=tuple(self.truncated),
        )

    def go(self, on_page: Callable[[PageReport], object] | None) -> Literal["done", "interrupted"]:
        if self.row["status"] != "running":
            self.set_status("running")
        first = True
        while self.row["query_index"] < len(self.queries):
            query = self.queries[self.row["query_index"]]
            page = self.row["next_page"]
            if self.should_stop():
                self.set_status("interrupted")
                return "interrupted"
            if not first and self.settings.pause:
                self.sleep(self.settings.pause)
                if self.should_stop():
                    self.set_status("interrupted")
                    return "interrupted"
            first = False
            url = page_url(self.settings, query, page)
            label = f"page {page} of {query.label()} ({url})"
            body = fetch_page(self.poller, url, label=label, sleep=self.sleep, should_stop=self.should_stop)
            if body is None or self.should_stop():
                self.set_status("interrupted")
                return "interrupted"
            report = self._store(
                query, page, parse_page(body, label=label, site_url=self.settings.site_url, now=self.now())
            )
            if on_page is not None:
                on_page(report)
        self.set_status("done")
        log.info(
            "backfill %d of %s done: %d pages, %d items in the window, %d new",
            self.row["id"],
            self.feed.name,
            self.row["pages"],
            self.row["items"],
            self.row["new"],
        )
        return "done"

    def _store(self, query: Query, page: int, content: Page) -> PageReport:
        """Store one page's items in the window and move the cursor past it, in one transaction."""
        dated = [i for i in content.items if i.date is not None]
        in_window = [
            i.entry for i in content.items if i.entry is not None and i.date and self.since <= i.date < self.until
        ]
        for item in content.items:
            if item.why_skipped:
                log.warning("backfill: page %d of %s: skipped %s", page, query.label(), item.why_skipped)
        skipped = sum(1 for i in content.items if i.entry is None)
        oldest = min((i.date for i in dated if i.date), default=None)
        newest = max((i.date for i in dated if i.date), default=None)
        last_page = (
            not content.items
            or (query.order == "desc" and oldest is not None and oldest < self.since)
            or (query.order == "asc" and newest is not None and newest >= self.until)
            or (page + 1) * self.settings.page_size >= content.total_hits
        )
        if not last_page and page + 1 >= self.settings.max_pages:
            last_page = True
            note = (
                f"{query.label()}: stopped at the {self.settings.max_pages}-page cap (backfill.max_pages) with "
                f"{content.total_hits - (page + 1) * self.settings.page_size} items unread; items older than "
                f"{oldest.isoformat(timespec='seconds') if oldest else '?'} may be missing"
            )
            self.truncated.append(note)
            log.warning("backfill: %s", note)
        cursor = (
            {"query_index": self.row["query_index"] + 1, "next_page": 0}
            if last_page
            else {"query_index": self.row["query_index"], "next_page": page + 1}
        )
        entries = [e for e in in_window if e is not None]
        totals: dict[str, int] = {}

        def advance(counts: store.StoreCounts) -> None:  # in the page's transaction: the cursor moves with it
            totals.update(
                pages=self.row["pages"] + 1,
                items=self.row["items"] + len(entries),
                new=self.row["new"] + counts.new,
                updated=self.row["updated"] + counts.updated,
                skipped=self.row["skipped"] + skipped,
            )
            store.update_backfill(self.db, self.row["id"], **cursor, **totals, updated_at=store.iso(self.now()))

        raw = as_raw_feed(entries, site_url=self.settings.site_url)
        _tagged, counts = ingest(
            self.db,
            self.feed,
            raw,
            url=self.feed.url,
            now=self.now(),
            tagger=self.poller.get_tagger(),
            history=True,
            also=advance,
        )
        self.row.update(cursor, **totals)
        posts = entries
        log.debug(
            "backfill: page %d of %s: %d items, %d in the window, %d new",
            page,
            query.label(),
            len(content.items),
            len(posts),
            counts.new,
        )
        return PageReport(
            query=query.label(),
            page=page,
            items=len(content.items),
            in_window=len(posts),
            new=counts.new,
            updated=counts.updated,
            skipped=skipped,
            oldest=oldest,
            total_hits=content.total_hits,
        )


# --- gap repair --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RepairResult:
    gap: FeedGap
    """The gap as it is after the attempt."""
    recovered: int = 0
    """New posts this attempt stored."""
    interrupted: bool = False


def repair_gap(
    db: Database,
    poller: Poller,
    gap: FeedGap,
    *,
    sleep: Sleep = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> RepairResult:
    """Backfill a gap of a What's New feed from the API; mark it repaired, or count the failed
    attempt (``backfill.repair_attempts`` of them make it unrepairable, with the reason)."""
    settings = poller.config.settings.backfill
    now = poller.now
    try:
        feed = backfill_feed(poller.config, gap.feed)
    except ConfigError as exc:
        return RepairResult(gap=_gap_failed(db, gap, str(exc), settings, now(), final=True))
    # The gap's bounds are items we have: the window includes both, and the store keeps each once.
    until = gap.end + dt.timedelta(seconds=1)
    before = store.resumable_backfill(db, feed.name, since=gap.start, until=until, gap_id=gap.id)
    new_before = before["new"] if before else 0
    try:
        result = backfill(
            db, poller, feed, since=gap.start, until=until, gap_id=gap.id, sleep=sleep, should_stop=should_stop
        )
    except BackfillError as exc:
        return RepairResult(gap=_gap_failed(db, gap, str(exc), settings, now(), final=False))
    if result.status == "interrupted":
        return RepairResult(gap=gap, recovered=result.new - new_before, interrupted=True)
    note = "; ".join(result.truncated) or None
    with store.write_transaction(db):
        store.update_gap(
            db,
            gap.id,
            status="repaired",
            items_recovered=result.new,
            attempts=gap.attempts + 1,
            error=note,
            repaired_at=now(),
        )
    repaired = store.gap(db, gap.id)
    assert repaired is not None
    log.info(
        "feed=%s gap from %s to %s repaired from the API: %d items recovered",
        gap.feed,
        store.iso(gap.start),
        store.iso(gap.end),
        result.new,
        extra={"event": {"gap": repaired.as_json()}},
    )
    return RepairResult(gap=repaired, recovered=result.new - new_before)


def _gap_failed(
    db: Database, gap: FeedGap, error: str, settings: BackfillSettings, now: dt.datetime, *, final: bool
) -> FeedGap:
    attempts = gap.attempts + 1
    give_up = final or attempts >= settings.repair_attempts
    with store.write_transaction(db):
        store.update_gap(
            db,
            gap.id,
            status="unrepairable" if give_up else "open",
            items_recovered=gap.items_recovered,
            attempts=attempts,
            error=error,
            next_attempt=None if give_up else now + dt.timedelta(seconds=settings.repair_retry),
        )
    log.error(
        "feed=%s gap from %s to %s: repair %d failed%s: %s",
        gap.feed,
        store.iso(gap.start),
        store.iso(gap.end),
        attempts,
        "; giving up, the gap stays visible" if give_up else "; trying again later",
        error,
    )
    failed = store.gap(db, gap.id)
    assert failed is not None
    return failed


def repairable_gaps(db: Database, config: Config, *, now: dt.datetime, feed: str | None = None) -> list[FeedGap]:
    """Open gaps of What's New feeds whose next attempt is due, oldest first."""
    kinds = {f.name for f in config.feeds if f.kind == BACKFILL_KIND}
    due = []
    for gap in store.gaps(db, feed=feed, statuses=("open",)):
        if gap.feed not in kinds:
            continue
        next_attempt = store.gap_next_attempt(db, gap.id)
        if next_attempt is None or next_attempt <= now:
            due.append(gap)
    return due
