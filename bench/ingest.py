"""Ingestion benchmark: aggregator against reader on the replayed What's New archive.

    python bench/ingest.py [--corpus PATH] [--out DIR] [--repeat N] [--json]
    python bench/ingest.py --profile [--profile-top N] [--corpus PATH] [--out DIR]

1. builds one RSS file per ISO week (597 files, 16,577 items for the 2014-2025 archive) with the
   corpus's ``tools/make_feeds.py`` into a temporary folder (or ``--out``); nothing is copied into
   the project, and the benchmark skips (exit 0) when the corpus is absent;
2. serves them from a loopback HTTP server in its own process, with ETag and Last-Modified and a
   304 for an unchanged feed, gzip when asked, as aws.amazon.com does;
3. for each tool, with a fresh database: a cold poll of every feed, then a second poll with nothing
   changed, each in its own subprocess (its peak RSS is its own: ``VmHWM``, else ``ru_maxrss``);
4. checks both archives hold every distinct item of the generated files and that the second poll
   stored nothing, then prints the figures, the ratios and the targets (median of ``--repeat``).

Concurrency: aggregator polls with its defaults (``http.per_host`` = 2 requests in flight per host,
``http.max_workers`` = 8 threads); every feed is on one host here, so it never has more than 2
requests in flight. reader's ``update_feeds(workers=2)`` runs 2 threads that each fetch then parse,
so it too has at most 2 requests in flight. Both are measured at the politeness limit we use
against aws.amazon.com; the server reports the concurrency it actually saw.

``--profile``: instead of the benchmark, one cold poll of aggregator alone under cProfile, feed
after feed on one thread (the service's ``pipeline.poll_feed``: fetch, parse, normalize, tag and
store, one transaction a feed), so that no thread waits for another inside the profile. It prints
the time of each stage (fetch, parse, normalize, tag, store, commit) and the top functions by own
and by cumulative time; ``--out DIR`` keeps the profile as ``DIR/profile/profile.pstats``. The
concurrent poll spreads the same work over threads and parse worker processes, adding the
workers' start-up and the pickling of what they send back.

Exit status: 0 when every check holds (targets missed are reported, not failures), 1 when a
correctness check fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = PROJECT.parent / "shared" / "corpus"
ARCHIVE = Path("archives") / "aws-whats-new-items_2014-2025_awsbuilders-kiwi_merged.jsonl"
TOOLS = ("aggregator", "reader")

TARGET_COLD_RATIO = 2.5
"""aggregator's cold-ingest items/s at least this multiple of reader's (its wall time at most 0.4x)."""
TARGET_UNCHANGED_RATIO = 0.5
"""aggregator's unchanged-poll wall time at most this fraction of reader's."""
TARGET_PEAK_MB = 150.0
"""aggregator's peak memory during a poll, in MB."""

_ITEM_LINK = re.compile(r"<item>.*?<link>(.*?)</link>", re.DOTALL)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- feeds -------------------------------------------------------------------------------------


def build_feeds(make_feeds: Path, archive: Path, out: Path) -> list[Path]:
    """Run ``make_feeds.py`` on the archive; return the RSS files it wrote, sorted."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(make_feeds), str(archive), str(out)], check=True, stdout=subprocess.DEVNULL)
    return sorted(out.glob("*.xml"))


def count_items(files: list[Path]) -> tuple[int, int]:
    """Items in the generated files, and distinct items (by link), read one file at a time."""
    total = 0
    links: set[str] = set()
    for path in files:
        for match in _ITEM_LINK.finditer(path.read_text(encoding="utf-8")):
            total += 1
            links.add(html.unescape(match.group(1)).strip())
    return total, len(links)


def feed_name(path: Path) -> str:
    return path.stem.lower()


# --- the loopback server (its own process) -----------------------------------------------------


class FeedServer(ThreadingHTTPServer):
    """Serves a folder of feeds with validators, 304s and gzip; counts what it answered."""

    daemon_threads = True

    def __init__(self, folder: Path, *, allow_gzip: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.allow_gzip = allow_gzip
        self.files: dict[str, tuple[bytes, bytes, str, str, float]] = {}
        for path in sorted(folder.glob("*.xml")):
            body = path.read_bytes()
            digest = hashlib.sha1(body).hexdigest()[:20]
            mtime = int(path.stat().st_mtime)
            self.files["/" + path.name] = (
                body,
                gzip.compress(body, compresslevel=6, mtime=0),
                digest,
                email.utils.formatdate(mtime, usegmt=True),
                float(mtime),
            )
        self.lock = threading.Lock()
        self.in_flight = 0
        self.stats: Counter[str] = Counter()

    def snapshot(self, reset: bool) -> dict[str, int]:
        with self.lock:
            out = dict(self.stats)
            if reset:
                self.stats.clear()
        return out


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body go out in two writes: with Nagle on, the body would wait for the client's
    delayed ACK (40 ms a response on Linux), which measures the server, not the clients."""
    server: FeedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        path, _, query = self.path.partition("?")
        if path == "/_stats":
            self._send(
                200, json.dumps(srv.snapshot(reset="reset" in query)).encode(), {"Content-Type": "application/json"}
            )
            return
        with srv.lock:
            srv.in_flight += 1
            srv.stats["max_in_flight"] = max(srv.stats["max_in_flight"], srv.in_flight)
            srv.stats["requests"] += 1
        try:
            self._answer(path)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _answer(self, path: str) -> None:
        srv = self.server
        found = srv.files.get(path)
        if found is None:
            self._count("404")
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        body, gz, digest, last_modified, mtime = found
        use_gzip = srv.allow_gzip and "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        etag = f'"{digest}-gz"' if use_gzip else f'"{digest}"'
        headers = {
            "ETag": etag,
            "Last-Modified": last_modified,
            "Vary": "Accept-Encoding",
            "Cache-Control": "max-age=60",
            "Content-Type": "application/rss+xml; charset=utf-8",
        }
        if self._not_modified(etag, mtime):
            self._count("304")
            self._send(304, b"", headers)
            return
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        payload = gz if use_gzip else body
        with srv.lock:
            srv.stats["200"] += 1
            srv.stats["bytes"] += len(payload)
        self._send(200, payload, headers)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        """RFC 9110: If-None-Match wins over If-Modified-Since; weak comparison for GET."""
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError):
                return False
            return mtime <= since
        return False

    def _count(self, key: str) -> None:
        with self.server.lock:
            self.server.stats[key] += 1

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


def serve(folder: Path, *, allow_gzip: bool) -> None:
    """Entry point of the server process: print the port, serve until stdin closes."""
    server = FeedServer(folder, allow_gzip=allow_gzip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


@contextlib.contextmanager
def server_process(folder: Path, *, allow_gzip: bool) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_serve", str(folder), "gzip" if allow_gzip else "identity"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the feed server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(base: str, *, reset: bool = True) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/_stats" + ("?reset=1" if reset else ""), timeout=10) as response:
        data: dict[str, int] = json.load(response)
    return data


# --- one poll (its own process) ----------------------------------------------------------------


def peak_rss_mb() -> tuple[float, str]:
    """This process's peak RSS. ``VmHWM`` belongs to this process's own address space; ``ru_maxrss``
    also counts the parent's peak inherited across fork/exec, so it is only the fallback."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "VmHWM"
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (maxrss / 1024 / 1024 if sys.platform == "darwin" else maxrss / 1024), "ru_maxrss"


class ChildMemory:
    """Samples the memory of this process and its children (e.g. parse worker processes).

    Two figures: the peak RSS (``VmHWM``) of each child, whose sum with the parent's is an upper
    bound (shared pages counted in each process, peaks added though they fall at different
    times); and the peak of the processes' summed PSS (proportional set size: each shared page
    split among the processes sharing it), sampled: the memory the poll really takes.
    ``ru_maxrss`` of a child cannot be used: across fork+exec it keeps the parent's peak at the
    moment of the fork, so every worker would look as big as its parent."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self.pss_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        pids: list[int] = []
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                pids += [int(pid) for pid in (task / "children").read_text().split()]
        return pids

    @staticmethod
    def _field(path: str, name: str) -> float:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith(name):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            pss = self._field("/proc/self/smaps_rollup", "Pss:")
            for pid in self._children():
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), self._field(f"/proc/{pid}/status", "VmHWM:"))
                pss += self._field(f"/proc/{pid}/smaps_rollup", "Pss:")
            self.pss_peak = max(self.pss_peak, pss)
            self._stop.wait(self.interval)

    def __enter__(self) -> ChildMemory:
        if Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def poll_aggregator(config_path: Path, db_path: Path) -> dict[str, Any]:
    t_import = time.perf_counter()
    from aggregator import pipeline, store
    from aggregator.config import load_config
    from aggregator.fetch import HostLimiter, build_client

    t0 = time.perf_counter()
    config = load_config(config_path, database=db_path)
    db = store.open_db(config.database)
    with ChildMemory() as children, build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client, limiter=HostLimiter(config.settings.http.per_host))
        results = pipeline.poll_feeds(db, poller, pipeline.select_feeds(config))
    wall = time.perf_counter() - t0
    items = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    errors = [f"{r.feed}: {r.error}" for r in results if r.outcome == "error"]
    return {
        "import_s": t0 - t_import,
        "wall_s": wall,
        "feeds": len(results),
        "new": sum(r.new for r in results),
        "updated": sum(r.updated for r in results),
        "outcomes": dict(Counter(r.outcome for r in results)),
        "errors": errors[:5],
        "error_count": len(errors),
        "items": items,
        "children_peak_mb": sorted(children.peaks.values(), reverse=True),
        "pss_peak_mb": children.pss_peak,
    }


def poll_reader(urls: list[str], db_path: Path, workers: int, cold: bool) -> dict[str, Any]:
    t_import = time.perf_counter()
    from reader import UpdateError, make_reader

    t0 = time.perf_counter()
    reader = make_reader(str(db_path))
    if cold:
        for url in urls:
            reader.add_feed(url, exist_ok=True)
    outcomes: Counter[str] = Counter()
    new = modified = 0
    errors: list[str] = []
    with ChildMemory() as memory:
        results = list(reader.update_feeds_iter(scheduled=False, workers=workers))
    for result in results:
        if result.value is None:
            outcomes["not-modified"] += 1
        elif isinstance(result.value, UpdateError):
            outcomes["error"] += 1
            errors.append(f"{result.url}: {result.value}")
        else:
            outcomes["stored" if result.value.new or result.value.modified else "unchanged"] += 1
            new += result.value.new
            modified += result.value.modified
    wall = time.perf_counter() - t0
    items = reader.get_entry_counts().total
    reader.close()
    return {
        "import_s": t0 - t_import,
        "wall_s": wall,
        "feeds": sum(outcomes.values()),
        "new": new,
        "updated": modified,
        "outcomes": dict(outcomes),
        "errors": errors[:5],
        "error_count": len(errors),
        "items": items,
        "pss_peak_mb": memory.pss_peak,
    }


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="ingest.py _poll")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="aggregator: the configuration listing the feeds")
    parser.add_argument("--urls", type=Path, help="reader: a file with one feed URL a line")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--profile", type=Path, help="aggregator: write the poll's profile (pstats) here")
    args = parser.parse_args(argv)
    if args.tool == "aggregator" and args.profile:
        print(json.dumps(profile_aggregator(args.config, args.db, args.profile)))
        return
    if args.tool == "aggregator":
        out = poll_aggregator(args.config, args.db)
    else:
        out = poll_reader(args.urls.read_text().split(), args.db, args.workers, args.cold)
    out["peak_mb"], out["peak_source"] = peak_rss_mb()
    # Parse worker processes (aggregator's poll.parse_processes) have memory of their own: the sum
    # of every child's peak is added, an upper bound of what they all held at once.
    out["own_peak_mb"] = out["peak_mb"]
    out["rss_bound_mb"] = out["peak_mb"] + sum(out.get("children_peak_mb", []))
    # The target is on what the poll's processes really hold at once: their summed PSS.
    out["peak_mb"] = max(out.get("pss_peak_mb", 0.0), 0.0) or out["rss_bound_mb"]
    print(json.dumps(out))


# --- the profile (--profile) -------------------------------------------------------------------

PROFILE_STAGES = (
    ("fetch (HTTP, decompression)", "aggregator/fetch.py", "fetch"),
    ("parse", "aggregator/parse.py", "parse_bytes"),
    ("normalize", "aggregator/normalize.py", "normalize_feed"),
    ("tag", "aggregator/tagging.py", "tag"),
    ("store (SQL)", "aggregator/store/writes.py", "store_posts"),
    ("commit", "aggregator/store/schema.py", "write_transaction"),
    ("feeds' state, fetch log", "aggregator/pipeline.py", "_write"),
)
"""The stages of a poll and the function whose cumulative time is each (``_write`` includes
``store_posts``; the table shows it without)."""


def profile_aggregator(config_path: Path, db_path: Path, out: Path) -> dict[str, Any]:
    """A cold poll of every feed, one after the other on this thread (``pipeline.poll_feed``, the
    service's path: fetch, parse, normalize, tag and store, one transaction a feed) under cProfile."""
    import cProfile

    from aggregator import pipeline, store
    from aggregator.config import load_config
    from aggregator.fetch import build_client

    config = load_config(config_path, database=db_path)
    db = store.open_db(config.database)
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    with build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client)
        feeds = pipeline.select_feeds(config)
        profile.enable()
        results = [pipeline.poll_feed(db, poller, feed) for feed in feeds]
        profile.disable()
    wall = time.perf_counter() - t0
    profile.dump_stats(out)
    errors = [f"{r.feed}: {r.error}" for r in results if r is not None and r.outcome == "error"]
    items = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    return {"wall_s": wall, "items": items, "errors": errors[:5], "error_count": len(errors)}


def _function_times(stats: Any) -> dict[tuple[str, str], tuple[float, float]]:
    """(file ending, function) -> (own time, cumulative time), over the whole profile."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for (filename, _line, function), (_cc, _nc, own, cumulative, _callers) in stats.stats.items():
        key = ("/".join(Path(filename).parts[-3:]), function)
        held = out.get(key, (0.0, 0.0))
        out[key] = (held[0] + own, held[1] + cumulative)
    return out


def _stage_time(times: dict[tuple[str, str], tuple[float, float]], suffix: str, function: str) -> float:
    return sum(cum for (file, name), (_own, cum) in times.items() if file.endswith(suffix) and name == function)


def render_profile(path: Path, *, top: int) -> str:
    import pstats

    stats = pstats.Stats(str(path))
    total = stats.total_tt
    times = _function_times(stats)
    stage_times = {label: _stage_time(times, suffix, name) for label, suffix, name in PROFILE_STAGES}
    stage_times["feeds' state, fetch log"] -= stage_times["store (SQL)"]
    lines = [
        f"Profile of one cold poll, feed after feed on one thread: {total:.2f} s under cProfile (which slows"
        " call-heavy code most: compare the shares, not the seconds, with the benchmark's)",
        "",
        "stage                              s   share",
    ]
    for label, seconds in stage_times.items():
        lines.append(f"{label:<30} {seconds:6.2f}  {seconds / total:6.1%}")
    rest = total - sum(stage_times.values())
    lines.append(f"{'everything else':<30} {rest:6.2f}  {rest / total:6.1%}")

    def table(title: str, index: int) -> None:
        lines.extend(["", title, "   own s  cumul s  function"])
        ranked = sorted(times.items(), key=lambda kv: -kv[1][index])[:top]
        for (file, name), (own, cumulative) in ranked:
            lines.append(f"  {own:6.2f}  {cumulative:7.2f}  {name} ({file})")

    table(f"Top {top} functions by own time", 0)
    table(f"Top {top} functions by cumulative time", 1)
    return "\n".join(lines)


def run_profile(args: argparse.Namespace, files: list[Path], feeds_dir: Path, work_root: Path) -> int:
    work = work_root / "profile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with server_process(feeds_dir, allow_gzip=args.gzip) as base:
        write_aggregator_config(
            work / "aggregator.toml",
            base,
            files,
            per_host=args.per_host,
            max_workers=args.max_workers,
            parse_processes=0,
        )
        db, config, profile = work / "aggregator.db", work / "aggregator.toml", work / "profile.pstats"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_poll", "aggregator", "--db", str(db)]
        cmd += ["--config", str(config), "--cold", "--profile", str(profile)]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    poll = json.loads(result.stdout)
    log(f"profiled poll: {poll['items']} items, {poll['error_count']} failed feeds, {poll['wall_s']:.2f} s wall")
    print(render_profile(work / "profile.pstats", top=args.profile_top))
    return 1 if poll["error_count"] else 0


# --- the benchmark -----------------------------------------------------------------------------


def write_aggregator_config(
    path: Path, base: str, files: list[Path], *, per_host: int, max_workers: int, parse_processes: int
) -> None:
    lines = [
        "[general]",
        'log_level = "ERROR"',
        "",
        "[poll]",
        f"parse_processes = {parse_processes}",
        "",
        "[http]",
        f"per_host = {per_host}",
        f"max_workers = {max_workers}",
        "",
    ]
    for file in files:
        lines += [
            "[[feeds]]",
            f'name = "{feed_name(file)}"',
            f'url = "{base}/{file.name}"',
            'kind = "aws-whats-new"',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def run_poll(tool: str, work: Path, *, cold: bool, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_poll", tool, "--db", str(work / f"{tool}.db")]
    if tool == "aggregator":
        cmd += ["--config", str(work / "aggregator.toml")]
    else:
        cmd += ["--urls", str(work / "urls.txt"), "--workers", str(args.reader_workers)]
    if cold:
        cmd.append("--cold")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the {tool} poll exited with status {proc.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["process_s"] = elapsed
    result["ru_maxrss_mb"] = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def check(tool: str, cold: dict[str, Any], warm: dict[str, Any], expected: int, feeds: int) -> list[str]:
    """Correctness: every distinct item stored once, every feed polled, nothing new the second time."""
    problems = []
    if cold["error_count"] or warm["error_count"]:
        problems.append(
            f"{tool}: {cold['error_count'] + warm['error_count']} feeds failed: {(cold['errors'] + warm['errors'])[:3]}"
        )
    if cold["feeds"] != feeds or warm["feeds"] != feeds:
        problems.append(f"{tool}: polled {cold['feeds']} then {warm['feeds']} feeds, expected {feeds}")
    if cold["items"] != expected:
        problems.append(f"{tool}: {cold['items']} items after the cold poll, the feeds hold {expected} distinct items")
    if cold["new"] != expected:
        problems.append(f"{tool}: the cold poll reported {cold['new']} new items, expected {expected}")
    if warm["new"] or warm["updated"]:
        problems.append(f"{tool}: the unchanged poll stored {warm['new']} new and {warm['updated']} updated items")
    if warm["items"] != cold["items"]:
        problems.append(f"{tool}: {warm['items']} items after the unchanged poll, {cold['items']} before")
    if warm["server"].get("304", 0) != feeds:
        problems.append(
            f"{tool}: the server answered {warm['server'].get('304', 0)} of {feeds} conditional GETs with 304"
        )
    return problems


def median(runs: list[dict[str, Any]], tool: str, phase: str, key: str) -> float:
    return float(statistics.median(run[tool][phase][key] for run in runs))


def summarize(runs: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for tool in TOOLS:
        cold_wall = median(runs, tool, "cold", "wall_s")
        figures[tool] = {
            "cold_wall_s": cold_wall,
            "cold_items_per_s": float(statistics.median(expected / run[tool]["cold"]["wall_s"] for run in runs)),
            "cold_cpu_s": median(runs, tool, "cold", "cpu_s"),
            "unchanged_wall_s": median(runs, tool, "warm", "wall_s"),
            "unchanged_cpu_s": median(runs, tool, "warm", "cpu_s"),
            "cold_peak_mb": median(runs, tool, "cold", "peak_mb"),
            "unchanged_peak_mb": median(runs, tool, "warm", "peak_mb"),
            "cold_rss_bound_mb": median(runs, tool, "cold", "rss_bound_mb"),
            "import_s": median(runs, tool, "cold", "import_s"),
            "max_in_flight": max(run[tool]["cold"]["server"].get("max_in_flight", 0) for run in runs),
        }
    agg, rdr = figures["aggregator"], figures["reader"]
    agg_peak = max(agg["cold_peak_mb"], agg["unchanged_peak_mb"])
    figures["ratios"] = {
        "cold_items_per_s": agg["cold_items_per_s"] / rdr["cold_items_per_s"],
        "unchanged_wall": agg["unchanged_wall_s"] / rdr["unchanged_wall_s"],
        "peak_mb": agg_peak / max(rdr["cold_peak_mb"], rdr["unchanged_peak_mb"]),
    }
    figures["targets"] = {
        "cold_items_per_s": {
            "target": f">= {TARGET_COLD_RATIO:g}x reader",
            "met": figures["ratios"]["cold_items_per_s"] >= TARGET_COLD_RATIO,
        },
        "unchanged_wall": {
            "target": f"<= {TARGET_UNCHANGED_RATIO:g}x reader",
            "met": figures["ratios"]["unchanged_wall"] <= TARGET_UNCHANGED_RATIO,
        },
        "peak_mb": {"target": f"< {TARGET_PEAK_MB:g} MB", "met": agg_peak < TARGET_PEAK_MB},
    }
    return figures


def render_table(report: dict[str, Any]) -> str:
    fig = report["figures"]
    agg, rdr, ratio, targets = fig["aggregator"], fig["reader"], fig["ratios"], fig["targets"]

    def verdict(key: str) -> str:
        return ("PASS " if targets[key]["met"] else "MISS ") + targets[key]["target"]

    rows = [
        (
            "cold ingest: wall time (s)",
            f"{agg['cold_wall_s']:.2f}",
            f"{rdr['cold_wall_s']:.2f}",
            f"{agg['cold_wall_s'] / rdr['cold_wall_s']:.2f}x",
            "",
        ),
        (
            "cold ingest: items/s",
            f"{agg['cold_items_per_s']:,.0f}",
            f"{rdr['cold_items_per_s']:,.0f}",
            f"{ratio['cold_items_per_s']:.2f}x",
            verdict("cold_items_per_s"),
        ),
        (
            "cold ingest: CPU time (s)",
            f"{agg['cold_cpu_s']:.2f}",
            f"{rdr['cold_cpu_s']:.2f}",
            f"{agg['cold_cpu_s'] / rdr['cold_cpu_s']:.2f}x",
            "",
        ),
        (
            "cold ingest: peak memory, PSS (MB)",
            f"{agg['cold_peak_mb']:.0f}",
            f"{rdr['cold_peak_mb']:.0f}",
            f"{agg['cold_peak_mb'] / rdr['cold_peak_mb']:.2f}x",
            verdict("peak_mb"),
        ),
        (
            "cold ingest: sum of peak RSS (MB)",
            f"{agg['cold_rss_bound_mb']:.0f}",
            f"{rdr['cold_rss_bound_mb']:.0f}",
            f"{agg['cold_rss_bound_mb'] / rdr['cold_rss_bound_mb']:.2f}x",
            "(upper bound)",
        ),
        (
            "unchanged poll: wall time (s)",
            f"{agg['unchanged_wall_s']:.2f}",
            f"{rdr['unchanged_wall_s']:.2f}",
            f"{ratio['unchanged_wall']:.2f}x",
            verdict("unchanged_wall"),
        ),
        (
            "unchanged poll: CPU time (s)",
            f"{agg['unchanged_cpu_s']:.2f}",
            f"{rdr['unchanged_cpu_s']:.2f}",
            f"{agg['unchanged_cpu_s'] / rdr['unchanged_cpu_s']:.2f}x",
            "",
        ),
        (
            "unchanged poll: peak memory, PSS (MB)",
            f"{agg['unchanged_peak_mb']:.0f}",
            f"{rdr['unchanged_peak_mb']:.0f}",
            f"{agg['unchanged_peak_mb'] / rdr['unchanged_peak_mb']:.2f}x",
            verdict("peak_mb"),
        ),
        ("requests in flight (max seen)", str(agg["max_in_flight"]), str(rdr["max_in_flight"]), "", ""),
    ]
    header = ("", "aggregator", f"reader {report['reader_version']}", "agg/reader", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = [
        f"Ingestion benchmark: {report['feeds']} feeds, {report['distinct_items']:,} distinct items, loopback HTTP"
        f" ({'gzip' if report['gzip'] else 'identity'}), median of {report['repeat']} run(s)",
        f"Concurrency: aggregator http.per_host={report['per_host']} (max_workers={report['max_workers']}),"
        f" reader update_feeds(workers={report['reader_workers']}): at most {report['per_host']} and"
        f" {report['reader_workers']} requests in flight to the one host.",
        f"Parsing: aggregator poll.parse_processes={report['parse_processes']} worker processes (the sum of their"
        " peaks is added to its peak RSS); reader parses in its worker threads.",
        "",
    ]
    for i, row in enumerate([header, *rows]):
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}  {row[4]}".rstrip()
        )
        if i == 0:
            lines.append("-" * (sum(widths) + 8))
    lines += [
        "",
        "Wall time: from opening the database (and, cold, registering the feeds) to the end of the poll;"
        " interpreter start-up and imports excluded. CPU time: the whole poll process (start-up included)."
        " Peak memory, PSS: the largest summed proportional set size of the poll process and its"
        " parse workers, sampled every 200 ms (shared pages split among the processes sharing them)."
        " Sum of peak RSS: each process's own high-water mark ("
        + report["peak_source"]
        + "), added up: an upper bound. Checks: "
        + ("all passed" if not report["problems"] else f"{len(report['problems'])} FAILED"),
    ]
    lines += [f"  FAILED: {p}" for p in report["problems"]]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/ingest.py",
        description="Cold ingest and unchanged-poll benchmark of aggregator against reader on the replayed What's New archive.",
    )
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="The shared corpus folder (default: %(default)s)."
    )
    parser.add_argument("--make-feeds", type=Path, help="make_feeds.py (default: CORPUS/../tools/make_feeds.py).")
    parser.add_argument(
        "--out",
        type=Path,
        help="Keep the feeds, databases and results.json here (default: a temporary folder, removed).",
    )
    parser.add_argument("--repeat", type=int, default=1, help="Runs; the table shows the median (default: 1).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON on stdout instead of the table.")
    parser.add_argument(
        "--per-host", type=int, default=2, help="aggregator http.per_host (default: 2, the shipped setting)."
    )
    parser.add_argument(
        "--max-workers", type=int, default=8, help="aggregator http.max_workers (default: 8, the shipped setting)."
    )
    parser.add_argument(
        "--reader-workers", type=int, default=2, help="reader update_feeds(workers=...) (default: 2, as per_host)."
    )
    parser.add_argument(
        "--parse-processes",
        type=int,
        default=2,
        help="aggregator poll.parse_processes (default: 2, the shipped setting).",
    )
    parser.add_argument(
        "--no-gzip", dest="gzip", action="store_false", help="Tell the server to ignore Accept-Encoding."
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Profile one cold poll of aggregator (cProfile, every thread) instead of benchmarking; see above.",
    )
    parser.add_argument("--profile-top", type=int, default=25, help="Functions listed by --profile (default: 25).")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["_serve"]:
        serve(Path(argv[1]), allow_gzip=argv[2:3] != ["identity"])
        return 0
    if argv[:1] == ["_poll"]:
        child_main(argv[1:])
        return 0
    args = parse_args(argv)
    archive = args.corpus / ARCHIVE
    make_feeds = args.make_feeds or args.corpus.parent / "tools" / "make_feeds.py"
    for needed in (archive, make_feeds):
        if not needed.is_file():
            log(f"skipped: {needed} not found (give --corpus PATH, the shared corpus folder)")
            return 0
    # Not imported here: this process must stay small (see peak_rss_mb), the polls import it.
    if args.profile:
        work_root = args.out or Path(tempfile.mkdtemp(prefix="aggregator-profile-"))
        try:
            feeds_dir = work_root / "feeds"
            shutil.rmtree(feeds_dir, ignore_errors=True)
            log(f"building the feeds from {archive.name} into {feeds_dir} ...")
            return run_profile(args, build_feeds(make_feeds, archive, feeds_dir), feeds_dir, work_root)
        finally:
            if args.out is None:
                shutil.rmtree(work_root, ignore_errors=True)
    if importlib.util.find_spec("reader") is None:
        log("skipped: the peer library reader is not installed (pip install -e '.[bench]')")
        return 0
    reader_version = importlib.metadata.version("reader")

    work_root = args.out or Path(tempfile.mkdtemp(prefix="aggregator-bench-"))
    try:
        return run_benchmark(args, archive, make_feeds, work_root, reader_version)
    finally:
        if args.out is None:
            shutil.rmtree(work_root, ignore_errors=True)


def run_benchmark(
    args: argparse.Namespace, archive: Path, make_feeds: Path, work_root: Path, reader_version: str
) -> int:
    feeds_dir = work_root / "feeds"
    shutil.rmtree(feeds_dir, ignore_errors=True)
    log(f"building the feeds from {archive.name} into {feeds_dir} ...")
    files = build_feeds(make_feeds, archive, feeds_dir)
    total, distinct = count_items(files)
    log(f"{len(files)} feeds, {total} items, {distinct} distinct")

    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    peak_sources: set[str] = set()
    with server_process(feeds_dir, allow_gzip=args.gzip) as base:
        for i in range(args.repeat):
            work = work_root / f"run-{i + 1}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            write_aggregator_config(
                work / "aggregator.toml",
                base,
                files,
                per_host=args.per_host,
                max_workers=args.max_workers,
                parse_processes=args.parse_processes,
            )
            (work / "urls.txt").write_text("".join(f"{base}/{f.name}\n" for f in files))
            run: dict[str, Any] = {}
            order = TOOLS if i % 2 == 0 else TOOLS[::-1]  # alternate, so neither always runs on a warmer machine
            for tool in order:
                server_stats(base)
                cold = run_poll(tool, work, cold=True, args=args)
                cold["server"] = server_stats(base)
                warm = run_poll(tool, work, cold=False, args=args)
                warm["server"] = server_stats(base)
                peak_sources.update((cold["peak_source"], warm["peak_source"]))
                run[tool] = {"cold": cold, "warm": warm}
                problems += [f"run {i + 1}: {p}" for p in check(tool, cold, warm, distinct, len(files))]
                log(
                    f"run {i + 1}/{args.repeat} {tool}: cold {cold['wall_s']:.2f} s ({cold['items']} items,"
                    f" {cold['peak_mb']:.0f} MB), unchanged {warm['wall_s']:.2f} s ({warm['server'].get('304', 0)} x 304,"
                    f" {warm['peak_mb']:.0f} MB)"
                )
            runs.append(run)

    report: dict[str, Any] = {
        "feeds": len(files),
        "items": total,
        "distinct_items": distinct,
        "repeat": args.repeat,
        "gzip": args.gzip,
        "per_host": args.per_host,
        "max_workers": args.max_workers,
        "parse_processes": args.parse_processes,
        "reader_workers": args.reader_workers,
        "reader_version": reader_version,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "peak_source": "/".join(sorted(peak_sources)),
        "figures": summarize(runs, distinct),
        "problems": problems,
        "runs": runs,
    }
    if args.out:
        (work_root / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
