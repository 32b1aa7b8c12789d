"""The archive's shape: the migrations, opening the file, transactions, time and chunk helpers.

The schema is the list of migrations in ``MIGRATIONS``, applied in order and recorded in
``_sqlite_migrations``. The database runs in WAL mode with a busy timeout, so the service, a
one-shot command and Datasette can use the file at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError

# sqlite-utils imports numpy and pandas, when they are installed, to convert their values on
# insert. The archive never inserts them, and numpy alone costs a listing command a tenth of a
# second or more of start-up: hide them while sqlite-utils loads (unless loaded already).
# Importing them afterwards (the learned ranking uses numpy) works as usual.
_HIDDEN = [name for name in ("numpy", "pandas") if name not in sys.modules]
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]
try:
    from sqlite_utils import Database as Database
    from sqlite_utils.migrations import Migrations
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, ...) is None:
            del sys.modules[_name]

PLUGINS = False
"""sqlite-utils plugins are not run on the archive's connections: the archive needs none of their
SQL functions, and finding them scans every installed package's entry points (a tenth of a
listing command's start-up). Datasette and ``sqlite-utils`` itself still run them on the file."""

BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's transaction before giving up."""
BUSY_NOTICE_S = 1.5
"""How long a write waits for another process's transaction before saying so."""
CHUNK = 500
"""Ids per ``IN (...)`` query: well under SQLite's limit on bound parameters."""

T = TypeVar("T")

log = logging.getLogger(__name__)

MIGRATIONS = Migrations("aggregator")


@MIGRATIONS(name="0001_ingestion_core")
def _m0001(db: Database) -> None:
    db.table("feeds").create(
        {
            "name": str,
            "url": str,
            "configured_url": str,
            "kind": str,
            "title": str,
            "etag": str,
            "last_modified": str,
            "body_hash": str,
            "last_status": int,
            "last_outcome": str,
            "last_error": str,
            "last_polled": str,
            "last_success": str,
            "consecutive_failures": int,
            "next_check": str,
            "retry_after_until": str,
            "gone": int,
            "created": str,
        },
        pk="name",
        not_null={"url", "kind"},
        defaults={"consecutive_failures": 0, "gone": 0},
    )
    db.table("posts").create(
        {
            "id": str,
            "url": str,
            "title": str,
            "summary": str,
            "summary_html": str,
            "links": str,
            "published": str,
            "updated": str,
            "date": str,
            "first_seen": str,
            "changed_at": str,
            "authors": str,
            "categories": str,
            "content_hash": str,
            "feed": str,
        },
        pk="id",
        not_null={"title", "date", "first_seen", "feed"},
        foreign_keys=[("feed", "feeds", "name")],
    )
    db.table("posts").create_index(["url"])
    db.table("posts").create_index(["date"])
    db.table("posts").enable_fts(["title", "summary"], create_triggers=True, tokenize="porter")
    db.table("post_sources").create(
        {"post_id": str, "feed": str, "guid": str, "first_seen": str, "last_seen": str},
        pk=("post_id", "feed"),
        not_null={"first_seen", "last_seen"},
        foreign_keys=[("post_id", "posts", "id"), ("feed", "feeds", "name")],
    )
    db.execute("CREATE UNIQUE INDEX idx_post_sources_feed_guid ON post_sources (feed, guid) WHERE guid IS NOT NULL")
    db.execute("CREATE INDEX idx_post_sources_feed ON post_sources (feed, first_seen)")
    db.table("fetch_log").create(
        {
            "id": int,
            "feed": str,
            "started": str,
            "status": int,
            "outcome": str,
            "duration_ms": int,
            "bytes": int,
            "new": int,
            "updated": int,
            "error": str,
            "url": str,
        },
        pk="id",
        not_null={"feed", "started", "outcome"},
        foreign_keys=[("feed", "feeds", "name")],
    )
    db.table("fetch_log").create_index(["feed", "started"])
    db.table("fetch_log").create_index(["started"])


@MIGRATIONS(name="0002_tagging")
def _m0002(db: Database) -> None:
    """What each post is about: its tags with provenance, its kind, primary service and regions."""
    posts = db.table("posts")
    posts.add_column("kind", str)
    posts.add_column("primary_service", str)
    posts.add_column("regions", str)
    posts.add_column("tagged_with", str)
    # Clustered on (post_id, tag) without a rowid: one b-tree less to write for every tag stored.
    # Linked to posts, so Datasette shows each tag beside its post.
    db.execute(
        "CREATE TABLE post_tags (post_id TEXT NOT NULL REFERENCES posts(id), tag TEXT NOT NULL,"
        " type TEXT NOT NULL, source TEXT NOT NULL, confidence REAL NOT NULL,"
        " PRIMARY KEY (post_id, tag)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_post_tags_tag ON post_tags (tag, post_id)")
    db.table("unknown_tokens").create(
        {"token": str, "first_seen": str, "last_seen": str, "posts": int, "example_post_id": str},
        pk="token",
        not_null={"first_seen", "last_seen"},
        defaults={"posts": 0},
        foreign_keys=[("example_post_id", "posts", "id")],
    )


@MIGRATIONS(name="0003_tagging_extra")
def _m0003(db: Database) -> None:
    """The full-text index kept in step with titles and summaries only. (``posts.tagged_with``
    gets no index: every stored post would pay for it, and ``aggregator tag`` walks the posts by
    rowid anyway; nor do ``kind`` and ``primary_service`` alone: ``posts --kind`` walks the date
    index, and the digest's lookups have their own composite indexes, 0005.)"""
    # The full-text index holds titles and summaries only: rewriting it whenever a post's tags
    # change (each retag) would double the cost of tagging. Same statements, narrower event.
    db.execute("DROP TRIGGER IF EXISTS posts_au")
    db.execute(
        'CREATE TRIGGER "posts_au" AFTER UPDATE OF "title", "summary" ON "posts" BEGIN\n'
        '  INSERT INTO "posts_fts" ("posts_fts", rowid, "title", "summary")'
        ' VALUES(\'delete\', old.rowid, old."title", old."summary");\n'
        '  INSERT INTO "posts_fts" (rowid, "title", "summary") VALUES (new.rowid, new."title", new."summary");\n'
        "END"
    )


@MIGRATIONS(name="0004_backfill")
def _m0004(db: Database) -> None:
    """What's New history backfills (a resumable cursor each) and the gaps detected in feeds."""
    db.table("backfills").create(
        {
            "id": int,
            "feed": str,
            "since": str,
            "until": str,
            "open_ended": int,
            "queries": str,
            "query_index": int,
            "next_page": int,
            "status": str,
            "pages": int,
            "items": int,
            "new": int,
            "updated": int,
            "skipped": int,
            "started": str,
            "updated_at": str,
            "finished": str,
            "error": str,
            "gap_id": int,
        },
        pk="id",
        not_null={"feed", "since", "until", "queries", "status", "started"},
        foreign_keys=[("feed", "feeds", "name")],
        defaults={"query_index": 0, "next_page": 0, "pages": 0, "items": 0, "new": 0, "updated": 0, "skipped": 0},
    )
    db.table("backfills").create_index(["feed", "status"])
    db.table("feed_gaps").create(
        {
            "id": int,
            "feed": str,
            "gap_from": str,
            "gap_until": str,
            "detected_at": str,
            "status": str,
            "items_recovered": int,
            "attempts": int,
            "error": str,
            "repaired_at": str,
            "next_attempt": str,
        },
        pk="id",
        not_null={"feed", "gap_from", "gap_until", "detected_at", "status"},
        foreign_keys=[("feed", "feeds", "name")],
        defaults={"items_recovered": 0, "attempts": 0},
    )
    db.table("feed_gaps").create_index(["feed", "status"])
    db.table("feed_gaps").create_index(["gap_from", "gap_until"])


@MIGRATIONS(name="0005_digest")
def _m0005(db: Database) -> None:
    """What the weekly draft looks up beyond the window: a service's newest earlier posts (its
    history) and its launch, by index whatever the size of the archive.

    Numbered after the tagger's (0003) and the What's New backfill's (0004) migrations, which
    are developed beside it; migrations apply by name, so the order they merge in does not matter.
    """
    db.execute("CREATE INDEX IF NOT EXISTS idx_posts_primary_service_date ON posts (primary_service, date)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_posts_primary_service_kind_date ON posts (primary_service, kind, date)")


@MIGRATIONS(name="0006_derived_facts")
def _m0006(db: Database) -> None:
    """Facts derived once, when a post is stored, instead of at every read: what each post links
    (``post_links``: its links resolved to the ids the archive gives those posts, held or not)
    and how many Regions an expansion adds (``posts.region_count``, from the tagger)."""
    import json

    from ..normalize import link_ids

    db.execute(
        "CREATE TABLE post_links (post_id TEXT NOT NULL REFERENCES posts(id), target_id TEXT NOT NULL,"
        " position INTEGER NOT NULL, url TEXT NOT NULL, PRIMARY KEY (post_id, target_id)) WITHOUT ROWID"
    )
    db.table("posts").add_column("region_count", int)
    rows: list[tuple[str, str, int, str]] = []
    for post_id, links in db.execute("SELECT id, links FROM posts WHERE links IS NOT NULL AND links != '[]'"):
        urls = json.loads(links)
        rows.extend(link_rows(post_id, urls, link_ids(urls)))
    db.conn.executemany("INSERT OR IGNORE INTO post_links VALUES (?, ?, ?, ?)", rows)
    # Expansions tagged before: the Regions they name (a count their title gives needs a retag).
    db.execute(
        "UPDATE posts SET region_count = json_array_length(regions)"
        " WHERE kind = 'region-expansion' AND regions IS NOT NULL AND regions != '[]'"
    )


@MIGRATIONS(name="0007_profile_cache")
def _m0007(db: Database) -> None:
    """What the learned ranking learned from a notes folder (``digest.profile``), kept so that a
    draft over an unchanged folder does not learn it again: one row per key (the notes read, the
    learning code's version and settings, the registry and the archive's posts it learned from).
    Only a cache: a row lost costs one relearning. With rowids, so the newest rows are kept."""
    db.execute("CREATE TABLE profile_cache (key TEXT NOT NULL UNIQUE, notes INTEGER NOT NULL, data TEXT NOT NULL)")


@MIGRATIONS(name="0008_leaner_writes")
def _m0008(db: Database) -> None:
    """Less work for every post stored (a cold poll of hundreds of feeds stores about 7 % faster):
    a service's launch is found in a partial index of the launches alone instead of an index of
    every post by service and kind, and the full-text index keeps no column sizes
    (``columnsize=0``: only bm25 ranking reads them, and ``posts --search`` lists newest first;
    Datasette's ranking still works, measuring the columns as it goes). The full-text index is
    rebuilt once, in this migration: 0.1 s for 16,577 posts, seconds for a million."""
    db.execute("DROP INDEX IF EXISTS idx_posts_primary_service_kind_date")
    db.execute("CREATE INDEX idx_posts_service_launch ON posts (primary_service, date) WHERE kind = 'new-service'")
    # The triggers name the table, not its definition: they keep working on the new one.
    db.execute("DROP TABLE posts_fts")
    db.execute(
        'CREATE VIRTUAL TABLE "posts_fts" USING FTS5 ("title", "summary", tokenize=\'porter\', content="posts",'
        " columnsize=0)"
    )
    db.execute("INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")


def iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: times in the archive are aware UTC")
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def from_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def open_db(path: str | Path, *, readonly: bool = False) -> Database:
    """Open (and create or migrate) the archive. WAL mode, busy timeout, migrations applied.

    ``readonly``: for commands that only read. The archive must exist (a mistyped ``--db`` is an
    error, not a new empty archive); one this user may not write is opened read-only.
    """
    path = Path(path)
    if readonly:
        return _open_for_reading(path)
    if path.parent != Path("") and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the archive {path}: {exc.strerror or exc}") from None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
        db = Database(conn, execute_plugins=PLUGINS)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        if MIGRATIONS.pending(db):
            # Under the write lock, which is held until every migration is applied (each one a
            # savepoint): a second process starting on a new archive waits, then finds none pending.
            with write_transaction(db):
                MIGRATIONS.apply(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the archive {path}: {exc}") from None
    return db


def _open_for_reading(path: Path) -> Database:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise StoreError(f"no archive at {path} ({what}): poll, import or backfill first, or check --db")
    folder = path.resolve().parent
    if os.access(path, os.W_OK) and os.access(folder, os.W_OK):
        return open_db(path)  # a writable archive is opened as usual (and upgraded if it needs it)
    # Read-only: mode=ro reads a WAL archive when its -shm file can be used; immutable=1 reads the
    # main file alone (it may miss the latest, not yet checkpointed, writes of another process).
    last: Exception | None = None
    for options in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=BUSY_TIMEOUT_S)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            last = exc
            continue
        db = Database(conn, execute_plugins=PLUGINS)
        if MIGRATIONS.pending(db):
            raise StoreError(
                f"the archive {path} is read-only here and needs upgrading to this version: run"
                " any command with write access to it once"
            )
        return db
    raise StoreError(f"cannot read the archive {path}: {last}")


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """``BEGIN IMMEDIATE``: take the write lock up front, so concurrent writers wait (busy
    timeout) instead of failing with "database is locked" half-way through. A wait longer than
    ``BUSY_NOTICE_S`` is logged (a warning: what the command is waiting for); one longer than
    ``BUSY_TIMEOUT_S`` raises ``StoreError``."""
    _begin_immediate(db)
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()


def _begin_immediate(db: Database) -> None:
    try:
        _begin_within(db, BUSY_NOTICE_S)
        return
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname != "SQLITE_BUSY":
            raise
    log.warning(
        "waiting for the archive %s: another process is writing to it (giving up after %g s)",
        _file_of(db),
        BUSY_TIMEOUT_S,
    )
    try:
        _begin_within(db, max(BUSY_TIMEOUT_S - BUSY_NOTICE_S, 0.001))
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname != "SQLITE_BUSY":
            raise
        raise StoreError(
            f"the archive {_file_of(db)} is busy: another process has been writing to it for {BUSY_TIMEOUT_S:g} s"
            " (a long import, backfill or tag run, or a program holding a transaction open); nothing was written:"
            " try again once it is done"
        ) from None
    log.warning("the archive is free again: carrying on")


def _begin_within(db: Database, seconds: float) -> None:
    """``BEGIN IMMEDIATE``, waiting at most ``seconds`` for another writer; the connection's own
    busy timeout is ``BUSY_TIMEOUT_S`` again afterwards."""
    db.conn.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    finally:
        db.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def _file_of(db: Database) -> str:
    rows = db.conn.execute("PRAGMA database_list").fetchall()
    return next((str(row[2]) for row in rows if row[1] == "main" and row[2]), "(in memory)")


def link_rows(post_id: str, urls: Sequence[str], ids: Sequence[str]) -> list[tuple[str, str, int, str]]:
    """``post_links`` rows of a post: each target once, at the position of its first link."""
    seen: dict[str, str] = {}
    for url, target in zip(urls, ids, strict=True):
        if target != post_id:
            seen.setdefault(target, url)
    return [(post_id, target, position, url) for position, (target, url) in enumerate(seen.items())]


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``: for queries with one parameter per item."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(items: Sequence[object]) -> str:
    """``?,?,?``: one parameter mark per item."""
    return ",".join("?" * len(items))
