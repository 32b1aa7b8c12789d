"""Bytes -> entries: the fast path for common feeds, else feedparser on bytes (never on a URL),
and the bozo policy.

Well-formed UTF-8 RSS 2.0 and Atom 1.0 are read by ``fastparse`` (lxml), which gives exactly the
entries feedparser gives or declines the document; ``fast=False`` always uses feedparser. On
feedparser's path:

- a body that is not a feed (empty, an HTML page, XML with no feed in it, truncated before the
  first entry) raises ``ParseError``: the poll is recorded as an error for that feed;
- a feed with recoverable problems (feedparser's "bozo" flag with entries, or a well-formed feed
  with a wrong declared encoding) is accepted and the problem returned as a warning;
- external entities are never resolved: feedparser drops unsafe ``<!ENTITY>`` declarations and
  turns off external general entities in its SAX parser (the hostile-input tests check both);
- internal entities cannot amplify: every entity declaration but a character reference is
  dropped before feedparser parses (``_replace_doctype``), whatever the document's encoding;
- a document cut off inside an entry loses that entry (a fragment would be stored as a post of
  its own), and entries with no title, link, id or text are left out, with a warning.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any

import feedparser

from .errors import ParseError
from .fastparse import Declined, read_fast

log = logging.getLogger(__name__)

_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
"""Bozo reasons that say nothing about the document's structure: fine even for an empty feed."""

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html)", re.IGNORECASE | re.DOTALL)

_DECLARATION_OR_SKIPPED = re.compile(
    # Each construct also ends at the end of the data, and nothing backtracks: a document full of
    # unterminated "<!--" or "<!ENTITY" is scanned once, not once per occurrence.
    rb"<!--.*?(?:-->|\Z)"
    rb"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    rb"|(<!ENTITY\s(?:[^>\"']++|\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z))*+(?:>|\Z))",
    re.DOTALL,
)
_CHAR_REF_ENTITY = re.compile(rb"<!ENTITY\s+[\w.:-]+\s+([\"'])&#(?:[0-9]+|x[0-9a-fA-F]+);\1\s*>")
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)(?:\s[^>]*+)?(?:>|\Z)")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
_FEED_END = re.compile(rb"</(?:[\w.-]+:)?(?:channel|feed|rss|RDF)\s*>")


def _keep_char_refs(match: re.Match[bytes]) -> bytes:
    declaration = match.group(1)
    if declaration is None or _CHAR_REF_ENTITY.fullmatch(declaration):
        return match.group(0)  # a comment, a CDATA section or a harmless declaration
    return b""


_feedparser_replace_doctype = feedparser.api.replace_doctype


def _replace_doctype(data: bytes) -> Any:
    """feedparser's DOCTYPE filter, after dropping every entity declaration but character references.

    feedparser keeps plain-text entities, which its lenient parser then expands without limit (a
    50 kB entity referenced 20,000 times is a gigabyte of text), and passes declarations that do
    not start a line straight to expat, whose amplification limit is a ratio to the input (100
    times a 10 MB body). ``<!ENTITY nbsp "&#160;">`` cannot amplify; nothing else is kept. It runs
    on the body feedparser has already decoded to UTF-8, so no encoding slips past it.
    """
    if b"<!ENTITY" in data:
        data = _DECLARATION_OR_SKIPPED.sub(_keep_char_refs, data)
    return _feedparser_replace_doctype(data)


feedparser.api.replace_doctype = _replace_doctype


def _ends_inside_entry(body: bytes) -> bool:
    """Whether the document stops after an entry opened, before it and the feed closed."""
    last_end = 0
    for match in _ENTRY_END.finditer(body):
        last_end = match.end()
    start = _ENTRY_START.search(body, last_end)
    return start is not None and _FEED_END.search(body, start.end()) is None


def _readable(entry: Any) -> bool:
    """An entry with nothing to show or identify it by would be stored as "(untitled)"."""
    return any(dict.get(entry, key) for key in ("title", "link", "id", "summary", "content"))


@dataclass(frozen=True, kw_only=True)
class RawFeed:
    """feedparser's view of one document, plus the problems we tolerated."""

    feed: Any
    entries: list[Any]
    version: str
    warnings: tuple[str, ...]


def _describe(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def parse_bytes(body: bytes, *, content_type: str | None = None, url: str | None = None, fast: bool = True) -> RawFeed:
    """Parse a feed document. Raises ``ParseError`` when the body is not a feed.

    ``fast``: try the fast path first (``fastparse``); feedparser parses what it declines."""
    if not body or not body.strip():
        raise ParseError("empty response body: not a feed")
    if fast:
        try:
            read = read_fast(body, content_type=content_type)
        except Declined as why:
            log.debug("parsing %s with feedparser: %s", url or "a document", why)
        else:
            return _accepted(read.feed, read.entries, read.version, warnings=())
    headers = {"content-type": content_type} if content_type else {}
    result = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    version = result.get("version") or ""
    entries = list(result.get("entries") or [])
    bozo = bool(result.get("bozo"))
    problem = _describe(result.get("bozo_exception")) if bozo else ""
    benign = isinstance(result.get("bozo_exception"), _BENIGN)
    cut_off: tuple[str, ...] = ()
    if bozo and not benign and entries and _ends_inside_entry(body):
        entries.pop()
        cut_off = ("the document ends inside an entry (cut off?): that entry was left out",)
    readable = any(_readable(entry) for entry in entries)
    if not version and not readable:
        if _HTML_START.match(body[:2048]):
            raise ParseError("got an HTML page, not a feed" + (f" (from {url})" if url else ""))
        raise ParseError(f"not a feed: {problem}" if problem else "not a feed: no RSS, Atom or RDF document found")
    if bozo and not benign and not readable:
        raise ParseError(f"malformed feed with no readable entries: {problem}")
    recovered = (f"recovered from a malformed feed: {problem}",) if bozo else ()
    return _accepted(result.get("feed") or {}, entries, version, warnings=recovered + cut_off)


def _accepted(feed: Any, entries: list[Any], version: str, *, warnings: tuple[str, ...]) -> RawFeed:
    """The document's readable entries, with a note for those left out."""
    readable = [entry for entry in entries if _readable(entry)]
    if len(readable) < len(entries):
        warnings += (f"left out {len(entries) - len(readable)} entries with no title, link, id or text",)
    return RawFeed(feed=feed, entries=readable, version=version, warnings=warnings)
