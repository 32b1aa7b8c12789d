"""The fast parse path against feedparser, document by document: the same posts, or it declines.

For every document -- the fixture feeds, the hostile documents, the example configuration's feeds,
documents generated to hit feedparser's quirks and, when ``../shared/corpus`` is there, its feed
captures and a few hundred weeks of What's New replayed by its ``tools/make_feeds.py`` -- parsing
with the fast path (``parse_bytes(..., fast=True)``) gives exactly what feedparser alone gives:
the same version, warnings and posts (every field), the same feed title and link, and the same
values under every entry key ``normalize`` reads; or the fast path declines and feedparser parses.
No difference is deliberate.
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, item, rss
from feedparser.encodings import RE_XML_PI_ENCODING
from feedparser.urls import _urljoin
from hypothesis import example, given, settings
from hypothesis import strategies as st

import aggregator.parse
from aggregator.errors import ParseError
from aggregator.fastparse import Declined, _declared_encoding, _resolve, read_fast
from aggregator.normalize import normalize_feed
from aggregator.parse import parse_bytes

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
URL = "https://aws.amazon.com/about-aws/whats-new/recent/feed/"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"
CONTENT_TYPES = (
    None,
    "application/rss+xml; charset=utf-8",
    "application/atom+xml",
    "application/xml; charset=UTF-8",
    "text/xml; charset=utf-8",
    "text/xml",
    "text/html; charset=utf-8",
    "application/rss+xml; charset=iso-8859-1",
)
"""What servers send: XML and not, with and without a charset (feedparser reads ``text/xml``
without one as US-ASCII, and anything not XML with a warning)."""


def documents(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(path for path in folder.glob(pattern) if path.is_file())


FIXTURE_DOCUMENTS = documents(FIXTURES / "feeds") + documents(FIXTURES / "hostile") + documents(EXAMPLES, "*.*")
READ_FAST = {
    "atom-xml-base",
    "categories-mixed",
    "community-devto",
    "duplicate-guids",
    "empty-channel",
    "html-in-titles",
    "missing-dates",
    "missing-guids",
    "news-blog-wordpress",
    "rss-relative-item-links",
    "tracking-params-fragments",
    "whats-new-2016-relative-links",
    "whats-new-2022-comma-categories",
    "whats-new-2025-pretty-printed",
    "control-complete",
    "empty-atom-feed",
    "encoding-utf8-declared-latin1",
    "aws-compute-blog",
    "aws-news-blog",
    "aws-whats-new",
    "community",
}
"""The fixtures the fast path reads when served as ``application/rss+xml; charset=utf-8`` (the
HTTP charset wins over the declaration, for feedparser too); it declines the others: Latin-1,
RSS 1.0, XHTML content, and every hostile document but the well-formed ones."""


# --- the comparison ----------------------------------------------------------------------------


def entry_view(entry: Any) -> dict[str, Any]:
    """Everything ``normalize`` (and ``parse``'s bozo policy) reads of an entry."""
    view = {key: dict.get(entry, key) for key in ("link", "id", "title", "summary", "author")}
    view |= {key: dict.get(entry, key) for key in ("published_parsed", "updated_parsed", "created_parsed")}
    view["title_type"] = (dict.get(entry, "title_detail") or {}).get("type")
    detail = dict.get(entry, "summary_detail")
    view["summary_detail"] = None if detail is None else (detail.get("type"), detail.get("base"), detail["value"])
    view["content"] = [(c.get("type"), c.get("base"), c.get("value"), c.get("src")) for c in entry.get("content") or []]
    view["tags"] = [(t.get("term"), t.get("scheme"), t.get("label")) for t in entry.get("tags") or []]
    view["authors"] = [dict(author) for author in entry.get("authors") or []]
    return view


def outcome(body: bytes, content_type: str | None, *, fast: bool) -> tuple[Any, ...]:
    """What a poll makes of a body: the error, or the version, warnings, posts and the entries' views."""
    try:
        raw = parse_bytes(body, content_type=content_type, url=URL, fast=fast)
    except ParseError as exc:
        return ("error", str(exc))
    parsed = normalize_feed(raw, url=URL, now=NOW)
    feed_type = (raw.feed.get("title_detail") or {}).get("type")
    return (
        raw.version,
        raw.warnings,
        (parsed.title, parsed.link, feed_type),
        parsed.warnings,
        parsed.posts,
        [entry_view(entry) for entry in raw.entries],
    )


def assert_same(body: bytes, content_type: str | None = None) -> bool:
    """The fast path gives what feedparser gives, or declines; returns whether it read the body."""
    try:
        read_fast(body, content_type=content_type)
    except Declined:
        return False
    expected = outcome(body, content_type, fast=False)
    got = outcome(body, content_type, fast=True)
    if got != expected:
        for name, a, b in zip(("version", "warnings", "feed", "notes", "posts", "entries"), got, expected, strict=True):
            assert a == b, f"{name} differ for the document:\n{body.decode('utf-8', 'replace')[:3000]}"
    return True


# --- every fixture, every hostile document, the example feeds ------------------------------------


@pytest.mark.parametrize("path", FIXTURE_DOCUMENTS, ids=lambda path: f"{path.parent.name}/{path.name}")
@pytest.mark.parametrize("content_type", CONTENT_TYPES, ids=lambda ct: str(ct))
def test_a_fixture_reads_the_same_on_both_paths(path: Path, content_type: str | None) -> None:
    assert_same(path.read_bytes(), content_type)


@pytest.mark.parametrize("path", FIXTURE_DOCUMENTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_the_fast_path_reads_the_well_formed_utf8_fixtures_and_declines_the_rest(path: Path) -> None:
    read = assert_same(path.read_bytes(), "application/rss+xml; charset=utf-8")
    assert read == (path.stem in READ_FAST)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">]><rss version="2.0"><channel/></rss>', "DTD"),
        (b'<rss version="2.0"><channel><title>&nbsp;</title></channel></rss>', "not well-formed"),
        (b'<rss version="2.0"><channel><title>\xe9</title></channel></rss>', "not readable as utf-8"),
        (b'<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel/></rss>', "windows-1252"),
        (b'<?xml version="1.1"?><rss version="2.0"><channel/></rss>', "libxml2"),
        (b"\xef\xbb\xbf<rss><channel/></rss>", "byte order mark"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>', "root element"),
        (b'<feed xmlns="http://purl.org/atom/ns#" version="0.3"/>', "root element"),
        (
            b'<rss version="2.0"><channel><item><media:title xmlns:media="http://search.yahoo.com/mrss/">'
            b"x</media:title></item></channel></rss>",
            "media_title",
        ),
        (
            b'<rss version="2.0"><channel><item><description><p>x</p></description></item></channel></rss>',
            "holds elements",
        ),
        (b'<rss version="2.0"><channel><item><title mode="base64">eA==</title></item></channel></rss>', "content"),
        (b'<rss version="2.0" xmlns:dc="http://purl.org/rss/1.0/modules/content/"><channel/></rss>', "prefix"),
        (b'<rss version="2.0"><channel><item><foo x:y="1" xmlns:x="urn:x">a</foo></item></channel></rss>', "attribute"),
        (b'<rss version="2.0"><channel><item><source url="https://x">x</source></item></channel></rss>', "source"),
    ],
)
def test_the_fast_path_declines_what_it_is_not_sure_of(body: bytes, reason: str) -> None:
    with pytest.raises(Declined, match=reason):
        read_fast(body)
    assert_same(body)


def test_feeds_served_as_html_or_in_another_charset_go_to_feedparser() -> None:
    body = rss(item("s3-launch"))
    for content_type in ("text/html", "text/plain", "application/rss+xml; charset=iso-8859-2"):
        with pytest.raises(Declined):
            read_fast(body, content_type=content_type)
    parsed = parse_bytes(body, content_type="text/html")
    assert parsed.warnings and "not an XML media type" in parsed.warnings[0]


def test_fast_false_parses_with_feedparser_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def spy(body: bytes, **kwargs: Any) -> Any:
        calls.append(body)
        return read_fast(body, **kwargs)

    monkeypatch.setattr(aggregator.parse, "read_fast", spy)
    body = rss(item("s3-launch"), item("ec2-launch"))
    slow = parse_bytes(body, fast=False)
    assert calls == []
    assert type(slow.entries[0]).__name__ == "FeedParserDict"
    fast = parse_bytes(body)
    assert calls == [body]
    assert type(fast.entries[0]) is dict
    assert [entry_view(e) for e in fast.entries] == [entry_view(e) for e in slow.entries]


@given(
    st.lists(
        st.sampled_from(
            [
                *(b"<?xml", b"<?", b" version='1.0'", b' encoding="utf-8"', b" encoding='latin-1'", b"encoding="),
                *(b"?>", b"\n", b"\r", b'"', b"'", b"<rss>", b"x", b" ", b"encoding=x", b'encoding="', b"?", b">"),
            ]
        ),
        max_size=14,
    ).map(b"".join)
)
@settings(max_examples=500)
@example(b"<?xml encoding=\"utf-8'?> encoding='x\"?>")
@example(b'<?xml version="1.0" encoding="utf-8"?><rss encoding="no"/>')
@example(b"<?xml encoding='a\"b'?>\n<?xml encoding='c'?>")
def test_the_declared_encoding_is_what_feedparser_finds(body: bytes) -> None:
    match = RE_XML_PI_ENCODING.match(body)
    assert _declared_encoding(body) == (match.group(1) if match else None)


def test_links_resolve_as_feedparser_resolves_them() -> None:
    """``_resolve`` against feedparser's ``_urljoin``, every combination of edge cases."""
    schemes = ["", "a", "http", "HTTPS", "x+y.z-1", "1http", "/", "tag:", "a b"]
    middles = ["", "://", ":/", ":///", "://///", "//", ":"]
    tails = ["", "x", "/x", "host/p?q#f", " x", "\tx", "[x", "..", ":80"]
    for base in ("", "https://base.example/dir/", "http://[bad"):
        for uri in (f"{s}{m}{t}" for s in schemes for m in middles for t in tails):
            try:
                expected = _urljoin(base, uri)
            except ValueError:
                expected = "ValueError"
            try:
                got = _resolve(base, uri)
            except ValueError:
                got = "ValueError"
            assert got == expected, (base, uri)


# --- feedparser's quirks, one by one ---------------------------------------------------------------


def channel(*parts: str, base: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        f' xmlns:atom="http://www.w3.org/2005/Atom"><channel{base}>{"".join(parts)}</channel></rss>'
    ).encode()


QUIRKS = {
    "an empty image title resets the title depth": channel(
        "<title>First</title><image><title></title><url>https://x/i.png</url></image><title>Second</title>"
    ),
    "a second channel title is ignored": channel("<title>First</title><title>Second</title>"),
    "a channel title after the items counts": channel("<item><title>Item</title></item><title>Late</title>"),
    "a permalink guid before the link becomes the link, then the link wins": channel(
        "<item><guid>https://x/guid</guid><link>https://x/link</link></item>",
        "<item><link>https://x/link2</link><guid>https://x/guid2</guid></item>",
        '<item><guid isPermaLink="True">https://x/guid3</guid><title>Not a permalink</title></item>',
    ),
    "a second description is content": channel(
        "<item><title>T</title><description>one</description><description>&lt;b&gt;two&lt;/b&gt;</description></item>",
        "<item><title>U</title><content:encoded>full</content:encoded><description>short</description></item>",
    ),
    "xml:base stays after an element whose parent had none": channel(
        '<item><title>T</title><link xml:base="https://base.example/a/">one</link><link>two</link></item>',
    ),
    "a plain title that looks like HTML is HTML": channel(
        "<item><title>&lt;b&gt;Bold&lt;/b&gt; &amp;amp; co</title><link>https://x/1</link></item>",
        "<item><title>&lt;blink&gt;not HTML&lt;/blink&gt;</title><link>https://x/2</link></item>",
    ),
    "a category's text fills the term its attributes left empty": channel(
        '<item><title>T</title><category domain="https://d/"></category><category>later</category></item>'
    ),
    "authors, their emails and their names": channel(
        "<item><title>T</title><author>jeff@example.com (Jeff Barr)</author><author>aws@amazon.com</author></item>"
    ),
    "entities in a link's query": channel("<item><link>https://x/?a=1&amp;amp;b=2&amp;c;d</link></item>"),
    "mojibake and C1 controls": channel("<item><title>Ã©tÃ© \u0093q\u0094</title><link>https://x/m</link></item>"),
    "an Atom entry without an alternate link takes its id": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title><entry><id>https://x/id</id>'
        b'<title type="html">&lt;i&gt;A&lt;/i&gt;</title><link rel="self" href="https://x/self"/></entry></feed>'
    ),
}


@pytest.mark.parametrize("body", QUIRKS.values(), ids=QUIRKS.keys())
def test_a_quirk_of_feedparser_reads_the_same_on_the_fast_path(body: bytes) -> None:
    assert assert_same(body, "application/rss+xml")


# --- generated documents: feedparser's quirks, mixed at random -----------------------------------

TEXTS = [
    "Amazon S3",
    "  spaced  out  ",
    "",
    "AWS &amp; you",
    "&lt;b&gt;Bold&lt;/b&gt; launch",
    "&lt;p&gt;Para&lt;/p&gt;",
    "&lt;blink&gt;odd&lt;/blink&gt;",
    "a &lt; b",
    "5 &amp;gt; 3",
    "&amp;copy; 2025",
    "&amp;bogus; entity",
    "caf&#233;",
    "Ã©tÃ© mojibake",
    "\u00c2\u00a0nbsp",
    "&#150; en dash",
    "\u0093quoted\u0094",
    "€ 5",
    "日本語",
    '<![CDATA[<p>CDATA <a href="/rel">link</a></p>]]>',
    "<![CDATA[x]]>y",
    "line\n  break",
    "tab\there",
    "https://aws.amazon.com/ec2/",
    "x<!-- comment -->y",
]
URLS = [
    "https://aws.amazon.com/about-aws/whats-new/2024/01/launch/",
    "/about-aws/whats-new/2024/02/relative/",
    "relative/page.html",
    "  https://example.com/spaced  ",
    "https://example.com/a?b=1&amp;c=2",
    "https://example.com/a?b=1&amp;amp;c=2",
    "https://example.com/q?x&amp;copy;y",
    "http:///triple/slash",
    "javascript:alert(1)",
    "tag:example.com,2024:post-1",
    "",
    "https://example.com/p#frag",
]
DATES = [
    "Fri, 24 Sep 2021 17:00:00 +0000",
    "Mon, 01 Jan 2024 10:00:00 GMT",
    "2024-03-05T10:00:00Z",
    "2024-03-05",
    "Sat, 01 Jan 2150 00:00:00 GMT",
    "not a date",
    "",
    "Tue, 10 Jun 2003 09:41:01 PST",
]
AUTHORS = ["aws@amazon.com", "Jeff Barr", "jeff@example.com (Jeff Barr)", "Jeff <jeff@example.com>", "", "Ümlaut"]


def pick(rng: random.Random, values: list[str]) -> str:
    return values[rng.randrange(len(values))]


def attr(name: str, value: str | None) -> str:
    return "" if value is None else f' {name}="{value}"'


def rss_item(rng: random.Random) -> str:
    parts: list[Callable[[], str]] = [
        lambda: f"<title{attr('type', rng.choice([None, None, 'html', 'text']))}>{pick(rng, TEXTS)}</title>",
        lambda: f"<link>{pick(rng, URLS)}</link>",
        lambda: f"<guid{attr('isPermaLink', rng.choice([None, 'true', 'false', 'True']))}>{pick(rng, URLS)}</guid>",
        lambda: f"<description>{pick(rng, TEXTS)}</description>",
        lambda: f"<content:encoded>{pick(rng, TEXTS)}</content:encoded>",
        lambda: f"<summary>{pick(rng, TEXTS)}</summary>",
        lambda: f"<pubDate>{pick(rng, DATES)}</pubDate>",
        lambda: f"<dc:date>{pick(rng, DATES)}</dc:date>",
        lambda: f"<category{attr('domain', rng.choice([None, 'https://x/', '']))}>{pick(rng, TEXTS)}</category>",
        lambda: "<category>general:products/amazon-s3,marketing:marchitecture/storage</category>",
        lambda: f"<dc:subject>{pick(rng, TEXTS)}</dc:subject>",
        lambda: f"<author>{pick(rng, AUTHORS)}</author>",
        lambda: f"<dc:creator>{pick(rng, AUTHORS)}</dc:creator>",
        lambda: (
            f"<atom:link{attr('rel', rng.choice([None, 'alternate', 'self', 'enclosure']))}"
            f"{attr('type', rng.choice([None, 'text/html', 'application/rss+xml', 'TEXT/HTML']))}"
            f' href="{pick(rng, URLS)}"/>'
        ),
        lambda: f'<enclosure url="{pick(rng, URLS)}" length="1" type="audio/mpeg"/>',
        lambda: f"<comments>{pick(rng, URLS)}</comments>",
        lambda: "<slash:comments>3</slash:comments>",
        lambda: '<post-id xmlns="com-wordpress:feed-additions:1">104201</post-id>',
        lambda: f"<ttl>{pick(rng, TEXTS)}</ttl>",
        lambda: f'<link xml:base="{pick(rng, URLS)}">{pick(rng, URLS)}</link>',
    ]
    children = [rng.choice(parts)() for _ in range(rng.randrange(0, 9))]
    base = attr("xml:base", rng.choice([None] * 6 + ["https://base.example/dir/", "/other/"]))
    return f"<item{base}>{''.join(children)}</item>"


def rss_document(rng: random.Random) -> bytes:
    channel_parts: list[Callable[[], str]] = [
        lambda: f"<title>{pick(rng, TEXTS)}</title>",
        lambda: f"<link>{pick(rng, URLS)}</link>",
        lambda: f"<description>{pick(rng, TEXTS)}</description>",
        lambda: f'<atom:link href="{pick(rng, URLS)}" rel="{rng.choice(["self", "alternate"])}" type="text/html"/>',
        lambda: f"<image><url>{pick(rng, URLS)}</url><title>{pick(rng, TEXTS)}</title><link>x</link></image>",
        lambda: f"<lastBuildDate>{pick(rng, DATES)}</lastBuildDate>",
        lambda: "<language>en-us</language>",
        lambda: "<sy:updatePeriod>hourly</sy:updatePeriod>",
        lambda: f"<managingEditor>{pick(rng, AUTHORS)}</managingEditor>",
        lambda: f"<guid>{pick(rng, URLS)}</guid>",
    ]
    head = [rng.choice(channel_parts)() for _ in range(rng.randrange(0, 6))]
    items = [rss_item(rng) for _ in range(rng.randrange(0, 5))]
    tail = [rng.choice(channel_parts)() for _ in range(rng.randrange(0, 2))]
    base = attr("xml:base", rng.choice([None] * 4 + ["https://channel.example/feed/"]))
    namespaces = (
        ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
        ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
    )
    declaration = rng.choice(['<?xml version="1.0" encoding="UTF-8"?>', "", "<?xml version='1.0'?>\n"])
    return (
        f'{declaration}<rss version="{rng.choice(["2.0", "2.0", "0.92", ""])}"{namespaces}>'
        f"<channel{base}>{''.join(head + items + tail)}</channel></rss>"
    ).encode()


def atom_entry(rng: random.Random) -> str:
    kinds = [None, None, "text", "html", "text/html"]
    parts: list[Callable[[], str]] = [
        lambda: f"<id>{pick(rng, URLS)}</id>",
        lambda: f"<title{attr('type', rng.choice(kinds))}>{pick(rng, TEXTS)}</title>",
        lambda: (
            f"<link{attr('rel', rng.choice([None, 'alternate', 'self', 'replies']))}"
            f'{attr("type", rng.choice([None, "text/html", "application/atom+xml"]))} href="{pick(rng, URLS)}"/>'
        ),
        lambda: f"<published>{pick(rng, DATES)}</published>",
        lambda: f"<updated>{pick(rng, DATES)}</updated>",
        lambda: f"<summary{attr('type', rng.choice(kinds))}>{pick(rng, TEXTS)}</summary>",
        lambda: (
            f"<content{attr('type', rng.choice(kinds))}{attr('src', rng.choice([None, None, 'https://x/c']))}"
            f"{attr('xml:base', rng.choice([None, None, 'https://content.example/']))}>{pick(rng, TEXTS)}</content>"
        ),
        lambda: (
            f"<author><name>{pick(rng, AUTHORS)}</name>"
            + rng.choice(["", f"<email>{pick(rng, AUTHORS)}</email>", f"<uri>{pick(rng, URLS)}</uri>"])
            + "</author>"
        ),
        lambda: (
            f'<category term="{pick(rng, TEXTS[:3])}"{attr("scheme", rng.choice([None, "https://s/"]))}'
            f"{attr('label', rng.choice([None, 'Label']))}/>"
        ),
        lambda: "<contributor><name>Someone</name></contributor>",
    ]
    children = [rng.choice(parts)() for _ in range(rng.randrange(0, 9))]
    return (
        f"<entry{attr('xml:base', rng.choice([None] * 5 + ['https://entry.example/a/']))}>{''.join(children)}</entry>"
    )


def atom_document(rng: random.Random) -> bytes:
    head = [
        rng.choice(
            [
                f"<title>{pick(rng, TEXTS)}</title>",
                f'<link href="{pick(rng, URLS)}"/>',
                f'<link rel="self" href="{pick(rng, URLS)}"/>',
                f"<id>{pick(rng, URLS)}</id>",
                f"<updated>{pick(rng, DATES)}</updated>",
                "<subtitle>Sub</subtitle>",
                "<author><name>Blog</name></author>",
            ]
        )
        for _ in range(rng.randrange(0, 5))
    ]
    entries = [atom_entry(rng) for _ in range(rng.randrange(0, 4))]
    base = attr("xml:base", rng.choice([None, None, "https://feed.example/blog/", "relative/"]))
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{base}>'
        f"{''.join(head + entries)}</feed>"
    ).encode()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rng=st.randoms(use_true_random=False))
def test_generated_rss_reads_the_same_on_both_paths(rng: random.Random) -> None:
    assert_same(rss_document(rng), "application/rss+xml; charset=utf-8")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rng=st.randoms(use_true_random=False))
def test_generated_atom_reads_the_same_on_both_paths(rng: random.Random) -> None:
    assert_same(atom_document(rng), "application/atom+xml")


@pytest.mark.parametrize("make", [rss_document, atom_document], ids=["rss", "atom"])
def test_the_fast_path_reads_most_generated_documents(make: Callable[[random.Random], bytes]) -> None:
    """The comparisons above compare something: most generated documents take the fast path."""
    read = sum(assert_same(make(random.Random(seed))) for seed in range(200))
    assert read >= 150


# --- the corpus: real captures and replayed weeks (skipped without ../shared/corpus) ------------

needs_corpus = pytest.mark.skipif(not (CORPUS / "feeds").is_dir(), reason="the shared corpus is not here")


@needs_corpus
@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset=utf-8"])
def test_the_corpus_feed_captures_read_the_same(content_type: str | None) -> None:
    captures = documents(CORPUS / "feeds", "*.xml")
    assert captures
    assert all(assert_same(path.read_bytes(), content_type) for path in captures)


@needs_corpus
@pytest.mark.slow
def test_hundreds_of_replayed_whats_new_weeks_read_the_same(tmp_path: Path) -> None:
    archive = CORPUS / "archives" / "aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
    tool = CORPUS.parent / "tools" / "make_feeds.py"
    if not (archive.is_file() and tool.is_file()):
        pytest.skip("the corpus has no What's New archive or make_feeds.py")
    subprocess.run(
        [sys.executable, str(tool), str(archive), str(tmp_path), "--since", "2019-06-01"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    weeks = documents(tmp_path, "*.xml")
    assert len(weeks) >= 300
    assert all(assert_same(path.read_bytes(), "application/rss+xml; charset=utf-8") for path in weeks)
