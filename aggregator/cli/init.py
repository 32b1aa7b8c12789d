"""``aggregator init``: a starter configuration for a Hugo blog, read from its notes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from .app import handle_errors, plural, toml_value


def _comment(value: str, why: str, width: int = 38) -> str:
    """A line ``key = value`` padded to a comment saying where it came from."""
    return f"{value:<{width}} # {why}"


def _relative(folder: Path, config_file: Path) -> str:
    """``folder`` as the configuration file will resolve it: relative to the file's folder when
    that is short, else absolute."""
    target = folder.resolve()
    try:
        text = os.path.relpath(target, config_file.resolve().parent)
    except ValueError:  # another drive
        return target.as_posix()
    return Path(text).as_posix() if not text.startswith("../..") else target.as_posix()


def starter_configuration(notes_dir: Path, config_file: Path) -> str:
    """The TOML text of a starter configuration for the notes of ``notes_dir``, to be written to
    ``config_file``. Raises ``click.ClickException`` when the folder holds no note to learn from."""
    from ..digest.notes import read_notes
    from ..digest.style import learn_setup, learn_style

    notes, skipped = read_notes(notes_dir, url_pattern="", slug_pattern="", tz=dt.UTC)
    if not notes:
        problem = f" ({plural(len(skipped), 'file')} could not be read: {skipped[0]})" if skipped else ""
        raise click.ClickException(f"no published notes in {notes_dir} to learn from{problem}")
    setup = learn_setup(notes)
    style = learn_style(notes)
    span = f"{notes[0].date:%Y-%m-%d} to {notes[-1].date:%Y-%m-%d}"
    lines = [
        f"# aggregator configuration{' for ' + setup.blog if setup.blog else ''}, written by `aggregator init` from",
        f"# {plural(len(notes), 'note')} in {notes_dir} ({span}).",
        "# Every key is optional: what is left out keeps its default (`aggregator settings` lists them",
        "# all). Check the file with `aggregator --config FILE config check`.",
        "# Without [[feeds]] tables here (or general.feeds_file), the shipped list of AWS feeds is polled.",
        "",
        "[general]",
    ]
    if setup.timezone:
        others = f"; so do {', '.join(setup.timezone_alternatives)}" if setup.timezone_alternatives else ""
        lines.append(_comment(f"timezone = {toml_value(setup.timezone)}", f"fits {setup.timezone_fit}{others}"))
    else:
        lines.append('# timezone = "UTC"                     # the notes do not say: use your IANA zone')
    lines += [
        "",
        "[digest]",
        _comment(
            f"notes_dir = {toml_value(where := _relative(notes_dir, config_file))}",
            "the notes folder" if Path(where).is_absolute() else "relative to this file",
        ),
    ]
    for key, value, why in (
        ("blog", setup.blog, "the notes' front matter"),
        ("author", setup.author, "the notes' front matter"),
    ):
        lines.append(_comment(f"{key} = {toml_value(value)}", why) if value else f'# {key} = ""')
    if setup.url_pattern:
        lines.append(_comment(f"url_pattern = {toml_value(setup.url_pattern)}", "how the notes link to each other"))
    else:
        lines.append('# url_pattern = "/weekly-notes/{slug}/"  # the notes do not say: your Hugo permalinks do')
    if setup.slug_pattern:
        lines.append(_comment(f"slug_pattern = {toml_value(setup.slug_pattern)}", "the notes' slugs"))
    lines += [
        "",
        "# Learned from the notes at every draft, the latest notes weighing most, so the drafts follow",
        "# your style when it changes (`aggregator profile` shows what they say); a line set here wins:",
    ]
    level = setup.heading_level or 2
    lines.append(_comment(f"# heading_level = {level}", f"`{'#' * level}` section headings, as the latest note"))
    if style.publish_time:
        lines.append(_comment(f'# publish_time = "{style.publish_time}"', "the time of day of Date"))
    if style.categories:
        lines.append(f"# categories = {toml_value(list(style.categories))}")
    if style.keyword_count:
        lines.append(_comment(f"# keywords_max = {style.keyword_count}", "keywords per note"))
    return "\n".join(lines) + "\n"


@click.command()
@click.option(
    "--notes-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The blog's published notes, e.g. a Hugo content/weekly-notes folder.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("aggregator.toml"),
    show_default=True,
    help="The configuration file to write ('-' prints it); an existing file is never overwritten.",
)
@handle_errors
def init(notes_dir: Path, output: Path) -> None:
    """Write a starter configuration for a Hugo blog from its notes: the blog and author names,
    the time zone of their Date offsets, how notes are named and linked (url_pattern,
    slug_pattern), and notes_dir pointing at them. Never overwrites a file."""
    text = starter_configuration(notes_dir, Path.cwd() / "aggregator.toml" if str(output) == "-" else output)
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        with output.open("x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except FileExistsError:
        raise click.ClickException(f"{output} exists already: not overwritten (give another --output)") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}: check it with `aggregator --config {output} config check`")
