"""Migration of running cases onto another version of their process (issue 8): preview, batch run, revert.

The implementation team chooses running instances (ids, a filter such as process + version + unit, or all of a
version) and a target version. The *preview* shows, per instance, the active tasks and waiting timers that map by
element id, those that need an explicit mapping (renamed or replaced elements: SpiffWorkflow's SpecDiff or the
element's name suggests one), and what blocks (an active element removed without a mapping, an element whose type
changed, an open incident, data that a new or changed gateway, script or timer on the path ahead reads and the case
does not have, as far as can be seen without running it).

The *run* migrates each instance in its own unit of work through the service layer (`Runtime.migrate_instance`:
lock, move the workflow, save state + task index + timers + history through the one path, engine/commands/core.py):
a failure is recorded with its reason and does not touch the others. Each result keeps the state before, so it can be
*reverted* (`Runtime.revert_migration`) while nothing has happened in the instance since. Timers are re-armed by the
target's definitions, counted from when they started waiting (engine/bpmn/migration.py `migrate`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.bpmn import migration as bpmn_migration
from engine.commands.common import provided_by_form
from engine.domain.actors import Actor
from engine.domain.errors import BadRequest, Forbidden, NotFound, SamflodeError, ValidationFailed
from engine.domain.text import Text
from engine.persistence.models import (
    AuditEntry,
    MigrationResult,
    MigrationRun,
    ProcessDefinition,
    ProcessInstance,
)

if TYPE_CHECKING:
    from engine.commands.runtime import Runtime

log = logging.getLogger(__name__)
ACTIVE_STATUSES = ("running", "waiting", "incident")
MAX_INSTANCES = 2000


@dataclass(frozen=True)
class Selection:
    """Which running instances: explicit ids, or a filter (process, version, units)."""

    process_id: str
    target_version: int
    instance_ids: tuple[int, ...] = ()
    from_version: int | None = None
    kommun: str | None = None
    vardcentral: str | None = None
    avdelning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v not in (None, ())}


def check_mapping(mapping: Any) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ValidationFailed("Mappningen ska vara ett objekt: gammalt element-id -> nytt element-id")
    bad = [k for k, v in mapping.items() if not isinstance(k, str) or not isinstance(v, str) or not k or not v]
    if bad:
        raise ValidationFailed("Mappningen har tomma eller ogiltiga element-id", {"fields": {"mapping": bad}})
    return {k.strip(): v.strip() for k, v in mapping.items() if v.strip()}


class Migrations:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.db = runtime.db
        self.clock = runtime.clock
        self.policy = runtime.policy

    def _require(self, actor: Actor) -> None:
        if not self.policy.can_manage_pilots(actor):
            raise Forbidden("Bara implementeringsteamet får migrera pågående ärenden")

    # ----------------------------------------------------------------------------------------------- selection
    def _target(self, session: Any, selection: Selection) -> ProcessDefinition:
        target = session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == selection.process_id,
                ProcessDefinition.version == selection.target_version,
            )
        )
        if target is None:
            raise NotFound(
                Text(
                    "%(process_id)s version %(target_version)s finns inte",
                    process_id=selection.process_id,
                    target_version=selection.target_version,
                )
            )
        if not target.executable:
            raise BadRequest(
                Text("Version %(version)s är bara dokumentation och kan inte köras", version=target.version)
            )
        return target

    def _instances(self, session: Any, selection: Selection, target_id: int) -> list[ProcessInstance]:
        query = select(ProcessInstance).where(
            ProcessInstance.process_id == selection.process_id,
            ProcessInstance.status.in_(ACTIVE_STATUSES),
            ProcessInstance.definition_id != target_id,
        )
        if selection.instance_ids:
            query = query.where(ProcessInstance.id.in_(selection.instance_ids))
        if selection.from_version is not None:
            query = query.where(ProcessInstance.version == selection.from_version)
        for column in ("kommun", "vardcentral", "avdelning"):
            value = getattr(selection, column)
            if value:
                query = query.where(getattr(ProcessInstance, column) == value)
        if not selection.instance_ids and selection.from_version is None:
            raise BadRequest("Välj instanser: ange instans-id eller vilken version de kör (from_version)")
        count = session.scalar(select(func.count()).select_from(query.subquery()))
        if count > MAX_INSTANCES:
            raise BadRequest(
                Text(
                    "Urvalet har %(count)s instanser; migrera högst %(max_instances)s åt gången",
                    count=count,
                    max_instances=MAX_INSTANCES,
                )
            )
        return list(session.scalars(query.order_by(ProcessInstance.id)))

    # ----------------------------------------------------------------------------------------------- preview
    def preview(self, selection: Selection, mapping: dict[str, str], actor: Actor) -> dict[str, Any]:
        """Per instance: how its active elements map onto the target and what blocks. Changes nothing."""
        self._require(actor)
        mapping = check_mapping(mapping)
        runtime = self.runtime
        with self.db.read() as session:
            target_row = self._target(session, selection)
            target = runtime._deployed(session, target_row.id)
            target_spec, target_subs = runtime.specs.get(session, target)
            fields_of = provided_by_form(target)
            target_id = target_row.id
            target_elements = [
                {"id": k, "name": v.get("name") or k, "type": v.get("type")}
                for k, v in sorted((target_row.elements or {}).items())
            ]
            items: list[dict[str, Any]] = []
            for instance in self._instances(session, selection, target_row.id):
                source = runtime._deployed(session, instance.definition_id)
                spec, subs = runtime.specs.get(session, source, instance.called_versions)
                try:
                    flow = runtime.flows.restore(instance.state, spec, subs)
                    plan = bpmn_migration.plan(flow, target_spec, target_subs, mapping, instance.data or {}, fields_of)
                except Exception as exc:  # noqa: BLE001 - a broken state is a finding, not a failed page
                    log.exception("preview of instance %s", instance.id)
                    plan = bpmn_migration.FlowPlan(problems=[Text("Instansen kunde inte läsas: %(exc)s", exc=exc)])
                items.append(
                    {
                        "instance_id": instance.id,
                        # No person: the implementation team moves cases without a care relation to anyone in
                        # them (need to know); the units say where a case is, the instance page (coordinators)
                        # who it is.
                        "kommun": instance.kommun,
                        "vardcentral": instance.vardcentral,
                        "avdelning": instance.avdelning,
                        "version": instance.version,
                        "status": instance.status,
                        "outcome": plan.outcome,
                        "elements": [asdict(i) for i in plan.items],
                        "missing_data": [asdict(m) for m in plan.missing_data],
                        "problems": list(plan.problems),
                    }
                )
        suggestions = {
            e["element_id"]: e["suggestion"]
            for item in items
            for e in item["elements"]
            if e["status"] == bpmn_migration.NEEDS_MAPPING and e["suggestion"]
        }
        return {
            "process_id": selection.process_id,
            "target_version": selection.target_version,
            "target_definition_id": target_id,
            "mapping": mapping,
            "suggested_mapping": suggestions,
            "target_elements": target_elements,
            "counts": {
                outcome: sum(1 for i in items if i["outcome"] == outcome)
                for outcome in ("ready", bpmn_migration.NEEDS_MAPPING, bpmn_migration.BLOCKED)
            },
            "items": items,
        }

    # ----------------------------------------------------------------------------------------------- run
    def run(self, selection: Selection, mapping: dict[str, str], actor: Actor, comment: str = "") -> int:
        """Migrate every chosen instance, each in its own unit of work; returns the run id."""
        self._require(actor)
        mapping = check_mapping(mapping)
        with self.db.read() as session:
            target = self._target(session, selection)
            target_id, target_version = target.id, target.version
            instance_ids = [i.id for i in self._instances(session, selection, target_id)]
        if not instance_ids:
            raise BadRequest("Inga pågående instanser matchar urvalet (eller alla kör redan målversionen)")
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            run = MigrationRun(
                process_id=selection.process_id,
                target_definition_id=target_id,
                target_version=target_version,
                mapping=mapping,
                selection={**selection.as_dict(), "instances": len(instance_ids)},
                comment=comment[:2000],
                created_by=actor.username,
                created_at=now,
                migrated=0,
                failed=0,
                reverted=0,
            )
            session.add(run)
            session.flush()
            run_id = run.id
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="migration_run",
                    target_type="migration",
                    target_id=str(run_id),
                    details={
                        "process_id": selection.process_id,
                        "target_version": target_version,
                        "instances": len(instance_ids),
                        "mapping": mapping,
                        "comment": comment[:2000],
                    },
                )
            )
        migrated = failed = 0
        for instance_id in instance_ids:
            try:
                self.runtime.migrate_instance(instance_id, target_id, mapping, actor, run_id)
                migrated += 1
            except SamflodeError as exc:
                failed += 1
                self._record_failure(run_id, instance_id, exc.message)
            except Exception as exc:  # noqa: BLE001 - one instance never stops the batch
                log.exception("migration of instance %s", instance_id)
                failed += 1
                self._record_failure(
                    run_id, instance_id, Text("Oväntat fel: %(kind)s: %(exc)s", kind=exc.__class__.__name__, exc=exc)
                )
        with self.db.unit_of_work() as session:
            row = session.get(MigrationRun, run_id)
            assert row is not None
            row.migrated, row.failed = migrated, failed
        return run_id

    def _record_failure(self, run_id: int, instance_id: int, reason: str) -> None:
        with self.db.unit_of_work() as session:
            instance = session.get(ProcessInstance, instance_id)
            session.add(
                MigrationResult(
                    run_id=run_id,
                    instance_id=instance_id,
                    from_definition_id=instance.definition_id if instance else None,
                    from_version=instance.version if instance else None,
                    outcome="failed",
                    reason=reason[:4000],
                    before={},
                    at=self.clock.now(),
                )
            )

    # ----------------------------------------------------------------------------------------------- revert
    def revert(self, run_id: int, actor: Actor, instance_ids: list[int] | None = None) -> dict[str, Any]:
        """Revert the migrated instances of a run (or the named ones). Each in its own unit of work; an instance
        that has moved on since is refused with its reason and the others are still reverted."""
        self._require(actor)
        with self.db.read() as session:
            if session.get(MigrationRun, run_id) is None:
                raise NotFound(Text("Migreringen %(run_id)s finns inte", run_id=run_id))
            query = select(MigrationResult.id, MigrationResult.instance_id).where(
                MigrationResult.run_id == run_id, MigrationResult.outcome == "migrated"
            )
            if instance_ids:
                query = query.where(MigrationResult.instance_id.in_(instance_ids))
            results = list(session.execute(query.order_by(MigrationResult.id)))
        reverted: list[int] = []
        refused: list[dict[str, Any]] = []
        for result_id, instance_id in results:
            try:
                self.runtime.revert_migration(result_id, actor)
                reverted.append(instance_id)
            except SamflodeError as exc:
                refused.append({"instance_id": instance_id, "reason": exc.message})
        if reverted:
            with self.db.unit_of_work() as session:
                row = session.get(MigrationRun, run_id)
                assert row is not None
                row.reverted = (row.reverted or 0) + len(reverted)
                session.add(
                    AuditEntry(
                        at=self.clock.now(),
                        actor=actor.username,
                        action="migration_revert",
                        target_type="migration",
                        target_id=str(run_id),
                        details={"instances": reverted, "refused": refused},
                    )
                )
        return {"run_id": run_id, "reverted": reverted, "refused": refused}

    # ----------------------------------------------------------------------------------------------- reads
    def runs(self, actor: Actor, process_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self._require(actor)
        with self.db.read() as session:
            query = select(MigrationRun).order_by(MigrationRun.id.desc()).limit(limit)
            if process_id:
                query = query.where(MigrationRun.process_id == process_id)
            return [self._run_dict(r) for r in session.scalars(query)]

    def get(self, run_id: int, actor: Actor) -> dict[str, Any]:
        self._require(actor)
        with self.db.read() as session:
            run = session.get(MigrationRun, run_id)
            if run is None:
                raise NotFound(Text("Migreringen %(run_id)s finns inte", run_id=run_id))
            results = session.scalars(
                select(MigrationResult).where(MigrationResult.run_id == run_id).order_by(MigrationResult.id)
            )
            current = {
                r.id: (r.lock_version, r.status)
                for r in session.execute(
                    select(ProcessInstance.id, ProcessInstance.lock_version, ProcessInstance.status).where(
                        ProcessInstance.id.in_(
                            select(MigrationResult.instance_id).where(MigrationResult.run_id == run_id)
                        )
                    )
                )
            }
            items = []
            for r in results:
                lock = current.get(r.instance_id, (None, None))[0]
                items.append(
                    {
                        "instance_id": r.instance_id,
                        "from_version": r.from_version,
                        "outcome": r.outcome,
                        "reason": r.reason,
                        "at": r.at.isoformat(),
                        "reverted_at": r.reverted_at.isoformat() if r.reverted_at else None,
                        "reverted_by": r.reverted_by,
                        "revertible": r.outcome == "migrated" and lock == r.lock_version_after,
                        "rearmed_timers": (r.before or {}).get("rearmed", []),
                    }
                )
            return {**self._run_dict(run), "items": items}

    @staticmethod
    def _run_dict(run: MigrationRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "process_id": run.process_id,
            "target_version": run.target_version,
            "mapping": dict(run.mapping or {}),
            "selection": dict(run.selection or {}),
            "comment": run.comment,
            "created_by": run.created_by,
            "created_at": run.created_at.isoformat(),
            "migrated": run.migrated,
            "failed": run.failed,
            "reverted": run.reverted,
        }
