"""The README stays in step with the code: commands, settings, feed keys and the test command."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import FEED_KEYS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group, prefix: str = "aggregator") -> list[tuple[str, click.Command]]:
    """Every command and subcommand, as click finds them (the top-level ones are loaded lazily)."""
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    commands = all_commands(cli)
    assert len(commands) >= 10
    for path, command in commands:
        assert command.help and len(command.help) > 20, f"{path} has no help"
        assert f"`{path}" in README, f"{path} is not documented in README.md"


def test_every_option_of_every_command_is_in_the_readme() -> None:
    for path, command in all_commands(cli):
        if isinstance(command, click.Group):
            continue
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert any(opt in README for opt in param.opts), f"{path} {param.opts} is not documented"


def test_the_settings_table_in_the_readme_is_current() -> None:
    table = CliRunner().invoke(cli, ["settings", "--markdown"]).stdout.strip()
    block = re.search(r"<!-- settings:.*?-->\n(.*?)\n<!-- /settings -->", README, re.S)
    assert block, "README.md has no settings block"
    assert block.group(1).strip() == table, "README.md settings table is stale: paste `aggregator settings --markdown`"


def test_every_feed_key_is_documented() -> None:
    for key, help_text in FEED_KEYS.items():
        assert f"| `{key}` | {help_text} |" in README, key


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^python3 -m venv \.venv && .*pytest$", README, re.M)
    assert commands, "README.md has no test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[0] in ci.splitlines()


def test_the_readme_quick_start_runs_the_example_offline() -> None:
    assert "--config config/example.toml run --once" in README
    assert (ROOT / "config" / "example.toml").is_file()


def test_the_readmes_example_draft_is_what_the_example_configuration_drafts() -> None:
    """The README quotes the example draft (with "..." for the lines it leaves out); the golden
    file holds what `digest --date 2025-02-24` drafts from config/example.toml, checked by
    tests/test_digest_golden.py. Every quoted line must be there, in order."""
    marker = "$ aggregator --config config/example.toml digest --date 2025-02-24 --stdout\n"
    quoted = README.split(marker, 1)[1].split("```", 1)[0].splitlines()
    golden = (ROOT / "tests" / "golden" / "example-2025-09.md").read_text(encoding="utf-8").splitlines()
    position = 0
    for line in quoted:
        if line == "...":
            continue
        assert line in golden[position:], f"README.md's example draft is stale at: {line[:80]}"
        position = golden.index(line, position) + 1
    assert len([line for line in quoted if line != "..."]) >= 10
