"""The pipeline's own machinery: parse worker processes, group commits, one bad feed in a batch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Response, item, rss

from aggregator import pipeline, store
from aggregator.config import load_config
from aggregator.fetch import build_client


def many_feeds(server, write_config, tmp_path: Path, count: int, extra: str = ""):
    for i in range(count):
        server.route(
            f"/feed-{i}",
            Response(
                200,
                rss(
                    *(
                        item(f"feed-{i}-post-{j}", f"Amazon S3 adds feature {j} of feed {i}", guid=f"g-{i}-{j}")
                        for j in range(3)
                    )
                ),
                {"ETag": f'"v{i}"'},
            ),
        )
    feeds = [{"name": f"feed-{i}", "url": server.url(f"/feed-{i}"), "kind": "other"} for i in range(count)]
    return load_config(write_config(feeds, extra), database=tmp_path / "archive.db", environ={})


def archive_snapshot(db) -> list[tuple]:
    posts = sorted(
        (row["id"], row["url"], row["title"], row["summary"], row["categories"], row["date"], row["kind"])
        for row in db["posts"].rows
    )
    tags = sorted((row["post_id"], row["tag"], row["source"], row["confidence"]) for row in db["post_tags"].rows)
    return [*posts, *tags]


@pytest.mark.slow
def test_parsing_in_worker_processes_stores_exactly_what_threads_store(server, write_config, tmp_path, clock) -> None:
    count = pipeline.PROCESS_POOL_MIN_FEEDS + 4
    snapshots = []
    for processes in (0, 2):
        folder = tmp_path / f"p{processes}"
        folder.mkdir()
        config = many_feeds(server, write_config, folder, count, extra=f"[poll]\nparse_processes = {processes}")
        db = store.open_db(config.database)
        with build_client(config.settings.http) as client:
            results = pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client, now=clock), config.feeds)
        assert [r.outcome for r in results] == ["stored"] * count
        assert sum(r.new for r in results) == 3 * count
        assert {row["primary_service"] for row in db["posts"].rows} == {"s3"}  # tagged, in either path
        snapshots.append(archive_snapshot(db))
    assert snapshots[0] == snapshots[1]


@pytest.mark.slow
def test_a_feed_that_is_not_a_feed_fails_alone_in_a_parse_worker(server, write_config, tmp_path, clock) -> None:
    count = pipeline.PROCESS_POOL_MIN_FEEDS + 2
    config = many_feeds(server, write_config, tmp_path, count, extra="[poll]\nparse_processes = 2")
    server.route("/feed-3", Response(200, b"<!doctype html><html><body>Moved</body></html>", {"ETag": '"html"'}))
    db = store.open_db(config.database)
    with build_client(config.settings.http) as client:
        results = pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client, now=clock), config.feeds)
    assert [r.outcome for r in results] == ["stored"] * 3 + ["error"] + ["stored"] * (count - 4)
    assert "got an HTML page, not a feed" in (results[3].error or "")
    assert sum(r.new for r in results) == 3 * (count - 1)


@pytest.mark.slow
def test_a_parse_worker_that_dies_fails_one_feed_and_another_takes_its_place(tmp_path: Path) -> None:
    config = load_config(Path(__file__).parents[1] / "config" / "example.toml", environ={})
    body = rss(item("s3-launch"), item("ec2-launch"))
    kwargs = {
        "content_type": "application/rss+xml",
        "url": "https://aws.amazon.com/feed/",
        "now": pipeline.utcnow(),
        "registry": pipeline.registry_files(config),
    }
    with pipeline._ProcessReader(1) as reader:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # parsed here while the worker starts, then by it
            assert len(reader(body, **kwargs).posts) == 2
            if not reader._starting:
                break
            time.sleep(0.05)
        assert not reader._starting, "the worker never started"
        (worker,) = reader._workers
        worker.process.kill()
        worker.process.join()
        with pytest.raises(pipeline.FeedError, match="the parse worker process died"):
            reader(body, **kwargs)
        assert len(reader(body, **kwargs).posts) == 2
        (fresh,) = reader._workers
        assert fresh.process.pid != worker.process.pid and fresh.process.is_alive()
    assert not fresh.process.is_alive()


def test_a_poll_answered_by_304s_starts_no_worker_process(server, write_config, tmp_path, clock, monkeypatch) -> None:
    count = pipeline.PROCESS_POOL_MIN_FEEDS + 1
    config = many_feeds(server, write_config, tmp_path, count)
    db = store.open_db(config.database)
    with build_client(config.settings.http) as client:
        pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client, now=clock), config.feeds)
        for i in range(count):
            server.route(f"/feed-{i}", Response(304, b"", {"ETag": f'"v{i}"'}))
        started: list[int] = []
        monkeypatch.setattr(pipeline._Worker, "__init__", lambda *a, **k: started.append(1))
        clock.advance(hours=2)
        results = pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client, now=clock), config.feeds)
    assert {r.outcome for r in results} == {"not-modified"}
    assert started == []


def test_one_feed_failing_to_store_does_not_lose_the_rest_of_its_batch(
    server, write_config, tmp_path, clock, monkeypatch
) -> None:
    config = many_feeds(server, write_config, tmp_path, 3, extra="[poll]\nparse_processes = 0")
    db = store.open_db(config.database)
    states = store.ensure_feeds(db, list(config.feeds), now=clock())
    with build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client, now=clock, rng=pipeline.random.Random(1))
        batch = [pipeline.fetch_and_parse(feed, states[feed.name], poller) for feed in config.feeds]
    original = store.store_posts

    def broken_for_feed_1(db, feed, posts, **kwargs):
        if feed == "feed-1":
            raise RuntimeError("disk on fire")
        return original(db, feed, posts, **kwargs)

    monkeypatch.setattr(store, "store_posts", broken_for_feed_1)
    results = pipeline._record_safely(db, batch, poller)
    assert [(r.feed, r.outcome) for r in results] == [("feed-0", "stored"), ("feed-1", "error"), ("feed-2", "stored")]
    assert {row["feed"] for row in db["post_sources"].rows} == {"feed-0", "feed-2"}
    assert store.feed_state(db, "feed-1").last_outcome is None  # nothing of it written
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_console_script_entry_point_loads_nothing_heavy() -> None:
    """Parse workers are spawned, and a spawned process imports again the script that started its
    parent: the `aggregator` script's module must not pull the CLI (click, sqlite-utils, numpy,
    httpx) into every worker."""
    code = (
        "import sys, aggregator.__main__\n"
        "heavy = {'aggregator.cli', 'click', 'sqlite_utils', 'numpy', 'httpx'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_services_file_that_cannot_be_read_stops_the_poll_with_its_message(server, write_config, tmp_path) -> None:
    """The tagger is built when the first body needs tagging (a poll answered by 304s never
    builds it); a broken services file then stops the poll with what is wrong, not every feed
    with an internal error."""
    from click.testing import CliRunner

    from aggregator.cli import cli

    server.route("/feed", Response(200, rss(item("p1", "Amazon S3 adds a feature"))))
    (tmp_path / "services.toml").write_text("[services.s3\nname = broken", encoding="utf-8")
    config_path = write_config(
        [{"name": "blog", "url": server.url("/feed"), "kind": "other"}], '[taxonomy]\nservices_file = "services.toml"'
    )
    result = CliRunner().invoke(cli, ["--config", str(config_path), "--db", str(tmp_path / "a.db"), "poll"])
    assert result.exit_code == 1
    assert "services" in result.output and "internal error" not in result.output
