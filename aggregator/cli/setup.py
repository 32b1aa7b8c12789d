"""Commands about the configuration: ``opml`` and ``settings``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .. import opml
from ..config import default_config_dir, settings_table
from .app import AppContext, handle_errors, pass_app, plural, toml_value


@click.group(name="opml")
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
        f"added {plural(len(merge.add), 'feed')} to {target}; {len(merge.present)} already listed"
        + (f", {len(merge.rejected)} skipped" if merge.rejected else "")
    )


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


@click.command()
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
            click.echo(f"| `{key}` | `{toml_value(default, type_name)}` ({type_name}) | {help_text} |")
        return
    config = app.config
    click.echo(
        f"# configuration: {config.path}\n# feed list: {config.feeds_path} ({plural(len(config.feeds), 'feed')})\n# archive: {config.database}"
    )
    for key, type_name, default, _help in rows:
        section, name = key.split(".")
        value = getattr(getattr(config.settings, section), name)
        marker = "" if value == default else "   # changed"
        click.echo(f"{key} = {toml_value(value, type_name)}{marker}")
