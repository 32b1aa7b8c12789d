"""Replay history: would the digest have drafted what the author wrote?

    python bench/replay.py [--corpus PATH] [--since 2016-01-01] [--until 2018-12-31] [--json] [--all] [--misses]
    python bench/replay.py --tune     # the notes of 2016-2017: what rules and learning are tuned on
    python bench/replay.py --check    # the notes of 2018: the honest check, never tuned on

Loads the What's New archive (``../shared/tools/make_feeds.py`` turns it into weekly feeds, which
are imported into a fresh archive and tagged as ``aggregator import`` tags them), then for each
real weekly note in ``corpus/weekly-notes`` published from ``--since`` on, builds the draft for
that note's publication time with only the earlier notes in the notes folder, once per ranking:

- ``newest``: newest first (the baseline);
- ``rules``: the rule-based score (``digest.ranking = "rules"``);
- ``learned``: the profile learned from the earlier notes only (``digest.ranking = "learned"``),
  so the replay learns online: each draft sees the notes before it, never its own or later ones.

and compares each with what the author wrote:

- featured recall: of the What's New items the author linked (and the archive holds), the share
  the draft features (in a featured section: the story, or another story of its service listed
  there); draft recall: the share the draft contains anywhere (the History lines and the
  "Earlier, not covered yet" list included);
- keyword recall and precision: the draft's ``keywords`` that are AWS services or registry
  topics against the author's (notes without keywords are left out: the author added them from
  mid-2017);
- history recall: of the author's links to earlier notes, the share the draft proposes under
  "Previously".

and how the draft's words compare with the author's (the wording table, for the learned ranking,
the default; every ranking in ``--json``):

- section recall: the author's sections (``#``/``##`` headings of the body) whose story the archive
  holds (they link one of its What's New items), found among the draft's featured sections;
- heading F1: token F1 (lowercased words, "aws"/"amazon" dropped) of the author's heading against
  the draft's heading of the section featuring the same story (its lead story first, else one
  listed there as related), averaged over those pairs;
- title F1: the title's topics (after "Week N, YYYY - ") as a bag of the same tokens, averaged
  over the notes (all of them, and those with a section the archive holds: "AWS notes");
- keywords: precision and recall of all the draft's keywords against the author's (notes with
  keywords), and how many a week each writes;
- the headings' shape: words per heading (the author's sections beside the draft's featured
  ones), headings ending on a connector ("and", "to the", "based"), doubled names ("S3 S3", "The
  CDK (CDK)"), "Generally Available";
- published list lines: bullet lines Hugo would publish outside the featured sections and the
  community section (HTML comments are not published);
- heading level: the weeks the draft's ``#`` count is the author's.

Figures per year and overall, with counts; misses by cause (not in the archive, covered by an
earlier note, outside the window, in the window but ranked just below the cut or further down,
and whether the story's service was one the author had never written about before); the time
it takes to learn the profile from the whole notes folder. Skips cleanly (exit 0) when the
corpus is absent.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator import pipeline, store  # noqa: E402
from aggregator.config import Config, load_config  # noqa: E402
from aggregator.digest import Draft, build_draft, default_registry  # noqa: E402
from aggregator.digest.notes import Note, note_path, read_notes  # noqa: E402
from aggregator.digest.profile import ExampleCache, Profile, learn_profile, rank_learned  # noqa: E402
from aggregator.digest.ranking import Ranking, rank_by_score, rank_newest  # noqa: E402
from aggregator.normalize import link_id  # noqa: E402

ARCHIVE = "archives/aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
BOTOCORE = "taxonomy/botocore-1.43.11-services.csv"
WHATS_NEW = re.compile(r"^https?://aws\.amazon\.com/about-aws/whats-new/", re.I)
LINK = re.compile(r"\]\((https?://[^)\s]+|/[^)\s]*)\)")
TIMEZONE = "Australia/Melbourne"  # the author's
RANKINGS = ("newest", "rules", "learned")
JUST_BELOW = 4
"""A featured miss ranked within this many places below the last featured story is "just below the cut"."""


@dataclass
class Score:
    """Counts for one note (or many) and one ranking; recall = hits / total."""

    linked: int = 0
    featured: int = 0
    drafted: int = 0
    kw_author: int = 0
    kw_draft: int = 0
    kw_both: int = 0
    kw_draft_aws: int = 0
    """The draft's keywords, counted only for notes where the author used some of the vocabulary."""
    notes_linked: int = 0
    notes_proposed: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    missed: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for f in dataclasses.fields(self):
            if f.name == "misses":
                self.misses.update(other.misses)
            elif f.name == "missed":
                self.missed.extend(other.missed)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def figures(self) -> dict[str, float | None]:
        return {
            "featured_recall": ratio(self.featured, self.linked),
            "draft_recall": ratio(self.drafted, self.linked),
            "keyword_recall": ratio(self.kw_both, self.kw_author),
            "keyword_precision": ratio(self.kw_both, self.kw_draft),
            "keyword_precision_aws_notes": ratio(self.kw_both, self.kw_draft_aws),
            "history_recall": ratio(self.notes_proposed, self.notes_linked),
        }

    def counts(self) -> dict[str, int]:
        return {
            "linked": self.linked,
            "featured": self.featured,
            "drafted": self.drafted,
            "kw_author": self.kw_author,
            "kw_draft": self.kw_draft,
            "kw_both": self.kw_both,
        }


def ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def sections(text: str, level: int) -> list[tuple[str, str]]:
    """(heading, body) of the draft's top-level sections; the part before the first under ""."""
    marker = "\n" + "#" * level + " "
    parts = text.split(marker)
    out = [("", parts[0])]
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        out.append((heading.strip(), body))
    return out


def evaluate(
    draft: Draft,
    note: Note,
    earlier: Sequence[Note],
    *,
    archive_ids: set[str],
    vocabulary: set[str],
    named_before: set[str],
) -> Score:
    """``named_before``: the services earlier notes wrote about (keywords, headings, linked posts)."""
    score = Score()
    selection = draft.selection
    _, parts = draft_sections(draft)  # the draft's own heading level, whatever decided it
    # What the featured sections publish: the reading list in an HTML comment is not published.
    featured_text = re.sub(r"<!--.*?-->", "", "".join(body for _, body in parts[: len(selection.featured)]), flags=re.S)
    featured_ids = {i for url in LINK.findall(featured_text) if (i := link_id(url))}
    draft_ids = {i for url in LINK.findall(draft.text) if (i := link_id(url))}
    authored = {i for link in note.links if WHATS_NEW.match(link) and (i := link_id(link))}
    score.misses["not in the archive"] += len(authored - archive_ids)
    held = authored & archive_ids
    score.linked = len(held)
    score.featured = len(held & featured_ids)
    score.drafted = len(held & draft_ids)
    covered = {i for n in earlier for link in n.links if (i := link_id(link))}
    rank_of = {p.id: (i, r.story) for i, r in enumerate(selection.ranked) for p in r.story.posts}
    featured_ranks = [rank_of[f.ranked.story.primary.id][0] for f in selection.featured]
    cut = max(featured_ranks, default=-1)
    for post_id in sorted(held - featured_ids):
        what = post_id
        if post_id in covered:
            cause = "covered by an earlier note"
        elif post_id not in rank_of:
            cause = "outside the window (older, or after the publication)"
        else:
            rank, story = rank_of[post_id]
            where = "just below the cut" if rank <= cut + JUST_BELOW else "further down"
            new = " (a service the notes never named)" if story.service not in named_before else ""
            cause = f"in the window, ranked {where}{new}"
            what = f"#{rank + 1} of {len(selection.ranked)} [{story.service or '-'}] {story.primary.title}"
        score.misses[cause] += 1
        score.missed.append(f"{note.label}: {cause}: {what}")
    if note.keywords:
        author_kw = {k for k in note.keywords if k in vocabulary}
        head = draft.text.split("\n---\n", 1)[0]
        draft_kw = set(front_keywords(head)) & vocabulary
        score.kw_author, score.kw_draft, score.kw_both = len(author_kw), len(draft_kw), len(author_kw & draft_kw)
        score.kw_draft_aws = len(draft_kw) if author_kw else 0
    earlier_paths = {p for n in earlier for p in n.paths()}
    linked_notes = {note_path(link) for link in note.links} & earlier_paths
    proposed = {note_path(p.note.url) for f in selection.featured for p in f.previously}
    score.notes_linked = len(linked_notes)
    score.notes_proposed = len(linked_notes & proposed)
    return score


CONNECTORS = frozenset(
    """a an and as at based by for from in into of on or per than that the through to using via when where which
    while with""".split()  # noqa: SIM905
)
"""Words a heading never ends on: it would stop mid-phrase ("App Mesh routing based")."""
_TOKEN = re.compile(r"[a-z0-9]+")
_NOT_TOKENS = frozenset({"aws", "amazon"})
_HEADING_LINE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_FENCED = re.compile(r"^[ ]{0,3}(```|~~~).*?^[ ]{0,3}\1", re.S | re.M)
_BULLET = re.compile(r"^[ ]{0,3}[*+-][ \t]+(.*)$", re.M)


def words_of(text: str) -> list[str]:
    """The tokens the heading and title measures compare: lowercased words, "aws"/"amazon" dropped."""
    return [w for w in _TOKEN.findall(re.sub(r"['’]s\b", "", text.lower())) if w not in _NOT_TOKENS]


def token_f1(mine: Sequence[str], theirs: Sequence[str]) -> float:
    """F1 of two bags of tokens."""
    if not mine or not theirs:
        return 0.0
    both = sum((Counter(mine) & Counter(theirs)).values())
    return 2 * both / (len(mine) + len(theirs))


def body_of(text: str) -> str:
    """A Markdown file without its front matter."""
    parts = re.split(r"^(?:---|\+\+\+)[ \t]*$", text, maxsplit=2, flags=re.M)
    return parts[2] if len(parts) == 3 and not parts[0].strip() else text


def heading_level(text: str) -> int | None:
    """The level of a Markdown file's top sections: its shallowest heading (code and comments aside)."""
    body = _FENCED.sub("", _COMMENT.sub("", body_of(text)))
    levels = [len(m.group(1)) for m in _HEADING_LINE.finditer(body)]
    return min(levels, default=None)


def front_keywords(head: str) -> list[str]:
    """The ``keywords`` list of a draft's front matter (not the ``categories`` above it)."""
    block = re.search(r"^keywords:[ \t]*\n((?:[ \t]+-.*\n?)*)", head, re.M)
    return [k.strip().strip("\"'") for k in re.findall(r"^[ \t]+-[ \t]*(.+)$", block.group(1), re.M)] if block else []


def doubled(heading: str) -> bool:
    """A name written twice ("S3 S3 Batch Operations", "The CDK (CDK)"), or a parenthetical."""
    words = [w for w in re.findall(r"[\w@.+-]+", heading.lower()) if w not in CONNECTORS]
    return "(" in heading or len(words) != len(set(words))


@dataclass
class Wording:
    """How the draft's words compare with the author's, for one note (or many)."""

    sections: int = 0
    """The author's sections whose story the archive holds."""
    found: int = 0
    """... of which the draft features the story."""
    heading_f1: float = 0.0
    """Sum over the pairs (an author's section, the draft's section featuring its story)."""
    pairs: int = 0
    title_f1: float = 0.0
    titles: int = 0
    title_f1_aws: float = 0.0
    titles_aws: int = 0
    kw_notes: int = 0
    kw_author: int = 0
    kw_draft: int = 0
    kw_both: int = 0
    headings: int = 0
    heading_words: int = 0
    author_headings: int = 0
    author_heading_words: int = 0
    connector_end: int = 0
    doubled: int = 0
    generally_available: int = 0
    list_lines: int = 0
    weeks: int = 0
    level_weeks: int = 0
    level_same: int = 0
    pairs_seen: list[str] = field(default_factory=list)
    headings_seen: list[str] = field(default_factory=list)
    keywords_seen: list[str] = field(default_factory=list)

    def add(self, other: Wording) -> None:
        for f in dataclasses.fields(self):
            if f.name in ("pairs_seen", "headings_seen", "keywords_seen"):
                getattr(self, f.name).extend(getattr(other, f.name))
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def figures(self) -> dict[str, float | None]:
        return {
            "section_recall": ratio(self.found, self.sections),
            "heading_f1": self.heading_f1 / self.pairs if self.pairs else None,
            "title_f1": self.title_f1 / self.titles if self.titles else None,
            "title_f1_aws_notes": self.title_f1_aws / self.titles_aws if self.titles_aws else None,
            "keyword_precision_all": ratio(self.kw_both, self.kw_draft),
            "keyword_recall_all": ratio(self.kw_both, self.kw_author),
            "keywords_per_week": self.kw_draft / self.kw_notes if self.kw_notes else None,
            "author_keywords_per_week": self.kw_author / self.kw_notes if self.kw_notes else None,
            "words_per_heading": self.heading_words / self.headings if self.headings else None,
            "author_words_per_heading": (
                self.author_heading_words / self.author_headings if self.author_headings else None
            ),
            "connector_endings": self.connector_end,
            "doubled_names": self.doubled,
            "generally_available": self.generally_available,
            "list_lines_per_week": self.list_lines / self.weeks if self.weeks else None,
            "heading_level_agreement": ratio(self.level_same, self.level_weeks),
        }


def draft_sections(draft: Draft) -> tuple[int | None, list[tuple[str, str]]]:
    """The draft's level and its top-level sections (heading, body) after the first paragraph."""
    level = heading_level(draft.text)
    if level is None:
        return None, []
    return level, sections(body_of(draft.text), level)[1:]


def list_lines(draft: Draft, parts: Sequence[tuple[str, str]]) -> int:
    """Bullet lines Hugo publishes outside the featured sections and the community corner."""
    community = {c.url for c in draft.selection.community if c.url}
    count = 0
    for _, text in parts[len(draft.selection.featured) :]:
        for line in _BULLET.findall(_COMMENT.sub("", text)):
            urls = LINK.findall(line)
            if not (urls and urls[0] in community):
                count += 1
    return count


def evaluate_words(draft: Draft, note: Note, *, archive_ids: set[str], author_level: int | None) -> Wording:
    """The draft's headings, title, keywords and lists against what the author wrote."""
    w = Wording(weeks=1)
    selection = draft.selection
    level, parts = draft_sections(draft)
    featured = parts[: len(selection.featured)]
    leads = [{p.id for p in f.ranked.story.posts} for f in selection.featured]
    related = [{p.id for r in f.related for p in r.story.posts} for f in selection.featured]
    for heading, _ in featured:
        w.headings += 1
        w.heading_words += len(heading.split())
        w.connector_end += bool(heading.split()) and heading.split()[-1].lower() in CONNECTORS
        w.doubled += doubled(heading)
        w.generally_available += bool(re.search(r"generally\s+available", heading, re.I))
        w.headings_seen.append(f"{note.label}: {heading}")
    aws_note = False
    for section in note.sections[1:]:
        w.author_headings += 1
        w.author_heading_words += len(section.heading.split())
        held = {i for link in section.links if WHATS_NEW.match(link) and (i := link_id(link))} & archive_ids
        if not held:
            continue
        aws_note = True
        w.sections += 1
        at = next((k for k, ids in enumerate(leads) if held & ids), None)
        if at is None:
            at = next((k for k, ids in enumerate(related) if held & ids), None)
        if at is None or at >= len(featured):
            continue
        w.found += 1
        w.pairs += 1
        w.heading_f1 += token_f1(words_of(featured[at][0]), words_of(section.heading))
        w.pairs_seen.append(f"{note.label}: {section.heading!r} <- {featured[at][0]!r}")
    head = draft.text.split("\n---\n", 1)[0]
    described = re.search(r"^Description:\s*(.*)$", head, re.M)
    if described:
        w.headings_seen.append(f"{note.label}: Description: {described.group(1)}")
    title = re.search(r"^title:\s*(.*)$", head, re.M)
    draft_topics = title.group(1).strip().strip('"').split(" - ", 1)[1:] if title else []
    if note.topics:
        f1 = token_f1(words_of(" ".join(draft_topics)), words_of(" ".join(note.topics)))
        w.titles, w.title_f1 = 1, f1
        w.pairs_seen.append(f"{note.label}: title {'; '.join(note.topics)!r} <- {' '.join(draft_topics)!r} ({f1:.2f})")
        if aws_note:
            w.titles_aws, w.title_f1_aws = 1, f1
    if note.keywords:
        mine = set(front_keywords(head))
        w.kw_notes, w.kw_author, w.kw_draft = 1, len(set(note.keywords)), len(mine)
        w.kw_both = len(mine & set(note.keywords))
        w.keywords_seen.append(f"{note.label}: {' '.join(note.keywords)} <- {' '.join(sorted(mine))}")
    w.list_lines = list_lines(draft, parts)
    if level is not None and author_level is not None:
        w.level_weeks, w.level_same = 1, int(level == author_level)
    return w


def with_digest(config: Config, **changes: object) -> Config:
    digest = dataclasses.replace(config.settings.digest, **changes)
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, digest=digest))


def with_interest(config: Config, profile: str) -> Config:
    """``'ecs=2,topic:serverless=1'`` -> digest.interest_services and interest_topics."""
    services: dict[str, float] = {}
    topics: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in profile.split(","))):
        name, _, weight = part.partition("=")
        target = topics if name.startswith("topic:") else services
        target[name.removeprefix("topic:")] = float(weight or 1)
    return with_digest(config, interest_services=services, interest_topics=topics)


def vocabulary_of(corpus: Path, config: Config) -> set[str]:
    """AWS keywords: the registry's keys (services and topics), and botocore's client names."""
    words = set(default_registry(config).entries)
    path = corpus / BOTOCORE
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            words.update(row["data_dir"].replace("-", "").lower() for row in csv.DictReader(fh))
    return words


def build_archive(corpus: Path, tools: Path, work: Path, *, until: dt.date) -> Config:
    feeds = work / "feeds"
    subprocess.run(
        [sys.executable, str(tools / "make_feeds.py"), str(corpus / ARCHIVE), str(feeds), "--until", until.isoformat()],
        check=True,
        capture_output=True,
    )
    config_path = work / "replay.toml"
    config_path.write_text(
        f'[general]\ndatabase = "{(work / "replay.db").as_posix()}"\ntimezone = "{TIMEZONE}"\n\n'
        f'[[feeds]]\nname = "aws-whats-new"\nurl = "{feeds.as_posix()}"\nkind = "aws-whats-new"\n',
        encoding="utf-8",
    )
    config = load_config(config_path, environ={})
    db = store.open_db(config.database)
    files = sorted(feeds.glob("*.xml"))
    results = list(pipeline.import_files(db, config.feeds[0], files, tagger=pipeline.tagger_for(config)))
    failed = [r for r in results if r.error]
    if failed:
        raise SystemExit(f"import failed: {failed[0].error}")
    return config


def named_services(notes: Sequence[Note], profile: Profile | None) -> set[str]:
    """The services the profile saw named by earlier notes."""
    if profile is None or profile.counts is None:
        return set()
    return {k.split(":", 1)[1] for k, v in profile.counts.named.raw.items() if v and k.startswith("service:")}


def print_table(title: str, rows: list[tuple[str, dict[str, Score]]]) -> None:
    print(title)
    print(
        f"{'':<15} {'WN':>3}  {'featured recall (hits)':^38}  {'draft recall':^22}  {'kw recall':^16}  {'kw precision':^16}"
    )
    print(
        f"{'':<15} {'':>3}  "
        + "  ".join(f"{n:>11}" for n in RANKINGS)
        + "  "
        + "  ".join(f"{n[:6]:>6}" for n in RANKINGS)
        + "  "
        + "  ".join(f"{n[:4]:>4}" for n in RANKINGS)
        + "  "
        + "  ".join(f"{n[:4]:>4}" for n in RANKINGS)
    )
    for label, scores in rows:
        first = scores[RANKINGS[0]]
        print(
            f"{label:<15} {first.linked:>3}  "
            + "  ".join(f"{fmt(scores[n].figures()['featured_recall'])} ({scores[n].featured:>3})" for n in RANKINGS)
            + "  "
            + "  ".join(f"{fmt(scores[n].figures()['draft_recall']):>6}" for n in RANKINGS)
            + "  "
            + "  ".join(fmt(scores[n].figures()["keyword_recall"]) for n in RANKINGS)
            + "  "
            + "  ".join(fmt(scores[n].figures()["keyword_precision"]) for n in RANKINGS)
        )
    print()


TUNE = (dt.date(2016, 1, 1), dt.date(2017, 12, 31))
"""The notes rules and learning are tuned on (``--tune``)."""
CHECK = (dt.date(2018, 1, 1), dt.date(2018, 12, 31))
"""The notes kept for the honest check (``--check``): never tuned on."""


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--tools", type=Path, help="folder of make_feeds.py (default: the corpus's ../tools)")
    ap.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2016, 1, 1), help="first note evaluated")
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2018, 12, 31), help="last note evaluated")
    span = ap.add_mutually_exclusive_group()
    span.add_argument("--tune", action="store_true", help="the notes of 2016-2017 (what is tuned on)")
    span.add_argument("--check", action="store_true", help="the notes of 2018 (the check, never tuned on)")
    ap.add_argument("--json", action="store_true", help="one JSON object per note, then the totals")
    ap.add_argument(
        "--drafts",
        type=Path,
        metavar="DIR",
        help="also write each note's learned draft to DIR (YYYY-WW.md), to read or build",
    )
    ap.add_argument("--all", action="store_true", help="a row for every note, not only those with something to measure")
    ap.add_argument("--misses", action="store_true", help="list every featured miss of the learned ranking")
    ap.add_argument(
        "--pairs",
        action="store_true",
        help="list the (author's, draft's) heading pairs, the draft's headings and keywords",
    )
    ap.add_argument(
        "--interest",
        default="",
        metavar="PROFILE",
        help="an interest profile for the rule-based ranking, as a user would configure it: 'cloudformation=2,topic:serverless=1'",
    )
    args = ap.parse_args()
    if args.tune:
        args.since, args.until = TUNE
    elif args.check:
        args.since, args.until = CHECK
    return args


@dataclass
class Result:
    """One note's figures, per ranking."""

    note: Note
    scores: dict[str, Score]
    words: dict[str, Wording]


@dataclass
class Run:
    """What a replay measured, and what it took."""

    results: list[Result]
    archive_size: int
    tagged: int
    imported: float
    elapsed: float
    seconds: Counter[str]
    full: Profile
    learn_all: float


def replay(args: argparse.Namespace, corpus: Path, tools: Path, notes: Sequence[Note], chosen: Sequence[Note]) -> Run:
    """Draft every chosen note, once per ranking, with only the notes before it known."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        until = max(n.date for n in notes).date() + dt.timedelta(days=1)
        config = build_archive(corpus, tools, Path(tmp), until=until)
        if args.interest:
            config = with_interest(config, args.interest)
        imported = time.perf_counter() - began
        db = store.open_db(config.database)
        archive_ids = {row["id"] for row in db.query("SELECT id FROM posts")}
        tagged = next(iter(db.query("SELECT count(*) AS n FROM posts WHERE tagged_with IS NOT NULL")))["n"]
        vocabulary = vocabulary_of(corpus, config)
        registry = default_registry(config)
        settings = config.settings.digest
        cache: ExampleCache = {}
        results: list[Result] = []
        seconds: Counter[str] = Counter()
        for note in chosen:
            earlier = [n for n in notes if n.date < note.date]
            local = note.date.astimezone(dt.timezone(note.date.utcoffset() or dt.timedelta()))
            author_level = heading_level((corpus / "weekly-notes" / note.path).read_text(encoding="utf-8"))
            t0 = time.perf_counter()
            profile = learn_profile(db, earlier, settings, at=note.date, registry=registry, cache=cache)
            seconds["learning (online, cached windows)"] += time.perf_counter() - t0
            rankings: dict[str, Ranking] = {
                "newest": rank_newest,
                "rules": rank_by_score(),
                "learned": rank_learned(profile),
            }
            named = named_services(earlier, profile)
            result = Result(note, {}, {})
            for name, ranking in rankings.items():
                t0 = time.perf_counter()
                draft = build_draft(
                    db, config, date=local.date(), published_at=note.date, notes=earlier, registry=registry,
                    ranking=ranking, keyword_topics=profile.keyword_topics if name == "learned" else (),
                )  # fmt: skip
                seconds[f"drafts ({name})"] += time.perf_counter() - t0
                if args.drafts and name == "learned":
                    args.drafts.mkdir(parents=True, exist_ok=True)
                    (args.drafts / draft.filename).write_text(draft.text, encoding="utf-8")
                result.scores[name] = evaluate(
                    draft, note, earlier, archive_ids=archive_ids, vocabulary=vocabulary, named_before=named
                )
                result.words[name] = evaluate_words(draft, note, archive_ids=archive_ids, author_level=author_level)
            results.append(result)
        t0 = time.perf_counter()
        full = learn_profile(
            db, notes, settings, at=max(n.date for n in notes) + dt.timedelta(seconds=1), registry=registry
        )
        learn_all = time.perf_counter() - t0
    return Run(results, len(archive_ids), tagged, imported, time.perf_counter() - began, seconds, full, learn_all)


WORDING = (
    ("section recall", "section_recall", "{:.2f}"),
    ("heading F1", "heading_f1", "{:.2f}"),
    ("title F1", "title_f1", "{:.2f}"),
    ("title F1, AWS notes", "title_f1_aws_notes", "{:.2f}"),
    ("kw precision", "keyword_precision_all", "{:.2f}"),
    ("kw recall", "keyword_recall_all", "{:.2f}"),
    ("kw per week", "keywords_per_week", "{:.1f}"),
    ("  the author's", "author_keywords_per_week", "{:.1f}"),
    ("words/heading", "words_per_heading", "{:.1f}"),
    ("  the author's", "author_words_per_heading", "{:.1f}"),
    ("connector ends", "connector_endings", "{:.0f}"),
    ("doubled names", "doubled_names", "{:.0f}"),
    ("Generally Avail.", "generally_available", "{:.0f}"),
    ("list lines/week", "list_lines_per_week", "{:.1f}"),
    ("heading level", "heading_level_agreement", "{:.2f}"),
)
"""The rows of the wording table: label, figure, format."""


def print_wording(title: str, columns: list[tuple[str, Wording]]) -> None:
    print(title)
    print(f"{'':<20}" + "".join(f"{label:>11}" for label, _ in columns))
    figures = [w.figures() for _, w in columns]
    for label, key, form in WORDING:
        cells = ["-" if f[key] is None else form.format(f[key]) for f in figures]
        print(f"{label:<20}" + "".join(f"{c:>11}" for c in cells))
    counts = [f"{w.pairs}/{w.found}/{w.sections}" for _, w in columns]
    print(f"{'pairs/found/held':<20}" + "".join(f"{c:>11}" for c in counts))
    print()


def totals_of(results: Sequence[Result]) -> tuple[dict[str, Score], dict[int, dict[str, Score]]]:
    totals = {n: Score() for n in RANKINGS}
    years: dict[int, dict[str, Score]] = defaultdict(lambda: {n: Score() for n in RANKINGS})
    for result in results:
        for name, score in result.scores.items():
            totals[name].add(score)
            years[result.note.date.year][name].add(score)
    return totals, dict(years)


def wording_of(results: Sequence[Result]) -> tuple[dict[str, Wording], dict[int, dict[str, Wording]]]:
    totals = {n: Wording() for n in RANKINGS}
    years: dict[int, dict[str, Wording]] = defaultdict(lambda: {n: Wording() for n in RANKINGS})
    for result in results:
        for name, words in result.words.items():
            totals[name].add(words)
            years[result.note.date.year][name].add(words)
    return totals, dict(years)


def print_json(run: Run) -> None:
    totals, years = totals_of(run.results)
    words, word_years = wording_of(run.results)
    for result in run.results:
        note = result.note
        print(
            json.dumps(
                {"note": note.label, "date": note.date.date().isoformat()}
                | {n: s.figures() | s.counts() | result.words[n].figures() for n, s in result.scores.items()}
            )
        )
    print(
        json.dumps(
            {
                "years": {
                    y: {n: s.figures() | s.counts() | word_years[y][n].figures() for n, s in v.items()}
                    for y, v in sorted(years.items())
                },
                "total": {n: s.figures() | s.counts() | words[n].figures() for n, s in totals.items()},
                "misses": {n: dict(s.misses) for n, s in totals.items()},
                "learn_seconds": run.learn_all,
            }
        )
    )


def print_report(args: argparse.Namespace, run: Run, chosen: Sequence[Note]) -> None:
    totals, years = totals_of(run.results)
    profile_note = f"; rule-based interest profile: {args.interest}" if args.interest else ""
    print(
        f"replay: {len(chosen)} notes from {chosen[0].date.date()} to {chosen[-1].date.date()}{profile_note};"
        f" archive of {run.archive_size} What's New items ({run.tagged} tagged) imported in {run.imported:.1f} s;"
        f" {len(RANKINGS) * len(chosen)} drafts; {run.elapsed:.1f} s in all"
    )
    print()
    note_rows = [
        (r.note.label, r.scores)
        for r in run.results
        if args.all or r.scores["rules"].linked or r.scores["rules"].kw_author or r.scores["rules"].notes_linked
    ]
    print_table("per note (WN: the What's New items the author linked that the archive holds)", note_rows)
    print_table("per year", [(str(y), v) for y, v in sorted(years.items())] + [("all notes", totals)])
    words, word_years = wording_of(run.results)
    columns = [(str(y), v["learned"]) for y, v in sorted(word_years.items())]
    tuned = Wording()
    for y, v in word_years.items():
        if TUNE[0].year <= y <= TUNE[1].year:
            tuned.add(v["learned"])
    if len(columns) > 1:
        columns.append(("2016-2017" if tuned.weeks and tuned.weeks < words["learned"].weeks else "all", tuned))
    if columns[-1][1] is not words["learned"]:
        columns.append(("all notes", words["learned"]))
    print_wording(
        "the draft's words against the author's (learned ranking; tuned on 2016-2017, checked on 2018)", columns
    )
    if args.pairs:
        print("the author's headings and the draft's for the same story:")
        for line in words["learned"].pairs_seen:
            print(f"  {line}")
        print("the draft's featured headings:")
        for line in words["learned"].headings_seen:
            print(f"  {line}")
        print("the author's keywords and the draft's:")
        for line in words["learned"].keywords_seen:
            print(f"  {line}")
        print()
    for name in RANKINGS:
        s = totals[name]
        print(
            f"{name:>8}: featured {s.featured} and drafted {s.drafted} of {s.linked} linked;"
            f" keywords {s.kw_both} shared of the author's {s.kw_author} and the drafts' {s.kw_draft};"
            f" history {s.notes_proposed} of {s.notes_linked}"
        )
    print()
    for name in RANKINGS:
        print(f"where the featured misses come from ({name}):")
        for cause, count in sorted(totals[name].misses.items(), key=lambda i: (-i[1], i[0])):
            print(f"  {count:>3}  {cause}")
    if args.misses:
        print()
        for line in totals["learned"].missed:
            print(f"  {line}")
    print()
    print_learning(run)


def print_learning(run: Run) -> None:
    full = run.full
    print(
        f"learning the profile from the whole notes folder ({full.notes} notes, {full.examples} with examples,"
        f" {full.candidates} candidates): {run.learn_all:.2f} s"
    )
    for what, secs in sorted(run.seconds.items()):
        print(f"  {what}: {secs:.1f} s")
    if not full.empty:
        print("learned weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in full.weights.items() if v))
        top = ", ".join(f"{i.key} {i.weight:+.2f}" for i in full.interests("service")[:12])
        print(f"top services: {top}")
        top = ", ".join(f"{i.key} {i.weight:+.2f}" for i in full.interests("topic")[:8])
        print(f"top topics: {top}")


def main() -> int:
    args = parse_args()
    corpus: Path = args.corpus
    tools: Path = args.tools or corpus.parent / "tools"
    if (
        not (corpus / "weekly-notes").is_dir()
        or not (corpus / ARCHIVE).is_file()
        or not (tools / "make_feeds.py").is_file()
    ):
        print(f"corpus not found at {corpus} (or its tools at {tools}): skipped")
        return 0
    notes, problems = read_notes(
        corpus / "weekly-notes", url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}"
    )
    for problem in problems:
        print(f"note not read: {problem}", file=sys.stderr)
    chosen = [n for n in notes if args.since <= n.date.date() <= args.until]
    if not chosen:
        print("no notes in that span")
        return 0
    run = replay(args, corpus, tools, notes, chosen)
    if args.json:
        print_json(run)
    else:
        print_report(args, run, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
