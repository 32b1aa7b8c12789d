"""What each post is about: services and topics with provenance, the kind of announcement, regions.

Pure: ``Post`` + ``Registry`` -> ``Tagging``. The order of evidence is the feed's own categories
(What's New product slugs and areas, blog category labels), then the title, then the body.

- **Categories**: ``general:products/<slug>`` and ``marketing:marchitecture/<area>`` tokens resolve
  through the registry's slugs; plain labels (blog categories, community tags) by name. A product
  or area token the registry does not know, or an "Amazon ..."/"AWS ..." label it cannot resolve,
  is reported in ``unknown_tokens`` (the raw token stays in the post's categories).
- **Title and body**: the registry's names and aliases, found by ``NameMatcher`` (word
  boundaries, longest match first: "Amazon S3 Glacier" is S3 Glacier, not S3). Topic and event
  names (serverless, re:Invent) count in the title only: in a body they are mostly incidental.
  Only the first ``BODY_SCAN_CHARS`` characters of the body are read.
- **Provenance** (``Tag.source``, stored in ``post_tags.source``): ``category``, ``title`` or
  ``body`` for a tag found there; ``implied`` for a tag that stands on another one: an entry a
  service is part of (``rds`` for an Aurora post, ``cloudwatch`` for CloudWatch RUM) or a topic of
  a service (``databases`` for Aurora). A tag found directly is never ``implied``, however strong
  the implication. ``manual`` tags are people's: the tagger never makes them, and the store never
  replaces them.
- **Confidence**: a category 1.0 (a plain label 0.9), the title 0.85, the body 0.5 for one
  mention up to 0.7 for three or more. A tag keeps its strongest evidence. An implied parent
  takes 0.9 of its origin's confidence, an implied topic 0.8.
- **Primary service**: the first service named in the title; else the first one in the
  categories; else the one the body names most (the earliest of those tied). A supporting
  product (``SUPPORTING``: Graviton, the CLI, Amazon Linux...) is primary only when nothing
  else is named.
- **Kind**: rules on the title (and the body's opening, for regions), tried in this order:
  training (courses, certification, exams, learning programmes), other (no product's news:
  Quick Starts, AWS Solutions, partner programmes and consulting offers, whitepapers), deprecation
  (unless it is the object of a feature: "adds a check for ... end of support"), price change
  (rates and "no longer charges" too), region expansion (Regions, also "expands globally", new
  Direct Connect or edge locations; "generally available in all commercial Regions" is a general
  availability), new instance types, general availability ("out of beta" included), preview, new
  service (a launch verb and a product name the registry does not know, or knows whole: "Introducing
  Amazon MQ"; a known product and more words is a new feature of it), new feature; otherwise
  other (a What's New item, known by its URL or its product categories, is at least a new
  feature). A region expansion lists the region codes its title names, else those of the first
  sentence of the body's opening (its first ``BODY_REGION_SENTENCES``) that says where something
  becomes available.

``bench/tagging.py`` measures all of it against What's New items labelled by hand.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import ConfigError
from .models import KINDS as KINDS  # the kinds are this stage's vocabulary; re-exported
from .models import Post, Tag, TagType
from .models import Tagging as Tagging  # what this stage makes; re-exported
from .taxonomy import REGION_MATCHER, Match, NameMatcher, Registry, load_registry, lower_tokens, tokenize

RULES_VERSION = 3
"""Bump when the rules below change what a post is tagged with: ``aggregator tag --retag`` then
redoes every post (it is part of ``Tagger.fingerprint``)."""

BODY_SCAN_CHARS = 3000
"""How much of a body is read for service names: the opening says what a post is about."""

SOURCE_ORDER: dict[str, int] = {"manual": 0, "category": 1, "title": 2, "body": 3, "implied": 4}

CONFIDENCE = {"slug": 1.0, "label": 0.9, "title": 0.85, "family_factor": 0.9, "topic_factor": 0.8}

SUPPORTING = frozenset(
    {
        "graviton",
        "nitro",
        "amazon-linux",
        "console",
        "cli",
        "sdk",
        "toolkits",
        "local-zones",
        "wavelength",
        "inferentia",
        "trainium",
    }
)
"""Products that announcements mention while being about something else ("Graviton2-based Amazon
EC2 C6gd instances"): primary only when nothing else is named."""

BODY_REGION_SENTENCES = 5

BODY_MAX_SERVICES = 3
"""A body is evidence only for a post whose categories and title name no service: then its most
named service, and up to two more named at least twice."""


# --- categories ----------------------------------------------------------------------------------

_PRODUCTS = "general:products/"
_AREAS = "marketing:marchitecture/"
_REPORTED_NAMESPACES = ("general:products/", "marketing:marchitecture/")
_PREFIXED_LABEL = re.compile(r"^(amazon|aws)\s+\S", re.IGNORECASE)
NON_SERVICE_LABELS = frozenset(
    {"aws news", "aws news blog", "aws blog", "aws", "amazon", "aws community", "aws community builders", "aws heroes"}
)
"""Labels that look like product names but say nothing about one: never reported as unknown."""


def _category_evidence(registry: Registry, categories: Iterable[str]) -> tuple[list[tuple[str, float]], list[str]]:
    """Keys named by the categories, in order, with their confidence; and the unknown tokens."""
    found: list[tuple[str, float]] = []
    unknown: list[str] = []
    for token in categories:
        token = token.strip()
        if not token:
            continue
        lowered = token.lower()
        if lowered.startswith(_PRODUCTS):
            key = registry.resolve_slug(token[len(_PRODUCTS) :])
            confidence = CONFIDENCE["slug"]
        elif ":" in token and "/" in token and " " not in token:  # another namespaced What's New token
            key = registry.by_slug.get(lowered)
            if key is None and lowered.startswith(_AREAS):  # an area the registry lists by name only
                named = registry.resolve_label(lowered[len(_AREAS) :].replace("-", " "))
                key = named if named is not None and not registry.is_service(named) else None
            confidence = CONFIDENCE["slug"]
            if key is None and not lowered.startswith(_REPORTED_NAMESPACES):
                continue  # general:use-case/..., resource:development-language/...: not about a product
        else:
            key = registry.resolve_label(token)
            confidence = CONFIDENCE["label"]
            if key is None and not (_PREFIXED_LABEL.match(token) and lowered not in NON_SERVICE_LABELS):
                continue  # "Launch", "typescript": a label, not a product we fail to know
        if key is None:
            if token not in unknown:
                unknown.append(token)
        else:
            found.append((key, confidence))
    return found, unknown


# --- kinds ---------------------------------------------------------------------------------------

_DEPRECATION = re.compile(
    r"\b(end[- ]of[- ](life|support|sale|standard support)|deprecat(e|es|ed|ing|ion)\b(?! of)|retir(e|es|ed|ing|ement)"
    r"|discontinu(e|es|ed|ing)|sunset(s|ting)?|no longer (be )?(available|supported|accept)|will (be )?(shut|turn)(ting)? (down|off)"
    r"|phas(e|es|ing) out|end support)",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"\b(price (reduction|cut|drop|decrease|increase|change)s?|prices? (drop|reduction)s?|reduc(e|es|ed|ing) (the )?(price|cost)s?"
    r"|lower(s|ed|ing)? (the )?prices?|lower prices|(price|pricing) (reduc|lower)\w*|cheaper|reduced (price|pricing)"
    r"|new (lower )?pricing|(\d+|\d+\.\d+)\s?% (lower|cheaper|price|less expensive)|lowers? (the )?cost of|now (free|costs? less)"
    r"|(reduc|lower)\w*\b[^.;:]{0,40}\b(prices|pricing|rates)|no longer charg\w*)\b|^\s*free\b",
    re.IGNORECASE,
)
_DEPRECATION_AS_OBJECT = re.compile(
    r"\b(supports?|adds?|automates?|checks?|migrat\w*|programs?|helps?|extends?|extended)\b", re.IGNORECASE
)
"""Words before a deprecation phrase that make it a feature's object, not the news ("Trusted
Advisor adds a check for Windows Server end of support")."""
_DEPRECATION_WORDS = (
    "end of", "end-of", "deprecat", "retir", "discontinu", "sunset", "no longer", "shut", "turn", "phas", "end support"
)  # fmt: skip
_PRICE_WORDS = ("price", "pricing", "cheaper", "cost", "%", "free", "less", "rates", "charg")
_REGION_WORDS = re.compile(
    r"\b((additional|more|new|\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|select|all)"
    r"( commercial| aws| other| additional| (?-i:[A-Z][\w()&-]*)){0,3}? regions?|region(al)? (expansion|availability)"
    r"|regions? expansion)\b",
    re.IGNORECASE,
)
_GLOBAL_OR_LOCATIONS = re.compile(
    r"\b((expands?|expanded|expansion|available|availability|launch\w*) (globally|worldwide)|global (expansion|availability)"
    r"|(new|additional|more|\d+)\b[^.;:]{0,40}\blocations? (in|at)|(direct connect|edge) locations?)\b",
    re.IGNORECASE,
)
"""Expansions without a Region in their words: "expands globally", new Direct Connect or edge locations."""
_ALL_REGIONS = re.compile(r"\ball\b[^.;:]{0,30}\bregions\b", re.IGNORECASE)
_IN_TITLE = re.compile(r"\b(in|to|into|across|available)\b", re.IGNORECASE)
"""An announcement that names a Region and one of these words is about where something is available..."""
_COMPLIANCE = re.compile(
    r"\b(achiev\w*|receiv\w*|approv\w*|authori[sz]\w*|fedramp|hipaa|pci|soc \d|complian\w*|eligib\w*|il-?\d)\b",
    re.IGNORECASE,
)
"""... unless it is about compliance there ("achieves FedRAMP High authorization in AWS GovCloud (US)")."""
_AVAILABLE_IN = re.compile(
    r"\b(available|availability|launch(es|ed)?|expands?|expanded|expanding|extends?|arrives?|now|comes|coming|support(s|ed)?|open(s|ed)?)"
    r"\b[^.;:]{0,60}\b(in|to|into)\b",
    re.IGNORECASE,
)
_REGION_WORD = re.compile(r"\bregions?\b", re.IGNORECASE)
_INSTANCE = re.compile(r"\binstances\b|\binstance (types?|famil(y|ies)|sizes?)\b", re.IGNORECASE)
_FAMILY = re.compile(
    r"\b(?!EC2\b|S3\b)(?:[A-Za-z]{1,4}\d{1,2}[a-z]{0,5}(?:-flex)?(?:\.\d*x?large|\.metal\S*)?|mac\d|Mac\d)\b(?!\.\d)"
    r"(?! ?(GB|TB|%|x\b))"
)
_INSTANCE_LAUNCH = re.compile(
    r"\b(introduc\w*|announc\w*|launch\w*|new|now available|generally available|available|powered by|featuring"
    r"|general availability|coming soon|next generation)\b",
    re.IGNORECASE,
)
_TRAINING = re.compile(
    r"\b(courses?|coursera|edx|udemy|bootcamps?|classroom|self-paced|study guides?|exam readiness|practice exams?"
    r"|(certification|beta|specialty|associate|professional|practitioner) exams?|exams? (vouchers?|prep|readiness)"
    r"|aws certified|aws certifications?|recertification|skill builder|aws educate|aws academy|re/start"
    r"|learning (plans?|paths?|pathways)|accreditation|digital training|(free|online|aws|security|solutions) training"
    r"|training (and|&) certification|training (courses?|classes|sessions|bootcamps?))\b",
    re.IGNORECASE,
)
"""Training, certification and courses ("training" alone is mostly machine learning)."""
_NOT_A_PRODUCT = re.compile(
    r"\b(quick ?starts?|reference deployments?|consulting offers?|competenc(y|ies)|whitepapers?|webinars?"
    r"|(partner|delivery|ready|navigate|qualification|acceleration|grants?|enterprise) program(me)?s?"
    r"|(launch|announc|introduc)\w* (a |the )?new program(me)?|aws solutions? (implementation|library))\b",
    re.IGNORECASE,
)
_SOLUTION = re.compile(r"\bSolution\b")
_TRAINING_WORDS = (
    "cours", "edx", "udemy", "bootcamp", "classroom", "self-paced", "study", "exam", "certif", "skill builder",
    "educate", "academy", "re/start", "learning", "accreditation", "training"
)  # fmt: skip
_NOT_A_PRODUCT_WORDS = (
    "quick", "deployment", "consulting", "competenc", "paper", "webinar", "program", "solution"
)  # fmt: skip
"""Quick Starts, AWS Solutions ("... Solution", as its name), partner programmes and consulting
offers, whitepapers: announced on What's New, but not a product's news ("other")."""
_PREVIEW = re.compile(r"\b(preview|public beta|in beta|beta release|beta)\b", re.IGNORECASE)
_GA = re.compile(
    r"\b(generally available|general availability|now GA|is GA|GA release|in GA|out of (beta|preview))\b|\(GA\)",
    re.IGNORECASE,
)
_NEW_SERVICE_LEAD = re.compile(
    r"^\s*(introducing|announcing|meet|welcome|new|now available|(aws|amazon) (announces|launches|introduces|unveils))"
    r"(\s+the)?(\s+new)?\s*[:–—-]?\s*",
    re.IGNORECASE,
)
_FEATURE = re.compile(
    r"\b(now|adds?|added|adding|introduc\w+|announc\w+|launch\w*|enabl\w+|supports?|supported|support for|expands?|extends?"
    r"|improv\w+|enhanc\w+|increases?|releases?|released|updates?|updated|integrat\w+|simplif\w+|accelerat\w+|delivers?"
    r"|unveils?|allows?|offers?|provides?|new|available|availability|brings?|gets?|extends?|reduces?|automates?|achieves?"
    r"|expands?|upgrades?|boosts?|streamlines?)\b",
    re.IGNORECASE,
)
_NOT_AN_ANNOUNCEMENT = re.compile(
    r"^\s*(how|why|what|when|building|build|using|use|getting started|get started|a guide|guide|best practices|lessons"
    r"|deep dive|part \d|let['’]s architect|tutorial|hands-on|understanding|migrating|optimi[sz]ing|designing|securing"
    r"|implementing|automating|creating|running|monitoring|scaling|deploying|choosing|\d+ (ways|tips|things|steps))\b"
    r"|weekly roundup|week in review|\?\s*$",
    re.IGNORECASE,
)
_WHATS_NEW_URL = re.compile(r"/about-aws/whats-new/|/new\.rss|/whats-new/", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
INSTANCE_SERVICES = frozenset(
    {
        "ec2", "rds", "aurora", "elasticache", "memorydb", "opensearch", "redshift", "sagemaker", "kafka", "docdb",
        "neptune", "emr", "gamelift", "lightsail", "outposts", "local-zones", "wavelength", "batch", "spot", "graviton",
        "workspaces", "appstream", "nitro", "inferentia", "trainium", "rds-custom", "dsql", "timestream", "mq",
    }
)  # fmt: skip
"""Services whose "new X instances" are new instance types (elsewhere "instances" are something else)."""


_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_COUNT_WORDS = {w: n for n, w in enumerate(_NUMBER_WORDS)}
_MORE_REGIONS = re.compile(r"\b(\w+)\s+(?:more|additional|new)\s+(?:aws\s+|commercial\s+)?regions\b", re.IGNORECASE)


def region_count(title: str, regions: Sequence[str]) -> int | None:
    """How many Regions an expansion adds: those named, else the number its title gives
    ("seven more Regions"); None when it does not say."""
    if regions:
        return len(regions)
    match = _MORE_REGIONS.search(title)
    if match is None:
        return None
    word = match.group(1).lower()
    return int(word) if word.isdigit() else _COUNT_WORDS.get(word)


def _regions_in(text: str) -> list[str]:
    codes: list[str] = []
    for match in REGION_MATCHER.find(tokenize(text)):
        for code in match.value:
            if code not in codes:
                codes.append(code)
    return codes


def _regions_in_body(body: str) -> list[str]:
    """The regions of the first sentence of the body's opening that says where something is available."""
    for sentence in _SENTENCE_END.split(body[:BODY_SCAN_CHARS], maxsplit=BODY_REGION_SENTENCES)[:BODY_REGION_SENTENCES]:
        if _AVAILABLE_IN.search(sentence) or _REGION_WORD.search(sentence):
            regions = _regions_in(sentence)
            if regions:
                return regions
    return []


def classify(
    title: str,
    body: str,
    *,
    primary_service: str | None,
    announcement: bool = False,
    names: NameMatcher[str] | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The kind of announcement, and for a region expansion the regions it names.

    ``announcement``: the post is a What's New item (its URL or its product categories say so):
    it announces something, so it is never "other" ("Set concurrency limits on ..." is a feature),
    unless it is no product's news (a Quick Start, a partner programme). ``names``: the registry's
    names, to tell a new product from a feature of a known one (see ``_is_new_service``).
    """
    low = title.lower()  # cheap guards first: most titles need few of the patterns below

    def has(*words: str) -> bool:
        return any(word in low for word in words)

    if not announcement and _NOT_AN_ANNOUNCEMENT.search(title):
        return "other", ()
    if has(*_TRAINING_WORDS) and _TRAINING.search(title):
        return "training", ()
    if (has(*_NOT_A_PRODUCT_WORDS) and _NOT_A_PRODUCT.search(title)) or (has("solution") and _SOLUTION.search(title)):
        return "other", ()
    deprecation = _DEPRECATION.search(title) if has(*_DEPRECATION_WORDS) else None
    if deprecation and not _DEPRECATION_AS_OBJECT.search(title, 0, deprecation.start()):
        return "deprecation", ()
    if has(*_PRICE_WORDS) and _PRICE.search(title):
        return "price-change", ()
    title_regions = _regions_in(title)
    region_words = has("region") and bool(_REGION_WORDS.search(title))
    expansion = region_words or bool(title_regions and (_AVAILABLE_IN.search(title) or _REGION_WORD.search(title)))
    if announcement and not expansion:  # wordings of What's New (in an article, mostly something else)
        expansion = (has("global", "worldwide", "location") and bool(_GLOBAL_OR_LOCATIONS.search(title))) or bool(
            title_regions and _IN_TITLE.search(title) and not _COMPLIANCE.search(title)
        )
    if expansion and has("general", "ga") and _GA.search(title) and _ALL_REGIONS.search(title):
        return "general-availability", ()  # "generally available in all commercial Regions": a launch
    if expansion and (region_words or not _NEW_SERVICE_LEAD.match(title)):
        return "region-expansion", tuple(title_regions or _regions_in_body(body))
    if (
        has("instance")
        and _INSTANCE.search(title)
        and (_FAMILY.search(title) or has("powered by", "featuring", "new instance"))
        and _INSTANCE_LAUNCH.search(title)
        and (primary_service is None or primary_service in INSTANCE_SERVICES)
    ):
        return "new-instance-types", ()
    if has("general", "ga", "out of") and _GA.search(title):
        return "general-availability", ()
    if has("preview", "beta") and _PREVIEW.search(title):
        return "preview", ()
    if expansion:
        return "region-expansion", tuple(title_regions)
    if _is_new_service(title, names):
        return "new-service", ()
    if announcement or _FEATURE.search(title):
        return "new-feature", ()
    return "other", ()


_NEW_SERVICE_TAIL = re.compile(
    r"^\s*($|[,:;–—(]|-\s|\ba\b|\ban\b|\bthe\b|\bfor\b(?!\s+(amazon|aws)\b)|\bis\b|\bnow\b)", re.IGNORECASE
)


def _is_new_service(title: str, names: NameMatcher[str] | None = None) -> bool:
    """ "Introducing AWS Fargate – ...": a launch verb, then a product name that is the title's subject.

    With ``names``, that name is a new product when the registry does not know it, or knows it
    whole ("Introducing Amazon MQ"); a known product followed by more words is a feature of it
    ("Introducing the Amazon CodeCatalyst Enterprise Tier").
    """
    lead = _NEW_SERVICE_LEAD.match(title)
    if not lead:
        return False
    rest = title[lead.end() :]
    if not re.match(r"^(amazon|aws)\s+\S", rest, re.IGNORECASE):
        return False
    after = _after_name(rest)
    if not _NEW_SERVICE_TAIL.match(after):
        return False
    if names is None:
        return True
    tokens = tokenize(rest[: len(rest) - len(after)])
    found = names.find(tokens)
    return not found or (len(found) == 1 and found[0].start == 0 and found[0].end == len(tokens))


def _after_name(text: str) -> str:
    """The text after the product name it starts with: its capitalised words ("AppStream 2.0",
    "RDS Custom for SQL Server")."""
    words = text.split(" ")
    i = 1
    joiner = ("for", "on", "with", "&")
    while i < len(words):
        word = words[i]
        capitalised = word[:1].isupper() or word[:1].isdigit()
        if not (capitalised or (word in joiner and i + 1 < len(words) and words[i + 1][:1].isupper())):
            break
        i += 1
    return " ".join(words[i:])


# --- the tagger ----------------------------------------------------------------------------------


class Tagger:
    """Tags posts with one registry. Build it once per process: it compiles the registry's names."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.fingerprint = f"r{RULES_VERSION}-{registry.fingerprint()[:16]}"
        """What ``posts.tagged_with`` records: changes with the registry and with the rules."""
        self._service = {key: registry.is_service(key) for key in registry.entries}

    def tag(self, post: Post) -> Tagging:
        return self.tag_text(post.title, post.summary, post.categories, url=post.url)

    def tag_text(
        self, title: str, body: str = "", categories: Sequence[str] = (), *, url: str | None = None
    ) -> Tagging:
        """Tag a post given its parts; ``url`` tells a What's New announcement from an article."""
        registry = self.registry
        is_service = self._service
        evidence: dict[str, tuple[int, float]] = {}  # key -> (source rank, confidence)
        sources: dict[str, str] = {}

        def note(key: str, source: str, confidence: float) -> None:
            rank = SOURCE_ORDER[source]
            held = evidence.get(key)
            if held is None or (rank, -confidence) < (held[0], -held[1]):
                evidence[key] = (rank, confidence)
                sources[key] = source

        category_keys, unknown = _category_evidence(registry, categories)
        for key, confidence in category_keys:
            note(key, "category", confidence)

        title_tokens = tokenize(title)
        title_matches = registry.matcher.find(title_tokens)
        for match in title_matches:
            note(match.value, "title", CONFIDENCE["title"])

        body_counts: dict[str, int] = {}
        body_first: dict[str, int] = {}
        if body and not any(is_service.get(key) for key in evidence):
            body_tokens = tokenize(body[:BODY_SCAN_CHARS])
            for index, match in enumerate(registry.matcher.find(body_tokens, lower_tokens(body_tokens))):
                if is_service.get(match.value):
                    body_counts[match.value] = body_counts.get(match.value, 0) + 1
                    body_first.setdefault(match.value, index)
            ranked = sorted(body_counts, key=lambda k: (-body_counts[k], body_first[k]))
            for rank, key in enumerate(ranked[:BODY_MAX_SERVICES]):
                if rank == 0 or body_counts[key] >= 2:
                    note(key, "body", min(0.7, 0.4 + 0.1 * body_counts[key]))

        primary = self._primary(title_matches, category_keys, body_counts, body_first)
        tags: dict[str, Tag] = {}
        for key, (_rank, confidence) in evidence.items():
            tags[key] = Tag(
                tag=key,
                type="service" if is_service.get(key) else "topic",
                source=sources[key],  # type: ignore[arg-type]
                confidence=confidence,
            )
        implied: dict[str, int] = {}  # an implied tag -> the source rank of the evidence it stands on
        for tag in [t for t in tags.values() if t.type == "service"]:  # the families they belong to
            for parent in self._parents(tag.tag):
                self._derive(tags, implied, parent, "service", tag, CONFIDENCE["family_factor"])
        for tag in [t for t in tags.values() if t.type == "service"]:
            for topic in registry.topics_of(tag.tag):
                self._derive(tags, implied, topic, "topic", tag, CONFIDENCE["topic_factor"])
        announcement = bool(url and _WHATS_NEW_URL.search(url)) or any(
            c.lower().startswith(_PRODUCTS) for c in categories
        )
        kind, regions = classify(
            title, body, primary_service=primary, announcement=announcement, names=registry.matcher
        )
        ordered = sorted(
            tags.values(),
            key=lambda t: (t.type != "service", implied.get(t.tag, SOURCE_ORDER[t.source]), -t.confidence, t.tag),
        )
        return Tagging(
            tags=tuple(ordered),
            primary_service=primary,
            kind=kind,
            regions=regions,
            region_count=region_count(title, regions) if kind == "region-expansion" else None,
            unknown_tokens=tuple(unknown),
        )

    def unknown_tokens(self, categories: Iterable[str]) -> tuple[str, ...]:
        """The category tokens the registry does not know (what ``Tagging.unknown_tokens`` holds)."""
        return tuple(_category_evidence(self.registry, categories)[1])

    def _parents(self, key: str) -> list[str]:
        """The entries ``key`` is part of, transitively (``dsql`` -> ``aurora`` -> ``rds``)."""
        found: list[str] = []
        todo = [key]
        while todo:
            entry = self.registry.get(todo.pop())
            for parent in entry.part_of if entry else ():
                if parent != key and parent not in found and parent in self.registry:
                    found.append(parent)
                    todo.append(parent)
        return found

    @staticmethod
    def _derive(
        tags: dict[str, Tag], implied: dict[str, int], key: str, type_: TagType, origin: Tag, factor: float
    ) -> None:
        """Imply ``key`` from ``origin`` (source ``implied``), unless ``key`` was found directly or is
        implied by stronger evidence already; ``implied`` keeps the rank of the evidence behind each."""
        held = tags.get(key)
        if held is not None and key not in implied:
            return  # a direct match says more than an implication
        rank = implied.get(origin.tag, SOURCE_ORDER[origin.source])
        confidence = round(origin.confidence * factor, 3)
        if held is None or (rank, -confidence) < (implied[key], -held.confidence):
            tags[key] = Tag(tag=key, type=type_, source="implied", confidence=confidence)
            implied[key] = rank

    def _primary(
        self,
        title_matches: list[Match[str]],
        category_keys: list[tuple[str, float]],
        body_counts: dict[str, int],
        body_first: dict[str, int],
    ) -> str | None:
        is_service = self._service
        candidates = [m.value for m in title_matches if is_service.get(m.value)]
        candidates += [key for key, _confidence in category_keys if is_service.get(key)]
        for key in candidates:
            if key not in SUPPORTING:
                return key
        if candidates:
            return candidates[0]
        if body_counts:
            return min(body_counts, key=lambda k: (-body_counts[k], body_first[k]))
        return None


# --- one tagger per process -----------------------------------------------------------------------

RegistryFiles = tuple[str, str | None]
"""(shipped services file, the user's services file or None): what a tagger is built from."""

_TAGGERS: dict[tuple[tuple[str, int], ...], Tagger] = {}
_TAGGERS_LOCK = threading.Lock()


def tagger_from_files(files: RegistryFiles) -> Tagger:
    """The tagger of a registry, built once per process and again only when one of its files
    changes (so a parse worker process, too, compiles the registry once)."""
    paths = [Path(p) for p in files if p]
    try:
        stamp = tuple((str(path), path.stat().st_mtime_ns) for path in paths)
    except OSError as exc:
        raise ConfigError(f"cannot read the services registry: {exc}") from None
    with _TAGGERS_LOCK:
        tagger = _TAGGERS.get(stamp)
        if tagger is None:
            tagger = Tagger(load_registry(paths[0], paths[1] if len(paths) > 1 else None))
            _TAGGERS.clear()
            _TAGGERS[stamp] = tagger
        return tagger
