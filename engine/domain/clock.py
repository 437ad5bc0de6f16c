"""Time is injected (convention 4): nothing outside a Clock reads the wall clock."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from engine.domain.text import Text

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock(Protocol):
    simulated: bool

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SettableClock(Clock, Protocol):
    """A simulated clock: it moves only when told (tests, demos, training)."""

    def set(self, moment: datetime) -> None: ...


class SystemClock:
    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to: tests, demos, training and simulations."""

    simulated = True

    def __init__(self, start: datetime | None = None):
        start = start or datetime(2026, 1, 12, 8, 0, tzinfo=STOCKHOLM)
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("aware datetime required")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now = self._now + delta
            return self._now


def local(moment: datetime) -> datetime:
    """The moment in Europe/Stockholm, as users read it."""
    return moment.astimezone(STOCKHOLM)


_STEP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$", re.IGNORECASE)
_STEP_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


def parse_step(text: str) -> timedelta:
    """How far to move a simulated clock, as an operator types it: `3d`, `12h`, `90m`, `30s` or plain seconds."""
    match = _STEP.match(text or "")
    if not match:
        raise ValueError(Text("%(text)r: ange t.ex. 3d, 12h, 90m eller ett antal sekunder", text=text))
    return timedelta(seconds=float(match.group(1)) * _STEP_SECONDS[match.group(2).lower()])
