"""docs/service.md stays in step with the code: every service setting, the commands, the container."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.service.health import health_document
from aggregator.status import FeedStatus

DOC = Path(__file__).resolve().parent.parent / "docs" / "service.md"


def test_every_service_setting_is_documented_as_aggregator_settings_prints_it() -> None:
    table = CliRunner().invoke(cli, ["settings", "--markdown"]).stdout.splitlines()
    rows = [row for row in table if row.startswith("| `service.")]
    assert len(rows) >= 6
    text = DOC.read_text()
    for row in rows:
        assert row in text, f"docs/service.md is missing or out of date for: {row}"


def test_the_commands_signals_and_container_steps_are_documented() -> None:
    text = DOC.read_text()
    for needle in (
        "aggregator run",
        "aggregator healthcheck",
        "SIGTERM",
        "SIGHUP",
        "/healthz",
        "/metrics",
        "docker build -t aggregator .",
        "-v aggregator-data:/data",
        "AGGREGATOR_CONFIG=/config/aggregator.toml",
    ):
        assert needle in text, needle
    for command in ("run", "healthcheck"):
        assert cli.get_command(click.Context(cli), command).help, command


def test_the_healthz_example_has_the_fields_the_service_sends(tmp_path: Path) -> None:
    text = DOC.read_text()
    block = text[text.index("`GET /healthz` answers") :]
    start = block.index("```json\n") + len("```json\n")
    example = json.loads(block[start : block.index("```", start)])
    feed = FeedStatus(name="a", kind="other", enabled=True, url="u", configured_url="u", title=None)
    _, body = health_document(scheduler_running=True, database=tmp_path / "archive.db", last_digest=None, feeds=[feed])
    assert list(example) == list(body)
    for name, documented in example["feeds"].items():
        assert list(documented) == list(feed.as_json()), name
