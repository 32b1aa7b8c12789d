"""The fixture corpus: every file in ``fixtures/feeds/`` is parsed and normalized, checked against
the expectations in its own header, and against the invariants every feed must satisfy.

Each fixture opens (after the XML declaration, when it needs one) with a comment such as::

    <!--
    Description: What's New 2022 shape: comma-joined categories in one <category>
    Expect: entries=3; categories[0]=general:products/amazon-s3,marketing:marchitecture/storage
    Expect: links[1]=https://aws.amazon.com/lex/; published[2]=
    -->

``Expect:`` lines hold ``;``-separated checks ``NAME OP VALUE``. ``OP`` is ``=`` (the rendering
equals VALUE) or ``~=`` (the rendering contains VALUE). ``NAME`` is ``entries`` (number of posts),
``version``, ``feed.title``, ``feed.link`` or ``warnings`` (all warnings, joined by `` | ``), or a
``Post`` field of the i-th post, ``FIELD[i]``, optionally one item of a tuple field, ``FIELD[i][j]``.
Renderings: ``None`` is empty, datetimes are ISO 8601, tuples are joined by ``,``, numbers are decimal.
An optional ``URL:`` line is the address the feed was fetched from (default: the file's ``file://`` URI).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from urllib.request import url2pathname

import pytest

from aggregator.config import load_config
from aggregator.models import ParsedFeed, Post
from aggregator.normalize import FUTURE_SLACK, TRACKING_PARAMS, canonical_url, normalize_feed, url_key
from aggregator.parse import parse_bytes

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
FIXTURES = sorted(FEEDS.glob("*.xml"))
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([\w.-]+)[\"'][^>]*\?>")
_HEADER = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*)?<!--(.*?)-->", re.DOTALL)
_CHECK = re.compile(r"^(?P<name>[a-z_.]+)(?:\[(?P<post>\d+)\](?:\[(?P<item>\d+)\])?)?\s*(?P<op>~?=)(?P<value>.*)$")
_TOKEN_LIST = re.compile(r"^[\w.-]+:[\w./:-]+(\s*,\s*[\w.-]+:[\w./:-]+)+$")
_POST_FIELDS = {f.name for f in dataclasses.fields(Post)}


@dataclass(frozen=True)
class Check:
    name: str
    post: int | None
    item: int | None
    op: str
    value: str

    def __str__(self) -> str:
        where = "" if self.post is None else f"[{self.post}]" + ("" if self.item is None else f"[{self.item}]")
        return f"{self.name}{where}{self.op}{self.value}"


@dataclass(frozen=True)
class Fixture:
    path: Path
    description: str
    url: str
    checks: tuple[Check, ...]


def read_fixture(path: Path) -> Fixture:
    """The header of a fixture file: its description, feed URL and checks."""
    body = path.read_bytes()
    declared = _DECLARATION.match(body)
    text = body.decode(declared.group(1).decode() if declared else "utf-8")
    header = _HEADER.match(text)
    if header is None:
        raise ValueError(f"{path.name}: no leading <!-- ... --> header")
    fields: dict[str, list[str]] = {}
    for line in header.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Description", "Expect", "URL"):
            fields.setdefault(key.strip(), []).append(value.strip())
        elif line.strip():
            raise ValueError(f"{path.name}: header line is not 'Description:', 'Expect:' or 'URL:': {line!r}")
    checks = []
    for part in "; ".join(fields.get("Expect", [])).split(";"):
        if not part.strip():
            continue
        match = _CHECK.match(part.strip())
        if match is None:
            raise ValueError(f"{path.name}: cannot read the check {part.strip()!r}")
        post, item = match["post"], match["item"]
        checks.append(
            Check(
                name=match["name"],
                post=None if post is None else int(post),
                item=None if item is None else int(item),
                op=match["op"],
                value=match["value"].strip(),
            )
        )
    return Fixture(
        path=path,
        description=" ".join(fields.get("Description", [])),
        url=(fields.get("URL") or [path.resolve().as_uri()])[0],
        checks=tuple(checks),
    )


def load(fixture: Fixture) -> tuple[str, ParsedFeed]:
    raw = parse_bytes(fixture.path.read_bytes(), url=fixture.url)
    return raw.version, normalize_feed(raw, url=fixture.url, now=NOW)


def render(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return ",".join(render(v) for v in value)
    return str(value)


def actual(check: Check, version: str, parsed: ParsedFeed) -> str:
    feed_values = {
        "entries": len(parsed.posts),
        "version": version,
        "feed.title": parsed.title,
        "feed.link": parsed.link,
        "warnings": " | ".join(parsed.warnings),
    }
    if check.post is None:
        if check.name not in feed_values:
            raise ValueError(f"unknown check {check}: use one of {', '.join(feed_values)} or a Post field with [i]")
        return render(feed_values[check.name])
    if check.name not in _POST_FIELDS:
        raise ValueError(f"unknown Post field in {check}")
    value = getattr(parsed.posts[check.post], check.name)
    if check.item is not None:
        value = value[check.item]
    return render(value)


def fixture_id(path: Path) -> str:
    return path.stem


def test_the_corpus_is_there() -> None:
    assert len(FIXTURES) >= 12, "the glob found the fixture corpus"


@pytest.fixture(params=FIXTURES, ids=fixture_id)
def fixture(request: pytest.FixtureRequest) -> Fixture:
    return read_fixture(request.param)


def test_fixture_header(fixture: Fixture) -> None:
    assert fixture.description, "every fixture says what it is for"
    assert any(c.name == "entries" for c in fixture.checks), "every fixture says how many posts it holds"


def test_fixture_expectations(fixture: Fixture) -> None:
    version, parsed = load(fixture)
    failures = []
    for check in fixture.checks:
        got = actual(check, version, parsed)
        ok = got == check.value if check.op == "=" else check.value in got
        if not ok:
            failures.append(f"{check}\n    got: {got!r}")
    assert not failures, f"{fixture.path.name}: " + "\n".join(failures)


# --- invariants: true of every post of every fixture ------------------------------------------


def assert_web_url(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https"), url
    assert parts.hostname, url
    assert "#" not in url, url


def every_post_has_a_title(parsed: ParsedFeed, again: ParsedFeed) -> None:
    for post in parsed.posts:
        assert post.title.strip(), post
        assert post.title == post.title.strip()


def ids_are_stable_and_unique(parsed: ParsedFeed, again: ParsedFeed) -> None:
    ids = [p.id for p in parsed.posts]
    assert ids == [p.id for p in again.posts]
    assert len(set(ids)) == len(ids)
    assert [p.content_hash for p in parsed.posts] == [p.content_hash for p in again.posts]


def urls_are_canonical(parsed: ParsedFeed, again: ParsedFeed) -> None:
    for post in parsed.posts:
        if post.url is None:
            continue
        assert_web_url(post.url)
        params = [k.lower() for k, _ in parse_qsl(urlsplit(post.url).query)]
        assert not [k for k in params if k.startswith("utm_") or k in TRACKING_PARAMS], post.url
        assert canonical_url(post.url) == post.url


def links_are_absolute(parsed: ParsedFeed, again: ParsedFeed) -> None:
    for post in parsed.posts:
        for link in post.links:
            assert_web_url(link)
        assert len(set(post.links)) == len(post.links)


def times_are_aware_utc(parsed: ParsedFeed, again: ParsedFeed) -> None:
    for post in parsed.posts:
        for when in (post.published, post.updated):
            if when is not None:
                assert when.utcoffset() == dt.timedelta(0), post
                assert when <= NOW + FUTURE_SLACK


def categories_are_single_tokens(parsed: ParsedFeed, again: ParsedFeed) -> None:
    for post in parsed.posts:
        for category in post.categories:
            assert category == category.strip() and category
            assert not _TOKEN_LIST.match(category), f"{category!r} is a comma-joined list"
        assert len(set(post.categories)) == len(post.categories)


def text_is_plain(parsed: ParsedFeed, again: ParsedFeed) -> None:
    """Titles and summaries hold text: no markup, no entities left to decode."""
    for post in parsed.posts:
        for text in (post.title, post.summary):
            assert not re.search(r"</?[a-z][a-z0-9]*[ />]", text, re.IGNORECASE), text
            assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.IGNORECASE), text
            assert text == " ".join(text.split())


INVARIANTS = [
    every_post_has_a_title,
    ids_are_stable_and_unique,
    urls_are_canonical,
    links_are_absolute,
    times_are_aware_utc,
    categories_are_single_tokens,
    text_is_plain,
]


@pytest.mark.parametrize("invariant", INVARIANTS, ids=lambda f: f.__name__)
def test_invariant(fixture: Fixture, invariant: Callable[[ParsedFeed, ParsedFeed], None]) -> None:
    _, parsed = load(fixture)
    _, again = load(fixture)
    invariant(parsed, again)


# --- the feeds of the offline example configuration --------------------------------------------

EXAMPLE = Path(__file__).parents[1] / "config" / "example.toml"


def example_feeds() -> dict[str, tuple[bytes, ParsedFeed]]:
    config = load_config(EXAMPLE, environ={})
    feeds = {}
    for feed in config.feeds:
        assert feed.url.startswith("file:"), "the example works offline"
        body = Path(url2pathname(urlsplit(feed.url).path)).read_bytes()
        feeds[feed.name] = body, normalize_feed(parse_bytes(body, url=feed.url), url=feed.url, now=NOW)
    return feeds


def test_the_example_feeds_are_clean() -> None:
    for name, (body, parsed) in example_feeds().items():
        assert parsed.posts, name
        assert parsed.warnings == (), name
        again = normalize_feed(parse_bytes(body), url="file:///elsewhere.xml", now=NOW)
        for invariant in INVARIANTS:
            invariant(parsed, again)


def test_the_example_feeds_tell_four_weeks_of_stories() -> None:
    feeds = {name: parsed for name, (_, parsed) in example_feeds().items()}
    whats_new = feeds["aws-whats-new"]
    assert 55 <= len(whats_new.posts) <= 65
    assert all(c.startswith(("general:", "marketing:")) for p in whats_new.posts for c in p.categories)
    melbourne = zoneinfo.ZoneInfo(load_config(EXAMPLE, environ={}).settings.general.timezone)
    weeks = {
        p.published.astimezone(melbourne).isocalendar()[:2]
        for parsed in feeds.values()
        for p in parsed.posts
        if p.published is not None
    }
    assert weeks == {(2025, 5), (2025, 6), (2025, 7), (2025, 8)}
    announced = {url_key(p.url) for p in whats_new.posts if p.url}
    for name, parsed in feeds.items():
        if name != "aws-whats-new":
            assert any(url_key(link) in announced for p in parsed.posts for link in p.links), name


# --- what a parse worker process loads -----------------------------------------------------------


def test_a_parse_worker_loads_neither_the_archive_nor_http() -> None:
    """A parse worker process runs ``pipeline.read_body`` (parse, normalize, tag) and nothing
    else: sqlite-utils (with numpy and click) and httpx would double its memory and start-up."""
    example = load_config(EXAMPLE, environ={})
    feed = example.feed("aws-whats-new")
    code = (
        "import datetime as dt, sys\n"
        "from pathlib import Path\n"
        "from aggregator import pipeline\n"
        f"body = Path({url2pathname(urlsplit(feed.url).path)!r}).read_bytes()\n"
        "tagged = pipeline.read_body(body, content_type='application/rss+xml', url='https://aws.amazon.com/feed/',"
        f" now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), registry=({str(example.shipped_services_path)!r}, None))\n"
        "heavy = {'sqlite_utils', 'numpy', 'click', 'httpx'} & set(sys.modules)\n"
        "print(len(tagged.posts), sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split(" ", 1) == ["60", "[]\n"]
