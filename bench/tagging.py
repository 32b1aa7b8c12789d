"""The tagger against ground truth, then its speed.

    python bench/tagging.py [--corpus PATH] [--labels PATH] [--misses] [--posts N] [--rounds N]
                            [--skip-speed] [--json]

Evaluation (the shared corpus; skipped with a message, exit 0, when it is absent):

0. **Hand-labelled What's New** (the figures that count) -- ``bench/labels/whats-new.toml``: 526
   What's New items 2016-2026 labelled by hand with their services and kind, keyed by URL path;
   their titles (and categories) are read from the corpus's archives. Split once and for all by a
   hash of the path (``half``) into a tuning half, the only one rules were tuned against, and a
   held-out half. Per half, and for the held-out items of the random draw alone:
   - service precision: of the services tagged, the share labelled; a parent of a labelled
     service (``part_of``: ``rds`` for an Aurora item) is counted neither right nor wrong;
   - service recall: of the labelled services, the share tagged;
   - kind accuracy: the items whose kind is the labelled one.
   Twice: from the title alone (the headline), then with the archive's categories as a What's New
   feed carries them (product names as ``general:products/<slug>``, areas as
   ``marketing:marchitecture/<slug>``). ``--misses`` prints the misses of the tuning half only.
1. **Weekly notes** -- the author's own service keywords (``keywords:`` front matter) against
   the What's New items each post links, found in the 2014-2025 archive by URL. A keyword is
   attributed to the sections of the post whose heading names it (by the registry's names, the
   entries they are part of, or the keyword itself): "ECS Docker Volumes" holds ``ecs``. A
   keyword can be evaluated when one of its sections links an archived What's New item (a
   keyword whose announcement the author linked as a blog post cannot). Items are tagged from
   their title alone (the archive has no descriptions; its sparse service labels stay out).
   - recall: evaluable (post, keyword) pairs whose keyword is a tag of an item of its sections;
   - precision: of the post's service keywords the tagger puts on items of attributed sections,
     the share the author attributed to that section;
   - primary: items of attributed sections whose primary service is a keyword of their section
     (or belongs to one, or one belongs to it);
   - topics: the same recall for the post's topic keywords (serverless, containers...); event
     keywords (reinvent) are left out: items announced around re:Invent do not say so.
2. **Archive labels** (noisy, a weaker check) -- the 2014-2025 archive's ``services`` labels of
   12,030 items against the tags of their titles; labels often name only the family (CloudWatch
   for CloudWatch Logs) and omit secondary services, so figures are given strict and by family
   (each key taken to the outermost entry it is part of), with the primary service's agreement.
3. **2026 archive** -- title and description of 1,183 items against their product categories
   (title-cased slugs, withheld from the tagger), strict and by family.

Speed: ``--posts`` posts (100,000) synthesised from those archives (titles, descriptions, product
and area categories, blog titles), tagged with the registry at full size and cut to a third
(every third entry); the best of ``--rounds`` runs each. Prints posts/s and the ratio of the
time per post, full over a third: the matcher walks the text, so it should stay near 1. Most of
those posts name a service in their title or categories, so their body is not read; a last run
gives the worst case, 20,000 What's New descriptions with no title or categories.

Targets: on the held-out labels, service precision and recall at least 0.95 and kind accuracy at
least 0.93; service-keyword recall and precision at least 0.9 on what the notes let us evaluate;
20,000 posts/s or more; full/third ratio under 1.5. Exit 0 (targets missed are reported, not
failures).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import re
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from aggregator.config import default_config_dir  # noqa: E402
from aggregator.tagging import Tagger, Tagging  # noqa: E402
from aggregator.taxonomy import Registry, load_registry, phrase  # noqa: E402

DEFAULT_CORPUS = PROJECT.parent / "shared" / "corpus"
WHATS_NEW_2014 = "archives/aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
WHATS_NEW_2026 = "archives/aws-whats-new-items_2026_devopscaptain.jsonl"
BLOG_TITLES = "archives/aws-blogs-titles_2023-10_to_2026-08_tsypuk.jsonl"
LABELS = PROJECT / "bench" / "labels" / "whats-new.toml"
TARGET_QUALITY = 0.9
TARGET_LABELLED_SERVICES = 0.95
TARGET_LABELLED_KIND = 0.93
TARGET_POSTS_PER_S = 20_000
TARGET_RATIO = 1.5

_WHATS_NEW_LINK = re.compile(r"\((https?://aws\.amazon\.com/about-aws/whats-new/[^)\s]+)\)")
_KEYWORDS = re.compile(r"^keywords:\s*\n((?:[ \t]+-.*\n?)+)", re.MULTILINE)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def url_key(url: str) -> str:
    return url.strip().rstrip("/").lower().replace("http://", "https://")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class Ratio:
    hits: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.hits += int(hit)
        self.total += 1

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return f"{self.value:.3f} ({self.hits}/{self.total})" if self.total else "n/a (0)"


@dataclass
class Family:
    """Keys taken to the outermost entries they are part of, to compare with family-level labels."""

    tagger: Tagger
    cache: dict[str, str] = field(default_factory=dict)

    def root(self, key: str) -> str:
        if key not in self.cache:
            parents = self.tagger._parents(key)
            self.cache[key] = parents[-1] if parents else key
        return self.cache[key]

    def roots(self, keys: Iterable[str]) -> set[str]:
        return {self.root(k) for k in keys}

    def related(self, a: str, b: str) -> bool:
        return a == b or b in self.tagger._parents(a) or a in self.tagger._parents(b)


# --- 0. hand-labelled What's New -----------------------------------------------------------------

_WHATS_NEW_PATH = "/about-aws/whats-new/"
HALVES = ("tuning", "held-out")


def whats_new_path(url: str) -> str | None:
    """The key of a What's New item in the labels: its URL's path after /about-aws/whats-new/."""
    _, found, path = url.partition(_WHATS_NEW_PATH)
    return path.strip().strip("/").lower() if found else None


def half(path: str) -> str:
    """The half an item belongs to, fixed by its path alone: tuning or held-out."""
    return HALVES[int(hashlib.sha256(path.encode()).hexdigest(), 16) % 2]


def as_feed_categories(labels: Iterable[str]) -> tuple[str, ...]:
    """An archive's category labels as a What's New feed carries them: products as
    ``general:products/<slug>``, areas as ``marketing:marchitecture/<slug>``."""
    tokens = []
    for label in labels:
        slug = slugify(label)
        if not slug or slug == "uncategorised":
            continue
        namespace = "general:products/" if label.startswith(("Amazon ", "AWS ")) else "marketing:marchitecture/"
        tokens.append(namespace + slug)
    return tuple(dict.fromkeys(tokens))


@dataclass(frozen=True)
class Labelled:
    path: str
    sample: str
    """``random`` or ``picked`` (the table of the labels file)."""
    services: frozenset[str]
    kind: str
    title: str
    url: str
    categories: tuple[str, ...]
    """The archive's categories and service labels, as a feed carries them."""


def read_labelled(corpus: Path, labels_file: Path) -> tuple[list[Labelled], list[str]]:
    """The labelled items with their titles from the archives, and the paths not found there."""
    labels = tomllib.loads(labels_file.read_text(encoding="utf-8"))
    wanted = {path: (sample, label) for sample, table in labels.items() for path, label in table.items()}
    found: dict[str, Labelled] = {}
    for name, link in ((WHATS_NEW_2014, "link"), (WHATS_NEW_2026, "url")):
        for item in read_jsonl(corpus / name):
            path = whats_new_path(item.get(link) or "")
            if path is None or path not in wanted or path in found:
                continue
            sample, label = wanted[path]
            labels_of_item = [*item.get("categories", []), *item.get("services", [])]
            found[path] = Labelled(
                path=path,
                sample=sample,
                services=frozenset(label["services"]),
                kind=label["kind"],
                title=item["title"],
                url=item[link],
                categories=as_feed_categories(labels_of_item),
            )
    return [found[p] for p in wanted if p in found], sorted(set(wanted) - set(found))


@dataclass
class LabelledScore:
    items: int = 0
    right: int = 0
    tagged: int = 0
    """Services tagged, less the parents of labelled ones (counted neither way)."""
    found: int = 0
    labelled: int = 0
    kinds: Ratio = field(default_factory=Ratio)
    misses: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float | int | None]:
        return {
            "items": self.items,
            "precision": self.right / self.tagged if self.tagged else None,
            "recall": self.found / self.labelled if self.labelled else None,
            "kind_accuracy": self.kinds.value,
        }

    def meets_targets(self) -> bool:
        figures = self.figures()
        return all(
            (figures[name] or 0) >= target
            for name, target in (
                ("precision", TARGET_LABELLED_SERVICES),
                ("recall", TARGET_LABELLED_SERVICES),
                ("kind_accuracy", TARGET_LABELLED_KIND),
            )
        )


def score_labelled(tagger: Tagger, items: Iterable[Labelled], *, categories: bool) -> LabelledScore:
    """The tagger's services and kinds against the labels of ``items``."""
    score = LabelledScore()
    for item in items:
        result = tagger.tag_text(item.title, "", item.categories if categories else (), url=item.url)
        predicted = set(result.services)
        parents = {p for key in item.services for p in tagger._parents(key)} - item.services
        wrong = predicted - item.services - parents
        missed = item.services - predicted
        score.items += 1
        score.right += len(predicted & item.services)
        score.tagged += len(predicted & item.services) + len(wrong)
        score.found += len(item.services & predicted)
        score.labelled += len(item.services)
        score.kinds.add(result.kind == item.kind)
        if wrong or missed or result.kind != item.kind:
            parts = [f"+{k}" for k in sorted(wrong)] + [f"-{k}" for k in sorted(missed)]
            if result.kind != item.kind:
                parts.append(f"kind {result.kind} (labelled {item.kind})")
            score.misses.append(f"{item.title!r}: {', '.join(parts)}")
    return score


def evaluate_labelled(tagger: Tagger, items: Sequence[Labelled]) -> dict[str, dict[str, LabelledScore]]:
    """Scores by mode (``title``, ``categories``) and subset (each half; the held-out random draw)."""
    subsets = {
        "tuning": [i for i in items if half(i.path) == "tuning"],
        "held-out": [i for i in items if half(i.path) == "held-out"],
        "held-out-random": [i for i in items if half(i.path) == "held-out" and i.sample == "random"],
    }
    return {
        mode: {
            name: score_labelled(tagger, subset, categories=mode == "categories") for name, subset in subsets.items()
        }
        for mode in ("title", "categories")
    }


def print_labelled(scores: dict[str, dict[str, LabelledScore]], *, misses: bool) -> None:
    held_out = scores["title"]["held-out"]
    print(f"target on the held-out half: services >= {TARGET_LABELLED_SERVICES}, kind >= {TARGET_LABELLED_KIND}")
    print(f"{'':<22}{'subset':<18}{'items':>6}{'precision':>11}{'recall':>8}{'kind':>8}")
    for mode, label in (("title", "title alone"), ("categories", "title + categories")):
        for name, score in scores[mode].items():
            f = score.figures()
            print(
                f"{label if name == 'tuning' else '':<22}{name:<18}{f['items']:>6}{fmt(f['precision']):>11}"  # type: ignore[arg-type]
                f"{fmt(f['recall']):>8}{fmt(f['kind_accuracy']):>8}"  # type: ignore[arg-type]
            )
    print(f"held-out half, title alone: {mark(held_out.meets_targets())}")
    if misses:
        for line in scores["title"]["tuning"].misses:
            print(f"  tuning miss  {line}")


# --- 1. weekly notes -----------------------------------------------------------------------------


@dataclass
class Note:
    name: str
    keywords: list[str]
    sections: list[tuple[str, list[str]]]
    """(heading, linked What's New URLs) in order; the text before the first heading is ''."""


def read_notes(folder: Path) -> list[Note]:
    notes = []
    for path in sorted([*folder.glob("*.md"), *folder.glob("*/index.md")]):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---", 2)
        match = _KEYWORDS.search(front)
        keywords = (
            [line.strip().lstrip("-").strip().strip('"') for line in match.group(1).splitlines()] if match else []
        )
        sections: list[tuple[str, list[str]]] = [("", [])]
        for line in body.splitlines():
            if line.startswith("#"):
                sections.append((line.lstrip("#").strip(), []))
            sections[-1][1].extend(_WHATS_NEW_LINK.findall(line))
        name = path.parent.name if path.name == "index.md" else path.stem
        notes.append(Note(name, [k for k in keywords if k], sections))
    return notes


@dataclass
class NotesReport:
    notes: int = 0
    items: int = 0
    recall: Ratio = field(default_factory=Ratio)
    precision: Ratio = field(default_factory=Ratio)
    primary: Ratio = field(default_factory=Ratio)
    topics: Ratio = field(default_factory=Ratio)
    not_evaluable: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def heading_keys(tagger: Tagger, heading: str) -> set[str]:
    """What a section heading names: registry matches, the entries they are part of, and words
    (a key, or its short name, singular or plural: "Database Love" names ``databases``)."""
    registry = tagger.registry
    keys = {m.value for m in registry.matcher.find_in(heading)}
    for key in list(keys):
        keys.update(tagger._parents(key))
    words = set(phrase(heading).split())
    words |= {w + "s" for w in words}
    keys.update(k for k in registry.entries if k in words or phrase(registry.short_name(k)) in words)
    return keys


def evaluate_notes(corpus: Path, tagger: Tagger) -> NotesReport:
    registry = tagger.registry
    archive = {url_key(item["link"]): item for item in read_jsonl(corpus / WHATS_NEW_2014)}
    report = NotesReport()
    family = Family(tagger)
    for note in read_notes(corpus / "weekly-notes"):
        service_keywords = [k for k in note.keywords if registry.is_service(k)]
        topic_keywords = [k for k in note.keywords if k in registry and registry.get(k).kind == "topic"]  # type: ignore[union-attr]
        sections = [
            (heading, [archive[url_key(u)] for u in urls if url_key(u) in archive]) for heading, urls in note.sections
        ]
        items = [item for _, found in sections for item in found]
        if not note.keywords or not items:
            continue
        report.notes += 1
        report.items += len(items)
        tagged: dict[str, Tagging] = {item["link"]: tagger.tag_text(item["title"], url=item["link"]) for item in items}
        named = {heading: heading_keys(tagger, heading) for heading, _ in sections}
        for keyword in service_keywords + topic_keywords:
            own = [found for heading, found in sections if keyword in named[heading]]
            evaluable = [item for found in own for item in found]
            if not evaluable:
                why = "named in no section heading" if not own else "its sections link no archived What's New item"
                report.not_evaluable.append(f"{note.name}: {keyword!r}: {why}")
                continue
            is_service = registry.is_service(keyword)
            hit = any(keyword in tagged[item["link"]].tags_by_key for item in evaluable)
            (report.recall if is_service else report.topics).add(hit)
            if not hit:
                titles = "; ".join(repr(item["title"]) for item in evaluable)
                report.misses.append(f"{note.name}: {'' if is_service else 'topic '}recall miss {keyword!r}: {titles}")
        for heading, found in sections:
            keys = {k for k in service_keywords if k in named[heading]}
            if not keys:
                continue
            for item in found:
                result = tagged[item["link"]]
                for tag in result.services:
                    if tag in service_keywords:
                        right = tag in keys
                        report.precision.add(right)
                        if not right:
                            report.misses.append(
                                f"{note.name}: precision miss {tag!r} on {item['title']!r} (section {heading!r} is {sorted(keys)})"
                            )
                primary = result.primary_service
                right = primary is not None and any(family.related(primary, k) for k in keys)
                report.primary.add(right)
                if not right:
                    report.misses.append(
                        f"{note.name}: primary {primary!r} for {item['title']!r} (section {heading!r} is {sorted(keys)})"
                    )
    return report


# --- 2 and 3. labelled archives ------------------------------------------------------------------


@dataclass
class LabelReport:
    items: int = 0
    strict_hits: int = 0
    strict_predicted: int = 0
    strict_truth: int = 0
    family_hits: int = 0
    family_predicted: int = 0
    family_truth: int = 0
    primary: Ratio = field(default_factory=Ratio)
    unresolved: Counter[str] = field(default_factory=Counter)
    false_positives: Counter[str] = field(default_factory=Counter)
    false_negatives: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, float | None]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            "precision": ratio(self.strict_hits, self.strict_predicted),
            "recall": ratio(self.strict_hits, self.strict_truth),
            "family_precision": ratio(self.family_hits, self.family_predicted),
            "family_recall": ratio(self.family_hits, self.family_truth),
            "primary": self.primary.value,
        }


def compare(report: LabelReport, family: Family, truth: set[str], result: Tagging, title: str) -> None:
    predicted = set(result.services)
    report.items += 1
    report.strict_hits += len(truth & predicted)
    report.strict_predicted += len(predicted)
    report.strict_truth += len(truth)
    truth_roots, predicted_roots = family.roots(truth), family.roots(predicted)
    report.family_hits += len(truth_roots & predicted_roots)
    report.family_predicted += len(predicted_roots)
    report.family_truth += len(truth_roots)
    for key in predicted_roots - truth_roots:
        report.false_positives[key] += 1
        report.examples.setdefault(f"fp {key}", title)
    for key in truth_roots - predicted_roots:
        report.false_negatives[key] += 1
        report.examples.setdefault(f"fn {key}", title)
    primary = result.primary_service
    report.primary.add(primary is not None and family.root(primary) in truth_roots)


def evaluate_labels(corpus: Path, tagger: Tagger) -> LabelReport:
    report = LabelReport()
    family = Family(tagger)
    for item in read_jsonl(corpus / WHATS_NEW_2014):
        if not item.get("services"):
            continue
        truth = set()
        for label in item["services"]:
            key = tagger.registry.resolve_label(label)
            if key is None:
                report.unresolved[label] += 1
            else:
                truth.add(key)
        compare(report, family, truth, tagger.tag_text(item["title"], url=item["link"]), item["title"])
    return report


def evaluate_2026(corpus: Path, tagger: Tagger) -> LabelReport:
    report = LabelReport()
    family = Family(tagger)
    registry = tagger.registry
    for item in read_jsonl(corpus / WHATS_NEW_2026):
        truth = {k for c in item.get("categories", []) if (k := registry.resolve_label(c)) and registry.is_service(k)}
        if not truth:
            continue
        result = tagger.tag_text(item["title"], item.get("description", ""), url=item.get("url"))
        compare(report, family, truth, result, item["title"])
    return report


# --- speed ---------------------------------------------------------------------------------------

Sample = tuple[str, str, tuple[str, ...], str | None]


def samples(corpus: Path, registry: Registry, count: int) -> list[Sample]:
    """``count`` posts cycled from the archives: (title, body, categories, url)."""
    pool: list[Sample] = []
    for item in read_jsonl(corpus / WHATS_NEW_2026):
        categories = []
        for label in item.get("categories", []):
            key = registry.resolve_label(label)
            if key and registry.is_service(key):
                categories.append(f"general:products/{slugify(label)}")
            elif key:
                categories.append(f"marketing:marchitecture/{slugify(label)}")
        pool.append((item["title"], item.get("description", ""), tuple(categories), item.get("url")))
    for item in read_jsonl(corpus / WHATS_NEW_2014):
        body = " ".join([item["title"] + "."] * 4)
        categories = tuple(f"general:products/{slugify(s)}" for s in item.get("services", []))
        pool.append((item["title"], body, categories, item["link"]))
    for item in read_jsonl(corpus / BLOG_TITLES):
        pool.append((item["title"], "", (), item.get("link")))
    return [pool[i % len(pool)] for i in range(count)]


def time_tagging(tagger: Tagger, posts: Sequence[Sample]) -> float:
    tag = tagger.tag_text
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for title, body, categories, url in posts:
            tag(title, body, categories, url=url)
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure_speed(corpus: Path, registry: Registry, count: int, rounds: int) -> dict[str, Any]:
    posts = samples(corpus, registry, count)
    full = Tagger(registry)
    third = Tagger(Registry(list(registry.entries.values())[::3]))
    time_tagging(full, posts[: min(5000, count)])  # warm up
    full_times, third_times = [], []
    for _ in range(rounds):
        full_times.append(time_tagging(full, posts))
        third_times.append(time_tagging(third, posts))
    best_full, best_third = min(full_times), min(third_times)
    # The worst case: nothing but a body to go on (the title moved into it), so every body is read.
    recent = [p for p in posts[:2000] if p[1]][:1000]
    bodies = [("", f"{title}. {body}", (), url) for title, body, _, url in recent]
    bodies = [bodies[i % len(bodies)] for i in range(min(count, 20_000))]
    best_bodies = min(time_tagging(full, bodies) for _ in range(rounds))
    return {
        "posts": count,
        "entries_full": len(registry),
        "entries_third": len(third.registry),
        "body_chars_mean": round(sum(len(p[1]) for p in posts) / len(posts)),
        "full_posts_per_s": round(count / best_full),
        "third_posts_per_s": round(count / best_third),
        "full_us_per_post": round(best_full / count * 1e6, 1),
        "ratio_full_over_third": round(best_full / best_third, 3),
        "body_only_posts": len(bodies),
        "body_only_chars_mean": round(sum(len(p[1]) for p in bodies) / len(bodies)),
        "body_only_posts_per_s": round(len(bodies) / best_bodies),
    }


# --- report --------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_speed(speed: dict[str, Any]) -> None:
    print("== speed ==")
    print(
        f"{speed['posts']:,} posts (mean body {speed['body_chars_mean']} chars): "
        f"{speed['full_posts_per_s']:,} posts/s with {speed['entries_full']} entries "
        f"({speed['full_us_per_post']} us/post)   {mark(speed['full_posts_per_s'] >= TARGET_POSTS_PER_S)}"
    )
    print(f"{speed['third_posts_per_s']:,} posts/s with a third ({speed['entries_third']} entries)")
    print(
        f"time per post, full / third: {speed['ratio_full_over_third']}   "
        f"{mark(speed['ratio_full_over_third'] < TARGET_RATIO)}"
    )
    print(
        f"worst case, every body read ({speed['body_only_posts']:,} What's New descriptions, mean "
        f"{speed['body_only_chars_mean']} chars, no title or categories): {speed['body_only_posts_per_s']:,} posts/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus (../shared/corpus)")
    parser.add_argument("--labels", type=Path, default=LABELS, help="the hand labels (bench/labels/whats-new.toml)")
    parser.add_argument(
        "--misses", action="store_true", help="print the misses (of the labels' tuning half, of the weekly notes)"
    )
    parser.add_argument("--posts", type=int, default=100_000, help="posts for the speed run (default 100,000)")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per registry size; the best counts")
    parser.add_argument("--skip-speed", action="store_true", help="evaluation only")
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure on stdout")
    args = parser.parse_args(argv)
    if not (args.corpus / "weekly-notes").is_dir() or not (args.corpus / WHATS_NEW_2014).is_file():
        log(f"bench/tagging.py: no corpus at {args.corpus}: skipped")
        return 0

    started = time.perf_counter()
    registry = load_registry(default_config_dir() / "services.toml")
    loaded = time.perf_counter() - started
    tagger = Tagger(registry)
    log(f"registry: {len(registry)} entries, loaded in {loaded * 1000:.0f} ms ({tagger.fingerprint})")

    labelled, absent = read_labelled(args.corpus, args.labels)
    scores = evaluate_labelled(tagger, labelled)
    print(f"== hand-labelled What's New ({args.labels.name}): {len(labelled)} items ==")
    if absent:
        print(f"labelled paths not in the archives: {len(absent)} (e.g. {absent[0]})")
    print_labelled(scores, misses=args.misses)

    notes = evaluate_notes(args.corpus, tagger)
    labels = evaluate_labels(args.corpus, tagger)
    recent = evaluate_2026(args.corpus, tagger)
    out: dict[str, Any] = {
        "registry_entries": len(registry),
        "fingerprint": tagger.fingerprint,
        "labelled": {mode: {name: sc.figures() for name, sc in by.items()} for mode, by in scores.items()},
        "weekly_notes": {
            "notes": notes.notes,
            "linked_items": notes.items,
            "recall": notes.recall.value,
            "recall_n": notes.recall.total,
            "precision": notes.precision.value,
            "precision_n": notes.precision.total,
            "primary": notes.primary.value,
            "primary_n": notes.primary.total,
            "topic_recall": notes.topics.value,
            "topic_n": notes.topics.total,
            "not_evaluable": notes.not_evaluable,
            "misses": notes.misses,
        },
        "archive_labels": {"items": labels.items, **labels.figures(), "unresolved_labels": dict(labels.unresolved)},
        "archive_2026": {"items": recent.items, **recent.figures()},
    }

    print("== weekly notes: the author's service keywords for the What's New items linked ==")
    print(f"notes with keywords and archived links: {notes.notes}, linked items: {notes.items}")
    print(f"service-keyword recall     {notes.recall}   {mark((notes.recall.value or 0) >= TARGET_QUALITY)}")
    print(f"service-keyword precision  {notes.precision}   {mark((notes.precision.value or 0) >= TARGET_QUALITY)}")
    print(f"primary service agrees     {notes.primary}")
    print(f"topic-keyword recall       {notes.topics}")
    print(f"keywords not evaluable     {len(notes.not_evaluable)}")
    if args.misses:
        for line in notes.not_evaluable:
            print(f"  not evaluable  {line}")
        for line in notes.misses:
            print(f"  miss           {line}")
    for title, report in (
        ("archive labels (2014-2025, titles only; noisy)", labels),
        ("2026 archive (title and description; categories withheld)", recent),
    ):
        figures = report.figures()
        print(f"== {title}: {report.items} items ==")
        print(f"strict     precision {fmt(figures['precision'])}  recall {fmt(figures['recall'])}")
        print(f"by family  precision {fmt(figures['family_precision'])}  recall {fmt(figures['family_recall'])}")
        print(f"primary service among the labels (by family): {fmt(figures['primary'])}")
        if report.unresolved:
            print(f"labels the registry does not resolve: {dict(report.unresolved.most_common(10))}")
        if args.misses:
            for kind, counter in (("fp", report.false_positives), ("fn", report.false_negatives)):
                for key, count in counter.most_common(12):
                    print(f"  {kind} {key:<20} {count:>4}  e.g. {report.examples[f'{kind} {key}']!r}")

    if not args.skip_speed:
        log(f"speed: tagging {args.posts:,} posts, {args.rounds} rounds per registry size...")
        out["speed"] = measure_speed(args.corpus, registry, args.posts, args.rounds)
        print_speed(out["speed"])
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
