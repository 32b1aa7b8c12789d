"""Replay the house style: would the style learned from the earlier notes have matched each note?

    python bench/style.py [--corpus PATH] [--grid] [--recent N] [--half-life H] [--at DATE]...

For each weekly note of the corpus (``corpus/weekly-notes``), the house style learned from the
notes published before it (``aggregator.digest.style.learn_style``) against what the note did:
its heading level, the time of day of its ``Date`` (minutes off), its number of keywords (off by),
whether ``aws`` is one (notes with keywords that link AWS), its Description's words (off by),
whether it has footnotes. Per year, so that the recency settings (``RECENT``, ``HALF_LIFE``) are
tuned on 2016-2017 and checked on 2018: ``--grid`` tries a grid of them on the tuning years and
prints the 2018 figures of the best. ``--at`` prints what the style learns as of a date. Skips
cleanly (exit 0) when the corpus is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.digest import style  # noqa: E402
from aggregator.digest.notes import Note, read_notes  # noqa: E402

TUNING = (2016, 2017)
CHECK = (2018,)


def errors(notes: Sequence[Note]) -> dict[int, dict[str, list[float]]]:
    """Per year, per measure: one value per note (1/0 for right/wrong, else how far off)."""
    out: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i, note in enumerate(notes):
        learned = style.learn_style(notes[:i])
        year = out[note.date.year]
        if learned.heading_level is not None and note.heading_level is not None:
            year["heading level right"].append(float(learned.heading_level == note.heading_level))
        if learned.publish_time is not None:
            hour, minute = map(int, learned.publish_time.split(":"))
            year["time of day, minutes off"].append(abs(hour * 60 + minute - (note.date.hour * 60 + note.date.minute)))
        if learned.keyword_count is not None and note.keywords:
            year["keywords, off by"].append(abs(learned.keyword_count - len(note.keywords)))
        if learned.keyword_aws is not None and note.keywords and any(style._AWS_LINK.match(u) for u in note.links):
            year["aws keyword right"].append(float(learned.keyword_aws == ("aws" in note.keywords)))
        if learned.description_words is not None and note.description:
            year["Description words, off by"].append(abs(learned.description_words - len(note.description.split())))
        if learned.footnote is not None:
            year["footnotes right"].append(float(bool(learned.footnote) == (note.footnote_separator is not None)))
    return out


def summarise(values: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.fmean(v) for k, v in values.items() if v}


def pooled(by_year: dict[int, dict[str, list[float]]], years: Sequence[int]) -> dict[str, float]:
    merged: dict[str, list[float]] = defaultdict(list)
    for year in years:
        for k, v in by_year.get(year, {}).items():
            merged[k].extend(v)
    return summarise(merged)


def loss(figures: dict[str, float]) -> float:
    """What tuning minimises: the numbers off, relative to their typical size."""
    return (
        figures.get("time of day, minutes off", 0) / 30
        + figures.get("keywords, off by", 0)
        + figures.get("Description words, off by", 0) / 10
        + (1 - figures.get("aws keyword right", 1)) * 2
    )


def table(by_year: dict[int, dict[str, list[float]]]) -> None:
    measures = sorted({k for v in by_year.values() for k in v})
    print(f"{'':<28}" + "".join(f"{y:>10}" for y in sorted(by_year)) + f"{'tune':>10}{'check':>10}")
    tune, check = pooled(by_year, TUNING), pooled(by_year, CHECK)
    for m in measures:
        row = "".join(
            f"{statistics.fmean(by_year[y][m]):>10.2f}" if by_year[y].get(m) else f"{'-':>10}" for y in sorted(by_year)
        )
        print(f"{m:<28}{row}{tune.get(m, float('nan')):>10.2f}{check.get(m, float('nan')):>10.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--recent", type=int, default=style.RECENT)
    ap.add_argument("--half-life", type=float, default=style.HALF_LIFE)
    ap.add_argument("--grid", action="store_true", help="tune RECENT and HALF_LIFE on 2016-2017, check on 2018")
    ap.add_argument("--at", type=dt.date.fromisoformat, action="append", default=[], help="the style as of a date")
    args = ap.parse_args()
    folder = args.corpus / "weekly-notes"
    if not folder.is_dir():
        print(f"no notes at {folder}: skipped")
        return 0
    notes, _ = read_notes(folder, url_pattern="/weekly-notes/{slug}/", slug_pattern="week-{week}-{year}")
    for when in args.at:
        before = [n for n in notes if n.date.date() < when]
        learned = style.learn_style(before)
        print(f"as of {when} ({len(before)} notes):")
        for name in style.SETTINGS:
            print(f"  {name:<18} {getattr(learned, name)!r:<22} {learned.why.get(name, '')}")
        print()
    if args.grid:
        results = []
        for recent in (4, 8, 12, 16, 26, 52):
            for half_life in (1.0, 2.0, 4.0, 8.0, 1000.0):
                style.RECENT, style.HALF_LIFE = recent, half_life
                by_year = errors(notes)
                results.append((loss(pooled(by_year, TUNING)), recent, half_life, by_year))
        results.sort(key=lambda r: r[:3])
        print("RECENT HALF_LIFE  loss on 2016-2017  loss on 2018")
        for value, recent, half_life, by_year in results[:8]:
            print(f"{recent:>6} {half_life:>9g}  {value:>17.3f}  {loss(pooled(by_year, CHECK)):>12.3f}")
        _, recent, half_life, best = results[0]
        print(f"\nbest on 2016-2017: RECENT {recent}, HALF_LIFE {half_life:g}\n")
        table(best)
        return 0
    style.RECENT, style.HALF_LIFE = args.recent, args.half_life
    print(f"RECENT {style.RECENT}, HALF_LIFE {style.HALF_LIFE:g}: each note against the style of the notes before it")
    table(errors(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
