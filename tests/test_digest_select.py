"""Choosing what a draft shows: window, stories, coverage, ranking, sections, history, problems."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import zoneinfo
from pathlib import Path

import pytest
from digest_archive import NOTES, REGISTRY, ArchiveBuilder, build_week, digest_config, news_blog, whats_new

from aggregator import pipeline, store
from aggregator.config import ANNOUNCEMENT_KINDS, Config, DigestSettings, Feed
from aggregator.digest import (
    build_draft,
    default_registry,
    draft_filename,
    explain,
    publication_time,
    ranking,
    stories,
    week_monday,
)
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


def story_of(s: sel.Selection, post_id: str) -> stories.Story:
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
    assert list(parts) == ["sources", "kind", "interest", "recency", "novelty", "passed"]
    assert parts["sources"] == pytest.approx(1.0 + 3.0 + 0.5 + 0.25)  # What's New, News Blog, community, roundup
    assert parts["kind"] == 1.0
    assert parts["interest"] == 1.5  # ecs
    assert parts["novelty"] == 1.0
    assert parts["passed"] == 0.0  # no earlier note had it among its candidates
    assert 0.8 < parts["recency"] < 0.9
    assert ranked.score == pytest.approx(sum(parts.values()))
    assert s.ranked[0] is ranked  # the News Blog and the interest profile put it first


def test_kinds_rank_new_services_and_ga_above_features_and_regions_at_the_bottom() -> None:
    weights = ranking.kind_weights(DigestSettings())
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

    def learned(story: stories.Story, ctx: ranking.RankContext) -> ranking.Component:
        return ranking.Component("learned", 10.0 if story.service == "aurora" else 0.0, "the author likes Aurora")

    s = selection(config, db, ranking=ranking.rank_by_score((*ranking.SCORERS, learned)))
    assert s.ranked[0].story.id == ids["aurora"]
    assert s.featured[0].ranked.story.id == ids["aurora"]
    lines = explain(s, tz=MEL)
    assert lines[2] == "ranking: given by the caller"
    assert "learned" in lines[3] and "the author likes Aurora" in lines[4]


def test_the_newest_first_baseline(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db, ranking=ranking.rank_newest)
    dates = [r.story.date for r in s.ranked]
    assert dates == sorted(dates, reverse=True)


def test_explain_prints_every_candidate_with_its_components(week) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    s = selection(config, db)
    lines = explain(s, tz=MEL)
    assert lines[0] == "window 2024-04-22 20:00 to 2024-05-20 20:00; previous note Week 20, 2024 (2024-05-13)"
    assert lines[1] == "10 stories, 2 more covered by earlier notes"
    assert lines[2] == "ranking: rule-based score (digest.ranking)"
    assert lines[3].split() == [
        "rank",
        "score",
        "sources",
        "kind",
        "interest",
        "recency",
        "novelty",
        "passed",
        "where",
        "story",
    ]
    assert len(lines) == 4 + len(s.ranked) + len(s.covered)  # the covered stories too, last
    assert "featured" in lines[4] and "[ECS] Amazon ECS Now Supports Docker Volume Plugins" in lines[4]
    assert "sources: 1 whats-new, 1 news-blog, 1 community, 1 roundup" in lines[4]
    aurora = next(line for line in lines if "[Aurora]" in line)
    assert " listed " in aurora and "(earlier; 1 post;" in aurora
    assert "passed: left out by 1 earlier note" in aurora  # a candidate of Week 20, 2024, which linked others
    snapstart = next(line for line in lines if "SnapStart" in line)
    assert " related " in snapstart and "(in the Lambda section;" in snapstart
    express = next(line for line in lines if "S3 Express One Zone" in line)
    assert express.split()[:2] == ["-", "-"] and " left out " in express
    assert "(covered by Week 20, 2024 (linked it); 1 post)" in express


def test_explain_says_where_every_story_went_and_why(week) -> None:  # type: ignore[no-untyped-def]
    config, db, ids = week
    config = with_digest(config, earlier_max=1, mute_services=["ec2"], max_featured=2)
    s = selection(config, db)
    where = {story_id: place for story_id, place in s.placements().items()}
    assert where[ids["ecs"]] == ("featured", "")
    assert where[ids["aurora"]] == ("listed", "earlier")  # the better of the two earlier stories
    assert where[ids["cloudwatch"]] == ("left out", "earlier: below the list cap (digest.earlier_max)")
    assert where[ids["s3"]][0] == "listed" and "not featured" not in where[ids["s3"]][1]  # below the cut
    assert where[ids["s3-express"]] == ("left out", "covered by Week 20, 2024 (linked it)")
    muted_line = next(line for line in explain(s, tz=MEL) if "M7i-flex" in line)
    assert " listed " in muted_line and "(also; not featured: muted (ec2): never featured;" in muted_line
    hidden = selection(with_digest(config, earlier_title=""), db).placements()
    assert hidden[ids["aurora"]] == ("left out", "earlier: digest.earlier_title is empty")


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
    start = store.from_iso("2024-05-10T00:00:00+00:00")
    end = store.from_iso("2024-05-12T00:00:00+00:00")
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


# --- the store's reads for the digest ------------------------------------------------------------


def test_the_store_reads_posts_as_the_digest_needs_them(week) -> None:  # type: ignore[no-untyped-def]
    _, db, ids = week
    start, end = store.from_iso("2024-05-14T00:00:00+00:00"), store.from_iso("2024-05-18T00:00:00+00:00")
    assert start is not None and end is not None
    posts = {p.id: p for p in store.window_posts(db, start=start, end=end)}
    blog = posts[ids["ecs-blog"]]
    assert (blog.feed, blog.feed_kinds, blog.links, blog.tagged) == (
        "aws-news-blog",
        ("aws-blog",),
        (ids["ecs"],),
        True,
    )
    assert [(t.tag, t.type, t.confidence) for t in posts[ids["sfn"]].tags] == [
        ("stepfunctions", "service", 1.0),
        ("s3", "service", 0.9),
        ("serverless", "topic", 0.8),
    ]
    compute = posts[ids["sfn-compute"]]  # tagged: a service, no kind
    assert (compute.kind, compute.primary_service, compute.feed_kinds) == (None, "stepfunctions", ("aws-blog",))
    snapstart = posts[ids["lambda-snapstart"]]
    assert (snapstart.regions, snapstart.region_count) == (("ap-southeast-2", "eu-west-2", "ca-central-1"), 3)
    assert [p.date for p in posts.values()] == sorted(p.date for p in posts.values())
    assert ids["roundup"] not in posts and ids["s3-old"] not in posts  # outside [start, end)

    by_id = store.posts_by_id(db, [ids["s3-old"], "not-stored", ids["ecs"], ids["ecs"]])
    assert [p.id for p in by_id] == sorted([ids["s3-old"], ids["ecs"]])

    history = store.service_history(db, "lambda", before=end, limit=2)
    assert [p.id for p in history] == sorted([ids["lambda-snapstart"], ids["lambda-logs"]])  # newest, then by id
    assert [p.id for p in store.service_history(db, "lambda", before=end, limit=9)][-1] == ids["lambda-launch"]
    launch = store.service_launch(db, "lambda", before=end)
    assert launch is not None and (launch.id, launch.kind) == (ids["lambda-launch"], "new-service")
    assert store.service_launch(db, "s3", before=end) is None

    (failures,) = store.fetch_failures(db, start=start, end=end + dt.timedelta(days=3))
    assert (failures.feed, [p.status for p in failures.polls], failures.recovered) == (
        "aws-news-blog",
        [503, 503],
        True,
    )
    assert store.feed_labels(db)["old-feed"].gone and not store.feed_labels(db)["community"].gone
    assert store.count_untagged(db, start=start, end=end) == 0


# --- what the store resolved: links from post_links, untagged posts left untagged ----------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{title}</title><link>https://aws.amazon.com/</link>
<description>fixture</description>{items}</channel></rss>
"""
ITEM = """<item><title>{title}</title><link>{link}</link><guid>{link}</guid>
<pubDate>{date}</pubDate><category>{category}</category><description>{body}</description></item>"""


def import_feed(db: object, tmp_path: Path, name: str, kind: str, items: list[dict[str, str]]) -> None:
    """Store a feed's items as ``aggregator import`` does: normalized, tagged, links resolved."""
    path = tmp_path / f"{name}.xml"
    entries = "".join(ITEM.format(**{"category": "", "body": "", **item}) for item in items)
    path.write_text(RSS.format(title=name, items=entries), encoding="utf-8")
    feed = Feed(name=name, url=f"https://feeds.example/{name}", kind=kind)  # type: ignore[arg-type]
    tagger = tagger_for(digest_config(tmp_path))
    assert not next(pipeline.import_files(db, feed, [path], tagger=tagger)).error  # type: ignore[arg-type]


def test_stored_posts_are_joined_by_the_links_the_store_resolved(tmp_path: Path) -> None:
    """A News Blog post links its What's New item through a tracking URL of another spelling:
    the store resolved it when it stored the post (post_links), and the draft reads that."""
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    item = "https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-ecs-volume-plugins/"
    import_feed(
        db,
        tmp_path,
        "aws-whats-new",
        "aws-whats-new",
        [{"title": "Amazon ECS supports volume plugins", "link": item, "date": "Wed, 15 May 2024 17:00:00 GMT"}],
    )
    body = '&lt;p&gt;Read the &lt;a href="HTTPS://AWS.Amazon.com/about-aws/whats-new/2024/05/amazon-ecs-volume-plugins?utm_source=blog#top"&gt;announcement&lt;/a&gt;.&lt;/p&gt;'
    import_feed(
        db,
        tmp_path,
        "aws-news-blog",
        "aws-blog",
        [
            {
                "title": "Bring your own storage driver to your tasks",
                "link": news_blog("bring-your-own-storage-driver"),
                "date": "Thu, 16 May 2024 01:00:00 GMT",
                "body": body,
            }
        ],
    )
    s = selection(config, db, registry=default_registry(config))
    (story,) = [r.story for r in s.ranked]
    assert story.primary.url == item and [p.source for p in story.posts] == ["whats-new", "news-blog"]
    # Without the store's resolved links the two are two stories: the draft reads post_links.
    with store.write_transaction(db):
        db.execute("DELETE FROM post_links")
    assert len(selection(config, db, registry=default_registry(config)).ranked) == 2


def test_posts_the_archive_has_not_tagged_are_counted_not_tagged_at_read_time(
    week, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    registry = default_registry(config)
    b = ArchiveBuilder(db)
    c9 = b.post(
        "aws-whats-new",
        whats_new("amazon-ec2-c9-instances"),
        "Announcing Amazon EC2 C9 instances",
        "2024-05-17",
        categories=["general:products/amazon-ec2"],
        tagged=False,
    )
    b.post("aws-whats-new", whats_new("faster-queries"), "Faster Athena queries", "2024-05-18", tagged=False)
    b.post("aws-whats-new", whats_new("old-untagged"), "Amazon S3 before the window", "2024-03-01", tagged=False)

    def no_tagging(*args: object, **kwargs: object) -> None:
        raise AssertionError("the digest tagged a post")

    with monkeypatch.context() as patched:
        patched.setattr(Tagger, "tag_text", no_tagging)
        patched.setattr(Tagger, "tag", no_tagging)
        before = build_draft(db, config, date=MONDAY, registry=registry)
    assert before.selection.untagged == 2  # the one before the window is not this draft's
    line = (
        "- archive: 2 posts of this window are not tagged (stored before tagging existed): the draft knows no"
        " services or kinds of theirs; `aggregator tag` tags them\n"
    )
    assert line in before.text
    story = next(r.story for r in before.selection.ranked if r.story.id == c9)
    assert (story.services, story.kind, story.primary.tagged) == ((), None, False)
    assert "kind: other (not tagged)" in "\n".join(explain(before.selection, tz=MEL))

    assert sum(pipeline.tag_archive(db, tagger_for(config), scope="untagged")) == 3
    after = build_draft(db, config, date=MONDAY, registry=registry)
    assert after.selection.untagged == 0 and "not tagged" not in after.text
    story = next(r.story for r in after.selection.ranked if r.story.id == c9)
    assert (story.service, story.kind) == ("ec2", "new-instance-types")


def test_one_not_tagged_post_is_one(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    ArchiveBuilder(db).post("aws-whats-new", whats_new("x"), "Amazon S3 thing", "2024-05-17", tagged=False)
    text = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert "- archive: 1 post of this window is not tagged (stored before tagging existed)" in text


# --- determinism and settings --------------------------------------------------------------------


def test_the_same_archive_and_date_give_the_same_draft(week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = week
    first = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert build_draft(db, config, date=MONDAY, registry=REGISTRY).text == first
    # Another archive with the same content, written in another order: the same bytes.
    other = store.open_db(tmp_path / "other.db")
    rows = {
        t: list(db.query(f"SELECT * FROM {t}"))
        for t in ("feeds", "posts", "post_sources", "post_tags", "post_links", "fetch_log")
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


@pytest.mark.parametrize("ranking", ["rules", "learned"])
def test_every_query_of_a_draft_is_bounded_by_an_index(week, ranking: str) -> None:  # type: ignore[no-untyped-def]
    """What the draft reads (through the store) costs the same on a large archive as on a small
    one: no query walks a whole table but the feed list."""
    config, db, _ = week
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        build_draft(db, with_digest(config, ranking=ranking), date=MONDAY, registry=REGISTRY)
    finally:
        db.conn.set_trace_callback(None)
    queries = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    read = {table for sql in queries for table in re.findall(r"\b(?:FROM|JOIN) (\w+)", sql)}
    assert {"posts", "post_sources", "post_tags", "post_links", "fetch_log", "feed_gaps"} <= read
    for sql in queries:
        plan = " ".join(row["detail"] for row in db.query("EXPLAIN QUERY PLAN " + sql))
        scanned = set(re.findall(r"\bSCAN (\w+)", plan)) - {"CONSTANT", "feeds"}
        assert not scanned, (sql, plan)


def test_the_digest_reads_through_the_store_and_never_tags() -> None:
    """The layout the digest keeps: the store speaks SQL, the pipeline tags, errors are not hidden."""
    package = Path(sel.__file__).parent
    for path in sorted(package.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for forbidden in ("db.query(", "db.execute(", ".conn.", "Tagger", "tagging import", "except Exception"):
            assert forbidden not in source, f"{path.name}: {forbidden}"


# --- coverage by any source or heading, passed over, kinds at the bottom, diverse picks ----------


def write_note(folder: Path, name: str, date: str, sections: dict[str, str]) -> None:
    """A note in the blog's format: ``sections`` maps each heading to its text (with links)."""
    body = "\n\n".join(f"## {heading}\n\n{text}" for heading, text in sections.items())
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.md").write_text(
        f"---\ntitle: Notes {name}\nDate: {date}\n---\n\nWritten for the tests.\n\n{body}\n", encoding="utf-8"
    )


@pytest.fixture
def quiet(tmp_path: Path) -> tuple[Config, object, Path]:
    """An empty archive and notes folder for the draft of Monday 20 May 2024."""
    notes = tmp_path / "notes"
    notes.mkdir()
    config = digest_config(tmp_path, "interest_services = {}\ninterest_topics = {}", notes_dir=notes)
    return config, store.open_db(config.database), notes


def ranked_ids(config: Config, db: object) -> list[str]:
    return [r.story.id for r in selection(config, db).ranked]


def test_whats_new_at_two_addresses_is_one_story_and_a_link_to_either_covers_it(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, notes = quiet
    b = ArchiveBuilder(db)
    first = b.post(
        "aws-whats-new", whats_new("aws-cdk-generally-available"), "The AWS CDK is now generally available",
        "2024-05-15", kind="general-availability", services=["s3"],
    )  # fmt: skip
    second = b.post(
        "aws-whats-new", whats_new("aws-cdk-generally-available1"), "The AWS CDK is Now Generally Available",
        "2024-05-16", kind="general-availability", services=["s3"],
    )  # fmt: skip
    versions = b.post(
        "aws-whats-new", whats_new("amazon-ec2-gp3"), "Amazon EBS gp3 volumes", "2024-05-16", services=["ec2"]
    )
    other = b.post(
        "aws-whats-new", whats_new("amazon-ec2-gp2"), "Amazon EBS gp2 volumes", "2024-05-16", services=["ec2"]
    )
    s = selection(config, db)
    stories = {r.story.id: {p.id for p in r.story.posts} for r in s.ranked}
    assert stories[first] == {first, second}
    assert stories[versions] == {versions} and stories[other] == {other}  # not a number appended: two stories
    # The author linked the second address: the story is covered, whichever post leads it.
    write_note(
        notes, "2024-20", "2024-05-17T20:00:00+10:00", {"CDK": f"[CDK GA]({whats_new('aws-cdk-generally-available1')})"}
    )
    assert first not in ranked_ids(config, db) and versions in ranked_ids(config, db)
    # ...and with only the second address in the archive, a link to the first covers it.
    with store.write_transaction(db):
        db.execute("DELETE FROM post_tags WHERE post_id = ?", [first])
        db.execute("DELETE FROM post_sources WHERE post_id = ?", [first])
        db.execute("DELETE FROM posts WHERE id = ?", [first])
    write_note(
        notes, "2024-20", "2024-05-17T20:00:00+10:00", {"CDK": f"[CDK GA]({whats_new('aws-cdk-generally-available')})"}
    )
    s = selection(config, db)
    assert second not in {r.story.id for r in s.ranked}
    assert str(s.covers[second]) == "Week 20, 2024 (linked it)"


def test_a_blog_post_the_archive_does_not_hold_covers_the_story_it_tells(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, notes = quiet
    b = ArchiveBuilder(db)
    told = b.post(
        "aws-whats-new", whats_new("aws-step-functions-dynamic-parallelism"),
        "AWS Step Functions adds support for dynamic parallelism in workflows", "2024-05-14",
        services=["stepfunctions"],
    )  # fmt: skip
    region = b.post(
        "aws-whats-new", whats_new("aws-lambda-melbourne"), "AWS Lambda is now available in Asia Pacific (Melbourne)",
        "2024-05-14", kind="region-expansion", services=["lambda"],
    )  # fmt: skip
    write_note(
        notes,
        "2024-20",
        "2024-05-16T20:00:00+10:00",
        {
            "Parallel Workflows": "Read [the News Blog](https://aws.amazon.com/blogs/aws/new-step-functions-support-for-dynamic-parallelism/).",
            "Melbourne": "Also [Bedrock in Melbourne](https://aws.amazon.com/blogs/aws/bedrock-now-available-in-asia-pacific-melbourne/).",
        },
    )
    s = selection(config, db)
    assert [r.story.id for r in s.ranked] == [region]  # sharing only the Region's words covers nothing
    assert str(s.covers[told]) == "Week 20, 2024 (linked a post about it)"
    # A note from before the story says nothing about it.
    write_note(
        notes,
        "2024-20",
        "2024-05-01T20:00:00+10:00",
        {"Parallel": "[Post](https://aws.amazon.com/blogs/aws/new-step-functions-support-for-dynamic-parallelism/)"},
    )
    assert told in ranked_ids(config, db)


def test_a_heading_naming_the_service_and_what_is_new_covers_the_story(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, notes = quiet
    b = ArchiveBuilder(db)
    volumes = b.post(
        "aws-whats-new", whats_new("ecs-docker-volumes"), "Amazon ECS now supports Docker volumes and volume plugins",
        "2024-05-14", services=["ecs"],
    )  # fmt: skip
    other_ecs = b.post(
        "aws-whats-new", whats_new("ecs-task-tags"), "Amazon ECS supports tagging tasks", "2024-05-14", services=["ecs"]
    )
    ga = b.post(
        "aws-whats-new", whats_new("aurora-ga"), "Amazon Aurora is now generally available", "2024-05-14",
        kind="general-availability", services=["aurora"],
    )  # fmt: skip
    feature = b.post(
        "aws-whats-new",
        whats_new("aurora-backtrack"),
        "Amazon Aurora adds backtrack",
        "2024-05-14",
        services=["aurora"],
    )
    write_note(
        notes,
        "2024-20",
        "2024-05-16T20:00:00+10:00",
        {"ECS Docker Volumes": "No link.", "Amazon Aurora": "No link either.", "ECS Updates": "Nothing."},
    )
    s = selection(config, db)
    assert {r.story.id for r in s.ranked} == {other_ecs, feature}  # "ECS" alone covers no ECS story
    assert str(s.covers[volumes]) == 'Week 20, 2024 (heading "ECS Docker Volumes")'
    assert str(s.covers[ga]) == 'Week 20, 2024 (heading "Amazon Aurora")'  # the service alone: its launch


def test_a_story_passed_over_by_earlier_notes_ranks_lower_not_out(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, notes = quiet
    b = ArchiveBuilder(db)
    old = b.post("aws-whats-new", whats_new("s3-old"), "Amazon S3 adds an old thing", "2024-05-01", services=["s3"])
    new = b.post("aws-whats-new", whats_new("s3-new"), "Amazon S3 adds a new thing", "2024-05-15", services=["s3"])
    picked = b.post("aws-whats-new", whats_new("ecs-picked"), "Amazon ECS picked", "2024-05-02", services=["ecs"])
    b.post("aws-whats-new", whats_new("ecs-picked-2"), "Amazon ECS picked again", "2024-05-08", services=["ecs"])
    write_note(notes, "2024-18", "2024-05-06T20:00:00+10:00", {"ECS": f"[picked]({whats_new('ecs-picked')})"})
    write_note(
        notes, "2024-19", "2024-05-09T20:00:00+10:00", {"GitHub": "[about other things](https://github.blog/x/)"}
    )
    write_note(notes, "2024-20", "2024-05-13T20:00:00+10:00", {"ECS": f"[again]({whats_new('ecs-picked-2')})"})
    s = selection(config, db)
    by_id = {r.story.id: r for r in s.ranked}
    assert picked not in by_id and set(by_id) == {old, new}
    passed = {c.name: c for c in by_id[old].components}["passed"]
    # Two notes that covered the archive's news left it out; the note about other things did not count.
    assert passed.value == pytest.approx(2 * ranking.PASSED_WEIGHT) and passed.why == "left out by 2 earlier notes"
    assert {c.name: c.value for c in by_id[new].components}["passed"] == 0.0


def test_training_announcements_rank_at_the_bottom(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = quiet
    b = ArchiveBuilder(db)
    course = b.post(
        "aws-whats-new", whats_new("s3-course"), "New digital course: Amazon S3 deep dive", "2024-05-19",
        kind="training", services=["s3"],
    )  # fmt: skip
    b.post(
        "aws-news-blog", news_blog("s3-course"), "A new S3 course", "2024-05-19", kind="training", services=["s3"],
        links=[whats_new("s3-course")],
    )  # fmt: skip
    region = b.post(
        "aws-whats-new", whats_new("ec2-region"), "Amazon EC2 in Melbourne", "2024-04-25", kind="region-expansion",
        services=["ec2"], regions=["ap-southeast-4"],
    )  # fmt: skip
    muted = b.post("aws-whats-new", whats_new("cw"), "Amazon CloudWatch thing", "2024-05-19", services=["cloudwatch"])
    config = with_digest(config, mute_services=["cloudwatch"])
    assert ranked_ids(config, db) == [region, course, muted]  # a News Blog post and new: still below the rest
    line = next(line for line in explain(selection(config, db), tz=MEL) if "deep dive" in line)
    assert "bottom: training: ranked at the bottom (the lowest of digest.kind_weights)" in line
    # Whoever raises training above another kind ranks it by its score again.
    assert ranked_ids(with_digest(config, kind_weights={"training": 0.0}), db)[0] == course


def test_one_topic_cannot_fill_every_featured_slot(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = quiet
    b = ArchiveBuilder(db)
    for key in ("lambda", "stepfunctions", "s3", "aurora"):
        b.post(
            "aws-news-blog", news_blog(f"{key}-thing"), f"{key} does a serverless thing", "2024-05-18",
            kind="new-feature", services=[key], topics=["serverless"],
        )  # fmt: skip
    ecs = b.post("aws-whats-new", whats_new("ecs-thing"), "Amazon ECS thing", "2024-05-10", services=["ecs"])
    s = selection(with_digest(config, max_featured=4), db)
    serverless = [r.story.id for r in s.ranked if r.story.id != ecs]
    assert s.ranked[-1].story.id == ecs  # the serverless stories all rank above it...
    assert [f.ranked.story.id for f in s.featured] == [*serverless[:3], ecs]  # ...the fourth gives way
    assert s.placements()[serverless[3]] == ("listed", "also; not featured: serverless fills 3 featured slots already")
    # With nothing else left, the topic fills the slots after all.
    with store.write_transaction(db):
        db.execute("DELETE FROM post_sources WHERE post_id = ?", [ecs])
        db.execute("DELETE FROM posts WHERE id = ?", [ecs])
    assert len(selection(with_digest(config, max_featured=4), db).featured) == 4


def test_a_service_with_several_good_stories_makes_the_stronger_section(quiet) -> None:  # type: ignore[no-untyped-def]
    config, db, _ = quiet
    b = ArchiveBuilder(db)
    single = b.post("aws-whats-new", whats_new("s3-one"), "Amazon S3 one thing", "2024-05-19", services=["s3"])
    lambdas = [
        b.post(
            "aws-whats-new",
            whats_new(f"lambda-{i}"),
            f"AWS Lambda thing number {i}",
            f"2024-05-1{i}",
            services=["lambda"],
        )
        for i in (6, 7, 8)
    ]
    s = selection(with_digest(config, max_featured=1), db)
    assert s.ranked[0].story.id == single  # the better single story...
    (section,) = s.featured  # ...makes a weaker section than three Lambda stories
    assert section.ranked.story.id == lambdas[-1]
    assert [r.story.id for r in section.related] == [lambdas[1], lambdas[0]]
