"""The only module that knows the order of the stages: fetch -> parse -> normalize -> tag -> store.

Shared by the CLI (``poll``, ``run --once``, ``import``) and the long-running service. Fetching,
parsing and normalizing run in worker threads (at most ``http.per_host`` requests per host, at most
``http.max_workers`` feeds at once); every database write happens on the thread that owns the
``Database``, one transaction per feed. New and changed posts are tagged as they are stored, in
that transaction, with the process's ``Tagger`` (``tagger_for``: the registry is loaded once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlite_utils import Database

from . import store
from .config import Config, Feed, PollSettings
from .errors import FeedError, HTTPStatusError, ImportFileError, ParseError
from .fetch import HostLimiter, fetch
from .models import FeedGap, FeedState, FetchResult, Outcome, ParsedFeed, PollResult, Post
from .normalize import normalize_feed
from .parse import parse_bytes
from .tagging import RegistryFiles, Tagger, Tagging, parse_and_tag, tagger_from_files

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the tagger --------------------------------------------------------------------------------


def registry_files(config: Config) -> RegistryFiles:
    """The files the configured registry is built from: the shipped one and ``taxonomy.services_file``."""
    return (str(config.shipped_services_path), str(config.services_path) if config.services_path else None)


def tagger_for(config: Config) -> Tagger:
    """The tagger of the configured registry, built once per process and again only when one of
    its files changes."""
    return tagger_from_files(registry_files(config))


def tag_archive(db: Database, tagger: Tagger, *, scope: str = "untagged", batch_size: int = 1000) -> Iterator[int]:
    """Tag stored posts in batches of ``batch_size``, one transaction each, yielding each batch's size.

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
            store.TaggedPost(row.id, tagger.tag_text(row.title, row.summary, row.categories, url=row.url))
            for row in rows
        ]
        with store.write_transaction(db):
            store.save_taggings(db, taggings, fingerprint=tagger.fingerprint)
        after = rows[-1].rowid
        done += len(rows)
        yield len(rows)
    if done:
        with store.write_transaction(db):
            store.rebuild_unknown_tokens(db, tagger)


# --- schedule ----------------------------------------------------------------------------------


def jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    """``seconds`` spread by up to ``jitter`` (a fraction) either way."""
    return seconds * (1 + rng.uniform(-jitter, jitter))


def backoff_delay(failures: int, poll: PollSettings, rng: random.Random) -> float:
    """Exponential backoff after ``failures`` consecutive failures, with jitter, capped."""
    exponent = min(max(failures - 1, 0), 32)
    delay = min(poll.backoff_max, poll.backoff_initial * 2.0**exponent)
    return min(poll.backoff_max, delay * (1 - rng.uniform(0, poll.jitter)))


def is_due(state: FeedState, now: dt.datetime) -> bool:
    if state.gone:
        return False
    return state.next_check is None or state.next_check <= now


# --- one feed ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """What a worker hands back to the writer: the fetch, and the parsed feed when there is one."""

    feed: Feed
    state: FeedState
    started: dt.datetime
    duration_ms: int
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    taggings: dict[str, Tagging] | None = None
    """The parsed posts' taggings by post id, made where the parsing happened."""
    body_hash: str | None = None
    error: FeedError | None = None


Parser = Callable[..., tuple[ParsedFeed, dict[str, Tagging]]]
"""``tagging.parse_and_tag`` with its registry: bytes -> posts and their taggings."""

PROCESS_POOL_MIN_FEEDS = 16
"""A poll of at least this many feeds parses in worker processes (``poll.parse_processes``):
starting them costs a few hundred milliseconds, worth it only for a burst such as a first poll."""


def fetch_and_parse(
    feed: Feed,
    state: FeedState,
    *,
    client: httpx.Client,
    config: Config,
    limiter: HostLimiter,
    now: Clock,
    parse: Parser | None = None,
) -> Fetched:
    """Fetch one feed and, when the body is new, parse, normalize and tag it. Never raises FeedError.

    ``parse``: default, ``tagging.parse_and_tag`` on this thread with the configured registry."""
    started = now()
    t0 = time.perf_counter()
    result: FetchResult | None = None
    try:
        result = fetch(
            client,
            state.url,
            settings=config.settings.http,
            etag=state.etag,
            last_modified=state.last_modified,
            limiter=limiter,
            now=now,
        )
        parsed = taggings = None
        body_hash = None
        if result.outcome == "ok" and result.body is not None:
            body_hash = hashlib.sha256(result.body).hexdigest()
            if body_hash != state.body_hash:
                parse = parse or functools.partial(parse_and_tag, registry=registry_files(config))
                parsed, taggings = parse(
                    result.body, content_type=result.headers.get("content-type"), url=result.url, now=started
                )
        return Fetched(
            feed=feed,
            state=state,
            started=started,
            duration_ms=round((time.perf_counter() - t0) * 1000),
            result=result,
            parsed=parsed,
            taggings=taggings,
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


def _plan(fetched: Fetched, *, config: Config, now: Clock, rng: random.Random) -> _Plan:
    """The feed's next state after this poll: validators, failures, backoff, Retry-After, gone."""
    feed, state, result = fetched.feed, fetched.state, fetched.result
    poll = config.settings.poll
    finished = now()
    moved_to = result.permanent_redirect if result else None

    if fetched.error is not None:
        error = fetched.error
        status = error.status if isinstance(error, HTTPStatusError) else (result.status if result else None)
        failures = state.consecutive_failures + 1
        retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
        if retry_after is not None:
            delay = min(retry_after, poll.retry_after_max)
            retry_until: dt.datetime | None = finished + dt.timedelta(seconds=delay)
        else:
            delay = backoff_delay(failures, poll, rng)
            retry_until = None
        new_state = dataclasses.replace(
            state,
            url=moved_to or state.url,
            last_status=status,
            last_outcome="error",
            last_error=str(error),
            last_polled=fetched.started,
            consecutive_failures=failures,
            next_check=finished + dt.timedelta(seconds=delay),
            retry_after_until=retry_until,
        )
        return _Plan(state=new_state, outcome="error", error=str(error), finished=finished)

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
    elif fetched.parsed is None:
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
        next_check=finished + dt.timedelta(seconds=jittered(feed.poll_interval(poll), poll.jitter, rng)),
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


def _write(
    db: Database, fetched: Fetched, plan: _Plan, tagger: Tagger | None
) -> tuple[store.StoreCounts, FeedGap | None]:
    """Write one poll: its posts (tagged), a gap it reveals, its feed's state, its fetch-log row.
    Inside a transaction."""
    feed, result = fetched.feed, fetched.result
    counts = store.StoreCounts(0, 0)
    gap: FeedGap | None = None
    if fetched.parsed is not None:
        posts = fetched.parsed.posts
        check = store.window_check(db, feed.name, posts) if feed.kind in GAP_KINDS and posts else None
        counts = store.store_posts(db, feed.name, posts, now=plan.finished, tagger=tagger, taggings=fetched.taggings)
        window = find_gap(check, posts) if check is not None else None
        if window is not None:
            gap = store.record_gap(db, feed.name, start=window[0], end=window[1], now=plan.finished)
            if not GAP_KINDS[feed.kind]:
                reason = f"feeds of kind {feed.kind} have no history to read it back from"
                store.update_gap(db, gap.id, status="unrepairable", items_recovered=0, attempts=0, error=reason)
                gap = dataclasses.replace(gap, status="unrepairable", error=reason)
    # The title the feed list gives wins; else the feed's own, as the document says it now.
    store.save_feed_state(db, plan.state, title=feed.title or (fetched.parsed.title if fetched.parsed else None))
    store.log_fetch(
        db,
        {
            "feed": feed.name,
            "started": store.iso(fetched.started),
            "status": plan.state.last_status,
            "outcome": plan.outcome,
            "duration_ms": fetched.duration_ms,
            "bytes": result.bytes_received if result else 0,
            "new": counts.new,
            "updated": counts.updated,
            "error": plan.error,
            "url": fetched.state.url,
        },
    )
    return counts, gap


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
        warnings=fetched.parsed.warnings if fetched.parsed else (),
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
            len(fetched.parsed.posts) if fetched.parsed else 0,
            store.iso(gap.end),
            store.iso(gap.start),
            gap.status,
            extra={"event": {"gap": gap.as_json()}},
        )
    return poll_result


def record(
    db: Database,
    fetched: Fetched,
    *,
    config: Config,
    now: Clock,
    rng: random.Random,
    tagger: Tagger | None = None,
) -> PollResult:
    """Store what a fetch brought and the feed's new state, in one transaction."""
    return record_batch(db, [fetched], config=config, now=now, rng=rng, tagger=tagger)[0]


def record_batch(
    db: Database,
    batch: Sequence[Fetched],
    *,
    config: Config,
    now: Clock,
    rng: random.Random,
    tagger: Tagger | None = None,
) -> list[PollResult]:
    """Store several polls in one transaction: a burst of feeds costs one commit, not one each
    (group commit). A crash still leaves each poll either wholly written or not at all.
    ``tagger``: default, the configured one (``tagger_for``)."""
    tagger = tagger or tagger_for(config)
    plans = [_plan(fetched, config=config, now=now, rng=rng) for fetched in batch]
    with store.write_transaction(db):
        written = [_write(db, fetched, plan, tagger) for fetched, plan in zip(batch, plans, strict=True)]
    return [_result(f, p, c, g) for f, p, (c, g) in zip(batch, plans, written, strict=True)]


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


def poll_feeds(
    db: Database,
    config: Config,
    feeds: Iterable[Feed],
    *,
    client: httpx.Client,
    limiter: HostLimiter | None = None,
    only_due: bool = False,
    force: bool = False,
    now: Clock = utcnow,
    rng: random.Random | None = None,
    tagger: Tagger | None = None,
) -> list[PollResult]:
    """Poll feeds concurrently; store each as it arrives. One feed's failure never stops the others.

    ``only_due``: skip feeds whose next check is in the future (cron-style ``run --once``).
    ``force``: poll even feeds that are gone or under a Retry-After.
    ``tagger``: default, the configured one (``tagger_for``); a broken registry fails here, first.
    """
    rng = rng or random.Random()
    tagger = tagger or tagger_for(config)
    limiter = limiter or HostLimiter(config.settings.http.per_host)
    results: dict[str, PollResult] = {}
    order: list[str] = []
    work: list[tuple[Feed, FeedState]] = []
    start = now()
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

    for batch in _fetch_concurrently(work, client=client, config=config, limiter=limiter, now=now):
        for result in _record_safely(db, batch, config=config, now=now, rng=rng, tagger=tagger):
            results[result.feed] = result
    return [results[name] for name in order if name in results]


def poll_feed(
    db: Database,
    config: Config,
    feed: Feed,
    *,
    client: httpx.Client,
    limiter: HostLimiter,
    may_write: Callable[[], bool] = lambda: True,
    now: Clock = utcnow,
    rng: random.Random | None = None,
    tagger: Tagger | None = None,
) -> PollResult | None:
    """Poll one feed on the calling thread, due or not (the caller keeps the schedule): the service's job.

    A feed that is gone or under a Retry-After is not fetched. ``may_write`` is asked once the fetch
    is done, right before storing: when it says no (the service is shutting down), the result is
    dropped unwritten and None returned; the feed is polled again after the restart.
    """
    rng = rng or random.Random()
    tagger = tagger or tagger_for(config)
    state = store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now())
    skip = deferred(feed, state, now())
    if skip is not None:
        return skip
    fetched = fetch_and_parse(feed, state, client=client, config=config, limiter=limiter, now=now)
    if not may_write():
        return None
    return _record_safely(db, [fetched], config=config, now=now, rng=rng, tagger=tagger)[0]


def _record_safely(
    db: Database,
    batch: Sequence[Fetched],
    *,
    config: Config,
    now: Clock,
    rng: random.Random,
    tagger: Tagger | None = None,
) -> list[PollResult]:
    """``record_batch``, where an unexpected failure is logged and reported for its feed only:
    a batch that fails is stored again feed by feed, so one bad feed never loses the others."""
    try:
        return record_batch(db, batch, config=config, now=now, rng=rng, tagger=tagger)
    except Exception:
        if len(batch) > 1:
            return [
                r
                for fetched in batch
                for r in _record_safely(db, [fetched], config=config, now=now, rng=rng, tagger=tagger)
            ]
        log.exception("feed=%s: storing the poll failed; nothing of it was written", batch[0].feed.name)
        return [
            PollResult(
                feed=batch[0].feed.name, outcome="error", status=None, error="internal error while storing (see log)"
            )
        ]


class _ProcessParser:
    """``tagging.parse_and_tag`` in worker processes, started when the first body needs parsing
    (a poll answered by 304s starts none). Spawned, not forked: the parent has threads."""

    def __init__(self, processes: int, registry: RegistryFiles) -> None:
        self.processes = processes
        self.registry = registry
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def __call__(self, body: bytes, **kwargs: Any) -> tuple[ParsedFeed, dict[str, Tagging]]:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
        return pool.submit(parse_and_tag, body, registry=self.registry, **kwargs).result()

    def __enter__(self) -> _ProcessParser:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _fetch_concurrently(
    work: list[tuple[Feed, FeedState]],
    *,
    client: httpx.Client,
    config: Config,
    limiter: HostLimiter,
    now: Clock,
) -> Iterator[list[Fetched]]:
    """Fetch (and parse) in worker threads, yielding the feeds ready at once as one batch.

    At most two feeds per worker are in flight or waiting for the writer, so a slow writer never
    makes every feed's body and posts pile up in memory.
    """
    if not work:
        return
    workers = min(config.settings.http.max_workers, len(work))
    with contextlib.ExitStack() as stack:
        parse: Parser | None = None  # fetch_and_parse's own: on the polling thread
        processes = config.settings.poll.parse_processes
        if processes and len(work) >= PROCESS_POOL_MIN_FEEDS:
            parse = stack.enter_context(_ProcessParser(processes, registry_files(config)))
        # Entered last, left first: every polling thread is done before the parsers stop.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll"))
        queue = iter(work)
        futures: dict[Future[Fetched], tuple[Feed, FeedState]] = {}

        def submit_next() -> None:
            for feed, state in queue:
                future = pool.submit(
                    fetch_and_parse, feed, state, client=client, config=config, limiter=limiter, now=now, parse=parse
                )
                futures[future] = (feed, state)
                return

        for _ in range(workers * 2):
            submit_next()
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            batch: list[Fetched] = []
            for future in done:
                feed, state = futures.pop(future)
                submit_next()
                try:
                    fetched = future.result()
                except Exception as exc:  # a bug in a stage must not take the other feeds down
                    log.exception("feed=%s: unexpected error while fetching", feed.name)
                    fetched = Fetched(
                        feed=feed,
                        state=state,
                        started=now(),
                        duration_ms=0,
                        error=FeedError(f"internal error: {type(exc).__name__}: {exc}"),
                    )
                batch.append(fetched)
            yield batch


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    path: str
    new: int = 0
    updated: int = 0
    entries: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()


def import_file(
    db: Database, feed: Feed, path: Path, *, now: dt.datetime, tagger: Tagger | None = None
) -> ImportResult:
    """Load one RSS/Atom file as if fetched from ``feed``; its posts are first seen when published.
    ``tagger``: tag them as they are stored (without one, ``aggregator tag`` does it later)."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = parse_bytes(body)  # the error names the file, not the feed's URL
    except ParseError as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    parsed = normalize_feed(raw, url=feed.url, now=now)
    store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now)
    with store.write_transaction(db):
        counts = store.store_posts(db, feed.name, parsed.posts, now=now, history=True, tagger=tagger)
    return ImportResult(
        path=str(path), new=counts.new, updated=counts.updated, entries=len(parsed.posts), warnings=parsed.warnings
    )


def import_files(
    db: Database, feed: Feed, paths: Iterable[Path], *, now: Clock = utcnow, tagger: Tagger | None = None
) -> Iterator[ImportResult]:
    """Import files one by one; a bad file is reported by name and the others still imported."""
    for path in paths:
        try:
            yield import_file(db, feed, path, now=now(), tagger=tagger)
        except ImportFileError as exc:
            log.warning("import: %s", exc)
            yield ImportResult(path=str(path), error=str(exc))
