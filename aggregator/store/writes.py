"""Writing the archive: feeds' states, posts with their tags and links, gaps, backfill cursors.

Every write batch (one feed's poll: its posts, its sources, its state and its fetch-log row; one
backfill page and its cursor) is one ``BEGIN IMMEDIATE`` transaction (``write_transaction``): a
crash loses nothing already committed and leaves no half-written post. The posts come tagged
(``models.TaggedPost``): the store never tags.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..models import FeedGap, FeedState, GapStatus, Post, TaggedPost, Tagging
from .reads import existing_by_guid, existing_by_id, feed_state, state_from_row
from .schema import BUSY_NOTICE_S, Database, _begin_within, iso, link_rows, log, write_transaction

# --- feeds -------------------------------------------------------------------------------------


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
    return {f.name: state_from_row(rows[f.name]) for f in feeds}


def save_feed_state(db: Database, state: FeedState, *, title: str | None = None) -> None:
    """Write a feed's fetch state; call inside the poll's transaction."""
    save_feed_states(db, [(state, title)])


def save_feed_states(db: Database, states: Sequence[tuple[FeedState, str | None]]) -> None:
    """Write feeds' fetch states (each with the title to keep, if any); call inside the polls'
    transaction. One statement for a whole batch of polls."""
    db.conn.executemany(
        "UPDATE feeds SET url = ?, etag = ?, last_modified = ?, body_hash = ?, last_status = ?, last_outcome = ?,"
        " last_error = ?, last_polled = ?, last_success = ?, consecutive_failures = ?, next_check = ?,"
        " retry_after_until = ?, gone = ?, title = coalesce(nullif(?, ''), title) WHERE name = ?",
        [
            (
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
            )
            for state, title in states
        ],
    )


FETCH_LOG_COLUMNS = ("feed", "started", "status", "outcome", "duration_ms", "bytes", "new", "updated", "error", "url")
"""What each ``fetch_log`` row says of one poll."""


def log_fetch(db: Database, row: dict[str, Any]) -> None:
    """Append one row (column -> SQLite value) to the fetch log; call inside the poll's transaction.

    Plain SQL: ``Table.insert`` looks the table up in the schema on every call, which cost more
    than the rest of a 304's bookkeeping.
    """
    columns = ", ".join(f"[{column}]" for column in row)
    db.execute(f"INSERT INTO fetch_log ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def log_fetches(db: Database, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append rows of ``FETCH_LOG_COLUMNS`` to the fetch log, one statement for a batch of polls;
    call inside their transaction."""
    db.conn.executemany(
        f"INSERT INTO fetch_log ({', '.join(FETCH_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(FETCH_LOG_COLUMNS))})",
        rows,
    )


def set_next_check(db: Database, name: str, when: dt.datetime | None) -> None:
    """Move a feed's next check (the service, when a feed's interval changes); its own transaction."""
    with write_transaction(db):
        db.execute("UPDATE feeds SET next_check = ? WHERE name = ?", [iso(when), name])


# --- posts -------------------------------------------------------------------------------------

BURST_CACHE_KIB = 8 * 1024
"""SQLite's page cache while a burst is written (its default is 2 MiB)."""


@contextlib.contextmanager
def larger_page_cache(db: Database, kib: int = BURST_CACHE_KIB) -> Iterator[None]:
    """A page cache big enough for the pages a batch of feeds touches, for a burst of writes (a
    first poll of hundreds of feeds): with the default one, SQLite writes pages out to the WAL
    in the middle of a transaction and reads them back, a third of a cold poll's system time.
    The connection's own size comes back after."""
    (previous,) = db.execute("PRAGMA cache_size").fetchone()
    db.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(previous)}")


_json_string = json.encoder.encode_basestring_ascii


def json_list(items: Sequence[object]) -> str:
    """``json.dumps(list(items))``, byte for byte, in a fifth of the time for the usual list of
    strings (a post's links, authors, categories, regions: four a post)."""
    if not items:
        return "[]"
    strings = [item for item in items if isinstance(item, str)]
    if len(strings) == len(items):
        return "[" + ", ".join(map(_json_string, strings)) + "]"
    return json.dumps(list(items))


@dataclass(frozen=True)
class StoreCounts:
    new: int
    updated: int
    new_ids: tuple[str, ...] = ()
    updated_ids: tuple[str, ...] = ()


def store_posts(
    db: Database,
    feed: str,
    posts: Iterable[TaggedPost],
    *,
    tagged_with: str,
    now: dt.datetime,
    history: bool = False,
) -> StoreCounts:
    """Insert new posts, update changed ones in place, record this feed as a source of each.

    A post is matched by its id (derived from the canonical URL: the same URL from another feed,
    or under a changed guid, is the same post), then by its guid within this feed (a post whose
    URL changed). ``history``: imported history, first seen when it was published. New and
    changed posts are stored with their tagging (``tagged_with``: the tagger's fingerprint) and
    their links resolved to post ids (``post_links``). Call inside a transaction.
    """
    posts = list(posts)
    if not posts:
        return StoreCounts(0, 0)
    now_s = iso(now) or ""
    by_id = existing_by_id(db, [t.post.id for t in posts])
    guids = [t.post.guid for t in posts if t.post.guid]
    guid_owners = existing_by_guid(db, feed, guids) if guids else {}
    by_guid = {
        t.post.guid: guid_owners[t.post.guid] for t in posts if t.post.guid in guid_owners and t.post.id not in by_id
    }
    if by_guid:
        by_id.update(existing_by_id(db, list(set(by_guid.values()))))

    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    sources: list[tuple[Any, ...]] = []
    links: list[tuple[str, str, int, str]] = []
    new_ids: list[str] = []
    updated_ids: list[str] = []
    tagged: list[PostTagging] = []
    for item in posts:
        post, tagging = item.post, item.tagging
        post_id = post.id if post.id in by_id else by_guid.get(post.guid or "", post.id)
        if by_id.get(post_id) == post.content_hash:  # stored already, unchanged: only its source
            sources.append((post_id, feed, post.guid, now_s, now_s))
            continue
        published = iso(post.published)
        fields = _post_fields(post, now_s)
        if tagging is None:  # said unchanged when read in this transaction: a caller's bug
            raise ValueError(f"post {post_id} is new or changed but came untagged: tag it before storing it")
        columns = tag_columns(tagging, tagged_with)
        if post_id not in by_id:
            first_seen = published if history and published else now_s
            inserts.append((post_id, *fields, first_seen, feed, *columns))
            by_id[post_id] = post.content_hash
            new_ids.append(post_id)
            tagged.append(PostTagging(post_id, tagging, first_seen or now_s, new=True))
        else:
            # An updated entry keeps its date unless the feed now gives one.
            updates.append((*fields[:7], published, *fields[8:], now_s, *columns, post_id))
            by_id[post_id] = post.content_hash
            updated_ids.append(post_id)
            tagged.append(PostTagging(post_id, tagging, now_s, new=False))
        links.extend(link_rows(post_id, post.links, post.link_ids))
        sources.append((post_id, feed, post.guid, now_s, now_s))

    db.conn.executemany(
        "INSERT INTO posts (id, url, title, summary, summary_html, links, published, updated, date, authors,"
        " categories, content_hash, first_seen, feed, kind, primary_service, regions, region_count, tagged_with)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        inserts,
    )
    db.conn.executemany(
        "UPDATE posts SET url = ?, title = ?, summary = ?, summary_html = ?, links = ?, published = ?, updated = ?,"
        " date = coalesce(?, date), authors = ?, categories = ?, content_hash = ?, changed_at = ?,"
        " kind = ?, primary_service = ?, regions = ?, region_count = ?, tagged_with = ? WHERE id = ?",
        updates,
    )
    db.conn.executemany("DELETE FROM post_links WHERE post_id = ?", [(post_id,) for post_id in updated_ids])
    db.conn.executemany("INSERT INTO post_links (post_id, target_id, position, url) VALUES (?,?,?,?)", links)
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
    save_taggings(db, tagged, tagged_with=tagged_with, posts_written=True)
    return StoreCounts(len(inserts), len(updates), tuple(new_ids), tuple(updated_ids))


def _post_fields(post: Post, now_s: str) -> tuple[Any, ...]:
    """``posts.url`` to ``posts.content_hash``, in the order of the columns; the date is when the post
    was published, else now."""
    published = iso(post.published)
    return (
        post.url,
        post.title,
        post.summary,
        post.summary_html,
        json_list(post.links),
        published,
        iso(post.updated),
        published or now_s,
        json_list(post.authors),
        json_list(post.categories),
        post.content_hash,
    )


# --- tags --------------------------------------------------------------------------------------


def tag_columns(tagging: Tagging, tagged_with: str) -> tuple[Any, ...]:
    """``posts.kind, primary_service, regions, region_count, tagged_with``."""
    return (
        tagging.kind,
        tagging.primary_service,
        json_list(tagging.regions),
        tagging.region_count,
        tagged_with,
    )


@dataclass(frozen=True)
class PostTagging:
    """A stored post's tagging, ready to store."""

    post_id: str
    tagging: Tagging
    seen: str | None = None
    """When it was seen (a new post's first seen, a changed one's change): its unknown category
    tokens are recorded then. None: leave them (``replace_unknown_tokens`` counts them afresh)."""
    new: bool = False
    """A new post counts once for each of its unknown tokens; a changed one was counted already."""


def save_taggings(
    db: Database, taggings: Sequence[PostTagging], *, tagged_with: str, posts_written: bool = False
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
            "UPDATE posts SET kind = ?, primary_service = ?, regions = ?, region_count = ?, tagged_with = ? WHERE id = ?",
            [(*tag_columns(t.tagging, tagged_with), t.post_id) for t in taggings],
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


MANUAL_CONFIDENCE = 1.0
"""A tag the author gave is sure."""


def add_manual_tags(db: Database, post_id: str, tags: Sequence[tuple[str, str]]) -> None:
    """Tag a post by hand with (tag, type) pairs; call inside a transaction. A tag the tagger
    found already becomes manual (and so survives retagging)."""
    db.conn.executemany(
        "INSERT INTO post_tags (post_id, tag, type, source, confidence) VALUES (?, ?, ?, 'manual', ?)"
        " ON CONFLICT (post_id, tag) DO UPDATE SET type = excluded.type, source = 'manual',"
        " confidence = excluded.confidence",
        [(post_id, tag, kind, MANUAL_CONFIDENCE) for tag, kind in tags],
    )


def remove_manual_tags(db: Database, post_id: str, tags: Sequence[str]) -> tuple[list[str], list[str]]:
    """Remove manual tags of a post; call inside a transaction. Returns (the tags removed, the
    tags asked for that the tagger gave, left in place)."""
    rows = {
        row[0]: row[1]
        for row in db.execute(
            f"SELECT tag, source FROM post_tags WHERE post_id = ? AND tag IN ({','.join('?' * len(tags))})",
            [post_id, *tags],
        )
    }
    removed = [tag for tag in tags if rows.get(tag) == "manual"]
    db.conn.executemany(
        "DELETE FROM post_tags WHERE post_id = ? AND tag = ? AND source = 'manual'", [(post_id, t) for t in removed]
    )
    return removed, [tag for tag in tags if tag in rows and rows[tag] != "manual"]


def replace_unknown_tokens(db: Database, rows: Iterable[tuple[str, str, str, int, str]]) -> None:
    """Replace the unknown category tokens with these rows (token, first seen, last seen, posts,
    example post id); call inside a transaction."""
    db.execute("DELETE FROM unknown_tokens")
    db.conn.executemany(
        "INSERT INTO unknown_tokens (token, first_seen, last_seen, posts, example_post_id) VALUES (?,?,?,?,?)",
        list(rows),
    )


# --- gaps --------------------------------------------------------------------------------------


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


# --- the learned profile's cache -----------------------------------------------------------------

PROFILE_CACHE_ROWS = 8
"""Learned profiles kept at most (the newest): a notes folder or two, drafts of a few dates."""


def save_profile(db: Database, key: str, data: str, *, notes: int, wait: float = BUSY_NOTICE_S) -> bool:
    """Keep a learned profile under ``key``, and only the newest ``PROFILE_CACHE_ROWS``. A cache
    does not wait for the archive: False, having written nothing, when it is read-only here or
    another process holds its write lock for longer than ``wait`` seconds."""
    try:
        _begin_within(db, wait)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname not in ("SQLITE_BUSY", "SQLITE_READONLY"):
            raise
        log.debug(
            "learned profile not kept: the archive is %s",
            "busy" if exc.sqlite_errorname == "SQLITE_BUSY" else "read-only",
        )
        return False
    try:
        db.execute("INSERT OR REPLACE INTO profile_cache (key, notes, data) VALUES (?, ?, ?)", [key, notes, data])
        db.execute(
            "DELETE FROM profile_cache WHERE rowid NOT IN"
            " (SELECT rowid FROM profile_cache ORDER BY rowid DESC LIMIT ?)",
            [PROFILE_CACHE_ROWS],
        )
    except sqlite3.OperationalError as exc:
        db.conn.rollback()
        if exc.sqlite_errorname != "SQLITE_READONLY":
            raise
        log.debug("learned profile not kept: the archive is read-only here")
        return False
    db.conn.commit()
    return True
