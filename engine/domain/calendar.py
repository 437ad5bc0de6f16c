"""Deadline arithmetic as the agreements count it: real hours, calendar days, or working days (vardagar).

Calendar and working days are counted on the Stockholm wall clock, so "3 days" across the October change ends at the
same local time of day; hours are real elapsed hours ("24 h" across the change is 24 real hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from engine.domain.clock import STOCKHOLM
from engine.domain.text import Text

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
KINDS = ("hours", "calendar", "working_days")


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("SE", years=year)


def _de_facto_holidays(year: int) -> set[date]:
    """Days that are not public holidays by law but on which Swedish offices are closed: julafton, nyårsafton and
    midsommarafton (the Friday before Midsummer Day)."""
    midsummer_eve = next(date(year, 6, d) for d in range(19, 26) if date(year, 6, d).weekday() == 4)
    return {date(year, 12, 24), date(year, 12, 31), midsummer_eve}


def is_working_day(day: date) -> bool:
    """Monday to Friday, not a Swedish public holiday and not julafton, nyårsafton or midsommarafton."""
    return day.weekday() < 5 and day not in _swedish_holidays(day.year) and day not in _de_facto_holidays(day.year)


def parse_duration(text: str) -> dict[str, float]:
    match = _DURATION.match(text.strip().upper())
    if not match:
        raise ValueError(Text("%(text)r är ingen ISO 8601-varaktighet (t.ex. PT24H, P3D)", text=text))
    return {k: float(v) for k, v in match.groupdict().items() if v is not None}


@dataclass(frozen=True)
class DeadlineRule:
    """How one agreed deadline is counted: an ISO duration, a calendar kind, and optionally a latest time of day."""

    duration: str
    calendar: str = "hours"
    before: str | None = None  # "12:00": the deadline falls at this local time on the day it lands
    anchor: str | None = None  # the event it counts from (engine/domain/deadlines.py); None: from the task's creation

    def __post_init__(self) -> None:
        if self.calendar not in KINDS:
            raise ValueError(
                Text(
                    "okänd kalender %(calendar)r; välj en av %(items)s", calendar=self.calendar, items=", ".join(KINDS)
                )
            )
        parse_duration(self.duration)
        if self.before is not None:
            time.fromisoformat(self.before)

    def due(self, start: datetime) -> datetime:
        """The moment the deadline falls, for a start moment (aware)."""
        if start.tzinfo is None:
            start = start.replace(tzinfo=STOCKHOLM)
        parts = parse_duration(self.duration)
        if self.calendar == "hours":
            delta = timedelta(
                weeks=parts.get("weeks", 0),
                days=parts.get("days", 0),
                hours=parts.get("hours", 0),
                minutes=parts.get("minutes", 0),
                seconds=parts.get("seconds", 0),
            )
            if parts.get("years") or parts.get("months"):
                raise ValueError("år och månader kan inte räknas i timmar; välj kalenderdagar")
            result = (start.astimezone(UTC) + delta).astimezone(start.tzinfo)
        else:
            local = start.astimezone(STOCKHOLM)
            days = int(parts.get("days", 0) + 7 * parts.get("weeks", 0))
            if self.calendar == "calendar":
                months = int(parts.get("months", 0) + 12 * parts.get("years", 0))
                target = _add_months(local.date(), months) + timedelta(days=days)
            else:
                target = add_working_days(local.date(), days)
            wall = datetime.combine(target, local.time().replace(tzinfo=None))
            wall += timedelta(
                hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)
            )
            result = wall.replace(tzinfo=STOCKHOLM)
        if self.before is not None:
            cutoff = time.fromisoformat(self.before)
            local_result = result.astimezone(STOCKHOLM)
            result = datetime.combine(local_result.date(), cutoff).replace(tzinfo=STOCKHOLM)
        return result


def add_working_days(day: date, count: int) -> date:
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def _add_months(day: date, months: int) -> date:
    if months == 0:
        return day
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError("ogiltigt datum")


def seconds_as_duration(seconds: float) -> str:
    return f"PT{max(0, int(round(seconds)))}S"
