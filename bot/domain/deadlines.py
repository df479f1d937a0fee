"""Due times in Pakistan's working days: Monday to Friday (the federal week), less public holidays.

A complaint filed on any day gets N working days counted from the next one; it is due at the end of the Nth
(midnight, Pakistan time, stored in UTC). Pakistan keeps one offset all year (no daylight saving since 2009), so
local days are a fixed +05:00 and nothing shifts twice a year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

PKT = dt.timezone(dt.timedelta(hours=5), "PKT")
WEEKEND = (5, 6)  # Saturday, Sunday
STATES = ("on_time", "due_soon", "overdue")
STATE_LABELS = {"on_time": "On time", "due_soon": "Due soon", "overdue": "Overdue"}
MAX_DAYS = 3650  # a guard: no count runs on for ever, whatever the holiday list says


def is_working_day(day: dt.date, holidays: Collection[dt.date]) -> bool:
    return day.weekday() not in WEEKEND and day not in holidays


def add_working_days(start: dt.datetime, days: int, holidays: Collection[dt.date]) -> dt.datetime:
    """The end (midnight after, Pakistan time) of the `days`-th working day after `start`'s local day, in UTC."""
    day = start.astimezone(PKT).date()
    counted = 0
    for _ in range(MAX_DAYS):
        if counted >= days:
            break
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=PKT)
    return end.astimezone(dt.UTC)


def due_state(due_at: dt.datetime | None, now: dt.datetime, soon: dt.timedelta) -> str | None:
    """on_time, due_soon (within `soon`) or overdue; None for a complaint with no due time."""
    if due_at is None:
        return None
    if now >= due_at:
        return "overdue"
    return "due_soon" if due_at - now <= soon else "on_time"


def local_due(due_at: dt.datetime) -> str:
    """The last day to act, as staff read it: the local day before the midnight the complaint is due."""
    return (due_at.astimezone(PKT) - dt.timedelta(seconds=1)).strftime("%Y-%m-%d")


def _next_midnight(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(PKT)
    return dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=PKT)


def working_time_between(start: dt.datetime, end: dt.datetime, holidays: Collection[dt.date]) -> dt.timedelta:
    """How much of [start, end) fell on working days (Pakistan time): the clock time a pause took from a complaint."""
    total = dt.timedelta(0)
    moment = start
    for _ in range(MAX_DAYS):
        if moment >= end:
            break
        midnight = _next_midnight(moment)
        if is_working_day(moment.astimezone(PKT).date(), holidays):
            total += min(midnight, end) - moment
        moment = midnight
    return total


def add_working_time(start: dt.datetime, amount: dt.timedelta, holidays: Collection[dt.date]) -> dt.datetime:
    """`start` moved on by `amount` of working-day time, skipping weekends and holidays (a paused clock resumed)."""
    moment, left = start.astimezone(PKT), amount
    for _ in range(MAX_DAYS):
        if left <= dt.timedelta(0):
            break
        midnight = _next_midnight(moment)
        if is_working_day(moment.date(), holidays):
            if left <= midnight - moment:
                return (moment + left).astimezone(dt.UTC)
            left -= midnight - moment
        moment = midnight
    return moment.astimezone(dt.UTC)
