from datetime import UTC, date, datetime, timedelta

import pytest

from engine.domain.calendar import DeadlineRule, add_working_days, is_working_day
from engine.domain.clock import STOCKHOLM


def test_hours_across_the_october_change_are_real_hours():
    start = datetime(2026, 10, 24, 12, 0, tzinfo=STOCKHOLM)  # DST ends 2026-10-25 03:00
    due = DeadlineRule("PT24H", "hours").due(start)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert due.astimezone(STOCKHOLM).hour == 11  # the wall clock moved back one hour


def test_calendar_days_across_the_march_change_keep_the_wall_clock_time():
    start = datetime(2026, 3, 28, 9, 30, tzinfo=STOCKHOLM)  # DST starts 2026-03-29
    due = DeadlineRule("P3D", "calendar").due(start).astimezone(STOCKHOLM)
    assert (due.date(), due.hour, due.minute) == (date(2026, 3, 31), 9, 30)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=3, hours=-1)


def test_working_days_skip_weekends_and_swedish_holidays():
    assert not is_working_day(date(2026, 12, 25))  # juldagen
    assert not is_working_day(date(2026, 6, 6))  # nationaldagen (a Saturday too)
    assert not is_working_day(date(2026, 6, 19))  # midsommarafton: closed by custom, not by law
    # Wednesday 23 Dec + 2 working days: 24 (julafton), 25, 26, 27 are not; Mon 28, Tue 29.
    assert add_working_days(date(2026, 12, 23), 2) == date(2026, 12, 29)


def test_before_noon_next_working_day_rule():
    friday_evening = datetime(2026, 1, 16, 17, 0, tzinfo=STOCKHOLM)
    due = DeadlineRule("P1D", "working_days", before="12:00").due(friday_evening).astimezone(STOCKHOLM)
    assert (due.date(), due.hour) == (date(2026, 1, 19), 12)


def test_unknown_calendar_kind_is_refused():
    with pytest.raises(ValueError, match="okänd kalender"):
        DeadlineRule("P1D", "moon")
    with pytest.raises(ValueError, match="ISO 8601"):
        DeadlineRule("3 dagar", "calendar")
