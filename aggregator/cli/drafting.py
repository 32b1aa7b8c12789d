"""Commands that draft: ``digest`` and ``profile``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from pathlib import Path

import click

from .. import digest as digest_builder
from ..config import Config
from .app import EARLIEST, LATEST, AppContext, handle_errors, pass_app


def _digest_date(date: str | None, week: str | None, config: Config) -> dt.date:
    if date and week:
        raise click.UsageError("give --date or --week, not both")
    if week:
        try:
            return digest_builder.week_monday(week)
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


@click.command()
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


@click.command()
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
    feature, and how many notes it came from; then the house style of the drafts (heading level,
    time of day, categories, keywords, community corner, footnotes, Description), each value with
    where it came from: a setting, or the notes.

    Learned from the notes published before the date (digest.notes_dir), each time: a new note
    in the folder counts at the next draft, with nothing to retrain.
    """
    config = app.config
    day = _digest_date(date, None, config)
    folder = digest_builder.notes_folder(config, notes_dir)
    if folder is None:
        raise click.ClickException("no notes folder: set digest.notes_dir or give --notes-dir")
    settings = config.settings.digest
    zone = zoneinfo.ZoneInfo(config.settings.general.timezone)
    notes, _skipped = digest_builder.read_notes(
        folder, url_pattern=settings.url_pattern, slug_pattern=settings.slug_pattern, tz=zone
    )
    style = digest_builder.style_for(config, [n for n in notes if n.date < dt.datetime.combine(day, dt.time(), zone)])
    at = digest_builder.publication_time(config, day, style)
    learned = digest_builder.profile_for(app.open_db(), config, at=at, notes=notes)
    summary = digest_builder.profile_summary(learned, settings, limit=limit)
    if as_json:
        click.echo(json.dumps({**summary, "style": style.summary()}, ensure_ascii=False))
        return
    for line in digest_builder.profile_lines(summary):
        click.echo(line)
    click.echo("")
    for line in style.lines():
        click.echo(line)
