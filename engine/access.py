"""The access log (Patientdatalagen 4 kap. 3 §, HSLF-FS 2016:40 4 kap. 9 §) and need to know.

Every view of a person's data and every change is a row: user, the user's unit, time, action, person. Rows are only
ever added (the database refuses updates, see migration 0003). An auditor searches the log and exports a person's
log extract (loggutdrag) as CSV.

Need to know: a user sees a person when the user's unit takes part in one of the person's open or recently ended
cases (a task of the case in one of the user's units, or a step of the case the user did), or the user holds an
overseeing role (coordinator, admin).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine.directory import Actor, Policy
from engine.domain.clock import STOCKHOLM, Clock
from engine.persistence.db import Database
from engine.persistence.models import AccessLogEntry, HistoryEntry, InstanceCorrelation, ProcessInstance, TaskIndex

RECENT = timedelta(days=30)
OVERSEERS = frozenset({"admin", "coordinator"})
ACTIONS = {
    "lista": "Såg i arbetslistan",
    "uppgift": "Öppnade uppgift",
    "visa_personnummer": "Visade personnummer",
    "person": "Öppnade personens sida",
    "utkast": "Sparade utkast",
    "slutfor": "Slutförde uppgift",
    "ta": "Tog uppgift",
    "slapp": "Släppte uppgift",
    "lamna_over": "Lämnade över uppgift",
}


class AccessLog:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    @staticmethod
    def _unit(actor: Actor) -> str:
        return ", ".join(sorted(u for u in actor.units if u.startswith("SE"))) or ", ".join(sorted(actor.units))

    def record(
        self, actor: Actor, action: str, persons: Iterable[tuple[str | None, int | None]], detail: str = ""
    ) -> None:
        """One row per (personnummer, instance id); persons without a personnummer are not patient data."""
        now = self.clock.now()
        rows = [
            AccessLogEntry(
                at=now,
                username=actor.username,
                user_name=actor.name[:200],
                unit=self._unit(actor)[:200],
                action=action,
                personnummer=pnr,
                instance_id=instance_id,
                detail=detail[:300],
            )
            for pnr, instance_id in dict.fromkeys(persons)
            if pnr
        ]
        if rows:
            with self.db.unit_of_work() as session:
                session.add_all(rows)

    def search(
        self,
        personnummer: str | None = None,
        username: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        query = select(AccessLogEntry)
        if personnummer:
            query = query.where(AccessLogEntry.personnummer == personnummer)
        if username:
            query = query.where(AccessLogEntry.username == username)
        if since:
            query = query.where(AccessLogEntry.at >= since)
        if until:
            query = query.where(AccessLogEntry.at < until)
        with self.db.read() as session:
            rows = session.scalars(query.order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()).limit(limit))
            return [
                {
                    "at": r.at,
                    "username": r.username,
                    "user_name": r.user_name,
                    "unit": r.unit,
                    "action": r.action,
                    "action_text": ACTIONS.get(r.action, r.action),
                    "personnummer": r.personnummer,
                    "instance_id": r.instance_id,
                    "detail": r.detail,
                }
                for r in rows
            ]

    def extract_csv(self, personnummer: str) -> str:
        """Loggutdrag: every access to one person's data, oldest first, for the person or the auditor."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["tidpunkt", "användare", "namn", "enhet", "händelse", "ärende", "detalj"])
        for r in reversed(self.search(personnummer=personnummer, limit=100_000)):
            writer.writerow(
                [
                    r["at"].astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S"),
                    r["username"],
                    r["user_name"],
                    r["unit"],
                    r["action_text"],
                    r["instance_id"] or "",
                    r["detail"],
                ]
            )
        return out.getvalue()


class NeedToKnow:
    def __init__(self, db: Database, policy: Policy, clock: Clock):
        self.db = db
        self.policy = policy
        self.clock = clock

    def overseer(self, actor: Actor) -> bool:
        return bool(actor.roles & OVERSEERS)

    def takes_part(self, actor: Actor, data: dict[str, Any]) -> bool:
        """The actor's unit is one of the case's units for a lane of the actor's roles (lanes.json `unit_from`:
        the admitting ward, the listed vårdcentral, the folkbokföringskommun)."""
        for rule in self.policy.catalog.lanes.values():
            if rule.unit_from and any(r in actor.roles for r in rule.roles):
                value = data.get(rule.unit_from)
                if value not in (None, "") and str(value) in actor.units:
                    return True
        return False

    def _visible(self, session: Any, actor: Actor, instance: ProcessInstance) -> bool:
        if self.overseer(actor):
            return True
        if instance.ended_at is not None and instance.ended_at < self.clock.now() - RECENT:
            return False
        if instance.status == "cancelled" and instance.ended_at is None:
            return False
        if self.takes_part(actor, dict(instance.data or {})):
            return True
        tasks = session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id)).all()
        if any(self.policy.owns_task(actor, t) for t in tasks):
            return True
        return (
            session.scalar(
                select(HistoryEntry.id)
                .where(HistoryEntry.instance_id == instance.id, HistoryEntry.actor == actor.username)
                .limit(1)
            )
            is not None
        )

    def instances_for_person(self, personnummer: str) -> list[int]:
        with self.db.read() as session:
            return sorted(
                session.scalars(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == personnummer
                    )
                )
            )

    def visible_instances(self, actor: Actor, personnummer: str) -> list[int]:
        """The person's cases the actor may see (open or ended within RECENT where the actor's unit takes part;
        every case for overseeing roles). Empty: the person does not exist for this actor."""
        ids = self.instances_for_person(personnummer)
        if not ids:
            return []
        with self.db.read() as session:
            rows = session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))).all()
            return sorted(r.id for r in rows if self._visible(session, actor, r))

    def may_see_instance(self, actor: Actor, instance_id: int) -> bool:
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            return instance is not None and self._visible(session, actor, instance)
