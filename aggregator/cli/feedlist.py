"""``aggregator feeds``: the feeds' health (the listing, in ``archive``), and the commands that
edit the feed list in place: ``feeds add``, ``remove``, ``enable``, ``disable``.

Light to import: the listing loads neither the network nor tomlkit; ``feeds add`` loads them when
it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..config import FEED_KINDS, Config, Feed, parse_feeds, resolve_feed_url, same_url, valid_feed_name
from ..errors import ConfigError
from ..logs import mask_credentials
from .app import AppContext, editable_feed_list, handle_errors, pass_app, suggest
from .archive import feeds as list_feeds


@click.group(name="feeds", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
@handle_errors
def feeds_group(ctx: click.Context, as_json: bool) -> None:
    """Health of every configured feed: URL, last status, last success, failures, next check, posts.

    With a command, edit the feed list in place (its comments and layout kept): add, remove,
    enable, disable.
    """
    app = ctx.find_object(AppContext)
    if ctx.invoked_subcommand is None and app is not None:
        list_feeds(app, as_json)


def _configured(config: Config, name: str) -> Feed:
    for feed in config.feeds:
        if feed.name == name:
            return feed
    known = [f.name for f in config.feeds]
    raise ConfigError(
        f"no feed named {name!r} in {config.feeds_path} (known: {', '.join(known)})" + suggest(name, known)
    )


@feeds_group.command(name="add")
@click.argument("url")
@click.option("--name", metavar="NAME", help="Its name (default: from the feed's title, made unique).")
@click.option("--kind", type=click.Choice(FEED_KINDS), help="Its kind (default: guessed from the URL).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A label for the feed (repeatable).")
@click.option("--no-check", is_flag=True, help="Add it without fetching it first to see that it is a feed.")
@pass_app
@handle_errors
def feeds_add(
    app: AppContext, url: str, name: str | None, kind: str | None, tags: tuple[str, ...], no_check: bool
) -> None:
    """Add a feed to the feed list: URL (http, https, file) or a local path.

    It is fetched once to check that it is a feed and to name it after its title (--no-check
    skips that: give --name, or the name comes from the URL).
    """
    from ..opml import guess_kind, slugify

    config = app.config
    target = editable_feed_list(config)
    written, resolved = _feed_url(url, target)
    for feed in config.feeds:
        if same_url(feed.url, resolved):
            raise ConfigError(f"{mask_credentials(url)} is listed already, as feed {feed.name!r} in {target}")
    if name is not None and not valid_feed_name(name):
        raise click.BadParameter(
            f"{name!r}: use lowercase letters, digits, '.', '_' and '-' (at most 64)", param_hint="--name"
        )
    if name is not None and any(f.name == name for f in config.feeds):
        raise click.BadParameter(f"a feed named {name!r} is listed already in {target}", param_hint="--name")
    title, entries = ("", 0) if no_check else _check_feed(config, resolved)
    if name is None:
        base = slugify(title or _url_words(resolved))
        name, n = base, 2
        while any(f.name == name for f in config.feeds):
            name, n = f"{base}-{n}", n + 1
    entry: dict[str, Any] = {"name": name, "url": written, "kind": kind or guess_kind(resolved)}
    if title:
        entry["title"] = title
    if tags:
        entry["tags"] = list(tags)
    parse_feeds([entry], path=str(target), base_dir=target.resolve().parent)  # a bad value stops here
    from ..feedlist import add_feed

    add_feed(target, entry)
    what = f"{title!r}, {entries} entries now" if not no_check else "not checked"
    click.echo(f"added feed {name} ({entry['kind']}) to {target}: {what}; `aggregator poll --feed {name}` polls it")


def _feed_url(url: str, target: Path) -> tuple[str, str]:
    """(what to write in the feed list, the URL it means): a local path is written relative to
    the feed list's folder when it lies under it, else absolute."""
    try:
        resolved = resolve_feed_url(url, base_dir=Path.cwd())
    except ValueError as exc:
        raise click.BadParameter(mask_credentials(str(exc)), param_hint="URL") from None
    if not resolved.startswith("file:") or url.startswith("file:"):
        return url, resolved
    local = Path(url).expanduser().resolve()
    folder = target.resolve().parent
    return (os.path.relpath(local, folder) if local.is_relative_to(folder) else str(local)), resolved


def _url_words(url: str) -> str:
    """What names a feed that has no title: its host and path, less the words every feed URL has."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    path = [Path(part).stem for part in parts.path.split("/") if part]
    return " ".join([host, *(part for part in path if part.lower() not in _FEED_WORDS)])


_FEED_WORDS = {"feed", "feeds", "rss", "atom", "index", "rss2"}


def _check_feed(config: Config, url: str) -> tuple[str, int]:
    """Fetch and parse the feed once: its title and how many entries it has; ConfigError if it is not one."""
    from ..errors import FeedError
    from ..fetch import build_client, fetch
    from ..parse import parse_bytes

    try:
        with build_client(config.settings.http) as client:
            result = fetch(client, url, settings=config.settings.http)
        if result.body is None:
            raise ConfigError(f"{mask_credentials(url)} answered HTTP {result.status} without a feed")
        raw = parse_bytes(result.body, content_type=result.headers.get("content-type"), url=url)
    except FeedError as exc:
        raise ConfigError(
            f"{mask_credentials(url)} is not a feed: {mask_credentials(str(exc))} (--no-check adds it all the same)"
        ) from None
    title = " ".join(str(raw.feed.get("title") or "").split())
    return title, len(raw.entries)


@feeds_group.command(name="remove")
@click.argument("name")
@pass_app
@handle_errors
def feeds_remove(app: AppContext, name: str) -> None:
    """Remove a feed from the feed list (with the comment right above it). Its posts stay in the
    archive: `aggregator posts --feed NAME` still lists them."""
    from ..feedlist import remove_feed

    config = app.config
    target = editable_feed_list(config)
    _configured(config, name)
    remove_feed(target, name)
    click.echo(f"removed feed {name} from {target}; its posts stay in the archive (aggregator posts --feed {name})")


@feeds_group.command(name="enable")
@click.argument("name")
@pass_app
@handle_errors
def feeds_enable(app: AppContext, name: str) -> None:
    """Poll a disabled feed again (removes its `enabled = false`)."""
    _set_enabled(app, name, True)


@feeds_group.command(name="disable")
@click.argument("name")
@pass_app
@handle_errors
def feeds_disable(app: AppContext, name: str) -> None:
    """Keep a feed in the list without polling it (`enabled = false`); its posts stay in the archive."""
    _set_enabled(app, name, False)


def _set_enabled(app: AppContext, name: str, enabled: bool) -> None:
    from ..feedlist import set_enabled

    config = app.config
    target = editable_feed_list(config)
    _configured(config, name)
    state = "enabled" if enabled else "disabled"
    if set_enabled(target, name, enabled):
        click.echo(f"{state} feed {name} in {target}")
    else:
        click.echo(f"feed {name} is {state} already")
