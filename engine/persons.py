"""The person's page: every case and plan of one person that the user may see (need to know), the messages the
cases received and sent, and the next deadlines. Reads index and history tables only, never a workflow.

A person is reached through a case the user may see (`/personer/arende/<id>`) or a search by personnummer; either
way the answer for a person the user may not see is the same as for a person who does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.access import NeedToKnow
from engine.catalog import Catalog
from engine.directory import Actor
from engine.domain.clock import Clock
from engine.domain.errors import NotFound
from engine.persistence.db import Database
from engine.persistence.models import HistoryEntry, ProcessDefinition, ProcessInstance, TaskIndex, Timer
from engine.worklist import birth_date

NOT_FOUND = "Personen finns inte, eller du har inte behörighet att se personen"
PLAN_FIELDS = {
    "planeringsansvarig": "Planeringsansvarig",
    "planeringsansvarig_namn": "Planeringsansvarig (namn)",
    "insatser": "Insatser",
    "egen_del": "Den enskildes egen del",
    "uppfoljningsdatum": "Uppföljning",
    "uppfoljning_ansvarig": "Uppföljning (ansvarig)",
}
MESSAGE_KINDS = {"message_received": "Mottaget", "message": "Mottaget", "message_thrown": "Skickat"}
STATUS = {"running": "Pågår", "completed": "Avslutat", "cancelled": "Avbrutet", "incident": "Fel i processen"}
NEXT_DEADLINES = 10


class PersonOverview:
    def __init__(self, db: Database, catalog: Catalog, clock: Clock, need_to_know: NeedToKnow):
        self.db = db
        self.catalog = catalog
        self.clock = clock
        self.need_to_know = need_to_know

    def personnummer_of_case(self, actor: Actor, instance_id: int) -> str:
        """The person of a case the actor may see; NotFound otherwise (whether or not the case exists)."""
        if not self.need_to_know.may_see_instance(actor, instance_id):
            raise NotFound(NOT_FOUND)
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            pnr = (instance.data or {}).get("personnummer") if instance is not None else None
        if not pnr:
            raise NotFound(NOT_FOUND)
        return str(pnr)

    def find(self, actor: Actor, personnummer: str) -> list[int]:
        """The person's cases the actor may see, oldest first; NotFound when none (a stranger and a person who does
        not exist look alike)."""
        ids = self.need_to_know.visible_instances(actor, personnummer)
        if not ids:
            raise NotFound(NOT_FOUND)
        return ids

    def load(self, actor: Actor, personnummer: str) -> dict[str, Any]:
        ids = self.find(actor, personnummer)
        now = self.clock.now()
        policy = self.need_to_know.policy
        overseer = self.need_to_know.overseer(actor)
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
                    {
                        "id": instance.id,
                        "process_id": instance.process_id,
                        "process_name": (definition.name if definition is not None else None) or instance.process_id,
                        "business_key": instance.business_key,
                        "version": instance.version,
                        "routing": instance.routing,
                        "route_reason": instance.route_reason,
                        "status": STATUS.get(instance.status, instance.status),
                        "open": instance.ended_at is None,
                        "started_at": instance.started_at,
                        "ended_at": instance.ended_at,
                        "kommun": data.get("kommun"),
                        "tasks": [
                            {
                                "id": t.id,
                                "name": t.name,
                                "lane": t.lane,
                                "due_at": t.due_at,
                                "overdue": t.due_at is not None and t.due_at < now,
                                "mine": overseer or policy.owns_task(actor, t),
                            }
                            for t in tasks
                            if t.instance_id == instance.id
                        ],
                        "plan": {
                            label: data[key] for key, label in PLAN_FIELDS.items() if data.get(key) not in (None, "")
                        },
                    }
                )
            elements = {d.id: d.elements or {} for d in definitions.values()}
            by_instance = {i.id: elements.get(i.definition_id, {}) for i in instances}
            deadlines = [
                {"name": t.name, "lane": t.lane, "due_at": t.due_at, "instance_id": t.instance_id}
                for t in tasks
                if t.due_at is not None
            ] + [
                {
                    "name": by_instance[t.instance_id].get(t.element_id, {}).get("name") or t.element_id,
                    "lane": by_instance[t.instance_id].get(t.element_id, {}).get("lane"),
                    "due_at": t.due_at,
                    "instance_id": t.instance_id,
                }
                for t in timers
            ]
            deadlines.sort(key=lambda d: d["due_at"])
            for d in deadlines:
                d["overdue"] = d["due_at"] < now
            latest = instances[0]
            data = dict(latest.data or {})
            return {
                "person": {
                    "name": data.get("namn"),
                    "personnummer": personnummer,
                    "birth_date": birth_date(personnummer),
                    "kommun": data.get("kommun"),
                },
                "cases": cases,
                "messages": [
                    {
                        "at": m.at,
                        "direction": MESSAGE_KINDS[m.kind],
                        "name": (m.data or {}).get("name") or "",
                        "outcome": (m.data or {}).get("outcome") or "",
                        "instance_id": m.instance_id,
                    }
                    for m in messages
                ],
                "deadlines": deadlines[:NEXT_DEADLINES],
            }
