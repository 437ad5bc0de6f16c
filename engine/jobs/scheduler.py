"""Due timers -> fire-timer commands (convention 3). The database is the truth; APScheduler only wakes us.

One APScheduler job is re-armed for the next `due_at` after every round, and a safety interval job wakes the loop
even if nobody re-arms it (a timer written by another process). Each round fires every due timer in due order
through `Runtime.fire_timer`, which locks the instance (SKIP LOCKED on PostgreSQL) and re-reads the timer row under
that lock: two scheduler processes never fire one timer twice, and a killed process leaves rows that the next round
fires.

With a job queue (engine/jobs/queue.py) the same scheduler runs the durable background jobs: a wake-up job whenever a
job is queued (in this process through the queue's listeners, from others through the PostgreSQL NOTIFY that also
wakes the timers), a safety interval that also takes over the jobs of a process that died, and the periodic kinds
(the notifications' sync) queued on their intervals.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select

from engine.commands.runtime import MAX_TIMER_ATTEMPTS, Runtime
from engine.domain.actors import Actor
from engine.domain.clock import SettableClock
from engine.jobs.heartbeat import SchedulerSlots
from engine.jobs.queue import JobQueue
from engine.jobs.wakeup import TimerListener
from engine.metrics import TIMER_LATENESS, TIMERS_FIRED
from engine.persistence.models import Timer

log = logging.getLogger(__name__)
SCHEDULER_ACTOR = Actor("scheduler", frozenset({"admin"}), name="Tidsstyrning")


@dataclass
class RoundResult:
    fired: int
    skipped: int


class ClockNotSimulated(Exception):
    """Advancing the clock was asked of a real clock."""


@dataclass
class AdvanceResult:
    now: datetime
    fired: int
    steps: int


class TimerLoop:
    def __init__(self, runtime: Runtime, batch: int = 200):
        self.runtime = runtime
        self.batch = batch
        self._lock = threading.RLock()
        self.last_skipped = 0
        self._new_due: datetime | None = None  # the earliest timer written by this process since it was last reset
        runtime.timer_listeners.append(self._heard)

    def _heard(self, due_at: datetime) -> None:
        if self._new_due is None or due_at < self._new_due:
            self._new_due = due_at

    def _refresh_clock(self) -> None:
        """A shared simulated clock is read once per round (another process may have moved it)."""
        refresh = getattr(self.runtime.clock, "refresh", None)
        if refresh is not None:
            refresh()

    def run_due(self, max_rounds: int = 1000, refresh_clock: bool = True) -> RoundResult:
        """Fire every timer that is due now, soonest first. Returns how many fired and how many were taken by
        someone else (another scheduler, an instance locked by a command, or cancelled meanwhile)."""
        fired = skipped = 0
        with self._lock:
            if refresh_clock:
                self._refresh_clock()
            for _ in range(max_rounds):
                due = self.runtime.due_timers(limit=self.batch)
                if not due:
                    skipped = 0  # whatever was skipped earlier is gone now
                    break
                self._new_due = None
                progress = False
                round_skipped = 0
                for timer_id, due_at in due:
                    if self._fire_one(timer_id, due_at):
                        fired += 1
                        progress = True
                    else:
                        round_skipped += 1
                skipped = round_skipped
                if not progress:
                    break
                if len(due) < self.batch and not round_skipped and not self._made_due_now():
                    break  # all that was due fired and nothing it made is due yet: no need to ask again
            self.last_skipped = skipped
        return RoundResult(fired, skipped)

    def _record_failure(self, timer_id: int, exc: Exception) -> None:
        """Back-off and, after a few attempts, an incident (Runtime.timer_failed), so that a timer that keeps failing
        is not retried every round forever. If even that cannot be written (the database is down), the next round
        tries again."""
        try:
            if self.runtime.timer_failed(timer_id, exc):
                log.warning("timer %s failed too often and is now an incident: %s", timer_id, exc)
        except Exception:  # noqa: BLE001
            log.exception("the failure of timer %s could not be recorded", timer_id)

    def _made_due_now(self) -> bool:
        return self._new_due is not None and self._new_due <= self.runtime.clock.now()

    def read_ahead(self, until: datetime, horizon: timedelta = timedelta(seconds=60)) -> int:
        """While nothing is due (until `until`), restore into the runtime's flow cache the workflows of instances
        whose timers fall due within `horizon`, soonest first, so that each fires at its due moment without first
        deserializing its workflow (a cold instance costs about twice a warm one). Returns how many were warmed."""
        clock = self.runtime.clock
        now = clock.now()
        if until <= now:
            return 0
        with self.runtime.db.read() as session:
            rows = session.execute(
                select(Timer.instance_id)
                .where(Timer.due_at > now, Timer.due_at <= now + horizon)
                .order_by(Timer.due_at, Timer.id)
                .limit(max(1, self.runtime.flow_cache_size // 2))
            ).scalars()
            upcoming = [i for i in dict.fromkeys(rows) if not self.runtime.is_flow_cached(i)]
        if not upcoming:
            return 0
        with self._lock:
            return self.runtime.warm_flows(upcoming, keep_going=lambda: clock.now() < until)

    def next_due(self, after: datetime | None = None) -> datetime | None:
        """The next moment a timer is to be fired: the earliest due_at of the timers that never failed, or the next
        attempt of one that did (back-off); timers that failed too often wait for a coordinator and are left out,
        so that the loop does not spin on them."""
        with self.runtime.db.read() as session:
            # ORDER BY ... LIMIT 1 walks the due_at index and stops at the first row; min() with a WHERE would
            # read every waiting timer (a few ms per round with thousands waiting).
            fresh = select(Timer.due_at).where(Timer.attempts == 0).order_by(Timer.due_at).limit(1)
            retry = (
                select(Timer.next_attempt_at)
                .where(Timer.next_attempt_at.is_not(None), Timer.attempts < MAX_TIMER_ATTEMPTS)
                .order_by(Timer.next_attempt_at)
                .limit(1)
            )
            if after is not None:
                fresh = fresh.where(Timer.due_at > after)
                retry = retry.where(Timer.next_attempt_at > after)
            moments = [m for m in (session.scalar(fresh), session.scalar(retry)) if m is not None]
            return min(moments) if moments else None

    def fire_window(self, horizon: timedelta, share: tuple[int, int] | None = None) -> tuple[int, int]:
        """Fire the timers falling due within `horizon` from now, each at its own moment (sleeping until it), from
        one query. Dense timers (hundreds a second) then cost one query per window instead of a round with its
        queries and an APScheduler job per firing. Stops early when this process writes an earlier timer. With
        `share` (slot, slots) only the timers of instances whose id modulo `slots` is `slot`: schedulers holding
        different slots do not race for the same timers (each one's `run_due` still fires whatever is due and
        late, so the share of a scheduler that died is not lost). Returns (fired, how many the window held)."""
        clock = self.runtime.clock
        with self._lock:
            now = clock.now()
            query = (
                select(Timer.id, Timer.due_at)
                .where(
                    Timer.due_at <= now + horizon,
                    Timer.attempts < MAX_TIMER_ATTEMPTS,
                    Timer.next_attempt_at.is_(None) | (Timer.next_attempt_at <= now),
                )
                .order_by(Timer.due_at, Timer.id)
                .limit(self.batch)
            )
            if share is not None:
                query = query.where((Timer.instance_id % share[1]) == share[0])
            with self.runtime.db.read() as session:
                window = session.execute(query).all()
            self._new_due = None
            fired = skipped = 0
            for timer_id, due_at in window:
                if self._new_due is not None and self._new_due < due_at:
                    break  # something earlier was written meanwhile: plan again
                wait = (due_at - clock.now()).total_seconds()
                if wait > 0:
                    time.sleep(wait)
                if self._fire_one(timer_id, due_at):
                    fired += 1
                else:
                    skipped += 1
            self.last_skipped = skipped
            return fired, len(window)

    def _fire_one(self, timer_id: int, due_at: datetime) -> bool:
        try:
            if self.runtime.fire_timer(timer_id, SCHEDULER_ACTOR):
                TIMERS_FIRED.inc()
                TIMER_LATENESS.observe(max(0.0, (self.runtime.clock.now() - due_at).total_seconds()))
                return True
        except Exception as exc:  # noqa: BLE001 - one bad timer must not stop the others
            log.exception("timer %s could not fire", timer_id)
            self._record_failure(timer_id, exc)
        return False

    def advance(self, delta: timedelta) -> AdvanceResult:
        """Move a simulated clock forward by `delta`, firing what falls due on the way in due order, each at its
        own due moment: the clock steps to each next due time in turn (so lateness is 0), the loop fires what is
        due there (which may make new timers, fired too if they fall before the end), then the clock moves on."""
        if not getattr(self.runtime.clock, "simulated", False) or not hasattr(self.runtime.clock, "set"):
            raise ClockNotSimulated("Klockan är verklig; bara en simulerad klocka kan flyttas")
        clock = cast(SettableClock, self.runtime.clock)
        if delta < timedelta(0):
            raise ValueError("Klockan går inte baklänges")
        fired = steps = 0
        with self._lock:
            self._refresh_clock()
            target = clock.now() + delta
            while True:
                fired += self.run_due(refresh_clock=False).fired
                nxt = self.next_due(after=clock.now())
                if nxt is None or nxt > target:
                    break
                clock.set(nxt)
                steps += 1
            if target > clock.now():
                clock.set(target)
                fired += self.run_due(refresh_clock=False).fired
        return AdvanceResult(clock.now(), fired, steps)


class TimerScheduler:
    """APScheduler around a TimerLoop: a wake-up job at the next due time plus a safety interval. With `slots`
    (engine/jobs/heartbeat.py) it fires only while it holds a scheduler slot; with `listen_url` (PostgreSQL) it also
    wakes when another process commits a timer (engine/jobs/wakeup.py)."""

    JOB_ID = "samflode-timers"

    def __init__(
        self,
        loop: TimerLoop,
        safety_seconds: float = 30.0,
        blocking: bool = False,
        slots: SchedulerSlots | None = None,
        listen_url: str | None = None,
        jobs: JobQueue | None = None,
    ):
        self.loop = loop
        self.jobs = jobs
        self.safety_seconds = safety_seconds
        self.busy_backoff = timedelta(milliseconds=10)
        self.read_ahead_margin = timedelta(milliseconds=20)
        # Timers falling due this soon are fired from one query, each at its moment, in the same job, instead of a
        # round and a new APScheduler job for each (dense timers: the round would cost more than the firing).
        self.inline_horizon = timedelta(milliseconds=200)
        self.inline_budget_seconds = 1.0
        self.blocking = blocking
        self.slots = slots
        self.lost_slot = threading.Event()
        self.listener: TimerListener | None = None
        if listen_url is not None and listen_url.startswith("postgresql"):
            self.listener = TimerListener(listen_url, self.wake)
        self.scheduler = BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")

    def _tick(self) -> None:
        nxt: datetime | None = None
        asked = False
        try:
            result = self.loop.run_due()
            fired = result.fired
            if not getattr(self.loop.runtime.clock, "simulated", False):
                started = time.monotonic()
                while time.monotonic() - started < self.inline_budget_seconds:
                    window_fired, held = self.loop.fire_window(self.inline_horizon, self._share())
                    fired += window_fired
                    if not held or not window_fired:
                        break  # nothing falls due soon, or others hold what does (re-armed with a back-off)
                nxt, asked = self.loop.next_due(), True
                self._read_ahead(nxt)
            if fired:
                log.info("fired %d timers (%d skipped)", fired, self.loop.last_skipped)
        finally:
            self._rearm(nxt, asked)

    def _share(self) -> tuple[int, int] | None:
        """This scheduler's share of the dense timers: (its slot, the slots) when several are configured."""
        if self.slots is None or self.slots.slot is None or self.slots.slots < 2:
            return None
        return self.slots.slot, self.slots.slots

    def _read_ahead(self, nxt: datetime | None) -> None:
        """Use the time until the next due timer (less a margin) to warm the workflows that fall due soon."""
        if nxt is None:
            return
        until = nxt - self.read_ahead_margin
        if until > self.loop.runtime.clock.now():
            warmed = self.loop.read_ahead(until)
            if warmed:
                log.debug("read ahead %d workflows", warmed)

    def _rearm(self, nxt: datetime | None = None, asked: bool = False) -> None:
        """Arm the wake-up job for the next due time (`nxt` when the caller has just asked for it). A simulated
        clock moves only when told (`advance` fires what falls due), so then only the safety interval runs. When
        the last round left due timers that others held (another scheduler, or a command holding the instance),
        wait a little instead of spinning on them."""
        if getattr(self.loop.runtime.clock, "simulated", False):
            return
        if not asked:
            nxt = self.loop.next_due()
        if nxt is None:
            return
        now = self.loop.runtime.clock.now()
        soonest = now + (self.busy_backoff if self.loop.last_skipped else timedelta(milliseconds=1))
        run_at = max(nxt, soonest)
        self.scheduler.add_job(
            self._tick,
            "date",
            run_date=run_at,
            id=self.JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=4,  # a wake-up while a round runs waits on the loop's lock instead of being dropped
        )

    def wake(self) -> None:
        """Called after a command that may have written an earlier timer: re-arm for the new next due time. The
        PostgreSQL wake-up (a timer or a job committed by any process) also looks for jobs."""
        if self.scheduler.running:
            self._rearm()
            if self.listener is not None:
                self.wake_jobs()

    def wake_jobs(self) -> None:
        """Run the queued jobs now, in the scheduler's pool (a long simulation does not hold up the next job: a few
        rounds may run side by side, each claiming its own job)."""
        if self.jobs is None or not self.scheduler.running:
            return
        self._arm_jobs()

    def _arm_jobs(self) -> None:
        self.scheduler.add_job(
            self._run_jobs,
            "date",
            id=f"{self.JOB_ID}-jobs",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=4,
        )

    def _run_jobs(self) -> None:
        if self.jobs is None:
            return
        try:
            ran = self.jobs.run_available()
            if ran:
                log.debug("ran %d background jobs", ran)  # every minute at least: quiet logs
            retry_at = self.jobs.next_run_after()
        except Exception:  # noqa: BLE001 - the database was away: the safety interval tries again
            log.exception("background jobs could not be run")
            return
        if retry_at is not None and self.scheduler.running:
            self.scheduler.add_job(
                self._run_jobs,
                "date",
                run_date=retry_at,
                id=f"{self.JOB_ID}-jobs-retry",
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
            )

    def _queue_periodic(self, kind: str) -> None:
        try:
            if self.jobs is not None and self.jobs.queue_periodic(kind):
                self.wake_jobs()
        except Exception:  # noqa: BLE001 - queued on the next interval
            log.exception("periodic job %s not queued", kind)

    def _start_jobs(self) -> None:
        if self.jobs is None:
            return
        self.jobs.listeners.append(self.wake_jobs)
        try:
            self.jobs.expire_dead_local_claims()
        except Exception:  # noqa: BLE001 - then their leases run out as usual
            log.exception("jobs of dead local processes not looked for")
        self.scheduler.add_job(
            self._run_jobs,
            "interval",
            seconds=self.safety_seconds,
            id=f"{self.JOB_ID}-jobs-safety",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=3,  # a long simulation running in one round does not hold up the others
        )
        for periodic in self.jobs.periodic:
            self.scheduler.add_job(
                self._queue_periodic,
                "interval",
                args=(periodic.kind,),
                seconds=periodic.every_seconds,
                id=f"{self.JOB_ID}-every-{periodic.kind}",
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=None,
                max_instances=1,
            )
        self._arm_jobs()  # what was queued before the start, and what a process that died left behind

    def attach(self) -> None:
        """Re-arm whenever a command writes a timer earlier than what we wait for."""
        self.loop.runtime.timer_listeners.append(lambda _due: self.wake())

    def start(self) -> None:
        """Start firing. With slots: only once a slot is ours (a blocking scheduler stands by here; a background one
        in a thread of its own), and the heartbeat is kept while it runs."""
        if self.slots is None:
            self._start_firing()
            return
        if self.blocking:
            if self.slots.wait_for_slot() is not None:
                self._start_firing()
            return

        def stand_by() -> None:
            if self.slots is not None and self.slots.wait_for_slot() is not None:
                self._start_firing()

        threading.Thread(target=stand_by, name="samflode-scheduler-slot", daemon=True).start()

    def _on_lost_slot(self) -> None:
        """Another process took our slot over (we were thought dead): stop firing; the service manager restarts us
        and we stand by for a free slot."""
        log.error("scheduler slot lost: stopping")
        self.shutdown()

    def _start_firing(self) -> None:
        if self.slots is not None:
            self.slots.keep_beating(self.lost_slot)
            self.scheduler.add_job(
                self._watch_slot, "interval", seconds=1, id=f"{self.JOB_ID}-slot", replace_existing=True
            )
        if self.listener is not None:
            self.listener.start()
        self.attach()
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.safety_seconds,
            id=f"{self.JOB_ID}-safety",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,  # late (a busy start, a simulated clock behind the real one): run, not warn
            max_instances=1,
            next_run_time=self.loop.runtime.clock.now(),
        )
        self._start_jobs()
        self.scheduler.start()

    def _watch_slot(self) -> None:
        if self.lost_slot.is_set():
            self._on_lost_slot()

    def shutdown(self, wait: bool = False) -> None:
        """Stop. A job still running is left to its lease (taken over by the next scheduler); `wait` (tests) waits
        for the rounds and jobs running now to end."""
        if self.jobs is not None and self.wake_jobs in self.jobs.listeners:
            self.jobs.listeners.remove(self.wake_jobs)
        if self.listener is not None:
            self.listener.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        if self.slots is not None:
            self.slots.stop()
