"""Reads of a person: every case and plan of one person that the actor may see (the one access policy), the messages
the cases received and sent, and the next deadlines. Index and history tables only, never a workflow.

A person is reached through a case the actor may see or a search by personnummer; either way the answer for a person
the actor may not see is the same as for a person who does not exist. Every view and every search is logged, a search
that finds nothing too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain.actors import Actor
from engine.domain.clock import Clock
from engine.domain.errors import NotFound
from engine.persistence.db import Database
from engine.persistence.models import CaseFact as CaseFactRow
from engine.persistence.models import (
    HistoryEntry,
    InstanceCorrelation,
    ProcessDefinition,
    ProcessInstance,
    TaskIndex,
    Timer,
)
from engine.reads.log import AccessLogWriter
from engine.reads.policy import AccessPolicy
from engine.reads.tasks import Deadline, birth_date

NOT_FOUND = "Personen finns inte, eller du har inte behörighet att se personen"
PLAN_FIELDS = (
    "planeringsansvarig",
    "planeringsansvarig_namn",
    "insatser",
    "egen_del",
    "uppfoljningsdatum",
    "uppfoljning_ansvarig",
)
MESSAGE_KINDS = {"message_received": "received", "message": "received", "message_thrown": "thrown"}
NEXT_DEADLINES = 10


@dataclass(frozen=True)
class PersonTask:
    id: str
    name: str
    lane: str | None
    due_at: datetime | None
    overdue: bool
    mine: bool


@dataclass(frozen=True)
class PersonCase:
    id: int
    process_id: str
    process_name: str
    business_key: str
    version: int
    routing: str
    route_reason: str
    status: str
    open: bool
    started_at: datetime
    ended_at: datetime | None
    kommun: str | None
    tasks: tuple[PersonTask, ...]
    plan: Mapping[str, Any]  # PLAN_FIELDS present in the case, by key


@dataclass(frozen=True)
class PersonMessage:
    at: datetime
    direction: str  # received | thrown
    name: str
    outcome: str
    instance_id: int


@dataclass(frozen=True)
class PersonView:
    name: str | None
    personnummer: str
    birth_date: date | None
    kommun: str | None
    cases: tuple[PersonCase, ...]
    messages: tuple[PersonMessage, ...]
    deadlines: tuple[Deadline, ...]


class PersonReads:
    def __init__(self, db: Database, access: AccessPolicy, clock: Clock, log: AccessLogWriter):
        self.db = db
        self.access = access
        self.clock = clock
        self.log = log

    def _visible(self, actor: Actor, personnummer: str) -> list[int]:
        now = self.clock.now()
        with self.db.read() as session:
            return sorted(
                session.scalars(
                    select(ProcessInstance.id).where(
                        ProcessInstance.id.in_(
                            select(InstanceCorrelation.instance_id).where(
                                InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == personnummer
                            )
                        ),
                        self.access.visible_instances(actor, now),
                    )
                )
            )

    def search(self, actor: Actor, personnummer: str) -> int:
        """The person's newest case the actor may see, to open the person's page on; NotFound when none (a
        stranger and a person who does not exist look alike). Logged either way."""
        ids = self._visible(actor, personnummer)
        if not ids:
            self.log.record(actor, "person_sok", [(personnummer, None)], "ingen träff")
            raise NotFound(NOT_FOUND)
        self.log.record(actor, "person_sok", [(personnummer, i) for i in ids], "träff")
        return ids[-1]

    def by_case(self, actor: Actor, instance_id: int, show_personnummer: bool = False) -> PersonView:
        """The person's page reached from one of their cases the actor may see; NotFound otherwise."""
        now = self.clock.now()
        with self.db.read() as session:
            personnummer = session.scalar(
                select(ProcessInstance.data["personnummer"].as_string()).where(
                    ProcessInstance.id == instance_id, self.access.visible_instances(actor, now)
                )
            )
        if not personnummer:
            raise NotFound(NOT_FOUND)
        view = self._load(actor, personnummer)
        self.log.record(
            actor,
            "visa_personnummer" if show_personnummer else "person",
            [(personnummer, c.id) for c in view.cases],
            "personens sida",
        )
        return view

    def _load(self, actor: Actor, personnummer: str) -> PersonView:
        ids = self._visible(actor, personnummer)
        if not ids:
            raise NotFound(NOT_FOUND)
        now = self.clock.now()
        with self.db.read() as session:
            instances = session.scalars(
                select(ProcessInstance)
                .where(ProcessInstance.id.in_(ids))
                .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
            ).all()
            definitions = {
                d.id: d
                for d in session.scalars(
                    select(ProcessDefinition).where(ProcessDefinition.id.in_({i.definition_id for i in instances}))
                )
            }
            tasks = session.scalars(
                select(TaskIndex).where(TaskIndex.instance_id.in_(ids)).order_by(TaskIndex.created_at)
            ).all()
            mine = set(
                session.scalars(
                    select(TaskIndex.id).where(TaskIndex.instance_id.in_(ids), self.access.actionable_tasks(actor))
                )
            )
            timers = session.scalars(select(Timer).where(Timer.instance_id.in_(ids)).order_by(Timer.due_at)).all()
            messages = session.scalars(
                select(HistoryEntry)
                .where(HistoryEntry.instance_id.in_(ids), HistoryEntry.kind.in_(sorted(MESSAGE_KINDS)))
                .order_by(HistoryEntry.at.desc(), HistoryEntry.id.desc())
            ).all()
            cases = []
            for instance in instances:
                definition = definitions.get(instance.definition_id)
                data = dict(instance.data or {})
                cases.append(
                    PersonCase(
                        id=instance.id,
                        process_id=instance.process_id,
                        process_name=(definition.name if definition is not None else None) or instance.process_id,
                        business_key=instance.business_key,
                        version=instance.version,
                        routing=instance.routing,
                        route_reason=instance.route_reason,
                        status=instance.status,
                        open=instance.ended_at is None,
                        started_at=instance.started_at,
                        ended_at=instance.ended_at,
                        kommun=instance.kommun,
                        tasks=tuple(
                            PersonTask(
                                t.id,
                                t.name,
                                t.lane,
                                t.due_at,
                                t.due_at is not None and t.due_at < now,
                                t.id in mine,
                            )
                            for t in tasks
                            if t.instance_id == instance.id
                        ),
                        plan={key: data[key] for key in PLAN_FIELDS if data.get(key) not in (None, "")},
                    )
                )
            elements = {d.id: d.elements or {} for d in definitions.values()}
            by_instance = {i.id: elements.get(i.definition_id, {}) for i in instances}
            deadlines = [
                Deadline(t.name, t.due_at, t.due_at < now, t.lane, t.instance_id) for t in tasks if t.due_at is not None
            ] + [
                Deadline(
                    str(by_instance[t.instance_id].get(t.element_id, {}).get("name") or t.element_id),
                    t.due_at,
                    t.due_at < now,
                    by_instance[t.instance_id].get(t.element_id, {}).get("lane"),
                    t.instance_id,
                )
                for t in timers
            ]
            deadlines.sort(key=lambda d: d.due_at)
            latest = dict(instances[0].data or {})
            return PersonView(
                name=latest.get("namn"),
                personnummer=personnummer,
                birth_date=birth_date(personnummer),
                kommun=instances[0].kommun,
                cases=tuple(cases),
                messages=tuple(
                    PersonMessage(
                        m.at,
                        MESSAGE_KINDS[m.kind],
                        str((m.data or {}).get("name") or ""),
                        str((m.data or {}).get("outcome") or ""),
                        m.instance_id,
                    )
                    for m in messages
                ),
                deadlines=tuple(deadlines[:NEXT_DEADLINES]),
            )


@dataclass(frozen=True)
class PreviousStay:
    """The person's latest discharge Samflöde recorded before an admission (a readmission the platform knows)."""

    instance_id: int
    discharged_at: datetime
    vardtillfalle_id: str | None


def previous_discharge(
    session: Session,
    access: AccessPolicy,
    log: AccessLogWriter,
    actor: Actor,
    personnummer: str,
    admitted_at: datetime,
    within: timedelta,
    now: datetime,
    exclude_instance: int | None = None,
) -> PreviousStay | None:
    """The same person's latest discharge within `within` before `admitted_at`, among the cases the actor (the
    system that reports the admission) may see under the one access policy; the look-up is in the access log as a
    search by personnummer when it finds a case. Read inside the starting command's unit of work."""
    query = (
        select(CaseFactRow.instance_id, CaseFactRow.discharged_at, ProcessInstance.data["vardtillfalle_id"].as_string())
        .join(ProcessInstance, ProcessInstance.id == CaseFactRow.instance_id)
        .where(
            CaseFactRow.instance_id.in_(
                select(InstanceCorrelation.instance_id).where(
                    InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == personnummer
                )
            ),
            CaseFactRow.discharged_at.is_not(None),
            CaseFactRow.discharged_at >= admitted_at - within,
            CaseFactRow.discharged_at < admitted_at,
            access.visible_instances(actor, now),
        )
        .order_by(CaseFactRow.discharged_at.desc())
        .limit(1)
    )
    if exclude_instance is not None:
        query = query.where(CaseFactRow.instance_id != exclude_instance)
    row = session.execute(query).first()
    if row is None:
        return None
    log.record_in(session, actor, "person_sok", [(personnummer, row[0])], "återinläggning: tidigare utskrivning")
    return PreviousStay(int(row[0]), row[1], row[2])
