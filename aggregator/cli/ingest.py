"""Commands that bring posts into the archive: ``poll``, ``run``, ``import``, ``backfill``, and
``healthcheck`` beside ``run``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import backfill, pipeline, store
from ..fetch import build_client
from ..logs import mask_credentials, setup_logging
from ..models import PollResult, utcnow
from .app import INTERRUPTED, AppContext, echo_beside, emit_json, gap_line, handle_errors, pass_app, plural, when_option

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


def print_poll(results: list[PollResult], as_json: bool) -> None:
    if as_json:
        emit_json(r.as_json() for r in results)
        return
    width = max((len(r.feed) for r in results), default=4)
    for r in results:
        status = str(r.status) if r.status is not None else "-"
        line = f"{r.feed:<{width}}  {status:>4}  {r.outcome:<12}  new={r.new:<4} updated={r.updated:<4} {r.duration_ms:>6} ms"
        if r.moved_to:
            line += f"  moved to {r.moved_to}"
        if r.error:
            line += f"  {r.error}"
        click.echo(mask_credentials(line))
    for r in results:
        for warning in r.warnings:
            click.echo(f"warning: feed {r.feed}: {warning}", err=True)
        if r.gap is not None:
            click.echo(f"warning: feed {r.feed}: {gap_line(r.gap)}", err=True)
    failed = sum(1 for r in results if r.outcome == "error")
    total_new = sum(r.new for r in results)
    summary = f"{plural(len(results), 'feed')}, {plural(total_new, 'new post')}"
    if failed:
        summary += f", {failed} failed"
    click.echo(summary, err=True)


# --- commands ----------------------------------------------------------------------------------


@click.command()
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
    try:
        with build_client(config.settings.http) as client:
            results = pipeline.poll_feeds(db, pipeline.Poller.create(config, client=client), selected, force=force)
    except pipeline.PollInterrupted as stop:
        print_poll(stop.stored, as_json)
        click.echo(interrupted_line(stop), err=True)
        sys.exit(INTERRUPTED)
    print_poll(results, as_json)
    if any(r.outcome == "error" for r in results):
        sys.exit(1)


def interrupted_line(stop: pipeline.PollInterrupted) -> str:
    return f"interrupted: {plural(len(stop.stored), 'feed')} stored, {len(stop.not_polled)} not polled" + (
        "; run it again to poll them" if stop.not_polled else ""
    )


@click.command()
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
        from .. import service

        service.run_service(config)
        return
    db = app.open_db()
    try:
        with build_client(config.settings.http) as client:
            poller = pipeline.Poller.create(config, client=client)
            results = pipeline.poll_feeds(db, poller, pipeline.select_feeds(config), only_due=True)
    except pipeline.PollInterrupted as stop:
        logging.getLogger("aggregator").warning("run --once %s", interrupted_line(stop))
        sys.exit(INTERRUPTED)
    logging.getLogger("aggregator").info(
        "run --once: %d feeds due, %d new posts, %d failed",
        len(results),
        sum(r.new for r in results),
        sum(1 for r in results if r.outcome == "error"),
    )


@click.command()
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
    from .. import service

    healthy, reason = service.check_health(
        url or service.health_url(app.config.settings.service.listen), timeout=timeout
    )
    if not healthy:
        click.echo(f"unhealthy: {reason}", err=True)
        sys.exit(1)
    click.echo(reason)


@click.command(name="backfill")
@click.option(
    "--since",
    callback=when_option,
    metavar="DATE",
    help="Load announcements published on or after DATE (YYYY-MM-DD, ...).",
)
@click.option("--until", callback=when_option, metavar="DATE", help="... and before DATE (default: now).")
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
    now = utcnow()
    if until is None and since >= now:
        raise click.BadParameter(
            f"{since:%Y-%m-%d %H:%M} UTC is in the future: there is no history after it to load yet",
            param_hint="--since",
        )
    end = until or now
    if end <= since:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    db = app.open_db()
    span = max(1, round((end - since).total_seconds()))
    covered = [end]
    pages: list[backfill.PageReport] = []
    progress: ProgressBar[int] = click.progressbar(
        length=span,
        label=f"backfilling {feed.name}",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),
        item_show_func=lambda _: f"{covered[0]:%Y-%m-%d}",
    )
    with build_client(config.settings.http) as client, progress as bar:

        def on_page(report: backfill.PageReport) -> None:
            pages.append(report)
            if report.oldest is not None and report.oldest < covered[0]:
                step = round((covered[0] - max(report.oldest, since)).total_seconds())
                covered[0] = max(report.oldest, since)
                bar.update(max(0, step))

        poller = pipeline.Poller.create(config, client=client)
        try:
            result = backfill.backfill(db, poller, feed, since=since, until=until, on_page=on_page)
        except KeyboardInterrupt:
            echo_beside(bar, backfill_interrupted_line(pages))
            sys.exit(INTERRUPTED)
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


def backfill_interrupted_line(pages: list[backfill.PageReport]) -> str:
    """Each page is stored with the cursor in one transaction: what was read is kept."""
    new, updated = sum(p.new for p in pages), sum(p.updated for p in pages)
    return (
        f"interrupted: {plural(len(pages), 'page')} stored by this run ({new} new, {updated} updated posts);"
        " run the same command again to continue from the next page"
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
        click.echo(f"{r.gap.feed}: {gap_line(r.gap)}; {r.recovered} posts recovered now")
    click.echo(f"{len(results)} open gaps of {feed.name} tried, {sum(r.recovered for r in results)} posts recovered")
    if any(r.gap.status != "repaired" for r in results):
        sys.exit(1)


@click.command(name="import")
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
    failed = new = updated = done = 0
    show_bar = sys.stderr.isatty() and len(paths) > 1
    try:
        with click.progressbar(
            pipeline.import_files(db, feed, paths, tagger=app.tagger()),
            length=len(paths),
            label=f"importing into {feed.name}",
            file=sys.stderr,
            hidden=not show_bar,
        ) as results:
            for result in results:
                done += 1
                if result.error:
                    failed += 1
                    echo_beside(results, f"skipped {result.error}")
                else:
                    new += result.new
                    updated += result.updated
                for warning in result.warnings:
                    echo_beside(results, f"warning: {result.path}: {warning}")
    except KeyboardInterrupt:
        # Each file is its own transaction: the files done are stored, the one in hand is not.
        click.echo(
            f"interrupted: {done - failed} of {len(paths)} files imported into {feed.name} ({new} new, {updated}"
            f" updated posts), {len(paths) - done} not imported; run it again to import them"
            " (the files imported already add nothing twice)",
            err=True,
        )
        sys.exit(INTERRUPTED)
    click.echo(
        f"imported {len(paths) - failed} of {len(paths)} files into {feed.name}: {new} new, {updated} updated posts"
    )
    if failed:
        sys.exit(1)
