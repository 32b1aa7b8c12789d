"""The ``aggregator`` command: load settings, call the library, print, map errors to exit codes.

Exit status: 0 success; 1 a command-level failure (bad config, bad argument, a feed that failed in
``poll``, a file that failed in ``import``); 2 a usage error (click's).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__, backfill, opml, pipeline, service, store
from .config import Config, default_config_dir, format_duration, load_config, settings_table
from .errors import AggregatorError
from .fetch import build_client
from .logs import setup_logging
from .models import FeedGap, PollResult
from .tagging import KINDS, Tagger

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    config_path: str | None
    db_path: str | None
    verbosity: int
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, database=self.db_path)
        return self._config

    def open_db(self, *, readonly: bool = False) -> Any:
        """The archive; ``readonly`` for commands that only read (it must exist then)."""
        return store.open_db(self.config.database, readonly=readonly)

    def tagger(self) -> Tagger:
        return pipeline.tagger_for(self.config)

    def service_log_level(self) -> str:
        """The level of ``run``: ``general.log_level``, unless -v or -q says otherwise."""
        if self.verbosity == 0:
            return self.config.settings.general.log_level
        return "DEBUG" if self.verbosity > 0 else "ERROR"

    def setup_logging(self) -> None:
        # One-shot commands print their own results: the log shows with -v (-vv for debug).
        level = "DEBUG" if self.verbosity > 1 else "INFO" if self.verbosity == 1 else "ERROR"
        setup_logging(level, stream=sys.stderr)


def handle_errors(func: F) -> F:
    """Turn library errors into a one-line message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AggregatorError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="AGGREGATOR_CONFIG",
    help="Configuration file (TOML). Default: $AGGREGATOR_CONFIG, else the shipped config/aggregator.toml.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    envvar="AGGREGATOR_DB",
    help="SQLite archive. Default: $AGGREGATOR_DB, else general.database from the configuration.",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None, verbose: int, quiet: bool) -> None:
    """Poll AWS announcement and community feeds into SQLite and draft weekly notes.

    Options of this group come before the command: aggregator --config my.toml --db my.db poll
    """
    ctx.obj = AppContext(config_path=config_path, db_path=db_path, verbosity=-1 if quiet else verbose)
    ctx.obj.setup_logging()


def main() -> None:
    cli(prog_name="aggregator")


# --- parsing helpers ---------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)([hdw])$")


def parse_when(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``2024-05-01``, ``2024-05-01T12:00``, ``2024-05-01T12:00+02:00`` or ``7d``/``12h``/``2w`` ago -> aware UTC."""
    now = now or dt.datetime.now(dt.UTC)
    text = value.strip()
    try:
        match = _RELATIVE.match(text)
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            when = now - dt.timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
        else:
            when = dt.datetime.fromisoformat(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
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


EARLIEST, LATEST = 1990, 2999
"""Years a date given on the command line may be in (AWS started publishing in 2004)."""


def _when(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    return parse_when(value) if value else None


def _emit_json(rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=str))


def _ago(when: str | None, now: dt.datetime) -> str:
    if not when:
        return "never"
    delta = now - dt.datetime.fromisoformat(when)
    seconds = delta.total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds / size:.0f}{unit}"
            break
    else:
        text = f"{seconds:.0f}s"
    return f"in {text}" if future else f"{text} ago"


def _print_poll(results: list[PollResult], as_json: bool) -> None:
    if as_json:
        _emit_json(r.as_json() for r in results)
        return
    width = max((len(r.feed) for r in results), default=4)
    for r in results:
        status = str(r.status) if r.status is not None else "-"
        line = f"{r.feed:<{width}}  {status:>4}  {r.outcome:<12}  new={r.new:<4} updated={r.updated:<4} {r.duration_ms:>6} ms"
        if r.moved_to:
            line += f"  moved to {r.moved_to}"
        if r.error:
            line += f"  {r.error}"
        click.echo(line)
    failed = sum(1 for r in results if r.outcome == "error")
    total_new = sum(r.new for r in results)
    summary = f"{_plural(len(results), 'feed')}, {_plural(total_new, 'new post')}"
    if failed:
        summary += f", {failed} failed"
    click.echo(summary, err=True)


# --- commands ----------------------------------------------------------------------------------


@cli.command()
@click.option("--feed", "feeds", multiple=True, metavar="NAME", help="Poll only this feed (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.option("--force", is_flag=True, help="Poll even feeds that are gone (410) or asked us to wait (Retry-After).")
@pass_app
@handle_errors
def poll(app: AppContext, feeds: tuple[str, ...], as_json: bool, force: bool) -> None:
    """Poll feeds now, due or not, and store what is new.

    One line per feed: name, HTTP status, outcome, new and updated posts, duration, error.
    Exits 1 when any feed failed (the others are stored all the same).
    """
    config = app.config
    selected = pipeline.select_feeds(config, feeds)
    db = app.open_db()
    with build_client(config.settings.http) as client:
        results = pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client), selected, force=force)
    _print_poll(results, as_json)
    if any(r.outcome == "error" for r in results):
        sys.exit(1)


@cli.command()
@click.option("--once", is_flag=True, help="Poll every enabled feed that is due, then exit (for cron).")
@pass_app
@handle_errors
def run(app: AppContext, once: bool) -> None:
    """Run the service: poll each feed on its schedule, write the weekly draft, serve /healthz and
    /metrics on service.listen, log one line per poll to stdout (JSON lines when not a terminal).

    SIGTERM or SIGINT stops it (exit 0); SIGHUP reloads the feed list. One service per archive:
    a second one refuses to start, while one-shot commands keep working beside it.

    With --once, poll the feeds that are due and exit (for cron); it exits 0 even when feeds fail:
    failures are logged and retried on the backoff schedule.
    """
    config = app.config
    setup_logging(app.service_log_level(), stream=sys.stdout)
    if not once:
        service.run_service(config)
        return
    db = app.open_db()
    with build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client)
        results = pipeline.poll_feeds(db, poller, pipeline.select_feeds(config), only_due=True)
    logging.getLogger("aggregator").info(
        "run --once: %d feeds due, %d new posts, %d failed",
        len(results),
        sum(r.new for r in results),
        sum(1 for r in results if r.outcome == "error"),
    )


@cli.command()
@click.option(
    "--url", metavar="URL", help="Health URL to ask. Default: /healthz on service.listen (or $AGGREGATOR_LISTEN)."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="Seconds to wait for the answer."
)
@pass_app
@handle_errors
def healthcheck(app: AppContext, url: str | None, timeout: float) -> None:
    """Exit 0 when the running service answers healthy, 1 otherwise (for container health checks).

    Healthy: the scheduler runs and the archive can be written; failing feeds are listed but do
    not make the service unhealthy (see `aggregator feeds`).
    """
    healthy, reason = service.check_health(
        url or service.health_url(app.config.settings.service.listen), timeout=timeout
    )
    if not healthy:
        click.echo(f"unhealthy: {reason}", err=True)
        sys.exit(1)
    click.echo(reason)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@pass_app
@handle_errors
def feeds(app: AppContext, as_json: bool) -> None:
    """Health of every configured feed: URL, last status, last success, failures, next check, posts."""
    from . import status  # the one feed-status function, shared with the service's /healthz and /metrics

    # Before the first poll there is no archive yet: the feeds are listed, never polled.
    statuses = status.read_feed_statuses(app.config)
    if as_json:
        _emit_json(s.as_json() for s in statuses)
        return
    now = dt.datetime.now(dt.UTC)
    width = max((len(s.name) for s in statuses), default=4)
    click.echo(f"{'feed':<{width}}  status  {'last success':<12}  fails  {'next check':<10}  posts  url")
    for s in statuses:
        state = "off" if not s.enabled else ("gone" if s.gone else str(s.last_status or "-"))
        next_check = (
            "-" if s.gone or not s.enabled else ("now" if not s.next_check else _ago(store.iso(s.next_check), now))
        )
        click.echo(
            f"{s.name:<{width}}  {state:>6}  {_ago(store.iso(s.last_success), now):<12}  {s.consecutive_failures:>5}"
            f"  {next_check:<10}  {s.posts:>5}  {s.url}"
        )
        if s.last_error:
            click.echo(f"{'':<{width}}  ^ {s.last_error}")
        for gap in s.gaps:
            click.echo(f"{'':<{width}}  ^ {_gap_line(gap)}")


def _gap_line(gap: FeedGap) -> str:
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


@cli.command()
@click.option(
    "--since",
    callback=_when,
    metavar="DATE",
    help="Posts dated on or after DATE (YYYY-MM-DD, ISO time, or 7d/12h/2w ago).",
)
@click.option("--until", callback=_when, metavar="DATE", help="Posts dated before DATE.")
@click.option("--feed", "feeds", multiple=True, metavar="NAME", help="Posts delivered by this feed (repeatable).")
@click.option("--search", metavar="TEXT", help="Full-text search in titles and summaries.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Posts tagged with TAG, a service key (s3, stepfunctions) or a topic (serverless); repeatable: all must match.",
)
@click.option("--kind", type=click.Choice(KINDS), help="Posts of this kind of announcement.")
@click.option(
    "--limit", type=click.IntRange(min=1, max=10**9), default=50, show_default=True, help="At most this many posts."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per post.")
@pass_app
@handle_errors
def posts(
    app: AppContext,
    since: dt.datetime | None,
    until: dt.datetime | None,
    feeds: tuple[str, ...],
    search: str | None,
    tags: tuple[str, ...],
    kind: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Stored posts, newest first, with what each is about: its kind and tags."""
    config = app.config
    for name in feeds:
        config.feed(name)
    if since and until and since >= until:
        raise click.UsageError(f"--since ({store.iso(since)}) must be before --until ({store.iso(until)})")
    db = app.open_db(readonly=True)
    rows = store.query_posts(
        db, since=since, until=until, feeds=feeds, search=search, tags=tags, kind=kind, limit=limit
    )
    tags_by_post = store.tags_of(db, [r["id"] for r in rows])
    if as_json:
        _emit_json(
            {
                "id": r["id"],
                "title": r["title"],
                "url": r["url"],
                "date": r["date"],
                "published": r["published"],
                "updated": r["updated"],
                "first_seen": r["first_seen"],
                "feeds": r["sources"],
                "authors": r["authors"],
                "categories": r["categories"],
                "links": r["links"],
                "summary": r["summary"],
                "kind": r["kind"],
                "primary_service": r["primary_service"],
                "regions": r["regions"],
                "tags": [t["tag"] for t in tags_by_post[r["id"]]],
            }
            for r in rows
        )
        return
    if not rows and tags:
        registry = app.tagger().registry
        unknown = [t for t in tags if t not in registry]
        if unknown:
            click.echo(
                f"no posts: {', '.join(unknown)} is not a tag the registry knows"
                " (`aggregator taxonomy lookup TEXT` shows what a title is tagged with)",
                err=True,
            )
    zone = zoneinfo.ZoneInfo(config.settings.general.timezone)  # the author's day, as the draft counts it
    for r in rows:
        day = dt.datetime.fromisoformat(r["date"]).astimezone(zone).date().isoformat()
        click.echo(f"{day}  {','.join(r['sources']):<16}  {r['title']}")
        if r["url"]:
            click.echo(f"{'':<12}{r['url']}")
        if r["kind"]:
            about = ", ".join(t["tag"] for t in tags_by_post[r["id"]])
            regions = f" ({', '.join(r['regions'])})" if r["regions"] else ""
            click.echo(f"{'':<12}{r['kind']}{regions}: {about or '-'}")


@cli.command(name="backfill")
@click.option(
    "--since", callback=_when, metavar="DATE", help="Load announcements published on or after DATE (YYYY-MM-DD, ...)."
)
@click.option("--until", callback=_when, metavar="DATE", help="... and before DATE (default: now).")
@click.option(
    "--feed", "feed_name", metavar="NAME", help="The What's New feed to store into (default: the enabled one)."
)
@click.option(
    "--gaps",
    "repair",
    is_flag=True,
    help="Instead of a window, repair the feed's open gaps (what `aggregator run` does by itself).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (a list with --gaps).")
@pass_app
@handle_errors
def backfill_(
    app: AppContext,
    since: dt.datetime | None,
    until: dt.datetime | None,
    feed_name: str | None,
    repair: bool,
    as_json: bool,
) -> None:
    """Load What's New history from the directory API behind the What's New pages.

    The items become posts of the What's New feed exactly as if its RSS had delivered them (an
    item delivered by both is stored once). One request at a time with backfill.pause between
    pages; an interrupted backfill continues where it stopped when run again with the same
    --since and --until. A progress bar shows on a terminal; a summary line at the end.
    """
    config = app.config
    feed = backfill.backfill_feed(config, feed_name)
    if app.verbosity == 0:  # a page being retried is worth a line, or the wait looks like a hang
        logging.getLogger("aggregator.backfill").setLevel(logging.WARNING)
    if repair:
        if since or until:
            raise click.UsageError("--gaps repairs the recorded gaps: it takes no --since or --until")
        _repair_gaps(app, feed, as_json)
        return
    if since is None:
        raise click.UsageError("give --since DATE (or --gaps)")
    now = dt.datetime.now(dt.UTC)
    end = until or now
    if end <= since:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    db = app.open_db()
    span = max(1, round((end - since).total_seconds()))
    covered = [end]
    progress: ProgressBar[int] = click.progressbar(
        length=span,
        label=f"backfilling {feed.name}",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),
        item_show_func=lambda _: f"{covered[0]:%Y-%m-%d}",
    )
    with build_client(config.settings.http) as client, progress as bar:

        def on_page(report: backfill.PageReport) -> None:
            if report.oldest is not None and report.oldest < covered[0]:
                step = round((covered[0] - max(report.oldest, since)).total_seconds())
                covered[0] = max(report.oldest, since)
                bar.update(max(0, step))

        poller = pipeline.Poller.create(config, client=client)
        result = backfill.backfill(db, poller, feed, since=since, until=until, on_page=on_page)
        bar.update(span)
    if as_json:
        click.echo(json.dumps(result.as_json()))
        return
    for note in result.truncated:
        click.echo(f"warning: {note}", err=True)
    click.echo(
        f"backfilled {feed.name} from {result.since:%Y-%m-%d %H:%M} to {result.until:%Y-%m-%d %H:%M} UTC"
        f"{' (resumed)' if result.resumed else ''}: {result.items} items in {result.pages} pages,"
        f" {result.new} new, {result.updated} updated, {result.already} already stored, {result.skipped} skipped"
        f" ({result.seconds:.1f} s)"
    )


def _repair_gaps(app: AppContext, feed: Any, as_json: bool) -> None:
    config = app.config
    db = app.open_db()
    gaps = store.gaps(db, feed=feed.name, statuses=("open",))
    results = []
    with build_client(config.settings.http) as client:
        poller = pipeline.Poller.create(config, client=client)
        for gap in gaps:
            results.append(backfill.repair_gap(db, poller, gap))
    if as_json:
        click.echo(json.dumps([{**r.gap.as_json(), "recovered_now": r.recovered} for r in results]))
        return
    for r in results:
        click.echo(f"{r.gap.feed}: {_gap_line(r.gap)}; {r.recovered} posts recovered now")
    click.echo(f"{len(results)} open gaps of {feed.name} tried, {sum(r.recovered for r in results)} posts recovered")
    if any(r.gap.status != "repaired" for r in results):
        sys.exit(1)


@cli.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--feed", "feed_name", required=True, metavar="NAME", help="The configured feed the files belong to.")
@pass_app
@handle_errors
def import_(app: AppContext, paths: tuple[Path, ...], feed_name: str) -> None:
    """Load RSS/Atom files into the archive as if fetched from feed NAME.

    For history: imported posts count as first seen when they were published. A bad file is
    reported by name and skipped; the others are imported (exit status 1 if any failed).
    """
    config = app.config
    feed = config.feed(feed_name)
    db = app.open_db()
    failed = new = updated = 0
    show_bar = sys.stderr.isatty() and len(paths) > 1
    with click.progressbar(
        pipeline.import_files(db, feed, paths, tagger=app.tagger()),
        length=len(paths),
        label=f"importing into {feed.name}",
        file=sys.stderr,
        hidden=not show_bar,
    ) as results:
        for result in results:
            if result.error:
                failed += 1
                click.echo(f"skipped {result.error}", err=True)
            else:
                new += result.new
                updated += result.updated
    click.echo(
        f"imported {len(paths) - failed} of {len(paths)} files into {feed.name}: {new} new, {updated} updated posts"
    )
    if failed:
        sys.exit(1)


def _digest_date(date: str | None, week: str | None, config: Config) -> dt.date:
    from . import digest

    if date and week:
        raise click.UsageError("give --date or --week, not both")
    if week:
        try:
            return digest.week_monday(week)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--week") from None
    if date:
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise click.BadParameter(f"{date!r} is not a date: use YYYY-MM-DD", param_hint="--date") from None
        if not EARLIEST <= day.year <= LATEST:
            raise click.BadParameter(
                f"{date!r} is out of range: use a year between {EARLIEST} and {LATEST}", param_hint="--date"
            )
        return day
    return dt.datetime.now(zoneinfo.ZoneInfo(config.settings.general.timezone)).date()


@cli.command()
@click.option("--date", metavar="YYYY-MM-DD", help="Publication date. Default: today in general.timezone.")
@click.option("--week", metavar="YYYY-Www", help="Publication on the Monday of this ISO week, e.g. 2019-W39.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the draft to. Default: general.drafts_dir.",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the draft instead of writing it.")
@click.option("--force", is_flag=True, help="Overwrite the draft of that week if it exists.")
@click.option(
    "--notes-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The published notes (front matter and links). Default: digest.notes_dir.",
)
@click.option("--explain", is_flag=True, help="Print the ranked candidates with their score components instead.")
@pass_app
@handle_errors
def digest(
    app: AppContext,
    date: str | None,
    week: str | None,
    out_dir: Path | None,
    to_stdout: bool,
    force: bool,
    notes_dir: Path | None,
    explain: bool,
) -> None:
    """Draft the weekly note: YYYY-WW.md in the drafts folder, the featured stories, what else
    happened, the community corner, source problems. Never overwrites a draft without --force.

    The candidates are the stories of digest.window before the publication that no earlier note
    (in the notes folder) covered; --explain shows how they rank.
    """
    from . import digest as digest_builder

    config = app.config
    if app.verbosity == 0:  # a note that could not be read, or an empty folder, is worth a line
        logging.getLogger("aggregator.digest").setLevel(logging.WARNING)
    if out_dir and to_stdout:
        raise click.UsageError("give --out or --stdout, not both")
    day = _digest_date(date, week, config)
    db = app.open_db(readonly=True)
    if explain or to_stdout:
        draft = digest_builder.build_draft(db, config, date=day, notes_dir=notes_dir)
        if explain:
            tz = zoneinfo.ZoneInfo(config.settings.general.timezone)
            for line in digest_builder.explain(draft.selection, tz=tz):
                click.echo(line)
        else:
            click.echo(draft.text, nl=False)
        return
    path = digest_builder.write_draft(db, config, date=day, force=force, out_dir=out_dir, notes_dir=notes_dir)
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--date", metavar="YYYY-MM-DD", help="The profile as of this publication date. Default: today.")
@click.option(
    "--notes-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The published notes to learn from. Default: digest.notes_dir.",
)
@click.option("--limit", type=click.IntRange(min=1), default=15, show_default=True, help="Services and topics shown.")
@click.option("--json", "as_json", is_flag=True, help="The whole profile as one JSON object.")
@pass_app
@handle_errors
def profile(app: AppContext, date: str | None, notes_dir: Path | None, limit: int, as_json: bool) -> None:
    """What the learned ranking knows of the author: the services and topics they feature, with
    their weights, the kinds of announcement, sources, recency and novelty, what they never
    feature, and how many notes it came from.

    Learned from the notes published before the date (digest.notes_dir), each time: a new note
    in the folder counts at the next draft, with nothing to retrain.
    """
    from . import digest as digest_builder

    config = app.config
    day = _digest_date(date, None, config)
    at = digest_builder.publication_time(config, day)
    folder = digest_builder.notes_folder(config, notes_dir)
    if folder is None:
        raise click.ClickException("no notes folder: set digest.notes_dir or give --notes-dir")
    settings = config.settings.digest
    notes, _skipped = digest_builder.read_notes(
        folder, url_pattern=settings.url_pattern, slug_pattern=settings.slug_pattern, tz=at.tzinfo or dt.UTC
    )
    learned = digest_builder.profile_for(app.open_db(), config, at=at, notes=notes)
    summary = digest_builder.profile_summary(learned, settings, limit=limit)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    for line in digest_builder.profile_lines(summary):
        click.echo(line)


@cli.command()
@click.option(
    "--retag", is_flag=True, help="Also redo posts tagged with another registry or other rules (after you change them)."
)
@click.option("--all", "everything", is_flag=True, help="Redo every post, whatever it was tagged with.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Posts per transaction (each batch is stored whole or not at all).",
)
@pass_app
@handle_errors
def tag(app: AppContext, retag: bool, everything: bool, batch_size: int) -> None:
    """Tag the archive's posts with the services and topics they concern, their kind and regions.

    Without options, the posts never tagged (an archive from before tagging existed); with
    --retag, also those tagged with an older registry, your changed services file or older
    rules. New posts are tagged as they are stored: this is for the archive you have. Safe to
    interrupt: run it again to carry on. A progress bar on a terminal.
    """
    tagger = app.tagger()
    db = app.open_db()
    scope = "all" if everything else "stale" if retag else "untagged"
    total = store.count_to_tag(db, fingerprint=tagger.fingerprint, scope=scope)
    done = 0
    with click.progressbar(
        length=total, label="tagging", file=sys.stderr, hidden=not (sys.stderr.isatty() and total)
    ) as bar:
        for count in pipeline.tag_archive(db, tagger, scope=scope, batch_size=batch_size):
            done += count
            bar.update(count)
    unknown = len(store.unknown_token_rows(db))
    note = f"; {unknown} unknown category tokens (aggregator taxonomy unknown)" if unknown else ""
    click.echo(f"tagged {done} posts with registry {tagger.fingerprint} ({len(tagger.registry)} entries){note}")


@cli.group(name="taxonomy")
def taxonomy_group() -> None:
    """The AWS service registry: look entries up, and see what it does not know yet."""


@taxonomy_group.command(name="unknown")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
@pass_app
@handle_errors
def taxonomy_unknown(app: AppContext, as_json: bool) -> None:
    """Category tokens of stored posts that the registry does not know, most frequent first.

    What's New product slugs and areas the registry lacks, and blog labels that look like a
    product ("AWS ...") but resolve to none. Each is a candidate entry or slug for your services
    file (taxonomy.services_file); then run `aggregator tag --retag`.
    """
    rows = store.unknown_token_rows(app.open_db(readonly=True))
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        click.echo("every category token of the archive is known to the registry")
        return
    width = max(len(r["token"]) for r in rows)
    click.echo(f"{'token':<{width}}  posts  first seen  last seen   example post")
    for r in rows:
        click.echo(
            f"{r['token']:<{width}}  {r['posts']:>5}  {(r['first_seen'] or '')[:10]:<10}  {(r['last_seen'] or '')[:10]:<10}"
            f"  {r['example_post_id']}"
        )


@taxonomy_group.command(name="show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="The entry as JSON.")
@pass_app
@handle_errors
def taxonomy_show(app: AppContext, key: str, as_json: bool) -> None:
    """One registry entry, by key, slug or name, as a TOML table to copy into your services file."""
    registry = app.tagger().registry
    found = registry.resolve(key)
    entry = registry.get(found) if found else None
    if entry is None:
        raise click.ClickException(f"no registry entry for {key!r} (try `aggregator taxonomy lookup`)")
    values = {
        "name": entry.name,
        "short": entry.short,
        "kind": entry.kind,
        "aliases": list(entry.aliases),
        "slugs": list(entry.slugs),
        "blog_categories": list(entry.blog_categories),
        "topics": list(entry.topics),
        "part_of": list(entry.part_of),
    }
    if as_json:
        click.echo(json.dumps({"key": entry.key, **values}, ensure_ascii=False))
        return
    click.echo(f"[services.{entry.key}]")
    for name, value in values.items():
        if value or name in ("name", "short"):
            click.echo(f"{name} = {json.dumps(value, ensure_ascii=False)}")


@taxonomy_group.command(name="lookup")
@click.argument("text")
@click.option("--category", "categories", multiple=True, metavar="TOKEN", help="A category of the post (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="The tagging as JSON.")
@pass_app
@handle_errors
def taxonomy_lookup(app: AppContext, text: str, categories: tuple[str, ...], as_json: bool) -> None:
    """Tag TEXT as a post title (with --category tokens): which names match, and what the post
    would be tagged with. For checking an entry of your services file."""
    tagger = app.tagger()
    matches = tagger.registry.matcher.find_in(text)
    result = tagger.tag_text(text, "", categories)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "matches": [{"key": m.value, "alias": m.alias} for m in matches],
                    "primary_service": result.primary_service,
                    "kind": result.kind,
                    "regions": list(result.regions),
                    "tags": [
                        {"tag": t.tag, "type": t.type, "source": t.source, "confidence": t.confidence}
                        for t in result.tags
                    ],
                    "unknown_tokens": list(result.unknown_tokens),
                },
                ensure_ascii=False,
            )
        )
        return
    for m in matches:
        click.echo(f"matched {m.alias!r} -> {m.value}")
    click.echo(f"primary service: {result.primary_service or '-'}")
    click.echo(f"kind: {result.kind}" + (f" ({', '.join(result.regions)})" if result.regions else ""))
    for t in result.tags:
        click.echo(f"  {t.tag:<24} {t.type:<8} {t.source:<8} {t.confidence:.2f}")
    for token in result.unknown_tokens:
        click.echo(f"unknown: {token}")


@cli.group(name="opml")
def opml_group() -> None:
    """Trade feed lists with feed readers (OPML)."""


@opml_group.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file to append the new [[feeds]] to (default: the active feed list; '-' prints them).",
)
@pass_app
@handle_errors
def opml_import(app: AppContext, path: Path, output: Path | None) -> None:
    """Add the feeds of an OPML file to the feed list (feeds already listed are skipped; an
    outline that cannot be imported is reported and skipped)."""
    config = app.config
    incoming = opml.read_opml(path.read_bytes(), source=str(path))
    merge = opml.merge_new(config.feeds, incoming)
    for feed, reason in merge.rejected:
        click.echo(f"skipped {feed.title or feed.url!r}: {reason}", err=True)
    text = opml.feeds_to_toml(merge.add, comment=f"imported from {path.name}")
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    target = output or config.feeds_path
    if output is None and config.feeds_path.resolve() == (default_config_dir() / "feeds.toml").resolve():
        raise click.UsageError(
            "the active feed list is the shipped default; give --output FILE (then point general.feeds_file at it) or --output -"
        )
    if merge.add:
        try:
            with target.open("a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(
        f"added {_plural(len(merge.add), 'feed')} to {target}; {len(merge.present)} already listed"
        + (f", {len(merge.rejected)} skipped" if merge.rejected else "")
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


@opml_group.command(name="export")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@pass_app
@handle_errors
def opml_export(app: AppContext, output: Path | None) -> None:
    """Print the configured feeds as OPML 2.0."""
    text = opml.write_opml(app.config.feeds, now=dt.datetime.now(dt.UTC))
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the table of every setting as Markdown (for the README).")
@pass_app
@handle_errors
def settings(app: AppContext, markdown: bool) -> None:
    """Every setting: its value in the active configuration, its default and what it does."""
    rows = settings_table()
    if markdown:
        click.echo("| setting | default | what it does |")
        click.echo("| --- | --- | --- |")
        for key, type_name, default, help_text in rows:
            click.echo(f"| `{key}` | `{_toml_value(default, type_name)}` ({type_name}) | {help_text} |")
        return
    config = app.config
    click.echo(
        f"# configuration: {config.path}\n# feed list: {config.feeds_path} ({_plural(len(config.feeds), 'feed')})\n# archive: {config.database}"
    )
    for key, type_name, default, _help in rows:
        section, name = key.split(".")
        value = getattr(getattr(config.settings, section), name)
        marker = "" if value == default else "   # changed"
        click.echo(f"{key} = {_toml_value(value, type_name)}{marker}")


def _toml_value(value: object, type_name: str = "") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v, type_name)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, type_name) for v in value) + "]"
    if "duration" in type_name and isinstance(value, (int, float)):
        return json.dumps(format_duration(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)
