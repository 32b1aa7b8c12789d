"""Hostile and broken documents, each served to a poll next to a good feed.

The good feed's posts are always stored; the bad document is recorded as an error or stored with
a warning, and never corrupts what the archive already holds.

The corpus is ``fixtures/hostile/``. Every file opens (after the XML declaration or DOCTYPE line
its test needs first) with a comment::

    <!--
    Description: what is wrong with the document
    Expect: stored | warning ~= TEXT | error ~= TEXT
    Titles: First launch | Second launch
    -->

``stored``: the poll succeeds without a warning; ``warning``: it succeeds and a warning contains
TEXT; ``error``: the poll of that feed fails with an error containing TEXT and stores nothing.
``Titles`` (optional): the titles stored from the document. Documents that cannot carry a comment
(empty bodies, JSON) or that need the server's address or a temporary file are built here.
"""

from __future__ import annotations

import random
import re
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, FakeClock, LoopbackServer, Response, item, rss
from sqlite_utils import Database

from aggregator import pipeline, store
from aggregator.config import Config, load_config
from aggregator.fetch import build_client
from aggregator.models import FeedState, PollResult

CORPUS = FIXTURES / "hostile"
GOOD = rss(item("good-one"), item("good-two"))
GOOD_TITLES = ["Good One", "Good Two"]
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".txt": "text/plain"}
"""Served with each document, by file suffix; anything else is ``application/rss+xml``."""


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    name: str
    body: bytes
    expect: str
    """``stored``, ``warning`` or ``error``."""
    message: str = ""
    titles: tuple[str, ...] | None = None
    content_type: str = "application/rss+xml"


_HEADER = re.compile(rb"<!--\s*\n(Description:.*?)-->", re.DOTALL)
_EXPECT = re.compile(r"^(stored)$|^(warning|error) ~= (.+)$")


def read_document(path: Path) -> Document:
    body = path.read_bytes()
    header = _HEADER.search(body)
    if header is None:
        raise ValueError(f"{path.name}: no header comment with Description: and Expect:")
    try:
        text = header.group(1).decode("utf-8")
    except UnicodeDecodeError:  # the documents in a wrong encoding are in Latin-1
        text = header.group(1).decode("latin-1")
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    expect = _EXPECT.match(fields.get("Expect", ""))
    if expect is None:
        raise ValueError(f"{path.name}: Expect: must be 'stored', 'warning ~= TEXT' or 'error ~= TEXT'")
    titles = fields.get("Titles")
    return Document(
        name=path.stem,
        body=body,
        expect=expect.group(1) or expect.group(2),
        message=expect.group(3) or "",
        titles=tuple(t.strip() for t in titles.split("|") if t.strip()) if titles is not None else None,
        content_type=CONTENT_TYPES.get(path.suffix, "application/rss+xml"),
    )


CORPUS_DOCUMENTS = [read_document(path) for path in sorted(CORPUS.iterdir()) if path.is_file()]
BUILT_DOCUMENTS = [
    Document(name="empty-body", body=b"", expect="error", message="empty response body"),
    Document(name="whitespace-body", body=b" \r\n\t\n ", expect="error", message="empty response body"),
    Document(
        name="json-feed",
        body=b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "JSON launch"}]}',
        expect="error",
        message="not a feed",
        content_type="application/feed+json",
    ),
]
DOCUMENTS = {document.name: document for document in CORPUS_DOCUMENTS + BUILT_DOCUMENTS}


def test_the_corpus_covers_every_kind_of_hostile_document() -> None:
    prefixes = {name.split("-")[0] for name in DOCUMENTS}
    assert prefixes >= {"malformed", "html", "empty", "truncated", "xxe", "billion", "encoding", "control"}
    assert {document.expect for document in DOCUMENTS.values()} == {"stored", "warning", "error"}


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return store.open_db(tmp_path / "archive.db")


@pytest.fixture
def configure(server: LoopbackServer, write_config: Callable[..., Path]) -> Callable[..., Config]:
    """A configuration with the given feeds (name -> path on the loopback server) and ``good``."""
    server.route("/good", Response(body=GOOD, headers={"Content-Type": "application/rss+xml"}))

    def make(feeds: dict[str, str]) -> Config:
        entries = [
            {"name": name, "url": server.url(path), "kind": "aws-whats-new"}
            for name, path in {**feeds, "good": "/good"}.items()
        ]
        return load_config(write_config(entries), environ={})

    return make


def serve(server: LoopbackServer, path: str, document: Document) -> None:
    server.route(path, Response(body=document.body, headers={"Content-Type": document.content_type}))


def poll(db: Database, config: Config, clock: FakeClock) -> dict[str, PollResult]:
    with build_client(config.settings.http) as client:
        results = pipeline.poll_feeds(
            db, pipeline.Poller.create(config, client=client, now=clock, rng=random.Random(1)), config.feeds
        )
    return {result.feed: result for result in results}


def titles(db: Database, feed: str) -> list[str]:
    return sorted(post["title"] for post in store.query_posts(db, feeds=[feed]))


def posts_of(db: Database, feed: str) -> list[dict[str, Any]]:
    return store.query_posts(db, feeds=[feed])


def state_of(db: Database, feed: str) -> FeedState:
    state = store.feed_state(db, feed)
    assert state is not None
    return state


def assert_good_feed_stored(db: Database, results: dict[str, PollResult]) -> None:
    assert results["good"].outcome == "stored"
    assert titles(db, "good") == GOOD_TITLES


def archive_text(db: Database) -> str:
    """Every row of every table of the archive (the full-text index included), as text."""
    return "\n".join(
        repr(row) for table in db.table_names() for row in db.execute(f"SELECT * FROM [{table}]").fetchall()
    )


# --- every document, next to a good feed -----------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_a_hostile_document_polled_next_to_a_good_feed(server, configure, db, clock, document: Document) -> None:
    serve(server, "/hostile", document)

    results = poll(db, configure({"hostile": "/hostile"}), clock)

    assert_good_feed_stored(db, results)
    result = results["hostile"]
    if document.expect == "error":
        assert result.outcome == "error"
        assert document.message in (result.error or "")
        assert titles(db, "hostile") == []
        assert state_of(db, "hostile").last_error == result.error
    else:
        assert result.outcome == "stored", result.error
        if document.expect == "warning":
            assert any(document.message in warning for warning in result.warnings), result.warnings
        else:
            assert result.warnings == ()
    if document.titles is not None:
        assert titles(db, "hostile") == sorted(document.titles)


FAILING = [d for d in DOCUMENTS.values() if d.expect == "error"] + [DOCUMENTS["truncated-after-items"]]


@pytest.mark.parametrize("document", FAILING, ids=[d.name for d in FAILING])
def test_a_bad_poll_after_a_good_one_leaves_the_stored_posts_untouched(
    server, configure, db, clock, document: Document
) -> None:
    control = DOCUMENTS["control-complete"]
    server.route("/feed", Response(body=control.body, headers={"ETag": '"good"'}))
    config = configure({"feed": "/feed"})
    assert poll(db, config, clock)["feed"].outcome == "stored"
    posts_before = posts_of(db, "feed")
    state_before = state_of(db, "feed")
    assert titles(db, "feed") == ["First launch", "Second launch", "Third launch"]

    serve(server, "/feed", document)
    clock.advance(hours=1)
    result = poll(db, config, clock)["feed"]

    assert result.outcome == ("stored" if document.expect == "warning" else "error")
    assert (result.new, result.updated) == (0, 0)
    assert posts_of(db, "feed") == posts_before
    state = state_of(db, "feed")
    if result.outcome == "error":
        assert (state.body_hash, state.etag, state.last_success) == (
            state_before.body_hash,
            state_before.etag,
            state_before.last_success,
        )

    server.route("/feed", Response(body=control.body, headers={"ETag": '"good"'}))
    clock.advance(hours=1)
    result = poll(db, config, clock)["feed"]
    assert result.outcome in ("stored", "unchanged", "not-modified")
    assert (result.new, result.updated) == (0, 0)
    assert posts_of(db, "feed") == posts_before
    assert state_of(db, "feed").consecutive_failures == 0


# --- external entities and entity expansion --------------------------------------------------

SECRET = "aggregator-test-secret-5c1e7a"


def external_entity_documents(secret: Path, server: LoopbackServer) -> dict[str, bytes]:
    """Every way a feed could ask the XML parser to read a file or a URL."""
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    channel = rss(item("leak", title="Leak &xxe;", description="Body &xxe;"))
    channel = channel[channel.index(b"<rss") :].decode()
    file_uri, dtd_url = secret.as_uri(), server.url("/evil.dtd")
    return {
        "file-entity": f'{declaration}\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{file_uri}">\n]>\n{channel}',
        "file-entity-one-line": f'{declaration}<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{file_uri}">]>{channel}',
        "http-entity": f'{declaration}\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{server.url("/xxe")}">\n]>\n{channel}',
        "http-entity-one-line": f'{declaration}<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{server.url("/xxe")}">]>{channel}',
        "public-entity": f'{declaration}<!DOCTYPE rss [<!ENTITY xxe PUBLIC "-//A//B" "{file_uri}">]>{channel}',
        "parameter-entity": f'{declaration}\n<!DOCTYPE rss [\n<!ENTITY % ext SYSTEM "{dtd_url}">\n%ext;\n]>\n{channel}',
        "parameter-entity-one-line": f'{declaration}<!DOCTYPE rss [<!ENTITY % ext SYSTEM "{dtd_url}"> %ext;]>{channel}',
        "external-dtd": f'{declaration}\n<!DOCTYPE rss SYSTEM "{dtd_url}">\n{channel}',
    }


@pytest.mark.parametrize(
    "layout",
    [
        "file-entity",
        "file-entity-one-line",
        "http-entity",
        "http-entity-one-line",
        "public-entity",
        "parameter-entity",
        "parameter-entity-one-line",
        "external-dtd",
    ],
)
def test_external_entities_are_never_resolved(server, configure, db, clock, tmp_path, layout) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    server.route("/xxe", Response(body=SECRET.encode()))
    server.route("/evil.dtd", Response(body=f'<!ENTITY xxe "{SECRET}">'.encode()))
    server.route("/hostile", Response(body=external_entity_documents(secret, server)[layout].encode()))

    results = poll(db, configure({"hostile": "/hostile"}), clock)

    assert_good_feed_stored(db, results)
    assert results["hostile"].outcome == "stored"
    assert SECRET not in archive_text(db)
    assert server.requests_for("/xxe") == []
    assert server.requests_for("/evil.dtd") == []


@pytest.mark.parametrize("name", [name for name in DOCUMENTS if name.startswith("xxe-")])
def test_etc_passwd_never_reaches_the_archive(server, configure, db, clock, name) -> None:
    passwd = [line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()]
    assert passwd, "this test needs a readable /etc/passwd"
    serve(server, "/hostile", DOCUMENTS[name])

    results = poll(db, configure({"hostile": "/hostile"}), clock)

    assert_good_feed_stored(db, results)
    archive = archive_text(db)
    assert not [line for line in passwd if line in archive]


def quadratic_blowup(*, one_line: bool, padding: int = 0) -> bytes:
    """One 50 kB entity referenced 20,000 times: a 1 MB document that expands to 1 GB of text.

    ``padding``: bytes of comment between the DOCTYPE and the references, which raise the
    expansion an XML parser's amplification limit tolerates (a ratio to the input read so far).
    """
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    entity = '<!ENTITY a "' + "x" * 50_000 + '">'
    doctype = f"<!DOCTYPE rss [{entity}]>" if one_line else f"\n<!DOCTYPE rss [\n{entity}\n]>\n"
    padding_comment = f"<!--{'p' * padding}-->" if padding else ""
    references = "&a;" * 20_000
    return (
        f'{declaration}{doctype}<rss version="2.0"><channel><title>Blowup</title>{padding_comment}'
        f"<item><title>Blowup</title><link>https://example.com/blowup</link>"
        f"<description>{references}</description></item></channel></rss>"
    ).encode()


def unterminated_declarations() -> bytes:
    """25,000 ``<!ENTITY`` that never end: a scanner retrying at each would read the rest each time."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE rss [\n' + b"<!ENTITY a " * 25_000 + b'"'


HOSTILE_DTDS: dict[str, tuple[Callable[[], bytes], str]] = {
    "billion-laughs": (lambda: DOCUMENTS["billion-laughs"].body, "stored"),
    "billion-laughs-one-line": (lambda: DOCUMENTS["billion-laughs-one-line"].body, "stored"),
    "quadratic": (lambda: quadratic_blowup(one_line=False), "stored"),
    "quadratic-one-line": (lambda: quadratic_blowup(one_line=True), "stored"),
    "quadratic-one-line-padded": (lambda: quadratic_blowup(one_line=True, padding=3_000_000), "stored"),
    "unterminated-declarations": (unterminated_declarations, "error"),
}
"""Documents whose DTD attacks the parser, and the outcome of their poll (stored with a warning, or an error)."""


@pytest.mark.parametrize("name", HOSTILE_DTDS)
def test_a_hostile_dtd_is_parsed_quickly_in_bounded_memory(server, configure, db, clock, name) -> None:
    build, outcome = HOSTILE_DTDS[name]
    server.route("/hostile", Response(body=build()))
    config = configure({"hostile": "/hostile"})

    tracemalloc.start()
    started = time.monotonic()
    try:
        results = poll(db, config, clock)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert peak < 100 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert_good_feed_stored(db, results)
    assert results["hostile"].outcome == outcome
    assert results["hostile"].warnings if outcome == "stored" else results["hostile"].error
    longest = db.execute("SELECT max(length(summary_html) + length(summary) + length(title)) FROM posts").fetchone()[0]
    assert longest < 1_000_000


# --- identity, dates and links of odd entries ------------------------------------------------


def bare_item(title: str, *, link: str | None = None, guid: str | None = None, date: str | None = None) -> str:
    """An ``<item>`` with only the elements asked for."""
    return (
        f"<item><title>{title}</title><description>About {title}.</description>"
        + (f"<link>{link}</link>" if link else "")
        + (f'<guid isPermaLink="false">{guid}</guid>' if guid else "")
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + "</item>"
    )


def test_entries_without_guid_or_date_keep_their_ids_and_sort_by_first_seen(server, configure, db, clock) -> None:
    linked = bare_item("Linked only", link="https://example.com/posts/linked")
    guid_only = bare_item("Guid only", guid="tag:example.com,2024:guid-only")
    text_only = bare_item("Text only")
    later = bare_item("Seen later", link="https://example.com/posts/later")
    server.route(
        "/feed",
        [Response(body=rss(linked, guid_only, text_only)), Response(body=rss(later, linked, guid_only, text_only))],
    )
    config = configure({"feed": "/feed"})

    first_seen = clock.now
    assert poll(db, config, clock)["feed"].new == 3
    ids = {post["title"]: post["id"] for post in posts_of(db, "feed")}
    clock.advance(hours=1)
    result = poll(db, config, clock)["feed"]

    assert (result.outcome, result.new, result.updated) == ("stored", 1, 0)
    posts = posts_of(db, "feed")
    assert {post["title"]: post["id"] for post in posts if post["title"] in ids} == ids
    assert posts[0]["title"] == "Seen later"
    for post in posts:
        assert post["published"] is None
        assert post["date"] == post["first_seen"]
    assert {post["first_seen"] for post in posts[1:]} == {store.iso(first_seen)}
    assert posts[0]["first_seen"] == store.iso(clock.now)


def test_duplicate_guids_within_a_feed_keep_one_post_per_entry(server, configure, db, clock) -> None:
    same = item("same-entry", guid="dup-1")
    first_sharer = item("first-sharer", guid="shared")
    second_sharer = item("second-sharer", guid="shared")
    server.route(
        "/feed",
        [
            Response(body=rss(same, same, first_sharer, second_sharer)),
            Response(body=rss(item("newcomer", guid="new"), same, first_sharer, second_sharer, same)),
        ],
    )
    config = configure({"feed": "/feed"})

    result = poll(db, config, clock)["feed"]
    assert (result.outcome, result.new) == ("stored", 3)
    assert titles(db, "feed") == ["First Sharer", "Same Entry", "Second Sharer"]
    assert any("repeated" in warning for warning in result.warnings)
    assert any("more than one entry" in warning for warning in result.warnings)

    clock.advance(hours=1)
    result = poll(db, config, clock)["feed"]
    assert (result.new, result.updated) == (1, 0)
    assert titles(db, "feed") == ["First Sharer", "Newcomer", "Same Entry", "Second Sharer"]


@pytest.mark.parametrize(
    "date",
    ["Fri, 01 Jan 2999 00:00:00 +0000", "Sat, 01 Jan 2150 00:00:00 GMT", "Mon, 01 Jun 2026 00:00:00 +0000"],
)
def test_a_date_far_in_the_future_is_treated_as_missing(server, configure, db, clock, date) -> None:
    server.route("/feed", Response(body=rss(item("time-traveller", date=date), item("on-time"))))

    poll(db, configure({"feed": "/feed"}), clock)

    posts = {post["title"]: post for post in posts_of(db, "feed")}
    traveller = posts["Time Traveller"]
    assert (traveller["published"], traveller["date"]) == (None, store.iso(clock.now))
    assert posts["On Time"]["published"] == "2022-03-23T15:36:48+00:00"


def test_script_links_are_not_kept(server, configure, db, clock) -> None:
    description = (
        '&lt;p&gt;&lt;a href="javascript:alert(document.cookie)"&gt;one&lt;/a&gt; '
        '&lt;a href=" JaVaScRiPt:alert(2)"&gt;two&lt;/a&gt; '
        '&lt;a href="vbscript:msgbox(3)"&gt;three&lt;/a&gt; '
        '&lt;a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg=="&gt;four&lt;/a&gt; '
        '&lt;a href="https://docs.aws.amazon.com/s3/"&gt;docs&lt;/a&gt;&lt;/p&gt;'
    )
    server.route(
        "/feed",
        Response(body=rss(item("scripted", description=description, link="javascript:alert(5)", guid="scripted"))),
    )

    results = poll(db, configure({"feed": "/feed"}), clock)

    assert results["feed"].outcome == "stored"
    [post] = posts_of(db, "feed")
    assert post["links"] == ["https://docs.aws.amazon.com/s3/"]
    assert post["url"] is None
    assert post["summary"] == "one two three four docs"
