"""How the weekly draft scales with the archive: one week's draft on 10,000 and 1,000,000 posts.

    python bench/digest_scale.py [--sizes 10000 1000000] [--repeat 5] [--keep DIR] [--json]

Each archive is synthetic and tagged (as the tagger and the store leave it: tags, kind, primary
service, Regions and their count, ``tagged_with``, links resolved in ``post_links``): What's New
items, News Blog and other AWS blog posts linking them, community posts, 1 to 3 services each out
of 300, kinds, Regions, a fetch log. The density is the same in every size (about 250 posts a week, a busy
AWS week), so a bigger archive has more history, not a busier week: the week's draft should
cost about the same. The target is at most twice the time on 10,000 posts. The notes folder is
the same 30 synthetic notes for every size.

Rows are written with executemany; the full-text triggers are dropped while writing (the draft
of a tagged archive never searches the full-text index). ``--keep DIR`` keeps the archives and
reuses them on the next run. Prints the median of ``--repeat`` runs after one warm-up, and the
ratio of each size to the smallest, measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator import store  # noqa: E402
from aggregator.config import load_config  # noqa: E402
from aggregator.digest import build_draft  # noqa: E402
from aggregator.digest.notes import parse_note  # noqa: E402
from aggregator.taxonomy import Registry, Service  # noqa: E402

PER_WEEK = 250
END = dt.datetime(2025, 6, 30, 0, 0, tzinfo=dt.UTC)
PUBLICATION = dt.date(2025, 6, 30)  # a Monday
SERVICES = [f"svc{i:03d}" for i in range(300)]
TOPICS = ["serverless", "containers", "databases", "storage", "networking", "ml", "security", "analytics"]
KINDS = [
    ("new-feature", 55),
    ("region-expansion", 20),
    ("new-instance-types", 5),
    ("general-availability", 6),
    ("preview", 4),
    ("price-change", 3),
    ("deprecation", 2),
    ("new-service", 1),
    ("other", 4),
]
WORDS = """adds support for streaming replication snapshots queries endpoints policies encryption logs metrics
dashboards pipelines functions clusters instances volumes buckets tables indexes regions zones graphs agents models
tokens routing caching scaling backups exports imports events schedules alarms"""
FEEDS = [
    ("aws-whats-new", "aws-whats-new", "AWS What's New"),
    ("aws-news-blog", "aws-blog", "AWS News Blog"),
    ("aws-compute-blog", "aws-blog", "AWS Compute Blog"),
    ("community", "community", "Community"),
]


def registry() -> Registry:
    return Registry(
        Service(key=key, name=f"Amazon Service {i}", short=f"Service {i}", topics=(TOPICS[i % len(TOPICS)],))
        for i, key in enumerate(SERVICES)
    )


def post_id(url: str) -> str:
    from aggregator.normalize import link_id

    found = link_id(url)
    assert found is not None
    return found


def generate(path: Path, size: int, seed: int = 7) -> None:
    """Write a synthetic tagged archive of ``size`` posts ending at END."""
    rng = random.Random(seed)
    db = store.open_db(path)
    for trigger in ("posts_ai", "posts_ad", "posts_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    created = store.iso(END - dt.timedelta(days=365 * 100))
    db.conn.executemany(
        "INSERT INTO feeds (name, url, configured_url, kind, title, created) VALUES (?, ?, ?, ?, ?, ?)",
        [(n, f"https://feeds.example/{n}", f"https://feeds.example/{n}", k, t, created) for n, k, t in FEEDS],
    )
    span = dt.timedelta(weeks=size / PER_WEEK)
    start = END - span
    kinds, weights = zip(*KINDS, strict=True)
    service_weights = [1 / (i + 1) ** 0.8 for i in range(len(SERVICES))]
    posts, sources, tags, links_rows, recent_items = [], [], [], [], []
    for n in range(size):
        when = start + span * (n / size) + dt.timedelta(seconds=rng.randrange(3600))
        roll = rng.random()
        services = rng.choices(SERVICES, service_weights, k=rng.choice((1, 1, 2, 3)))
        services = list(dict.fromkeys(services))
        title_words = " ".join(rng.sample(WORDS.split(), 5))
        links: list[str] = []
        if roll < 0.6 or not recent_items:
            feed, url = "aws-whats-new", f"https://aws.amazon.com/about-aws/whats-new/{when:%Y/%m}/item-{n}/"
            kind = rng.choices(kinds, weights)[0]
            recent_items.append(url)
            recent_items = recent_items[-50:]
        elif roll < 0.75:
            feed, url, kind = "aws-news-blog", f"https://aws.amazon.com/blogs/aws/post-{n}/", None
            links = [rng.choice(recent_items)]
        elif roll < 0.85:
            feed, url, kind = "aws-compute-blog", f"https://aws.amazon.com/blogs/compute/post-{n}/", None
            links = [rng.choice(recent_items)]
        else:
            feed, url, kind = "community", f"https://community{n % 97}.example/posts/{n}/", None
            links = [rng.choice(recent_items)] if rng.random() < 0.5 else []
        pid = post_id(url)
        date = store.iso(when)
        expansion = kind == "region-expansion"
        regions = json.dumps(["ap-southeast-2", "eu-west-1"]) if expansion else "[]"
        posts.append(
            (
                pid,
                url,
                f"Amazon Service {SERVICES.index(services[0])} {title_words}",
                "",
                "",
                json.dumps(links),
                date,
                date,
                date,
                "[]",
                "[]",
                hashlib.sha1(url.encode()).hexdigest(),
                feed,
                kind,
                services[0],
                regions,
                2 if expansion else None,
                "bench",
            )
        )
        sources.append((pid, feed, None, date, date))
        links_rows += store.link_rows(pid, links, [post_id(u) for u in links])
        for rank, service in enumerate(services):
            tags.append((pid, service, "service", "category", 1.0 - rank * 0.1))
        tags.append((pid, TOPICS[SERVICES.index(services[0]) % len(TOPICS)], "topic", "category", 0.8))
        if len(posts) >= 20_000:
            _flush(db, posts, sources, tags, links_rows)
    _flush(db, posts, sources, tags, links_rows)
    days = int(span / dt.timedelta(days=1)) + 1
    fetches = []
    for day in range(days):
        started = END - dt.timedelta(days=day, hours=1)
        for name, _, _ in FEEDS:
            failed = rng.random() < 0.02
            fetches.append(
                (name, store.iso(started), 503 if failed else 200, "error" if failed else "stored", 10, 0, 0, 0)
            )
    db.conn.executemany(
        "INSERT INTO fetch_log (feed, started, status, outcome, duration_ms, bytes, new, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        fetches,
    )
    db.conn.commit()
    db.execute("ANALYZE")
    db.conn.close()


Rows = list[tuple[object, ...]]


def _flush(db: object, posts: Rows, sources: Rows, tags: Rows, links: Rows) -> None:
    conn = db.conn  # type: ignore[attr-defined]
    conn.executemany(
        "INSERT OR IGNORE INTO posts (id, url, title, summary, summary_html, links, published, date, first_seen,"
        " authors, categories, content_hash, feed, kind, primary_service, regions, region_count, tagged_with)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        posts,
    )
    conn.executemany("INSERT OR IGNORE INTO post_links (post_id, target_id, position, url) VALUES (?,?,?,?)", links)
    conn.executemany(
        "INSERT OR IGNORE INTO post_sources (post_id, feed, guid, first_seen, last_seen) VALUES (?,?,?,?,?)", sources
    )
    conn.executemany(
        "INSERT OR IGNORE INTO post_tags (post_id, tag, type, source, confidence) VALUES (?,?,?,?,?)", tags
    )
    conn.commit()
    posts.clear()
    sources.clear()
    tags.clear()
    links.clear()


def synthetic_notes(url_pattern: str, slug_pattern: str) -> list[object]:
    """30 weekly notes before the publication, each linking five What's New-shaped URLs."""
    notes = []
    for week in range(30, 0, -1):
        when = dt.datetime.combine(PUBLICATION - dt.timedelta(weeks=week), dt.time(20), tzinfo=dt.UTC)
        year, number, _ = when.date().isocalendar()
        links = "\n".join(
            f"* [item](https://aws.amazon.com/about-aws/whats-new/{when:%Y/%m}/item-{week * 7 + i}/)" for i in range(5)
        )
        text = (
            f"---\ntitle: Week {number}, {year} - Service {week}\nDate: {when.isoformat()}\n"
            f"keywords: [aws, svc{week:03d}]\n---\n\n## Service {week}\n\n{links}\n"
        )
        notes.append(parse_note(text, path=f"{year}-{number}.md", url_pattern=url_pattern, slug_pattern=slug_pattern))
    return notes


def time_draft(path: Path, repeat: int) -> tuple[float, dict[str, int]]:
    config = load_config(ROOT / "config" / "aggregator.toml", database=path, environ={})
    db = store.open_db(path, readonly=True)
    digest = config.settings.digest
    notes = synthetic_notes(digest.url_pattern, digest.slug_pattern)
    reg = registry()
    draft = build_draft(db, config, date=PUBLICATION, registry=reg, notes=notes)  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        build_draft(db, config, date=PUBLICATION, registry=reg, notes=notes)
        times.append(time.perf_counter() - began)
    s = draft.selection
    shape = {
        "stories": len(s.ranked),
        "featured": len(s.featured),
        "with_history": sum(1 for f in s.featured if f.history),
        "lines": draft.text.count("\n"),
    }
    return statistics.median(times), shape


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="keep the archives here and reuse them")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="digest-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        path = folder / f"synthetic-{size}.db"
        generated = 0.0
        if not path.exists():
            began = time.perf_counter()
            generate(path, size)
            generated = time.perf_counter() - began
        seconds, shape = time_draft(path, args.repeat)
        rows.append({"posts": size, "draft_ms": round(seconds * 1000, 1), "generate_s": round(generated, 1), **shape})
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    base = rows[0]["draft_ms"]
    for row in rows:
        row["ratio"] = round(row["draft_ms"] / base, 2) if base else None
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'posts':>10}  {'draft ms':>9}  {'ratio':>6}  {'stories':>7}  {'featured':>8}  {'history':>7}  generated")
    for row in rows:
        print(
            f"{row['posts']:>10,}  {row['draft_ms']:>9.1f}  {row['ratio']:>5.2f}x  {row['stories']:>7}  "
            f"{row['featured']:>8}  {row['with_history']:>7}  {row['generate_s']:.1f} s"
        )
    print(f"largest / smallest archive: {rows[-1]['ratio']:.2f}x (target: at most 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
