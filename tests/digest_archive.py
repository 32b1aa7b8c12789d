"""Fixture archives for the digest tests: posts with their tags, written straight into the tables.

The tagger fills ``post_tags``, ``posts.kind``, ``primary_service``, ``regions`` and
``region_count``, and the store resolves each post's links into ``post_links``; these tests do it
by hand, so the digest is tested against that contract alone. ``REGISTRY`` is a small
service registry of the shape ``config/services.toml`` will have.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database

from aggregator import pipeline, store
from aggregator.config import Config, load_config
from aggregator.normalize import canonical_url, link_ids, post_id_for
from aggregator.taxonomy import Registry, Service

REGISTRY = Registry(
    [
        Service(
            key="s3",
            name="Amazon S3",
            short="S3",
            aliases=("Amazon Simple Storage Service",),
            slugs=("amazon-s3",),
            topics=("storage",),
        ),
        Service(
            key="ecs",
            name="Amazon Elastic Container Service",
            short="ECS",
            aliases=("Amazon ECS",),
            slugs=("amazon-ecs",),
            topics=("containers",),
        ),
        Service(key="lambda", name="AWS Lambda", short="Lambda", slugs=("aws-lambda",), topics=("serverless",)),
        Service(
            key="stepfunctions",
            name="AWS Step Functions",
            short="Step Functions",
            slugs=("aws-step-functions",),
            topics=("serverless",),
        ),
        Service(key="aurora", name="Amazon Aurora", short="Aurora", slugs=("amazon-aurora",), topics=("databases",)),
        Service(
            key="ec2", name="Amazon EC2", short="EC2", aliases=("Amazon Elastic Compute Cloud",), slugs=("amazon-ec2",)
        ),
        Service(key="cloudwatch", name="Amazon CloudWatch", short="CloudWatch", slugs=("amazon-cloudwatch",)),
    ]
)

FEEDS = {
    "aws-whats-new": ("aws-whats-new", "AWS What's New"),
    "aws-news-blog": ("aws-blog", "AWS News Blog"),
    "aws-compute-blog": ("aws-blog", "AWS Compute Blog"),
    "community": ("community", "Community"),
    "docker-blog": ("other", "Docker Blog"),
}


def when(text: str) -> dt.datetime:
    """``2024-05-15`` or ``2024-05-15T17:00`` (UTC) -> aware UTC."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class ArchiveBuilder:
    """Insert feeds, posts (with tags, kind, primary service, Regions) and fetch-log rows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._feeds: set[str] = set()

    def feed(self, name: str, kind: str | None = None, title: str | None = None, *, gone: bool = False) -> None:
        if name in self._feeds:
            return
        default_kind, default_title = FEEDS.get(name, ("other", name))
        with store.write_transaction(self.db):
            self.db.execute(
                "INSERT OR IGNORE INTO feeds (name, url, configured_url, kind, title, created, gone) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    name,
                    f"https://feeds.example/{name}",
                    f"https://feeds.example/{name}",
                    kind or default_kind,
                    title or default_title,
                    "2020-01-01T00:00:00+00:00",
                    int(gone),
                ],
            )
        self._feeds.add(name)

    def post(
        self,
        feed: str,
        url: str,
        title: str,
        date: str,
        *,
        kind: str | None = None,
        services: Sequence[str] = (),
        topics: Sequence[str] = (),
        regions: Sequence[str] = (),
        region_count: int | None = None,
        links: Sequence[str] = (),
        categories: Sequence[str] = (),
        also_in: Sequence[str] = (),
        tagged: bool = True,
    ) -> str:
        """One post; ``services``: the first is the primary one. Returns its id.

        ``region_count``: how many Regions a region expansion adds, as the tagger counts them (by
        default the Regions given). ``links`` are stored in ``posts.links`` and resolved into
        ``post_links``, as the store does. ``tagged``: the tags given are what the tagger stored
        (``posts.tagged_with`` is set, even when it found nothing); False: a post stored before
        tagging existed (all NULL)."""
        self.feed(feed)
        for other in also_in:
            self.feed(other)
        canonical = canonical_url(url) if url.startswith(("http://", "https://")) else None
        post_id = post_id_for(url=canonical, guid=url if canonical is None else None, title=title, summary="")
        published = store.iso(when(date))
        if region_count is None and kind == "region-expansion" and regions:
            region_count = len(regions)
        canonical_links = [c for c in (canonical_url(u) for u in links) if c]
        with store.write_transaction(self.db):
            self.db.execute(
                "INSERT INTO posts (id, url, title, summary, summary_html, links, published, date, first_seen,"
                " authors, categories, content_hash, feed, kind, primary_service, regions, region_count, tagged_with)"
                " VALUES (?, ?, ?, '', '', ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    post_id,
                    canonical or url,
                    title,
                    json.dumps(canonical_links),
                    published,
                    published,
                    published,
                    json.dumps(list(categories)),
                    hashlib.sha1(title.encode()).hexdigest(),
                    feed,
                    kind,
                    services[0] if services else None,
                    json.dumps(list(regions)) if regions else None,
                    region_count,
                    "fixture" if tagged else None,
                ],
            )
            self.db.conn.executemany(
                "INSERT INTO post_links (post_id, target_id, position, url) VALUES (?, ?, ?, ?)",
                store.link_rows(post_id, canonical_links, link_ids(canonical_links)),
            )
            for name in (feed, *also_in):
                self.db.execute(
                    "INSERT INTO post_sources (post_id, feed, guid, first_seen, last_seen) VALUES (?, ?, NULL, ?, ?)",
                    [post_id, name, published, published],
                )
            for rank, service in enumerate(services):
                self.db.execute(
                    "INSERT INTO post_tags (post_id, tag, type, source, confidence) VALUES (?, ?, 'service', ?, ?)",
                    [post_id, service, "category", 1.0 - rank * 0.1],
                )
            for topic in topics:
                self.db.execute(
                    "INSERT INTO post_tags (post_id, tag, type, source, confidence) VALUES (?, ?, 'topic', 'category', 0.8)",
                    [post_id, topic],
                )
        return post_id

    def fetch(self, feed: str, started: str, *, status: int | None = 200, error: str | None = None) -> None:
        self.feed(feed)
        with store.write_transaction(self.db):
            store.log_fetch(
                self.db,
                {
                    "feed": feed,
                    "started": store.iso(when(started)),
                    "status": status,
                    "outcome": "error" if error else "stored",
                    "duration_ms": 10,
                    "error": error,
                    "url": f"https://feeds.example/{feed}",
                },
            )


def whats_new(slug: str, year: int = 2024, month: int = 5) -> str:
    return f"https://aws.amazon.com/about-aws/whats-new/{year}/{month:02d}/{slug}/"


def news_blog(slug: str) -> str:
    return f"https://aws.amazon.com/blogs/aws/{slug}/"


def digest_config(tmp_path: Path, extra: str = "", *, notes_dir: Path | None = None) -> Config:
    """A configuration for the digest tests: Melbourne time, the blog's names, drafts in tmp_path."""
    notes = f'notes_dir = "{notes_dir.as_posix()}"\n' if notes_dir else ""
    defaults = [
        'blog = "notes.example.org"',
        'author = "Example Author"',
        'publish_time = "20:00"',
        "interest_services = { ecs = 1.5, stepfunctions = 1.0, s3 = 1.0 }",
        "interest_topics = { serverless = 1.0 }",
        'ranking = "rules"  # these tests are about the rule-based score; test_digest_profile.py learns',
    ]
    given = set(re.findall(r"^(\w+)\s*=", extra, re.M))
    digest = "\n".join(line for line in defaults if line.split(" ", 1)[0] not in given)
    path = tmp_path / "digest.toml"
    path.write_text(
        f"""
[general]
database = "{(tmp_path / "archive.db").as_posix()}"
drafts_dir = "{(tmp_path / "drafts").as_posix()}"
timezone = "Australia/Melbourne"

[digest]
{notes}{digest}
{extra}

[[feeds]]
name = "aws-whats-new"
url = "https://aws.amazon.com/about-aws/whats-new/recent/feed/"
kind = "aws-whats-new"
""",
        encoding="utf-8",
    )
    return load_config(path, environ={})


def build_week(db: Database) -> dict[str, str]:
    """The fixture week: a draft for Monday 20 May 2024, 20:00 Melbourne (Week 21, 2024). The
    previous note (Week 20, 2024) was published on 13 May; the window starts on 22 April.
    Returns the ids of the posts by a short name."""
    b = ArchiveBuilder(db)
    ids: dict[str, str] = {}
    # A story told three times: What's New, the News Blog (linking it) and a community post.
    ids["ecs"] = b.post(
        "aws-whats-new",
        whats_new("amazon-ecs-docker-volume-plugins"),
        "Amazon ECS Now Supports Docker Volume Plugins",
        "2024-05-15T17:00",
        kind="new-feature",
        services=["ecs"],
        topics=["containers"],
    )
    ids["ecs-blog"] = b.post(
        "aws-news-blog",
        news_blog("new-docker-volume-plugins-for-amazon-ecs-tasks"),
        "New - Docker Volume Plugins for Amazon ECS Tasks",
        "2024-05-16T01:00",
        kind="new-feature",
        services=["ecs"],
        links=[whats_new("amazon-ecs-docker-volume-plugins")],
    )
    ids["ecs-community"] = b.post(
        "community",
        "https://builder.example.dev/posts/ecs-volume-plugins-first-look",
        "A first look at volume plugins in ECS",
        "2024-05-17T09:00",
        services=["ecs"],
        links=[whats_new("amazon-ecs-docker-volume-plugins")],
    )
    # Same service, similar title, a day apart, no link: the same story.
    ids["sfn"] = b.post(
        "aws-whats-new",
        whats_new("aws-step-functions-distributed-map-s3-prefixes"),
        "AWS Step Functions Distributed Map Reads S3 Prefixes",
        "2024-05-14T17:00",
        kind="new-feature",
        services=["stepfunctions", "s3"],
        topics=["serverless"],
    )
    ids["sfn-compute"] = b.post(
        "aws-compute-blog",
        "https://aws.amazon.com/blogs/compute/distributed-map-reads-s3-prefixes-in-step-functions/",
        "Distributed Map reads S3 prefixes in Step Functions",
        "2024-05-15T20:00",
        services=["stepfunctions"],
    )
    # History: an S3 feature that builds on one from four and a half years before.
    ids["s3-old"] = b.post(
        "aws-whats-new",
        whats_new("amazon-s3-cross-region-replication", 2019, 11),
        "Amazon S3 Introduces Cross-Region Replication",
        "2019-11-20T17:00",
        kind="new-feature",
        services=["s3"],
    )
    ids["s3"] = b.post(
        "aws-whats-new",
        whats_new("amazon-s3-same-region-replication"),
        "Amazon S3 Introduces Same-Region Replication",
        "2024-05-16T17:00",
        kind="new-feature",
        services=["s3"],
        topics=["storage"],
    )
    # Region expansions, folded into one line per service.
    ids["lambda-mel"] = b.post(
        "aws-whats-new",
        whats_new("aws-lambda-asia-pacific-melbourne"),
        "AWS Lambda is now available in the Asia Pacific (Melbourne) Region",
        "2024-05-16T17:00",
        kind="region-expansion",
        services=["lambda"],
        regions=["ap-southeast-4"],
    )
    ids["lambda-snapstart"] = b.post(
        "aws-whats-new",
        whats_new("aws-lambda-snapstart-three-more-regions"),
        "AWS Lambda SnapStart is now available in three more Regions",
        "2024-05-17T17:00",
        kind="region-expansion",
        services=["lambda"],
        regions=["ap-southeast-2", "eu-west-2", "ca-central-1"],
    )
    ids["lambda-launch"] = b.post(
        "aws-whats-new",
        whats_new("introducing-aws-lambda", 2014, 11),
        "Introducing AWS Lambda",
        "2014-11-13T17:00",
        kind="new-service",
        services=["lambda"],
    )
    ids["lambda-logs"] = b.post(
        "aws-whats-new",
        whats_new("aws-lambda-json-logs-ruby"),
        "AWS Lambda supports JSON structured logs for Ruby functions",
        "2024-05-17T17:00",
        kind="new-feature",
        services=["lambda"],
        topics=["serverless"],
    )
    # Before the previous note, not covered by it: catching up.
    ids["aurora"] = b.post(
        "aws-whats-new",
        whats_new("amazon-aurora-limitless-database-generally-available"),
        "Amazon Aurora Limitless Database is generally available",
        "2024-05-08T17:00",
        kind="general-availability",
        services=["aurora"],
        topics=["databases"],
    )
    ids["cloudwatch"] = b.post(
        "aws-whats-new",
        whats_new("amazon-cloudwatch-metric-math-functions"),
        "Amazon CloudWatch adds `metric math` *functions* [beta]",
        "2024-04-30T17:00",
        kind="new-feature",
        services=["cloudwatch"],
    )
    # Covered by the previous note (it links it): left out.
    ids["s3-express"] = b.post(
        "aws-whats-new",
        whats_new("amazon-s3-express-one-zone-lower-prices"),
        "Amazon S3 Express One Zone lowers request prices",
        "2024-05-09T17:00",
        kind="price-change",
        services=["s3"],
    )
    ids["ec2-instances"] = b.post(
        "aws-whats-new",
        whats_new("amazon-ec2-m7i-flex-instances"),
        "Announcing Amazon EC2 M7i-flex instances",
        "2024-05-16T17:00",
        kind="new-instance-types",
        services=["ec2"],
    )
    # A roundup links three stories: it joins none and counts as a mention of each.
    ids["roundup"] = b.post(
        "aws-news-blog",
        news_blog("aws-weekly-roundup-ecs-step-functions-s3-may-20-2024"),
        "AWS Weekly Roundup: ECS, Step Functions, S3 and more (May 20, 2024)",
        "2024-05-19T23:00",
        links=[
            whats_new("amazon-ecs-docker-volume-plugins"),
            whats_new("aws-step-functions-distributed-map-s3-prefixes"),
            whats_new("amazon-s3-same-region-replication"),
        ],
    )
    # Another source kind.
    ids["docker"] = b.post(
        "docker-blog",
        "https://www.docker.example/blog/compose-watch-ga/",
        "Docker Compose Watch is generally available",
        "2024-05-15T12:00",
        kind="general-availability",
    )
    # Community posts: in the corner when new since the previous note and not linked by it.
    ids["community-cdk"] = b.post(
        "community",
        "https://dev.example.com/cdk-pipelines-in-practice",
        "CDK pipelines in practice",
        "2024-05-18T08:00",
    )
    ids["community-old"] = b.post(
        "community",
        "https://dev.example.com/older-post",
        "An older community post",
        "2024-05-06T08:00",
    )
    # Out of the window (after the publication): not a candidate.
    ids["future"] = b.post(
        "aws-whats-new",
        whats_new("amazon-ecs-future-thing"),
        "Amazon ECS does something after the draft",
        "2024-05-21T17:00",
        kind="new-feature",
        services=["ecs"],
    )
    # The News Blog failed for a while and recovered; a feed is gone.
    b.fetch("aws-news-blog", "2024-05-18T01:00", status=503, error="HTTP 503 Service Unavailable")
    b.fetch("aws-news-blog", "2024-05-18T02:00", status=503, error="HTTP 503 Service Unavailable")
    b.fetch("aws-news-blog", "2024-05-18T04:00", status=200)
    b.feed("old-feed", "other", "An Old Feed", gone=True)
    return ids


NOTES = Path(__file__).parent / "fixtures" / "notes"
"""Fixture notes, written for these tests in the blog's format (Week 16 and Week 20, 2024)."""


EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "example.toml"
"""The offline example configuration: its feeds are files in ``config/examples/``."""


def example_archive(tmp_path: Path) -> tuple[Config, Database]:
    """The example configuration's feeds imported into an archive in ``tmp_path``, as
    ``aggregator import`` and ``run`` store them (tagged, links resolved), on 23 February 2025."""
    config = load_config(EXAMPLE, database=tmp_path / "example.db", environ={})
    db = store.open_db(config.database)
    tagger = pipeline.tagger_for(config)

    def clock() -> dt.datetime:
        return dt.datetime(2025, 2, 23, 12, 0, tzinfo=dt.UTC)

    for feed in config.feeds:
        path = Path(feed.url.removeprefix("file://"))
        results = list(pipeline.import_files(db, feed, [path], now=clock, tagger=tagger))
        assert not results[0].error, results[0].error
    return config, db
