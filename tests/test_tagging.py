"""The tagger on the hard cases of issue 3: each test fails if its rule breaks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import store_tagged
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import pipeline, store
from aggregator.config import default_config_dir
from aggregator.models import Post
from aggregator.tagging import KINDS, Tagger, Tagging
from aggregator.taxonomy import Registry, Service, load_registry

WHATS_NEW = "https://aws.amazon.com/about-aws/whats-new/2025/02/example/"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_registry(default_config_dir() / "services.toml"))


def tag(tagger: Tagger, title: str, body: str = "", categories: Sequence[str] = (), url: str | None = None) -> Tagging:
    return tagger.tag_text(title, body, categories, url=url)


def sources(tagging: Tagging) -> dict[str, str]:
    return {t.tag: t.source for t in tagging.tags}


# --- names in free text ------------------------------------------------------------------------


def test_direct_connect_is_not_connect(tagger: Tagger) -> None:
    result = tag(tagger, "AWS Direct Connect announces 400 Gbps dedicated connections")
    assert result.services == ("directconnect",)
    assert "connect" not in sources(result)


def test_amazon_connect_is_connect(tagger: Tagger) -> None:
    assert tag(tagger, "Amazon Connect adds outbound campaigns").primary_service == "connect"


def test_eventbridge_pipes_is_eventbridge(tagger: Tagger) -> None:
    result = tag(tagger, "Amazon EventBridge Pipes adds support for Amazon SQS FIFO queues")
    assert result.primary_service == "eventbridge"
    assert "pipes" not in sources(result)


def test_amazon_s3_glacier_is_s3_glacier(tagger: Tagger) -> None:
    result = tag(tagger, "Amazon S3 Glacier improves restore throughput by up to 10x")
    assert result.primary_service == "glacier"
    assert "s3" not in result.services


def test_longest_names_win_inside_a_title(tagger: Tagger) -> None:
    result = tag(tagger, "AWS Lambda@Edge changes duration billing granularity")
    assert result.primary_service == "lambda-edge"
    result = tag(tagger, "Amazon Aurora DSQL is now generally available")
    assert result.primary_service == "dsql"


@pytest.mark.parametrize(
    "title",
    [
        "Update your config to use the new batch size",
        "Connect your backup jobs to a shield of glue code",
        "Our inspector and detective chime in on support",
        "Sam moved the Slack workspaces to a new lambda calculus",
    ],
)
def test_common_words_without_their_prefix_are_not_services(tagger: Tagger, title: str) -> None:
    assert tag(tagger, title).services == ()


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("AWS Config adds 12 new managed rules", "config"),
        ("AWS Batch now supports Amazon EKS Fargate", "batch"),
        ("AWS Backup adds support for Amazon Redshift", "backup"),
        ("AWS Shield Advanced now supports Application Load Balancers", "shield"),
        ("AWS Glue Data Catalog now supports Iceberg views", "glue"),
        ("Amazon Inspector expands agentless scanning", "inspector"),
        ("Amazon Detective adds investigations for IAM", "detective"),
        ("Amazon Chime Voice Connector now supports SIP", "chime"),
    ],
)
def test_common_words_count_with_their_prefix(tagger: Tagger, title: str, key: str) -> None:
    assert tag(tagger, title).primary_service == key


def test_a_common_word_counts_when_a_category_names_it(tagger: Tagger) -> None:
    result = tag(tagger, "Config rules now evaluate 20 more resource types", categories=["general:products/aws-config"])
    assert result.primary_service == "config"
    assert sources(result)["config"] == "category"


# --- evidence and provenance -------------------------------------------------------------------


def test_category_evidence_beats_the_title(tagger: Tagger) -> None:
    result = tag(
        tagger,
        "Amazon S3 adds Amazon CloudWatch request metrics",
        categories=["general:products/amazon-s3", "marketing:marchitecture/storage"],
    )
    by_tag = {t.tag: t for t in result.tags}
    assert by_tag["s3"].source == "category" and by_tag["s3"].confidence == 1.0
    assert by_tag["cloudwatch"].source == "title" and by_tag["cloudwatch"].confidence < 1.0
    assert by_tag["storage"].source == "category" and by_tag["storage"].type == "topic"


def test_the_body_counts_only_when_categories_and_title_name_nothing(tagger: Tagger) -> None:
    body = "You can now do it with AWS Lambda. AWS Lambda runs the code; Amazon S3 stores it."
    titled = tag(tagger, "Amazon DynamoDB adds a feature", body)
    assert titled.services == ("dynamodb",)
    untitled = tag(tagger, "A feature for everyone", body)
    assert untitled.primary_service == "lambda"
    assert sources(untitled)["lambda"] == "body"
    assert {t.tag: t.confidence for t in untitled.tags}["lambda"] < 0.85


def test_services_bring_their_topics_and_families(tagger: Tagger) -> None:
    result = tag(tagger, "AWS Step Functions adds a new feature")
    assert "serverless" in result.topics
    logs = tag(tagger, "Amazon CloudWatch Logs adds field indexes")
    assert logs.primary_service == "logs"
    assert "cloudwatch" in logs.services  # CloudWatch Logs is part of CloudWatch
    by_tag = {t.tag: t for t in logs.tags}
    assert by_tag["cloudwatch"].confidence < by_tag["logs"].confidence


def test_implied_tags_say_where_they_come_from(tagger: Tagger) -> None:
    result = tag(tagger, "Amazon Aurora adds a feature", categories=["marketing:marchitecture/databases"])
    assert sources(result)["aurora"] == "title"
    assert sources(result)["rds"] == "implied"  # Aurora is part of RDS: the title does not name it
    assert sources(result)["databases"] == "category"  # named by the area, and implied by Aurora too
    assert sources(tag(tagger, "Amazon Aurora adds a feature"))["databases"] == "implied"
    assert result.services == ("aurora", "rds")


def test_a_direct_match_is_never_an_implied_tag(tagger: Tagger) -> None:
    result = tag(tagger, "Amazon Aurora and Amazon RDS add a feature", categories=["general:products/amazon-aurora"])
    by_tag = {t.tag: t for t in result.tags}
    assert by_tag["aurora"].source == "category"
    assert (by_tag["rds"].source, by_tag["rds"].confidence) == ("title", 0.85)


def test_a_manual_tag_wins_over_an_implied_one(tmp_path: Path, tagger: Tagger) -> None:
    db = store.open_db(tmp_path / "archive.db")
    now = dt.datetime(2025, 2, 24, tzinfo=dt.UTC)
    store.ensure_feed(db, name="wn", url="https://example.test/wn", kind="aws-whats-new", title="", now=now)
    aurora = Post(
        id="a", url=WHATS_NEW, guid="a", title="Amazon Aurora adds a feature", summary="", summary_html="",
        links=(), link_ids=(), published=now, updated=None, authors=(), categories=(), content_hash="h",
    )  # fmt: skip
    store_tagged(db, "wn", [aurora], tagger=tagger, now=now)

    def stored() -> dict[str, str]:
        return dict(db.execute("SELECT tag, source FROM post_tags WHERE post_id = 'a'").fetchall())

    assert stored()["rds"] == "implied"
    with store.write_transaction(db):
        db.execute("UPDATE post_tags SET source = 'manual', confidence = 1.0 WHERE post_id = 'a' AND tag = 'rds'")
    list(pipeline.tag_archive(db, tagger, scope="all"))
    assert stored()["rds"] == "manual"
    assert stored()["aurora"] == "title"


def test_topic_names_count_in_the_title_only(tagger: Tagger) -> None:
    assert "serverless" in tag(tagger, "Going serverless at scale").topics
    assert "serverless" not in tag(tagger, "A post", "it is serverless, really serverless").topics
    assert "reinvent" in tag(tagger, "Top announcements of AWS re:Invent 2024").topics


def test_unknown_slugs_are_kept_and_reported(tagger: Tagger) -> None:
    result = tag(
        tagger,
        "Amazon Zorblax is now available",
        categories=[
            "general:products/amazon-zorblax",
            "marketing:marchitecture/hyperspace",
            "general:use-case/data-lakes",  # not about a product: ignored
            "Launch",  # a plain label: ignored
            "AWS Quux Service",  # looks like a product we do not know: reported
        ],
    )
    assert result.unknown_tokens == (
        "general:products/amazon-zorblax",
        "marketing:marchitecture/hyperspace",
        "AWS Quux Service",
    )


# --- what the hand labels showed missing --------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "services"),
    [
        # sub-products named in a title: their own entry, and the service they are part of
        ("Amazon CloudWatch RUM adds custom metrics", ("rum", "cloudwatch")),
        ("Amazon CloudWatch Synthetics supports canaries in Python", ("synthetics", "cloudwatch")),
        ("Amazon CloudWatch Internet Monitor adds AWS Local Zones", ("internetmonitor", "local-zones", "cloudwatch")),
        ("Amazon Route 53 Resolver endpoints are now available in Europe (Spain)", ("route53resolver", "route53")),
        ("Introducing Amazon Route 53 Resolver DNS Firewall", ("route53resolver", "route53")),
        ("Amazon Cognito user pools support custom access tokens", ("cognito-idp", "cognito")),
        ("PartyRock adds a playlist page", ("partyrock", "bedrock")),
        # "... on Outposts" is about Outposts too
        ("Amazon S3 on Outposts reduces first-byte latency", ("s3", "outposts")),
        ("New engine versions on Amazon RDS on Outposts", ("rds", "outposts")),
        ("Amazon ElastiCache on Outposts is now available", ("elasticache", "outposts")),
        ("New versions of MySQL are available on Amazon RDS for Outposts", ("rds", "outposts")),
        # SDKs and tools by language
        ("AWS SDK for Rust is now generally available", ("sdk",)),
        ("AWS Mobile SDK for Android adds Amazon Translate", ("translate", "sdk")),  # the SDK supports
        ("AWS Encryption SDK for Python adds keyrings", ("encryption-sdk",)),
        ("Amazon Chime SDK supports Amazon Lex", ("chime-sdk", "lex", "chime")),
        ("AWS IoT Device SDK for Embedded C adds MQTT 5", ("iot",)),
        ("Porting Assistant for .NET adds new APIs", ("porting-assistant",)),
        # the console, billing and cost management, partner programmes, NICE DCV
        ("The AWS Management Console supports sign-in to several accounts", ("console",)),
        ("AWS Console Mobile App adds push notifications", ("console",)),
        ("Track spend in Billing and Cost Management Dashboards with a new widget", ("billing",)),
        ("Savings Plans alerts are now available in AWS Cost Management", ("savingsplans", "billing")),
        ("AWS Budgets filters on cost categories and tags together", ("budgets", "billing")),
        ("Cost and Usage Report data exports to Amazon Redshift", ("cur", "redshift", "billing")),
        ("AWS Partner Network launches a new Security Competency", ("apn",)),
        ("New search in AWS Partner Central", ("partnercentral", "apn", "marketplace")),
        ("NICE DCV releases version 2024.0 with a new session manager", ("dcv",)),
        ("Amazon WorkSpaces supports the NICE DCV Extension SDK", ("workspaces", "dcv")),
        ("Amazon DCV adds multi-monitor support", ("dcv",)),
        # names the registry lacked
        ("Finch is now generally available on macOS", ("finch",)),
        ("NoSQL Workbench is now available in the AWS GovCloud (US) Regions", ("dynamodb",)),
        ("Amazon Quick is now available in the AWS London Region", ("quicksight",)),
    ],
)
def test_the_services_a_title_names(tagger: Tagger, title: str, services: tuple[str, ...]) -> None:
    result = tag(tagger, title, url=WHATS_NEW)
    assert set(result.services) == set(services)
    assert result.primary_service == services[0]


@pytest.mark.parametrize(
    "title",
    [
        "Amazon ECS announces increased service quotas per cluster",  # ordinary words, not Service Quotas
        "Amazon Redshift supports single sign-on with Okta",  # not IAM Identity Center
        "AWS partners with a university to train AI talent",  # a verb, not the partner network
        "NICE DCV web client SDK 1.0.3 is released",  # DCV's own SDK, not the AWS SDKs
    ],
)
def test_ordinary_words_and_other_sdks_are_not_services(tagger: Tagger, title: str) -> None:
    services = tag(tagger, title).services
    assert not {"service-quotas", "sso", "apn", "sdk"} & set(services)


def test_training_programmes_are_a_topic(tagger: Tagger) -> None:
    result = tag(tagger, "New AWS Certification exam for data engineers", url=WHATS_NEW)
    assert (result.kind, result.services) == ("training", ())
    assert "training" in result.topics


# --- primary service ---------------------------------------------------------------------------


def test_the_primary_service_is_the_subject_of_the_title(tagger: Tagger) -> None:
    result = tag(
        tagger,
        "The Amazon Chime SDK now supports Amazon Polly",
        categories=["general:products/amazon-polly", "general:products/amazon-chime"],
    )
    assert result.primary_service == "chime-sdk"


def test_the_primary_service_falls_back_to_the_first_category(tagger: Tagger) -> None:
    result = tag(
        tagger,
        "Anthropic's Claude 3.5 Sonnet now available in the Asia Pacific (Sydney) Region",
        categories=["general:products/amazon-bedrock", "general:products/amazon-machine-learning"],
    )
    assert result.primary_service == "bedrock"


def test_a_supporting_product_is_not_primary_when_a_service_is_named(tagger: Tagger) -> None:
    result = tag(tagger, "AWS Graviton2-based Amazon EC2 C6gd instances now available in Europe (Paris) region")
    assert result.primary_service == "ec2"
    assert "graviton" in result.services


def test_topics_and_events_are_never_primary(tagger: Tagger) -> None:
    result = tag(tagger, "AWS GovCloud (US) now supports Amazon EBS encrypted boot volumes")
    assert result.primary_service == "ebs"
    assert tag(tagger, "Serverless patterns at re:Invent").primary_service is None


# --- kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("Introducing AWS Fargate, a technology to run containers without managing servers", "new-service"),
        ("AWS announces AWS Billing Conductor", "new-service"),
        ("Amazon ECS now supports Docker volumes and volume plugins", "new-feature"),
        ("AWS Device Farm Remote Access - Now Generally Available", "general-availability"),
        ("Introducing Amazon Corretto (Preview)", "preview"),
        ("Amazon Connect forecasting and scheduling, now available in preview", "preview"),
        (
            "Amazon EC2 R9g and R9gd instances powered by AWS Graviton5 processors are now generally available",
            "new-instance-types",
        ),
        ("Introducing Amazon EC2 Instances Featuring AMD EPYC Processors", "new-instance-types"),
        ("AWS DataSync announces a 68% price reduction", "price-change"),
        ("Amazon S3 & Amazon Glacier Price Drops", "price-change"),
        ("Amazon Linux AMI 2018.03 reaches end of standard support", "deprecation"),
        ("AWS CodeCommit will be discontinued for new customers", "deprecation"),
        ("AWS Neuron SDK 2.29.0 now available with NKI out of Beta", "general-availability"),
        ("EC2 Instance Store CSI driver now generally available in EKS add-ons", "general-availability"),
        ("AWS Step Functions adds 28 new service integrations", "new-feature"),
        ("How to build a data lake with AWS Glue", "other"),
        ("AWS Weekly Roundup: Amazon Bedrock, Amazon S3 Tables & more", "other"),
    ],
)
def test_kinds(tagger: Tagger, title: str, kind: str) -> None:
    assert tag(tagger, title).kind == kind


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        # training, certification and courses: their own kind, whatever else the title says
        ("New digital course: Building event-driven applications on AWS", "training"),
        ("Register for the new AWS Certified Data Engineer - Associate beta exam", "training"),
        ("AWS Skill Builder adds three learning plans for Amazon Bedrock", "training"),
        ("Announcing 4 free digital training courses on new AWS services", "training"),
        ("Amazon SageMaker reduces model training time by up to 40%", "new-feature"),  # machine learning
        ("Amazon SageMaker adds distributed training for large models", "new-feature"),
        # announced on What's New, but no product's news
        ("Deploy Zorblax Server on the AWS Cloud with a new Quick Start", "other"),
        ("AWS Partner Network launches a new Healthcare Competency", "other"),
        ("New AWS Solutions Consulting Offer - Data Lake in a Box", "other"),
        ("Introducing the AWS Connected Widgets Solution", "other"),
        ("AWS launches a new program to help migrations off Windows Server 2012", "other"),
        # "generally available in all commercial Regions" is a launch, other Regions an expansion
        ("AWS Lambda Extensions are now generally available in all commercial Regions", "general-availability"),
        (
            "Amazon Athena engine version 3 is generally available in all AWS commercial and GovCloud Regions",
            "general-availability",
        ),
        ("Amazon CloudWatch anomaly detection is now available in all commercial AWS Regions", "region-expansion"),
        ("Amazon Redshift Serverless is now generally available in three additional AWS Regions", "region-expansion"),
        # expansions without the usual words
        ("AWS Wickr is now available in additional AWS Asia Pacific Regions", "region-expansion"),
        ("AWS IoT Device Defender expands globally", "region-expansion"),
        ("AWS announces a new AWS Direct Connect location in Lisbon, Portugal", "region-expansion"),
        ("Amazon CloudFront announces four new edge locations", "region-expansion"),
        ("Amazon EC2 C8gd instances are now available Europe (Spain) and Asia Pacific (Tokyo)", "region-expansion"),
        ("Amazon S3 storage management features in AWS GovCloud (US)", "region-expansion"),
        ("Amazon Zorblax achieves FedRAMP High authorization in AWS GovCloud (US)", "new-feature"),
        ("Amazon EKS increases its quota to 100 clusters per Region", "new-feature"),
        ("Amazon Aurora Global Database supports up to 10 secondary Regions", "new-feature"),
        ("Enhanced content navigation in AWS Partner Central", "new-feature"),  # "Central" names no Region
        # prices
        ("Amazon Connect reduces 12 telephony rates in Latin America", "price-change"),
        ("Amazon S3 no longer charges for several HTTP error codes", "price-change"),
        ("Amazon S3 Express One Zone reduces storage and request prices", "price-change"),
        ("Free network bandwidth for Amazon GameLift Servers", "price-change"),
        # a deprecation the feature is about is not the news
        ("AWS Trusted Advisor adds a check for Windows Server end of support on Amazon EC2", "new-feature"),
        ("Amazon RDS for Oracle supports snapshot upgrades for deprecated database versions", "new-feature"),
        ("AWS Accounts discontinues the use of security challenge questions", "deprecation"),
        # a new product, or a named feature of a known one
        ("Introducing Amazon MQ", "new-service"),
        ("Introducing Amazon Zorblax, a managed widget service", "new-service"),
        ("Introducing the Amazon CodeCatalyst Enterprise Tier", "new-feature"),
        ("AWS announces Amazon DocumentDB I/O-Optimized", "new-feature"),
    ],
)
def test_whats_new_kinds(tagger: Tagger, title: str, kind: str) -> None:
    assert tag(tagger, title, url=WHATS_NEW).kind == kind


def test_articles_about_a_region_are_not_expansions(tagger: Tagger) -> None:
    assert tag(tagger, "Fine-tuning a language model in AWS GovCloud (US)").kind == "other"
    assert tag(tagger, "Running inference at edge locations with AWS Outposts").kind != "region-expansion"


def test_a_whats_new_item_is_always_an_announcement(tagger: Tagger) -> None:
    title = "Set Concurrency Limits on Individual AWS Lambda Functions"
    assert tag(tagger, title, url=WHATS_NEW).kind == "new-feature"
    assert tag(tagger, "Use AWS Config to track EC2 Dedicated Hosts", url=WHATS_NEW).kind == "new-feature"
    assert tag(tagger, "Use AWS Config to track EC2 Dedicated Hosts").kind == "other"  # a blog how-to


@pytest.mark.parametrize(
    ("title", "body", "regions"),
    [
        ("AWS Fargate Available in Ohio, Oregon, and Ireland Regions", "", ("us-east-2", "us-west-2", "eu-west-1")),
        (
            "Amazon Bedrock now available in Asia Pacific (Hyderabad) and Asia Pacific (Osaka) regions",
            "",
            ("ap-south-2", "ap-northeast-3"),
        ),
        (
            "Amazon EC2 G6e instances now available in Stockholm region",
            "",
            ("eu-north-1",),
        ),
        (
            "AWS Security Incident Response is now available in three additional AWS Regions",
            "It is now available in Europe (Zurich), Asia Pacific (Jakarta) and Canada West (Calgary). "
            "It was already available in US East (N. Virginia).",
            ("eu-central-2", "ap-southeast-3", "ca-west-1"),
        ),
        (
            "Amazon ECS Service Connect is now available in the AWS GovCloud (US-West) and AWS GovCloud (US-East) Regions",
            "",
            ("us-gov-west-1", "us-gov-east-1"),
        ),
        ("AWS Network Firewall Launch in the AWS European Sovereign Cloud", "", ("eusc-de-east-1",)),
    ],
)
def test_region_expansions_name_their_regions(tagger: Tagger, title: str, body: str, regions: tuple[str, ...]) -> None:
    result = tag(tagger, title, body, url=WHATS_NEW)
    assert result.kind == "region-expansion"
    assert result.regions == regions
    assert result.region_count == len(regions)


@pytest.mark.parametrize(
    "title, count",
    [
        ("AWS Lambda SnapStart is now available in seven more Regions", 7),
        ("Amazon Bedrock expands to 4 additional AWS Regions", 4),
        ("Amazon Q Business is now available in more Regions", None),
    ],
)
def test_an_expansion_that_names_no_region_counts_what_its_title_says(
    tagger: Tagger, title: str, count: int | None
) -> None:
    result = tag(tagger, title, "", url=WHATS_NEW)
    assert (result.kind, result.regions, result.region_count) == ("region-expansion", (), count)


def test_only_region_expansions_carry_regions(tagger: Tagger) -> None:
    result = tag(tagger, "Amazon S3 adds a feature in US East (N. Virginia)", "More in Europe (Ireland).")
    assert result.kind != "region-expansion"
    assert result.regions == ()


# --- properties --------------------------------------------------------------------------------

WORDS = ["Amazon", "AWS", "S3", "Lambda", "Connect", "Direct", "Glacier", "now", "in", "Sydney", "region", "preview"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(WORDS), max_size=15), st.lists(st.sampled_from(WORDS), max_size=30))
def test_every_tagging_is_well_formed(title_words: list[str], body_words: list[str]) -> None:
    registry = _small_registry()
    result = Tagger(registry).tag_text(" ".join(title_words), " ".join(body_words))
    assert result.kind in KINDS
    assert len({t.tag for t in result.tags}) == len(result.tags)
    for t in result.tags:
        assert 0 < t.confidence <= 1
        assert t.type == ("service" if registry.is_service(t.tag) else "topic")
    assert result.primary_service is None or result.primary_service in result.services
    assert result.regions == () or result.kind == "region-expansion"


_REGISTRY: list[Registry] = []


def _small_registry() -> Registry:
    if not _REGISTRY:
        _REGISTRY.append(
            Registry(
                [
                    Service(key="s3", name="Amazon S3", short="S3", aliases=("S3",), topics=("storage",)),
                    Service(key="glacier", name="Amazon S3 Glacier", short="S3 Glacier", aliases=("S3 Glacier",)),
                    Service(key="lambda", name="AWS Lambda", short="Lambda", aliases=("Lambda",)),
                    Service(key="connect", name="Amazon Connect", short="Connect"),
                    Service(
                        key="directconnect",
                        name="AWS Direct Connect",
                        short="Direct Connect",
                        aliases=("Direct Connect",),
                    ),
                    Service(key="storage", name="Storage", short="Storage", kind="topic"),
                ]
            )
        )
    return _REGISTRY[0]


def test_the_fingerprint_changes_with_the_registry() -> None:
    a = Tagger(Registry([Service(key="x", name="X", short="X")]))
    b = Tagger(Registry([Service(key="x", name="X", short="X", aliases=("Ex",))]))
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint.startswith("r")
