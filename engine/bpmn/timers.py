"""The one bridge between SpiffWorkflow's timers and our injected Clock, plus timer expression normalisation.

SpiffWorkflow's own timer event definitions read `datetime.now` and treat naive dates as the machine's local zone.
Ours (`ClockTimeDateEventDefinition`, `ClockDurationTimerEventDefinition`, `ClockCycleTimerEventDefinition`) are
subclasses that ask the clock the current engine step runs under and read naive dates as Europe/Stockholm. They are
registered, not patched in: the parser makes them (`ClockTimerParsing`, mixed into every event parser of
engine/bpmn/parsing.py's `_Parser`) and the serializer knows them under SpiffWorkflow's own type names
(`SERIALIZER_CONFIG`, used by engine/bpmn/workflow.py), so a stored state or spec reads the same either way.

How the clock reaches them: `Flow` wraps every engine step in `running_under(clock)`, which sets a context variable
(per thread and per async task, never shared between requests); `engine_now()` reads it. The sandbox's deadline
functions read the same `engine_now()`, so a timer and an expression of one step agree on what now is.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from engine.bpmn import spiff_api
from engine.domain.calendar import parse_duration
from engine.domain.clock import STOCKHOLM, Clock, SystemClock
from engine.domain.text import Text

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


def _utc_now() -> datetime:
    return engine_now().astimezone(UTC)


# --- reading timer values: SpiffWorkflow's rules, with naive moments in Europe/Stockholm ------------------------------
def due_moment(expression: str) -> datetime:
    """An ISO 8601 date-time as an aware UTC moment; without a zone, Swedish time (SpiffWorkflow: the machine's)."""
    moment = datetime.fromisoformat(expression)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    return moment.astimezone(UTC)


def iso_week_moment(expression: str) -> datetime:
    """An ISO week date (2026W031, 2026-W03-1T08:00) as a moment, Swedish time when it has no zone."""
    found = re.match(r"(\d{4})W(\d{2})(\d)(T.+)?", expression.upper().replace("-", ""))
    if found is None:
        raise ValueError(Text("%(expression)r är inget ISO 8601-veckodatum", expression=expression))
    year, week, day, time_part = found.groups()
    day_text = datetime.fromisocalendar(int(year), int(week), int(day)).strftime("%Y-%m-%d")
    return due_moment(day_text + (time_part or ""))


def time_or_duration(expression: str) -> datetime | dict[str, Any]:
    """A moment, or a duration as SpiffWorkflow's parsed parts (its month arithmetic needs a start)."""
    if expression.upper().startswith("P"):
        return dict(TimerEventDefinition.parse_iso_duration(expression))
    if "W" in expression.upper():
        return iso_week_moment(expression)
    return due_moment(expression)


def recurring_interval(expression: str, now: datetime) -> tuple[int, datetime, timedelta]:
    """(cycles, first moment, period) of R[n]/[start/]period or R[n]/period/end: SpiffWorkflow's reading, counted
    from `now` when no start is given."""
    parts = expression.upper().replace("--", "/").strip("R").split("/")
    cycles = int(parts[0]) if parts[0] else -1
    first = time_or_duration(parts[1])
    second = time_or_duration(parts[2]) if len(parts) == 3 else None
    if isinstance(first, datetime) and isinstance(second, dict):
        return cycles, first, TimerEventDefinition.get_timedelta_from_start(second, first)
    if isinstance(first, dict) and isinstance(second, datetime):
        period = TimerEventDefinition.get_timedelta_from_end(first, second)
        return cycles, second - period, period
    if isinstance(first, dict) and second is None:
        period = TimerEventDefinition.get_timedelta_from_start(first, now)
        return cycles, now + period, period
    raise ValueError("Invalid recurring interval")


def _validated(my_task: Any, kind: str, value: Any) -> None:
    try:
        validate_timer_value(kind, value, engine_now())
    except TimerRefused as exc:
        element = getattr(my_task.task_spec, "bpmn_id", None) or my_task.task_spec.name
        raise TimerRefused(
            Text("Timern i %(element)r kan inte användas: %(exc)s", element=element, exc=exc), my_task
        ) from None


def _fired(my_task: Any, due: datetime) -> bool:
    # A timer is due AT its due moment: SpiffWorkflow asks `due < now`, we ask `due <= now`, so that a clock standing
    # exactly on the due time fires it (lateness 0) and timers made in that step count from the due moment itself.
    if due <= engine_now():
        spiff_api.set_internal(my_task, event_fired=True)
    return bool(spiff_api.internal(my_task, "event_fired", False))


# --- our timer event definitions --------------------------------------------------------------------------------------
class ClockTimeDateEventDefinition(TimeDateEventDefinition):
    """timeDate: the moment the expression gives (a duration is read from now), validated before it is used."""

    get_datetime = staticmethod(due_moment)

    def has_fired(self, my_task: Any) -> bool:
        event_value = spiff_api.internal(my_task, "event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            _validated(my_task, "date", event_value)
            spiff_api.set_internal(my_task, event_value=event_value)
        # A duration here is accepted by the validation (as SpiffWorkflow parses one) and then fails to compare with
        # now, as it does in SpiffWorkflow: an incident on the element.
        moment: Any = time_or_duration(event_value)
        return _fired(my_task, moment)


class ClockDurationTimerEventDefinition(DurationTimerEventDefinition):
    """timeDuration: due the duration after the moment the timer started waiting (stored as its event value)."""

    get_datetime = staticmethod(due_moment)

    def has_fired(self, my_task: Any) -> bool:
        event_value = spiff_api.internal(my_task, "event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            _validated(my_task, "duration", expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            # written in the clock's own offset, as before: the stored value reads the same
            event_value = (engine_now() + TimerEventDefinition.get_timedelta_from_start(parsed, _utc_now())).isoformat()
            spiff_api.set_internal(my_task, event_value=event_value)
        return _fired(my_task, due_moment(event_value))


class ClockCycleTimerEventDefinition(CycleTimerEventDefinition):
    """timeCycle: {"cycles", "next", "duration"} as SpiffWorkflow keeps it; each due `next` fires once."""

    get_datetime = staticmethod(due_moment)

    def cycle_complete(self, my_task: Any) -> bool:
        event_value = spiff_api.internal(my_task, "event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            _validated(my_task, "cycle", expression)
            cycles, start, duration = recurring_interval(expression, _utc_now())
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
            spiff_api.set_internal(my_task, event_fired=True)
        spiff_api.set_internal(my_task, event_value=event_value)
        return ready


OUR_TIMERS: dict[type[TimerEventDefinition], type[TimerEventDefinition]] = {
    TimeDateEventDefinition: ClockTimeDateEventDefinition,
    DurationTimerEventDefinition: ClockDurationTimerEventDefinition,
    CycleTimerEventDefinition: ClockCycleTimerEventDefinition,
}


def ours(definition: TimerEventDefinition) -> TimerEventDefinition:
    """The same timer as our class (the parser made SpiffWorkflow's)."""
    cls = OUR_TIMERS.get(type(definition))
    if cls is None:
        return definition
    return cls(definition.name, definition.expression, description=definition.description)


class ClockTimerParsing:
    """Mixed into SpiffWorkflow's event parsers (engine/bpmn/parsing.py): every timer it parses is one of ours.
    `parse_timer_event` is the parser's own method for a timerEventDefinition (also inside an event-based gateway's
    or a multiple event's definitions)."""

    def parse_timer_event(self, event: Any) -> TimerEventDefinition:
        return ours(super().parse_timer_event(event))  # type: ignore[misc]


# What the serializer needs to know about our timers: SpiffWorkflow's converter, under SpiffWorkflow's type name (a
# state or spec serialized before these classes existed restores into them; one serialized now reads as before).
SERIALIZER_CONFIG: dict[type, Any] = {
    ours_cls: spiff_api.converter_named(TimerConditionalEventDefinitionConverter, spiff_cls.__name__)
    for spiff_cls, ours_cls in OUR_TIMERS.items()
}


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


MAX_HORIZON = timedelta(days=36_525)  # 100 years: no timer of a care transition is further away
MIN_CYCLE = timedelta(seconds=1)  # a cycle fires at most once a second (a zero period would fire without end)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_MAX_TIMER_TEXT = 200
_APPROX_SECONDS = {
    "years": 365.25 * 86400,
    "months": 31 * 86400,  # the longest month: an upper bound of the horizon
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}
_SHORTEST = {**_APPROX_SECONDS, "years": 365 * 86400, "months": 28 * 86400}  # a lower bound of a cycle's period


class TimerRefused(ValueError):
    """A timer value that the engine will not wait for; `task` is the SpiffWorkflow task whose timer it is (set at
    run time), so the incident names the element."""

    def __init__(self, message: str, task: Any = None):
        super().__init__(message)
        self.task = task


def _duration_bounds(text: str) -> tuple[float, float]:
    """(shortest, longest) seconds an ISO 8601 duration can mean (months and years vary in length)."""
    parts = parse_duration(text)
    return (
        sum(_SHORTEST[k] * v for k, v in parts.items()),
        sum(_APPROX_SECONDS[k] * v for k, v in parts.items()),
    )


def _moment(text: str) -> datetime:
    if "W" in text.upper() and not text.upper().startswith("P"):
        moment = iso_week_moment(text)
    else:
        moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=STOCKHOLM) if moment.tzinfo is None else moment


def _check_moment(text: str, now: datetime | None) -> None:
    try:
        moment = _moment(text)
    except (ValueError, AttributeError, TypeError) as exc:
        raise TimerRefused(Text("%(text)r är ingen ISO 8601-tidpunkt", text=text)) from exc
    if moment < _EARLIEST:
        raise TimerRefused(Text("tidpunkten %(text)r ligger före år 1900", text=text))
    if now is not None and moment - now > MAX_HORIZON:
        raise TimerRefused(Text("tidpunkten %(text)r ligger mer än 100 år fram", text=text))
    if now is None and moment.year > 2200:
        raise TimerRefused(Text("tidpunkten %(text)r ligger för långt fram", text=text))


def _check_duration(text: str, *, cycle: bool) -> None:
    try:
        shortest, longest = _duration_bounds(text)
    except ValueError as exc:
        raise TimerRefused(Text("%(text)r är ingen ISO 8601-varaktighet (t.ex. PT24H, P3D)", text=text)) from exc
    if longest > MAX_HORIZON.total_seconds():
        raise TimerRefused(Text("varaktigheten %(text)r är längre än 100 år", text=text))
    if cycle and shortest < MIN_CYCLE.total_seconds():
        raise TimerRefused(Text("cykelns intervall %(text)r är kortare än en sekund", text=text))


def validate_timer_value(kind: str, value: Any, now: datetime | None = None) -> None:
    """Raise TimerRefused (a ValueError, Swedish) unless `value` (a timer's ISO text, as written or as its expression
    evaluated) is what a timer of this kind may wait for: a duration of at most 100 years, a moment no more than
    100 years after `now` (and not before 1900), a cycle whose interval is at least a second. Checked at deploy for
    what is written as ISO text and again at run time for every evaluated value, before SpiffWorkflow computes
    anything from it (its month arithmetic loops once per month: a duration of a billion years would never end)."""
    if not isinstance(value, str):
        raise TimerRefused(Text("timern gav %(kind)s, inte ISO 8601-text", kind=type(value).__name__))
    text = value.strip()
    if not text or len(text) > _MAX_TIMER_TEXT:
        raise TimerRefused("timerns värde är tomt eller för långt")
    if kind == "duration":
        _check_duration(text, cycle=False)
    elif kind == "date":
        if text.upper().startswith("P"):
            _check_duration(text, cycle=False)  # SpiffWorkflow accepts a duration in timeDate too
        else:
            _check_moment(text, now)
    elif kind == "cycle":
        if not _RECURRING.match(text):
            raise TimerRefused(Text("cykeln %(text)r ska börja med R eller Rn/ (t.ex. R/P1D)", text=text))
        count = text.upper().split("/", 1)[0][1:]
        if count and int(count) == 0:
            raise TimerRefused(Text("cykeln %(text)r upprepas noll gånger", text=text))
        parts = text.split("/")[1:]
        if not 1 <= len(parts) <= 2:
            raise TimerRefused(Text("cykeln %(text)r ska vara R[n]/[start/]intervall", text=text))
        durations = [p for p in parts if p.upper().startswith("P")]
        if len(durations) != 1:
            raise TimerRefused(Text("cykeln %(text)r ska ha precis ett intervall (t.ex. P1D)", text=text))
        _check_duration(durations[0], cycle=True)
        for part in parts:
            if part not in durations:
                _check_moment(part, now)
    else:
        raise TimerRefused(Text("okänd timertyp %(kind)s", kind=kind))


def timer_problem(kind: str, value: Any, now: datetime | None = None) -> str | None:
    """What is wrong with a timer value (Swedish), or None."""
    try:
        validate_timer_value(kind, value, now)
    except TimerRefused as exc:
        return str(exc)
    return None
