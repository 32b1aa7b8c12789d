"""`aggregator feeds add|remove|enable|disable`: the feed list edited in place, comments and
layout kept; the shipped default list never edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Response, invoke, item, rss

FEED_LIST = """\
# My feeds: the team's and AWS's.

[[feeds]]
name = "aws-news"          # the News Blog
url = "https://aws.amazon.com/blogs/aws/feed/"
kind = "aws-blog"
tags = [
  "news",   # a comment inside an array
]

# Local history, imported once.
[[feeds]]
name = "local"
url = "history.xml"
kind = "other"

# The end of the list.
"""


@pytest.fixture
def feed_list(tmp_path: Path) -> tuple[list[str], Path]:
    """A configuration whose feed list is a file of its own; returns (the CLI's options, the list)."""
    (tmp_path / "history.xml").write_bytes(rss(item("old-news", "Old news")))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(FEED_LIST)
    config = tmp_path / "aggregator.toml"
    config.write_text('[general]\nfeeds_file = "feeds.toml"\n')
    return ["--config", str(config), "--db", str(tmp_path / "archive.db")], feeds


def names(runner, base: list[str]) -> list[str]:
    return [json.loads(line)["name"] for line in invoke(runner, *base, "feeds", "--json").stdout.splitlines()]


def test_add_checks_the_feed_names_it_after_its_title_and_keeps_the_file_as_it_was(runner, server, feed_list) -> None:
    base, feeds = feed_list
    server.route("/team.xml", Response(200, rss(item("a"), item("b"), title="My Team's Blog")))
    result = invoke(runner, *base, "feeds", "add", server.url("/team.xml"), "--tag", "team")
    assert result.exit_code == 0, result.output
    assert f'added feed my-team-s-blog (community) to {feeds}: "My Team\'s Blog", 2 entries now' in result.stdout
    text = feeds.read_text()
    before, added = text.split('\n[[feeds]]\nname = "my-team-s-blog"', 1)
    assert FEED_LIST.startswith(before.removesuffix("\n"))  # the file up to the new table is as it was
    assert text.endswith("# The end of the list.\n")  # a comment after a blank line stays where it was
    assert 'tags = ["team"]' in added and 'title = "My Team\'s Blog"' in added
    assert names(runner, base) == ["aws-news", "local", "my-team-s-blog"]
    again = invoke(runner, *base, "feeds", "add", server.url("/team.xml"))
    assert again.exit_code == 1 and "is listed already, as feed 'my-team-s-blog'" in again.stderr


def test_add_refuses_what_is_not_a_feed_and_leaves_the_file_alone(runner, server, feed_list) -> None:
    base, feeds = feed_list
    server.route("/page", Response(200, b"<!doctype html><html><body>Hello</body></html>"))
    result = invoke(runner, *base, "feeds", "add", server.url("/page"))
    assert result.exit_code == 1
    assert "is not a feed: got an HTML page" in result.stderr and "--no-check" in result.stderr
    assert feeds.read_text() == FEED_LIST


def test_add_without_checking_takes_the_name_kind_and_tags_given(runner, feed_list) -> None:
    base, feeds = feed_list
    result = invoke(
        runner,
        *base,
        "feeds",
        "add",
        "https://aws.amazon.com/about-aws/whats-new/recent/feed/",
        "--no-check",
        "--name",
        "whats-new",
        "--tag",
        "aws",
        "--tag",
        "announcements",
    )
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in map(json.loads, invoke(runner, *base, "feeds", "--json").stdout.splitlines())}
    assert rows["whats-new"]["kind"] == "aws-whats-new"  # guessed from the URL
    assert 'tags = ["aws", "announcements"]' in feeds.read_text()
    unnamed = invoke(runner, *base, "feeds", "add", "https://www.example.com/blog/feed.xml", "--no-check")
    assert "added feed example-com-blog (community)" in unnamed.stdout
    bad = invoke(runner, *base, "feeds", "add", "https://x.example/f", "--no-check", "--name", "Bad Name")
    assert bad.exit_code == 2 and "--name" in bad.stderr


def test_a_name_taken_already_gets_a_number(runner, server, feed_list) -> None:
    base, _feeds = feed_list
    server.route("/one.xml", Response(200, rss(item("a"), title="Local")))
    result = invoke(runner, *base, "feeds", "add", server.url("/one.xml"))
    assert result.exit_code == 0, result.output
    assert names(runner, base)[-1] == "local-2"


def test_remove_takes_the_table_and_its_comment_and_the_posts_stay(runner, feed_list) -> None:
    base, feeds = feed_list
    assert invoke(runner, *base, "poll", "--feed", "local").exit_code == 0
    result = invoke(runner, *base, "feeds", "remove", "local")
    assert result.exit_code == 0, result.output
    assert "its posts stay in the archive" in result.stdout
    assert feeds.read_text() == FEED_LIST.replace(
        '\n# Local history, imported once.\n[[feeds]]\nname = "local"\nurl = "history.xml"\nkind = "other"\n', ""
    )
    assert names(runner, base) == ["aws-news"]
    listed = invoke(runner, *base, "posts", "--feed", "local", "--json")
    assert [json.loads(line)["title"] for line in listed.stdout.splitlines()] == ["Old news"]
    unknown = invoke(runner, *base, "feeds", "remove", "aws-new")
    assert unknown.exit_code == 1
    assert "no feed named 'aws-new'" in unknown.stderr and "did you mean 'aws-news'?" in unknown.stderr


def test_disable_then_enable_gives_back_the_same_file(runner, feed_list) -> None:
    base, feeds = feed_list
    assert "disabled feed aws-news" in invoke(runner, *base, "feeds", "disable", "aws-news").stdout
    assert "enabled = false" in feeds.read_text()
    rows = [json.loads(line) for line in invoke(runner, *base, "feeds", "--json").stdout.splitlines()]
    assert [r["enabled"] for r in rows] == [False, True]
    assert "is disabled already" in invoke(runner, *base, "feeds", "disable", "aws-news").stdout
    assert "enabled feed aws-news" in invoke(runner, *base, "feeds", "enable", "aws-news").stdout
    assert feeds.read_text() == FEED_LIST


def test_the_shipped_feed_list_is_never_edited(runner, tmp_path) -> None:
    settings_only = tmp_path / "settings.toml"
    settings_only.write_text("[http]\nper_host = 2\n")
    for args in (
        ["add", "https://x.example/feed", "--no-check"],
        ["remove", "aws-news-blog"],
        ["disable", "aws-news-blog"],
    ):
        result = invoke(runner, "--config", str(settings_only), "feeds", *args)
        assert result.exit_code == 2, args
        assert "the active feed list is the shipped default" in result.stderr
        assert "point general.feeds_file at the copy" in result.stderr
