"""The long-running service: ``aggregator run``.

The package, by concern:

- ``schedule``: APScheduler and its jobs (one per enabled feed, the weekly draft, the gap
  repair); when each feed is polled next, from its state in the archive; what a reload changes;
- ``repair``: gap repairs, one at a time, on a thread of their own;
- ``health``: the Prometheus metrics and the ``/healthz`` document (the feeds through
  ``aggregator.status``, as ``aggregator feeds`` reads them);
- ``endpoint``: ``/healthz`` and ``/metrics`` on ``service.listen``, and ``aggregator healthcheck``;
- ``lock``: one service per archive, whatever path names it;
- here: ``Service``, its life cycle (start, run, reload, stop) and its two jobs (a feed's poll,
  the weekly draft), and ``run_service``, which holds the lock and wires the signals.

How it behaves:

- **Threads.** Polls run on a small pool of daemon threads (``http.max_workers``), each with its
  own connection to the archive (a sqlite-utils ``Database`` belongs to the thread that opened
  it), sharing one HTTP client and one per-host limiter.
- **Signals.** Handlers only record the request; the main thread acts on it. SIGTERM/SIGINT: no new
  polls start; polls in flight get ``service.shutdown_grace`` to finish (and store what they
  fetched); those still running then are abandoned without writing anything (a transaction cut
  short is rolled back by SQLite). A second SIGTERM/SIGINT abandons them at once. SIGHUP reloads
  the configuration: added, removed and changed feeds take effect; a bad file is logged and the
  configuration in use kept.
- **Start.** A service that cannot start (another one holds the archive, the endpoint's port is
  taken, the archive cannot be opened) logs why, releases what it took and raises; it never
  logs a stop it did not make.
- **Weekly draft.** Written for the week of the scheduled time (a late run still drafts its own
  week); an existing draft is never overwritten.
- **One service per archive**; one-shot commands never take the lock and keep working beside the
  service (WAL, ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlite_utils import Database

from .. import __version__, backfill, pipeline, status, store
from ..config import Config, format_duration, load_config
from ..errors import AggregatorError, DraftExistsError, StoreError
from ..fetch import HostLimiter, build_client
from .endpoint import Endpoint, check_health, health_url, start_endpoint
from .health import WRITABLE_TIMEOUT_S, Metrics, database_writable, health_document
from .lock import lock_path, service_lock
from .repair import GapRepairs, RepairRound, repair_due_gaps
from .schedule import (
    DIGEST_JOB,
    FEED_JOB_PREFIX,
    REPAIR_JOB,
    ConfigChange,
    Schedule,
    config_change,
    digest_description,
    feed_job_id,
    last_digest_time,
    next_run_time,
    weekly_trigger,
)

__all__ = [
    "DIGEST_JOB",
    "FEED_JOB_PREFIX",
    "REPAIR_JOB",
    "WRITABLE_TIMEOUT_S",
    "ConfigChange",
    "Metrics",
    "Service",
    "WriteDraft",
    "check_health",
    "config_change",
    "database_writable",
    "default_write_draft",
    "feed_job_id",
    "health_url",
    "last_digest_time",
    "lock_path",
    "next_run_time",
    "run_service",
    "service_lock",
    "weekly_trigger",
]

log = logging.getLogger(__name__)


class WriteDraft(Protocol):
    """The digest builder's entry point: write the draft of the week of ``date``, return its path."""

    def __call__(self, db: Database, config: Config, *, date: dt.date, force: bool = False) -> Path: ...


def default_write_draft() -> WriteDraft:
    """The digest builder's ``write_draft``, imported when first needed (the service starts
    without the templates loaded)."""
    from ..digest import write_draft

    return write_draft


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
        self._endpoint: Endpoint | None = None
        self._started = False
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
        self.metrics = Metrics(scheduler_running=lambda: self.scheduler_running, feeds=self.feed_status)
        self.schedule = Schedule(
            config, clock=clock, metrics=self.metrics, poll=self._poll_job, write_draft=self.write_weekly_draft
        )
        self.repairs = GapRepairs(self.schedule, repair_round=self._repair_round, stopping=self._stopping, clock=clock)

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
        return self.schedule.running and not self._stopping.is_set()

    @property
    def endpoint_address(self) -> tuple[str, int] | None:
        if self._endpoint is None:
            return None
        host, port = self._endpoint.server_address[:2]
        return str(host), int(port)

    def start(self, *, paused: bool = False) -> None:
        """Open the archive, bind the endpoint, schedule every enabled feed and the weekly draft.

        The archive first: it is migrated before ``/healthz`` can read it. ``paused``: schedule
        every job but run none (``Schedule.start``). Raises StoreError when the archive cannot be
        opened, ConfigError when the endpoint cannot listen: whatever was taken by then is
        released, and nothing is logged as stopped.
        """
        config = self.config
        settings = config.settings.service
        try:
            self._main_db = store.open_db(config.database)
            if settings.listen:
                self._endpoint = start_endpoint(self, settings.listen, config)
            self._client = build_client(config.settings.http, transport=self._transport)
            self._init_last_digest(config)
            feeds = [f for f in config.feeds if f.enabled]
            for feed in feeds:
                self.schedule.add_feed(self._main_db, config, feed)
            self.schedule.set_digest(config)
            self.schedule.start(paused=paused)
        except BaseException:
            self._release(keep_client=False)
            raise
        self._started = True
        if config.settings.backfill.auto_repair and backfill.repairable_gaps(self._main_db, config, now=self._clock()):
            self.repairs.request()
        log.info(
            "service started (aggregator %s, pid %d): %d feeds, archive %s, endpoint %s, weekly draft %s",
            __version__,
            os.getpid(),
            len(feeds),
            config.database,
            self._endpoint.url if self._endpoint else "off",
            digest_description(config),
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
        self.schedule.shutdown()
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
        # A poll abandoned may still be using the client: it is left to the process's end.
        self._release(keep_client=bool(abandoned))
        if self._started:
            self._started = False
            log.info("stopped in %.1f s", time.monotonic() - started)
        return not abandoned

    def _release(self, *, keep_client: bool) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None
        if self._client is not None and not keep_client:
            self._client.close()
            self._client = None
        if self._main_db is not None:
            self._main_db.close()
            self._main_db = None

    def reload(self) -> None:
        """Re-read the configuration file; apply the feed list and the draft schedule."""
        old = self.config
        try:
            new = load_config(old.path, database=old.database)
        except AggregatorError as exc:
            log.error("reload failed, keeping the configuration in use: %s", exc)
            return
        change = config_change(old, new)
        assert self._main_db is not None
        self.config = new
        self.schedule.apply(self._main_db, change, old, new)
        log.info(
            "configuration reloaded from %s: %d feeds; added: %s; removed: %s; changed: %s; weekly draft %s",
            new.path,
            sum(1 for f in new.feeds if f.enabled),
            ", ".join(change.added) or "none",
            ", ".join(change.removed) or "none",
            ", ".join(change.changed) or "none",
            digest_description(new),
        )
        if change.restart:
            log.warning("changed settings that take effect only after a restart: %s", ", ".join(change.restart))

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
        if self._stopping.is_set():
            return
        self.schedule.reschedule(result)
        if result.gap is not None and result.gap.status == "open" and self.config.settings.backfill.auto_repair:
            self.repairs.request()

    def _repair_round(self) -> RepairRound:
        with self._working():
            if self._stopping.is_set() or self._client is None:
                return RepairRound(0, None)
            return repair_due_gaps(self._db(), self._poller(self.config), stopping=self._stopping, metrics=self.metrics)

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

    def _init_last_digest(self, config: Config) -> None:
        with contextlib.suppress(OSError, ValueError):
            mtime, path = max((p.stat().st_mtime, p) for p in Path(config.settings.general.drafts_dir).glob("*.md"))
            self.last_digest = {"path": str(path), "written": store.iso(dt.datetime.fromtimestamp(mtime, dt.UTC))}
            self.metrics.digest_written(path, mtime)

    # --- health --------------------------------------------------------------------------------

    def feed_status(self) -> list[status.FeedStatus]:
        """The enabled feeds as the archive has them now (``aggregator.status``); when the archive
        cannot be read, the feeds without their state (logged)."""
        try:
            return status.read_feed_statuses(self.config, enabled_only=True)
        except (sqlite3.Error, StoreError) as exc:
            log.warning("cannot read the feed states: %s", exc)
            return status.feed_statuses(self.config, None, enabled_only=True)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the ``/healthz`` document). A failing feed is reported, not unhealthy."""
        return health_document(
            scheduler_running=self.scheduler_running,
            database=self.config.database,
            last_digest=self.last_digest,
            feeds=self.feed_status(),
        )

    def exposition(self) -> bytes:
        """``/metrics``: the Prometheus text format."""
        return self.metrics.exposition()


def run_service(config: Config, *, write_draft: WriteDraft | None = None) -> None:
    """Run the service until SIGTERM or SIGINT (main thread only). Raises ServiceLockError when another
    service holds the archive, ConfigError when the endpoint cannot listen (logged as a start that failed)."""
    started = False
    try:
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
                started = True
                service.run_until_stopped()
            finally:
                service.stop()
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
    except AggregatorError as exc:
        if not started:
            log.error("service could not start: %s", exc)
        raise
