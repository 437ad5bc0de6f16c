"""Durable background jobs (issue 16): work that outlives a request is a row of `jobs`, claimed by a scheduler process.

A job is queued in the transaction that asks for it (a simulation's row and its job commit together), with its
payload checked at the data boundary (engine/domain/boundary.py). A scheduler process claims it (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, so two claimers never take one job; SQLite serialises writers, so there the embedded scheduler
claims it alone) with a lease (`claimed_until`) that it renews while the job runs. A process that dies leaves its job
`running` with a lease that runs out; the next claim takes such a job again, counting the attempt, or, when its
attempts are used up, ends it as `failed` with the reason. A handler that raises is retried with a back-off up to
`max_attempts`, then the job ends `failed` with its error, and the kind's `on_failed` makes the failure visible where
its users look (a simulation shows it on its page).

Times users read (`created_at`, `started_at`, `finished_at`) are the installation's clock; the lease and the back-off
(`claimed_until`, `run_after`) are the real clock's (`lease_clock`), like the scheduler heartbeats: a simulated
clock does not move by itself, so a lease on it would never run out.

Wake-up: committing a queued job calls the in-process `listeners` (the embedded scheduler runs it at once) and, on
PostgreSQL, a trigger sends NOTIFY samflode_timers (migration 0023), which wakes the scheduler processes through
engine/jobs/wakeup.py.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.domain.boundary import check_value
from engine.domain.clock import Clock, SystemClock
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import Job

log = logging.getLogger(__name__)
STATUSES = ("queued", "running", "done", "failed")
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_LEASE_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 300.0


class PermanentJobError(Exception):
    """A failure that a retry would repeat (bad input, a deterministic error): the job ends `failed` at once."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    resumed: bool  # claimed again after its lease ran out (the process running it died)


Handler = Callable[[ClaimedJob], "str | None"]  # returns a reference to the result (e.g. "simulation_runs/7")
FailedHook = Callable[[ClaimedJob, str], None]


@dataclass
class JobKind:
    run: Handler
    on_failed: FailedHook | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass
class Periodic:
    kind: str
    every_seconds: float
    payload: dict[str, Any] = field(default_factory=dict)


def process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class JobQueue:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        lease_clock: Clock | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        worker: str | None = None,
    ):
        self.db = db
        self.clock = clock
        self.lease_clock: Clock = lease_clock or SystemClock()
        self.lease = timedelta(seconds=lease_seconds)
        self.worker = worker or worker_name()
        self.kinds: dict[str, JobKind] = {}
        self.periodic: list[Periodic] = []
        self.listeners: list[Callable[[], None]] = []  # called after a job is committed in this process

    # ------------------------------------------------------------------------------------------------ registry

    def register(
        self,
        kind: str,
        run: Handler,
        on_failed: FailedHook | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.kinds[kind] = JobKind(run, on_failed, max_attempts)

    def every(self, kind: str, seconds: float, payload: dict[str, Any] | None = None) -> None:
        """Queue `kind` every `seconds` while a scheduler runs (once: while one is queued or running, not again)."""
        self.periodic.append(Periodic(kind, seconds, dict(payload or {})))

    # ------------------------------------------------------------------------------------------------ queueing

    def enqueue(
        self,
        session: Session,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        max_attempts: int | None = None,
        unique_key: str | None = None,
    ) -> Job:
        """Add a job in the caller's transaction; the scheduler is woken when that transaction commits."""
        checked = check_value(dict(payload or {}), "payload")
        attempts = max_attempts or (self.kinds[kind].max_attempts if kind in self.kinds else DEFAULT_MAX_ATTEMPTS)
        job = Job(
            kind=kind,
            payload=checked,
            status="queued",
            attempts=0,
            max_attempts=max(1, attempts),
            unique_key=unique_key,
            run_after=self.lease_clock.now(),
            last_error="",
            created_at=self.clock.now(),
        )
        session.add(job)
        event.listen(session, "after_commit", lambda _s: self._notify(), once=True)
        return job

    def submit(self, kind: str, payload: dict[str, Any] | None = None, *, unique_key: str | None = None) -> int | None:
        """Queue a job in a transaction of its own. With `unique_key`: None when such a job is already queued or
        running (periodic work is not piled up)."""
        try:
            with self.db.unit_of_work() as session:
                if unique_key is not None and session.scalar(select(Job.id).where(Job.unique_key == unique_key)):
                    return None
                job = self.enqueue(session, kind, payload, unique_key=unique_key)
                session.flush()
                return job.id
        except IntegrityError:
            return None  # another process queued it meanwhile

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a wake-up that fails leaves the job for the safety interval
                log.exception("job wake-up failed")

    # ------------------------------------------------------------------------------------------------ claiming

    def claim(self, kinds: Iterable[str] | None = None, unique_key: str | None = None) -> ClaimedJob | None:
        """Take the oldest job that is queued and due, or running with a lease that ran out (its process died).
        One whose attempts are used up ends `failed` instead (and the next is looked at). With `unique_key`: only
        that job (a command that runs the job it queued itself, in its own process)."""
        wanted = list(kinds) if kinds is not None else list(self.kinds)
        if not wanted:
            return None
        while True:
            failed: tuple[ClaimedJob, str] | None = None
            with self.db.read() as session:  # idle (most wake-ups): a read, no write transaction nor lock
                probe = select(Job.id).where(self._claimable(wanted, self.lease_clock.now()))
                if unique_key is not None:
                    probe = probe.where(Job.unique_key == unique_key)
                if session.scalar(probe.limit(1)) is None:
                    return None
            with self.db.unit_of_work() as session:
                now = self.lease_clock.now()
                query = select(Job).where(self._claimable(wanted, now)).order_by(Job.id).limit(1)
                if unique_key is not None:
                    query = query.where(Job.unique_key == unique_key)
                if self.db.dialect == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                job = session.scalars(query).first()
                if job is None:
                    return None
                resumed = job.status == "running"
                if resumed:
                    log.warning("job %s (%s) of %s was interrupted; claimed again", job.id, job.kind, job.claimed_by)
                    job.last_error = Text(
                        "avbrutet: processen %(claimed_by)s slutade under försök %(attempts)s",
                        claimed_by=job.claimed_by,
                        attempts=job.attempts,
                    )
                if job.attempts >= job.max_attempts:
                    reason = Text(
                        "%(last_error)s (alla %(max_attempts)s försök använda)",
                        last_error=job.last_error,
                        max_attempts=job.max_attempts,
                    )
                    self._end(job, "failed", reason)
                    failed = (self._claimed(job, resumed), reason)
                else:
                    job.status = "running"
                    job.attempts += 1
                    job.claimed_by = self.worker
                    job.claimed_until = now + self.lease
                    job.started_at = self.clock.now()
                    return self._claimed(job, resumed)
            if failed is not None:
                self._failed_hook(*failed)

    @staticmethod
    def _claimable(kinds: list[str], now: datetime) -> Any:
        """Queued and due, or running with a lease that ran out."""
        return and_(
            Job.kind.in_(kinds),
            or_(
                and_(Job.status == "queued", Job.run_after <= now),
                and_(Job.status == "running", Job.claimed_until < now),
            ),
        )

    @staticmethod
    def _claimed(job: Job, resumed: bool) -> ClaimedJob:
        return ClaimedJob(job.id, job.kind, dict(job.payload or {}), job.attempts, job.max_attempts, resumed)

    def _end(self, job: Job, status: str, error: str = "", result_ref: str | None = None) -> None:
        job.status = status
        job.last_error = error[:4000]
        job.result_ref = result_ref
        job.finished_at = self.clock.now()
        job.claimed_until = None
        job.unique_key = None  # the same periodic work may be queued again

    def _failed_hook(self, job: ClaimedJob, error: str) -> None:
        log.error("job %s (%s) failed for good: %s", job.id, job.kind, error)
        kind = self.kinds.get(job.kind)
        if kind is None or kind.on_failed is None:
            return
        try:
            kind.on_failed(job, error)
        except Exception:  # noqa: BLE001 - the job row already says it failed
            log.exception("the failure of job %s could not be recorded where its users look", job.id)

    def expire_dead_local_claims(self) -> int:
        """A job claimed by a process on this host that is gone (killed; `make run` started again) is taken over at
        once instead of after its lease: the pid in the claimer's name is checked, as for scheduler slots."""
        host = socket.gethostname()[:60]
        with self.db.read() as session:
            running = session.execute(
                select(Job.id, Job.claimed_by).where(Job.status == "running", Job.claimed_by.like(f"{host}:%"))
            ).all()
        expired = 0
        for job_id, claimer in running:
            pid = (claimer or "").split(":")[1] if (claimer or "").count(":") >= 2 else ""
            if claimer == self.worker or not pid.isdigit() or process_running(int(pid)):
                continue
            with self.db.unit_of_work() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.claimed_by == claimer, Job.status == "running")
                    .values(claimed_until=self.lease_clock.now() - timedelta(seconds=1))
                )
            log.info("job %s: its claimer %s is no longer running here; taken over", job_id, claimer)
            expired += 1
        return expired

    def renew(self, job_id: int) -> bool:
        """Extend the lease of a job this worker runs; False when it is no longer ours (taken over, ended)."""
        with self.db.unit_of_work() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.claimed_by == self.worker, Job.status == "running")
                .values(claimed_until=self.lease_clock.now() + self.lease)
            )
            return bool(getattr(result, "rowcount", 0))

    def finish(self, job: ClaimedJob, result_ref: str | None) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(Job, job.id)
            if row is not None and row.claimed_by == self.worker and row.status == "running":
                self._end(row, "done", "", result_ref)

    def fail(self, job: ClaimedJob, error: str, permanent: bool = False) -> bool:
        """Record a failed attempt: queued again after a back-off, or `failed` for good (True then)."""
        final = False
        with self.db.unit_of_work() as session:
            row = session.get(Job, job.id)
            if row is None or row.claimed_by != self.worker or row.status != "running":
                return False
            if permanent or row.attempts >= row.max_attempts:
                self._end(row, "failed", error)
                final = True
            else:
                backoff = min(MAX_BACKOFF_SECONDS, 2.0**row.attempts)
                row.status = "queued"
                row.last_error = error[:4000]
                row.claimed_until = None
                row.run_after = self.lease_clock.now() + timedelta(seconds=backoff)
        if final:
            self._failed_hook(job, error)
        return final

    # ------------------------------------------------------------------------------------------------ running

    def run(self, job: ClaimedJob, handler: Handler | None = None) -> None:
        """Run a claimed job to its end, renewing its lease meanwhile; the outcome is recorded, never raised.
        `handler` instead of the kind's own: the same work with a caller's extras (the command line's progress)."""
        kind = self.kinds.get(job.kind)
        if kind is None:
            self.fail(job, Text("okänd jobbtyp %(kind)r", kind=job.kind), permanent=True)
            return
        if handler is not None:
            kind = JobKind(handler, kind.on_failed, kind.max_attempts)
        done = threading.Event()
        renewer = threading.Thread(
            target=self._keep_lease, args=(job.id, done), name=f"job-{job.id}-lease", daemon=True
        )
        renewer.start()
        try:
            result = kind.run(job)
        except PermanentJobError as exc:
            self.fail(job, str(exc) or type(exc).__name__, permanent=True)
        except KeyboardInterrupt:  # a command run by hand, stopped by its user: ended, not taken over
            self.fail(job, "avbrutet av användaren", permanent=True)
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the job; the scheduler goes on
            log.exception("job %s (%s) attempt %s failed", job.id, job.kind, job.attempt)
            self.fail(job, f"{type(exc).__name__}: {exc}")
        else:
            self.finish(job, result)
        finally:
            done.set()
            renewer.join(timeout=5)

    def _keep_lease(self, job_id: int, done: threading.Event) -> None:
        interval = max(0.05, self.lease.total_seconds() / 3)
        while not done.wait(interval):
            try:
                if not self.renew(job_id):
                    return
            except Exception:  # noqa: BLE001 - the next renewal tries again; the lease outlives a few misses
                log.exception("lease of job %s not renewed", job_id)

    def run_available(self, kinds: Iterable[str] | None = None, max_jobs: int = 1000) -> int:
        """Claim and run jobs until none is due (or `max_jobs` ran). Returns how many were run."""
        wanted = list(kinds) if kinds is not None else None
        ran = 0
        while ran < max_jobs:
            job = self.claim(wanted)
            if job is None:
                break
            self.run(job)
            ran += 1
        return ran

    def queue_periodic(self, kind: str | None = None) -> int:
        """Queue the periodic kinds (or one) that are not already waiting (the scheduler calls this on their
        intervals). Returns how many were queued."""
        chosen = [p for p in self.periodic if kind is None or p.kind == kind]
        return sum(1 for p in chosen if self.submit(p.kind, p.payload, unique_key=f"periodic:{p.kind}"))

    # ------------------------------------------------------------------------------------------------ reading

    def counts(self) -> dict[str, int]:
        with self.db.read() as session:
            rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        found = {status: int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    def health(self) -> dict[str, float]:
        """What an operator watches (/metrics): the oldest queued job's wait in seconds (0 when none is due) and how
        many running jobs have a lease that ran out (their process died; the scheduler takes them again)."""
        now = self.lease_clock.now()
        with self.db.read() as session:
            oldest = session.scalar(
                select(Job.run_after)
                .where(Job.status == "queued", Job.run_after <= now)
                .order_by(Job.run_after)
                .limit(1)
            )
            expired = session.scalar(
                select(func.count()).select_from(Job).where(Job.status == "running", Job.claimed_until < now)
            )
        return {
            "oldest_queued_seconds": max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
            "expired_leases": float(expired or 0),
        }

    def next_run_after(self) -> datetime | None:
        """When the next queued job of a kind run here falls due later (a retry's back-off), or None. Due ones were
        just looked at: a round that ends leaves none that it could take."""
        with self.db.read() as session:
            return session.scalar(
                select(Job.run_after)
                .where(Job.status == "queued", Job.kind.in_(list(self.kinds)), Job.run_after > self.lease_clock.now())
                .order_by(Job.run_after)
                .limit(1)
            )

    def recent(self, limit: int = 50, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs, for the operator (`samflode jobs`) and the command that ran one."""
        with self.db.read() as session:
            query = select(Job).order_by(Job.id.desc()).limit(limit)
            if status is not None:
                query = query.where(Job.status == status)
            if kind is not None:
                query = query.where(Job.kind == kind)
            return [
                {
                    "id": j.id,
                    "kind": j.kind,
                    "payload": dict(j.payload or {}),
                    "status": j.status,
                    "attempts": j.attempts,
                    "max_attempts": j.max_attempts,
                    "claimed_by": j.claimed_by,
                    "last_error": j.last_error,
                    "result_ref": j.result_ref,
                    "created_at": j.created_at.isoformat(),
                    "started_at": j.started_at.isoformat() if j.started_at else None,
                    "finished_at": j.finished_at.isoformat() if j.finished_at else None,
                }
                for j in session.scalars(query)
            ]


class JobWorker:
    """Runs jobs in a thread of its own, woken by the queue's listeners and every `poll_seconds`: for a process that
    serves pages without the APScheduler-based scheduler (tests that serve the app on loopback)."""

    def __init__(self, queue: JobQueue, poll_seconds: float = 5.0):
        self.queue = queue
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.queue.listeners.append(self._wake.set)
        self._thread = threading.Thread(target=self._loop, name="samflode-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.queue.run_available()
            except Exception:  # noqa: BLE001 - the database was away; try again on the next wake-up
                log.exception("jobs could not be run")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._wake.set in self.queue.listeners:
            self.queue.listeners.remove(self._wake.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
