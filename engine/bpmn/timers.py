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
from typing import Any

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


# A timer is due AT its due moment: SpiffWorkflow asks `due < now`, we ask `due <= now`, so that a clock standing
# exactly on the due time fires it (lateness 0) and timers made in that step count from the due moment itself.
# These are SpiffWorkflow 3.2's own methods with that one comparison changed.
def _date_has_fired(self: Any, my_task: Any) -> bool:
    event_value = my_task._get_internal_data("event_value")
    if event_value is None:
        event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        my_task._set_internal_data(event_value=event_value)
    if spiff_timer.TimerEventDefinition.parse_time_or_duration(event_value) <= engine_now():
        my_task._set_internal_data(event_fired=True)
    return bool(my_task._get_internal_data("event_fired", False))


def _duration_has_fired(self: Any, my_task: Any) -> bool:
    event_value = my_task._get_internal_data("event_value")
    if event_value is None:
        expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        parsed = spiff_timer.TimerEventDefinition.parse_iso_duration(expression)
        event_value = (engine_now() + spiff_timer.TimerEventDefinition.get_timedelta_from_start(parsed)).isoformat()
        my_task._set_internal_data(event_value=event_value)
    if spiff_timer.TimerEventDefinition.get_datetime(event_value) <= engine_now():
        my_task._set_internal_data(event_fired=True)
    return bool(my_task._get_internal_data("event_fired", False))


def _cycle_complete(self: Any, my_task: Any) -> bool:
    event_value = my_task._get_internal_data("event_value")
    if event_value is None:
        expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        cycles, start, duration = spiff_timer.TimerEventDefinition.parse_iso_recurring_interval(expression)
        event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
    ready = False
    if event_value["cycles"] != 0:
        next_event = datetime.fromisoformat(event_value["next"])
        if next_event <= engine_now():
            event_value["next"] = (next_event + timedelta(seconds=event_value["duration"])).isoformat()
            event_value["cycles"] -= 1
            ready = True
    else:
        my_task.internal_data.pop("event_value", None)
        my_task.internal_data["event_fired"] = True
    my_task._set_internal_data(event_value=event_value)
    return ready


spiff_timer.datetime = _ClockDatetime
spiff_timer.TimerEventDefinition.get_datetime = staticmethod(_get_datetime)
spiff_timer.TimeDateEventDefinition.has_fired = _date_has_fired
spiff_timer.DurationTimerEventDefinition.has_fired = _duration_has_fired
spiff_timer.CycleTimerEventDefinition.cycle_complete = _cycle_complete


@contextmanager
def running_under(clock: Clock) -> Iterator[None]:
    token = _current_clock.set(clock)
    try:
        yield
    finally:
        _current_clock.reset(token)


@contextmanager
def firing(due_at: datetime) -> Iterator[None]:
    """Let a timer due at `due_at` fire even if this process's clock reads a hair earlier than the scheduler's."""
    token = _current_floor.set(due_at)
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
