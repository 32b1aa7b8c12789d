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
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.builder import HTMLTreeBuilder
from bs4.builder._htmlparser import BeautifulSoupHTMLParser
from bs4.dammit import EntitySubstitution

from .models import ParsedFeed, Post
from .parse import RawFeed

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "cmpid",
        "trk",
        "trkcampaign",
        "sc_channel",
        "sc_campaign",
        "sc_publisher",
        "sc_medium",
        "sc_content",
        "sc_country",
        "sc_geo",
        "sc_outcome",
        "sc_category",
        "sc_detail",
        "sc_icampaign",
        "sc_ichannel",
        "sc_icontent",
        "sc_iplace",
        "sc_ireferrer",
        "sc_isegment",
    }
)
"""Query parameters that track the reader and never select content (plus every ``utm_*``)."""

SUMMARY_TEXT_MAX = 20_000
SUMMARY_HTML_MAX = 200_000
EARLIEST_DATE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=2)

_SPACE = re.compile(r"\s+")
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(/[A-Za-z0-9._~!$'()*+,=:@%/-]*)?"
)
"""An absolute web address already in canonical form but for a missing ``/`` path: lowercase
scheme and host, no port, user, query, fragment, ``;`` or character ``urlsplit`` would treat
apart. ``canonical_url`` gives it back as it is (with ``/`` for an empty path), joined to any
base: ``canonical_url`` without ``urljoin`` and ``urlsplit``."""
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)\]])")
_TOKEN = re.compile(r"^[\w.-]+:[\w./:-]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}

warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)


def collapse(text: str) -> str:
    # What _SPACE.sub(" ", text).strip() gives (str.split and \s agree on whitespace), in a third of the time.
    return " ".join(text.split())


def canonical_url(url: str | None, *, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment or tracking parameters, scheme and host lowercased.

    Returns None for anything that is not an http(s) URL.
    """
    if not url:
        return None
    url = url.strip()
    plain = _PLAIN_URL.fullmatch(url)
    # urljoin returns such an address unchanged, but raises on a base with a broken IPv6 host.
    if plain is not None and not (base and ("[" in base or "]" in base)):
        return url if plain.group(3) else url + "/"
    return _canonical_url(url, base)


def _canonical_url(url: str, base: str | None) -> str | None:
    """``canonical_url`` the long way, for any address (and the reference its shortcut is tested against)."""
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
    if not host:  # "http://../": nothing left of the host
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = ""
    if parts.query:  # parse_qsl("") is [] and urlencode([]) is "": skip both for the usual bare URL
        query = urlencode(
            [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
            ]
        )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def url_key(canonical: str) -> str:
    """What makes two canonical URLs the same post: scheme, ``www.``, a trailing slash and the
    order of query parameters do not count."""
    scheme, separator, rest = canonical.partition("://")
    netloc, slash, path = rest.partition("/")
    plain = scheme in ("http", "https") and separator and slash and canonical.isascii()
    if plain and not any(c in canonical for c in "?#[]\t\n\r"):  # urlsplit's split, in short
        return netloc.removeprefix("www.") + (("/" + path).rstrip("/") or "/")
    return _url_key(canonical)


def _url_key(canonical: str) -> str:
    """``url_key`` the long way (and the reference its shortcut is tested against)."""
    parts = urlsplit(canonical)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True))) if parts.query else ""
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


def link_id(url: str) -> str | None:
    """The id the archive gives the post at ``url`` (None for a URL that is not http(s)): what a
    link to it resolves to, whether or not the archive holds it."""
    canonical = canonical_url(url)
    return post_id_for(url=canonical, guid=None, title="", summary="") if canonical else None


def link_ids(canonical_links: Iterable[str]) -> tuple[str, ...]:
    """The id of the post at each of these canonical URLs (a ``Post``'s ``links``), in order: two
    URLs that differ only by ``www.`` or a trailing slash give the same id."""
    return tuple(post_id_for(url=u, guid=None, title="", summary="") for u in canonical_links)


def content_hash_for(
    *, title: str, url: str | None, summary_html: str, categories: Iterable[str], links: Iterable[str]
) -> str:
    """What changes when a post's content changes: the same for a post from RSS and from the API."""
    return _hash(title, url or "", summary_html, "\x1f".join(categories), "\x1f".join(links))[:16]


class _Unsupported(Exception):
    """Markup that ``_TextAndLinks`` leaves to BeautifulSoup."""


_dereference_charref: Callable[[str], tuple[str, bool, str]] | None = getattr(
    BeautifulSoupHTMLParser, "_dereference_numeric_character_reference", None
)


class _TextAndLinks(HTMLParser):
    """The strings and ``<a href>`` values BeautifulSoup's ``html.parser`` tree would hold, without the tree.

    Same tokenizer as BeautifulSoup's (``HTMLParser`` with ``convert_charrefs=False``), same string
    boundaries (a string ends at every start or end tag that BeautifulSoup handles, including the
    implied end of an empty element and the skipped repeated end tag of one), same character and
    entity references (BeautifulSoup's own functions). Anything whose strings BeautifulSoup treats
    specially -- comments, declarations, CDATA, processing instructions, and the contents of
    ``script``, ``style``, ``template``, ``rt``, ``rp``, ``pre``, ``textarea`` -- raises
    ``_Unsupported``, and the caller falls back to BeautifulSoup itself.
    """

    EMPTY_ELEMENTS = frozenset(HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS or ())
    SPECIAL = (
        frozenset(HTMLTreeBuilder.DEFAULT_STRING_CONTAINERS)
        | frozenset(HTMLTreeBuilder.DEFAULT_PRESERVE_WHITESPACE_TAGS)
        | {"script", "style", "template", "rt", "rp", "pre", "textarea"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.strings: list[str] = []
        self.hrefs: list[str] = []
        self._data: list[str] = []
        self._closed_empty: list[str] = []

    def _end_data(self) -> None:
        if self._data:
            self.strings.append("".join(self._data))
            self._data = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]], empty: bool = True) -> None:
        if tag in self.SPECIAL:
            raise _Unsupported(tag)
        self._end_data()
        if tag == "a":
            href = None
            for key, value in attrs:  # a repeated attribute: the last one wins, as in BeautifulSoup
                if key == "href":
                    href = value or ""
            if href is not None:
                self.hrefs.append(href)
        if empty and tag in self.EMPTY_ELEMENTS:
            self.handle_endtag(tag, check_closed=False)
            self._closed_empty.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs, empty=False)
        self.handle_endtag(tag, check_closed=False)

    def handle_endtag(self, tag: str, check_closed: bool = True) -> None:
        if check_closed and tag in self._closed_empty:
            self._closed_empty.remove(tag)  # BeautifulSoup skips it: the string goes on
        else:
            self._end_data()

    def handle_data(self, data: str) -> None:
        self._data.append(data)

    def handle_charref(self, name: str) -> None:
        if _dereference_charref is None:
            raise _Unsupported("&#" + name)
        dereferenced, _replaced, extra = _dereference_charref(name)
        self._data.append(dereferenced)
        self._data.append(extra)

    def handle_entityref(self, name: str) -> None:
        character = EntitySubstitution.HTML_ENTITY_TO_CHARACTER.get(name)
        self._data.append(character if character is not None else f"&{name}")

    def handle_comment(self, data: str) -> None:
        raise _Unsupported("comment")

    def handle_decl(self, decl: str) -> None:
        raise _Unsupported("declaration")

    def unknown_decl(self, data: str) -> None:
        raise _Unsupported("declaration")

    def handle_pi(self, data: str) -> None:
        raise _Unsupported("processing instruction")


_SIMPLE_TOKEN = re.compile(
    r"([^<&]+)"
    r"|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{0,31});"
    r'|<([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z][-a-zA-Z0-9_:.]*(?:="[^"<>&]*")?)*)\s*(/?)>'
    r"|</([a-zA-Z][a-zA-Z0-9]*)\s*>"
)
"""The tokens of the HTML ``html.parser`` reads most often, each read as it reads it: text without
``<`` or ``&``; a character or entity reference ending in ``;``; a start tag whose attributes are
double-quoted (with no ``&`` to unescape) or bare; an end tag."""
_SIMPLE_ATTRIBUTE = re.compile(r'\s+([a-zA-Z][-a-zA-Z0-9_:.]*)(?:="([^"<>&]*)")?')


def _simple_tokens(markup: str) -> list[re.Match[str]] | None:
    """The markup as ``_SIMPLE_TOKEN``s end to end, or None when any of it is something else."""
    tokens = []
    end = 0
    for token in _SIMPLE_TOKEN.finditer(markup):
        if token.start() != end:
            return None
        tokens.append(token)
        end = token.end()
    return tokens if end == len(markup) else None


def _feed_tokens(parser: _TextAndLinks, tokens: list[re.Match[str]]) -> None:
    """``parser.feed`` and ``close`` for simple markup: the same calls ``html.parser`` makes, with
    a single regular expression instead of its tokenizer."""
    for token in tokens:
        kind = token.lastindex
        if kind == 1:
            parser.handle_data(token[1])
        elif kind == 2:
            reference = token[2]
            if reference[0] == "#":
                parser.handle_charref(reference[1:])
            else:
                parser.handle_entityref(reference)
        elif kind == 6:
            parser.handle_endtag(token[6].lower())
        else:
            attrs = [(a[1].lower(), a[2]) for a in _SIMPLE_ATTRIBUTE.finditer(token[4])] if token[4] else []
            if token[5]:
                parser.handle_startendtag(token[3].lower(), attrs)
            else:
                parser.handle_starttag(token[3].lower(), attrs)


def _strings_and_hrefs(markup: str) -> tuple[list[str], list[str]]:
    """The strings (in document order) and the ``href`` of every ``<a>`` of an HTML fragment, as
    BeautifulSoup with ``html.parser`` finds them (``get_text`` joins the strings), without
    building its tree when the markup allows, and without ``html.parser``'s tokenizer when the
    markup is simple (``_SIMPLE_TOKEN``)."""
    parser = _TextAndLinks()
    tokens = _simple_tokens(markup)
    try:
        if tokens is not None:
            _feed_tokens(parser, tokens)
        else:
            parser.feed(markup)
            parser.close()
    except Exception:  # _Unsupported, or markup html.parser rejects: BeautifulSoup decides
        return _soup_strings_and_hrefs(markup)
    parser._end_data()
    return parser.strings, parser.hrefs


def _soup_strings_and_hrefs(markup: str) -> tuple[list[str], list[str]]:
    """``_strings_and_hrefs`` by BeautifulSoup itself: the fallback, and the reference to test against."""
    soup = BeautifulSoup(markup, "html.parser")
    hrefs = [href for anchor in soup.find_all("a", href=True) if isinstance(href := anchor.get("href"), str)]
    for tag in soup(["script", "style"]):
        tag.decompose()
    return list(soup.strings), hrefs


def html_to_text_and_links(markup: str, *, base: str | None) -> tuple[str, tuple[str, ...]]:
    """Plain text of an HTML fragment and the absolute http(s) links in it."""
    if "<" not in markup:
        return collapse(html.unescape(markup)), ()
    strings, hrefs = _strings_and_hrefs(markup)
    links: list[str] = []
    for href in hrefs:
        link = canonical_url(href, base=base)
        if link and link not in links:
            links.append(link)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", collapse(" ".join(strings)))
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
            when = dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.UTC)
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


def _summary_html(entry: Any) -> tuple[str, str]:
    """The summary (else the first content) as HTML, and the xml:base in scope there ("" if none)."""
    summary, detail = entry.get("summary") or "", entry.get("summary_detail")
    for content in entry.get("content") or []:
        # feedparser copies an Atom <content> into ``summary`` without its details (and xml:base).
        if content.get("value") and (not summary or (detail is None and content["value"] == summary)):
            summary, detail = content["value"], content
            break
    return str(summary)[:SUMMARY_HTML_MAX], str((detail or {}).get("base") or "")


def _content_links(entry: Any, summary_html: str, *, base: str | None) -> tuple[str, ...]:
    """Links in the full content when the feed also sends an excerpt (a blog's content:encoded
    beside its description): the links to the announcements a post is about are often only there."""
    found: list[str] = []
    for content in entry.get("content") or []:
        value = str(content.get("value") or "")
        if value and value != summary_html:
            content_base = canonical_url(str(content.get("base") or "")) or base
            found.extend(html_to_text_and_links(value[:SUMMARY_HTML_MAX], base=content_base)[1])
    return tuple(found)


def own_links_removed(links: tuple[str, ...], own: str | None) -> tuple[str, ...]:
    """Links without duplicates and without the post's own page (in-page anchors such as ``#setup``)."""
    own_key = url_key(own) if own else None
    out: list[str] = []
    for link in links:
        if link not in out and (own_key is None or url_key(link) != own_key):
            out.append(link)
    return tuple(out)


def _title_text(value: object, detail: Any) -> str:
    """A title as plain text: decoded as HTML when feedparser says it is HTML, kept as it is when plain."""
    text = str(value or "")
    if "html" in str((detail or {}).get("type") or "text/html"):
        return html_to_text_and_links(text, base=None)[0]
    return collapse(text)


def normalize_entry(entry: Any, *, base: str | None, now: dt.datetime) -> Post:
    link = canonical_url(entry.get("link"), base=base)
    guid = collapse(str(entry.get("id") or "")) or None
    title = _title_text(entry.get("title"), entry.get("title_detail"))
    summary_html, xml_base = _summary_html(entry)
    # Relative links in the text are relative to the xml:base in scope (Atom), else to the entry's page.
    summary, links = html_to_text_and_links(summary_html, base=canonical_url(xml_base) or link or base)
    summary = summary[:SUMMARY_TEXT_MAX]
    links = own_links_removed(links + _content_links(entry, summary_html, base=link or base), link)
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
        link_ids=link_ids(links),
        published=published,
        updated=updated,
        authors=_authors(entry),
        categories=categories,
        content_hash=content_hash_for(
            title=title, url=link, summary_html=summary_html, categories=categories, links=links
        ),
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
        guid = post.guid
        if guid is not None:
            if guid in by_guid:
                if by_guid[guid] == post.url:
                    notes.append(f"entry repeated in the feed (guid {guid!r}); kept once")
                    continue
                # The same guid on a different entry: the guid cannot identify either.
                notes.append(f"guid {guid!r} used by more than one entry; matched by URL instead")
                post = dataclasses.replace(
                    post, guid=None, id=post_id_for(url=post.url, guid=None, title=post.title, summary=post.summary)
                )
            else:
                by_guid[guid] = post.url
        if post.id in ids:
            notes.append(f"entry repeated in the feed ({post.url or post.title!r}); kept once")
            continue
        ids.add(post.id)
        posts.append(post)
    title = _title_text(raw.feed.get("title"), raw.feed.get("title_detail"))
    return ParsedFeed(title=title, link=feed_link, posts=tuple(posts), warnings=tuple(dict.fromkeys(notes)))
