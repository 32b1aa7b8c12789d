"""How the long-running service holds up: memory over thousands of polls, and how long SIGTERM takes.

Starts the real ``aggregator run`` against loopback feeds shaped like the real ones (What's New:
100 items; blogs: 20 long items), polled every second or two instead of every 15-60 minutes, so a
few minutes here are days of real polling. Some feeds change now and then (parsed and stored),
some answer 304 to a conditional GET, the others send the same body again (hash-skipped).

Prints the service's resident memory (VmRSS) over time, as a ratio to the memory after the first
round of polls in the same run, then the time from SIGTERM to exit: under load, and once with a
fetch stuck on a server that never answers (bounded by service.shutdown_grace).

    python bench/service.py                  # 40 feeds, 240 s, 6 stops
    python bench/service.py --seconds 60     # a quick look

Not part of the test suite; nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "service"
REAL_POLLS_PER_HOUR = 45.0
"""The shipped feed list at its default intervals: What's New every 15 min, 40 others hourly or so."""


class FeedServer:
    """Loopback feeds. ``/wn-N`` are What's New-sized, ``/blog-N`` blog-sized; ``/stuck`` never answers."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.strip("/")
                if name == "stuck":
                    time.sleep(3600)
                    return
                status, body, etag = outer.answer(name, self.headers.get("If-None-Match"))
                self.send_response(status)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, name: str, if_none_match: str | None) -> tuple[int, bytes, str]:
        index = int(name.split("-")[1])
        whats_new = name.startswith("wn-")
        with self.lock:
            count = self.requests[name] = self.requests.get(name, 0) + 1
            # What's New changes every 5th poll, a blog every 10th.
            if count % (5 if whats_new else 10) == 0:
                self.versions[name] = self.versions.get(name, 0) + 1
            version = self.versions.get(name, 0)
        etag = f'"{name}-{version}"'
        if index % 2 == 0 and if_none_match == etag:
            return 304, b"", etag
        return 200, render(name, version, items=100 if whats_new else 20, words=60 if whats_new else 400), etag


def render(name: str, version: int, *, items: int, words: int) -> bytes:
    text = " ".join(f"word{i % 97}" for i in range(words))
    entries = []
    for n in range(version, version + items):  # the newest first; the oldest falls off
        link = f"https://aws.amazon.com/{name}/post-{n}/"
        entries.append(
            f"<item><title>{name} post {n}: Amazon S3 does something new</title><link>{link}</link>"
            f'<guid isPermaLink="false">{link}</guid><pubDate>Mon, 06 May 2024 10:00:00 +0000</pubDate>'
            f"<category>general:products/amazon-s3,marketing:marchitecture/storage</category>"
            f"<description>&lt;p&gt;{text} &lt;a href=&quot;{link}&quot;&gt;more&lt;/a&gt;&lt;/p&gt;</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>https://aws.amazon.com/{name}/</link><description>bench</description>{''.join(entries)}</channel></rss>"
    ).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, server: FeedServer, *, feeds: int, port: int, stuck: bool = False) -> None:
    lines = [
        '[general]\nlog_level = "INFO"',
        '[poll]\nmin_interval = "100ms"\njitter = 0.1',
        "[http]\nper_host = 8\nmax_workers = 8",
        f'[service]\nlisten = "127.0.0.1:{port}"',  # the shipped shutdown_grace
    ]
    names = [f"wn-{i}" for i in range(max(1, feeds // 10))]
    names += [f"blog-{i}" for i in range(feeds - len(names))]
    for name in names:
        interval = "1s" if name.startswith("wn-") else "2s"
        lines.append(
            f'[[feeds]]\nname = "{name}"\nurl = "{server.base}/{name}"\nkind = "other"\ninterval = "{interval}"'
        )
    if stuck:
        lines.append(f'[[feeds]]\nname = "stuck"\nurl = "{server.base}/stuck"\nkind = "other"\ninterval = "1h"')
    path.write_text("\n\n".join(lines) + "\n")


class Service:
    def __init__(self, config: Path, db: Path, port: int, log: Path) -> None:
        self.port = port
        self.db = db
        self._log = log.open("a")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), "run"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the service did not come up")

    def rss_kib(self) -> tuple[int, int]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def polls(self) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0])
        finally:
            conn.close()

    def sigterm(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        elapsed = time.monotonic() - started
        self._log.close()
        if rc != 0:
            raise SystemExit(f"exit status {rc} after SIGTERM")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--stops", type=int, default=6, help="SIGTERMs under load to take the median of")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    server = FeedServer()
    port = free_port()
    config, db, log = OUT / "aggregator.toml", OUT / "aggregator.db", OUT / "service.log"
    write_config(config, server, feeds=args.feeds, port=port)

    print(f"{args.feeds} loopback feeds, intervals 1-2 s, for {args.seconds:g} s")
    service = Service(config, db, port, log)
    time.sleep(3)
    baseline, _ = service.rss_kib()
    base_polls = service.polls()
    print(f"{'elapsed':>8} {'polls':>7} {'real-time equiv.':>17} {'RSS MiB':>8} {'x baseline':>10}")
    print(f"{3:>7.0f}s {base_polls:>7} {base_polls / REAL_POLLS_PER_HOUR:>15.1f} h {baseline / 1024:>8.1f} {1:>10.2f}")
    started = time.monotonic() - 3
    step = max(10.0, args.seconds / 12)
    while (elapsed := time.monotonic() - started) < args.seconds:
        time.sleep(min(step, args.seconds - elapsed))
        rss, _ = service.rss_kib()
        polls = service.polls()
        hours = polls / REAL_POLLS_PER_HOUR
        print(
            f"{time.monotonic() - started:>7.0f}s {polls:>7} {hours:>15.1f} h {rss / 1024:>8.1f} {rss / baseline:>10.2f}"
        )
    rss, peak = service.rss_kib()
    polls = service.polls()
    posts = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM posts").fetchone()[0]
    stops = [service.sigterm()]
    print(
        f"\nafter {polls} polls ({polls / REAL_POLLS_PER_HOUR:.0f} h of real polling; "
        f"{polls / args.seconds * 3600 / REAL_POLLS_PER_HOUR:.0f} x real time): RSS {rss / 1024:.1f} MiB "
        f"({rss / baseline:.2f} x the {baseline / 1024:.1f} MiB after the first round), peak {peak / 1024:.1f} MiB, "
        f"{posts} posts stored"
    )

    for _ in range(args.stops - 1):
        service = Service(config, db, port, log)
        time.sleep(3)  # polls in flight
        stops.append(service.sigterm())
    print(
        f"SIGTERM to exit under load: median {statistics.median(stops):.2f} s over {len(stops)} "
        f"(min {min(stops):.2f}, max {max(stops):.2f})"
    )

    write_config(config, server, feeds=4, port=port, stuck=True)
    service = Service(config, db, port, log)
    time.sleep(2)
    stuck = service.sigterm()
    print(f"SIGTERM to exit with a fetch stuck on a silent server: {stuck:.2f} s (the shipped service.shutdown_grace)")
    errors = [line for line in log.read_text().splitlines() if json.loads(line).get("level") in ("error", "critical")]
    print(f"error lines in the service log: {len(errors)}")


if __name__ == "__main__":
    main()
