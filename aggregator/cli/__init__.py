"""The ``aggregator`` command: load settings, call the library, print, map errors to exit codes.

Exit status: 0 success; 1 a command-level failure (bad config, bad argument, a feed that failed in
``poll``, a file that failed in ``import``); 2 a usage error (click's).

Each command lives in the module of its kind of work and is imported only when it runs
(``COMMANDS``): a command that lists the archive loads neither the network, nor the parsers,
nor the drafting stack. ``app`` holds what they share.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__
from .app import AppContext

COMMANDS: dict[str, str] = {
    "poll": "ingest:poll",
    "run": "ingest:run",
    "healthcheck": "ingest:healthcheck",
    "import": "ingest:import_",
    "backfill": "ingest:backfill_",
    "feeds": "feedlist:feeds_group",
    "posts": "archive:posts",
    "tag": "archive:tag",
    "taxonomy": "archive:taxonomy_group",
    "digest": "drafting:digest",
    "profile": "drafting:profile",
    "opml": "setup:opml_group",
    "settings": "setup:settings",
    "config": "setup:config_group",
    "init": "init:init",
}
"""Command name -> ``module:attribute`` in this package, imported when the command runs."""


class LazyGroup(click.Group):
    """A click group whose commands are imported when one is run (or listed by ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show the log: -v from INFO, -vv from DEBUG (on stderr; `run` logs to stdout, at general.log_level without -v).",
)
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
