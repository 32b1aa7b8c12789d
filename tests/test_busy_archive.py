"""A command that must write while another process holds the archive's write lock: it says what
it waits for, then carries on when the lock is released, or fails clearly at the timeout."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import invoke, item, rss

from aggregator import store


@pytest.fixture
def polled_once(runner, write_config, tmp_path) -> tuple[list[str], Path]:
    """A configuration and an archive polled once; the feed has a new item since."""
    feed = tmp_path / "wn.xml"
    feed.write_bytes(rss(item("first")))
    config = write_config([{"name": "wn", "url": "wn.xml", "kind": "aws-whats-new"}])
    db = tmp_path / "archive.db"
    base = ["--config", str(config), "--db", str(db)]
    assert invoke(runner, *base, "poll").exit_code == 0
    feed.write_bytes(rss(item("first"), item("second")))
    return base, db


def hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process writing: an open ``BEGIN IMMEDIATE``."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_poll_says_it_waits_for_a_busy_archive_then_carries_on(runner, polled_once) -> None:
    base, db = polled_once
    noticed = threading.Event()

    class Notice(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for the archive" in record.getMessage():
                noticed.set()

    other = hold_write_lock(db)
    handler = Notice()
    logging.getLogger("aggregator.store").addHandler(handler)

    def release_once_noticed() -> None:
        noticed.wait(60)
        other.execute("COMMIT")

    releaser = threading.Thread(target=release_once_noticed)
    releaser.start()
    try:
        result = invoke(runner, *base, "poll")
    finally:
        releaser.join()
        logging.getLogger("aggregator.store").removeHandler(handler)
        other.close()
    assert result.exit_code == 0, result.output
    assert f"waiting for the archive {db}: another process is writing to it" in result.stderr
    assert "new=1" in result.stdout
    assert store.open_db(db)["posts"].count == 2


def test_a_poll_fails_clearly_when_the_archive_stays_busy(runner, polled_once, monkeypatch) -> None:
    base, db = polled_once
    monkeypatch.setattr(store.schema, "BUSY_TIMEOUT_S", 1.0)
    monkeypatch.setattr(store.schema, "BUSY_NOTICE_S", 0.2)
    other = hold_write_lock(db)
    try:
        result = invoke(runner, *base, "poll")
    finally:
        other.close()
    assert result.exit_code == 1
    assert f"Error: the archive {db} is busy: another process has been writing to it for 1 s" in result.stderr
    assert "nothing was written: try again once it is done" in result.stderr
    assert "Traceback" not in result.output
    assert store.open_db(db)["posts"].count == 1
    assert invoke(runner, *base, "poll").exit_code == 0  # nothing was left half-done
    assert store.open_db(db)["posts"].count == 2
