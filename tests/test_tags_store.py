"""Tags in the archive: stored with their posts, queried, retagged after a registry change, shown
by the CLI and by Datasette."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import forget_tags, item, rss, store_tagged

from aggregator import pipeline, store
from aggregator.cli import cli
from aggregator.config import default_config_dir, load_config
from aggregator.models import Post
from aggregator.tagging import Tagger
from aggregator.taxonomy import load_registry

NOW = dt.datetime(2025, 2, 24, 9, 0, tzinfo=dt.UTC)
SHIPPED = default_config_dir() / "services.toml"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_registry(SHIPPED))


def post(slug: str, title: str, categories: tuple[str, ...] = (), summary: str = "") -> Post:
    url = f"https://aws.amazon.com/about-aws/whats-new/2025/02/{slug}/"
    return Post(
        id=slug,
        url=url,
        guid=slug,
        title=title,
        summary=summary,
        summary_html=summary,
        links=(),
        link_ids=(),
        published=NOW,
        updated=None,
        authors=(),
        categories=categories,
        content_hash=f"h-{title}-{categories}",
    )


@pytest.fixture
def db(tmp_path: Path):
    database = store.open_db(tmp_path / "archive.db")
    store.ensure_feed(database, name="wn", url="https://example.test/wn", kind="aws-whats-new", title="", now=NOW)
    return database


def save(db, posts: list[Post], tagger: Tagger | None, now: dt.datetime = NOW) -> store.StoreCounts:
    """Store posts tagged by ``tagger``; without one, as an archive from before tagging has them."""
    counts = store_tagged(db, "wn", posts, tagger=tagger, now=now)
    if tagger is None:
        forget_tags(db)
    return counts


def tags(db, post_id: str) -> dict[str, tuple[str, str, float]]:
    rows = db.execute("SELECT tag, type, source, confidence FROM post_tags WHERE post_id = ?", [post_id]).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


# --- storing -----------------------------------------------------------------------------------


def test_tags_kind_and_regions_are_stored_with_the_post(db, tagger: Tagger) -> None:
    save(
        db,
        [
            post(
                "fargate-regions",
                "AWS Fargate Available in Ohio, Oregon, and Ireland Regions",
                ("general:products/aws-fargate", "marketing:marchitecture/containers"),
            )
        ],
        tagger,
    )
    row = db.execute("SELECT kind, primary_service, regions, tagged_with FROM posts").fetchone()
    assert row[0] == "region-expansion"
    assert row[1] == "fargate"
    assert json.loads(row[2]) == ["us-east-2", "us-west-2", "eu-west-1"]
    assert row[3] == tagger.fingerprint
    stored = tags(db, "fargate-regions")
    assert stored["fargate"] == ("service", "category", 1.0)
    assert stored["containers"][:2] == ("topic", "category")


def test_a_changed_post_is_tagged_again_and_an_unchanged_one_is_left(db, tagger: Tagger) -> None:
    original = post("x", "Amazon S3 adds a feature", ("general:products/amazon-s3",))
    save(db, [original], tagger)
    changed = dataclasses.replace(original, title="Amazon DynamoDB adds a feature", categories=(), content_hash="2")
    save(db, [changed], tagger, now=NOW + dt.timedelta(hours=1))
    assert set(tags(db, "x")) >= {"dynamodb"}
    assert "s3" not in tags(db, "x")


def test_manual_tags_survive_retagging(db, tagger: Tagger) -> None:
    save(db, [post("m", "Amazon S3 adds a feature")], tagger)
    with store.write_transaction(db):
        db.execute("INSERT INTO post_tags VALUES ('m', 'reinvent', 'topic', 'manual', 1.0)")
    list(pipeline.tag_archive(db, tagger, scope="all"))
    assert tags(db, "m")["reinvent"] == ("topic", "manual", 1.0)
    assert "s3" in tags(db, "m")


def test_unknown_tokens_are_counted_once_per_post(db, tagger: Tagger) -> None:
    unknown = "general:products/amazon-zorblax"
    first = post("z1", "Amazon Zorblax launches", (unknown,))
    save(db, [first, post("z2", "Amazon Zorblax adds", (unknown,))], tagger)
    save(db, [dataclasses.replace(first, title="Amazon Zorblax launches!", content_hash="2")], tagger)
    rows = store.unknown_token_rows(db)
    assert [(r["token"], r["posts"]) for r in rows] == [(unknown, 2)]


def test_posts_are_queried_by_tags_and_kind(db, tagger: Tagger) -> None:
    save(
        db,
        [
            post(
                "a", "Amazon S3 is now available in the Asia Pacific (Sydney) Region", ("general:products/amazon-s3",)
            ),
            post("b", "Amazon S3 adds a feature", ("general:products/amazon-s3",)),
            post("c", "AWS Lambda adds a feature", ("general:products/aws-lambda",)),
        ],
        tagger,
    )
    assert {r["id"] for r in store.query_posts(db, tags=["s3"])} == {"a", "b"}
    assert {r["id"] for r in store.query_posts(db, tags=["s3", "storage"])} == {"a", "b"}
    assert {r["id"] for r in store.query_posts(db, tags=["s3", "lambda"])} == set()
    assert [r["id"] for r in store.query_posts(db, tags=["s3"], kind="region-expansion")] == ["a"]
    assert store.query_posts(db, kind="region-expansion")[0]["regions"] == ["ap-southeast-2"]


# --- retagging ---------------------------------------------------------------------------------


def test_tag_retag_applies_a_changed_registry_to_the_archive(tmp_path: Path) -> None:
    """A user's file adds a service: posts stored before are tagged with it after --retag."""
    feed = tmp_path / "wn.xml"
    feed.write_bytes(
        rss(
            item(
                "zorblax",
                "Amazon Zorblax now supports webhooks",
                categories="general:products/amazon-zorblax",
                description="Zorblax calls you back.",
            ),
            item("s3", "Amazon S3 adds a feature", date="Tue, 22 Mar 2022 15:36:48 +0000"),
        )
    )
    config = tmp_path / "aggregator.toml"
    config.write_text(
        f'[taxonomy]\nservices_file = "mine.toml"\n\n[[feeds]]\nname = "wn"\nurl = "{feed}"\nkind = "aws-whats-new"\n',
        encoding="utf-8",
    )
    mine = tmp_path / "mine.toml"
    mine.write_text("", encoding="utf-8")
    runner = CliRunner()
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    assert runner.invoke(cli, [*base, "poll"], catch_exceptions=False).exit_code == 0

    def zorblax() -> dict:
        out = runner.invoke(cli, [*base, "posts", "--json", "--search", "zorblax"], catch_exceptions=False).stdout
        return json.loads(out)

    assert zorblax()["primary_service"] is None
    unknown = runner.invoke(cli, [*base, "taxonomy", "unknown"], catch_exceptions=False).stdout
    assert "general:products/amazon-zorblax" in unknown

    mine.write_text('[services.zorblax]\nname = "Amazon Zorblax"\naliases = ["Zorblax"]\ntopics = ["compute"]\n')
    plain = runner.invoke(cli, [*base, "tag"], catch_exceptions=False)
    assert "tagged 0 posts" in plain.stdout  # nothing untagged: a plain `tag` leaves the archive be
    result = runner.invoke(cli, [*base, "tag", "--retag"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "tagged 2 posts" in result.stdout
    after = zorblax()
    assert after["primary_service"] == "zorblax"
    assert {"zorblax", "compute"} <= set(after["tags"])
    assert "every category token" in runner.invoke(cli, [*base, "taxonomy", "unknown"]).stdout
    again = runner.invoke(cli, [*base, "tag", "--retag"], catch_exceptions=False)
    assert "tagged 0 posts" in again.stdout


def test_tag_is_safe_to_interrupt(db, tagger: Tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch is stored whole or not at all; the next run carries on where the last one stopped."""
    save(db, [post(f"p{i}", f"Amazon S3 feature {i}") for i in range(5)], tagger=None)
    batches = pipeline.tag_archive(db, tagger, scope="untagged", batch_size=2)
    assert next(batches) == 2
    original = store.save_taggings

    def interrupted(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "save_taggings", interrupted)
    with pytest.raises(KeyboardInterrupt):
        next(batches)
    monkeypatch.setattr(store, "save_taggings", original)
    assert store.count_to_tag(db, fingerprint=tagger.fingerprint, scope="untagged") == 3
    assert sum(pipeline.tag_archive(db, tagger, scope="untagged", batch_size=2)) == 3
    assert store.count_to_tag(db, fingerprint=tagger.fingerprint, scope="untagged") == 0


def test_the_tagger_is_loaded_once_per_process(tmp_path: Path) -> None:
    config = load_config(default_config_dir() / "example.toml", database=tmp_path / "a.db")
    assert pipeline.tagger_for(config) is pipeline.tagger_for(config)


def test_a_missing_services_file_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "aggregator.toml"
    config.write_text('[taxonomy]\nservices_file = "nope.toml"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "tag"])
    assert result.exit_code == 1
    assert "taxonomy.services_file" in result.stderr and "nope.toml" in result.stderr


# --- the CLI and Datasette ---------------------------------------------------------------------


def test_posts_json_carries_tags_kind_regions_and_primary_service(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--config", str(default_config_dir() / "example.toml"), "--db", str(tmp_path / "a.db")]
    assert runner.invoke(cli, [*base, "run", "--once"], catch_exceptions=False).exit_code == 0
    out = runner.invoke(cli, [*base, "posts", "--json", "--tag", "lambda", "--kind", "region-expansion"]).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows
    for row in rows:
        assert "lambda" in row["tags"] and row["kind"] == "region-expansion"
        assert isinstance(row["regions"], list) and "primary_service" in row
    text = runner.invoke(cli, [*base, "posts", "--limit", "1"]).stdout
    assert text.splitlines()[2].strip().startswith(("other", "new-", "region", "general", "preview", "price", "dep"))
    bad = runner.invoke(cli, [*base, "posts", "--kind", "rumour"])
    assert bad.exit_code == 2


def test_taxonomy_show_and_lookup(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--config", str(default_config_dir() / "example.toml"), "--db", str(tmp_path / "a.db")]
    shown = runner.invoke(cli, [*base, "taxonomy", "show", "aws-step-functions"], catch_exceptions=False).stdout
    assert shown.startswith("[services.stepfunctions]\n")
    assert 'short = "Step Functions"' in shown
    assert runner.invoke(cli, [*base, "taxonomy", "show", "nothing-like-it"]).exit_code == 1
    looked = runner.invoke(
        cli, [*base, "taxonomy", "lookup", "AWS Direct Connect adds a feature", "--json"], catch_exceptions=False
    ).stdout
    data = json.loads(looked)
    assert data["matches"] == [{"key": "directconnect", "alias": "AWS Direct Connect"}]
    assert data["primary_service"] == "directconnect"


def test_datasette_shows_the_tags_linked_to_their_posts(db, tagger: Tagger, tmp_path: Path) -> None:
    datasette_app = pytest.importorskip("datasette.app")
    save(db, [post("dd", "Amazon S3 adds a feature", ("general:products/amazon-s3",))], tagger)
    db.close()

    async def browse() -> list[dict]:
        ds = datasette_app.Datasette([str(tmp_path / "archive.db")])
        response = await ds.client.get("/archive/post_tags.json?_shape=array&_labels=on&tag=s3")
        assert response.status_code == 200
        return response.json()

    rows = asyncio.run(browse())
    assert rows[0]["post_id"] == {"value": "dd", "label": "Amazon S3 adds a feature"}


def test_the_schema_migrates_an_archive_from_before(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = store.open_db(path)
    assert "0003_tagging_extra" in [m.name for m in store.MIGRATIONS.applied(db)]
    fks = db["post_tags"].foreign_keys
    assert [(fk.column, fk.other_table, fk.other_column) for fk in fks] == [("post_id", "posts", "id")]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    sqlite3.connect(path).close()


def test_full_text_search_follows_title_changes_but_not_retags(db, tagger: Tagger) -> None:
    original = post("f", "Amazon S3 adds a feature")
    save(db, [original], tagger)
    save(db, [dataclasses.replace(original, title="Amazon S3 adds a gizmo", content_hash="2")], tagger)
    assert [r["id"] for r in store.query_posts(db, search="gizmo")] == ["f"]
    assert store.query_posts(db, search="feature") == []
    list(pipeline.tag_archive(db, tagger, scope="all"))
    assert [r["id"] for r in store.query_posts(db, search="gizmo")] == ["f"]
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'posts_au'").fetchone()[0]
    assert 'AFTER UPDATE OF "title", "summary"' in trigger  # a retag leaves the index alone
