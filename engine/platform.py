"""Wires the core together from Settings: database, clock, catalog, runtime, reports, directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from engine.commands.runtime import Runtime
from engine.config import ConfigError, Settings
from engine.directory import Directory, Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock, SystemClock
from engine.features.simulations import Simulations
from engine.jobs.notifications import JOB_KIND as NOTIFY_JOB
from engine.jobs.notifications import for_platform
from engine.jobs.notifications import register as register_notifications
from engine.jobs.queue import JobQueue
from engine.jobs.scheduler import TimerLoop
from engine.persistence.clock_store import StoredSimulatedClock
from engine.persistence.db import Database
from engine.persistence.roles import privilege_warnings
from engine.reads import Reads
from engine.reads.definitions import Reports
from engine.reads.figures import Figures
from engine.reads.policy import AccessPolicy

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    db: Database
    clock: Clock
    catalog: Catalog
    policy: Policy
    runtime: Runtime
    reports: Reports
    directory: Directory
    timers: TimerLoop  # the scheduler loop of this process (the scheduler job and `clock advance` drive it)
    figures: Figures  # the figures of issue 6 (engine/reads/figures.py), SQL over case_facts
    reads: Reads  # every read of patient data: need to know applied, the access log written (engine/reads)
    jobs: JobQueue  # durable background jobs (engine/jobs/queue.py), run by the scheduler process

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Platform:
    db = Database(settings.database_url)
    if migrate and settings.migrate:
        db.upgrade()
    elif migrate and not db.at_head():
        raise ConfigError(
            "Databasen är inte uppgraderad till den här versionen: kör `samflode init-db` som databasens ägare "
            "(SAMFLODE_MIGRATE=off låter bli att uppgradera vid start)"
        )
    if settings.env == "production":
        for warning in privilege_warnings(db):
            log.warning(warning)
    if clock is None:
        # The simulated clock of an installation lives in the database, so the web process, the scheduler and the
        # CLI share one time; tests hand in an in-memory SimulatedClock instead.
        clock = (
            StoredSimulatedClock(db, datetime.fromisoformat(settings.simulated_start))
            if settings.clock == "simulated"
            else SystemClock()
        )
    catalog = Catalog(settings.processes_dir if settings.processes_dir.is_dir() else None)
    policy = Policy(catalog)
    access = AccessPolicy(catalog)
    runtime = Runtime(db, clock, catalog, policy, flow_cache_size=settings.flow_cache_size, access=access)
    platform = Platform(
        settings,
        db,
        clock,
        catalog,
        policy,
        runtime,
        Reports(db, catalog, policy),
        Directory(db),
        TimerLoop(runtime),
        Figures(db, catalog),
        Reads.build(db, catalog, policy, clock, access),
        JobQueue(db, clock),
    )
    register_jobs(platform)
    return platform


NOTIFY_EVERY_SECONDS = 60.0


def register_jobs(p: Platform) -> None:
    """The kinds of background job and what runs them: simulations, and the notifications' sync and e-mail (queued
    every minute while a scheduler runs; `samflode notify` queues and runs one at once)."""
    Simulations(
        p.db, p.clock, p.catalog, p.policy, p.settings.simulation_dir, p.settings.simulation_workers, jobs=p.jobs
    ).register(p.jobs)
    register_notifications(for_platform(p), p.jobs, p.directory)
    p.jobs.every(NOTIFY_JOB, NOTIFY_EVERY_SECONDS)
