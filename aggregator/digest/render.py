"""Render a selection as the blog's Markdown, through a Jinja2 template.

The packaged template ``templates/weekly-notes.md.j2`` reproduces the weekly notes' format with
the macros of ``templates/lines.md.j2``; a user template (``digest.template``) replaces it and
gets the same values: data (sections, groups with their items and Region expansions, links as
text and URL), not Markdown, so it can lay them out its own way. Everything from a feed
reaches the template already made safe: text escaped for Markdown (brackets, emphasis,
backticks, raw HTML, Hugo shortcode braces), links kept only when they are http(s), front matter
strings quoted for YAML, comment text unable to close its comment. Pure: no clock, no I/O but
the template files.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from ..errors import ConfigError
from ..taxonomy import REGIONS, region_short_name
from . import words
from .ranking import Ranked
from .select import Featured, Selection
from .stories import Candidate, ServiceNames, Story
from .style import HouseStyle
from .words import PRIOR, Vocabulary

TEMPLATE = "weekly-notes.md.j2"
MACROS = "lines.md.j2"
"""The packaged macros that lay out links, sources and the lines of groups (``{% from "lines.md.j2"
import group_line %}`` in a template)."""
TEMPLATES = Path(__file__).parent / "templates"

SOURCE_LABELS = {"whats-new": "What's New", "news-blog": "AWS News Blog"}

# --- making feed text safe ---------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|~])")
_LINE_START = re.compile(r"^(\s*)([-+=>])")
_LINE_START_NUMBER = re.compile(r"^(\s*\d+)([.)])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def plain(text: str) -> str:
    """One line of text: control characters dropped, whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def md(text: str) -> str:
    """Escape text for Markdown inside a line: no emphasis, code, links, raw HTML, headings or
    Hugo shortcodes (``{{<``) can come out of it; it reads as the same text."""
    text = _MD_SPECIAL.sub(r"\\\1", plain(text))
    return _ENTITY.sub(r"\\&", text)


def md_paragraph(text: str) -> str:
    """``md`` for text that starts a paragraph: nor can it start a list, a quote or a rule."""
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), md(text))
    return _LINE_START_NUMBER.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


_URL_UNSAFE = re.compile(r"[\s\"'<>()\[\]{}\\^`|]")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that cannot break out of a Markdown link; None for anything else
    (``javascript:``, ``data:``, relative or malformed URLs)."""
    if not url:
        return None
    url = url.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url) or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), url)


def safe_path(url: str) -> str | None:
    """A site-relative URL ("/weekly-notes/week-34-2018/") or an http(s) one, made safe for a link."""
    url = url.strip()
    if url.startswith("/") and not url.startswith("//") and not _CONTROL.search(url):
        return _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), url)
    return safe_url(url)


_TAG = re.compile(r"<[^<>]*>")
_NOT_IN_TITLES = re.compile(r"[<>{}`*\[\]]")


def title_text(text: str) -> str:
    """Feed text for a front matter value or a heading: markup tags and the characters of HTML,
    shortcodes and emphasis taken out (a YAML string is safe anyway; templates print titles raw)."""
    return plain(_NOT_IN_TITLES.sub("", _TAG.sub("", text)))


_YAML_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/@-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def yaml_str(text: str, *, quote_always: bool = True) -> str:
    """A YAML scalar for the front matter: double-quoted and escaped (or plain when harmless)."""
    text = plain(text)
    if not quote_always and _YAML_PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def comment_safe(text: str) -> str:
    """Text for inside an HTML comment: it cannot end the comment nor hold a Hugo shortcode."""
    text = plain(text)
    while "--" in text:
        text = text.replace("--", "- -")
    return text.replace("{{", "{ {").replace("}}", "} }")


_LINK_TARGET = re.compile(r"(\]\([^()\s]*\))")


def comment_markdown(text: str) -> str:
    """A line of Markdown for inside an HTML comment (the reading list): its text as
    ``comment_safe`` makes it (no "--", no shortcode braces), its link targets as they are, so
    they keep working: a safe URL (``safe_url``) holds no "<" or ">", so no "-->", "--!>" or
    "<!--" can come out of one, and the comment stays valid and unclosable."""
    parts = _LINK_TARGET.split(_CONTROL.sub(" ", text))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue
        while "--" in part:
            part = part.replace("--", "- -")
        out.append(part.replace("{{", "{ {").replace("}}", "} }"))
    return "".join(out)


_KEYWORD = re.compile(r"[^a-z0-9-]")


def keyword(text: str) -> str:
    return _KEYWORD.sub("", text.lower())


# --- the blog's wording ------------------------------------------------------------------------

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def _number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def age_in_words(days: float) -> str:
    """The age in words: three weeks ago, a year ago, four and a half years ago."""
    if days < 1.5:
        return "a day ago"
    if days < 14:
        return f"{_number(round(days))} days ago"
    if days < 45:
        return f"{_number(round(days / 7))} weeks ago"
    if days < 320:
        months = round(days / 30.44)
        return "a month ago" if months == 1 else f"{_number(months)} months ago"
    halves = max(2, round(days / 365.25 * 2))
    years, half = divmod(halves, 2)
    if years == 1:
        return "a year and a half ago" if half else "a year ago"
    return f"{_number(years)} and a half years ago" if half else f"{_number(years)} years ago"


def day_label(when: dt.datetime, tz: dt.tzinfo, year: int) -> str:
    """A day as the drafts write it: 17 August, with the year when it is not the draft's."""
    local = when.astimezone(tz)
    text = f"{local.day} {local:%B}"
    return text if local.year == year else f"{text} {local.year}"


_LEAD_WORDS = re.compile(r"^(announcing|introducing|new:|new|now available:|launch:|coming soon:)\s+(the\s+)?", re.I)
_AMAZON = re.compile(r"\b(Amazon|AWS)\s+(?!Linux\b|Web Services\b)(?=[A-Z0-9])")
_GA = re.compile(r"\s+(is|are)\s+(now\s+)?generally available\b", re.I)
_VERB = (
    r"(now\s+)?(also\s+)?(supports?|adds?(\s+support\s+for)?|introduces?|announces?|launches?|offers?|"
    r"enables?(\s+you\s+to)?|provides?(\s+you(\s+with)?)?|brings?|gains?|gets?|allows?(\s+you\s+to)?|lets\s+you|"
    r"can\s+now|now\s+has|includes?|delivers?|unveils?|releases?)\b"
)
_VERB_AT_START = re.compile(r"^" + _VERB + r"\s*", re.I)
_LEADING_CONNECTOR = re.compile(r"^(for|and|with|on|in|to|of)\s+", re.I)
_REGION_CLAUSE = re.compile(
    r"\s+((is|are)\s+)?(now\s+)?(available\s+)?(in|to)\s+(the\s+)?((\w+|\d+)\s+)?(more|additional|new)\s+(aws\s+)?regions?\b.*$"
    r"|\s+((is|are)\s+)?(now\s+)?(available|expands?|launches)\s+(in|to|into)\b.*$",
    re.I,
)
_REGION_SHORT = {r.name.lower(): r.short for r in REGIONS.values()}
_REGION_LONG = re.compile(
    r"(the\s+)?("
    + "|".join(re.escape(r.name) for r in sorted(REGIONS.values(), key=lambda r: -len(r.name)))
    + r")(\s+Regions?)?",
    re.I,
)


def _shorten_regions(text: str) -> str:
    return _REGION_LONG.sub(lambda m: _REGION_SHORT[m.group(2).lower()], text)


def shorten(title: str, story_services: Sequence[str], names: ServiceNames) -> str:
    """A title with the services' long names replaced by their short ones ("Amazon Elastic
    Container Service" -> "ECS"), "Amazon"/"AWS" dropped, Region names shortened."""
    text = plain(title).rstrip(".")
    for key in story_services:
        pattern = names.long_names(key)
        if pattern is not None:
            short = names.short(key)
            text = pattern.sub(short.replace("\\", "\\\\"), text)  # a plain replacement, no group references
    text = _AMAZON.sub("", text)
    return " ".join(_shorten_regions(text).split())


def heading(story: Story, names: ServiceNames, vocabulary: Vocabulary = PRIOR) -> str:
    """A short topic heading in the author's words (see ``words.heading``): the service's name
    and what is new ("ECS Docker Volumes", "Fargate in Sydney"), a launch's full name ("AWS
    Security Hub")."""
    return title_text(words.heading(story, names, vocabulary))


def clause(story: Story, names: ServiceNames, vocabulary: Vocabulary = PRIOR) -> str:
    """The story as a plain clause of the Description ("ECS supports Docker volumes")."""
    return title_text(words.clause(story, names, vocabulary))


def phrase(story: Story, names: ServiceNames) -> str:
    """The story in a line under its service: the title without the service's name or a leading
    "now supports" ("Docker volumes and volume plugins")."""
    text = shorten(story.primary.title, story.services, names)
    text = _LEAD_WORDS.sub("", text)
    if story.service:
        short = names.short(story.service)
        rest = re.sub(r"^" + re.escape(short) + r"('s)?\s+", "", text, flags=re.I)
        # "EKS and EKS Distro support ...": the name is half of the subject, not a prefix to drop.
        if not re.match(r"^(and|&|or)\s", rest, re.I):
            text = rest
    text = _GA.sub(" generally available", text)
    text = _LEADING_CONNECTOR.sub("", _VERB_AT_START.sub("", text))
    text = " ".join(text.split())
    return text or shorten(story.primary.title, story.services, names)


def region_feature(story: Story, names: ServiceNames) -> str:
    """What a region expansion brings: the title without the service's name and the Region clause
    ("SnapStart for .NET"); empty when it is the service itself."""
    text = shorten(story.primary.title, story.services, names)
    text = _LEAD_WORDS.sub("", text)
    text = _REGION_CLAUSE.sub("", " " + text).strip()
    if story.service:
        short = names.short(story.service)
        text = re.sub(r"^" + re.escape(short) + r"('s)?(\s+|$)", "", text, flags=re.I)
        if re.fullmatch(r"v?[\d.]+", text):  # a version alone says nothing: "Glue 5.0"
            text = f"{short} {text}"
    return " ".join(_LEADING_CONNECTOR.sub("", text).split()).strip(" ,;:-")


_SHARED_SHORT = {short for short, n in Counter(r.short for r in REGIONS.values()).items() if n > 1}


def region_label(code: str) -> str:
    """A Region as a draft names it: Sydney; the long name where the short one is ambiguous,
    Mexico (Central), GovCloud (US-West)."""
    region = REGIONS.get(code)
    if region and (region.short in _SHARED_SHORT or region.name.startswith("AWS GovCloud")):
        return region.name.removeprefix("AWS ")
    return region_short_name(code)


# --- the view the template sees ----------------------------------------------------------------
#
# Data, not Markdown: texts escaped for Markdown, URLs made safe, and the template lays them out
# (the packaged one with the macros of ``templates/lines.md.j2``). The ``link``, ``label`` and
# ``line`` values that templates written before got, Markdown ready to print, are properties made
# by those same macros: the Markdown stays in the templates.


@functools.cache
def _macros() -> Any:
    """The packaged macros (``lines.md.j2``) as a module: its macros are callables."""
    env, _ = environment()
    return env.get_template(MACROS).module


@dataclass(frozen=True)
class Link:
    text: str
    """Markdown-safe."""
    url: str
    """Safe in a Markdown link: http(s), or site-relative for earlier notes."""

    @property
    def link(self) -> str:
        """``[text](url)``."""
        return str(_macros().link(self.text, self.url))


@dataclass(frozen=True)
class Source:
    """A post of a featured story; under ``related``, the lead post of another story of its service."""

    title: str
    """Markdown-safe."""
    url: str
    where: str
    """Where and when: What's New, 17 August (Markdown-safe)."""
    also: tuple[Link, ...] = ()
    """A related story's other sources (community posts aside), by their titles."""

    @property
    def link(self) -> str:
        """``[title](url)``."""
        return str(_macros().link(self.title, self.url))

    @property
    def label(self) -> str:
        """``where``, then ``also`` as links: What's New, 17 August; [title](url)."""
        return str(_macros().source_label(self))


@dataclass(frozen=True)
class PreviouslyView:
    label: str
    """The earlier note's name: Week 20, 2024 (Markdown-safe)."""
    url: str
    context: str
    """What it said about the service: the heading of its section (Markdown-safe)."""

    @property
    def link(self) -> str:
        return str(_macros().link(self.label, self.url))


@dataclass(frozen=True)
class HistoryView:
    age: str
    """four and a half years ago"""
    title: str
    url: str
    month: str
    """November 2019"""

    @property
    def link(self) -> str:
        return str(_macros().link(self.title, self.url))


@dataclass(frozen=True)
class Section:
    heading: str
    service: str
    sources: tuple[Source, ...]
    related: tuple[Source, ...]
    previously: tuple[PreviouslyView, ...]
    history: HistoryView | None


@dataclass(frozen=True)
class Item:
    """A story in its service's group (or a post of the community corner)."""

    text: str
    """Markdown-safe: what is new ("JSON structured logs for Ruby functions"); for a Region
    expansion what it brings ("SnapStart"), or its Regions when it is the service itself."""
    url: str
    regions: str = ""
    """A Region expansion's Regions: Canada (Central), London, Sydney (Markdown-safe)."""
    feature: str = ""
    """A Region expansion's feature ("SnapStart"); empty when it is the service itself."""
    region_count: int | None = None
    """How many Regions the expansion adds (the tagger's count); None when it does not say."""
    also: tuple[Link, ...] = ()
    """The story's other sources (community posts aside), by where they come from: AWS News Blog."""

    @property
    def link(self) -> str:
        """``[text](url)``, its Regions after a feature, its other sources in brackets."""
        return str(_macros().item_link(self))


@dataclass(frozen=True)
class Group:
    """One service's stories, its Region expansions apart."""

    service: str
    """The service's short name, else ``OTHER`` (Markdown-safe)."""
    items: tuple[Item, ...]
    regions: tuple[Item, ...]
    """Its Region expansions."""
    region_count: int | None
    """Distinct Regions of the expansions; None when some expansion did not say how many."""
    regions_added: str = ""
    """The Regions in words: "four more Regions", "one more Region"; "more Regions" when the count
    is not known."""

    @property
    def line(self) -> str:
        """The group in a line, as the packaged template writes it."""
        return str(_macros().group_line(self))


@dataclass(frozen=True)
class FrontMatter:
    title: str
    slug: str
    blog: str
    author: str
    date: str
    keywords: tuple[str, ...]
    description: str
    draft: bool
    categories: tuple[str, ...] = ('"Weekly Notes"',)
    """YAML scalars."""


def _label(post: Candidate) -> str:
    """Where a post comes from: What's New, AWS News Blog, else its feed's title."""
    return SOURCE_LABELS.get(post.source, post.feed_title)


def _source(post: Candidate, url: str, tz: dt.tzinfo, year: int, also: Sequence[Link] = ()) -> Source:
    where = f"{md(_label(post))}, {day_label(post.date, tz, year)}"
    return Source(md(post.title) or md(url), url, where, tuple(also))


def _linked(posts: Iterable[Candidate]) -> list[tuple[Candidate, str]]:
    """The posts that have a link to give, with it."""
    return [(post, url) for post in posts if (url := safe_url(post.url))]


def _related(story: Story, tz: dt.tzinfo, year: int) -> Source | None:
    """Another story of a featured story's service: its lead post, with the others as links."""
    linked = _linked(story.posts)
    if not linked:
        return None
    (lead, url), rest = linked[0], linked[1:]
    also = [Link(md(p.title) or md(u), u) for p, u in rest if p.source != "community"]
    return _source(lead, url, tz, year, also)


def _history(featured: Featured, tz: dt.tzinfo) -> HistoryView | None:
    if featured.history is None:
        return None
    post = featured.history.post
    url = safe_url(post.url)
    if not url:
        return None
    days = (featured.ranked.story.date - post.date).total_seconds() / 86400
    return HistoryView(age_in_words(days), md(post.title) or md(url), url, post.date.astimezone(tz).strftime("%B %Y"))


def _section(
    featured: Featured, names: ServiceNames, tz: dt.tzinfo, year: int, vocabulary: Vocabulary = PRIOR
) -> Section:
    story = featured.ranked.story
    related = (_related(other.story, tz, year) for other in featured.related)
    previously = (
        PreviouslyView(md(p.note.label), url, md(p.context))
        for p in featured.previously
        if (url := safe_path(p.note.url))
    )
    return Section(
        heading=md(heading(story, names, vocabulary)),
        service=md(names.short(story.service)) if story.service else "",
        sources=tuple(_source(post, url, tz, year) for post, url in _linked(story.posts)),
        related=tuple(r for r in related if r is not None),
        previously=tuple(previously),
        history=_history(featured, tz),
    )


# --- the lines of the lists ---------------------------------------------------------------------

OTHER = "Other"
"""The group of the stories about no service (never a feed's name)."""

_FILLER = {"and", "or", "&", "for", "with", "on", "in", "to", "of", "the", "a", "an", "at", "by", "now"}
_IS_NOW = re.compile(r"^(is|are)\s+(now\s+)?", re.I)
_NOW_FIRST = re.compile(r"^now\s+", re.I)


def _name(short: str, *, alone: bool = True) -> str:
    """A service's name as a pattern: whole words ("Lambda", not "Lambda@Edge"), with or without
    its "AWS"/"Amazon" ("AWS IQ", "IQ"); ``alone``: not the start of a longer name ("S3 Object
    Lambda")."""
    names = {short, re.sub(r"^(Amazon|AWS)\s+", "", short)}
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = r"(?<![\w@-])(?:" + alternatives + r")(?![\w@-])"
    return pattern + (r"(?!\s+(?!" + _NOT_A_NAME + r"\b)[A-Z0-9])" if alone else "")


_NOT_A_NAME = r"(?i:now|is|are|in|and|or|with|for|to|on|via|generally|available|beta|preview|support|supports)"
"""Capitalised words that may follow a service's name without making a longer name of it."""


def _support_for(text: str, short: str) -> str:
    """ "Rekognition now supports PrivateLink" under PrivateLink -> "support for Rekognition"; the
    same for "integrates with" ("integration with ...") and "adds support for"."""
    match = re.match(
        r"^(?P<subject>.+?)\s+(?i:now\s+)?(?P<verb>(?i:supports?|adds?\s+support\s+for|integrates?\s+with|works\s+with))\s+"
        r"(?i:the\s+)?" + _name(short) + r"(?P<rest>(?:\s+(?i:in|for|with|on|across|to|via|and|as)\b.*|[,;:.].*)?)$",
        text,
    )
    if not match:
        return text
    noun = "integration with" if match.group("verb").lower().startswith("integrat") else "support for"
    return f"{noun} {match.group('subject')}{match.group('rest')}"


def _without_service(text: str, short: str) -> str:
    """The text without the name of the service its group is labelled with: as a prefix ("S3
    Batch Operations"), in brackets ("VPC (VPC) ..."), as where it happens ("... on CloudFront")
    or as what another service now supports. "EKS and EKS Distro ...": the name is half of the
    subject, it stays."""
    rest = re.sub(r"^" + _name(short, alone=False) + r"('s)?\s+", "", text)
    if not re.match(r"^(and|&|or)\s", rest, re.I):
        text = _IS_NOW.sub("", rest)
    text = re.sub(r"\s*\(\s*" + _name(short) + r"\s*\)", "", text)
    text = _support_for(text, short)
    where = re.sub(r"\s+(?i:on|for|in|to|with|from|into|of|via)\s+(?i:the\s+)?" + _name(short), "", text)
    return where if where.strip() else text


def _words(text: str) -> int:
    """Words that say something: connectors and articles not counted."""
    return sum(1 for word in text.split() if word.lower() not in _FILLER)


def item_text(story: Story, names: ServiceNames) -> str:
    """A story in its group's line: what is new, in its own words ("Docker volumes and volume
    plugins"), without the group's service name, without "Announcing" or "now supports" unless
    two words or fewer would be left ("supports Python 3.13", "support for Rekognition")."""
    full = shorten(story.primary.title, story.services, names)
    text = _LEAD_WORDS.sub("", full)
    if story.service:
        text = _without_service(text, names.short(story.service))
    text = " ".join(_GA.sub(" generally available", text).split())
    shorter = _LEADING_CONNECTOR.sub("", _VERB_AT_START.sub("", text))
    text = shorter if _words(shorter) > 2 else _NOW_FIRST.sub("", text)
    return text.strip(" ,;:-") or full


def _region_text(story: Story, names: ServiceNames) -> str:
    """A Region expansion that says neither its feature nor its Regions: its title without the
    service ("available in nine Regions")."""
    text = _LEAD_WORDS.sub("", shorten(story.primary.title, story.services, names))
    if story.service:
        text = _without_service(text, names.short(story.service))
    text = _NOW_FIRST.sub("", _IS_NOW.sub("", text)).strip(" ,;:-")
    return text or shorten(story.primary.title, story.services, names)


def _item(story: Story, url: str, names: ServiceNames) -> Item:
    also = tuple(Link(md(_label(p)), u) for p, u in _linked(story.posts[1:]) if p.source != "community")
    if story.kind != "region-expansion":
        return Item(md(item_text(story, names)), url, also=also)
    feature = md(region_feature(story, names))
    where = md(", ".join(sorted(region_label(code) for code in story.regions)))
    count = len(story.regions) if story.regions else story.region_count
    return Item(feature or where or md(_region_text(story, names)), url, where, feature, count, also)


def _regions_added(count: int | None) -> str:
    if not count:
        return "more Regions"
    return f"{_number(count)} more Region{'s' if count != 1 else ''}"


def groups(ranked: Sequence[Ranked], names: ServiceNames) -> tuple[Group, ...]:
    """Stories by service, best first, those about no service last under ``OTHER``; Region
    expansions apart, with the Regions they add in all (distinct Regions named, plus those only
    counted)."""
    by_service: dict[str, list[Ranked]] = {}
    for r in ranked:
        by_service.setdefault(r.story.service, []).append(r)
    if "" in by_service:
        by_service[""] = by_service.pop("")  # last
    out = []
    for service, members in by_service.items():
        items, regions = [], []
        codes: set[str] = set()
        counted: list[int | None] = []
        for story in (r.story for r in members):
            url = safe_url(story.primary.url)
            if not url:
                continue
            item = _item(story, url, names)
            if story.kind != "region-expansion":
                items.append(item)
                continue
            regions.append(item)
            codes.update(story.regions)
            if not story.regions:
                counted.append(story.region_count)
        if not items and not regions:
            continue
        count = None if None in counted else len(codes) + sum(c or 0 for c in counted)
        name = md(names.short(service)) if service else OTHER
        out.append(Group(name, tuple(items), tuple(regions), count, _regions_added(count)))
    return tuple(out)


def description(selection: Selection, vocabulary: Vocabulary = PRIOR) -> str:
    """One plain clause per featured story, about as long as the author's Descriptions ("ECS
    supports Docker volumes, and S3 adds same-region replication.")."""
    stories = [f.ranked.story for f in selection.featured]
    if not stories:
        if selection.problems:  # a silent source is not a quiet week
            return "Nothing new to feature yet, but some sources had problems: see the note at the end."
        return "A quiet week: nothing new to feature yet."
    titles = [p.title for r in selection.ranked for p in r.story.posts]
    proper, common = words.proper_words(titles), words.lowercase_words(titles)
    return title_text(words.description(stories, selection.names, vocabulary, proper=proper, common=common))


def front_matter(
    selection: Selection,
    *,
    year: int,
    week: int,
    slug: str,
    blog: str,
    author: str,
    draft: bool,
    categories: Sequence[str] = ("Weekly Notes",),
    vocabulary: Vocabulary = PRIOR,
) -> FrontMatter:
    names = selection.names
    stories = [f.ranked.story for f in selection.featured]
    title = words.title(week, year, [heading(story, names, vocabulary) for story in stories], vocabulary)
    found = words.keywords(stories, names, vocabulary, selection.keyword_topics)
    return FrontMatter(
        title=yaml_str(title),
        slug=yaml_str(slug, quote_always=False),
        blog=yaml_str(blog, quote_always=False) if blog else "",
        author=yaml_str(author, quote_always=False) if author else "",
        date=selection.at.isoformat(timespec="seconds"),
        keywords=tuple(dict.fromkeys(k for k in (keyword(w) for w in found) if k)),
        description=yaml_str(description(selection, vocabulary)),
        draft=draft,
        categories=tuple(yaml_str(c) for c in categories),
    )


@dataclass(frozen=True, kw_only=True)
class Layout:
    """The settings rendering needs (from ``digest``)."""

    heading_level: int = 2
    also_title: str = "Also this week"
    earlier_title: str = "Earlier, not covered yet"
    community_title: str = "Ambassador Corner"
    blog: str = ""
    author: str = ""
    draft: bool = True
    categories: tuple[str, ...] = ("Weekly Notes",)
    footnote: str = "[^1]:\t"
    """The footnote placeholder at the end; empty: none."""
    publish_lists: bool = False
    """The other stories as published lists; False: a reading list in an unpublished comment."""
    style: HouseStyle | None = None
    """The house style the values above come from, with what else it learned (keywords,
    the Description's length)."""


def view(
    selection: Selection,
    *,
    year: int,
    week: int,
    slug: str,
    layout: Layout,
    tz: dt.tzinfo,
    vocabulary: Vocabulary = PRIOR,
) -> dict[str, object]:
    """The values the template gets; ``vocabulary``: the author's words, learned from their notes."""
    names = selection.names
    also = groups(selection.also, names)
    earlier = groups(selection.earlier, names) if layout.earlier_title else ()
    community = [Item(md(c.title) or md(url), url) for c in selection.community if (url := safe_url(c.url))]
    listed = len(selection.also) + (len(selection.earlier) if layout.earlier_title else 0)
    unlisted = selection.earlier_unlisted if layout.earlier_title else 0
    related = sum(len(f.related) for f in selection.featured)
    problems = [f"{comment_safe(p.feed)}: {comment_safe(p.text)}" for p in selection.problems]
    problems += [f"notes folder: {comment_safe(text)} (not read)" for text in selection.notes_skipped]
    if selection.untagged:
        n = selection.untagged
        problems.append(
            f"archive: {n} post{'s' if n != 1 else ''} of this window {'are' if n != 1 else 'is'} not tagged"
            " (stored before tagging existed): the draft knows no services or kinds of theirs;"
            " `aggregator tag` tags them"
        )
    window = (
        f"{selection.window_start.astimezone(tz):%Y-%m-%d %H:%M} to {selection.at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    )
    counts = (
        f"{len(selection.ranked)} stories not covered by earlier notes: {len(selection.featured)} featured"
        f" (with {related} related), {listed} listed"
        + (f" ({unlisted} more from before the previous note left out: digest.earlier_max)" if unlisted else "")
        + (f"; {len(selection.covered)} covered by earlier notes" if selection.covered else "")
    )
    previous = (
        f"previous note: {comment_safe(selection.previous.label)} ({selection.previous.date:%Y-%m-%d})"
        if selection.previous
        else "no previous note"
    )
    front = front_matter(
        selection,
        year=year,
        week=week,
        slug=slug,
        blog=layout.blog,
        author=layout.author,
        draft=layout.draft,
        categories=layout.categories,
        vocabulary=vocabulary,
    )
    return {
        "front": front,
        "description": md_paragraph(description(selection, vocabulary)),
        "h": "#" * layout.heading_level,
        "h_sub": "#" * min(layout.heading_level + 1, 6),
        "sections": [_section(f, names, tz, year, vocabulary) for f in selection.featured],
        "publish_lists": layout.publish_lists,
        "footnote": layout.footnote,
        "also_title": md(layout.also_title),
        "also": also,
        "earlier_title": md(layout.earlier_title),
        "earlier": earlier,
        "community_title": md(layout.community_title),
        "community": community,
        "problems": problems,
        "window": window,
        "counts": comment_safe(counts),
        "previous": previous,
        "year": year,
        "week": week,
    }


def environment(template: Path | None = None) -> tuple[jinja2.Environment, str]:
    """The Jinja2 environment and the template's name: the packaged one, or the user's file. A
    user template's folder is searched first, then the packaged one (for its macros, ``MACROS``)."""
    folders = [str(TEMPLATES)] if template is None else [str(template.parent), str(TEMPLATES)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=False,  # Markdown, not HTML: the values are escaped for Markdown instead
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    env.filters["safe_url"] = safe_url
    env.filters["comment"] = comment_markdown
    return env, template.name if template is not None else TEMPLATE


def render(
    selection: Selection,
    *,
    year: int,
    week: int,
    slug: str,
    layout: Layout,
    tz: dt.tzinfo,
    template: Path | None = None,
    vocabulary: Vocabulary = PRIOR,
) -> str:
    env, name = environment(template)
    values = view(selection, year=year, week=week, slug=slug, layout=layout, tz=tz, vocabulary=vocabulary)
    try:
        text = env.get_template(name).render(**values)
    except jinja2.TemplateError as exc:
        where = str(template) if template else name
        raise ConfigError(f"the draft template failed: {exc}", path=where) from None
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
