"""How long a person waits for a list command, against ``sqlite-utils rows`` on the same archive.

    python bench/startup.py [--runs 15]

Polls the bundled example configuration (offline: its feeds are files) into a fresh archive, then
times, alternating, ``aggregator posts --limit 1``, ``aggregator feeds``, ``aggregator posts --tag
s3 --limit 1`` and the baseline ``sqlite-utils rows ARCHIVE posts --limit 1`` (the same Python, the
same archive), each a new process as a person runs it. Prints the median and quartiles of each and
the ratio of each command's median to the baseline's (target: at most 1.0), and which heavy
stacks each command loads (none of the network, parsing or drafting stacks for a listing).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"
HEAVY = ("httpx", "feedparser", "bs4", "jinja2", "apscheduler", "prometheus_client", "lxml", "numpy")
"""Modules a listing should not need (numpy comes with sqlite-utils when it is installed, for both)."""


def command_lines(db: Path) -> dict[str, list[str]]:
    py = sys.executable
    base = [py, "-m", "aggregator", "--config", str(EXAMPLE), "--db", str(db)]
    return {
        "sqlite-utils rows posts --limit 1": [py, "-m", "sqlite_utils", "rows", str(db), "posts", "--limit", "1"],
        "aggregator posts --limit 1": [*base, "posts", "--limit", "1"],
        "aggregator posts --tag s3 --limit 1": [*base, "posts", "--tag", "s3", "--limit", "1"],
        "aggregator feeds": [*base, "feeds"],
    }


def time_once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loaded(argv: list[str]) -> list[str]:
    """The heavy top-level modules a command imports (from ``python -X importtime``)."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    return [name for name in HEAVY if any(n == name or n.startswith(name + ".") for n in names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Runs of each command (alternating).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "archive.db"
        subprocess.run(
            [sys.executable, "-m", "aggregator", "--config", str(EXAMPLE), "--db", str(db), "run", "--once"],
            check=True,
            capture_output=True,
        )
        commands = command_lines(db)
        for argv in commands.values():  # warm the file cache and .pyc files
            time_once(argv)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(time_once(argv))
        baseline = statistics.median(times["sqlite-utils rows posts --limit 1"])
        print(f"{'command':<38} {'median':>8} {'q1':>7} {'q3':>7} {'ratio':>6}  heavy stacks loaded")
        for name, runs in times.items():
            q1, median, q3 = statistics.quantiles(runs, n=4)
            heavy = ", ".join(loaded(commands[name])) or "-"
            print(f"{name:<38} {median:>7.3f}s {q1:>6.3f}s {q3:>6.3f}s {median / baseline:>6.2f}  {heavy}")
        print(f"({args.runs} runs each, alternating; ratio = median / median of sqlite-utils rows; target <= 1.0)")


if __name__ == "__main__":
    main()
