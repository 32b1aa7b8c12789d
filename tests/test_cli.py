"""The CLI as a user drives it: poll, run --once, feeds, posts, import, opml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Response, item, rss

from aggregator import store
from aggregator.cli import cli


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DB", raising=False)
    return CliRunner()


@pytest.fixture
def setup(tmp_path: Path, write_config):
    """Two local feeds and a configuration listing them; returns (config path, db path)."""
    (tmp_path / "wn.xml").write_bytes(
        rss(
            item("s3-feature", "Amazon S3 adds a feature", date="Mon, 06 May 2024 10:00:00 +0000", guid="g1"),
            item(
                "lambda-runtime", "AWS Lambda supports a new runtime", date="Tue, 07 May 2024 10:00:00 +0000", guid="g2"
            ),
        )
    )
    (tmp_path / "blog.xml").write_bytes(
        rss(
            item(
                "x",
                "Step Functions dynamic parallelism",
                link="https://aws.amazon.com/blogs/aws/new-step-functions-parallel/",
                date="Wed, 08 May 2024 10:00:00 +0000",
            ),
            title="AWS News Blog",
            link="https://aws.amazon.com/blogs/aws/",
        )
    )
    config = write_config(
        [
            {"name": "wn", "url": "wn.xml", "kind": "aws-whats-new"},
            {"name": "blog", "url": "blog.xml", "kind": "aws-blog"},
        ]
    )
    return config, tmp_path / "archive.db"


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_poll_prints_one_line_per_feed_and_stores_posts(runner, setup) -> None:
    config, db = setup
    result = invoke(runner, "--config", str(config), "--db", str(db), "poll")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:3] == ["wn", "200", "stored"]
    assert "new=2" in lines[0] and "new=1" in lines[1]
    assert "3 new posts" in result.stderr
    assert store.open_db(db)["posts"].count == 3


def test_poll_json_is_one_object_per_feed(runner, setup) -> None:
    config, db = setup
    result = invoke(runner, "--config", str(config), "--db", str(db), "poll", "--json", "--feed", "wn")
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["feed"] for o in objects] == ["wn"]
    assert set(objects[0]) >= {"feed", "status", "new", "updated", "duration_ms", "error"}
    assert objects[0]["new"] == 2 and objects[0]["status"] == 200 and objects[0]["error"] is None


def test_poll_exits_1_when_a_feed_fails_but_stores_the_others(runner, setup, server, tmp_path, write_config) -> None:
    server.route("/broken", Response(500, b"oops"))
    config = write_config(
        [
            {"name": "wn", "url": "wn.xml", "kind": "aws-whats-new"},
            {"name": "broken", "url": server.url("/broken"), "kind": "other"},
        ],
        name="with-broken.toml",
    )
    result = invoke(runner, "--config", str(config), "--db", str(tmp_path / "b.db"), "poll")
    assert result.exit_code == 1
    assert "HTTP 500" in result.stdout
    assert "1 failed" in result.stderr
    assert store.open_db(tmp_path / "b.db")["posts"].count == 2


def test_unknown_feed_name_lists_the_known_ones(runner, setup) -> None:
    config, db = setup
    result = invoke(runner, "--config", str(config), "--db", str(db), "poll", "--feed", "nope")
    assert result.exit_code == 1
    assert "no feed named 'nope'" in result.stderr
    assert "wn, blog" in result.stderr


def test_bad_config_fails_at_start_with_file_and_key(runner, tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\ntimeout = 5\n")
    result = invoke(runner, "--config", str(bad), "feeds")
    assert result.exit_code == 1
    assert str(bad) in result.stderr and "http.timeout" in result.stderr and "unknown setting" in result.stderr


def test_environment_variables_choose_config_and_database(runner, setup, monkeypatch) -> None:
    config, db = setup
    monkeypatch.setenv("AGGREGATOR_CONFIG", str(config))
    monkeypatch.setenv("AGGREGATOR_DB", str(db))
    assert invoke(runner, "poll").exit_code == 0
    assert db.exists()


def test_run_once_polls_only_feeds_that_are_due(runner, setup) -> None:
    config, db = setup
    first = invoke(runner, "--config", str(config), "--db", str(db), "run", "--once")
    assert first.exit_code == 0
    polls = store.open_db(db)["fetch_log"].count
    assert polls == 2
    second = invoke(runner, "--config", str(config), "--db", str(db), "run", "--once")
    assert second.exit_code == 0
    assert store.open_db(db)["fetch_log"].count == polls  # nothing was due yet


def test_feeds_shows_health(runner, setup) -> None:
    config, db = setup
    invoke(runner, "--config", str(config), "--db", str(db), "poll")
    result = invoke(runner, "--config", str(config), "--db", str(db), "feeds", "--json")
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["wn"]["posts"] == 2 and rows["blog"]["posts"] == 1
    assert rows["wn"]["last_status"] == 200
    assert rows["wn"]["consecutive_failures"] == 0
    assert rows["wn"]["last_success"] and rows["wn"]["next_check"]
    text = invoke(runner, "--config", str(config), "--db", str(db), "feeds").stdout
    assert "wn" in text and "200" in text


def test_posts_filters_and_json(runner, setup) -> None:
    config, db = setup
    base = ["--config", str(config), "--db", str(db)]
    invoke(runner, *base, "poll")
    everything = [json.loads(line) for line in invoke(runner, *base, "posts", "--json").stdout.splitlines()]
    assert [p["title"] for p in everything] == [
        "Step Functions dynamic parallelism",
        "AWS Lambda supports a new runtime",
        "Amazon S3 adds a feature",
    ]
    assert everything[2]["categories"] == ["general:products/amazon-s3", "marketing:marchitecture/storage"]
    assert everything[0]["feeds"] == ["blog"]

    def titles(*args: str) -> list[str]:
        out = invoke(runner, *base, "posts", "--json", *args).stdout
        return [json.loads(line)["title"] for line in out.splitlines()]

    assert titles("--feed", "wn") == ["AWS Lambda supports a new runtime", "Amazon S3 adds a feature"]
    assert titles("--since", "2024-05-07") == [
        "Step Functions dynamic parallelism",
        "AWS Lambda supports a new runtime",
    ]
    assert titles("--until", "2024-05-07") == ["Amazon S3 adds a feature"]
    assert titles("--search", "runtime") == ["AWS Lambda supports a new runtime"]
    assert titles("--limit", "1") == ["Step Functions dynamic parallelism"]
    text = invoke(runner, *base, "posts", "--limit", "1").stdout
    assert "2024-05-08" in text and "Step Functions dynamic parallelism" in text


@pytest.mark.parametrize("args, message", [(["--since", "last tuesday"], "is not a date"), (["--limit", "0"], "0")])
def test_posts_rejects_bad_arguments(runner, setup, args, message) -> None:
    config, db = setup
    result = invoke(runner, "--config", str(config), "--db", str(db), "posts", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_import_loads_history_and_skips_a_bad_file(runner, setup, tmp_path) -> None:
    config, db = setup
    week1 = tmp_path / "week1.xml"
    week1.write_bytes(rss(item("old-one", date="Mon, 04 Mar 2019 17:00:00 +0000")))
    week2 = tmp_path / "week2.xml"
    week2.write_bytes(rss(item("old-two", date="Mon, 11 Mar 2019 17:00:00 +0000")))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<html><body>Service Unavailable</body></html>")
    result = invoke(
        runner, "--config", str(config), "--db", str(db), "import", str(week1), str(broken), str(week2), "--feed", "wn"
    )
    assert result.exit_code == 1
    assert "broken.xml" in result.stderr and "HTML page" in result.stderr
    assert "imported 2 of 3 files into wn: 2 new" in result.stdout
    rows = {r["title"]: r for r in store.open_db(db)["posts"].rows}
    assert rows["Old One"]["first_seen"] == "2019-03-04T17:00:00+00:00"
    # Importing again stores nothing twice.
    again = invoke(runner, "--config", str(config), "--db", str(db), "import", str(week1), "--feed", "wn")
    assert "0 new" in again.stdout
    assert store.open_db(db)["posts"].count == 2


def test_opml_round_trip(runner, setup, tmp_path) -> None:
    config, db = setup
    exported = invoke(runner, "--config", str(config), "opml", "export").stdout
    assert 'xmlUrl="' in exported and "wn" in exported
    reader_export = tmp_path / "reader.opml"
    reader_export.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>My reader</title></head><body>
        <outline text="AWS"><outline type="rss" text="AWS Containers Blog" xmlUrl="https://aws.amazon.com/blogs/containers/feed/"/>
        <outline type="rss" text="Someone's Blog" xmlUrl="https://someone.example/feed.xml"/></outline>
        </body></opml>"""
    )
    result = invoke(runner, "--config", str(config), "opml", "import", str(reader_export))
    assert result.exit_code == 0, result.output
    assert "added 2 feeds" in result.stdout
    names = {
        f["name"]: f
        for f in map(
            json.loads, invoke(runner, "--config", str(config), "--db", str(db), "feeds", "--json").stdout.splitlines()
        )
    }
    assert names["aws-containers-blog"]["kind"] == "aws-blog"
    assert names["someone-s-blog"]["kind"] == "community"
    # Importing the same file again adds nothing.
    assert "added 0 feeds" in invoke(runner, "--config", str(config), "opml", "import", str(reader_export)).stdout


def test_opml_import_refuses_to_write_into_the_shipped_feed_list(runner, tmp_path) -> None:
    opml_file = tmp_path / "x.opml"
    opml_file.write_text('<opml version="2.0"><body><outline xmlUrl="https://x.example/feed"/></body></opml>')
    settings_only = tmp_path / "settings.toml"
    settings_only.write_text("[http]\nper_host = 2\n")
    result = invoke(runner, "--config", str(settings_only), "opml", "import", str(opml_file))
    assert result.exit_code == 2
    assert "shipped default" in result.stderr
    printed = invoke(runner, "--config", str(settings_only), "opml", "import", str(opml_file), "--output", "-")
    assert "[[feeds]]" in printed.stdout and 'url = "https://x.example/feed"' in printed.stdout


def test_opml_import_rejects_a_hostile_file(runner, setup, tmp_path) -> None:
    config, _db = setup
    hostile = tmp_path / "evil.opml"
    hostile.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><opml><body/></opml>'
    )
    result = invoke(runner, "--config", str(config), "opml", "import", str(hostile))
    assert result.exit_code == 1
    assert "DOCTYPE" in result.stderr


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("aggregator, version")


def test_read_commands_never_create_an_archive(runner, setup, tmp_path) -> None:
    config, _db = setup
    typo = tmp_path / "no-such-dir" / "archive.db"
    for command in (["posts"], ["digest", "--date", "2024-05-13", "--stdout"], ["taxonomy", "unknown"]):
        result = invoke(runner, "--config", str(config), "--db", str(typo), *command)
        assert result.exit_code == 1, command
        assert f"no archive at {typo}" in result.stderr
    assert not typo.parent.exists()
    # `feeds` lists the configured feeds before the first poll, without creating anything either.
    listed = invoke(runner, "--config", str(config), "--db", str(typo), "feeds", "--json")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["wn", "blog"]
    assert not typo.parent.exists()


def test_an_archive_this_user_cannot_write_is_read_read_only(runner, setup, monkeypatch) -> None:
    config, db = setup
    invoke(runner, "--config", str(config), "--db", str(db), "poll")
    before = db.read_bytes()
    monkeypatch.setattr(store.schema.os, "access", lambda path, mode: mode != store.schema.os.W_OK)
    result = invoke(runner, "--config", str(config), "--db", str(db), "posts", "--json")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "99999999d"], "out of range"),
        (["--since", "0001-01-01T00:00+01:00"], "out of range"),
        (["--limit", "99999999999999999999"], "1<=x<=1000000000"),
        (["--since", "2025-02-21", "--until", "2025-02-20"], "must be before --until"),
    ],
)
def test_out_of_range_arguments_are_usage_errors_not_tracebacks(runner, setup, args, message) -> None:
    config, db = setup
    invoke(runner, "--config", str(config), "--db", str(db), "poll")
    result = runner.invoke(cli, ["--config", str(config), "--db", str(db), "posts", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_tag_the_registry_does_not_know_says_so(runner, setup) -> None:
    config, db = setup
    invoke(runner, "--config", str(config), "--db", str(db), "poll")
    result = invoke(runner, "--config", str(config), "--db", str(db), "posts", "--tag", "lamda")
    assert result.exit_code == 0
    assert "lamda is not a tag the registry knows" in result.stderr


def test_opml_import_skips_an_outline_it_cannot_import_and_keeps_the_rest(runner, setup, tmp_path) -> None:
    config, _db = setup
    mixed = tmp_path / "mixed.opml"
    mixed.write_text(
        '<opml version="2.0"><body><outline text="Local" xmlUrl="file:///etc/feed.xml"/>'
        '<outline text="Good" xmlUrl="https://good.example/feed.xml"/></body></opml>'
    )
    result = invoke(runner, "--config", str(config), "opml", "import", str(mixed))
    assert result.exit_code == 0
    assert "skipped 'Local': only http(s) feed URLs can be imported" in result.stderr
    assert "added 1 feed to" in result.stdout and "1 skipped" in result.stdout
    assert 'url = "https://good.example/feed.xml"' in config.read_text()


def test_opml_export_to_a_folder_that_does_not_exist_is_a_clear_error(runner, setup, tmp_path) -> None:
    config, _db = setup
    result = invoke(runner, "--config", str(config), "opml", "export", "--output", str(tmp_path / "nope" / "x.opml"))
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "No such file or directory" in result.stderr
