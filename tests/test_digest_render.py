"""How a draft reads: the blog's front matter and sections, wording, and safety of feed text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
import yaml
from digest_archive import (
    NOTES,
    REGISTRY,
    ArchiveBuilder,
    build_week,
    digest_config,
    example_archive,
    whats_new,
)
from hypothesis import given
from hypothesis import strategies as st

from aggregator import store
from aggregator.config import Config, default_config_dir
from aggregator.digest import Draft, build_draft, default_registry, layout_for, ranking, stories
from aggregator.digest import render as r
from aggregator.errors import ConfigError
from aggregator.tagging import Tagger
from aggregator.taxonomy import Registry, load_registry

MONDAY = dt.date(2024, 5, 20)
EXAMPLE_GOLDEN = Path(__file__).parent / "golden" / "example-2025-09.md"


def front_matter(text: str) -> dict[str, object]:
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, text[:200]
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def draft_text(tmp_path: Path) -> str:
    config = digest_config(tmp_path, notes_dir=NOTES)
    db = store.open_db(config.database)
    build_week(db)
    return build_draft(db, config, date=MONDAY, registry=REGISTRY).text


# --- the blog's shape ----------------------------------------------------------------------------


def test_front_matter_in_the_blogs_exact_shape_and_spelling(draft_text: str) -> None:
    head = draft_text.split("\n---\n", 1)[0].splitlines()
    assert [line.split(":", 1)[0] for line in head if line and not line.startswith(" ")] == [
        "---",
        "title",
        "slug",
        "blog",
        "author",
        "Date",
        "categories",
        "keywords",
        "Description",
        "draft",
    ]
    # As many topics as the fixture notes' titles have (two), the headings' short noun phrases.
    assert head[1] == 'title:        "Week 21, 2024 - ECS Docker Volume Plugins; Step Functions Distributed Map"'
    data = front_matter(draft_text)
    assert data["slug"] == "week-21-2024"
    assert (data["blog"], data["author"]) == ("notes.example.org", "Example Author")
    assert data["Date"] == dt.datetime(2024, 5, 20, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=10)))
    assert "Date:         2024-05-20T20:00:00+10:00" in head
    assert data["categories"] == ["Weekly Notes"]
    # As many as the fixture notes have (three: the house style's count), `aws` first as the
    # author writes it, then the services of the best-ranked stories.
    assert data["keywords"] == ["aws", "ecs", "s3"]
    assert data["draft"] is True


def test_keywords_hold_the_blogs_topics_not_the_registrys_broad_areas(tmp_path: Path) -> None:
    config = digest_config(tmp_path, 'keyword_topics = ["storage"]', notes_dir=NOTES)
    db = store.open_db(config.database)
    build_week(db)
    keywords = front_matter(build_draft(db, config, date=MONDAY, registry=REGISTRY).text)["keywords"]
    assert keywords == ["aws", "ecs", "storage"]  # the author's choice wins over what the notes say
    example = front_matter(EXAMPLE_GOLDEN.read_text(encoding="utf-8"))["keywords"]
    # The example's notes name services and "containers", never "serverless" or "cicd": neither
    # does its draft. A service the notes never named is keyed by its name (documentdb), not by the
    # registry's key (docdb).
    assert isinstance(example, list) and {"aws", "documentdb", "eks"} <= set(example)
    assert not {"docdb", "serverless", "cicd"} & set(example)
    assert not {"compute", "devtools", "networking", "databases", "management"} & set(example)


def test_the_first_paragraph_repeats_the_description(draft_text: str) -> None:
    description = front_matter(draft_text)["Description"]
    body = draft_text.split("\n---\n", 1)[1].lstrip("\n")
    assert body.split("\n\n", 1)[0] == description
    assert description == (
        "ECS supports Docker volume plugins, Step Functions Distributed Map reads S3 prefixes,"
        " S3 adds same-region replication, and Lambda supports JSON structured logs."
    )


def test_a_section_per_featured_story_with_sources_previously_history_and_a_place_for_the_take(
    draft_text: str,
) -> None:
    section = draft_text.split("## S3 Same-Region Replication\n\n", 1)[1].split("\n## ", 1)[0]
    assert section.splitlines() == [
        "* [Amazon S3 Introduces Same-Region Replication](https://aws.amazon.com/about-aws/whats-new/2024/05/"
        "amazon-s3-same-region-replication/) (What's New, 17 May)",
        "* Previously: [Week 20, 2024](/weekly-notes/week-20-2024/) (S3 Express One Zone Prices)",
        "* History: four and a half years ago: [Amazon S3 Introduces Cross-Region Replication]"
        "(https://aws.amazon.com/about-aws/whats-new/2019/11/amazon-s3-cross-region-replication/) (November 2019)",
        "",
        "<!-- your take -->",
    ]
    ecs = draft_text.split("## ECS Docker Volume Plugins\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.rsplit("(", 1)[1] for line in ecs[:3]] == [
        "What's New, 16 May)",
        "AWS News Blog, 16 May)",
        "Community, 17 May)",
    ]


def test_the_sections_in_the_blogs_order_and_the_footnote_placeholder_last(draft_text: str) -> None:
    """The featured sections, then the community corner under the title of the notes' own bare
    list of links ("Community", in the fixture notes); the other stories are no section."""
    headings = re.findall(r"^(#+ .*)$", draft_text, re.M)
    assert headings == [
        "## ECS Docker Volume Plugins",
        "## Step Functions Distributed Map",
        "## S3 Same-Region Replication",
        "## Lambda JSON Structured Logs",
        "## Community",
    ]
    assert draft_text.endswith("\n\n[^1]:\t\n")
    corner = draft_text.split("## Community\n\n", 1)[1].split("\n\n", 1)[0]
    assert corner.splitlines() == [
        "* [A first look at volume plugins in ECS](https://builder.example.dev/posts/ecs-volume-plugins-first-look)",
        "* [CDK pipelines in practice](https://dev.example.com/cdk-pipelines-in-practice)",
    ]


def comments(text: str) -> list[str]:
    """The multi-line HTML comments of a draft, their text."""
    return re.findall(r"^<!--\n(.*?)\n-->$", text, re.S | re.M)


def test_source_problems_are_a_comment_hugo_does_not_publish(draft_text: str) -> None:
    comment = next(c for c in comments(draft_text) if c.startswith("Source problems")).splitlines()
    assert comment[:3] == [
        "Source problems during this window (2024-04-22 20:00 to 2024-05-20 20:00 AEST):",
        "- aws-news-blog: 2 failed polls, 2024-05-18 11:00 to 2024-05-18 12:00 (HTTP 503), recovered",
        "- old-feed: gone (HTTP 410): no longer polled",
    ]
    assert comment[3].startswith("10 stories not covered by earlier notes: 4 featured")


def test_the_other_stories_are_a_reading_list_hugo_does_not_publish(draft_text: str) -> None:
    """Nothing to delete: the stories not featured are listed for the author inside an HTML
    comment, by service, those about no service under "Other" (never a feed's name)."""
    published = re.sub(r"<!--.*?-->", "", draft_text, flags=re.S)
    assert "Also this week" not in published and "M7i-flex" not in published and "**" not in published
    reading = next(c for c in comments(draft_text) if c.startswith("Reading list")).splitlines()
    assert reading[2:] == [
        "Also this week:",
        "* **EC2**: [M7i-flex instances](https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-ec2-m7i-flex-instances/)",
        "* **Other**: [Docker Compose Watch generally available](https://www.docker.example/blog/compose-watch-ga/)",
        "",
        "Earlier, not covered yet:",
        "* **Aurora**: [Limitless Database generally available]"
        "(https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-aurora-limitless-database-generally-available/)",
        "* **CloudWatch**: [\\`metric math\\` \\*functions\\* \\[beta\\]]"
        "(https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-cloudwatch-metric-math-functions/)",
    ]


def test_a_reading_list_cannot_close_its_comment(tmp_path: Path) -> None:
    line = r.comment_markdown("* **S3**: [end --> here <!-- {{< x >}} --!>](https://aws.amazon.com/a--b/) --> x")
    assert "-->" not in line and "--!>" not in line and "<!--" not in line and "{{" not in line
    assert "(https://aws.amazon.com/a--b/)" in line  # the link still goes where it went
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    b.post("aws-whats-new", whats_new("ecs-feature"), "Amazon ECS gains a feature", "2024-05-17", services=["ecs"])
    b.post(
        "aws-whats-new", whats_new("s3-x--y"), "Amazon S3 ends --> a comment --!> here", "2024-05-16", services=["s3"]
    )
    text = build_draft(db, dataclasses.replace(config), date=MONDAY, registry=REGISTRY).text
    assert text.count("<!--") == text.count("-->") and "--!>" not in text
    assert "(https://aws.amazon.com/about-aws/whats-new/2024/05/s3-x--y/)" in text


def test_a_quiet_archive_says_there_were_no_problems(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    text = build_draft(store.open_db(config.database), config, date=MONDAY, registry=REGISTRY).text
    assert 'title:        "Week 21, 2024"' in text
    assert "No source problems recorded during this window" in text
    assert "A quiet week: nothing new to feature yet." in text


def test_heading_level_and_section_titles_are_settings(tmp_path: Path) -> None:
    """Set in the configuration, they win over what the notes say (``##`` headings, a bare list
    titled "Community"); ``publish_lists`` publishes the other stories as before."""
    config = digest_config(
        tmp_path,
        'heading_level = 1\nalso_title = "Other News"\ncommunity_title = "From the Community"\npublish_lists = true',
        notes_dir=NOTES,
    )
    db = store.open_db(config.database)
    build_week(db)
    text = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert "\n# ECS Docker Volume Plugins\n" in text
    assert "\n# Other News\n" in text and "\n## Earlier, not covered yet\n" in text
    assert "\n# From the Community\n" in text


def test_a_user_template_replaces_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "mine.md.j2").write_text(
        "{{ front.title }}\n{% for s in sections %}{{ h }} {{ s.heading }}\n{% endfor %}", encoding="utf-8"
    )
    config = digest_config(tmp_path, 'template = "mine.md.j2"', notes_dir=NOTES)
    db = store.open_db(config.database)
    build_week(db)
    text = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert text.startswith('"Week 21, 2024 - ECS Docker Volume Plugins;')
    assert "## Lambda JSON Structured Logs\n" in text
    (tmp_path / "mine.md.j2").write_text("{{ no_such_value }}", encoding="utf-8")
    with pytest.raises(ConfigError, match="the draft template failed"):
        build_draft(db, config, date=MONDAY, registry=REGISTRY)


NESTED = """\
{% from "lines.md.j2" import link %}
{% for section in sections %}
{{ section.heading }}
{% for source in section.sources %}
  {{ source.where }}: {{ source.title }} <{{ source.url }}>
{% endfor %}
{% endfor %}
{% for group in also %}
- {{ group.service }}{{ " (+%d Regions)" % group.region_count if group.region_count else "" }}
{% for item in group.items %}
  - [{{ item.text }}]({{ item.url }}){% for other in item.also %} / {{ other.text }}{% endfor +%}
{% endfor %}
{% for item in group.regions %}
  - {{ item.feature or "the service" }}: {{ item.regions }} ({{ item.region_count }})
{% endfor %}
{% endfor %}
{% for group in also %}
{{ group.line }}
{% endfor %}
{% for post in community %}
{{ link(post.text, post.url) }}
{% endfor %}
"""
"""A user template: featured sources as plain text, groups as nested lists, the line older
templates printed, and a macro of the packaged ``lines.md.j2``."""


def test_a_user_template_lays_the_data_out_its_own_way(tmp_path: Path) -> None:
    """Groups as nested lists, Region expansions with their counts, sources as plain text: the
    template gets data, not Markdown lines; and the ready-made values of older templates still work."""
    (tmp_path / "nested.md.j2").write_text(
        NESTED,
        encoding="utf-8",
    )
    config = digest_config(tmp_path, 'template = "nested.md.j2"\nmax_featured = 3', notes_dir=NOTES)
    db = store.open_db(config.database)
    build_week(db)
    lines = build_draft(db, config, date=MONDAY, registry=REGISTRY).text.splitlines()
    assert lines[:4] == [
        "ECS Docker Volume Plugins",
        "  What's New, 16 May: Amazon ECS Now Supports Docker Volume Plugins"
        " <https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-ecs-docker-volume-plugins/>",
        "  AWS News Blog, 16 May: New - Docker Volume Plugins for Amazon ECS Tasks"
        " <https://aws.amazon.com/blogs/aws/new-docker-volume-plugins-for-amazon-ecs-tasks/>",
        "  Community, 17 May: A first look at volume plugins in ECS"
        " <https://builder.example.dev/posts/ecs-volume-plugins-first-look>",
    ]
    at = lines.index("- Lambda (+4 Regions)")
    assert lines[at : at + 4] == [
        "- Lambda (+4 Regions)",
        "  - [JSON structured logs for Ruby functions]"
        "(https://aws.amazon.com/about-aws/whats-new/2024/05/aws-lambda-json-logs-ruby/)",
        "  - SnapStart: Canada (Central), London, Sydney (3)",
        "  - the service: Melbourne (1)",
    ]
    packaged = build_draft(
        db, digest_config(tmp_path, "max_featured = 3", notes_dir=NOTES), date=MONDAY, registry=REGISTRY
    ).text
    assert "* " + next(line for line in lines if line.startswith("**Lambda**")) in packaged.splitlines()
    assert lines[-2:] == [
        "[A first look at volume plugins in ECS](https://builder.example.dev/posts/ecs-volume-plugins-first-look)",
        "[CDK pipelines in practice](https://dev.example.com/cdk-pipelines-in-practice)",
    ]


OLDER_STYLE = {
    '{% from "lines.md.j2" import link, source_label, group_line %}\n': "",
    "{{ link(source.title, source.url) }} ({{ source.where }})": "{{ source.link }} ({{ source.label }})",
    "{{ link(source.title, source.url) }} ({{ source_label(source) }})": "{{ source.link }} ({{ source.label }})",
    "{{ link(p.label, p.url) }}": "{{ p.link }}",
    "{{ link(section.history.title, section.history.url) }}": "{{ section.history.link }}",
    "{{ group_line(group) }}": "{{ group.line }}",
    "{{ group_line(group)|comment }}": "{{ group.line|comment }}",
    "{{ link(post.text, post.url) }}": "{{ post.link }}",
}
"""The packaged template's macro calls -> the ready-made values templates printed before."""


def older_style(tmp_path: Path) -> Path:
    """The packaged template as it was before it laid the data out itself: printing the ready-made
    ``link``, ``label`` and ``line`` values instead of calling the macros."""
    text = (r.TEMPLATES / r.TEMPLATE).read_text(encoding="utf-8")
    for new, old in OLDER_STYLE.items():
        assert new in text
        text = text.replace(new, old)
    assert "link(" not in text and "group_line(" not in text and "{% from" not in text
    path = tmp_path / "older.md.j2"
    path.write_text(text, encoding="utf-8")
    return path


def rerender(draft: Draft, config: Config, template: Path) -> str:
    """The draft's selection rendered again, with another template."""
    layout = layout_for(config, draft.style)
    tz = zoneinfo.ZoneInfo(config.settings.general.timezone)
    return r.render(
        draft.selection,
        year=draft.year,
        week=draft.week,
        slug=draft.slug,
        layout=layout,
        tz=tz,
        template=template,
        vocabulary=draft.vocabulary,
    )


@pytest.mark.parametrize("archive", ["fixture", "fixture-3-featured", "example"])
def test_a_template_written_before_the_data_still_gets_its_markdown(tmp_path: Path, archive: str) -> None:
    """A user template that prints the ready-made values, as the packaged one did before, gives
    the same draft: sources, related stories with their other sources, Previously, History, the
    lines of groups with their Regions, the community corner."""
    if archive == "example":
        config, db = example_archive(tmp_path)
        draft = build_draft(db, config, date=dt.date(2025, 2, 24), registry=default_registry(config))
        assert "; [Preparing for the end of support" in draft.text  # a related story's other source
    else:
        config = digest_config(tmp_path, "max_featured = 3" if archive.endswith("featured") else "", notes_dir=NOTES)
        db = store.open_db(config.database)
        build_week(db)
        draft = build_draft(db, config, date=MONDAY, registry=REGISTRY)
        assert "* History: " in draft.text and "* Previously: " in draft.text and "* [CDK pipelines" in draft.text
    assert rerender(draft, config, older_style(tmp_path)) == draft.text


# --- wording -------------------------------------------------------------------------------------


def story(
    title: str,
    service: str = "",
    kind: str = "new-feature",
    regions: tuple[str, ...] = (),
    region_count: int | None = None,
    url: str = "https://aws.amazon.com/x",
) -> stories.Story:
    post = stories.Candidate(
        id=url,
        url=url,
        title=title,
        date=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        feed="aws-whats-new",
        feed_title="What's New",
        source="whats-new",
        kind=kind,
        services=(service,) if service else (),
        topics=(),
        regions=regions,
        links=(),
        region_count=region_count,
    )
    return stories._story([post], [])


NAMES = stories.ServiceNames(
    Registry(
        [
            *REGISTRY.entries.values(),
            dataclasses.replace(
                REGISTRY.entries["lambda"], key="cloudfront", name="Amazon CloudFront", short="CloudFront"
            ),
        ]
    )
)


@pytest.mark.parametrize(
    "title, service, kind, expected",
    [
        # Short noun phrases: the service's short name, then what is new up to its first "for",
        # "with", "and"... ("Docker Volumes" of "Docker Volumes and Volume Plugins").
        ("Amazon ECS Now Supports Docker Volumes and Volume Plugins", "ecs", "new-feature", "ECS Docker Volumes"),
        ("Amazon Elastic Container Service adds daemon scheduling", "ecs", "new-feature", "ECS Daemon Scheduling"),
        # A feature made generally available keeps its name, without "Generally Available".
        (
            "Amazon Aurora Serverless MySQL is Generally Available",
            "aurora",
            "general-availability",
            "Aurora Serverless MySQL",
        ),
        # The service itself made generally available: its full name.
        ("Amazon Aurora is Generally Available", "aurora", "general-availability", "Amazon Aurora"),
        (
            "AWS Lambda is now available in the Asia Pacific (Melbourne) Region",
            "lambda",
            "region-expansion",
            "Lambda in Melbourne",
        ),
        (
            "Introducing AWS Step Functions Distributed Map",
            "stepfunctions",
            "new-feature",
            "Step Functions Distributed Map",
        ),
        ("Amazon S3 Introduces Same-Region Replication", "s3", "new-feature", "S3 Same-Region Replication"),
        # What is new comes before the service's name: "X for ECS", "X in the ECS console".
        ("Introducing Service Discovery for Amazon ECS", "ecs", "new-feature", "ECS Service Discovery"),
        (
            "Target Tracking Available for Container Service Auto Scaling in Amazon ECS Console",
            "ecs",
            "new-feature",
            "ECS Target Tracking",
        ),
        # A verb that is half of what is new, as a noun ("signs"); one that only says "new" goes ("supports").
        (
            "Amazon CloudFront signs requests to Lambda function URLs with origin access control",
            "cloudfront",
            "new-feature",
            "CloudFront Request Signing",
        ),
        ("AWS Lambda supports Ruby 3.3", "lambda", "new-feature", "Lambda Ruby 3.3"),
    ],
)
def test_headings_in_the_blogs_style(title: str, service: str, kind: str, expected: str) -> None:
    regions = ("ap-southeast-4",) if kind == "region-expansion" else ()
    assert r.heading(story(title, service, kind, regions), NAMES) == expected


@pytest.mark.parametrize(
    "title, service, expected",
    [
        ("Amazon ECS Now Supports Docker Volumes and Volume Plugins", "ecs", "Docker Volumes and Volume Plugins"),
        (
            "AWS Elastic Beanstalk supports Python 3.13 on Amazon Linux 2023",
            "",
            "Elastic Beanstalk supports Python 3.13 on Amazon Linux 2023",
        ),
        ("Amazon EC2 Auto Scaling rolls back instance refreshes", "ec2", "Auto Scaling rolls back instance refreshes"),
        # The service is half of the subject: its name stays.
        ("Amazon ECS and Amazon ECR support a feature", "ecs", "ECS and ECR support a feature"),
    ],
)
def test_phrases_under_a_service(title: str, service: str, expected: str) -> None:
    assert r.phrase(story(title, service), NAMES) == expected


def test_region_expansions_name_what_they_bring() -> None:
    assert r.region_feature(
        story("AWS Lambda SnapStart for .NET is now available in seven more Regions", "lambda"), NAMES
    ) == ("SnapStart for .NET")
    assert (
        r.region_feature(story("AWS Lambda is now available in the Asia Pacific (Melbourne) Region", "lambda"), NAMES)
        == ""
    )
    assert r.region_label("mx-central-1") == "Mexico (Central)"
    assert r.region_label("us-gov-west-1") == "GovCloud (US-West)"
    assert r.region_label("ap-southeast-4") == "Melbourne"


@pytest.mark.parametrize(
    "title, service, expected",
    [
        ("Amazon ECS Now Supports Docker Volumes and Volume Plugins", "ecs", "Docker Volumes and Volume Plugins"),
        # The group's name is not repeated: in brackets, as where it happens, as what is supported.
        (
            "Amazon Elastic Container Service (ECS) now offers daemon scheduling for tasks",
            "ecs",
            "daemon scheduling for tasks",
        ),
        ("Introducing Field-Level Encryption on Amazon S3", "s3", "Field-Level Encryption"),
        ("Amazon Aurora now supports Amazon S3", "s3", "support for Aurora"),
        # Two words or fewer without the verb: the verb stays, or the line says nothing.
        ("AWS Lambda supports Python 3.13", "lambda", "supports Python 3.13"),
        ("Amazon S3 support for AWS Lambda", "s3", "support for Lambda"),
        (
            "AWS Step Functions adds support for Amazon ECS and Amazon S3",
            "stepfunctions",
            "adds support for ECS and S3",
        ),
        # The service is half of the subject, or the start of a longer name: it stays.
        ("Amazon ECS and Amazon ECR support a feature", "ecs", "ECS and ECR support a feature"),
        ("Amazon Aurora now supports Amazon S3 Express One Zone", "s3", "Aurora now supports S3 Express One Zone"),
        ("Amazon Aurora is now generally available", "aurora", "generally available"),
    ],
)
def test_list_lines_read_as_what_the_story_is(title: str, service: str, expected: str) -> None:
    assert r.item_text(story(title, service), NAMES) == expected


def test_a_story_about_no_service_goes_under_other_never_a_feed_name() -> None:
    docker = dataclasses.replace(story("Docker Compose Watch is generally available").primary, feed_title="Docker Blog")
    no_service = ranking.Ranked(stories._story([docker], []), ())
    lambda_ = ranking.Ranked(story("AWS Lambda supports Python 3.13", "lambda", url=whats_new("python")), ())
    assert [g.service for g in r.groups([no_service, lambda_], NAMES)] == ["Lambda", "Other"]  # last, though first
    assert r.groups([no_service], NAMES)[0].items[0].text == "Docker Compose Watch generally available"


def test_a_region_expansion_that_names_nothing_still_says_what_it_is() -> None:
    (group,) = r.groups([expansion("AWS Lambda is now available in nine Regions")], NAMES)
    assert [i.text for i in group.regions] == ["available in nine Regions"]
    assert "[more Regions]" not in group.line


def expansion(title: str, regions: tuple[str, ...] = (), count: int | None = None) -> ranking.Ranked:
    slug = re.sub(r"\W+", "-", title.lower()) + f"-{len(regions)}"
    return ranking.Ranked(story(title, "lambda", "region-expansion", regions, count, whats_new(slug)), ())


def test_the_regions_an_expansion_adds_are_the_taggers_count_not_the_titles() -> None:
    """The tagger counted the Regions when it stored the post (``posts.region_count``): the draft
    adds those up, with the Regions named by code counted once."""
    (group,) = r.groups(
        [
            expansion("AWS Lambda SnapStart is now available in seven more Regions", count=6),
            expansion("AWS Lambda is now available in two Regions", ("ap-southeast-4", "ap-southeast-2"), 2),
            expansion("AWS Lambda is now available in Sydney", ("ap-southeast-2",), 1),
        ],
        NAMES,
    )
    assert (group.region_count, group.regions_added) == (8, "eight more Regions")
    assert [(i.text, i.feature, i.regions, i.region_count) for i in group.regions] == [
        ("SnapStart", "SnapStart", "", 6),
        ("Melbourne, Sydney", "", "Melbourne, Sydney", 2),
        ("Sydney", "", "Sydney", 1),
    ]
    (unknown,) = r.groups([expansion("AWS Lambda SnapStart is now available in seven more Regions")], NAMES)
    assert (unknown.region_count, unknown.regions_added) == (None, "more Regions")  # never re-read from the title
    (one,) = r.groups([expansion("AWS Lambda SnapStart is now available in one more Region", count=1)], NAMES)
    assert one.regions_added == "one more Region"
    assert one.line == (
        "**Lambda** now in one more Region: [SnapStart](https://aws.amazon.com/about-aws/whats-new/2024/05/"
        "aws-lambda-snapstart-is-now-available-in-one-more-region-0/)"
    )


@pytest.mark.parametrize(
    "days, words",
    [
        (1, "a day ago"),
        (5, "five days ago"),
        (21, "three weeks ago"),
        (62, "two months ago"),
        (365, "a year ago"),
        (550, "a year and a half ago"),
        (1645, "four and a half years ago"),
        (3650, "ten years ago"),
        (9131, "25 years ago"),
    ],
)
def test_ages_in_words(days: float, words: str) -> None:
    assert r.age_in_words(days) == words


# --- safety of feed text -------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "[click me](javascript:alert(1))",
    "*bold* _em_ `code` ~~gone~~",
    "{{< shortcode >}} and {{% other %}}",
    "# not a heading",
    "1. not a list",
    "- not a list",
    "> not a quote",
    "&lt;entity&gt; &amp; &#x3C;",
    "a | table | row",
    "back\\slash",
    "line\nbreak\rand\u2028separator",
    "![image](http://example.com/x.png)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_feed_text_is_escaped_for_markdown(text: str) -> None:
    out = r.md(text)
    assert "\n" not in out and "\r" not in out
    assert not re.search(r"(?<!\\)[`*_\[\]<>{}#|~]", out), out
    assert "](" not in out.replace("\\]", "")


@given(st.text(max_size=200))
def test_no_markdown_special_survives_unescaped(text: str) -> None:
    out = r.md(text)
    unescaped = re.sub(r"\\.", "", out)
    assert not re.search(r"[`*_\[\]<>{}#|~\\]", unescaped)
    assert "\n" not in out


@pytest.mark.parametrize(
    "url, safe",
    [
        ("https://aws.amazon.com/x/", "https://aws.amazon.com/x/"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("https://en.wikipedia.org/wiki/Go_(game)", "https://en.wikipedia.org/wiki/Go_%28game%29"),
        ("https://example.com/{{<x>}}", "https://example.com/%7B%7B%3Cx%3E%7D%7D"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT:alert(1)", None),
        ("data:text/html,<script>", None),
        ("/relative/path", None),
        ("//example.com/x", None),
        ("https://exa\nmple.com/", None),
        ("", None),
        (None, None),
    ],
)
def test_only_http_links_are_emitted(url: str | None, safe: str | None) -> None:
    assert r.safe_url(url) == safe


def test_yaml_strings_and_comments_cannot_be_broken_out_of() -> None:
    assert r.yaml_str('He said "hi" \\ bye\nnow') == '"He said \\"hi\\" \\\\ bye now"'
    assert yaml.safe_load("x: " + r.yaml_str('a: "b" # c')) == {"x": 'a: "b" # c'}
    assert r.yaml_str("notes.example.org", quote_always=False) == "notes.example.org"
    assert r.yaml_str("true", quote_always=False) == '"true"'
    assert "--" not in r.comment_safe("end --> <!-- {{< x >}} ---->")
    assert "{{" not in r.comment_safe("{{< x >}}")


def test_hostile_titles_and_links_come_out_harmless(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    db = store.open_db(config.database)
    b = ArchiveBuilder(db)
    evil = '<script>alert("x")</script> [click](javascript:alert(1)) *bold* `code` {{< tweet 1 >}} "quoted"'
    b.post(
        "aws-whats-new",
        whats_new("evil"),
        "Amazon S3 " + evil,
        "2024-05-17",
        kind="general-availability",
        services=["s3"],
    )
    b.post("aws-whats-new", "javascript:alert(1)", "Amazon ECS javascript link", "2024-05-17", services=["ecs"])
    b.post("community", "https://community.example/<b>x</b>", evil, "2024-05-18")
    b.fetch("aws-news-blog", "2024-05-18T01:00", status=500, error="boom --> <script>{{< x >}}")
    text = build_draft(db, config, date=MONDAY, registry=REGISTRY).text
    assert "<script" not in text.replace("\\<script", "")
    destinations = [text[m.end() : m.end() + 8] for m in re.finditer(r"(?<!\\)\]\(", text)]
    assert destinations and all(d.startswith(("https://", "http://", "/")) for d in destinations), destinations
    assert "{{<" not in text and "{{%" not in text
    assert text.count("-->") == 1 + text.count("<!-- your take -->")
    data = front_matter(text)
    title = data["title"]
    assert isinstance(title, str) and title.startswith("Week 21, 2024 - S3 ")  # a heading of a few words
    assert not re.search(r"[<>\[\]{}`*]", title), title  # no markup, no shortcode braces
    assert "ECS javascript link" not in text  # nothing to link to: not shown
    assert "](https://community.example/%3Cb%3Ex%3C/b%3E)" in text


@pytest.mark.parametrize(
    "text, paragraph",
    [("1. not a list", "1\\. not a list"), ("- not a list", "\\- not a list"), ("+ x", "\\+ x"), ("= x", "\\= x")],
)
def test_text_that_starts_a_paragraph_cannot_start_a_list(text: str, paragraph: str) -> None:
    assert r.md_paragraph(text) == paragraph
    assert r.md("Glue 5.0") == "Glue 5.0"  # inside a line nothing needs it


# --- shortening keeps sub-products ---------------------------------------------------------------

SHIPPED = load_registry(default_config_dir() / "services.toml")
SHIPPED_NAMES = stories.ServiceNames(SHIPPED)


def tagged_story(title: str) -> stories.Story:
    """A What's New story with the services the shipped registry's tagger gives its title."""
    tagging = Tagger(SHIPPED).tag_text(title, "", (), url="https://aws.amazon.com/about-aws/whats-new/2025/02/x/")
    services = tuple(k for k in dict.fromkeys([tagging.primary_service or "", *tagging.services]) if k)
    post = dataclasses.replace(story(title).primary, services=services, kind=tagging.kind)
    return stories._story([post], [])


@pytest.mark.parametrize(
    "title, phrase",
    [
        ("Amazon SageMaker HyperPod supports EC2 P5en instances", "HyperPod supports EC2 P5en instances"),
        ("Amazon MSK Connect supports Kafka Connect 3.7", "Connect supports Kafka Connect 3.7"),
        ("AWS Backup restore testing supports FSx for OpenZFS", "restore testing supports FSx for OpenZFS"),
        ("Amazon Timestream for InfluxDB supports read replicas", "InfluxDB supports read replicas"),
        (
            "Amazon Connect Contact Lens writes post-contact summaries in five more languages",
            "Contact Lens writes post-contact summaries in five more languages",
        ),
        (
            "AWS Systems Manager Session Manager sets idle timeouts per session document",
            "Session Manager sets idle timeouts per session document",
        ),
        # The service's own long name is still shortened, with or without its prefix.
        ("Amazon Elastic Container Service adds daemon scheduling", "daemon scheduling"),
        ("Elastic Compute Cloud adds a feature", "a feature"),
    ],
)
def test_shortening_keeps_the_names_of_sub_products(title: str, phrase: str) -> None:
    s = tagged_story(title)
    assert r.phrase(s, SHIPPED_NAMES) == phrase
    for name in ("HyperPod", "Kafka Connect 3.7", "FSx for OpenZFS", "InfluxDB", "Contact Lens", "Session Manager"):
        if name in title:
            assert name in r.heading(s, SHIPPED_NAMES) + " " + r.clause(s, SHIPPED_NAMES)


def test_only_a_services_own_names_are_long_names() -> None:
    assert SHIPPED_NAMES.own_names("ecs") == ("Amazon Elastic Container Service", "Elastic Container Service")
    pattern = SHIPPED_NAMES.long_names("sagemaker")
    assert pattern is not None and pattern.pattern.count("|") == 0  # "Amazon SageMaker" alone
    assert SHIPPED_NAMES.long_names("lambda") is not None  # "AWS Lambda" -> "Lambda"
