"""`aggregator posts` as a new user drives it: date filters in the days it shows, feeds that left
the list, paging and full-text queries."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLE_CONFIG, invoke

from aggregator import store
from aggregator.cli import cli


def listed(runner, db: Path, *args: str, config: Path = EXAMPLE_CONFIG) -> list[dict]:
    result = invoke(runner, "--config", str(config), "--db", str(db), "posts", "--json", "--limit", "500", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def shown_days(runner, db: Path, *args: str) -> list[str]:
    """The dates `posts` prints (in general.timezone, Australia/Melbourne for the example)."""
    result = invoke(runner, "--config", str(EXAMPLE_CONFIG), "--db", str(db), "posts", "--limit", "500", *args)
    assert result.exit_code == 0, result.output
    return [line[:10] for line in result.stdout.splitlines() if line[:4].isdigit()]


def test_a_bare_date_filters_the_days_the_list_shows(runner, example_archive) -> None:
    on_the_22nd = [day for day in shown_days(runner, example_archive) if day == "2025-02-22"]
    assert len(on_the_22nd) == 5
    assert shown_days(runner, example_archive, "--since", "2025-02-22") == on_the_22nd
    before = shown_days(runner, example_archive, "--until", "2025-02-22")
    assert before and all(day < "2025-02-22" for day in before)
    one_day = shown_days(runner, example_archive, "--since", "2025-02-21", "--until", "2025-02-22")
    assert one_day and set(one_day) == {"2025-02-21"}


def test_a_date_time_with_an_offset_keeps_its_offset(runner, example_archive) -> None:
    utc_day = listed(runner, example_archive, "--since", "2025-02-22T00:00:00+00:00")
    assert len(utc_day) == 1
    assert all(post["date"] >= "2025-02-22T00:00:00+00:00" for post in utc_day)
    # Without an offset, a date-time is in general.timezone too (Melbourne is UTC+11 in February).
    local = listed(runner, example_archive, "--since", "2025-02-22T11:00")
    assert [p["id"] for p in local] == [p["id"] for p in utc_day]


def test_an_age_counts_back_from_now(runner, example_archive) -> None:
    assert listed(runner, example_archive, "--since", "7d") == []  # the example's news is from 2025
    assert len(listed(runner, example_archive, "--until", "7d")) == 79


def test_posts_of_a_feed_removed_from_the_list_can_still_be_listed(runner, tmp_path) -> None:
    db = tmp_path / "archive.db"
    assert invoke(runner, "--config", str(EXAMPLE_CONFIG), "--db", str(db), "poll").exit_code == 0
    config = tmp_path / "fewer.toml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("examples/", f"{EXAMPLE_CONFIG.parent}/examples/")
    config.write_text(text.split('[[feeds]]\nname = "community"')[0], encoding="utf-8")
    assert "community" not in invoke(runner, "--config", str(config), "feeds").stdout
    community = listed(runner, db, "--feed", "community", config=config)
    assert len(community) == 7 and all(p["feeds"] == ["community"] for p in community)
    # A name neither listed nor in the archive is still an error, with the closest name.
    result = invoke(runner, "--config", str(config), "--db", str(db), "posts", "--feed", "comunity")
    assert result.exit_code == 1
    assert "no feed named 'comunity'" in result.stderr and "did you mean 'community'?" in result.stderr


def test_offset_pages_through_the_list(runner, example_archive) -> None:
    everything = [p["id"] for p in listed(runner, example_archive)]
    pages = [
        [p["id"] for p in listed(runner, example_archive, "--limit", "30", "--offset", str(start))]
        for start in (0, 30, 60, 90)
    ]
    assert [len(page) for page in pages] == [30, 30, 19, 0]
    assert [post for page in pages for post in page] == everything


def test_search_takes_the_full_text_query_syntax(runner, example_archive) -> None:
    def titles(query: str) -> set[str]:
        return {p["title"] for p in listed(runner, example_archive, "--search", query)}

    snapstart, documentdb = titles("snapstart"), titles("documentdb")
    assert snapstart and documentdb and not snapstart & documentdb
    assert titles("snapstart OR documentdb") == snapstart | documentdb
    assert titles("snapst*") == snapstart
    assert titles('"lambda snapstart"') <= snapstart
    assert titles("lambda NOT snapstart") == titles("lambda") - snapstart
    # Plain words work as before, punctuation and all.
    assert titles("lambda snapstart") == titles("snapstart lambda")
    assert titles("node.js") == titles('"node.js"')
    assert titles('"snapstart') == snapstart  # a stray quote, as before


def test_a_malformed_search_is_a_usage_error_naming_the_problem(runner, example_archive) -> None:
    for query in ("lambda OR", '"unclosed phrase OR lambda', "(lambda"):
        result = runner.invoke(
            cli,
            ["--config", str(EXAMPLE_CONFIG), "--db", str(example_archive), "posts", "--search", query],
        )
        assert result.exit_code == 2, (query, result.output)
        assert "--search" in result.stderr and "is not a search the full-text index can run" in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_empty_list_says_why_on_stderr_and_prints_nothing_on_stdout(runner, example_archive, tmp_path) -> None:
    def why(db: Path, *args: str) -> str:
        result = invoke(runner, "--config", str(EXAMPLE_CONFIG), "--db", str(db), "posts", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout == ""  # a script reading the list sees an empty list
        return result.stderr

    assert "no posts match" in why(example_archive, "--search", "nosuchwordanywhere")
    assert "no posts match" in why(example_archive, "--until", "2001-01-01")
    assert "no posts past the first 500" in why(example_archive, "--offset", "500")
    assert "is not a tag the registry knows" in why(example_archive, "--tag", "nosuchservice")
    empty = tmp_path / "empty.db"
    store.open_db(empty).close()  # an archive nothing was polled into yet
    assert "no posts yet" in why(empty) and "aggregator run --once" in why(empty)
    # --json stays quiet: one object per post, none here.
    result = invoke(runner, "--config", str(EXAMPLE_CONFIG), "--db", str(empty), "posts", "--json")
    assert result.exit_code == 0 and result.output == ""
