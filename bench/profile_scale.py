"""How long the learned profile takes on ten years of notes.

    python bench/profile_scale.py [--corpus PATH] [--since 2015-01-05] [--until 2025-06-30] [--links 3]

The real notes folder holds three years (128 notes). This bench imports the whole What's New
archive (2014-2025, ``../shared/tools/make_feeds.py``, tagged as it is stored) and writes one
synthetic note per week from ``--since`` to ``--until`` (about 540), each linking ``--links``
announcements of the week before it (chosen with a fixed seed) under a heading naming their
service, then times ``learn_profile`` from the whole folder: cold (one window per note read from
the archive) and the same again; then what a draft pays with the profile the archive keeps
(``cached_profile``): the first draft learns and keeps it, the next ones read it back (the
notes read and the key computed, nothing learned), a note added to the folder learns again;
and a whole draft (``build_draft``) with the kept profile. Skips cleanly (exit 0) when the
corpus is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replay import ARCHIVE, build_archive  # noqa: E402

from aggregator import store  # noqa: E402
from aggregator.config import Config  # noqa: E402
from aggregator.digest import build_draft, default_registry  # noqa: E402
from aggregator.digest.notes import Note, read_notes  # noqa: E402
from aggregator.digest.profile import cached_profile, learn_profile  # noqa: E402
from aggregator.taxonomy import Registry  # noqa: E402

SEED = 6


def write_notes(db: object, folder: Path, *, since: dt.date, until: dt.date, links: int) -> int:
    """One note per Monday, linking ``links`` announcements of the 7 days before it."""
    rng = random.Random(SEED)
    monday = since - dt.timedelta(days=since.weekday())
    count = 0
    while monday <= until:
        at = dt.datetime.combine(monday, dt.time(20), tzinfo=dt.UTC)
        rows = list(
            db.query(  # type: ignore[attr-defined]
                "SELECT url, title, primary_service FROM posts WHERE date >= ? AND date < ? ORDER BY date, id",
                [store.iso(at - dt.timedelta(days=7)), store.iso(at)],
            )
        )
        chosen = rng.sample(rows, min(links, len(rows)))
        year, week, _ = monday.isocalendar()
        body = "\n\n".join(
            f"## {row['primary_service'] or 'News'}\n\nSee [{row['title']}]({row['url']})." for row in chosen
        )
        (folder / f"{year}-{week:02d}.md").write_text(
            f"---\ntitle: Week {week}, {year} - Notes\nslug: week-{week}-{year}\nDate: {at.isoformat()}\n"
            f"keywords:\n  - aws\n---\n\n{body or 'Nothing this week.'}\n",
            encoding="utf-8",
        )
        count += 1
        monday += dt.timedelta(weeks=1)
    return count


def read(folder: Path) -> tuple[list[Note], float]:
    t0 = time.perf_counter()
    notes, _ = read_notes(folder, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    return notes, time.perf_counter() - t0


def kept(db: object, config: Config, folder: Path, at: dt.datetime, registry: Registry) -> dict[str, float]:
    """Seconds of the notes read plus the profile, as a draft pays them with the archive's cache."""
    out: dict[str, float] = {}
    for case in ("first draft (learns, keeps)", "next draft (reads it back)", "again"):
        notes, seconds = read(folder)
        t0 = time.perf_counter()
        cached_profile(db, notes, config.settings.digest, at=at, registry=registry)  # type: ignore[arg-type]
        out[case] = seconds + time.perf_counter() - t0
    newest = max(folder.glob("*.md"))
    more = "\n## One More Thing\n\nSee [the post](https://aws.amazon.com/blogs/aws/one-more-thing/).\n"
    newest.write_text(newest.read_text(encoding="utf-8") + more, encoding="utf-8")
    notes, seconds = read(folder)
    t0 = time.perf_counter()
    cached_profile(db, notes, config.settings.digest, at=at, registry=registry)  # type: ignore[arg-type]
    out["a note changed (learns again)"] = seconds + time.perf_counter() - t0
    notes, seconds = read(folder)
    t0 = time.perf_counter()
    build_draft(db, config, date=at.date(), published_at=at, notes=notes, registry=registry)  # type: ignore[arg-type]
    out["a whole draft, profile kept"] = seconds + time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--tools", type=Path, help="folder of make_feeds.py (default: the corpus's ../tools)")
    ap.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2015, 1, 5))
    ap.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    ap.add_argument("--links", type=int, default=3, help="announcements each synthetic note links")
    args = ap.parse_args()
    corpus: Path = args.corpus
    tools: Path = args.tools or corpus.parent / "tools"
    if not (corpus / ARCHIVE).is_file() or not (tools / "make_feeds.py").is_file():
        print(f"corpus not found at {corpus} (or its tools at {tools}): skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="profile-scale-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        config = build_archive(corpus, tools, work, until=args.until + dt.timedelta(days=1))
        db = store.open_db(config.database)
        posts = next(iter(db.query("SELECT count(*) AS n FROM posts")))["n"]
        imported = time.perf_counter() - began
        folder = work / "notes"
        folder.mkdir()
        written = write_notes(db, folder, since=args.since, until=args.until, links=args.links)
        registry = default_registry(config)
        at = dt.datetime.combine(args.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        notes, read_seconds = read(folder)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            profile = learn_profile(db, notes, config.settings.digest, at=at, registry=registry)
            times.append(time.perf_counter() - t0)
        cached = kept(db, config, folder, at, registry)
    print(
        f"archive: {posts} What's New items imported and tagged in {imported:.1f} s;"
        f" {written} synthetic weekly notes from {args.since} to {args.until}, read in {read_seconds:.2f} s"
    )
    print(
        f"profile: {profile.notes} notes, {profile.examples} with examples, {profile.positives} linked among"
        f" {profile.candidates} candidates; learned in {times[0]:.2f} s (again: {times[1]:.2f} s)"
    )
    print("kept in the archive (notes read + profile, as a draft pays them; ratio to learning it):")
    for case, seconds in cached.items():
        print(f"  {case:<32} {seconds:6.2f} s  ({seconds / times[0]:.2f})")
    top = ", ".join(f"{i.key} {i.weight:+.2f}" for i in profile.interests("service")[:8])
    print(f"top services of the synthetic author (random links: the busiest services): {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
