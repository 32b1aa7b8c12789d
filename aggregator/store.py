"""The archive: SQLite through sqlite-utils.

The schema is the list of migrations in ``MIGRATIONS``, applied in order and recorded in
``_sqlite_migrations``. The database runs in WAL mode with a busy timeout, so the service, a
one-shot command and Datasette can use the file at once. Every write batch (one feed's poll:
its posts, its sources, its state and its fetch-log row) is one ``BEGIN IMMEDIATE`` transaction:
a crash loses nothing already committed and leaves no half-written post.

Times are stored as ISO-8601 UTC text (``2024-05-01T17:00:00+00:00``), which sorts correctly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import StoreError
from .models import FeedGap, FeedState, GapStatus, Post
from .tagging import Tagger, Tagging

BUSY_TIMEOUT_S = 30.0
_CHUNK = 500

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
        db = Database(conn)
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        if MIGRATIONS.pending(db):
            with write_transaction(db):
                pass  # take the write lock first, so two processes never migrate at once
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
        db = Database(conn)
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
    timeout) instead of failing with "database is locked" half-way through."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()


# --- feeds -------------------------------------------------------------------------------------


def feed_state(db: Database, name: str) -> FeedState | None:
    rows = list(db.query("SELECT * FROM feeds WHERE name = ?", [name]))
    if not rows:
        return None
    return _state_from_row(rows[0])


def _state_from_row(row: dict[str, Any]) -> FeedState:
    return FeedState(
        name=row["name"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        last_status=row["last_status"],
        last_outcome=row["last_outcome"],
        last_error=row["last_error"],
        last_polled=from_iso(row["last_polled"]),
        last_success=from_iso(row["last_success"]),
        consecutive_failures=row["consecutive_failures"] or 0,
        next_check=from_iso(row["next_check"]),
        retry_after_until=from_iso(row["retry_after_until"]),
        gone=bool(row["gone"]),
    )


_RESET_FEED_SQL = (
    "UPDATE feeds SET url = ?, configured_url = ?, etag = NULL, last_modified = NULL, body_hash = NULL,"
    " gone = 0, next_check = NULL, retry_after_until = NULL, consecutive_failures = 0 WHERE name = ?"
)
_RENAME_FEED_SQL = "UPDATE feeds SET kind = ?, title = coalesce(nullif(?, ''), title) WHERE name = ?"
_INSERT_FEED_SQL = (
    "INSERT OR IGNORE INTO feeds (name, url, configured_url, kind, title, created) VALUES (?, ?, ?, ?, ?, ?)"
)


def ensure_feed(db: Database, *, name: str, url: str, kind: str, title: str, now: dt.datetime) -> FeedState:
    """The stored state of a configured feed, created on first sight.

    When the configuration changes a feed's URL, the new URL wins over any stored redirect and the
    validators are dropped (they belong to the old URL); a feed marked gone is polled again.
    """
    state = feed_state(db, name)
    if state is not None:
        row = next(iter(db.query("SELECT configured_url, kind, title FROM feeds WHERE name = ?", [name])))
        if row["configured_url"] != url:
            with write_transaction(db):
                db.execute(_RESET_FEED_SQL, [url, url, name])
            state = feed_state(db, name)
        elif row["kind"] != kind or (title and row["title"] != title):
            with write_transaction(db):
                db.execute(_RENAME_FEED_SQL, [kind, title, name])
        assert state is not None
        return state
    with write_transaction(db):
        db.execute(_INSERT_FEED_SQL, [name, url, url, kind, title or None, iso(now)])
    state = feed_state(db, name)
    assert state is not None
    return state


class FeedSpec(Protocol):
    """What ``ensure_feeds`` needs of a configured feed (``config.Feed`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...


def ensure_feeds(db: Database, feeds: Iterable[FeedSpec], *, now: dt.datetime) -> dict[str, FeedState]:
    """``ensure_feed`` for many feeds at once, by name: one read of the feed table and at most one
    write transaction for all of them, instead of a query or two and a transaction each."""
    feeds = list(feeds)
    if len({f.name for f in feeds}) != len(feeds):  # a name twice: each sees the one before, as in ensure_feed
        return {f.name: ensure_feed(db, name=f.name, url=f.url, kind=f.kind, title=f.title, now=now) for f in feeds}
    rows = {row["name"]: row for row in db.query("SELECT * FROM feeds")}
    writes: list[tuple[str, list[Any]]] = []
    for f in feeds:
        row = rows.get(f.name)
        if row is None:
            writes.append((_INSERT_FEED_SQL, [f.name, f.url, f.url, f.kind, f.title or None, iso(now)]))
        elif row["configured_url"] != f.url:
            writes.append((_RESET_FEED_SQL, [f.url, f.url, f.name]))
        elif row["kind"] != f.kind or (f.title and row["title"] != f.title):
            writes.append((_RENAME_FEED_SQL, [f.kind, f.title, f.name]))
    if writes:
        with write_transaction(db):
            for sql, params in writes:
                db.execute(sql, params)
        rows = {row["name"]: row for row in db.query("SELECT * FROM feeds")}
    return {f.name: _state_from_row(rows[f.name]) for f in feeds}


def save_feed_state(db: Database, state: FeedState, *, title: str | None = None) -> None:
    """Write a feed's fetch state; call inside the poll's transaction."""
    db.execute(
        "UPDATE feeds SET url = ?, etag = ?, last_modified = ?, body_hash = ?, last_status = ?, last_outcome = ?,"
        " last_error = ?, last_polled = ?, last_success = ?, consecutive_failures = ?, next_check = ?,"
        " retry_after_until = ?, gone = ?, title = coalesce(nullif(?, ''), title) WHERE name = ?",
        [
            state.url,
            state.etag,
            state.last_modified,
            state.body_hash,
            state.last_status,
            state.last_outcome,
            state.last_error,
            iso(state.last_polled),
            iso(state.last_success),
            state.consecutive_failures,
            iso(state.next_check),
            iso(state.retry_after_until),
            int(state.gone),
            title or "",
            state.name,
        ],
    )


def log_fetch(db: Database, row: dict[str, Any]) -> None:
    """Append one row (column -> SQLite value) to the fetch log; call inside the poll's transaction.

    Plain SQL: ``Table.insert`` looks the table up in the schema on every call, which cost more
    than the rest of a 304's bookkeeping.
    """
    columns = ", ".join(f"[{column}]" for column in row)
    db.execute(f"INSERT INTO fetch_log ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


# --- posts -------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_by_id(db: Database, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT id, content_hash FROM posts WHERE id IN ({marks})", list(chunk)):
            found[row[0]] = row[1]
    return found


def _existing_by_guid(db: Database, feed: str, guids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(guids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT guid, post_id FROM post_sources WHERE feed = ? AND guid IN ({marks})", [feed, *chunk]
        ):
            found[row[0]] = row[1]
    return found


@dataclass(frozen=True)
class StoreCounts:
    new: int
    updated: int
    new_ids: tuple[str, ...] = ()
    updated_ids: tuple[str, ...] = ()


def store_posts(
    db: Database,
    feed: str,
    posts: Iterable[Post],
    *,
    now: dt.datetime,
    history: bool = False,
    tagger: Tagger | None = None,
    taggings: Mapping[str, Tagging] | None = None,
) -> StoreCounts:
    """Insert new posts, update changed ones in place, record this feed as a source of each.

    A post is matched by its id (derived from the canonical URL: the same URL from another feed,
    or under a changed guid, is the same post), then by its guid within this feed (a post whose
    URL changed). ``history``: imported history, first seen when it was published.
    ``tagger``: tag the new and changed posts, in the same transaction; ``taggings``: their
    taggings made already (by post id, where they were parsed), the tagger doing the others.
    Call inside a transaction.
    """
    posts = list(posts)
    if not posts:
        return StoreCounts(0, 0)
    now_s = iso(now) or ""
    by_id = _existing_by_id(db, [p.id for p in posts])
    guids = [p.guid for p in posts if p.guid]
    guid_owners = _existing_by_guid(db, feed, guids) if guids else {}
    by_guid = {p.guid: guid_owners[p.guid] for p in posts if p.guid in guid_owners and p.id not in by_id}
    if by_guid:
        by_id.update(_existing_by_id(db, list(set(by_guid.values()))))

    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    sources: list[tuple[Any, ...]] = []
    new_ids: list[str] = []
    updated_ids: list[str] = []
    tagged_posts: list[TaggedPost] = []
    fingerprint = tagger.fingerprint if tagger is not None else None
    for post in posts:
        post_id = post.id if post.id in by_id else by_guid.get(post.guid or "", post.id)
        date = post.published or now
        fields = (
            post.url,
            post.title,
            post.summary,
            post.summary_html,
            json.dumps(list(post.links)),
            iso(post.published),
            iso(post.updated),
            iso(date),
            json.dumps(list(post.authors)),
            json.dumps(list(post.categories)),
            post.content_hash,
        )
        if post_id not in by_id:
            first_seen = iso(post.published) if history and post.published else now_s
            tagged = _tagged(tagger, taggings, post, post_id, first_seen or now_s, new=True)
            inserts.append((post_id, *fields, first_seen, feed, *_tag_columns(tagged, fingerprint)))
            by_id[post_id] = post.content_hash
            new_ids.append(post_id)
        elif by_id[post_id] != post.content_hash:
            # An updated entry keeps its date unless the feed now gives one.
            tagged = _tagged(tagger, taggings, post, post_id, now_s, new=False)
            updates.append(
                (*fields[:7], iso(post.published), *fields[8:], now_s, *_tag_columns(tagged, fingerprint), post_id)
            )
            by_id[post_id] = post.content_hash
            updated_ids.append(post_id)
        else:
            tagged = None
        if tagged is not None:
            tagged_posts.append(tagged)
        sources.append((post_id, feed, post.guid, now_s, now_s))

    db.conn.executemany(
        "INSERT INTO posts (id, url, title, summary, summary_html, links, published, updated, date, authors,"
        " categories, content_hash, first_seen, feed, kind, primary_service, regions, tagged_with)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        inserts,
    )
    db.conn.executemany(
        "UPDATE posts SET url = ?, title = ?, summary = ?, summary_html = ?, links = ?, published = ?, updated = ?,"
        " date = coalesce(?, date), authors = ?, categories = ?, content_hash = ?, changed_at = ?,"
        " kind = ?, primary_service = ?, regions = ?, tagged_with = ? WHERE id = ?",
        updates,
    )
    # A guid this feed gave to another post before now belongs to this one: free it first.
    db.conn.executemany(
        "UPDATE post_sources SET guid = NULL WHERE feed = ? AND guid = ?",
        [(feed, s[2]) for s in sources if s[2] in guid_owners and guid_owners[s[2]] != s[0]],
    )
    db.conn.executemany(
        "INSERT INTO post_sources (post_id, feed, guid, first_seen, last_seen) VALUES (?,?,?,?,?)"
        " ON CONFLICT (post_id, feed) DO UPDATE SET guid = coalesce(excluded.guid, guid), last_seen = excluded.last_seen",
        sources,
    )
    if fingerprint is not None:
        save_taggings(db, tagged_posts, fingerprint=fingerprint, posts_written=True)
    return StoreCounts(len(inserts), len(updates), tuple(new_ids), tuple(updated_ids))


# --- tags --------------------------------------------------------------------------------------


def _tagged(
    tagger: Tagger | None, taggings: Mapping[str, Tagging] | None, post: Post, post_id: str, seen: str, *, new: bool
) -> TaggedPost | None:
    if tagger is None:
        return None
    tagging = taggings.get(post.id) if taggings else None
    return TaggedPost(post_id, tagging if tagging is not None else tagger.tag(post), seen, new)


def _tag_columns(tagged: TaggedPost | None, fingerprint: str | None) -> tuple[Any, ...]:
    """``posts.kind, primary_service, regions, tagged_with`` (all NULL for a post left untagged)."""
    if tagged is None:
        return (None, None, None, None)
    tagging = tagged.tagging
    return (tagging.kind, tagging.primary_service, json.dumps(list(tagging.regions)), fingerprint)


@dataclass(frozen=True)
class TaggedPost:
    """A post's tagging, ready to store."""

    post_id: str
    tagging: Tagging
    seen: str | None = None
    """When it was seen (a new post's first seen, a changed one's change): its unknown category
    tokens are recorded then. None: leave them (``rebuild_unknown_tokens`` counts them afresh)."""
    new: bool = False
    """A new post counts once for each of its unknown tokens; a changed one was counted already."""


def save_taggings(
    db: Database, taggings: Sequence[TaggedPost], *, fingerprint: str, posts_written: bool = False
) -> None:
    """Store what each post is about; call inside a transaction.

    A post's tags are replaced, except manual ones (``source = 'manual'``), which always win;
    ``posts.tagged_with`` records the tagger's fingerprint. ``posts_written``: the posts' own
    columns (kind, primary service, regions, fingerprint) were written with the post already.
    """
    if not taggings:
        return
    db.conn.executemany(  # a new post has no tags yet
        "DELETE FROM post_tags WHERE post_id = ? AND source != 'manual'", [(t.post_id,) for t in taggings if not t.new]
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO post_tags (post_id, tag, type, source, confidence) VALUES (?,?,?,?,?)",
        [(t.post_id, tag.tag, tag.type, tag.source, tag.confidence) for t in taggings for tag in t.tagging.tags],
    )
    if not posts_written:
        db.conn.executemany(
            "UPDATE posts SET kind = ?, primary_service = ?, regions = ?, tagged_with = ? WHERE id = ?",
            [(*_tag_columns(t, fingerprint), t.post_id) for t in taggings],
        )
    db.conn.executemany(
        "INSERT INTO unknown_tokens (token, first_seen, last_seen, posts, example_post_id) VALUES (?,?,?,?,?)"
        " ON CONFLICT (token) DO UPDATE SET posts = posts + excluded.posts,"
        " first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),"
        " example_post_id = excluded.example_post_id",
        [
            (token, t.seen, t.seen, int(t.new), t.post_id)
            for t in taggings
            if t.seen is not None
            for token in t.tagging.unknown_tokens
        ],
    )


@dataclass(frozen=True)
class TaggingRow:
    """What the tagger needs of a stored post."""

    rowid: int
    id: str
    title: str
    summary: str
    categories: tuple[str, ...]
    url: str | None


def posts_to_tag(db: Database, *, fingerprint: str, scope: str, after: int = 0, limit: int = 1000) -> list[TaggingRow]:
    """The next posts (by rowid, after ``after``) to tag: ``untagged`` ones, ``stale`` ones (tagged
    with another registry, or not at all) or ``all``."""
    where = {
        "untagged": "tagged_with IS NULL",
        "stale": "(tagged_with IS NULL OR tagged_with != :fingerprint)",
        "all": "1",
    }[scope]
    sql = (
        "SELECT rowid, id, title, summary, categories, url FROM posts"
        f" WHERE rowid > :after AND {where} ORDER BY rowid LIMIT :limit"
    )
    return [
        TaggingRow(row[0], row[1], row[2] or "", row[3] or "", tuple(json.loads(row[4] or "[]")), row[5])
        for row in db.execute(sql, {"after": after, "fingerprint": fingerprint, "limit": limit})
    ]


def count_to_tag(db: Database, *, fingerprint: str, scope: str) -> int:
    where = {
        "untagged": "tagged_with IS NULL",
        "stale": "(tagged_with IS NULL OR tagged_with != ?)",
        "all": "1",
    }[scope]
    params = [fingerprint] if scope == "stale" else []
    return int(db.execute(f"SELECT count(*) FROM posts WHERE {where}", params).fetchone()[0])


def rebuild_unknown_tokens(db: Database, tagger: Tagger) -> int:
    """Count again, over the whole archive, the category tokens the registry does not know
    (after a retag the registry may know some now); call inside a transaction. Returns how many."""
    seen: dict[str, list[Any]] = {}  # token -> [first seen, last seen, posts, example]
    for post_id, categories, first_seen in db.execute("SELECT id, categories, first_seen FROM posts ORDER BY rowid"):
        for token in tagger.unknown_tokens(json.loads(categories or "[]")):
            held = seen.get(token)
            if held is None:
                seen[token] = [first_seen, first_seen, 1, post_id]
            else:
                held[0] = min(held[0], first_seen)
                if first_seen >= held[1]:
                    held[1], held[3] = first_seen, post_id
                held[2] += 1
    db.execute("DELETE FROM unknown_tokens")
    db.conn.executemany(
        "INSERT INTO unknown_tokens (token, first_seen, last_seen, posts, example_post_id) VALUES (?,?,?,?,?)",
        [(token, *values) for token, values in seen.items()],
    )
    return len(seen)


def unknown_token_rows(db: Database) -> list[dict[str, Any]]:
    """The unknown category tokens, most frequent first."""
    return list(db.query("SELECT * FROM unknown_tokens ORDER BY posts DESC, last_seen DESC, token"))


def tags_of(db: Database, post_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each post's tags (services first, then topics; the surest first)."""
    found: dict[str, list[dict[str, Any]]] = {post_id: [] for post_id in post_ids}
    for chunk in _chunks(list(post_ids)):
        marks = ",".join("?" * len(chunk))
        for row in db.query(
            f"SELECT * FROM post_tags WHERE post_id IN ({marks})"
            " ORDER BY post_id, type = 'topic', confidence DESC, tag",
            list(chunk),
        ):
            found[row["post_id"]].append(row)
    return found


# --- queries -----------------------------------------------------------------------------------


def feed_rows(db: Database) -> dict[str, dict[str, Any]]:
    """Every stored feed with its state and the number of posts it delivered, by name."""
    sql = """
        SELECT feeds.*, coalesce(counts.posts, 0) AS posts
        FROM feeds LEFT JOIN (
            SELECT feed, count(*) AS posts FROM post_sources GROUP BY feed
        ) AS counts ON counts.feed = feeds.name
    """
    return {row["name"]: row for row in db.query(sql)}


def query_posts(
    db: Database,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    feeds: Sequence[str] = (),
    search: str | None = None,
    tags: Sequence[str] = (),
    kind: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Posts newest first (by date, then first seen), with the feeds that delivered each.

    ``tags``: posts carrying every one of these tags (service keys or topics); ``kind``: of this kind.
    """
    where: list[str] = []
    params: list[Any] = []
    if since:
        where.append("posts.date >= ?")
        params.append(iso(since))
    if until:
        where.append("posts.date < ?")
        params.append(iso(until))
    if feeds:
        where.append(f"posts.id IN (SELECT post_id FROM post_sources WHERE feed IN ({','.join('?' * len(feeds))}))")
        params.extend(feeds)
    if search:
        where.append("posts.rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)")
        params.append(db.quote_fts(search))
    for tag in dict.fromkeys(tags):
        where.append("posts.id IN (SELECT post_id FROM post_tags WHERE tag = ?)")
        params.append(tag)
    if kind:
        where.append("posts.kind = ?")
        params.append(kind)
    sql = (
        "SELECT posts.*, (SELECT json_group_array(feed) FROM post_sources WHERE post_id = posts.id) AS sources"
        " FROM posts"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY posts.date DESC, posts.first_seen DESC, posts.id"
        + (" LIMIT ?" if limit else "")
    )
    if limit:
        params.append(limit)
    rows = []
    for row in db.query(sql, params):
        for key in ("links", "authors", "categories", "sources", "regions"):
            row[key] = json.loads(row[key]) if row[key] else []
        rows.append(row)
    return rows


# --- gaps --------------------------------------------------------------------------------------

GAP_PROBLEMS: tuple[GapStatus, ...] = ("open", "unrepairable")
"""The gaps that are still a problem: the ones the digest's source-problems note names."""


@dataclass(frozen=True)
class WindowCheck:
    """What the archive knew of a fresh document's items before storing them (for gap detection)."""

    known: int
    """Items of the document this feed had delivered before (by id, or by guid within the feed)."""
    stored: int
    """Posts this feed had delivered before, at all."""
    newest: dt.datetime | None
    """Date of the newest post this feed had delivered."""


def window_check(db: Database, feed: str, posts: Sequence[Post]) -> WindowCheck:
    """How a fresh document relates to what is stored from its feed; call before ``store_posts``."""
    row = db.execute(
        "SELECT count(*), max(posts.date) FROM post_sources JOIN posts ON posts.id = post_sources.post_id"
        " WHERE post_sources.feed = ?",
        [feed],
    ).fetchone()
    stored, newest = int(row[0]), from_iso(row[1])
    if not stored:
        return WindowCheck(0, 0, None)
    known: set[str] = set()
    ids = [p.id for p in posts]
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        known.update(
            r[0]
            for r in db.execute(
                f"SELECT post_id FROM post_sources WHERE feed = ? AND post_id IN ({marks})", [feed, *chunk]
            )
        )
    guids = [p.guid for p in posts if p.guid and p.id not in known]
    by_guid = _existing_by_guid(db, feed, guids) if guids else {}
    count = sum(1 for p in posts if p.id in known or (p.guid and p.guid in by_guid))
    return WindowCheck(count, stored, newest)


def _gap_from_row(row: dict[str, Any]) -> FeedGap:
    start, end, detected = from_iso(row["gap_from"]), from_iso(row["gap_until"]), from_iso(row["detected_at"])
    assert start is not None and end is not None and detected is not None  # NOT NULL columns
    return FeedGap(
        id=row["id"],
        feed=row["feed"],
        start=start,
        end=end,
        detected_at=detected,
        status=row["status"],
        items_recovered=row["items_recovered"] or 0,
        attempts=row["attempts"] or 0,
        error=row["error"],
        repaired_at=from_iso(row["repaired_at"]),
    )


def record_gap(db: Database, feed: str, *, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> FeedGap:
    """Record an open gap on a feed; call inside the poll's transaction."""
    cursor = db.execute(
        "INSERT INTO feed_gaps (feed, gap_from, gap_until, detected_at, status) VALUES (?, ?, ?, ?, 'open')",
        [feed, iso(start), iso(end), iso(now)],
    )
    return FeedGap(id=int(cursor.lastrowid or 0), feed=feed, start=start, end=end, detected_at=now, status="open")


def update_gap(
    db: Database,
    gap_id: int,
    *,
    status: GapStatus,
    items_recovered: int,
    attempts: int,
    error: str | None,
    repaired_at: dt.datetime | None = None,
    next_attempt: dt.datetime | None = None,
) -> None:
    """Write the outcome of a repair attempt."""
    db.execute(
        "UPDATE feed_gaps SET status = ?, items_recovered = ?, attempts = ?, error = ?, repaired_at = ?,"
        " next_attempt = ? WHERE id = ?",
        [status, items_recovered, attempts, error, iso(repaired_at), iso(next_attempt), gap_id],
    )


def gaps(db: Database, *, feed: str | None = None, statuses: Sequence[GapStatus] = GAP_PROBLEMS) -> list[FeedGap]:
    """Recorded gaps, oldest first, of one feed or all, with the given statuses."""
    where = [f"status IN ({','.join('?' * len(statuses))})"]
    params: list[Any] = list(statuses)
    if feed is not None:
        where.append("feed = ?")
        params.append(feed)
    sql = f"SELECT * FROM feed_gaps WHERE {' AND '.join(where)} ORDER BY gap_from, id"
    return [_gap_from_row(row) for row in db.query(sql, params)]


def gap(db: Database, gap_id: int) -> FeedGap | None:
    rows = list(db.query("SELECT * FROM feed_gaps WHERE id = ?", [gap_id]))
    return _gap_from_row(rows[0]) if rows else None


def gap_next_attempt(db: Database, gap_id: int) -> dt.datetime | None:
    rows = list(db.query("SELECT next_attempt FROM feed_gaps WHERE id = ?", [gap_id]))
    return from_iso(rows[0]["next_attempt"]) if rows else None


def feed_gaps(
    db: Database, start: dt.datetime, end: dt.datetime, *, statuses: Sequence[GapStatus] = GAP_PROBLEMS
) -> list[FeedGap]:
    """The gaps still open or unrepairable that overlap ``[start, end)``: for the digest's
    source-problems note of the week from ``start`` to ``end``."""
    sql = (
        f"SELECT * FROM feed_gaps WHERE status IN ({','.join('?' * len(statuses))})"
        " AND gap_from < ? AND gap_until > ? ORDER BY gap_from, id"
    )
    return [_gap_from_row(row) for row in db.query(sql, [*statuses, iso(end), iso(start)])]


# --- backfill cursors --------------------------------------------------------------------------


def insert_backfill(db: Database, row: dict[str, Any]) -> int:
    """A new backfill run (column -> value); returns its id."""
    columns = ", ".join(f"[{column}]" for column in row)
    cursor = db.execute(f"INSERT INTO backfills ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return int(cursor.lastrowid or 0)


def update_backfill(db: Database, backfill_id: int, **columns: Any) -> None:
    """Update a backfill run's cursor, counts or status; call inside the page's transaction."""
    assignments = ", ".join(f"[{column}] = ?" for column in columns)
    db.execute(f"UPDATE backfills SET {assignments} WHERE id = ?", [*columns.values(), backfill_id])


def backfill_row(db: Database, backfill_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM backfills WHERE id = ?", [backfill_id]))
    return rows[0] if rows else None


def resumable_backfill(
    db: Database, feed: str, *, since: dt.datetime, until: dt.datetime | None, gap_id: int | None = None
) -> dict[str, Any] | None:
    """The latest unfinished backfill of the same feed and window (an open-ended one when
    ``until`` is None; the same gap's, for a repair), to continue where it stopped."""
    where = ["feed = ?", "status != 'done'", "since = ?"]
    params: list[Any] = [feed, iso(since)]
    if gap_id is not None:
        where.append("gap_id = ?")
        params.append(gap_id)
    elif until is None:
        where.append("open_ended = 1 AND gap_id IS NULL")
    else:
        where.append("until = ? AND open_ended = 0 AND gap_id IS NULL")
        params.append(iso(until))
    rows = list(db.query(f"SELECT * FROM backfills WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 1", params))
    return rows[0] if rows else None
