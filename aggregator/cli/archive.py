"""Commands that read and annotate the archive: ``feeds``, ``posts``, ``tag``, ``taxonomy``.

They load the archive and the configuration, and the tagger's registry where they need it, but
never the network, parsing or drafting stacks: a listing starts as fast as ``sqlite-utils``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import zoneinfo
from typing import TYPE_CHECKING, Any

import click

from .. import status, store
from ..errors import ConfigError, SearchError
from ..models import KINDS, utcnow
from .app import (
    INTERRUPTED,
    AppContext,
    ago,
    echo_beside,
    emit_json,
    gap_line,
    handle_errors,
    parse_when,
    pass_app,
    suggest,
)

if TYPE_CHECKING:
    from sqlite_utils import Database


def feeds(app: AppContext, as_json: bool) -> None:
    """Health of every configured feed: URL, last status, last success, failures, next check, posts.

    The listing of ``aggregator feeds`` (the group in ``feedlist.py``, beside the commands that edit the list)."""
    # Before the first poll there is no archive yet: the feeds are listed, never polled.
    statuses = status.read_feed_statuses(app.config)
    if as_json:
        emit_json(s.as_json() for s in statuses)
        return
    now = utcnow()
    width = max((len(s.name) for s in statuses), default=4)
    click.echo(f"{'feed':<{width}}  status  {'last success':<12}  fails  {'next check':<10}  posts  url")
    for s in statuses:
        state = "off" if not s.enabled else ("gone" if s.gone else str(s.last_status or "-"))
        next_check = (
            "-" if s.gone or not s.enabled else ("now" if not s.next_check else ago(store.iso(s.next_check), now))
        )
        click.echo(
            f"{s.name:<{width}}  {state:>6}  {ago(store.iso(s.last_success), now):<12}  {s.consecutive_failures:>5}"
            f"  {next_check:<10}  {s.posts:>5}  {s.url}"
        )
        if s.last_error:
            click.echo(f"{'':<{width}}  ^ {s.last_error}")
        for gap in s.gaps:
            click.echo(f"{'':<{width}}  ^ {gap_line(gap)}")


def _post_json(row: dict[str, Any], tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "url": row["url"],
        "date": row["date"],
        "published": row["published"],
        "updated": row["updated"],
        "first_seen": row["first_seen"],
        "feeds": row["sources"],
        "authors": row["authors"],
        "categories": row["categories"],
        "links": row["links"],
        "summary": row["summary"],
        "kind": row["kind"],
        "primary_service": row["primary_service"],
        "regions": row["regions"],
        "tags": [t["tag"] for t in tags],
    }


def check_feed_names(app: AppContext, db: Database, names: tuple[str, ...]) -> None:
    """Each name is a configured feed or one the archive holds posts of (a feed since removed
    from the list); else a ConfigError with the known names and the closest one."""
    configured = {f.name for f in app.config.feeds}
    unknown = [name for name in names if name not in configured]
    if not unknown:
        return
    known = sorted(configured | set(store.feed_names(db)))
    for name in unknown:
        if name not in known:
            raise ConfigError(
                f"no feed named {name!r} in {app.config.feeds_path} or the archive (known: {', '.join(known)})"
                + suggest(name, known)
            )


@click.command()
@click.option(
    "--since",
    metavar="DATE",
    help="Posts dated on or after DATE (YYYY-MM-DD in general.timezone, ISO time, or 7d/12h/2w ago).",
)
@click.option("--until", metavar="DATE", help="Posts dated before DATE.")
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="NAME",
    help="Posts delivered by this feed, listed or since removed (repeatable).",
)
@click.option(
    "--search", metavar="QUERY", help='Full-text search in titles and summaries: words, "a phrase", prefix*, OR, NOT.'
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Posts tagged with TAG, a service key (s3, stepfunctions) or a topic (serverless); repeatable: all must match.",
)
@click.option("--kind", type=click.Choice(KINDS), help="Posts of this kind of announcement.")
@click.option(
    "--limit", type=click.IntRange(min=1, max=10**9), default=50, show_default=True, help="At most this many posts."
)
@click.option(
    "--offset", type=click.IntRange(min=0, max=10**12), default=0, help="Skip this many posts first (the next page)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per post.")
@pass_app
@handle_errors
def posts(
    app: AppContext,
    since: str | None,
    until: str | None,
    feeds: tuple[str, ...],
    search: str | None,
    tags: tuple[str, ...],
    kind: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Stored posts, newest first, with what each is about: its kind and tags.

    Dates are days in general.timezone, as the list shows them; --offset pages through a long list.
    """
    config = app.config
    zone = zoneinfo.ZoneInfo(config.settings.general.timezone)  # the author's day, as the draft counts it
    start = _when(since, "--since", zone)
    end = _when(until, "--until", zone)
    if start and end and start >= end:
        raise click.UsageError(f"--since ({store.iso(start)}) must be before --until ({store.iso(end)})")
    db = app.open_db(readonly=True)
    check_feed_names(app, db, feeds)
    try:
        rows = store.query_posts(
            db, since=start, until=end, feeds=feeds, search=search, tags=tags, kind=kind, limit=limit, offset=offset
        )
    except SearchError as exc:
        raise click.BadParameter(str(exc), param_hint="--search") from None
    tags_by_post = store.tags_of(db, [r["id"] for r in rows])
    if as_json:
        emit_json(_post_json(r, tags_by_post[r["id"]]) for r in rows)
        return
    if not rows:
        click.echo(
            _why_none(app, tags, offset, filtered=bool(since or until or feeds or search or tags or kind)), err=True
        )
    for r in rows:
        day = dt.datetime.fromisoformat(r["date"]).astimezone(zone).date().isoformat()
        click.echo(f"{day}  {','.join(r['sources']):<16}  {r['title']}")
        if r["url"]:
            click.echo(f"{'':<12}{r['url']}")
        if r["kind"]:
            about = ", ".join(t["tag"] for t in tags_by_post[r["id"]])
            regions = f" ({', '.join(r['regions'])})" if r["regions"] else ""
            click.echo(f"{'':<12}{r['kind']}{regions}: {about or '-'}")


def _why_none(app: AppContext, tags: tuple[str, ...], offset: int, *, filtered: bool) -> str:
    """What an empty list means, on stderr: the list itself stays empty for scripts."""
    unknown = [t for t in tags if t not in app.tagger().registry] if tags else []
    if unknown:
        return (
            f"no posts: {', '.join(unknown)} is not a tag the registry knows"
            " (`aggregator taxonomy lookup TEXT` shows what a title is tagged with)"
        )
    if offset:
        return f"no posts past the first {offset}{' that match' if filtered else ''}"
    if filtered:
        return "no posts match"
    return "no posts yet: `aggregator run --once` polls the feeds into the archive"


def _when(value: str | None, option: str, zone: dt.tzinfo) -> dt.datetime | None:
    if not value:
        return None
    try:
        return parse_when(value, zone=zone)
    except click.BadParameter as exc:
        exc.param_hint = option
        raise


@click.group(name="tag", invoke_without_command=True)
@click.option(
    "--retag", is_flag=True, help="Also redo posts tagged with another registry or other rules (after you change them)."
)
@click.option("--all", "everything", is_flag=True, help="Redo every post, whatever it was tagged with.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Posts per transaction (each batch is stored whole or not at all).",
)
@click.pass_context
@handle_errors
def tag(ctx: click.Context, retag: bool, everything: bool, batch_size: int) -> None:
    """Tag the archive's posts with the services and topics they concern, their kind and regions.

    Without options, the posts never tagged (an archive from before tagging existed); with
    --retag, also those tagged with an older registry, your changed services file or older
    rules. New posts are tagged as they are stored: this is for the archive you have. Safe to
    interrupt: run it again to carry on. A progress bar on a terminal.

    `tag add` and `tag remove` tag a post by hand: manual tags survive every retag.
    """
    app = ctx.find_object(AppContext)
    if ctx.invoked_subcommand is not None or app is None:
        return
    from ..pipeline import tag_archive

    tagger = app.tagger()
    db = app.open_db()
    scope = "all" if everything else "stale" if retag else "untagged"
    total = store.count_to_tag(db, fingerprint=tagger.fingerprint, scope=scope)
    done = 0
    with click.progressbar(
        length=total, label="tagging", file=sys.stderr, hidden=not (sys.stderr.isatty() and total)
    ) as bar:
        try:
            for count in tag_archive(db, tagger, scope=scope, batch_size=batch_size):
                done += count
                bar.update(count)
        except KeyboardInterrupt:  # each batch is one transaction: the batches done are stored
            again = (
                "`tag --all` starts over if run again (`tag --retag` carries on with those tagged with another registry)"
                if everything
                else f"run it again to carry on with the {total - done} others"
            )
            echo_beside(bar, f"interrupted: {done} of {total} posts tagged and stored; {again}")
            sys.exit(INTERRUPTED)
    unknown = len(store.unknown_token_rows(db))
    note = f"; {unknown} unknown category tokens (aggregator taxonomy unknown)" if unknown else ""
    click.echo(f"tagged {done} posts with registry {tagger.fingerprint} ({len(tagger.registry)} entries){note}")


@tag.command(name="add")
@click.argument("post")
@click.argument("tags", nargs=-1, required=True)
@pass_app
@handle_errors
def tag_add(app: AppContext, post: str, tags: tuple[str, ...]) -> None:
    """Tag POST (its id or URL) by hand with TAG...: a registry key is a service tag, anything else
    a topic. Manual tags survive `tag --retag` and `--all`, and the digest counts them as any other."""
    registry = app.tagger().registry
    chosen: list[tuple[str, str]] = []
    for text in dict.fromkeys(tags):
        key = text if text in registry else registry.resolve(text)
        if key is not None and key != text:
            click.echo(f"note: {text!r} is {key!r} in the registry", err=True)
        if key is None:
            key = text
            close = suggest(text, [k for k in registry.entries if registry.is_service(k)])
            if close:
                click.echo(f"note: {text!r} is not in the registry: added as a topic{close}", err=True)
        chosen.append((key, "service" if registry.is_service(key) else "topic"))
    db = app.open_db()
    row = _post(db, post)
    with store.write_transaction(db):
        store.add_manual_tags(db, row["id"], chosen)
    click.echo(f"tagged {row['title']!r} by hand with {', '.join(f'{t} ({kind})' for t, kind in chosen)}")
    click.echo(f"its tags: {', '.join(t['tag'] for t in store.tags_of(db, [row['id']])[row['id']])}")


@tag.command(name="remove")
@click.argument("post")
@click.argument("tags", nargs=-1, required=True)
@pass_app
@handle_errors
def tag_remove(app: AppContext, post: str, tags: tuple[str, ...]) -> None:
    """Remove tags added by hand from POST (its id or URL). A tag the tagger found is not removed:
    it comes back at the next retag (change the registry or your services file instead)."""
    db = app.open_db()
    row = _post(db, post)
    with store.write_transaction(db):
        removed, automatic = store.remove_manual_tags(db, row["id"], list(dict.fromkeys(tags)))
    if removed:
        click.echo(f"removed {', '.join(removed)} from {row['title']!r}")
    missing = [t for t in tags if t not in removed and t not in automatic]
    if automatic:
        click.echo(
            f"not removed: {', '.join(automatic)} found by the tagger (not by hand): it would come back at the next retag",
            err=True,
        )
    if missing:
        click.echo(f"not removed: {', '.join(missing)}: not a tag of this post", err=True)
    if automatic or missing:
        sys.exit(1)


def _post(db: Database, ref: str) -> dict[str, Any]:
    row = store.find_post(db, ref)
    if row is None:
        raise click.BadParameter(
            f"no post with the id or URL {ref!r} (`aggregator posts --json` shows both)", param_hint="POST"
        )
    return row


@click.group(name="taxonomy")
def taxonomy_group() -> None:
    """The AWS service registry: look entries up, and see what it does not know yet."""


@taxonomy_group.command(name="unknown")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
@pass_app
@handle_errors
def taxonomy_unknown(app: AppContext, as_json: bool) -> None:
    """Category tokens of stored posts that the registry does not know, most frequent first.

    What's New product slugs and areas the registry lacks, and blog labels that look like a
    product ("AWS ...") but resolve to none. Each is a candidate entry or slug for your services
    file (taxonomy.services_file); then run `aggregator tag --retag`.
    """
    rows = store.unknown_token_rows(app.open_db(readonly=True))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("every category token of the archive is known to the registry")
        return
    width = max(len(r["token"]) for r in rows)
    click.echo(f"{'token':<{width}}  posts  first seen  last seen   example post")
    for r in rows:
        click.echo(
            f"{r['token']:<{width}}  {r['posts']:>5}  {(r['first_seen'] or '')[:10]:<10}  {(r['last_seen'] or '')[:10]:<10}"
            f"  {r['example_post_id']}"
        )


@taxonomy_group.command(name="show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="The entry as JSON.")
@pass_app
@handle_errors
def taxonomy_show(app: AppContext, key: str, as_json: bool) -> None:
    """One registry entry, by key, slug or name, as a TOML table to copy into your services file."""
    registry = app.tagger().registry
    found = registry.resolve(key)
    entry = registry.get(found) if found else None
    if entry is None:
        raise click.ClickException(f"no registry entry for {key!r} (try `aggregator taxonomy lookup`)")
    values = {
        "name": entry.name,
        "short": entry.short,
        "kind": entry.kind,
        "aliases": list(entry.aliases),
        "slugs": list(entry.slugs),
        "blog_categories": list(entry.blog_categories),
        "topics": list(entry.topics),
        "part_of": list(entry.part_of),
    }
    if as_json:
        click.echo(json.dumps({"key": entry.key, **values}, ensure_ascii=False))
        return
    click.echo(f"[services.{entry.key}]")
    for name, value in values.items():
        if value or name in ("name", "short"):
            click.echo(f"{name} = {json.dumps(value, ensure_ascii=False)}")


@taxonomy_group.command(name="lookup")
@click.argument("text")
@click.option("--category", "categories", multiple=True, metavar="TOKEN", help="A category of the post (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="The tagging as JSON.")
@pass_app
@handle_errors
def taxonomy_lookup(app: AppContext, text: str, categories: tuple[str, ...], as_json: bool) -> None:
    """Tag TEXT as a post title (with --category tokens): which names match, and what the post
    would be tagged with. For checking an entry of your services file."""
    tagger = app.tagger()
    matches = tagger.registry.matcher.find_in(text)
    result = tagger.tag_text(text, "", categories)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "matches": [{"key": m.value, "alias": m.alias} for m in matches],
                    "primary_service": result.primary_service,
                    "kind": result.kind,
                    "regions": list(result.regions),
                    "tags": [
                        {"tag": t.tag, "type": t.type, "source": t.source, "confidence": t.confidence}
                        for t in result.tags
                    ],
                    "unknown_tokens": list(result.unknown_tokens),
                },
                ensure_ascii=False,
            )
        )
        return
    for m in matches:
        click.echo(f"matched {m.alias!r} -> {m.value}")
    click.echo(f"primary service: {result.primary_service or '-'}")
    click.echo(f"kind: {result.kind}" + (f" ({', '.join(result.regions)})" if result.regions else ""))
    for t in result.tags:
        click.echo(f"  {t.tag:<24} {t.type:<8} {t.source:<8} {t.confidence:.2f}")
    for token in result.unknown_tokens:
        click.echo(f"unknown: {token}")
