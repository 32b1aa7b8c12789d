"""Reading the archive: typed records for the commands, the service and the digest.

Every query of the archive outside ``writes`` and the migrations is here, each bounded by an
index (posts by ``date`` or primary key, a service's history by ``(primary_service, date)``), so
a read costs the same on a large archive as on a small one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SearchError
from ..models import FeedGap, FeedState, GapStatus, Post, Tag
from .schema import Database, chunks, from_iso, iso, marks

# --- feeds -------------------------------------------------------------------------------------


def feed_state(db: Database, name: str) -> FeedState | None:
    rows = list(db.query("SELECT * FROM feeds WHERE name = ?", [name]))
    if not rows:
        return None
    return state_from_row(rows[0])


def state_from_row(row: dict[str, Any]) -> FeedState:
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


def feed_rows(db: Database) -> dict[str, dict[str, Any]]:
    """Every stored feed with its state and the number of posts it delivered, by name."""
    sql = """
        SELECT feeds.*, coalesce(counts.posts, 0) AS posts
        FROM feeds LEFT JOIN (
            SELECT feed, count(*) AS posts FROM post_sources GROUP BY feed
        ) AS counts ON counts.feed = feeds.name
    """
    return {row["name"]: row for row in db.query(sql)}


def feed_names(db: Database) -> list[str]:
    """Every feed the archive knows, configured now or not: its posts stay when it leaves the list."""
    return [row[0] for row in db.execute("SELECT name FROM feeds ORDER BY name")]


_FTS_SYNTAX = re.compile(r'["*()^]|(?:^|\s)(?:AND|OR|NOT|NEAR)(?:\s|\(|$)|(?:^|\s)(?:title|summary)\s*:')
"""What makes a ``--search`` an FTS5 query rather than plain words: quotes, prefix stars,
parentheses, ``^``, the operators (upper case, as FTS5 wants them) and the two column filters."""


def fts_query(text: str) -> str:
    """The MATCH argument of a search: an FTS5 query as given (``lambda OR ecs``, ``"snap start"``,
    ``lamb*``), plain words each quoted (``node.js`` and ``re:Invent`` are words, not syntax; so
    are words with one stray quote, ``"replication``)."""
    stray_quote = text.count('"') % 2 == 1 and not _FTS_SYNTAX.search(text.replace('"', " "))
    if _FTS_SYNTAX.search(text) and not stray_quote:
        return text
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split())


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
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Posts newest first (by date, then first seen), with the feeds that delivered each.

    ``tags``: posts carrying every one of these tags (service keys or topics); ``kind``: of this
    kind; ``search``: an FTS5 query or plain words (``fts_query``), raising ``SearchError`` when
    the index cannot run it; ``offset``: skip that many posts first (paging).
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
        params.append(fts_query(search))
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
        + (" LIMIT ?" if limit or offset else "")
        + (" OFFSET ?" if offset else "")
    )
    if limit or offset:
        params.append(limit or -1)
    if offset:
        params.append(offset)
    rows = []
    try:
        for row in db.query(sql, params):
            for key in ("links", "authors", "categories", "sources", "regions"):
                row[key] = json.loads(row[key]) if row[key] else []
            rows.append(row)
    except sqlite3.OperationalError as exc:
        if not search:
            raise
        raise SearchError(
            f'{search!r} is not a search the full-text index can run ({exc}): use words, "a phrase",'
            ' prefix*, AND, OR, NOT, NEAR(a b) and parentheses; quote a word that is an operator ("OR")'
        ) from None
    return rows


# --- posts -------------------------------------------------------------------------------------


def find_post(db: Database, ref: str) -> dict[str, Any] | None:
    """A post by its id, else by its URL (with or without the trailing slash)."""
    ref = ref.strip()
    for sql, param in (
        ("SELECT id, url, title FROM posts WHERE id = ?", ref),
        ("SELECT id, url, title FROM posts WHERE url = ?", ref),
        ("SELECT id, url, title FROM posts WHERE url = ?", ref.rstrip("/") if ref.endswith("/") else ref + "/"),
    ):
        rows = list(db.query(sql, [param]))
        if rows:
            return rows[0]
    return None


def existing_by_id(db: Database, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT id, content_hash FROM posts WHERE id IN ({marks})", list(chunk)):
            found[row[0]] = row[1]
    return found


def existing_by_guid(db: Database, feed: str, guids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(guids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT guid, post_id FROM post_sources WHERE feed = ? AND guid IN ({marks})", [feed, *chunk]
        ):
            found[row[0]] = row[1]
    return found


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


def unknown_token_rows(db: Database) -> list[dict[str, Any]]:
    """The unknown category tokens, most frequent first."""
    return list(db.query("SELECT * FROM unknown_tokens ORDER BY posts DESC, last_seen DESC, token"))


def tags_of(db: Database, post_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each post's tags (services first, then topics; the surest first)."""
    found: dict[str, list[dict[str, Any]]] = {post_id: [] for post_id in post_ids}
    for chunk in chunks(list(post_ids)):
        marks = ",".join("?" * len(chunk))
        for row in db.query(
            f"SELECT * FROM post_tags WHERE post_id IN ({marks})"
            " ORDER BY post_id, type = 'topic', confidence DESC, tag",
            list(chunk),
        ):
            found[row["post_id"]].append(row)
    return found


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
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        known.update(
            r[0]
            for r in db.execute(
                f"SELECT post_id FROM post_sources WHERE feed = ? AND post_id IN ({marks})", [feed, *chunk]
            )
        )
    guids = [p.guid for p in posts if p.guid and p.id not in known]
    by_guid = existing_by_guid(db, feed, guids) if guids else {}
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


def post_categories(db: Database) -> list[tuple[str, list[str], str]]:
    """Every post's (id, category tokens, first seen), in the order they were stored: for counting
    the tokens the registry does not know afresh."""
    return [
        (post_id, json.loads(categories or "[]"), first_seen)
        for post_id, categories, first_seen in db.execute("SELECT id, categories, first_seen FROM posts ORDER BY rowid")
    ]


# --- feed status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSnapshot:
    """What the archive holds about its feeds at one moment (``aggregator.status`` merges it
    with the configured feed list)."""

    rows: dict[str, dict[str, Any]]
    """``feed_rows``: every stored feed's state and the number of posts it delivered, by name."""
    gaps: dict[str, list[FeedGap]]
    """Each feed's gaps still a problem (open or unrepairable), oldest first."""


def feed_snapshot(db: Database) -> FeedSnapshot:
    """The feeds' states and their gaps, read in one transaction: a poll or a repair writing
    between the two reads cannot pair a feed's state with gaps from another moment."""
    db.execute("BEGIN")
    try:
        rows = feed_rows(db)
        by_feed: dict[str, list[FeedGap]] = {}
        for found in gaps(db):
            by_feed.setdefault(found.feed, []).append(found)
    finally:
        db.execute("COMMIT")
    return FeedSnapshot(rows=rows, gaps=by_feed)


# --- the digest's reads ------------------------------------------------------------------------
#
# What the weekly draft reads of the archive, as typed records: the posts of a window (by the
# ``posts.date`` index) or by id (primary key) with their sources, tags and links; a service's
# history (``posts (primary_service, date)``, migration 0005) and launch (a partial index of the
# launches, 0008); the fetch log of the window (``fetch_log (started)``, ``(feed, started)``). The digest
# itself holds no SQL.


@dataclass(frozen=True, kw_only=True)
class FeedLabel:
    """A configured feed as the digest names it."""

    name: str
    kind: str
    title: str | None
    gone: bool
    """It answered 410 Gone: no longer polled."""


@dataclass(frozen=True, kw_only=True)
class PostRecord:
    """A stored post as the digest reads it: what it is, which feeds delivered it, what the
    tagger said about it and what it links."""

    id: str
    url: str | None
    title: str
    date: dt.datetime
    feed: str
    """The first feed that delivered it."""
    feed_kinds: tuple[str, ...]
    """The kinds of the feeds that delivered it (``aws-whats-new``, ``aws-blog``...), each once, sorted."""
    tags: tuple[Tag, ...]
    """Services first, then topics; within each the surest first, then by tag."""
    kind: str | None
    primary_service: str | None
    regions: tuple[str, ...]
    """Region codes a region expansion adds."""
    region_count: int | None
    """How many Regions a region expansion adds (the tagger's count); None when it does not say."""
    links: tuple[str, ...]
    """Ids of the posts it links (``post_links``), in the order it first links them, held or not."""
    tagged: bool
    """The tagger has seen it (``tagged_with``); False for a post stored before tagging existed."""


@dataclass(frozen=True, kw_only=True)
class HistoryPost:
    """An earlier post of a service: enough to compare its title and link it."""

    id: str
    url: str | None
    title: str
    date: dt.datetime
    feed: str
    kind: str | None
    primary_service: str | None


@dataclass(frozen=True, kw_only=True)
class FailedPoll:
    started: dt.datetime
    status: int | None
    error: str | None


@dataclass(frozen=True, kw_only=True)
class FeedFailures:
    """The failed polls of one feed in a window."""

    feed: str
    polls: tuple[FailedPoll, ...]
    """Oldest first."""
    recovered: bool
    """A poll after the last failure did not fail (any time after it, in the window or later)."""


def feed_labels(db: Database) -> dict[str, FeedLabel]:
    """Every stored feed's kind, title and whether it is gone, by name."""
    return {
        name: FeedLabel(name=name, kind=kind, title=title, gone=bool(gone))
        for name, kind, title, gone in db.execute("SELECT name, kind, title, gone FROM feeds ORDER BY name")
    }


_DIGEST_POST = "id, url, title, date, feed, kind, primary_service, regions, region_count, tagged_with"


def window_posts(db: Database, *, start: dt.datetime, end: dt.datetime) -> list[PostRecord]:
    """The posts dated in ``[start, end)``, oldest first (then by id)."""
    rows = db.execute(
        f"SELECT {_DIGEST_POST} FROM posts WHERE date >= ? AND date < ? ORDER BY date, id", [iso(start), iso(end)]
    ).fetchall()
    return _post_records(db, rows)


def posts_by_id(db: Database, ids: Iterable[str]) -> list[PostRecord]:
    """The archive's posts with these ids, by id (ids it does not hold are left out)."""
    wanted = sorted(set(ids))
    rows = []
    for chunk in chunks(wanted):
        rows += db.execute(f"SELECT {_DIGEST_POST} FROM posts WHERE id IN ({marks(chunk)})", list(chunk)).fetchall()
    return _post_records(db, sorted(rows))


def _post_records(db: Database, rows: Sequence[tuple[Any, ...]]) -> list[PostRecord]:
    ids = [row[0] for row in rows]
    kinds = {name: label.kind for name, label in feed_labels(db).items()}
    sources: dict[str, set[str]] = defaultdict(set)
    links: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for chunk in chunks(ids):
        for post_id, feed in db.execute(
            f"SELECT post_id, feed FROM post_sources WHERE post_id IN ({marks(chunk)})", list(chunk)
        ):
            sources[post_id].add(feed)
        for post_id, position, target in db.execute(
            f"SELECT post_id, position, target_id FROM post_links WHERE post_id IN ({marks(chunk)})", list(chunk)
        ):
            links[post_id].append((position, target))
    tags = _tags(db, ids)
    out = []
    for post_id, url, title, date, feed, kind, primary, regions, region_count, tagged_with in rows:
        out.append(
            PostRecord(
                id=post_id,
                url=url,
                title=title or "",
                date=dt.datetime.fromisoformat(date),
                feed=feed,
                feed_kinds=tuple(sorted({kinds[f] for f in sources[post_id] | {feed} if f in kinds})),
                tags=tuple(tags[post_id]),
                kind=kind,
                primary_service=primary,
                regions=tuple(json.loads(regions)) if regions else (),
                region_count=region_count,
                links=tuple(target for _position, target in sorted(links[post_id])),
                tagged=tagged_with is not None,
            )
        )
    return out


def _tags(db: Database, ids: Sequence[str]) -> dict[str, list[Tag]]:
    """Each post's tags as ``tags_of`` orders them (services first, the surest first), typed. Equal
    tags are one object: a window's thousands of tags are a few hundred distinct ones."""
    found: dict[str, list[Tag]] = defaultdict(list)
    distinct: dict[tuple[str, str, str, float], Tag] = {}
    for chunk in chunks(ids):
        for post_id, name, kind, source, confidence in db.execute(
            f"SELECT post_id, tag, type, source, confidence FROM post_tags WHERE post_id IN ({marks(chunk)})"
            " ORDER BY post_id, type = 'topic', confidence DESC, tag",
            list(chunk),
        ):
            key = (name, kind, source, confidence)
            tag = distinct.get(key)
            if tag is None:
                tag = distinct[key] = Tag(tag=name, type=kind, source=source, confidence=confidence)
            found[post_id].append(tag)
    return found


def count_untagged(db: Database, *, start: dt.datetime, end: dt.datetime) -> int:
    """How many posts dated in ``[start, end)`` the tagger has not seen (stored before tagging
    existed: ``aggregator tag`` tags them)."""
    sql = "SELECT count(*) FROM posts WHERE date >= ? AND date < ? AND tagged_with IS NULL"
    return int(db.execute(sql, [iso(start), iso(end)]).fetchone()[0])


_HISTORY_POST = "id, url, title, date, feed, kind, primary_service"


def _history_post(row: tuple[Any, ...]) -> HistoryPost:
    post_id, url, title, date, feed, kind, primary = row
    return HistoryPost(
        id=post_id,
        url=url,
        title=title or "",
        date=dt.datetime.fromisoformat(date),
        feed=feed,
        kind=kind,
        primary_service=primary,
    )


def service_history(db: Database, service: str, *, before: dt.datetime, limit: int) -> list[HistoryPost]:
    """The newest ``limit`` posts whose primary service is ``service``, dated before ``before``,
    newest first."""
    sql = f"SELECT {_HISTORY_POST} FROM posts WHERE primary_service = ? AND date < ? ORDER BY date DESC, id LIMIT ?"
    return [_history_post(row) for row in db.execute(sql, [service, iso(before), limit])]


def service_launch(db: Database, service: str, *, before: dt.datetime) -> HistoryPost | None:
    """The first ``new-service`` announcement of ``service`` dated before ``before``, if any."""
    sql = (
        f"SELECT {_HISTORY_POST} FROM posts WHERE primary_service = ? AND kind = 'new-service' AND date < ?"
        " ORDER BY date, id LIMIT 1"
    )
    row = db.execute(sql, [service, iso(before)]).fetchone()
    return _history_post(row) if row else None


def fetch_failures(db: Database, *, start: dt.datetime, end: dt.datetime) -> list[FeedFailures]:
    """The feeds whose polls failed during ``[start, end)`` (the fetch log), by name, each with
    its failed polls and whether a later poll did not fail."""
    by_feed: dict[str, list[tuple[str, int | None, str | None]]] = defaultdict(list)
    for feed, started, status, error in db.execute(
        "SELECT feed, started, status, error FROM fetch_log WHERE started >= ? AND started < ? AND outcome = 'error'"
        " ORDER BY feed, started, id",
        [iso(start), iso(end)],
    ):
        by_feed[feed].append((started, status, error))
    out = []
    for feed, polls in by_feed.items():
        recovered = db.execute(
            "SELECT 1 FROM fetch_log WHERE feed = ? AND started > ? AND outcome != 'error' LIMIT 1",
            [feed, polls[-1][0]],
        ).fetchone()
        out.append(
            FeedFailures(
                feed=feed,
                polls=tuple(
                    FailedPoll(started=dt.datetime.fromisoformat(started), status=status, error=error)
                    for started, status, error in polls
                ),
                recovered=recovered is not None,
            )
        )
    return out


# --- the learned profile's cache -----------------------------------------------------------------


def cached_profile(db: Database, key: str) -> str | None:
    """The learned profile kept under ``key`` (``save_profile``), or None."""
    row = db.execute("SELECT data FROM profile_cache WHERE key = ?", [key]).fetchone()
    return str(row[0]) if row else None


_LEARNED_POST = (
    "SELECT p.id, p.date, p.url, p.content_hash, p.feed, p.kind, p.primary_service, p.regions, p.region_count,"
    " p.tagged_with,"
    " (SELECT group_concat(t.tag || ':' || t.type || ':' || t.confidence, ',') FROM post_tags t WHERE t.post_id = p.id),"
    " (SELECT group_concat(s.feed, ',') FROM post_sources s WHERE s.post_id = p.id)"
    " FROM posts p"
)
"""What the profile learns from a post: ``content_hash`` changes with its title, URL and links."""


def posts_digest(db: Database, *, start: dt.datetime, end: dt.datetime, ids: Iterable[str] = ()) -> str:
    """A digest of everything the learned profile reads of the posts dated in ``[start, end)``
    and of those with the given ids (held or not): their dates, content, tags and sources, and
    the feeds' kinds. It changes whenever a post is added, changed or tagged there."""
    digest = hashlib.sha256()
    for name, label in feed_labels(db).items():
        digest.update(f"{name}\x1f{label.kind}\x1e".encode())
    sql = f"{_LEARNED_POST} WHERE p.date >= ? AND p.date < ? ORDER BY p.date, p.id"
    rows = db.execute(sql, [iso(start), iso(end)]).fetchall()
    for chunk in chunks(sorted(set(ids))):
        rows += db.execute(f"{_LEARNED_POST} WHERE p.id IN ({marks(chunk)}) ORDER BY p.id", list(chunk)).fetchall()
    digest.update(repr(rows).encode())
    return digest.hexdigest()
