"""Per-city park answers, built from the park records so that a fact is written once, in parks.yaml."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

from knowledge.schema import LANGUAGES, Entry, LexiconFile, LocalText, Park, Place, Questions
from knowledge.texts import Texts


def province_key(province: str) -> str:
    return "province_" + re.sub(r"[^a-z]+", "_", province.casefold()).strip("_")


def _park_line(park: Park, source_date: dt.date | None, texts: Texts, lang: str) -> str:
    stop = texts("full_stop", lang)
    details = []
    if park.host:
        details.append(texts("park_host", lang, host=park.host.get(lang)))
    if park.area_sqft:
        details.append(texts("park_area", lang, area=f"{park.area_sqft:,}"))
    line = f"• {texts(f'park_status_{park.status}', lang)} ({texts.date(source_date, lang)})"
    if details:
        line += ": " + texts.separator("comma", lang).join(details)
    line += stop
    if park.note:
        line += " " + park.note.get(lang).rstrip(".۔") + stop
    return line


def park_answer(place: Place, parks: list[Park], dates: dict[str, dt.date | None], texts: Texts, lang: str) -> str:
    """The parks of one place, oldest source first, so the latest status reads last."""
    province = texts(province_key(place.province), lang)
    heading = texts("park_heading", lang, place=place.name.get(lang), province=province)
    ordered = sorted(parks, key=lambda p: (dates[p.source] or dt.date.max, p.id))
    return "\n".join([heading, *(_park_line(p, dates[p.source], texts, lang) for p in ordered)])


def build_park_entries(
    parks: list[Park], places: dict[str, Place], lexicon: LexiconFile, texts: Texts, dates: dict[str, dt.date | None]
) -> list[Entry]:
    """One entry `park_<place>` for every place that has at least one park record."""
    by_place: dict[str, list[Park]] = defaultdict(list)
    for park in parks:
        by_place[park.place].append(park)
    entries = []
    for place_id, records in sorted(by_place.items()):
        place = places[place_id]
        templates = lexicon.park_questions
        name_en, name_ur = place.name.en, place.name.ur
        entries.append(
            Entry(
                id=f"park_{place_id}",
                topic="parks",
                questions=Questions(
                    en=[t.format(name=name_en) for t in templates.en],
                    roman=[t.format(name=name_en) for t in templates.roman],
                    ur=[t.format(name=name_ur) for t in templates.ur],
                ),
                answer=LocalText(**{lang: park_answer(place, records, dates, texts, lang) for lang in LANGUAGES}),
                sources=sorted({p.source for p in records}, key=lambda s: (dates[s] or dt.date.max, s)),
                places=[place_id],
            )
        )
    return entries


def park_summary(place: Place, parks: list[Park], texts: Texts, lang: str) -> str:
    """ "Swat: Planned; Work underway": a place's park statuses on one line."""
    statuses = []
    for park in parks:
        label = texts(f"park_status_{park.status}", lang)
        if label not in statuses:
            statuses.append(label)
    return f"{place.name.get(lang)}: {texts.separator('semicolon', lang).join(statuses)}"
