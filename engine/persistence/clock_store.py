"""The simulated clock that every process of one installation shares (SAMFLODE_CLOCK=simulated).

The time lives in the one `clock_state` row. Each process keeps the value it last read: a command reads it once at
its start (`refresh`: the CLI when it starts, the web app before each request, the scheduler before each round), so
one command sees one consistent "now" and a read costs one query per command, not one per `now()`. Moving the clock
(`set`/`advance`) writes the row under a row lock and never moves it backwards, so two processes advancing at once
end at the later of the two times. Never used in production (Settings.checked refuses it).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.persistence.db import Database
from engine.persistence.models import ClockState

ROW_ID = 1


class StoredSimulatedClock:
    simulated = True

    def __init__(self, db: Database, start: datetime):
        if start.tzinfo is None:
            raise ValueError("StoredSimulatedClock needs an aware start")
        self.db = db
        self.start = start.astimezone(UTC)
        self._now: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            cached = self._now
        return cached if cached is not None else self.refresh()

    def refresh(self) -> datetime:
        """Read the shared time: the row's, or the configured start while nobody has moved the clock yet. Only
        reads, so it is safe inside another command's transaction (the row is written by `set`)."""
        with self.db.read() as session:
            row = session.get(ClockState, ROW_ID)
            moment = row.now if row is not None else self.start
        with self._lock:
            self._now = moment
        return moment

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("aware datetime required")
        stored = self._write(moment.astimezone(UTC))
        with self._lock:
            self._now = stored

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not run backwards")
        self.set(self.refresh() + delta)
        return self.now()

    def _write(self, moment: datetime) -> datetime:
        """Store `moment` unless the row is already later; returns the stored time."""
        try:
            return self._write_once(moment)
        except IntegrityError:  # another process created the row at the same moment: now it exists
            return self._write_once(moment)

    def _write_once(self, moment: datetime) -> datetime:
        with self.db.unit_of_work() as session:
            row = session.scalar(select(ClockState).where(ClockState.id == ROW_ID).with_for_update())
            if row is None:
                row = ClockState(id=ROW_ID, now=moment, updated_at=moment)
                session.add(row)
            elif moment > row.now:
                row.now = moment
                row.updated_at = moment
            return row.now
