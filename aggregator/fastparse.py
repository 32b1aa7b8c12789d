"""The fast parse path: well-formed RSS 2.0 and Atom 1.0 in UTF-8, read with lxml.

feedparser stays the parser of record (``parse.py``). This module reads the documents it can read
exactly as feedparser does -- the same entries for every key ``normalize`` reads (``link``,
``id``, ``title`` and its type, ``summary`` and its ``xml:base``, ``content``, ``tags``,
``authors``/``author``, the parsed dates), the same feed title and link, the same version -- and
declines (``Declined``) everything it is not sure of, which feedparser then parses:

- an encoding other than UTF-8 or US-ASCII, a byte order mark, or anything feedparser's encoding
  rules (RFC 3023 and the HTTP ``Content-Type``) would flag, such as a body served as text/html;
- any ``<!DOCTYPE`` or ``<!ENTITY`` (feedparser's path drops entity declarations and bounds the
  expansion: ``parse._replace_doctype``), so lxml never sees a DTD;
- a document libxml2 finds anything wrong with, even a warning: ill-formed documents go to
  feedparser's lenient parser, with its warning;
- a root other than ``<rss>`` or Atom 1.0's ``<feed>`` (RSS 1.0/RDF, Atom 0.3, CDF, ...), a
  namespace prefix bound twice or to a namespace feedparser knows under another prefix, an
  attribute in a namespace other than ``xml:``;
- an element feedparser has a handler for that this module does not read (``media:``,
  ``itunes:``, ``<source>``, ``<textInput>``, ...), a text element holding elements (XHTML
  content), a content type other than plain text or HTML, base64 content.

Elements feedparser has no handler for (``<ttl>``, ``<slash:comments>``, WordPress's
``<post-id>``) are skipped when they hold no elements: feedparser files them under keys nothing
reads. The reading of each element is a port of feedparser 6.0's handlers (``mixin.py``,
``namespaces/_base.py``), quirks included: a guid that is a permalink becomes the link when no
``<link>`` came before it; a plain-text RSS title that looks like HTML is typed ``text/html``; a
second title at the same depth is ignored; text that reads as UTF-8 once encoded as Latin-1 is
repaired and C1 controls map to their cp1252 characters; ``xml:base`` (and a bare ``base``
attribute) resolve links. ``tests/test_fastparse.py`` proves, document by document (every
fixture, every hostile document, the corpus), that both paths give the same posts or this one
declines.

Security: lxml is told to load no DTD, resolve no entity and touch no network, and a document with
a DTD never reaches it; libxml2's own limits on depth and text size apply (a document beyond them
is declined, and feedparser's path decides). The fetch caps apply before either parser runs.
"""

from __future__ import annotations

import codecs
import functools
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from feedparser.datetimes import _parse_date
from feedparser.encodings import parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_ATTR = "{http://www.w3.org/XML/1998/namespace}"

_NAMESPACES: dict[str, str] = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
"""feedparser's known namespaces (lowercased URI -> its own prefix, '' for the feed formats')."""
_STANDARD_PREFIXES = frozenset(prefix.lower() for prefix in _NAMESPACES.values() if prefix)
_VERSION_NAMESPACES = frozenset({"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"})
"""Declared on the root, these would give an RSS document feedparser's RSS 1.0 or 0.90 version."""

_FEEDPARSER_HANDLES = frozenset(
    name.split("_", 2)[2].lower()
    for name in dir(_FeedParserMixin)
    if name.startswith(("_start_", "_end_")) and name.count("_") >= 2
)
"""Element names (``dc_creator``, ``title``) feedparser has a handler for."""

_READ_KEYS = frozenset(
    {"link", "links", "id", "title", "title_detail", "summary", "summary_detail", "content", "tags", "author"}
    | {"authors", "author_detail", "published_parsed", "updated_parsed", "created_parsed", "guidislink", "href"}
    | {"description_detail", "date_parsed", "modified_parsed", "issued_parsed"}
)
"""Keys of an entry or the feed that someone reads (``normalize``, or feedparser's handlers), and
the names feedparser files under them: an element its default handler files under one would
change what is read."""

_RELATIVE_URI_ELEMENTS = frozenset(_FeedParserMixin.can_be_relative_uri)
_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html
_map_content_type: Callable[[str], str] = _FeedParserMixin.map_content_type
_CP1252 = str.maketrans(_cp1252)
_QUERY_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE, b"\x4c\x6f\xa7\x94")
"""UTF-8 and UTF-16 byte order marks, and ``<?xm`` in EBCDIC (UTF-16 and UTF-32 without a mark
have a NUL in the first four bytes)."""
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(rb"xmlns(?::([^\s=/>]+))?\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_BASE_ATTRIBUTE = re.compile(rb"base\s*=\s*[\"']")
"""In the lowercased body: where an ``xml:base`` (or ``base``, any case) attribute could be."""
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}

_PEOPLE_PARTS = frozenset({"name", "email", "uri", "url", "homepage"})
_IMAGE_PARTS = frozenset({"title", "link", "url", "width", "height", "description"})
_FEED_SKIPPED = frozenset(
    {"description", "subtitle", "tagline", "rights", "copyright", "generator", "language", "lastbuilddate"}
    | {"pubdate", "published", "issued", "updated", "modified", "created", "category", "cloud", "icon", "logo"}
    | {"webmaster", "dc_date", "dc_language", "dc_rights", "dc_publisher", "dc_subject", "dcterms_modified"}
    | {"dcterms_issued", "dcterms_created", "expirationdate"}
)
"""Feed-level elements whose feedparser handlers write only keys nothing reads."""
_PEOPLE = frozenset({"author", "managingeditor", "contributor", "dc_creator", "dc_author"})
_ENTRY_SKIPPED = frozenset({"enclosure", "expirationdate", "rights", "copyright", "dc_rights", "language"})
_DATES = {
    "pubdate": "published",
    "published": "published",
    "issued": "published",
    "dcterms_issued": "published",
    "updated": "updated",
    "modified": "updated",
    "dc_date": "updated",
    "dcterms_modified": "updated",
    "created": "created",
    "dcterms_created": "created",
}


class Declined(Exception):
    """The fast path is not sure it reads this document as feedparser does: feedparser parses it."""


class FastRead(NamedTuple):
    feed: dict[str, Any]
    entries: list[dict[str, Any]]
    version: str


def read_fast(body: bytes, *, content_type: str | None = None) -> FastRead:
    """The feed and entries feedparser would give for ``body``; raises ``Declined`` when unsure."""
    _check_encoding(body, content_type)
    if _DTD.search(body):
        raise Declined("a DTD or entity declaration")
    parser = etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise Declined(f"not well-formed: {exc}") from None
    if len(parser.error_log):
        raise Declined(f"libxml2 says: {parser.error_log[0].message}")
    names = _Names(body)
    reader = _Reader(names, track_base=bool(_BASE_ATTRIBUTE.search(body.lower())))
    if root.tag == "rss":
        reader.read_rss(root)
    elif root.tag == "{" + ATOM_NS + "}feed":
        reader.read_atom(root)
    else:
        raise Declined(f"root element {root.tag!r}: not RSS 2.0 or Atom 1.0")
    return FastRead(feed=reader.feed, entries=reader.entries, version=reader.version)


def _check_encoding(body: bytes, content_type: str | None) -> None:
    """Declines unless feedparser (``encodings.convert_to_utf8``) would read the body as UTF-8 or
    US-ASCII, as declared, without a warning."""
    if body.startswith(_BYTE_ORDER_MARKS) or b"\x00" in body[:4]:
        raise Declined("a byte order mark, or an encoding that is not ASCII-compatible")
    declared = _declared_encoding(body)
    try:
        xml_encoding = declared.decode("utf-8").lower() if declared is not None else ""
    except UnicodeDecodeError:
        raise Declined("an unreadable encoding declaration") from None
    if content_type:
        mime, http_encoding = parse_content_type(content_type)
        if mime in ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity") or (
            mime.startswith("application/") and mime.endswith("+xml")
        ):
            encoding = http_encoding or xml_encoding or "utf-8"
        elif mime in ("text/xml", "text/xml-external-parsed-entity") or (
            mime.startswith("text/") and mime.endswith("+xml")
        ):
            encoding = http_encoding or "us-ascii"
        else:
            raise Declined(f"served as {content_type}: not an XML media type")
    else:
        encoding = xml_encoding or "utf-8"
    try:
        if codecs.lookup(encoding).name not in ("utf-8", "ascii"):
            raise Declined(f"encoding {encoding}")
        body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        raise Declined(f"not readable as {encoding}") from None


def _declared_encoding(body: bytes) -> bytes | None:
    """What feedparser's ``RE_XML_PI_ENCODING`` (``^<\\?.*encoding=['"](.*?)['"].*\\?>``) captures,
    without its backtracking over the first line (the whole document when it has no line breaks):
    the last ``encoding=`` of the first line followed by a quoted value and, after that, a ``?>``."""
    line = body[: body.find(b"\n")] if b"\n" in body else body
    if not line.startswith(b"<?"):
        return None
    last_end = line.rfind(b"?>")
    at = len(line)
    while (at := line.rfind(b"encoding=", 2, at)) != -1:
        start = at + len(b"encoding=")
        if line[start : start + 1] in (b"'", b'"'):
            quotes = [i for i in (line.find(b"'", start + 1), line.find(b'"', start + 1)) if i != -1]
            if quotes and last_end > min(quotes):
                return line[start + 1 : min(quotes)]
    return None


def _resolve(base: str, uri: str) -> str:
    """feedparser's ``_urljoin(base, uri)``, quickly for the usual empty base: it only drops the
    slashes after a scheme's ``://`` then (``urljoin`` with no base gives the address back)."""
    if base:
        joined: str = _urljoin(base, uri)
        return joined
    at = uri.find("://")
    if at > 0 and uri.startswith("/", at + 3):
        fixed: str = _urljoin("", uri)
        return fixed
    return uri


class _Names:
    """feedparser's names for elements (``dc_creator``, ``link``), from their namespaces.

    feedparser names an element by the prefix it knows for the namespace, else by the prefix the
    document declares for it, and lowercases the name; a document whose prefixes would make that
    depend on the order of its declarations is declined.
    """

    def __init__(self, body: bytes) -> None:
        bound: dict[str, str] = {}
        unknown_keys: dict[str, str] = {}
        for prefix_bytes, double, single in _DECLARATION.findall(body):
            raw = double or single
            if b"&" in raw:
                raise Declined("a reference in a namespace name")
            prefix, uri = prefix_bytes.decode("utf-8"), raw.decode("utf-8")
            if bound.setdefault(prefix, uri) != uri:
                raise Declined(f"namespace prefix {prefix!r} bound twice")
            if not uri:
                continue
            lower = uri.lower()
            if "backend.userland.com/rss" in lower:
                raise Declined("a userland namespace")
            standard = _NAMESPACES.get(lower)
            if standard is None:
                if unknown_keys.setdefault(uri, prefix) != prefix:
                    raise Declined(f"namespace {uri} bound to two prefixes")
            elif prefix and prefix != standard and (standard or prefix.lower() in _STANDARD_PREFIXES):
                raise Declined(f"namespace {uri} under the prefix {prefix!r}")
        known = {prefix for prefix, uri in bound.items() if prefix and uri.lower() in _NAMESPACES}
        if any(prefix.lower() in known for prefix in unknown_keys.values()):
            raise Declined("a prefix for an unknown namespace shadows a known one")
        self.bound = bound
        self._cache: dict[str, str] = {}

    def of(self, element: Any) -> str:
        tag: str = element.tag
        name = self._cache.get(tag)
        if name is not None:
            return name
        if tag[0] != "{":
            name = tag.lower()
            self._cache[tag] = name
            return name
        uri, local = tag[1:].split("}", 1)
        standard = _NAMESPACES.get(uri.lower())
        if standard is None:  # the prefix the document gives it (one per namespace: see __init__)
            prefix = element.prefix
            return (f"{prefix}_{local}" if prefix else local).lower()
        name = (f"{standard}_{local}" if standard else local).lower()
        self._cache[tag] = name
        return name


def _attributes(element: Any) -> dict[str, str]:
    """The attributes as feedparser's handlers get them: names lowercased, ``rel`` and ``type``
    values too."""
    items = element.items()
    if not items:
        return {}
    out: dict[str, str] = {}
    for name, value in items:
        if name[0] == "{":
            if not name.startswith(_XML_ATTR):
                raise Declined(f"attribute {name} in a namespace")
            name = "xml:" + name[len(_XML_ATTR) :]
        key = name.lower()
        out[key] = value.lower() if key in ("rel", "type") else value
    return out


def _cleaned(output: str) -> str:
    """What feedparser does to every text it keeps: UTF-8 read as Latin-1 repaired, C1 controls
    as cp1252."""
    if output.isascii():
        return output
    try:
        output = output.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return output.translate(_CP1252)


def _text(element: Any) -> str:
    if len(element):
        raise Declined(f"element <{element.tag}> holds elements")
    text: str | None = element.text
    return text or ""


def _content_params(attrs: dict[str, str], default_type: str, base: str) -> dict[str, Any]:
    content_type = _map_content_type(attrs.get("type", default_type))
    if content_type not in _TEXT_TYPES or attrs.get("mode") == "base64":
        raise Declined(f"content of type {content_type}")
    return {"type": content_type, "base": base}


def _parsed_date(value: str) -> time.struct_time | None:
    parsed: time.struct_time | None = _parse_date(value)
    return parsed


class _Reader:
    """feedparser's reading of a feed, for the elements this path knows (see the module docstring).

    State kept as feedparser keeps it: the ``xml:base`` in scope (and its quirk: leaving an element
    whose parent had no base keeps the element's), the depth of the last title (a title at that
    depth or deeper is ignored), whether the current guid is a permalink, whether the entry had
    content, and the depth each entry key was set at.
    """

    def __init__(self, names: _Names, *, track_base: bool) -> None:
        self.names = names
        self.track_base = track_base
        self.version = ""
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.context: dict[str, Any] = self.feed
        self.in_entry = False
        self.depths: dict[str, int] = {}
        self.baseuri = ""
        self.basestack: list[str] = []
        self.title_depth = -1
        self.guidislink = False
        self.has_content = False

    # --- structure -----------------------------------------------------------------------------

    def _enter(self, element: Any) -> dict[str, str]:
        """feedparser's ``unknown_starttag`` bookkeeping: the attributes, and the base in scope."""
        attrs = _attributes(element)
        if self.track_base:
            base = attrs.get("xml:base", attrs.get("base")) or self.baseuri
            if self.baseuri:
                self.baseuri = make_safe_absolute_uri(self.baseuri, base) or self.baseuri
            else:
                self.baseuri = _urljoin(self.baseuri, base)
            self.basestack.append(self.baseuri)
        return attrs

    def _leave(self) -> None:
        if self.track_base and self.basestack:
            self.basestack.pop()
            if self.basestack and self.basestack[-1]:
                self.baseuri = self.basestack[-1]

    def read_rss(self, root: Any) -> None:
        if any(uri.lower() in _VERSION_NAMESPACES for uri in root.nsmap.values()):
            raise Declined("an RSS 1.0 namespace on an RSS root")
        attrs = self._enter(root)
        version = attrs.get("version", "")
        self.version = _RSS_VERSIONS.get(version) or ("rss20" if version.startswith("2.") else "rss")
        children = list(root)
        if len(children) != 1 or children[0].tag != "channel":
            raise Declined("an <rss> that does not hold one <channel>")
        channel = children[0]
        if {"lastmod", "href"} & self._enter(channel).keys():
            raise Declined("a CDF attribute on <channel>")
        self._read_feed_children(channel, depth=3, entry_name="item")
        self._leave()
        self._leave()

    def read_atom(self, root: Any) -> None:
        if any(uri.lower() in _VERSION_NAMESPACES for uri in root.nsmap.values()):
            raise Declined("an RSS 1.0 namespace on an Atom root")
        self.version = "atom10"
        if self._enter(root).keys() - {"xml:base", "xml:lang", "version"}:
            raise Declined("attributes on <feed>")
        self._read_feed_children(root, depth=2, entry_name="entry")
        self._leave()

    def _read_feed_children(self, parent: Any, *, depth: int, entry_name: str) -> None:
        for element in parent:
            name = self.names.of(element)
            if name == entry_name:
                self._read_entry(element, depth)
                continue
            attrs = self._enter(element)
            if name == "title":
                self._title(element, attrs, depth)
            elif name == "link":
                self._link(element, attrs)
            elif name in ("id", "guid"):
                self._guid(element, attrs)
            elif name == "image" and entry_name == "item":
                self._image(element, depth)
            elif name in _PEOPLE:
                self._skip_people(element)
            elif name in _FEED_SKIPPED:
                _text(element)
            else:
                self._unhandled(element, name)
            self._leave()

    def _read_entry(self, element: Any, depth: int) -> None:
        """``_start_item`` .. ``_end_item``: one entry and its children, one level deeper."""
        attrs = self._enter(element)
        if attrs.keys() - {"xml:base", "xml:lang"}:
            raise Declined("attributes on an entry")
        entry: dict[str, Any] = {}
        self.context = entry
        self.entries.append(entry)
        self.in_entry = True
        self.depths = {}
        self.guidislink = False
        self.title_depth = -1
        depth += 1
        for child in element:
            name = self.names.of(child)
            attrs = self._enter(child)
            handler = _ENTRY_HANDLERS.get(name)
            if handler is not None:
                handler(self, child, attrs, depth)
            elif name in _PEOPLE:
                if name == "contributor":
                    self._skip_people(child)
                else:
                    self._author(child, depth)
            elif name in _ENTRY_SKIPPED:
                _text(child)
            else:
                self._unhandled(child, name)
            self._leave()
        self.context = self.feed
        self.in_entry = False
        self.has_content = False
        self._leave()

    def _unhandled(self, element: Any, name: str) -> None:
        """An element none of the handlers here reads: fine when feedparser has no handler for it
        either, it holds no elements and the key it files it under is read by no one."""
        if name in _FEEDPARSER_HANDLES:
            raise Declined(f"element {name!r}")
        if name in _READ_KEYS or len(element):
            raise Declined(f"element {name!r} would change what is read")

    def _skip_people(self, element: Any) -> None:
        """An author or contributor whose details nothing reads (the feed's, an entry's contributor)."""
        for part in element:
            self._enter(part)
            if self.names.of(part) not in _PEOPLE_PARTS:
                raise Declined("an author with other elements than name, email and uri")
            _text(part)
            self._leave()

    def _image(self, element: Any, depth: int) -> None:
        """``<image>``: nothing of it is read, but its title moves the title depth."""
        self.title_depth = -1
        for part in element:
            self._enter(part)
            name = self.names.of(part)
            if name not in _IMAGE_PARTS:
                raise Declined(f"element {name!r} in <image>")
            if name == "title" and _text(part).strip():
                self.title_depth = depth + 1
            else:
                _text(part)
            self._leave()

    # --- feedparser's pop(): one text element's value ------------------------------------------

    def _value(self, element: str, text: str, params: dict[str, Any] | None) -> str:
        output = text.strip()
        if output and element in _RELATIVE_URI_ELEMENTS and (element != "id" or self.guidislink):
            output = _resolve(self.baseuri, output)
        if params is not None and params["type"] == "text/plain" and not self.version.startswith("atom"):  # noqa: SIM102
            if _looks_like_html(output):  # a plain-text RSS element that looks like HTML is HTML
                params["type"] = "text/html"
        return _cleaned(output)

    def _store(self, element: str, output: str, params: dict[str, Any] | None, depth: int) -> None:
        context = self.context
        if not self.in_entry:
            if element == "description":
                element = "subtitle"
            if element == "link":
                output = _QUERY_ENTITY.sub(r"&\g<1>", output) if "&" in output else output
            context[element] = output
            if params is not None and element != "link":
                context[element + "_detail"] = {**params, "value": output}
            return
        if element == "content":
            context.setdefault("content", []).append({**(params or {}), "value": output})
        elif element == "link":
            context["link"] = _QUERY_ENTITY.sub(r"&\g<1>", output.replace("&amp;", "&")) if "&" in output else output
        else:
            if element == "description":
                element = "summary"
            held = self.depths.get(element)
            if held is None or depth <= held:
                self.depths[element] = depth
                context[element] = output
            if params is not None:
                context[element + "_detail"] = {**params, "value": output}

    def _save(self, key: str, value: Any) -> None:
        self.context.setdefault(key, value)

    # --- the handlers ----------------------------------------------------------------------------

    def _title(self, element: Any, attrs: dict[str, str], depth: int) -> None:
        params = _content_params(attrs, "text/plain", self.baseuri)
        output = self._value("title", _text(element), params)
        if not -1 < self.title_depth <= depth:
            self._store("title", output, params, depth)
        if output:
            self.title_depth = depth

    def _link(self, element: Any, attrs: dict[str, str], depth: int = 0) -> None:
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" in attrs:
            if len(element):
                raise Declined("a <link href> holding elements")
            attrs["href"] = _resolve(self.baseuri, attrs["href"])
            if attrs["rel"] == "alternate" and _map_content_type(attrs["type"]) in _HTML_TYPES:
                self.context["link"] = attrs["href"]
        else:
            self._store("link", self._value("link", _text(element), None), None, depth)

    def _guid(self, element: Any, attrs: dict[str, str], depth: int = 0) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        value = self._value("id", _text(element), None)
        self._store("id", value, None, depth)
        if self.guidislink:
            self._save("link", value)

    def _description(self, element: Any, attrs: dict[str, str], depth: int) -> None:
        if "summary" in self.context and not self.has_content:
            self._content(element, attrs, depth)
        else:
            params = _content_params(attrs, "text/html", self.baseuri)
            self._store("description", self._value("description", _text(element), params), params, depth)

    def _summary(self, element: Any, attrs: dict[str, str], depth: int) -> None:
        if "summary" in self.context and not self.has_content:
            self._content(element, attrs, depth)
        else:
            params = _content_params(attrs, "text/plain", self.baseuri)
            self._store("summary", self._value("summary", _text(element), params), params, depth)

    def _content(self, element: Any, attrs: dict[str, str], depth: int, default_type: str = "text/plain") -> None:
        """``_start_content`` (or ``_start_content_encoded``, HTML by default) .. ``_end_content``."""
        self.has_content = True
        params = _content_params(attrs, default_type, self.baseuri)
        if default_type == "text/plain" and attrs.get("src"):
            params["src"] = attrs["src"]
        value = self._value("content", _text(element), params)
        self._store("content", value, params, depth)
        self._save("summary", value)

    def _content_encoded(self, element: Any, attrs: dict[str, str], depth: int) -> None:
        self._content(element, attrs, depth, "text/html")

    def _date(self, element: Any, attrs: dict[str, str], depth: int, *, key: str) -> None:
        value = self._value(key, _text(element), None)
        self._store(key, value, None, depth)
        self.context[key + "_parsed"] = _parsed_date(value)

    def _category(self, element: Any, attrs: dict[str, str], depth: int) -> None:
        tags: list[dict[str, str | None]] = self.context.setdefault("tags", [])
        _add_tag(tags, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
        value = self._value("category", _text(element), None)
        if value:
            if tags and not tags[-1]["term"]:
                tags[-1]["term"] = value
            else:
                _add_tag(tags, value, None, None)

    def _author(self, element: Any, depth: int) -> None:
        """``_start_author`` .. ``_end_author``: the entry's authors, as feedparser keeps them."""
        context = self.context
        context.setdefault("authors", []).append({})
        for part in element:
            self._enter(part)
            name = self.names.of(part)
            if name not in _PEOPLE_PARTS:
                raise Declined("an author with other elements than name, email and uri")
            if name in ("name", "email"):
                _save_author(context, name, _text(part).strip())
            else:
                value = self._value("href", _text(part), None)
                self._store("href", value, None, depth + 1)
                _save_author(context, "href", value)
            self._leave()
        text = (element.text or "") + "".join(part.tail or "" for part in element)
        self._store("author", self._value("author", text, None), None, depth)
        _sync_author(context)


def _save_author(context: dict[str, Any], key: str, value: str) -> None:
    """feedparser's ``_save_author``: one detail (name, email, href) of the current author."""
    context.setdefault("author_detail", {})[key] = value
    _sync_author(context)
    context.setdefault("authors", [{}])[-1][key] = value


def _sync_author(context: dict[str, Any]) -> None:
    """feedparser's ``_sync_author_detail``: ``author`` from the details, or the details from
    ``author`` (an email address in it is the email, the rest the name)."""
    detail = context.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name or email:
            context["author"] = name or email
        return
    author, email = context.get("author"), None
    if not author:
        return
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _add_tag(tags: list[dict[str, str | None]], term: str | None, scheme: str | None, label: str | None) -> None:
    if not (term or scheme or label):
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


_Handler = Callable[[_Reader, Any, dict[str, str], int], None]
_ENTRY_HANDLERS: dict[str, _Handler] = {
    "title": _Reader._title,
    "link": _Reader._link,
    "guid": _Reader._guid,
    "id": _Reader._guid,
    "description": _Reader._description,
    "summary": _Reader._summary,
    "content": _Reader._content,
    "content_encoded": _Reader._content_encoded,
    "category": _Reader._category,
    "dc_subject": _Reader._category,
    **{name: functools.partial(_Reader._date, key=key) for name, key in _DATES.items()},
}
"""Entry elements and the ``_Reader`` method that reads each as feedparser's handler does."""
