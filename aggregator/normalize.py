"""Feed entries -> ``Post``: stable ids, canonical URLs, plain text, aware UTC times.

Pure: the current time comes in as ``now`` (to recognise dates in the far future).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import hashlib
import html
import re
import time
import warnings
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from .models import ParsedFeed, Post
from .parse import RawFeed

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "cmpid",
        "trk", "trkcampaign", "sc_channel", "sc_campaign", "sc_publisher", "sc_medium", "sc_content",
        "sc_country", "sc_geo", "sc_outcome", "sc_category", "sc_detail", "sc_icampaign",
        "sc_ichannel", "sc_icontent", "sc_iplace", "sc_ireferrer", "sc_isegment",
    }
)
"""Query parameters that track the reader and never select content (plus every ``utm_*``)."""

SUMMARY_TEXT_MAX = 20_000
SUMMARY_HTML_MAX = 200_000
EARLIEST_DATE = dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc)
FUTURE_SLACK = dt.timedelta(days=2)

_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)\]])")
_TOKEN = re.compile(r"^[\w.-]+:[\w./:-]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}

warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)


def collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def canonical_url(url: str | None, *, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment or tracking parameters, scheme and host lowercased.

    Returns None for anything that is not an http(s) URL.
    """
    if not url:
        return None
    url = url.strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def url_key(canonical: str) -> str:
    """What makes two canonical URLs the same post: scheme, ``www.``, a trailing slash and the
    order of query parameters do not count."""
    parts = urlsplit(canonical)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{host}{path}" + (f"?{query}" if query else "")


def _hash(*parts: str) -> str:
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def post_id_for(*, url: str | None, guid: str | None, title: str, summary: str) -> str:
    """The id a new post gets: from its URL, else its guid, else its content."""
    if url:
        return _hash("url", url_key(url))[:16]
    if guid:
        return _hash("guid", guid)[:16]
    return _hash("content", title, summary)[:16]


def html_to_text_and_links(markup: str, *, base: str | None) -> tuple[str, tuple[str, ...]]:
    """Plain text of an HTML fragment and the absolute http(s) links in it."""
    if "<" not in markup:
        return collapse(html.unescape(markup)), ()
    soup = BeautifulSoup(markup, "html.parser")
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        href = anchor.get("href")
        if isinstance(href, str):
            link = canonical_url(href, base=base)
            if link and link not in links:
                links.append(link)
    for tag in soup(["script", "style"]):
        tag.decompose()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", collapse(soup.get_text(" ")))
    return text, tuple(links)


def split_categories(terms: Iterable[str]) -> tuple[str, ...]:
    """Category terms, with What's New's single comma-joined ``<category>`` split into its tokens."""
    out: list[str] = []
    for term in terms:
        term = collapse(term)
        if not term:
            continue
        pieces = [p.strip() for p in term.split(",")]
        if len(pieces) > 1 and all(_TOKEN.match(p) for p in pieces if p):
            candidates = [p for p in pieces if p]
        else:
            candidates = [term]
        for c in candidates:
            if c not in out:
                out.append(c)
    return tuple(out)


def _time(entry: Any, *keys: str, now: dt.datetime) -> dt.datetime | None:
    for key in keys:
        # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed
        # with a DeprecationWarning; we want exactly what the feed said.
        parsed = dict.get(entry, key)
        if not isinstance(parsed, time.struct_time):
            continue
        try:
            when = dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
        except (OverflowError, ValueError, OSError):
            continue
        if EARLIEST_DATE <= when <= now + FUTURE_SLACK:
            return when
    return None


def _authors(entry: Any) -> tuple[str, ...]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = collapse(str(author.get("name") or author.get("email") or "")) if isinstance(author, dict) else ""
        if name and name not in names:
            names.append(name)
    if not names and entry.get("author"):
        names.append(collapse(str(entry["author"])))
    return tuple(names)


def _summary_html(entry: Any) -> str:
    summary = entry.get("summary") or ""
    if not summary:
        for content in entry.get("content") or []:
            if content.get("value"):
                summary = content["value"]
                break
    return str(summary)[:SUMMARY_HTML_MAX]


def normalize_entry(entry: Any, *, base: str | None, now: dt.datetime) -> Post:
    link = canonical_url(entry.get("link"), base=base)
    guid = collapse(str(entry.get("id") or "")) or None
    raw_title = str(entry.get("title") or "")
    title = html_to_text_and_links(raw_title, base=None)[0] if "<" in raw_title else collapse(raw_title)
    summary_html = _summary_html(entry)
    summary, links = html_to_text_and_links(summary_html, base=link or base)
    summary = summary[:SUMMARY_TEXT_MAX]
    categories = split_categories(str(t.get("term") or t.get("label") or "") for t in entry.get("tags") or [])
    published = _time(entry, "published_parsed", "updated_parsed", "created_parsed", now=now)
    updated = _time(entry, "updated_parsed", now=now)
    return Post(
        id=post_id_for(url=link, guid=guid, title=title, summary=summary),
        url=link,
        guid=guid,
        title=title or (summary[:80] + "…" if len(summary) > 80 else summary) or "(untitled)",
        summary=summary,
        summary_html=summary_html,
        links=links,
        published=published,
        updated=updated,
        authors=_authors(entry),
        categories=categories,
        content_hash=_hash(title, link or "", summary_html, "\x1f".join(categories))[:16],
    )


def normalize_feed(raw: RawFeed, *, url: str, now: dt.datetime) -> ParsedFeed:
    """Every entry of a parsed document as a ``Post``; entries repeated in one document are kept once.

    Relative links resolve against the feed's own ``<link>`` when it is a web address (imported
    files and local feeds carry the site's address there), else against the feed URL.
    """
    feed_link = canonical_url(raw.feed.get("link"), base=url if url.startswith("http") else None)
    base = feed_link or (url if url.startswith("http") else None)
    posts: list[Post] = []
    by_guid: dict[str, str | None] = {}
    ids: set[str] = set()
    notes: list[str] = list(raw.warnings)
    for entry in raw.entries:
        post = normalize_entry(entry, base=base, now=now)
        if post.guid is not None:
            if post.guid in by_guid:
                if by_guid[post.guid] == post.url:
                    notes.append(f"entry repeated in the feed (guid {post.guid!r}); kept once")
                    continue
                # The same guid on a different entry: the guid cannot identify either.
                notes.append(f"guid {post.guid!r} used by more than one entry; matched by URL instead")
                post = dataclasses.replace(
                    post, guid=None, id=post_id_for(url=post.url, guid=None, title=post.title, summary=post.summary)
                )
            else:
                by_guid[post.guid] = post.url
        if post.id in ids:
            notes.append(f"entry repeated in the feed ({post.url or post.title!r}); kept once")
            continue
        ids.add(post.id)
        posts.append(post)
    title = collapse(str(raw.feed.get("title") or ""))
    return ParsedFeed(title=title, link=feed_link, posts=tuple(posts), warnings=tuple(dict.fromkeys(notes)))
