"""Wires the core together from Settings: database, clock, catalog, runtime, reads, and every service built on them.

The platform builds each service once (`build`); the web app, the CLI and the scheduler use these, never their own."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from engine.bpmn.sandbox import trusted_call
from engine.commands.accounts import Accounts
from engine.commands.directory import Directory
from engine.commands.drafts import Drafts as ModellerDrafts
from engine.commands.poisoned import PoisonedCases
from engine.commands.runtime import Runtime
from engine.commands.sessions import SessionRules, WebSessions
from engine.config import ConfigError, Settings
from engine.domain.actors import Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock, SystemClock
from engine.features.migration import Migrations
from engine.features.pilot_comparison import PilotComparison, Questionnaires
from engine.features.pilots import Pilots
from engine.features.simulations import Simulations
from engine.jobs.mail import SmtpMailer
from engine.jobs.notifications import JOB_KIND as NOTIFY_JOB
from engine.jobs.notifications import Notifications
from engine.jobs.notifications import register as register_notifications
from engine.jobs.queue import JobQueue
from engine.jobs.scheduler import TimerLoop
from engine.persistence.clock_store import StoredSimulatedClock
from engine.persistence.db import Database
from engine.persistence.roles import privilege_warnings
from engine.reads import Reads
from engine.reads.definitions import Reports
from engine.reads.figures import Figures
from engine.reads.monitoring import Monitoring
from engine.reads.policy import AccessPolicy
from engine.reads.worklist import Drafts as FormDrafts
from engine.reads.worklist import Worklist

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
    # The services on top, each built once here (issue 16): the web app, the CLI and the jobs use these.
    sessions: WebSessions  # signed-in browser sessions with the configured idle time and lifetime
    accounts: Accounts
    worklist: Worklist
    form_drafts: FormDrafts  # forms saved half-filled on the task page
    modeller_drafts: ModellerDrafts  # the modeller's unsaved diagrams
    notifications: Notifications
    monitoring: Monitoring
    pilots: Pilots
    pilot_comparison: PilotComparison
    questionnaires: Questionnaires
    migrations: Migrations
    simulations: Simulations
    poisoned: PoisonedCases

    def simulations_in(self, folder: Path, workers: int) -> Simulations:
        """Simulations writing to another folder with another number of workers (`samflode simulate --out`)."""
        if folder == self.simulations.folder and max(1, workers) == self.simulations.workers:
            return self.simulations
        return Simulations(self.db, self.clock, self.catalog, self.policy, folder, workers, jobs=self.jobs)

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
    # The deadline functions a diagram calls run as trusted code: the sandbox's hook is handed in, not imported by the
    # domain (issue 16).
    catalog = Catalog(settings.processes_dir if settings.processes_dir.is_dir() else None, trusted_call)
    policy = Policy(catalog)
    access = AccessPolicy(catalog)
    runtime = Runtime(db, clock, catalog, policy, flow_cache_size=settings.flow_cache_size, access=access)
    directory = Directory(db)
    figures = Figures(db, catalog)
    reads = Reads.build(db, catalog, policy, clock, access)
    rules = SessionRules(timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_hours))
    sessions = WebSessions(db, clock, rules)
    worklist = Worklist(db, catalog, policy, clock, reads.access)
    comparison = PilotComparison(db, clock, policy, figures)
    jobs = JobQueue(db, clock)
    platform = Platform(
        settings,
        db,
        clock,
        catalog,
        policy,
        runtime,
        Reports(db, catalog, policy),
        directory,
        TimerLoop(runtime),
        figures,
        reads,
        jobs,
        sessions=sessions,
        accounts=Accounts(db, clock, directory, sessions=sessions),
        worklist=worklist,
        form_drafts=FormDrafts(db, clock, reads.log),
        modeller_drafts=ModellerDrafts(db, clock, policy, settings.max_upload_bytes),
        notifications=Notifications(db, worklist, clock, SmtpMailer.from_settings(settings)),
        monitoring=Monitoring(db, policy, clock),
        pilots=Pilots(db, clock, policy),
        pilot_comparison=comparison,
        questionnaires=Questionnaires(db, clock, policy, comparison, runtime),
        migrations=Migrations(runtime),
        simulations=Simulations(
            db, clock, catalog, policy, settings.simulation_dir, settings.simulation_workers, jobs=jobs
        ),
        poisoned=PoisonedCases(runtime),
    )
    register_jobs(platform)
    return platform


NOTIFY_EVERY_SECONDS = 60.0


def register_jobs(p: Platform) -> None:
    """The kinds of background job and what runs them: simulations, and the notifications' sync and e-mail (queued
    every minute while a scheduler runs; `samflode notify` queues and runs one at once)."""
    p.simulations.register(p.jobs)
    register_notifications(p.notifications, p.jobs, p.directory)
    p.jobs.every(NOTIFY_JOB, NOTIFY_EVERY_SECONDS)
