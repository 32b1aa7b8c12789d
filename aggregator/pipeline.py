"""The only module that knows the order of the stages: fetch -> parse -> normalize -> tag -> store.

Every way a post enters the archive goes through here, in that order: a poll (the CLI's ``poll``
and ``run --once``, and the service's jobs), an imported file (``import``), a page of the What's
New directory API (``backfill`` and the service's gap repairs, ``backfill.py`` being the source).
``prepare`` is normalize -> tag (pure; it runs in the parse worker processes too), ``ingest``
adds the store, one transaction per batch; the poll runs the same two halves on either side of
its worker threads and processes.

Fetching, parsing, normalizing and tagging run in worker threads (at most ``http.per_host``
requests per host, at most ``http.max_workers`` feeds at once), or parse worker processes for a
burst (``poll.parse_processes``); every database write happens on the thread that owns the
``Database``, one transaction per batch of feeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib
import logging
import multiprocessing
import queue
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, Feed, format_duration
from .errors import ConfigError, FeedError, HTTPStatusError, ImportFileError, ParseError, StoreError
from .models import Clock, FeedGap, FeedState, FetchResult, Outcome, PollResult, Post, TaggedFeed, TaggedPost, utcnow
from .normalize import normalize_feed
from .parse import RawFeed, parse_bytes
from .tagging import RegistryFiles, Tagger, tagger_from_files

log = logging.getLogger(__name__)

__all__ = ["Clock", "utcnow"]  # re-exported: the clock the stages share


class _Deferred:
    """A module imported when it is first used.

    Parse worker processes import this module for ``read_body`` alone. The archive's modules
    (sqlite-utils, which brings numpy and click) and HTTP's (httpx) are imported by the polling
    that uses them, not by every worker: a worker holds half the memory (its PSS 46 -> 26 MB) and
    starts twice as fast. ``importlib.import_module`` takes the import lock: safe from any thread.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            self._module = module = importlib.import_module(self._name)
        return getattr(module, attribute)


if TYPE_CHECKING:
    import httpx
    from sqlite_utils import Database

    from . import fetch as fetching
    from . import store
    from .fetch import Cancellation, HostLimiter
else:
    store = _Deferred("aggregator.store")
    fetching = _Deferred("aggregator.fetch")


# --- the tagger --------------------------------------------------------------------------------


def registry_files(config: Config) -> RegistryFiles:
    """The files the configured registry is built from: the shipped one and ``taxonomy.services_file``."""
    return (str(config.shipped_services_path), str(config.services_path) if config.services_path else None)


def tagger_for(config: Config) -> Tagger:
    """The tagger of the configured registry, built once per process and again only when one of
    its files changes."""
    return tagger_from_files(registry_files(config))


# --- the stages, in order ----------------------------------------------------------------------


def prepare(
    raw: RawFeed,
    *,
    url: str,
    now: dt.datetime,
    tagger: Tagger,
    stored: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
) -> TaggedFeed:
    """normalize -> tag: a parsed document's entries as posts, each with what it is about. Pure.

    ``stored``: the content hashes the archive holds for some post ids; a post stored already with
    the same content is not tagged again (its tagging is None: the store does not rewrite it).
    """
    parsed = normalize_feed(raw, url=url, now=now)
    held = stored([post.id for post in parsed.posts]) if stored is not None and parsed.posts else {}
    return TaggedFeed(
        title=parsed.title,
        posts=tuple(
            TaggedPost(post=post, tagging=None if held.get(post.id) == post.content_hash else tagger.tag(post))
            for post in parsed.posts
        ),
        warnings=parsed.warnings,
        tagged_with=tagger.fingerprint,
    )


def read_body(
    body: bytes, *, content_type: str | None, url: str, now: dt.datetime, registry: RegistryFiles
) -> TaggedFeed:
    """parse -> normalize -> tag a fetched body or a file. Its arguments pickle, so a parse worker
    process runs it (and builds the registry's tagger once); raises ``ParseError``."""
    raw = parse_bytes(body, content_type=content_type, url=url)
    return prepare(raw, url=url, now=now, tagger=tagger_from_files(registry))


def store_feed(
    db: Database, feed: str, tagged: TaggedFeed, *, now: dt.datetime, history: bool = False
) -> store.StoreCounts:
    """store: a feed's tagged posts; call inside a transaction. ``history``: first seen when published."""
    return store.store_posts(db, feed, tagged.posts, tagged_with=tagged.tagged_with, now=now, history=history)


def ingest(
    db: Database,
    feed: Feed,
    raw: RawFeed,
    *,
    url: str,
    now: dt.datetime,
    tagger: Tagger,
    history: bool = False,
    also: Callable[[store.StoreCounts], object] | None = None,
) -> tuple[TaggedFeed, store.StoreCounts]:
    """normalize -> tag -> store a parsed document (a file, an API page) as posts of ``feed``, in
    one transaction; ``also`` writes more in it (a backfill's cursor), given what was stored.
    Posts the archive holds already with the same content are not tagged again (a backfill run
    again, a file imported twice)."""
    store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now)
    with store.write_transaction(db):
        tagged = prepare(raw, url=url, now=now, tagger=tagger, stored=lambda ids: store.existing_by_id(db, ids))
        counts = store_feed(db, feed.name, tagged, now=now, history=history)
        if also is not None:
            also(counts)
    return tagged, counts


def tag_archive(db: Database, tagger: Tagger, *, scope: str = "untagged", batch_size: int = 1000) -> Iterator[int]:
    """tag -> store for posts stored already, in batches of ``batch_size``, one transaction each,
    yielding each batch's size.

    ``scope``: ``untagged`` posts, ``stale`` ones (untagged, or tagged with another registry or
    other rules: what ``aggregator tag --retag`` redoes) or ``all``. Safe to interrupt: a batch is
    stored whole or not at all, and the next run carries on where this one stopped. When every
    batch is done, the unknown category tokens are counted afresh over the archive.
    """
    after = 0
    done = 0
    while True:
        rows = store.posts_to_tag(db, fingerprint=tagger.fingerprint, scope=scope, after=after, limit=batch_size)
        if not rows:
            break
        taggings = [
            store.PostTagging(row.id, tagger.tag_text(row.title, row.summary, row.categories, url=row.url))
            for row in rows
        ]
        with store.write_transaction(db):
            store.save_taggings(db, taggings, tagged_with=tagger.fingerprint)
        after = rows[-1].rowid
        done += len(rows)
        yield len(rows)
    if done:
        count_unknown_tokens(db, tagger)


def count_unknown_tokens(db: Database, tagger: Tagger) -> int:
    """Count again, over the whole archive, the category tokens the registry does not know (after
    a retag it may know some now); returns how many there are."""
    seen: dict[str, list[Any]] = {}  # token -> [first seen, last seen, posts, example]
    for post_id, categories, first_seen in store.post_categories(db):
        for token in tagger.unknown_tokens(categories):
            held = seen.get(token)
            if held is None:
                seen[token] = [first_seen, first_seen, 1, post_id]
            else:
                held[0] = min(held[0], first_seen)
                if first_seen >= held[1]:
                    held[1], held[3] = first_seen, post_id
                held[2] += 1
    with store.write_transaction(db):
        store.replace_unknown_tokens(db, [(token, *values) for token, values in seen.items()])
    return len(seen)


# --- what polling needs ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Poller:
    """What polling and backfilling need beside the archive: the configuration, the HTTP client
    and per-host limiter, the tagger, the clock and the random source of the jitter, and what
    cancels its fetches in flight."""

    config: Config
    client: httpx.Client
    limiter: HostLimiter
    tagger: Tagger | None = None
    """The tagger to tag with; None: the configured one (``tagger_for``), built when first needed,
    so a poll answered by 304s never builds it (``get_tagger``)."""
    now: Clock = utcnow
    rng: random.Random = field(default_factory=random.Random)
    cancellation: Cancellation = field(default_factory=lambda: fetching.Cancellation())

    @classmethod
    def create(
        cls,
        config: Config,
        *,
        client: httpx.Client,
        limiter: HostLimiter | None = None,
        tagger: Tagger | None = None,
        now: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> Poller:
        """Defaults: a limiter of ``http.per_host``, the configured tagger (when first needed: a
        broken registry then stops the poll with its message), the real clock."""
        return cls(
            config=config,
            client=client,
            limiter=limiter or fetching.HostLimiter(config.settings.http.per_host),
            tagger=tagger,
            now=now,
            rng=rng or random.Random(),
        )

    def get_tagger(self) -> Tagger:
        """The tagger given, else the configured one (built once per process)."""
        return self.tagger or tagger_for(self.config)


# --- schedule ----------------------------------------------------------------------------------


def jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    """``seconds`` spread by up to ``jitter`` (a fraction) either way."""
    return seconds * (1 + rng.uniform(-jitter, jitter))


def is_due(state: FeedState, now: dt.datetime) -> bool:
    if state.gone:
        return False
    return state.next_check is None or state.next_check <= now


# --- one feed ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """What a worker hands back to the writer: the fetch, and the tagged posts when there are some."""

    feed: Feed
    state: FeedState
    started: dt.datetime
    duration_ms: int
    result: FetchResult | None = None
    tagged: TaggedFeed | None = None
    """The body parsed, normalized and tagged (where the parsing happened): None when there was
    no new body to parse."""
    body_hash: str | None = None
    error: FeedError | None = None


Reader = Callable[..., TaggedFeed]
"""``read_body`` with its registry, on this thread or in a worker process."""

PROCESS_POOL_MIN_FEEDS = 16
"""A poll of at least this many feeds parses in worker processes (``poll.parse_processes``):
starting them costs a few hundred milliseconds, worth it only for a burst such as a first poll."""

BATCH_FEEDS = 16
"""Feeds stored in one transaction at most: each commit rewrites the pages every feed touches
(the indexes, the full-text index), so a burst stored 16 feeds a commit costs a third less than
feed by feed."""
IN_FLIGHT_PER_WORKER = 2
"""Feeds handed to each polling thread at most, fetched or waiting for the writer: the bound on
the bodies and posts a poll holds in memory."""
BATCH_LINGER_S = 0.2
"""How long the writer waits for more feeds to join a batch once one is ready (never when no
other feed is on its way)."""


def fetch_and_parse(feed: Feed, state: FeedState, poller: Poller, *, read: Reader | None = None) -> Fetched:
    """Fetch one feed and, when the body is new, parse, normalize and tag it. Never raises FeedError.

    ``read``: default, ``read_body`` on this thread with the configured registry."""
    config = poller.config
    started = poller.now()
    t0 = time.perf_counter()
    result: FetchResult | None = None
    try:
        result = fetching.fetch(
            poller.client,
            state.url,
            settings=config.settings.http,
            etag=state.etag,
            last_modified=state.last_modified,
            limiter=poller.limiter,
            now=poller.now,
            cancellation=poller.cancellation,
        )
        tagged = None
        body_hash = None
        if result.outcome == "ok" and result.body is not None:
            body_hash = hashlib.sha256(result.body).hexdigest()
            if body_hash != state.body_hash:
                tagged = (read or read_body)(
                    result.body,
                    content_type=result.headers.get("content-type"),
                    url=result.url,
                    now=started,
                    registry=registry_files(config),
                )
        return Fetched(
            feed=feed,
            state=state,
            started=started,
            duration_ms=round((time.perf_counter() - t0) * 1000),
            result=result,
            tagged=tagged,
            body_hash=body_hash,
        )
    except FeedError as exc:
        return Fetched(
            feed=feed,
            state=state,
            started=started,
            duration_ms=round((time.perf_counter() - t0) * 1000),
            result=result,
            error=exc,
        )


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """What a poll does to its feed's state, decided before anything is written."""

    state: FeedState
    outcome: Outcome
    error: str | None
    finished: dt.datetime


def _failed_state(fetched: Fetched, error: FeedError, poller: Poller, finished: dt.datetime) -> FeedState:
    """The state after a failed poll: one more failure, the backoff or the server's Retry-After."""
    state, result = fetched.state, fetched.result
    poll = poller.config.settings.poll
    status = error.status if isinstance(error, HTTPStatusError) else (result.status if result else None)
    failures = state.consecutive_failures + 1
    retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
    message = str(error)
    if retry_after is not None:
        delay = min(retry_after, poll.retry_after_max)
        retry_until: dt.datetime | None = finished + dt.timedelta(seconds=delay)
        if retry_after > poll.retry_after_max:
            message += f"; waiting {format_duration(delay)} instead, the longest poll.retry_after_max allows"
    else:
        delay = fetching.backoff_delay(
            failures, initial=poll.backoff_initial, maximum=poll.backoff_max, jitter=poll.jitter, rng=poller.rng
        )
        retry_until = None
    return dataclasses.replace(
        state,
        url=(result.permanent_redirect if result else None) or state.url,
        last_status=status,
        last_outcome="error",
        last_error=message,
        last_polled=fetched.started,
        consecutive_failures=failures,
        next_check=finished + dt.timedelta(seconds=delay),
        retry_after_until=retry_until,
    )


def _plan(fetched: Fetched, poller: Poller) -> _Plan:
    """The feed's next state after this poll: validators, failures, backoff, Retry-After, gone."""
    feed, state, result = fetched.feed, fetched.state, fetched.result
    poll = poller.config.settings.poll
    finished = poller.now()
    if fetched.error is not None:
        failed = _failed_state(fetched, fetched.error, poller, finished)
        return _Plan(state=failed, outcome="error", error=failed.last_error, finished=finished)

    assert result is not None
    common: dict[str, Any] = dict(
        url=result.url,
        last_status=result.status,
        last_error=None,
        last_polled=fetched.started,
        retry_after_until=None,
    )
    if result.outcome == "gone":
        return _Plan(
            state=dataclasses.replace(
                state, **common, last_outcome="gone", gone=True, next_check=None, consecutive_failures=0
            ),
            outcome="gone",
            error="HTTP 410 Gone: the feed no longer exists and is not polled again (change its URL to resume)",
            finished=finished,
        )
    outcome: Outcome
    if result.outcome == "not-modified":
        outcome = "not-modified"
    elif fetched.tagged is None:
        outcome = "unchanged"
    else:
        outcome = "stored"
    fresh = result.outcome == "ok"
    new_state = dataclasses.replace(
        state,
        **common,
        etag=result.etag if fresh else (result.etag or state.etag),
        last_modified=result.last_modified if fresh else (result.last_modified or state.last_modified),
        body_hash=fetched.body_hash or state.body_hash,
        last_outcome=outcome,
        last_success=finished,
        consecutive_failures=0,
        next_check=finished + dt.timedelta(seconds=jittered(feed.poll_interval(poll), poll.jitter, poller.rng)),
        gone=False,
    )
    return _Plan(state=new_state, outcome=outcome, error=None, finished=finished)


GAP_KINDS = {"aws-whats-new": True, "aws-blog": False}
"""Feed kinds that keep a fixed window of their newest items, where a gap can be seen, and
whether the What's New directory API can repair it."""


def find_gap(check: store.WindowCheck, posts: Sequence[Post]) -> tuple[dt.datetime, dt.datetime] | None:
    """(our newest, the document's oldest) when a fresh document of a fixed-window feed shares no
    item with what we stored from it and starts after our newest item: what was published in
    between may have scrolled out of the feed unseen. Pure."""
    if not check.stored or check.known or check.newest is None:
        return None
    oldest = min((p.published for p in posts if p.published is not None), default=None)
    if oldest is None or oldest <= check.newest:
        return None
    return check.newest, oldest


@dataclass(frozen=True)
class _Written:
    """What writing one poll's posts gave, and the bookkeeping rows the batch writes together."""

    counts: store.StoreCounts
    gap: FeedGap | None
    state: tuple[FeedState, str | None]
    fetch_log: tuple[Any, ...]


def _write(db: Database, fetched: Fetched, plan: _Plan) -> _Written:
    """Write one poll's posts (tagged) and a gap it reveals; return its feed's state and its
    fetch-log row for the batch to write. Inside a transaction."""
    feed, result, tagged = fetched.feed, fetched.result, fetched.tagged
    counts = store.StoreCounts(0, 0)
    gap: FeedGap | None = None
    if tagged is not None:
        posts = [t.post for t in tagged.posts]
        check = store.window_check(db, feed.name, posts) if feed.kind in GAP_KINDS and posts else None
        counts = store_feed(db, feed.name, tagged, now=plan.finished)
        window = find_gap(check, posts) if check is not None else None
        if window is not None:
            gap = store.record_gap(db, feed.name, start=window[0], end=window[1], now=plan.finished)
            if not GAP_KINDS[feed.kind]:
                reason = f"feeds of kind {feed.kind} have no history to read it back from"
                store.update_gap(db, gap.id, status="unrepairable", items_recovered=0, attempts=0, error=reason)
                gap = dataclasses.replace(gap, status="unrepairable", error=reason)
    log_row = (  # store.FETCH_LOG_COLUMNS
        feed.name,
        store.iso(fetched.started),
        plan.state.last_status,
        plan.outcome,
        fetched.duration_ms,
        result.bytes_received if result else 0,
        counts.new,
        counts.updated,
        plan.error,
        fetched.state.url,
    )
    # The title the feed list gives wins; else the feed's own, as the document says it now.
    return _Written(counts, gap, (plan.state, feed.title or (tagged.title if tagged else None)), log_row)


def _result(fetched: Fetched, plan: _Plan, counts: store.StoreCounts, gap: FeedGap | None = None) -> PollResult:
    result = fetched.result
    moved_to = result.permanent_redirect if result else None
    if moved_to:
        log.warning("feed %s moved permanently to %s; polling the new URL from now on", fetched.feed.name, moved_to)
    poll_result = PollResult(
        feed=fetched.feed.name,
        outcome=plan.outcome,
        status=plan.state.last_status,
        new=counts.new,
        updated=counts.updated,
        duration_ms=fetched.duration_ms,
        bytes=result.bytes_received if result else 0,
        error=plan.error,
        warnings=fetched.tagged.warnings if fetched.tagged else (),
        next_check=plan.state.next_check,
        moved_to=moved_to,
        gap=gap,
    )
    log_poll(poll_result)
    if gap is not None:
        log.warning(
            "feed=%s gap: none of its %d items were seen before and its oldest (%s) is newer than our newest (%s):"
            " announcements in between may be missing (%s)",
            gap.feed,
            len(fetched.tagged.posts) if fetched.tagged else 0,
            store.iso(gap.end),
            store.iso(gap.start),
            gap.status,
            extra={"event": {"gap": gap.as_json()}},
        )
    return poll_result


def record_batch(db: Database, batch: Sequence[Fetched], poller: Poller) -> list[PollResult]:
    """Store several polls in one transaction: a burst of feeds costs one commit, not one each
    (group commit). A crash still leaves each poll either wholly written or not at all."""
    plans = [_plan(fetched, poller) for fetched in batch]
    with store.write_transaction(db):
        written = [_write(db, fetched, plan) for fetched, plan in zip(batch, plans, strict=True)]
        store.save_feed_states(db, [w.state for w in written])
        store.log_fetches(db, [w.fetch_log for w in written])
    return [_result(f, p, w.counts, w.gap) for f, p, w in zip(batch, plans, written, strict=True)]


def log_poll(result: PollResult) -> None:
    """The one summary line per feed poll."""
    log.log(
        logging.WARNING if result.outcome == "error" else logging.INFO,
        "feed=%s status=%s outcome=%s new=%d updated=%d ms=%d%s",
        result.feed,
        result.status if result.status is not None else "-",
        result.outcome,
        result.new,
        result.updated,
        result.duration_ms,
        f" error={result.error!r}" if result.error else "",
        extra={"poll": result.as_json()},
    )
    for warning in result.warnings:
        log.info("feed=%s warning=%r", result.feed, warning)


def deferred(feed: Feed, state: FeedState, now: dt.datetime) -> PollResult | None:
    """Why a feed must not be polled now even on request: gone, or the server asked us to wait."""
    if state.gone:
        return PollResult(
            feed=feed.name,
            outcome="deferred",
            status=state.last_status,
            error="gone (HTTP 410): not polled; change its URL in the feed list to resume",
        )
    if state.retry_after_until and state.retry_after_until > now:
        return PollResult(
            feed=feed.name,
            outcome="deferred",
            status=state.last_status,
            error=f"the server asked us to wait until {store.iso(state.retry_after_until)} (Retry-After)",
            next_check=state.retry_after_until,
        )
    return None


# --- many feeds --------------------------------------------------------------------------------


def select_feeds(config: Config, names: Sequence[str] = ()) -> list[Feed]:
    """The enabled feeds, or the named ones (enabled or not: naming a feed asks for it)."""
    if names:
        return [config.feed(name) for name in dict.fromkeys(names)]
    return [f for f in config.feeds if f.enabled]


class PollInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped ``poll_feeds``: the fetches in flight were cancelled and nothing of them
    written; the polls stored before stay (each batch is its own transaction)."""

    def __init__(self, stored: list[PollResult], not_polled: list[str]) -> None:
        super().__init__(f"interrupted: {len(stored)} feeds stored, {len(not_polled)} not polled")
        self.stored = stored
        """The results of the feeds polled and stored before the interruption, in feed order."""
        self.not_polled = not_polled
        """The feeds left unpolled, in feed order."""


def poll_feeds(
    db: Database, poller: Poller, feeds: Iterable[Feed], *, only_due: bool = False, force: bool = False
) -> list[PollResult]:
    """Poll feeds concurrently; store each as it arrives. One feed's failure never stops the others.

    ``only_due``: skip feeds whose next check is in the future (cron-style ``run --once``).
    ``force``: poll even feeds that are gone or under a Retry-After. Ctrl-C cancels the fetches
    in flight at once and raises ``PollInterrupted``.
    """
    results: dict[str, PollResult] = {}
    order: list[str] = []
    work: list[tuple[Feed, FeedState]] = []
    start = poller.now()
    feeds = list(feeds)
    states = store.ensure_feeds(db, feeds, now=start)
    for feed in feeds:
        order.append(feed.name)
        state = states[feed.name]
        if only_due and not is_due(state, start):
            continue
        if not force:
            skip = deferred(feed, state, start)
            if skip is not None:
                results[feed.name] = skip
                continue
        work.append((feed, state))

    polled = {feed.name for feed, _state in work}
    burst = len(work) >= PROCESS_POOL_MIN_FEEDS
    batches = _fetch_concurrently(work, poller)
    try:
        with store.larger_page_cache(db) if burst else contextlib.nullcontext():
            for batch in batches:
                for result in _record_safely(db, batch, poller):
                    results[result.feed] = result
    except KeyboardInterrupt:
        raise PollInterrupted(
            [results[name] for name in order if name in polled and name in results],
            [name for name in order if name in polled and name not in results],
        ) from None
    finally:
        batches.close()  # stopped early (Ctrl-C while storing, a busy archive): cancels what is in flight
    return [results[name] for name in order if name in results]


def poll_feed(
    db: Database, poller: Poller, feed: Feed, *, may_write: Callable[[], bool] = lambda: True
) -> PollResult | None:
    """Poll one feed on the calling thread, due or not (the caller keeps the schedule): the service's job.

    A feed that is gone or under a Retry-After is not fetched. ``may_write`` is asked once the fetch
    is done, right before storing: when it says no (the service is shutting down), the result is
    dropped unwritten and None returned; the feed is polled again after the restart.
    """
    state = store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=poller.now())
    skip = deferred(feed, state, poller.now())
    if skip is not None:
        return skip
    fetched = fetch_and_parse(feed, state, poller)
    if not may_write():
        return None
    return _record_safely(db, [fetched], poller)[0]


def _record_safely(db: Database, batch: Sequence[Fetched], poller: Poller) -> list[PollResult]:
    """``record_batch``, where an unexpected failure is logged and reported for its feed only:
    a batch that fails is stored again feed by feed, so one bad feed never loses the others."""
    try:
        return record_batch(db, batch, poller)
    except StoreError:  # the archive itself (busy, unwritable): the next feeds would fail the same way
        raise
    except Exception:
        if len(batch) > 1:
            return [r for fetched in batch for r in _record_safely(db, [fetched], poller)]
        log.exception("feed=%s: storing the poll failed; nothing of it was written", batch[0].feed.name)
        return [
            PollResult(
                feed=batch[0].feed.name, outcome="error", status=None, error="internal error while storing (see log)"
            )
        ]


def _read_in_worker(conn: Connection) -> None:
    """A parse worker process: says it is ready (its modules imported), then ``read_body`` for
    each request that comes on ``conn``, the result (or the exception, an unexpected one with its
    traceback as a note) sent back, until the parent says stop or goes away."""
    # Ctrl-C reaches the terminal's whole process group: the poll cancels its work and stops the
    # workers itself; a worker killed by it would only leave a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(None)
        while (request := conn.recv()) is not None:
            body, kwargs = request
            try:
                reply: tuple[bool, Any] = (True, read_body(body, **kwargs))
            except Exception as exc:
                if not isinstance(exc, FeedError):
                    exc.add_note(traceback.format_exc())
                reply = (False, exc)
            try:
                conn.send(reply)
            except Exception as exc:  # a reply that does not pickle is a bug: said, not lost
                conn.send((False, RuntimeError(f"the parse worker's reply: {type(exc).__name__}: {exc}")))
    except (EOFError, KeyboardInterrupt):  # the parent is gone, or Ctrl-C reached the whole group
        return


class _Worker:
    """One parse worker process and the parent's end of its pipe. Spawned, not forked: the
    parent has threads."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_read_in_worker, args=(child,), daemon=True, name="aggregator-parse")
        self.process.start()
        child.close()

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether it has said it is ready (within ``timeout`` seconds); raises ``EOFError`` or
        ``OSError`` when it died first."""
        if not self.conn.poll(timeout):
            return False
        self.conn.recv()
        return True

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()


WORKER_START_TIMEOUT_S = 60.0
"""How long a parse worker replacing one that died may take to start."""


def _leave_ctrl_c_to_the_poll() -> None:
    """In a parse worker: Ctrl-C reaches the whole terminal's process group, and the poll cancels
    its work itself; a worker killed by it would only print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _ProcessReader:
    """``read_body`` in worker processes, started when the first body needs parsing (a poll
    answered by 304s starts none).

    A polling thread takes an idle worker, sends it the body and waits on that worker's pipe for
    the tagged posts: no queue or manager threads in between, so a result reaches its thread
    without waiting for the parent's busy threads to hand over the GIL three more times. While
    the workers start (a few hundred milliseconds of imports), the polling threads parse the
    first bodies themselves instead of waiting. A worker that dies (killed, out of memory) fails
    its feed only: a fresh one takes its place. When no worker can be had, the polling threads
    parse themselves.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        """Workers ready and waiting for a body; None: there are none to wait for, parse here."""
        self._workers: list[_Worker] = []
        self._starting: list[_Worker] = []
        self._lock = threading.Lock()
        self._started = False

    def __call__(self, body: bytes, **kwargs: Any) -> TaggedFeed:
        worker = self._take()
        if worker is None:
            return read_body(body, **kwargs)
        try:
            worker.conn.send((body, kwargs))
            ok, value = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker)
            raise FeedError("internal error: the parse worker process died") from None
        except BaseException:  # the reply would not unpickle: the worker itself is fine
            self._idle.put(worker)
            raise
        self._idle.put(worker)
        if not ok:
            raise value
        result: TaggedFeed = value
        return result

    def _take(self) -> _Worker | None:
        """An idle worker, waiting for one if need be; None while they are all starting (or when
        there are none): the caller parses."""
        with self._lock:
            if not self._started:
                self._started = True
                for _ in range(self.processes):
                    with contextlib.suppress(OSError):  # said by _start
                        self._starting.append(self._start())
            for worker in list(self._starting):
                try:
                    if not worker.ready():
                        continue
                    self._idle.put(worker)
                except (EOFError, OSError):
                    log.warning("a parse worker process died while starting (exit code %s)", worker.process.exitcode)
                    self._forget(worker)
                self._starting.remove(worker)
            starting = bool(self._starting)
            if not self._workers:
                return None
        try:
            taken = self._idle.get_nowait() if starting else self._idle.get()
        except queue.Empty:  # all starting or busy, some still starting: parse rather than wait
            return None
        if taken is None:
            self._idle.put(None)  # for the next one
        return taken

    def _start(self) -> _Worker:
        """A new worker process; call with the lock held."""
        try:
            worker = _Worker()
        except OSError as exc:
            log.warning("cannot start a parse worker process (%s)", exc)
            if not self._workers:
                self._idle.put(None)  # wake any thread waiting for one: there is none
            raise
        self._workers.append(worker)
        return worker

    def _forget(self, worker: _Worker) -> None:
        """Stop a worker and forget it; call with the lock held."""
        worker.stop()
        self._workers.remove(worker)
        if not self._workers:
            self._idle.put(None)  # wake any thread waiting for one: there is none

    def _replace(self, dead: _Worker) -> None:
        """A fresh worker in place of one that died, ready before it is offered (it takes the
        lock: the other threads wait a few hundred milliseconds, once)."""
        with self._lock:
            dead.stop()
            self._workers.remove(dead)
            log.warning("a parse worker process died (exit code %s): starting another", dead.process.exitcode)
            try:
                fresh = self._start()
            except OSError:
                return
            try:
                if fresh.ready(WORKER_START_TIMEOUT_S):
                    self._idle.put(fresh)
                else:
                    self._starting.append(fresh)
            except (EOFError, OSError):
                self._forget(fresh)

    def __enter__(self) -> _ProcessReader:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            workers, self._workers, self._starting = self._workers, [], []
        for worker in workers:
            worker.stop()


def _fetch_concurrently(work: list[tuple[Feed, FeedState]], poller: Poller) -> Generator[list[Fetched], None, None]:
    """Fetch (and parse) in worker threads, yielding the feeds ready as batches to store: all
    those ready once ``BATCH_FEEDS`` are, or ``BATCH_LINGER_S`` after the first, or when no other
    feed is on its way.

    At most two feeds per worker are in flight and ``BATCH_FEEDS`` wait for the writer, so a slow
    writer never makes every feed's body and posts pile up in memory.
    """
    if not work:
        return
    config = poller.config
    workers = min(config.settings.http.max_workers, len(work))
    with contextlib.ExitStack() as stack:
        read: Reader | None = None  # fetch_and_parse's own: on the polling thread
        processes = config.settings.poll.parse_processes
        if processes and len(work) >= PROCESS_POOL_MIN_FEEDS:
            read = stack.enter_context(_ProcessReader(processes))
        # Entered last, left first: every polling thread is done before the parsers stop.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll"))
        queue = iter(work)
        futures: dict[Future[Fetched], tuple[Feed, FeedState]] = {}

        def submit_next() -> None:
            for feed, state in queue:
                futures[pool.submit(fetch_and_parse, feed, state, poller, read=read)] = (feed, state)
                return

        for _ in range(workers * IN_FLIGHT_PER_WORKER):
            submit_next()
        batch: list[Fetched] = []
        deadline = 0.0
        try:
            while futures:
                timeout = max(0.0, deadline - time.monotonic()) if batch else None
                done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    feed, state = futures.pop(future)
                    submit_next()
                    batch.append(_fetched(future, feed, state, poller))
                if batch and len(batch) == len(done):
                    deadline = time.monotonic() + BATCH_LINGER_S
                if batch and (len(batch) >= BATCH_FEEDS or not futures or time.monotonic() >= deadline):
                    yield batch
                    batch = []
        except BaseException:  # Ctrl-C, or the caller stopped: the threads must not finish their fetches
            poller.cancellation.cancel()
            for future in futures:
                future.cancel()
            raise


def _fetched(future: Future[Fetched], feed: Feed, state: FeedState, poller: Poller) -> Fetched:
    """A polling thread's result; a bug in a stage is that feed's error and never takes the other
    feeds down."""
    try:
        return future.result()
    except ConfigError:  # the services registry cannot be read: every feed would fail the same way
        raise
    except Exception as exc:
        log.exception("feed=%s: unexpected error while fetching", feed.name)
        return Fetched(
            feed=feed,
            state=state,
            started=poller.now(),
            duration_ms=0,
            error=FeedError(f"internal error: {type(exc).__name__}: {exc}"),
        )


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    path: str
    new: int = 0
    updated: int = 0
    entries: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()


def import_file(db: Database, feed: Feed, path: Path, *, now: dt.datetime, tagger: Tagger) -> ImportResult:
    """Load one RSS/Atom file as if fetched from ``feed``; its posts are first seen when published."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = parse_bytes(body)  # the error names the file, not the feed's URL
    except ParseError as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    tagged, counts = ingest(db, feed, raw, url=feed.url, now=now, tagger=tagger, history=True)
    return ImportResult(
        path=str(path), new=counts.new, updated=counts.updated, entries=len(tagged.posts), warnings=tagged.warnings
    )


def import_files(
    db: Database, feed: Feed, paths: Iterable[Path], *, tagger: Tagger, now: Clock = utcnow
) -> Iterator[ImportResult]:
    """Import files one by one; a bad file is reported by name and the others still imported."""
    for path in paths:
        try:
            yield import_file(db, feed, path, now=now(), tagger=tagger)
        except ImportFileError as exc:
            log.warning("import: %s", exc)
            yield ImportResult(path=str(path), error=str(exc))
