"""The one path that advances a workflow (convention 1), shared by every command module: the unit of work (one
commit; after it, the advanced workflows kept in memory and the scheduler told of the earliest new timer), the
per-instance lock, the definitions a case runs on, and `advance`: load (or be handed) the workflow, run the command's
action on it under the command budget, save the step through the projectors (engine/commands/projectors.py) and
route the messages it threw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy import inspect as inspect_row
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.bpmn.parsing import pinned_version
from engine.bpmn.sandbox import command_budget
from engine.bpmn.timers import engine_now
from engine.bpmn.workflow import EngineIncident, Flow, FlowFactory, StepLog
from engine.commands import projectors
from engine.commands.caches import DefinitionCache, FlowCache, SpecCache
from engine.commands.common import ENDED, Deployed, json_safe, person_of
from engine.commands.context import CommandContext, StepContext
from engine.commands.facts_store import CaseFactsKeeper
from engine.domain.actors import Actor, Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock
from engine.domain.errors import Conflict, NotFound
from engine.domain.text import Text, status_word
from engine.persistence.db import Database
from engine.persistence.models import AuditEntry, HistoryEntry, Incident, ProcessDefinition, ProcessInstance, TaskIndex
from engine.persistence.statements import Prepared
from engine.reads.log import AccessLogWriter
from engine.reads.policy import AccessPolicy
from engine.reads.versions import default_version_now

Action = Callable[[Flow, StepLog], None]
# Routes a message thrown in an instance (engine/commands/messages.py): (context, sender, name, payload, actor).
Router = Callable[[CommandContext, ProcessInstance, str, dict[str, Any], Actor], None]

# A task and its instance in one statement (Core.task_for_action), built once (building a statement costs
# more than running it).
_TASK_AND_INSTANCE = (
    select(TaskIndex, ProcessInstance)
    .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
    .where(TaskIndex.id == bindparam("task_id"))
    .execution_options(populate_existing=True)
)
# Elsewhere (PostgreSQL): the task's instance row locked first (by subquery; only its id read, as driver SQL compiled
# once), then the task and its instance read under that lock with the statement above.
_TASKS = cast(Table, TaskIndex.__table__)
_INSTANCES = cast(Table, ProcessInstance.__table__)
_LOCK_TASK_OWNER = Prepared(
    select(_INSTANCES.c.id)
    .where(_INSTANCES.c.id == select(_TASKS.c.instance_id).where(_TASKS.c.id == bindparam("task_id")).scalar_subquery())
    .with_for_update()
)
_LOCK_INSTANCE = (
    select(ProcessInstance)
    .where(ProcessInstance.id == bindparam("instance_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


class Core:
    """The services every command module uses, built once per platform (engine/platform.py via Runtime)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalog: Catalog,
        policy: Policy | None = None,
        flow_cache_size: int = 2000,
        access: AccessPolicy | None = None,
    ):
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.policy = policy or Policy(catalog)
        self.access = access or AccessPolicy(catalog)  # need to know, the one policy (engine/reads/policy.py)
        self.access_log = AccessLogWriter(db, clock)  # every change of a person's case is logged with it
        self.flows = FlowFactory(catalog.sandbox_functions(engine_now))
        self.specs = SpecCache()
        self.definitions = DefinitionCache()
        self.flow_cache = FlowCache(flow_cache_size)
        self.case_facts = CaseFactsKeeper(catalog)
        self.timer_listeners: list[Callable[[datetime], None]] = []
        self.route_thrown: Router | None = None  # set by the facade (messages), so thrown messages find receivers

    # ------------------------------------------------------------------------------------------- unit of work
    @contextmanager
    def unit(self) -> Iterator[CommandContext]:
        """The unit of work of one command. After it commits, the advanced workflows are kept in memory (keyed by
        the row version they were saved as) and listeners hear of the earliest new timer."""
        command: CommandContext | None = None  # unset if opening the unit of work fails (a lock time-out): that
        try:  # error is the one to see, not one from the handler below
            with self.db.unit_of_work() as session:
                command = CommandContext(session)
                yield command
                projectors.write_queued_history(command)  # (each save writes its own: none should be left)
                session.flush()
                earliest = command.earliest_new_timer
                advanced = command.flows
                projections = {i: saved.projection() for i, saved in command.saved.items()}
        except BaseException:
            if command is not None:  # a rolled-back command may have changed a workflow in memory: forget it
                self.flow_cache.forget(list(command.flows))
            raise
        self.flow_cache.keep(advanced, projections)
        if earliest is not None:
            for listener in list(self.timer_listeners):
                listener(earliest)

    def lock(self, session: Session, instance_id: int) -> ProcessInstance:
        """The instance row, locked for this unit of work (the per-instance lock), read afresh."""
        instance = session.execute(_LOCK_INSTANCE, {"instance_id": instance_id}).scalar_one_or_none()
        if instance is None:
            raise NotFound(Text("Instansen %(instance_id)s finns inte", instance_id=instance_id))
        return instance

    def task_for_action(self, session: Session, task_id: str) -> tuple[TaskIndex, ProcessInstance, Deployed]:
        """A task and its instance, the instance locked first (by subquery), then the task read under that lock: a
        concurrent completion may have removed it meanwhile (one statement reading both could see the task as it was
        before a lock wait). On SQLite one statement locks and reads both: a writing unit of work holds the database's
        write lock from its BEGIN IMMEDIATE, so nothing can change between the two."""
        if self.db.dialect == "sqlite":
            found = session.execute(_TASK_AND_INSTANCE, {"task_id": task_id}).one_or_none()
            if found is None:
                raise_gone(session, task_id)
            row_task, row_instance = found
            return row_task, row_instance, self.deployed(session, row_instance.definition_id)
        locked = _LOCK_TASK_OWNER.execute(session.connection(), {"task_id": task_id}).scalar()
        if locked is None:
            raise_gone(session, task_id)
        found = session.execute(_TASK_AND_INSTANCE, {"task_id": task_id}).one_or_none()
        if found is None or found[1].id != locked:
            raise_gone(session, task_id)
        task, instance = found
        return task, instance, self.deployed(session, instance.definition_id)

    # ------------------------------------------------------------------------------------------- definitions
    def deployed(self, session: Session, definition_id: int) -> Deployed:
        return self.definitions.get(session, definition_id)

    def newest(self, session: Session, process_id: str, executable_only: bool) -> ProcessDefinition | None:
        query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        if executable_only:
            query = query.where(ProcessDefinition.executable.is_(True))
        return session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))

    def called_definition(self, session: Session, process_id: str, version: int | None) -> ProcessDefinition | None:
        """What a call activity calls: the version it pins, else the newest executable version."""
        if version is None:
            return self.newest(session, process_id, executable_only=True)
        return session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == process_id,
                ProcessDefinition.version == version,
                ProcessDefinition.executable.is_(True),
            )
        )

    def called_versions(
        self, session: Session, instance: ProcessInstance, definition: Deployed
    ) -> dict[str, Any] | None:
        """The definitions a case's calls left to run time resolve to: kept on the case once found (so it keeps
        that version), looked up (pinned version, else the process's default version now) while not found yet."""
        if not definition.unresolved:
            return None
        pins = dict(instance.called_versions or {})
        changed = False
        for called in definition.unresolved:
            if pins.get(called) is None:
                # Unpinned, a call resolved at run time takes the version new cases of that process start on now
                # (a deploy never changes it, issue 15), not whatever was deployed last.
                version = pinned_version(definition.elements, called) or default_version_now(session, called)
                found = self.called_definition(session, called, version) if version is not None else None
                if found is not None:
                    pins[called] = found.id
                    changed = True
        if changed:
            instance.called_versions = pins
        return pins

    # ------------------------------------------------------------------------------------------- the one path
    def advance(
        self,
        command: CommandContext,
        instance: ProcessInstance,
        definition: Deployed,
        actor: Actor,
        action: Action,
        flow: Flow | None = None,
        cancelled_reason: str | None = None,
    ) -> None:
        """Run `action` on the instance's workflow (cached, restored, or the `flow` handed in) and save the step."""
        session = command.session
        if instance.status in ENDED:
            raise Conflict(Text("Instansen är %(status)s", status=status_word(instance.status)))
        called_versions = self.called_versions(session, instance, definition)
        if flow is None and not definition.unresolved:  # (a call resolved now needs its spec: restore afresh)
            cached = self.flow_cache.take(instance)
            if cached is not None:
                flow, command.projections[instance.id] = cached
        projection = command.projections.get(instance.id)
        if flow is None:
            spec, subprocess_specs = self.specs.get(session, definition, called_versions)
            if projection is None and "state" in inspect_row(instance).unloaded:
                # a cold step: the state and the index projection in one statement (nothing in between writes them)
                state, projection = projectors.load_state_and_projection(session, instance.id)
                set_committed_value(instance, "state", state)
            try:
                flow = self.flows.restore(instance.state, spec, subprocess_specs)
            except Exception as exc:  # noqa: BLE001 - a state that cannot be restored: say so, never a 500
                raise Conflict(
                    Text(
                        "Ärendets sparade tillstånd kan inte läsas in (%(kind)s: %(exc)s); en administratör kan laga "
                        "det med `samflode repair-poisoned`",
                        kind=exc.__class__.__name__,
                        exc=str(exc)[:200],
                    ),
                    {"instance_id": instance.id},
                ) from exc
        command.flows[instance.id] = (instance, flow)
        log = StepLog()
        incident: EngineIncident | None = None
        try:
            with command_budget():  # steps, time and allocation of this command's engine run (convention 16)
                action(flow, log)
        except EngineIncident as exc:
            incident = exc
        if incident is not None:  # a call left to run time that found nothing: say which process is missing
            for element_id, info in definition.elements.items():
                called = info.get("called_element")
                missing = called in definition.unresolved and (called_versions or {}).get(called) is None
                if missing and flow.reached(element_id):
                    incident = EngineIncident(
                        element_id,
                        Text(
                            "Anropad process %(process_id)r är inte driftsatt: driftsätt den och försök igen",
                            process_id=called,
                        ),
                    )
                    break
        thrown = flow.take_thrown_messages()  # before saving, so the stored state does not keep them
        with session.no_autoflush:  # one flush at the end batches the inserts
            step = StepContext(
                command=command,
                instance=instance,
                definition=definition,
                flow=flow,
                log=log,
                actor=actor,
                now=self.clock.now(),
                catalog=self.catalog,
                facts=self.case_facts,
                projection=command.projections.get(instance.id)
                or projection
                or projectors.load_projection(session, instance.id),
                incident=incident,
                cancelled_reason=cancelled_reason,
            )
            projectors.save(step)
        for name, payload in thrown:
            assert self.route_thrown is not None
            self.route_thrown(command, instance, name, payload, actor)

    # ------------------------------------------------------------------------------------------- shared checks
    def require_task(self, session: Session, actor: Actor, task: TaskIndex) -> None:
        """The actor may act on the task (need to know, engine/reads/policy.py); refused as 404 like a task that
        does not exist, so that nothing about another unit's task leaks."""
        if actor.internal:  # the policy lets the platform's own actors act on every task: no query
            return
        if not self.access.may_act_on_task(session, actor, task.id):
            raise NotFound("Uppgiften finns inte eller hör inte till din roll och enhet")

    def require_repair(self, session: Session, actor: Actor, instance: ProcessInstance, what: str) -> None:
        """A repair is a coordinator's, on a case of their own organisation (engine/reads/policy.py); another
        organisation's case answers as one that does not exist. The repair is in the access log with what it did."""
        if not self.access.may_repair_instance(session, actor, instance.id):
            raise NotFound(Text("Instansen %(instance_id)s finns inte", instance_id=instance.id))
        self.access_log.record_in(session, actor, "instans_atgard", [person_of(instance)], what)

    def audit(
        self, session: Session, actor: Actor, action: str, instance: ProcessInstance, details: dict[str, Any]
    ) -> None:
        session.add(
            AuditEntry(
                at=self.clock.now(),
                actor=actor.username,
                action=action,
                target_type="instance",
                target_id=str(instance.id),
                details=json_safe(details),
            )
        )

    def resolve_incidents(
        self,
        session: Session,
        instance: ProcessInstance,
        actor: Actor,
        now: datetime,
        element_id: str | None = None,
        keep: frozenset[str | None] = frozenset(),
    ) -> list[int]:
        query = select(Incident).where(Incident.instance_id == instance.id, Incident.resolved_at.is_(None))
        if element_id is not None:
            query = query.where(Incident.element_id == element_id)
        ids = []
        for incident in session.scalars(query):
            if incident.element_id in keep:
                continue
            incident.resolved_at, incident.resolved_by = now, actor.username
            ids.append(incident.id)
        return ids


def raise_gone(session: Session, task_id: str) -> NoReturn:
    """A task that is not (or no longer) in the index: 409 with who did it if it was done, else 404."""
    done = session.scalar(
        select(HistoryEntry)
        .where(HistoryEntry.task_id == task_id, HistoryEntry.kind == "task_completed")
        .order_by(HistoryEntry.id.desc())
        .limit(1)
    )
    if done is not None:
        raise Conflict(
            Text("Uppgiften är redan utförd av %(actor)s", actor=done.actor),
            {"completed_by": done.actor, "completed_at": done.at.isoformat()},
        )
    raise NotFound("Uppgiften finns inte")
