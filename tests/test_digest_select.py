"""Choosing what a draft shows: window, stories, coverage, ranking, sections, history, problems."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import zoneinfo
from pathlib import Path

import pytest
from digest_archive import NOTES, REGISTRY, ArchiveBuilder, build_week, digest_config, news_blog, whats_new

from aggregator import pipeline, store
from aggregator.config import ANNOUNCEMENT_KINDS, Config, DigestSettings
from aggregator.digest import build_draft, default_registry, draft_filename, explain, publication_time, week_monday
from aggregator.digest import select as sel
from aggregator.errors import ConfigError
from aggregator.pipeline import tagger_for
from aggregator.tagging import KINDS, Tagger

MEL = zoneinfo.ZoneInfo("Australia/Melbourne")
MONDAY = dt.date(2024, 5, 20)


@pytest.fixture
def week(tmp_path: Path) -> tuple[Config, object, dict[str, str]]:
    config = digest_config(tmp_path, notes_dir=NOTES)
    db = store.open_db(config.database)
    return config, db, build_week(db)


def with_digest(config: Config, **changes: object) -> Config:
    digest = dataclasses.replace(config.settings.digest, **changes)
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, digest=digest))


def selection(config: Config, db: object, **kwargs: object) -> sel.Selection:
    kwargs.setdefault("registry", REGISTRY)
    return build_draft(db, config, date=MONDAY, **kwargs).selection  # type: ignore[arg-type]


def story_of(s: sel.Selection, post_id: str) -> sel.Story:
    for r in s.ranked:
        if any(p.id == post_id for p in r.story.posts):
            return r.story
    raise AssertionError(f"{post_id} is in no uncovered story")


# --- dates, weeks, window ------------------------------------------------------------------------


def test_the_week_option_means_the_monday_of_that_iso_week() -> None:
    assert week_monday("2019-W39") == dt.date(2019, 9, 23)
    assert week_monday("2020-w53") == dt.date(2020, 12, 28)
    with pytest.raises(ValueError, match="not an ISO week"):
        week_monday("2019-39")


def test_the_publication_time_is_in_the_authors_zone_with_its_offset(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    assert publication_time(config, MONDAY).isoformat() == "2024-05-20T20:00:00+10:00"
    assert publication_time(config, dt.date(2024, 1, 15)).isoformat() == "2024-01-15T20:00:00+11:00"  # summer time


def test_week_and_file_name_are_the_iso_week_of_the_publication_date(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    draft = build_draft(db, config, date=dt.date(2024, 12, 30), registry=REGISTRY)
    assert (draft.year, draft.week, draft.slug, draft.filename) == (2025, 1, "week-1-2025", "2025-01.md")
    assert 'title:        "Week 1, 2025"' in draft.text
    assert draft_filename(dt.date(2018, 8, 20)) == "2018-34.md"


def test_the_window_ends_at_the_publication_and_reaches_back_its_span(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    at = publication_time(config, MONDAY).astimezone(dt.UTC)
    start = at - dt.timedelta(days=28)
    inside = b.post("aws-whats-new", whats_new("first"), "Amazon S3 first thing", start.isoformat(), services=["s3"])
    b.post("aws-whats-new", whats_new("before"), "Amazon S3 too early", (start - dt.timedelta(seconds=1)).isoformat())
    last = b.post(
        "aws-whats-new", whats_new("last"), "Amazon ECS last thing", (at - dt.timedelta(seconds=1)).isoformat()
    )
    b.post("aws-whats-new", whats_new("after"), "Amazon ECS too late", at.isoformat())
    s = selection(config, db)
    assert {r.story.id for r in s.ranked} == {inside, last}
    assert (s.window_start, s.at) == (start, at)


def test_an_uncovered_story_from_before_the_previous_note_still_qualifies(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    assert s.previous is not None and s.previous.label == "Week 20, 2024"
    earlier = {r.story.id for r in s.earlier}
    assert ids["aurora"] in earlier and ids["cloudwatch"] in earlier
    assert all(r.story.date <= s.previous.date for r in s.earlier)
    assert all(r.story.date > s.previous.date for r in s.also)


def test_only_notes_published_before_the_draft_count(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = build_draft(db, config, date=dt.date(2024, 5, 13), registry=REGISTRY).selection
    assert s.previous is not None and s.previous.label == "Week 16, 2024"  # Week 20 is published that evening, later
    assert ids["s3-express"] in {r.story.id for r in s.ranked}  # not yet covered then


# --- stories -------------------------------------------------------------------------------------


def test_a_story_is_every_post_that_tells_it(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    ecs = story_of(s, ids["ecs"])
    assert [p.id for p in ecs.posts] == [ids["ecs"], ids["ecs-blog"], ids["ecs-community"]]  # linked to it
    assert ecs.primary.source == "whats-new" and ecs.id == ids["ecs"]
    sfn = story_of(s, ids["sfn"])
    assert {p.id for p in sfn.posts} == {ids["sfn"], ids["sfn-compute"]}  # same service, similar title, a day apart


def test_a_roundup_joins_nothing_and_counts_as_a_mention(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    assert all(p.id != ids["roundup"] for r in s.ranked for p in r.story.posts)
    for name in ("ecs", "sfn", "s3"):
        assert [m.id for m in story_of(s, ids[name]).mentions] == [ids["roundup"]]


def test_two_whats_new_items_are_two_launches_unless_their_titles_are_the_same(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    c7i = b.post(
        "aws-whats-new",
        whats_new("c7i-mel"),
        "Amazon EC2 C7i instances now in Melbourne",
        "2024-05-16",
        services=["ec2"],
    )
    m7i = b.post(
        "aws-whats-new",
        whats_new("m7i-mel"),
        "Amazon EC2 M7i instances now in Melbourne",
        "2024-05-16",
        services=["ec2"],
    )
    other = b.post(
        "aws-compute-blog",
        "https://aws.amazon.com/blogs/compute/c7i-in-melbourne/",
        "C7i instances in Melbourne",
        "2024-05-17",
        services=["ec2"],
    )
    unrelated = b.post(
        "aws-news-blog", news_blog("s3-c7i"), "C7i instances in Melbourne", "2024-05-17", services=["s3"]
    )
    s = selection(config, db)
    stories = {r.story.id: {p.id for p in r.story.posts} for r in s.ranked}
    assert stories[c7i] == {c7i, other}
    assert stories[m7i] == {m7i}
    assert stories[unrelated] == {unrelated}  # another service: never the same story


def test_posts_far_apart_are_not_joined_by_their_titles(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    first = b.post("aws-whats-new", whats_new("a"), "Amazon S3 Object Lambda", "2024-05-01", services=["s3"])
    later = b.post("aws-news-blog", news_blog("b"), "S3 Object Lambda", "2024-05-10", services=["s3"])
    s = selection(config, db)
    assert {r.story.id for r in s.ranked} == {first, later}


def test_what_an_earlier_note_linked_is_covered_with_its_whole_story(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    b = ArchiveBuilder(db)
    blog = b.post(
        "aws-news-blog",
        news_blog("s3-express-one-zone-prices"),  # the previous note links this one
        "S3 Express One Zone lowers request prices",
        "2024-05-10",
        services=["s3"],
        links=[whats_new("amazon-s3-express-one-zone-lower-prices")],
    )
    s = selection(config, db)
    covered = {p.id for story in s.covered for p in story.posts}
    assert {ids["s3-express"], blog} <= covered
    assert ids["s3-express"] not in {p.id for r in s.ranked for p in r.story.posts}


# --- ranking -------------------------------------------------------------------------------------


def test_the_score_is_a_sum_of_named_components(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    ranked = next(r for r in s.ranked if r.story.id == ids["ecs"])
    parts = {c.name: c.value for c in ranked.components}
    assert list(parts) == ["sources", "kind", "interest", "recency", "novelty"]
    assert parts["sources"] == pytest.approx(1.0 + 3.0 + 0.5 + 0.25)  # What's New, News Blog, community, roundup
    assert parts["kind"] == 1.0
    assert parts["interest"] == 1.5  # ecs
    assert parts["novelty"] == 1.0
    assert 0.8 < parts["recency"] < 0.9
    assert ranked.score == pytest.approx(sum(parts.values()))
    assert s.ranked[0] is ranked  # the News Blog and the interest profile put it first


def test_kinds_rank_new_services_and_ga_above_features_and_regions_at_the_bottom() -> None:
    weights = sel.kind_weights(DigestSettings())
    assert weights["new-service"] > weights["general-availability"] > weights["new-feature"]
    assert weights["new-feature"] > weights["new-instance-types"] > weights["region-expansion"]
    assert set(ANNOUNCEMENT_KINDS) == set(KINDS)


def test_weights_tables_override_their_defaults_key_by_key(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    config = with_digest(config, source_weights={"news-blog": 10.0})
    s = selection(config, db)
    ranked = next(r for r in s.ranked if r.story.id == ids["ecs"])
    assert ranked.components[0].value == pytest.approx(1.0 + 10.0 + 0.5 + 0.25)


def test_the_ranking_is_pluggable_beside_the_named_components(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week

    def learned(story: sel.Story, ctx: sel.RankContext) -> sel.Component:
        return sel.Component("learned", 10.0 if story.service == "aurora" else 0.0, "the author likes Aurora")

    s = selection(config, db, ranking=sel.rank_by_score((*sel.SCORERS, learned)))
    assert s.ranked[0].story.id == ids["aurora"]
    assert s.featured[0].ranked.story.id == ids["aurora"]
    lines = explain(s, tz=MEL)
    assert lines[2] == "ranking: given by the caller"
    assert "learned" in lines[3] and "the author likes Aurora" in lines[4]


def test_the_newest_first_baseline(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db, ranking=sel.rank_newest)
    dates = [r.story.date for r in s.ranked]
    assert dates == sorted(dates, reverse=True)


def test_explain_prints_every_candidate_with_its_components(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db)
    lines = explain(s, tz=MEL)
    assert lines[0] == "window 2024-04-22 20:00 to 2024-05-20 20:00; previous note Week 20, 2024 (2024-05-13)"
    assert lines[1] == "10 stories, 2 more covered by earlier notes"
    assert lines[2] == "ranking: rule-based score (digest.ranking)"
    assert lines[3].split() == ["rank", "score", "sources", "kind", "interest", "recency", "novelty", "where", "story"]
    assert len(lines) == 4 + len(s.ranked)
    assert "featured" in lines[4] and "[ECS] Amazon ECS Now Supports Docker Volume Plugins" in lines[4]
    assert "sources: 1 whats-new, 1 news-blog, 1 community, 1 roundup" in lines[4]
    assert any(" earlier " in line and "[Aurora]" in line for line in lines)


# --- sections ------------------------------------------------------------------------------------


def test_featured_stories_one_per_service_with_their_related_stories(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    featured = [f.ranked.story for f in s.featured]
    assert [st.id for st in featured] == [ids["ecs"], ids["sfn"], ids["s3"], ids["lambda-logs"]]
    assert len({st.service for st in featured}) == len(featured)
    lambda_section = s.featured[3]
    assert [r.story.id for r in lambda_section.related] == [ids["lambda-snapstart"], ids["lambda-mel"]]
    s = selection(with_digest(config, max_featured=2), db)
    assert len(s.featured) == 2


def test_previously_points_at_earlier_notes_about_the_service(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db)
    found = {f.ranked.story.service: [(p.note.label, p.context) for p in f.previously] for f in s.featured}
    assert found["ecs"] == [("Week 20, 2024", "ECS Service Connect")]  # its heading names the service
    assert found["s3"] == [("Week 20, 2024", "S3 Express One Zone Prices")]  # it linked an S3 post
    assert found["lambda"] == [("Week 16, 2024", "Lambda Response Streaming")]
    s = selection(with_digest(config, previously_max=0), db)
    assert all(not f.previously for f in s.featured)


def test_history_is_the_earlier_announcement_the_story_builds_on(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    history = {f.ranked.story.service: f.history for f in s.featured}
    assert history["s3"] is not None and history["s3"].post.id == ids["s3-old"]
    assert history["s3"].reason == "similar"
    assert history["lambda"] is not None and history["lambda"].post.id == ids["lambda-launch"]
    assert history["lambda"].reason == "launch"
    assert history["ecs"] is None


def test_region_expansions_fold_into_one_line_per_service(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    draft = build_draft(db, with_digest(config, max_featured=3), date=MONDAY, registry=REGISTRY)
    line = next(line for line in draft.text.splitlines() if line.startswith("* **Lambda**"))
    assert line == (
        "* **Lambda**: [JSON structured logs for Ruby functions]"
        "(https://aws.amazon.com/about-aws/whats-new/2024/05/aws-lambda-json-logs-ruby/); "
        "now in four more Regions: [SnapStart](https://aws.amazon.com/about-aws/whats-new/2024/05/"
        "aws-lambda-snapstart-three-more-regions/) in Canada (Central), London, Sydney; "
        "[Melbourne](https://aws.amazon.com/about-aws/whats-new/2024/05/aws-lambda-asia-pacific-melbourne/)"
    )


def test_a_story_told_as_related_is_not_featured_again(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db)
    related = {o.story.id for f in s.featured for o in f.related}
    assert related, "the fixture week has related stories"
    assert not related & {f.ranked.story.id for f in s.featured}
    # ...whatever the ranking: with the related stories ranked first, they are still told once.
    s = selection(with_digest(config, pin_services=["lambda"]), db)
    told = [f.ranked.story.id for f in s.featured] + [o.story.id for f in s.featured for o in f.related]
    assert len(told) == len(set(told))


def test_the_catching_up_list_is_capped(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    full = selection(config, db)
    assert len(full.earlier) >= 2
    capped = build_draft(db, with_digest(config, earlier_max=1), date=MONDAY, registry=REGISTRY)
    assert len(capped.selection.earlier) == 1 and capped.selection.earlier[0] == full.earlier[0]
    assert f"{len(full.earlier) - 1} more from before the previous note left out" in capped.text


@pytest.mark.parametrize(
    "change, key, hint",
    [
        ({"interest_services": {"lamda": 1.5}}, "digest.interest_services", "did you mean 'lambda'?"),
        ({"mute_services": ["ecss"]}, "digest.mute_services", "did you mean 'ecs'?"),
        ({"pin_topics": ["serverles"]}, "digest.pin_topics", "did you mean 'serverless'?"),
    ],
)
def test_a_service_or_topic_the_registry_does_not_know_is_an_error_not_ignored(
    week, change: dict[str, object], key: str, hint: str
) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    with pytest.raises(ConfigError, match=f"{key}: .* is not a registry key.*{hint}"):
        selection(with_digest(config, **change), db)


def test_the_catching_up_list_can_be_left_out(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    text = build_draft(db, with_digest(config, earlier_title=""), date=MONDAY, registry=REGISTRY).text
    assert "Earlier, not covered yet" not in text and "Limitless" not in text


def test_the_community_corner_lists_new_community_posts_best_first(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    assert [c.id for c in s.community] == [ids["ecs-community"], ids["community-cdk"]]  # a featured story's first
    s = selection(with_digest(config, community_max=1), db)
    assert [c.id for c in s.community] == [ids["ecs-community"]]
    text = build_draft(db, with_digest(config, community_max=0), date=MONDAY, registry=REGISTRY).text
    assert "Ambassador Corner" not in text


def test_community_only_stories_are_for_the_corner_not_the_features(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    s = selection(config, db)
    assert ids["community-cdk"] not in {p.id for r in s.ranked for p in r.story.posts}


# --- source problems ----------------------------------------------------------------------------


def test_source_problems_list_failures_in_the_window_and_whether_they_recovered(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    b = ArchiveBuilder(db)
    b.fetch("community", "2024-05-19T10:00", status=None, error="timed out after 60 s")
    b.fetch("community", "2024-03-01T10:00", status=500, error="HTTP 500")  # before the window
    s = selection(config, db)
    assert [(p.feed, p.text) for p in s.problems] == [
        ("aws-news-blog", "2 failed polls, 2024-05-18 11:00 to 2024-05-18 12:00 (HTTP 503), recovered"),
        ("community", "1 failed poll, 2024-05-19 20:00 (timed out after 60 s), not recovered"),
        ("old-feed", "gone (HTTP 410): no longer polled"),
    ]


def test_gaps_recorded_in_the_archive_are_source_problems_of_the_weeks_they_touch(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    start = sel.store.from_iso("2024-05-10T00:00:00+00:00")
    end = sel.store.from_iso("2024-05-12T00:00:00+00:00")
    assert start is not None and end is not None
    with store.write_transaction(db):
        gap = store.record_gap(db, "aws-whats-new", start=start, end=end, now=end)
        store.record_gap(db, "aws-whats-new", start=start.replace(year=2023), end=end.replace(year=2023), now=end)
    s = selection(config, db)
    texts = [(p.feed, p.text) for p in s.problems]
    assert ("aws-whats-new", "possible gap from 2024-05-10 10:00 to 2024-05-12 10:00 (open)") in texts
    assert not any("2023" in text for _feed, text in texts)  # a gap outside the window is not this week's
    with store.write_transaction(db):
        store.update_gap(db, gap.id, status="repaired", items_recovered=12, attempts=1, error=None)
    assert not any("possible gap" in p.text for p in selection(config, db).problems)


# --- untagged posts: tagged now, by the project's tagger ----------------------------------------


@pytest.mark.parametrize(
    "title, categories, services, kind, regions",
    [
        (
            "Amazon Bedrock is now available in the Asia Pacific (Melbourne) Region",
            ["general:products/amazon-bedrock", "marketing:marchitecture/artificial-intelligence"],
            ("bedrock",),
            "region-expansion",
            ("ap-southeast-4",),
        ),
        (
            "Amazon ECS on AWS Fargate supports stop timeouts of up to 10 minutes",
            ["general:products/amazon-ecs", "general:products/aws-fargate"],
            ("ecs", "fargate"),
            "new-feature",
            (),
        ),
        ("Amazon ECS Now Supports Docker Volumes and Volume Plugins", [], ("ecs",), "new-feature", ()),
        ("AWS Lambda announces the end of support for the Node.js 18 runtime", [], ("lambda",), "deprecation", ()),
        ("Introducing Amazon Corretto (Preview)", [], ("corretto",), "preview", ()),
        ("Amazon Kinesis Data Streams reduces prices for on-demand mode", [], ("kinesis",), "price-change", ()),
    ],
)
def test_an_untagged_post_is_tagged_now_as_the_tagger_would_store_it(
    tmp_path: Path, title: str, categories: list[str], services: tuple[str, ...], kind: str, regions: tuple[str, ...]
) -> None:
    config = digest_config(tmp_path)
    registry = default_registry(config)
    db = store.open_db(config.database)
    post = ArchiveBuilder(db).post(
        "aws-whats-new", whats_new("an-item"), title, "2024-05-16", categories=categories, tagged=False
    )
    s = selection(config, db, registry=registry)
    story = s.ranked[0].story
    assert (story.id, story.services[: len(services)], story.kind, story.regions) == (post, services, kind, regions)
    assert story.tagged_now and s.untagged == 1
    stored = Tagger(registry).tag_text(title, "", categories, url=whats_new("an-item"))
    assert (story.services[0], story.kind) == (stored.primary_service, stored.kind)
    assert "(tagged now)" in "\n".join(explain(s, tz=MEL))


def test_the_draft_counts_untagged_posts_and_aggregator_tag_fixes_them_for_good(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    registry = default_registry(config)
    b = ArchiveBuilder(db)
    b.post(
        "aws-whats-new",
        whats_new("amazon-ec2-c9-instances"),
        "Announcing Amazon EC2 C9 instances",
        "2024-05-17",
        tagged=False,
    )
    # Its service is named in its summary only: the summary is read, as the tagger reads it.
    b.post("aws-whats-new", whats_new("faster-queries"), "Faster queries for everyone", "2024-05-18", tagged=False)
    with store.write_transaction(db):
        db.execute(
            "UPDATE posts SET summary = 'Amazon Athena now runs queries faster.' WHERE title = 'Faster queries for everyone'"
        )
    before = build_draft(db, config, date=MONDAY, registry=registry)
    assert before.selection.untagged == 2
    assert (
        "- archive: 2 posts of this window had not been tagged (stored before tagging existed): tagged for this"
        " draft only; `aggregator tag` tags them for good" in before.text
    )
    athena = next(r.story for r in before.selection.ranked if r.story.primary.title == "Faster queries for everyone")
    assert athena.service == "athena"

    assert sum(pipeline.tag_archive(db, tagger_for(config), scope="untagged")) > 0
    after = build_draft(db, config, date=MONDAY, registry=registry)
    assert after.selection.untagged == 0 and "had not been tagged" not in after.text
    # Tagged now or tagged for good: the same draft.
    assert after.text == before.text.replace(
        "- archive: 2 posts of this window had not been tagged (stored before tagging existed): tagged for this"
        " draft only; `aggregator tag` tags them for good\n",
        "",
    )


# --- determinism and settings --------------------------------------------------------------------


def test_the_same_archive_and_date_give_the_same_draft(week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    first = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert build_draft(db, config, date=MONDAY, registry=REGISTRY).text == first
    # Another archive with the same content, written in another order: the same bytes.
    other = store.open_db(tmp_path / "other.db")
    rows = {
        t: list(db.query(f"SELECT * FROM {t}")) for t in ("feeds", "posts", "post_sources", "post_tags", "fetch_log")
    }
    for table, table_rows in rows.items():
        other.table(table).insert_all(list(reversed(table_rows)))
    assert build_draft(other, config, date=MONDAY, registry=REGISTRY).text == first


@pytest.mark.parametrize(
    "toml, problem",
    [
        ('publish_time = "25:00"', "digest.publish_time: must be a time of day"),
        ('url_pattern = "/notes/{month}/"', "unknown field {month}"),
        ('url_pattern = "/notes/"', "must contain {slug} or {week}"),
        ("heading_level = 0", "digest.heading_level: must be between 1 and 5"),
        ('window = "2h"', "digest.window: must be at least a day"),
        ("kind_weights = { launch = 1 }", "unknown kind 'launch'"),
        ("source_weights = { podcast = 1 }", "unknown source type 'podcast'"),
        ('slug_pattern = ""', "digest.slug_pattern: must contain {year} and {week}"),
        ("earlier_max = -1", "digest.earlier_max: must be between 0 and 200"),
    ],
)
def test_digest_settings_are_checked_at_load_time(tmp_path: Path, toml: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        digest_config(tmp_path, toml)


def test_a_note_about_other_things_does_not_reset_what_is_new(week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    notes = tmp_path / "notes"
    shutil.copytree(NOTES, notes)
    (notes / "2024-20-github.md").write_text(
        "---\ntitle: Week 20, 2024 - GitHub Things\nslug: week-20b-2024\nDate: 2024-05-16T20:00:00+10:00\n---\n\n"
        "# GitHub Things\n\nOnly [GitHub news](https://github.blog/news/) this time.\n",
        encoding="utf-8",
    )
    s = selection(config, db, notes_dir=notes)
    assert s.previous is not None and s.previous.slug == "week-20b-2024"
    assert s.since_note is not None and s.since_note.label == "Week 20, 2024"  # the last one about the archive's news
    assert s.since == s.since_note.date
    assert ids["ecs"] in {r.story.id for r in s.also} | {f.ranked.story.id for f in s.featured}
    assert "new since Week 20, 2024, the last note linking the archive's posts" in explain(s, tz=MEL)[0]


def test_lookups_beyond_the_window_use_indexes_not_scans(week) -> None:  # type: ignore[no-untyped-def]
    _, db, _ = week
    queries = [
        "SELECT id FROM posts WHERE date >= '2024' AND date < '2025' ORDER BY date, id",
        "SELECT id FROM posts WHERE primary_service = 's3' AND date < '2024' ORDER BY date DESC LIMIT 400",
        "SELECT id FROM posts WHERE primary_service = 's3' AND kind = 'new-service' AND date < '2024' ORDER BY date LIMIT 1",
        "SELECT feed FROM fetch_log WHERE started >= '2024' AND started < '2025' AND outcome = 'error'",
        "SELECT post_id, tag FROM post_tags WHERE post_id IN ('a', 'b')",
        "SELECT post_id, feed FROM post_sources WHERE post_id IN ('a', 'b')",
    ]
    for sql in queries:
        plan = " ".join(row["detail"] for row in db.query("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH" in plan and "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (sql, plan)
