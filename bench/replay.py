"""Replay history: would the digest have drafted what the author wrote?

    python bench/replay.py [--corpus PATH] [--since 2016-01-01] [--until 2018-12-31] [--json] [--all] [--misses]

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
from aggregator.digest.select import Ranking, rank_by_score, rank_newest  # noqa: E402
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
    level: int,
    named_before: set[str],
) -> Score:
    """``named_before``: the services earlier notes wrote about (keywords, headings, linked posts)."""
    score = Score()
    selection = draft.selection
    parts = sections(draft.text, draft.style.heading_level)  # the notes' level, learned
    featured_text = re.sub(
        r"<!--.*?-->", "", "".join(body for _, body in parts[1 : 1 + len(selection.featured)]), flags=re.S
    )
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
        draft_kw = {k.strip() for k in re.findall(r"^  - (.+)$", head, re.M)} & vocabulary
        score.kw_author, score.kw_draft, score.kw_both = len(author_kw), len(draft_kw), len(author_kw & draft_kw)
        score.kw_draft_aws = len(draft_kw) if author_kw else 0
    earlier_paths = {p for n in earlier for p in n.paths()}
    linked_notes = {note_path(link) for link in note.links} & earlier_paths
    proposed = {note_path(p.note.url) for f in selection.featured for p in f.previously}
    score.notes_linked = len(linked_notes)
    score.notes_proposed = len(linked_notes & proposed)
    return score


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


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--tools", type=Path, help="folder of make_feeds.py (default: the corpus's ../tools)")
    ap.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2016, 1, 1), help="first note evaluated")
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2018, 12, 31), help="last note evaluated")
    ap.add_argument("--json", action="store_true", help="one JSON object per note, then the totals")
    ap.add_argument("--all", action="store_true", help="a row for every note, not only those with something to measure")
    ap.add_argument("--misses", action="store_true", help="list every featured miss of the learned ranking")
    ap.add_argument(
        "--interest",
        default="",
        metavar="PROFILE",
        help="an interest profile for the rule-based ranking, as a user would configure it: 'cloudformation=2,topic:serverless=1'",
    )
    args = ap.parse_args()
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
        level = settings.heading_level
        cache: ExampleCache = {}
        rows: list[tuple[Note, dict[str, Score]]] = []
        seconds: Counter[str] = Counter()
        for note in chosen:
            earlier = [n for n in notes if n.date < note.date]
            local = note.date.astimezone(dt.timezone(note.date.utcoffset() or dt.timedelta()))
            t0 = time.perf_counter()
            profile = learn_profile(db, earlier, settings, at=note.date, registry=registry, cache=cache)
            seconds["learning (online, cached windows)"] += time.perf_counter() - t0
            rankings: dict[str, Ranking] = {
                "newest": rank_newest,
                "rules": rank_by_score(),
                "learned": rank_learned(profile),
            }
            named = named_services(earlier, profile)
            scores: dict[str, Score] = {}
            for name, ranking in rankings.items():
                t0 = time.perf_counter()
                draft = build_draft(
                    db, config, date=local.date(), published_at=note.date, notes=earlier, registry=registry,
                    ranking=ranking, keyword_topics=profile.keyword_topics if name == "learned" else (),
                )  # fmt: skip
                seconds[f"drafts ({name})"] += time.perf_counter() - t0
                scores[name] = evaluate(
                    draft,
                    note,
                    earlier,
                    archive_ids=archive_ids,
                    vocabulary=vocabulary,
                    level=level,
                    named_before=named,
                )
            rows.append((note, scores))
        t0 = time.perf_counter()
        full = learn_profile(
            db, notes, settings, at=max(n.date for n in notes) + dt.timedelta(seconds=1), registry=registry
        )
        learn_all = time.perf_counter() - t0
        elapsed = time.perf_counter() - began

    totals = {n: Score() for n in RANKINGS}
    years: dict[int, dict[str, Score]] = defaultdict(lambda: {n: Score() for n in RANKINGS})
    for note, scores in rows:
        for name, score in scores.items():
            totals[name].add(score)
            years[note.date.year][name].add(score)

    if args.json:
        for note, scores in rows:
            print(
                json.dumps(
                    {"note": note.label, "date": note.date.date().isoformat()}
                    | {n: s.figures() | s.counts() for n, s in scores.items()}
                )
            )
        print(
            json.dumps(
                {
                    "years": {y: {n: s.figures() | s.counts() for n, s in v.items()} for y, v in sorted(years.items())},
                    "total": {n: s.figures() | s.counts() for n, s in totals.items()},
                    "misses": {n: dict(s.misses) for n, s in totals.items()},
                    "learn_seconds": learn_all,
                }
            )
        )
        return 0

    profile_note = f"; rule-based interest profile: {args.interest}" if args.interest else ""
    print(
        f"replay: {len(chosen)} notes from {chosen[0].date.date()} to {chosen[-1].date.date()}{profile_note};"
        f" archive of {len(archive_ids)} What's New items ({tagged} tagged) imported in {imported:.1f} s;"
        f" {len(RANKINGS) * len(chosen)} drafts; {elapsed:.1f} s in all"
    )
    print()
    note_rows = [
        (note.label, scores)
        for note, scores in rows
        if args.all or scores["rules"].linked or scores["rules"].kw_author or scores["rules"].notes_linked
    ]
    print_table("per note (WN: the What's New items the author linked that the archive holds)", note_rows)
    print_table("per year", [(str(y), v) for y, v in sorted(years.items())] + [("all notes", totals)])
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
    print(
        f"learning the profile from the whole notes folder ({full.notes} notes, {full.examples} with examples,"
        f" {full.candidates} candidates): {learn_all:.2f} s"
    )
    for what, secs in sorted(seconds.items()):
        print(f"  {what}: {secs:.1f} s")
    if not full.empty:
        print("learned weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in full.weights.items() if v))
        top = ", ".join(f"{i.key} {i.weight:+.2f}" for i in full.interests("service")[:12])
        print(f"top services: {top}")
        top = ", ".join(f"{i.key} {i.weight:+.2f}" for i in full.interests("topic")[:8])
        print(f"top topics: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
