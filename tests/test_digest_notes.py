"""Reading the author's notes folder: front matter, sections, links, URLs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from digest_archive import NOTES

from aggregator.digest.notes import note_files, note_path, parse_note, read_notes
from aggregator.errors import ConfigError

PATTERNS = {"url_pattern": "/weekly-notes/{slug}/", "slug_pattern": "week-{week}-{year}"}


def notes_by_week() -> dict[int, object]:
    notes, problems = read_notes(NOTES, **PATTERNS)
    assert problems == []
    return {n.week: n for n in notes}


def test_the_folder_holds_files_and_page_bundles_but_no_section_page() -> None:
    names = [p.relative_to(NOTES).as_posix() for p in note_files(NOTES)]
    assert names == ["2023-52.md", "2024-16.md", "2024-20/index.md", "2024-21-draft.md"]


def test_drafts_are_not_published_notes_and_notes_come_oldest_first() -> None:
    notes, _ = read_notes(NOTES, **PATTERNS)
    assert [n.label for n in notes] == ["Week 52, 2023", "Week 16, 2024", "Week 20, 2024"]
    assert [n.path for n in notes] == ["2023-52.md", "2024-16.md", "2024-20/index.md"]


def test_yaml_front_matter_with_the_blogs_spelling_and_spacing() -> None:
    note = notes_by_week()[16]
    assert note.title == "Week 16, 2024 - Lambda Response Streaming; Something Else"
    assert note.date == dt.datetime(2024, 4, 15, 20, 12, tzinfo=dt.timezone(dt.timedelta(hours=10)))
    assert note.slug == "week-16-2024"
    assert note.url == "/weekly-notes/week-16-2024/"
    assert note.keywords == ("aws", "lambda", "serverless")
    assert note.topics == ("Lambda Response Streaming", "Something Else")
    assert note.description == "Lambda streams its responses and something else happened."


def test_toml_front_matter_the_keyword_spelling_and_a_slug_from_the_pattern() -> None:
    note = notes_by_week()[52]
    assert note.year == 2023
    assert note.slug == "week-52-2023"
    assert note.url == "/weekly-notes/week-52-2023/"
    assert note.keywords == ("aws", "cloudformation")
    assert note.date.utcoffset() == dt.timedelta(hours=11)


def test_old_level_one_headings_and_reference_links() -> None:
    note = notes_by_week()[16]
    assert [s.heading for s in note.sections] == ["", "Lambda Response Streaming", "Something Else"]
    assert note.sections[1].links == (
        "https://aws.amazon.com/about-aws/whats-new/2024/04/aws-lambda-response-streaming-more-runtimes/",
        "https://aws.amazon.com/blogs/compute/lambda-response-streaming-more-runtimes/",
    )
    assert note.sections[2].links == ("https://notes.example.org/weekly-notes/week-52-2023/",)


def test_new_level_two_headings_autolinks_and_footnotes_in_their_section() -> None:
    note = notes_by_week()[20]
    assert note.path == "2024-20/index.md"
    assert [s.heading for s in note.sections] == ["", "S3 Express One Zone Prices", "ECS Service Connect", "Community"]
    prices = note.sections[1].links
    assert "https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-s3-express-one-zone-lower-prices/" in prices
    assert "https://aws.amazon.com/blogs/aws/s3-express-one-zone-prices/" in prices  # from its footnote
    assert note.sections[2].links == ("/weekly-notes/week-16-2024", "https://aws.amazon.com/ecs/service-connect/")


def test_code_blocks_hold_no_headings_and_no_links() -> None:
    note = notes_by_week()[52]
    assert [s.heading for s in note.sections] == ["", "A Quiet Christmas"]
    assert not any("in-a-code-block" in link for link in note.links)


def test_links_to_notes_match_whatever_host_and_slashes_they_use() -> None:
    notes = {path: n for n in read_notes(NOTES, **PATTERNS)[0] for path in n.paths()}
    for link in (
        "/weekly-notes/week-16-2024/",
        "/weekly-notes/week-16-2024",
        "https://notes.example.org/weekly-notes/week-16-2024/",
        "http://www.other.example/Weekly-Notes/Week-16-2024",
    ):
        assert notes[note_path(link)].week == 16
    assert note_path("/weekly-notes/week-47-2018/image.jpeg") not in notes


def test_the_url_pattern_and_the_front_matter_url() -> None:
    text = "---\ntitle: Week 3, 2025 - X\nDate: 2025-01-13T20:00:00+11:00\n---\n\nBody\n"
    note = parse_note(text, path="n.md", url_pattern="/notes/{year}/{week}/", slug_pattern="w{week}")
    assert (note.slug, note.url) == ("w3", "/notes/2025/3/")
    text = "---\ntitle: Week 3, 2025\nDate: 2025-01-13\nurl: /custom/place/\naliases: [/old/place/]\n---\n"
    note = parse_note(text, path="n.md", **PATTERNS)
    assert note.paths() == ("/custom/place", "/old/place")
    assert note.date.tzinfo is dt.UTC  # a bare date is taken in the given zone


def test_the_week_comes_from_the_title_else_from_the_date() -> None:
    text = "---\ntitle: Catching up\nDate: 2024-12-30T20:00:00+11:00\n---\n"
    note = parse_note(text, path="n.md", **PATTERNS)
    assert (note.year, note.week, note.label) == (2025, 1, "Week 1, 2025")  # ISO week of 30 December 2024


@pytest.mark.parametrize(
    "text, problem",
    [
        ("No front matter at all.\n", "no front matter"),
        ("---\ntitle: [unclosed\n---\n", "invalid front matter"),
        ("---\ntitle: Week 1, 2024\n---\n", "no Date"),
        ("---\n- a list\n---\n", "not a table"),
    ],
)
def test_broken_notes_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_note(text, path="n.md", **PATTERNS)


def test_a_broken_note_is_reported_and_the_others_still_read(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("---\ntitle: Week 2, 2024\nDate: 2024-01-08T20:00:00+11:00\n---\n")
    (tmp_path / "bad.md").write_text("just text\n")
    notes, problems = read_notes(tmp_path, **PATTERNS)
    assert [n.week for n in notes] == [2]
    assert problems == ["bad.md: no front matter (--- YAML --- or +++ TOML +++ at the top)"]


def test_a_missing_notes_folder_is_an_error_not_an_empty_past(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="notes folder does not exist"):
        read_notes(tmp_path / "missing", **PATTERNS)
