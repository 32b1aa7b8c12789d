"""The house style: learned from the notes folder, recent notes first; a setting always wins.

The notes are invented here, in the author's shape: YAML front matter with ``Date`` in the
author's offset, sections under ``#`` (older) or ``##`` (newer) headings, footnotes
``[^1]:<TAB>text``, and sometimes a bare list of community links.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

from click.testing import CliRunner
from digest_archive import REGISTRY, ArchiveBuilder, digest_config, whats_new

from aggregator import store
from aggregator.cli import cli
from aggregator.config import load_config
from aggregator.digest import build_draft, read_notes, style_for
from aggregator.digest.style import house_style, learn_style, time_zones, weighted_median

MONDAY = dt.date(2024, 6, 3)


def write_note(
    folder: Path,
    day: dt.date,
    *,
    level: int = 2,
    time: str = "20:30",
    offset: str = "+10:00",
    keywords: tuple[str, ...] = ("aws", "lambda", "serverless"),
    description: str = "Lambda does a new thing, and S3 another one.",
    footnote: str | None = "\t",
    corner: str = "",
    categories: str = '["Weekly Notes"]',
    blog: str = "notes.example.net",
    author: str = "Jo Writer",
) -> Path:
    """A note published on ``day`` at ``time`` (``offset``): two sections at ``level``, linking
    What's New; ``corner``: the title of a bare list of community links at the end."""
    year, week, _ = day.isocalendar()
    h = "#" * level
    keyword_lines = "".join(f"  - {k}\n" for k in keywords)
    text = (
        f'---\ntitle:        "Week {week}, {year} - Lambda Thing; S3 Thing"\nslug:         week-{week}-{year}\n'
        f"blog:         {blog}\nauthor:       {author}\nDate:         {day.isoformat()}T{time}:00{offset}\n"
        f"categories:   {categories}\n"
        + (f"keywords:\n{keyword_lines}" if keywords else "")
        + f'Description:  "{description}"\n---\n\n'
        f"{description}\n\n{h} Lambda Thing\n\nLambda [does a thing]({whats_new(f'lambda-thing-{week}', year, day.month)})"
        + ("[^1]." if footnote is not None else ".")
        + f"\n\n{h} S3 Thing\n\nAnd [S3 another](https://aws.amazon.com/blogs/aws/s3-thing-{week}/), as I wrote"
        f" [before](/weekly-notes/week-{max(week - 1, 1)}-{year}/).\n"
    )
    if corner:
        text += f"\n{h} {corner}\n\n* [A community post](https://community.example/{week}/)\n* [Another](https://dev.example/{week}/)\n"
    if footnote is not None:
        text += f"\n[^1]:{footnote}A footnote.\n"
    path = folder / f"{year}-{week:02d}.md"
    path.write_text(text, encoding="utf-8")
    return path


def mondays(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(weeks=i) for i in range(count)]


def notes_of(folder: Path) -> list:  # type: ignore[type-arg]
    return read_notes(folder, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")[0]


# --- what the notes say ------------------------------------------------------------------------


def test_a_new_heading_level_wins_at_the_next_draft(tmp_path: Path) -> None:
    """Ten notes with ``#``, then one with ``##``: the style follows the latest note at once."""
    days = mondays(dt.date(2024, 1, 8), 11)
    for day in days[:10]:
        write_note(tmp_path, day, level=1)
    assert learn_style(notes_of(tmp_path)).heading_level == 1
    write_note(tmp_path, days[10], level=2)
    learned = learn_style(notes_of(tmp_path))
    assert learned.heading_level == 2
    assert "Week 12, 2024" in learned.why["heading_level"]


def test_the_numbers_follow_the_recent_notes(tmp_path: Path) -> None:
    """The author used to publish at 08:00 with seven keywords and no ``aws``; the latest six
    notes say 21:00, three keywords with ``aws``, footnotes with a space, longer Descriptions."""
    days = mondays(dt.date(2024, 1, 8), 12)
    for day in days[:6]:
        write_note(tmp_path, day, time="08:00", keywords=("a", "b", "c", "d", "e", "f", "g"), footnote=None)
    long = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen."
    for day in days[6:]:
        write_note(tmp_path, day, time="21:02", keywords=("aws", "s3", "lambda"), footnote=" ", description=long)
    learned = learn_style(notes_of(tmp_path))
    assert learned.publish_time == "21:00"  # to the nearest five minutes
    assert (learned.keyword_count, learned.keyword_aws) == (3, True)
    assert learned.footnote == "[^1]: "
    assert learned.description_words == 14
    assert learned.categories == ("Weekly Notes",)


def test_the_community_corner_is_the_notes_bare_list_of_links(tmp_path: Path) -> None:
    days = mondays(dt.date(2024, 1, 8), 3)
    write_note(tmp_path, days[0], corner="Ambassador Corner")
    write_note(tmp_path, days[1], corner="From the Community")
    write_note(tmp_path, days[2])  # no corner this week: the latest one that had one counts
    notes = notes_of(tmp_path)
    assert [s.bare_list for s in notes[1].sections] == [False, False, False, True]
    assert learn_style(notes).community_title == "From the Community"


def test_notes_without_footnotes_get_no_placeholder(tmp_path: Path) -> None:
    for day in mondays(dt.date(2024, 1, 8), 4):
        write_note(tmp_path, day, footnote=None)
    assert learn_style(notes_of(tmp_path)).footnote == ""


def test_without_notes_every_value_is_the_settings(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    style = style_for(config, [])
    digest = config.settings.digest
    assert (style.heading_level, style.community_title, style.categories, style.footnote) == (
        digest.heading_level,
        digest.community_title,
        tuple(digest.categories),
        digest.footnote,
    )
    assert style.publish_time == "20:00" and style.origins["publish_time"] == "setting digest.publish_time"
    assert style.origins["heading_level"] == "default (digest.heading_level): no notes"
    assert (style.keyword_count, style.keyword_aws, style.description_words) == (0, True, 0)


def test_weighted_median() -> None:
    assert weighted_median([(1, 1), (5, 1), (9, 1)]) == 5
    assert weighted_median([(1, 1), (5, 1), (9, 5)]) == 9


# --- an explicit setting always wins -----------------------------------------------------------


def test_the_configuration_records_which_settings_it_gave(tmp_path: Path) -> None:
    config = digest_config(tmp_path, "heading_level = 2")  # the default value, but given
    assert "digest.heading_level" in config.explicit and config.is_explicit("digest.heading_level")
    assert not config.is_explicit("digest.community_title")
    assert config.is_explicit("digest.publish_time")  # digest_config gives it
    changed = dataclasses.replace(
        config,
        settings=dataclasses.replace(
            config.settings, digest=dataclasses.replace(config.settings.digest, community_title="X")
        ),
    )
    assert changed.is_explicit("digest.community_title")  # set by code: a value other than the default


def test_a_setting_wins_over_the_notes(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for day in mondays(dt.date(2024, 4, 1), 6):
        write_note(notes, day, level=2, corner="From the Community", time="21:30")
    config = digest_config(tmp_path, 'heading_level = 1\ncategories = ["AWS"]', notes_dir=notes)
    style = style_for(config, notes_of(notes))
    assert (style.heading_level, style.categories) == (1, ("AWS",))
    assert style.origins["heading_level"] == "setting digest.heading_level"
    assert style.community_title == "From the Community" and style.origins["community_title"].startswith("learned")
    assert style.publish_time == "20:00"  # digest_config sets publish_time
    learned = house_style(notes_of(notes), config.settings.digest, explicit=())
    assert (learned.heading_level, learned.publish_time) == (2, "21:30")


def test_the_draft_is_written_in_the_house_style(tmp_path: Path) -> None:
    """No publish_time, heading level or corner title in the configuration: the draft's Date is
    at the notes' time of day, its sections at their level, its corner under their title."""
    notes = tmp_path / "notes"
    notes.mkdir()
    for day in mondays(dt.date(2024, 4, 1), 6):
        write_note(notes, day, level=1, corner="From the Community", time="21:30", categories="[Notes, AWS]")
    write_note(notes, MONDAY, level=1, time="21:30")  # the draft's own week: published after it, never read
    config = digest_config(tmp_path, notes_dir=notes)
    text = config.path.read_text(encoding="utf-8").replace('publish_time = "20:00"\n', "")
    config.path.write_text(text, encoding="utf-8")
    config = load_config(config.path, environ={})
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    b.post("aws-whats-new", whats_new("amazon-s3-thing"), "Amazon S3 does a thing", "2024-05-30", services=["s3"])
    b.post("community", "https://community.example/post", "A post about S3", "2024-05-31", services=["s3"])
    draft = build_draft(db, config, date=MONDAY, registry=REGISTRY)
    assert "Date:         2024-06-03T21:30:00+10:00" in draft.text
    assert re.search(r"^# \S", draft.text, re.M) and not re.search(r"^##", draft.text, re.M)
    assert "\n# From the Community\n" in draft.text
    assert 'categories:\n  - "Notes"\n  - "AWS"\n' in draft.text
    assert draft.selection.at == dt.datetime(2024, 6, 3, 21, 30, tzinfo=draft.selection.at.tzinfo)
    assert draft.style.notes == 6


# --- aggregator profile shows it ----------------------------------------------------------------


def test_profile_shows_the_style_and_where_each_value_came_from(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for day in mondays(dt.date(2024, 4, 1), 4):
        write_note(notes, day, level=1, time="21:30")
    config = digest_config(tmp_path, "heading_level = 2", notes_dir=notes)
    store.open_db(config.database)
    base = ["--config", str(config.path), "profile", "--date", MONDAY.isoformat()]
    result = CliRunner().invoke(cli, base)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "house style (from 4 notes and the settings):" in lines
    assert any(re.match(r"\s+heading_level\s+2\s+setting digest.heading_level$", line) for line in lines)
    assert any(re.match(r"\s+keyword_count\s+3\s+learned: ", line) for line in lines)
    result = CliRunner().invoke(cli, [*base, "--json"])
    style = json.loads(result.output)["style"]
    assert style["notes"] == 4
    assert style["values"]["heading_level"] == {"value": 2, "origin": "setting digest.heading_level"}
    assert style["values"]["categories"]["value"] == ["Weekly Notes"]
    assert style["values"]["footnote"]["value"] == "[^1]:\t"


# --- the time zone of the Date offsets ------------------------------------------------------------


def test_the_time_zone_fits_both_summer_and_winter_offsets(tmp_path: Path) -> None:
    """+11:00 in the southern summer, +10:00 in winter: a zone with that summer time fits every
    note; Brisbane (+10:00 all year) fits only the winter ones."""
    for day in mondays(dt.date(2024, 1, 8), 40):
        summer = day < dt.date(2024, 4, 7) or day > dt.date(2024, 10, 6)
        write_note(tmp_path, day, offset="+11:00" if summer else "+10:00")
    zones = time_zones(notes_of(tmp_path))
    names = [name for name, _, _ in zones]
    assert "Australia/Melbourne" in names and "Australia/Sydney" in names and "Australia/Brisbane" not in names
    assert zones[0][1:] == (40, 40)
