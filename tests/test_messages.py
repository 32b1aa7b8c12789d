"""What the commands say when something is off: warnings a poll or an import meets, waits a
server asks for, dates in the future, progress bars, verbosity and rounded times."""

from __future__ import annotations

import logging
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE_CONFIG, Response, invoke, item, rss

from aggregator.cli import cli

CUT_OFF = rss(
    item("complete-one", "Amazon S3 adds one thing", date="Mon, 06 May 2024 10:00:00 +0000"),
    item("complete-two", "Amazon S3 adds another", date="Tue, 07 May 2024 10:00:00 +0000"),
).split(b"<item>", 3)
CUT_OFF_FILE = b"<item>".join(CUT_OFF[:3]) + b"<item><link>https://aws.amazon.com/x</link><title>Half an"
"""Two complete items, then the document stops inside a third."""


def example_feeds_config(tmp_path: Path, extra: str = "") -> Path:
    """The example's feeds, with other settings."""
    feeds = EXAMPLE_CONFIG.read_text(encoding="utf-8").split("[[feeds]]", 1)[1].split("\n# The weekly draft")[0]
    feeds = feeds.replace('url = "examples/', f'url = "{EXAMPLE_CONFIG.parent}/examples/')
    path = tmp_path / "example-feeds.toml"
    path.write_text(f"{extra}\n\n[[feeds]]{feeds}", encoding="utf-8")
    return path


def test_import_of_a_cut_off_file_warns_naming_the_file(runner, write_config, tmp_path) -> None:
    config = write_config([{"name": "wn", "url": "https://aws.amazon.com/new/feed/", "kind": "aws-whats-new"}])
    cut = tmp_path / "cut.xml"
    cut.write_bytes(CUT_OFF_FILE)
    result = invoke(runner, "--config", str(config), "--db", str(tmp_path / "a.db"), "import", str(cut), "--feed", "wn")
    assert result.exit_code == 0
    assert "imported 1 of 1 files into wn: 2 new" in result.stdout
    assert f"warning: {cut}: the document ends inside an entry (cut off?)" in result.stderr


def test_poll_warns_about_a_cut_off_feed_and_a_gap_naming_the_feed(runner, server, write_config, tmp_path) -> None:
    def whats_new(*days: int) -> bytes:
        return rss(*(item(f"launch-{day}", date=f"Mon, {day:02d} May 2024 10:00:00 +0000") for day in days))

    server.route("/rss", [Response(200, whats_new(1, 2)), Response(200, whats_new(20, 21))])
    (tmp_path / "cut.xml").write_bytes(CUT_OFF_FILE)
    config = write_config(
        [
            {"name": "wn", "url": server.url("/rss"), "kind": "aws-whats-new"},
            {"name": "cut", "url": "cut.xml", "kind": "community"},
        ]
    )
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    first = invoke(runner, *base, "poll")
    assert first.exit_code == 0
    assert "warning: feed cut: the document ends inside an entry (cut off?)" in first.stderr
    second = invoke(runner, *base, "poll", "--feed", "wn")
    assert second.exit_code == 0
    assert re.search(
        r"warning: feed wn: gap: nothing seen between 2024-05-02 10:00 and 2024-05-20 10:00", second.stderr
    )


def test_a_retry_after_far_in_the_future_is_a_date_and_the_cap_is_named(runner, server, write_config, tmp_path):
    server.route("/feed", Response(503, headers={"Retry-After": "Fri, 31 Dec 2099 23:59:59 GMT"}))
    config = write_config([{"name": "busy", "url": server.url("/feed"), "kind": "other"}])
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    result = invoke(runner, *base, "poll")
    assert result.exit_code == 1
    assert "Retry-After: until 2099-12-31 23:59 UTC" in result.stdout
    assert "waiting 1d instead, the longest poll.retry_after_max allows" in result.stdout
    assert "e+" not in result.stdout
    assert "poll.retry_after_max" in invoke(runner, *base, "feeds").stdout


def test_backfill_from_a_date_in_the_future_says_so(runner, tmp_path) -> None:
    result = runner.invoke(
        cli,
        ["--config", str(EXAMPLE_CONFIG), "--db", str(tmp_path / "a.db"), "backfill", "--since", "2999-01-01"],
    )
    assert result.exit_code == 2
    assert "--since" in result.stderr and "is in the future" in result.stderr
    assert "--until" not in result.stderr


@pytest.mark.parametrize("flags, level", [([], logging.INFO), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)])
def test_v_means_info_and_vv_debug_for_run_too(runner, tmp_path, flags, level) -> None:
    """The example configuration sets general.log_level = INFO."""
    result = invoke(runner, *flags, "--config", str(EXAMPLE_CONFIG), "--db", str(tmp_path / "a.db"), "run", "--once")
    assert result.exit_code == 0
    assert logging.getLogger().level == level
    assert "-v from INFO, -vv from DEBUG" in invoke(runner, "--help").stdout


def test_feeds_rounds_the_next_check_to_whole_hours(runner, tmp_path) -> None:
    config = example_feeds_config(tmp_path, "[poll]\njitter = 0.0")
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    assert invoke(runner, *base, "poll").exit_code == 0
    text = invoke(runner, *base, "feeds").stdout
    next_checks = re.findall(r"\s(in \S+)\s", text)
    assert sorted(next_checks) == ["in 15m", "in 1h", "in 1h", "in 1h"], text


@pytest.mark.slow
def test_import_messages_never_share_a_line_with_the_progress_bar(write_config, tmp_path) -> None:
    config = write_config([{"name": "wn", "url": "https://aws.amazon.com/new/feed/", "kind": "aws-whats-new"}])
    files = []
    for n in range(4):
        path = tmp_path / f"week{n}.xml"
        path.write_bytes(rss(item(f"launch-{n}")) if n != 2 else b"<html><body>Service Unavailable</body></html>")
        files.append(str(path))
    (tmp_path / "cut.xml").write_bytes(CUT_OFF_FILE)
    files.append(str(tmp_path / "cut.xml"))
    leader, follower = pty.openpty()  # stderr on a terminal: the bar is drawn
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    argv = [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(tmp_path / "a.db"), "import"]
    with subprocess.Popen([*argv, *files, "--feed", "wn"], stdout=subprocess.PIPE, stderr=follower, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
    os.close(leader)
    terminal = b"".join(chunks).decode()
    assert "importing into wn" in terminal
    messages = [line for line in terminal.split("\n") if "skipped" in line or "warning:" in line]
    assert len(messages) == 3, terminal  # the HTML page, and two warnings about the cut-off file
    for line in messages:
        last = line.rstrip("\r").split("\r")[-1]  # what stays visible of the line (a terminal ends lines with \r\n)
        assert re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", last).startswith(("skipped", "warning:")), repr(line)
