"""OPML in and out, to trade feed lists with feed readers.

``read_opml`` turns a reader's export into feed entries (kind guessed from the URL), and
``feeds_to_toml`` writes them as ``[[feeds]]`` tables to append to a feed list; ``write_opml``
exports the configured feeds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path

from .config import Feed, resolve_feed_url
from .errors import ConfigError

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, kw_only=True)
class OpmlFeed:
    name: str
    url: str
    kind: str
    title: str
    category: str = ""


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


def read_opml(data: bytes, *, source: str) -> list[OpmlFeed]:
    """Every outline with an ``xmlUrl``, nested folders included. Raises ConfigError on bad input."""
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        raise ConfigError("OPML with a DOCTYPE or entity declarations is not accepted", path=source)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"not valid OPML/XML: {exc}", path=source) from None
    if root.tag.lower() != "opml":
        raise ConfigError(f"not an OPML document (root element <{root.tag}>)", path=source)
    found: list[OpmlFeed] = []

    def walk(element: ET.Element, category: str) -> None:
        for outline in element.findall("outline"):
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            title = (outline.get("title") or outline.get("text") or "").strip()
            if url:
                found.append(
                    OpmlFeed(name=slugify(title or url), url=url, kind=guess_kind(url), title=title, category=category)
                )
            walk(outline, title if not url else category)

    body = root.find("body")
    if body is None:
        raise ConfigError("OPML without a <body>", path=source)
    walk(body, "")
    return found


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
    imported (not http(s), invalid): one bad outline never stops the others."""
    existing = list(existing)
    urls = {f.url.rstrip("/") for f in existing}
    names = {f.name for f in existing}
    add: list[OpmlFeed] = []
    skipped: list[OpmlFeed] = []
    rejected: list[tuple[OpmlFeed, str]] = []
    for feed in incoming:
        if not feed.url.lower().startswith(("http://", "https://")):
            rejected.append((feed, f"only http(s) feed URLs can be imported, got {feed.url!r}"))
            continue
        try:
            resolve_feed_url(feed.url, base_dir=Path("."))
        except ValueError as exc:
            rejected.append((feed, str(exc)))
            continue
        if feed.url.rstrip("/") in urls:
            skipped.append(feed)
            continue
        name, n = feed.name, 2
        while name in names:
            name, n = f"{feed.name}-{n}", n + 1
        names.add(name)
        urls.add(feed.url.rstrip("/"))
        add.append(OpmlFeed(name=name, url=feed.url, kind=feed.kind, title=feed.title, category=feed.category))
    return Merge(add, skipped, rejected)


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
        if feed.category:
            lines.append(f"tags = [{_toml_str(slugify(feed.category))}]")
    return "\n".join(lines) + "\n"


def write_opml(feeds: Iterable[Feed], *, now: dt.datetime) -> str:
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
        attrs = {"type": "rss", "text": feed.title or feed.name, "title": feed.title or feed.name, "xmlUrl": feed.url}
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        ET.SubElement(folder, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
