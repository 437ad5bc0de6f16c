"""The simulation runs of the implementation team: create, execute (as a durable background job), list, read.

A run's row in the real database holds its parameters, its progress (for the page's progress bar) and, when done,
the predicted figures side by side; the simulated cases themselves are written by engine/features/simulation.py into
their
own SQLite files under the run's folder and never touch the real cases.

With a job queue (engine/jobs/queue.py) a created run is queued as a `simulation` job in the same transaction and the
scheduler process runs it. A run whose process died (a restart) is claimed again when its lease runs out and starts
over from the beginning (its cases are synthetic and seeded: the same figures); interrupted a second time it ends
`failed` with the reason, never `running` forever. Without a queue (the command line, the demo) the caller runs it."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.domain.actors import Actor, Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock
from engine.domain.errors import BadRequest, Forbidden, NotFound
from engine.domain.text import Text
from engine.features.simulation import SimulationParams, run_simulation
from engine.jobs.queue import ClaimedJob, JobQueue, PermanentJobError
from engine.persistence.db import Database
from engine.persistence.models import AuditEntry, ProcessDefinition, SimulationRun

log = logging.getLogger(__name__)
MAX_CASES_PER_YEAR = 200_000
MAX_DAYS = 3 * 366
PROGRESS_EVERY_SECONDS = 1.0
JOB_KIND = "simulation"
JOB_ATTEMPTS = 2  # one start over after a restart; interrupted again, the run ends failed with the reason


class Simulations:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalog: Catalog,
        policy: Policy,
        folder: Path,
        workers: int = 1,
        jobs: JobQueue | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.policy = policy
        self.folder = folder
        self.workers = max(1, workers)
        self.jobs = jobs

    def register(self, jobs: JobQueue) -> None:
        """Make `simulation` jobs runnable by this queue's scheduler (engine/jobs/kinds.py)."""
        jobs.register(JOB_KIND, self.run_job, self.job_failed, max_attempts=JOB_ATTEMPTS)

    def _require(self, actor: Actor) -> None:
        if not self.policy.can_manage_pilots(actor):
            raise Forbidden("Bara implementeringsteamet får simulera processversioner")

    def check(self, params: SimulationParams) -> None:
        problems: dict[str, list[str]] = {}
        if not 0 < params.cases_per_year <= MAX_CASES_PER_YEAR:
            problems["cases_per_year"] = [
                Text("ange 1–%(max_cases_per_year)s fall per år", max_cases_per_year=MAX_CASES_PER_YEAR)
            ]
        if not 1 <= params.days <= MAX_DAYS:
            problems["days"] = [Text("ange 1–%(max_days)s dagar", max_days=MAX_DAYS)]
        if not 0 <= params.sip_share <= 1:
            problems["sip_share"] = [Text("en andel mellan 0 och 1")]
        if any(not 0 <= p <= 1 for p in params.decisions.values()):
            problems["decisions"] = [Text("sannolikheter mellan 0 och 1")]
        if any(h < 0 or h > 24 * 365 for h in params.durations_hours.values()) or params.default_hours <= 0:
            problems["durations_hours"] = [Text("timmar mellan 0 och ett år")]
        if any(c < 0 for c in params.capacity.values()):
            problems["capacity"] = [Text("antal personal kan inte vara negativt")]
        if problems:
            from engine.domain.errors import ValidationFailed

            raise ValidationFailed("Simuleringen kan inte startas", {"fields": problems})
        with self.db.read() as session:
            for version in {params.candidate_version, params.baseline_version} - {None}:
                found = session.scalar(
                    select(ProcessDefinition.executable).where(
                        ProcessDefinition.process_id == params.process_id, ProcessDefinition.version == version
                    )
                )
                if found is None:
                    raise NotFound(
                        Text(
                            "%(process_id)s version %(version)s finns inte",
                            process_id=params.process_id,
                            version=version,
                        )
                    )
                if not found:
                    raise BadRequest(
                        Text("Version %(version)s är bara dokumentation och kan inte köras", version=version)
                    )

    def create(self, params: SimulationParams, actor: Actor) -> int:
        self._require(actor)
        self.check(params)
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            run = SimulationRun(
                process_id=params.process_id,
                candidate_version=params.candidate_version,
                baseline_version=params.baseline_version,
                params=params.as_dict(),
                status="queued",
                progress_done=0,
                progress_total=0,
                result={},
                error="",
                folder="",
                created_by=actor.username,
                created_at=now,
            )
            session.add(run)
            session.flush()
            run.folder = str(self.folder / f"run-{run.id}")
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="simulation_started",
                    target_type="simulation",
                    target_id=str(run.id),
                    details=params.as_dict(),
                )
            )
            if self.jobs is not None:
                self.jobs.enqueue(session, JOB_KIND, {"run_id": run.id}, unique_key=f"{JOB_KIND}:{run.id}")
            return run.id

    def run_job(self, job: ClaimedJob, on_progress: Any = None) -> str:
        """The `simulation` job: run the run to its end (over again after an interrupted attempt). A run that
        failed on its own (bad input, an error in the model) fails the job at once: a retry would repeat it."""
        run_id = int(job.payload["run_id"])
        self.execute(run_id, on_progress, resume=job.resumed or job.attempt > 1)
        with self.db.read() as session:
            row = session.get(SimulationRun, run_id)
            if row is not None and row.status == "failed":
                raise PermanentJobError(row.error or "simuleringen misslyckades")
        return f"simulation_runs/{run_id}"

    def run_here(self, run_id: int, on_progress: Any = None) -> None:
        """Run a run this process created, as its job (claimed here, the lease renewed meanwhile): if this process
        dies (the command line killed), a scheduler takes it over instead of it staying `running`. Without a queue,
        or when the job is not to be had, the run is executed directly."""
        job = self.jobs.claim([JOB_KIND], unique_key=f"{JOB_KIND}:{run_id}") if self.jobs is not None else None
        if self.jobs is None or job is None:
            self.execute(run_id, on_progress)
            return
        self.jobs.run(job, lambda claimed: self.run_job(claimed, on_progress))

    def job_failed(self, job: ClaimedJob, error: str) -> None:
        """The job ended failed (attempts used up): the run says so, with the reason, instead of running forever."""
        run_id = int(job.payload.get("run_id", 0))
        with self.db.unit_of_work() as session:
            row = session.get(SimulationRun, run_id)
            if row is not None and row.status in ("queued", "running"):
                row.status, row.error, row.finished_at = "failed", error[:4000], self.clock.now()

    def execute(self, run_id: int, on_progress: Any = None, resume: bool = False) -> None:
        """Run a queued simulation to its end, recording progress; a failure is recorded, never raised. With
        `resume`, a run left `running` by a process that died starts over."""
        with self.db.unit_of_work() as session:
            run = session.get(SimulationRun, run_id)
            if run is None or run.status not in (("queued", "running") if resume else ("queued",)):
                return
            run.status, run.started_at = "running", self.clock.now()
            params = SimulationParams.of(run.params)
            folder = Path(run.folder)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(done, total)
            moment = time.monotonic()
            if moment - last[0] < PROGRESS_EVERY_SECONDS and done < total:
                return
            last[0] = moment
            with self.db.unit_of_work() as session:
                row = session.get(SimulationRun, run_id)
                if row is not None:
                    row.progress_done, row.progress_total = done, total

        try:
            if folder.exists():
                shutil.rmtree(folder)
            result = run_simulation(self.db, self.catalog, params, folder, progress, self.workers)
        except Exception as exc:  # noqa: BLE001 - the page shows why; the server goes on
            log.exception("simulation %s", run_id)
            with self.db.unit_of_work() as session:
                row = session.get(SimulationRun, run_id)
                if row is not None:
                    row.status, row.error, row.finished_at = "failed", f"{exc}"[:4000], self.clock.now()
            return
        with self.db.unit_of_work() as session:
            row = session.get(SimulationRun, run_id)
            if row is not None:
                row.status, row.result, row.finished_at = "done", result, self.clock.now()
                total = sum(v["cases"] for v in result["versions"])
                row.progress_done = row.progress_total = total

    def runs(self, actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
        self._require(actor)
        with self.db.read() as session:
            rows = session.scalars(select(SimulationRun).order_by(SimulationRun.id.desc()).limit(limit))
            return [self._dict(r, with_result=False) for r in rows]

    def get(self, run_id: int, actor: Actor) -> dict[str, Any]:
        self._require(actor)
        with self.db.read() as session:
            row = session.get(SimulationRun, run_id)
            if row is None:
                raise NotFound(Text("Simuleringen %(run_id)s finns inte", run_id=run_id))
            return self._dict(row, with_result=True)

    @staticmethod
    def _dict(row: SimulationRun, with_result: bool) -> dict[str, Any]:
        total = row.progress_total or 0
        out: dict[str, Any] = {
            "id": row.id,
            "process_id": row.process_id,
            "candidate_version": row.candidate_version,
            "baseline_version": row.baseline_version,
            "status": row.status,
            "progress_done": row.progress_done,
            "progress_total": total,
            "percent": 100 if row.status == "done" else (int(100 * row.progress_done / total) if total else 0),
            "error": row.error,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "params": dict(row.params or {}),
        }
        if with_result:
            out["result"] = dict(row.result or {})
        return out
