"""The author's words: headings, title, keywords and Description, by rule and learned from the notes.

The titles are What's New-style titles written for these tests; the notes are invented, in the
author's shape (front matter, sections, links), written here as text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.config import DigestSettings, default_config_dir
from aggregator.digest import stories
from aggregator.digest import words as w
from aggregator.digest.notes import Note, parse_note
from aggregator.digest.style import house_style
from aggregator.tagging import Tagger
from aggregator.taxonomy import load_registry

SHIPPED = load_registry(default_config_dir() / "services.toml")
NAMES = stories.ServiceNames(SHIPPED)
TAGGER = Tagger(SHIPPED)
AT = dt.datetime(2024, 6, 3, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=10)))


def story(title: str, *, regions: tuple[str, ...] | None = None, url: str = "") -> stories.Story:
    """A What's New story with what the shipped registry's tagger says of its title."""
    url = url or "https://aws.amazon.com/about-aws/whats-new/2024/05/" + re.sub(r"\W+", "-", title.lower()) + "/"
    tagging = TAGGER.tag_text(title, "", (), url=url)
    services = tuple(k for k in dict.fromkeys([tagging.primary_service or "", *tagging.services]) if k)
    post = stories.Candidate(
        id=url,
        url=url,
        title=title,
        date=dt.datetime(2024, 5, 30, tzinfo=dt.UTC),
        feed="aws-whats-new",
        feed_title="What's New",
        source="whats-new",
        kind=tagging.kind,
        services=services,
        topics=tuple(tagging.topics),
        regions=tuple(tagging.regions) if regions is None else regions,
        links=(),
    )
    return stories._story([post], [])


def note(
    week: int,
    headings: list[str],
    *,
    keywords: list[str] = (),
    description: str = "",
    links: list[str] = (),
    year: int = 2024,
) -> Note:  # type: ignore[assignment]
    """An invented note of that week, published on its Monday evening: one section per heading,
    the links in the first section."""
    monday = dt.date.fromisocalendar(year, week, 1)
    kw = "".join(f"  - {k}\n" for k in keywords)
    body = "\n\n".join(
        f"# {h}\n\nSome words about it{''.join(f' [link]({u})' for u in (links if i == 0 else []))}."
        for i, h in enumerate(headings)
    )
    text = (
        f'---\ntitle:        "Week {week}, {year} - {"; ".join(headings)}"\nDate:         {monday}T20:00:00+10:00\n'
        f'keywords:\n{kw}Description:  "{description or "Things happened."}"\n---\n\n{description}\n\n{body}\n'
    )
    return parse_note(
        text, path=f"{year}-{week:02d}.md", url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}"
    )


# --- headings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, expected",
    [
        ("AWS Step Functions now supports dynamic parallelism in workflows", "Step Functions Dynamic Parallelism"),
        ("Amazon S3 introduces Same-Region Replication", "S3 Same-Region Replication"),
        ("Amazon ECS Now Supports Docker Volumes and Volume Plugins", "ECS Docker Volumes"),
        ("Amazon Elastic Container Service adds daemon scheduling", "ECS Daemon Scheduling"),
        ("Introducing Service Discovery for Amazon ECS", "ECS Service Discovery"),
        ("Amazon EKS adds support to assign IAM permissions to Kubernetes service accounts", "EKS IAM Permissions"),
        ("AWS App Mesh now supports routing based on HTTP headers", "App Mesh Routing"),
        ("AWS Lambda supports Go", "Lambda Go"),
        ("Set concurrency limits on individual AWS Lambda functions", "Lambda Concurrency Limits"),
        ("AWS Fargate now supports time and event-based task scheduling", "Fargate Event-Based Task Scheduling"),
        # A verb that is half of what is new, as a noun.
        (
            "Amazon CloudFront signs requests to Lambda function URLs with origin access control",
            "CloudFront Request Signing",
        ),
        # Products of a service keep their names; a long name its acronym when it has one.
        ("Amazon SageMaker HyperPod supports EC2 P5en instances", "SageMaker HyperPod P5en Instances"),
        ("Network Load Balancer now supports cross-zone load balancing", "NLB Cross-Zone Load Balancing"),
    ],
)
def test_headings_are_the_service_and_what_is_new(title: str, expected: str) -> None:
    assert w.heading(story(title), NAMES) == expected


@pytest.mark.parametrize(
    "title, expected",
    [
        # A verb of change or of action, a predicate: said as a noun phrase.
        ("Amazon EKS increases the number of clusters per account", "EKS More Clusters"),
        ("AWS Step Functions now encrypts execution history", "Step Functions History Encryption"),
        ("Amazon Textract is now HIPAA eligible", "Textract HIPAA Eligibility"),
        ("Amazon Neptune makes it easier for you to load graph data", "Neptune Graph Data"),
        # Passives and modals: what can be done, not "Can Now Be Managed".
        ("Amazon Kinesis Data Streams quotas can now be managed through AWS Service Quotas", "Kinesis Quotas"),
        ("Amazon MSK customers can now use Cruise Control", "MSK Cruise Control"),
        ("Amazon Aurora Global Database is now supported on Aurora PostgreSQL 11", "Aurora Global Database"),
        # A generic word with what it pairs with; a count; an instruction's verbs.
        ("AWS AppConfig announces integration with Amazon S3", "AppConfig S3 Integration"),
        ("Amazon EC2 Fleet now supports up to 500 instance types per fleet", "EC2 Fleet Instance Types"),
        ("Simplify permission management with attribute-based access control", "Permission Management"),
        # The name once, in its compound; a number never without its name.
        ("Amazon ECS now supports the Amazon ECS-optimized AMI for Graviton", "ECS-optimized AMI"),
        ("AWS Elastic Beanstalk now supports Amazon Route 53 aliasing", "Elastic Beanstalk Aliasing"),
        # A Region whose short name is shared goes by its country.
        ("Amazon Athena is now available in the Canada (Central) Region", "Athena in Canada"),
        # What follows a name used as a label is what is new; a launch's colon says what it is.
        ("Elastic Load Balancing: Account Limits API", "ELB Account Limits API"),
        ("Introducing AWS Proton: automated management for container and serverless deployments", "AWS Proton"),
        # Words that say nothing alone give way to what they are about.
        ("Amazon EC2 announces increases for instance network bandwidth", "EC2 Instance Network Bandwidth"),
    ],
)
def test_headings_are_noun_phrases(title: str, expected: str) -> None:
    assert w.heading(story(title), NAMES) == expected


@pytest.mark.parametrize(
    "title, expected",
    [
        ("AWS Security Hub is now generally available", "AWS Security Hub"),
        ("Amazon Textract - Generally Available", "Amazon Textract"),
        ("Introducing Amazon Corretto (Preview)", "Amazon Corretto"),
        ("AWS IQ is now generally available", "AWS IQ"),
        ("Announcing general availability of AWS Elastic Disaster Recovery", "AWS Elastic Disaster Recovery"),
    ],
)
def test_a_launch_is_headed_by_the_services_full_name(title: str, expected: str) -> None:
    assert w.heading(story(title), NAMES) == expected


def test_a_region_expansion_names_one_region_the_authors_first() -> None:
    title = (
        "AWS Fargate is now available in the Asia Pacific (Singapore), Asia Pacific (Sydney) and EU (Frankfurt) Regions"
    )
    expansion = story(title, regions=("ap-southeast-1", "ap-southeast-2", "eu-central-1"))
    assert w.heading(expansion, NAMES) == "Fargate in Singapore"  # the first the title names
    sydney = w.Vocabulary(regions={"Sydney": 1.0})
    assert w.heading(expansion, NAMES, sydney) == "Fargate in Sydney"  # the Region the author writes about
    assert w.clause(expansion, NAMES, sydney) == "Fargate is available in Sydney"


@pytest.mark.parametrize(
    ("title", "heading", "clause"),
    [
        # "the launch of X": what is new is X, never "Launch".
        ("AWS announces the launch of Amazon Kendra Widgets", "Kendra Widgets", "AWS adds Kendra Widgets"),
        # A second verb: what follows it is what is new; one that changes something as its noun.
        (
            "AWS Storage Gateway expands storage and streamlines setup of the appliance",
            "Storage Gateway Simpler Setup",
            None,
        ),
        # A verb that changes something says so in the clause too, never "adds refreshes".
        (
            "Amazon Neptune refreshes the query editor to simplify graph creation",
            None,
            "Neptune refreshes the query editor",
        ),
    ],
)
def test_a_heading_has_no_verb_left_in_it(title: str, heading: str | None, clause: str | None) -> None:
    s = story(title)
    if heading is not None:
        assert w.heading(s, NAMES) == heading
    if clause is not None:
        assert w.clause(s, NAMES, words=6) == clause


@pytest.mark.parametrize(
    ("title", "regions", "expected"),
    [
        # Over the author's length, the Region's heading drops the kind of thing, not the model
        # that names it, nor the Region.
        (
            "Amazon EC2 Q7zn Instances are now available in the Asia Pacific (Hong Kong) Region",
            ("ap-east-1",),
            "EC2 Q7zn in Hong Kong",
        ),
        ("AWS Direct Connect opens new locations in additional regions", (), "Direct Connect in More Regions"),
        # Within the author's length, nothing is dropped.
        (
            "Amazon EC2 Q7zn Instances are now available in the Asia Pacific (Sydney) Region",
            ("ap-southeast-2",),
            "EC2 Q7zn Instances in Sydney",
        ),
    ],
)
def test_a_long_region_heading_drops_its_least_informative_words(
    title: str, regions: tuple[str, ...], expected: str
) -> None:
    assert w.heading(story(title, regions=regions), NAMES) == expected


SERVICES = ["Amazon S3", "AWS IQ", "Amazon ECS", "AWS App Mesh", "Amazon EKS", "AWS Lambda", "Amazon CDK", "AWS CDK"]
VERBS = ["now supports", "adds", "introduces", "announces", "is now generally available with", "launches", ""]
OBJECTS = [
    "S3 Batch Operations",
    "routing based on headers",
    "the ability to assign IAM permissions to service accounts",
    "IQ IQ for experts",
    "Docker volumes and volume plugins",
    "support for the",
    "new New capabilities",
    "(CDK)",
]
TAILS = [
    "",
    " - Generally Available",
    " (Preview)",
    " in the Asia Pacific (Sydney) Region",
    " based",
    " and",
    " to the",
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SERVICES),
    st.sampled_from(VERBS),
    st.sampled_from(OBJECTS),
    st.sampled_from(TAILS),
    st.sampled_from([None, w.Vocabulary(heading_words=3), w.Vocabulary(heading_words=5)]),
)
def test_no_heading_hangs_doubles_a_name_or_says_generally_available(
    service: str, verb: str, obj: str, tail: str, vocab: w.Vocabulary | None
) -> None:
    title = " ".join(p for p in (service, verb, obj) if p) + tail
    heading = w.heading(story(title), NAMES, vocab or w.PRIOR)
    words = heading.split()
    assert words, title
    assert words[-1].lower() not in w.CONNECTORS, (title, heading)
    assert "generally available" not in heading.lower(), (title, heading)
    assert "(" not in heading and ")" not in heading, (title, heading)
    lowered = [x.lower() for x in words if x.lower() not in w.CONNECTORS]
    assert len(lowered) == len(set(lowered)), (title, heading)  # no name (or word) twice
    assert len(words) <= 6, (title, heading)


# --- learned from the notes -----------------------------------------------------------------------


def test_the_authors_names_for_services_are_learned_from_their_headings() -> None:
    notes = [
        note(10, ["ALB Built-in Authentication", "Lambda Layers"], keywords=["aws", "alb", "lambda"]),
        note(12, ["ALB Redirects"], keywords=["aws", "alb"]),
        note(13, ["Multiple Certificates on ALBs", "NLBs"], keywords=["aws", "alb"]),  # a plural is the same name
        note(14, ["DocumentDB Elastic Clusters"], keywords=["aws", "documentdb"]),
    ]
    vocab = w.learn_vocabulary(notes, at=AT, registry=SHIPPED)
    title = "Elastic Load Balancing announces weighted target groups for Application Load Balancer"
    assert vocab.heading_words == 3  # the author's headings are short
    assert w.heading(story(title), NAMES, vocab) == "ALB Target Groups"
    assert (
        w.heading(story("Application Load Balancers now support gRPC workloads"), NAMES, vocab) == "ALB gRPC Workloads"
    )
    assert w.heading(story(title), NAMES) == "ELB Weighted Target Groups"  # the registry's short name without notes
    # ALB is a product of ELB, not its name: a story about ELB itself is not headed ALB.
    assert w.heading(story("Elastic Load Balancing adds IPv6 support"), NAMES, vocab).startswith("ELB")
    assert vocab.keyword("elb", NAMES) == "alb"
    assert vocab.keyword("docdb", NAMES) == "documentdb"
    assert vocab.keyword("stepfunctions", NAMES) == "stepfunctions"  # never written: the name as a keyword


def test_only_notes_before_the_draft_teach_and_recent_ones_weigh_most() -> None:
    old = [note(week, [f"AWS Aurora Thing {week}"], year=2021) for week in (10, 11, 12)]
    recent = [note(20, ["Amazon Aurora Backtrack"])]
    later = [note(30, [f"AWS Aurora Later {i}"]) for i in range(5)]  # published after the draft
    vocab = w.learn_vocabulary([*old, *recent, *later], at=AT, registry=SHIPPED)
    assert vocab.notes == 4
    assert vocab.full_name("aurora", NAMES) == "Amazon Aurora"  # one recent note outweighs three of 2021
    assert w.learn_vocabulary(old, at=AT, registry=SHIPPED).full_name("aurora", NAMES) == "AWS Aurora"


def test_the_words_the_author_drops_from_titles_are_learned_from_the_notes_beside_the_titles() -> None:
    posts = {}
    ids = {}
    notes = []
    for week, thing in ((10, "Widgets"), (12, "Gadgets"), (14, "Sprockets")):
        url = f"https://aws.amazon.com/about-aws/whats-new/2024/03/ecs-{thing.lower()}/"
        posts[url] = w.Linked(
            id=url, title=f"Amazon ECS adds agentless {thing} capability", services=("ecs",), topics=()
        )
        ids[url] = url
        notes.append(note(week, [f"ECS {thing}"], links=[url]))
    vocab = w.learn_vocabulary(notes, at=AT, registry=SHIPPED, posts=posts, link_ids=ids)
    assert "agentless" in vocab.dropped and "ecs" not in vocab.dropped
    title = "Amazon ECS adds agentless network assessments"
    assert w.heading(story(title), NAMES) == "ECS Agentless Network Assessments"
    assert w.heading(story(title), NAMES, vocab) == "ECS Network Assessments"


# --- title, keywords, Description -----------------------------------------------------------------


def test_the_title_has_three_topics_at_most_as_many_as_the_author_writes() -> None:
    headings = ["ECS Docker Volumes", "S3 Same-Region Replication", "Lambda Go", "EKS IAM Roles"]
    assert w.title(34, 2018, headings) == "Week 34, 2018 - ECS Docker Volumes; S3 Same-Region Replication; Lambda Go"
    two = w.learn_vocabulary([note(week, ["A Thing", "Another"]) for week in range(1, 12)], at=AT, registry=SHIPPED)
    assert two.title_topics == 2
    assert w.title(34, 2018, headings, two) == "Week 34, 2018 - ECS Docker Volumes; S3 Same-Region Replication"
    assert w.title(34, 2018, []) == "Week 34, 2018"
    # A topic is the heading without "AWS"/"Amazon" when two words or more are left.
    launches = ["AWS Security Hub", "Amazon Textract", "ECS Docker Volumes", "S3 Batch Operations"]
    assert w.title(48, 2018, launches) == "Week 48, 2018 - Security Hub; Amazon Textract; ECS Docker Volumes"


FEATURED = [
    "AWS Fargate now supports scheduled tasks",
    "Amazon ECS Now Supports Docker Volumes and Volume Plugins",
    "AWS Lambda supports Go",
    "Amazon Aurora adds backtrack",
]


def test_keywords_without_notes_are_aws_the_services_and_the_blogs_topics() -> None:
    stories = [story(t) for t in FEATURED]
    keywords = w.keywords(stories, NAMES, w.PRIOR, keyword_topics=["serverless", "containers"])
    assert keywords[0] == "aws"
    assert {"fargate", "ecs", "lambda", "aurora", "containers", "serverless"} <= set(keywords)
    assert not {"compute", "databases", "networking"} & set(keywords)  # broad areas only when the author uses them


def test_keywords_in_the_authors_vocabulary_about_as_many_as_they_write() -> None:
    notes = [
        note(week, ["ECS Task Things", "Fargate Stuff"], keywords=["aws", "ecs", "docker"], links=[])
        for week in range(2, 20, 2)
    ] + [note(21, ["Aurora Backtrack"], keywords=["aws", "aurora", "databases"])]
    style = house_style(notes, DigestSettings())  # how many keywords: the house style's, learned
    assert style.keyword_count == 3 and style.keyword_aws
    vocab = w.with_style(
        w.learn_vocabulary(notes, at=AT, registry=SHIPPED),
        keyword_count=style.keyword_count,
        keyword_aws=style.keyword_aws,
        description_words=style.description_words,
    )
    assert vocab.keyword("containers", NAMES) == "docker"  # the author's word for the topic
    keywords = w.keywords([story(t) for t in FEATURED], NAMES, vocab, keyword_topics=["serverless", "containers"])
    assert keywords[0] == "aws" and "docker" in keywords and "ecs" in keywords
    assert len(keywords) == 3  # as many as the author writes, not one per story and topic
    assert "fargate" not in keywords  # named in nine notes' headings, never in their keywords


def test_the_description_is_one_plain_clause_per_story_about_the_authors_length() -> None:
    stories = [
        story("Amazon Textract is now generally available"),
        story("Amazon ECS Now Supports Docker Volumes and Volume Plugins"),
        story("Introducing the new Amazon ECS-optimized AMI - Generally Available"),
        story("AWS Fargate is now available in the Asia Pacific (Sydney) Region", regions=("ap-southeast-2",)),
    ]
    text = w.description(stories, NAMES, w.PRIOR, common={"volumes", "volume", "plugins"})
    assert text == (
        "Amazon Textract is generally available, ECS supports Docker volumes and volume plugins,"
        " ECS-optimized AMI is generally available, and Fargate is available in Sydney."
    )
    assert not re.search(r"(?i)\bthe new new\b|[-–] generally available", text)
    assert "Generally Available" not in text and "Introducing" not in text
    short = dataclasses.replace(w.PRIOR, description_words=16)
    assert len(w.description(stories, NAMES, short).split()) <= 16 + 8
    assert w.description([], NAMES) == ""


@pytest.mark.parametrize(
    "title, expected",
    [
        # What a service lets you do is what you can do; never "allows Customize ...".
        ("Amazon ECS now lets you modify task placement strategies", "ECS can modify task placement strategies"),
        ("Lambda@Edge now allows you to customize error responses", "Lambda@Edge can customize error responses"),
        # What something now is: "is", never "gets" or "is supported".
        ("Amazon Textract is now HIPAA eligible", "Textract is HIPAA eligible"),
        ("Amazon EC2 Hibernation Now Available on Ubuntu 22.04", "EC2 Hibernation is available on Ubuntu 22.04"),
        (
            "Amazon Aurora Global Database is now supported on Aurora PostgreSQL 11",
            "Aurora Global Database is available on Aurora PostgreSQL 11",
        ),
        # The verb agrees with its subject.
        ("AWS Lambda Extensions are now Generally Available", "Lambda Extensions are generally available"),
        ("Amazon ECS and AWS Fargate add support for Windows containers", "ECS and Fargate support Windows containers"),
        (
            "Amazon EC2 G5 Instances are now available in the Asia Pacific (Sydney) Region",
            "EC2 G5 instances are available in Sydney",
        ),
        # Title Case is not taken over: common words in lowercase, connectors too.
        ("Amazon ECS Adds Throttling Logic For Task Launches", "ECS adds throttling logic for task launches"),
        # An instruction is what you can do; a title whose verb comes before the name is a clause already.
        (
            "Simplify permission management with attribute-based access control",
            "you can simplify permission management with attribute-based access control",
        ),
        (
            "AWS for Fluent Bit now supports Amazon Kinesis Data Streams",
            "AWS for Fluent Bit supports Kinesis Data Streams",
        ),
        ("AWS Glue DataBrew adds the ability to schedule recipe jobs", "Glue DataBrew can schedule recipe jobs"),
        # What follows a name used as a label is what is new.
        ("Elastic Load Balancing: Account Limits API", "ELB adds account limits API"),
    ],
)
def test_a_clause_is_plain_english(title: str, expected: str) -> None:
    regions = ("ap-southeast-2",) if "Sydney" in title else None
    clause = w.clause(story(title, regions=regions), NAMES, words=12)
    assert clause == expected
    assert not re.search(r"\b(gets|allows|lets)\b|is supported", clause)


def test_a_clause_keeps_names_and_lowercases_common_words() -> None:
    title = "Amazon CloudWatch Adds Anomaly Detection for Kansas City Metrics"
    clause = w.clause(story(title), NAMES, words=12, common={"anomaly", "detection", "metrics"})
    assert clause == "CloudWatch adds anomaly detection for Kansas City metrics"  # nothing says Kansas is a word
    vocab = w.Vocabulary(capitalized=frozenset({"Docker"}), lowercase=frozenset({"volumes"}))
    assert w.clause(story("Amazon ECS Supports Docker Volumes"), NAMES, vocab) == "ECS supports Docker volumes"


def test_a_clause_is_sentence_case_whatever_the_week_capitalizes() -> None:
    # A week whose sentence-case title capitalizes a feature ("Managed Versions") but whose other
    # titles write the same words in lowercase: no name, so the clause writes them in lowercase.
    week = [
        "Amazon RDS for MySQL now supports Managed Versions",
        "Amazon Aurora lists managed versions in the console",
        "AWS Lambda adds a managed versions view",
    ]
    proper, common = w.proper_words(week), w.lowercase_words(week)
    assert "Managed" not in proper and "Versions" not in proper
    clause = w.clause(story("Amazon RDS for MySQL Supports Managed Versions"), NAMES, proper=proper, common=common)
    assert clause == "RDS for MySQL supports managed versions"
    # A Title Case title's capitals say nothing: numbers, adjectives, states and instructions
    # are common words even when no title of the week writes them in lowercase.
    assert w.clause(story("Amazon GuardDuty Adds Two New Distributed Access Detections"), NAMES) == (
        "GuardDuty adds two distributed access detections"
    )
    assert w.clause(story("Amazon Lex Is Now Certified"), NAMES) == "Lex is certified"


def test_a_clause_keeps_a_capitalized_name_of_a_sentence_case_title_whole() -> None:
    # "Harbor Pilot" names a feature in a sentence-case title: never half lowercased.
    week = ["Amazon ECS introduces Harbor Pilot for container placement", "Amazon S3 adds a pilot programme"]
    clause = w.clause(story(week[0]), NAMES, proper=w.proper_words(week), common=w.lowercase_words(week) | {"pilot"})
    assert "Harbor Pilot" in clause
    # Numbers inside a Title Case title do not make it a sentence-case one.
    assert "Versions" not in w.proper_words(["Amazon RDS Supports New Minor Versions 9.1.2, 9.2.3, and 9.3.4"])


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # A name is never torn: its number stays with it, a compound keeps its first word, a
        # product whose "Amazon" is part of its name keeps it.
        ("AWS Glue now supports Amazon Route 53", "Glue Route 53"),
        ("AWS Ground Station adds Software Defined Modems", "Ground Station Software Defined Modems"),
        ("Amazon Linux 2 Kernel Preview is now available", "Amazon Linux 2 Preview"),
        # No adverb or participle that only says how, no "service" before integration.
        ("Amazon Neptune now supports changing cluster parameters dynamically", "Neptune Cluster Parameters"),
        ("You can now adjust the memory used by a running AWS Batch job", "Batch Memory"),
        ("AWS Step Functions adds Amazon SQS service integration", "Step Functions SQS Integration"),
        # Compliance: the programme and what the service now is; several as Compliance.
        ("Amazon Polly is now in scope for SOC 1 and SOC 2", "Polly SOC Compliance"),
        ("AWS Glue is now a HIPAA eligible service", "Glue HIPAA Eligibility"),
        ("Amazon Kinesis workloads can now be regulated by PCI, ISO and SOC", "Kinesis Compliance"),
        ("AWS CodePipeline now supports Amazon Linux 2", "CodePipeline Amazon Linux 2"),
        # Metrics or events for a named thing are that thing's.
        ("Amazon CloudWatch adds metrics for Amazon EC2 Dedicated Hosts", "CloudWatch Dedicated Host Metrics"),
        # The service before its feature; what the enhancements are to.
        ("Performance Insights is now available on Amazon RDS for Oracle", "RDS Performance Insights"),
        ("Announcing improvements to Amazon Rekognition face search", "Rekognition Face Search"),
        # A modifier whose head is a word of the service's name goes with it.
        ("Quickly review external access using the IAM Access Analyzer console", "IAM Access Analyzer"),
        # A long form with its acronym is said by the acronym, as people write it.
        ("Amazon SQS now supports Internet Protocol Version 6 (IPv6)", "SQS IPv6"),
        ("AWS Lambda now supports the Model Context Protocol (MCP)", "Lambda MCP"),
        # A one-letter name keeps its prefix; the prefix does not count against the length.
        ("Amazon Q Business adds document summaries", "Amazon Q Business Document Summaries"),
    ],
)
def test_headings_keep_names_whole_and_say_what_is_new(title: str, expected: str) -> None:
    assert w.heading(story(title), NAMES) == expected


def test_an_acronym_never_replaces_a_services_own_name() -> None:
    # "AWS Resource Access Manager (RAM)": the long form is how the service is found and named.
    assert w.clean_title("AWS Resource Access Manager (RAM) now supports Internet Protocol Version 6 (IPv6)") == (
        "AWS Resource Access Manager now supports IPv6",
        False,
    )
    # Only an acronym of the words before it: a Region or a note in brackets just goes.
    assert w.clean_title("Amazon SNS adds message archiving (Preview)")[0] == "Amazon SNS adds message archiving"
    assert w.clean_title("Announcing Bring Your Own IP (BYOIP) for Amazon VPC")[0] == "BYOIP for Amazon VPC"


def test_a_title_topic_keeps_the_prefix_of_a_one_letter_name() -> None:
    assert w.topic("AWS CloudFormation StackSets") == "CloudFormation StackSets"
    assert w.topic("Amazon Q Business Insights") == "Amazon Q Business Insights"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Amazon EBS launches st2 and sc3 volumes for AWS Outposts", "EBS st2 and sc3 Volumes"),
        ("AWS announces XR4 and XM4 instances for Amazon OpenSearch Service", "OpenSearch Service XR4 and XM4"),
        ("Amazon RDS Custom now supports Q9i and Z9i instances", "RDS Custom Q9i and Z9i"),
    ],
)
def test_a_list_of_models_is_headed_whole_in_its_own_case(title: str, expected: str) -> None:
    assert w.heading(story(title), NAMES) == expected


def test_a_list_of_models_too_long_for_a_heading_is_left_out_not_halved() -> None:
    heading = w.heading(story("Amazon EC2 Q9a, Q9b, and Q9c instances are now available in Europe (Paris)"), NAMES)
    assert heading == "EC2 Instances in Paris"


def test_a_heading_does_not_start_inside_a_name_the_title_capitalizes() -> None:
    heading = w.heading(story("AWS Glue adds support for Delta Sharing Protocol connectors"), NAMES)
    assert heading == "Glue Delta Sharing Protocol Connectors"


def test_a_plural_names_verb_stays_out_of_its_heading() -> None:
    assert w.heading(story("Amazon S3 Access Points simplify permissions for shared datasets"), NAMES) == (
        "S3 Access Points Permissions"
    )


def test_a_dash_inside_brackets_is_not_the_titles_and_an_unclosed_bracket_goes() -> None:
    assert w.clean_title("Announcing Widget Editor (based on VS Code – Open Source) in Amazon SageMaker")[0] == (
        "Widget Editor in Amazon SageMaker"
    )
    assert w.clean_title("Amazon SNS adds message archiving (for topics and")[0] == "Amazon SNS adds message archiving"
    assert "(" not in w.heading(
        story("Announcing Widget Editor (based on VS Code – Open Source) in Amazon SageMaker"), NAMES
    )
