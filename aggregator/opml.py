"""OPML in and out, to trade feed lists with feed readers.

``read_opml`` turns a reader's export into feed entries (kind guessed from the URL), and
``feeds_to_toml`` writes them as ``[[feeds]]`` tables to append to a feed list; ``write_opml``
exports the configured feeds. An export read back gives the same feeds: names, kinds, tags,
titles, intervals and enabled flags (``NAMESPACE``), local files included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .config import FEED_KINDS, Feed, format_duration, parse_duration, resolve_feed_url, valid_feed_name
from .errors import ConfigError
from .logs import MASK, mask_credentials

_SLUG = re.compile(r"[^a-z0-9]+")

NAMESPACE = "urn:aggregator:opml:1"
"""The namespace of the attributes OPML has no place for (a feed's name, kind, interval, whether
it is enabled), as FreshRSS keeps its own extras: feed readers ignore them, ``read_opml`` reads them."""
_NS = f"{{{NAMESPACE}}}"


@dataclass(frozen=True, kw_only=True)
class OpmlFeed:
    name: str
    url: str
    kind: str
    title: str
    tags: tuple[str, ...] = ()
    enabled: bool = True
    interval: str = ""
    """As written in the feed list (``"2h"``); empty: the kind's interval."""


@dataclass(frozen=True)
class OpmlDocument:
    feeds: list[OpmlFeed]
    """Every outline with an ``xmlUrl``, nested folders included."""
    skipped: list[tuple[str, str]]
    """Outlines that are neither a feed nor a folder of feeds: (their text, why)."""


def guess_kind(url: str) -> str:
    lowered = url.lower()
    if "aws.amazon.com/about-aws/whats-new" in lowered or "aws.amazon.com/new" in lowered:
        return "aws-whats-new"
    if "aws.amazon.com/blogs/" in lowered:
        return "aws-blog"
    if "aws.amazon.com/security/security-bulletins" in lowered:
        return "other"
    return "community"


def slugify(text: str, *, fallback: str = "feed") -> str:
    slug = _SLUG.sub("-", text.lower()).strip("-")[:48].strip("-")
    return slug or fallback


def read_opml(data: bytes, *, source: str) -> OpmlDocument:
    """The feeds of an OPML document, nested folders included. Raises ConfigError on bad input.

    Tags come from an outline's ``category`` (comma-separated, as OPML 2.0 has it), else from the
    folder it is in. Name, kind, interval and enabled come from this project's own attributes
    (``NAMESPACE``) when an export of ours wrote them; else the name is made from the title and
    the kind guessed from the URL.
    """
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        raise ConfigError("OPML with a DOCTYPE or entity declarations is not accepted", path=source)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"not valid OPML/XML: {exc}", path=source) from None
    if root.tag.lower() != "opml":
        raise ConfigError(f"not an OPML document (root element <{root.tag}>)", path=source)
    body = root.find("body")
    if body is None:
        raise ConfigError("OPML without a <body>", path=source)
    found = OpmlDocument([], [])
    _walk(body, "", found)
    return found


def _walk(element: ET.Element, folder: str, found: OpmlDocument) -> None:
    for outline in element.findall("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        title = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            found.feeds.append(_feed(outline, url, title, folder))
        elif not outline.findall("outline"):
            why = "a link to a web page, not a feed" if outline.get("htmlUrl") else "no xmlUrl: not a feed"
            found.skipped.append((title or "(an outline without text)", why))
        _walk(outline, title if not url else folder, found)


def _feed(outline: ET.Element, url: str, title: str, folder: str) -> OpmlFeed:
    ours = {key[len(_NS) :]: value for key, value in outline.attrib.items() if key.startswith(_NS)}
    name = ours.get("name", "")
    if not valid_feed_name(name):
        name = slugify(title or url)
    kind = ours.get("kind", "")
    if kind not in FEED_KINDS:
        kind = guess_kind(url)
    category = outline.get("category")
    if category is not None:
        tags = tuple(tag.strip().removeprefix("/") for tag in category.split(",") if tag.strip())
    else:  # a reader's folder, never the kind folders of our own export
        tags = (slugify(folder),) if folder and not ours else ()
    if ours and title == ours.get("name"):
        title = ""  # our export shows the name where a feed has no title
    return OpmlFeed(
        name=name,
        url=url,
        kind=kind,
        title=title,
        tags=tags,
        enabled=ours.get("enabled", "true") != "false",
        interval=ours.get("interval", ""),
    )


@dataclass(frozen=True)
class Merge:
    add: list[OpmlFeed]
    """New feeds, with names made unique."""
    present: list[OpmlFeed]
    """Feeds already in the list (by URL)."""
    rejected: list[tuple[OpmlFeed, str]]
    """Feeds that cannot be imported, and why."""


def merge_new(existing: Iterable[Feed], incoming: Iterable[OpmlFeed]) -> Merge:
    """Sort an OPML file's feeds into new ones, those already listed, and those that cannot be
    imported (not http(s) nor an existing file, invalid, a password masked by an export): one bad
    outline never stops the others."""
    existing = list(existing)
    urls = {f.url.rstrip("/") for f in existing}
    names = {f.name for f in existing}
    add: list[OpmlFeed] = []
    skipped: list[OpmlFeed] = []
    rejected: list[tuple[OpmlFeed, str]] = []
    for feed in incoming:
        problem = _import_problem(feed)
        if problem:
            rejected.append((feed, problem))
            continue
        if feed.url.rstrip("/") in urls:
            skipped.append(feed)
            continue
        name, n = feed.name, 2
        while name in names:
            name, n = f"{feed.name}-{n}", n + 1
        names.add(name)
        urls.add(feed.url.rstrip("/"))
        add.append(dataclasses.replace(feed, name=name))
    return Merge(add, skipped, rejected)


def _import_problem(feed: OpmlFeed) -> str | None:
    url = feed.url
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        if not Path(unquote(urlsplit(url).path)).is_file():
            return (
                f"only http(s) feed URLs can be imported, or file URLs of files that exist: {url!r} names no file here"
            )
    elif scheme not in ("http", "https"):
        return f"only http(s) feed URLs can be imported, got {url!r}"
    if f":{MASK}@" in url:
        return "its password was masked when it was exported: export with `aggregator opml export --with-credentials`"
    try:
        resolve_feed_url(url, base_dir=Path("."))
    except ValueError as exc:
        return str(exc)
    try:
        parse_duration(feed.interval or 0)
    except ValueError as exc:
        return f"interval: {exc}"
    return None


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def feeds_to_toml(feeds: Iterable[OpmlFeed], *, comment: str = "") -> str:
    lines = [f"\n# {comment}"] if comment else []
    for feed in feeds:
        lines += [
            "",
            "[[feeds]]",
            f"name = {_toml_str(feed.name)}",
            f"url = {_toml_str(feed.url)}",
            f"kind = {_toml_str(feed.kind)}",
        ]
        if feed.title:
            lines.append(f"title = {_toml_str(feed.title)}")
        if feed.tags:
            lines.append(f"tags = [{', '.join(_toml_str(tag) for tag in feed.tags)}]")
        if feed.interval:
            lines.append(f"interval = {_toml_str(feed.interval)}")
        if not feed.enabled:
            lines.append("enabled = false")
    return "\n".join(lines) + "\n"


def write_opml(feeds: Iterable[Feed], *, now: dt.datetime, with_credentials: bool = False) -> str:
    """The feeds as OPML 2.0, in one folder per kind; tags as ``category``, and what OPML has no
    place for in ``NAMESPACE``. Passwords in URLs are masked unless ``with_credentials``."""
    ET.register_namespace("aggregator", NAMESPACE)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "aggregator feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        folder = folders.get(feed.kind)
        if folder is None:
            folder = folders[feed.kind] = ET.SubElement(body, "outline", text=feed.kind, title=feed.kind)
        url = feed.url if with_credentials else mask_credentials(feed.url)
        attrs = {"type": "rss", "text": feed.title or feed.name, "title": feed.title or feed.name, "xmlUrl": url}
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        attrs[f"{_NS}name"] = feed.name
        attrs[f"{_NS}kind"] = feed.kind
        if feed.interval is not None:
            attrs[f"{_NS}interval"] = format_duration(feed.interval)
        if not feed.enabled:
            attrs[f"{_NS}enabled"] = "false"
        ET.SubElement(folder, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
