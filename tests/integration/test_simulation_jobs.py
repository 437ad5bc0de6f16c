"""Simulations as durable jobs (engine/features/simulations.py on engine/jobs/queue.py): a run interrupted by a
restart starts over and ends done, or, interrupted on its last attempt, ends failed with the reason; never `running`
forever. A run that fails on its own is not retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.domain.clock import SimulatedClock
from engine.features.simulation import SimulationParams
from engine.features.simulations import JOB_ATTEMPTS, Simulations
from engine.jobs.queue import JobQueue
from engine.persistence.models import Job, SimulationRun
from tests.integration.test_simulation import SMALL, TEAM, deployed  # noqa: F401  (the fixture: the real processes)

LEASE_SECONDS = 30.0


@pytest.fixture
def lease_clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def process(p, lease_clock, worker, folder):  # type: ignore[no-untyped-def]
    """One process's job queue with the simulation kind registered, as engine/platform.py does."""
    queue = JobQueue(p.db, p.clock, lease_clock=lease_clock, lease_seconds=LEASE_SECONDS, worker=worker)
    service = Simulations(p.db, p.clock, p.catalog, p.policy, folder, jobs=queue)
    service.register(queue)
    return queue, service


def die_while_running(p, queue: JobQueue, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """A process claims the run's job, marks the run running (as `execute` does first) and is killed."""
    job = queue.claim()
    assert job is not None and job.payload == {"run_id": run_id}
    with p.db.unit_of_work() as session:
        row = session.get(SimulationRun, run_id)
        row.status, row.started_at, row.progress_done, row.progress_total = "running", p.clock.now(), 5, 50


def run_row(p, run_id: int) -> SimulationRun:  # type: ignore[no-untyped-def]
    with p.db.read() as session:
        row = session.get(SimulationRun, run_id)
        session.expunge(row)
        return row


def job_of(p, run_id: int) -> Job:  # type: ignore[no-untyped-def]
    with p.db.read() as session:
        (row,) = [j for j in session.scalars(select(Job)) if j.payload == {"run_id": run_id}]
        session.expunge(row)
        return row


def test_a_created_run_is_queued_as_a_job_and_the_scheduler_runs_it(deployed, tmp_path, lease_clock):  # noqa: F811
    queue, service = process(deployed, lease_clock, "web", tmp_path)
    run_id = service.create(SimulationParams(candidate_version=2, baseline_version=1, seed=3, **SMALL), TEAM)
    assert job_of(deployed, run_id).status == "queued" and service.get(run_id, TEAM)["status"] == "queued"
    assert queue.run_available() == 1
    run = service.get(run_id, TEAM)
    assert run["status"] == "done" and run["percent"] == 100 and run["result"]["versions"]
    job = job_of(deployed, run_id)
    assert (job.status, job.attempts, job.result_ref) == ("done", 1, f"simulation_runs/{run_id}")


def test_a_run_interrupted_by_a_restart_starts_over_and_ends_done(deployed, tmp_path, lease_clock):  # noqa: F811
    before, service = process(deployed, lease_clock, "before-restart", tmp_path)
    run_id = service.create(SimulationParams(candidate_version=2, baseline_version=1, seed=3, **SMALL), TEAM)
    die_while_running(deployed, before, run_id)
    after, _ = process(deployed, lease_clock, "after-restart", tmp_path)
    assert after.run_available() == 0  # the dead process's lease still holds
    lease_clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    assert after.run_available() == 1
    run = service.get(run_id, TEAM)
    assert run["status"] == "done" and run["percent"] == 100 and run["error"] == ""
    job = job_of(deployed, run_id)
    assert (job.status, job.attempts, job.claimed_by) == ("done", 2, "after-restart")


def test_a_run_interrupted_on_its_last_attempt_ends_failed_with_the_reason(deployed, tmp_path, lease_clock):  # noqa: F811
    first, service = process(deployed, lease_clock, "first", tmp_path)
    run_id = service.create(SimulationParams(candidate_version=2, baseline_version=1, seed=3, **SMALL), TEAM)
    for attempt in range(JOB_ATTEMPTS):
        dying, _ = process(deployed, lease_clock, f"dying-{attempt}", tmp_path)
        die_while_running(deployed, dying, run_id)
        lease_clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    last, _ = process(deployed, lease_clock, "last", tmp_path)
    assert last.run_available() == 0
    row = run_row(deployed, run_id)
    assert row.status == "failed" and row.finished_at is not None
    assert f"dying-{JOB_ATTEMPTS - 1}" in row.error and f"alla {JOB_ATTEMPTS} försök" in row.error
    assert job_of(deployed, run_id).status == "failed"


def test_a_run_that_fails_on_its_own_is_not_retried(deployed, tmp_path, lease_clock, monkeypatch):  # noqa: F811
    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("modellen saknar en roll")

    monkeypatch.setattr("engine.features.simulations.run_simulation", broken)
    queue, service = process(deployed, lease_clock, "web", tmp_path)
    run_id = service.create(SimulationParams(candidate_version=2, baseline_version=1, seed=3, **SMALL), TEAM)
    assert queue.run_available() == 1
    assert (
        service.get(run_id, TEAM)["status"] == "failed"
        and service.get(run_id, TEAM)["error"] == "modellen saknar en roll"
    )
    job = job_of(deployed, run_id)
    assert (job.status, job.attempts, job.last_error) == ("failed", 1, "modellen saknar en roll")


def test_the_command_line_runs_its_run_as_a_job_of_its_own_process(deployed, tmp_path, lease_clock):  # noqa: F811
    """`samflode simulate`: queued and claimed here, so that a scheduler would take it over if the command died."""
    queue, service = process(deployed, lease_clock, "cli", tmp_path)
    other = queue.submit("simulation", {"run_id": 999})  # somebody else's job, older: not the command's to take
    run_id = service.create(SimulationParams(candidate_version=2, baseline_version=1, seed=3, **SMALL), TEAM)
    seen: list[int] = []
    service.run_here(run_id, on_progress=lambda done, total: seen.append(done))
    assert service.get(run_id, TEAM)["status"] == "done" and seen
    job = job_of(deployed, run_id)
    assert (job.status, job.claimed_by, job.result_ref) == ("done", "cli", f"simulation_runs/{run_id}")
    with deployed.db.read() as session:
        assert session.get(Job, other).status == "queued"
