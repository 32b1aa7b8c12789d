"""Shared fixtures: a real loopback HTTP server, configuration files, fixture feeds, an archive."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Response:
    """One scripted answer of the loopback server."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering."""
    trickle: float = 0.0
    """Seconds to wait between bytes of the body (a server that sends too slowly)."""


Handler = Callable[["Request"], Response]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    time: float


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 whose answers the test scripts per path.

    ``route(path, response)`` always answers the same; ``route(path, [r1, r2])`` answers in turn
    (the last one repeats); ``route(path, callable)`` computes the answer from the request.
    ``requests`` records every request, for assertions on conditional headers and politeness.
    ``port``: listen on this port (a server that "comes back" where a feed was down); 0 picks one.
    """

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                request = Request(
                    path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, time=time.monotonic()
                )
                with server._lock:
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    handler = server.routes.get(self.path.split("?")[0])
                    response = handler(request) if handler else Response(404, b"not found")
                    if response.delay:
                        time.sleep(response.delay)
                    self.send_response(response.status)
                    headers = {"Content-Length": str(len(response.body)), **response.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if response.trickle:
                        for i in range(len(response.body)):
                            self.wfile.write(response.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(response.trickle)
                    else:
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, answer: Response | list[Response] | Handler) -> None:
        if isinstance(answer, Response):
            self.routes[path] = lambda _req, a=answer: a
        elif isinstance(answer, list):
            queue = list(answer)

            def next_answer(_req: Request) -> Response:
                return queue.pop(0) if len(queue) > 1 else queue[0]

            self.routes[path] = next_answer
        else:
            self.routes[path] = answer

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.start()
    yield srv
    srv.stop()


def rss(
    *items: str, title: str = "Recent Announcements", link: str = "https://aws.amazon.com/about-aws/whats-new/recent/"
) -> bytes:
    """A What's New-shaped RSS document around the given ``<item>`` strings."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>{link}</link><description>test feed</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(
    slug: str,
    title: str | None = None,
    *,
    date: str = "Wed, 23 Mar 2022 15:36:48 +0000",
    guid: str | None = None,
    categories: str = "general:products/amazon-s3,marketing:marchitecture/storage",
    description: str = "&lt;p&gt;Amazon S3 now does something new.&lt;/p&gt;",
    link: str | None = None,
) -> str:
    """One What's New-shaped ``<item>``."""
    link = link or f"https://aws.amazon.com/about-aws/whats-new/2022/03/{slug}/"
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid is not None else ""
    return (
        f"<item><link>{link}</link>{guid_xml}<title>{title or slug.replace('-', ' ').title()}</title>"
        f"<description>{description}</description><pubDate>{date}</pubDate>"
        f"<category>{categories}</category><author>aws@amazon.com</author></item>"
    )


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a one-file configuration with the given feeds (dicts) and extra TOML; return its path."""

    def write(feeds: list[dict[str, Any]], extra: str = "", name: str = "aggregator.toml") -> Path:
        lines = [extra.strip(), ""] if extra else []
        for feed in feeds:
            lines.append("[[feeds]]")
            for key, value in feed.items():
                if isinstance(value, bool):
                    lines.append(f"{key} = {'true' if value else 'false'}")
                elif isinstance(value, list):
                    lines.append(f"{key} = [{', '.join(repr(v) for v in value)}]")
                else:
                    lines.append(f'{key} = "{value}"')
            lines.append("")
        path = tmp_path / name
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    return write


class FakeClock:
    """A settable clock for pipeline tests: ``clock()`` returns the current aware UTC time."""

    def __init__(self, start: dt.datetime = dt.datetime(2024, 5, 6, 9, 0, tzinfo=dt.UTC)) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite the golden files of rendered output (tests/golden/) instead of comparing with them.",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    """True when the golden files are to be rewritten: --update-goldens or UPDATE_GOLDENS=1."""
    import os

    return bool(request.config.getoption("--update-goldens")) or os.environ.get("UPDATE_GOLDENS") == "1"


# --- storing posts directly (the pipeline tags them; these tests give the tagging themselves) ---

NO_TAGGER = "test-no-tagger"
"""The fingerprint posts stored by ``store_tagged`` without a tagger carry."""


def as_tagged(posts: Any, tagger: Any = None) -> list[Any]:
    """Posts with a tagging: the tagger's, else an empty one (kind "other", no tags)."""
    from aggregator.models import TaggedPost, Tagging

    empty = Tagging(tags=(), primary_service=None, kind="other")
    return [TaggedPost(post=p, tagging=tagger.tag(p) if tagger is not None else empty) for p in posts]


def store_tagged(db: Any, feed: str, posts: Any, *, tagger: Any = None, **kwargs: Any) -> Any:
    """``store.store_posts`` in a transaction, the posts tagged by ``tagger`` (or left without tags)."""
    from aggregator import store

    with store.write_transaction(db):
        return store.store_posts(
            db,
            feed,
            as_tagged(posts, tagger),
            tagged_with=tagger.fingerprint if tagger is not None else NO_TAGGER,
            **kwargs,
        )


def forget_tags(db: Any) -> None:
    """Make the archive one from before tagging existed: no tags, kinds or fingerprints."""
    from aggregator import store

    with store.write_transaction(db):
        db.execute("DELETE FROM post_tags")
        db.execute(
            "UPDATE posts SET kind = NULL, primary_service = NULL, regions = NULL, region_count = NULL,"
            " tagged_with = NULL"
        )


# --- the command line ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "example.toml"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A click runner with no configuration or archive coming from the environment."""
    from click.testing import CliRunner

    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DB", raising=False)
    return CliRunner()


def invoke(runner: Any, *args: str, **kwargs: Any) -> Any:
    """Run ``aggregator ARGS`` in this process; exceptions other than exits propagate."""
    from aggregator.cli import cli

    return runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def example_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example configuration polled once into an archive (do not write to it)."""
    from click.testing import CliRunner

    db = tmp_path_factory.mktemp("example") / "example.db"
    result = invoke(CliRunner(), "--config", str(EXAMPLE_CONFIG), "--db", str(db), "poll")
    assert result.exit_code == 0, result.output
    return db
