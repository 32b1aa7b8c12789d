"""How the service is doing: its Prometheus metrics and the ``/healthz`` document.

Healthy means the scheduler runs and the archive can be written (its write lock can be taken
within ``WRITABLE_TIMEOUT_S``). A failing feed is reported, never unhealthy: feeds fail and
recover by themselves. Both documents read the feeds through ``aggregator.status``, the same
function ``aggregator feeds`` uses, at the moment they are asked: right from the first scrape
after a restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..models import PollResult
from ..status import FeedStatus

WRITABLE_TIMEOUT_S = 2.0
"""How long the health check waits for the write lock before calling the archive not writable."""


class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    Counters count what this process did; the per-feed gauges are read from the archive at each
    scrape (``feeds()``), as is ``scheduler_running()``.
    """

    def __init__(self, *, scheduler_running: Callable[[], bool], feeds: Callable[[], list[FeedStatus]]) -> None:
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
        self.registry.register(_StateCollector(scheduler_running, feeds))

    def feed_scheduled(self, feed: str) -> None:
        """Every per-feed series exists from the start, at zero: a dashboard or an alert on a rate
        sees the feed before its first event."""
        self.posts_stored.labels(feed=feed)
        self.posts_updated.labels(feed=feed)
        self.fetch_duration.labels(feed=feed)
        self.gaps_detected.labels(feed=feed)
        self.gap_items_recovered.labels(feed=feed)

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
    def __init__(self, scheduler_running: Callable[[], bool], feeds: Callable[[], list[FeedStatus]]) -> None:
        self._scheduler_running = scheduler_running
        self._feeds = feeds

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only: registering must not touch the archive

    def collect(self) -> Iterable[Metric]:
        running = GaugeMetricFamily("aggregator_scheduler_running", "1 while the scheduler runs, else 0.")
        running.add_metric([], 1.0 if self._scheduler_running() else 0.0)
        yield running
        feeds = self._feeds()
        failing = GaugeMetricFamily("aggregator_feeds_failing", "Enabled feeds whose last poll failed.")
        failing.add_metric([], sum(1 for f in feeds if f.failing))
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
        for feed in feeds:
            failures.add_metric([feed.name], feed.consecutive_failures)
            gaps_open.add_metric([feed.name], len(feed.gaps))
            if feed.last_success is not None:
                last_success.add_metric([feed.name], feed.last_success.timestamp())
            if feed.next_check is not None:
                next_check.add_metric([feed.name], feed.next_check.timestamp())
        yield from (failing, failures, last_success, next_check, gaps_open)


def health_document(
    *,
    scheduler_running: bool,
    database: Path,
    last_digest: dict[str, str | None] | None,
    feeds: list[FeedStatus],
) -> tuple[bool, dict[str, Any]]:
    """(healthy, the ``/healthz`` document). A failing feed is reported, not unhealthy."""
    problems = []
    if not scheduler_running:
        problems.append("the scheduler is not running")
    writable, why = database_writable(database)
    if not writable:
        problems.append(f"the archive cannot be written: {why}")
    body = {
        "status": "unhealthy" if problems else "ok",
        "problems": problems,
        "version": __version__,
        "scheduler_running": scheduler_running,
        "database_writable": writable,
        "last_digest": last_digest,
        "feeds": {feed.name: feed.as_json() for feed in feeds},
    }
    return not problems, body


def database_writable(path: Path, *, timeout: float | None = None) -> tuple[bool, str]:
    """Can the write lock of the archive be taken within ``timeout`` (default ``WRITABLE_TIMEOUT_S``)?
    (bool, why not)."""
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw",
            uri=True,
            timeout=WRITABLE_TIMEOUT_S if timeout is None else timeout,
            isolation_level=None,
        )
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return False, str(exc)
    return True, ""
