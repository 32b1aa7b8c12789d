"""Replay history: would the digest have drafted what the author wrote?

    python bench/replay.py [--corpus PATH] [--since 2016-01-01] [--until DATE] [--json] [--misses]

Loads the What's New archive (``../shared/tools/make_feeds.py`` turns it into weekly feeds, which
are imported into a fresh archive and tagged as ``aggregator import`` tags them),
then for each real weekly note in ``corpus/weekly-notes`` published from ``--since`` on, builds
the draft for that note's publication time with only the earlier notes in the notes folder,
and compares it with what the author wrote:

- featured recall: of the What's New items the author linked (and the archive holds), the share
  the draft features (in a featured section: the story, or another story of its service listed
  there); draft recall: the share the draft contains anywhere (the History lines and the
  "Earlier, not covered yet" list included);
- keyword recall and precision: the draft's ``keywords`` that are AWS services against the
  author's (notes without keywords are left out: the author added them from mid-2017);
- history recall: of the author's links to earlier notes, the share the draft proposes under
  "Previously".

A newest-first baseline (the same stories and sections, ranked newest first) is measured in the
same run. Misses are counted by cause. Skips cleanly (exit 0) when the corpus is absent.
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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator import pipeline, store  # noqa: E402
from aggregator.config import Config, load_config  # noqa: E402
from aggregator.digest import Draft, build_draft, default_registry  # noqa: E402
from aggregator.digest.notes import Note, note_path, read_notes  # noqa: E402
from aggregator.digest.select import Ranking, link_id, rank_newest  # noqa: E402

ARCHIVE = "archives/aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
BOTOCORE = "taxonomy/botocore-1.43.11-services.csv"
WHATS_NEW = re.compile(r"^https?://aws\.amazon\.com/about-aws/whats-new/", re.I)
LINK = re.compile(r"\]\((https?://[^)\s]+|/[^)\s]*)\)")
TIMEZONE = "Australia/Melbourne"  # the author's


@dataclass
class Score:
    """Counts for one note and one ranking; recall = hits / total."""

    linked: int = 0
    featured: int = 0
    drafted: int = 0
    kw_author: int = 0
    kw_draft: int = 0
    kw_both: int = 0
    kw_draft_aws: int = 0
    """The draft's service keywords, counted only for notes where the author used some."""
    notes_linked: int = 0
    notes_proposed: int = 0
    misses: Counter[str] = field(default_factory=Counter)

    def add(self, other: Score) -> None:
        for f in dataclasses.fields(self):
            if f.name != "misses":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.misses.update(other.misses)


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
    draft: Draft, note: Note, earlier: Sequence[Note], *, archive_ids: set[str], vocabulary: set[str], level: int
) -> Score:
    score = Score()
    selection = draft.selection
    parts = sections(draft.text, level)
    featured_text = "".join(body for _, body in parts[1 : 1 + len(selection.featured)])
    featured_ids = {i for url in LINK.findall(featured_text) if (i := link_id(url))}
    draft_ids = {i for url in LINK.findall(draft.text) if (i := link_id(url))}
    authored = {i for link in note.links if WHATS_NEW.match(link) and (i := link_id(link))}
    held = authored & archive_ids
    score.linked = len(held)
    score.featured = len(held & featured_ids)
    score.drafted = len(held & draft_ids)
    covered = {i for n in earlier for link in n.links if (i := link_id(link))}
    window = {p.id: p for r in selection.ranked for p in r.story.posts}
    for post_id in sorted(held - draft_ids):
        if post_id in covered:
            score.misses["covered by an earlier note"] += 1
        elif post_id not in window:
            score.misses["outside the window (older, or after the publication)"] += 1
        else:
            score.misses["in the window, not drafted"] += 1
    for post_id in sorted((held & draft_ids) - featured_ids):
        if post_id in {p.id for r in selection.also for p in r.story.posts}:
            score.misses["featured miss: in Also this week"] += 1
        elif post_id in {p.id for r in selection.earlier for p in r.story.posts}:
            score.misses["featured miss: in Earlier, not covered yet"] += 1
        else:
            score.misses["featured miss: elsewhere (History)"] += 1
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


def with_interest(config: Config, profile: str) -> Config:
    """``'ecs=2,topic:serverless=1'`` -> digest.interest_services and interest_topics."""
    services: dict[str, float] = {}
    topics: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in profile.split(","))):
        name, _, weight = part.partition("=")
        target = topics if name.startswith("topic:") else services
        target[name.removeprefix("topic:")] = float(weight or 1)
    digest = dataclasses.replace(config.settings.digest, interest_services=services, interest_topics=topics)
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, digest=digest))


def vocabulary_of(corpus: Path, config: Config) -> set[str]:
    """AWS service keywords: the registry's keys, and botocore's client names."""
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


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--tools", type=Path, help="folder of make_feeds.py (default: the corpus's ../tools)")
    ap.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2016, 1, 1), help="first note evaluated")
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2100, 1, 1), help="last note evaluated")
    ap.add_argument("--json", action="store_true", help="one JSON object per note, then the totals")
    ap.add_argument("--all", action="store_true", help="a row for every note, not only those with something to measure")
    ap.add_argument(
        "--interest",
        default="",
        metavar="PROFILE",
        help="an interest profile, as a user would configure it: 'cloudformation=2,ecs=2,topic:serverless=1'",
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
        config = build_archive(corpus, tools, Path(tmp), until=chosen[-1].date.date() + dt.timedelta(days=1))
        if args.interest:
            config = with_interest(config, args.interest)
        imported = time.perf_counter() - began
        db = store.open_db(config.database)
        archive_ids = {row["id"] for row in db.query("SELECT id FROM posts")}
        tagged = next(iter(db.query("SELECT count(DISTINCT post_id) AS n FROM post_tags")))["n"]
        vocabulary = vocabulary_of(corpus, config)
        registry = default_registry(config)
        level = config.settings.digest.heading_level
        rankings: dict[str, Ranking | None] = {"digest": None, "newest": rank_newest}
        totals = {name: Score() for name in rankings}
        rows = []
        draft_seconds = 0.0
        for note in chosen:
            earlier = [n for n in notes if n.date < note.date]
            local = note.date.astimezone(dt.timezone(note.date.utcoffset() or dt.timedelta()))
            row: dict[str, object] = {"note": note.label, "date": local.date().isoformat()}
            for name, ranking in rankings.items():
                t0 = time.perf_counter()
                draft = build_draft(
                    db,
                    config,
                    date=local.date(),
                    published_at=note.date,
                    notes=earlier,
                    registry=registry,
                    ranking=ranking,
                )
                draft_seconds += time.perf_counter() - t0
                score = evaluate(draft, note, earlier, archive_ids=archive_ids, vocabulary=vocabulary, level=level)
                totals[name].add(score)
                row[name] = score
            rows.append(row)
        elapsed = time.perf_counter() - began

    def figures(score: Score) -> dict[str, float | None]:
        return {
            "featured_recall": ratio(score.featured, score.linked),
            "draft_recall": ratio(score.drafted, score.linked),
            "keyword_recall": ratio(score.kw_both, score.kw_author),
            "keyword_precision": ratio(score.kw_both, score.kw_draft),
            "keyword_precision_aws_notes": ratio(score.kw_both, score.kw_draft_aws),
            "history_recall": ratio(score.notes_proposed, score.notes_linked),
        }

    if args.json:
        for row in rows:
            print(
                json.dumps(
                    {k: (figures(v) | {"linked": v.linked} if isinstance(v, Score) else v) for k, v in row.items()}
                )
            )
        print(json.dumps({"total": {name: figures(s) | {"linked": s.linked} for name, s in totals.items()}}))
        return 0

    profile = f"interest profile: {args.interest}" if args.interest else "no interest profile"
    print(
        f"replay ({profile}): {len(chosen)} notes from {chosen[0].date.date()} to {chosen[-1].date.date()}; archive of"
        f" {len(archive_ids)} What's New items ({tagged} tagged) imported in {imported:.1f} s;"
        f" {2 * len(chosen)} drafts in {draft_seconds:.1f} s; {elapsed:.1f} s in all"
    )
    print()
    header = (
        f"{'note':<15} {'WN':>3}  {'featured':>11}  {'draft':>5}  {'kw recall':>11}  {'kw prec.':>11}  {'history':>11}"
    )
    print(header)
    print(
        f"{'':<15} {'':>3}  {'ours  newest':>11}  {'':>5}  {'ours  newest':>11}  {'ours  newest':>11}  {'ours  newest':>11}"
    )
    for row in rows:
        ours, base = row["digest"], row["newest"]
        assert isinstance(ours, Score) and isinstance(base, Score)
        if not args.all and not (ours.linked or ours.kw_author or ours.notes_linked):
            continue
        o, b = figures(ours), figures(base)
        print(
            f"{row['note']:<15} {ours.linked:>3}  {fmt(o['featured_recall'])}  {fmt(b['featured_recall'])}"
            f"  {fmt(o['draft_recall']):>5}  {fmt(o['keyword_recall'])}  {fmt(b['keyword_recall'])}"
            f"  {fmt(o['keyword_precision'])}  {fmt(b['keyword_precision'])}"
            f"  {fmt(o['history_recall'])}  {fmt(b['history_recall'])}"
        )
    o, b = figures(totals["digest"]), figures(totals["newest"])
    print(
        f"{'all notes':<15} {totals['digest'].linked:>3}  {fmt(o['featured_recall'])}  {fmt(b['featured_recall'])}"
        f"  {fmt(o['draft_recall']):>5}  {fmt(o['keyword_recall'])}  {fmt(b['keyword_recall'])}"
        f"  {fmt(o['keyword_precision'])}  {fmt(b['keyword_precision'])}"
        f"  {fmt(o['history_recall'])}  {fmt(b['history_recall'])}"
    )
    print()
    ours = totals["digest"]
    print(
        f"What's New items the author linked and the archive holds: {ours.linked}; featured {ours.featured},"
        f" drafted {ours.drafted}. Keywords: {ours.kw_author} of the author's, {ours.kw_draft} of the drafts',"
        f" {ours.kw_both} shared. Links to earlier notes: {ours.notes_linked}, proposed {ours.notes_proposed}."
    )
    base = totals["newest"]
    print(
        "Keyword precision over the notes where the author used AWS-service keywords:"
        f" ours {fmt(ratio(ours.kw_both, ours.kw_draft_aws))}, newest {fmt(ratio(base.kw_both, base.kw_draft_aws))}"
        " (most notes were about other things than AWS launches, and a draft always features some)."
    )
    if ours.misses:
        print("where the misses come from (ours):")
        for cause, count in ours.misses.most_common():
            print(f"  {count:>3}  {cause}")
    if not tagged:
        print("note: no post is tagged: the digest tagged each draft's posts as it built it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
