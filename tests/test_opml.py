"""OPML out and back in: an export read back gives the same feeds; outlines that are not feeds
are reported, never dropped without a word."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

from conftest import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import opml
from aggregator.config import FEED_KINDS, Feed, Seconds, parse_feeds
from aggregator.opml import read_opml

NOW = dt.datetime(2025, 2, 24, 9, 0, tzinfo=dt.UTC)

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters="\ufffe\uffff"), max_size=30
).map(str.strip)
tags = st.lists(text.filter(lambda t: t and "," not in t and not t.startswith("/")), max_size=4).map(tuple)
intervals = st.one_of(st.none(), st.sampled_from([300.0, 900.0, 5400.0, 86400.0]).map(Seconds))


@st.composite
def feed_lists(draw: st.DrawFn) -> list[Feed]:
    chosen = draw(st.lists(names, min_size=1, max_size=8, unique=True))
    return [
        Feed(
            name=name,
            url=f"https://example{n}.com/{draw(st.sampled_from(['feed', 'rss.xml', 'blog/feed/']))}",
            kind=draw(st.sampled_from(FEED_KINDS)),
            title=draw(text),
            tags=draw(tags),
            enabled=draw(st.booleans()),
            interval=draw(intervals),
        )
        for n, name in enumerate(chosen)
    ]


def round_trip(feeds: list[Feed], tmp: Path) -> tuple[Feed, ...]:
    """Export, import into an empty feed list, read that list as the configuration does."""
    document = read_opml(opml.write_opml(feeds, now=NOW).encode(), source="export.opml")
    assert document.skipped == []
    merge = opml.merge_new([], document.feeds)
    assert merge.rejected == [] and merge.present == []
    toml = opml.feeds_to_toml(merge.add)
    return parse_feeds(tomllib.loads(toml).get("feeds", []), path="imported.toml", base_dir=tmp)


def shown(feed: Feed) -> tuple[object, ...]:
    return (feed.name, feed.url, feed.kind, feed.tags, feed.title or feed.name, feed.enabled, feed.interval)


@settings(max_examples=150, deadline=None)
@given(feed_lists())
def test_an_export_read_back_gives_the_same_feeds(feeds: list[Feed]) -> None:
    back = round_trip(feeds, Path("."))
    assert sorted(map(shown, back)) == sorted(map(shown, feeds))  # in one folder per kind


def test_an_export_of_local_files_reads_back_and_keeps_names_kinds_and_tags(runner, write_config, tmp_path) -> None:
    (tmp_path / "wn.xml").write_text("<rss/>")
    config = write_config(
        [
            {"name": "wn", "url": "wn.xml", "kind": "aws-whats-new", "tags": ["announcements", "aws"]},
            {"name": "blog", "url": "https://aws.amazon.com/blogs/aws/feed/", "kind": "aws-blog", "title": "News"},
            {"name": "mine", "url": "https://me.example/feed", "kind": "other", "enabled": False},
        ]
    )
    exported = tmp_path / "feeds.opml"
    assert invoke(runner, "--config", str(config), "opml", "export", "--output", str(exported)).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "feeds.toml").write_text("# my feeds\n")
    (elsewhere / "aggregator.toml").write_text('[general]\nfeeds_file = "feeds.toml"\n')
    other = ["--config", str(elsewhere / "aggregator.toml")]
    result = invoke(runner, *other, "opml", "import", str(exported))
    assert result.exit_code == 0, result.output
    assert "added 3 feeds" in result.stdout and result.stderr == ""

    def listing(*args: str) -> list[tuple[object, ...]]:
        out = invoke(runner, *args, "--db", str(tmp_path / "none.db"), "feeds", "--json").stdout
        return [
            (r["name"], r["kind"], r["enabled"], r["configured_url"], r["title"])
            for r in map(json.loads, out.splitlines())
        ]

    assert listing(*other) == listing("--config", str(config))
    tags = {
        f.name: f.tags
        for f in parse_feeds(
            __import__("tomllib").loads((elsewhere / "feeds.toml").read_text())["feeds"], path="x", base_dir=elsewhere
        )
    }
    assert tags == {"wn": ("announcements", "aws"), "blog": (), "mine": ()}


def test_a_readers_folder_becomes_a_tag_unless_the_outline_has_categories() -> None:
    document = read_opml(
        b"""<opml version="2.0"><body><outline text="Containers">
        <outline text="ECS blog" xmlUrl="https://a.example/feed"/>
        <outline text="EKS blog" xmlUrl="https://b.example/feed" category="/k8s,eks"/>
        </outline></body></opml>""",
        source="reader.opml",
    )
    assert [(f.name, f.tags) for f in document.feeds] == [("ecs-blog", ("containers",)), ("eks-blog", ("k8s", "eks"))]


def test_outlines_that_are_not_feeds_are_reported(runner, write_config, tmp_path) -> None:
    config = write_config([{"name": "x", "url": "https://x.example/feed", "kind": "other"}])
    reader = tmp_path / "reader.opml"
    reader.write_text(
        '<opml version="2.0"><body><outline text="Folder"><outline text="Good" xmlUrl="https://good.example/f"/>'
        '</outline><outline text="A page" htmlUrl="https://page.example/"/><outline text="Empty"/></body></opml>'
    )
    result = invoke(runner, "--config", str(config), "opml", "import", str(reader))
    assert result.exit_code == 0
    assert "skipped 'A page': a link to a web page, not a feed" in result.stderr
    assert "skipped 'Empty': no xmlUrl: not a feed" in result.stderr
    assert "added 1 feed to" in result.stdout and "2 skipped" in result.stdout


def test_a_masked_password_is_not_imported_as_a_url(runner, write_config, tmp_path) -> None:
    secret = "https://me:hunter2@private.example/feed"
    config = write_config([{"name": "private", "url": secret, "kind": "other"}])
    masked = tmp_path / "masked.opml"
    masked.write_text(invoke(runner, "--config", str(config), "opml", "export").stdout)
    assert "hunter2" not in masked.read_text()
    target = tmp_path / "new.toml"
    result = invoke(runner, "--config", str(config), "opml", "import", str(masked), "--output", str(target))
    assert "skipped 'private': its password was masked when it was exported" in result.stderr
    full = tmp_path / "full.opml"
    invoke(runner, "--config", str(config), "opml", "export", "--with-credentials", "--output", str(full))
    assert [f.url for f in read_opml(full.read_bytes(), source="full.opml").feeds] == [secret]
