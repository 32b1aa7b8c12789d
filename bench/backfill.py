"""How fast a What's New backfill runs, and how long the service takes to notice and repair a gap.

1. Backfill throughput: N synthetic items (default 10,000, over two years) served by a loopback
   directory API in the real API's shape (``tests/whatsnew_api.py``), read with ``backfill.pause``
   0 into a fresh archive. Baseline measured in the same run: the same pages fetched and decoded
   with the same HTTP client, nothing converted or stored. Then the same backfill again over the
   full archive (everything already stored).
2. Gap detection and repair: the real ``aggregator run`` on a loopback What's New feed (100
   items) and the loopback API; stopped; the feed moves on by 400 items (300 of them never seen);
   restarted. Times from the restart to the gap's warning line and to the repair's line (the JSON
   log's millisecond timestamps).

    python bench/backfill.py                 # 10,000 items, one outage
    python bench/backfill.py --items 3000    # a quick look

Not part of the test suite; nothing here is a pass/fail threshold. With the default
``backfill.pause`` of 1 s, a real backfill is bound by the pause: add one second per page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import LoopbackServer, Response, rss  # noqa: E402
from whatsnew_api import API_PATH, FakeApi, api_item, rss_item, timeline  # noqa: E402

from aggregator import store  # noqa: E402
from aggregator.backfill import backfill, backfill_feed, page_url, plan_queries  # noqa: E402
from aggregator.config import Config, load_config  # noqa: E402
from aggregator.fetch import build_client  # noqa: E402
from aggregator.pipeline import Poller  # noqa: E402

UTC = dt.UTC


def write_config(folder: Path, server: LoopbackServer, *, port: int | None = None, interval: str = "15m") -> Config:
    listen = f"127.0.0.1:{port}" if port else ""
    path = folder / "aggregator.toml"
    path.write_text(
        f"""
[poll]
min_interval = "100ms"
jitter = 0

[service]
listen = "{listen}"

[backfill]
api_url = "{server.url(API_PATH)}"
pause = "0s"
page_size = 100

[[feeds]]
name = "aws-whats-new"
url = "{server.url("/rss")}"
kind = "aws-whats-new"
interval = "{interval}"
"""
    )
    return load_config(path, database=folder / "archive.db")


def throughput(count: int) -> dict[str, Any]:
    start = dt.datetime(2023, 1, 3, tzinfo=UTC)
    step = dt.timedelta(days=720) / count
    times = timeline(count, start=start, step=step)
    api = FakeApi([api_item(n, when, products=("amazon-s3", "aws-lambda")) for n, when in enumerate(times)])
    server = LoopbackServer()
    server.route(API_PATH, api)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), server)
            since, until = start, times[-1] + dt.timedelta(seconds=1)

            # Baseline: the same pages, fetched and decoded only.
            t0 = time.perf_counter()
            pages = 0
            with build_client(config.settings.http) as client:
                for query in plan_queries(since, until, config.settings.backfill):
                    page = 0
                    while True:
                        body = client.get(page_url(config.settings.backfill, query, page)).content
                        doc = json.loads(body)
                        pages += 1
                        page += 1
                        if not doc["items"] or page * 100 >= doc["metadata"]["totalHits"]:
                            break
            baseline = time.perf_counter() - t0

            db = store.open_db(config.database)
            with build_client(config.settings.http) as client:
                poller = Poller.create(config, client=client)  # the tagger is built here, outside the timing
                t0 = time.perf_counter()
                first = backfill(db, poller, backfill_feed(config), since=since, until=until)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                second = backfill(db, poller, backfill_feed(config), since=since, until=until)
                warm = time.perf_counter() - t0
            stored = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    finally:
        server.stop()
    assert first.new == count == stored, (first, stored)
    return {
        "items": count,
        "pages": first.pages,
        "baseline_fetch_only_s": round(baseline, 3),
        "baseline_items_per_s": round(count / baseline),
        "backfill_s": round(cold, 3),
        "backfill_items_per_s": round(count / cold),
        "ratio_to_baseline": round(cold / baseline, 2),
        "again_all_stored_s": round(warm, 3),
        "again_items_per_s": round(count / warm),
        "again_new": second.new,
        "baseline_pages": pages,
    }


def log_times(path: Path, predicate: Any) -> list[float]:
    out = []
    for line in path.read_text().splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if predicate(doc):
            out.append(dt.datetime.fromisoformat(doc["time"]).timestamp())
    return out


def outage() -> dict[str, Any]:
    times = timeline(600, start=dt.datetime(2024, 5, 1, 8, tzinfo=UTC), step=dt.timedelta(minutes=10))
    newest = {"n": 99}

    def feed(_request: Any) -> Response:
        n = newest["n"]
        return Response(200, rss(*(rss_item(i, times[i]) for i in range(n, n - 100, -1))))

    server = LoopbackServer()
    server.route("/rss", feed)
    server.route(API_PATH, FakeApi([api_item(n, when) for n, when in enumerate(times)]))
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = write_config(folder, server, interval="1s")

            def run(log: Path, until: Any) -> float:
                with log.open("w") as out:
                    started = time.time()
                    proc = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "aggregator",
                            "--config",
                            str(config.path),
                            "--db",
                            str(config.database),
                            "run",
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=folder,
                    )
                    deadline = time.monotonic() + 60
                    while not until() and time.monotonic() < deadline:
                        time.sleep(0.02)
                    proc.terminate()
                    proc.wait(20)
                return started

            def count() -> int:
                return int(
                    store.open_db(config.database, readonly=True).execute("SELECT count(*) FROM posts").fetchone()[0]
                )

            run(folder / "first.log", lambda: config.database.exists() and count() >= 100)
            newest["n"] = 499

            def repaired() -> bool:
                rows = list(store.open_db(config.database, readonly=True).query("SELECT status FROM feed_gaps"))
                return bool(rows) and rows[0]["status"] == "repaired"

            started = run(folder / "second.log", repaired)
            log = folder / "second.log"
            poll = log_times(log, lambda d: d.get("feed") == "aws-whats-new" and "outcome" in d)
            detected = log_times(
                log, lambda d: isinstance(d.get("gap"), dict) and d["gap"]["status"] == "open" and "outcome" not in d
            )
            fixed = log_times(log, lambda d: isinstance(d.get("gap"), dict) and d["gap"]["status"] == "repaired")
            gap = next(iter(store.open_db(config.database, readonly=True).query("SELECT * FROM feed_gaps")))
            total = count()
    finally:
        server.stop()
    return {
        "gap_items": 300,
        "items_recovered": gap["items_recovered"],
        "posts_after": total,
        "restart_to_first_poll_s": round(poll[0] - started, 3),
        "restart_to_gap_detected_s": round(detected[0] - started, 3),
        "detected_to_repaired_s": round(fixed[0] - detected[0], 3),
        "restart_to_repaired_s": round(fixed[0] - started, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="synthetic items to backfill (default 10,000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = {"backfill": throughput(args.items), "outage": outage()}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    b, o = result["backfill"], result["outage"]
    print(f"backfill of {b['items']} items in {b['pages']} pages of 100 (loopback API, pause 0):")
    print(
        f"  fetch + decode only (baseline)   {b['baseline_fetch_only_s']:>7.2f} s  {b['baseline_items_per_s']:>7} items/s"
    )
    print(
        f"  backfill into a fresh archive    {b['backfill_s']:>7.2f} s  {b['backfill_items_per_s']:>7} items/s"
        f"  ({b['ratio_to_baseline']}x the baseline)"
    )
    print(f"  again, everything stored already {b['again_all_stored_s']:>7.2f} s  {b['again_items_per_s']:>7} items/s")
    print(f"simulated outage: the feed moved on by 400 items, {o['gap_items']} never seen; after the restart:")
    print(f"  first poll                       {o['restart_to_first_poll_s']:>7.2f} s")
    print(f"  gap detected                     {o['restart_to_gap_detected_s']:>7.2f} s")
    print(
        f"  gap repaired                     {o['restart_to_repaired_s']:>7.2f} s  ({o['detected_to_repaired_s']:.2f} s after detection)"
    )
    print(
        f"  items recovered {o['items_recovered']}, posts in the archive {o['posts_after']} (500 expected, each once)"
    )


if __name__ == "__main__":
    main()
