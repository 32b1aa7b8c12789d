"""The operations endpoint on ``service.listen``: ``/healthz`` (JSON) and ``/metrics`` (Prometheus
text); and its client side, ``aggregator healthcheck`` (``health_url``, ``check_health``).

The server runs on a daemon thread of its own and answers GET and HEAD; it only reads.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from ..config import ENV_LISTEN, Config, parse_listen
from ..errors import ConfigError

log = logging.getLogger(__name__)


class Observed(Protocol):
    """What the endpoint serves: the health document and the metrics' exposition."""

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def exposition(self) -> bytes: ...


class Endpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], observed: Observed) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.observed = observed
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (the port the system picked for port 0)."""
        host, port = self.server_address[:2]
        return f"http://{url_host(str(host))}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint
    server_version = f"aggregator/{__version__}"
    _head_only = False
    """A HEAD request: the headers of the GET, no body."""

    def do_HEAD(self) -> None:
        self._head_only = True
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        observed = self.server.observed
        if path == "/healthz":
            healthy, body = observed.health()
            self._send(200 if healthy else 503, "application/json", json.dumps(body, indent=1).encode())
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, observed.exposition())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("endpoint: " + format, *args)


def start_endpoint(observed: Observed, listen: str, config: Config) -> Endpoint:
    """Bind ``listen`` and serve on a daemon thread. Raises ConfigError naming the address and
    where it was set (``service.listen`` in the file, or ``$AGGREGATOR_LISTEN``) when it cannot."""
    try:
        server = Endpoint(parse_listen(listen), observed)
    except OSError as exc:
        from_env = os.environ.get(ENV_LISTEN) == listen
        raise ConfigError(
            f"cannot listen on {listen}: {exc.strerror or exc}",
            path=f"${ENV_LISTEN}" if from_env else str(config.path),
            key=None if from_env else "service.listen",
        ) from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="endpoint", daemon=True).start()
    return server


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- the client side: aggregator healthcheck ---------------------------------------------------


def health_url(listen: str) -> str:
    """The ``/healthz`` URL of a service listening on ``listen`` (any-address -> loopback)."""
    if not listen:
        raise ConfigError("the health endpoint is off (service.listen is empty): set it, or give --url")
    host, port = parse_listen(listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{url_host(host)}:{port}/healthz"


def check_health(url: str, *, timeout: float = 5.0) -> tuple[bool, str]:
    """Ask a running service whether it is healthy: (healthy, a one-line reason)."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return False, f"no answer from {url}: {str(exc) or type(exc).__name__}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        return False, f"HTTP {response.status_code} from {url}: not an aggregator health endpoint"
    if response.status_code == 200 and body["status"] == "ok":
        failing = sorted(name for name, feed in body.get("feeds", {}).items() if feed.get("failing"))
        gapped = sorted(name for name, feed in body.get("feeds", {}).items() if feed.get("gaps"))
        notes = (
            [f"{len(failing)} feed{'' if len(failing) == 1 else 's'} failing: {', '.join(failing)}"] if failing else []
        )
        notes += [f"gaps in {', '.join(gapped)} (see aggregator feeds)"] if gapped else []
        return True, "healthy" + (f" ({'; '.join(notes)})" if notes else "")
    return False, f"HTTP {response.status_code}, {body['status']}: " + (
        "; ".join(body.get("problems") or []) or "no reason given"
    )
