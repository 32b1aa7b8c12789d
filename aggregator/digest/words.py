"""The author's words: headings, title, keywords and Description as the author writes them.

A heading is a short noun phrase: the service's name as the author writes it, then what is new
("Step Functions Dynamic Parallelism", "S3 Same-Region Replication", "Fargate in Sydney"); a new
service, or the general availability of one, is headed by its full name ("AWS Security Hub").
Never "Generally Available", a parenthetical, a name written twice, or a last word that leaves
the phrase hanging ("and", "to the", "based"). The title is the first featured headings; the
keywords the author's words for the featured services and topics, about as many as the author
writes; the Description one plain clause per featured story, about as long as the author's.

What the rules cannot know is learned from the author's notes before the draft's date, recent
notes weighing most (``learn_vocabulary``): the names they write for each service (``ALB``,
``DocumentDB``) and the full names they head launches with, the keyword they use for each
service and topic and how often, how many keywords they write and whether ``aws`` is one, how
long their headings and Descriptions are, the Regions they name, and, from their headings beside
the titles of the announcements they link, the words of titles they drop. With no notes the
rules alone decide (``PRIOR``).

Pure: no clock, no I/O; the caller reads the notes and the titles of the posts they link.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..taxonomy import REGIONS, NameMatcher, Registry, tokenize
from .notes import Note
from .stories import Candidate, ServiceNames, Story

HALF_LIFE_DAYS = 365.0
"""A note's weight halves every year: the author's recent habits count most."""

# --- the words headings are made of --------------------------------------------------------------

CONNECTORS = frozenset(
    """a an and as at based by for from in into of on or per than that the through to using via when where
    which while with without within across your their its our this these those""".split()  # noqa: SIM905
)
"""Words a heading never ends on: the phrase would hang ("App Mesh routing based")."""
_CUT = frozenset(
    """for in with on of across using when through via from that to by at into within without so which while
    where per than as featuring powered based including inside""".split()  # noqa: SIM905
)
"""Where the phrase of what is new ends: the rest says for what, where or how."""
_FILLERS = frozenset(
    """a an the new now also additional more all your their its our native support supports ability option
    options capability capabilities you customers users directly easily automatically quickly natively
    seamlessly""".split()  # noqa: SIM905
)
"""Words that say nothing at the start of what is new ("the ability to", "support for")."""
_GENERIC_TAIL = frozenset(
    """support supports capability capabilities feature features functionality available availability now
    option options enhancements improvements updates directly easily automatically expanded presence""".split()  # noqa: SIM905
)
"""Words that say nothing at the end of what is new ("Target Tracking Available")."""
_VERBS = frozenset(
    """supports support adds add introduces introduce announces announce launches launch offers offer provides
    provide enables enable allows allow lets brings gains gets releases release delivers unveils includes
    expands extends increases improves enhances simplifies integrates updates reduces lowers makes helps
    publishes achieves automates accelerates streamlines speeds detects sends receives doubles triples
    deploys optimizes scales removes adopts debuts previews unlocks boosts showcases signs sets writes rolls
    reads runs stores shows displays exports imports generates creates returns tracks protects encrypts
    validates monitors uses accepts connects migrates retains transfers syncs reduce lower has raises
    refreshes redesigns strengthens refines eases decreases quadruples""".split()  # noqa: SIM905
)
"""Verbs of What's New titles: the name before them is the subject, what follows is what is new."""
_IMPERATIVES = frozenset(
    """set use run create get add manage build deploy track monitor specify view save simplify automate
    launch easily now sign try achieve optimize discover review remediate detect configure protect
    secure gather organize compare analyze visualize migrate accelerate reduce improve customize control
    find subscribe share test quickly adjust modify identify choose take""".split()  # noqa: SIM905
)
"""Words that start a title written as an instruction ("Set Concurrency Limits on ...")."""
_PRESS = re.compile(
    r"^(announcing|introducing|introduces|new:?|now available:?|available now:?|launch:|launched:|"
    r"coming soon:?|update:|just launched:?|sign up for the (preview|beta) of|preview:|generally available:?)\s+"
    r"(the\s+|a\s+|an\s+)?",
    re.I,
)
_PRESS_PART = re.compile(
    r"^(now\s+)?((generally|publicly)\s+available|available(\s+now)?|(developer\s+|public\s+)?preview|beta|ga|"
    r"general\s+availability|new|now\s+available)$",
    re.I,
)
_GA = re.compile(
    r"\s+(is|are)\s+(now\s+)?(generally\s+available|available|ga|launched)(?=\s*$|\s+(in|for|on|to|with|across|via|through|as|from|using)\b)"
    r"|\s+(now\s+)?generally\s+available\b|^general\s+availability\s+(of|for)\s+",
    re.I,
)
_PARENS = re.compile(r"\s*\([^()]*\)")
_DASHES = re.compile(r"\s+[-–—]\s+|:\s+")
_POSSESSIVE = re.compile(r"['’]s\b")
_SPACES = re.compile(r"\s+")
_PREFIX = re.compile(r"^(amazon|aws)\s+", re.I)


def _words(text: str) -> list[str]:
    """The words of a text, a comma or colon after one kept (it ends a phrase)."""
    return [w for w in text.split() if w.strip(".,;:")]


def _bare_word(word: str) -> str:
    return word.strip(",;:")


def _bare(name: str) -> str:
    """A name without its "Amazon"/"AWS" prefix."""
    return _PREFIX.sub("", name).strip() or name


def _acronym(name: str) -> str:
    """ "Application Load Balancer" -> ALB, "EC2 Container Service" -> ECS."""
    return "".join(w[0] for w in _words(_bare(name)) if w[:1].isalnum()).upper()


def _same_name(a: str, b: str) -> bool:
    """Whether two spellings name the same thing: equal, or one the other's acronym (a plural -s aside)."""
    a, b = _bare(a).lower(), _bare(b).lower()
    if a == b or a.rstrip("s") == b.rstrip("s"):
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return " " not in short and len(long.split()) > 1 and short.rstrip("s").upper() == _acronym(long)


def heading_tokens(text: str) -> list[str]:
    """Lowercased words, as the author's headings are compared and learned from."""
    return [w for w in re.findall(r"[a-z0-9]+", _POSSESSIVE.sub("", text.lower())) if w not in ("aws", "amazon")]


# --- what is learned -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    """What the author's notes say about their words; ``PRIOR`` when there are none."""

    names: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Registry key -> the names the author writes for it in headings, prefix dropped ("ALB",
    "DocumentDB"), with their decayed counts."""
    prefixes: Mapping[str, str] = field(default_factory=dict)
    """Registry key -> the prefix the author writes before its name in a heading ("AWS" in "AWS Aurora")."""
    keywords: Mapping[str, str] = field(default_factory=dict)
    """Registry key (service or topic) -> the keyword the author writes for it (``documentdb``, ``docker``)."""
    keyword_seen: Mapping[str, float] = field(default_factory=dict)
    """Registry key -> the (decayed) notes with keywords that were about it ..."""
    keyword_used: Mapping[str, float] = field(default_factory=dict)
    """... and those of them whose keywords named it."""
    service_rate: float = 0.9
    """How often the author names a service a note is about in its keywords, over all services."""
    topic_rate: float = 0.2
    """... a topic (``digest.keyword_topics`` are the author's own topics: they count as used)."""
    aws_rate: float = 1.0
    """How often ``aws`` is a keyword of a note about AWS (the house style's ``keyword_aws``)."""
    keyword_count: int = 8
    """Keywords a note has, about (the house style's ``keyword_count``)."""
    heading_words: int = 4
    """Words in a heading at most."""
    description_words: int = 40
    """Words in a Description, about (the house style's ``description_words``)."""
    title_topics: int = 3
    """Topics in a title at most."""
    regions: Mapping[str, float] = field(default_factory=dict)
    """Region short names the author writes ("Sydney"), with their decayed counts."""
    dropped: frozenset[str] = frozenset()
    """Words of announcement titles the author leaves out of their headings (lowercased)."""
    capitalized: frozenset[str] = frozenset()
    """Words the author capitalizes inside a sentence of a Description ("Docker", "Parameter")."""
    lowercase: frozenset[str] = frozenset()
    """Words the author writes in lowercase in a Description ("volumes", "scheduling")."""
    notes: int = 0
    """How many notes it was learned from."""
    chosen_topics: frozenset[str] = frozenset()
    """Topics the author chose as keywords in their settings (``digest.keyword_topics`` set to
    other than its default): keywords whenever a featured story has them, whatever the notes say."""

    def name(self, key: str, written: str, names: ServiceNames) -> str:
        """The name a heading gives a service, from the name a title wrote ("Amazon ECS",
        "Application Load Balancer", "Kinesis Analytics")."""
        return _lettered(self._name(key, written, names), written, names.name(key))

    def _name(self, key: str, written: str, names: ServiceNames) -> str:
        bare = _bare(written)
        if _PREFIX.match(names.short(key)) and written.lower().startswith(names.short(key).lower()):
            bare = written  # "Amazon Linux 2", "AWS IQ": the prefix is part of the name, never torn off
        spellings = sorted(self.names.get(key, {}).items(), key=lambda item: (-item[1], item[0]))
        for spelling, _ in spellings:
            if _same_name(spelling, bare):
                return spelling
        entry = names.registry.get(key)
        aliases = {a.lower() for a in entry.aliases} if entry else set()
        own = {n.lower() for n in (*names.own_names(key), names.short(key), key)}
        if bare.lower() in own:  # the service itself: the author's name for it, else the short one
            return self.own_name(key, names)
        acronym = _acronym(bare)
        if len(bare.split()) > 1 and (acronym.lower() in aliases or acronym == names.short(key).upper()):
            return acronym  # "Application Load Balancer" -> ALB, "EC2 Container Service" -> ECS
        short = names.short(key)
        extra = [w for w in bare.split() if w.lower() not in short.lower().split() and w.lower() not in CONNECTORS]
        if len(extra) < len(bare.split()) and any(w[:1].islower() for w in extra):
            return short  # "Lambda functions": the service, not a product of it
        if len(extra) == len(bare.split()) and len(bare.split()) >= 3 and len(short) < len(bare):
            return short  # "Simple Storage Service" -> S3
        for parent in sorted(own, key=len, reverse=True):
            if len(bare.split()) >= 4 and bare.lower().startswith(parent + " "):
                part = bare[len(parent) + 1 :]  # "Certificate Manager Private Certificate Authority"
                return short if part.split()[0].lower() in CONNECTORS else part
        if len(bare.split()) >= 4 and len(short.split()) < len(bare.split()):
            return short  # "Certificate Manager Private Certificate Authority": too long for a heading
        return bare  # a sub-product or an older name, as the title writes it ("SageMaker HyperPod")

    def own_name(self, key: str, names: ServiceNames) -> str:
        """The author's name for the service itself (not for a product of it: "ALB" is not ELB's),
        else the registry's short name."""
        own = [n for n in (*names.own_names(key), names.short(key), key)]
        spellings = sorted(self.names.get(key, {}).items(), key=lambda item: (-item[1], item[0]))
        for spelling, _ in spellings:
            if any(_same_name(spelling, n) for n in own):
                return spelling
        return _lettered(names.short(key), names.name(key))

    def full_name(self, key: str, names: ServiceNames) -> str:
        """A launch's heading: the service's full name as the author writes it ("AWS Security
        Hub", "Amazon EKS"): their prefix, else the registry's, before their name, else the short one."""
        short = self.own_name(key, names)
        prefix = self.prefixes.get(key) or (m.group(1) if (m := _PREFIX.match(names.name(key))) else "")
        if not prefix or short.lower().startswith(prefix.lower()):
            return short if names.known(key) else names.name(key)
        if not names.known(key):
            return names.name(key)
        return f"{prefix} {short}"

    def keyword_rate(self, key: str, prior: float) -> float:
        """How likely the author is to write the keyword of a service or topic a note is about."""
        return _rate(self.keyword_used.get(key, 0.0), self.keyword_seen.get(key, 0.0), prior, KEYWORD_PRIOR_NOTES)

    def keyword(self, key: str, names: ServiceNames) -> str:
        """The author's keyword for a service or topic; else the name written as a keyword
        (``stepfunctions``, ``documentdb``)."""
        if key in self.keywords:
            return self.keywords[key]
        entry = names.registry.get(key)
        if entry is not None and entry.kind in ("service", "product"):
            return re.sub(r"[^a-z0-9]", "", names.short(key).lower()) or key
        return key


PRIOR = Vocabulary()
"""No notes: the rules' defaults."""

PRIOR_NOTES = 2.0
"""How many notes' worth of evidence the defaults count for against the learned counts."""
KEYWORD_PRIOR_NOTES = 1.0
"""... against how often the author names a given service or topic in the keywords: one note
that names it (or not) says more than the average over all of them."""


@dataclass(frozen=True, kw_only=True)
class Linked:
    """A post an earlier note linked, as the archive holds it: its title says what was announced."""

    id: str
    title: str
    services: tuple[str, ...]
    topics: tuple[str, ...]


def linked(posts: Iterable[Candidate]) -> dict[str, Linked]:
    """The posts earlier notes link, by id, as ``learn_vocabulary`` reads them."""
    return {p.id: Linked(id=p.id, title=p.title, services=p.services, topics=p.topics) for p in posts}


def capitalized_words(text: str) -> set[str]:
    """Words written with a capital inside a sentence: names, as the writer sees them."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for word in sentence.split()[1:]:
            word = word.strip(".,;:!?()\"'’")
            if word[:1].isupper() and word != "I":
                found.add(word)
    return found


def lowercase_words(texts: Iterable[str]) -> frozenset[str]:
    """Words written in lowercase in these texts: common words, which a clause writes so too."""
    return frozenset(w for text in texts for w in re.findall(r"(?<![\w-])[a-z][a-z0-9]*(?![\w])", text))


def _weight(note: Note, at: dt.datetime) -> float:
    age = max(0.0, (at - note.date).total_seconds() / 86400.0)
    return float(0.5 ** (age / HALF_LIFE_DAYS))


def _quantile(samples: Sequence[tuple[float, float]], q: float) -> float | None:
    """The weighted ``q`` quantile of (weight, value) samples."""
    total = sum(w for w, _ in samples)
    if total <= 0:
        return None
    running = 0.0
    for w, value in sorted(samples, key=lambda s: s[1]):
        running += w
        if running >= q * total:
            return value
    return samples[-1][1]


def _blend(samples: Sequence[tuple[float, float]], q: float, prior: int, low: int, high: int) -> int:
    """The learned quantile, pulled towards the prior by ``PRIOR_NOTES`` notes' worth, within bounds."""
    learned = _quantile(samples, q)
    if learned is None:
        return prior
    weight = sum(w for w, _ in samples)
    value = (learned * weight + prior * PRIOR_NOTES) / (weight + PRIOR_NOTES)
    return max(low, min(high, round(value)))


_SHORT_MATCHERS: dict[int, tuple[Registry, NameMatcher[str]]] = {}


def _short_matcher(registry: Registry) -> NameMatcher[str]:
    """The services' short names, which the registry's matcher holds only when they are aliases."""
    held = _SHORT_MATCHERS.get(id(registry))
    if held is None or held[0] is not registry:
        entries = [e for e in registry.entries.values() if registry.is_service(e.key) and e.short]
        held = (registry, NameMatcher((e.short, e.key) for e in entries))
        _SHORT_MATCHERS.clear()  # one registry at a time: the tagger's
        _SHORT_MATCHERS[id(registry)] = held
    return held[1]


def _spans(text: str, registry: Registry, *, services: bool = True) -> list[tuple[int, int, str]]:
    """The registry's services (``services``; else every entry, topics too) named in a text:
    (start, end, key), by character offsets, the "Amazon"/"AWS" before a name included."""
    offsets = [(m.start(), m.end()) for m in re.finditer(r"[^\W_]+", text)]
    tokens = tokenize(text)
    found = [m for m in registry.matcher.find(tokens) if registry.is_service(m.value) or not services]
    taken = {i for m in found for i in range(m.start, m.end)}
    for m in _short_matcher(registry).find(tokens):
        if not taken & set(range(m.start, m.end)):
            found.append(m)
    out = []
    for match in sorted(found, key=lambda m: m.start):
        start = match.start
        if start > 0 and tokens[start - 1].lower() in ("amazon", "aws"):
            start -= 1
        end = offsets[match.end - 1][1]
        while end < len(text) and text[end] == "-" and end + 1 < len(text) and text[end + 1].isalnum():
            end = next((m.end() for m in re.finditer(r"[\w-]+", text[end:])), 0) + end  # "ECS-CLI": one word
        out.append((offsets[start][0], end, match.value))
    return out


def _regions_named(text: str) -> list[str]:
    found = []
    for region in REGIONS.values():
        match = re.search(r"(?<![\w])" + re.escape(region.short) + r"(?![\w])", text)
        if match:
            found.append((match.start(), region.short))
    return [short for _, short in sorted(found)]


@dataclass
class _Counts:
    """What ``learn_vocabulary`` adds up, note by note."""

    names: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    prefixes: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    keywords: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    present: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    used: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    regions: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    kept: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    heading_words: list[tuple[float, float]] = field(default_factory=list)
    title_topics: list[tuple[float, float]] = field(default_factory=list)
    capitalized: set[str] = field(default_factory=set)
    lowercase: set[str] = field(default_factory=set)


def _count_headings(note: Note, w: float, registry: Registry, counts: _Counts) -> set[str]:
    """The names, prefixes, Regions and lengths of a note's headings; the services they name."""
    named: set[str] = set()
    for section in note.sections[1:]:
        spans = _spans(section.heading, registry)
        for start, end, key in spans:
            written = section.heading[start:end]
            prefix = _PREFIX.match(written)
            if prefix:
                counts.prefixes[key][prefix.group(1)] += w
            counts.names[key][_singular_name(_bare(written))] += w
            named.add(key)
        if spans:
            counts.heading_words.append((w, len(section.heading.split())))
        for short in _regions_named(section.heading):
            counts.regions[short] += w
    for short in _regions_named(note.description):
        counts.regions[short] += w / 2
    return named


def _singular_name(name: str) -> str:
    """A name as a heading starts with it: "ALBs" (the author's plural in "Certificates on
    ALBs") is ALB."""
    return name[:-1] if len(name) > 2 and name.endswith("s") and name[:-1].isupper() else name


def _count_pairs(note: Note, posts: Mapping[str, Linked], ids: Mapping[str, str], counts: _Counts) -> None:
    """Which words of an announcement's title the author kept in the heading of the section that
    links it alone."""
    for section in note.sections[1:]:
        held = {ids[link] for link in section.links if link in ids} & posts.keys()
        if len(held) != 1:
            continue
        post = posts[next(iter(held))]
        kept = set(heading_tokens(section.heading))
        for word in set(heading_tokens(post.title)):
            if word in kept:
                counts.kept[word] += 1
            else:
                counts.dropped[word] += 1


def _count_keywords(note: Note, w: float, concepts: set[str], registry: Registry, counts: _Counts) -> None:
    used: set[str] = set()
    for word in note.keywords:
        if word in ("aws", "amazon"):
            continue
        key = registry.resolve(word)
        if key is None and word in concepts:
            key = word  # a topic of the registry's services that is no entry of its own
        if key is not None:
            counts.keywords[key][word] += w
            used.add(key)
    for concept in concepts:
        counts.present[concept] += w
        counts.used[concept] += w * (concept in used)


KEYWORDS_UNLIMITED = 99
"""``keyword_count`` when the house style sets no limit (``digest.keywords_max = 0``)."""


def with_style(vocab: Vocabulary, *, keyword_count: int, keyword_aws: bool, description_words: int) -> Vocabulary:
    """The vocabulary with the house style's numbers (``style.HouseStyle``: learned from the
    notes or set by the author), the one place they are decided."""
    return dataclasses.replace(
        vocab,
        keyword_count=keyword_count or KEYWORDS_UNLIMITED,
        aws_rate=1.0 if keyword_aws else 0.0,
        description_words=description_words,
    )


def learn_vocabulary(
    notes: Sequence[Note],
    *,
    at: dt.datetime,
    registry: Registry,
    posts: Mapping[str, Linked] = {},
    link_ids: Mapping[str, str] = {},
) -> Vocabulary:
    """What the notes published before ``at`` say about the author's words. ``posts``: the
    archive's posts they link, by id; ``link_ids``: each link of the notes -> its post id."""
    counts = _Counts()
    earlier = [n for n in notes if n.date < at]
    for note in earlier:
        w = _weight(note, at)
        named = _count_headings(note, w, registry, counts)
        _count_pairs(note, posts, link_ids, counts)
        linked_posts = [posts[i] for link in note.links if (i := link_ids.get(link)) and i in posts]
        services = named | {p.services[0] for p in linked_posts if p.services}
        concepts = set(services)
        for key in services:
            concepts.update(registry.topics_of(key))
        for p in linked_posts:
            concepts.update(p.topics)
        if note.keywords:
            _count_keywords(note, w, concepts, registry, counts)
        if note.description:
            counts.capitalized.update(capitalized_words(note.description))
            counts.lowercase.update(lowercase_words([note.description]))
        counts.lowercase.update(lowercase_words(p.title for p in linked_posts))
        if note.topics:
            counts.title_topics.append((w, len(note.topics)))
    return _vocabulary(counts, registry, len(earlier))


def _best(spellings: Mapping[str, float]) -> str:
    return min(spellings.items(), key=lambda item: (-item[1], item[0]))[0]


def _rate(used: float, present: float, prior: float, notes: float = PRIOR_NOTES) -> float:
    return (used + prior * notes) / (present + notes)


def _vocabulary(counts: _Counts, registry: Registry, notes: int) -> Vocabulary:
    services = [k for k in counts.present if registry.is_service(k)]
    topics = [k for k in counts.present if not registry.is_service(k)]
    service_rate = _rate(
        sum(counts.used[k] for k in services), sum(counts.present[k] for k in services), PRIOR.service_rate
    )
    topic_rate = _rate(sum(counts.used[k] for k in topics), sum(counts.present[k] for k in topics), PRIOR.topic_rate)
    return Vocabulary(
        names={k: dict(v) for k, v in counts.names.items()},
        prefixes={k: _best(v) for k, v in counts.prefixes.items()},
        keywords={k: _best(v) for k, v in counts.keywords.items()},
        keyword_seen=dict(counts.present),
        keyword_used=dict(counts.used),
        service_rate=service_rate,
        topic_rate=topic_rate,
        heading_words=_blend(counts.heading_words, 0.8, PRIOR.heading_words, 2, 6),
        title_topics=_blend(counts.title_topics, 0.5, PRIOR.title_topics, 1, 3),
        regions=dict(counts.regions),
        dropped=frozenset(w for w, n in counts.dropped.items() if n >= 2 and not counts.kept.get(w)),
        capitalized=frozenset(counts.capitalized),
        lowercase=frozenset(counts.lowercase),
        notes=notes,
    )


# --- headings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    """A title taken apart: who (the service, as a heading names it), and what is new."""

    key: str
    name: str
    """The service's name as the heading writes it ("ECS"); empty when the title names none."""
    written: str
    """The name as the title wrote it ("Amazon Elastic Container Service")."""
    before: str
    """The title's words before the name ("Service Discovery for")."""
    after: str
    """... and after it ("Now Supports Docker Volumes")."""
    launch: bool
    """The title announces the service itself: new, in preview or generally available."""


def _lettered(name: str, *sources: str) -> str:
    """A name whose first word is one letter ("Q Developer") reads only with the prefix the
    sources give it: Amazon Q Developer."""
    first = name.split(" ", 1)[0]
    if len(first) != 1 or not first.isupper():
        return name
    for source in sources:
        prefix = _PREFIX.match(source)
        if prefix and _bare(source).split(" ", 1)[0] == first:
            return f"{prefix.group(1)} {name}"
    return name


def _name_length(words: Sequence[str]) -> int:
    """A name's words as the heading's length counts them: the prefix a one-letter name needs
    ("Amazon Q Business") is not one."""
    lettered = len(words) > 1 and _PREFIX.match(f"{words[0]} ") is not None and len(words[1]) == 1
    return len(words) - lettered


_OPEN_PAREN = re.compile(r"\s*\([^)]*$")
"""A bracket never closed (a title cut short): it and what follows go."""
_ACRONYM_AFTER = re.compile(r"\(([A-Za-z0-9]{2,8})\)")
_WORD = re.compile(r"[^\s()]+")


def _initials(words: Sequence[str]) -> str:
    """ "Internet Protocol version 6" -> IPV6, "Bring Your Own IP" -> BYOIP, "Sign-On" -> SO."""
    parts = [part for word in words for part in word.split("-") if part]
    return "".join(p if p.isupper() or p.isdigit() else p[0] for p in parts).upper()


def _acronyms(text: str) -> str:
    """A long form followed by its acronym, said by the acronym as people write it ("Internet
    Protocol Version 6 (IPv6)" -> IPv6, "Model Context Protocol (MCP)" -> MCP); never a service's
    own name ("AWS Resource Access Manager (RAM)" stays: the name is how the service is found)."""
    for found in reversed(list(_ACRONYM_AFTER.finditer(text))):
        acronym = found.group(1)
        if not any(c.isupper() for c in acronym):
            continue
        words = list(_WORD.finditer(text[: found.start()]))
        for size in range(2, min(6, len(words)) + 1):
            span = words[-size:]
            if _initials([w.group() for w in span]) != acronym.upper():
                continue
            if len(words) > size and words[-size - 1].group().lower() in ("amazon", "aws"):
                break
            text = text[: span[0].start()] + acronym + text[found.end() :]
            break
    return text


def clean_title(title: str) -> tuple[str, bool]:
    """A title without press wording, parentheticals or a trailing "- Generally Available"; and
    whether it said the thing is generally available or new."""
    # Brackets first: a dash inside them ("(based on VS Code – Open Source)") is not the title's.
    text = _OPEN_PAREN.sub("", _PARENS.sub("", _acronyms(_SPACES.sub(" ", title).strip().rstrip(".!"))))
    launch = False
    parts = [p for p in _DASHES.split(text) if p.strip()]
    kept = [p for p in parts if not _PRESS_PART.match(_PARENS.sub("", p).strip())]
    launch = len(kept) < len(parts)
    text = kept[0] if kept else text
    for _ in range(2):
        stripped = _PRESS.sub("", text)
        launch = launch or stripped != text
        text = stripped
    ga = _GA.search(text)
    if ga:
        text = (text[: ga.start()] + " " + text[ga.end() :]).strip()
    return _SPACES.sub(" ", text).strip(" ,;:-"), launch or ga is not None


def _subject_span(text: str, story: Story, names: ServiceNames, vocab: Vocabulary) -> tuple[int, int, str] | None:
    """Where the title names the story's service (else another service, at its start): where it
    names it as the author does first ("Application Load Balancer" for ALB)."""
    spans = _spans(text, names.registry)
    wanted = [k for k in (story.service, *story.services) if k]
    for key in wanted:
        mine = [s for s in spans if s[2] == key]
        authors = [s for s in mine if any(_same_name(n, text[s[0] : s[1]]) for n in vocab.names.get(key, {}))]
        if authors or mine:
            return _with_part((authors or mine)[0], spans, text, names.registry)
    for key in wanted:  # a name the registry's matcher does not hold: the short one, a fallback
        for name in names.all_names(key):
            match = re.search(r"(?<![\w@])((amazon|aws)\s+)?" + re.escape(name) + r"(?![\w@])", text, re.I)
            if match and (match.group(0)[:1].isupper() or not name[:1].isupper()):
                return (match.start(), match.end(), key)
    if spans and len(text[: spans[0][0]].split()) <= 1:
        return _with_part(spans[0], spans, text, names.registry)
    return None


def _with_part(
    span: tuple[int, int, str], spans: Sequence[tuple[int, int, str]], text: str, registry: Registry
) -> tuple[int, int, str]:
    """A name followed at once by a part of it ("Systems Manager Session Manager", "Lambda
    SnapStart"): the two as one subject."""
    for other in spans:
        if other[0] > span[1] and not text[span[1] : other[0]].strip():
            entry = registry.get(other[2])
            if other[2] == span[2] or (entry is not None and span[2] in entry.part_of):
                return (span[0], other[1], span[2])
    return span


def subject(story: Story, names: ServiceNames, vocab: Vocabulary) -> _Subject:
    """Who the story is about and what the title says is new."""
    text, said_launch = clean_title(story.primary.title)
    span = _subject_span(text, story, names, vocab)
    kinds_launch = story.kind in ("new-service", "general-availability", "preview")
    if span is None:
        words = text.split()
        verb = _find_verb(words[1:6])
        named = [w for w in words[: (verb or 0) + 1] if w.lower() not in _AUXILIARY]
        if verb is not None and named and all(w[:1].isupper() for w in named):  # "Comprehend launches ..."
            name = _bare(" ".join(named))
            return _Subject("", name, name, "", " ".join(words[verb + 1 :]), False)
        key = story.service if story.service and names.known(story.service) else ""
        name = vocab.name(key, names.short(key), names) if key else ""
        return _Subject(key, name, "", text, "", kinds_launch and not text)
    start, end, key = span
    written = text[start:end]
    name = _subject_name(key, written, names, vocab)
    before, after = text[:start].strip(), text[end:].strip()
    label = re.match(r"^[^:]+:\s+(.+)$", _SPACES.sub(" ", story.primary.title).strip().rstrip(".!"))
    if not before and not after and label and not said_launch and not _PRESS_PART.match(label.group(1)):
        after = clean_title(label.group(1))[0]  # "Elastic Load Balancing: Account Limits API": what follows the label
    rest = [w for w in _words(before + " " + after) if w.lower() not in _FILLERS and w.lower() not in _VERBS]
    lead = [w for w in _words(before) if w.lower() not in _FILLERS | _VERBS | {"amazon", "aws"}]
    launch = ((kinds_launch or said_launch) and not rest) or (story.kind == "new-service" and not lead)
    return _Subject(key, name, written, before, after, launch)


def _subject_name(key: str, written: str, names: ServiceNames, vocab: Vocabulary) -> str:
    """The name of a subject; a service and its part as the author would write them ("Lambda
    SnapStart"; "Session Manager" where the two would be too long)."""
    spans = [s for s in _spans(written, names.registry) if s[2] == key]
    if len(spans) < 2:
        return vocab.name(key, written, names)
    parent = vocab.name(key, written[spans[0][0] : spans[0][1]], names)
    part = _bare(written[spans[-1][0] : spans[-1][1]])
    if _same_name(part, parent) or part.lower().startswith(parent.lower() + " "):
        return part if len(part) > len(parent) else parent  # "S3 S3 Batch Operations": the name once
    both = f"{parent} {part}"
    return both if len(both.split()) <= 3 else part


def _is_gerund(word: str) -> bool:
    low = word.lower()
    return len(low) > 4 and low.endswith("ing") and word[:1].islower()


_NUMBERS = frozenset("two three four five six seven eight nine ten dozens several many".split())  # noqa: SIM905
_PAIRING = frozenset({"integration", "integrations", "interoperability"})
"""Words that say nothing alone but with what they pair ("integration with S3")."""
_SAYS_LITTLE = (
    _GENERIC_TAIL | _FILLERS | _PAIRING | _NUMBERS | {"changes", "change", "additions", "update", "increases"}
)
"""What is new when the words before a connector are only these is what comes after ("changes to X")."""
_OF_WHAT = frozenset({"launch", "release", "introduction", "availability", "use", "addition", "number", "set"})
"""Words of "the launch of X": what is new is X."""
_LEAD = frozenset({"is", "are", "be", "been", "available", "generally", "of", "for"})


def _strip_lead(words: list[str]) -> list[str]:
    """Fillers off the front of what is new: "the ability to", "support for", "new", "you to
    create and orchestrate" (a verb of an instruction goes with its "to")."""
    while words:
        low = _bare_word(words[0]).lower()
        if (low in _FILLERS and words[0] != "More") or low in _LEAD:
            words = words[1:]
        elif low == "to" and len(words) > 2:  # "to assign IAM permissions": the verb goes too
            words = words[2:]
        elif low in ("and", "or") and len(words) > 2 and words[1][:1].islower():
            words = words[2:]  # "... create and orchestrate tasks": the second verb too
        elif re.fullmatch(r"\d+", words[0]) and len(words) > 1 and not re.match(r"\d", words[1]):
            words = words[1:]  # "25 new controls"
        elif _is_gerund(words[0]) and len(words) >= 3 and _bare_word(words[1]).lower() not in _CUT:
            words = words[1:]  # "testing web apps on Edge": what is tested
        elif low in ("it", "it's", "it’s") and _easier_to(words) is not None:
            words = words[_easier_to(words) or 0 :]  # "(makes) it easier for you to send logs": the logs
        elif low == "up" and len(words) > 3 and words[1].lower() == "to":
            words = words[3:]  # "up to 50 outputs per flow"
        elif low in _NUMBERS and len(words) > 1:
            words = words[1:]  # "five new features"
        elif low in _OF_WHAT and len(words) > 2 and words[1].lower() == "of":
            words = words[2:]  # "the launch of hosted configurations"
        elif low in _PARTICIPLES - _ADJECTIVAL and len(words) > 1 and (words[0].islower() or words[1].lower() in _CUT):
            words = words[2:] if words[1].lower() in _CUT else words[1:]  # "(is now) supported on MySQL 5.7"
        else:
            break
    return words


def _easier_to(words: Sequence[str]) -> int | None:
    """Where what is new starts after "it easier (for you) to VERB": past the verb."""
    if len(words) < 4 or not {w.lower() for w in words[1:3]} & _EASIER:
        return None
    to = next((i for i, w in enumerate(words[2:8], start=2) if w.lower() == "to"), None)
    return to + 2 if to is not None and to + 2 < len(words) else None


def _cut(words: list[str]) -> list[str]:
    """What is new up to the first word that says for what, where or how: "Docker Volumes" of
    "Docker Volumes and Volume Plugins", "Target Tracking Available" of "... for Container Service";
    past words that say nothing alone ("improvements to detection" -> detection)."""
    out = words
    for i, word in enumerate(words):
        low = _bare_word(word).lower()
        if i == 0:
            if word.endswith((",", ";", ":")) and not any(start == 0 for start, _ in model_lists(words)):
                out = [_bare_word(word)]
                break
            continue
        previous = _bare_word(words[i - 1]).lower()
        if _in_model_list(words, i):
            continue  # "gp3 and io1 volumes", "C8gd, M8gd, and R8gd": a list of models is one thing
        if (
            low in _CUT
            or (low in ("and", "&", "or") and (i >= 2 or (previous.endswith("s") and not previous.endswith("ss"))))
            or (low == "up" and i + 1 < len(words) and words[i + 1].lower() == "to")  # "rates up to 50%"
        ):
            out = words[:i]
        elif word.endswith((",", ";", ":")):
            out = [*words[:i], _bare_word(word)]
        else:
            continue
        if all(_bare_word(w).lower() in _SAYS_LITTLE for w in out) and len(words) > i + 1:
            pairing = [_bare_word(w) for w in out if _bare_word(w).lower() in _PAIRING]
            rest = _cut(_strip_lead(words[i + 1 :]))
            return [*rest, *pairing[-1:]] if low == "with" and rest else rest  # "integration with S3": S3 Integration
        break
    return [w if _listed(out, i) else _bare_word(w) for i, w in enumerate(out)]


_VERSION = re.compile(r"^v?\d+(\.[\dx]+)*$", re.I)


def _model_word(word: str) -> bool:
    """A model's name with letters and digits ("gp3", "R7i", "M6idn", "L40S"), not a version."""
    bare = _bare_word(word)
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]*\d[A-Za-z0-9.-]*", bare)) and not _VERSION.match(bare)


def model_lists(words: Sequence[str]) -> list[tuple[int, int]]:
    """The spans (start, end) of the lists of models a phrase names ("gp3 and io1", "C8gd, M8gd,
    and R8gd"): two models or more joined by commas, "and" or "or"."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        if not _model_word(words[i]):
            i += 1
            continue
        end, j = i + 1, i
        while j < len(words):
            comma = words[j].endswith(",")
            k = j + 1
            if k < len(words) and words[k].lower() in ("and", "or", "&"):
                k += 1
            elif not comma and end - i == 1:
                break  # "Graviton3 R7g and Graviton4 R8g": side by side inside a list
            if k < len(words) and _model_word(words[k]):
                end, j = k + 1, k
            else:
                break
        if end - i > 1:
            spans.append((i, end))
        i = max(end, i + 1)
    return spans


def _listed(words: Sequence[str], i: int) -> bool:
    """Whether a word is a model of a list whose comma stays ("C8gd, M8gd, and R8gd")."""
    after = words[i + 1] if i + 1 < len(words) else ""
    return words[i].endswith(",") and _model_word(words[i]) and (_model_word(after) or after in ("and", "or"))


def _in_model_list(words: Sequence[str], i: int) -> bool:
    """Whether the word at ``i`` (a connector, or a model after a comma) is inside a list of models."""
    return any(start < i < end for start, end in model_lists(words))


def _versions(words: list[str]) -> list[str]:
    """ "Next.js version 11" -> Next.js 11: the version belongs to what it numbers."""
    return [
        w
        for i, w in enumerate(words)
        if not (w.lower() == "version" and i + 1 < len(words) and _VERSION.match(words[i + 1]))
    ]


def _find_verb(words: Sequence[str], *, right_after: bool = False) -> int | None:
    """Where the verb of a title is, among its first words; ``right_after`` its subject, a
    lowercase word in -s first is one too ("signs", "writes": a sentence-case title's verbs)."""
    for i, word in enumerate(words[:8]):
        low = _bare_word(word).lower()
        if low in _VERBS or (i > 0 and low in ("is", "are")):
            return i
        if i > 0 and word.islower() and _third_person(low) != low and re.search(r"[a-z]s$", words[i - 1]):
            return i  # "(S3) Access Points simplify permissions": a plural name's verb
    low = _bare_word(words[0]).lower() if words else ""
    if (
        right_after
        and len(words) > 1  # a last word is a noun: "... AWS Lambda functions"
        and words[0].islower()
        and len(low) > 3
        and low.endswith("s")
        and not low.endswith(("ss", "us", "is"))
        and _bare_word(words[1]).lower() not in _CUT | CONNECTORS  # "instances with ...": a noun
    ):
        return 0  # "signs", "writes": a sentence-case title's verb right after the name
    if right_after and len(words) > 1 and words[0].islower() and _third_person(low) != low:
        return 0  # "(S3 Access Grants) simplify authentication": a plural name's verb
    return None


_BASE_NOUNS = frozenset(
    """update release set run use track tag log filter route scan sign preview transfer cut speed store show
    read write import export scale return record support add launch""".split()  # noqa: SIM905
)
"""Verbs in their base form that are nouns as often ("update", "release"): never read as a verb."""


def _third_person(verb: str) -> str:
    """A verb's -s form when it is a title's verb in its base form after a plural subject
    ("simplify" -> simplifies, "provide" -> provides), else the word itself."""
    if verb in _BASE_NOUNS or not verb.isalpha() or len(verb) < 4:
        return verb
    for form in (verb + "s", verb + "es", verb[:-1] + "ies" if verb.endswith("y") else ""):
        if form and (form in _VERBS or form in _CHANGE or form in _ACTION):
            return form
    return verb


_SAYS_NOTHING = frozenset(
    """supports support adds add introduces announces launches offers provides enables allows lets brings gains
    gets releases delivers unveils includes has expands extends can now""".split()  # noqa: SIM905
)
"""Verbs that only say something is new: a heading does without them ("Lambda Go")."""
_CHANGE = {
    **dict.fromkeys(("increases", "raises", "boosts", "doubles", "triples", "quadruples"), "Higher"),
    **dict.fromkeys(("reduces", "lowers", "cuts", "decreases"), "Lower"),
    **dict.fromkeys(("improves", "enhances", "strengthens", "refines"), "Improved"),
    **dict.fromkeys(("accelerates", "speeds"), "Faster"),
    **dict.fromkeys(("simplifies", "streamlines", "eases"), "Simpler"),
    "automates": "Automated",
    "redesigns": "Redesigned",
    "refreshes": "Refreshed",
}
"""Verbs that change something, as the word a noun phrase says it with ("EKS Higher Limits")."""
_CHANGE_WORDS = frozenset(w.lower() for w in _CHANGE.values()) | {"more"}
_LEVELS = frozenset({"limits", "quotas", "rates", "speeds", "sizes", "resolutions", "ceilings", "iops"})
"""Plurals that are raised, not added to: "Higher Limits", but "More Clusters"."""
_CHANGED = {"increased": "Higher", "raised": "Higher", "reduced": "Lower", "lowered": "Lower", "improved": "Improved"}
"""... and as participles ("quotas have increased")."""
_ACTION = {
    "encrypts": "Encryption",
    "signs": "Signing",
    "monitors": "Monitoring",
    "tracks": "Tracking",
    "detects": "Detection",
    "validates": "Validation",
    "protects": "Protection",
    "generates": "Generation",
    "exports": "Export",
    "imports": "Import",
    "migrates": "Migration",
    "replicates": "Replication",
    "schedules": "Scheduling",
    "scans": "Scanning",
    "tags": "Tagging",
    "filters": "Filtering",
    "routes": "Routing",
    "logs": "Logging",
    "integrates": "Integration",
}
"""Verbs whose action is what is new, as the noun after their object ("CloudFront Request Signing")."""
_NOMINALS = frozenset(n.lower() for n in _ACTION.values()) | _PAIRING
"""The nouns a heading adds after what is new, first to go when there is no room."""
_PREDICATES = {
    "eligible": "Eligibility",
    "compliant": "Compliance",
    "certified": "Certification",
    "qualified": "Qualification",
    "assessed": "Assessment",
    "authorized": "Authorization",
    "validated": "Validation",
    "accredited": "Accreditation",
    "approved": "Approval",
}
"""What a title says a service now is, as the noun a heading says it with ("HIPAA Eligibility")."""
_PARTICIPLES = frozenset(
    """supported added updated published included deployed integrated launched released enabled expanded
    increased improved created defined generated stored hosted focused allowed required announced unveiled
    relaunched aligned shared extended introduced offered provided delivered built designed managed optimized
    powered based used consumed needed selected specified""".split()  # noqa: SIM905
)
"""Participles that only say something happened to what is new ("Windows Nodes Supported")."""
_ADJECTIVAL = frozenset({"managed", "optimized", "powered", "based", "shared", "designed", "built"})
"""... except before a noun, where they say which one ("managed node groups")."""
_EASIER = frozenset({"easier", "easy", "simpler", "simple", "faster", "possible", "cheaper", "quicker"})
"""Words of "makes it easier to ...": what is new is what comes after."""
_QUALIFIERS = frozenset({"compatibility", "edition", "compatible"})
"""Words of a name's qualifier a heading does without ("with PostgreSQL Compatibility" -> PostgreSQL)."""
_AUXILIARY = frozenset({"now", "also", "can", "is", "are", "'s", "’s"})


def _instruction(words: list[str]) -> list[str]:
    """A title written as an instruction without its verbs ("Now add endpoint policies to ...",
    "Discover, review, and remediate ...")."""
    while len(words) > 1 and (
        _bare_word(words[0]).lower() in _IMPERATIVES
        or (words[0].lower() in ("and", "or") and _bare_word(words[1]).lower() in _IMPERATIVES)
    ):
        words = words[1:]
    return words


def _before(subj: _Subject) -> list[str]:
    """The words before the name that say what is new: "Service Discovery" of "Service Discovery
    for", "price reduction" of "AWS announces a price reduction of up to 56% for"."""
    before = [w for w in _words(subj.before) if _bare_word(w).lower() not in ("amazon", "aws")]
    while len(before) > 1 and before[0].lower() in _YOU_CAN_NOW:
        before = before[1:]  # "Customers can now find, subscribe to, and deploy ..."
    verb = _find_verb(before)
    if verb is not None and _bare_word(before[verb]).lower() not in ("support", "update", "updates"):
        before = before[verb + 1 :]
    if before and _bare_word(before[0]).lower() in _IMPERATIVES:
        before = _instruction(before) if len(before) > 1 else []
    while before and _bare_word(before[-1]).lower() in _CUT | _STATE_END:
        before = before[:-1]  # "8K encoding now available with": the encoding
    if all(_bare_word(w).lower() in {"launch", "release", "introduction", "the", "a", "an", "new"} for w in before):
        return []  # "announces the launch of Comprehend Events": what is new is after the name
    return _strip_lead(before)


_BE = frozenset({"is", "are", "be", "been", "was", "were"})
_STATE_END = frozenset({"now", "available", "generally", "is", "are", "supported"})


def _singular(word: str) -> str:
    """ "requests" -> request, "policies" -> policy: a noun before another one."""
    low = word.lower()
    if not word.islower() or len(low) < 4 or low.endswith(("ss", "us", "is")) or not low.endswith("s"):
        return word
    return word[:-3] + "y" if low.endswith("ies") else word[:-1]


def _nominal(verb: str, obj: list[str]) -> list[str]:
    """A verb and its object as a noun phrase: "increases limits" -> Higher Limits, "signs
    requests" -> Request Signing, "achieves HIPAA eligibility" -> HIPAA Eligibility."""
    while obj and obj[0].lower() in CONNECTORS:
        obj = obj[1:]  # "integrates with EventBridge"
    if verb in _CHANGE:
        more = _CHANGE[verb] == "Higher" and obj and obj[-1].lower().endswith("s") and obj[-1].lower() not in _LEVELS
        return ["More" if more else _CHANGE[verb], *obj]  # "More Clusters", "Higher Limits"
    if verb in _ACTION and obj:
        return [*obj[:-1], _singular(obj[-1]), _ACTION[verb]]
    return obj


def _modal(after: list[str], at: int) -> list[str]:
    """What is new in "quotas can now be managed ..." (the quotas) or "customers can now use
    ED25519 keys" (the keys: the verb after "can" goes with it)."""
    extension = [w for w in after[:at] if w.lower() not in _AUXILIARY and w.lower() not in _FILLERS]
    rest = [w for w in after[at + 1 :] if w.lower() not in ("now", "also")]
    if not rest or rest[0].lower() in ("be", "been"):
        return _cut(extension)
    return _cut(_strip_lead(rest[1:]))


def _what(subj: _Subject, room: int) -> list[str]:
    """The title's words that say what is new: the object of its verb (after the named part of
    the service before the verb: "Global Database"), else the words around the name."""
    after = _words(subj.after)
    modal = next((i for i, w in enumerate(after[:6]) if w.lower() in ("can", "will")), None)
    verb = _find_verb(after)
    if modal is not None and (verb is None or modal < verb):
        return _modal(after, modal)
    while after and after[0].lower() in _AUXILIARY:
        after = after[1:]
    if 1 < len(after) <= 8 and _bare_word(after[-1]).lower() in _PREDICATES and _find_verb(after) is None:
        return [w for w in map(_bare_word, after) if w.isalpha() and w.lower() not in CONNECTORS]  # SOC Compliance
    verb = _find_verb(after, right_after=True)
    if verb is not None:
        extension = [w for w in after[:verb] if w.lower() not in _AUXILIARY]
        if extension and after[verb].lower() in ("is", "are", "has", "have"):  # "controllers ... are now available"
            done = next((w.lower() for w in after[verb + 1 :] if w.lower() not in ("now", "also", "been")), "")
            return ([_CHANGED[done]] if done in _CHANGED else []) + _cut(extension)  # "quotas have increased"
        obj = _cut(_strip_lead(after[verb + 1 :]))
        said = _third_person(_bare_word(after[verb]).lower())
        if not extension and said not in _SAYS_NOTHING:
            return _nominal(said, obj)  # "increases limits": the verb is half of what is new
        if extension and extension[0].lower() in ("and", "&"):
            return obj  # "ECS and Fargate add Windows containers": another subject, not what is new
        if extension and len(extension) <= 3 and all(not w[:1].islower() or w in CONNECTORS for w in extension):
            extension = [w for w in extension if w not in CONNECTORS and w.lower() not in _QUALIFIERS]
            return extension + (obj if obj and len(obj) <= room - len(extension) else [])
        return obj
    words = [w for w in _words(subj.before) if _bare_word(w).lower() not in ("the", "a", "an")]
    ends_on_connector = bool(words) and _bare_word(words[-1]).lower() in _CUT
    significant = [w for w in after if _bare_word(w).lower() not in _GENERIC_TAIL]
    trailing_noun = len(significant) == 1 and significant[0].islower()  # "... AWS Lambda functions"
    if words and _bare_word(words[0]).lower() in _IMPERATIVES and len(significant) >= 2:
        return _strip_lead(after)  # "Optimize cost with EFS Infrequent Access": what it is done with
    said_little = bool(_before(subj)) and all(_bare_word(w).lower() in _SAYS_LITTLE for w in _before(subj))
    if said_little and significant and _bare_word(after[0]).lower() not in _CUT:
        return _strip_lead(after)  # "enhancements to Rekognition text detection": the text detection
    if _before(subj) and (
        ends_on_connector or not significant or trailing_noun or _bare_word(after[0]).lower() in _CUT
    ):
        return _before(subj)
    if after and after[0].lower() in ("with", "for", "on"):
        return _strip_lead(after[1:])
    return _strip_lead(after)


_NOT_ADVERBS = frozenset(
    """family assembly anomaly supply reply italy july rally ally fly only early daily weekly monthly
    quarterly hourly yearly friendly""".split()  # noqa: SIM905
)


def _adverb(words: Sequence[str]) -> bool:
    """Whether a phrase ends on an adverb that says how, not what ("Sort Keys Dynamically")."""
    low = words[-1].lower()
    if len(words) > 1 and low in ("even", "still", "again", "further", "too"):
        return True  # "Text Even (More Accurately)"
    return len(words) > 1 and len(low) > 5 and low.endswith("ly") and low.isalpha() and low not in _NOT_ADVERBS


def _participle(words: Sequence[str]) -> bool:
    """Whether a phrase ends on a participle that says only that something happened to it."""
    return len(words) > 1 and words[-1].lower() in _PARTICIPLES


def _noun_phrase(
    words: list[str],
    budget: int,
    vocab: Vocabulary,
    taken: Iterable[str],
    *,
    prefixed: frozenset[str] = frozenset(),
    spare: int = 1,
) -> list[str]:
    """What is new as a noun phrase of at most ``budget`` words, its head kept: English noun
    phrases end on their head ("Agentless Network Assessments" -> Network Assessments)."""
    words = _versions(_cut(_strip_lead(words)))
    words = [
        w
        for i, w in enumerate(words)
        if not (w.lower() == "service" and words[i + 1 :][:1] and words[i + 1].lower() in _PAIRING)
    ]  # "EMR service integration": EMR Integration
    while words and (
        words[-1].lower() in _GENERIC_TAIL | CONNECTORS | _FILLERS | _BE or _participle(words) or _adverb(words)
    ):
        words = words[:-1]
    if words and words[-1].lower() in _PREDICATES:
        words = [*words[:-1], _PREDICATES[words[-1].lower()]]  # "HIPAA eligible" -> HIPAA Eligibility
    name = [w.lower() for w in taken]
    if name and [w.lower() for w in words[: len(name)]] == name:
        words = words[len(name) :]  # "S3 Batch Operations" after "S3": the name once
    kept: list[str] = []
    for i, word in enumerate(words):
        low = word.lower()
        if " ".join(words[i : i + 2]).lower() in prefixed:
            kept.append(word)  # "Amazon Linux": the prefix is part of the name
        elif low not in ("amazon", "aws", "aws's") and low not in (k.lower() for k in kept) and low not in name:
            kept.append(word)  # a word of the name again reads as a doubled name ("API Gateway API ...")
    if len(kept) == 1 and words and words[-1].lower() in name and kept[-1] != words[-1] and _adjective(kept[0]):
        kept = []  # "public (access)" after "IAM Access Analyzer": a modifier without its head says nothing
    learned = [w for i, w in enumerate(kept) if w.lower() not in vocab.dropped or _numbered(kept, i)]
    words = _trim(_no_verbs(learned or kept))
    if len(words) > budget and words[-1].lower() in _NOMINALS and words[-budget - 1][:1].isupper():
        words = words[:-1]  # "Certificate Manager Integration": the name whole, without the noun of its action
    if len(words) > budget:
        words = _budget(words, budget, spare)
    return words


_LOW_INFO = frozenset(
    """instance instances type types size sizes endpoint endpoints location locations capabilities features
    functionality management options""".split()  # noqa: SIM905
)
"""Words a heading says least with: the kind of thing, when the name of it is there ("I3en
Instances"), or when the service's name and the Region say the news ("Direct Connect Location")."""


def _model(word: str) -> bool:
    """Whether a word names a model or product by itself ("I3en", "C5", "AMD"), not a kind of thing."""
    bare = _bare_word(word)
    return (any(c.isdigit() for c in bare) and any(c.isalpha() for c in bare)) or (len(bare) > 1 and bare.isupper())


_UNNAMING = frozenset({"minor", "major", "version", "versions", "release", "releases", "new", "latest", "gbps"})
"""Capitalized words before a number that are not its name ("Minor 11.5": the version is the news)."""


_ADJECTIVE_ENDINGS = ("ic", "al", "ous", "ive", "ed", "able", "ible", "ful", "less", "ary", "ent", "ant")


def _adjective(word: str) -> bool:
    """Whether a lowercase word reads as an adjective ("public", "continuous"), not as a noun
    that can stand as a modifier alone ("desktop")."""
    return word.islower() and len(word) > 3 and word.endswith(_ADJECTIVE_ENDINGS)


def _numbered(words: Sequence[str], i: int) -> bool:
    """Whether a word is the name of the number after it ("Route 53", "Beta 1"): never torn from it."""
    return (
        i + 1 < len(words)
        and words[i][:1].isupper()
        and words[i].lower() not in _UNNAMING
        and bool(re.fullmatch(r"\d+(\.\d+)*", words[i + 1]))
    )


_NOUN_TOO = frozenset(
    """updates releases sets stores runs shows uses reads writes tracks scales imports exports gains tags logs
    filters routes scans signs previews transfers cuts speeds""".split()  # noqa: SIM905
)
"""Words in -s of ``_VERBS`` and ``_ACTION`` that are nouns as often ("Release Updates", "Flow Logs")."""


def _no_verbs(words: list[str]) -> list[str]:
    """A phrase without the verbs a title left in it: what follows a verb is what is new, and a
    verb that changes something is the word a noun phrase says it with ("expands availability
    and streamlines ordering" -> Simpler Ordering); a verb at the end goes; a word that is a noun
    as often stays ("Release Updates")."""
    out: list[str] = []
    for i, word in enumerate(words):
        low = _bare_word(word).lower()
        if low in _NOUN_TOO or not low.endswith("s") or low not in _VERBS | set(_CHANGE):
            out.append(word)
        elif i + 1 < len(words):  # what follows the verb is what is new: "... supports data import"
            out = [_CHANGE[low]] if low in _CHANGE else []
        elif out and out[-1].lower() == "now":
            out.pop()  # "EMR 5.32 now supports"
    return out if out else words


def _budget(words: list[str], budget: int, spare: int = 1) -> list[str]:
    """The last ``budget`` words of a phrase (its head), not starting inside a name: a number
    that ends it keeps the word it numbers ("Route 53"), a modifier the compound it opens
    ("Software Defined Radios", "Bring Your Own IP"); one word over the budget for that, else
    nothing of it ("53 Aliasing" -> Aliasing). A list of models is kept whole or left out, a name
    the cut would start inside whole, when ``spare`` words over the budget hold them."""
    last = len(words) - 1
    start = len(words) - budget
    for first, end in model_lists(words):
        if first < start < end:  # "gp3 and io1": both models or neither
            if len(words) - first <= budget + spare:
                return _trim(words[first:])
            if end - first <= budget + spare and all(w.lower() in _LOW_INFO for w in words[end:]):
                return words[first:end]  # "OR2 and OM2 (instances)": the models say the kind
            rest = words[:first] + words[end:]
            return _budget(rest, budget, spare) if len(rest) > budget else _trim(rest)
    while start > 0 and ((_numbered(words, start - 1) and start == last) or _opens_compound(words, start)):
        start -= 1  # "Route 53" as the phrase's head; "Software Defined Radios"
    if len(words) - start > budget + 1:
        start = len(words) - budget
    named = _name_run(words, start)
    if named is not None and len(words) - named <= budget + spare:
        start = named  # "Block Device Mapping Overrides", "Game Server Wrapper": a name whole
    while start < last and (_VERSION.match(words[start]) or _opens_compound(words, start)):
        start += 1  # "53 Aliasing", "Defined Radios": the head without the torn piece
    return _trim(words[start:])


_POSSESSIVES = frozenset({"own", "your", "my", "our"})


def _name_run(words: Sequence[str], i: int) -> int | None:
    """Where the name a phrase cut at ``i`` would start inside begins: a run of capitalized words
    in a phrase that writes its other words in lowercase ("Mail Manager Archives" of "... to Mail
    Manager Archives", "NIST SP 800-171 Revision 2"), else None."""

    def named(word: str) -> bool:
        return word[:1].isupper() or (bool(re.search(r"\d", word)) and not word.isdigit())

    lower = any(w.isalpha() and w.islower() and w.lower() not in CONNECTORS for w in words)
    if not (lower and 0 < i < len(words) and named(words[i]) and named(words[i - 1])):
        return None
    if words[i - 1].lower() in _CHANGE_WORDS | _UNNAMING or _bare_word(words[i - 1]).lower() in _VERBS:
        return None
    if _model_word(words[i]):
        return None  # "(EC2) P5en Instances": a model is a name of its own
    while i > 0 and named(words[i - 1]) and words[i - 1].lower() not in _CHANGE_WORDS | _UNNAMING:
        i -= 1
    return i


def _opens_compound(words: Sequence[str], i: int) -> bool:
    """Whether a phrase cut at ``i`` would start on the inside of a compound: a participle or a
    possessive after a capitalized word ("Software Defined", "Bring Your Own")."""
    low, previous = words[i].lower(), words[i - 1].lower() if i > 0 else ""
    inside = low in _POSSESSIVES or (len(low) > 4 and low.endswith("ed") and "-" not in low and low not in _CHANGED)
    return (
        inside
        and words[i][:1].isupper()  # a capitalized run is a name: "the last used timestamp" is none
        and words[i - 1][:1].isupper()
        and not (words[i - 1].isupper() or re.search(r"\d", words[i - 1]))  # "EC2 Dedicated Hosts": a name before
        and previous not in _IMPERATIVES | _VERBS | _CHANGE_WORDS | _UNNAMING  # "Take Certified", "Improved Automated"
        and i + 1 < len(words)
    )


def _trim(words: list[str]) -> list[str]:
    """A phrase without connectors at either end."""
    while words and words[0].lower() in CONNECTORS:
        words = words[1:]
    while words and words[-1].lower() in CONNECTORS:
        words = words[:-1]
    return words


def _title_case(word: str) -> str:
    """A heading's word with its capital ("Blue/Green", "Same-Region"); connectors and words
    with capitals of their own as they are."""
    if word.lower() in CONNECTORS or any(c.isupper() for c in word[1:]) or re.match(r"v\d", word):
        return word  # "gRPC", "iOS": capitals of their own; "v2.0" a version
    if re.search(r"\d", word) and re.match(r"[a-z]+\d", word):
        return word  # "gp3", "io1", "r7g": a model's name in its own case
    return re.sub(r"(^|[-/])([a-z])", lambda m: m.group(1) + m.group(2).upper(), word) if word[:1].islower() else word


_SHARED_SHORT = frozenset(
    s for s in (r.short for r in REGIONS.values()) if sum(r.short == s for r in REGIONS.values()) > 1
)


def region_name(code: str) -> str:
    """A Region as a heading names it: Sydney; GovCloud for either GovCloud Region; the country
    where the short name is shared ("Canada", not "Central")."""
    region = REGIONS.get(code)
    if region is None:
        return code
    if region.name.startswith("AWS GovCloud"):
        return "GovCloud"
    return region.name.split(" (")[0] if region.short in _SHARED_SHORT else region.short


_REGION_STOP = frozenset(
    {"in", "to", "into", "available", "expands", "expand", "launches", "now", "is", "are", "arrives", "globally"}
)
_REGION_WORDS = frozenset(
    {w.lower() for r in REGIONS.values() for w in re.findall(r"[\w.]+", r.name)}
    - CONNECTORS
    - {"aws"}
    - {"cloud", "sovereign"}
) | {"region", "regions", "regional", "expansion", "worldwide", "globally"}
"""Words that say where, not what: a Region expansion names its Region once ("Asia Pacific", "regional")."""


def _region_heading(story: Story, subj: _Subject, vocab: Vocabulary, budget: int) -> str:
    """A Region expansion: the service (and what of it) in the Region the author cares for."""
    text = story.primary.title
    named = sorted(
        {region_name(code) for code in story.regions},
        key=lambda name: (-vocab.regions.get(name, 0.0), text.find(name) if name in text else len(text), name),
    )
    where = f"in {named[0]}" if named else "in More Regions"
    words = _words(subj.after)
    verb = _find_verb(words, right_after=True)
    if words and (verb == 0 or (verb is not None and words[0].lower() in ("and", "&"))):
        words = words[verb + 1 :]  # "supports PostgreSQL 11.7 in GovCloud", "and RDS for SQL Server support R5b"
    for i, word in enumerate(words):
        if _bare_word(word).lower() in _REGION_STOP:
            words = words[:i]
            break
    words = [w for w in words if _bare_word(w).lower() not in _REGION_WORDS]
    length = _name_length(subj.name.split())
    what = _noun_phrase(words, max(1, budget - length - 1), vocab, subj.name.split(), spare=0)
    room = budget + 1 - length - len(where.split())  # the Region counts: "Fargate in Sydney"
    shed = [w for w in what if w.lower() not in _LOW_INFO]
    if len(what) > max(0, room) and (not shed or (len(shed) <= room and (len(shed) > 1 or _model(shed[0])))):
        what = shed  # "EC2 I3en Instances in N. California" -> EC2 I3en; "Direct Connect Location" -> Direct Connect
    return _tidy(" ".join([subj.name, *(_title_case(w) for w in what), where]))


def _tidy(text: str) -> str:
    """No parenthetical, no word twice in a row, no "Generally Available", no hanging last word."""
    text = _PARENS.sub("", text)
    text = re.sub(r"\s*[-–—]?\s*generally available\b", "", text, flags=re.I)
    words: list[str] = []
    split = text.split()
    for i, word in enumerate(split):
        word = word if _listed(split, i) else _bare_word(word)  # "C8gd, M8gd, and R8gd" keep their commas
        if word and (not words or words[-1].lower() != word.lower()):
            words.append(word)
    while len(words) > 1 and words[-1].lower() in CONNECTORS:
        words.pop()
    return " ".join(words).strip(" -–—")


def _short_form(subj: _Subject, names: ServiceNames, vocab: Vocabulary) -> str:
    """A name of three words or more as its acronym when that is a name of the service too
    ("Network Load Balancer" -> NLB), the author's spelling of it first."""
    if len(subj.name.split()) < 3 or not subj.key:
        return subj.name
    acronym = _acronym(subj.name)
    entry = names.registry.get(subj.key)
    known = {a.upper() for a in entry.aliases} if entry else set()
    for spelling in vocab.names.get(subj.key, {}):
        if spelling.rstrip("s").upper() == acronym:
            return spelling.rstrip("s")
    return acronym if acronym in known or acronym == names.short(subj.key).upper() else subj.name


_PROGRAMMES = {
    p.lower(): p
    for p in "SOC PCI HIPAA ISO FedRAMP IRAP HITRUST C5 GDPR DoD ENS MTCS OSPAR K-ISMS FINMA GxP CSA".split()  # noqa: SIM905
}
"""Compliance programmes as a heading writes them."""
_IN_SCOPE = re.compile(r"(?i)\b(in scope|regulated by)\b")
_PREDICATE_NOUNS = {n.lower(): n for n in _PREDICATES.values()}
_SOC_SPELLED = re.compile(r"(?i)\bsystems? and organi[sz]ation(al)? controls\b")


def _compliance(title: str) -> list[str] | None:
    """A title saying a service is in scope for programmes, or eligible or compliant for one, as
    what is new: the programme and what the service now is ("HIPAA Eligibility", "PCI DSS
    Certification"); several programmes as Compliance alone."""
    tokens = re.findall(r"[\w-]+", _SOC_SPELLED.sub("SOC", title))
    low = [t.lower() for t in tokens]
    found = list(dict.fromkeys(_PROGRAMMES[t] + (" DSS" if low[i + 1 : i + 2] == ["dss"] else "")
                               for i, t in enumerate(low) if t in _PROGRAMMES))  # fmt: skip
    said = [i for i, t in enumerate(low) if t in _PREDICATES or t in _PREDICATE_NOUNS]
    programmes = [i for i, t in enumerate(low) if t in _PROGRAMMES]
    after = any(0 < s - p <= 4 for s in said for p in programmes)  # "PCI DSS compliant", "HIPAA eligible"
    if not found or not (after or _IN_SCOPE.search(title)):
        return None
    word = next((low[i] for i in said), "compliant") if len(found) == 1 else "compliant"
    noun = _PREDICATES.get(word) or _PREDICATE_NOUNS.get(word, "Compliance")
    return [*found[0].split(), noun] if len(found) == 1 else [noun]


_MEASURES = frozenset({"metrics", "logs", "events", "alarms", "dashboards", "notifications"})
"""Nouns that say little alone and much with what they are for ("metrics for Capacity Reservations")."""


def _measured(what: list[str], title: str, room: int, vocab: Vocabulary) -> list[str] | None:
    """Metrics, logs or events for a named thing, as that thing's ("CloudWatch Capacity
    Reservation Metrics" of "CloudWatch metrics for EC2 On-Demand Capacity Reservations")."""
    if len(what) != 1 or what[0].lower() not in _MEASURES:
        return None
    match = re.search(rf"(?i)\b{what[0]}\s+for\s+(the\s+)?(.+)$", clean_title(title)[0])
    rest = _words(match.group(2)) if match else []
    rest = [w for w in rest if w.lower() not in ("amazon", "aws")]
    if not rest or not rest[0][:1].isupper():
        return None  # "metrics for increased visibility": no thing named
    thing = _noun_phrase(rest, max(1, room - 1), vocab, ())
    if not thing:
        return None
    last = thing[-1]
    if last[:1].isupper() and last.lower().endswith("s") and not last.lower().endswith(("ss", "us", "is")):
        thing = [*thing[:-1], last[:-3] + "y" if last.lower().endswith("ies") else last[:-1]]
    return [*thing, _title_case(what[0])]


def _names_service(text: str, subj: _Subject, names: ServiceNames, vocab: Vocabulary) -> bool:
    """Whether what is new is only the service a part of it is named for ("Performance Insights
    ... on RDS"): the service then comes first, as a heading names it."""
    own = (vocab.own_name(subj.key, names), names.short(subj.key))
    return any(_same_name(text, n) for n in own) and not any(_same_name(subj.name, n) for n in own)


def _first_words(text: str, budget: int) -> str:
    """A title nothing else could be made of, as a heading: its first words, up to a connector
    when two or more come before it, each once."""
    words = _words(text)[:budget]
    cut = _cut(words)
    return _tidy(" ".join(dict.fromkeys(cut if len(cut) >= 2 else words)))


def heading(story: Story, names: ServiceNames, vocab: Vocabulary = PRIOR) -> str:
    """A short topic heading in the author's words: the service's name and what is new
    ("ECS Docker Volumes", "Aurora Backtrack", "Fargate in Sydney"); for a new or generally
    available service its full name ("AWS Security Hub")."""
    subj = subject(story, names, vocab)
    budget = vocab.heading_words
    if subj.launch and subj.key:
        own = subj.name in vocab.names.get(subj.key, {}) or _same_name(subj.name, names.short(subj.key))
        long_old_name = len(_bare(subj.written).split()) >= 4  # "Amazon Elastic Container Service for Kubernetes"
        return _tidy(vocab.full_name(subj.key, names) if own or long_old_name else subj.written)
    if story.kind == "region-expansion" and subj.name:
        return _region_heading(story, subj, vocab, budget)
    taken = _short_form(subj, names, vocab).split()
    if subj.name:
        room = max(2 if len(taken) == 2 else 1, budget - _name_length(taken))
        prefixed = frozenset(e.short.lower() for e in names.registry.entries.values() if _PREFIX.match(e.short))
        spare = 1 - (len(taken) - _name_length(taken))  # "Amazon Q Developer": its prefix is a word too
        what = _compliance(story.primary.title) or _noun_phrase(
            _what(subj, room), room, vocab, taken, prefixed=prefixed, spare=spare
        )
        what = _measured(what, story.primary.title, room, vocab) or what
        if what and subj.key and _names_service(" ".join(what), subj, names, vocab):
            # "Performance Insights (is available on) RDS": RDS Performance Insights; "NLB for ELB": NLB
            taken, what = (what, taken) if len(taken) > 1 else (taken, [])
        if what and len(taken) == 1 and re.split(r"[-/]", what[0])[0].lower() == taken[0].lower():
            taken = []  # "EKS-Optimized AMI": the name once, in its compound
    else:
        what = _noun_phrase(_instruction(_words(clean_title(story.primary.title)[0])), budget, vocab, ())
    text = _tidy(" ".join([*taken, *(_title_case(w) for w in what)]))
    text = text or _tidy(subj.name) or _first_words(clean_title(story.primary.title)[0], budget)
    return text[:1].upper() + text[1:]


# --- title, keywords, Description ----------------------------------------------------------------


def title(week: int, year: int, headings: Sequence[str], vocab: Vocabulary = PRIOR) -> str:
    """ "Week 34, 2018 - CloudFormation Secure String Parameters; ECS Docker Volumes": the first
    featured headings in the sections' order, as many as the author puts in a title (three at
    most), as a title says them (``topic``)."""
    topics = list(dict.fromkeys(topic(h) for h in headings if h))[: min(3, vocab.title_topics)]
    return f"Week {week}, {year}" + (" - " + "; ".join(topics) if topics else "")


def topic(heading: str) -> str:
    """A heading as a title's topic: without its "AWS"/"Amazon" when two words or more are left
    ("AWS CloudFormation StackSets" -> CloudFormation StackSets; "AWS CodeStar" stays), as the
    author shortens their headings in their titles."""
    rest = _PREFIX.sub("", heading)
    one_letter = len(rest.split(" ", 1)[0]) == 1  # "Amazon Q Business" stays whole
    return rest if rest != heading and len(rest.split()) >= 2 and not one_letter else heading


KEYWORD_THRESHOLD = 0.5
"""A keyword goes in when the author is more likely than not to write it."""
TOPIC_PRIOR = 0.7
"""How likely a topic of ``digest.keyword_topics`` is to be a keyword, before the notes say."""


def keywords(
    stories: Sequence[Story], names: ServiceNames, vocab: Vocabulary = PRIOR, keyword_topics: Iterable[str] = ()
) -> tuple[str, ...]:
    """The keywords of a draft featuring these stories, in the author's words: ``aws`` if they
    write it, each story's service and topics as they name them when they are likely to, about
    as many as they write; in the order of the stories."""
    own_topics = set(keyword_topics)
    offered: dict[str, tuple[float, int]] = {}
    forced: set[str] = set()

    def offer(word: str, rate: float, position: int) -> None:
        held = offered.get(word)
        offered[word] = (max(rate, held[0]), min(position, held[1])) if held else (rate, position)

    offer("aws", vocab.aws_rate, -1)
    for position, story in enumerate(stories):
        service = story.service
        if service:
            offer(vocab.keyword(service, names), vocab.keyword_rate(service, vocab.service_rate), position)
        topics = dict.fromkeys([*story.topics, *(names.topics(service) if service else ())])
        for topic in topics:
            prior = TOPIC_PRIOR if topic in own_topics else vocab.topic_rate
            word = vocab.keyword(topic, names)
            if topic in vocab.chosen_topics:
                forced.add(word)
            offer(word, 1.0 if topic in vocab.chosen_topics else vocab.keyword_rate(topic, prior), position)
    likely = [k for k, (rate, _) in offered.items() if rate >= KEYWORD_THRESHOLD]
    chosen = sorted(likely, key=lambda k: (k not in forced, -offered[k][0], offered[k][1], k))
    chosen = chosen[: max(vocab.keyword_count, len(forced))]
    return tuple(sorted(chosen, key=lambda k: (offered[k][1], -offered[k][0], k)))


_PLAIN_VERB = {
    "announce": "add",
    "launch": "add",
    "introduce": "add",
    "release": "add",
    "announces": "adds",
    "launches": "adds",
    "introduces": "adds",
    "unveils": "adds",
    "debuts": "adds",
    "releases": "adds",
    "delivers": "adds",
    "brings": "adds",
    "now": "",
}
"""Press verbs and the plain ones a clause says instead."""


def _sentence_cased(text: str) -> bool:
    """Whether a title is written in sentence case, its capitals names: no capitalized verb
    ("Supports"), and at most half of its words after the first capitalized."""
    words = [w.strip(".,;:()\"'") for w in text.split()[1:]]
    capitals = [w for w in words if w[:1].isupper()]
    alpha = [w for w in words if w.isalpha()]  # "Versions 5.7.28, 8.0.17": numbers say nothing of case
    return bool(alpha) and not any(w.lower() in _VERBS for w in capitals) and len(capitals) <= len(alpha) / 2


def proper_words(titles: Iterable[str]) -> frozenset[str]:
    """Words that keep their capital inside sentence-case titles ("Docker", "Python"): names;
    not a word the titles write in lowercase as often ("supports Managed Versions" beside
    "managed versions": a feature's name in capitals is no proper name)."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in titles:
        words = [w.strip(".,;:()\"'") for w in text.split()[1:]]
        lower.update(w for w in words if w.islower())
        if _sentence_cased(text):  # its capitals are names
            capital.update(w for w in words if w[:1].isupper())
    return frozenset(w for w, n in capital.items() if n > lower[w.lower()])


_COMMON_ENDINGS = (
    *("ing", "ings", "tion", "tions", "sion", "sions", "ment", "ments", "ness", "ity", "ities", "ally"),
    *("ance", "ances", "ence", "ences", "able", "ible", "ive", "ous", "ional", "ure", "ures", "age", "ages"),
)
"""Endings of common nouns: "Throttling", "Notifications", "Management" are words, not names."""


COMMON_WORDS = frozenset(
    """access account accounts action actions activity alarm alarms alert alerts analysis application applications
    automatic automated backup backups billing bucket buckets capacity catalog certificate certificates change
    changes classroom client cross multi single same real logic error errors response responses clients cluster clusters code console content control controls cost costs course
    courses custom customer customers dashboard dashboards data database databases default deployment deployments
    developer developers digital domain domains driver edition endpoint endpoints engine environment environments
    event events exam experience export file files filter filters flow flows format function functions group groups
    guide health image images import instance instances job jobs key keys language level library limit limits list
    lists local log logs machine manager mode model models network networks new notification object objects option
    options parameter parameters partner partners pipeline pipelines plan plans platform policies policy price
    prices pricing program protocol provider providers queries query queue queues recommendations region regions
    release releases report reports repository request requests resource resources role roles rule rules runtime
    schedule search secret secrets security server servers session sessions set settings size sizes snapshot
    snapshots solution solutions source standard storage stream streams support system systems table tables tag
    tags task tasks template templates throughput tier tiers time tool tools traffic training type types update
    updates usage user users version versions view volume volumes workflow workflows workload workloads zone zones launch launches
    address addresses check checks class classes copy detail details disaster header headers metadata metric
    metrics number numbers practice practices preview recovery status series target targets test tests text
    threat threats upgrade upgrades best bulk fast faster high higher low lower longer minor major second
    inbound outbound push refresh restore resume transform""".split()  # noqa: SIM905
)
"""Words of announcements that are common words whatever case a title writes them in: the
rules' prior, beside the words the window's titles and the author's notes write in lowercase."""


def _common(word: str, common: frozenset[str]) -> bool:
    """Whether a lowercased word is a common one: written so in lowercase, a plural of one, or of
    a common noun's form."""
    if word in common or word in COMMON_WORDS or (word.endswith("s") and word[:-1] in common):
        return True
    if word.endswith("ies") and word[:-3] + "y" in common:
        return True
    if word in _NUMBERS or word in _STATE_WORDS:
        return True  # "Two", "Compliant": a number, a state
    if len(word) > 5 and _adjective(word):
        return True  # "Distributed", "General", "Advanced": adjectives and participles
    return len(word) > 6 and word.endswith(_COMMON_ENDINGS)


def _sentence_case(words: Sequence[str], protected: set[str], common: frozenset[str]) -> list[str]:
    """Title Case words lowercased where they are common words ("Supports Docker Volumes" ->
    supports Docker volumes: "volumes" is written in lowercase elsewhere, "Docker" is a name);
    a word nothing says is common keeps its capital (it may be a name: "Kansas City")."""
    out = []
    for word in words:
        bare = word.strip(".,;:()")
        parts = bare.split("-")
        title_case = all(p[:1].isupper() and p[1:] == p[1:].lower() and p.isalpha() for p in parts)
        known = all(_common(p.lower(), common) or p.lower() in CONNECTORS for p in parts)
        out.append(
            word.lower() if title_case and known and bare not in protected and parts[0] not in protected else word
        )
    return out


def _protected(
    text: str, names: ServiceNames, vocab: Vocabulary, proper: Iterable[str], common: frozenset[str] = frozenset()
) -> set[str]:
    """The words of a text a clause keeps capitalized: names of services, topics and Regions,
    the author's capitalized words, names the window's sentence-case titles capitalize but for
    common words (one week's "now supports Event Notifications" names nothing)."""
    keep = set(vocab.capitalized) | {w for w in proper if not _common(w.lower(), common)}
    if _sentence_cased(text):  # a capitalized run with a name in it is a name whole: "Incident Manager"
        for run in re.findall(r"(?:(?<=\s)[A-Z][\w'-]*(?:\s+|$))+", text):
            if any(not _common(w.lower(), common) and w.lower() not in CONNECTORS for w in run.split()):
                keep.update(run.split())
    for start, end, _ in _spans(text, names.registry, services=False):
        keep.update(text[start:end].split())
    for region in REGIONS.values():
        keep.update(region.short.split())
    return keep


def _object(words: list[str], room: int) -> list[str]:
    """What a clause says is new, in at most ``room`` words: whole, else up to its first
    connector, else its head ("the Serverless Developer Portal" -> Serverless Developer Portal)."""
    words = [w for w in words if _bare_word(w).lower() not in ("new", "aws", "amazon")]
    while len(words) > 1 and _bare_word(words[-1]).lower() in ("now", "available"):
        words = words[:-1]  # "... now available": press, not what is new
    while len(words) > 1 and _bare_word(words[0]).lower() in ("and", "or", "&"):
        words = words[1:]  # "(New) and updated courses"
    if len(words) > 3 and words[0].lower() == "the" and words[1].lower() in _OF_WHAT and words[2].lower() == "of":
        words = words[3:]  # "the use of FSx"
    if len(words) > room and [w.lower() for w in words[:2]] == ["up", "to"]:
        words = words[:3] + _cut(words[3:])  # "up to 250 attendees"
    elif len(words) > room:
        words = _cut(words)
    if len(words) > room:
        words = words[-room:]
        while len(words) > 1 and _bare_word(words[0]).lower() in CONNECTORS:
            words = words[1:]
    words = [_bare_word(w) for w in words]
    while len(words) > 1 and words[-1].lower() in CONNECTORS:
        words = words[:-1]
    return words


_STATES = {"general-availability": "is generally available", "preview": "is in preview"}


def _verb_at(after: list[str]) -> int | None:
    """The verb of a clause among the words after its subject: "can Output" -> Output, "quotas
    can now be managed" -> be; "Support for" is a noun."""
    modal = next((i for i, w in enumerate(after[:5]) if w.lower() in ("can", "will")), None)
    if modal is not None and _find_verb(after[:modal]) is None:
        at = modal + 1
        while at < len(after) and (after[at].lower() in ("now", "also") or after[at].lower().endswith("ly")):
            at += 1  # "will automatically copy": the verb after the adverb
        return at if at < len(after) else None
    now = next((i + 1 for i, w in enumerate(after[:5]) if w.lower() == "now" and i + 1 < len(after)), None)
    if now is not None and _bare_word(after[now]).lower() in _VERBS:
        return now  # "EMR 6.3 release version now supports": the verb after "now"
    verb = _find_verb(after, right_after=True)
    if verb is not None and verb == len(after) - 1 and after[verb].lower() not in ("is", "are"):
        return None  # "Data Stores": a verb has an object
    if verb == 0 and after[0].lower() in _VERB_BASES | {"update", "release"}:
        return None  # "Deep Learning AMI release v2.0": a noun after a name that is one thing
    if (
        verb is not None
        and verb + 1 < len(after)
        and after[verb].lower() in _VERB_BASES
        and after[verb + 1].lower() == "for"
    ):
        return None  # "Support for Windows Server Containers"
    return verb


_VERB_BASES = frozenset({"support", "add", "introduce", "announce", "launch", "release"})


_STATE_WORDS = {
    "available": "is available",
    "supported": "is available",
    "integrated": "integrates",
    "eligible": "is eligible",
    "compliant": "is compliant",
    "certified": "is certified",
    "qualified": "is qualified",
}
"""What a title says something now is ("X now available on Y", "X is now supported on Y"), as a
clause says it: never "is supported"."""
_YOU_CAN = {"lets", "allows", "enables", "helps"}
"""Verbs that say a service lets you do something: the clause says what you can do."""


def _state_at(after: list[str]) -> int | None:
    """Where a title says what something now is, with no verb before: "Hibernation Now Available
    on Ubuntu" -> available."""
    for i, word in enumerate(after[:6]):
        low = _bare_word(word).lower()
        if low in _STATE_WORDS:
            return i
        if (low in _VERBS and low.endswith("s")) or low in _CUT:
            return None
    return None


def _predicate(
    subj: _Subject, words: int, state: str | None, *, available: bool = False
) -> tuple[list[str], str, list[str]]:
    """A clause's subject (the name and what of it), its verb and its object, from a title;
    ``available``: the title said the thing is (now) available."""
    after = [w for w in _words(subj.after) if _bare_word(w).lower() not in ("amazon", "aws") and w not in "'’"]
    while after and after[0].lower() in ("now", "also"):
        after = after[1:]
    name_words = subj.name.lower().split()
    if [w.lower() for w in after[: len(name_words)]] == name_words:
        after = after[len(name_words) :]  # "S3 S3 Batch Operations": the name once
    if after and after[0].lower() in ("is", "are") and len(after) > 1:  # "is now SOC 1, 2, and 3 compliant"
        rest = [w for w in after[1:] if w.lower() not in ("now", "also")]
        if rest and _bare_word(rest[0]).lower() in _STATE_WORDS:
            return [subj.name], _STATE_WORDS[_bare_word(rest[0]).lower()], rest[1:]
        return [subj.name], "is", rest
    verb, at = _verb_at(after), _state_at(after)
    if at is not None and (verb is None or verb > at or after[verb].lower() in ("is", "are")):
        extension = [w for w in after[:at] if w.lower() not in ("is", "are", "now")]
        return [subj.name, *extension], _STATE_WORDS[_bare_word(after[at]).lower()], after[at + 1 :]
    if verb is not None and verb <= 5:
        said = _bare_word(after[verb]).lower()
        obj = [w for w in after[verb + 1 :] if w.lower() not in ("now", "also")]
        if " ".join(obj[:2]).lower() in ("support for", "support to") and (
            said in _PLAIN_VERB or said in _SAYS_NOTHING
        ):
            said, obj = "supports", obj[2:]
        said, obj = _you_can(said, obj)
        ability = [w.lower() for w in obj[:3]]
        if said in _SAYS_NOTHING | set(_PLAIN_VERB) and "ability" in ability[:2] and "to" in ability[1:3]:
            said, obj = "can", obj[ability.index("to") + 1 :]  # "adds the ability to specify" -> can specify
        subject_words = [subj.name, *(w.lower() if w.lower() in _AUXILIARY else w for w in after[:verb])]
        return [w for w in subject_words if w not in ("now", "also")], _PLAIN_VERB.get(said, said), obj
    if after and after[0].lower() in ("in", "on", "at"):  # "Direct Connect now in Kansas City"
        return [subj.name], "is available" if available else "is", after
    what = _what(subj, words)
    if state:  # "DocumentDB Serverless is generally available"
        return [subj.name, *_object(what, 3)], state, []
    if available and after:  # "Corretto 11 (is now available) as a release candidate"
        cut = next((i for i, w in enumerate(after) if _bare_word(w).lower() in _CUT), len(after))
        extension = [w for w in after[:cut] if _bare_word(w).lower() not in _STATE_END]
        return [subj.name, *extension], "is available", after[cut:] if cut else []
    return [subj.name], "adds", what


def _you_can(said: str, obj: list[str]) -> tuple[str, list[str]]:
    """ "lets you modify", "allows you to modify", "allows contact centers to route" -> can
    modify, can route; "allows adding" -> supports adding."""
    if said not in _YOU_CAN or (said == "enables" and (not obj or obj[0].lower() != "you")):
        return said, obj
    to = next((i for i, w in enumerate(obj[:4]) if w.lower() == "to"), None)
    if obj and obj[0].lower() == "you":
        rest = obj[2:] if to == 1 else obj[1:]
    elif to is not None and said != "helps":
        rest = obj[to + 1 :]
    else:
        return ("supports" if said == "allows" else said), obj
    rest = [w for w in rest if w.lower() not in ("easily", "quickly", "now")]
    return ("can", [rest[0].lower(), *rest[1:]]) if rest else (said, obj)


def _plural(words: Sequence[str], name: str, common: frozenset[str] = frozenset()) -> bool:
    """Whether a clause's subject is plural: "X and Y", or a plural noun after the name
    ("Lambda Extensions", "EC2 GPUs"); a name alone is one thing ("CloudWatch Logs"), and so
    is a capitalized word nothing says is common ("ECS for Windows")."""
    rest = list(words[1:])
    if any(w.lower() in ("and", "&") for w in rest) or (not rest and " and " in name):
        return True
    if not rest:
        last = name.split()[-1] if name.split() else ""
        return len(last) >= 4 and last.endswith("s") and last[:-1].isupper()  # "AWS SDKs"
    last = _bare_word(rest[-1])
    low = last.lower()
    if len(last) >= 3 and last.endswith("s") and last[:-1].isupper():
        return True  # GPUs, AMIs
    if len(low) <= 3 or not low.endswith("s") or low.endswith(("ss", "us", "is", "ics")) or last.isupper():
        return False
    return last.islower() or _common(low, common)


def _agree(said: str, plural: bool) -> str:
    """The verb for a plural subject: is -> are, supports -> support."""
    if not plural or not said:
        return said
    first, _, rest = said.partition(" ")
    if first in ("is", "has"):
        return ("are" if first == "is" else "have") + (f" {rest}" if rest else "")
    if rest or not first.endswith("s") or first.endswith("ss"):
        return said
    if first.endswith("ies"):
        return first[:-3] + "y"
    return first[:-2] if first.endswith(("sses", "shes", "ches", "xes", "zes")) else first[:-1]


_YOU_CAN_NOW = frozenset({"now", "quickly", "easily", "you", "customers", "can", "securely", "it's", "it’s"})


def _no_subject(text: str, room: int, keep: set[str], lower: frozenset[str]) -> str:
    """A title that names no service: an instruction as what you can do ("you can simplify
    permissions management"), else what AWS introduces."""
    words = _words(text)
    while words and words[0].lower() in _YOU_CAN_NOW:
        words = words[1:]  # "Customers can now use ..."
    obj = _sentence_case(_object(words, room), keep, lower)
    if obj and _bare_word(obj[0]).lower() in _IMPERATIVES:
        return " ".join(["you can", obj[0].lower(), *obj[1:]])
    return " ".join(["AWS introduces", *obj])


def _instruction_clause(subj: _Subject, text: str, room: int, keep: set[str], lower: frozenset[str]) -> str | None:
    """A title that starts with an instruction and names the service after it ("Use AWS Config
    Rules to remediate ...") as what you can do."""
    before = _words(subj.before)
    while before and before[0].lower() in _YOU_CAN_NOW:
        before = before[1:]  # "You can now securely connect to ...", "Customers can now manage ..."
    if not before or _bare_word(before[0]).lower() not in _IMPERATIVES | {"connect", "authenticate"}:
        return None
    words = _words(text)[len(_words(subj.before)) - len(before) :]
    obj = _sentence_case(_object(words, room), keep | set(subj.name.split()), lower)
    verbs = [w.lower() if _bare_word(w).lower() in _IMPERATIVES | _VERBS else w for w in obj]
    return " ".join(["you can", *verbs])


def _sentence(subj: _Subject, text: str, room: int, keep: set[str], lower: frozenset[str]) -> str | None:
    """A title whose verb comes before the service's name ("AWS for Fluent Bit now supports
    Amazon Kinesis Data Streams") is a clause already: as it is, in sentence case."""
    before = _words(subj.before)
    verb = _find_verb(before)
    if not verb or _bare_word(before[verb]).lower() in ("support", "update", "updates"):
        return None
    words = [w for w in _words(text) if w.lower() not in ("now", "also")]
    at = _find_verb(words)
    if not at:
        return None
    said = [w for i, w in enumerate(words[: at + 1]) if not (w in ("Amazon", "AWS") and i > 0)]  # "AWS for Fluent Bit"
    said[-1] = _PLAIN_VERB.get(said[-1].lower(), said[-1].lower()) or said[-1].lower()
    obj = _object(words[at + 1 :], max(2, room - len(said)))
    return " ".join([*said, *_sentence_case(obj, keep | set(subj.name.split()), lower)])


def clause(
    story: Story,
    names: ServiceNames,
    vocab: Vocabulary = PRIOR,
    *,
    words: int = 12,
    proper: Iterable[str] = (),
    common: Iterable[str] = (),
) -> str:
    """The story as a plain clause of the Description, of about ``words`` words at most: "ECS
    supports Docker volumes", "Amazon Textract is generally available", "Fargate is available in
    Sydney", "Lambda extensions are generally available". ``proper``: words the window's titles
    write as names; ``common``: words they write in lowercase."""
    subj = subject(story, names, vocab)
    state = _STATES.get(story.kind or "")
    if subj.launch and subj.key:
        full = heading(story, names, vocab)  # the service's full name, or the product's ("Amazon Connect Voice ID")
        return f"{full} {_agree(state, _plural([full], full))}" if state else f"AWS releases {full}"
    text, _ = clean_title(story.primary.title)
    lower = frozenset(common) | vocab.lowercase
    keep = _protected(text, names, vocab, proper, lower)
    if story.kind == "region-expansion" and subj.name:
        head = heading(story, names, vocab)
        what, _, where = head.partition(" in ")
        feature = what[len(subj.name) :].split() if what.startswith(subj.name) else []
        names_one = [
            w for w in feature if w.isalpha() and not _common(w.lower(), lower) and w.lower() not in CONNECTORS
        ]
        if not names_one:
            feature = _sentence_case(feature, keep, lower)  # else a name whole: "EC2 Auto Recovery"
        subject_words = [subj.name, *feature] if what.startswith(subj.name) else [what]
        said = _agree("is available", _plural(subject_words, subj.name, lower))
        where = "more regions" if not where or where == "More Regions" else where
        return " ".join([*subject_words, said, "in", where])
    available = bool(re.search(r"\bavailable\b", story.primary.title, re.I))
    if not subj.name:
        return _no_subject(text, words, keep, lower)
    instruction = _instruction_clause(subj, text, words, keep, lower) or _sentence(subj, text, words, keep, lower)
    if instruction:
        return instruction
    subject_words, said, obj = _predicate(subj, words, state, available=available)
    if said == "adds" and not obj:  # nothing says what: "AWS releases X" when new, else an update
        return (
            f"AWS releases {vocab.full_name(subj.key, names)}"
            if subj.key and not subj.before
            else f"{subj.name} is updated"
        )
    said = _agree(said, _plural(subject_words, subj.name, lower))
    room = max(2, words - len(" ".join(subject_words).split()) - 1)
    named = keep | {w for w in subject_words[1:] if w[:1].isupper()}  # "Distributed Map reads": a name
    if said in ("is", "is available", "are", "are available") and obj and len(obj) > room:
        obj = _cut(obj) if len(_cut(obj)) <= room else []  # "is available on Ubuntu", never "is available Ubuntu"
    obj = _sentence_case(_object(obj, room), keep, lower)
    if said == "can" and obj and obj[0][:1].isupper() and obj[0] not in keep:
        obj = [obj[0].lower(), *obj[1:]]  # "can Modify" -> can modify: a verb
    parts = [subject_words[0], *_sentence_case(subject_words[1:], named, lower), said.lower(), *obj]
    return " ".join(p for p in parts if p)


def description(
    stories: Sequence[Story],
    names: ServiceNames,
    vocab: Vocabulary = PRIOR,
    *,
    proper: Iterable[str] = (),
    common: Iterable[str] = (),
) -> str:
    """One plain clause per featured story, about as long as the author's Descriptions: "ECS
    supports Docker volumes, S3 adds same-region replication, and Lambda is available in Melbourne."."""
    if not stories:
        return ""
    each = max(6, vocab.description_words // len(stories))
    proper, common = frozenset(proper), frozenset(common)
    clauses = [clause(story, names, vocab, words=each, proper=proper, common=common) for story in stories]
    if len(clauses) == 1:
        text = clauses[0]
    elif len(clauses) == 2:
        text = f"{clauses[0]} and {clauses[1]}"
    else:
        text = ", ".join(clauses[:-1]) + f", and {clauses[-1]}"
    return text[:1].upper() + text[1:] + "."
