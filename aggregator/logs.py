"""Logging set-up for the entry points: text on a terminal, JSON lines otherwise.

The library only calls ``logging.getLogger(__name__)``; handlers are configured here, once, by
the CLI. Structured fields passed as ``extra={"poll": {...}}`` become top-level JSON keys.

Credentials in URLs (``https://user:secret@host/``) never reach a log line or the terminal:
``mask_credentials`` hides them, in every record here and in what the CLI prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import IO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/?#@:'\"<>]*)(?::[^\s/?#@'\"<>]*)?@")

MASK = "***"


def mask_credentials(text: str) -> str:
    """``https://user:secret@host/feed`` -> ``https://user:***@host/feed``; a user name alone (often
    a token) is masked whole: ``https://***@host/feed``. Anything else is left as it is."""
    return _USERINFO.sub(_masked, text) if "@" in text else text


def _masked(match: re.Match[str]) -> str:
    secret = match.group(0)[len(match.group("scheme")) + len(match.group("user")) : -1]
    if secret:  # ":password"
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@"
    return f"{match.group('scheme')}{MASK}@"


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_credentials(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                if isinstance(value, dict):
                    out.update(value)
                else:
                    out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return mask_credentials(json.dumps(out, default=str))


def setup_logging(level: str, *, stream: IO[str] | None = None, json_lines: bool | None = None) -> None:
    """Send log records to ``stream`` (stderr by default): JSON lines unless it is a terminal."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are quiet unless asked.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
