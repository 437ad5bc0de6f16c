"""The one bridge between SpiffWorkflow's timers and our injected Clock, plus timer expression normalisation.

SpiffWorkflow's timer module reads `datetime.now` itself and treats naive dates as the machine's local zone. We give
that module a `datetime` whose `now()` asks the clock that the current engine step runs under (a context variable),
and we make naive timer dates Europe/Stockholm.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from engine.domain.calendar import parse_duration
from engine.domain.clock import STOCKHOLM, Clock, SystemClock

_current_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("samflode_clock", default=None)
_current_floor: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("samflode_floor", default=None)
_SYSTEM = SystemClock()


def engine_now() -> datetime:
    """Now, as the engine step sees it: the clock's time, or a timer's due moment if that is later (see `firing`)."""
    clock = _current_clock.get() or _SYSTEM
    now = clock.now()
    floor = _current_floor.get()
    if floor is not None and floor > now:
        return floor
    return now


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockDatetime:
        moment = engine_now()
        moment = moment.astimezone(tz) if tz is not None else moment.astimezone(STOCKHOLM).replace(tzinfo=None)
        return cls.fromtimestamp(moment.timestamp(), tz) if tz is not None else cls.fromisoformat(moment.isoformat())


def _get_datetime(expression: str) -> datetime:
    moment = datetime.fromisoformat(expression)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment.astimezone(UTC)


spiff_timer.datetime = _ClockDatetime
spiff_timer.TimerEventDefinition.get_datetime = staticmethod(_get_datetime)


@contextmanager
def running_under(clock: Clock) -> Iterator[None]:
    token = _current_clock.set(clock)
    try:
        yield
    finally:
        _current_clock.reset(token)


@contextmanager
def firing(due_at: datetime) -> Iterator[None]:
    """Let a timer due at `due_at` fire even when the clock stands exactly on it (SpiffWorkflow compares with <)."""
    token = _current_floor.set(due_at + timedelta(microseconds=1))
    try:
        yield
    finally:
        _current_floor.reset(token)


_RECURRING = re.compile(r"^R\d*/", re.IGNORECASE)


def is_plain_iso(text: str) -> bool:
    """True when a modeller wrote ISO 8601 as is (PT24H, P3D, R/PT12H, a date-time) rather than an expression."""
    value = text.strip()
    if not value:
        return False
    if _RECURRING.match(value):
        parts = value.split("/")[1:]
        return 1 <= len(parts) <= 2 and all(_is_iso_part(p) for p in parts)
    return _is_iso_part(value)


def _is_iso_part(value: str) -> bool:
    if value.upper().startswith("P"):
        try:
            parse_duration(value)
        except ValueError:
            return False
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def normalise_timer_expression(text: str) -> str:
    """Plain ISO text becomes a string literal, which is what SpiffWorkflow evaluates; expressions stay."""
    value = text.strip()
    if is_plain_iso(value):
        return repr(value)
    return value


def validate_timer_value(kind: str, value: str) -> None:
    """Raise ValueError unless `value` (an evaluated timer expression) is what a timer of this kind needs."""
    if kind == "duration":
        parse_duration(value)
    elif kind == "date":
        datetime.fromisoformat(value)
    elif kind == "cycle":
        spiff_timer.TimerEventDefinition.parse_iso_recurring_interval(value)
    else:
        raise ValueError(f"okänd timertyp {kind}")
