"""``aggregator digest`` and the entry point the service's weekly job calls."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import zoneinfo
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FakeClock
from digest_archive import NOTES, build_week, digest_config

from aggregator import store
from aggregator.cli import cli
from aggregator.config import Config
from aggregator.digest import write_draft
from aggregator.errors import DraftExistsError
from aggregator.service import Service, default_write_draft


@pytest.fixture
def archive(tmp_path: Path) -> Config:
    config = digest_config(tmp_path, notes_dir=NOTES)
    build_week(store.open_db(config.database))
    return config


def run(config: Config, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config.path), "digest", *args])


def test_digest_writes_the_weeks_draft_once(archive: Config) -> None:
    result = run(archive, "--date", "2024-05-20")
    path = Path(archive.settings.general.drafts_dir) / "2024-21.md"
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {path}\n"
    assert path.read_text(encoding="utf-8").startswith('---\ntitle:        "Week 21, 2024 - ECS Docker Volume Plugins;')

    path.write_text("the author's edits\n", encoding="utf-8")
    again = run(archive, "--date", "2024-05-20")
    assert again.exit_code == 1
    assert "exists already: not overwritten (use --force)" in again.output
    assert path.read_text(encoding="utf-8") == "the author's edits\n"

    forced = run(archive, "--date", "2024-05-20", "--force")
    assert forced.exit_code == 0, forced.output
    assert path.read_text(encoding="utf-8") == run(archive, "--date", "2024-05-20", "--stdout").output
    assert not list(path.parent.glob(".*.tmp"))


def test_a_forced_draft_is_as_readable_as_a_new_one(archive: Config) -> None:
    previous = os.umask(0o022)
    try:
        assert run(archive, "--date", "2024-05-20").exit_code == 0
        path = Path(archive.settings.general.drafts_dir) / "2024-21.md"
        fresh = stat.S_IMODE(path.stat().st_mode)
        assert run(archive, "--date", "2024-05-20", "--force").exit_code == 0
        assert stat.S_IMODE(path.stat().st_mode) == fresh == 0o644  # readable by the web server
    finally:
        os.umask(previous)


def test_the_week_option_and_the_out_folder(archive: Config, tmp_path: Path) -> None:
    result = run(archive, "--week", "2024-W21", "--out", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0, result.output
    written = (tmp_path / "elsewhere" / "2024-21.md").read_text(encoding="utf-8")
    assert written == run(archive, "--date", "2024-05-20", "--stdout").output
    assert not (Path(archive.settings.general.drafts_dir) / "2024-21.md").exists()


def test_stdout_prints_and_writes_nothing(archive: Config) -> None:
    result = run(archive, "--date", "2024-05-20", "--stdout")
    assert result.exit_code == 0
    assert result.output.startswith("---\n") and result.output.endswith("[^1]:\t\n")
    assert not Path(archive.settings.general.drafts_dir).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--date", "2024-05-20", "--week", "2024-W21"], "give --date or --week, not both"),
        (["--stdout", "--out", "x"], "give --out or --stdout, not both"),
        (["--date", "20 May"], "is not a date"),
        (["--week", "2024-21"], "is not an ISO week"),
    ],
)
def test_usage_errors(archive: Config, args: list[str], message: str) -> None:
    result = run(archive, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_the_notes_folder_option_and_a_missing_folder(archive: Config, tmp_path: Path) -> None:
    empty = tmp_path / "no-notes-yet"
    empty.mkdir()
    result = run(archive, "--date", "2024-05-20", "--stdout", "--notes-dir", str(empty))
    assert result.exit_code == 0
    assert "no previous note" in result.output and "Previously" not in result.output
    missing = run(archive, "--date", "2024-05-20", "--stdout", "--notes-dir", str(tmp_path / "missing"))
    assert missing.exit_code == 1
    assert "the notes folder does not exist" in missing.output


def test_explain_prints_the_ranked_candidates(archive: Config) -> None:
    result = run(archive, "--date", "2024-05-20", "--explain")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("window 2024-04-22 20:00 to 2024-05-20 20:00; previous note Week 20, 2024")
    assert lines[2].startswith("ranking: ")
    assert lines[3].split()[:7] == ["rank", "score", "sources", "kind", "interest", "recency", "novelty"]
    assert lines[3].split()[-2:] == ["where", "story"]
    assert "featured" in lines[4]
    # Every story of the window says where it went, the ones earlier notes covered last.
    assert len(lines) == 4 + 10 + 2
    assert any(" related " in line and "(in the Lambda section;" in line for line in lines[4:])
    assert any(" listed " in line and "(also;" in line for line in lines[4:])
    assert any(" listed " in line and "(earlier;" in line for line in lines[4:])
    covered = [line for line in lines[4:] if "  left out  " in line]
    assert len(covered) == 2 and all("(covered by Week 20, 2024 (linked it);" in line for line in covered)
    assert not Path(archive.settings.general.drafts_dir).exists()


def test_the_date_defaults_to_today_in_the_authors_zone(archive: Config) -> None:
    result = run(archive, "--stdout")
    assert result.exit_code == 0
    today = dt.datetime.now(zoneinfo.ZoneInfo("Australia/Melbourne")).date()
    year, week, _ = today.isocalendar()
    assert f'title:        "Week {week}, {year}' in result.output


def test_write_draft_is_the_entry_point_the_service_calls(archive: Config) -> None:
    assert default_write_draft() is write_draft
    db = store.open_db(archive.database)
    path = write_draft(db, archive, date=dt.date(2024, 5, 20))
    assert path.name == "2024-21.md"
    with pytest.raises(DraftExistsError, match="exists already"):
        write_draft(db, archive, date=dt.date(2024, 5, 21))  # the same ISO week, the same file
    assert write_draft(db, archive, date=dt.date(2024, 5, 20), force=True) == path


def test_the_services_weekly_job_writes_the_draft_with_the_real_builder(
    archive: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator")
    # Monday 20 May 2024, 09:00:05 in Melbourne.
    svc = Service(archive, clock=FakeClock(dt.datetime(2024, 5, 19, 23, 0, 5, tzinfo=dt.UTC)))
    try:
        path = svc.write_weekly_draft()
        assert path == Path(archive.settings.general.drafts_dir) / "2024-21.md"
        assert 'title:        "Week 21, 2024' in path.read_text(encoding="utf-8")
        path.write_text("edited\n", encoding="utf-8")
        assert svc.write_weekly_draft() is None
        assert path.read_text(encoding="utf-8") == "edited\n"
        assert "never overwritten" in caplog.text
    finally:
        svc.stop()
