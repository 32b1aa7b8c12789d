"""What a poll does on the network: the status policy, politeness, timeouts, size caps, redirects.

Through the real loopback server (``server`` in conftest) wherever the network itself is under
test, and through ``httpx.MockTransport`` for the one answer that server cannot give (a body
without Content-Length that never ends). Every failure case polls a good feed in the same
``poll_feeds`` call and checks that its posts are stored all the same.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import gzip
import logging
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FakeClock, LoopbackServer, Request, Response, item, rss
from sqlite_utils import Database

from aggregator import __version__, pipeline, store
from aggregator.config import Config, load_config
from aggregator.fetch import STATUS_POLICY, Action, action_for, build_client
from aggregator.models import PollResult

FEED = rss(item("first-post"), item("second-post"))
FEED_TITLES = ["First Post", "Second Post"]
GOOD = rss(item("good-one"), item("good-two"))
GOOD_TITLES = ["Good One", "Good Two"]
MOCK_HOST = "http://feeds.test"
"""Host of the feeds served by ``httpx.MockTransport`` (never resolved: the transport answers)."""


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return store.open_db(tmp_path / "archive.db")


@pytest.fixture
def configure(server: LoopbackServer, write_config: Callable[..., Path]) -> Callable[..., Config]:
    """A configuration with the given feeds (name -> path on the loopback server, or full URL)
    and a good feed named ``good``, served by the loopback server unless ``good_url`` says where."""
    server.route("/good", Response(body=GOOD, headers={"Content-Type": "application/rss+xml"}))

    def make(feeds: dict[str, str], extra: str = "", good_url: str | None = None) -> Config:
        urls = {**feeds, "good": good_url or "/good"}
        entries = [
            {"name": name, "url": url if "://" in url else server.url(url), "kind": "aws-whats-new"}
            for name, url in urls.items()
        ]
        return load_config(write_config(entries, extra), environ={})

    return make


def poll(
    db: Database,
    config: Config,
    clock: FakeClock,
    *,
    transport: httpx.BaseTransport | None = None,
    rng: random.Random | None = None,
    **options: Any,
) -> dict[str, PollResult]:
    """One ``poll_feeds`` call over every configured feed, by feed name."""
    with build_client(config.settings.http, transport=transport) as client:
        poller = pipeline.Poller.create(config, client=client, now=clock, rng=rng or random.Random(1))
        results = pipeline.poll_feeds(db, poller, config.feeds, **options)
    return {result.feed: result for result in results}


def titles(db: Database, feed: str) -> list[str]:
    return sorted(post["title"] for post in store.query_posts(db, feeds=[feed]))


def fetch_log(db: Database, feed: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM fetch_log WHERE feed = ? ORDER BY id", [feed]))


def state_of(db: Database, feed: str) -> Any:
    state = store.feed_state(db, feed)
    assert state is not None
    return state


def assert_failed(db: Database, results: dict[str, PollResult], message: str) -> None:
    """``feed`` failed with ``message``, stored nothing, and the good feed was stored anyway."""
    result = results["feed"]
    assert result.outcome == "error"
    assert result.error is not None and message in result.error
    assert titles(db, "feed") == []
    state = state_of(db, "feed")
    assert state.last_outcome == "error"
    assert state.last_error == result.error
    assert state.consecutive_failures == 1
    assert fetch_log(db, "feed")[-1]["error"] == result.error
    assert_good_feed_stored(db, results)


def assert_good_feed_stored(db: Database, results: dict[str, PollResult]) -> None:
    assert results["good"].outcome == "stored"
    assert titles(db, "good") == GOOD_TITLES


def record_parses(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The URLs whose bodies the pipeline parses from now on."""
    parsed: list[str | None] = []
    original = pipeline.parse_bytes

    def spy(body: bytes, **kwargs: Any) -> Any:
        parsed.append(kwargs.get("url"))
        return original(body, **kwargs)

    monkeypatch.setattr(pipeline, "parse_bytes", spy)
    return parsed


@functools.cache
def gzip_bomb(size: int = 256 * 1024 * 1024) -> bytes:
    """A gzip stream of ``size`` zero bytes: about a thousandth of that on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    megabyte = bytes(1024 * 1024)
    parts = [compressor.compress(megabyte) for _ in range(size // len(megabyte))]
    return b"".join([*parts, compressor.flush()])


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib header, as some servers send ``Content-Encoding: deflate``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


# --- the status policy, as a table -----------------------------------------------------------

EXPECTED_POLICY = [
    (200, Action.OK),
    (203, Action.OK),
    (304, Action.NOT_MODIFIED),
    (301, Action.MOVED),
    (308, Action.MOVED),
    (302, Action.REDIRECT),
    (303, Action.REDIRECT),
    (307, Action.REDIRECT),
    (410, Action.GONE),
    (429, Action.RETRY_AFTER),
    (503, Action.RETRY_AFTER),
    (201, Action.BACKOFF),
    (204, Action.BACKOFF),
    (206, Action.BACKOFF),
    (300, Action.BACKOFF),
    (400, Action.BACKOFF),
    (401, Action.BACKOFF),
    (403, Action.BACKOFF),
    (404, Action.BACKOFF),
    (451, Action.BACKOFF),
    (500, Action.BACKOFF),
    (502, Action.BACKOFF),
    (504, Action.BACKOFF),
]


@pytest.mark.parametrize(("status", "action"), EXPECTED_POLICY)
def test_status_policy(status: int, action: Action) -> None:
    assert action_for(status) is action


def test_policy_table_lists_exactly_the_statuses_tested_here() -> None:
    assert {status: action for status, action in EXPECTED_POLICY if action is not Action.BACKOFF} == STATUS_POLICY


@pytest.mark.parametrize(
    ("status", "outcome", "failures", "gone"),
    [
        (200, "stored", 0, False),
        (203, "stored", 0, False),
        (204, "error", 1, False),
        (404, "error", 1, False),
        (410, "gone", 0, True),
        (429, "error", 1, False),
        (500, "error", 1, False),
        (503, "error", 1, False),
    ],
)
def test_first_poll_by_status(server, configure, db, clock, status, outcome, failures, gone) -> None:
    # Every answer but the 204 carries a feed: only a 200 or 203 may store it.
    server.route("/feed", Response(status, body=b"" if status == 204 else FEED))
    results = poll(db, configure({"feed": "/feed"}), clock)

    assert results["feed"].outcome == outcome
    assert results["feed"].status == status
    assert titles(db, "feed") == (FEED_TITLES if outcome == "stored" else [])
    state = state_of(db, "feed")
    assert (state.last_status, state.last_outcome, state.consecutive_failures, state.gone) == (
        status,
        outcome,
        failures,
        gone,
    )
    assert state.last_success == (clock.now if outcome == "stored" else None)
    [logged] = fetch_log(db, "feed")
    assert (logged["status"], logged["outcome"], logged["url"]) == (status, outcome, server.url("/feed"))
    assert_good_feed_stored(db, results)


# --- 200, 304 and unchanged bodies -----------------------------------------------------------


def test_200_stores_the_posts_and_schedules_the_next_poll(server, configure, db, clock) -> None:
    server.route("/feed", Response(body=FEED, headers={"Content-Type": "application/rss+xml; charset=utf-8"}))
    results = poll(db, configure({"feed": "/feed"}), clock)

    assert (results["feed"].outcome, results["feed"].new) == ("stored", 2)
    assert titles(db, "feed") == FEED_TITLES
    state = state_of(db, "feed")
    assert state.last_status == 200
    assert state.last_success == clock.now
    assert state.consecutive_failures == 0
    # aws-whats-new feeds are polled every 15 minutes, give or take the 10% jitter.
    assert dt.timedelta(minutes=13.5) <= state.next_check - clock.now <= dt.timedelta(minutes=16.5)
    [logged] = fetch_log(db, "feed")
    assert (logged["outcome"], logged["new"], logged["bytes"]) == ("stored", 2, len(FEED))


@pytest.mark.parametrize(
    ("validator", "value", "conditional"),
    [
        ("ETag", '"v1-5f3a"', "if-none-match"),
        ("Last-Modified", "Mon, 06 May 2024 08:00:00 GMT", "if-modified-since"),
    ],
)
def test_validators_round_trip_and_a_304_stores_nothing(
    server, configure, db, clock, monkeypatch, validator, value, conditional
) -> None:
    def conditional_get(request: Request) -> Response:
        if request.headers.get(conditional) == value:
            return Response(304, headers={validator: value})
        return Response(body=FEED, headers={validator: value})

    server.route("/feed", conditional_get)
    config = configure({"feed": "/feed"})
    assert poll(db, config, clock)["feed"].outcome == "stored"
    assert conditional not in server.requests_for("/feed")[0].headers

    parsed = record_parses(monkeypatch)
    clock.advance(hours=1)
    results = poll(db, config, clock)

    assert server.requests_for("/feed")[1].headers[conditional] == value
    assert (results["feed"].outcome, results["feed"].status, results["feed"].new) == ("not-modified", 304, 0)
    assert server.url("/feed") not in parsed
    assert titles(db, "feed") == FEED_TITLES
    state = state_of(db, "feed")
    assert (state.etag if validator == "ETag" else state.last_modified) == value
    assert (state.last_outcome, state.last_success, state.consecutive_failures) == ("not-modified", clock.now, 0)
    assert [(row["outcome"], row["new"]) for row in fetch_log(db, "feed")] == [("stored", 2), ("not-modified", 0)]


def test_an_identical_body_is_unchanged_and_not_parsed(server, configure, db, clock, monkeypatch) -> None:
    third = rss(item("third-post"), item("first-post"), item("second-post"))
    server.route("/feed", [Response(body=FEED), Response(body=FEED), Response(body=third)])
    config = configure({"feed": "/feed"})
    parsed = record_parses(monkeypatch)

    first = poll(db, config, clock)
    clock.advance(hours=1)
    second = poll(db, config, clock)
    clock.advance(hours=1)
    third_poll = poll(db, config, clock)

    assert [r["feed"].outcome for r in (first, second, third_poll)] == ["stored", "unchanged", "stored"]
    assert parsed.count(server.url("/feed")) == 2  # the first and the third body
    assert (second["feed"].new, third_poll["feed"].new) == (0, 1)
    assert [row["outcome"] for row in fetch_log(db, "feed")] == ["stored", "unchanged", "stored"]
    assert titles(db, "feed") == ["First Post", "Second Post", "Third Post"]


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_moves_the_feed(server, configure, db, clock, caplog, status) -> None:
    server.route("/old", Response(status, headers={"Location": "/new"}))
    server.route("/new", Response(body=FEED))
    config = configure({"feed": "/old"})

    with caplog.at_level(logging.WARNING, logger="aggregator.pipeline"):
        results = poll(db, config, clock)

    assert results["feed"].outcome == "stored"
    assert results["feed"].moved_to == server.url("/new")
    assert titles(db, "feed") == FEED_TITLES
    assert state_of(db, "feed").url == server.url("/new")
    assert any(
        "moved permanently" in record.getMessage() and server.url("/new") in record.getMessage()
        for record in caplog.records
    )

    clock.advance(hours=1)
    poll(db, config, clock)
    assert len(server.requests_for("/old")) == 1
    assert len(server.requests_for("/new")) == 2


@pytest.mark.parametrize("status", [302, 307])
def test_a_temporary_redirect_is_followed_and_the_url_kept(server, configure, db, clock, status) -> None:
    server.route("/feed", Response(status, headers={"Location": server.url("/today")}))
    server.route("/today", Response(body=FEED))
    config = configure({"feed": "/feed"})

    results = poll(db, config, clock)
    assert results["feed"].outcome == "stored"
    assert results["feed"].moved_to is None
    assert titles(db, "feed") == FEED_TITLES
    assert state_of(db, "feed").url == server.url("/feed")

    clock.advance(hours=1)
    poll(db, config, clock)
    assert len(server.requests_for("/feed")) == 2


@pytest.mark.parametrize(
    ("first", "second", "stored"),
    [(301, 308, "/c"), (301, 302, "/b"), (302, 301, "/a")],
    ids=["permanent-permanent", "permanent-temporary", "temporary-permanent"],
)
def test_a_redirect_chain_moves_the_feed_only_as_far_as_every_hop_is_permanent(
    server, configure, db, clock, first, second, stored
) -> None:
    server.route("/a", Response(first, headers={"Location": "/b"}))
    server.route("/b", Response(second, headers={"Location": "/c"}))
    server.route("/c", Response(body=FEED))

    results = poll(db, configure({"feed": "/a"}), clock)

    assert results["feed"].outcome == "stored"
    assert state_of(db, "feed").url == server.url(stored)


def test_a_redirect_loop_fails_with_a_clear_message(server, configure, db, clock) -> None:
    server.route("/loop-a", Response(301, headers={"Location": "/loop-b"}))
    server.route("/loop-b", Response(302, headers={"Location": "/loop-a"}))

    results = poll(db, configure({"feed": "/loop-a"}), clock)

    assert_failed(db, results, "redirect loop")
    assert len(server.requests_for("/loop-a")) == 1
    assert state_of(db, "feed").url == server.url("/loop-a")


@pytest.mark.parametrize(("hops", "outcome"), [(5, "stored"), (6, "error")])
def test_at_most_five_redirects_are_followed(server, configure, db, clock, hops, outcome) -> None:
    for hop in range(hops):
        server.route(f"/hop-{hop}", Response(307, headers={"Location": f"/hop-{hop + 1}"}))
    server.route(f"/hop-{hops}", Response(body=FEED))

    results = poll(db, configure({"feed": "/hop-0"}), clock)

    if outcome == "stored":
        assert results["feed"].outcome == "stored"
        assert titles(db, "feed") == FEED_TITLES
    else:
        assert_failed(db, results, "more than 5 redirects")
        assert server.requests_for(f"/hop-{hops}") == []


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "redirected to a non-HTTP URL: file:///etc/passwd"),
        ("ftp://127.0.0.1/feed.xml", "redirected to a non-HTTP URL: ftp://127.0.0.1/feed.xml"),
        ("gopher://127.0.0.1:70/1", "redirected to a non-HTTP URL: gopher://127.0.0.1:70/1"),
        # httpx itself refuses to prepare a request to these; the message must not blame the feed's URL.
        ("javascript:alert(1)", "/feed redirected to a non-HTTP or invalid URL"),
        ("mailto:feeds@example.com", "/feed redirected to a non-HTTP or invalid URL"),
    ],
)
def test_a_redirect_to_a_non_http_url_fails(server, configure, db, clock, location, message) -> None:
    server.route("/feed", Response(302, headers={"Location": location}))

    results = poll(db, configure({"feed": "/feed"}), clock)

    assert_failed(db, results, message)


# --- 410, Retry-After, backoff ---------------------------------------------------------------


def test_a_gone_feed_is_not_polled_again_unless_forced(server, configure, db, clock) -> None:
    server.route("/feed", [Response(410), Response(body=FEED)])
    config = configure({"feed": "/feed"})

    results = poll(db, config, clock)
    assert (results["feed"].outcome, results["feed"].status) == ("gone", 410)
    assert_good_feed_stored(db, results)
    state = state_of(db, "feed")
    assert state.gone
    assert state.next_check is None
    assert not pipeline.is_due(state, clock.now + dt.timedelta(days=365))
    [logged] = fetch_log(db, "feed")
    assert (logged["outcome"], logged["status"]) == ("gone", 410)
    assert "410" in logged["error"]

    clock.advance(days=30)
    assert poll(db, config, clock)["feed"].outcome == "deferred"
    assert "feed" not in poll(db, config, clock, only_due=True)
    assert len(server.requests_for("/feed")) == 1

    results = poll(db, config, clock, force=True)
    assert results["feed"].outcome == "stored"
    assert titles(db, "feed") == FEED_TITLES
    assert not state_of(db, "feed").gone


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(server, configure, db, clock, status, form) -> None:
    wait = dt.timedelta(minutes=90)
    value = "5400" if form == "seconds" else email.utils.format_datetime(clock.now + wait, usegmt=True)
    server.route("/feed", [Response(status, headers={"Retry-After": value}), Response(body=FEED)])
    config = configure({"feed": "/feed"})

    results = poll(db, config, clock)
    assert results["feed"].outcome == "error"
    assert "Retry-After 5400 s" in (results["feed"].error or "")
    assert_good_feed_stored(db, results)
    state = state_of(db, "feed")
    assert state.retry_after_until == clock.now + wait
    assert state.next_check == clock.now + wait
    assert (state.last_status, state.consecutive_failures) == (status, 1)

    clock.advance(minutes=89)
    assert poll(db, config, clock)["feed"].outcome == "deferred"  # even when not asking for due feeds only
    assert len(server.requests_for("/feed")) == 1

    clock.advance(minutes=1)
    results = poll(db, config, clock, only_due=True)
    assert results["feed"].outcome == "stored"
    state = state_of(db, "feed")
    assert (state.retry_after_until, state.consecutive_failures) == (None, 0)


def test_retry_after_is_capped_by_retry_after_max(server, configure, db, clock) -> None:
    server.route("/feed", Response(429, headers={"Retry-After": str(30 * 86400)}))
    config = configure({"feed": "/feed"}, extra='[poll]\nretry_after_max = "2h"')

    poll(db, config, clock)

    state = state_of(db, "feed")
    assert state.retry_after_until == clock.now + dt.timedelta(hours=2)
    assert state.next_check == clock.now + dt.timedelta(hours=2)


@pytest.mark.parametrize(
    "answer",
    [
        Response(400),
        Response(403),
        Response(404),
        Response(500, body=b"<html><body>Internal Server Error</body></html>"),
        Response(502),
        Response(429),
        Response(503),
    ],
    ids=["400", "403", "404", "500", "502", "429-without-retry-after", "503-without-retry-after"],
)
def test_failures_back_off_exponentially(server, configure, db, clock, answer) -> None:
    server.route("/feed", answer)
    config = configure({"feed": "/feed"})

    for failures in (1, 2, 3, 4):
        results = poll(db, config, clock, only_due=True)
        assert results["feed"].outcome == "error"
        assert f"HTTP {answer.status}" in (results["feed"].error or "")
        state = state_of(db, "feed")
        assert state.consecutive_failures == failures
        assert state.retry_after_until is None
        # backoff_initial 5 minutes, doubled after each failure, shortened by up to 10% of jitter
        nominal = 300 * 2 ** (failures - 1)
        assert 0.9 * nominal <= (state.next_check - clock.now).total_seconds() <= nominal
        if failures == 1:
            assert_good_feed_stored(db, results)
        clock.now = state.next_check
    assert titles(db, "feed") == []


def test_a_failing_feed_is_never_disabled_backs_off_at_most_a_day_and_recovers(server, configure, db, clock) -> None:
    server_up = False
    server.route("/feed", lambda _request: Response(body=FEED) if server_up else Response(500))
    config = configure({"feed": "/feed"})

    rng = random.Random(2)
    delays = []
    for failures in range(1, 21):
        results = poll(db, config, clock, only_due=True, rng=rng)
        assert results["feed"].outcome == "error"
        state = state_of(db, "feed")
        assert (state.consecutive_failures, state.gone) == (failures, False)
        delays.append((state.next_check - clock.now).total_seconds())
        clock.now = state.next_check - dt.timedelta(seconds=1)
        assert "feed" not in poll(db, config, clock, only_due=True, rng=rng)
        clock.now = state.next_check
        assert pipeline.is_due(state, clock.now)

    # 5 minutes doubled nine times is over a day: from the 10th failure on, the cap holds.
    capped = delays[9:]
    assert all(0.9 * 86400 <= delay <= 86400 for delay in capped)
    assert len(set(capped)) > 1, "the jitter spreads the retries of failing feeds"
    assert delays == sorted(delays[:9]) + capped

    server_up = True
    results = poll(db, config, clock, only_due=True)
    assert (results["feed"].outcome, results["feed"].new) == ("stored", 2)
    state = state_of(db, "feed")
    assert (state.consecutive_failures, state.last_success, state.last_error) == (0, clock.now, None)
    assert titles(db, "feed") == FEED_TITLES


# --- politeness ------------------------------------------------------------------------------


def test_every_request_names_the_project_in_its_user_agent(server, configure, db, clock) -> None:
    server.route("/feed", Response(302, headers={"Location": "/today"}))
    server.route("/today", Response(body=FEED))

    poll(db, configure({"feed": "/feed"}), clock)

    agents = {request.headers.get("user-agent") for request in server.requests}
    assert len(server.requests) == 3
    [agent] = agents
    assert agent is not None and agent.startswith(f"aggregator/{__version__} ")
    assert "python-httpx" not in agent


def test_the_configured_user_agent_is_sent_with_the_version_filled_in(server, configure, db, clock) -> None:
    server.route("/feed", Response(body=FEED))
    config = configure({"feed": "/feed"}, extra='[http]\nuser_agent = "aggregator/{version} (+mailto:ops@example.com)"')

    poll(db, config, clock)

    assert {r.headers.get("user-agent") for r in server.requests} == {
        f"aggregator/{__version__} (+mailto:ops@example.com)"
    }


@pytest.mark.parametrize("per_host", [None, 1, 3], ids=["default-2", "1", "3"])
def test_at_most_per_host_requests_are_in_flight_to_one_host(server, configure, db, clock, per_host) -> None:
    names = [f"slow-{i}" for i in range(7)]
    for name in names:
        server.route(f"/{name}", Response(body=rss(item(name)), delay=0.3))
    config = configure({name: f"/{name}" for name in names}, extra=f"[http]\nper_host = {per_host}" if per_host else "")
    assert config.settings.http.max_workers >= len(names) + 1

    results = poll(db, config, clock)

    assert server.max_in_flight == (per_host or 2)
    assert {results[name].outcome for name in names} == {"stored"}
    assert_good_feed_stored(db, results)


# --- timeouts --------------------------------------------------------------------------------


def test_a_trickling_server_is_cut_off_by_the_total_timeout(server, configure, db, clock) -> None:
    server.route("/feed", Response(body=FEED, trickle=0.05))
    assert len(FEED) * 0.05 > 30  # what the whole body would take
    config = configure({"feed": "/feed"}, extra='[http]\ntotal_timeout = "1s"')

    started = time.monotonic()
    results = poll(db, config, clock)

    assert time.monotonic() - started < 10
    assert_failed(db, results, "(http.total_timeout)")


def test_a_server_that_never_answers_is_cut_off_by_the_read_timeout(server, configure, db, clock) -> None:
    server.route("/feed", Response(body=FEED, delay=30))
    config = configure({"feed": "/feed"}, extra='[http]\nread_timeout = "1s"')

    started = time.monotonic()
    results = poll(db, config, clock)

    assert time.monotonic() - started < 10
    assert_failed(db, results, "no data from the server for 1 s (http.read_timeout)")


# --- size caps and content encodings ---------------------------------------------------------


def test_a_body_over_max_bytes_fails(server, configure, db, clock) -> None:
    big = rss(*(item(f"post-{i}") for i in range(100)))
    assert len(big) > 20_000 > len(GOOD)
    server.route("/feed", Response(body=big))
    config = configure({"feed": "/feed"}, extra="[http]\nmax_bytes = 20000")

    results = poll(db, config, clock)

    assert_failed(db, results, f"response of {len(big)} bytes is larger than the 20000-byte cap (http.max_bytes)")


def test_a_body_over_max_bytes_without_content_length_is_cut_off(configure, db, clock) -> None:
    chunk = b"<!-- padding -->" * 4096
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        yield FEED[: FEED.index(b"<item>")]
        for _ in range(1000):  # 64 MiB, if nothing stops reading
            sent += len(chunk)
            yield chunk

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/good":
            return httpx.Response(200, content=iter([GOOD]))  # bytes would make a response already read
        response = httpx.Response(200, content=endless())
        assert "content-length" not in response.headers
        return response

    config = configure({"feed": f"{MOCK_HOST}/feed"}, extra="[http]\nmax_bytes = 200000", good_url=f"{MOCK_HOST}/good")
    results = poll(db, config, clock, transport=httpx.MockTransport(answer))

    assert_failed(db, results, "response larger than the 200000-byte cap (http.max_bytes)")
    assert sent <= 200_000 + 2 * len(chunk)


def test_a_gzip_bomb_fails_on_max_decompressed_bytes_with_bounded_memory(server, configure, db, clock) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1024 * 1024  # small on the wire, 256 MiB once decompressed
    server.route(
        "/feed", Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"})
    )
    config = configure({"feed": "/feed"}, extra="[http]\nmax_decompressed_bytes = 5000000")

    tracemalloc.start()
    try:
        results = poll(db, config, clock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert_failed(db, results, "larger than 5000000 bytes once decompressed (http.max_decompressed_bytes)")
    assert peak < 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate"],
)
def test_a_compressed_feed_is_decoded(server, configure, db, clock, encoding, compress) -> None:
    server.route("/feed", Response(body=compress(FEED), headers={"Content-Encoding": encoding}))

    results = poll(db, configure({"feed": "/feed"}), clock)

    assert results["feed"].outcome == "stored"
    assert titles(db, "feed") == FEED_TITLES
    assert server.requests_for("/feed")[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_corrupt_gzip_body_fails_clearly(server, configure, db, clock) -> None:
    server.route("/feed", Response(body=b"\x1f\x8b\x08\x00 this is not gzip", headers={"Content-Encoding": "gzip"}))

    results = poll(db, configure({"feed": "/feed"}), clock)

    assert_failed(db, results, "corrupt gzip body")
