"""`aggregator tag add|remove`: tags a person gives a post survive every retag, show in `posts`,
and count in the digest like the tagger's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLE_CONFIG, invoke

from aggregator import store
from aggregator.digest.stories import load_posts

COMMUNITY_DAY = "https://harriet-nguyen.example.net/2025/02/community-day-melbourne-notes/"


@pytest.fixture
def base(runner, tmp_path: Path) -> list[str]:
    args = ["--config", str(EXAMPLE_CONFIG), "--db", str(tmp_path / "example.db")]
    assert invoke(runner, *args, "poll").exit_code == 0
    return args


def post(runner, base: list[str], url: str) -> dict:
    for line in invoke(runner, *base, "posts", "--json", "--limit", "500").stdout.splitlines():
        row = json.loads(line)
        if row["url"] == url:
            return row
    raise AssertionError(url)


def test_manual_tags_show_in_posts_and_survive_every_retag(runner, base) -> None:
    before = post(runner, base, COMMUNITY_DAY)
    assert "lambda" not in before["tags"]
    result = invoke(runner, *base, "tag", "add", COMMUNITY_DAY, "lambda", "melbourne")
    assert result.exit_code == 0, result.output
    assert "with lambda (service), melbourne (topic)" in result.stdout
    assert {"lambda", "melbourne"} <= set(post(runner, base, COMMUNITY_DAY)["tags"])
    for args in (["--retag"], ["--all"], []):
        assert invoke(runner, *base, "tag", *args).exit_code == 0
        assert {"lambda", "melbourne"} <= set(post(runner, base, COMMUNITY_DAY)["tags"]), args
    text = invoke(runner, *base, "posts", "--tag", "melbourne").stdout
    assert "Notes from AWS Community Day Melbourne" in text and "melbourne" in text


def test_the_digest_counts_a_manual_service_tag(runner, base, tmp_path) -> None:
    row = post(runner, base, COMMUNITY_DAY)
    assert invoke(runner, *base, "tag", "add", row["id"], "stepfunctions").exit_code == 0
    (candidate,) = load_posts(store.open_db(tmp_path / "example.db"), [row["id"]])
    assert "stepfunctions" in candidate.services


def test_an_unknown_key_is_a_topic_with_a_suggestion_and_a_name_resolves(runner, base) -> None:
    result = invoke(runner, *base, "tag", "add", COMMUNITY_DAY, "lamda", "Amazon S3")
    assert result.exit_code == 0
    assert "note: 'lamda' is not in the registry: added as a topic; did you mean 'lambda'?" in result.stderr
    assert "note: 'Amazon S3' is 's3' in the registry" in result.stderr
    assert "lamda (topic), s3 (service)" in result.stdout


def test_remove_takes_manual_tags_only(runner, base) -> None:
    invoke(runner, *base, "tag", "add", COMMUNITY_DAY, "lambda")
    tagged = post(runner, base, COMMUNITY_DAY)["tags"]
    automatic = next(t for t in tagged if t != "lambda")
    result = invoke(runner, *base, "tag", "remove", COMMUNITY_DAY, "lambda", automatic, "nothing")
    assert result.exit_code == 1
    assert "removed lambda from" in result.stdout
    assert f"not removed: {automatic} found by the tagger" in result.stderr
    assert "not removed: nothing: not a tag of this post" in result.stderr
    assert set(post(runner, base, COMMUNITY_DAY)["tags"]) == set(tagged) - {"lambda"}


def test_a_post_that_is_not_there_is_a_usage_error(runner, base) -> None:
    result = invoke(runner, *base, "tag", "add", "https://example.com/nope", "s3")
    assert result.exit_code == 2
    assert "no post with the id or URL 'https://example.com/nope'" in result.stderr
