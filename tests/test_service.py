"""The long-running service: the real ``aggregator run`` process against loopback feeds.

Most tests start ``python -m aggregator run`` as an operator would, with poll intervals of a
second or so, and look at what it did: requests on the loopback server, the archive, its log
lines (JSON on stdout), ``/healthz`` and ``/metrics``. The weekly job is tested in process with a
fake digest builder and explicit times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FakeClock, LoopbackServer, Request, Response, item, rss
from prometheus_client.parser import text_string_to_metric_families

from aggregator import service as service_module
from aggregator.config import ServiceSettings, load_config
from aggregator.errors import ConfigError, DraftExistsError, ServiceLockError
from aggregator.models import FeedState
from aggregator.service import Service, health_url, last_digest_time, next_run_time, service_lock, weekly_trigger

UTC = dt.UTC


# --- harness -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}


def cli(config: Path, db: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        cwd=config.parent,
    )


class ServiceProcess:
    """``aggregator run`` in a child process, its stdout (JSON log lines) in a file."""

    def __init__(self, config: Path, db: Path, port: int | None, log_name: str = "service.log") -> None:
        self.config, self.db, self.port = config, db, port
        self.log_path = config.parent / log_name
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), "run"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            cwd=config.parent,
        )

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"message": line, "level": "raw"})
        return out

    def polls(self, feed: str) -> list[dict[str, Any]]:
        return [r for r in self.lines() if r.get("feed") == feed and "outcome" in r]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10, trust_env=False)

    def wait_healthy(self, timeout: float = 15) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            assert self.proc.poll() is None, f"the service exited early:\n{self.log_path.read_text()}"
            try:
                response = self.get("/healthz")
            except httpx.HTTPError:
                return None
            return response.json() if response.status_code == 200 else None

        return wait_until(healthy, timeout, "the service to answer healthy")  # type: ignore[no-any-return]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc, time.monotonic() - started

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(config: Path, port: int | None = None, db: Path | None = None) -> ServiceProcess:
        proc = ServiceProcess(config, db or tmp_path / "archive.db", port)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


def settings(port: int | None, *, extra: str = "", poll: str = "", service: str = "") -> str:
    """Settings for fast tests: short intervals allowed, no jitter, the endpoint on ``port``."""
    listen = f"127.0.0.1:{port}" if port else ""
    return f"""
[poll]
min_interval = "100ms"
jitter = 0
{poll}

[http]
per_host = 8
max_workers = 8
connect_timeout = "2s"

[service]
listen = "{listen}"
{service}

{extra}
"""


def feed(name: str, url: str, interval: str = "1s", **more: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "kind": "other", "interval": interval, **more}


class GrowingFeed:
    """A feed that gains ``per_request`` new items at every request (until frozen) and remembers
    every item it ever served."""

    def __init__(self, name: str, per_request: int = 1, delay: float = 0.0) -> None:
        self.name = name
        self.per_request = per_request
        self.delay = delay
        self.items: list[str] = []
        self.frozen = False
        self._lock = threading.Lock()

    def __call__(self, _request: Request) -> Response:
        with self._lock:
            if not self.frozen:
                for _ in range(self.per_request):
                    self.items.append(
                        f"https://aws.amazon.com/about-aws/whats-new/2024/05/{self.name}-{len(self.items)}/"
                    )
            items = list(self.items)
        body = rss(*(item(f"x{i}", f"{self.name} item {i}", link=link, guid=link) for i, link in enumerate(items)))
        return Response(200, body, {"Content-Type": "application/rss+xml", "ETag": f'"{len(items)}"'}, delay=self.delay)


def read_db(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def metrics(proc: ServiceProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = proc.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def log_time(line: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(line["time"]).timestamp()


OK_FEED = rss(
    item("s3-feature", "Amazon S3 adds a feature", guid="g1"), item("lambda", "AWS Lambda runtime", guid="g2")
)


# --- schedule: pure parts ----------------------------------------------------------------------


def test_next_run_comes_from_the_stored_state() -> None:
    now = dt.datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    later = now + dt.timedelta(minutes=20)
    assert next_run_time(FeedState(name="f", url="u"), now) == now  # never polled: now
    assert next_run_time(FeedState(name="f", url="u", next_check=later), now) == later  # interval or backoff
    assert (
        next_run_time(FeedState(name="f", url="u", next_check=now - dt.timedelta(days=3)), now) == now
    )  # overdue: now, not "missed"
    assert next_run_time(FeedState(name="f", url="u", next_check=now, retry_after_until=later), now) == later
    assert next_run_time(FeedState(name="f", url="u", gone=True), now) is None


@pytest.mark.parametrize(
    "weekday, hour, zone, after, expected",
    [
        # Monday by name is Monday (from_crontab's "1" would be Tuesday).
        ("monday", 9, "Australia/Melbourne", "2024-05-05T12:00:00+10:00", "2024-05-06T09:00:00+10:00"),
        ("monday", 9, "Australia/Melbourne", "2024-05-06T09:30:00+10:00", "2024-05-13T09:00:00+10:00"),
        # 09:00 in the author's zone across a DST change (Amsterdam moves to +02:00 on 31 March).
        ("monday", 9, "Europe/Amsterdam", "2024-03-30T12:00:00+01:00", "2024-04-01T09:00:00+02:00"),
        ("Friday", 17, "UTC", "2024-05-06T00:00:00+00:00", "2024-05-10T17:00:00+00:00"),
    ],
)
def test_the_weekly_draft_fires_on_the_named_weekday_and_hour_in_the_authors_zone(
    weekday, hour, zone, after, expected
) -> None:
    trigger = weekly_trigger(ServiceSettings(digest_weekday=weekday, digest_hour=hour), zone)
    fire = trigger.get_next_fire_time(None, dt.datetime.fromisoformat(after))
    assert fire == dt.datetime.fromisoformat(expected)
    assert fire.weekday() == ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].index(
        weekday.lower()
    )


def test_a_late_weekly_run_still_drafts_the_week_it_was_scheduled_for() -> None:
    settings_ = ServiceSettings(digest_weekday="sunday", digest_hour=23)
    zone = "Europe/Amsterdam"
    on_time = dt.datetime(2024, 5, 12, 23, 0, 5, tzinfo=zoneinfo.ZoneInfo(zone))
    late = dt.datetime(2024, 5, 13, 0, 40, tzinfo=zoneinfo.ZoneInfo(zone))  # past midnight: Monday, next ISO week
    assert last_digest_time(on_time, settings_, zone).date() == dt.date(2024, 5, 12)
    assert last_digest_time(late, settings_, zone).date() == dt.date(2024, 5, 12)
    assert last_digest_time(late.astimezone(UTC), settings_, zone).date() == dt.date(2024, 5, 12)


def test_health_url_from_the_listen_setting() -> None:
    assert health_url("127.0.0.1:8080") == "http://127.0.0.1:8080/healthz"
    assert health_url("0.0.0.0:9000") == "http://127.0.0.1:9000/healthz"
    assert health_url("[::]:8080") == "http://[::1]:8080/healthz"
    with pytest.raises(ConfigError, match="endpoint is off"):
        health_url("")


@pytest.mark.parametrize(
    "extra, key, fragment",
    [
        ('[service]\ndigest_weekday = "funday"', "service.digest_weekday", "must be a day of the week"),
        ("[service]\ndigest_hour = 24", "service.digest_hour", "between 0 and 23"),
        ('[service]\nlisten = "localhost"', "service.listen", "expected host:port"),
        ('[service]\nlisten = "127.0.0.1:99999"', "service.listen", "invalid port"),
        ('[service]\nshutdown_grace = "soon"', "service.shutdown_grace", "expected a duration"),
    ],
)
def test_bad_service_settings_name_the_key(write_config, extra, key, fragment) -> None:
    path = write_config([feed("a", "https://x.test/a")], extra=extra)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path, environ={})
    assert key in str(info.value)


def test_the_listen_address_can_come_from_the_environment(write_config) -> None:
    path = write_config([feed("a", "https://x.test/a")])
    assert load_config(path, environ={}).settings.service.listen == "127.0.0.1:8080"
    assert load_config(path, environ={"AGGREGATOR_LISTEN": "0.0.0.0:8080"}).settings.service.listen == "0.0.0.0:8080"
    assert load_config(path, environ={"AGGREGATOR_LISTEN": ""}).settings.service.listen == ""
    with pytest.raises(ConfigError, match="AGGREGATOR_LISTEN"):
        load_config(path, environ={"AGGREGATOR_LISTEN": "nowhere"})


def test_the_service_lock_admits_one_holder(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    with service_lock(db) as lock_path:
        assert lock_path.read_text().strip() == str(os.getpid())
        with (
            pytest.raises(
                ServiceLockError, match=rf"another aggregator service \(pid {os.getpid()}\) is already running on {db}"
            ),
            service_lock(db),
        ):
            pass
    with service_lock(db):  # released with its holder
        pass


# --- the weekly job, in process ----------------------------------------------------------------


class FakeBuilder:
    """Stands in for ``aggregator.digest.write_draft``: records its calls, writes a file once."""

    def __init__(self, drafts: Path) -> None:
        self.drafts = drafts
        self.calls: list[dict[str, Any]] = []

    def __call__(self, db: Any, config: Any, *, date: dt.date, force: bool = False) -> Path:
        self.calls.append({"db": db, "config": config, "date": date, "force": force})
        year, week, _ = date.isocalendar()
        path = self.drafts / f"{year}-{week:02d}.md"
        if path.exists() and not force:
            raise DraftExistsError(f"{path} exists")
        self.drafts.mkdir(parents=True, exist_ok=True)
        path.write_text("draft\n")
        return path


@pytest.fixture
def quiet_service(write_config, tmp_path: Path) -> Callable[..., Service]:
    """An in-process Service with no enabled feed (nothing leaves the machine)."""
    services: list[Service] = []

    def make(extra: str = "", **kwargs: Any) -> Service:
        path = write_config(
            [feed("off", "https://x.test/off", enabled=False)],
            extra=f'[general]\ndrafts_dir = "{tmp_path / "drafts"}"\ntimezone = "Australia/Melbourne"\n' + extra,
        )
        svc = Service(load_config(path, database=tmp_path / "archive.db", environ={}), **kwargs)
        services.append(svc)
        return svc

    yield make  # type: ignore[misc]
    for svc in services:
        svc.stop()


def test_the_weekly_job_drafts_the_week_logs_the_path_and_exports_it(quiet_service, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    builder = FakeBuilder(tmp_path / "drafts")
    # Monday 09:00:02 in Melbourne is still Sunday in UTC: the date is the author's.
    clock = FakeClock(dt.datetime(2024, 5, 5, 23, 0, 2, tzinfo=UTC))
    svc = quiet_service(
        '[service]\nlisten = "127.0.0.1:0"\ndigest_weekday = "monday"\ndigest_hour = 9\n',
        write_draft=builder,
        clock=clock,
    )
    svc.start()
    # Fire the scheduled job now, through the scheduler and its executor.
    svc.schedule.scheduler.modify_job(service_module.DIGEST_JOB, next_run_time=dt.datetime.now(UTC))
    wait_until(lambda: "written to" in caplog.text, 10, "the weekly draft")
    assert [c["date"] for c in builder.calls] == [dt.date(2024, 5, 6)]
    assert builder.calls[0]["force"] is False
    path = tmp_path / "drafts" / "2024-19.md"
    assert path.read_text() == "draft\n"
    assert f"weekly draft for 2024-05-06 written to {path}" in caplog.text

    host, port = svc.endpoint_address
    scrape = httpx.get(f"http://{host}:{port}/metrics", trust_env=False).text
    assert f'aggregator_last_digest_timestamp_seconds{{path="{path}"}}' in scrape
    assert httpx.get(f"http://{host}:{port}/healthz", trust_env=False).json()["last_digest"]["path"] == str(path)

    # Next week's job finds the file there (someone ran the digest by hand): logged, not overwritten.
    path.write_text("edited by the author\n")
    assert svc.write_weekly_draft() is None
    assert path.read_text() == "edited by the author\n"
    assert "not written" in caplog.text and "never overwritten" in caplog.text
    assert all(c["force"] is False for c in builder.calls)


def test_at_start_the_last_digest_is_the_newest_draft_on_disk(quiet_service, tmp_path) -> None:
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    (drafts / "2024-18.md").write_text("old")
    os.utime(drafts / "2024-18.md", (1_700_000_000, 1_700_000_000))
    (drafts / "2024-19.md").write_text("new")
    os.utime(drafts / "2024-19.md", (1_710_000_000, 1_710_000_000))
    svc = quiet_service()
    svc.start()
    scrape = svc.metrics.exposition().decode()
    assert f'aggregator_last_digest_timestamp_seconds{{path="{drafts / "2024-19.md"}"}} 1.71e+09' in scrape


def test_a_job_that_fails_unexpectedly_is_logged_counted_and_runs_again(write_config, tmp_path, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="aggregator")
    calls: list[float] = []

    def broken(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        raise RuntimeError("a bug in a stage")

    path = write_config([feed("buggy", "https://x.test/buggy", interval="500ms")], extra=settings(None))
    svc = Service(
        load_config(path, database=tmp_path / "archive.db", environ={}), transport=httpx.MockTransport(broken)
    )
    svc.start()
    try:
        wait_until(lambda: len(calls) >= 2, 10, "the failing job to run again")
    finally:
        svc.stop()
    assert "job feed:buggy failed: RuntimeError('a bug in a stage')" in caplog.text
    assert 'aggregator_job_errors_total{job="feed:buggy"}' in svc.metrics.exposition().decode()


# --- the real process --------------------------------------------------------------------------


@pytest.mark.slow
def test_feeds_are_polled_on_their_own_intervals_and_retry_after_moves_the_schedule(
    server: LoopbackServer, write_config, start_service
) -> None:
    server.route("/fast", Response(200, OK_FEED))
    server.route("/slow", Response(200, OK_FEED))
    server.route("/limited", [Response(429, b"slow down", {"Retry-After": "3"}), Response(200, OK_FEED)])
    port = free_port()
    config = write_config(
        [
            feed("fast", server.url("/fast"), "1s"),
            feed("slow", server.url("/slow"), "3s"),
            feed("limited", server.url("/limited"), "500ms"),
        ],
        extra=settings(port),
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    time.sleep(6.5)
    rc, _ = proc.stop()
    assert rc == 0

    fast = [r.time for r in server.requests_for("/fast")]
    slow = [r.time for r in server.requests_for("/slow")]
    limited = [r.time for r in server.requests_for("/limited")]
    # Each on its own interval: never sooner (the schedule is the stored next check), not much later.
    assert 5 <= len(fast) <= 9 and min(gaps(fast)) >= 0.9
    assert 2 <= len(slow) <= 4 and min(gaps(slow)) >= 2.9
    # Retry-After: 3 holds back a feed whose interval is half a second.
    assert gaps(limited)[0] >= 2.9
    assert len(limited) >= 3 and max(gaps(limited)[1:]) < 2
    # One log line per poll, with the fields an operator greps for.
    lines = proc.polls("fast")
    assert len(lines) == len(fast)
    assert {"feed", "status", "outcome", "new", "updated", "duration_ms", "error"} <= set(lines[0])
    assert lines[0]["outcome"] == "stored" and lines[-1]["outcome"] == "unchanged"
    assert (
        sum(line["new"] for name in ("fast", "slow", "limited") for line in proc.polls(name)) == 2
    )  # the same two items
    # What the next check in the archive says is what the service did.
    last_polled, next_check = read_db(proc.db, "SELECT last_polled, next_check FROM feeds WHERE name = 'slow'")[0]
    assert (dt.datetime.fromisoformat(next_check) - dt.datetime.fromisoformat(last_polled)).total_seconds() in (2, 3, 4)


@pytest.mark.slow
def test_a_restart_keeps_the_schedule_and_the_backoff(server: LoopbackServer, write_config, start_service) -> None:
    server.route("/hourly", Response(200, OK_FEED))
    server.route("/failing", Response(500, b"oops"))
    server.route("/asks-to-wait", Response(503, b"later", {"Retry-After": "3600"}))
    server.route("/due", Response(200, OK_FEED))
    port = free_port()
    config = write_config(
        [
            feed("hourly", server.url("/hourly"), "1h"),
            feed("failing", server.url("/failing"), "1s"),
            feed("asks-to-wait", server.url("/asks-to-wait"), "1s"),
            feed("due", server.url("/due"), "1s"),
        ],
        extra=settings(port, poll='backoff_initial = "1h"\nbackoff_max = "2h"'),
    )
    first = start_service(config, port)
    first.wait_healthy()
    wait_until(lambda: len(server.requests_for("/due")) >= 2, 10, "two polls of the due feed")
    assert first.stop()[0] == 0
    before = {path: len(server.requests_for(path)) for path in ("/hourly", "/failing", "/asks-to-wait", "/due")}
    assert before["/hourly"] == before["/failing"] == before["/asks-to-wait"] == 1

    second = start_service(config, port)
    second.wait_healthy()
    wait_until(
        lambda: len(server.requests_for("/due")) >= before["/due"] + 2, 10, "the due feed polled after the restart"
    )
    time.sleep(1)
    assert second.stop()[0] == 0
    # Not polled again: the interval, the backoff and the Retry-After survived the restart.
    for path in ("/hourly", "/failing", "/asks-to-wait"):
        assert len(server.requests_for(path)) == 1, path

    rows = {
        json.loads(line)["name"]: json.loads(line)
        for line in cli(config, first.db, "feeds", "--json").stdout.splitlines()
    }
    assert rows["failing"]["consecutive_failures"] == 1 and rows["failing"]["last_status"] == 500
    backoff = dt.datetime.fromisoformat(rows["failing"]["next_check"]) - dt.datetime.now(UTC)
    assert dt.timedelta(minutes=50) < backoff <= dt.timedelta(hours=1)


@pytest.mark.slow
@pytest.mark.parametrize("sig, grace", [(signal.SIGTERM, None), (signal.SIGINT, "2s")])
def test_a_stop_signal_exits_0_within_10_s_even_with_a_fetch_stuck(
    server: LoopbackServer, write_config, start_service, sig, grace
) -> None:
    server.route("/stuck", Response(200, OK_FEED, delay=120))  # a server that never answers
    server.route("/ok", Response(200, OK_FEED))
    port = free_port()
    config = write_config(
        [feed("stuck", server.url("/stuck")), feed("ok", server.url("/ok"))],
        extra=settings(port, service=f'shutdown_grace = "{grace}"' if grace else ""),  # default grace: 6 s
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: server.requests_for("/stuck") and server.requests_for("/ok"), 10, "both feeds requested")
    rc, elapsed = proc.stop(sig)
    assert rc == 0
    assert elapsed < 10
    messages = [line["message"] for line in proc.lines()]
    assert any("abandoned" in m and "nothing of them was written" in m for m in messages), messages
    # The abandoned poll left no trace; the archive is whole.
    assert read_db(proc.db, "SELECT count(*) FROM fetch_log WHERE feed = 'stuck'") == [(0,)]
    assert read_db(proc.db, "SELECT last_polled FROM feeds WHERE name = 'stuck'") == [(None,)]
    assert read_db(proc.db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
def test_a_poll_in_flight_at_sigterm_finishes_within_the_grace_and_is_stored(
    server: LoopbackServer, write_config, start_service
) -> None:
    server.route("/slowish", Response(200, OK_FEED, delay=1.5))
    port = free_port()
    config = write_config([feed("slowish", server.url("/slowish"), "1h")], extra=settings(port))
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: server.requests_for("/slowish"), 10, "the request")
    rc, elapsed = proc.stop()
    assert rc == 0 and elapsed < 10
    assert read_db(proc.db, "SELECT outcome, new FROM fetch_log WHERE feed = 'slowish'") == [("stored", 2)]
    assert read_db(proc.db, "SELECT count(*) FROM posts") == [(2,)]


@pytest.mark.slow
def test_sighup_reloads_the_feed_list(server: LoopbackServer, write_config, start_service) -> None:
    for path in ("/a", "/a2", "/b", "/c"):
        server.route(path, Response(200, OK_FEED))
    port = free_port()
    extra = settings(port)
    config = write_config(
        [feed("a", server.url("/a")), feed("b", server.url("/b")), feed("c", server.url("/c"), enabled=False)],
        extra=extra,
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: server.requests_for("/a") and server.requests_for("/b"), 10, "the first polls")

    # a moves to a new URL, b is removed, c is enabled.
    write_config([feed("a", server.url("/a2")), feed("c", server.url("/c"))], extra=extra)
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: server.requests_for("/a2") and server.requests_for("/c"), 10, "the changed and the added feed")
    reloaded = [line for line in proc.lines() if line["message"].startswith("configuration reloaded")]
    assert "added: c; removed: b; changed: a;" in reloaded[0]["message"]
    b_polls, a_polls = len(server.requests_for("/b")), len(server.requests_for("/a"))
    time.sleep(2.5)
    assert len(server.requests_for("/b")) == b_polls  # removed: no longer polled
    assert len(server.requests_for("/a")) == a_polls  # the old URL is left alone
    assert len(server.requests_for("/a2")) >= 2

    # A broken file on reload is logged; the service keeps the configuration it has.
    config.write_text("[poll\nthis is not TOML")
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: any("reload failed" in line["message"] for line in proc.lines()), 10, "the reload error")
    polls = len(server.requests_for("/c"))
    wait_until(lambda: len(server.requests_for("/c")) >= polls + 2, 10, "polling to go on")
    assert proc.stop()[0] == 0


@pytest.mark.slow
def test_one_service_per_archive_while_one_shot_commands_work_beside_it(
    server: LoopbackServer, write_config, start_service
) -> None:
    server.route("/a", Response(200, OK_FEED))
    port = free_port()
    config = write_config([feed("a", server.url("/a"))], extra=settings(port))
    proc = start_service(config, port)
    proc.wait_healthy()

    second = cli(config, proc.db, "run", timeout=20)
    assert second.returncode == 1
    assert f"another aggregator service (pid {proc.proc.pid}) is already running on {proc.db}" in second.stderr

    poll = cli(config, proc.db, "poll", "--feed", "a")
    assert poll.returncode == 0 and poll.stdout.startswith("a ")
    posts = cli(config, proc.db, "posts", "--json")
    assert posts.returncode == 0 and len(posts.stdout.splitlines()) == 2
    assert cli(config, proc.db, "feeds").returncode == 0
    assert proc.stop()[0] == 0

    # The lock goes with the service: the next one starts.
    again = start_service(config, port)
    again.wait_healthy()
    assert again.stop()[0] == 0


@pytest.mark.slow
def test_healthz_and_metrics_tell_an_operator_how_it_is_doing(
    server: LoopbackServer, write_config, start_service
) -> None:
    server.route("/ok", Response(200, OK_FEED))
    server.route("/broken", Response(500, b"oops"))
    port = free_port()
    config = write_config(
        [feed("ok", server.url("/ok"), "1h"), feed("broken", server.url("/broken"), "1h")],
        extra=settings(port, poll='backoff_initial = "1h"'),
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    health = wait_until(
        lambda: (
            (h := proc.get("/healthz").json())["feeds"]["broken"]["last_outcome"]
            and h["feeds"]["ok"]["last_outcome"]
            and h
        ),
        10,
        "both feeds polled",
    )
    assert health["status"] == "ok" and health["scheduler_running"] and health["database_writable"]
    assert health["feeds"]["ok"]["failing"] is False and health["feeds"]["ok"]["last_status"] == 200
    assert health["feeds"]["ok"]["last_success"] and health["feeds"]["ok"]["next_check"]
    # A failing feed is reported, and does not make the service unhealthy.
    assert health["feeds"]["broken"]["failing"] is True and health["feeds"]["broken"]["consecutive_failures"] == 1

    m = metrics(proc)
    assert m[("aggregator_polls_total", (("feed", "ok"), ("outcome", "stored"), ("status", "200")))] == 1
    assert m[("aggregator_polls_total", (("feed", "broken"), ("outcome", "error"), ("status", "500")))] == 1
    assert m[("aggregator_fetch_duration_seconds_count", (("feed", "ok"),))] == 1
    assert m[("aggregator_posts_stored_total", (("feed", "ok"),))] == 2
    assert m[("aggregator_feeds_failing", ())] == 1
    assert m[("aggregator_feed_consecutive_failures", (("feed", "broken"),))] == 1
    assert abs(m[("aggregator_feed_last_success_timestamp_seconds", (("feed", "ok"),))] - time.time()) < 60
    assert ("aggregator_feed_last_success_timestamp_seconds", (("feed", "broken"),)) not in m
    assert m[("aggregator_feed_next_check_timestamp_seconds", (("feed", "broken"),))] > time.time() + 3000
    assert m[("aggregator_scheduler_running", ())] == 1
    # Every per-feed series exists from the start, at zero, before its first event.
    assert m[("aggregator_posts_updated_total", (("feed", "ok"),))] == 0
    assert m[("aggregator_gaps_detected_total", (("feed", "broken"),))] == 0
    assert proc.get("/nope").status_code == 404
    head = httpx.head(f"http://127.0.0.1:{proc.port}/healthz", timeout=10, trust_env=False)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0

    # aggregator healthcheck: 0 while healthy; 1 with the reason while the archive cannot be written.
    check = cli(config, proc.db, "healthcheck")
    assert check.returncode == 0 and "broken" in check.stdout
    holder = sqlite3.connect(proc.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process sits on the write lock
    try:
        response = proc.get("/healthz")
        assert response.status_code == 503 and response.json()["database_writable"] is False
        check = cli(config, proc.db, "healthcheck")
        assert check.returncode == 1 and "unhealthy: HTTP 503" in check.stderr and "cannot be written" in check.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert cli(config, proc.db, "healthcheck").returncode == 0
    assert proc.stop()[0] == 0
    check = cli(config, proc.db, "healthcheck")
    assert check.returncode == 1 and "unhealthy: no answer from" in check.stderr
    # A clean exit leaves no pid behind for `kill -HUP "$(cat aggregator.db.lock)"` to hit.
    assert proc.db.with_name(proc.db.name + ".lock").read_text() == ""


def test_healthcheck_without_an_endpoint_says_so(write_config, tmp_path) -> None:
    config = write_config([feed("a", "https://x.test/a")], extra='[service]\nlisten = ""')
    result = cli(config, tmp_path / "archive.db", "healthcheck")
    assert result.returncode == 1 and "endpoint is off (service.listen is empty)" in result.stderr


@pytest.mark.slow
def test_missed_runs_are_logged(server: LoopbackServer, write_config, start_service) -> None:
    server.route("/hog", Response(200, OK_FEED, delay=2.5))
    server.route("/quick", Response(200, OK_FEED))
    port = free_port()
    config = write_config(
        [feed("hog", server.url("/hog"), "1s"), feed("quick", server.url("/quick"), "1s")],
        extra=settings(port, service='misfire_grace_time = "1s"', extra="").replace(
            "max_workers = 8", "max_workers = 1"
        ),
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: any("missed its run" in line["message"] for line in proc.lines()), 15, "a missed run")
    assert any(k[0] == "aggregator_jobs_missed_total" and v >= 1 for k, v in metrics(proc).items())
    assert proc.stop()[0] == 0


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_in_poll_bursts_loses_nothing_and_duplicates_nothing(
    server: LoopbackServer, write_config, start_service
) -> None:
    feeds = [GrowingFeed(f"g{i}", per_request=2, delay=0.05) for i in range(8)]
    for f in feeds:
        server.route(f"/{f.name}", f)
    port = free_port()
    config = write_config([feed(f.name, server.url(f"/{f.name}"), "300ms") for f in feeds], extra=settings(port))
    rng = random.Random(5)
    for round_ in range(5):
        before = len(server.requests)
        proc = start_service(config, port)
        wait_until(lambda b=before: len(server.requests) >= b + 12, 15, "a burst of polls")
        time.sleep(rng.uniform(0, 0.6))
        proc.kill()
        assert read_db(proc.db, "PRAGMA integrity_check") == [("ok",)], f"round {round_}"
    # Some kills landed in the middle of polls: more requests were served than polls recorded.
    assert len(server.requests) > read_db(proc.db, "SELECT count(*) FROM fetch_log")[0][0]

    for f in feeds:
        f.frozen = True
    served = {link for f in feeds for link in f.items}
    final = start_service(config, port)
    final.wait_healthy()
    wait_until(
        lambda: read_db(final.db, "SELECT count(*) FROM posts")[0][0] >= len(served),
        20,
        "every served item in the archive",
    )
    assert final.stop()[0] == 0

    assert read_db(final.db, "PRAGMA integrity_check") == [("ok",)]
    stored = [row[0] for row in read_db(final.db, "SELECT url FROM posts")]
    assert len(stored) == len(set(stored)), "a post is stored twice"
    assert set(stored) == served
    assert read_db(
        final.db, "SELECT count(*) FROM (SELECT post_id, feed FROM post_sources GROUP BY 1, 2 HAVING count(*) > 1)"
    ) == [(0,)]


@pytest.mark.slow
def test_a_feed_down_for_long_backs_off_the_others_keep_their_schedule_and_it_recovers(
    server: LoopbackServer, write_config, start_service
) -> None:
    down_port = free_port()  # nothing listens there yet: connection refused
    server.route("/steady1", Response(200, OK_FEED))
    server.route("/steady2", Response(200, OK_FEED))
    port = free_port()
    config = write_config(
        [
            feed("steady1", server.url("/steady1")),
            feed("steady2", server.url("/steady2")),
            feed("down", f"http://127.0.0.1:{down_port}/feed"),
        ],
        extra=settings(port, poll='backoff_initial = "400ms"\nbackoff_max = "3s"'),
    )
    proc = start_service(config, port)
    proc.wait_healthy()
    time.sleep(9)

    attempts = [log_time(line) for line in proc.polls("down")]
    assert all(line["outcome"] == "error" for line in proc.polls("down"))
    # Backing off: 0.4, 0.8, 1.6, 3, 3 ... seconds apart, never faster than that.
    assert 3 <= len(attempts) <= 8
    assert gaps(attempts)[0] < 1.2 and max(gaps(attempts)) >= 2.5
    assert all(b >= a * 0.9 for a, b in zip(gaps(attempts), gaps(attempts)[1:], strict=False))
    # The others kept their one-second schedule meanwhile.
    for name in ("steady1", "steady2"):
        times = [log_time(line) for line in proc.polls(name)]
        assert len(times) >= 7 and max(gaps(times)) < 2, name
    # Visible to an operator in `aggregator feeds` and /metrics.
    rows = {
        json.loads(line)["name"]: json.loads(line)
        for line in cli(config, proc.db, "feeds", "--json").stdout.splitlines()
    }
    assert rows["down"]["consecutive_failures"] >= 3 and "cannot connect" in rows["down"]["last_error"]
    assert rows["steady1"]["consecutive_failures"] == 0
    m = metrics(proc)
    assert m[("aggregator_feed_consecutive_failures", (("feed", "down"),))] >= 3
    assert m[("aggregator_feeds_failing", ())] == 1

    # The server comes back: the feed recovers by itself.
    comeback = LoopbackServer(port=down_port)
    comeback.route("/feed", Response(200, OK_FEED))
    comeback.start()
    try:
        wait_until(lambda: proc.get("/healthz").json()["feeds"]["down"]["failing"] is False, 10, "the feed to recover")
        assert metrics(proc)[("aggregator_feeds_failing", ())] == 0
        assert read_db(proc.db, "SELECT count(*) FROM post_sources WHERE feed = 'down'") == [(2,)]
        assert proc.stop()[0] == 0
    finally:
        comeback.stop()


@pytest.mark.slow
def test_readers_beside_the_writing_service_never_see_database_is_locked(
    server: LoopbackServer, write_config, start_service
) -> None:
    datasette_app = pytest.importorskip("datasette.app")
    feeds = [GrowingFeed(f"w{i}", per_request=3) for i in range(6)]
    for f in feeds:
        server.route(f"/{f.name}", f)
    port = free_port()
    config = write_config([feed(f.name, server.url(f"/{f.name}"), "200ms") for f in feeds], extra=settings(port))
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: len(server.requests) >= 12, 10, "the service to be writing")

    async def browse(rounds: int) -> list[int]:
        ds = datasette_app.Datasette([str(proc.db)])
        counts = []
        for _ in range(rounds):
            response = await ds.client.get("/archive.json?sql=select+count(*)+as+n+from+posts&_shape=array")
            assert response.status_code == 200, response.text
            counts.append(response.json()[0]["n"])
            search = await ds.client.get("/archive/posts.json?_search=item&_shape=array&_size=5")
            assert search.status_code == 200, search.text
        return counts

    seen: list[int] = []
    for _ in range(4):
        for args in (("posts", "--json", "--limit", "1000"), ("feeds", "--json"), ("poll", "--feed", "w0")):
            result = cli(proc.config, proc.db, *args)
            assert result.returncode == 0, result.stderr
            assert "locked" not in result.stderr
        seen += asyncio.run(browse(5))
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the service kept writing while we read
    assert proc.stop()[0] == 0
    log = proc.log_path.read_text()
    assert "locked" not in log
    assert not [line for line in proc.lines() if line.get("level") in ("error", "critical", "raw")]
