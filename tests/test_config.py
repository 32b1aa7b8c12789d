"""Configuration: shipped defaults, one-file configs, overrides, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import (
    FEED_KINDS,
    Config,
    default_config_dir,
    load_config,
    parse_duration,
    settings_table,
)
from aggregator.errors import ConfigError


def load(path: Path, **kwargs: object) -> Config:
    return load_config(path, environ={}, **kwargs)  # type: ignore[arg-type]


def test_shipped_configuration_lists_the_real_feeds() -> None:
    config = load_config(None, environ={})
    urls = {f.url for f in config.feeds}
    assert "https://aws.amazon.com/about-aws/whats-new/recent/feed/" in urls
    assert "https://aws.amazon.com/blogs/aws/feed/" in urls
    kinds = {f.kind for f in config.feeds}
    assert kinds <= set(FEED_KINDS)
    assert sum(1 for f in config.feeds if f.kind == "aws-blog") >= 35
    assert sum(1 for f in config.feeds if f.kind == "community") >= 2
    assert config.feeds_path == default_config_dir() / "feeds.toml"
    assert len({f.name for f in config.feeds}) == len(config.feeds)


def test_whats_new_is_polled_more_often_than_blogs() -> None:
    config = load_config(None, environ={})
    poll = config.settings.poll
    whats_new = next(f for f in config.feeds if f.kind == "aws-whats-new")
    blog = next(f for f in config.feeds if f.kind == "aws-blog")
    assert whats_new.poll_interval(poll) < blog.poll_interval(poll)


def test_one_file_holds_settings_and_feeds_and_omitted_settings_keep_defaults(write_config) -> None:
    path = write_config(
        [{"name": "mine", "url": "https://example.com/feed.xml", "kind": "community"}],
        extra='[http]\nmax_redirects = 3\n[general]\ntimezone = "Australia/Melbourne"',
    )
    config = load(path)
    assert [f.name for f in config.feeds] == ["mine"]
    assert config.settings.http.max_redirects == 3
    assert config.settings.general.timezone == "Australia/Melbourne"
    assert config.settings.http.per_host == 2  # default kept
    assert config.feeds_path == path


def test_a_file_without_feeds_uses_the_default_feed_list(tmp_path: Path) -> None:
    path = tmp_path / "settings-only.toml"
    path.write_text("[http]\nper_host = 1\n")
    config = load(path)
    assert config.settings.http.per_host == 1
    assert any(f.name == "aws-whats-new" for f in config.feeds)


def test_feeds_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.toml").write_text('[[feeds]]\nname = "a"\nurl = "feed.xml"\nkind = "other"\n')
    (tmp_path / "sub" / "feed.xml").write_text("<rss/>")
    path = tmp_path / "main.toml"
    path.write_text('[general]\nfeeds_file = "sub/list.toml"\n')
    config = load(path)
    assert config.feeds[0].url == (tmp_path / "sub" / "feed.xml").resolve().as_uri()


def test_services_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine.toml").write_text('[services.acme]\nname = "Acme"\n')
    path = tmp_path / "conf" / "main.toml"
    path.write_text('[taxonomy]\nservices_file = "mine.toml"\n')
    config = load(path)
    assert config.services_path == (tmp_path / "conf" / "mine.toml").resolve()
    assert config.shipped_services_path == default_config_dir() / "services.toml"
    assert load_config(default_config_dir() / "aggregator.toml", environ={}).services_path is None


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://aws.amazon.com/blogs/aws/feed/", "https://aws.amazon.com/blogs/aws/feed/"),
        ("http://127.0.0.1:8000/feed", "http://127.0.0.1:8000/feed"),
        ("file:///srv/feeds/a.xml", "file:///srv/feeds/a.xml"),
    ],
)
def test_accepted_feed_urls(write_config, url: str, expected: str) -> None:
    config = load(write_config([{"name": "f", "url": url, "kind": "other"}]))
    assert config.feeds[0].url == expected


def test_local_paths_resolve_against_the_file_that_lists_them(write_config, tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "x.xml").write_text("<rss/>")
    config = load(write_config([{"name": "f", "url": "feeds/x.xml", "kind": "other"}]))
    assert config.feeds[0].url == (tmp_path / "feeds" / "x.xml").resolve().as_uri()


@pytest.mark.parametrize(
    "feeds, extra, key, fragment",
    [
        ([], "[http]\nmax_bytez = 10", "http.max_bytez", "unknown setting"),
        ([], "[htp]\nmax_bytes = 10", "htp", "unknown table"),
        ([], '[http]\nmax_bytes = "big"', "http.max_bytes", "expected an integer"),
        ([], "[http]\nconnect_timeout = true", "http.connect_timeout", "duration"),
        ([], '[poll]\ninterval = "soon"', "poll.interval", "duration"),
        ([], '[general]\ndatabase = ""', "general.database", "must name the archive file"),
        ([], '[general]\nfeeds_file = "nope.toml"', "general.feeds_file", "no such file"),
        ([], "[http]\nmax_redirects = 50", "http.max_redirects", "between 0 and 20"),
        ([], '[general]\ntimezone = "Mars/Olympus"', "general.timezone", "unknown time zone"),
        ([], '[poll]\nkind_intervals = { podcasts = "1h" }', "poll.kind_intervals.podcasts", "unknown feed kind"),
        (
            [
                {"name": "a", "url": "https://x.test/a", "kind": "other"},
                {"name": "a", "url": "https://x.test/b", "kind": "other"},
            ],
            "",
            "feeds[1] (a).name",
            "duplicate feed name 'a'",
        ),
        (
            [{"name": "a", "url": "ftp://x.test/feed", "kind": "other"}],
            "",
            "feeds[0] (a).url",
            "unsupported scheme 'ftp'",
        ),
        ([{"name": "a", "url": "https:///feed", "kind": "other"}], "", "feeds[0] (a).url", "no host"),
        (
            [{"name": "a", "url": "aws.amazon.com/blogs/aws/feed/", "kind": "other"}],
            "",
            "feeds[0] (a).url",
            "did you mean https://",
        ),
        ([{"name": "a", "url": "https://x.test/a b", "kind": "other"}], "", "feeds[0] (a).url", "contains spaces"),
        ([{"name": "a", "url": "https://x.test/a", "kind": "podcast"}], "", "feeds[0] (a).kind", "expected one of"),
        (
            [{"name": "a", "url": "https://x.test/a", "kind": "other", "colour": "red"}],
            "",
            "feeds[0] (a).colour",
            "unknown key",
        ),
        ([{"name": "a", "kind": "other"}], "", "feeds[0] (a)", "missing required key 'url'"),
        (
            [{"name": "Has Spaces", "url": "https://x.test/a", "kind": "other"}],
            "",
            "feeds[0] (Has Spaces).name",
            "invalid feed name",
        ),
        (
            [{"name": "a", "url": "https://x.test/a", "kind": "other", "enabled": "yes"}],
            "",
            "feeds[0] (a).enabled",
            "true or false",
        ),
    ],
)
def test_bad_configuration_names_file_key_and_problem(write_config, feeds, extra, key, fragment) -> None:
    path = write_config(feeds, extra)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert fragment in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[http\nmax_bytes = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load(path)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load(tmp_path / "nope.toml")


def test_environment_overrides_config_and_database(write_config, tmp_path: Path) -> None:
    path = write_config([{"name": "a", "url": "https://x.test/a", "kind": "other"}])
    config = load_config(None, environ={"AGGREGATOR_CONFIG": str(path), "AGGREGATOR_DB": str(tmp_path / "env.db")})
    assert config.path == path
    assert config.database == tmp_path / "env.db"
    # An explicit database beats the environment.
    config = load_config(
        None, database=tmp_path / "arg.db", environ={"AGGREGATOR_CONFIG": str(path), "AGGREGATOR_DB": "x.db"}
    )
    assert config.database == tmp_path / "arg.db"


@pytest.mark.parametrize(
    "text, seconds",
    [
        (900, 900.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "-5", -5, "m15", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_every_setting_has_help_and_a_default_that_loads(tmp_path: Path) -> None:
    rows = settings_table()
    assert len(rows) >= 20
    for key, _type, _default, help_text in rows:
        assert help_text.endswith(".") and len(help_text) > 20, key


def test_shipped_settings_file_sets_only_known_keys_to_their_defaults() -> None:
    shipped = load_config(default_config_dir() / "aggregator.toml", environ={})
    defaults = {key: default for key, _t, default, _h in settings_table()}
    for key, _t, _d, _h in settings_table():
        section, name = key.split(".")
        value = getattr(getattr(shipped.settings, section), name)
        if key == "general.feeds_file":
            continue
        assert value == defaults[key], key
