"""Read-only queries of deployed definitions (versions, XML, diffs): no patient data, so no access policy. Cases and
tasks are read through engine/reads, which applies need to know and writes the access log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.bpmn.flows import sequence_flows
from engine.domain.actors import Policy
from engine.domain.catalog import Catalog
from engine.domain.diff import DefinitionDiff, diff_elements, diff_flows
from engine.domain.errors import NotFound
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import (
    ProcessDefinition,
    ProcessInstance,
    TaskIndex,
)
from engine.reads.versions import default_version_now

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
                raise NotFound(
                    Text("%(process_id)s version %(version)s finns inte", process_id=process_id, version=version)
                )
            return d.xml

    def definition(self, process_id: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as session:
            query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
            if version is not None:
                query = query.where(ProcessDefinition.version == version)
            d = session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
            if d is None:
                raise NotFound(Text("%(process_id)s finns inte", process_id=process_id))
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
                raise NotFound(Text("%(process_id)s finns inte", process_id=process_id))
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
            default = default_version_now(session, process_id)
            return [
                {
                    "id": d.id,
                    "version": d.version,
                    "is_default": d.executable and d.version == default,
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
        """Added, removed and changed elements and sequence flows between two versions (engine/domain/diff.py)."""
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
                    raise NotFound(
                        Text("%(process_id)s version %(version)s finns inte", process_id=process_id, version=version)
                    )
                elements[version] = d.elements or {}
                xml[version] = d.xml
        result = diff_elements(elements[from_version], elements[to_version])
        return diff_flows(sequence_flows(xml[from_version]), sequence_flows(xml[to_version]), into=result)
