"""Gap repairs in the service: one at a time, on a thread of their own, never during shutdown.

A poll that reveals a gap in the What's New feed (see ``pipeline.find_gap``) asks for a repair
(``GapRepairs.request``), as does a start with open gaps left from before. The repair job
(``backfill.auto_repair``) repairs every due open gap, one after the other; a request while it
runs makes it look again when done instead of starting a second one. A repair in progress stops
between two pages when the service stops (the cursor is stored; the repair continues after the
restart). A repair that fails is tried again after ``backfill.repair_retry``, up to
``backfill.repair_attempts`` times: the job asks to run again when the next attempt is due.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from .. import backfill, pipeline, store
from .health import Metrics
from .schedule import Schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairRound:
    recovered: int
    """Posts the repairs of this round recovered."""
    retry_at: dt.datetime | None
    """When the earliest open gap not due yet is due (a failed repair's next attempt), if any."""


def repair_due_gaps(
    db: Database, poller: pipeline.Poller, *, stopping: threading.Event, metrics: Metrics
) -> RepairRound:
    """Repair every open gap of a What's New feed that is due, oldest first, until ``stopping``."""
    recovered = 0
    for gap in backfill.repairable_gaps(db, poller.config, now=poller.now()):
        if stopping.is_set():
            break
        log.info("feed=%s repairing the gap from %s to %s", gap.feed, store.iso(gap.start), store.iso(gap.end))
        outcome = backfill.repair_gap(db, poller, gap, sleep=stopping.wait, should_stop=stopping.is_set)
        recovered += outcome.recovered
        metrics.gap_items_recovered.labels(feed=gap.feed).inc(outcome.recovered)
    now = poller.now()
    later = [
        t for g in store.gaps(db, statuses=("open",)) if (t := store.gap_next_attempt(db, g.id)) is not None and t > now
    ]
    return RepairRound(recovered, min(later, default=None))


class GapRepairs:
    """Runs the repair job on the schedule, one at a time. ``repair_round()`` repairs what is due (the
    service's ``repair_due_gaps`` with its archive, client and limiter)."""

    def __init__(
        self,
        schedule: Schedule,
        *,
        repair_round: Callable[[], RepairRound],
        stopping: threading.Event,
        clock: pipeline.Clock,
    ) -> None:
        self._schedule = schedule
        self._round = repair_round
        self._stopping = stopping
        self._clock = clock
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def request(self, when: dt.datetime | None = None) -> None:
        """Run the repair job now (or at ``when``); if it is running, it looks again when done."""
        if self._stopping.is_set() or not self._schedule.running:
            return
        with self._lock:
            if self._running and when is None:
                self._again = True
                return
        self._schedule.run_repair(self.run, when or self._clock())

    def run(self) -> int:
        """The repair job: repair every due gap, again while requests came in; returns the posts recovered."""
        with self._lock:
            if self._running:
                self._again = True
                return 0
            self._running = True
        recovered = 0
        retry_at = None
        try:
            while True:
                done = self._round()
                recovered += done.recovered
                retry_at = done.retry_at
                with self._lock:
                    if not self._again or self._stopping.is_set():
                        self._running = False
                        break
                    self._again = False
        except BaseException:
            with self._lock:
                self._running = False
            raise
        if retry_at is not None and not self._stopping.is_set():
            self.request(retry_at)
        return recovered
