"""When staff answer: office days and hours in Pakistan time (OFFICE_DAYS, OFFICE_HOURS), less the public holidays of
knowledge/data/holidays.yaml (the calendar complaint deadlines count with). Outside them a citizen who asks for a
person is told when staff next open, and the bot keeps answering meanwhile.

Pure functions of a given time: the caller's clock decides what "now" is, so tests need no waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bot.domain.deadlines import PKT
from bot.domain.routing_data import RoutingDataError, load_routing

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "always"
MAX_DAYS_AHEAD = 400  # a guard: a year of holidays cannot make the search run on


class OfficeHoursError(ValueError):
    """A setting that cannot describe office hours; the message says which and how to write it."""


def parse_days(text: str) -> frozenset[int]:
    """ "mon-fri", "mon,tue,thu" or "sat-wed" (a range may wrap the week) as weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise OfficeHoursError(f"OFFICE_DAYS: {part!r} is not a day or range like mon-fri (days: mon … sun)")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    if not days:
        raise OfficeHoursError("OFFICE_DAYS: name at least one day, like mon-fri")
    return frozenset(days)


def parse_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """ "09:00-17:00" as (opens, closes); None for "always" (staff answer at any time)."""
    if text.strip().lower() == ALWAYS:
        return None
    try:
        opens, closes = (dt.time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError as exc:
        raise OfficeHoursError(f"OFFICE_HOURS: {text!r} is not like 09:00-17:00 (or 'always')") from exc
    if opens >= closes:
        raise OfficeHoursError(f"OFFICE_HOURS: {text!r} closes before it opens")
    return opens, closes


@dataclass(frozen=True)
class OfficeHours:
    """Staff answer on `days` (weekday numbers) from `opens` to `closes`, Pakistan time, except on `holidays`;
    `hours` None means at any time."""

    days: frozenset[int]
    hours: tuple[dt.time, dt.time] | None
    holidays: Collection[dt.date] = frozenset()

    @classmethod
    def of(cls, days: str, hours: str, holidays: Collection[dt.date]) -> OfficeHours:
        return cls(parse_days(days), parse_hours(hours), frozenset(holidays))

    @classmethod
    def configured(cls, days: str, hours: str, knowledge_dir: Path) -> OfficeHours:
        """OFFICE_DAYS and OFFICE_HOURS with the holidays of KNOWLEDGE_DIR's holidays.yaml (a broken calendar
        stops `run` at start, bot/app.py; here it only means no holidays)."""
        try:
            holidays = load_routing(knowledge_dir).holidays
        except RoutingDataError:
            holidays = frozenset()
        return cls.of(days, hours, holidays)

    def _open_day(self, day: dt.date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def is_open(self, now: dt.datetime) -> bool:
        if self.hours is None:
            return True
        local = now.astimezone(PKT)
        opens, closes = self.hours
        return self._open_day(local.date()) and opens <= local.time() < closes

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """When staff next start answering, Pakistan time (`now` itself when open); None if never (no open day
        within a year)."""
        if self.is_open(now) or self.hours is None:
            return now.astimezone(PKT)
        local = now.astimezone(PKT)
        opens = self.hours[0]
        day = local.date()
        if local.time() >= opens:  # today's opening has passed (or today is closed): look from tomorrow
            day += dt.timedelta(days=1)
        for _ in range(MAX_DAYS_AHEAD):
            if self._open_day(day):
                return dt.datetime.combine(day, opens, tzinfo=PKT)
            day += dt.timedelta(days=1)
        return None
