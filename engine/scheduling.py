"""Due timers -> fire-timer commands (convention 3). The database is the truth; APScheduler only wakes us.

One APScheduler job is re-armed for the next `due_at` after every round, and a safety interval job wakes the loop
even if nobody re-arms it (a timer written by another process). Each round fires every due timer in due order
through `Runtime.fire_timer`, which locks the instance (SKIP LOCKED on PostgreSQL) and re-reads the timer row under
that lock: two scheduler processes never fire one timer twice, and a killed process leaves rows that the next round
fires.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import func, select

from engine.directory import Actor
from engine.persistence.models import Timer
from engine.runtime import Runtime

log = logging.getLogger(__name__)
SCHEDULER_ACTOR = Actor("scheduler", frozenset({"admin"}), name="Tidsstyrning")


@dataclass
class RoundResult:
    fired: int
    skipped: int


class TimerLoop:
    def __init__(self, runtime: Runtime, batch: int = 200):
        self.runtime = runtime
        self.batch = batch
        self._lock = threading.Lock()

    def run_due(self, max_rounds: int = 1000) -> RoundResult:
        """Fire every timer that is due now, soonest first. Returns how many fired and how many were taken by
        someone else (another scheduler, or cancelled meanwhile)."""
        fired = skipped = 0
        with self._lock:
            for _ in range(max_rounds):
                due = self.runtime.due_timers(limit=self.batch)
                if not due:
                    break
                progress = False
                for timer_id, _due_at in due:
                    try:
                        if self.runtime.fire_timer(timer_id, SCHEDULER_ACTOR):
                            fired += 1
                            progress = True
                        else:
                            skipped += 1
                    except Exception:  # noqa: BLE001 - one bad timer must not stop the others
                        log.exception("timer %s could not fire", timer_id)
                        skipped += 1
                if not progress:
                    break
        return RoundResult(fired, skipped)

    def next_due(self) -> datetime | None:
        with self.runtime.db.read() as session:
            return session.scalar(select(func.min(Timer.due_at)))


class TimerScheduler:
    """APScheduler around a TimerLoop: a wake-up job at the next due time plus a safety interval."""

    JOB_ID = "samflode-timers"

    def __init__(self, loop: TimerLoop, safety_seconds: float = 30.0, blocking: bool = False):
        self.loop = loop
        self.safety_seconds = safety_seconds
        self.scheduler = BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")

    def _tick(self) -> None:
        try:
            result = self.loop.run_due()
            if result.fired:
                log.info("fired %d timers (%d skipped)", result.fired, result.skipped)
        finally:
            self._rearm()

    def _rearm(self) -> None:
        nxt = self.loop.next_due()
        if nxt is None or getattr(self.loop.runtime.clock, "simulated", False):
            return
        now = self.loop.runtime.clock.now()
        run_at = max(nxt, now + timedelta(milliseconds=5))
        self.scheduler.add_job(
            self._tick,
            "date",
            run_date=run_at,
            id=self.JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def wake(self) -> None:
        """Called after a command that may have written an earlier timer: re-arm for the new next due time."""
        if self.scheduler.running:
            self._rearm()

    def attach(self) -> None:
        """Re-arm whenever a command writes a timer earlier than what we wait for."""
        self.loop.runtime.timer_listeners.append(lambda _due: self.wake())

    def start(self) -> None:
        self.attach()
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.safety_seconds,
            id=f"{self.JOB_ID}-safety",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=self.loop.runtime.clock.now(),
        )
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
