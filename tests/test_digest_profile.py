"""The learned ranking: a profile of the author's interests from small fixture note folders.

Eight weekly notes (January and February 2024), each linking the week's ECS announcement among
five other services' announcements; the draft is for Monday 4 March 2024, whose window holds an
ECS announcement older than the others (so the rule-based score, recency first, puts it last).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import zoneinfo
from pathlib import Path

import pytest
from click.testing import CliRunner
from digest_archive import REGISTRY, ArchiveBuilder, digest_config, whats_new

from aggregator import store
from aggregator.cli import cli
from aggregator.config import Config
from aggregator.digest import build_draft, explain, profile_for, read_notes
from aggregator.digest import profile as profile_module
from aggregator.digest.profile import FEATURES, fit, learn_profile, summary

MEL = zoneinfo.ZoneInfo("Australia/Melbourne")
DRAFT = dt.date(2024, 3, 4)
SERVICES = ("ecs", "s3", "lambda", "ec2", "aurora", "cloudwatch")
NAMES = {
    "ecs": "Amazon ECS",
    "s3": "Amazon S3",
    "lambda": "AWS Lambda",
    "ec2": "Amazon EC2",
    "aurora": "Amazon Aurora",
    "cloudwatch": "Amazon CloudWatch",
}
NO_INTEREST = 'ranking = "learned"\ninterest_services = {}\ninterest_topics = {}'


def mondays() -> list[dt.date]:
    """The Mondays of the notes: 8 January to 26 February 2024."""
    return [dt.date(2024, 1, 8) + dt.timedelta(weeks=i) for i in range(8)]


def item(service: str, monday: dt.date) -> str:
    return whats_new(f"{service}-feature-{monday:%m%d}", monday.year, monday.month)


def write_note(folder: Path, monday: dt.date, links: list[tuple[str, str]], *, heading: str = "") -> Path:
    """A note published on ``monday`` at 20:00 Melbourne, one section linking ``links`` (title, url)."""
    year, week, _ = monday.isocalendar()
    body = " ".join(f"[{title}]({url})" for title, url in links) or "Other things this week."
    path = folder / f"{year}-{week:02d}.md"
    path.write_text(
        f"---\ntitle: Week {week}, {year} - {heading or 'Things'}\nslug: week-{week}-{year}\n"
        f"Date: {monday.isoformat()}T20:00:00+11:00\ncategories: [Weekly Notes]\n---\n\n"
        f"## {heading or 'Things'}\n\n{body}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def author(tmp_path: Path) -> tuple[Config, object, Path]:
    """The archive and a notes folder whose author writes about ECS every week."""
    notes = tmp_path / "notes"
    notes.mkdir()
    config = digest_config(tmp_path, NO_INTEREST, notes_dir=notes)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    for monday in [*mondays(), DRAFT]:
        wednesday = monday - dt.timedelta(days=5)
        for i, service in enumerate(SERVICES):
            # ECS the oldest of its week: a newest-first rule never puts it first
            stamp = f"{wednesday.isoformat()}T{10 + i:02d}:00"
            b.post(
                "aws-whats-new",
                item(service, monday),
                f"{NAMES[service]} adds feature {monday:%m%d}",
                stamp,
                kind="new-feature",
                services=[service],
            )
        if monday != DRAFT:
            write_note(notes, monday, [("ECS news", item("ecs", monday))], heading="ECS news")
    return config, db, notes


def with_digest(config: Config, **changes: object) -> Config:
    digest = dataclasses.replace(config.settings.digest, **changes)
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, digest=digest))


def featured_services(config: Config, db: object) -> list[str]:
    draft = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    return [f.ranked.story.service for f in draft.selection.featured]


def test_a_service_written_about_often_rises(author: tuple[Config, object, Path]) -> None:
    config, db, _ = author
    rules = build_draft(db, with_digest(config, ranking="rules"), date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert rules.selection.ranked[0].story.service != "ecs"
    learned = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    top = learned.selection.ranked[0]
    assert top.story.service == "ecs" and learned.selection.featured[0].ranked is top
    assert any(h.startswith("## ECS ") and h.endswith("0304") for h in learned.text.splitlines())  # words learned
    components = {c.name: c for c in top.components}
    assert components["service"].value > 0 and "ecs: featured" in components["service"].why
    assert not components["rules.kind"].counted  # the rule-based ones beside, not counted
    lines = explain(learned.selection, tz=MEL)
    assert lines[2].startswith("ranking: learned from 8 of 8 notes (8 linked announcements among")
    assert lines[3].split()[2:8] == ["service", "topic", "kind", "sources", "recency", "novelty"]
    assert "rules.interest" not in lines[3] and "interest" in lines[3] and "rules.kind" in lines[3]


def test_the_profile_says_what_the_author_features(author: tuple[Config, object, Path]) -> None:
    config, db, notes = author
    at = dt.datetime(2024, 3, 4, 20, tzinfo=MEL)
    found, _ = read_notes(notes, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    profile = profile_for(db, config, at=at, notes=found, registry=REGISTRY)  # type: ignore[arg-type]
    assert (profile.notes, profile.examples, profile.positives) == (8, 8, 8)
    services = profile.interests("service")
    assert services[0].key == "ecs" and services[0].weight > 0
    assert all(i.weight < services[0].weight for i in services[1:])
    assert services[0].featured == pytest.approx(sum(0.5 ** ((at - n.date).days / 365) for n in found), rel=0.01)


def test_a_muted_service_never_features_and_a_pinned_one_ranks_first(author: tuple[Config, object, Path]) -> None:
    config, db, _ = author
    muted = with_digest(config, mute_services=["ecs"])
    draft = build_draft(db, muted, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert "ecs" not in [f.ranked.story.service for f in draft.selection.featured]
    assert draft.selection.ranked[-1].story.service == "ecs"
    assert any(c.why == "muted: ecs" for c in draft.selection.ranked[-1].components)
    assert "**ECS**" in draft.text  # still listed
    # Even when it is the only story of the window.
    only = with_digest(muted, max_featured=10, mute_topics=["databases"])
    assert "ecs" not in featured_services(only, db)
    assert "aurora" not in featured_services(only, db)

    pinned = with_digest(config, pin_services=["cloudwatch"], pin_topics=["serverless"])
    ranked = build_draft(db, pinned, date=DRAFT, registry=REGISTRY).selection.ranked  # type: ignore[arg-type]
    pins = [r for r in ranked if r.story.service in ("cloudwatch", "lambda")]
    assert list(ranked[: len(pins)]) == pins and len(pins) >= 2  # the window's CloudWatch and Lambda stories
    assert ranked[len(pins)].story.service == "ecs"  # then what the model prefers
    assert {c.why for r in pins for c in r.components if c.name == "pinned"} == {
        "pinned: cloudwatch",
        "pinned: serverless",
    }
    # Mute beats pin: the author's last word is "never".
    both = with_digest(config, pin_services=["ecs"], mute_services=["ecs"])
    assert "ecs" not in featured_services(both, db)


def test_no_note_after_the_drafts_date_is_ever_read(author: tuple[Config, object, Path]) -> None:
    config, db, notes = author
    before = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    # Notes dated after the draft that would teach S3, even one published on its day, later.
    for days in (0, 7, 14):
        monday = DRAFT + dt.timedelta(days=days)
        path = write_note(notes, monday, [("S3", item("s3", DRAFT)), ("S3", item("s3", mondays()[-1]))])
        text = path.read_text(encoding="utf-8").replace("T20:00:00", "T21:00:00")
        path.write_text(text, encoding="utf-8")
    after = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert after.text == before.text
    assert explain(after.selection, tz=MEL) == explain(before.selection, tz=MEL)
    found, _ = read_notes(notes, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    at = dt.datetime(2024, 3, 4, 20, tzinfo=MEL)
    assert len(found) == 11
    everything = learn_profile(db, found, config.settings.digest, at=at, registry=REGISTRY)  # type: ignore[arg-type]
    earlier = learn_profile(db, found[:8], config.settings.digest, at=at, registry=REGISTRY)  # type: ignore[arg-type]
    assert everything.notes == 8 and everything.weights == earlier.weights


def test_a_new_note_in_the_folder_updates_the_profile_with_nothing_to_retrain(
    author: tuple[Config, object, Path],
) -> None:
    config, db, notes = author
    at = dt.datetime(2024, 3, 4, 20, tzinfo=MEL)

    def profile() -> dict[str, float]:
        found, _ = read_notes(notes, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
        learned = profile_for(db, config, at=at, notes=found, registry=REGISTRY)  # type: ignore[arg-type]
        return {i.key: i.weight for i in learned.interests("service")}

    first = profile()
    # The author changes their mind: three notes about S3 (rewritten for the same weeks).
    for monday in mondays()[-3:]:
        write_note(notes, monday, [("S3 news", item("s3", monday))], heading="S3 news")
    second = profile()
    assert second["s3"] > first["s3"] and second["ecs"] < first["ecs"]


def test_learning_is_deterministic_and_without_examples_the_rules_rank(
    author: tuple[Config, object, Path], tmp_path: Path
) -> None:
    config, db, _ = author
    assert build_draft(db, config, date=DRAFT, registry=REGISTRY).text == (  # type: ignore[arg-type]
        build_draft(db, config, date=DRAFT, registry=REGISTRY).text  # type: ignore[arg-type]
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    write_note(empty, mondays()[0], [("elsewhere", "https://example.com/not-aws")])
    cold = build_draft(db, config, date=DRAFT, registry=REGISTRY, notes_dir=empty)  # type: ignore[arg-type]
    rules = build_draft(db, with_digest(config, ranking="rules"), date=DRAFT, registry=REGISTRY, notes_dir=empty)  # type: ignore[arg-type]
    assert [r.story.id for r in cold.selection.ranked] == [r.story.id for r in rules.selection.ranked]
    assert cold.selection.ranking == "ranking: rule-based score (no note among 1 links a candidate of its window yet)"


def test_the_regression_learns_what_separates_the_labels() -> None:
    rows = [{"bias": 1.0, "service": 1.0}] * 5 + [{"bias": 1.0, "service": -1.0}] * 45
    labels = [1.0] * 5 + [0.0] * 45
    weights = fit(rows, labels, [1.0] * 50, {})
    assert weights["service"] > 1.0 and weights["bias"] < 0
    assert set(weights) == set(FEATURES)
    # No evidence for a feature: its weight stays at the prior.
    assert fit(rows, labels, [1.0] * 50, {"news_blog": 0.7})["news_blog"] == pytest.approx(0.7)


def test_aggregator_profile_shows_what_was_learned(author: tuple[Config, object, Path]) -> None:
    config, _, notes = author
    runner = CliRunner()
    args = ["--config", str(config.path), "profile", "--date", "2024-03-04"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("profile as of 2024-03-04T20:00:00+11:00: 8 notes read, 8 of them linked 8")
    services = lines.index(next(line for line in lines if line.startswith("services")))
    assert lines[services + 1].split()[0] == "ECS"
    assert any(line.startswith("kinds (learned weight") for line in lines)
    data = json.loads(runner.invoke(cli, [*args, "--json", "--limit", "3"]).output)
    assert data["notes"] == 8 and data["learned"] is True and len(data["services"]) == 3
    assert data["services"][0]["key"] == "ecs"
    assert {k["kind"] for k in data["kinds"]} >= {"new-feature", "region-expansion"}
    assert data["passed"] < 0 and "unnamed_service" in data  # lower for what earlier notes passed over
    assert any("each earlier note that passed it over" in line for line in lines)
    missing = runner.invoke(cli, [*args, "--notes-dir", str(notes / "nowhere")])
    assert missing.exit_code == 1 and "notes folder does not exist" in missing.output


def test_the_regression_survives_separable_and_extreme_data() -> None:
    rows = [{"bias": 1.0, "recency": 800.0}] * 3 + [{"bias": 1.0, "recency": -800.0}] * 3
    weights = fit(rows, [1.0] * 3 + [0.0] * 3, [1.0] * 6, {"recency": 5.0}, l2=1e-3)  # exp(4000): no overflow warning
    assert weights["recency"] > 0 and all(w == w for w in weights.values())  # no NaN


def test_a_note_covering_a_story_by_its_heading_is_an_example_like_a_link(tmp_path: Path) -> None:
    """The author writes about the week's ECS feature under a heading naming it, linking the
    News Blog post the archive does not hold: each note still teaches that ECS is what they feature."""
    notes = tmp_path / "notes"
    notes.mkdir()
    config = digest_config(tmp_path, NO_INTEREST, notes_dir=notes)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    for monday in [*mondays(), DRAFT]:
        wednesday = monday - dt.timedelta(days=5)
        for i, service in enumerate(SERVICES):
            b.post(
                "aws-whats-new", item(service, monday), f"{NAMES[service]} adds widget {monday:%m%d}",
                f"{wednesday.isoformat()}T{10 + i:02d}:00", kind="new-feature", services=[service],
            )  # fmt: skip
        if monday != DRAFT:
            blog = f"https://aws.amazon.com/blogs/containers/a-look-at-something-{monday:%m%d}/"
            write_note(notes, monday, [("a post", blog)], heading=f"ECS Widget {monday:%m%d}")
    found, _ = read_notes(notes, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    at = dt.datetime(2024, 3, 4, 20, tzinfo=MEL)
    profile = profile_for(db, config, at=at, notes=found, registry=REGISTRY)  # type: ignore[arg-type]
    assert (profile.examples, profile.positives) == (8, 8)
    assert profile.interests("service")[0].key == "ecs"
    draft = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert draft.selection.featured[0].ranked.story.service == "ecs"


def test_a_service_the_notes_never_named_gets_a_chance_not_a_zero(tmp_path: Path) -> None:
    """An author who writes about services new to their notes every week: the draft's service
    nobody named yet gets a weight of its own (learned), above the services named and passed over."""
    notes = tmp_path / "notes"
    notes.mkdir()
    config = digest_config(tmp_path, NO_INTEREST, notes_dir=notes)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    for week, monday in enumerate([*mondays(), DRAFT]):
        wednesday = monday - dt.timedelta(days=5)
        fresh = f"newthing{week}"
        for i, service in enumerate((fresh, "s3", "ec2", "cloudwatch")):
            b.post(
                "aws-whats-new", item(service, monday), f"{service} adds feature {monday:%m%d}",
                f"{wednesday.isoformat()}T{10 + i:02d}:00", kind="new-feature", services=[service],
            )  # fmt: skip
        if monday != DRAFT:
            path = write_note(notes, monday, [("new", item(fresh, monday))], heading="Something New")
            # Named (in the keywords), never featured: the services the author passes over.
            text = path.read_text(encoding="utf-8").replace(
                "categories:", "keywords: [s3, ec2, cloudwatch]\ncategories:"
            )
            path.write_text(text, encoding="utf-8")
    draft = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    top = draft.selection.ranked[0]
    assert top.story.service == "newthing8"
    assert {c.name: c.value for c in top.components}["service"] > 0  # a chance, where it was a zero
    found, _ = read_notes(notes, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    at = dt.datetime(2024, 3, 4, 20, tzinfo=MEL)
    assert profile_for(db, config, at=at, notes=found, registry=REGISTRY).weights["unnamed"] > 0  # type: ignore[arg-type]


# --- the learned profile, kept in the archive ----------------------------------------------------


def count_learning(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each learning from the notes, counted (the number of notes learned from)."""
    calls: list[int] = []
    real = profile_module.learn

    def learn(db: object, earlier: list[object], *args: object, **kwargs: object) -> object:
        calls.append(len(earlier))
        return real(db, earlier, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(profile_module, "learn", learn)
    return calls


def test_an_unchanged_notes_folder_is_learned_once_whatever_the_drafts_date(
    author: tuple[Config, object, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, db, folder = author
    learned = count_learning(monkeypatch)
    first = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    again = build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8]  # the second draft read what the first one learned
    assert again.text == first.text and explain(again.selection, tz=MEL) == explain(first.selection, tz=MEL)
    # Another day with the same notes before it: nothing to learn either, the counts fade to its date.
    later = build_draft(db, config, date=DRAFT + dt.timedelta(days=2), registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8] and later.selection.ranked[0].story.service == "ecs"
    # What the archive kept is exactly what learning gives.
    at = dt.datetime(2024, 3, 6, 20, tzinfo=MEL)
    notes, _ = read_notes(folder, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    kept = profile_for(db, config, at=at, notes=notes, registry=REGISTRY)  # type: ignore[arg-type]
    fresh = learn_profile(db, notes, config.settings.digest, at=at, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8, 8]  # learn_profile itself never reads the archive's copy
    assert summary(kept, config.settings.digest) == summary(fresh, config.settings.digest)
    assert dict(kept.weights) == dict(fresh.weights)


def test_a_changed_or_added_note_or_new_posts_in_its_window_learn_again(
    author: tuple[Config, object, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, db, notes = author
    learned = count_learning(monkeypatch)
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    # Words the profile does not read (the body's text) change nothing.
    last = sorted(notes.glob("*.md"))[-1]
    last.write_text(last.read_text(encoding="utf-8") + "\nOne more thought.\n", encoding="utf-8")
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8]
    # A note links one more announcement: learned again.
    write_note(notes, mondays()[-1], [("ECS", item("ecs", mondays()[-1])), ("S3", item("s3", mondays()[-1]))])
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8, 8]
    # A post in a note's window (stored late): learned again; one after the last note: not.
    b = ArchiveBuilder(db)
    b.post(
        "aws-whats-new", whats_new("late-ecs-thing", 2024, 2), "Amazon ECS late thing", "2024-02-20", services=["ecs"]
    )
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8, 8, 8]
    b.post("aws-whats-new", whats_new("new-ecs-thing", 2024, 3), "Amazon ECS new thing", "2024-03-01", services=["ecs"])
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8, 8, 8]
    # A setting that changes learning, or a new note: learned again.
    build_draft(db, with_digest(config, kind_weights={"new-feature": 2.0}), date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    (notes / "more").mkdir()
    write_note(notes / "more", DRAFT - dt.timedelta(days=1), [("S3", item("s3", DRAFT))])
    build_draft(db, config, date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert learned == [8, 8, 8, 8, 9]


def test_the_archive_keeps_only_the_newest_profiles(author: tuple[Config, object, Path]) -> None:
    config, db, _ = author
    for day in range(store.PROFILE_CACHE_ROWS + 3):  # each a week with one more note before it
        build_draft(db, config, date=mondays()[0] + dt.timedelta(days=1 + day * 7 % 56), registry=REGISTRY)  # type: ignore[arg-type]
    for weight in range(store.PROFILE_CACHE_ROWS + 3):
        build_draft(db, with_digest(config, novelty_weight=float(weight)), date=DRAFT, registry=REGISTRY)  # type: ignore[arg-type]
    assert db.execute("SELECT count(*) FROM profile_cache").fetchone()[0] == store.PROFILE_CACHE_ROWS  # type: ignore[attr-defined]


def test_a_draft_from_a_read_only_archive_learns_without_keeping(
    author: tuple[Config, object, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config, db, _ = author
    readable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK and readable(path, mode))  # read-only here
    caplog.set_level(logging.DEBUG, logger="aggregator")
    args = ["--config", str(config.path), "-vv", "digest", "--date", "2024-03-04", "--stdout"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"^## ECS .*0304$", result.output, re.M)  # the week's ECS story, featured
    assert "learned profile not kept: the archive is read-only here" in caplog.text + result.output
    monkeypatch.undo()
    assert db.execute("SELECT count(*) FROM profile_cache").fetchone()[0] == 0  # type: ignore[attr-defined]
