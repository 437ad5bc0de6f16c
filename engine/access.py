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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from engine.directory import Actor, Policy
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import ValidationFailed
from engine.domain.personnummer import normalise
from engine.persistence.db import Database
from engine.persistence.models import (
    AccessLogEntry,
    AuditEntry,
    HistoryEntry,
    InstanceCorrelation,
    ProcessInstance,
    TaskIndex,
)

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
    "person_sok": "Sökte person på personnummer",
    "logg_granskning": "Granskade åtkomstloggen",
    "loggutdrag": "Tog ut loggutdrag",
    "instanslista": "Såg i instanslistan (övervakning)",
    "instans_sok": "Sökte instanser på personnummer (övervakning)",
    "instans": "Öppnade instansen (övervakning)",
    "instans_atgard": "Åtgärdade instansen (övervakning)",
}


def personnummer_field(value: str | None, field: str = "personnummer") -> str | None:
    """A personnummer typed into a form, canonical (ÅÅÅÅMMDD-NNNN), or a Swedish field error."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return normalise(text)
    except ValueError as exc:
        raise ValidationFailed("Kontrollera personnumret", {"fields": {field: [f"Ogiltigt: {exc}."]}}) from exc


@dataclass(frozen=True)
class LogQuery:
    """The auditor's search: person, user, unit, period (whole days, Europe/Stockholm; `till` inclusive)."""

    personnummer: str | None = None
    username: str | None = None
    unit: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> LogQuery:
        errors: dict[str, list[str]] = {}
        found: dict[str, Any] = {}
        try:
            found["personnummer"] = personnummer_field(values.get("personnummer"))
        except ValidationFailed as exc:
            errors.update(exc.details["fields"])
        for key in ("username", "unit"):
            text = str(values.get(key) or "").strip()
            if len(text) > 200:
                errors[key] = ["Högst 200 tecken."]
            found[key] = text or None
        for key, label in (("since", "från"), ("until", "till")):
            text = str(values.get(key) or "").strip()
            if text:
                try:
                    found[key] = date.fromisoformat(text)
                except ValueError:
                    errors[key] = [f"Skriv datumet {label} som ÅÅÅÅ-MM-DD."]
        if not errors and found.get("since") and found.get("until") and found["since"] > found["until"]:
            errors["until"] = ["Slutdatumet ligger före startdatumet."]
        if errors:
            raise ValidationFailed("Sökningen kunde inte göras; rätta de markerade fälten", {"fields": errors})
        return cls(**found)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        since = datetime.combine(self.since, time(0), tzinfo=STOCKHOLM) if self.since else None
        until = datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=STOCKHOLM) if self.until else None
        return since, until

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k in ("personnummer", "username", "unit", "since", "until") if (v := getattr(self, k))}


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
        unit: str | None = None,
    ) -> list[dict[str, Any]]:
        query = select(AccessLogEntry)
        if personnummer:
            query = query.where(AccessLogEntry.personnummer == personnummer)
        if username:
            query = query.where(AccessLogEntry.username == username)
        if unit:
            query = query.where(AccessLogEntry.unit.contains(unit, autoescape=True))
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

    def audit(self, actor: Actor, query: LogQuery, limit: int = 500) -> list[dict[str, Any]]:
        """The auditor's search, itself logged: an audit_log row with the query, and an access-log row for every
        person whose accesses were shown."""
        since, until = query.bounds()
        rows = self.search(query.personnummer, query.username, since, until, limit, query.unit)
        self._audited(actor, "access_log_searched", query.as_dict(), len(rows))
        detail = " ".join(f"{k}={v}" for k, v in query.as_dict().items() if k != "personnummer")
        self.record(actor, "logg_granskning", [(r["personnummer"], None) for r in rows], detail)
        return rows

    def extract_for(self, actor: Actor, personnummer: str) -> str:
        """A person's loggutdrag for the auditor; taking it out is logged (audit_log and access_log)."""
        text = self.extract_csv(personnummer)
        self._audited(actor, "access_log_extract", {"personnummer": personnummer}, text.count("\n") - 1)
        self.record(actor, "loggutdrag", [(personnummer, None)], "CSV")
        return text

    def _audited(self, actor: Actor, action: str, details: dict[str, Any], rows: int) -> None:
        with self.db.unit_of_work() as session:
            session.add(
                AuditEntry(
                    at=self.clock.now(),
                    actor=actor.username,
                    action=action,
                    target_type="access_log",
                    target_id=details.get("personnummer", "")[:100],
                    details={**details, "rows": rows},
                )
            )

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
