"""The weekly-notes digest builder: a draft the author only has to write commentary into.

``build_draft`` chooses and renders the draft of a publication date; ``write_draft`` (what the
service's weekly job and ``aggregator digest`` call) writes it as ``YYYY-WW.md`` into the drafts
folder, never over an existing file unless forced. ``explain`` prints the ranked candidates with
their score components. See ``select`` (what goes in) and ``render`` (how it reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import secrets
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from ..config import Config
from ..errors import ConfigError, DraftError, DraftExistsError
from ..normalize import link_id
from ..taxonomy import Registry
from . import render as _render
from . import words as _words
from .notes import Note, read_notes
from .profile import Profile, cached_profile, rank_learned
from .profile import summary as profile_summary
from .profile import summary_lines as profile_lines
from .ranking import Ranking, rank_by_score, rank_newest
from .select import Selection, select_for_draft
from .stories import Story, load_posts
from .style import HouseStyle, house_style
from .words import Vocabulary

__all__ = [
    "Draft",
    "HouseStyle",
    "build_draft",
    "default_registry",
    "draft_filename",
    "explain",
    "layout_for",
    "profile_for",
    "profile_lines",
    "profile_summary",
    "publication_time",
    "read_notes",
    "style_for",
    "vocabulary_for",
    "week_monday",
    "write_draft",
]


@dataclass(frozen=True, kw_only=True)
class Draft:
    year: int
    week: int
    """The ISO year and week of the publication date: "Week 9, 2025"."""
    slug: str
    filename: str
    """``YYYY-WW.md``, the blog's own file naming."""
    text: str
    selection: Selection
    style: HouseStyle
    """The house style it was written in (the settings, and what the notes taught)."""
    vocabulary: Vocabulary = _words.PRIOR
    """The author's words the draft was written in, learned from the earlier notes."""


def default_registry(config: Config) -> Registry:
    """The registry the tagger uses: the shipped ``config/services.toml`` with the user's
    ``taxonomy.services_file`` over it."""
    from ..pipeline import tagger_for

    return tagger_for(config).registry


def notes_folder(config: Config, override: Path | None = None) -> Path | None:
    """``--notes-dir``, else ``digest.notes_dir`` relative to the configuration file; None: no notes."""
    if override is not None:
        return override
    if not config.settings.digest.notes_dir:
        return None
    folder = Path(config.settings.digest.notes_dir).expanduser()
    return folder if folder.is_absolute() else config.path.resolve().parent / folder


def _template(config: Config) -> Path | None:
    if not config.settings.digest.template:
        return None
    path = Path(config.settings.digest.template).expanduser()
    return path if path.is_absolute() else config.path.resolve().parent / path


def _zone(config: Config) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(config.settings.general.timezone)


def publication_time(config: Config, date: dt.date, style: HouseStyle | None = None) -> dt.datetime:
    """The moment of publication: ``date`` at ``digest.publish_time`` in the author's time zone
    (at the house style's time of day, given one: the setting's, or the notes')."""
    settings = config.settings.digest
    if style is not None:
        settings = dataclasses.replace(settings, publish_time=style.publish_time)
    hour, minute = settings.publish_clock()
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=_zone(config))


def style_for(config: Config, notes: Sequence[Note]) -> HouseStyle:
    """The house style of a draft: the settings the configuration gave, and for the others what
    ``notes`` (those published before the draft) say."""
    return house_style(notes, config.settings.digest, explicit=config.explicit_settings("digest"))


def week_monday(text: str) -> dt.date:
    """``2019-W39`` -> the Monday of that ISO week. Raises ValueError."""
    try:
        year, week = text.upper().split("-W")
        return dt.date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO week: use YYYY-Www, e.g. 2019-W39") from None


def draft_filename(date: dt.date) -> str:
    year, week, _ = date.isocalendar()
    return f"{year}-{week:02d}.md"


def build_draft(
    db: Database,
    config: Config,
    *,
    date: dt.date,
    registry: Registry | None = None,
    notes: Sequence[Note] | None = None,
    notes_dir: Path | None = None,
    published_at: dt.datetime | None = None,
    ranking: Ranking | None = None,
    keyword_topics: Iterable[str] = (),
) -> Draft:
    """The draft for a publication on ``date`` (at ``digest.publish_time``, or when the notes say
    the author publishes, or ``published_at``), in the house style (``style_for``).

    ``notes``: the published notes (else read from ``notes_dir``, else from ``digest.notes_dir``);
    only those published before the publication count (before its day, for the house style). ``registry``: the service registry (else
    the shipped one). ``ranking``: how stories are ranked (else as ``digest.ranking`` says, the
    learned profile by default); ``keyword_topics``: topics for the keywords beyond
    ``digest.keyword_topics`` (the learned profile's, with a ranking given here).
    """
    settings = config.settings.digest
    tz = _zone(config)
    skipped: list[str] = []
    if notes is None:
        folder = notes_folder(config, notes_dir)
        if folder is not None:
            notes, skipped = read_notes(
                folder, url_pattern=settings.url_pattern, slug_pattern=settings.slug_pattern, tz=tz
            )
        else:
            notes = []
    registry = registry if registry is not None else default_registry(config)
    check_interests(config, registry)
    before = published_at or dt.datetime.combine(date, dt.time(), tzinfo=tz)
    style = style_for(config, [n for n in notes if n.date < before])
    at = published_at or publication_time(config, date, style)
    earlier = [n for n in notes if n.date < at]  # no note after the draft's date is ever read
    label = "ranking: given by the caller"
    if ranking is None:
        ranking, label, learned_topics = ranking_for(db, config, at=at, notes=earlier, registry=registry)
        keyword_topics = (*keyword_topics, *learned_topics)
    selection = select_for_draft(
        db,
        settings,
        at=at,
        tz=tz,
        registry=registry,
        notes=earlier,
        ranking=ranking,
        notes_skipped=skipped,
        keyword_topics=keyword_topics,
        ranking_label=label,
    )
    year, week, _ = at.date().isocalendar()
    slug = settings.slug_pattern.format(year=year, week=week)
    layout = layout_for(config, style)
    vocabulary = vocabulary_for(db, earlier, at=at, registry=registry, style=style)
    if config.is_explicit("digest.keyword_topics"):  # the author's own choice wins
        vocabulary = dataclasses.replace(vocabulary, chosen_topics=frozenset(settings.keyword_topics))
    text = _render.render(
        selection,
        year=year,
        week=week,
        slug=slug,
        layout=layout,
        tz=tz,
        template=_template(config),
        vocabulary=vocabulary,
    )
    filename = draft_filename(at.date())
    return Draft(
        year=year,
        week=week,
        slug=slug,
        filename=filename,
        text=text,
        selection=selection,
        style=style,
        vocabulary=vocabulary,
    )


def layout_for(config: Config, style: HouseStyle) -> _render.Layout:
    """What rendering needs: the ``digest`` settings, in the house style."""
    settings = config.settings.digest
    return _render.Layout(
        heading_level=style.heading_level,
        also_title=settings.also_title,
        earlier_title=settings.earlier_title,
        community_title=style.community_title,
        blog=settings.blog,
        author=settings.author,
        draft=settings.draft,
        categories=style.categories,
        footnote=style.footnote,
        publish_lists=settings.publish_lists,
        style=style,
    )


def vocabulary_for(
    db: Database, notes: Sequence[Note], *, at: dt.datetime, registry: Registry, style: HouseStyle
) -> Vocabulary:
    """The author's words as of ``at``: learned from the notes published before it, and the
    titles of the archive's posts they link (``words.learn_vocabulary``); how many keywords,
    whether ``aws`` is one and the Description's length are the house style's."""
    ids = {link: post_id for note in notes if note.date < at for link in note.links if (post_id := link_id(link))}
    posts = _words.linked(load_posts(db, set(ids.values())))
    return _words.with_style(
        _words.learn_vocabulary(notes, at=at, registry=registry, posts=posts, link_ids=ids),
        keyword_count=style.keyword_count,
        keyword_aws=style.keyword_aws,
        description_words=style.description_words,
    )


def check_interests(config: Config, registry: Registry) -> None:
    """The author's services and topics (interest, pins, mutes, keywords) must be ones the
    registry knows: a typo would otherwise change the ranking without a word."""
    if not registry.entries:
        return  # no registry to check against (tests that pass none)
    settings = config.settings.digest
    services = set(registry.entries)
    topics = {t for entry in registry.entries.values() for t in entry.topics} | services
    checks: list[tuple[str, Iterable[str], set[str]]] = [
        ("interest_services", settings.interest_services, services),
        ("pin_services", settings.pin_services, services),
        ("mute_services", settings.mute_services, services),
        ("interest_topics", settings.interest_topics, topics),
        ("pin_topics", settings.pin_topics, topics),
        ("mute_topics", settings.mute_topics, topics),
    ]
    for name, keys, known in checks:
        for key in keys:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else " (`aggregator taxonomy lookup TEXT` finds keys)"
                raise ConfigError(f"{key!r} is not a registry key{hint}", path=str(config.path), key=f"digest.{name}")


def profile_for(
    db: Database,
    config: Config,
    *,
    at: dt.datetime,
    notes: Sequence[Note],
    registry: Registry | None = None,
) -> Profile:
    """The author's profile as of ``at``, learned from the notes published before it (or read
    from the archive, which keeps what it learned from the same notes and posts)."""
    return cached_profile(
        db,
        notes,
        config.settings.digest,
        at=at,
        registry=registry if registry is not None else default_registry(config),
    )


def ranking_for(
    db: Database, config: Config, *, at: dt.datetime, notes: Sequence[Note], registry: Registry
) -> tuple[Ranking, str, frozenset[str]]:
    """The ranking ``digest.ranking`` asks for, a line saying what it is, and the topics the
    author used as keywords (learned with the profile)."""
    choice = config.settings.digest.ranking
    if choice == "newest":
        return rank_newest, "ranking: newest first (digest.ranking)", frozenset()
    if choice == "rules":
        return rank_by_score(), "ranking: rule-based score (digest.ranking)", frozenset()
    profile = profile_for(db, config, at=at, notes=notes, registry=registry)
    if profile.empty:
        line = f"ranking: rule-based score (no note among {profile.notes} links a candidate of its window yet)"
    else:
        line = (
            f"ranking: learned from {profile.examples} of {profile.notes} notes ({profile.positives} linked"
            f" announcements among {profile.candidates} candidates); the rule-based components beside it"
        )
    return rank_learned(profile), line, profile.keyword_topics


def _write_new(path: Path, text: str, *, force: bool) -> None:
    """Write the file; without ``force`` only if it does not exist (exclusive create, no race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            with path.open("x", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        except FileExistsError:
            raise DraftExistsError(f"{path} exists already: not overwritten (use --force)") from None
        return
    # Not mkstemp: its 0600 would make a forced draft unreadable to anyone else (a web server);
    # created with 0666 less the umask, like the draft written without --force.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_draft(
    db: Database,
    config: Config,
    *,
    date: dt.date,
    force: bool = False,
    out_dir: Path | None = None,
    notes_dir: Path | None = None,
    registry: Registry | None = None,
) -> Path:
    """Write the draft of ``date`` as ``YYYY-WW.md`` into ``out_dir`` (default ``general.drafts_dir``).

    Raises ``DraftExistsError`` when that file exists, unless ``force``.
    """
    folder = out_dir if out_dir is not None else Path(config.settings.general.drafts_dir).expanduser()
    path = folder / draft_filename(publication_time(config, date).date())
    if path.exists() and not force:
        raise DraftExistsError(f"{path} exists already: not overwritten (use --force)")
    draft = build_draft(db, config, date=date, notes_dir=notes_dir, registry=registry)
    try:
        _write_new(path, draft.text, force=force)
    except OSError as exc:
        raise DraftError(f"cannot write the draft {path}: {exc.strerror or exc}") from None
    return path


def explain(selection: Selection, *, tz: dt.tzinfo, limit: int | None = None) -> list[str]:
    """The ranked candidates with their score components, one line each, for ``--explain``; then
    the stories earlier notes covered. Each says where it went (featured, related: listed in a
    featured section, listed: the list of the other stories, left out) and why."""
    names = selection.names
    places = selection.placements()
    lines = [
        f"window {selection.window_start.astimezone(tz):%Y-%m-%d %H:%M} to {selection.at.astimezone(tz):%Y-%m-%d %H:%M}"
        + (
            f"; previous note {selection.previous.label} ({selection.previous.date:%Y-%m-%d})"
            if selection.previous
            else "; no previous note"
        )
        + (
            f"; new since {selection.since_note.label}, the last note linking the archive's posts"
            if selection.since_note
            else ""
        ),
        f"{len(selection.ranked)} stories, {len(selection.covered)} more covered by earlier notes",
    ]
    if selection.ranking:
        lines.append(selection.ranking)
    if not selection.ranked and not selection.covered:
        return lines
    component_names = list(dict.fromkeys(c.name for r in selection.ranked for c in r.components))
    widths = {n: max(8, len(n)) for n in component_names}
    header = (
        f"{'rank':>4}  {'score':>6}  " + "  ".join(f"{n:>{widths[n]}}" for n in component_names) + "  where     story"
    )
    lines.append(header)

    def story_line(story: Story, why: str) -> str:
        service = names.short(story.service) if story.service else "-"
        where, placed = places[story.id]
        posts = f"{len(story.posts)} post{'s' if len(story.posts) != 1 else ''}"
        return (
            f"  {where:<8}  {story.date.astimezone(tz):%Y-%m-%d} [{service}] {_render.plain(story.primary.title)}"
            + f"  ({'; '.join(part for part in (placed, posts, why) if part)})"
        )

    for rank, r in enumerate(selection.ranked[:limit] if limit else selection.ranked, start=1):
        values = {c.name: c.value for c in r.components}
        why = "; ".join(f"{c.name}: {c.why}" for c in r.components if c.why)
        lines.append(
            f"{rank:>4}  {r.score:>6.2f}  "
            + "  ".join(f"{values.get(n, 0.0):>{widths[n]}.2f}" for n in component_names)
            + story_line(r.story, why)
        )
    if not limit:
        blank = "  ".join(f"{'':>{widths[n]}}" for n in component_names)
        for story in selection.covered:
            lines.append(f"{'-':>4}  {'-':>6}  {blank}" + story_line(story, ""))
    return lines
