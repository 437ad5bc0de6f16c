"""Read-only queries (convention 9): worklists, instance views, definitions. Plain dicts out; no workflow is loaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.bpmn.flows import sequence_flows
from engine.catalog import Catalog
from engine.diff import DefinitionDiff, diff_elements, diff_flows
from engine.directory import Actor, Policy
from engine.domain.errors import Forbidden, NotFound
from engine.persistence.db import Database
from engine.persistence.models import (
    Deviation,
    HistoryEntry,
    Incident,
    InstanceCorrelation,
    ProcessDefinition,
    ProcessInstance,
    TaskIndex,
    Timer,
)

MAX_LIMIT = 500
STATUSES = ("running", "waiting", "incident", "completed", "cancelled")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def task_dict(task: TaskIndex) -> dict[str, Any]:
    return {
        "id": task.id,
        "instance_id": task.instance_id,
        "process_id": task.process_id,
        "business_key": task.business_key,
        "element_id": task.element_id,
        "name": task.name,
        "lane": task.lane,
        "role": task.role,
        "form": task.form,
        "unit": task.unit,
        "created_at": _iso(task.created_at),
        "due_at": _iso(task.due_at),
        "claimed_by": task.claimed_by,
    }


def definition_dict(d: ProcessDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "process_id": d.process_id,
        "version": d.version,
        "name": d.name,
        "filename": d.filename,
        "executable": d.executable,
        "diagnostics": d.diagnostics,
        "deployed_by": d.deployed_by,
        "deployed_at": _iso(d.deployed_at),
        "comment": d.comment,
        "start_messages": d.start_messages,
        "lanes": d.lanes,
        "content_hash": d.content_hash,
    }


class Reports:
    def __init__(self, db: Database, catalog: Catalog, policy: Policy | None = None):
        self.db = db
        self.catalog = catalog
        self.policy = policy or Policy(catalog)

    # --- definitions ---
    def definitions(self, process_id: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        limit = max(1, min(limit, MAX_LIMIT))
        with self.db.read() as session:
            query = select(ProcessDefinition)
            if process_id:
                query = query.where(ProcessDefinition.process_id == process_id)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
                .limit(limit)
                .offset(offset)
            )
            counts = dict(
                session.execute(
                    select(ProcessInstance.definition_id, func.count())
                    .where(ProcessInstance.status.in_(("running", "waiting", "incident")))
                    .group_by(ProcessInstance.definition_id)
                ).all()
            )
            items = [{**definition_dict(d), "running_instances": counts.get(d.id, 0)} for d in rows]
            return {"items": items, "total": total}

    def definition_xml(self, process_id: str, version: int) -> bytes:
        with self.db.read() as session:
            d = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
                )
            )
            if d is None:
                raise NotFound(f"{process_id} version {version} finns inte")
            return d.xml

    def definition(self, process_id: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as session:
            query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
            if version is not None:
                query = query.where(ProcessDefinition.version == version)
            d = session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
            if d is None:
                raise NotFound(f"{process_id} finns inte")
            return {**definition_dict(d), "elements": d.elements, "dependencies": d.dependencies}

    def versions(self, process_id: str) -> list[dict[str, Any]]:
        """Every version of a process, newest first: who deployed it, when, why, and how many instances run on it."""
        with self.db.read() as session:
            rows = list(
                session.scalars(
                    select(ProcessDefinition)
                    .where(ProcessDefinition.process_id == process_id)
                    .order_by(ProcessDefinition.version.desc())
                )
            )
            if not rows:
                raise NotFound(f"{process_id} finns inte")
            counts = dict(
                session.execute(
                    select(ProcessInstance.definition_id, func.count())
                    .where(
                        ProcessInstance.definition_id.in_([d.id for d in rows]),
                        ProcessInstance.status.in_(("running", "waiting", "incident")),
                    )
                    .group_by(ProcessInstance.definition_id)
                ).all()
            )
            return [
                {
                    "id": d.id,
                    "version": d.version,
                    "executable": d.executable,
                    "deployed_by": d.deployed_by,
                    "deployed_at": _iso(d.deployed_at),
                    "comment": d.comment,
                    "filename": d.filename,
                    "running_instances": counts.get(d.id, 0),
                    "diagnostics": len(d.diagnostics or []),
                }
                for d in rows
            ]

    def definition_diff(self, process_id: str, from_version: int, to_version: int) -> DefinitionDiff:
        """Added, removed and changed elements and sequence flows between two versions (engine/diff.py)."""
        with self.db.read() as session:
            elements = {}
            xml = {}
            for version in (from_version, to_version):
                d = session.scalar(
                    select(ProcessDefinition).where(
                        ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
                    )
                )
                if d is None:
                    raise NotFound(f"{process_id} version {version} finns inte")
                elements[version] = d.elements or {}
                xml[version] = d.xml
        result = diff_elements(elements[from_version], elements[to_version])
        return diff_flows(sequence_flows(xml[from_version]), sequence_flows(xml[to_version]), into=result)

    # --- worklist ---
    def worklist(
        self, actor: Actor, limit: int = 50, offset: int = 0, claimed: str | None = None, process_id: str | None = None
    ) -> dict[str, Any]:
        """The caller's tasks: lane roles (or the task's own role) and units that match; soonest due first."""
        limit = max(1, min(limit, MAX_LIMIT))
        with self.db.read() as session:
            query = select(TaskIndex)
            if "admin" not in actor.roles:
                lane_names = [
                    lane for lane, rule in self.catalog.lanes.items() if any(r in actor.roles for r in rule.roles)
                ]
                role_match = or_(
                    TaskIndex.role.in_(sorted(actor.roles)),
                    and_(TaskIndex.role.is_(None), TaskIndex.lane.in_(lane_names)),
                )
                query = query.where(role_match)
                if actor.units:
                    query = query.where(or_(TaskIndex.unit.is_(None), TaskIndex.unit.in_(sorted(actor.units))))
            if claimed == "me":
                query = query.where(TaskIndex.claimed_by == actor.username)
            elif claimed == "none":
                query = query.where(TaskIndex.claimed_by.is_(None))
            if process_id:
                query = query.where(TaskIndex.process_id == process_id)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(TaskIndex.due_at.asc().nulls_last(), TaskIndex.created_at, TaskIndex.id)
                .limit(limit)
                .offset(offset)
            )
            return {"items": [task_dict(t) for t in rows], "total": total}

    def task(self, task_id: str, actor: Actor) -> dict[str, Any]:
        with self.db.read() as session:
            task = session.get(TaskIndex, task_id)
            if task is None or not (self.policy.owns_task(actor, task) or self.policy.can_read_all(actor)):
                raise NotFound("Uppgiften finns inte")
            return task_dict(task)

    # --- instances ---
    def _may_read(self, session: Session, actor: Actor, instance_id: int) -> bool:
        if self.policy.can_read_all(actor):
            return True
        tasks = session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance_id))
        return any(self.policy.owns_task(actor, t) for t in tasks) or bool(
            session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(HistoryEntry.instance_id == instance_id, HistoryEntry.actor == actor.username)
            )
        )

    def instances(
        self,
        actor: Actor,
        process_id: str | None = None,
        status: str | None = None,
        business_key: str | None = None,
        limit: int = 50,
        offset: int = 0,
        correlation: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if not self.policy.can_read_all(actor):
            raise Forbidden("Bara samordnare och processägare ser alla instanser")
        limit = max(1, min(limit, MAX_LIMIT))
        with self.db.read() as session:
            query = select(ProcessInstance)
            if process_id:
                query = query.where(ProcessInstance.process_id == process_id)
            if status:
                query = query.where(ProcessInstance.status == status)
            if business_key:
                query = query.where(ProcessInstance.business_key == business_key)
            for key, value in (correlation or {}).items():
                query = query.where(
                    ProcessInstance.id.in_(
                        select(InstanceCorrelation.instance_id).where(
                            InstanceCorrelation.name == key, InstanceCorrelation.value == value
                        )
                    )
                )
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(session.scalars(query.order_by(ProcessInstance.id.desc()).limit(limit).offset(offset)))
            tasks = self._tasks_by_instance(session, [r.id for r in rows])
            return {"items": [self._summary(r, tasks.get(r.id, [])) for r in rows], "total": total}

    def _tasks_by_instance(self, session: Session, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        result: dict[int, list[dict[str, Any]]] = {}
        if ids:
            for t in session.scalars(
                select(TaskIndex).where(TaskIndex.instance_id.in_(ids)).order_by(TaskIndex.created_at, TaskIndex.id)
            ):
                result.setdefault(t.instance_id, []).append(self._active(t))
        return result

    @staticmethod
    def _active(t: TaskIndex) -> dict[str, Any]:
        return {
            "id": t.id,
            "element_id": t.element_id,
            "name": t.name,
            "lane": t.lane,
            "due_at": _iso(t.due_at),
            "claimed_by": t.claimed_by,
        }

    @staticmethod
    def _summary(r: ProcessInstance, active: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": r.id,
            "process_id": r.process_id,
            "version": r.version,
            "routing": r.routing,
            "pilot_id": r.pilot_id,
            "route_reason": r.route_reason,
            "business_key": r.business_key,
            "status": r.status,
            "started_at": _iso(r.started_at),
            "ended_at": _iso(r.ended_at),
            "updated_at": _iso(r.updated_at),
            "active_tasks": active,
        }

    def instance(self, instance_id: int, actor: Actor) -> dict[str, Any]:
        with self.db.read() as session:
            r = session.get(ProcessInstance, instance_id)
            if r is None or not self._may_read(session, actor, instance_id):
                raise NotFound(f"Instansen {instance_id} finns inte")
            tasks = self._tasks_by_instance(session, [r.id]).get(r.id, [])
            timers = [
                {
                    "id": t.id,
                    "element_id": t.element_id,
                    "kind": t.kind,
                    "due_at": _iso(t.due_at),
                    "boundary": t.boundary,
                }
                for t in session.scalars(select(Timer).where(Timer.instance_id == r.id).order_by(Timer.due_at))
            ]
            history = [
                {
                    "id": h.id,
                    "at": _iso(h.at),
                    "kind": h.kind,
                    "element_id": h.element_id,
                    "task_id": h.task_id,
                    "actor": h.actor,
                    "data": h.data,
                }
                for h in session.scalars(
                    select(HistoryEntry).where(HistoryEntry.instance_id == r.id).order_by(HistoryEntry.id)
                )
            ]
            incidents = [
                {
                    "id": i.id,
                    "element_id": i.element_id,
                    "message": i.message,
                    "created_at": _iso(i.created_at),
                    "resolved_at": _iso(i.resolved_at),
                    "resolved_by": i.resolved_by,
                }
                for i in session.scalars(select(Incident).where(Incident.instance_id == r.id).order_by(Incident.id))
            ]
            deviations = [
                {"id": d.id, "element_id": d.element_id, "party": d.party, "cause": d.cause, "at": _iso(d.at)}
                for d in session.scalars(select(Deviation).where(Deviation.instance_id == r.id))
            ]
            return {
                **self._summary(r, tasks),
                "data": r.data,
                "timers": timers,
                "history": history,
                "incidents": incidents,
                "deviations": deviations,
                "parent_instance_id": r.parent_instance_id,
            }
