"""The archive: schema, identity of posts, updates in place, transactions, queries, Datasette."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import as_tagged, store_tagged

from aggregator import store
from aggregator.errors import StoreError
from aggregator.models import Post
from aggregator.normalize import link_ids, post_id_for

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def make_post(
    slug: str,
    *,
    guid: str | None = None,
    title: str | None = None,
    published: dt.datetime | None = NOW,
    url: str | None = "",
) -> Post:
    if url == "":
        url = f"https://aws.amazon.com/about-aws/whats-new/2024/05/{slug}/"
    title = title or slug.replace("-", " ")
    return Post(
        id=post_id_for(url=url, guid=guid, title=title, summary=""),
        url=url,
        guid=guid,
        title=title,
        summary=f"About {title}.",
        summary_html=f"<p>About {title}.</p>",
        links=(),
        link_ids=(),
        published=published,
        updated=None,
        authors=("aws@amazon.com",),
        categories=("general:products/amazon-s3",),
        content_hash=f"hash-{title}",
    )


@pytest.fixture
def db(tmp_path: Path):
    database = store.open_db(tmp_path / "archive.db")
    for name in ("wn", "blog"):
        store.ensure_feed(database, name=name, url=f"https://example.test/{name}", kind="other", title="", now=NOW)
    return database


def save(db, feed: str, posts: list[Post], **kwargs) -> store.StoreCounts:
    return store_tagged(db, feed, posts, now=kwargs.pop("now", NOW), **kwargs)


def test_schema_is_created_once_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = store.open_db(path)
    assert db.journal_mode == "wal"
    assert {"feeds", "posts", "post_sources", "fetch_log", "posts_fts"} <= set(db.table_names())
    applied = [m.name for m in store.MIGRATIONS.applied(db)]
    db.close()
    again = store.open_db(path)
    assert [m.name for m in store.MIGRATIONS.applied(again)] == applied
    assert again.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_new_posts_are_stored_once_and_unchanged_posts_are_not_rewritten(db) -> None:
    posts = [make_post("a", guid="g1"), make_post("b", guid="g2")]
    assert save(db, "wn", posts).new == 2
    again = save(db, "wn", posts, now=NOW + dt.timedelta(hours=1))
    assert (again.new, again.updated) == (0, 0)
    assert db["posts"].count == 2
    assert all(row["changed_at"] is None for row in db["posts"].rows)


def test_changed_content_updates_in_place_with_its_update_time(db) -> None:
    original = make_post("a", guid="g1")
    save(db, "wn", [original])
    later = NOW + dt.timedelta(hours=2)
    changed = dataclasses.replace(original, title="a, corrected", content_hash="new")
    counts = save(db, "wn", [changed], now=later)
    assert (counts.new, counts.updated) == (0, 1)
    rows = list(db["posts"].rows)
    assert len(rows) == 1
    assert rows[0]["title"] == "a, corrected"
    assert rows[0]["changed_at"] == store.iso(later)
    assert rows[0]["first_seen"] == store.iso(NOW)


def test_same_url_from_two_feeds_is_one_post_with_both_sources(db) -> None:
    save(db, "wn", [make_post("a", guid="wn-guid")])
    counts = save(db, "blog", [make_post("a", guid="https://blog.test/?p=1")])
    assert counts.new == 0
    assert db["posts"].count == 1
    assert sorted(r["feed"] for r in db["post_sources"].rows) == ["blog", "wn"]


def test_url_variants_are_the_same_post(db) -> None:
    save(db, "wn", [make_post("a", url="https://aws.amazon.com/x/a/")])
    save(db, "blog", [make_post("a", url="http://www.aws.amazon.com/x/a")])
    assert db["posts"].count == 1


def test_changed_guid_with_same_url_is_the_same_post(db) -> None:
    save(db, "wn", [make_post("a", guid="old")])
    counts = save(db, "wn", [make_post("a", guid="new")])
    assert counts.new == 0
    assert db["posts"].count == 1
    assert [r["guid"] for r in db["post_sources"].rows] == ["new"]


def test_same_guid_with_a_changed_url_updates_the_post(db) -> None:
    save(db, "wn", [make_post("a", guid="g1")])
    moved = dataclasses.replace(make_post("a-renamed", guid="g1", title="a"), content_hash="hash-a2")
    counts = save(db, "wn", [moved])
    assert (counts.new, counts.updated) == (0, 1)
    rows = list(db["posts"].rows)
    assert len(rows) == 1
    assert rows[0]["url"].endswith("/a-renamed/")


def test_imported_history_is_first_seen_when_published(db) -> None:
    published = dt.datetime(2019, 3, 4, 17, 0, tzinfo=UTC)
    save(db, "wn", [make_post("old", published=published)], history=True)
    row = next(iter(db["posts"].rows))
    assert row["first_seen"] == store.iso(published)
    assert row["date"] == store.iso(published)


def test_a_post_without_a_date_is_dated_when_first_seen(db) -> None:
    save(db, "wn", [make_post("undated", published=None)])
    row = next(iter(db["posts"].rows))
    assert row["published"] is None
    assert row["date"] == store.iso(NOW)


def links_of(db, post_id: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in db.execute("SELECT target_id, url FROM post_links WHERE post_id = ? ORDER BY position", [post_id])
    ]


def test_what_a_post_links_is_resolved_to_post_ids_when_it_is_stored(db) -> None:
    """``post_links``: each link once, as the id the archive gives its page (held or not), the
    post's own page left out; a changed post's links are replaced."""
    target = make_post("target")
    urls = (
        target.url,
        "https://www.aws.amazon.com/about-aws/whats-new/2024/05/target",  # the same page again
        "https://aws.amazon.com/blogs/aws/elsewhere/",
    )
    linking = dataclasses.replace(make_post("roundup"), links=urls, link_ids=link_ids(urls))
    save(db, "blog", [linking])
    elsewhere = post_id_for(url=urls[2], guid=None, title="", summary="")
    assert links_of(db, linking.id) == [(target.id, target.url), (elsewhere, urls[2])]
    changed = dataclasses.replace(linking, links=urls[2:], link_ids=link_ids(urls[2:]), content_hash="new")
    save(db, "blog", [changed])
    assert links_of(db, linking.id) == [(elsewhere, urls[2])]


def test_an_archive_from_before_post_links_gets_them_from_its_stored_links(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = store.open_db(path)
    store.ensure_feed(db, name="blog", url="https://example.test/blog", kind="other", title="", now=NOW)
    urls = ("https://aws.amazon.com/about-aws/whats-new/2024/05/a/", "https://aws.amazon.com/blogs/aws/b/")
    post = dataclasses.replace(make_post("old"), links=urls, link_ids=link_ids(urls))
    save(db, "blog", [post])
    # Back to the archive as version 0005 left it: no post_links, no region counts.
    db.execute("DROP TABLE post_links")
    db.execute("ALTER TABLE posts DROP COLUMN region_count")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0006_derived_facts'")
    db.conn.commit()
    db.close()
    upgraded = store.open_db(path)
    assert [t for t, _u in links_of(upgraded, post.id)] == list(link_ids(urls))


def test_an_archive_from_before_the_leaner_indexes_keeps_its_search_and_launches(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = store.open_db(path)
    store.ensure_feed(db, name="wn", url="https://example.test/wn", kind="aws-whats-new", title="", now=NOW)
    launch = make_post("launch", title="Introducing Amazon Widgets", published=NOW - dt.timedelta(days=400))
    save(db, "wn", [launch, make_post("feature", title="Amazon Widgets adds dynamic gizmos")])
    db.execute("UPDATE posts SET primary_service = 'widgets'")
    db.execute("UPDATE posts SET kind = 'new-service' WHERE title LIKE 'Introducing%'")
    # Back to the archive as version 0007 left it: a full-text index with column sizes, the
    # launches looked up in an index of every post by service and kind.
    db.execute("DROP INDEX idx_posts_service_launch")
    db.execute("CREATE INDEX idx_posts_primary_service_kind_date ON posts (primary_service, kind, date)")
    db.execute("DROP TABLE posts_fts")
    db.table("posts").enable_fts(["title", "summary"], tokenize="porter")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0008_leaner_writes'")
    db.conn.commit()
    db.close()

    upgraded = store.open_db(path)
    assert [r["title"] for r in store.query_posts(upgraded, search="gizmo")] == ["Amazon Widgets adds dynamic gizmos"]
    assert [r["title"] for r in store.query_posts(upgraded, search="widgets")] == [
        "Amazon Widgets adds dynamic gizmos",
        "Introducing Amazon Widgets",
    ]
    first = store.service_launch(upgraded, "widgets", before=NOW)
    assert first is not None and first.title == "Introducing Amazon Widgets"
    plan = upgraded.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM posts WHERE primary_service = 'widgets' AND kind = 'new-service' AND date < ?",
        [NOW.isoformat()],
    ).fetchall()
    assert "idx_posts_service_launch" in str(plan)
    # New posts keep the index in step (the triggers outlive the table they name).
    save(upgraded, "wn", [make_post("later", title="Amazon Widgets gizmos in more Regions")])
    assert len(store.query_posts(upgraded, search="gizmos")) == 2


def test_a_failed_batch_leaves_nothing_half_written(db) -> None:
    save(db, "wn", [make_post("kept")])
    with pytest.raises(RuntimeError), store.write_transaction(db):
        store.store_posts(db, "wn", as_tagged([make_post("lost-1"), make_post("lost-2")]), tagged_with="t", now=NOW)
        raise RuntimeError("crash in the middle of a poll")
    assert [r["title"] for r in db["posts"].rows] == ["kept"]
    assert db["post_sources"].count == 1
    assert next(iter(db.query("SELECT count(*) AS n FROM posts_fts")))["n"] == 1


def test_full_text_search_and_filters(db) -> None:
    save(
        db,
        "wn",
        [
            make_post(
                "step-functions-parallel",
                title="Step Functions adds dynamic parallelism",
                published=NOW - dt.timedelta(days=3),
            )
        ],
    )
    save(
        db,
        "blog",
        [make_post("s3-replication", title="S3 same-region replication", published=NOW - dt.timedelta(days=1))],
    )
    assert [r["title"] for r in store.query_posts(db, search="parallelism")] == [
        "Step Functions adds dynamic parallelism"
    ]
    assert [r["title"] for r in store.query_posts(db, search='"replication')] == ["S3 same-region replication"]
    assert [r["title"] for r in store.query_posts(db, feeds=["wn"])] == ["Step Functions adds dynamic parallelism"]
    assert [r["title"] for r in store.query_posts(db, since=NOW - dt.timedelta(days=2))] == [
        "S3 same-region replication"
    ]
    assert [r["title"] for r in store.query_posts(db, until=NOW - dt.timedelta(days=2))] == [
        "Step Functions adds dynamic parallelism"
    ]
    newest_first = [r["title"] for r in store.query_posts(db)]
    assert newest_first == ["S3 same-region replication", "Step Functions adds dynamic parallelism"]
    assert store.query_posts(db, limit=1)[0]["sources"] == ["blog"]


def test_ordering_does_not_depend_on_dates_alone(db) -> None:
    save(db, "wn", [make_post("first", published=None)], now=NOW)
    save(db, "wn", [make_post("second", published=None)], now=NOW + dt.timedelta(minutes=5))
    assert [r["title"] for r in store.query_posts(db)] == ["second", "first"]


def test_a_reader_and_a_writer_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer = store.open_db(path)
    store.ensure_feed(writer, name="wn", url="https://example.test/wn", kind="other", title="", now=NOW)
    errors: list[Exception] = []

    def read_loop() -> None:
        reader = store.open_db(path, readonly=True)
        try:
            for _ in range(200):
                reader.execute("SELECT count(*) FROM posts").fetchone()
        except sqlite3.Error as exc:  # pragma: no cover - the failure we test against
            errors.append(exc)

    thread = threading.Thread(target=read_loop)
    thread.start()
    for i in range(50):
        save(writer, "wn", [make_post(f"p{i}")])
    thread.join()
    assert errors == []
    assert writer["posts"].count == 50


def test_readonly_open_of_a_missing_archive_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no archive at"):
        store.open_db(tmp_path / "missing.db", readonly=True)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(StoreError, match="cannot open the archive"):
        store.open_db(path)
    assert path.read_text().startswith("this is not a database")


def test_datasette_browses_the_archive(db, tmp_path: Path) -> None:
    datasette_app = pytest.importorskip("datasette.app")
    save(db, "wn", [make_post("browsable", title="Browsable in Datasette")])
    db.close()

    async def browse() -> dict:
        ds = datasette_app.Datasette([str(tmp_path / "archive.db")])
        response = await ds.client.get("/archive/posts.json?_shape=array")
        assert response.status_code == 200
        search = await ds.client.get("/archive/posts.json?_search=browsable&_shape=array")
        return {"rows": response.json(), "search": search.json()}

    result = asyncio.run(browse())
    assert [r["title"] for r in result["rows"]] == ["Browsable in Datasette"]
    assert [r["title"] for r in result["search"]] == ["Browsable in Datasette"]
