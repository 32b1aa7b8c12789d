"""HTTP fetching: conditional GET, timeouts, size caps, redirects, and the status policy.

The status policy is the table ``STATUS_POLICY`` below; ``pipeline`` turns its verdicts into feed
state (stored URL, validators, backoff, Retry-After, gone). Local files (``file://``) are read with
the same size cap and no validators: an unchanged body is recognised by its hash instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import random
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from . import __version__
from .config import HttpSettings
from .errors import FetchError, HTTPStatusError
from .models import Clock, FetchResult, utcnow

log = logging.getLogger(__name__)

ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


class Action(Enum):
    OK = "ok"
    NOT_MODIFIED = "not-modified"
    MOVED = "moved"
    """Permanent redirect: follow it and store the new URL."""
    REDIRECT = "redirect"
    """Temporary redirect: follow it, keep the URL."""
    GONE = "gone"
    """Stop polling the feed."""
    RETRY_AFTER = "retry-after"
    """Back off for as long as the server asks (or the backoff schedule, if it does not say)."""
    BACKOFF = "backoff"
    """Failure: exponential backoff with jitter."""


STATUS_POLICY: dict[int, Action] = {
    200: Action.OK,
    203: Action.OK,
    304: Action.NOT_MODIFIED,
    301: Action.MOVED,
    308: Action.MOVED,
    302: Action.REDIRECT,
    303: Action.REDIRECT,
    307: Action.REDIRECT,
    410: Action.GONE,
    429: Action.RETRY_AFTER,
    503: Action.RETRY_AFTER,
}
"""Status -> action. Any status not listed (other 2xx, 4xx, 5xx) is ``Action.BACKOFF``."""


def action_for(status: int) -> Action:
    return STATUS_POLICY.get(status, Action.BACKOFF)


def backoff_delay(
    failures: int, *, initial: float, maximum: float, jitter: float = 0.0, rng: random.Random | None = None
) -> float:
    """How long to wait after ``failures`` consecutive failures (1 or more): ``initial`` doubled
    each time, at most ``maximum``, less up to ``jitter`` (a fraction) of it at random so that
    feeds failing together do not retry together. The one backoff of polls, backfill pages and
    gap repairs."""
    exponent = min(max(failures - 1, 0), 32)
    delay = min(maximum, initial * 2.0**exponent)
    if jitter and rng is not None:
        delay *= 1 - rng.uniform(0, jitter)
    return float(delay)


def user_agent(template: str) -> str:
    return template.replace("{version}", __version__)


def build_client(settings: HttpSettings, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client with the configured timeouts and an honest User-Agent. Redirects are ours to follow."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.total_timeout,
    )
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        transport=transport,
        limits=httpx.Limits(max_connections=settings.max_workers * 2, max_keepalive_connections=settings.max_workers),
        headers={"User-Agent": user_agent(settings.user_agent), "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
    )


class HostLimiter:
    """At most ``per_host`` requests in flight to one host, shared by every thread that polls."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @contextlib.contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            semaphore = self._semaphores.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with semaphore:
            yield


class Cancellation:
    """Cancels the fetches in flight on every thread at once (Ctrl-C on ``aggregator poll``).

    A thread blocked reading a socket wakes only when the socket is shut down (closing it is not
    enough), so every connection a fetch opens is remembered, through httpcore's ``trace``
    extension, and ``cancel`` shuts them all down: their reads fail at once, and a fetch that
    starts afterwards fails before sending anything.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.cancelled = False

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: note each new connection's socket."""
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            if not self.cancelled:
                return
        _shut(sock)  # connected just as the fetches were cancelled

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def check(self) -> None:
        if self.cancelled:
            raise FetchError("cancelled")


def _cancellable(cancellation: Cancellation | None) -> dict[str, Any]:
    """The request extensions that let ``cancellation`` end a fetch; FetchError if it did already."""
    if cancellation is None:
        return {}
    cancellation.check()
    return {"trace": cancellation.trace}


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


RETRY_AFTER_AS_DATE = 2 * 86400.0
"""A Retry-After longer than this is told as the date it asks for, not as seconds."""


def describe_retry_after(seconds: float, *, now: dt.datetime) -> str:
    """``Retry-After 120 s``, or ``Retry-After: until 2042-11-13 06:13 UTC`` for a long wait."""
    if seconds <= RETRY_AFTER_AS_DATE:
        return f"Retry-After {seconds:.0f} s"
    try:
        return f"Retry-After: until {now + dt.timedelta(seconds=seconds):%Y-%m-%d %H:%M} UTC"
    except OverflowError:
        return "Retry-After: until after the year 9999"


class _Decoder:
    """Incremental Content-Encoding decoding that never produces more than a cap."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.encoding = encoding
        self.cap = cap
        self.produced = 0
        self._z: zlib._Decompress | None
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._raw_deflate_tried = False
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r} (asked for gzip or deflate)")

    def _count(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.produced > self.cap:
            raise FetchError(f"response larger than {self.cap} bytes once decompressed (http.max_decompressed_bytes)")
        return data

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        if self._z is None:
            yield self._count(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._z.decompress(data, self.cap - self.produced + 1)
            except zlib.error as exc:
                if self.encoding == "deflate" and not self._raw_deflate_tried and self.produced == 0:
                    # Some servers send raw deflate without the zlib header.
                    self._raw_deflate_tried = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"corrupt {self.encoding} body: {exc}") from None
            yield self._count(out)
            data = self._z.unconsumed_tail
            if not data and self._z.eof and self._z.unused_data:
                # A multi-member gzip stream: start on the next member.
                data = self._z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def finish(self) -> Iterator[bytes]:
        if self._z is not None:
            yield self._count(self._z.flush())


def _read_body(
    response: httpx.Response, settings: HttpSettings, deadline: float, clock: Callable[[], float]
) -> tuple[bytes, int]:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise FetchError(
            f"response of {declared} bytes is larger than the {settings.max_bytes}-byte cap (http.max_bytes)"
        )
    decoder = _Decoder(response.headers.get("content-encoding", "").strip().lower(), settings.max_decompressed_bytes)
    parts: list[bytes] = []
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > settings.max_bytes:
            raise FetchError(f"response larger than the {settings.max_bytes}-byte cap (http.max_bytes)")
        if clock() > deadline:
            raise FetchError(
                f"gave up after {settings.total_timeout:g} s: the server is sending too slowly (http.total_timeout)"
            )
        parts.extend(decoder.feed(chunk))
    parts.extend(decoder.finish())
    return b"".join(parts), received


def _drain(response: httpx.Response, deadline: float, clock: Callable[[], float], limit: int = 64 * 1024) -> None:
    """Read a small non-feed body (304, redirect, error page) so the connection can be reused;
    a large or slow one is not worth it: closing the response drops the connection instead."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > limit or clock() > deadline:
            return


def _fetch_file(url: str, settings: HttpSettings) -> FetchResult:
    path = Path(unquote(urlsplit(url).path))
    try:
        size = path.stat().st_size
        if size > settings.max_bytes:
            raise FetchError(f"{path} is {size} bytes, larger than the {settings.max_bytes}-byte cap (http.max_bytes)")
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise FetchError(f"{path} is a directory, not a feed file") from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    return FetchResult(status=200, outcome="ok", url=url, body=body, bytes_received=len(body))


def _transport_error(exc: httpx.TransportError, settings: HttpSettings) -> FetchError:
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchError(f"connection timed out after {settings.connect_timeout:g} s")
    if isinstance(exc, httpx.ReadTimeout):
        return FetchError(f"no data from the server for {settings.read_timeout:g} s (http.read_timeout)")
    if isinstance(exc, httpx.PoolTimeout):
        return FetchError("no free connection before the total timeout")
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(f"timed out: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return FetchError(f"cannot connect: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchError(f"the server broke the HTTP protocol: {exc}")
    return FetchError(f"{type(exc).__name__}: {exc}")


def _invalid_url(url: str, exc: httpx.InvalidURL) -> str:
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return f"invalid URL {url!r}: {exc}"
    # httpx prepares the request a redirect points to even when it does not follow it, so a
    # Location such as ``javascript:...`` or ``mailto:...`` fails inside the request, not above.
    return f"{url} redirected to a non-HTTP or invalid URL: {exc}"


def fetch(
    client: httpx.Client,
    url: str,
    *,
    settings: HttpSettings,
    etag: str | None = None,
    last_modified: str | None = None,
    limiter: HostLimiter | None = None,
    accept: str | None = None,
    now: Clock = utcnow,
    clock: Callable[[], float] = time.monotonic,
    cancellation: Cancellation | None = None,
) -> FetchResult:
    """Fetch a feed once, following redirects by the policy table.

    Returns the body for a 200, nothing for a 304 or a 410. Raises ``HTTPStatusError`` for the
    statuses the policy treats as failures (with Retry-After when the server sent one) and
    ``FetchError`` for transport trouble and caps. ``accept``: the Accept header, when the answer
    wanted is not a feed (the What's New directory API answers JSON). ``cancellation`` ends it at once.
    """
    extensions = _cancellable(cancellation)
    if urlsplit(url).scheme.lower() == "file":
        return _fetch_file(url, settings)

    deadline = clock() + settings.total_timeout
    headers = {"Accept": accept} if accept else {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = stored_url = url
    permanent: str | None = None
    still_permanent = True
    visited = [url]
    limiter = limiter or HostLimiter(1_000_000)
    for _hop in range(settings.max_redirects + 1):
        with limiter.slot(current):
            _cancellable(cancellation)  # the slot may have been a long wait
            try:
                with client.stream("GET", current, headers=headers, extensions=extensions) as response:
                    action = action_for(response.status_code)
                    if action is not Action.OK:
                        _drain(response, deadline, clock)
                    if action in (Action.MOVED, Action.REDIRECT):
                        location = response.headers.get("location")
                        if not location:
                            raise HTTPStatusError(
                                f"HTTP {response.status_code} without a Location header", status=response.status_code
                            )
                        target = urljoin(current, location.strip())
                        if urlsplit(target).scheme.lower() not in ("http", "https"):
                            raise FetchError(f"redirected to a non-HTTP URL: {target}")
                        if target in visited:
                            raise FetchError("redirect loop: " + " -> ".join([*visited, target]))
                        if action is Action.MOVED and still_permanent:
                            permanent = stored_url = target
                        else:
                            still_permanent = False
                        visited.append(target)
                        current = target
                        continue
                    if action is Action.OK:
                        body, received = _read_body(response, settings, deadline, clock)
                        return FetchResult(
                            status=response.status_code,
                            outcome="ok",
                            url=stored_url,
                            body=body,
                            headers=dict(response.headers),
                            etag=response.headers.get("etag"),
                            last_modified=response.headers.get("last-modified"),
                            permanent_redirect=permanent,
                            bytes_received=received,
                        )
                    if action is Action.NOT_MODIFIED:
                        return FetchResult(
                            status=304,
                            outcome="not-modified",
                            url=stored_url,
                            etag=response.headers.get("etag") or etag,
                            last_modified=response.headers.get("last-modified") or last_modified,
                            permanent_redirect=permanent,
                        )
                    if action is Action.GONE:
                        return FetchResult(status=410, outcome="gone", url=stored_url, permanent_redirect=permanent)
                    retry_after = None
                    if action is Action.RETRY_AFTER:
                        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now())
                    reason = response.reason_phrase or ""
                    raise HTTPStatusError(
                        f"HTTP {response.status_code} {reason}".strip()
                        + (f" ({describe_retry_after(retry_after, now=now())})" if retry_after is not None else ""),
                        status=response.status_code,
                        retry_after=retry_after,
                    )
            except httpx.TransportError as exc:
                raise _transport_error(exc, settings) from None
            except httpx.InvalidURL as exc:
                raise FetchError(_invalid_url(current, exc)) from None
    raise FetchError(f"more than {settings.max_redirects} redirects: " + " -> ".join(visited))
