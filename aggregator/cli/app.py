"""What every command shares: the application context (configuration, archive, logging), the
error mapping, and the parsing and printing helpers.

Light to import: a command module imports what its own work needs when it runs, so that
``aggregator posts`` never loads the network, parsing or drafting stacks.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..config import Config, default_config_dir, format_duration, load_config
from ..errors import AggregatorError
from ..logs import mask_credentials, setup_logging
from ..models import utcnow

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar
    from sqlite_utils import Database

    from ..models import FeedGap
    from ..tagging import Tagger

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


@dataclass
class AppContext:
    config_path: str | None
    db_path: str | None
    verbosity: int
    _config: Config | None = None

    @property
    def config(self) -> Config:
        """The configuration, loaded on first use; what looks like a mistake in it is printed then."""
        if self._config is None:
            self._config = load_config(self.config_path, database=self.db_path)
            if self.verbosity >= 0:
                for warning in self._config.warnings:
                    click.echo(f"warning: {mask_credentials(warning)}", err=True)
        return self._config

    def open_db(self, *, readonly: bool = False) -> Database:
        """The archive; ``readonly`` for commands that only read (it must exist then)."""
        from .. import store

        return store.open_db(self.config.database, readonly=readonly)

    def tagger(self) -> Tagger:
        from ..pipeline import tagger_for

        return tagger_for(self.config)

    def service_log_level(self) -> str:
        """The level of ``run``: ``general.log_level``, unless -v (INFO), -vv (DEBUG) or -q (ERROR) says otherwise."""
        if self.verbosity == 0:
            return self.config.settings.general.log_level
        return "ERROR" if self.verbosity < 0 else "INFO" if self.verbosity == 1 else "DEBUG"

    def setup_logging(self) -> None:
        # One-shot commands print their own results: the log shows with -v (-vv for debug).
        level = "DEBUG" if self.verbosity > 1 else "INFO" if self.verbosity == 1 else "ERROR"
        setup_logging(level, stream=sys.stderr)
        # Waiting for another writer is worth a line, or the wait looks like a hang.
        logging.getLogger("aggregator.store").setLevel(logging.WARNING if self.verbosity == 0 else logging.NOTSET)


def editable_feed_list(config: Config, *, alternative: str = "") -> Path:
    """The file the feed list came from, unless it is the shipped default list: that one is never
    edited (an upgrade would overwrite it); raises a usage error saying what to do instead."""
    if config.feeds_path.resolve() == (default_config_dir() / "feeds.toml").resolve():
        raise click.UsageError(
            f"the active feed list is the shipped default ({config.feeds_path}), which is never edited: copy it,"
            f" point general.feeds_file at the copy{alternative}"
        )
    return config.feeds_path


def handle_errors(func: F) -> F:
    """Turn library errors into a one-line message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AggregatorError as exc:
            raise click.ClickException(mask_credentials(str(exc))) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(AppContext)


# --- parsing helpers ---------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)([hdw])$")

EARLIEST, LATEST = 1990, 2999
"""Years a date given on the command line may be in (AWS started publishing in 2004)."""


def parse_when(value: str, *, now: dt.datetime | None = None, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """``2024-05-01``, ``2024-05-01T12:00``, ``2024-05-01T12:00+02:00`` or ``7d``/``12h``/``2w`` ago -> aware UTC.

    A date or a date-time without an offset is in ``zone`` (``posts`` passes ``general.timezone``:
    the days its list shows); one with an offset keeps it; an age counts back from ``now``.
    """
    now = now or utcnow()
    text = value.strip()
    try:
        match = _RELATIVE.match(text)
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            when = now - dt.timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
        else:
            when = dt.datetime.fromisoformat(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
            when = when.astimezone(dt.UTC)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD, an ISO date-time, or an age such as 7d, 12h, 2w"
        ) from None
    except OverflowError:
        raise click.BadParameter(f"{value!r} is out of range") from None
    if not EARLIEST <= when.year <= LATEST:
        raise click.BadParameter(f"{value!r} is out of range: use a date between {EARLIEST} and {LATEST}")
    return when


def when_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    return parse_when(value) if value else None


# --- printing helpers --------------------------------------------------------------------------


def emit_json(rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line; credentials in URLs masked."""
    for row in rows:
        click.echo(mask_credentials(json.dumps(row, ensure_ascii=False, default=str)))


_AGO_UNITS = (("s", 1, 60), ("m", 60, 60), ("h", 3600, 24), ("d", 86400, 0))
"""(unit, its seconds, how many of it make the next unit): 59m50s is "1h", never "60m"."""


def ago(when: str | None, now: dt.datetime) -> str:
    if not when:
        return "never"
    seconds = (now - dt.datetime.fromisoformat(when)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    text = ""
    for unit, size, next_unit in _AGO_UNITS:
        count = round(seconds / size)
        text = f"{count}{unit}"
        if not next_unit or count < next_unit:
            break
    return f"in {text}" if future else f"{text} ago"


def suggest(name: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a known name is close to ``name``, else nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def echo_beside(bar: ProgressBar[Any], message: str) -> None:
    """A line on stderr while ``bar`` is drawn there: on a line of its own, the bar drawn again below it."""
    drawn = not bar.hidden and bar.file.isatty()
    if drawn:
        bar.file.write("\r\x1b[2K")  # back to the start of the bar's line, and clear it
    click.echo(message, err=True)
    if drawn:
        bar.file.write(bar.format_progress_line())
        bar.file.flush()


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def gap_line(gap: FeedGap) -> str:
    line = (
        f"gap: nothing seen between {gap.start:%Y-%m-%d %H:%M} and {gap.end:%Y-%m-%d %H:%M} UTC"
        f" (detected {gap.detected_at:%Y-%m-%d %H:%M}; {gap.status}"
    )
    if gap.attempts:
        line += f" after {gap.attempts} repair attempt{'s' if gap.attempts > 1 else ''}"
    line += ")"
    if gap.error:
        line += f": {gap.error}"
    return line


def toml_value(value: object, type_name: str = "") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v, type_name)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v, type_name) for v in value) + "]"
    if "duration" in type_name and isinstance(value, (int, float)):
        return json.dumps(format_duration(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return mask_credentials(json.dumps(value))
    return str(value)
