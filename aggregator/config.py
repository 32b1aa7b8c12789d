"""Configuration: TOML files -> frozen dataclasses.

Every setting is a field of one of the section dataclasses below, with its default and its help
text in the field's metadata: that is the one table of settings (``aggregator settings`` prints
it, the README documents it and a test checks both stay in step).

A configuration file holds settings tables (``[general]``, ``[http]``, ``[poll]``, ...) and,
optionally, ``[[feeds]]`` tables. Settings it omits keep their defaults. Without ``[[feeds]]``
the feed list comes from ``general.feeds_file`` (relative to the configuration file), and
without that from the shipped default list. Any mistake fails at load time with the file, the
key and what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import tomllib
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NewType
from urllib.parse import urlsplit

from .errors import ConfigError
from .models import KINDS

Seconds = NewType("Seconds", float)
"""A duration. Written in TOML as a number of seconds or as a string: ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``."""

FEED_KINDS = ("aws-whats-new", "aws-blog", "community", "other")
FeedKind = Literal["aws-whats-new", "aws-blog", "community", "other"]

ENV_CONFIG = "AGGREGATOR_CONFIG"
ENV_DB = "AGGREGATOR_DB"
ENV_LISTEN = "AGGREGATOR_LISTEN"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


Report = typing.Callable[[ConfigError], None]
"""Where a problem goes: ``raise_`` (the commands: the first one stops them) or a list's
``append`` (``aggregator config check``: every one is listed)."""


def raise_(error: ConfigError) -> None:
    raise error


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _type_hints(cls: type[Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` of a settings or feed class, worked out once: it evaluates every
    annotation each time, and a feed list of hundreds of feeds asked for it once a feed."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def setting(default: Any, help: str) -> Any:
    """A settings field: its default and the sentence that documents it."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, kw_only=True)
class GeneralSettings:
    database: str = setting(
        "aggregator.db",
        "SQLite archive path (relative to the working directory). `AGGREGATOR_DB` and `--db` override it.",
    )
    drafts_dir: str = setting("drafts", "Folder the weekly drafts are written to (relative to the working directory).")
    timezone: str = setting(
        "UTC", "IANA time zone of the author: publication dates, week numbers and the `Date` offset use it."
    )
    feeds_file: str = setting(
        "",
        "TOML file with the `[[feeds]]` list, relative to this configuration file. Empty: the `[[feeds]]` in this file, else the shipped default list.",
    )
    log_level: str = setting("INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.")


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    user_agent: str = setting(
        "aggregator/{version} (AWS weekly-notes feed poller)",
        "User-Agent header sent with every request; `{version}` becomes the package version. Add a contact address, e.g. `aggregator/{version} (+mailto:you@example.com)`.",
    )
    connect_timeout: Seconds = setting(Seconds(10.0), "Time allowed to open a connection.")
    read_timeout: Seconds = setting(Seconds(30.0), "Time allowed between two reads of the response.")
    total_timeout: Seconds = setting(
        Seconds(60.0),
        "Time allowed for a whole request, redirects included; a server that trickles bytes is cut off here.",
    )
    max_bytes: int = setting(10 * 1024 * 1024, "Largest response body accepted, in bytes, as sent on the wire.")
    max_decompressed_bytes: int = setting(
        50 * 1024 * 1024, "Largest body accepted after gzip/deflate decoding, in bytes."
    )
    max_redirects: int = setting(5, "Redirects followed before a request fails.")
    per_host: int = setting(
        2, "Requests in flight at once to one host (nearly every AWS feed lives on aws.amazon.com)."
    )
    max_workers: int = setting(8, "Feeds polled concurrently, across all hosts.")


@dataclass(frozen=True, kw_only=True)
class PollSettings:
    interval: Seconds = setting(
        Seconds(3600.0),
        "Poll interval of a feed whose kind has no entry in `kind_intervals` and that sets no `interval` itself.",
    )
    kind_intervals: dict[str, Seconds] = setting(
        {
            "aws-whats-new": Seconds(900.0),
            "aws-blog": Seconds(3600.0),
            "community": Seconds(3600.0),
            "other": Seconds(7200.0),
        },
        "Poll interval per feed kind.",
    )
    min_interval: Seconds = setting(
        Seconds(300.0), "No feed is polled more often than this, whatever its own `interval` says."
    )
    jitter: float = setting(
        0.1, "Random spread added to every interval and backoff, as a fraction of it (0.1 = up to 10%)."
    )
    backoff_initial: Seconds = setting(
        Seconds(300.0), "Delay before retrying a feed after its first failure; doubled after each further failure."
    )
    backoff_max: Seconds = setting(
        Seconds(86400.0), "Longest delay between two retries of a failing feed (a feed is never disabled by errors)."
    )
    parse_processes: int = setting(
        2,
        "Worker processes that parse feeds when a poll fetches many at once (a first poll, a long list); 0 parses in the polling threads.",
    )
    retry_after_max: Seconds = setting(
        Seconds(86400.0), "Longest `Retry-After` honoured; a server asking for more is retried after this."
    )


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    listen: str = setting(
        "127.0.0.1:8080",
        "Address (`host:port`) of the health and metrics endpoint of `aggregator run` (`/healthz`, `/metrics`); empty turns it off. `AGGREGATOR_LISTEN` overrides it (the container sets `0.0.0.0:8080`).",
    )
    shutdown_grace: Seconds = setting(
        Seconds(6.0),
        "On SIGTERM or SIGINT, how long polls in flight may take to finish; those still running then are abandoned, nothing of them written. Keep it under the 10 s a container runtime waits before SIGKILL.",
    )
    misfire_grace_time: Seconds = setting(
        Seconds(3600.0),
        "A scheduled poll or weekly draft that could not start on time still runs if it is at most this late; a later one is logged as missed.",
    )
    digest_enabled: bool = setting(
        True,
        "Write the weekly draft from `aggregator run` (into `general.drafts_dir`, never overwriting a draft that exists).",
    )
    digest_weekday: str = setting(
        "monday", "Day of the week the weekly draft is written, by name (`monday` to `sunday`), in `general.timezone`."
    )
    digest_hour: int = setting(9, "Hour (0-23) the weekly draft is written on `digest_weekday`, in `general.timezone`.")


SOURCE_TYPES = ("whats-new", "news-blog", "aws-blog", "community", "other", "roundup")
"""What a post is as a source of a story: a What's New item, an AWS News Blog post, another AWS
blog's post, a community post, anything else; ``roundup``: a post that links many stories at once."""

ANNOUNCEMENT_KINDS = KINDS
"""The tagger's kinds of announcement: what ``digest.kind_weights`` may weigh."""

DEFAULT_SOURCE_WEIGHTS: dict[str, float] = {
    "whats-new": 1.0,
    "news-blog": 3.0,
    "aws-blog": 1.5,
    "community": 0.5,
    "other": 0.5,
    "roundup": 0.25,
}
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "new-service": 3.0,
    "general-availability": 2.5,
    "preview": 1.5,
    "new-feature": 1.0,
    "price-change": 1.0,
    "deprecation": 0.5,
    "other": 0.5,
    "new-instance-types": -0.5,
    "region-expansion": -1.5,
    "training": -2.0,
}
"""Defaults of ``digest.source_weights`` and ``digest.kind_weights``; a file's table overrides only the keys it sets."""

RANKINGS = ("learned", "rules", "newest")
"""Values of ``digest.ranking``."""

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_PATTERN_FIELDS = {"slug", "year", "week"}
_FOOTNOTE_RE = re.compile(r"^\[\^[^\]\s]+\]:[ \t]?$")


@dataclass(frozen=True, kw_only=True)
class DigestSettings:
    notes_dir: str = setting(
        "",
        "The author's published notes, e.g. a Hugo `content/weekly-notes` folder, relative to this configuration file (`--notes-dir` overrides it). Their front matter and links say which stories and services earlier notes covered. Empty: no earlier notes.",
    )
    url_pattern: str = setting(
        "/weekly-notes/{slug}/",
        "Site-relative URL of a note as the blog publishes it; `{slug}`, `{year}` (ISO year) and `{week}` are filled in. Links to earlier notes are recognised by it.",
    )
    slug_pattern: str = setting(
        "week-{week}-{year}",
        "The `slug` of a draft (and of a note whose front matter has none); `{year}` and `{week}` are the ISO year and week of its date.",
    )
    blog: str = setting("", "The `blog` value of the front matter (omitted when empty).")
    author: str = setting("", "The `author` value of the front matter (omitted when empty).")
    draft: bool = setting(
        True, "Add `draft: true` to the front matter (Hugo then builds the page only with `--buildDrafts`)."
    )
    publish_time: str = setting(
        "09:00",
        "Time of day (`HH:MM`, in `general.timezone`) of the publication: the front matter's `Date` and the end of the window. Unless set here, learned from the notes (when the author usually publishes).",
    )
    window: Seconds = setting(
        Seconds(28 * 86400.0),
        "How far back from the publication time stories are candidates. A story no earlier note covered qualifies even when it predates the previous note.",
    )
    max_featured: int = setting(4, "Featured stories at most: one section each, their headings make the title.")
    heading_level: int = setting(
        2,
        "Markdown heading level of the sections (2: `##`; the blog's posts before 2020 used 1). Unless set here, learned from the notes (the latest note's level).",
    )
    categories: list[str] = setting(
        ["Weekly Notes"],
        "The `categories` of the front matter. Unless set here, learned from the notes (the latest note's).",
    )
    keywords_max: int = setting(
        0,
        "Keywords in a draft's front matter at most, `aws` included; 0: no limit. Unless set here, learned from the notes (how many they usually have).",
    )
    keyword_aws: bool = setting(
        True,
        "`aws` is one of a draft's keywords. Unless set here, learned from the notes (whether most recent notes about AWS have it).",
    )
    description_words: int = setting(
        0,
        "The Description's length budget in words; 0: none. Unless set here, learned from the notes (their usual length).",
    )
    footnote: str = setting(
        "[^1]:\t",
        "The footnote placeholder at the end of a draft; empty: none. Unless set here, learned from the notes (how they write footnotes, or that they write none).",
    )
    publish_lists: bool = setting(
        False,
        "Publish the other stories as lists in the draft (`also_title`, `earlier_title`). False: they go into an HTML comment Hugo does not publish, as a reading list, and there is nothing to delete.",
    )
    also_title: str = setting(
        "Also this week",
        "Heading of the list of the other stories since the previous note, by service (in the reading list unless `publish_lists`).",
    )
    earlier_title: str = setting(
        "Earlier, not covered yet",
        "Sub-heading of the uncovered stories from before the previous note (catching up); empty leaves them out of the draft (`--explain` still ranks them).",
    )
    earlier_max: int = setting(
        12,
        "Stories listed under `earlier_title` at most, best first (the list of an author back from a break gets long; `--explain` ranks them all).",
    )
    community_title: str = setting(
        "Ambassador Corner",
        "Heading of the bullet list of community posts. Unless set here, learned from the notes (the heading of their bare list of links).",
    )
    community_max: int = setting(6, "Community posts listed at most, best first; 0 leaves the section out.")
    previously_max: int = setting(
        2, 'Earlier notes linked under "Previously" per featured story at most, newest first.'
    )
    template: str = setting(
        "",
        "A Jinja2 template that replaces the packaged `weekly-notes.md.j2`, relative to this configuration file. Empty: the packaged one.",
    )
    ranking: str = setting(
        "learned",
        "How stories are ranked: `learned` (a profile of the author's interests learned from the notes in `notes_dir`; the rule-based ranking while the notes hold no example), `rules` (the rule-based score below) or `newest`.",
    )
    pin_services: list[str] = setting(
        [], "Services (registry keys) whose stories always rank first when present, whatever the ranking says."
    )
    mute_services: list[str] = setting(
        [], "Services (registry keys) whose stories are never featured (they rank last, still listed)."
    )
    pin_topics: list[str] = setting([], "Topics (e.g. `serverless`) whose stories always rank first when present.")
    mute_topics: list[str] = setting([], "Topics whose stories are never featured (they rank last, still listed).")
    interest_services: dict[str, float] = setting(
        {},
        "The author's interest per service (registry key, e.g. `{ cloudformation = 2, ecs = 1.5 }`), added to the score of stories about it (the highest applies).",
    )
    interest_topics: dict[str, float] = setting(
        {},
        "The author's interest per topic (e.g. `{ serverless = 1.5, containers = 1 }`), added to the score of stories with that topic (the highest applies).",
    )
    source_weights: dict[str, float] = setting(
        DEFAULT_SOURCE_WEIGHTS,
        "Score of each source of a story, by type: `whats-new`, `news-blog` (aws.amazon.com/blogs/aws/), `aws-blog`, `community`, `other`, and `roundup` (a post linking three stories or more, counted as a mention of each).",
    )
    kind_weights: dict[str, float] = setting(
        DEFAULT_KIND_WEIGHTS,
        "Score of a story by the kind of its announcement (the tagger's kinds).",
    )
    recency_weight: float = setting(
        1.0, "Score of a story published at the publication time, falling to 0 for one at the start of the window."
    )
    novelty_weight: float = setting(1.0, "Score added to a story published since the previous note.")
    keyword_topics: list[str] = setting(
        ["serverless", "containers", "kubernetes", "security", "cicd", "machinelearning"],
        "Topics that go into a draft's `keywords` when a featured story has them, as the blog's own keywords (`serverless`, `cicd`); the registry's broad areas (`compute`, `networking`, `devtools`) stay out unless listed.",
    )
    cluster_days: int = setting(
        3, "Posts about the same service with similar titles at most this many days apart are one story."
    )

    def publish_clock(self) -> tuple[int, int]:
        """``publish_time`` as (hour, minute)."""
        match = _TIME_RE.match(self.publish_time)
        if not match:
            raise ValueError(f"expected HH:MM, got {self.publish_time!r}")
        return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True, kw_only=True)
class BackfillSettings:
    api_url: str = setting(
        "https://aws.amazon.com/api/dirs/items/search",
        "The JSON directory API behind the What's New pages, read by `aggregator backfill` and by gap repairs.",
    )
    site_url: str = setting(
        "https://aws.amazon.com",
        "Base the API's site-relative `headlineUrl` is resolved against (the host of the What's New pages).",
    )
    directory_id: str = setting("whats-new-v2", "`item.directoryId` of the What's New directory.")
    locale: str = setting("en_US", "`item.locale` asked of the API.")
    page_size: int = setting(
        100, "Items asked per page (`size`, 1-2000). Public clients use 100; 2000 is the largest seen to work."
    )
    max_pages: int = setting(
        100,
        "Pages read per query at most: the API serves nothing past the 100th page, which is why history is read one year at a time.",
    )
    year_tag: str = setting(
        "whats-new-v2#year#{year}",
        "`tags.id` that splits the history by year (`{year}` is replaced); empty reads one query, newest first, up to `max_pages`.",
    )
    pause: Seconds = setting(Seconds(1.0), "Pause between two pages: one request at a time, never faster than this.")
    max_retries: int = setting(
        5,
        "Tries of a page after a 429, a 5xx or a network error before the backfill stops (it resumes from that page).",
    )
    backoff_initial: Seconds = setting(
        Seconds(5.0),
        "Wait before retrying a page that failed without `Retry-After`; doubled after each failure, up to `backoff_max`.",
    )
    backoff_max: Seconds = setting(
        Seconds(300.0), "Longest wait between two tries of a page (also caps the `Retry-After` honoured)."
    )
    auto_repair: bool = setting(
        True,
        "`aggregator run` repairs a gap detected in the What's New feed by itself, with a backfill of the gap from the API.",
    )
    repair_attempts: int = setting(
        3, "Failed repairs of a gap before it is marked unrepairable (it stays visible, and the digest names it)."
    )
    repair_retry: Seconds = setting(Seconds(3600.0), "Wait before trying a failed gap repair again.")


@dataclass(frozen=True, kw_only=True)
class TaxonomySettings:
    services_file: str = setting(
        "",
        "Your own services registry (TOML `[services.<key>]` tables), relative to this configuration file: its entries extend or override the shipped `config/services.toml`. Empty: the shipped registry alone. After changing it, run `aggregator tag --retag`.",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    poll: PollSettings = field(default_factory=PollSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    taxonomy: TaxonomySettings = field(default_factory=TaxonomySettings)


@dataclass(frozen=True, kw_only=True)
class Feed:
    """One entry of the feed list."""

    name: str
    url: str
    kind: FeedKind
    interval: Seconds | None = None
    enabled: bool = True
    tags: tuple[str, ...] = ()
    title: str = ""

    def poll_interval(self, poll: PollSettings) -> float:
        interval = self.interval or poll.kind_intervals.get(self.kind, poll.interval)
        return max(float(interval), float(poll.min_interval))


FEED_KEYS: dict[str, str] = {
    "name": "Short unique name: lowercase letters, digits, `.`, `_` and `-` (used with `--feed`).",
    "url": "`http(s)://` URL, `file://` URL or local path (relative to the file that lists it).",
    "kind": "One of `aws-whats-new`, `aws-blog`, `community`, `other`.",
    "interval": "Poll interval of this feed (overrides `poll.kind_intervals`).",
    "enabled": "`false` keeps the feed in the list without polling it.",
    "tags": "Free-form labels for the feed (a list of strings).",
    "title": "Human-readable title (shown by `aggregator feeds` and in OPML exports).",
}


@dataclass(frozen=True, kw_only=True)
class Config:
    settings: Settings
    feeds: tuple[Feed, ...]
    path: Path
    """The configuration file the settings came from."""
    feeds_path: Path
    """The file the feed list came from (may be ``path`` itself)."""
    database: Path
    services_path: Path | None = None
    """The user's services registry file (``taxonomy.services_file``), if any."""
    warnings: tuple[str, ...] = ()
    """What looks like a mistake in the feed list (``feed_list_warnings``): the commands print it."""
    explicit: frozenset[str] = frozenset()
    """The settings the configuration file (or the environment) gave, as ``section.key``: a value
    learned from the notes never replaces one of them (``is_explicit``)."""

    def is_explicit(self, key: str) -> bool:
        """Whether the setting ``section.key`` was set deliberately: given by the file or the
        environment, or holding a value other than its default (set by code)."""
        if key in self.explicit:
            return True
        section, name = key.split(".", 1)
        return bool(getattr(getattr(self.settings, section), name) != _DEFAULTS[key])

    def explicit_settings(self, section: str) -> frozenset[str]:
        """``is_explicit`` for every setting of a section: the ``section.key`` names set deliberately."""
        return frozenset(key for key in _DEFAULTS if key.startswith(section + ".") and self.is_explicit(key))

    @property
    def shipped_services_path(self) -> Path:
        """The shipped registry, ``config/services.toml``."""
        return default_config_dir() / "services.toml"

    def feed(self, name: str) -> Feed:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        known = ", ".join(f.name for f in self.feeds)
        raise ConfigError(f"no feed named {name!r} in {self.feeds_path} (known: {known})")


def default_config_dir() -> Path:
    """The shipped ``config/`` folder: packaged with the wheel, or the source tree's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_config", here.parent / "config"):
        if (candidate / "aggregator.toml").is_file():
            return candidate
    raise ConfigError("the shipped configuration folder is missing from this installation")


def valid_feed_name(name: str) -> bool:
    """Lowercase letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit; at most 64."""
    return bool(_NAME_RE.match(name))


def parse_duration(value: object, *, where: str = "") -> Seconds:
    """``900``, ``"15m"``, ``"1h30m"``, ``"2d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as 900 or "15m", got {value!r}')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return Seconds(float(value))
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text and _DURATION_RE.sub("", text) == "":
            return Seconds(sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(text)))
    raise ValueError(f'expected a duration such as 900, "90s", "15m", "1h" or "2d", got {value!r}')


def format_duration(seconds: float) -> str:
    """900 -> "15m", 5400 -> "1h30m", 0.25 -> "250ms": the inverse of ``parse_duration``."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    remaining = round(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if remaining >= size:
            count, remaining = divmod(remaining, int(size))
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _type_name(tp: Any) -> str:
    if tp is Seconds:
        return "duration"
    origin = typing.get_origin(tp)
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _convert(value: object, tp: Any) -> Any:
    """Check and convert one TOML value to the annotated type, or raise ValueError."""
    if tp is Seconds:
        return parse_duration(value)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(tp)[:1]
        items = [_convert(v, item) for v in value]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {type(value).__name__} {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        out = {}
        for k, v in value.items():
            try:
                out[_convert(k, key_tp)] = _convert(v, value_tp)
            except ValueError as exc:
                raise ValueError(f"{k}: {exc}") from None
        return out
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported settings type {tp!r}")  # a bug in this module, not in the file


def settings_table() -> list[tuple[str, str, Any, str]]:
    """Every setting as ``(dotted.key, type, default, help)``, in declaration order."""
    rows = []
    for section in dataclasses.fields(Settings):
        section_cls = _type_hints(Settings)[section.name]
        hints = _type_hints(section_cls)
        for f in dataclasses.fields(section_cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:  # every setting has a default: a bug in this module
                raise TypeError(f"setting {section.name}.{f.name} has no default")
            rows.append((f"{section.name}.{f.name}", _type_name(hints[f.name]), default, f.metadata["help"]))
    return rows


_DEFAULTS: dict[str, Any] = {key: default for key, _, default, _ in settings_table()}
"""Every setting's default, by ``section.key``."""


def _load_section(cls: type[Any], data: object, *, path: str, section: str, report: Report = raise_) -> Any:
    """A settings section; a wrong value is reported and its default kept."""
    if not isinstance(data, dict):
        report(ConfigError(f"expected a table [{section}], got {data!r}", path=path, key=section))
        return cls()
    hints = _type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in known:
            report(
                ConfigError(
                    f"unknown setting (known in [{section}]: {', '.join(sorted(known))})",
                    path=path,
                    key=f"{section}.{key}",
                )
            )
            continue
        try:
            values[key] = _convert(value, hints[key])
        except ValueError as exc:
            report(ConfigError(str(exc), path=path, key=f"{section}.{key}"))
    return cls(**values)


def _check_settings(settings: Settings, path: str, report: Report = raise_) -> None:
    checks: list[tuple[str, bool, str]] = [
        ("http.connect_timeout", settings.http.connect_timeout > 0, "must be more than 0"),
        ("http.read_timeout", settings.http.read_timeout > 0, "must be more than 0"),
        ("http.total_timeout", settings.http.total_timeout > 0, "must be more than 0"),
        ("http.max_bytes", settings.http.max_bytes > 0, "must be more than 0"),
        ("http.max_decompressed_bytes", settings.http.max_decompressed_bytes > 0, "must be more than 0"),
        ("http.max_redirects", 0 <= settings.http.max_redirects <= 20, "must be between 0 and 20"),
        ("http.per_host", 1 <= settings.http.per_host <= 16, "must be between 1 and 16"),
        ("http.max_workers", 1 <= settings.http.max_workers <= 64, "must be between 1 and 64"),
        ("poll.jitter", 0 <= settings.poll.jitter <= 1, "must be between 0 and 1"),
        ("poll.backoff_initial", settings.poll.backoff_initial > 0, "must be more than 0"),
        (
            "poll.backoff_max",
            settings.poll.backoff_max >= settings.poll.backoff_initial,
            "must be at least poll.backoff_initial",
        ),
        ("general.database", bool(settings.general.database.strip()), "must name the archive file"),
        (
            "general.log_level",
            settings.general.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "must be DEBUG, INFO, WARNING or ERROR",
        ),
        ("service.misfire_grace_time", settings.service.misfire_grace_time > 0, "must be more than 0"),
        (
            "service.digest_weekday",
            settings.service.digest_weekday.lower() in WEEKDAYS,
            f"must be a day of the week: {', '.join(WEEKDAYS)}",
        ),
        ("service.digest_hour", 0 <= settings.service.digest_hour <= 23, "must be an hour between 0 and 23"),
        ("backfill.page_size", 1 <= settings.backfill.page_size <= 2000, "must be between 1 and 2000"),
        ("backfill.max_pages", settings.backfill.max_pages >= 1, "must be at least 1"),
        ("backfill.max_retries", settings.backfill.max_retries >= 0, "must be 0 or more"),
        ("backfill.backoff_initial", settings.backfill.backoff_initial > 0, "must be more than 0"),
        (
            "backfill.backoff_max",
            settings.backfill.backoff_max >= settings.backfill.backoff_initial,
            "must be at least backfill.backoff_initial",
        ),
        ("backfill.repair_attempts", settings.backfill.repair_attempts >= 1, "must be at least 1"),
        (
            "backfill.year_tag",
            not settings.backfill.year_tag or "{year}" in settings.backfill.year_tag,
            "must contain {year}, or be empty",
        ),
    ]
    for key, ok, problem in checks:
        if not ok:
            report(ConfigError(problem, path=path, key=key))
    _check_digest(settings.digest, path, report)
    for kind in settings.poll.kind_intervals:
        if kind not in FEED_KINDS:
            report(
                ConfigError(
                    f"unknown feed kind {kind!r} (kinds: {', '.join(FEED_KINDS)})",
                    path=path,
                    key=f"poll.kind_intervals.{kind}",
                )
            )
    for key in ("api_url", "site_url"):
        url = getattr(settings.backfill, key)
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
            report(ConfigError(f"expected an http(s) URL, got {url!r}", path=path, key=f"backfill.{key}"))
    if settings.service.listen:
        try:
            parse_listen(settings.service.listen)
        except ValueError as exc:
            report(ConfigError(str(exc), path=path, key="service.listen"))
    try:
        zoneinfo.ZoneInfo(settings.general.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        report(
            ConfigError(
                f"unknown time zone {settings.general.timezone!r} (use an IANA name such as Europe/Amsterdam)",
                path=path,
                key="general.timezone",
            )
        )


def _pattern_problem(pattern: str, fields: set[str]) -> str | None:
    """What is wrong with a ``{field}`` pattern, or None."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        return f"invalid pattern {pattern!r}: {exc}"
    unknown = names - fields
    if unknown:
        return f"unknown field {{{sorted(unknown)[0]}}} in {pattern!r} (known: {', '.join('{' + f + '}' for f in sorted(fields))})"
    return None


def _check_digest(digest: DigestSettings, path: str, report: Report = raise_) -> None:
    checks: list[tuple[str, bool, str]] = [
        ("digest.publish_time", bool(_TIME_RE.match(digest.publish_time)), 'must be a time of day HH:MM, e.g. "09:00"'),
        ("digest.window", digest.window >= 86400, "must be at least a day"),
        ("digest.max_featured", 0 <= digest.max_featured <= 10, "must be between 0 and 10"),
        ("digest.heading_level", 1 <= digest.heading_level <= 5, "must be between 1 and 5"),
        ("digest.community_max", 0 <= digest.community_max <= 50, "must be between 0 and 50"),
        ("digest.previously_max", 0 <= digest.previously_max <= 10, "must be between 0 and 10"),
        ("digest.cluster_days", 0 <= digest.cluster_days <= 14, "must be between 0 and 14"),
        ("digest.ranking", digest.ranking in RANKINGS, f"must be one of {', '.join(RANKINGS)}"),
        ("digest.earlier_max", 0 <= digest.earlier_max <= 200, "must be between 0 and 200"),
        ("digest.keywords_max", 0 <= digest.keywords_max <= 30, "must be between 0 and 30"),
        ("digest.description_words", 0 <= digest.description_words <= 300, "must be between 0 and 300"),
        (
            "digest.footnote",
            not digest.footnote or bool(_FOOTNOTE_RE.match(digest.footnote)),
            'must be a footnote definition such as "[^1]:\\t" (tab) or "[^1]: ", or empty',
        ),
        ("digest.categories", all(c.strip() for c in digest.categories), "must not hold an empty category"),
    ]
    for key, ok, problem in checks:
        if not ok:
            report(ConfigError(problem, path=path, key=key))
    for key, pattern, fields in (
        ("digest.url_pattern", digest.url_pattern, _PATTERN_FIELDS),
        ("digest.slug_pattern", digest.slug_pattern, _PATTERN_FIELDS - {"slug"}),
    ):
        wrong = _pattern_problem(pattern, fields)
        if wrong:
            report(ConfigError(wrong, path=path, key=key))
    if not {"year", "week"} <= {name for _, name, _, _ in string.Formatter().parse(digest.slug_pattern) if name}:
        report(
            ConfigError(
                "must contain {year} and {week}: every note needs its own slug", path=path, key="digest.slug_pattern"
            )
        )
    if not {"slug", "week"} & {name for _, name, _, _ in string.Formatter().parse(digest.url_pattern) if name}:
        report(
            ConfigError(
                "must contain {slug} or {week}: every note needs its own URL", path=path, key="digest.url_pattern"
            )
        )
    for name in digest.source_weights:
        if name not in SOURCE_TYPES:
            report(
                ConfigError(
                    f"unknown source type {name!r} (types: {', '.join(SOURCE_TYPES)})",
                    path=path,
                    key=f"digest.source_weights.{name}",
                )
            )
    for name in digest.kind_weights:
        if name not in ANNOUNCEMENT_KINDS:
            report(
                ConfigError(
                    f"unknown kind {name!r} (kinds: {', '.join(ANNOUNCEMENT_KINDS)})",
                    path=path,
                    key=f"digest.kind_weights.{name}",
                )
            )


def parse_settings(data: dict[str, Any], *, path: str, report: Report = raise_) -> Settings:
    """Build ``Settings`` from the settings tables of a parsed TOML document."""
    sections = {f.name: _type_hints(Settings)[f.name] for f in dataclasses.fields(Settings)}
    values = {}
    for key, value in data.items():
        if key == "feeds":
            continue
        if key not in sections:
            report(
                ConfigError(
                    f"unknown table or key (known: {', '.join(sorted(sections))}, [[feeds]])", path=path, key=key
                )
            )
            continue
        values[key] = _load_section(sections[key], value, path=path, section=key, report=report)
    settings = Settings(**values)
    _check_settings(settings, path, report)
    return settings


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"``, ``"0.0.0.0:8080"``, ``"[::1]:8080"`` -> (host, port). Raises ValueError.

    Port 0 lets the system pick a free port (the service logs the one it got).
    """
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or (":" in host and not text.strip().startswith("[")):
        raise ValueError(f"expected host:port such as 127.0.0.1:8080 or [::1]:8080, got {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid port in {text!r}: expected a number from 0 to 65535")
    return host, int(port)


def resolve_feed_url(url: str, *, base_dir: Path) -> str:
    """Check a feed URL; local paths become absolute ``file://`` URLs. Raises ValueError."""
    if not url or url != url.strip() or any(c.isspace() for c in url):
        raise ValueError(f"{url!r} is not a URL: it is empty or contains spaces")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"{url!r} has no host name")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        return url
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"{url!r}: file URLs must not name a host")
        return url
    if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise ValueError(f"{url!r} has the unsupported scheme {scheme!r} (use http, https, file or a local path)")
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    first = url.split("/", 1)[0]
    if not path.exists() and re.fullmatch(r"(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", first.lower()):
        raise ValueError(f"{url!r} looks like a web address without a scheme; did you mean https://{url}?")
    return path.resolve().as_uri()


def parse_feeds(items: object, *, path: str, base_dir: Path, report: Report = raise_) -> tuple[Feed, ...]:
    """Build the feed list from the ``[[feeds]]`` tables of a parsed TOML document; a feed with a
    problem is reported and left out."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        report(ConfigError("expected [[feeds]] tables", path=path, key="feeds"))
        return ()
    feeds: list[Feed] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        label = f"feeds[{index}]" + (f" ({item['name']})" if isinstance(item.get("name"), str) else "")
        feed = _parse_feed(item, label=label, path=path, base_dir=base_dir, report=report)
        if feed is None:
            continue
        if feed.name in seen:
            report(
                ConfigError(
                    f"duplicate feed name {feed.name!r} (also feeds[{seen[feed.name]}])", path=path, key=f"{label}.name"
                )
            )
            continue
        seen[feed.name] = index
        feeds.append(feed)
    return tuple(feeds)


def _parse_feed(item: dict[str, Any], *, label: str, path: str, base_dir: Path, report: Report) -> Feed | None:
    """One ``[[feeds]]`` table, or None when it has problems (each one reported)."""
    problems: list[ConfigError] = []
    for required in ("name", "url", "kind"):
        if required not in item:
            problems.append(ConfigError(f"missing required key {required!r}", path=path, key=label))
    hints = _type_hints(Feed)
    values: dict[str, Any] = {}
    for key, value in item.items():
        if key not in FEED_KEYS:
            problems.append(
                ConfigError(f"unknown key (known: {', '.join(FEED_KEYS)})", path=path, key=f"{label}.{key}")
            )
            continue
        try:
            values[key] = _convert(value, hints[key])
        except ValueError as exc:
            problems.append(ConfigError(str(exc), path=path, key=f"{label}.{key}"))
    name = values.get("name")
    if name is not None and not _NAME_RE.match(name):
        problems.append(
            ConfigError(
                f"invalid feed name {name!r}: use lowercase letters, digits, '.', '_' and '-' (at most 64)",
                path=path,
                key=f"{label}.name",
            )
        )
    if "url" in values:
        try:
            values["url"] = resolve_feed_url(values["url"], base_dir=base_dir)
        except ValueError as exc:
            problems.append(ConfigError(f"invalid URL: {exc}", path=path, key=f"{label}.url"))
    if "interval" in values and values["interval"] <= 0:
        problems.append(ConfigError("must be more than 0", path=path, key=f"{label}.interval"))
    for problem in problems:
        report(problem)
    return None if problems else Feed(**values)


def _same_url_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}?{parts.query}"


def same_url(one: str, other: str) -> bool:
    """The same feed URL, but for the case of the scheme and host and a trailing slash."""
    return _same_url_key(one) == _same_url_key(other)


def feed_list_warnings(feeds: typing.Sequence[Feed]) -> list[str]:
    """What is likely a mistake in a valid feed list: the same URL twice, two enabled What's New
    feeds (``backfill`` and gap repairs need to know which one to fill)."""
    warnings = []
    first: dict[str, Feed] = {}
    for feed in feeds:
        other = first.setdefault(_same_url_key(feed.url), feed)
        if other is not feed:
            warnings.append(
                f"feeds {other.name!r} and {feed.name!r} have the same URL {feed.url}: both are polled, and each"
                f" post is stored once with both as its sources; remove one (aggregator feeds remove {feed.name})"
            )
    whats_new = [f.name for f in feeds if f.enabled and f.kind == "aws-whats-new"]
    if len(whats_new) > 1:
        warnings.append(
            f"{len(whats_new)} enabled feeds of kind aws-whats-new ({', '.join(whats_new)}): `aggregator backfill`"
            f" needs --feed to know which to fill; disable the others (aggregator feeds disable {whats_new[-1]})"
        )
    return warnings


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a TOML file", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", path=str(path)) from None


def load_config(
    path: str | Path | None = None,
    *,
    database: str | Path | None = None,
    environ: typing.Mapping[str, str] | None = None,
    problems: list[ConfigError] | None = None,
) -> Config:
    """Load the configuration.

    The file is ``path``, else ``$AGGREGATOR_CONFIG``, else the shipped ``config/aggregator.toml``.
    The database is ``database``, else ``$AGGREGATOR_DB``, else ``general.database``.
    ``$AGGREGATOR_LISTEN`` overrides ``service.listen``. The first mistake raises ``ConfigError``;
    given ``problems``, every mistake is added to it instead and what could be read is returned
    (``aggregator config check``). ``Config.warnings`` says what looks like a mistake.
    """
    report: Report = raise_ if problems is None else problems.append
    env = os.environ if environ is None else environ
    chosen = path or env.get(ENV_CONFIG) or default_config_dir() / "aggregator.toml"
    config_path = Path(chosen).expanduser()
    data = read_toml(config_path)
    settings = parse_settings(data, path=str(config_path), report=report)
    if ENV_LISTEN in env:
        listen = env[ENV_LISTEN]
        if listen:
            try:
                parse_listen(listen)
            except ValueError as exc:
                report(ConfigError(str(exc), path=f"${ENV_LISTEN}"))
        settings = dataclasses.replace(settings, service=dataclasses.replace(settings.service, listen=listen))

    feeds_path, feeds = _load_feeds(config_path, data, settings, report)

    services_path = None
    if settings.taxonomy.services_file:
        services_path = config_path.resolve().parent / Path(settings.taxonomy.services_file).expanduser()
        if not services_path.is_file():
            report(ConfigError(f"no such file: {services_path}", path=str(config_path), key="taxonomy.services_file"))
            services_path = None

    db = database or env.get(ENV_DB) or settings.general.database
    explicit = {
        f"{name}.{key}" for name, table in data.items() if name != "feeds" and isinstance(table, dict) for key in table
    }
    if ENV_LISTEN in env:
        explicit.add("service.listen")
    return Config(
        settings=settings,
        feeds=feeds,
        path=config_path,
        feeds_path=feeds_path,
        database=Path(db).expanduser(),
        services_path=services_path,
        warnings=tuple(feed_list_warnings(feeds)),
        explicit=frozenset(explicit),
    )


def _load_feeds(
    config_path: Path, data: dict[str, Any], settings: Settings, report: Report
) -> tuple[Path, tuple[Feed, ...]]:
    """The feed list: the ``[[feeds]]`` of the configuration file, else ``general.feeds_file``,
    else the shipped default list; with the file it came from."""
    if "feeds" in data:
        return config_path, parse_feeds(
            data["feeds"], path=str(config_path), base_dir=config_path.resolve().parent, report=report
        )
    if settings.general.feeds_file:
        feeds_path = config_path.resolve().parent / Path(settings.general.feeds_file).expanduser()
        if not feeds_path.is_file():
            report(ConfigError(f"no such file: {feeds_path}", path=str(config_path), key="general.feeds_file"))
            return feeds_path, ()
    else:
        feeds_path = default_config_dir() / "feeds.toml"
    try:
        feeds_data = read_toml(feeds_path)
    except ConfigError as exc:
        report(exc)
        return feeds_path, ()
    for key in feeds_data:
        if key != "feeds":
            report(ConfigError("a feed list file holds only [[feeds]] tables", path=str(feeds_path), key=key))
    return feeds_path, parse_feeds(
        feeds_data.get("feeds", []), path=str(feeds_path), base_dir=feeds_path.resolve().parent, report=report
    )
