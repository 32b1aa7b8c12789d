"""The feed list's likely mistakes (the same URL twice, two What's New feeds), credentials in feed
URLs kept out of every output, and `aggregator config check`."""

from __future__ import annotations

import logging

from conftest import EXAMPLE_CONFIG, Response, invoke

from aggregator.config import load_config
from aggregator.logs import mask_credentials

SECRET = "s3cr3t-pa55"


def test_the_same_url_twice_is_a_warning_naming_both_feeds(runner, write_config, tmp_path) -> None:
    config = write_config(
        [
            {"name": "news", "url": "https://aws.amazon.com/blogs/aws/feed/", "kind": "aws-blog"},
            {"name": "news-again", "url": "https://AWS.amazon.com/blogs/aws/feed", "kind": "aws-blog"},
        ]
    )
    assert len(load_config(config).warnings) == 1
    result = invoke(runner, "--config", str(config), "feeds")
    assert result.exit_code == 0
    assert "warning: feeds 'news' and 'news-again' have the same URL" in result.stderr
    assert "aggregator feeds remove news-again" in result.stderr
    assert "warning" not in invoke(runner, "-q", "--config", str(config), "feeds").stderr


def test_two_enabled_whats_new_feeds_warn_and_backfill_asks_which(runner, write_config, tmp_path) -> None:
    config = write_config(
        [
            {
                "name": "aws-whats-new",
                "url": "https://aws.amazon.com/about-aws/whats-new/recent/feed/",
                "kind": "aws-whats-new",
            },
            {"name": "whats-new-2", "url": "https://aws.amazon.com/new/feed/", "kind": "aws-whats-new"},
        ]
    )
    result = invoke(
        runner, "--config", str(config), "--db", str(tmp_path / "a.db"), "backfill", "--since", "2024-01-01"
    )
    assert result.exit_code == 1
    assert "warning: 2 enabled feeds of kind aws-whats-new (aws-whats-new, whats-new-2)" in result.stderr
    assert "(aws-whats-new, whats-new-2): name the one to fill with --feed" in result.stderr
    assert not (tmp_path / "a.db").exists()


def test_credentials_in_a_feed_url_never_show(runner, server, write_config, tmp_path) -> None:
    server.route("/private", Response(401, b"who are you?"))
    url = server.url("/private").replace("http://", f"http://reader:{SECRET}@")
    config = write_config([{"name": "private", "url": url, "kind": "other"}])
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    outputs = [
        invoke(runner, "-vv", *base, "poll"),
        invoke(runner, *base, "poll", "--json"),
        invoke(runner, *base, "feeds"),
        invoke(runner, *base, "feeds", "--json"),
        invoke(runner, *base, "opml", "export"),
        invoke(runner, *base, "config", "check"),
    ]
    assert "HTTP 401" in outputs[0].stdout
    assert "reader:***@127.0.0.1" in outputs[2].stdout
    for result in outputs:
        assert SECRET not in result.output
    # Only when asked for: an export to move the list to another machine.
    assert SECRET in invoke(runner, *base, "opml", "export", "--with-credentials").stdout


def test_log_lines_mask_credentials(caplog) -> None:
    from aggregator.logs import JsonFormatter, MaskingFormatter

    record = logging.makeLogRecord({"msg": "cannot fetch %s", "args": (f"https://me:{SECRET}@example.com/f",)})
    for formatter in (JsonFormatter(), MaskingFormatter("%(message)s")):
        line = formatter.format(record)
        assert SECRET not in line and "https://me:***@example.com/f" in line
    assert mask_credentials("https://token123@example.com/feed") == "https://***@example.com/feed"
    assert mask_credentials("mail aws@amazon.com about https://example.com/a@b") == (
        "mail aws@amazon.com about https://example.com/a@b"
    )


def test_config_check_lists_every_problem_and_the_files_it_read(runner, tmp_path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        '[[feeds]]\nname = "Bad Name"\nurl = "aws.amazon.com/blogs/aws/feed/"\nkind = "blog"\n\n'
        '[[feeds]]\nname = "good"\nurl = "https://example.com/feed.xml"\nkind = "community"\n\n'
        '[[feeds]]\nname = "twin"\nurl = "https://example.com/feed.xml"\nkind = "community"\n'
    )
    config = tmp_path / "aggregator.toml"
    config.write_text(
        '[general]\ntimezone = "Mars/Olympus"\nfeeds_file = "feeds.toml"\n[http]\ntimeout = 5\nper_host = 99\n'
    )
    db = tmp_path / "never.db"
    result = invoke(runner, "--config", str(config), "--db", str(db), "config", "check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"configuration: {config}"
    assert lines[1] == f"feed list: {feeds} (2 valid feeds, 2 enabled)"
    assert lines[2].startswith("services: ") and "entries" in lines[2]
    errors = [line for line in lines if line.startswith("error: ")]
    assert [e.split(": ", 2)[2].split(":")[0] for e in errors] == [
        "http.timeout",
        "http.per_host",
        "general.timezone",
        "feeds[0] (Bad Name).kind",
        "feeds[0] (Bad Name).name",
        "feeds[0] (Bad Name).url",
    ]
    assert any(line.startswith("warning: feeds 'good' and 'twin' have the same URL") for line in lines)
    assert lines[-1] == "6 errors, 1 warning"
    assert not db.exists()


def test_config_check_passes_the_example_and_names_a_broken_services_file(runner, tmp_path) -> None:
    ok = invoke(runner, "--config", str(EXAMPLE_CONFIG), "config", "check")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines()[-1] == "no problems found"
    services = tmp_path / "services.toml"
    services.write_text("[services.zorblax]\nname = 3\n")
    config = tmp_path / "c.toml"
    config.write_text('[taxonomy]\nservices_file = "services.toml"\n[digest]\nnotes_dir = "notes"\n')
    broken = invoke(runner, "--config", str(config), "config", "check")
    assert broken.exit_code == 1
    assert f"services: {EXAMPLE_CONFIG.parent / 'services.toml'} + {services}" in broken.stdout
    assert f"error: {services}" in broken.stdout
    assert "warning: " in broken.stdout and "digest.notes_dir: no such folder" in broken.stdout


def test_config_check_of_a_file_that_is_not_toml(runner, tmp_path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[general\n")
    result = invoke(runner, "--config", str(config), "config", "check")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"error: {config}: invalid TOML")
