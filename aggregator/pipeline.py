"""The only module that knows the order of the stages: fetch -> parse -> normalize -> store.

Shared by the CLI (``poll``, ``run --once``, ``import``) and the long-running service. Fetching,
parsing and normalizing run in worker threads (at most ``http.per_host`` requests per host, at most
``http.max_workers`` feeds at once); every database write happens on the thread that owns the
``Database``, one transaction per feed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import multiprocessing
import random
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
from .models import FeedState, FetchResult, ParsedFeed, PollResult
from .normalize import normalize_feed, parse_document
from .parse import parse_bytes

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    body_hash: str | None = None
    error: FeedError | None = None


Parser = Callable[..., ParsedFeed]

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
    """Fetch one feed and, when the body is new, parse and normalize it. Never raises FeedError."""
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
        parsed = None
        body_hash = None
        if result.outcome == "ok" and result.body is not None:
            body_hash = hashlib.sha256(result.body).hexdigest()
            if body_hash != state.body_hash:
                parsed = (parse or parse_document)(
                    result.body, content_type=result.headers.get("content-type"), url=result.url, now=started
                )
        return Fetched(
            feed=feed,
            state=state,
            started=started,
            duration_ms=round((time.perf_counter() - t0) * 1000),
            result=result,
            parsed=parsed,
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


def record(db: Database, fetched: Fetched, *, config: Config, now: Clock, rng: random.Random) -> PollResult:
    """Store what a fetch brought and the feed's new state, in one transaction."""
    feed, state, result = fetched.feed, fetched.state, fetched.result
    poll = config.settings.poll
    finished = now()
    interval = feed.poll_interval(poll)
    new = updated = 0
    warnings: tuple[str, ...] = ()
    title = None
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
        outcome: str = "error"
        error_text: str | None = str(error)
    else:
        assert result is not None
        error_text = None
        common: dict[str, Any] = dict(
            url=result.url,
            last_status=result.status,
            last_error=None,
            last_polled=fetched.started,
            retry_after_until=None,
        )
        if result.outcome == "gone":
            outcome = "gone"
            new_state = dataclasses.replace(
                state, **common, last_outcome=outcome, gone=True, next_check=None, consecutive_failures=0
            )
            error_text = "HTTP 410 Gone: the feed no longer exists and is not polled again (change its URL to resume)"
        else:
            if result.outcome == "not-modified":
                outcome = "not-modified"
            elif fetched.parsed is None:
                outcome = "unchanged"
            else:
                outcome = "stored"
            new_state = dataclasses.replace(
                state,
                **common,
                etag=result.etag if result.outcome == "ok" else (result.etag or state.etag),
                last_modified=result.last_modified
                if result.outcome == "ok"
                else (result.last_modified or state.last_modified),
                body_hash=fetched.body_hash or state.body_hash,
                last_outcome=outcome,
                last_success=finished,
                consecutive_failures=0,
                next_check=finished + dt.timedelta(seconds=jittered(interval, poll.jitter, rng)),
                gone=False,
            )
        if fetched.parsed is not None:
            warnings = fetched.parsed.warnings
            title = fetched.parsed.title

    with store.write_transaction(db):
        if fetched.parsed is not None:
            counts = store.store_posts(db, feed.name, fetched.parsed.posts, now=finished)
            new, updated = counts.new, counts.updated
        store.save_feed_state(db, new_state, title=title)
        store.log_fetch(
            db,
            {
                "feed": feed.name,
                "started": store.iso(fetched.started),
                "status": new_state.last_status,
                "outcome": outcome,
                "duration_ms": fetched.duration_ms,
                "bytes": result.bytes_received if result else 0,
                "new": new,
                "updated": updated,
                "error": error_text,
                "url": state.url,
            },
        )

    if moved_to:
        log.warning("feed %s moved permanently to %s; polling the new URL from now on", feed.name, moved_to)
    poll_result = PollResult(
        feed=feed.name,
        outcome=outcome,  # type: ignore[arg-type]
        status=new_state.last_status,
        new=new,
        updated=updated,
        duration_ms=fetched.duration_ms,
        bytes=result.bytes_received if result else 0,
        error=error_text,
        warnings=warnings,
        next_check=new_state.next_check,
        moved_to=moved_to,
    )
    log_poll(poll_result)
    return poll_result


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
) -> list[PollResult]:
    """Poll feeds concurrently; store each as it arrives. One feed's failure never stops the others.

    ``only_due``: skip feeds whose next check is in the future (cron-style ``run --once``).
    ``force``: poll even feeds that are gone or under a Retry-After.
    """
    rng = rng or random.Random()
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

    for fetched in _fetch_concurrently(work, client=client, config=config, limiter=limiter, now=now):
        results[fetched.feed.name] = _record_safely(db, fetched, config=config, now=now, rng=rng)
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
) -> PollResult | None:
    """Poll one feed on the calling thread, due or not (the caller keeps the schedule): the service's job.

    A feed that is gone or under a Retry-After is not fetched. ``may_write`` is asked once the fetch
    is done, right before storing: when it says no (the service is shutting down), the result is
    dropped unwritten and None returned; the feed is polled again after the restart.
    """
    rng = rng or random.Random()
    state = store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now())
    skip = deferred(feed, state, now())
    if skip is not None:
        return skip
    fetched = fetch_and_parse(feed, state, client=client, config=config, limiter=limiter, now=now)
    if not may_write():
        return None
    return _record_safely(db, fetched, config=config, now=now, rng=rng)


def _record_safely(db: Database, fetched: Fetched, *, config: Config, now: Clock, rng: random.Random) -> PollResult:
    """``record``, where an unexpected failure is logged and reported for this feed only."""
    try:
        return record(db, fetched, config=config, now=now, rng=rng)
    except Exception:
        log.exception("feed=%s: storing the poll failed; nothing of it was written", fetched.feed.name)
        return PollResult(
            feed=fetched.feed.name, outcome="error", status=None, error="internal error while storing (see log)"
        )


def _fetch_concurrently(
    work: list[tuple[Feed, FeedState]],
    *,
    client: httpx.Client,
    config: Config,
    limiter: HostLimiter,
    now: Clock,
) -> Iterator[Fetched]:
    """Fetch (and parse) in worker threads, yielding each feed as it is ready.

    At most two feeds per worker are in flight or waiting for the writer, so a slow writer never
    makes every feed's body and posts pile up in memory.
    """
    if not work:
        return
    workers = min(config.settings.http.max_workers, len(work))
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll"))
        parse: Parser = parse_document
        processes = config.settings.poll.parse_processes
        if processes and len(work) >= PROCESS_POOL_MIN_FEEDS:
            parsers = stack.enter_context(
                ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"))
            )

            def parse(body: bytes, **kwargs: Any) -> ParsedFeed:
                return parsers.submit(parse_document, body, **kwargs).result()

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
                yield fetched


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    path: str
    new: int = 0
    updated: int = 0
    entries: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()


def import_file(db: Database, feed: Feed, path: Path, *, now: dt.datetime) -> ImportResult:
    """Load one RSS/Atom file as if fetched from ``feed``; its posts are first seen when published."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = parse_bytes(body, url=feed.url)
    except ParseError as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    parsed = normalize_feed(raw, url=feed.url, now=now)
    store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now)
    with store.write_transaction(db):
        counts = store.store_posts(db, feed.name, parsed.posts, now=now, history=True)
    return ImportResult(
        path=str(path), new=counts.new, updated=counts.updated, entries=len(parsed.posts), warnings=parsed.warnings
    )


def import_files(db: Database, feed: Feed, paths: Iterable[Path], *, now: Clock = utcnow) -> Iterator[ImportResult]:
    """Import files one by one; a bad file is reported by name and the others still imported."""
    for path in paths:
        try:
            yield import_file(db, feed, path, now=now())
        except ImportFileError as exc:
            log.warning("import: %s", exc)
            yield ImportResult(path=str(path), error=str(exc))
