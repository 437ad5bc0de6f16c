"""Durable background jobs (engine/jobs/queue.py): claimed with a lease, taken again when their process died, retried
up to max_attempts and then failed with the reason; two claimers on PostgreSQL never take one job; the embedded
scheduler runs a queued job at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from engine.domain.boundary import DataRefused
from engine.domain.clock import SimulatedClock
from engine.jobs.queue import ClaimedJob, JobQueue, PermanentJobError
from engine.jobs.scheduler import TimerScheduler
from engine.persistence.models import Job

LEASE_SECONDS = 30.0


@pytest.fixture
def lease_clock() -> SimulatedClock:
    """The real clock's part (leases, back-off), moved by the test: no sleeping."""
    return SimulatedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def queue_of(platform, lease_clock, worker: str) -> JobQueue:  # type: ignore[no-untyped-def]
    return JobQueue(platform.db, platform.clock, lease_clock=lease_clock, lease_seconds=LEASE_SECONDS, worker=worker)


def job_row(platform, job_id: int) -> Job:  # type: ignore[no-untyped-def]
    with platform.db.read() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)  # read after the transaction ends
        return row


def wait_done(queue: JobQueue, count: int) -> None:
    """The runner records a job as done just after its handler returned: wait for that before stopping."""
    pause = threading.Event()
    for _ in range(500):
        if queue.counts()["done"] == count:
            return
        pause.wait(0.02)
    raise AssertionError(f"{count} jobs were not recorded as done")


def test_a_queued_job_runs_once_and_records_its_times_and_result(platform, lease_clock):
    queue = queue_of(platform, lease_clock, "one")
    seen: list[dict] = []  # type: ignore[type-arg]
    queue.register("echo", lambda job: seen.append(job.payload) or f"echo/{job.payload['n']}")
    job_id = queue.submit("echo", {"n": 7})
    assert job_id is not None and job_row(platform, job_id).status == "queued"
    assert queue.run_available() == 1 and queue.run_available() == 0
    row = job_row(platform, job_id)
    assert seen == [{"n": 7}]
    assert (row.status, row.attempts, row.result_ref, row.claimed_until) == ("done", 1, "echo/7", None)
    assert row.created_at == row.started_at == row.finished_at == platform.clock.now()  # the installation's clock
    assert queue.counts() == {"queued": 0, "running": 0, "done": 1, "failed": 0}


def test_the_payload_passes_the_data_boundary(platform, lease_clock):
    queue = queue_of(platform, lease_clock, "one")
    with pytest.raises(DataRefused), platform.db.unit_of_work() as session:
        queue.enqueue(session, "echo", {"typename": "Workflow"})  # a serializer marker is not data
    with platform.db.read() as session:
        assert session.scalar(select(Job.id)) is None


def test_a_job_whose_process_died_is_claimed_again_when_its_lease_runs_out(platform, lease_clock):
    dead = queue_of(platform, lease_clock, "dead-host:1")
    alive = queue_of(platform, lease_clock, "new-host:2")
    resumed: list[ClaimedJob] = []
    for queue in (dead, alive):
        queue.register("work", lambda job: resumed.append(job) or "ok", max_attempts=3)
    job_id = dead.submit("work", {"step": 1})
    claimed = dead.claim()  # ... and the process is killed before it finishes
    assert claimed is not None and job_row(platform, job_id).claimed_by == "dead-host:1"
    assert alive.claim() is None  # its lease still holds
    lease_clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    assert alive.run_available() == 1
    (job,) = resumed
    assert job.resumed and job.attempt == 2
    row = job_row(platform, job_id)
    assert (row.status, row.claimed_by, row.attempts) == ("done", "new-host:2", 2)
    dead.finish(claimed, "late")  # the dead worker's late word changes nothing: the job is no longer its own
    assert job_row(platform, job_id).result_ref == "ok"


def test_a_job_of_a_killed_process_on_this_host_is_taken_over_without_waiting_for_its_lease(platform, lease_clock):
    """`make run` killed and started again: the new process sees that the claimer's pid is gone."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    host = socket.gethostname()[:60]
    dead = queue_of(platform, lease_clock, f"{host}:{dead_pid}:0000")
    alive = queue_of(platform, lease_clock, f"{host}:{os.getpid()}:1111")
    for queue in (dead, alive):
        queue.register("work", lambda job: "ok")
    dead.submit("work")
    assert dead.claim() is not None
    assert alive.claim() is None and alive.expire_dead_local_claims() == 1
    assert alive.run_available() == 1  # at once: the lease has not run out on the clock


def test_a_renewed_lease_keeps_a_long_job_its_own(platform, lease_clock):
    runner = queue_of(platform, lease_clock, "runner")
    other = queue_of(platform, lease_clock, "other")
    runner.register("long", lambda job: "ok")
    other.register("long", lambda job: "ok")
    runner.submit("long")
    job = runner.claim()
    assert job is not None
    lease_clock.advance(timedelta(seconds=LEASE_SECONDS - 1))
    assert runner.renew(job.id)
    lease_clock.advance(timedelta(seconds=LEASE_SECONDS - 1))
    assert other.claim() is None  # renewed: not taken over


def test_failures_are_retried_with_a_back_off_and_end_failed_with_the_error(platform, lease_clock):
    queue = queue_of(platform, lease_clock, "one")
    failed: list[tuple[int, str]] = []

    def boom(job: ClaimedJob) -> str:
        raise RuntimeError(f"SMTP away (attempt {job.attempt})")

    queue.register("flaky", boom, on_failed=lambda job, error: failed.append((job.id, error)), max_attempts=3)
    job_id = queue.submit("flaky")
    assert queue.run_available() == 1
    row = job_row(platform, job_id)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "RuntimeError: SMTP away (attempt 1)")
    assert queue.run_available() == 0  # the back-off: not before run_after
    for attempt in (2, 3):
        lease_clock.set(job_row(platform, job_id).run_after)
        assert queue.run_available() == 1
        assert job_row(platform, job_id).attempts == attempt
    row = job_row(platform, job_id)
    assert (row.status, row.last_error) == ("failed", "RuntimeError: SMTP away (attempt 3)")
    assert row.finished_at is not None and failed == [(job_id, "RuntimeError: SMTP away (attempt 3)")]
    lease_clock.advance(timedelta(hours=1))
    assert queue.run_available() == 0  # failed for good


def test_a_permanent_failure_is_not_retried(platform, lease_clock):
    queue = queue_of(platform, lease_clock, "one")

    def refuse(job: ClaimedJob) -> str:
        raise PermanentJobError("version 9 finns inte")

    queue.register("strict", refuse, max_attempts=5)
    job_id = queue.submit("strict")
    queue.run_available()
    row = job_row(platform, job_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "version 9 finns inte")


def test_a_job_interrupted_on_its_last_attempt_ends_failed_with_the_reason(platform, lease_clock):
    dead = queue_of(platform, lease_clock, "dead-host:1")
    alive = queue_of(platform, lease_clock, "new-host:2")
    failed: list[str] = []
    for queue in (dead, alive):
        queue.register("once", lambda job: "ok", on_failed=lambda job, error: failed.append(error), max_attempts=1)
    job_id = dead.submit("once")
    assert dead.claim() is not None
    lease_clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    assert alive.run_available() == 0
    row = job_row(platform, job_id)
    assert row.status == "failed" and "dead-host:1" in row.last_error and "alla 1 försök" in row.last_error
    assert failed == [row.last_error]


def test_periodic_work_is_queued_once_while_it_waits(platform, lease_clock):
    queue = queue_of(platform, lease_clock, "one")
    queue.register("tick", lambda job: "ok")
    queue.every("tick", 60)
    assert queue.queue_periodic() == 1
    assert queue.queue_periodic() == 0  # already waiting
    assert queue.run_available() == 1
    assert queue.queue_periodic() == 1  # done: may be queued again


def test_the_embedded_scheduler_runs_a_queued_job_at_once(platform):
    """`make run`: one process, the in-process scheduler woken by the commit (its safety interval is an hour)."""
    queue = JobQueue(platform.db, platform.clock)
    ran = threading.Semaphore(0)
    queue.register("ping", lambda job: ran.release() or "ok")
    scheduler = TimerScheduler(platform.timers, safety_seconds=3600, jobs=queue)
    scheduler.start()
    try:
        for _ in range(2):  # the second after the first ran: each commit wakes the loop
            queue.submit("ping")
            assert ran.acquire(timeout=10)
        wait_done(queue, 2)
    finally:
        scheduler.shutdown(wait=True)


def test_the_embedded_scheduler_retries_a_failed_job_after_its_back_off(platform):
    queue = JobQueue(platform.db, platform.clock)
    attempts: list[int] = []
    succeeded = threading.Event()

    def flaky(job: ClaimedJob) -> str:
        attempts.append(job.attempt)
        if job.attempt == 1:
            raise ConnectionError("SMTP away")
        succeeded.set()
        return "ok"

    queue.register("flaky", flaky)
    scheduler = TimerScheduler(platform.timers, safety_seconds=3600, jobs=queue)
    scheduler.start()
    try:
        queue.submit("flaky")
        assert succeeded.wait(15)  # 2 s of back-off, then the retry armed by the failed round
        wait_done(queue, 1)
    finally:
        scheduler.shutdown(wait=True)
    assert attempts == [1, 2]


# --------------------------------------------------------------------------------------------------- PostgreSQL


def test_two_claimers_on_postgresql_never_take_one_job(postgres_platform, lease_clock):
    p = postgres_platform
    first = queue_of(p, lease_clock, "first")
    second = queue_of(p, lease_clock, "second")
    for queue in (first, second):
        queue.register("work", lambda job: "ok")
    ids = [first.submit("work", {"i": i}) for i in range(3)]
    # One claimer holds the oldest job's row (its claim not yet committed): the other skips it, never waits.
    with p.db.engine.connect() as holder, holder.begin() as transaction:
        holder.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": ids[0]})
        taken = second.claim()
        assert taken is not None and taken.id == ids[1]
        transaction.rollback()
    # Both claiming at once, many jobs: each job is taken by exactly one.
    many = [first.submit("work", {"i": i}) for i in range(60)]
    claims: dict[str, list[int]] = {"first": [], "second": []}
    start = threading.Barrier(2)

    def claim_all(queue: JobQueue) -> None:
        start.wait()
        while (job := queue.claim()) is not None:
            claims[queue.worker].append(job.id)

    threads = [threading.Thread(target=claim_all, args=(q,)) for q in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    taken_ids = claims["first"] + claims["second"]
    assert len(taken_ids) == len(set(taken_ids))
    assert set(taken_ids) == (set(ids) | set(many)) - {ids[1]}
    with p.db.read() as session:
        owners = dict(session.execute(select(Job.id, Job.claimed_by)).all())
    assert all(owners[i] == "first" for i in claims["first"]) and all(owners[i] == "second" for i in claims["second"])


def test_a_job_queued_on_postgresql_wakes_the_scheduler_of_another_process(postgres_platform):
    """NOTIFY from the jobs trigger (migration 0023) through the timers' LISTEN connection (engine/jobs/wakeup.py)."""
    p = postgres_platform
    ran = threading.Event()
    runner = JobQueue(p.db, p.clock)
    runner.register("ping", lambda job: ran.set() or "ok")
    scheduler = TimerScheduler(p.timers, safety_seconds=3600, listen_url=p.settings.database_url, jobs=runner)
    scheduler.start()
    try:
        assert scheduler.listener is not None and scheduler.listener.wait_listening(10)
        elsewhere = JobQueue(p.db, p.clock)  # another process: its commit does not call the runner's listeners
        elsewhere.submit("ping")
        assert ran.wait(10)
        wait_done(runner, 1)
    finally:
        scheduler.shutdown(wait=True)
