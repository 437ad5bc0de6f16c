"""Moving one running case onto another version of its process, and back (engine/features/migration.py runs the
batch: preview, selection, results)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.bpmn import migration as bpmn_migration
from engine.bpmn.workflow import EngineIncident, Flow, StepLog
from engine.commands.common import Deployed, json_safe, person_of, provided_by_form, restored_row, row_snapshot
from engine.commands.core import Core
from engine.domain.actors import Actor
from engine.domain.errors import Conflict, NotFound
from engine.domain.text import Text, status_word
from engine.persistence.models import AuditEntry, HistoryEntry, MigrationResult, ProcessInstance, TaskIndex, Timer


class MigrationCommands:
    """Migrate one instance; revert a migration while nothing has happened since."""

    def __init__(self, core: Core):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows

    def migrate_instance(
        self, instance_id: int, target_definition_id: int, mapping: dict[str, str], actor: Actor, run_id: int
    ) -> int:
        """Move one running instance onto another version of its process (engine/features/migration.py runs the
        batch). One unit of work: lock, check the plan, keep the state before, move the workflow and re-arm its
        timers (engine/bpmn/migration.py), save through the one path (engine/commands/core.py), record the result.
        Raises (nothing changed) when the instance cannot be migrated; returns the id of its MigrationResult."""
        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får migrera ärenden")
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            if instance.status not in ("running", "waiting", "incident"):
                raise Conflict(Text("Instansen är %(status)s", status=status_word(instance.status)))
            source = self.core.deployed(session, instance.definition_id)
            target = self.core.deployed(session, target_definition_id)
            if target.process_id != source.process_id:
                raise Conflict(
                    Text(
                        "Version %(version)s hör till %(process_id)s, inte %(process_id2)s",
                        version=target.version,
                        process_id=target.process_id,
                        process_id2=source.process_id,
                    )
                )
            if target.id == source.id:
                raise Conflict(Text("Instansen kör redan version %(version)s", version=target.version))
            if not target.executable:
                raise Conflict(Text("Version %(version)s kan inte köras", version=target.version))
            self.core.flow_cache.take(instance)  # forget any cached workflow: restored from the stored state below
            spec, subs = self.specs.get(session, source, instance.called_versions)
            flow = self.flows.restore(instance.state, spec, subs)
            target_spec, target_subs = self.specs.get(session, target, instance.called_versions)
            check_plan(
                bpmn_migration.plan(
                    flow, target_spec, target_subs, mapping, instance.data or {}, provided_by_form(target)
                )
            )
            before, timers = snapshot(session, instance, source)
            state_before = instance.state
            armed_at = {t.task_id: t.created_at for t in timers}
            # The timers are written again from the target's definitions (re-armed) by the timer projector.
            session.execute(delete(Timer).where(Timer.instance_id == instance.id))
            instance.definition_id, instance.version = target.id, target.version
            rearmed: list[Any] = []

            def move(flow: Flow, log: StepLog) -> None:
                try:
                    rearmed.extend(
                        bpmn_migration.migrate(flow, target_spec, target_subs, mapping, self.clock, log, armed_at)
                    )
                except EngineIncident as exc:
                    raise Conflict(Text("Kan inte migreras: %(message)s", message=exc.message)) from exc

            self.core.advance(command, instance, target, actor, move, flow=flow)
            if instance.status == "incident":
                raise Conflict("Kan inte migreras: målversionen ger en incident direkt")
            self._retask(session, instance, target, flow)
            now = self.clock.now()
            entry = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="migrated",
                actor=actor.username,
                data={
                    "run_id": run_id,
                    "from_version": source.version,
                    "to_version": target.version,
                    "mapping": {k: v for k, v in mapping.items()},
                },
            )
            session.add(entry)
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="migrate_instance",
                    target_type="instance",
                    target_id=str(instance.id),
                    details={"run_id": run_id, "from_version": source.version, "to_version": target.version},
                )
            )
            session.flush()
            before["rearmed"] = [{"element_id": r.element_id, "due_at": r.due_at.isoformat()} for r in rearmed]
            result = MigrationResult(
                run_id=run_id,
                instance_id=instance.id,
                from_definition_id=source.id,
                from_version=source.version,
                outcome="migrated",
                reason="",
                before=before,
                state_before=state_before,
                lock_version_after=instance.lock_version,
                history_id_after=entry.id,
                at=now,
            )
            session.add(result)
            session.flush()
            self.access_log.record_in(
                session,
                actor,
                "migrering",
                [person_of(instance)],
                Text("version %(version)s -> %(version2)s", version=source.version, version2=target.version),
            )
            return result.id

    def _retask(self, session: Session, instance: ProcessInstance, target: Deployed, flow: Flow) -> None:
        """Tasks keep their ids (and claims) through the move; a task now on another element takes that element's
        name, lane, role, form and unit."""
        elements = target.elements or {}
        for task in flow.ready_human_tasks():
            row = session.get(TaskIndex, task.id)
            if row is None:
                continue
            info = elements.get(task.element_id, {})
            props = info.get("properties") or {}
            lane = info.get("lane") or task.lane
            row.element_id, row.name, row.lane = task.element_id, task.name, lane
            row.role, row.form = props.get("role"), props.get("form")
            row.unit = self.catalog.unit_for_lane(lane, instance.data or {})

    def revert_migration(self, result_id: int, actor: Actor) -> None:
        """Put a migrated instance back as it was before (state, definition, data, task index with claims, timers)
        while nothing has happened in it since: same lock_version and no history after the migration's."""
        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får återställa")
        with self.core.unit() as command:
            session = command.session
            result = session.get(MigrationResult, result_id)
            if result is None:
                raise NotFound(Text("Migreringsresultatet %(result_id)s finns inte", result_id=result_id))
            if result.outcome != "migrated" or not result.state_before:
                raise Conflict("Instansen migrerades inte i den här körningen (eller är redan återställd)")
            instance = self.core.lock(session, result.instance_id)
            later = session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(HistoryEntry.instance_id == instance.id, HistoryEntry.id > (result.history_id_after or 0))
            )
            if instance.lock_version != result.lock_version_after or later:
                raise Conflict("Något har hänt i ärendet sedan migreringen; det kan inte återställas")
            before = dict(result.before or {})
            source = self.core.deployed(session, int(before["definition_id"]))
            self.core.flow_cache.take(instance)
            session.execute(delete(TaskIndex).where(TaskIndex.instance_id == instance.id))
            session.execute(delete(Timer).where(Timer.instance_id == instance.id))
            for values in before.get("tasks", []):
                session.add(TaskIndex(**restored_row(TaskIndex, values)))
            for values in before.get("timers", []):
                session.add(Timer(**restored_row(Timer, values)))
            session.flush()
            instance.definition_id, instance.version = source.id, source.version
            instance.data = before.get("data") or {}
            spec, subs = self.specs.get(session, source, instance.called_versions)
            flow = self.flows.restore(result.state_before, spec, subs)

            def keep(flow: Flow, log: StepLog) -> None:
                """Nothing runs: the restored workflow is saved as it was."""

            self.core.advance(command, instance, source, actor, keep, flow=flow)
            instance.status = before.get("status") or instance.status
            now = self.clock.now()
            result.outcome, result.reverted_at, result.reverted_by = "reverted", now, actor.username
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="migration_reverted",
                    actor=actor.username,
                    data={"run_id": result.run_id, "version": source.version},
                )
            )
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="revert_migration",
                    target_type="instance",
                    target_id=str(instance.id),
                    details={"run_id": result.run_id, "to_version": source.version},
                )
            )


def check_plan(plan: Any) -> None:
    """A plan that is not ready refuses the migration, naming every reason (nothing changed)."""
    if plan.outcome != "ready":
        reasons = list(plan.problems)
        reasons += [f"{i.element_id}: {i.reason}" for i in plan.items if i.status != "same_id" and i.reason]
        reasons += [
            Text("%(element_id)s läser %(name)s, som ärendet saknar", element_id=m.element_id, name=m.name)
            for m in plan.missing_data
        ]
        raise Conflict("Kan inte migreras: " + "; ".join(reasons), {"outcome": plan.outcome})


def snapshot(session: Session, instance: ProcessInstance, source: Deployed) -> tuple[dict[str, Any], list[Timer]]:
    """The instance as it was before a migration (kept on its MigrationResult for a revert): definition, status,
    data, and its task-index and timer rows; and the timer rows themselves."""
    tasks = list(session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id)))
    timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id)))
    before: dict[str, Any] = {
        "definition_id": source.id,
        "version": source.version,
        "status": instance.status,
        "data": json_safe(instance.data or {}),
        "serializer_version": instance.serializer_version,
        "tasks": [{c.name: row_snapshot(getattr(t, c.name)) for c in TaskIndex.__table__.columns} for t in tasks],
        "timers": [{c.name: row_snapshot(getattr(t, c.name)) for c in Timer.__table__.columns} for t in timers],
    }
    return before, timers
