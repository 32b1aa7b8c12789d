"""Build the shipped AWS service registry, ``config/services.toml``.

    python scripts/build_registry.py CORPUS_DIR [--output PATH] [--check]

Reads, from ``CORPUS_DIR`` (the shared corpus, ``../shared/corpus`` from the project root):

- ``taxonomy/botocore-*-services.csv``: every service botocore knows (client name, service id, full
  name, abbreviation); each client becomes an entry keyed by its client name, or is folded into
  another entry (``elbv2`` into ``elb``, the ``lexv2-*`` clients into ``lex``);
- ``taxonomy/aws-service-name-rules_*_bun913.yml``: canonical AWS product names and their common
  misspellings, which become aliases (and entries, for products botocore lacks);
- ``taxonomy/aws-blog-category-mapping_*.yaml``, ``taxonomy/aws-blog-feeds_*.json`` and
  ``taxonomy/aws-whats-new-categories_*.json``: blog and What's New area labels -> topic tags;
- ``archives/aws-whats-new-items_2014-2025_*.jsonl``: which areas each service is announced under
  (its topics, when the curated file gives none), and the product labels to resolve;
- ``feeds/*.xml`` and ``archives/aws-whats-new-items_2026_*.jsonl``: the What's New product slugs
  seen in real feeds, written out explicitly on the entries they resolve to.

and merges ``scripts/services_curated.toml`` (hand-written: products without an API, the tag keys
in the weekly notes' keyword style, topics, events, generic words) over what it derives.

Nothing of the corpus is copied: the output holds names, aliases, slugs and topics derived from it.
Prints what it could not resolve. ``--check``: write nothing, exit 1 if the output would change.
Exits 0 with a message when the corpus is absent.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from aggregator.taxonomy import ENTRY_KINDS, exact_case, parse_entries, phrase, tokenize  # noqa: E402

CURATED = PROJECT / "scripts" / "services_curated.toml"
OUTPUT = PROJECT / "config" / "services.toml"
PREFIXES = ("Amazon ", "AWS ")
TOPIC_SHARE = 0.25
"""An area becomes a topic of a service when at least this share of its announcements carry it."""
TOPIC_MIN_ITEMS = 3

_SLUG = re.compile(r"general:products/([^,<\s]+)")
_AREA = re.compile(r"marketing:marchitecture/([^,<\s]+)")
_GLUED = re.compile(r"^(Amazon|AWS)[A-Z]")


def slugify(name: str) -> str:
    """What's New's slug of a display name (the same rule as the corpus's make_feeds.py)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def strip_prefix(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


@dataclass
class Draft:
    key: str
    name: str = ""
    short: str = ""
    kind: str = "service"
    aliases: list[str] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    blog_categories: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    part_of: list[str] = field(default_factory=list)
    curated_aliases: int = 0
    """How many of ``aliases`` (the first ones) the curated file gave: kept as written."""
    replace: bool = False


def add(items: list[str], values: Iterable[str], *, exact: bool = False) -> None:
    """Append the values ``items`` lacks, ignoring case; ``exact``: only exact repeats are
    skipped (the curated aliases: "Service Control Policies" and "service control policies" match
    differently, see ``aggregator.taxonomy.NameMatcher``)."""
    seen = set(items) if exact else {v.lower() for v in items}
    for value in values:
        value = " ".join(value.split())
        if value and (value if exact else value.lower()) not in seen:
            items.append(value)
            seen.add(value if exact else value.lower())


class Rules:
    """Which names may stand alone in free text."""

    def __init__(self, build: dict[str, Any]) -> None:
        self.generic = {phrase(w) for w in build.get("generic", [])}
        self.safe = {phrase(w) for w in build.get("safe_words", [])}
        ignore = build.get("ignore_names", [])
        self.ignore = {phrase(w) for w in ignore} | {phrase(strip_prefix(w)) for w in ignore}

    def usable(self, alias: str) -> bool:
        """A derived alias is kept when it carries its prefix, or when its bare form is not an
        ordinary word: a phrase that is not generic, a CamelCase name or acronym that is not
        generic, or a plain word on the safe list."""
        tokens = tokenize(alias)
        if not tokens or phrase(alias) in self.ignore:
            return False
        if len(tokens) > 1 and tokens[0].lower() in ("amazon", "aws"):
            return phrase(" ".join(tokens[1:])) not in {"q"}
        bare = phrase(alias)
        if bare in self.generic or f"{bare}s" in self.generic or (bare.endswith("s") and bare[:-1] in self.generic):
            return False
        if len(tokens) > 1:
            return True
        token = tokens[0]
        if len(token) < 2:
            return False
        return bare in self.safe or exact_case(token) or token.isupper()


# --- sources -------------------------------------------------------------------------------------


def read_botocore(taxonomy: Path) -> list[dict[str, str]]:
    files = sorted(taxonomy.glob("botocore-*-services.csv"))
    if not files:
        raise SystemExit(f"no botocore-*-services.csv in {taxonomy}")
    with files[-1].open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_name_rules(taxonomy: Path) -> list[tuple[str, list[str]]]:
    """bun913's rules: (canonical name, patterns), regular expressions left out."""
    import yaml  # a build-time dependency only (the test extra)

    rules: list[tuple[str, list[str]]] = []
    for path in sorted(taxonomy.glob("aws-service-name-rules_*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for rule in data.get("rules", []):
            patterns = rule.get("patterns") or ([rule["pattern"]] if rule.get("pattern") else [])
            rules.append((str(rule["expected"]), [str(p) for p in patterns if not str(p).startswith("/")]))
    return rules


def read_area_labels(corpus: Path) -> tuple[list[str], list[str]]:
    """Area labels (blog names and categories, What's New categories) and marchitecture values."""
    taxonomy = corpus / "taxonomy"
    labels: list[str] = []
    values: list[str] = []
    for path in taxonomy.glob("aws-blog-category-mapping_*.yaml"):
        mapping = ast.literal_eval(path.read_text(encoding="utf-8"))
        labels.extend(mapping.values())
        labels.extend(mapping.keys())
    for path in taxonomy.glob("aws-blog-feeds_*.json"):
        labels.extend(feed["name"] for feed in json.loads(path.read_text(encoding="utf-8")))
    for path in taxonomy.glob("aws-whats-new-categories_*.json"):
        for category in json.loads(path.read_text(encoding="utf-8")):
            labels.append(category["name"])
            values.append(category["value"])
    for path in sorted((corpus / "feeds").glob("*.xml")):
        values.extend(_AREA.findall(path.read_text(encoding="utf-8")))
    for path in sorted((corpus / "archives").glob("aws-whats-new-items_*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                labels.extend(c for c in json.loads(line).get("categories", []) if not c.startswith(PREFIXES))
    return labels, values


def read_observed_slugs(corpus: Path) -> tuple[list[str], list[str]]:
    """Product slugs of the real feed captures, and those the archives' product labels give."""
    captured: list[str] = []
    for path in sorted((corpus / "feeds").glob("*.xml")):
        captured.extend(s.lower() for s in _SLUG.findall(path.read_text(encoding="utf-8")))
    labelled: list[str] = []
    for path in sorted((corpus / "archives").glob("aws-whats-new-items_*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                labelled.extend(slugify(s) for s in item.get("services", []))
                labelled.extend(slugify(c) for c in item.get("categories", []) if c.startswith(PREFIXES))
    return sorted(set(captured)), sorted(set(labelled) - set(captured))


def read_service_areas(corpus: Path) -> dict[str, Counter[str]]:
    """Product label -> how often each area category came with it (the 2014-2025 archive)."""
    areas: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted((corpus / "archives").glob("aws-whats-new-items_2014-2025_*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                for service in item.get("services", []):
                    areas[service]["#"] += 1
                    for category in item.get("categories", []):
                        areas[service][category.strip()] += 1
    return areas


# --- derivation ----------------------------------------------------------------------------------


def botocore_names(row: dict[str, str]) -> tuple[str, list[str]]:
    """A display name and alias candidates from a botocore row."""
    full = " ".join(row["serviceFullName"].split())
    service_id = " ".join(row["serviceId"].split())
    candidates: list[str] = []
    if full and not _GLUED.match(full):
        name = full
        if name.endswith(" Service") and phrase(strip_prefix(name[: -len(" Service")])) == phrase(service_id):
            name = name[: -len(" Service")]
            candidates.append(full)
    else:
        name = f"AWS {service_id}"
    if not name.startswith(PREFIXES):
        candidates.append(name)
    candidates.append(strip_prefix(name))
    candidates.append(service_id)
    abbreviation = strip_prefix(row.get("serviceAbbreviation", "").strip())
    if abbreviation:
        candidates.append(abbreviation)
    return name, candidates


def build(corpus: Path, curated_path: Path = CURATED) -> tuple[dict[str, Draft], list[str]]:
    """The entries, and the problems to report."""
    curated = tomllib.loads(curated_path.read_text(encoding="utf-8"))
    rules = Rules(curated.get("build", {}))
    area_topics = {phrase(k): v for k, v in curated.get("build", {}).get("areas", {}).items()}
    curated_services: dict[str, dict[str, Any]] = curated.get("services", {})
    problems: list[str] = []

    folded: dict[str, str] = {}
    for key, table in curated_services.items():
        for client in table.get("fold", []):
            folded[client] = key

    drafts: dict[str, Draft] = {}
    derived: dict[str, list[str]] = defaultdict(list)

    def draft(key: str) -> Draft:
        if key not in drafts:
            drafts[key] = Draft(key=key)
        return drafts[key]

    # botocore: one entry per client, or its names onto the entry it folds into
    clients = read_botocore(corpus / "taxonomy")
    known_clients = {row["data_dir"] for row in clients}
    for client in sorted(folded):
        if client not in known_clients:
            problems.append(f"fold: {client!r} is not a botocore client (folded into {folded[client]!r})")
    for row in clients:
        client = row["data_dir"]
        key = folded.get(client, client)
        name, candidates = botocore_names(row)
        entry = draft(key)
        if key == client:
            entry.name = entry.name or name
        derived[key].extend([name, *candidates] if key != client else candidates)

    # curated entries over the derived ones
    for key, table in curated_services.items():
        entry = draft(key)
        if key not in known_clients:
            entry.kind = "product"
        for attr in ("name", "short", "kind"):
            if attr in table:
                setattr(entry, attr, table[attr])
        add(entry.aliases, table.get("aliases", []), exact=True)
        entry.curated_aliases = len(entry.aliases)
        add(entry.slugs, table.get("slugs", []))
        add(entry.blog_categories, table.get("blog_categories", []))
        add(entry.topics, table.get("topics", []))
        add(entry.part_of, table.get("part_of", []))
        entry.replace = bool(table.get("replace", False))

    # bun913: canonical names and misspellings, onto the entry whose name they are
    index: dict[str, str] = {}
    for key, entry in drafts.items():
        for text in (entry.name, *entry.aliases, *derived[key]):
            for form in (phrase(text), phrase(strip_prefix(text))):
                if form:
                    index.setdefault(form, key)
    name_rules = read_name_rules(corpus / "taxonomy")
    prefixed = {phrase(strip_prefix(e)): e for e, _ in name_rules if e.startswith(PREFIXES)}
    for expected, patterns in name_rules:
        bare = phrase(strip_prefix(expected))
        if phrase(expected) in rules.ignore or bare in rules.ignore:
            continue
        key = index.get(phrase(expected)) or index.get(bare)
        if key is None:  # a product botocore does not know: an entry of its own
            full = prefixed.get(bare, expected)
            key = slugify(strip_prefix(full)).replace("aws-", "")
            entry = draft(key)
            entry.kind, entry.name = "product", full
            index[bare] = index[phrase(full)] = key
        derived[key].extend([expected, *patterns])

    assign_aliases(drafts, derived, rules)
    by_phrase = assign_topics(corpus, drafts, area_topics, problems)
    assign_area_names_and_slugs(corpus, drafts, area_topics, by_phrase, problems)
    problems.extend(check(drafts))
    return drafts, problems


def assign_aliases(drafts: dict[str, Draft], derived: dict[str, list[str]], rules: Rules) -> None:
    """Aliases: curated as written, derived ones when usable, each phrase on one entry only."""
    owner: dict[str, str] = {}
    for key, entry in drafts.items():
        for alias in (entry.name, *entry.aliases[: entry.curated_aliases]):
            owner.setdefault(phrase(alias), key)
    for key, entry in sorted(drafts.items()):
        if entry.replace:
            continue
        for alias in derived[key]:
            form = phrase(alias)
            if not rules.usable(alias) or owner.setdefault(form, key) != key:
                continue
            if alias.startswith(PREFIXES) and phrase(strip_prefix(alias)) in {phrase(a) for a in entry.aliases}:
                continue  # "Amazon X" adds nothing to "X" in free text
            add(entry.aliases, [alias])
    for key, entry in drafts.items():
        name_form = phrase(entry.name)
        entry.aliases = [a for a in entry.aliases if phrase(a) != name_form or a != entry.name]
        if not entry.name:
            entry.name = key
        if not entry.short:
            entry.short = strip_prefix(entry.name)


def assign_topics(
    corpus: Path, drafts: dict[str, Draft], area_topics: dict[str, str], problems: list[str]
) -> dict[str, str]:
    """Topics: curated, else the areas the archive announces the service under. Returns the
    entries by the phrase of their names and aliases."""
    by_phrase: dict[str, str] = {}
    for key, entry in drafts.items():
        for text in (entry.name, *entry.aliases):
            by_phrase.setdefault(phrase(text), key)
            by_phrase.setdefault(phrase(strip_prefix(text)), key)
    for label, counts in sorted(read_service_areas(corpus).items()):
        key = by_phrase.get(phrase(label)) or by_phrase.get(phrase(strip_prefix(label)))
        if key is None:
            problems.append(f"archive label {label!r} resolves to no entry")
            continue
        entry = drafts[key]
        if entry.topics or entry.kind not in ("service", "product"):
            continue
        total = counts.pop("#")
        for area, count in counts.most_common():
            topic = area_topics.get(phrase(area))
            if topic and count >= TOPIC_MIN_ITEMS and count / total >= TOPIC_SHARE:
                add(entry.topics, [topic])
    return by_phrase


def assign_area_names_and_slugs(
    corpus: Path, drafts: dict[str, Draft], area_topics: dict[str, str], by_phrase: dict[str, str], problems: list[str]
) -> None:
    """Topic entries get the area labels and marchitecture values that name them; every entry,
    the product slugs seen in real feeds (and the archives' product labels) that name it."""
    labels, values = read_area_labels(corpus)
    for label in labels:
        topic = area_topics.get(phrase(label))
        if topic and topic in drafts and phrase(label) != phrase(drafts[topic].name):
            add(drafts[topic].blog_categories, [label])
    for value in values:
        topic = area_topics.get(phrase(value))
        if topic and topic in drafts:
            add(drafts[topic].slugs, [f"marketing:marchitecture/{value}"])
        elif not topic:
            problems.append(f"area {value!r} has no topic in [build.areas]")
    explicit = {slug.lower(): key for key, entry in drafts.items() for slug in entry.slugs}
    captured, labelled = read_observed_slugs(corpus)
    for slug in captured + labelled:
        words = slug.replace("-", " ")
        key = explicit.get(slug) or by_phrase.get(words) or by_phrase.get(phrase(strip_prefix(words.title())))
        if key is None:
            if slug in captured:
                problems.append(f"slug {slug!r} of the feed captures resolves to no entry")
            continue
        if slug in captured:
            add(drafts[key].slugs, [slug])


def check(drafts: dict[str, Draft]) -> list[str]:
    """What is wrong with the entries: topics and parents that name no entry, unknown kinds."""
    problems: list[str] = []
    for key, entry in drafts.items():
        for topic in entry.topics:
            if topic not in drafts or drafts[topic].kind not in ("topic", "event"):
                problems.append(f"{key}: topic {topic!r} is not a topic entry")
        for parent in entry.part_of:
            if parent not in drafts:
                problems.append(f"{key}: part_of {parent!r} is not an entry")
        if entry.kind not in ENTRY_KINDS:
            problems.append(f"{key}: kind {entry.kind!r} is not one of {ENTRY_KINDS}")
    return problems


# --- output --------------------------------------------------------------------------------------


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_string(v) for v in values) + "]"


def render(drafts: dict[str, Draft]) -> str:
    lines = [
        "# The AWS service registry: one [services.<key>] table per service, product, topic or event.",
        "# GENERATED by scripts/build_registry.py from botocore's service list, the AWS name rules,",
        "# blog and What's New categories of the shared corpus, and scripts/services_curated.toml.",
        "# Do not edit: change the curated file and rerun the script. To change an entry for yourself,",
        "# use your own file (taxonomy.services_file): its entries extend or override these.",
        "",
    ]
    order = {"topic": 0, "event": 1, "service": 2, "product": 2}
    for entry in sorted(drafts.values(), key=lambda e: (order[e.kind], e.key)):
        lines.append(f"[services.{entry.key}]")
        lines.append(f"name = {_string(entry.name)}")
        if entry.short != entry.name:
            lines.append(f"short = {_string(entry.short)}")
        if entry.kind != "service":
            lines.append(f"kind = {_string(entry.kind)}")
        for attr in ("aliases", "slugs", "blog_categories", "topics", "part_of"):
            values = getattr(entry, attr)
            if values:
                lines.append(f"{attr} = {_list(sorted(values, key=str.lower) if attr == 'slugs' else values)}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="the shared corpus folder (../shared/corpus)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT.relative_to(PROJECT)}")
    parser.add_argument("--curated", type=Path, default=CURATED, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the output would change")
    args = parser.parse_args(argv)
    if not (args.corpus / "taxonomy").is_dir():
        print(f"build_registry: no corpus at {args.corpus} (no taxonomy/ folder): nothing to do", file=sys.stderr)
        return 0
    drafts, problems = build(args.corpus, args.curated)
    text = render(drafts)
    parse_entries(tomllib.loads(text), path=str(args.output))  # the registry loads what we write
    for problem in problems:
        print(f"build_registry: {problem}", file=sys.stderr)
    kinds = Counter(d.kind for d in drafts.values())
    summary = ", ".join(f"{count} {kind}s" for kind, count in sorted(kinds.items()))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"build_registry: {args.output} is out of date: rerun without --check", file=sys.stderr)
            return 1
        print(f"build_registry: {args.output} is current ({summary})", file=sys.stderr)
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"build_registry: wrote {args.output} ({summary})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
