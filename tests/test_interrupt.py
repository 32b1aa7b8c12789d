"""Ctrl-C on the one-shot commands: they stop at once, keep what they stored, say so, exit 130.

The real command in a subprocess, interrupted with SIGINT as a terminal does, against the
loopback server (routes that never answer) or a FIFO nobody writes to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Response, invoke, item, rss
from test_service import clean_env, read_db, wait_until
from whatsnew_api import API_PATH, FakeApi, api_item, timeline

from aggregator import store

NEVER = 600.0
"""A server that does not answer for ten minutes: longer than any test may wait."""


def start(config: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    """``aggregator ARGS`` in a process that takes Ctrl-C as a shell's foreground job does
    (SIGINT may be ignored where the tests run in the background)."""
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def count(db: Path, table: str) -> int:
    """Rows of a table of an archive another process may still be creating (0 until it is there)."""
    try:
        return int(read_db(db, f"SELECT count(*) FROM {table}")[0][0]) if db.exists() else 0
    except sqlite3.Error:
        return 0


@contextlib.contextmanager
def killed_on_failure(proc: subprocess.Popen[str]) -> Iterator[None]:
    """A test that fails before the interruption leaves no process behind."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)  # a generous bound: the fix stops in well under a second
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running a minute after Ctrl-C: {err}") from None
    return proc.returncode, out, err


@pytest.mark.slow
def test_ctrl_c_on_poll_cancels_the_fetches_in_flight_and_keeps_what_was_stored(server, write_config, tmp_path) -> None:
    server.route("/never", Response(200, rss(item("late")), delay=NEVER))
    server.route("/never-either", Response(200, rss(item("later")), delay=NEVER))
    feeds = []
    for n in range(3):
        (tmp_path / f"local{n}.xml").write_bytes(rss(item(f"local-{n}", f"Local news {n}")))
        feeds.append({"name": f"local{n}", "url": f"local{n}.xml", "kind": "community"})
    feeds += [
        {"name": "stuck", "url": server.url("/never"), "kind": "community"},
        {"name": "stuck-too", "url": server.url("/never-either"), "kind": "community"},
    ]
    # Timeouts far beyond the test: only cancelling the fetches can end them.
    config = write_config(feeds, extra='[http]\nread_timeout = "10m"\ntotal_timeout = "10m"')
    db = tmp_path / "archive.db"
    proc = start(config, db, "poll")
    with killed_on_failure(proc):
        wait_until(lambda: server.in_flight == 2, 30, "both slow requests in flight")
        wait_until(
            lambda: count(db, "fetch_log") == 3,
            30,
            "the local feeds stored",
        )

        status, out, err = interrupt(proc)

    assert status == 130, err
    assert "interrupted: 3 feeds stored, 2 not polled; run it again to poll them" in err
    assert "Traceback" not in err and "Aborted" not in err
    assert sorted(line.split()[0] for line in out.splitlines()) == ["local0", "local1", "local2"]
    assert read_db(db, "SELECT count(*) FROM posts")[0][0] == 3
    assert read_db(db, "SELECT feed FROM fetch_log ORDER BY feed") == [("local0",), ("local1",), ("local2",)]
    states = dict(read_db(db, "SELECT name, last_polled FROM feeds"))
    assert states["stuck"] is None and states["stuck-too"] is None  # not polled: due at once next time


@pytest.mark.slow
def test_ctrl_c_on_import_keeps_the_files_imported(write_config, tmp_path) -> None:
    config = write_config([{"name": "wn", "url": "https://aws.amazon.com/new/feed/", "kind": "aws-whats-new"}])
    first, second, last = (tmp_path / f"{name}.xml" for name in ("first", "second", "last"))
    first.write_bytes(rss(item("one"), item("two")))
    second.write_bytes(rss(item("three")))
    last.write_bytes(rss(item("four")))
    stuck = tmp_path / "stuck.xml"
    os.mkfifo(stuck)  # reading it waits for a writer that never comes
    db = tmp_path / "archive.db"
    proc = start(config, db, "import", str(first), str(second), str(stuck), str(last), "--feed", "wn")
    with killed_on_failure(proc):
        wait_until(lambda: count(db, "posts") == 3, 60, "two files stored")

        status, _out, err = interrupt(proc)

    assert status == 130, err
    assert "interrupted: 2 of 4 files imported into wn (3 new, 0 updated posts), 2 not imported" in err
    assert "run it again to import them" in err
    assert "Traceback" not in err
    assert read_db(db, "SELECT count(*) FROM posts")[0][0] == 3


@pytest.mark.slow
def test_ctrl_c_on_backfill_keeps_the_pages_stored_and_the_same_command_continues(
    server, write_config, tmp_path
) -> None:
    start_at = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    api = FakeApi(
        [api_item(n, when) for n, when in enumerate(timeline(60, start=start_at, step=dt.timedelta(hours=6)))]
    )
    server.route(API_PATH, api)
    api.fail("whats-new-v2#year#2024", 2, Response(200, b"{}", delay=NEVER))
    config = write_config(
        [{"name": "wn", "url": server.url("/rss"), "kind": "aws-whats-new"}],
        extra=f'[backfill]\napi_url = "{server.url(API_PATH)}"\npause = "0s"\npage_size = 20\n'
        '[http]\nread_timeout = "10m"\ntotal_timeout = "10m"',
    )
    db = tmp_path / "archive.db"
    args = ("backfill", "--since", "2024-03-01", "--until", "2024-04-01")
    proc = start(config, db, *args)
    with killed_on_failure(proc):
        wait_until(lambda: 2 in api.pages_asked("whats-new-v2#year#2024"), 30, "the third page asked for")

        status, _out, err = interrupt(proc)

    assert status == 130, err
    assert "interrupted: 2 pages stored by this run (40 new, 0 updated posts)" in err
    assert "run the same command again to continue" in err
    assert read_db(db, "SELECT count(*) FROM posts")[0][0] == 40
    again = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "(resumed)" in again.stdout and "60 items" in again.stdout
    assert read_db(db, "SELECT count(*) FROM posts")[0][0] == 60


def test_ctrl_c_on_tag_keeps_the_batches_done(runner, write_config, tmp_path, monkeypatch) -> None:
    (tmp_path / "wn.xml").write_bytes(rss(*(item(f"launch-{n}") for n in range(5))))
    config = write_config([{"name": "wn", "url": "wn.xml", "kind": "aws-whats-new"}])
    base = ["--config", str(config), "--db", str(tmp_path / "archive.db")]
    assert invoke(runner, *base, "poll").exit_code == 0
    with store.write_transaction(db := store.open_db(tmp_path / "archive.db")):
        db.execute("UPDATE posts SET tagged_with = NULL")
    real = store.save_taggings
    calls = []

    def interrupted_on_the_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "save_taggings", interrupted_on_the_third_batch)
    result = invoke(runner, *base, "tag", "--batch-size", "2")
    assert result.exit_code == 130
    assert "interrupted: 4 of 5 posts tagged and stored; run it again to carry on with the 1 others" in result.stderr
    monkeypatch.setattr(store, "save_taggings", real)
    again = invoke(runner, *base, "tag")
    assert again.exit_code == 0 and "tagged 1 posts" in again.stdout
