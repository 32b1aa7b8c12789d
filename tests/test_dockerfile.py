"""The container, checked statically (there is no Docker engine here): the Dockerfile is parsed
and what it names is checked against the project: the console script and its commands, the
files the build copies, the port the service listens on."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from aggregator.cli import cli
from aggregator.config import load_config, parse_listen

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON-array form (``["aggregator", "run"]``); fails on the shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(--\S+\s+)*CMD\s+", "", text)
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"line {self.line}: not exec form"
        return value


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped by build stage; comments dropped, continuation lines joined."""
    stages: list[list[Instruction]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"line {start}: {keyword} before the first FROM"
        stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages: list[list[Instruction]]) -> dict[str, list[Instruction]]:
    by_keyword: dict[str, list[Instruction]] = {}
    for instruction in stages[-1]:
        by_keyword.setdefault(instruction.keyword, []).append(instruction)
    return by_keyword


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    env = {}
    for instruction in instructions:
        for pair in shlex.split(instruction.args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_multi_stage_build_on_an_official_slim_python_image(stages) -> None:
    assert len(stages) >= 2
    images = [stage[0].args.split()[0] for stage in stages]
    for image in images:
        assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", image), image
    builder = stages[0][0].args.split()
    assert builder[1].upper() == "AS"
    # The final stage takes the build's output, not the sources.
    assert any(f"from={builder[2]}" in i.args for i in stages[-1])
    assert not any(i.keyword == "COPY" and "aggregator" in i.args.split() for i in stages[-1])


def test_runs_as_a_non_root_user(final) -> None:
    users = final["USER"]
    assert users[-1].args.split(":")[0] not in ("root", "0")


def test_data_is_a_volume_holding_the_archive_and_the_drafts(final) -> None:
    volumes = [v for i in final["VOLUME"] for v in (json.loads(i.args) if i.args.startswith("[") else i.args.split())]
    assert "/data" in volumes
    env = env_of(final["ENV"])
    assert env["AGGREGATOR_DB"].startswith("/data/")
    # Drafts go to general.drafts_dir, relative to the working directory: /data.
    assert final["WORKDIR"][-1].args == "/data"
    assert not Path(load_config(None, environ={}).settings.general.drafts_dir).is_absolute()


def test_output_is_unbuffered(final) -> None:
    assert env_of(final["ENV"])["PYTHONUNBUFFERED"] == "1"


def test_the_service_listens_on_the_exposed_port_on_all_interfaces(final) -> None:
    listen = env_of(final["ENV"])["AGGREGATOR_LISTEN"]
    host, port = parse_listen(listen)
    assert host == "0.0.0.0"
    assert str(port) in [p.split("/")[0] for i in final["EXPOSE"] for p in i.args.split()]
    # The shipped configuration with the image's environment: what `run` and `healthcheck` will use.
    assert load_config(None, environ={"AGGREGATOR_LISTEN": listen}).settings.service.listen == listen


def console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_cmd_runs_the_service_in_exec_form(final) -> None:
    command = final["CMD"][-1].exec_form()
    assert command == ["aggregator", "run"]
    assert console_scripts()[command[0]] == "aggregator.__main__:main"
    assert cli.get_command(click.Context(cli), command[1]) is not None


def test_healthcheck_uses_the_healthcheck_command(final) -> None:
    (healthcheck,) = final["HEALTHCHECK"]
    command = healthcheck.exec_form()
    assert command[:2] == ["aggregator", "healthcheck"]
    assert command[0] in console_scripts()
    assert cli.get_command(click.Context(cli), command[1]) is not None
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", healthcheck.args))
    assert {"interval", "timeout", "start-period"} <= set(options)


def dockerignore_keeps(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    kept = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes):
            kept = negate
    return kept


def test_the_build_copies_what_the_wheel_needs_and_the_context_keeps_it(stages) -> None:
    copied = [
        src
        for i in stages[0]
        if i.keyword == "COPY" and "--from" not in i.args
        for src in shlex.split(i.args)[:-1]
        if not src.startswith("--")
    ]
    for src in copied:
        assert (ROOT / src).exists(), src
        assert dockerignore_keeps(src), f"{src} is copied but excluded by .dockerignore"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {
        project["project"]["readme"],
        "pyproject.toml",
        *project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
        *project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"],
    }
    assert needed <= set(copied)


def test_the_build_context_leaves_out_local_state() -> None:
    for path in (".git", "aggregator.db", "archive.db-wal", "drafts", ".venv", "tests", "aggregator/__pycache__"):
        assert not dockerignore_keeps(path), path
    assert dockerignore_keeps("aggregator/service/__init__.py")
