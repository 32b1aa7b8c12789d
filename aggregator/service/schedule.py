"""The service's schedule: APScheduler and its jobs, one per enabled feed, the weekly draft, the gap repair.

- **Feeds.** When a feed is polled next comes from its state in the archive (``feeds.next_check``:
  the interval after a success, the backoff after a failure, the server's Retry-After), so a
  restart keeps the schedule and the backoff. After each poll the job moves to the next check
  the pipeline stored (``Schedule.reschedule``); the job's own interval trigger is only the
  fallback for a run that never got that far (a bug, a missed run).
- **Reloads.** ``config_change`` compares two configurations; ``Schedule.apply`` adds, removes
  and replaces the feeds' jobs and the weekly draft's. A feed whose URL changed is due at once; a
  feed whose interval changed is next due one new interval after its last poll (stored through
  ``store.set_next_check``, so ``aggregator feeds`` shows it).
- **Weekly draft.** A cron job on ``service.digest_weekday`` at ``service.digest_hour`` in
  ``general.timezone``, by weekday name (``CronTrigger.from_crontab`` counts 0 as Monday).
- **Threads.** Jobs run on daemon threads (``http.max_workers`` for polls, one for the draft, one
  for repairs): a poll stuck on a silent server must not keep the process alive after shutdown
  (``concurrent.futures`` joins its workers at interpreter exit).
- **Missed and failed runs** are logged and counted here, once (APScheduler's own executor lines
  for them are silenced).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import queue
import threading
import zoneinfo
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlite_utils import Database

from .. import store
from ..config import WEEKDAYS, Config, Feed, ServiceSettings
from ..models import Clock, FeedState, PollResult, utcnow
from .health import Metrics

log = logging.getLogger(__name__)

DIGEST_JOB = "weekly-draft"
REPAIR_JOB = "repair-gaps"
FEED_JOB_PREFIX = "feed:"


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


def digest_description(config: Config) -> str:
    """The weekly draft's schedule as the log says it: ``mondays at 09:00 UTC``, or ``off``."""
    settings = config.settings.service
    if not settings.digest_enabled:
        return "off"
    return f"{settings.digest_weekday.lower()}s at {settings.digest_hour:02d}:00 {config.settings.general.timezone}"


# --- reloads -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfigChange:
    """What a reload changes: the enabled feeds added, removed and changed (by name), whether the
    weekly draft's schedule changed, and the settings that take effect only after a restart."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    digest: bool = False
    restart: tuple[str, ...] = ()


def config_change(old: Config, new: Config) -> ConfigChange:
    """Compare the configuration in use with the one a reload read."""
    before = {f.name: f for f in old.feeds if f.enabled}
    after = {f.name: f for f in new.feeds if f.enabled}
    changed = (
        name
        for name in after.keys() & before.keys()
        if after[name] != before[name]
        or after[name].poll_interval(new.settings.poll) != before[name].poll_interval(old.settings.poll)
    )
    restart = (
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
    )
    return ConfigChange(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(changed)),
        digest=_digest_settings(new) != _digest_settings(old),
        restart=tuple(restart),
    )


def _digest_settings(config: Config) -> tuple[object, ...]:
    s = config.settings.service
    return (s.digest_enabled, s.digest_weekday.lower(), s.digest_hour, config.settings.general.timezone)


# --- the scheduler -----------------------------------------------------------------------------


class Schedule:
    """The scheduler with the service's jobs on it.

    ``poll(name)`` is a feed's job, ``write_draft()`` the weekly one; both run on the scheduler's
    threads. ``start(paused=True)`` schedules every job but runs none: the jobs' next run times
    can be read (``next_runs``) and the jobs run by hand, in a clock of one's own (the tests).
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        metrics: Metrics,
        poll: Callable[[str], object],
        write_draft: Callable[[], object],
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._poll = poll
        self._write_draft = write_draft
        self.scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={
                "default": _DaemonThreadExecutor(config.settings.http.max_workers, "poll"),
                "digest": _DaemonThreadExecutor(1, "digest"),
                "backfill": _DaemonThreadExecutor(1, "backfill"),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, round(config.settings.service.misfire_grace_time)),
            },
        )
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self, *, paused: bool = False) -> None:
        # The listener reports missed and failed runs (and counts them); APScheduler's executor
        # lines for them would say it twice.
        logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
        self.scheduler.start(paused=paused)

    def shutdown(self) -> None:
        """Start no more jobs; jobs running go on (the service waits for them, or abandons them)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """Each job's next run time, by job id (None: paused, as a gone feed's job is)."""
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    # --- feeds ---------------------------------------------------------------------------------

    def add_feed(
        self, db: Database, config: Config, feed: Feed, *, before: Feed | None = None, old_interval: float | None = None
    ) -> None:
        """Add or replace a feed's job, due when its stored state says.

        ``before``, ``old_interval``: the feed as configured until a reload, and its interval then.
        A changed URL makes the feed due now; its state is reset by the poll itself
        (``ensure_feed``), never from here: a poll of the old URL may still be in flight, and
        polls of one feed never overlap. A changed interval counts from the last poll, not from
        the next check the old interval set.
        """
        now = self._clock()
        interval = feed.poll_interval(config.settings.poll)
        when: dt.datetime | None
        if before is not None and before.url != feed.url:
            when = now
        else:
            if before is None:
                state = store.ensure_feed(db, name=feed.name, url=feed.url, kind=feed.kind, title=feed.title, now=now)
            else:
                state = store.feed_state(db, feed.name) or FeedState(name=feed.name, url=feed.url)
            if old_interval not in (None, interval) and state.last_polled and not state.consecutive_failures:
                state = dataclasses.replace(state, next_check=state.last_polled + dt.timedelta(seconds=interval))
                store.set_next_check(db, feed.name, state.next_check)
            when = next_run_time(state, now)
        self.scheduler.add_job(
            self._poll,
            IntervalTrigger(seconds=interval),
            args=[feed.name],
            id=feed_job_id(feed.name),
            name=f"poll {feed.name}",
            next_run_time=when,
            replace_existing=True,
        )
        self._metrics.feed_scheduled(feed.name)
        log.debug("feed=%s next poll %s", feed.name, store.iso(when) if when else "never (gone)")

    def remove_feed(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(feed_job_id(name))

    def reschedule(self, result: PollResult) -> None:
        """Move the feed's job to the next check the poll stored (to the second in the archive,
        exact here); a gone feed's job is paused. Without a next check (storing failed), the
        job's interval trigger has already set the next run."""
        job = feed_job_id(result.feed)
        with contextlib.suppress(JobLookupError):
            if result.outcome == "gone" or (result.outcome == "deferred" and result.next_check is None):
                self.scheduler.pause_job(job)
                log.warning(
                    "feed=%s is gone (HTTP 410): no longer polled; change its URL and reload to resume", result.feed
                )
            elif result.next_check is not None:
                self.scheduler.modify_job(job, next_run_time=max(result.next_check, self._clock()))

    # --- the weekly draft, repairs, reloads ----------------------------------------------------

    def set_digest(self, config: Config) -> None:
        """Schedule the weekly draft as ``config`` says (or not at all)."""
        settings = config.settings.service
        if not settings.digest_enabled:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(DIGEST_JOB)
            return
        self.scheduler.add_job(
            self._write_draft,
            weekly_trigger(settings, config.settings.general.timezone),
            id=DIGEST_JOB,
            name="weekly draft",
            executor="digest",
            replace_existing=True,
        )

    def run_repair(self, job: Callable[[], object], when: dt.datetime) -> None:
        """Run the gap-repair job once, at ``when``, on the repair thread (replacing a pending run).

        Two instances allowed: a request landing while the last one is returning must not be
        dropped as "max instances reached"; the repairs keep themselves one at a time.
        """
        self.scheduler.add_job(
            job,
            DateTrigger(run_date=when),
            id=REPAIR_JOB,
            name="repair gaps",
            executor="backfill",
            replace_existing=True,
            max_instances=2,
        )

    def apply(self, db: Database, change: ConfigChange, old: Config, new: Config) -> None:
        """Bring the jobs in line with a reloaded configuration."""
        before = {f.name: f for f in old.feeds}
        after = {f.name: f for f in new.feeds}
        for name in change.removed:
            self.remove_feed(name)
        for name in change.added:
            self.add_feed(db, new, after[name])
        for name in change.changed:
            was = before[name]
            self.add_feed(db, new, after[name], before=was, old_interval=was.poll_interval(old.settings.poll))
        if change.digest:
            self.set_digest(new)

    def _on_job_event(self, event: JobEvent) -> None:
        job = event.job_id
        if event.code == EVENT_JOB_MISSED:
            self._metrics.jobs_missed.labels(job=job, reason="late").inc()
            late = utcnow() - event.scheduled_run_time
            log.warning(
                "job %s missed its run at %s: it could start only %.1f s late, more than service.misfire_grace_time allows",
                job,
                store.iso(event.scheduled_run_time),
                late.total_seconds(),
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:  # APScheduler logs this one itself
            self._metrics.jobs_missed.labels(job=job, reason="still-running").inc()
        elif event.code == EVENT_JOB_ERROR:
            self._metrics.job_errors.labels(job=job).inc()
            log.error("job %s failed: %r\n%s", job, event.exception, event.traceback)


# --- daemon threads ----------------------------------------------------------------------------


class _DaemonThreadPool:
    """The smallest pool APScheduler's ``BasePoolExecutor`` can drive, on daemon threads, started
    with the first job (a service built but never started starts none)."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._workers = workers
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
                    for i in range(self._workers)
                ]
                for thread in self._threads:
                    thread.start()
        future: Future[Any] = Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
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
