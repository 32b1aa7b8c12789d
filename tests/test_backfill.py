"""``aggregator backfill``: What's New history from the directory API, against a loopback API.

The API pages are built by ``whatsnew_api`` in the real API's shape and served by the loopback
server; sleeping is injected, so retries and pauses are recorded, never waited for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import LoopbackServer, Response, item, rss
from whatsnew_api import API_PATH, FakeApi, api_item, rfc822, rss_item, timeline

from aggregator import pipeline, store
from aggregator.backfill import (
    BackfillResult,
    Query,
    as_raw_feed,
    backfill,
    backfill_feed,
    categories_from_tags,
    parse_page,
    plan_queries,
)
from aggregator.cli import cli
from aggregator.config import BackfillSettings, Config, load_config
from aggregator.errors import BackfillError, ConfigError, MalformedPageError
from aggregator.fetch import build_client
from aggregator.models import Post
from aggregator.normalize import normalize_feed
from aggregator.parse import parse_bytes
from aggregator.tagging import Tagger

UTC = dt.UTC
START = dt.datetime(2023, 12, 25, 9, 0, tzinfo=UTC)
"""35 items, 13 hours apart: 13 in 2023 (2 pages of 10), 22 in 2024 (3 pages)."""
SINCE = dt.datetime(2023, 6, 1, tzinfo=UTC)
STEP = dt.timedelta(hours=13)
NOW = dt.datetime(2024, 6, 1, tzinfo=UTC)


# --- harness -----------------------------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def api(server: LoopbackServer) -> FakeApi:
    fake = FakeApi([api_item(n, when) for n, when in enumerate(timeline(35, start=START, step=STEP))])
    server.route(API_PATH, fake)
    return fake


@pytest.fixture
def make_config(server: LoopbackServer, write_config: Callable[..., Path]) -> Callable[..., Config]:
    def make(extra: str = "", page_size: int = 10, pause: str = "250ms") -> Config:
        path = write_config(
            [{"name": "aws-whats-new", "url": server.url("/rss"), "kind": "aws-whats-new"}],
            extra=f"""
[http]
connect_timeout = "2s"

[backfill]
api_url = "{server.url(API_PATH)}"
page_size = {page_size}
pause = "{pause}"
{extra}
""",
        )
        return load_config(path, database=path.parent / "archive.db")

    return make


def run(config: Config, *, since: dt.datetime, until: dt.datetime | None = None, **kwargs: Any) -> BackfillResult:
    db = store.open_db(config.database)
    kwargs.setdefault("sleep", Sleeps())
    with build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client, now=lambda: NOW)
        return backfill(db, poller, backfill_feed(config), since=since, until=until, **kwargs)


def stored(config: Config) -> list[dict[str, Any]]:
    db = store.open_db(config.database)
    return list(db.query("SELECT * FROM posts ORDER BY published"))


def sources(config: Config) -> list[dict[str, Any]]:
    return list(store.open_db(config.database).query("SELECT * FROM post_sources"))


# --- plan and items: pure parts ----------------------------------------------------------------


def test_history_is_read_one_year_tag_at_a_time_newest_first() -> None:
    settings = BackfillSettings()
    plan = plan_queries(dt.datetime(2021, 3, 1, tzinfo=UTC), dt.datetime(2024, 6, 1, tzinfo=UTC), settings)
    assert plan == [Query(f"whats-new-v2#year#{year}") for year in (2024, 2023, 2022, 2021)]


def test_a_window_at_a_year_boundary_also_reads_the_neighbouring_year_tags() -> None:
    # Late-December items are sometimes tagged with the next year: read that tag oldest first.
    settings = BackfillSettings()
    plan = plan_queries(dt.datetime(2024, 1, 3, tzinfo=UTC), dt.datetime(2024, 12, 30, tzinfo=UTC), settings)
    assert plan == [
        Query("whats-new-v2#year#2025", "asc"),
        Query("whats-new-v2#year#2024"),
        Query("whats-new-v2#year#2023"),
    ]
    # An exclusive end on New Year's Day is the old year.
    plan = plan_queries(dt.datetime(2023, 6, 1, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC), settings)
    assert plan[1:] == [Query("whats-new-v2#year#2023")] and plan[0].order == "asc"


def test_without_a_year_tag_one_query_reads_newest_first() -> None:
    plan = plan_queries(START, NOW, BackfillSettings(year_tag=""))
    assert plan == [Query(None)]


def test_api_tags_become_the_rss_category_tokens() -> None:
    tags = api_item(1, START, products=("amazon-s3", "aws-lambda"), areas=("storage",))["tags"]
    assert categories_from_tags(tags) == (
        "general:products/amazon-s3",
        "general:products/aws-lambda",
        "marketing:marchitecture/storage",
    )
    newer = api_item(1, START, namespace="GLOBAL")["tags"]
    assert categories_from_tags(newer) == ("general:products/amazon-s3", "marketing:marchitecture/storage")
    loose = [
        {"id": "GLOBAL#local-tags-whats-new-v2-year#2025", "name": "2025"},
        {"tagNamespaceId": "whats-new-v2#general-products", "name": "Amazon Bedrock"},
    ]
    assert categories_from_tags(loose) == ("general:products/amazon-bedrock",)


def page_of(*items: dict[str, Any], total: int | None = None) -> bytes:
    return json.dumps(
        {"metadata": {"count": len(items), "totalHits": total or len(items)}, "items": list(items)}
    ).encode()


WHATS_NEW_RSS = "https://aws.amazon.com/about-aws/whats-new/recent/feed/"


def from_rss(body: bytes) -> Post:
    return normalize_feed(parse_bytes(body), url=WHATS_NEW_RSS, now=NOW).posts[0]


def from_api(page: Any, index: int = 0) -> Post:
    entry = page.items[index].entry
    assert entry is not None
    return normalize_feed(as_raw_feed([entry], site_url="https://aws.amazon.com"), url=WHATS_NEW_RSS, now=NOW).posts[0]


def test_an_item_becomes_the_post_the_rss_would_have_made() -> None:
    when = dt.datetime(2024, 5, 6, 17, 0, tzinfo=UTC)
    rss_post = from_rss(rss(rss_item(7, when)))
    for slash in (False, True):
        page = parse_page(
            page_of(api_item(7, when, trailing_slash=slash)), label="p", site_url="https://aws.amazon.com", now=NOW
        )
        post = from_api(page)
        # The same normalize code: the same post and content hash; the API has no guid or author.
        assert post == dataclasses.replace(rss_post, guid=None, authors=())


def test_a_link_to_the_item_itself_is_dropped_as_the_rss_path_drops_it() -> None:
    when = dt.datetime(2024, 5, 6, 17, 0, tzinfo=UTC)
    body = '<p>See <a href="https://aws.amazon.com/about-aws/whats-new/2024/05/announcement-00007/#more">more</a>.</p>'
    entry = api_item(7, when)
    entry["item"]["additionalFields"]["postBody"] = body
    rss_post = from_rss(
        rss(
            item(
                "announcement-00007",
                "Amazon S3 announcement 7",
                link="https://aws.amazon.com/about-aws/whats-new/2024/05/announcement-00007/",
                description=html.escape(body),
                date=rfc822(when),
            )
        )
    )
    post = from_api(parse_page(page_of(entry), label="p", site_url="https://aws.amazon.com", now=NOW))
    assert post.links == rss_post.links == ()
    assert post.content_hash == rss_post.content_hash


def test_items_without_headline_link_or_date_are_skipped_not_fatal() -> None:
    good = api_item(1, START)
    no_headline = api_item(2, START)
    no_headline["item"]["additionalFields"]["headline"] = ""
    no_link = api_item(3, START)
    del no_link["item"]["additionalFields"]["headlineUrl"]
    no_date = api_item(4, START)
    del no_date["item"]["additionalFields"]["postDateTime"]
    del no_date["item"]["dateCreated"]
    created_only = api_item(5, START)
    del created_only["item"]["additionalFields"]["postDateTime"]
    page = parse_page(
        page_of(good, no_headline, no_link, no_date, created_only),
        label="p",
        site_url="https://aws.amazon.com",
        now=NOW,
    )
    assert [i.entry is not None for i in page.items] == [True, False, False, False, True]
    assert "no headline" in (page.items[1].why_skipped or "")
    assert page.items[4].date == START - dt.timedelta(days=2)  # dateCreated stands in


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"<html><body>Service Unavailable</body></html>", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (b"[]", "expected a JSON object, got list"),
        (_set(("items",), KeyError), "items: missing"),
        (_set(("items",), {"a": 1}), "items: expected list, got dict"),
        (_set(("metadata",), KeyError), "metadata: missing"),
        (_set(("metadata", "totalHits"), "12"), "metadata.totalHits: expected int, got str"),
        (_set(("items", 1), "oops"), "items[1]: expected an object, got str"),
        (_set(("items", 1, "item"), KeyError), "items[1].item: missing"),
        (_set(("items", 1, "item", "additionalFields"), []), "items[1].item.additionalFields: expected dict"),
        (_set(("items", 1, "item", "additionalFields", "headline"), 42), "headline: expected str, got int"),
        (_set(("items", 1, "item", "additionalFields", "postDateTime"), "yesterday"), "not a date: 'yesterday'"),
        (_set(("items", 1, "tags"), "general:products/amazon-s3"), "items[1].tags: expected list, got str"),
        (_set(("items", 1, "tags", 0), None), "items[1].tags[0]: expected an object, got NoneType"),
    ],
)
def test_a_malformed_page_is_a_clear_error_naming_the_page(body: Any, fragment: str) -> None:
    if callable(body):
        doc = json.loads(page_of(api_item(1, START), api_item(2, START)))
        body(doc)
        body = json.dumps(doc).encode()
    with pytest.raises(MalformedPageError) as info:
        parse_page(
            body, label="page 3 of whats-new-v2#year#2024 (http://x/)", site_url="https://aws.amazon.com", now=NOW
        )
    message = str(info.value)
    assert message.startswith("page 3 of whats-new-v2#year#2024 (http://x/): ")
    assert fragment in message
    assert "nothing of this page was stored" in message


# --- the backfill against a loopback API -------------------------------------------------------


def test_a_backfill_across_several_pages_and_two_years_stores_every_item_once(api: FakeApi, make_config) -> None:
    config = make_config()
    sleeps = Sleeps()
    result = run(config, since=SINCE, sleep=sleeps)

    assert result.status == "done" and not result.resumed
    assert (result.items, result.new, result.updated, result.skipped) == (35, 35, 0, 0)
    posts = stored(config)
    assert len(posts) == len({p["id"] for p in posts}) == 35
    first = posts[0]
    assert first["url"] == "https://aws.amazon.com/about-aws/whats-new/2023/12/announcement-00000/"
    assert json.loads(first["categories"]) == ["general:products/amazon-s3", "marketing:marchitecture/storage"]
    assert first["first_seen"] == first["published"] == "2023-12-25T09:00:00+00:00"
    assert {s["feed"] for s in sources(config)} == {"aws-whats-new"}

    # Year by year, page by page, one request at a time with the pause between pages.
    asked = [(q.get("tags.id"), int(q["page"])) for q in api.queries]
    assert asked == [("whats-new-v2#year#2024", p) for p in range(3)] + [
        ("whats-new-v2#year#2023", p) for p in range(2)
    ]
    assert result.pages == 5
    assert all(
        q["item.directoryId"] == "whats-new-v2"
        and q["sort_by"] == "item.additionalFields.postDateTime"
        and q["sort_order"] == "desc"
        and q["size"] == "10"
        and q["item.locale"] == "en_US"
        for q in api.queries
    )
    assert sleeps.calls == [0.25] * 4


def test_backfilled_posts_are_tagged_as_a_polled_one_is(api: FakeApi, make_config) -> None:
    """Every entry path tags before storing: a backfilled announcement has its kind, primary
    service and tags, `posts --tag s3` finds it, and the draft never sees it untagged."""
    config = make_config()
    run(config, since=SINCE)
    posts = stored(config)
    assert posts and all(p["tagged_with"] and p["kind"] == "new-feature" for p in posts)
    assert {p["primary_service"] for p in posts} == {"s3"}
    db = store.open_db(config.database)
    assert store.count_to_tag(db, fingerprint=pipeline.tagger_for(config).fingerprint, scope="stale") == 0
    assert len(store.query_posts(db, tags=["s3", "storage"])) == len(posts)
    runner = CliRunner()
    base = ["--config", str(config.path), "--db", str(config.database)]
    listed = runner.invoke(cli, [*base, "posts", "--tag", "s3", "--limit", "100", "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.splitlines()) == len(posts)


def test_a_backfill_run_again_does_not_tag_what_it_stored_already(
    api: FakeApi, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tagging comes before storing, but a post the archive holds with the same content is not
    tagged again: a second run over the same window costs its fetching and little more."""
    config = make_config()
    tagged: list[str] = []
    original = Tagger.tag

    def counting(self: Tagger, post: Any) -> Any:
        tagged.append(post.id)
        return original(self, post)

    monkeypatch.setattr(Tagger, "tag", counting)
    first = run(config, since=SINCE)
    assert len(tagged) == first.new == 35
    tagged.clear()
    again = run(config, since=SINCE, until=first.until)
    assert (again.new, again.updated, tagged) == (0, 0, [])
    assert all(p["tagged_with"] for p in stored(config))


def test_the_date_bounds_are_kept_and_reading_stops_at_the_lower_one(api: FakeApi, make_config) -> None:
    config = make_config()
    since, until = dt.datetime(2024, 1, 3, tzinfo=UTC), dt.datetime(2024, 1, 8, tzinfo=UTC)
    result = run(config, since=since, until=until)
    dates = [dt.datetime.fromisoformat(p["published"]) for p in stored(config)]
    assert dates and all(since <= d < until for d in dates)
    assert result.new == len(dates) == sum(1 for w in timeline(35, start=START, step=STEP) if since <= w < until)
    # The 2024 query stops on the page that reaches past --since. --since is in the first days of
    # 2024, so the 2023 tag is read too, for mis-tagged items: one page, which starts before --since.
    newest_first = sorted(timeline(35, start=START, step=STEP), reverse=True)
    last_page = next(i for i, w in enumerate(newest_first) if w < since) // 10
    assert last_page < 2 and api.pages_asked("whats-new-v2#year#2024") == list(range(last_page + 1))
    assert api.pages_asked("whats-new-v2#year#2023") == [0]


def test_an_interrupted_backfill_continues_where_it_stopped(api: FakeApi, make_config) -> None:
    config = make_config()
    since = SINCE
    pages: list[int] = []

    def stop_after_two(report: Any) -> None:
        pages.append(report.page)
        if len(pages) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(config, since=since, on_page=stop_after_two)
    assert len(stored(config)) == 20
    row = next(iter(store.open_db(config.database).query("SELECT * FROM backfills")))
    assert (row["status"], row["query_index"], row["next_page"]) == ("interrupted", 0, 2)

    api.queries.clear()
    result = run(config, since=since)
    assert result.resumed and result.status == "done"
    assert api.pages_asked("whats-new-v2#year#2024") == [2]  # the first page it had not stored
    assert (result.items, result.new) == (35, 35)
    assert len(stored(config)) == 35

    # Done is done: the same command starts a new backfill, which stores nothing new.
    again = run(config, since=since)
    assert not again.resumed and again.new == 0 and again.already == 35


def test_should_stop_interrupts_between_pages_without_writing(api: FakeApi, make_config) -> None:
    config = make_config()
    result = run(config, since=SINCE, should_stop=lambda: len(stored(config)) >= 20)
    assert result.status == "interrupted" and result.pages == 2
    assert len(stored(config)) == 20


def test_a_429_mid_way_waits_as_asked_and_goes_on(api: FakeApi, make_config) -> None:
    config = make_config()
    api.fail("whats-new-v2#year#2024", 1, Response(429, b"slow down", {"Retry-After": "7"}))
    sleeps = Sleeps()
    result = run(config, since=SINCE, sleep=sleeps)
    assert result.status == "done" and result.new == 35
    assert sleeps.calls == [0.25, 7.0, 0.25, 0.25, 0.25]
    assert api.pages_asked("whats-new-v2#year#2024") == [0, 1, 1, 2]


def test_a_persistent_500_stops_the_backfill_after_backing_off_and_it_resumes_later(api: FakeApi, make_config) -> None:
    config = make_config(extra='max_retries = 3\nbackoff_initial = "2s"\nbackoff_max = "5s"')
    api.fail("whats-new-v2#year#2024", 2, *[Response(500, b"oops")] * 4)
    sleeps = Sleeps()
    with pytest.raises(BackfillError) as info:
        run(config, since=SINCE, sleep=sleeps)
    assert "page 2 of whats-new-v2#year#2024" in str(info.value) and "HTTP 500" in str(info.value)
    assert "the first request and 3 retries failed" in str(info.value) and "run it again" in str(info.value)
    assert sleeps.calls == [0.25, 0.25, 2.0, 4.0, 5.0]  # the pauses, then the capped backoff
    assert len(stored(config)) == 20
    row = next(iter(store.open_db(config.database).query("SELECT * FROM backfills")))
    assert (row["status"], row["next_page"]) == ("failed", 2) and "HTTP 500" in row["error"]

    result = run(config, since=SINCE)
    assert result.resumed and result.new == 35 and len(stored(config)) == 35


def test_a_client_error_is_not_retried(api: FakeApi, make_config) -> None:
    config = make_config()
    api.fail("whats-new-v2#year#2024", 0, Response(403, b"forbidden"))
    sleeps = Sleeps()
    with pytest.raises(BackfillError, match="HTTP 403"):
        run(config, since=SINCE, sleep=sleeps)
    assert sleeps.calls == []


def test_a_malformed_page_stores_nothing_of_itself_and_names_the_page(api: FakeApi, make_config) -> None:
    config = make_config()
    bad = json.loads(page_of(api_item(90, START + 20 * STEP), api_item(91, START + 19 * STEP), total=35))
    bad["items"][1]["item"]["additionalFields"]["postDateTime"] = 1700000000
    api.fail("whats-new-v2#year#2024", 1, Response(200, json.dumps(bad).encode()))
    with pytest.raises(MalformedPageError) as info:
        run(config, since=SINCE)
    message = str(info.value)
    assert "page 1 of whats-new-v2#year#2024 (http://127.0.0.1:" in message and "page=1" in message
    assert "items[1].item.additionalFields.postDateTime: expected str, got int" in message
    titles = {p["title"] for p in stored(config)}
    assert len(titles) == 10 and "Amazon S3 announcement 90" not in titles  # page 0 only

    result = run(config, since=SINCE)  # the API is right again
    assert result.resumed and len(stored(config)) == 35


def test_items_already_stored_from_the_rss_are_not_stored_twice(
    server: LoopbackServer, api: FakeApi, make_config
) -> None:
    config = make_config()
    times = timeline(35, start=START, step=STEP)
    server.route("/rss", Response(200, rss(*(rss_item(n, times[n]) for n in range(34, 24, -1)))))
    db = store.open_db(config.database)
    with build_client(config.settings.http) as client:
        (polled,) = pipeline.poll_feeds(
            db, pipeline.Poller.create(config, client=client, now=lambda: NOW), config.feeds
        )
    assert polled.new == 10

    result = run(config, since=SINCE)
    assert (result.items, result.new, result.updated, result.already) == (35, 25, 0, 10)
    posts = stored(config)
    assert len(posts) == len({p["url"] for p in posts}) == 35
    rows = sources(config)
    assert len(rows) == 35
    guids = {r["guid"] for r in rows if r["guid"]}
    assert guids == {f"{n:040x}" for n in range(25, 35)}  # the RSS guids are kept

    # ... and the other way round: the RSS delivering backfilled items finds them unchanged.
    server.route("/rss", Response(200, rss(*(rss_item(n, times[n]) for n in range(20, 10, -1)))))
    with build_client(config.settings.http) as client:
        (polled,) = pipeline.poll_feeds(
            db, pipeline.Poller.create(config, client=client, now=lambda: NOW), config.feeds, force=True
        )
    assert (polled.new, polled.updated) == (0, 0)
    assert len(stored(config)) == 35


def test_a_query_that_hits_the_page_cap_says_what_may_be_missing(api: FakeApi, make_config) -> None:
    config = make_config(extra='max_pages = 2\nyear_tag = ""')
    result = run(config, since=SINCE)
    assert result.status == "done" and result.new == 20
    assert (
        len(result.truncated) == 1 and "2-page cap" in result.truncated[0] and "15 items unread" in result.truncated[0]
    )
    assert api.pages_asked(None) == [0, 1]


def test_mis_tagged_items_at_a_year_boundary_are_found(api: FakeApi, make_config) -> None:
    config = make_config()
    late = dt.datetime(2023, 12, 29, 10, 0, tzinfo=UTC)
    api.items = [api_item(500, late, year_tag=2024), api_item(501, late + dt.timedelta(days=5))]
    result = run(config, since=dt.datetime(2023, 12, 1, tzinfo=UTC), until=dt.datetime(2023, 12, 31, tzinfo=UTC))
    assert result.new == 1 and stored(config)[0]["title"] == "Amazon S3 announcement 500"
    assert api.pages_asked("whats-new-v2#year#2024") == [0]


def test_only_a_whats_new_feed_can_be_backfilled(make_config, write_config) -> None:
    path = write_config(
        [
            {"name": "blog", "url": "https://aws.amazon.com/blogs/aws/feed/", "kind": "aws-blog"},
            {"name": "wn", "url": "https://example.com/wn.xml", "kind": "aws-whats-new", "enabled": False},
        ]
    )
    config = load_config(path)
    with pytest.raises(ConfigError, match="kind 'aws-blog'"):
        backfill_feed(config, "blog")
    with pytest.raises(ConfigError, match="no enabled feed of kind 'aws-whats-new'"):
        backfill_feed(config)
    assert backfill_feed(config, "wn").name == "wn"


def test_bad_backfill_settings_name_the_key(write_config) -> None:
    for extra, key in (
        ("[backfill]\npage_size = 5000", "backfill.page_size"),
        ('[backfill]\nyear_tag = "whats-new-v2#year"', "backfill.year_tag"),
        ('[backfill]\napi_url = "ftp://example.com/"', "backfill.api_url"),
        ("[backfill]\nrepair_attempts = 0", "backfill.repair_attempts"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(write_config([], extra=extra))


# --- the command -------------------------------------------------------------------------------


def invoke(config: Config, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config.path), "--db", str(config.database), "backfill", *args])


def test_the_command_prints_a_summary_and_json(api: FakeApi, make_config) -> None:
    config = make_config(pause="0s")
    result = invoke(config, "--since", "2023-06-01", "--until", "2024-01-05")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("backfilled aws-whats-new from 2023-06-01 00:00 to 2024-01-05 00:00 UTC: ")
    assert "new," in result.stdout and "already stored" in result.stdout
    again = invoke(config, "--since", "2023-06-01", "--until", "2024-01-05", "--json")
    doc = json.loads(again.stdout)
    assert doc["status"] == "done" and doc["new"] == 0 and doc["already_stored"] == doc["items"] > 0


def test_the_command_fails_with_one_line_and_status_1(server: LoopbackServer, api: FakeApi, make_config) -> None:
    config = make_config(extra="max_retries = 0", pause="0s")
    api.fail("whats-new-v2#year#2024", 0, Response(200, b"<html>maintenance</html>"))
    result = invoke(config, "--since", "2024-01-01")
    assert result.exit_code == 1
    assert "Error: page 0 of whats-new-v2#year#2024" in result.output and "not JSON" in result.output
    assert invoke(config).exit_code == 2  # --since is needed
    assert invoke(config, "--since", "2024-02-01", "--until", "2024-01-01").exit_code == 2
    assert "no --since" in invoke(config, "--gaps", "--since", "2024-01-01").output


def test_a_loopback_only_test_never_reaches_the_real_api(make_config) -> None:
    config = make_config()
    assert httpx.URL(config.settings.backfill.api_url).host == "127.0.0.1"
