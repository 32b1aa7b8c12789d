"""The long-running service: ``aggregator run``.

- **Schedule.** One APScheduler job per enabled feed. When a feed is next polled comes from its
  state in the archive (``feeds.next_check``: the interval after a success, the backoff after a
  failure, the server's Retry-After), so a restart keeps the schedule and the backoff. After each
  poll the job is moved to the ``next_check`` the pipeline stored; the job's own interval trigger
  is only the fallback for a run that never got that far (a bug, a missed run).
- **Weekly draft.** A cron job (``service.digest_weekday``/``digest_hour`` in ``general.timezone``)
  calls the digest builder for that week; an existing draft is never overwritten.
- **Threads.** Polls run on a small pool of daemon threads (``http.max_workers``), each with its own
  connection to the archive (a sqlite-utils ``Database`` belongs to the thread that opened it),
  sharing one HTTP client and one per-host limiter. Daemon threads, because a poll stuck on a
  silent server must not keep the process alive after shutdown (``concurrent.futures`` joins its
  workers at interpreter exit).
- **Signals.** Handlers only record the request; the main thread acts on it. SIGTERM/SIGINT: no new
  polls start; polls in flight get ``service.shutdown_grace`` to finish (and store what they
  fetched); those still running then are abandoned without writing anything (a transaction cut
  short is rolled back by SQLite). A second SIGTERM/SIGINT abandons them at once. SIGHUP reloads
  the configuration: added, removed and changed feeds take effect; a bad file is logged and the
  configuration in use kept.
- **One service per archive.** An exclusive ``flock`` on ``<archive>.lock``; one-shot commands
  never take it and keep working beside the service (WAL, ``BEGIN IMMEDIATE``).
- **Operations.** ``/healthz`` (JSON; 503 when the scheduler is not running or the archive cannot
  be written) and ``/metrics`` (Prometheus text) on ``service.listen``.
- **Gaps.** A poll that reveals a gap in the What's New feed (see ``pipeline.find_gap``) schedules
  a one-off repair job (``backfill.auto_repair``), as does a start with open gaps left from before.
  The job repairs every due open gap, one at a time, on a thread of its own: never two repairs at
  once, none started during shutdown, and one in progress stops between two pages when the
  service stops (the cursor is stored; the repair continues after the restart). A repair that
  fails is tried again after ``backfill.repair_retry``, ``backfill.repair_attempts`` times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import queue
import random
import signal
import socket
import sqlite3
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlite_utils import Database

from . import __version__, backfill, pipeline, store
from .config import ENV_LISTEN, WEEKDAYS, Config, Feed, ServiceSettings, format_duration, load_config, parse_listen
from .errors import AggregatorError, ConfigError, DraftExistsError, ServiceLockError, StoreError
from .fetch import HostLimiter, build_client
from .models import FeedState, PollResult

log = logging.getLogger(__name__)

DIGEST_JOB = "weekly-draft"
REPAIR_JOB = "repair-gaps"
FEED_JOB_PREFIX = "feed:"
WRITABLE_TIMEOUT_S = 2.0
"""How long the health check waits for the write lock before calling the archive not writable."""


class WriteDraft(Protocol):
    """The digest builder's entry point: write the draft of the week of ``date``, return its path."""

    def __call__(self, db: Database, config: Config, *, date: dt.date, force: bool = False) -> Path: ...


def default_write_draft() -> WriteDraft:
    """The digest builder's ``write_draft``, imported when first needed (the service starts
    without the templates loaded)."""
    from .digest import write_draft

    return write_draft


# --- schedule ----------------------------------------------------------------------------------


def feed_job_id(name: str) -> str:
    return FEED_JOB_PREFIX + name


def next_run_time(state: FeedState, now: dt.datetime) -> dt.datetime | None:
    """When the service polls a feed next, from its stored state; None: not at all (gone).

    A next check in the past means now: APScheduler would otherwise count a run due before a long
    stop as missed and skip it.
    """
    if state.gone:
        return None
    return max(t for t in (state.next_check, state.retry_after_until, now) if t is not None)


def weekly_trigger(settings: ServiceSettings, timezone: str) -> CronTrigger:
    """The weekly draft's schedule. ``day_of_week`` by name: ``from_crontab`` counts 0 as Monday."""
    return CronTrigger(
        day_of_week=settings.digest_weekday.lower()[:3],
        hour=settings.digest_hour,
        minute=0,
        timezone=zoneinfo.ZoneInfo(timezone),
    )


def last_digest_time(now: dt.datetime, settings: ServiceSettings, timezone: str) -> dt.datetime:
    """The latest scheduled draft time at or before ``now``, in the author's time zone.

    A run that starts late (a busy scheduler, within the misfire grace time) still drafts the
    week it was scheduled for, even past midnight.
    """
    tz = zoneinfo.ZoneInfo(timezone)
    local = now.astimezone(tz)
    weekday = WEEKDAYS.index(settings.digest_weekday.lower())
    day = local.date() - dt.timedelta(days=(local.weekday() - weekday) % 7)
    when = dt.datetime.combine(day, dt.time(settings.digest_hour), tzinfo=tz)
    if when > local:
        when -= dt.timedelta(days=7)
    return when


class _DaemonThreadPool:
    """The smallest pool APScheduler's ``BasePoolExecutor`` can drive, on daemon threads."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)


class _DaemonThreadExecutor(BasePoolExecutor):  # type: ignore[misc]
    def __init__(self, workers: int, name: str) -> None:
        super().__init__(_DaemonThreadPool(workers, name))


# --- the single-service lock -------------------------------------------------------------------


@contextlib.contextmanager
def service_lock(database: Path) -> Iterator[Path]:
    """Hold ``<database>.lock`` for as long as the service runs; fail at once if another holds it.

    An exclusive ``flock``: the kernel releases it when the process ends, however it ends, so a
    crash never leaves a stale lock. The file holds the pid, for the error message.
    """
    path = database.with_name(database.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ServiceLockError(f"cannot create the service lock {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise ServiceLockError(f"another aggregator service (pid {pid}) is already running on {database}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            # A lock file left behind names no process: `kill -HUP "$(cat ...)"` must not signal
            # whatever took the pid since. (A killed service leaves its pid; the flock is gone.)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


# --- metrics -----------------------------------------------------------------------------------


class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    Counters count what this process did; the per-feed gauges are read from the archive at each
    scrape, so they are right from the first scrape after a restart.
    """

    def feed_scheduled(self, feed: str) -> None:
        """Every per-feed series exists from the start, at zero: a dashboard or an alert on a rate
        sees the feed before its first event."""
        self.posts_stored.labels(feed=feed)
        self.posts_updated.labels(feed=feed)
        self.fetch_duration.labels(feed=feed)
        self.gaps_detected.labels(feed=feed)
        self.gap_items_recovered.labels(feed=feed)

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "aggregator_polls",
            "Feed polls, by feed, outcome (stored, unchanged, not-modified, gone, deferred, error) and HTTP status.",
            ["feed", "outcome", "status"],
            registry=self.registry,
        )
        self.fetch_duration = Histogram(
            "aggregator_fetch_duration_seconds",
            "Time to fetch and parse a feed.",
            ["feed"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.posts_stored = Counter(
            "aggregator_posts_stored",
            "New posts stored, by the feed that delivered them.",
            ["feed"],
            registry=self.registry,
        )
        self.posts_updated = Counter(
            "aggregator_posts_updated", "Stored posts whose content changed, by feed.", ["feed"], registry=self.registry
        )
        self.job_errors = Counter(
            "aggregator_job_errors", "Scheduled jobs that raised an unexpected error.", ["job"], registry=self.registry
        )
        self.jobs_missed = Counter(
            "aggregator_jobs_missed",
            "Scheduled runs that did not happen: too late (service.misfire_grace_time) or the previous run still going.",
            ["job", "reason"],
            registry=self.registry,
        )
        self.gaps_detected = Counter(
            "aggregator_gaps_detected",
            "Gaps detected in a feed: a poll that shared no item with what was stored and started after our newest.",
            ["feed"],
            registry=self.registry,
        )
        self.gap_items_recovered = Counter(
            "aggregator_gap_items_recovered",
            "Posts recovered by gap repairs from the What's New directory API, by feed.",
            ["feed"],
            registry=self.registry,
        )
        self.last_digest = Gauge(
            "aggregator_last_digest_timestamp_seconds",
            "When the last weekly draft was written (Unix time), and its path; at start, the newest draft in the drafts folder.",
            ["path"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(service))

    def count_poll(self, result: PollResult) -> None:
        self.polls.labels(feed=result.feed, outcome=result.outcome, status=str(result.status or "")).inc()
        if result.outcome != "deferred":
            self.fetch_duration.labels(feed=result.feed).observe(result.duration_ms / 1000)
        self.posts_stored.labels(feed=result.feed).inc(result.new)
        self.posts_updated.labels(feed=result.feed).inc(result.updated)
        if result.gap is not None:
            self.gaps_detected.labels(feed=result.feed).inc()

    def digest_written(self, path: Path, when: float) -> None:
        self.last_digest.clear()
        self.last_digest.labels(path=str(path)).set(when)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only: registering must not touch the archive

    def collect(self) -> Iterable[Metric]:
        running = GaugeMetricFamily("aggregator_scheduler_running", "1 while the scheduler runs, else 0.")
        running.add_metric([], 1.0 if self.service.scheduler_running else 0.0)
        yield running
        feeds = self.service.feed_status()
        failing = GaugeMetricFamily("aggregator_feeds_failing", "Enabled feeds whose last poll failed.")
        failing.add_metric([], sum(1 for f in feeds.values() if f["failing"]))
        failures = GaugeMetricFamily(
            "aggregator_feed_consecutive_failures",
            "Failed polls of a feed since its last success (drives the backoff).",
            labels=["feed"],
        )
        last_success = GaugeMetricFamily(
            "aggregator_feed_last_success_timestamp_seconds",
            "When a feed was last polled successfully (Unix time).",
            labels=["feed"],
        )
        next_check = GaugeMetricFamily(
            "aggregator_feed_next_check_timestamp_seconds",
            "When a feed is polled next (Unix time): interval, backoff or Retry-After.",
            labels=["feed"],
        )
        gaps_open = GaugeMetricFamily(
            "aggregator_feed_gaps_open",
            "Gaps of a feed not repaired: open (a repair may follow) or unrepairable.",
            labels=["feed"],
        )
        for name, status in feeds.items():
            failures.add_metric([name], status["consecutive_failures"])
            gaps_open.add_metric([name], len(status["gaps"]))
            for family, key in ((last_success, "last_success"), (next_check, "next_check")):
                if status[key]:
                    family.add_metric([name], dt.datetime.fromisoformat(status[key]).timestamp())
        yield from (failing, failures, last_success, next_check, gaps_open)


# --- the service -------------------------------------------------------------------------------


class Service:
    """The scheduler, its jobs and the operations endpoint. Drive it from the main thread:
    ``start()``, ``run_until_stopped()`` (handles reload and stop requests), ``stop()``.
    ``request_stop()`` and ``request_reload()`` only record the request: safe in signal handlers.
    """

    def __init__(
        self,
        config: Config,
        *,
        write_draft: WriteDraft | None = None,
        clock: pipeline.Clock = pipeline.utcnow,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._write_draft = write_draft
        self._clock = clock
        self._rng = rng or random.Random()
        self._transport = transport
        self._local = threading.local()
        self._main_db: Database | None = None
        self._client: httpx.Client | None = None
        self._limiter = HostLimiter(config.settings.http.per_host)
        self._scheduler: BackgroundScheduler | None = None
        self._endpoint: _Endpoint | None = None
        self.metrics = Metrics(self)
        self.last_digest: dict[str, str | None] | None = None
        # Requests, written by signal handlers: plain attributes, read by the main thread.
        self._stop_reason: str | None = None
        self._force_stop = False
        self._reload_requested = False
        # Shutdown state, read by the workers.
        self._stopping = threading.Event()
        self._abandoned = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        # Gap repairs: one at a time; a request while one runs makes it look again when done.
        self._repair_lock = threading.Lock()
        self._repair_running = False
        self._repair_again = False

    # --- requests (signal-handler safe) --------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        else:
            self._force_stop = True

    def request_reload(self) -> None:
        self._reload_requested = True

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def scheduler_running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running and not self._stopping.is_set()

    @property
    def endpoint_address(self) -> tuple[str, int] | None:
        if self._endpoint is None:
            return None
        host, port = self._endpoint.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Open the archive, bind the endpoint, schedule every enabled feed and the weekly draft."""
        config = self.config
        service = config.settings.service
        self._main_db = store.open_db(config.database)
        if service.listen:
            self._endpoint = _start_endpoint(self, service.listen, config)
        self._client = build_client(config.settings.http, transport=self._transport)
        self._init_last_digest(config)
        # The listener below reports missed and failed runs (and counts them); APScheduler's
        # executor lines for them would say it twice.
        logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
        self._scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={
                "default": _DaemonThreadExecutor(config.settings.http.max_workers, "poll"),
                "digest": _DaemonThreadExecutor(1, "digest"),
                "backfill": _DaemonThreadExecutor(1, "backfill"),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, round(service.misfire_grace_time)),
            },
        )
        self._scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
        feeds = [f for f in config.feeds if f.enabled]
        for feed in feeds:
            self._schedule_feed(feed)
        self._schedule_digest(config)
        self._scheduler.start()
        if config.settings.backfill.auto_repair and backfill.repairable_gaps(self._main_db, config, now=self._clock()):
            self.request_repair()
        endpoint = self.endpoint_address
        log.info(
            "service started (aggregator %s, pid %d): %d feeds, archive %s, endpoint %s, weekly draft %s",
            __version__,
            os.getpid(),
            len(feeds),
            config.database,
            f"http://{_url_host(endpoint[0])}:{endpoint[1]}" if endpoint else "off",
            self._digest_description(config),
        )

    def run_until_stopped(self) -> str:
        """Block until a stop is requested, reloading the configuration when asked; return the reason."""
        while self._stop_reason is None:
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            time.sleep(0.1)
        return self._stop_reason

    def stop(self) -> bool:
        """Stop polling and wait for polls in flight, up to ``service.shutdown_grace``.

        Returns False when polls had to be abandoned (nothing of them was written).
        """
        started = time.monotonic()
        if self.scheduler_running:
            log.info("stopping (%s): no new polls start", self._stop_reason or "stop requested")
        self._stopping.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = started + self.config.settings.service.shutdown_grace
        with self._idle:
            while self._busy and not self._force_stop and time.monotonic() < deadline:
                self._idle.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            abandoned = self._busy
            self._abandoned.set()
        if abandoned:
            log.warning(
                "abandoned %d poll(s) still running after %s: nothing of them was written; they run again after the restart",
                abandoned,
                format_duration(time.monotonic() - started),
            )
        if self._endpoint is not None:
            self._endpoint.shutdown()
            self._endpoint.server_close()
            self._endpoint = None
        if self._client is not None and not abandoned:
            self._client.close()
            self._client = None
        if self._main_db is not None:
            self._main_db.close()
            self._main_db = None
            log.info("stopped in %.1f s", time.monotonic() - started)
        return not abandoned

    # --- configuration -------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the configuration file; apply the feed list and the draft schedule."""
        old = self.config
        try:
            new = load_config(old.path, database=old.database)
        except AggregatorError as exc:
            log.error("reload failed, keeping the configuration in use: %s", exc)
            return
        self.config = new
        before = {f.name: f for f in old.feeds if f.enabled}
        after = {f.name: f for f in new.feeds if f.enabled}
        removed = sorted(before.keys() - after.keys())
        added = sorted(after.keys() - before.keys())
        changed = sorted(
            name
            for name in after.keys() & before.keys()
            if after[name] != before[name]
            or after[name].poll_interval(new.settings.poll) != before[name].poll_interval(old.settings.poll)
        )
        assert self._scheduler is not None
        for name in removed:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(feed_job_id(name))
        for name in added:
            self._schedule_feed(after[name])
        for name in changed:
            self._schedule_feed(
                after[name], before=before[name], old_interval=before[name].poll_interval(old.settings.poll)
            )
        if _digest_settings(new) != _digest_settings(old):
            self._schedule_digest(new)
        log.info(
            "configuration reloaded from %s: %d feeds; added: %s; removed: %s; changed: %s; weekly draft %s",
            new.path,
            len(after),
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
            ", ".join(changed) or "none",
            self._digest_description(new),
        )
        restart = [
            key
            for key, a, b in (
                ("[http]", old.settings.http, new.settings.http),
                ("general.log_level", old.settings.general.log_level, new.settings.general.log_level),
                ("service.listen", old.settings.service.listen, new.settings.service.listen),
                (
                    "service.misfire_grace_time",
                    old.settings.service.misfire_grace_time,
                    new.settings.service.misfire_grace_time,
                ),
            )
            if a != b
        ]
        if restart:
            log.warning("changed settings that take effect only after a restart: %s", ", ".join(restart))

    def _schedule_feed(self, feed: Feed, *, before: Feed | None = None, old_interval: float | None = None) -> None:
        """Add or replace a feed's job, due when its stored state says.

        ``before``: the feed as it was configured until a reload. A changed URL makes the feed due
        now; its state is reset by the poll itself (``ensure_feed``), never from here: a poll of
        the old URL may still be in flight, and polls of one feed never overlap.
        """
        assert self._scheduler is not None and self._main_db is not None
        db = self._main_db
        now = self._clock()
        interval = feed.poll_interval(self.config.settings.poll)
        when: dt.datetime | None
        if before is not None and before.url != feed.url:
            when = now
        else:
            if before is None:
                state = store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now)
            else:
                state = store.feed_state(db, feed.name) or FeedState(name=feed.name, url=feed.url)
            if old_interval not in (None, interval) and state.last_polled and not state.consecutive_failures:
                # A new interval counts from the last poll, not from the next check the old one set.
                state = dataclasses.replace(state, next_check=state.last_polled + dt.timedelta(seconds=interval))
                with store.write_transaction(db):
                    db.execute(
                        "UPDATE feeds SET next_check = ? WHERE name = ?", [store.iso(state.next_check), feed.name]
                    )
            when = next_run_time(state, now)
        self._scheduler.add_job(
            self._poll_job,
            IntervalTrigger(seconds=interval),
            args=[feed.name],
            id=feed_job_id(feed.name),
            name=f"poll {feed.name}",
            next_run_time=when,
            replace_existing=True,
        )
        self.metrics.feed_scheduled(feed.name)
        log.debug("feed=%s next poll %s", feed.name, store.iso(when) if when else "never (gone)")

    def _schedule_digest(self, config: Config) -> None:
        assert self._scheduler is not None
        settings = config.settings.service
        if not settings.digest_enabled:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(DIGEST_JOB)
            return
        self._scheduler.add_job(
            self.write_weekly_draft,
            weekly_trigger(settings, config.settings.general.timezone),
            id=DIGEST_JOB,
            name="weekly draft",
            executor="digest",
            replace_existing=True,
        )

    def _digest_description(self, config: Config) -> str:
        settings = config.settings.service
        if not settings.digest_enabled:
            return "off"
        return f"{settings.digest_weekday.lower()}s at {settings.digest_hour:02d}:00 {config.settings.general.timezone}"

    # --- jobs (worker threads) -----------------------------------------------------------------

    def _poller(self, config: Config) -> pipeline.Poller:
        """What a poll or a repair needs: the configuration in use, the shared client and limiter."""
        assert self._client is not None
        return pipeline.Poller(
            config=config,
            client=self._client,
            limiter=self._limiter,
            tagger=pipeline.tagger_for(config),
            now=self._clock,
            rng=self._rng,
        )

    def _db(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = store.open_db(self.config.database)
        return db

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _poll_job(self, name: str) -> None:
        # Busy first, then the stop check: stop() sets the flag before it counts busy jobs, so
        # every poll either sees the flag or is waited for.
        with self._working():
            if self._stopping.is_set():
                return
            config = self.config
            feed = next((f for f in config.feeds if f.name == name and f.enabled), None)
            if feed is None:
                return  # removed by a reload while this run waited for a worker
            result = pipeline.poll_feed(
                self._db(), self._poller(config), feed, may_write=lambda: not self._abandoned.is_set()
            )
            if result is None:
                return
            self.metrics.count_poll(result)
        self._reschedule(result)
        if result.gap is not None and result.gap.status == "open" and self.config.settings.backfill.auto_repair:
            self.request_repair()

    def _reschedule(self, result: PollResult) -> None:
        """Move the feed's job to the next check the poll stored (to the second in the archive,
        exact here); a gone feed's job is paused. Without a next check (storing failed), the
        job's interval trigger has already set the next run."""
        if self._stopping.is_set():
            return
        assert self._scheduler is not None
        job = feed_job_id(result.feed)
        with contextlib.suppress(JobLookupError):
            if result.outcome == "gone" or (result.outcome == "deferred" and result.next_check is None):
                self._scheduler.pause_job(job)
                log.warning(
                    "feed=%s is gone (HTTP 410): no longer polled; change its URL and reload to resume", result.feed
                )
            elif result.next_check is not None:
                self._scheduler.modify_job(job, next_run_time=max(result.next_check, self._clock()))

    def request_repair(self, when: dt.datetime | None = None) -> None:
        """Run the gap-repair job now (or at ``when``); if it is running, it looks again when done."""
        if self._stopping.is_set() or self._scheduler is None:
            return
        with self._repair_lock:
            if self._repair_running and when is None:
                self._repair_again = True
                return
        # Two instances allowed: a request landing while the last one is returning must not be
        # dropped as "max instances reached"; the lock above keeps repairs one at a time.
        self._scheduler.add_job(
            self.repair_gaps,
            DateTrigger(run_date=when or self._clock()),
            id=REPAIR_JOB,
            name="repair gaps",
            executor="backfill",
            replace_existing=True,
            max_instances=2,
        )

    def repair_gaps(self) -> int:
        """The repair job: backfill every due open gap of a What's New feed; returns the posts recovered."""
        with self._repair_lock:
            if self._repair_running:
                self._repair_again = True
                return 0
            self._repair_running = True
        recovered = 0
        try:
            while True:
                recovered += self._repair_due_gaps()
                with self._repair_lock:
                    if not self._repair_again or self._stopping.is_set():
                        self._repair_running = False
                        break
                    self._repair_again = False
        except BaseException:
            with self._repair_lock:
                self._repair_running = False
            raise
        return recovered

    def _repair_due_gaps(self) -> int:
        recovered = 0
        with self._working():
            config = self.config
            if self._stopping.is_set() or self._client is None:
                return 0
            db = self._db()
            for gap in backfill.repairable_gaps(db, config, now=self._clock()):
                if self._stopping.is_set():
                    break
                log.info("feed=%s repairing the gap from %s to %s", gap.feed, store.iso(gap.start), store.iso(gap.end))
                outcome = backfill.repair_gap(
                    db, self._poller(config), gap, sleep=self._stopping.wait, should_stop=self._stopping.is_set
                )
                recovered += outcome.recovered
                self.metrics.gap_items_recovered.labels(feed=gap.feed).inc(outcome.recovered)
            retry = [
                t
                for g in store.gaps(db, statuses=("open",))
                if (t := store.gap_next_attempt(db, g.id)) is not None and t > self._clock()
            ]
        if retry and not self._stopping.is_set():
            self.request_repair(min(retry))
        return recovered

    def write_weekly_draft(self) -> Path | None:
        """The weekly job: draft the week of the latest scheduled time; never overwrite a draft.

        Returns the path written, or None (the draft exists, or a failure: logged).
        """
        with self._working():
            if self._stopping.is_set():
                return None
            config = self.config
            day = last_digest_time(self._clock(), config.settings.service, config.settings.general.timezone).date()
            write = self._write_draft or default_write_draft()
            try:
                path = write(self._db(), config, date=day)
            except DraftExistsError as exc:
                log.info("weekly draft for %s not written: %s (an existing draft is never overwritten)", day, exc)
                return None
            except AggregatorError as exc:
                log.error("weekly draft for %s failed: %s", day, exc)
                return None
        self.last_digest = {"path": str(path), "written": store.iso(self._clock())}
        self.metrics.digest_written(path, time.time())
        log.info("weekly draft for %s written to %s", day, path, extra={"draft": str(path)})
        return path

    def _on_job_event(self, event: JobEvent) -> None:
        job = event.job_id
        if event.code == EVENT_JOB_MISSED:
            self.metrics.jobs_missed.labels(job=job, reason="late").inc()
            late = dt.datetime.now(dt.UTC) - event.scheduled_run_time
            log.warning(
                "job %s missed its run at %s: it could start only %.1f s late, more than service.misfire_grace_time allows",
                job,
                store.iso(event.scheduled_run_time),
                late.total_seconds(),
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:  # APScheduler logs this one itself
            self.metrics.jobs_missed.labels(job=job, reason="still-running").inc()
        elif event.code == EVENT_JOB_ERROR:
            self.metrics.job_errors.labels(job=job).inc()
            log.error("job %s failed: %r\n%s", job, event.exception, event.traceback)

    def _init_last_digest(self, config: Config) -> None:
        with contextlib.suppress(OSError, ValueError):
            mtime, path = max((p.stat().st_mtime, p) for p in Path(config.settings.general.drafts_dir).glob("*.md"))
            self.last_digest = {"path": str(path), "written": store.iso(dt.datetime.fromtimestamp(mtime, dt.UTC))}
            self.metrics.digest_written(path, mtime)

    # --- health --------------------------------------------------------------------------------

    def feed_status(self) -> dict[str, dict[str, Any]]:
        """Each enabled feed's state, as the archive has it now."""
        gaps: dict[str, list[dict[str, object]]] = {}
        try:
            db = store.open_db(self.config.database, readonly=True)
            try:
                rows = store.feed_rows(db)
                for gap in store.gaps(db):
                    gaps.setdefault(gap.feed, []).append(gap.as_json())
            finally:
                db.close()
        except (sqlite3.Error, StoreError) as exc:
            log.warning("cannot read the feed states: %s", exc)
            rows = {}
        out = {}
        for feed in self.config.feeds:
            if not feed.enabled:
                continue
            row = rows.get(feed.name, {})
            failures = row.get("consecutive_failures") or 0
            out[feed.name] = {
                "last_status": row.get("last_status"),
                "last_outcome": row.get("last_outcome"),
                "last_error": row.get("last_error"),
                "last_polled": row.get("last_polled"),
                "last_success": row.get("last_success"),
                "consecutive_failures": failures,
                "next_check": row.get("next_check"),
                "gone": bool(row.get("gone")),
                "failing": failures > 0,
                "gaps": gaps.get(feed.name, []),
            }
        return out

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the ``/healthz`` document). A failing feed is reported, not unhealthy."""
        problems = []
        running = self.scheduler_running
        if not running:
            problems.append("the scheduler is not running")
        writable, why = database_writable(self.config.database)
        if not writable:
            problems.append(f"the archive cannot be written: {why}")
        body = {
            "status": "unhealthy" if problems else "ok",
            "problems": problems,
            "version": __version__,
            "scheduler_running": running,
            "database_writable": writable,
            "last_digest": self.last_digest,
            "feeds": self.feed_status(),
        }
        return not problems, body


def database_writable(path: Path, *, timeout: float = WRITABLE_TIMEOUT_S) -> tuple[bool, str]:
    """Can the write lock of the archive be taken within ``timeout``? (bool, why not)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return False, str(exc)
    return True, ""


def _digest_settings(config: Config) -> tuple[object, ...]:
    s = config.settings.service
    return (s.digest_enabled, s.digest_weekday.lower(), s.digest_hour, config.settings.general.timezone)


# --- the endpoint ------------------------------------------------------------------------------


class _Endpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.service = service
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Endpoint
    server_version = f"aggregator/{__version__}"
    _head_only = False
    """A HEAD request: the headers of the GET, no body."""

    def do_HEAD(self) -> None:
        self._head_only = True
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        service = self.server.service
        if path == "/healthz":
            healthy, body = service.health()
            self._send(200 if healthy else 503, "application/json", json.dumps(body, indent=1).encode())
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, service.metrics.exposition())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("endpoint: " + format, *args)


def _start_endpoint(service: Service, listen: str, config: Config) -> _Endpoint:
    try:
        server = _Endpoint(parse_listen(listen), service)
    except OSError as exc:
        from_env = os.environ.get(ENV_LISTEN) == listen
        raise ConfigError(
            f"cannot listen on {listen}: {exc.strerror or exc}",
            path=f"${ENV_LISTEN}" if from_env else str(config.path),
            key=None if from_env else "service.listen",
        ) from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="endpoint", daemon=True).start()
    return server


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def health_url(listen: str) -> str:
    """The ``/healthz`` URL of a service listening on ``listen`` (any-address -> loopback)."""
    if not listen:
        raise ConfigError("the health endpoint is off (service.listen is empty): set it, or give --url")
    host, port = parse_listen(listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{_url_host(host)}:{port}/healthz"


def check_health(url: str, *, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask a running service whether it is healthy: (healthy, a one-line reason)."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return False, f"no answer from {url}: {str(exc) or type(exc).__name__}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        return False, f"HTTP {response.status_code} from {url}: not an aggregator health endpoint"
    if response.status_code == 200 and body["status"] == "ok":
        failing = sorted(name for name, feed in body.get("feeds", {}).items() if feed.get("failing"))
        gapped = sorted(name for name, feed in body.get("feeds", {}).items() if feed.get("gaps"))
        notes = (
            [f"{len(failing)} feed{'' if len(failing) == 1 else 's'} failing: {', '.join(failing)}"] if failing else []
        )
        notes += [f"gaps in {', '.join(gapped)} (see aggregator feeds)"] if gapped else []
        return True, "healthy" + (f" ({'; '.join(notes)})" if notes else "")
    return False, f"HTTP {response.status_code}, {body['status']}: " + (
        "; ".join(body.get("problems") or []) or "no reason given"
    )


# --- the entry point ---------------------------------------------------------------------------


def run_service(config: Config, *, write_draft: WriteDraft | None = None) -> None:
    """Run the service until SIGTERM or SIGINT (main thread only). Raises ServiceLockError when another
    service holds the archive, ConfigError when the endpoint cannot listen."""
    with service_lock(config.database):
        service = Service(config, write_draft=write_draft)

        def on_stop(signum: int, _frame: object) -> None:
            service.request_stop(signal.Signals(signum).name)

        def on_reload(_signum: int, _frame: object) -> None:
            service.request_reload()

        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
            signal.SIGINT: signal.signal(signal.SIGINT, on_stop),
            signal.SIGHUP: signal.signal(signal.SIGHUP, on_reload),
        }
        try:
            service.start()
            service.run_until_stopped()
        finally:
            service.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
