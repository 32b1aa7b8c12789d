"""The draft's words on What's New titles: the headings and Description clauses the rules give,
and how often they fall into a known failure class.

    python bench/headings.py [--corpus PATH] [--since 2019-01-01] [--until 2021-12-31] [--sample 60]
                             [--show CLASS]... [--prior] [--json]

Every What's New item of the span (the archive's titles, tagged as ``aggregator import`` tags
them: the title, a body repeating it, the product categories) becomes a story of its own, and
gets the heading and the Description clause a draft featuring it would give (``render.heading``,
``words.clause`` with a four-story Description's share of words, the names and common words of
its week's titles). The vocabulary is the one learned from the author's notes before
``--notes-until`` (2017-12-31: the notes the rules are tuned on; 2018 stays the check) and the
archive's posts they link; ``--prior`` uses the rules alone.

Simple detectors, independent of the rules' own word lists where they can be, count the failure
classes (``CLASSES``); the report prints the counts, then a deterministic sample (every n-th
item) with the classes each falls into, then with ``--show`` every item of a class. These are
the years the team measures on (no answer key): the classes say what the rules get wrong, not
how close they come to the author.

Skips cleanly (exit 0) when the corpus is absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.config import DigestSettings, default_config_dir  # noqa: E402
from aggregator.digest import render  # noqa: E402
from aggregator.digest import select as sel  # noqa: E402
from aggregator.digest import words as w  # noqa: E402
from aggregator.digest.notes import read_notes  # noqa: E402
from aggregator.digest.style import house_style  # noqa: E402
from aggregator.normalize import link_id  # noqa: E402
from aggregator.tagging import Tagger  # noqa: E402
from aggregator.taxonomy import REGIONS, Registry, load_registry, tokenize  # noqa: E402

ARCHIVE = "archives/aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
WHATS_NEW = re.compile(r"^https?://aws\.amazon\.com/about-aws/whats-new/", re.I)
STORIES_PER_DRAFT = 4
"""The Description's words are shared among this many featured stories."""

CLASSES = {
    "verb": "a verb left in the heading where a noun phrase is wanted (Simplifies, Increases, Regulated, Gather)",
    "adjective": "a heading ending on an adjective or an adverb (Eligible, Faster, Up)",
    "plural name": "a service's name in the plural (ALBs ...)",
    "doubled": "a name or word twice, inside a compound too (ECS ECS-Optimized AMI)",
    "fragment": "a number or word torn from its name (Elastic Beanstalk 53 Aliasing)",
    "no service": "the title names a service, the heading none",
    "generic tail": "a tail that says nothing (Features, Computing, Updates, Integration)",
    "region": "a Region expansion headed by a fragment or without its Region",
    "name piece": "a product named without the Amazon/AWS that is part of its name (Linux 2 for Amazon Linux 2)",
    "cut modifier": "a compound cut inside (Defined Radios, Own IP) or a trailing adverb or participle (Dynamically)",
    "compliance": "a programme the title says the service is in scope or eligible for, missing (FinSpace Scope)",
    "wrong noun": "the service after its feature, a bare name, or a generic noun for what the title says is new",
    "cut name": "a heading starting inside a name the title capitalizes (Level Agreements, Revision 2 of NIST SP 800-171 Revision 2)",
    "model case": "a model or volume name title-cased against the title's own case (Io1 for io1)",
    "half list": "one model of a list the title names together (OM2 of OR2 and OM2)",
    "long": "a heading over five words",
    "hanging": "a heading ending on a connector, a parenthetical, Generally Available",
    "title case": "a clause keeping a title's capital on a common word (gets Throttling Logic)",
    "awkward verb": "a clause saying gets, allows, lets, is supported",
    "agreement": "a clause whose verb disagrees with its subject (ECS and ECR is available)",
    "no verb": "a clause without a verb (of a list, or a lowercase -s word after a name), or ending on one (ELB gets)",
    "press": "a clause with press wording (now available, Introducing, the new New)",
}
"""The failure classes, as the report names them."""

_FINITE = frozenset(
    """adds allows announces brings builds can creates delivers enables expands extends gets gives has helps
    improves includes increases introduces is are launches lets lowers makes moves offers provides reduces
    releases removes simplifies speeds supports unveils updates accelerates achieves automates
    integrates enhances streamlines doubles triples expands""".split()  # noqa: SIM905
)
"""Finite verbs a What's New title says after its subject."""
_IMPERATIVE = frozenset(
    """gather use run create get add manage build deploy track monitor specify view save simplify automate
    launch try set enable configure connect migrate analyze reduce secure protect accelerate optimize
    visualize discover""".split()  # noqa: SIM905
)
"""Verbs that start an instruction ("Gather ...", "Run ...")."""
_ADJECTIVES = frozenset(
    """eligible compliant available faster easier more less new better simpler lower higher larger smaller
    up ready generally now today quickly easily directly automatically additional enhanced improved
    expanded public private""".split()  # noqa: SIM905
)
_GENERIC = frozenset(
    """features feature computing updates update updated enhancements enhancement improvements improvement
    support capabilities capability functionality integration integrations options option changes change
    additions things stuff experience experiences""".split()  # noqa: SIM905
)
_GENERIC_ALWAYS = frozenset(
    """features feature computing updates update updated changes change additions improvements enhancements
    capabilities capability functionality things stuff options support""".split()  # noqa: SIM905
)
"""Tails that say nothing whatever comes before them; "integration" or "experience" only alone."""
_ENDING_VERBS = frozenset({"adds", "gets", "supports", "allows", "is", "are", "can", "provides", "offers", "enables"})
"""Verbs a clause never ends on: they want an object."""
_PARTICIPLE_NOUNS = frozenset({"speed", "feed", "need", "seed", "embed", "red", "shared", "bed", "hundred"})
_CONNECTORS = w.CONNECTORS
_AWKWARD = re.compile(r"\b(gets|allows|lets|is supported|are supported)\b")
_PRESS = re.compile(
    r"(?i)\b(now available|available now|new new)\b|^(announcing|introducing)\b|\s[-–]\s*generally available"
)
"""Press wording; "announces" and "introduces" are the author's own words ("AWS introduces per-second billing")."""


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    date: dt.date
    categories: tuple[str, ...]


@dataclass
class Outcome:
    item: Item
    story: sel.Story
    heading: str
    clause: str
    classes: list[str] = field(default_factory=list)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def load_items(path: Path, since: dt.date, until: dt.date) -> list[Item]:
    """The archive's items of the span, as its weekly feeds carry them (categories: the product slugs)."""
    items = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            date = dt.date.fromisoformat(row["date"][:10])
            if since <= date <= until:
                categories = tuple(f"general:products/{slug(s)}" for s in row.get("services") or ())
                items.append(Item(" ".join(row["title"].split()), row["link"], date, categories))
    return sorted(items, key=lambda i: (i.date, i.link))


def candidate(item: Item, tagger: Tagger) -> sel.Candidate:
    """The item as the digest sees it once imported and tagged: the surest services first."""
    tagging = tagger.tag_text(item.title, item.title, item.categories, url=item.link)
    tags = sorted(tagging.tags, key=lambda t: (t.type == "topic", -t.confidence, t.tag))
    services = [t.tag for t in tags if t.type == "service"]
    if tagging.primary_service:
        services = [tagging.primary_service, *(s for s in services if s != tagging.primary_service)]
    return sel.Candidate(
        id=item.link,
        url=item.link,
        title=item.title,
        date=dt.datetime.combine(item.date, dt.time(17), tzinfo=dt.UTC),
        feed="aws-whats-new",
        feed_title="What's New",
        source="whats-new",
        kind=tagging.kind,
        services=tuple(dict.fromkeys(services)),
        topics=tuple(dict.fromkeys(t.tag for t in tags if t.type == "topic")),
        regions=tagging.regions,
        links=(),
        region_count=tagging.region_count,
    )


def vocabulary(corpus: Path, registry: Registry, tagger: Tagger, until: dt.date) -> w.Vocabulary:
    """The author's words as the notes before ``until`` teach them, with the archive's posts they link."""
    notes, _ = read_notes(
        corpus / "weekly-notes", url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}"
    )
    earlier = [n for n in notes if n.date.date() <= until]
    if not earlier:
        return w.PRIOR
    at = max(n.date for n in earlier) + dt.timedelta(seconds=1)
    ids = {link: i for n in earlier for link in n.links if WHATS_NEW.match(link) and (i := link_id(link))}
    wanted = set(ids.values())
    posts = {}
    for item in load_items(corpus / ARCHIVE, dt.date(2014, 1, 1), until):
        post_id = link_id(item.link)
        if post_id in wanted:
            c = candidate(item, tagger)
            posts[post_id] = w.Linked(id=post_id, title=c.title, services=c.services, topics=c.topics)
    style = house_style(earlier, DigestSettings())
    return w.with_style(
        w.learn_vocabulary(earlier, at=at, registry=registry, posts=posts, link_ids=ids),
        keyword_count=style.keyword_count,
        keyword_aws=style.keyword_aws,
        description_words=style.description_words,
    )


def _tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9@.+]+", text.lower().replace("'s", "")) if t.strip(".+")]


def common_words(titles: Iterable[str]) -> frozenset[str]:
    """Words sentence-case titles write in lowercase inside more often than capitalized: common
    words, whatever the rules think ("logic", "responses")."""
    lower: Counter[str] = Counter()
    upper: Counter[str] = Counter()
    for title in titles:
        words = [x.strip(".,;:()\"'") for x in title.split()[1:]]
        if sum(x[:1].isupper() for x in words) > len(words) / 2:
            continue  # Title Case: its capitals say nothing
        for word in words:
            if word.isalpha():
                (lower if word.islower() else upper)[word.lower()] += 1
    return frozenset(x for x, n in lower.items() if n >= 3 and n > upper[x])


def service_words(key: str, names: sel.ServiceNames, vocab: w.Vocabulary) -> set[str]:
    """The words of every name of a service: the registry's, its acronym, the author's."""
    spelled = [*names.all_names(key), names.short(key), *vocab.names.get(key, {})]
    out = {t for n in spelled for t in _tokens(n)} - {"amazon", "aws"} - _CONNECTORS
    out |= {w._acronym(n).lower() for n in spelled if len(n.split()) > 1}
    return out


# --- the detectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    names: sel.ServiceNames
    vocab: w.Vocabulary
    registry: Registry
    common: frozenset[str]
    regions: frozenset[str] = frozenset(
        {r.short for r in REGIONS.values()} - {"Central"} | {r.name.split(" (")[0] for r in REGIONS.values()}
    ) | {"GovCloud"}
    """Places a heading may name: short names but the ambiguous "Central", countries."""


def named_in(text: str, ctx: Context) -> list[str]:
    """The services the registry finds named in a text, in order."""
    found = ctx.registry.matcher.find(tokenize(text))
    return list(dict.fromkeys(m.value for m in found if ctx.registry.is_service(m.value)))


def _name_words(text: str, ctx: Context) -> set[str]:
    return {x for key in named_in(text, ctx) for x in service_words(key, ctx.names, ctx.vocab)}


def heading_classes(o: Outcome, ctx: Context) -> list[str]:
    """The failure classes of a heading."""
    heading, title = o.heading, o.item.title
    words = heading.split()
    low = [x.lower() for x in words]
    names = _name_words(title, ctx) | _name_words(heading, ctx)
    if o.story.service:
        names |= service_words(o.story.service, ctx.names, ctx.vocab)
    rest = list(words)
    while rest and set(_tokens(rest[0])) <= names | {"amazon", "aws"}:
        rest = rest[1:]  # the name, then what is new
    out = []
    last = low[-1] if low else ""
    if (
        any(x.lower() in _FINITE for x in words[1:])
        or (rest and rest[0].lower() in _IMPERATIVE)
        or (len(last) > 4 and last.endswith("ed") and last not in _PARTICIPLE_NOUNS and last not in names)
    ):
        out.append("verb")
    if len(words) > 1 and last in _ADJECTIVES:
        out.append("adjective")
    singles = {n.lower() for e in ctx.registry.entries.values() for n in (e.short, *e.aliases) if n and " " not in n}
    if words and low[0].endswith("s") and low[0][:-1] in singles and words[0][:-1].isupper():  # "ALBs"
        out.append("plural name")
    if _doubled(low):
        out.append("doubled")
    if _fragment(words, title):
        out.append("fragment")
    if named_in(title, ctx) and not (set(_tokens(heading)) & names) and o.story.kind != "new-service":
        out.append("no service")
    what = [x.lower() for x in rest]  # after the name
    paired = len(words) > 2 and last in ("integration", "integrations") and low[-2] in names  # "EMR Integration"
    if (
        len(words) > 1
        and not paired
        and (last in _GENERIC_ALWAYS or (what and all(x in _GENERIC | _ADJECTIVES for x in what)))
    ):
        out.append("generic tail")
    if _name_piece(heading, title, ctx):
        out.append("name piece")
    if _cut_modifier(words, title, names):
        out.append("cut modifier")
    if _compliance_missing(low, title):
        out.append("compliance")
    if _wrong_noun(o, words, ctx):
        out.append("wrong noun")
    if o.story.kind == "region-expansion" and _bad_region(heading, ctx):
        out.append("region")
    if _cut_name(rest, title, names):
        out.append("cut name")
    if _model_case(words, title):
        out.append("model case")
    if _half_list(words, title):
        out.append("half list")
    if len(words) > 5:
        out.append("long")
    if not words or last in _CONNECTORS or "(" in heading or re.search(r"(?i)generally available", heading):
        out.append("hanging")
    return out


def _doubled(words: Sequence[str]) -> bool:
    """A word, or a part of a compound, in two of a heading's words ("ECS ECS-Optimized AMI")."""
    seen: dict[str, int] = {}
    for i, word in enumerate(words):
        for part in re.split(r"[/-]+", word):
            if part and part not in _CONNECTORS and not part.isdigit() and seen.setdefault(part, i) != i:
                return True
    return False


def _fragment(words: Sequence[str], title: str) -> bool:
    """A number kept without the word it belongs to ("Route 53" -> "53")."""
    title_words = [x.strip(",;:()") for x in title.split()]
    kept = {x.lower() for x in words}
    for word in words[1:]:
        if not word.isdigit():
            continue
        for i, other in enumerate(title_words[1:], start=1):
            before = title_words[i - 1]
            if (
                other == word
                and before[:1].isupper()
                and before.isalpha()
                and before.lower() not in kept | {"version", "the", "and", "with", "for"}
            ):
                return True
    return False


def _name_piece(heading: str, title: str, ctx: Context) -> bool:
    """A product whose "Amazon"/"AWS" is part of its name (the registry's short name keeps it:
    "Amazon Linux") written without it."""
    for entry in ctx.registry.entries.values():
        short = entry.short
        if re.match(r"(?i)(amazon|aws)\s", short) and re.search(rf"(?i)\b{re.escape(short)}\b", title):
            bare = short.split(" ", 1)[1]
            if re.search(rf"(?i)\b{re.escape(bare)}\b", heading) and not re.search(
                rf"(?i)\b{re.escape(short)}\b", heading
            ):
                return True
    return False


_POSSESSIVE_WORDS = frozenset({"own", "your", "my", "our"})
_NOT_ADVERB = frozenset({"family", "assembly", "anomaly", "supply", "reply", "italy", "july", "only", "early"})
_AFTER_ONLY = frozenset({"used", "needed", "consumed", "required", "selected", "specified"})


_NOT_A_NAME = frozenset({"new", "the", "and", "now", "amazon", "aws", "introducing", "announcing"})
"""Capitalized words before a compound that are not part of it."""


def _cut_modifier(words: Sequence[str], title: str, names: set[str]) -> bool:
    """A heading starting what is new inside a capitalized compound of the title ("Defined Radios"
    of "Software Defined Radios", "Own IP" of "Bring Your Own IP"), or ending on an adverb or a
    participle that only says how ("Sort Keys Dynamically", "Bandwidth Used")."""
    last = words[-1].lower() if words else ""
    adverb = len(last) > 5 and last.endswith("ly") and last.isalpha() and last not in _NOT_ADVERB
    if len(words) > 1 and (adverb or last in _AFTER_ONLY) and last not in names:  # "CloudWatch Evidently"
        return True
    title_words = [x.strip(",;:()") for x in title.split()]
    kept = {x.lower() for x in words} | names
    for word in words[1:]:
        low = word.lower()
        if not word[:1].isupper() or not (low in _POSSESSIVE_WORDS or (low.endswith("ed") and "-" not in low)):
            continue
        for i, other in enumerate(title_words[1:], start=1):
            before = title_words[i - 1]
            if (
                other == word
                and before[:1].isupper()
                and before.isalpha()
                and before.lower() not in kept | _FINITE | _IMPERATIVE | _NOT_A_NAME
            ):
                return True
    return False


def _sentence_case(title: str) -> bool:
    words = [x.strip(".,;:()\"'") for x in title.split()[1:]]
    alpha = [x for x in words if x.isalpha()]
    return bool(alpha) and sum(x[:1].isupper() for x in alpha) <= len(alpha) / 2


def _cut_name(rest: Sequence[str], title: str, names: set[str]) -> bool:
    """What is new starting inside a run of capitalized words of a sentence-case title (a name:
    "Mail Manager Archives", "NIST SP 800-171 Revision 2") without the run's first words."""
    if not rest or not rest[0][:1].isupper() or not _sentence_case(title) or f"({rest[0]})" in title:
        return False  # "Multi-Factor Authentication (MFA)": the name said by its acronym
    title_words = [x.strip(",;:()") for x in title.split()]
    kept = {x.lower() for x in rest} | names
    for i in range(2, len(title_words)):
        before = title_words[i - 1]
        if (
            title_words[i] == rest[0]
            and (before[:1].isupper() or (re.search(r"\d", before) and not before.isdigit()))
            and before.lower() not in kept | _FINITE | _IMPERATIVE | _NOT_A_NAME
            and not re.search(r"(?i)^(amazon|aws)$", title_words[i - 2])  # "Amazon S3": a service before
        ):
            return True
    return False


def _model_case(words: Sequence[str], title: str) -> bool:
    """A word with digits the title writes in lowercase ("gp3", "io1"), capitalized in the heading."""
    title_words = {x.strip(",;:()").lower(): x.strip(",;:()") for x in title.split()}
    return any(re.search(r"\d", x) and x[:1].isupper() and title_words.get(x.lower(), x)[:1].islower() for x in words)


_LISTED = re.compile(r"(?i)\b([a-z]*\d[a-z0-9.]*)(?:,? (?:and|or) |, )([a-z]*\d[a-z0-9.]*)\b")


def _half_list(words: Sequence[str], title: str) -> bool:
    """One model of a list the title names together ("OR2 and OM2", "gp3 and io1"), the other left out."""
    low = {x.lower() for x in words}
    for a, b in _LISTED.findall(title):
        if not (re.search(r"[a-z]", a, re.I) and re.search(r"[a-z]", b, re.I)):
            continue  # versions ("16.8, 15.12") are a list of numbers: the newest says it
        if (a.lower() in low) != (b.lower() in low):
            return True
    return False


_PROGRAMMES = frozenset({"soc", "pci", "hipaa", "iso", "fedramp", "irap", "hitrust", "c5", "gdpr", "dod", "gxp"})
_SAID = re.compile(r"(?i)\b(in scope|regulated by|eligible|compliant|certified|authorized)\b")
_PROGRAMME_NOUNS = frozenset({"compliance", "eligibility", "certification", "authorization", "accreditation"})


def _compliance_missing(low: Sequence[str], title: str) -> bool:
    """A title saying a service is in scope, eligible or compliant for a programme, headed
    without the programme or what the service now is ("FinSpace Scope", "Eligible Service")."""
    programmes = set(re.findall(r"[a-z0-9]+", title.lower())) & _PROGRAMMES
    if not programmes or not _SAID.search(title):
        return False
    return not (set(low) & (_PROGRAMMES | _PROGRAMME_NOUNS)) or bool(set(low) & {"scope", "eligible", "regulated"})


_MEASURES = frozenset({"metrics", "logs", "alarms", "dashboards", "events"})


def _wrong_noun(o: Outcome, words: Sequence[str], ctx: Context) -> bool:
    """The service's name after its feature ("Performance Insights RDS"), a generic noun for what
    the title pairs ("EMR Service" of "service integration"), a noun without what the title says
    it is for ("CloudWatch Metrics" of "metrics for EC2 ..."), or the bare name of a service for a
    story about a part of it ("Rekognition" of "enhancements to Rekognition text detection")."""
    title = o.item.title.lower()
    low = [x.lower() for x in words]
    own = {o.story.service, *(n.lower() for n in ctx.names.all_names(o.story.service))} if o.story.service else set()
    short = ctx.names.short(o.story.service).lower() if o.story.service else ""
    launch = o.story.kind in ("new-service", "general-availability", "preview")
    joined = " ".join(low)
    launch = launch or low[0] in ("amazon", "aws")
    if len(words) > 1 and short and joined.endswith(" " + short) and not joined.startswith(short) and not launch:
        return True  # a launch is headed by the full name: "Amazon RDS" is no feature before RDS
    if low and low[-1] == "service" and "service integration" in title:
        return True
    if len(low) <= 2 and low[-1:] and low[-1] in _MEASURES and f"{low[-1]} for " in title:
        return True
    bare_name = joined in own or joined == short
    return bare_name and not launch and bool(re.search(r"(?i)\b(enhancements|improvements|updates) to\b", title))


def _bad_region(heading: str, ctx: Context) -> bool:
    """A Region expansion not ending on "in <Region>", in an ambiguous Region, or headed by a fragment."""
    match = re.search(r"\sin\s(.+)$", heading)
    if not match or (match.group(1) not in ctx.regions and match.group(1) != "More Regions"):
        return True
    feature = heading[: match.start()].split()
    for i, word in enumerate(feature[1:], start=1):
        low = word.lower()
        named = low in ("for", "on") and i + 1 < len(feature) and feature[i + 1][:1].isupper()  # "RDS for Oracle"
        if low in _FINITE | _GENERIC | _ADJECTIVES | {"based"} or (low in _CONNECTORS and not named):
            return True
    return False


_SUBJECT_VERB = re.compile(
    r"^(?P<subject>.+?)\s(?P<verb>is|are|can|supports?|adds?|gets?|allows?|lets|offers?|provides?|enables?|"
    r"increases?|integrates?|includes?|introduces?|extends?|expands?|improves?|reduces?|simplifies|simplify)\b"
)


def clause_classes(o: Outcome, ctx: Context) -> list[str]:
    """The failure classes of a Description clause."""
    text = o.clause
    words = text.split()
    names = _name_words(text, ctx) | _name_words(o.item.title, ctx)
    out = []
    match = _SUBJECT_VERB.match(text)
    said = len(match.group(0).split()) if match else len(words)
    capitals = [x.strip(",.;:") for x in words[said:]]  # what the clause says is new
    if any(
        x.isalpha() and x[:1].isupper() and x[1:].islower() and x.lower() in ctx.common and x.lower() not in names
        for x in capitals
        if x not in ctx.regions
    ):
        out.append("title case")
    if _AWKWARD.search(text):
        out.append("awkward verb")
    if match and _disagrees(match.group("subject"), match.group("verb"), names, ctx):
        out.append("agreement")
    verbs = [
        x
        for i, x in enumerate(words[1:], start=1)
        if x.lower() in _FINITE | {"support", "add", "get", "allow"}
        or (
            x.islower() and x.endswith("s") and not x.endswith("ss") and words[i - 1][:1].isupper()
        )  # "Neptune enforces"
        or (x.islower() and re.search(r"[a-z]s$", words[i - 1]) and w._third_person(x) != x)  # "Grants simplify"
    ]
    if not verbs or words[-1].lower() in _ENDING_VERBS:
        out.append("no verb")
    if _PRESS.search(text):
        out.append("press")
    return out


def _disagrees(subject: str, verb: str, names: set[str], ctx: Context) -> bool:
    """A singular verb after "X and Y" or after a plural noun that is no service's name ("Instances is")."""
    singular = verb in ("is", "lets") or (verb.endswith("s") and verb != "are")
    last = subject.split()[-1]
    plural_word = (len(last) >= 4 and last.endswith("s") and last[:-1].isupper()) or (  # GPUs, AMIs
        last.lower().endswith("s")
        and not last.lower().endswith(("ss", "us", "is", "ics", "ws"))
        and len(last) > 3
        and last.lower() not in names
        and not last.isupper()
    )
    return singular and (" and " in f" {subject} " or plural_word)


# --- the run -------------------------------------------------------------------------------------


def outcomes(items: Sequence[Item], tagger: Tagger, vocab: w.Vocabulary, registry: Registry) -> list[Outcome]:
    """Each item's heading and clause, as a draft of its week would write them."""
    candidates = [candidate(i, tagger) for i in items]
    names = sel.ServiceNames(registry, candidates)
    weeks: dict[tuple[int, int], list[str]] = defaultdict(list)
    for item in items:
        weeks[item.date.isocalendar()[:2]].append(item.title)
    window = {week: (w.proper_words(titles), w.lowercase_words(titles)) for week, titles in weeks.items()}
    each = max(6, vocab.description_words // STORIES_PER_DRAFT)
    out = []
    for item, c in zip(items, candidates, strict=True):
        story = sel.cluster([c], names=names, cluster_days=1)[0]
        proper, common = window[item.date.isocalendar()[:2]]
        heading = render.heading(story, names, vocab)
        clause = render.title_text(w.clause(story, names, vocab, words=each, proper=proper, common=common))
        out.append(Outcome(item, story, heading, clause))
    return out


def classify(results: Sequence[Outcome], ctx: Context) -> Counter[str]:
    counts: Counter[str] = Counter()
    for o in results:
        o.classes = heading_classes(o, ctx) + clause_classes(o, ctx)
        counts.update(o.classes)
    return counts


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2019, 1, 1))
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2021, 12, 31))
    ap.add_argument("--notes-until", type=dt.date.fromisoformat, default=dt.date(2017, 12, 31))
    ap.add_argument("--prior", action="store_true", help="the rules alone, no vocabulary learned from the notes")
    ap.add_argument("--sample", type=int, default=60, help="items printed, every n-th of the span")
    ap.add_argument("--show", action="append", default=[], choices=sorted(CLASSES), help="list every item of a class")
    ap.add_argument("--json", action="store_true", help="the counts and every item as JSON")
    return ap.parse_args()


def line(o: Outcome) -> str:
    flags = f"  [{', '.join(o.classes)}]" if o.classes else ""
    return f"  {o.item.title}\n    -> {o.heading} | {o.clause}{flags}"


def report(args: argparse.Namespace, results: Sequence[Outcome], counts: Mapping[str, int], vocab_from: str) -> None:
    n = len(results)
    headings = Counter(o.heading for o in results)
    print(f"{n} What's New titles from {args.since} to {args.until}; vocabulary: {vocab_from}")
    print(f"words per heading {sum(len(o.heading.split()) for o in results) / max(1, n):.2f},"
          f" per clause {sum(len(o.clause.split()) for o in results) / max(1, n):.2f};"
          f" {len(headings)} distinct headings")  # fmt: skip
    print("\nfailure classes (items; an item may fall into several)")
    for name, what in CLASSES.items():
        print(f"  {name:<13} {counts.get(name, 0):5d}  {counts.get(name, 0) / max(1, n):6.1%}  {what}")
    flagged = sum(1 for o in results if o.classes)
    print(f"  {'any':<13} {flagged:5d}  {flagged / max(1, n):6.1%}")
    if args.sample > 0:
        step = max(1, n // args.sample)
        print(f"\nsample: every {step}th item")
        for o in results[::step][: args.sample]:
            print(line(o))
    for name in args.show:
        chosen = [o for o in results if name in o.classes]
        print(f"\n{name}: {len(chosen)} items")
        for o in chosen:
            print(line(o))


def main() -> int:
    args = parse_args()
    if not (args.corpus / ARCHIVE).is_file() or not (args.corpus / "weekly-notes").is_dir():
        print(f"corpus not found at {args.corpus}: skipped")
        return 0
    registry = load_registry(default_config_dir() / "services.toml")
    tagger = Tagger(registry)
    vocab = w.PRIOR if args.prior else vocabulary(args.corpus, registry, tagger, args.notes_until)
    vocab_from = "the rules alone" if args.prior else f"learned from the notes up to {args.notes_until}"
    items = load_items(args.corpus / ARCHIVE, args.since, args.until)
    results = outcomes(items, tagger, vocab, registry)
    ctx = Context(sel.ServiceNames(registry), vocab, registry, common_words(i.title for i in items))
    counts = classify(results, ctx)
    if args.json:
        rows = [
            dataclasses.asdict(o.item) | {"heading": o.heading, "clause": o.clause, "classes": o.classes}
            for o in results
        ]
        print(json.dumps({"items": len(results), "counts": dict(counts), "rows": rows}, default=str))
    else:
        report(args, results, counts, vocab_from)
    return 0


if __name__ == "__main__":
    sys.exit(main())
