"""Commands about the configuration: ``opml``, ``settings`` and ``config check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import opml
from ..config import Config, load_config, settings_table
from ..errors import ConfigError
from ..logs import mask_credentials
from ..models import utcnow
from .app import AppContext, editable_feed_list, handle_errors, pass_app, plural, toml_value


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
    document = opml.read_opml(path.read_bytes(), source=str(path))
    for text, reason in document.skipped:
        click.echo(f"skipped {text!r}: {reason}", err=True)
    merge = opml.merge_new(config.feeds, document.feeds)
    for feed, reason in merge.rejected:
        click.echo(mask_credentials(f"skipped {feed.title or feed.name!r}: {reason}"), err=True)
    text = opml.feeds_to_toml(merge.add, comment=f"imported from {path.name}")
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    target = output or editable_feed_list(
        config, alternative=", or give --output FILE (then point general.feeds_file at it) or --output -"
    )
    if merge.add:
        try:
            with target.open("a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(
        f"added {plural(len(merge.add), 'feed')} to {target}; {len(merge.present)} already listed"
        + (f", {len(merge.rejected) + len(document.skipped)} skipped" if merge.rejected or document.skipped else "")
    )


@opml_group.command(name="export")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@click.option(
    "--with-credentials",
    is_flag=True,
    help="Keep the passwords of feed URLs (https://user:secret@...); masked as *** otherwise.",
)
@pass_app
@handle_errors
def opml_export(app: AppContext, output: Path | None, with_credentials: bool) -> None:
    """Print the configured feeds as OPML 2.0: names, kinds, tags and titles, as `opml import`
    reads them back (feed readers see the titles, URLs and tags)."""
    text = opml.write_opml(app.config.feeds, now=utcnow(), with_credentials=with_credentials)
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


@click.group(name="config")
def config_group() -> None:
    """Check the configuration files before a command or the service trips over them."""


@config_group.command(name="check")
@pass_app
def config_check(app: AppContext) -> None:
    """Check the configuration, the feed list and the services file: every problem listed, with
    the files read. Exit 0 when there is nothing to report, 1 otherwise. The archive is not opened."""
    problems: list[ConfigError] = []
    try:
        config = load_config(app.config_path, database=app.db_path, problems=problems)
    except ConfigError as exc:  # the configuration file itself cannot be read
        click.echo(f"error: {mask_credentials(str(exc))}")
        click.echo("1 problem")
        sys.exit(1)
    enabled = sum(1 for feed in config.feeds if feed.enabled)
    click.echo(f"configuration: {config.path}")
    click.echo(f"feed list: {config.feeds_path} ({plural(len(config.feeds), 'valid feed')}, {enabled} enabled)")
    registry = _check_registry(config, problems)
    click.echo(f"services: {config.shipped_services_path}{registry}")
    warnings = list(config.warnings) + _digest_warnings(config)
    for error in problems:
        click.echo(f"error: {mask_credentials(str(error))}")
    for warning in warnings:
        click.echo(f"warning: {mask_credentials(warning)}")
    if not problems and not warnings:
        click.echo("no problems found")
        return
    click.echo(f"{plural(len(problems), 'error')}, {plural(len(warnings), 'warning')}")
    sys.exit(1)


def _check_registry(config: Config, problems: list[ConfigError]) -> str:
    """Load the registry as the tagger would; what the services line adds (the user's file, the size)."""
    from ..taxonomy import load_registry

    user = f" + {config.services_path}" if config.services_path else ""
    try:
        registry = load_registry(config.shipped_services_path, config.services_path)
    except ConfigError as exc:
        problems.append(exc)
        return user
    return f"{user} ({len(registry)} entries)"


def _digest_warnings(config: Config) -> list[str]:
    """Folders and files of the digest settings that are not there (the digest would say so only on Monday)."""
    base = config.path.resolve().parent
    digest = config.settings.digest
    found = []
    if digest.notes_dir and not (base / digest.notes_dir).is_dir():
        found.append(f"{config.path}: digest.notes_dir: no such folder: {base / digest.notes_dir}")
    if digest.template and not (base / digest.template).is_file():
        found.append(f"{config.path}: digest.template: no such file: {base / digest.template}")
    return found
