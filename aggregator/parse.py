"""feedparser on bytes, never on a URL, and the bozo policy.

- a body that is not a feed (empty, an HTML page, XML with no feed in it, truncated before the
  first entry) raises ``ParseError``: the poll is recorded as an error for that feed;
- a feed with recoverable problems (feedparser's "bozo" flag with entries, or a well-formed feed
  with a wrong declared encoding) is accepted and the problem returned as a warning;
- external entities are never resolved: feedparser drops unsafe ``<!ENTITY>`` declarations and
  turns off external general entities in its SAX parser (the hostile-input tests check both).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import feedparser

from .errors import ParseError

_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
"""Bozo reasons that say nothing about the document's structure: fine even for an empty feed."""

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html)", re.IGNORECASE | re.DOTALL)


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


def parse_bytes(body: bytes, *, content_type: str | None = None, url: str | None = None) -> RawFeed:
    """Parse a feed document. Raises ``ParseError`` when the body is not a feed."""
    if not body or not body.strip():
        raise ParseError("empty response body: not a feed")
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

    if not version and not entries:
        if _HTML_START.match(body[:2048]):
            raise ParseError("got an HTML page, not a feed" + (f" (from {url})" if url else ""))
        raise ParseError(f"not a feed: {problem}" if problem else "not a feed: no RSS, Atom or RDF document found")
    benign = isinstance(result.get("bozo_exception"), _BENIGN)
    if bozo and not entries and not benign:
        raise ParseError(f"malformed feed with no readable entries: {problem}")
    warnings = (f"recovered from a malformed feed: {problem}",) if bozo else ()
    return RawFeed(feed=result.get("feed") or {}, entries=entries, version=version, warnings=warnings)
