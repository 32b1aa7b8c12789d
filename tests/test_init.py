"""``aggregator init``: a starter configuration read from a blog's notes, never over a file."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_digest_style import mondays, write_note

from aggregator.cli import cli
from aggregator.config import load_config


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A year of notes from Melbourne (or Sydney, or Hobart: the offsets cannot tell), one from
    a trip to Perth; level-two headings; slugs week-N-YYYY; links to each other as /notes/SLUG/."""
    folder = tmp_path / "content" / "weekly-notes"
    folder.mkdir(parents=True)
    for day in mondays(dt.date(2023, 6, 5), 52):
        summer = dt.date(2023, 10, 1) <= day < dt.date(2024, 4, 7)
        offset = "+08:00" if day == dt.date(2023, 8, 7) else "+11:00" if summer else "+10:00"
        path = write_note(folder, day, offset=offset, blog="notes.example.net", author="Jo Writer")
        path.write_text(path.read_text(encoding="utf-8").replace("/weekly-notes/", "/notes/"), encoding="utf-8")
    return folder


def init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", *args])
    return result.exit_code, result.output


def test_init_writes_a_configuration_config_check_accepts(tmp_path: Path, notes: Path) -> None:
    target = tmp_path / "aggregator.toml"
    code, output = init("--notes-dir", str(notes), "--output", str(target))
    assert code == 0, output
    assert f"wrote {target}" in output
    text = target.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["general"]["timezone"] in ("Australia/Melbourne", "Australia/Sydney", "Australia/Hobart")
    assert data["digest"] == {
        "notes_dir": "content/weekly-notes",
        "blog": "notes.example.net",
        "author": "Jo Writer",
        "url_pattern": "/notes/{slug}/",
        "slug_pattern": "week-{week}-{year}",
    }
    assert "# heading_level = 2" in text  # the notes' level, learned at every draft unless set
    assert "51 of the last 52 notes" in text  # the trip to Perth does not fit
    config = load_config(target, environ={})
    assert config.settings.digest.url_pattern == "/notes/{slug}/"
    result = CliRunner().invoke(cli, ["--config", str(target), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output


def test_init_never_overwrites_a_file(tmp_path: Path, notes: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own\n", encoding="utf-8")
    code, output = init("--notes-dir", str(notes), "--output", str(target))
    assert code == 1
    assert "exists already: not overwritten" in output
    assert target.read_text(encoding="utf-8") == "# my own\n"


def test_init_prints_with_output_dash(notes: Path) -> None:
    code, output = init("--notes-dir", str(notes), "--output", "-")
    assert code == 0
    assert tomllib.loads(output)["digest"]["blog"] == "notes.example.net"


def test_init_says_when_there_is_nothing_to_learn_from(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output = init("--notes-dir", str(empty), "--output", str(tmp_path / "x.toml"))
    assert code == 1 and "no published notes" in output
    assert not (tmp_path / "x.toml").exists()
    code, output = init("--notes-dir", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in output
