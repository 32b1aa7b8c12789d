"""Gap detection after a poll, and its repair from the What's New directory API.

The last test is the simulated outage: the real ``aggregator run`` on a loopback What's New feed
and a loopback API, stopped while the feed moves on by 400 items, then restarted.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FakeClock, LoopbackServer, Response, rss
from test_service import ServiceProcess, free_port, metrics, read_db, wait_until
from whatsnew_api import API_PATH, FakeApi, api_item, rss_item, timeline

from aggregator import pipeline, store
from aggregator.backfill import repair_gap, repairable_gaps
from aggregator.cli import cli
from aggregator.config import Config, load_config
from aggregator.fetch import build_client
from aggregator.models import Post

UTC = dt.UTC
START = dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
STEP = dt.timedelta(minutes=10)
TIMES = timeline(600, start=START, step=STEP)


def window(top: int, size: int = 10) -> bytes:
    """The What's New RSS when item ``top`` is the newest: the ``size`` newest items."""
    return rss(*(rss_item(n, TIMES[n]) for n in range(top, max(-1, top - size), -1)))


@pytest.fixture
def make_config(server: LoopbackServer, write_config: Callable[..., Path]) -> Callable[..., Config]:
    def make(kind: str = "aws-whats-new", extra: str = "") -> Config:
        path = write_config(
            [{"name": "wn", "url": server.url("/rss"), "kind": kind}],
            extra=f"""
[backfill]
api_url = "{server.url(API_PATH)}"
pause = "0s"
page_size = 25
{extra}
""",
        )
        return load_config(path, database=path.parent / "archive.db")

    return make


def poll(config: Config, clock: FakeClock) -> Any:
    db = store.open_db(config.database)
    with build_client(config.settings.http) as client:
        (result,) = pipeline.poll_feeds(
            db, pipeline.Poller.create(config, client=client, now=clock), config.feeds, force=True
        )
    clock.advance(minutes=15)
    return result


# --- detection ---------------------------------------------------------------------------------


def _post(n: int) -> Post:
    return Post(
        id=str(n),
        url=None,
        guid=None,
        title="t",
        summary="",
        summary_html="",
        links=(),
        link_ids=(),
        published=TIMES[n],
        updated=None,
        authors=(),
        categories=(),
        content_hash="h",
    )


@pytest.mark.parametrize(
    "check, posts, expected",
    [
        (store.WindowCheck(known=0, stored=10, newest=TIMES[9]), [30, 31], (TIMES[9], TIMES[30])),
        (store.WindowCheck(known=1, stored=10, newest=TIMES[9]), [9, 30], None),  # overlaps
        (store.WindowCheck(known=0, stored=0, newest=None), [30, 31], None),  # first poll
        (store.WindowCheck(known=0, stored=10, newest=TIMES[40]), [30, 31], None),  # older items, not a gap
        (store.WindowCheck(known=0, stored=10, newest=TIMES[30]), [30, 31], None),  # touching is no gap
    ],
)
def test_find_gap(check: store.WindowCheck, posts: list[int], expected: Any) -> None:
    assert pipeline.find_gap(check, [_post(n) for n in posts]) == expected


def test_a_poll_that_shares_nothing_with_the_archive_and_starts_after_it_records_a_gap(
    server: LoopbackServer, make_config, clock: FakeClock
) -> None:
    config = make_config()
    server.route("/rss", Response(200, window(9)))
    assert poll(config, clock).gap is None  # the first poll: nothing to compare with

    server.route("/rss", Response(200, window(15)))  # moved on by 6: still overlaps
    assert poll(config, clock).gap is None

    server.route("/rss", Response(200, window(60)))  # items 51-60: 16-50 never seen
    result = poll(config, clock)
    assert result.gap is not None and result.gap.status == "open"
    assert (result.gap.start, result.gap.end) == (TIMES[15], TIMES[51])
    assert result.as_json()["gap"]["from"] == "2024-05-01T10:30:00+00:00"

    server.route("/rss", Response(200, window(62)))
    assert poll(config, clock).gap is None  # the same window again: no second gap

    db = store.open_db(config.database)
    (gap,) = store.gaps(db)
    assert gap.feed == "wn" and gap.detected_at == dt.datetime(2024, 5, 6, 9, 30, tzinfo=UTC)

    # aggregator feeds shows it, in text and JSON.
    args = ["--config", str(config.path), "--db", str(config.database), "feeds"]
    text = CliRunner().invoke(cli, args).stdout
    assert (
        "^ gap: nothing seen between 2024-05-01 10:30 and 2024-05-01 16:30 UTC (detected 2024-05-06 09:30; open)"
        in text
    )
    (row,) = [json.loads(line) for line in CliRunner().invoke(cli, [*args, "--json"]).stdout.splitlines()]
    assert [g["status"] for g in row["gaps"]] == ["open"]


def test_a_gap_in_a_blog_cannot_be_read_back_and_is_unrepairable_at_once(
    server: LoopbackServer, make_config, clock: FakeClock
) -> None:
    config = make_config(kind="aws-blog")
    server.route("/rss", Response(200, window(9)))
    poll(config, clock)
    server.route("/rss", Response(200, window(60)))
    gap = poll(config, clock).gap
    assert gap is not None and gap.status == "unrepairable" and "no history" in (gap.error or "")


def test_community_feeds_are_not_checked_for_gaps(server: LoopbackServer, make_config, clock: FakeClock) -> None:
    config = make_config(kind="community")
    server.route("/rss", Response(200, window(9)))
    poll(config, clock)
    server.route("/rss", Response(200, window(60)))
    assert poll(config, clock).gap is None


def test_feed_gaps_gives_the_gaps_still_a_problem_that_overlap_a_week(make_config) -> None:
    config = make_config()
    db = store.open_db(config.database)
    now = dt.datetime(2024, 6, 1, tzinfo=UTC)
    with store.write_transaction(db):
        a = store.record_gap(
            db, "wn", start=dt.datetime(2024, 5, 5, tzinfo=UTC), end=dt.datetime(2024, 5, 7, tzinfo=UTC), now=now
        )
        b = store.record_gap(
            db, "wn", start=dt.datetime(2024, 5, 12, tzinfo=UTC), end=dt.datetime(2024, 5, 14, tzinfo=UTC), now=now
        )
        c = store.record_gap(
            db, "blog", start=dt.datetime(2024, 5, 6, tzinfo=UTC), end=dt.datetime(2024, 5, 15, tzinfo=UTC), now=now
        )
        store.update_gap(db, b.id, status="repaired", items_recovered=40, attempts=1, error=None, repaired_at=now)
        store.update_gap(db, c.id, status="unrepairable", items_recovered=0, attempts=0, error="no history")
    week = (dt.datetime(2024, 5, 13, tzinfo=UTC), dt.datetime(2024, 5, 20, tzinfo=UTC))
    assert [g.id for g in store.feed_gaps(db, *week)] == [c.id]  # b was repaired
    week = (dt.datetime(2024, 5, 6, tzinfo=UTC), dt.datetime(2024, 5, 13, tzinfo=UTC))
    assert [g.id for g in store.feed_gaps(db, *week)] == [a.id, c.id]
    assert store.feed_gaps(db, dt.datetime(2024, 5, 7, tzinfo=UTC), dt.datetime(2024, 5, 8, tzinfo=UTC))[0].id == c.id


# --- repair ------------------------------------------------------------------------------------


def test_a_gap_is_repaired_from_the_api_and_every_item_stored_once(
    server: LoopbackServer, make_config, clock: FakeClock
) -> None:
    config = make_config()
    api = FakeApi([api_item(n, TIMES[n]) for n in range(200)])
    server.route(API_PATH, api)
    server.route("/rss", Response(200, window(9)))
    poll(config, clock)
    server.route("/rss", Response(200, window(120)))
    gap = poll(config, clock).gap
    assert gap is not None

    db = store.open_db(config.database)
    assert repairable_gaps(db, config, now=clock()) == [gap]
    with build_client(config.settings.http) as client:
        outcome = repair_gap(db, pipeline.Poller.create(config, client=client, now=clock), gap, sleep=lambda _s: None)
    assert outcome.gap.status == "repaired" and outcome.recovered == outcome.gap.items_recovered == 101  # 10-110
    assert outcome.gap.repaired_at == clock()
    titles = [r[0] for r in db.execute("SELECT title FROM posts")]
    assert len(titles) == len(set(titles)) == 121
    # The recovered posts are tagged as the polled ones are: the same path into the archive.
    untagged = db.execute("SELECT count(*) FROM posts WHERE tagged_with IS NULL OR kind IS NULL").fetchone()[0]
    assert untagged == 0
    assert db.execute("SELECT count(DISTINCT post_id) FROM post_tags").fetchone()[0] == 121
    assert repairable_gaps(db, config, now=clock()) == []
    assert store.feed_gaps(db, START, TIMES[-1]) == []


def test_a_repair_that_keeps_failing_is_retried_later_then_marked_unrepairable(
    server: LoopbackServer, make_config, clock: FakeClock
) -> None:
    config = make_config(extra='repair_attempts = 2\nrepair_retry = "30m"\nmax_retries = 0')
    server.route(API_PATH, Response(404, b"no such API"))
    server.route("/rss", Response(200, window(9)))
    poll(config, clock)
    server.route("/rss", Response(200, window(60)))
    gap = poll(config, clock).gap
    assert gap is not None
    db = store.open_db(config.database)
    with build_client(config.settings.http) as client:
        first = repair_gap(db, pipeline.Poller.create(config, client=client, now=clock), gap).gap
        assert (first.status, first.attempts) == ("open", 1) and "HTTP 404" in (first.error or "")
        assert store.gap_next_attempt(db, gap.id) == clock() + dt.timedelta(minutes=30)
        assert repairable_gaps(db, config, now=clock()) == []  # not yet due
        clock.advance(minutes=31)
        (due,) = repairable_gaps(db, config, now=clock())
        second = repair_gap(db, pipeline.Poller.create(config, client=client, now=clock), due).gap
    assert (second.status, second.attempts) == ("unrepairable", 2)
    assert [g.status for g in store.feed_gaps(db, START, TIMES[-1])] == ["unrepairable"]  # still visible


def test_aggregator_backfill_gaps_repairs_by_hand(server: LoopbackServer, make_config, clock: FakeClock) -> None:
    config = make_config(extra="auto_repair = false")
    server.route(API_PATH, FakeApi([api_item(n, TIMES[n]) for n in range(100)]))
    server.route("/rss", Response(200, window(9)))
    poll(config, clock)
    server.route("/rss", Response(200, window(60)))
    poll(config, clock)
    args = ["--config", str(config.path), "--db", str(config.database), "backfill", "--gaps"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "repaired" in result.stdout and "41 posts recovered" in result.stdout
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert json.loads(again.stdout) == []


# --- the simulated outage ----------------------------------------------------------------------


@pytest.mark.slow
def test_after_an_outage_the_service_detects_the_gap_repairs_it_and_says_so(
    server: LoopbackServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    newest = {"n": 99}
    server.route("/rss", lambda _req: Response(200, window(newest["n"], 100), {"Content-Type": "application/rss+xml"}))
    api = FakeApi([api_item(n, TIMES[n]) for n in range(600)])
    server.route(API_PATH, api)
    port = free_port()
    config = write_config(
        [{"name": "aws-whats-new", "url": server.url("/rss"), "kind": "aws-whats-new", "interval": "1s"}],
        extra=f"""
[poll]
min_interval = "100ms"
jitter = 0

[service]
listen = "127.0.0.1:{port}"

[backfill]
api_url = "{server.url(API_PATH)}"
pause = "0s"
""",
    )
    db = tmp_path / "archive.db"
    count = "SELECT count(*), count(DISTINCT id), count(DISTINCT url) FROM posts"

    first = ServiceProcess(config, db, port, "first.log")
    try:
        first.wait_healthy()
        wait_until(lambda: read_db(db, count)[0][0] == 100, 15, "the first window stored")
        assert first.stop()[0] == 0
    finally:
        first.close()

    newest["n"] = 499  # while it was stopped, What's New moved on by 400: items 100-399 scrolled out
    restarted = time.monotonic()
    second = ServiceProcess(config, db, port, "second.log")
    try:
        second.wait_healthy()
        gaps = "SELECT status, items_recovered, gap_from, gap_until FROM feed_gaps"
        wait_until(lambda: read_db(db, gaps) and read_db(db, gaps)[0][0] == "repaired", 20, "the gap repaired")
        took = time.monotonic() - restarted
        ((status, recovered, gap_from, gap_until),) = read_db(db, gaps)
        assert (status, recovered) == ("repaired", 300)
        assert (gap_from, gap_until) == (store.iso(TIMES[99]), store.iso(TIMES[400]))
        assert read_db(db, count) == [(500, 500, 500)]  # every item exactly once
        assert read_db(db, "SELECT count(*), count(DISTINCT post_id) FROM post_sources") == [(500, 500)]

        samples = metrics(second)
        feed = (("feed", "aws-whats-new"),)
        assert samples[("aggregator_gaps_detected_total", feed)] == 1
        assert samples[("aggregator_gap_items_recovered_total", feed)] == 300
        assert samples[("aggregator_feed_gaps_open", feed)] == 0
        health = second.get("/healthz").json()
        assert health["status"] == "ok" and health["feeds"]["aws-whats-new"]["gaps"] == []
        logged = [line for line in second.lines() if "gap" in line]
        assert any(
            line.get("level") == "warning" and line["gap"] and line["gap"]["status"] == "open" for line in logged
        )
        assert any(line["gap"] and line["gap"]["status"] == "repaired" for line in logged)
        assert second.stop()[0] == 0
    finally:
        second.close()
    assert took < 20
    # Only the gap was read from the API: 2024's tag, newest first, down to the gap's start.
    assert {q.get("tags.id") for q in api.queries} == {"whats-new-v2#year#2024"}
