"""The registry: the shipped file, its lookups, the user's override file, the name matcher and the
generator script that builds it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.config import default_config_dir
from aggregator.errors import ConfigError
from aggregator.taxonomy import (
    REGION_MATCHER,
    REGIONS,
    NameMatcher,
    Registry,
    Service,
    load_registry,
    phrase,
    region_short_name,
    tokenize,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
CORPUS = ROOT.parent / "shared" / "corpus"
SHIPPED = default_config_dir() / "services.toml"


def fixture_slugs() -> list[str]:
    lines = (FIXTURES / "whats-new-slugs.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(SHIPPED)


# --- the shipped registry ----------------------------------------------------------------------


def test_every_slug_of_the_real_captures_resolves(registry: Registry) -> None:
    slugs = fixture_slugs()
    assert len(slugs) == 126
    unresolved = [s for s in slugs if registry.resolve_slug(s) is None]
    assert unresolved == []


def test_the_captures_in_the_corpus_hold_no_other_slug(registry: Registry) -> None:
    feeds = sorted((CORPUS / "feeds").glob("*.xml"))
    if not feeds:
        pytest.skip("the shared corpus is absent")
    found = {s.lower() for f in feeds for s in re.findall(r"general:products/([^,<\s]+)", f.read_text("utf-8"))}
    assert found == set(fixture_slugs())
    assert [s for s in sorted(found) if registry.resolve_slug(s) is None] == []


@pytest.mark.parametrize(
    ("slug", "key"),
    [
        ("aws-step-functions", "stepfunctions"),
        ("amazon-eventBridge", "eventbridge"),  # as the 2022 feed spells it
        ("aws-fargate", "fargate"),
        ("amazon-aurora", "aurora"),
        ("aws-app-mesh", "appmesh"),
        ("amazon-elastic-load-balancing", "elb"),
        ("amazon-ec2-auto-scaling", "autoscaling"),
        ("aws-cloud-development-kit", "cdk"),
        ("amazon-machine-learning", "machinelearning"),
        ("aws-govcloud-us", "govcloud"),
        ("cloud-financial-management", "billing"),
    ],
)
def test_slugs_resolve_to_keyword_style_keys(registry: Registry, slug: str, key: str) -> None:
    assert registry.resolve_slug(slug) == key


def test_every_botocore_client_has_an_entry(registry: Registry) -> None:
    """Each client of botocore's service list is an entry, or folded into one (its names are aliases)."""
    csvs = sorted((CORPUS / "taxonomy").glob("botocore-*-services.csv"))
    if not csvs:
        pytest.skip("the shared corpus is absent")
    import csv

    with csvs[-1].open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    curated = tomllib.loads((ROOT / "scripts" / "services_curated.toml").read_text("utf-8"))["services"]
    folded = {client for table in curated.values() for client in table.get("fold", [])}
    missing = [r["data_dir"] for r in rows if r["data_dir"] not in registry and r["data_dir"] not in folded]
    assert missing == []
    assert len(rows) > 400


def test_keys_are_in_the_weekly_notes_keyword_style(registry: Registry) -> None:
    for key in ("stepfunctions", "s3", "ecs", "eks", "elb", "cloudformation", "lambda", "dynamodb", "appmesh"):
        assert registry.is_service(key), key
    assert registry.get("fargate") is not None and registry.get("fargate").kind == "product"  # type: ignore[union-attr]
    for topic in ("serverless", "containers", "security", "databases", "machinelearning", "networking"):
        assert registry.get(topic).kind == "topic", topic  # type: ignore[union-attr]
    assert registry.get("reinvent").kind == "event"  # type: ignore[union-attr]
    for key in ("sfn", "states", "events", "elbv2", "macie2"):
        assert key not in registry, key


def test_every_topic_and_part_of_names_an_entry(registry: Registry) -> None:
    for entry in registry.entries.values():
        for topic in entry.topics:
            assert registry.get(topic) is not None and not registry.is_service(topic), (entry.key, topic)
        for parent in entry.part_of:
            assert parent in registry, (entry.key, parent)


def test_the_digest_lookups(registry: Registry) -> None:
    assert registry.short_name("stepfunctions") == "Step Functions"
    assert registry.short_name("not-a-key") == "not-a-key"
    assert "serverless" in registry.topics_of("lambda")
    assert registry.topics_of("not-a-key") == ()
    assert region_short_name("ap-southeast-2") == "Sydney"
    assert region_short_name("xx-nowhere-1") == "xx-nowhere-1"


def test_common_words_are_not_aliases(registry: Registry) -> None:
    """Config, Connect, Batch...: only with their prefix in free text (categories still resolve them)."""
    words = {"config", "connect", "batch", "backup", "shield", "glue", "inspector", "detective", "chime", "support"}
    for entry in registry.entries.values():
        for text in (entry.name, *entry.aliases):
            assert phrase(text) not in words, (entry.key, text)
    assert registry.resolve_label("AWS Config") == "config"
    assert registry.resolve_slug("aws-config") == "config"


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Amazon Simple Storage Service (S3)", "s3"),
        ("Amazon Msk", "kafka"),  # title-cased slugs, as some archives carry them
        ("AWS Govcloud Us", "govcloud"),
        ("Containers", "containers"),
        ("Security, Identity, & Compliance", "security"),
        ("lambda", "lambda"),  # a community tag
        ("EC2", "ec2"),
    ],
)
def test_labels_resolve(registry: Registry, label: str, key: str) -> None:
    assert registry.resolve_label(label) == key


def test_resolve_takes_a_key_a_slug_or_a_name(registry: Registry) -> None:
    assert registry.resolve("stepfunctions") == "stepfunctions"
    assert registry.resolve("aws-step-functions") == "stepfunctions"
    assert registry.resolve("AWS Step Functions") == "stepfunctions"
    assert registry.resolve("nothing of the sort") is None


def test_the_fingerprint_follows_the_entries() -> None:
    a = Registry([Service(key="x", name="X", short="X")])
    b = Registry([Service(key="x", name="X", short="X", aliases=("Ex",))])
    assert a.fingerprint() == Registry([Service(key="x", name="X", short="X")]).fingerprint()
    assert a.fingerprint() != b.fingerprint()


# --- the user's file ---------------------------------------------------------------------------


def test_a_user_file_extends_and_overrides_the_shipped_registry(tmp_path: Path) -> None:
    user = tmp_path / "my-services.toml"
    user.write_text(
        '[services.stepfunctions]\nshort = "SFN"\n\n'
        '[services.acme-cloud]\nname = "Acme Cloud"\naliases = ["AcmeCloud"]\ntopics = ["compute"]\n',
        encoding="utf-8",
    )
    shipped = load_registry(SHIPPED)
    mine = load_registry(SHIPPED, user)
    assert mine.short_name("stepfunctions") == "SFN"
    assert mine.get("stepfunctions").aliases == shipped.get("stepfunctions").aliases  # type: ignore[union-attr]
    assert mine.get("acme-cloud").short == "Acme Cloud"  # type: ignore[union-attr]
    assert mine.resolve_label("AcmeCloud") == "acme-cloud"
    assert len(mine) == len(shipped) + 1
    assert mine.fingerprint() != shipped.fingerprint()


def test_a_mistake_in_the_user_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    user = tmp_path / "bad.toml"
    user.write_text('[services.s3]\nalias = ["S-three"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: services\.s3: unknown key 'alias'"):
        load_registry(SHIPPED, user)


# --- the name matcher --------------------------------------------------------------------------


def test_longest_match_first_on_word_boundaries() -> None:
    names = [
        ("AWS Direct Connect", "directconnect"),
        ("Direct Connect", "directconnect"),
        ("Amazon Connect", "connect"),
    ]
    names += [("S3", "s3"), ("Amazon S3", "s3"), ("Amazon S3 Glacier", "glacier"), ("S3 Glacier", "glacier")]
    matcher = NameMatcher(names)
    found = [(m.value, m.alias) for m in matcher.find_in("Amazon S3 Glacier via AWS Direct Connect; Amazon S3")]
    assert found == [("glacier", "Amazon S3 Glacier"), ("directconnect", "AWS Direct Connect"), ("s3", "Amazon S3")]
    assert [m.value for m in matcher.find_in("DirectConnector and S3Glacier")] == []


def test_acronyms_and_camel_case_match_as_written() -> None:
    matcher = NameMatcher([("SAM", "sam"), ("WorkSpaces", "workspaces"), ("Amazon WorkSpaces", "workspaces")])
    assert [m.value for m in matcher.find_in("Sam shared Slack workspaces")] == []
    assert [m.value for m in matcher.find_in("SAM and WorkSpaces")] == ["sam", "workspaces"]
    assert [m.value for m in matcher.find_in("Amazon Workspaces")] == ["workspaces"]  # the prefix settles it


def test_capitalised_names_match_capitalised_only() -> None:
    matcher = NameMatcher(
        [("Service Quotas", "quotas"), ("AWS Service Quotas", "quotas"), ("service control policies", "scp")]
    )
    assert [m.value for m in matcher.find_in("Amazon ECS raises its service quotas")] == []
    assert [m.value for m in matcher.find_in("Manage the limits in Service Quotas")] == ["quotas"]
    assert [m.value for m in matcher.find_in("AWS service quotas")] == ["quotas"]  # the prefix settles it
    assert [m.value for m in matcher.find_in("Service Control Policies and service control policies")] == [
        "scp",
        "scp",
    ]  # a name written in lowercase matches in any case


def test_curated_aliases_keep_their_case_variants(registry: Registry) -> None:
    organizations = registry.get("organizations")
    assert organizations is not None
    assert {"Service Control Policies", "service control policies"} <= set(organizations.aliases)


def test_regions_are_found_by_long_name_short_name_and_code() -> None:
    text = "in Asia Pacific (Sydney), Ohio, eu-west-1 and the AWS GovCloud (US) Regions"
    codes = [code for m in REGION_MATCHER.find_in(text) for code in m.value]
    assert codes == ["ap-southeast-2", "us-east-2", "eu-west-1", "us-gov-east-1", "us-gov-west-1"]


@given(st.lists(st.sampled_from(["Amazon", "S3", "Glacier", "Direct", "Connect", "and", "x"]), max_size=12))
def test_matches_never_overlap_and_point_at_their_alias(words: list[str]) -> None:
    matcher = NameMatcher([("Amazon S3", 1), ("S3", 2), ("S3 Glacier", 3), ("Direct Connect", 4), ("Connect", 5)])
    tokens = tokenize(" ".join(words))
    end = 0
    for match in matcher.find(tokens):
        assert match.start >= end
        end = match.end
        assert phrase(" ".join(tokens[match.start : match.end])) == phrase(match.alias)


@given(st.text(max_size=200))
def test_tokenize_keeps_letters_and_digits_only(text: str) -> None:
    for token in tokenize(text):
        assert token and all(c.isalnum() for c in token)


def test_a_short_name_two_regions_share_names_neither() -> None:
    assert REGION_MATCHER.find_in("Enhanced search in AWS Partner Central") == []
    codes = [code for m in REGION_MATCHER.find_in("Canada (Central) and Mexico (Central)") for code in m.value]
    assert codes == ["ca-central-1", "mx-central-1"]


def test_every_region_has_a_short_name() -> None:
    for region in REGIONS.values():
        assert region.short and "(" not in region.short


# --- the generator -----------------------------------------------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_registry.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_generator_skips_cleanly_without_the_corpus(tmp_path: Path) -> None:
    result = run_script(str(tmp_path / "no-corpus"), "--output", str(tmp_path / "out.toml"))
    assert result.returncode == 0
    assert "nothing to do" in result.stderr
    assert not (tmp_path / "out.toml").exists()


@pytest.mark.slow
def test_the_shipped_registry_is_what_the_generator_writes() -> None:
    """Rerunnable: the committed file is exactly the script's output (edit the curated file, rerun)."""
    if not (CORPUS / "taxonomy").is_dir():
        pytest.skip("the shared corpus is absent")
    result = run_script(str(CORPUS), "--check", "--output", str(ROOT / "config" / "services.toml"))
    assert result.returncode == 0, result.stderr
