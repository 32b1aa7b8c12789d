"""The long-running service: ``aggregator run``.

Three kinds of test, from the fastest:

- **Pure parts**: when a feed is due, the weekly trigger, what a reload changes, the lock.
- **In process, in fake time**: a ``Service`` on fake feeds (``httpx.MockTransport``), started
  with its scheduler paused and driven by ``FakeTime``, which runs the job due first, on the test's
  thread, the way the scheduler would. Hours of polling, backoff, Retry-After, restarts and
  reloads take milliseconds, and the times asserted are exact. ``/healthz`` and ``/metrics`` are
  asked over a real loopback socket.
- **In process, in real time**, where APScheduler's own threads and events are the subject
  (missed and failed runs, stopping with polls in flight, readers beside a writing service).
- **Real processes** (``slow``), a few smoke tests of what only a process shows: SIGKILL loses
  nothing; a second ``aggregator run`` is refused, SIGHUP reloads, SIGTERM stops within the grace.
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
from unittest import mock

import httpx
import pytest
from apscheduler.events import EVENT_JOB_EXECUTED
from click.testing import CliRunner
from conftest import FakeClock, LoopbackServer, Response, item, rss
from prometheus_client.parser import text_string_to_metric_families

from aggregator import service as service_module
from aggregator import store
from aggregator.cli import app as cli_app
from aggregator.cli import cli as aggregator_cli
from aggregator.cli import ingest as cli_ingest
from aggregator.config import ServiceSettings, load_config
from aggregator.errors import ConfigError, DraftExistsError, ServiceLockError
from aggregator.models import FeedState
from aggregator.service import (
    Metrics,
    Service,
    config_change,
    health_url,
    last_digest_time,
    next_run_time,
    service_lock,
    weekly_trigger,
)
from aggregator.service import health as health_module
from aggregator.service.repair import GapRepairs, RepairRound
from aggregator.service.schedule import Schedule

UTC = dt.UTC
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# --- harness: real processes (also used by test_gaps.py) ---------------------------------------


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
    """Settings for real-time tests: short intervals allowed, no jitter, the endpoint on ``port``."""
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

    def __call__(self, _request: Any) -> Response:
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


def metrics(proc: Any) -> Samples:
    """``/metrics`` of a service (anything with ``get(path)``), as {(name, labels): value}."""
    response = proc.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse_samples(response.text)


def parse_samples(text: str) -> Samples:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


OK_FEED = rss(
    item("s3-feature", "Amazon S3 adds a feature", guid="g1"), item("lambda", "AWS Lambda runtime", guid="g2")
)


# --- harness: in process, in fake time ---------------------------------------------------------


class FakeFeeds:
    """The feeds' servers for in-process tests, behind ``httpx.MockTransport``: answers per path as
    ``LoopbackServer.route`` scripts them (an exception is raised, as a refused connection is),
    and the fake time of every request."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.routes: dict[str, Callable[[httpx.Request], Response]] = {}
        self.requests: list[tuple[str, dt.datetime]] = []
        self.transport = httpx.MockTransport(self._answer)

    def route(self, path: str, answer: Response | list[Response] | Exception | Callable[..., Response]) -> None:
        if isinstance(answer, Response):
            self.routes[path] = lambda _request: answer
        elif isinstance(answer, list):
            answers = list(answer)
            self.routes[path] = lambda _request: answers.pop(0) if len(answers) > 1 else answers[0]
        elif isinstance(answer, Exception):

            def fail(request: httpx.Request, exc: Exception = answer) -> Response:
                raise type(exc)(str(exc), request=request)

            self.routes[path] = fail
        else:
            self.routes[path] = answer

    def times(self, path: str) -> list[dt.datetime]:
        return [when for p, when in self.requests if p == path]

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.url.path, self.clock.now))
        handler = self.routes.get(request.url.path)
        answer = handler(request) if handler else Response(404, b"not found")
        return feed_response(answer.body, answer.status, answer.headers)


def feed_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """An answer of ``httpx.MockTransport`` the fetch can stream (bytes would make it read already)."""
    return httpx.Response(status, content=iter([body]), headers=headers)


def url(path: str) -> str:
    return f"https://feeds.test{path}"


class FakeTime:
    """Runs the jobs of a Service started paused, in fake time, as its scheduler would: the job due
    first runs first, on this thread; its trigger sets its next run before it runs (a poll then
    moves it to the next check it stored)."""

    def __init__(self, svc: Service, clock: FakeClock) -> None:
        self.svc = svc
        self.clock = clock

    def next_runs(self) -> dict[str, dt.datetime | None]:
        return self.svc.schedule.next_runs()

    def run_until(self, until: dt.datetime) -> list[tuple[dt.datetime, str]]:
        ran: list[tuple[dt.datetime, str]] = []
        scheduler = self.svc.schedule.scheduler
        while True:
            due = [j for j in scheduler.get_jobs() if j.next_run_time is not None and j.next_run_time <= until]
            if not due:
                break
            assert len(ran) < 10_000, f"jobs that never move on: {ran[-5:]}"
            job = min(due, key=lambda j: (j.next_run_time, j.id))
            when = job.next_run_time
            self.clock.now = max(self.clock.now, when)
            following = job.trigger.get_next_fire_time(when, self.clock.now)
            if following is None:
                job.remove()
            else:
                job.modify(next_run_time=following)
            job.func(*job.args, **job.kwargs)
            ran.append((when, job.id))
        self.clock.now = max(self.clock.now, until)
        return ran

    def run_for(self, **delta: float) -> list[tuple[dt.datetime, str]]:
        return self.run_until(self.clock.now + dt.timedelta(**delta))


def fake_time_settings(*, poll: str = "", listen: str = "", extra: str = "") -> str:
    """Realistic intervals (fake time costs nothing), no jitter, no weekly draft, the endpoint on
    ``listen`` (none by default)."""
    return f"""
[poll]
jitter = 0
{poll}

[service]
listen = "{listen}"
digest_enabled = false

{extra}
"""


@pytest.fixture
def fake_feeds(clock: FakeClock) -> FakeFeeds:
    return FakeFeeds(clock)


@pytest.fixture
def in_fake_time(
    write_config, tmp_path: Path, clock: FakeClock, fake_feeds: FakeFeeds
) -> Iterator[Callable[..., FakeTime]]:
    """``make(feeds, poll=..., listen=...)``: a Service on the fake feeds and the archive
    ``archive.db``, started paused, driven by ``FakeTime``. Every one made is stopped at the end."""
    services: list[Service] = []

    def make(feeds: list[dict[str, Any]], **settings_: str) -> FakeTime:
        path = write_config(feeds, extra=fake_time_settings(**settings_))
        config = load_config(path, database=tmp_path / "archive.db", environ={})
        svc = Service(config, clock=clock, rng=random.Random(7), transport=fake_feeds.transport)
        services.append(svc)
        svc.start(paused=True)
        return FakeTime(svc, clock)

    yield make
    for svc in services:
        svc.stop()


def minutes_between(times: list[dt.datetime]) -> list[float]:
    return [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(times)]


def polls_logged(caplog: pytest.LogCaptureFixture, feed_name: str) -> list[dict[str, Any]]:
    """The one summary line per poll (its structured fields), of one feed."""
    return [
        r.poll for r in caplog.records if isinstance(getattr(r, "poll", None), dict) and r.poll["feed"] == feed_name
    ]


def invoke(*args: str) -> Any:
    """The CLI in this process (``AGGREGATOR_*`` variables unset). Its logging set-up is skipped:
    it would take the test's log capture away."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AGGREGATOR_")}
    quiet = lambda *args, **kwargs: None  # noqa: E731
    with mock.patch.object(cli_app, "setup_logging", quiet), mock.patch.object(cli_ingest, "setup_logging", quiet):
        return CliRunner(env=env).invoke(aggregator_cli, list(args))


def feeds_json(svc: Service) -> dict[str, dict[str, Any]]:
    """``aggregator feeds --json`` on the service's configuration and archive, by feed name."""
    result = invoke("--config", str(svc.config.path), "--db", str(svc.config.database), "feeds", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


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


def test_a_reload_tells_added_removed_and_changed_feeds_and_what_needs_a_restart(write_config) -> None:
    old = load_config(
        write_config(
            [feed("a", url("/a"), "10m"), feed("b", url("/b"), "10m"), feed("c", url("/c"), enabled=False)],
            extra="[http]\nper_host = 2",
            name="old.toml",
        ),
        environ={},
    )
    new = load_config(
        write_config(
            [feed("a", url("/a2"), "10m"), feed("b", url("/b"), "20m"), feed("c", url("/c"))],
            extra='[http]\nper_host = 3\n[service]\ndigest_hour = 10\nlisten = "127.0.0.1:9999"',
            name="new.toml",
        ),
        environ={},
    )
    change = config_change(old, new)
    assert (change.added, change.removed, change.changed) == (("c",), (), ("a", "b"))
    assert change.digest is True
    assert change.restart == ("[http]", "service.listen")
    assert config_change(old, old) == service_module.ConfigChange()
    other = load_config(write_config([feed("z", url("/z"))], name="other.toml"), environ={})
    assert config_change(old, other) == service_module.ConfigChange(added=("z",), removed=("a", "b"))


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


# --- the single-service lock -------------------------------------------------------------------


def test_the_service_lock_admits_one_holder(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    with service_lock(db) as lock_path:
        assert lock_path == tmp_path.resolve() / "archive.db.lock"
        assert lock_path.read_text().strip() == str(os.getpid())
        with (
            pytest.raises(
                ServiceLockError, match=rf"another aggregator service \(pid {os.getpid()}\) is already running on {db}"
            ),
            service_lock(db),
        ):
            pass
    # Released with its holder, and names no process any more (for `kill -HUP "$(cat ...)"`).
    assert lock_path.read_text() == ""
    with service_lock(db):
        pass


def test_every_path_to_the_archive_meets_the_same_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "svc.db"
    link = tmp_path / "link.db"
    link.symlink_to(db)  # ln -s svc.db link.db, before the archive exists
    (tmp_path / "mount").symlink_to(data, target_is_directory=True)
    monkeypatch.chdir(data)
    with service_lock(link) as lock_path:
        assert lock_path == db.resolve().with_name("svc.db.lock")  # beside the real file
        for other in (db, Path("svc.db"), Path("../link.db"), tmp_path / "mount" / "svc.db"):
            with (
                pytest.raises(ServiceLockError, match=rf"another aggregator service \(pid {os.getpid()}\)"),
                service_lock(other),
            ):
                pass
        hard = tmp_path / "hard.db"
        os.link(db, hard)
        with pytest.raises(ServiceLockError, match="through another path to the same file"), service_lock(hard):
            pass
    for path in (db, link, hard):  # each takes it in turn once it is free
        with service_lock(path):
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
def quiet_service(write_config, tmp_path: Path) -> Iterator[Callable[..., Service]]:
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

    yield make
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


# --- polling, in fake time ---------------------------------------------------------------------


def test_feeds_are_polled_on_their_own_intervals_and_retry_after_moves_the_schedule(
    in_fake_time, fake_feeds: FakeFeeds, clock: FakeClock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    fake_feeds.route("/fast", Response(200, OK_FEED))
    fake_feeds.route("/slow", Response(200, OK_FEED))
    fake_feeds.route("/limited", [Response(429, b"slow down", {"Retry-After": "3600"}), Response(200, OK_FEED)])
    start = clock.now
    ft = in_fake_time(
        [feed("fast", url("/fast"), "10m"), feed("slow", url("/slow"), "30m"), feed("limited", url("/limited"), "5m")]
    )
    runs = ft.run_for(hours=2)

    # Each on its own interval, to the second: the schedule is the next check each poll stored.
    assert fake_feeds.times("/fast")[0] == start
    assert minutes_between(fake_feeds.times("/fast")) == [10] * 12
    assert minutes_between(fake_feeds.times("/slow")) == [30] * 4
    # Retry-After: 3600 holds back a feed whose interval is five minutes, then its interval resumes.
    assert minutes_between(fake_feeds.times("/limited")) == [60] + [5] * 12
    assert [when for when, job in runs if job == "feed:limited"] == fake_feeds.times("/limited")  # the job waited too
    assert ft.next_runs() == {
        "feed:fast": start + dt.timedelta(minutes=130),
        "feed:slow": start + dt.timedelta(minutes=150),
        "feed:limited": start + dt.timedelta(minutes=125),
    }

    # One log line per poll, with the fields an operator greps for.
    lines = polls_logged(caplog, "fast")
    assert len(lines) == len(fake_feeds.times("/fast"))
    assert {"feed", "status", "outcome", "new", "updated", "duration_ms", "error"} <= set(lines[0])
    assert lines[0]["outcome"] == "stored" and lines[-1]["outcome"] == "unchanged"
    assert sum(line["new"] for name in ("fast", "slow", "limited") for line in polls_logged(caplog, name)) == 2
    # What the next check in the archive says is what the service does.
    ((last_polled, next_check),) = read_db(
        ft.svc.config.database, "SELECT last_polled, next_check FROM feeds WHERE name = 'slow'"
    )
    assert (last_polled, next_check) == (
        store.iso(start + dt.timedelta(minutes=120)),
        store.iso(ft.next_runs()["feed:slow"]),
    )


def test_a_gone_feed_is_no_longer_polled_even_after_a_restart(in_fake_time, fake_feeds: FakeFeeds, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="aggregator")
    fake_feeds.route("/gone", Response(410, b"gone"))
    fake_feeds.route("/ok", Response(200, OK_FEED))
    feeds = [feed("gone", url("/gone"), "10m"), feed("ok", url("/ok"), "10m")]
    first = in_fake_time(feeds)
    first.run_for(hours=1)
    assert len(fake_feeds.times("/gone")) == 1 and len(fake_feeds.times("/ok")) == 7
    assert first.next_runs()["feed:gone"] is None  # paused
    assert "feed=gone is gone (HTTP 410): no longer polled" in caplog.text
    first.svc.stop()

    second = in_fake_time(feeds)
    assert second.next_runs()["feed:gone"] is None
    second.run_for(hours=1)
    assert len(fake_feeds.times("/gone")) == 1


def test_a_restart_keeps_the_schedule_and_the_backoff(in_fake_time, fake_feeds: FakeFeeds, clock: FakeClock) -> None:
    fake_feeds.route("/hourly", Response(200, OK_FEED))
    fake_feeds.route("/failing", Response(500, b"oops"))
    fake_feeds.route("/asks-to-wait", Response(503, b"later", {"Retry-After": "3600"}))
    fake_feeds.route("/due", Response(200, OK_FEED))
    feeds = [
        feed("hourly", url("/hourly"), "1h"),
        feed("failing", url("/failing"), "10m"),
        feed("asks-to-wait", url("/asks-to-wait"), "10m"),
        feed("due", url("/due"), "10m"),
    ]
    backoff = 'backoff_initial = "1h"\nbackoff_max = "2h"'
    start = clock.now
    first = in_fake_time(feeds, poll=backoff)
    first.run_for(minutes=10)
    assert first.svc.stop() is True
    assert [len(fake_feeds.times(p)) for p in ("/hourly", "/failing", "/asks-to-wait", "/due")] == [1, 1, 1, 2]

    clock.advance(minutes=5)  # down for a while
    second = in_fake_time(feeds, poll=backoff)
    hour = start + dt.timedelta(hours=1)
    assert second.next_runs() == {
        "feed:hourly": hour,  # the interval,
        "feed:failing": hour,  # the backoff
        "feed:asks-to-wait": hour,  # and the Retry-After survived the restart
        "feed:due": start + dt.timedelta(minutes=20),
    }
    second.run_for(minutes=40)
    assert [len(fake_feeds.times(p)) for p in ("/hourly", "/failing", "/asks-to-wait")] == [1, 1, 1]
    assert fake_feeds.times("/due")[2:] == [start + dt.timedelta(minutes=m) for m in (20, 30, 40, 50)]

    rows = feeds_json(second.svc)
    assert rows["failing"]["consecutive_failures"] == 1 and rows["failing"]["last_status"] == 500
    assert rows["failing"]["failing"] is True and rows["failing"]["next_check"] == store.iso(hour)
    assert rows["asks-to-wait"]["retry_after_until"] == store.iso(hour)


def test_a_feed_down_for_long_backs_off_the_others_keep_their_schedule_and_it_recovers(
    in_fake_time, fake_feeds: FakeFeeds, clock: FakeClock
) -> None:
    fake_feeds.route("/steady1", Response(200, OK_FEED))
    fake_feeds.route("/steady2", Response(200, OK_FEED))
    fake_feeds.route("/down", httpx.ConnectError("[Errno 111] Connection refused"))
    ft = in_fake_time(
        [
            feed("steady1", url("/steady1"), "5m"),
            feed("steady2", url("/steady2"), "5m"),
            feed("down", url("/down"), "5m"),
        ],
        poll='backoff_initial = "5m"\nbackoff_max = "40m"',
    )
    ft.run_for(hours=3)

    # Backing off: 5, 10, 20, 40, 40 ... minutes apart, never sooner.
    assert minutes_between(fake_feeds.times("/down")) == [5, 10, 20, 40, 40, 40]
    # The others kept their five-minute schedule meanwhile.
    for path in ("/steady1", "/steady2"):
        assert minutes_between(fake_feeds.times(path)) == [5] * 36, path
    # Visible to an operator in `aggregator feeds` and /metrics.
    rows = feeds_json(ft.svc)
    assert rows["down"]["consecutive_failures"] == 7 and "cannot connect" in rows["down"]["last_error"]
    assert rows["steady1"]["consecutive_failures"] == 0 and rows["steady1"]["failing"] is False
    samples = parse_samples(ft.svc.exposition().decode())
    assert samples[("aggregator_feed_consecutive_failures", (("feed", "down"),))] == 7
    assert samples[("aggregator_feeds_failing", ())] == 1

    # The server comes back: the feed recovers by itself, at its next retry.
    fake_feeds.route("/down", Response(200, OK_FEED))
    retry = ft.next_runs()["feed:down"]
    ft.run_for(minutes=40)
    assert fake_feeds.times("/down")[7] == retry
    assert feeds_json(ft.svc)["down"]["failing"] is False
    assert parse_samples(ft.svc.exposition().decode())[("aggregator_feeds_failing", ())] == 0
    assert read_db(ft.svc.config.database, "SELECT count(*) FROM post_sources WHERE feed = 'down'") == [(2,)]


def test_a_reload_applies_the_feed_list_and_keeps_the_configuration_when_the_file_is_broken(
    in_fake_time, fake_feeds: FakeFeeds, clock: FakeClock, write_config, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    for path in ("/a", "/a2", "/b", "/c", "/d"):
        fake_feeds.route(path, Response(200, OK_FEED))
    start = clock.now
    ft = in_fake_time(
        [
            feed("a", url("/a"), "10m"),
            feed("b", url("/b"), "10m"),
            feed("c", url("/c"), "10m", enabled=False),
            feed("d", url("/d"), "1h"),
        ]
    )
    ft.run_for(minutes=20)

    # a moves to a new URL, b is removed, c is enabled, d is polled every 30 minutes instead of hourly.
    write_config(
        [feed("a", url("/a2"), "10m"), feed("c", url("/c"), "10m"), feed("d", url("/d"), "30m")],
        extra=fake_time_settings(),
    )
    ft.svc.reload()
    assert "added: c; removed: b; changed: a, d;" in caplog.text
    now = clock.now
    half_hour = start + dt.timedelta(minutes=30)  # the new interval counts from d's last poll
    assert ft.next_runs() == {"feed:a": now, "feed:c": now, "feed:d": half_hour}
    assert feeds_json(ft.svc)["d"]["next_check"] == store.iso(half_hour)  # stored: feeds shows it
    polled = {path: len(fake_feeds.times(path)) for path in ("/a", "/b")}
    ft.run_for(minutes=30)
    assert {path: len(fake_feeds.times(path)) for path in ("/a", "/b")} == polled  # left alone
    assert fake_feeds.times("/a2") == [now + dt.timedelta(minutes=m) for m in (0, 10, 20, 30)]
    assert len(fake_feeds.times("/c")) == 4
    assert fake_feeds.times("/d") == [start, half_hour]

    # A broken file on reload is logged; the service keeps the configuration it has.
    ft.svc.config.path.write_text("[poll\nthis is not TOML")
    ft.svc.reload()
    assert "reload failed, keeping the configuration in use" in caplog.text
    ft.run_for(minutes=20)
    assert len(fake_feeds.times("/c")) == 6


def test_healthz_and_metrics_tell_an_operator_how_it_is_doing(
    in_fake_time, fake_feeds: FakeFeeds, clock: FakeClock, tmp_path, monkeypatch
) -> None:
    fake_feeds.route("/ok", Response(200, OK_FEED))
    fake_feeds.route("/broken", Response(500, b"oops"))
    start = clock.now
    ft = in_fake_time(
        [feed("ok", url("/ok"), "1h"), feed("broken", url("/broken"), "1h")],
        poll='backoff_initial = "1h"',
        listen="127.0.0.1:0",
    )
    ft.run_for(minutes=1)
    host, port = ft.svc.endpoint_address
    base = f"http://{host}:{port}"

    class Client:
        def get(self, path: str) -> httpx.Response:
            return httpx.get(base + path, timeout=10, trust_env=False)

    response = Client().get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["scheduler_running"] and health["database_writable"]
    ok, broken = health["feeds"]["ok"], health["feeds"]["broken"]
    assert ok["failing"] is False and ok["last_status"] == 200 and ok["last_outcome"] == "stored"
    assert ok["last_success"] == store.iso(start) and ok["next_check"] == store.iso(start + dt.timedelta(hours=1))
    # A failing feed is reported, and does not make the service unhealthy.
    assert broken["failing"] is True and broken["consecutive_failures"] == 1 and broken["last_error"]
    assert broken["gaps"] == [] and broken["gone"] is False

    m = metrics(Client())
    assert m[("aggregator_polls_total", (("feed", "ok"), ("outcome", "stored"), ("status", "200")))] == 1
    assert m[("aggregator_polls_total", (("feed", "broken"), ("outcome", "error"), ("status", "500")))] == 1
    assert m[("aggregator_fetch_duration_seconds_count", (("feed", "ok"),))] == 1
    assert m[("aggregator_posts_stored_total", (("feed", "ok"),))] == 2
    assert m[("aggregator_feeds_failing", ())] == 1
    assert m[("aggregator_feed_consecutive_failures", (("feed", "broken"),))] == 1
    assert m[("aggregator_feed_last_success_timestamp_seconds", (("feed", "ok"),))] == start.timestamp()
    assert ("aggregator_feed_last_success_timestamp_seconds", (("feed", "broken"),)) not in m
    next_check = m[("aggregator_feed_next_check_timestamp_seconds", (("feed", "broken"),))]
    assert next_check == (start + dt.timedelta(hours=1)).timestamp()
    assert m[("aggregator_feed_gaps_open", (("feed", "ok"),))] == 0
    assert m[("aggregator_scheduler_running", ())] == 1
    # Every per-feed series exists from the start, at zero, before its first event.
    assert m[("aggregator_posts_updated_total", (("feed", "ok"),))] == 0
    assert m[("aggregator_gaps_detected_total", (("feed", "broken"),))] == 0
    assert Client().get("/nope").status_code == 404
    head = httpx.head(base + "/healthz", timeout=10, trust_env=False)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0

    # aggregator healthcheck: 0 while healthy; 1 with the reason while the archive cannot be written.
    check = invoke("healthcheck", "--url", base + "/healthz")
    assert check.exit_code == 0 and "healthy (1 feed failing: broken)" in check.stdout
    monkeypatch.setattr(health_module, "WRITABLE_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(ft.svc.config.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process sits on the write lock
    try:
        response = Client().get("/healthz")
        assert response.status_code == 503 and response.json()["database_writable"] is False
        check = invoke("healthcheck", "--url", base + "/healthz")
        assert check.exit_code == 1 and "unhealthy: HTTP 503" in check.stderr and "cannot be written" in check.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert invoke("healthcheck", "--url", base + "/healthz").exit_code == 0
    assert ft.svc.stop() is True
    check = invoke("healthcheck", "--url", base + "/healthz")
    assert check.exit_code == 1 and "unhealthy: no answer from" in check.stderr


def test_healthcheck_without_an_endpoint_says_so(write_config, tmp_path) -> None:
    config = write_config([feed("a", "https://x.test/a")], extra='[service]\nlisten = ""')
    result = invoke("--config", str(config), "--db", str(tmp_path / "archive.db"), "healthcheck")
    assert result.exit_code == 1 and "endpoint is off (service.listen is empty)" in result.stderr


def test_a_repair_asked_for_while_one_runs_makes_it_look_again_never_two_at_once(
    write_config, clock: FakeClock
) -> None:
    config = load_config(write_config([]), environ={})
    schedule = Schedule(
        config,
        clock=clock,
        metrics=Metrics(scheduler_running=lambda: True, feeds=list),
        poll=lambda _name: None,
        write_draft=lambda: None,
    )
    stopping = threading.Event()
    rounds: list[dt.datetime] = []

    def repair_round() -> RepairRound:
        rounds.append(clock.now)
        if len(rounds) == 1:
            repairs.request()  # a poll finds another gap meanwhile: looked at by this job, later
            assert repairs.run() == 0  # a second job started meanwhile does nothing
            return RepairRound(3, None)
        return RepairRound(2, clock.now + dt.timedelta(hours=1))  # a repair failed: due again in an hour

    repairs = GapRepairs(schedule, repair_round=repair_round, stopping=stopping, clock=clock)
    repairs.request()  # before the start: nothing scheduled
    assert schedule.next_runs() == {}
    schedule.start(paused=True)
    try:
        repairs.request()
        assert schedule.next_runs() == {service_module.REPAIR_JOB: clock.now}
        assert repairs.run() == 5 and len(rounds) == 2
        assert schedule.next_runs() == {service_module.REPAIR_JOB: clock.now + dt.timedelta(hours=1)}
        stopping.set()
        repairs.request()  # never one started during shutdown
        assert schedule.next_runs() == {service_module.REPAIR_JOB: clock.now + dt.timedelta(hours=1)}
    finally:
        schedule.shutdown()


# --- the scheduler's own threads and events, in real time --------------------------------------


@pytest.fixture
def real_time_service(write_config, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """``make(feeds, transport, service=...)``: a Service on the real clock and scheduler, ``service``
    more of its ``[service]`` settings; stopped at the end."""
    services: list[Service] = []

    def make(feeds: list[dict[str, Any]], transport: httpx.BaseTransport, *, service: str = "") -> Service:
        path = write_config(feeds, extra=settings(None, service=service))
        svc = Service(load_config(path, database=tmp_path / "archive.db", environ={}), transport=transport)
        services.append(svc)
        return svc

    yield make
    for svc in services:
        svc.stop()


def test_a_job_that_fails_unexpectedly_is_logged_counted_and_runs_again(real_time_service, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="aggregator")
    calls: list[float] = []

    def broken(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        raise RuntimeError("a bug in a stage")

    svc = real_time_service([feed("buggy", "https://x.test/buggy", interval="500ms")], httpx.MockTransport(broken))
    svc.start()
    wait_until(lambda: len(calls) >= 2, 10, "the failing job to run again")
    svc.stop()
    assert "job feed:buggy failed: RuntimeError('a bug in a stage')" in caplog.text
    assert 'aggregator_job_errors_total{job="feed:buggy"}' in svc.metrics.exposition().decode()


def test_missed_runs_are_logged_and_counted(real_time_service, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="aggregator")
    requests: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return feed_response(OK_FEED)

    svc = real_time_service(
        [feed("quick", "https://x.test/quick", "1h")],
        httpx.MockTransport(answer),
        service='misfire_grace_time = "1s"',
    )
    done = threading.Event()
    svc.schedule.scheduler.add_listener(lambda _event: done.set(), EVENT_JOB_EXECUTED)
    svc.start()
    assert done.wait(10), "the first poll"
    # A run due 10 s ago (a worker was busy, the machine asleep) is more than the grace time late.
    svc.schedule.scheduler.modify_job("feed:quick", next_run_time=dt.datetime.now(UTC) - dt.timedelta(seconds=10))
    wait_until(lambda: "missed its run" in caplog.text, 10, "a missed run")
    assert "job feed:quick missed its run" in caplog.text and "service.misfire_grace_time" in caplog.text
    key = ("aggregator_jobs_missed_total", (("job", "feed:quick"), ("reason", "late")))
    assert parse_samples(svc.exposition().decode())[key] == 1
    assert requests == ["/quick"]


def test_a_poll_in_flight_at_stop_finishes_within_the_grace_and_is_stored(real_time_service) -> None:
    entered = threading.Event()

    def slowish(request: httpx.Request) -> httpx.Response:
        entered.set()
        time.sleep(0.3)
        return feed_response(OK_FEED)

    svc = real_time_service([feed("slowish", "https://x.test/slowish", "1h")], httpx.MockTransport(slowish))
    svc.start()
    assert entered.wait(10)
    svc.request_stop("SIGTERM")
    started = time.monotonic()
    assert svc.stop() is True
    assert time.monotonic() - started < 6  # the shipped service.shutdown_grace
    assert read_db(svc.config.database, "SELECT outcome, new FROM fetch_log WHERE feed = 'slowish'") == [("stored", 2)]
    assert read_db(svc.config.database, "SELECT count(*) FROM posts") == [(2,)]


@pytest.mark.parametrize(
    "grace, signals, within",
    [("300ms", 1, (0.3, 3.0)), ("30s", 2, (0.0, 3.0))],
    ids=["after-the-grace", "second-signal-at-once"],
)
def test_a_stop_abandons_a_stuck_poll_and_writes_nothing_of_it(
    real_time_service, caplog, grace: str, signals: int, within: tuple[float, float]
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    stuck, release, workers = threading.Event(), threading.Event(), []
    polled_ok = threading.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stuck":
            workers.append(threading.current_thread())
            stuck.set()
            release.wait(30)  # a server that never answers, until the test is done
        else:
            polled_ok.set()
        return feed_response(OK_FEED)

    svc = real_time_service(
        [feed("stuck", "https://x.test/stuck", "1h"), feed("ok", "https://x.test/ok", "1h")],
        httpx.MockTransport(answer),
        service=f'shutdown_grace = "{grace}"',
    )
    svc.start()
    assert stuck.wait(10) and polled_ok.wait(10)
    wait_until(
        lambda: read_db(svc.config.database, "SELECT count(*) FROM fetch_log WHERE feed = 'ok'") == [(1,)],
        10,
        "ok stored",
    )
    for _ in range(signals):
        svc.request_stop("SIGINT")
    started = time.monotonic()
    assert svc.stop() is False
    assert within[0] <= time.monotonic() - started < within[1]
    assert "abandoned 1 poll(s)" in caplog.text and "nothing of them was written" in caplog.text
    release.set()  # the stuck fetch ends now: its worker finds the poll abandoned and writes nothing
    workers[0].join(10)
    assert read_db(svc.config.database, "SELECT count(*) FROM fetch_log WHERE feed = 'stuck'") == [(0,)]
    assert read_db(svc.config.database, "SELECT last_polled FROM feeds WHERE name = 'stuck'") == [(None,)]
    assert read_db(svc.config.database, "PRAGMA integrity_check") == [("ok",)]


def test_a_busy_port_is_logged_as_a_start_that_failed_not_as_a_stop(write_config, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        path = write_config([feed("a", "https://x.test/a", enabled=False)], extra=settings(port))
        config = load_config(path, database=tmp_path / "archive.db", environ={})
        with pytest.raises(ConfigError, match=rf"service.listen: cannot listen on 127.0.0.1:{port}"):
            service_module.run_service(config)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("aggregator.service")]
    assert [m for m in messages if "could not start" in m] == [
        f"service could not start: {path}: service.listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert not [m for m in messages if "started" in m or "stopped" in m or "stopping" in m], messages
    with service_lock(config.database):  # nothing is left held
        pass


def test_the_archive_is_migrated_before_the_endpoint_answers(quiet_service, tmp_path, monkeypatch) -> None:
    # /healthz reads the archive on the endpoint's thread: an archive still migrating on the main
    # thread would be migrated twice at once ("table ... already exists").
    migrated_at_bind = []
    bind = service_module.start_endpoint

    def checking(*args: Any, **kwargs: Any) -> Any:
        migrated_at_bind.append(read_db(tmp_path / "archive.db", "SELECT count(*) FROM _sqlite_migrations")[0][0])
        return bind(*args, **kwargs)

    monkeypatch.setattr(service_module, "start_endpoint", checking)
    quiet_service('[service]\nlisten = "127.0.0.1:0"').start()
    migrations = read_db(tmp_path / "archive.db", "SELECT count(*) FROM _sqlite_migrations")[0][0]
    assert migrations > 0 and migrated_at_bind == [migrations]


def test_readers_and_commands_beside_the_writing_service_never_see_database_is_locked(
    server: LoopbackServer, write_config, tmp_path, caplog
) -> None:
    datasette_app = pytest.importorskip("datasette.app")
    caplog.set_level(logging.INFO)
    growing = [GrowingFeed(f"w{i}", per_request=3) for i in range(6)]
    for f in growing:
        server.route(f"/{f.name}", f)
    config = write_config([feed(f.name, server.url(f"/{f.name}"), "200ms") for f in growing], extra=settings(None))
    db = tmp_path / "archive.db"
    svc = Service(load_config(config, database=db, environ={}))

    async def browse(rounds: int) -> list[int]:
        ds = datasette_app.Datasette([str(db)])
        counts = []
        for _ in range(rounds):
            response = await ds.client.get("/archive.json?sql=select+count(*)+as+n+from+posts&_shape=array")
            assert response.status_code == 200, response.text
            counts.append(response.json()[0]["n"])
            search = await ds.client.get("/archive/posts.json?_search=item&_shape=array&_size=5")
            assert search.status_code == 200, search.text
        return counts

    seen: list[int] = []
    with service_lock(db):  # as `aggregator run` holds it: one-shot commands never take it
        svc.start()
        stopped = None
        try:
            wait_until(lambda: len(server.requests) >= 12, 10, "the service to be writing")
            for _ in range(4):
                for args in (("posts", "--json", "--limit", "1000"), ("feeds", "--json"), ("poll", "--feed", "w0")):
                    result = invoke("--config", str(config), "--db", str(db), *args)
                    assert result.exit_code == 0, result.output
                    assert "locked" not in result.output
                seen += asyncio.run(browse(5))
        finally:
            stopped = svc.stop()
    assert stopped is True
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the service kept writing while we read
    assert "locked" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    samples = parse_samples(svc.exposition().decode())
    assert not [
        k for k, v in samples.items() if k[0] == "aggregator_polls_total" and ("outcome", "error") in k[1] and v
    ]


# --- real processes ----------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_in_poll_bursts_loses_nothing_and_duplicates_nothing(
    server: LoopbackServer, write_config, start_service
) -> None:
    feeds = [GrowingFeed(f"g{i}", per_request=2, delay=0.3) for i in range(8)]
    for f in feeds:
        server.route(f"/{f.name}", f)
    port = free_port()
    config = write_config([feed(f.name, server.url(f"/{f.name}"), "300ms") for f in feeds], extra=settings(port))
    rng = random.Random(5)
    for round_ in range(2):
        before = len(server.requests)
        proc = start_service(config, port)
        wait_until(lambda b=before: len(server.requests) >= b + 12, 15, "a burst of polls")
        time.sleep(rng.uniform(0, 0.6))
        # Kill as the next request arrives: its answer takes 0.3 s, so this poll is cut short.
        seen = len(server.requests)
        wait_until(lambda s=seen: len(server.requests) > s, 15, "the next request", interval=0.005)
        proc.kill()
        assert read_db(proc.db, "PRAGMA integrity_check") == [("ok",)], f"round {round_}"
    # The kills landed in the middle of polls: more requests were served than polls recorded.
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
def test_a_running_service_refuses_a_second_one_reloads_on_sighup_and_stops_on_sigterm_within_the_grace(
    server: LoopbackServer, write_config, start_service, tmp_path
) -> None:
    server.route("/stuck", Response(200, OK_FEED, delay=120))  # a server that never answers
    server.route("/ok", Response(200, OK_FEED))
    server.route("/added", Response(200, OK_FEED))
    port = free_port()
    extra = settings(port, service='shutdown_grace = "1s"')
    config = write_config([feed("stuck", server.url("/stuck")), feed("ok", server.url("/ok"))], extra=extra)
    proc = start_service(config, port)
    proc.wait_healthy()
    wait_until(lambda: server.requests_for("/stuck") and server.requests_for("/ok"), 10, "both feeds requested")

    # A second service on the same archive is refused, whatever path names it (here a symlink).
    link = tmp_path / "link.db"
    link.symlink_to(proc.db)
    second = cli(config, link, "run", timeout=20)
    assert second.returncode == 1, second.stdout
    assert f"another aggregator service (pid {proc.proc.pid}) is already running on {link}" in second.stderr

    # SIGHUP reloads the feed list.
    write_config(
        [feed("stuck", server.url("/stuck")), feed("ok", server.url("/ok")), feed("added", server.url("/added"))],
        extra=extra,
    )
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: server.requests_for("/added"), 10, "the added feed polled")
    assert any("added: added; removed: none" in line["message"] for line in proc.lines())

    # SIGTERM: exit 0 within the grace, the stuck poll abandoned without a trace, the archive whole.
    rc, elapsed = proc.stop()
    assert rc == 0 and elapsed < 6
    messages = [line["message"] for line in proc.lines()]
    assert any(m.startswith("stopping (SIGTERM)") for m in messages), messages
    assert any("abandoned" in m and "nothing of them was written" in m for m in messages), messages
    assert read_db(proc.db, "SELECT count(*) FROM fetch_log WHERE feed = 'stuck'") == [(0,)]
    assert read_db(proc.db, "SELECT last_polled FROM feeds WHERE name = 'stuck'") == [(None,)]
    assert read_db(proc.db, "PRAGMA integrity_check") == [("ok",)]
    # A clean exit leaves no pid behind for `kill -HUP "$(cat archive.db.lock)"` to hit.
    assert proc.db.resolve().with_name(proc.db.name + ".lock").read_text() == ""
    # The shipped grace fits in the 10 s `docker stop` waits before SIGKILL.
    assert ServiceSettings().shutdown_grace < 10
