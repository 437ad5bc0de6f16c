"""Monitoring reads for coordinators (issue 6): the instance list with its filters, the instance page (what the
diagram is marked with, the timeline, timers, messages, incidents, deviations, linked cases) and the heat map of a
process version. SQL over the index and history tables only; no workflow is ever loaded here (convention 9).

Commands that repair an instance (retry, cancel, move a token, fire a timer now, reassign) are in engine/runtime.py.
Who may read what is Policy (engine/directory.py): `can_monitor`, `can_search_instances_by_person`,
`can_view_heatmap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, case, cast, func, literal, select, union
from sqlalchemy.orm import Session

from engine.directory import Actor, Policy
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import Forbidden, NotFound, ValidationFailed
from engine.domain.personnummer import normalise
from engine.persistence.db import Database
from engine.persistence.models import (
    Deviation,
    HistoryEntry,
    Incident,
    InstanceCorrelation,
    MessageSubscription,
    OrgUnit,
    ProcessDefinition,
    ProcessInstance,
    ReceivedMessage,
    TaskIndex,
    Timer,
    User,
)
from engine.worklist import birth_date

STATUSES = {
    "running": "Pågår (uppgift att göra)",
    "waiting": "Väntar (timer eller meddelande)",
    "incident": "Incident",
    "completed": "Avslutad",
    "cancelled": "Avbruten",
}
COUNT_CAP = 1_000  # like the worklist: a count stops here and says "1 000+"
MAX_PAGE = 200
COMPLETIONS = ("task_completed", "element_completed")
MESSAGE_CATCHERS = ("intermediateCatchEvent", "receiveTask")
REPAIRS = ("retried", "token_moved", "timer_fired_manually", "reassigned", "cancelled")  # history kinds with a reason
HISTORY_TEXT = {
    "started": "Startad",
    "task_created": "Uppgift skapad",
    "task_completed": "Uppgift slutförd",
    "element_completed": "Steg utfört av motorn",
    "claimed": "Uppgift tagen",
    "unclaimed": "Uppgift släppt",
    "reassigned": "Uppgift omfördelad",
    "timer_fired": "Timer utlöst",
    "timer_fired_manually": "Timer utlöst i förtid",
    "message_received": "Meddelande mottaget",
    "message_thrown": "Meddelande skickat",
    "incident": "Incident",
    "retried": "Nytt försök",
    "token_moved": "Token flyttad",
    "cancelled": "Avbruten",
    "completed": "Avslutad",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days in Europe/Stockholm; `until` inclusive."""
    start = datetime.combine(since, time(0), tzinfo=STOCKHOLM) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=STOCKHOLM) if until else None
    return start, end


def _date_field(values: Mapping[str, Any], key: str, label: str, errors: dict[str, list[str]]) -> date | None:
    text = str(values.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[key] = [f"Skriv datumet {label} som ÅÅÅÅ-MM-DD."]
        return None


@dataclass(frozen=True)
class InstanceFilter:
    """The instance list's filters. Query names are Swedish in the pages (`fran`, `till`, `forsenade`) and English
    in the API; `of` reads both."""

    process: str | None = None
    version: int | None = None
    status: str | None = None
    kommun: str | None = None
    vardcentral: str | None = None
    avdelning: str | None = None
    overdue: bool = False
    since: date | None = None
    until: date | None = None
    personnummer: str | None = None
    business_key: str | None = None

    ALIASES = {
        "process": ("process", "process_id"),
        "since": ("fran", "started_from"),
        "until": ("till", "started_to"),
        "overdue": ("forsenade", "overdue"),
        "avdelning": ("avdelning", "ward"),
    }

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> InstanceFilter:
        def get(key: str) -> Any:
            for name in cls.ALIASES.get(key, (key,)):
                if values.get(name) not in (None, ""):
                    return values.get(name)
            return None

        errors: dict[str, list[str]] = {}
        found: dict[str, Any] = {}
        for key in ("process", "kommun", "vardcentral", "avdelning", "business_key"):
            text = str(get(key) or "").strip()
            if len(text) > 200:
                errors[key] = ["Högst 200 tecken."]
            found[key] = text or None
        version = str(get("version") or "").strip()
        if version:
            if version.isdigit() and 0 < int(version) < 1_000_000:
                found["version"] = int(version)
            else:
                errors["version"] = ["Versionen är ett heltal från 1."]
        status = str(get("status") or "").strip()
        if status:
            if status in STATUSES:
                found["status"] = status
            else:
                errors["status"] = ["Välj en av statusarna i listan."]
        found["overdue"] = str(get("overdue") or "").strip().lower() in ("1", "true", "ja", "on", "yes")
        found["since"] = _date_field(values, "fran" if "fran" in values else "started_from", "från", errors)
        found["until"] = _date_field(values, "till" if "till" in values else "started_to", "till", errors)
        if found["since"] and found["until"] and found["since"] > found["until"]:
            errors["till"] = ["Slutdatumet ligger före startdatumet."]
        pnr = str(get("personnummer") or "").strip()
        if pnr:
            try:
                found["personnummer"] = normalise(pnr)
            except ValueError as exc:
                errors["personnummer"] = [f"Ogiltigt personnummer: {exc}."]
        if errors:
            raise ValidationFailed("Filtret kunde inte användas; rätta de markerade fälten", {"fields": errors})
        return cls(**found)

    def as_query(self) -> dict[str, str]:
        """The page's query string (without the personnummer, which is never put in an address)."""
        out: dict[str, str] = {}
        for key, name in (
            ("process", "process"),
            ("version", "version"),
            ("status", "status"),
            ("kommun", "kommun"),
            ("vardcentral", "vardcentral"),
            ("avdelning", "avdelning"),
            ("since", "fran"),
            ("until", "till"),
        ):
            value = getattr(self, key)
            if value not in (None, ""):
                out[name] = str(value)
        if self.overdue:
            out["forsenade"] = "1"
        return out


def _person_columns() -> tuple[Any, ...]:
    data = ProcessInstance.data
    return (data["namn"].as_string().label("namn"), data["personnummer"].as_string().label("personnummer"))


class Monitoring:
    def __init__(self, db: Database, policy: Policy, clock: Clock):
        self.db = db
        self.policy = policy
        self.clock = clock

    # --- the instance list ------------------------------------------------------------------------------------------
    def _where(self, filters: InstanceFilter, now: datetime) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        pi = ProcessInstance
        if filters.process:
            clauses.append(pi.process_id == filters.process)
        if filters.version is not None:
            clauses.append(pi.version == filters.version)
        if filters.status:
            clauses.append(pi.status == filters.status)
        for column in ("kommun", "vardcentral", "avdelning"):
            value = getattr(filters, column)
            if value:
                clauses.append(getattr(pi, column) == value)
        if filters.business_key:
            clauses.append(pi.business_key == filters.business_key)
        since, until = _day_bounds(filters.since, filters.until)
        if since is not None:
            clauses.append(pi.started_at >= since)
        if until is not None:
            clauses.append(pi.started_at < until)
        if filters.overdue:
            # Both sides are served by the due_at indexes: a few overdue rows, not a scan of every instance.
            late = union(
                select(TaskIndex.instance_id).where(TaskIndex.due_at < now),
                select(Timer.instance_id).where(Timer.due_at < now),
            )
            clauses.append(pi.id.in_(select(late.subquery().c[0])))
        if filters.personnummer:
            clauses.append(
                pi.id.in_(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == filters.personnummer
                    )
                )
            )
        return clauses

    def instances(
        self, actor: Actor, filters: InstanceFilter | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """A page of instances, newest first, with the count of all that match stopping at COUNT_CAP + 1."""
        if not self.policy.can_monitor(actor) and not self.policy.can_read_all(actor):
            raise Forbidden("Bara samordnare, processägare och granskare ser instanslistan")
        filters = filters or InstanceFilter()
        if filters.personnummer and not (self.policy.can_search_instances_by_person(actor) or "system" in actor.roles):
            raise Forbidden("Bara samordnare får söka instanser på personnummer")
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        now = self.clock.now()
        where = self._where(filters, now)
        with self.db.read() as session:
            rows = session.execute(
                select(ProcessInstance, *_person_columns())
                .where(*where)
                .order_by(ProcessInstance.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            counted = select(ProcessInstance.id).where(*where).limit(COUNT_CAP + 1)
            total = int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
            ids = [r[0].id for r in rows]
            tasks: dict[int, list[dict[str, Any]]] = {}
            late: set[int] = set()
            timers: dict[int, datetime] = {}
            incidents: dict[int, int] = {}
            if ids:
                for t in session.scalars(
                    select(TaskIndex).where(TaskIndex.instance_id.in_(ids)).order_by(TaskIndex.created_at, TaskIndex.id)
                ):
                    overdue = t.due_at is not None and t.due_at < now
                    late.update([t.instance_id] if overdue else [])
                    tasks.setdefault(t.instance_id, []).append(
                        {
                            "id": t.id,
                            "element_id": t.element_id,
                            "name": t.name,
                            "lane": t.lane,
                            "due_at": _iso(t.due_at),
                            "claimed_by": t.claimed_by,
                            "overdue": overdue,
                        }
                    )
                for instance_id, due_at in session.execute(
                    select(Timer.instance_id, func.min(Timer.due_at))
                    .where(Timer.instance_id.in_(ids))
                    .group_by(Timer.instance_id)
                ):
                    timers[instance_id] = due_at
                    if due_at is not None and due_at < now:
                        late.add(instance_id)
                incidents = dict(
                    session.execute(
                        select(Incident.instance_id, func.count())
                        .where(Incident.instance_id.in_(ids), Incident.resolved_at.is_(None))
                        .group_by(Incident.instance_id)
                    ).all()
                )
            items = []
            for row in rows:
                r: ProcessInstance = row[0]
                next_timer = timers.get(r.id)
                items.append(
                    {
                        "id": r.id,
                        "process_id": r.process_id,
                        "version": r.version,
                        "business_key": r.business_key,
                        "status": r.status,
                        "started_at": _iso(r.started_at),
                        "ended_at": _iso(r.ended_at),
                        "updated_at": _iso(r.updated_at),
                        "kommun": r.kommun,
                        "vardcentral": r.vardcentral,
                        "avdelning": r.avdelning,
                        "person_name": row.namn,
                        "personnummer": row.personnummer,
                        "birth_date": birth_date(row.personnummer),
                        "active_tasks": tasks.get(r.id, []),
                        "next_timer_at": _iso(next_timer),
                        "overdue": r.id in late,
                        "open_incidents": int(incidents.get(r.id, 0)),
                        "parent_instance_id": r.parent_instance_id,
                    }
                )
        return {"items": items, "total": total, "capped": total > COUNT_CAP, "limit": limit, "offset": offset}

    def options(self) -> dict[str, list[tuple[str, str]]]:
        """What the list's filters choose from: deployed processes and versions, kommuner, wards, vårdcentraler."""
        with self.db.read() as session:
            versions = session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.version, ProcessDefinition.name)
                .where(ProcessDefinition.executable.is_(True))
                .order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
            ).all()
            units = session.execute(
                select(OrgUnit.kind, OrgUnit.hsa_id, OrgUnit.name, OrgUnit.kommun).order_by(OrgUnit.name)
            ).all()
        processes: dict[str, str] = {}
        for process_id, _, name in versions:
            processes.setdefault(process_id, name or process_id)
        return {
            "process": sorted(processes.items(), key=lambda p: p[1]),
            "version": sorted({(str(v), str(v)) for _, v, _ in versions}, key=lambda v: -int(v[0])),
            "kommun": sorted({(u.kommun, u.kommun) for u in units if u.kind == "kommun" and u.kommun}),
            "avdelning": [(u.hsa_id, u.name) for u in units if u.kind == "avdelning"],
            "vardcentral": [(u.hsa_id, u.name) for u in units if u.kind == "vardcentral"],
        }

    # --- the instance page -------------------------------------------------------------------------------------------
    def instance(self, actor: Actor, instance_id: int) -> dict[str, Any]:
        """Everything the instance page shows, including the state of each diagram element:
        `elements[element_id] = {completed, active, waiting, overdue, incident, due_at}`."""
        if not self.policy.can_monitor(actor):
            raise Forbidden("Bara samordnare, processägare och granskare ser instanssidan")
        now = self.clock.now()
        with self.db.read() as session:
            r = session.get(ProcessInstance, instance_id)
            if r is None:
                raise NotFound(f"Instansen {instance_id} finns inte")
            definition = session.get(ProcessDefinition, r.definition_id)
            elements_meta: dict[str, Any] = dict(definition.elements or {}) if definition is not None else {}
            history = list(
                session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == r.id).order_by(HistoryEntry.id))
            )
            tasks = list(
                session.scalars(
                    select(TaskIndex).where(TaskIndex.instance_id == r.id).order_by(TaskIndex.created_at, TaskIndex.id)
                )
            )
            timers = list(session.scalars(select(Timer).where(Timer.instance_id == r.id).order_by(Timer.due_at)))
            awaited = set(
                session.scalars(select(MessageSubscription.message_name).where(MessageSubscription.instance_id == r.id))
            )
            incidents = list(
                session.scalars(select(Incident).where(Incident.instance_id == r.id).order_by(Incident.id))
            )
            deviations = list(
                session.scalars(select(Deviation).where(Deviation.instance_id == r.id).order_by(Deviation.at))
            )
            received = list(
                session.scalars(
                    select(ReceivedMessage)
                    .where(ReceivedMessage.instance_id == r.id)
                    .order_by(ReceivedMessage.received_at)
                )
            )
            linked = self._linked(session, r)
            users = {h.actor for h in history if h.actor} | {t.claimed_by for t in tasks if t.claimed_by}
            names = (
                dict(session.execute(select(User.username, User.name).where(User.username.in_(sorted(users)))).all())
                if users
                else {}
            )

            elements: dict[str, dict[str, Any]] = {}

            def element(element_id: str) -> dict[str, Any]:
                return elements.setdefault(
                    element_id,
                    {
                        "completed": 0,
                        "active": False,
                        "waiting": False,
                        "overdue": False,
                        "incident": False,
                        "due_at": None,
                    },
                )

            for h in history:
                if h.kind in COMPLETIONS and h.element_id:
                    element(h.element_id)["completed"] += 1
            for t in tasks:
                e = element(t.element_id)
                e["active"] = True
                if t.due_at is not None:
                    e["due_at"] = _iso(t.due_at)
                    e["overdue"] = e["overdue"] or t.due_at < now
            for timer in timers:
                e = element(timer.element_id)
                e["waiting"] = True
                e["due_at"] = _iso(timer.due_at)
                e["overdue"] = e["overdue"] or timer.due_at < now
            for i in incidents:
                if i.resolved_at is None and i.element_id:
                    element(i.element_id)["incident"] = True
            # Waiting for a message: the catch events and receive tasks of the messages the instance subscribes to
            # (a boundary message event sits on an active task, which is marked already).
            for element_id, meta in elements_meta.items():
                if meta.get("message") in awaited and meta.get("type") in MESSAGE_CATCHERS:
                    e = element(element_id)
                    e["waiting"], e["message"] = True, meta.get("message")

            def label(element_id: str | None) -> str:
                if not element_id:
                    return ""
                return str((elements_meta.get(element_id) or {}).get("name") or element_id)

            data = dict(r.data or {})
            return {
                "id": r.id,
                "process_id": r.process_id,
                "process_name": (definition.name if definition is not None else None) or r.process_id,
                "version": r.version,
                "routing": r.routing,
                "pilot_id": r.pilot_id,
                "route_reason": r.route_reason,
                "definition_id": r.definition_id,
                "business_key": r.business_key,
                "status": r.status,
                "status_text": STATUSES.get(r.status, r.status),
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "started_by": r.started_by,
                "kommun": r.kommun,
                "vardcentral": r.vardcentral,
                "avdelning": r.avdelning,
                "person_name": data.get("namn"),
                "personnummer": data.get("personnummer"),
                "data": data,
                "elements": elements,
                "element_names": {k: label(k) for k in elements_meta},
                "movable_targets": sorted(
                    ((k, label(k)) for k, v in elements_meta.items() if v.get("type") not in ("boundaryEvent", "lane")),
                    key=lambda e: e[1].lower(),
                ),
                "active_tasks": [
                    {
                        "id": t.id,
                        "element_id": t.element_id,
                        "name": t.name,
                        "lane": t.lane,
                        "unit": t.unit,
                        "created_at": t.created_at,
                        "due_at": t.due_at,
                        "overdue": t.due_at is not None and t.due_at < now,
                        "claimed_by": t.claimed_by,
                        "claimed_by_name": names.get(t.claimed_by or "", t.claimed_by),
                    }
                    for t in tasks
                ],
                "timers": [
                    {
                        "id": t.id,
                        "element_id": t.element_id,
                        "element_name": label(t.element_id),
                        "kind": t.kind,
                        "boundary": t.boundary,
                        "due_at": t.due_at,
                        "overdue": t.due_at < now,
                    }
                    for t in timers
                ],
                "history": [
                    {
                        "id": h.id,
                        "at": h.at,
                        "kind": h.kind,
                        "kind_text": HISTORY_TEXT.get(h.kind, h.kind),
                        "element_id": h.element_id,
                        "element_name": label(h.element_id),
                        "task_id": h.task_id,
                        "actor": h.actor,
                        "actor_name": names.get(h.actor or "", h.actor),
                        "changes": _changes(h),
                        "reason": (h.data or {}).get("reason") if h.kind in REPAIRS else None,
                        "data": h.data or {},
                    }
                    for h in history
                ],
                "incidents": [
                    {
                        "id": i.id,
                        "element_id": i.element_id,
                        "element_name": label(i.element_id),
                        "message": i.message,
                        "created_at": i.created_at,
                        "resolved_at": i.resolved_at,
                        "resolved_by": i.resolved_by,
                    }
                    for i in incidents
                ],
                "deviations": [
                    {
                        "id": d.id,
                        "element_id": d.element_id,
                        "element_name": label(d.element_id),
                        "party": d.party,
                        "cause": d.cause,
                        "at": d.at,
                    }
                    for d in deviations
                ],
                "messages": [
                    {"message_id": m.message_id, "name": m.name, "outcome": m.outcome, "received_at": m.received_at}
                    for m in received
                ]
                + [
                    {
                        "message_id": (h.data or {}).get("message_id") or "",
                        "name": (h.data or {}).get("name") or "",
                        "outcome": "skickat: " + str((h.data or {}).get("outcome") or ""),
                        "received_at": h.at,
                    }
                    for h in history
                    if h.kind == "message_thrown"
                ],
                **linked,
            }

    @staticmethod
    def _linked(session: Session, r: ProcessInstance) -> dict[str, Any]:
        """The parent (the case that started this one by a message or a call), the children it started, and the
        other cases of the same person and care episode (linked by message correlation)."""

        def brief(rows: Any) -> list[dict[str, Any]]:
            return [{"id": x.id, "process_id": x.process_id, "version": x.version, "status": x.status} for x in rows]

        parent = session.get(ProcessInstance, r.parent_instance_id) if r.parent_instance_id else None
        children = session.scalars(
            select(ProcessInstance).where(ProcessInstance.parent_instance_id == r.id).order_by(ProcessInstance.id)
        ).all()
        keys = session.execute(
            select(InstanceCorrelation.name, InstanceCorrelation.value).where(InstanceCorrelation.instance_id == r.id)
        ).all()
        correlated: list[ProcessInstance] = []
        pnr = next((v for k, v in keys if k == "personnummer"), None)
        if pnr:
            seen = {r.id, *(c.id for c in children), *([parent.id] if parent else [])}
            rows = session.scalars(
                select(ProcessInstance)
                .where(
                    ProcessInstance.id.in_(
                        select(InstanceCorrelation.instance_id).where(
                            InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == pnr
                        )
                    )
                )
                .order_by(ProcessInstance.id)
                .limit(50)
            ).all()
            correlated = [x for x in rows if x.id not in seen]
        return {
            "parent": brief([parent])[0] if parent is not None else None,
            "children": brief(children),
            "correlated": brief(correlated),
        }

    def diagram(self, actor: Actor, definition_id: int) -> bytes:
        if not (self.policy.can_monitor(actor) or self.policy.can_view_heatmap(actor)):
            raise Forbidden("Du får inte se processens diagram här")
        with self.db.read() as session:
            d = session.get(ProcessDefinition, definition_id)
            if d is None:
                raise NotFound("Processversionen finns inte")
            return d.xml

    def versions(self) -> list[tuple[str, int]]:
        """(process id, version) of every executable version, newest first per process."""
        with self.db.read() as session:
            return [
                (p, int(v))
                for p, v in session.execute(
                    select(ProcessDefinition.process_id, ProcessDefinition.version)
                    .where(ProcessDefinition.executable.is_(True))
                    .order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
                )
            ]

    def instance_names(self, definition_id: int) -> dict[str, str]:
        """Element id -> name (or id) of a process version, for the heat map's table."""
        with self.db.read() as session:
            d = session.get(ProcessDefinition, definition_id)
            elements = dict(d.elements or {}) if d is not None else {}
        return {k: str(v.get("name") or k) for k, v in elements.items()}

    def definition_id(self, process_id: str, version: int | None) -> tuple[int, int, str]:
        """(definition id, version, name) of a process version, the newest when `version` is None."""
        with self.db.read() as session:
            query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
            if version is not None:
                query = query.where(ProcessDefinition.version == version)
            d = session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
            if d is None:
                raise NotFound(f"{process_id}" + (f" version {version}" if version else "") + " finns inte")
            return d.id, d.version, d.name or d.process_id

    # --- the heat map --------------------------------------------------------------------------------------------
    def heatmap(self, actor: Actor, process_id: str, version: int, since: date, until: date) -> dict[str, Any]:
        """Per element of one process version, over the tasks and steps completed in [since, until] (whole days,
        Europe/Stockholm): how often it was completed, and for user tasks the mean and p90 of the time in the step
        (task created -> task completed) and of the wait before someone took it (task created -> first claim or
        reassignment, or completion when nobody took it). Seconds. Aggregated in the database; p90 is the continuous
        percentile (PostgreSQL's percentile_cont(0.9); the same interpolation in SQL on SQLite)."""
        if not self.policy.can_view_heatmap(actor):
            raise Forbidden("Du får inte se värmekartan")
        if since > until:
            raise ValidationFailed("Slutdatumet ligger före startdatumet", {"fields": {"till": ["före från"]}})
        start, end = _day_bounds(since, until)
        assert start is not None and end is not None
        with self.db.read() as session:
            instances = select(ProcessInstance.id).where(
                ProcessInstance.process_id == process_id, ProcessInstance.version == version
            )
            counts = dict(
                session.execute(
                    select(HistoryEntry.element_id, func.count())
                    .where(
                        HistoryEntry.kind.in_(COMPLETIONS),
                        HistoryEntry.at >= start,
                        HistoryEntry.at < end,
                        HistoryEntry.instance_id.in_(instances),
                    )
                    .group_by(HistoryEntry.element_id)
                ).all()
            )
            durations = self._durations(session, instances, start, end)
            figures = self._aggregate(session, durations)
        elements: dict[str, dict[str, Any]] = {}
        for element_id, count in counts.items():
            if element_id:
                elements.setdefault(element_id, {"element_id": element_id})["count"] = int(count)
        for (element_id, measure), (n, mean, p90) in figures.items():
            e = elements.setdefault(element_id, {"element_id": element_id})
            e[f"{measure}_n"] = n
            e[f"{measure}_mean_seconds"] = mean
            e[f"{measure}_p90_seconds"] = p90
        for e in elements.values():
            e.setdefault("count", 0)
            for measure in ("time", "wait"):
                e.setdefault(f"{measure}_n", 0)
                e.setdefault(f"{measure}_mean_seconds", None)
                e.setdefault(f"{measure}_p90_seconds", None)
        return {
            "process_id": process_id,
            "version": version,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "elements": sorted(elements.values(), key=lambda e: (-e["count"], e["element_id"])),
        }

    def _seconds(self, later: Any, earlier: Any) -> Any:
        if self.db.dialect == "postgresql":
            return func.extract("epoch", later - earlier)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def _durations(self, session: Session, instances: Any, start: datetime, end: datetime) -> Any:
        """(element_id, time, wait) rows in seconds: `time` = task created -> completed, `wait` = created -> first taken
        (or completed if never taken), for tasks completed in the period. Read from the completion rows alone, which
        carry when their task was created and first taken (Runtime.complete_task; migration 0006 filled
        the older rows): one range scan of ix_history_kind_at, no pairing of rows."""
        done = HistoryEntry
        rows = (
            select(
                done.element_id.label("element_id"),
                done.task_created_at.label("created_at"),
                done.at.label("completed_at"),
                func.coalesce(done.task_claimed_at, done.at).label("claimed_at"),
            )
            .where(
                done.kind == "task_completed",
                done.at >= start,
                done.at < end,
                done.task_created_at.is_not(None),
                done.instance_id.in_(instances),
            )
            .cte("task_times")
        )
        return select(
            rows.c.element_id,
            cast(self._seconds(rows.c.completed_at, rows.c.created_at), Float).label("time"),
            cast(self._seconds(rows.c.claimed_at, rows.c.created_at), Float).label("wait"),
        ).subquery()

    def _aggregate(self, session: Session, durations: Any) -> dict[tuple[str, str], tuple[int, float, float]]:
        """(element, measure) -> (n, mean, p90) for the measures `time` and `wait`."""
        out: dict[tuple[str, str], tuple[int, float, float]] = {}
        if self.db.dialect == "postgresql":
            # One pass over the rows for both measures.
            query = select(
                durations.c.element_id,
                func.count(),
                func.avg(durations.c.time),
                func.percentile_cont(0.9).within_group(durations.c.time),
                func.avg(durations.c.wait),
                func.percentile_cont(0.9).within_group(durations.c.wait),
            ).group_by(durations.c.element_id)
            for element_id, n, time_mean, time_p90, wait_mean, wait_p90 in session.execute(query):
                out[(element_id, "time")] = (int(n), round(float(time_mean), 1), round(float(time_p90), 1))
                out[(element_id, "wait")] = (int(n), round(float(wait_mean), 1), round(float(wait_p90), 1))
            return out
        rows = (
            select(durations.c.element_id, literal("time").label("measure"), durations.c.time.label("seconds"))
            .union_all(
                select(durations.c.element_id, literal("wait").label("measure"), durations.c.wait.label("seconds"))
            )
            .subquery()
        )
        key = (rows.c.element_id, rows.c.measure)
        # percentile_cont by hand on SQLite: position 1 + 0.9 (n - 1) in the sorted values, interpolated between the
        # value at its floor and the next one.
        ranked = select(
            *key,
            rows.c.seconds,
            func.row_number().over(partition_by=key, order_by=rows.c.seconds).label("rn"),
            func.count().over(partition_by=key).label("n"),
        ).subquery()
        position = 1 + 0.9 * (ranked.c.n - 1)
        low = cast(position, Integer)
        fraction = position - low
        at_low = func.max(case((ranked.c.rn == low, ranked.c.seconds)))
        at_high = func.max(
            case(
                (ranked.c.rn == low + 1, ranked.c.seconds),
                (and_(ranked.c.rn == low, low == ranked.c.n), ranked.c.seconds),
            )
        )
        query = select(
            ranked.c.element_id,
            ranked.c.measure,
            func.count(),
            func.avg(ranked.c.seconds),
            at_low + func.max(fraction) * (func.coalesce(at_high, at_low) - at_low),
        ).group_by(ranked.c.element_id, ranked.c.measure)
        for element_id, measure, n, mean, p90 in session.execute(query):
            out[(element_id, measure)] = (int(n), round(float(mean), 1), round(float(p90), 1))
        return out


def _changes(h: HistoryEntry) -> dict[str, Any]:
    """What a history entry changed in the case data: the form submitted, the message's data, the start data, the
    corrected data of a retry."""
    data = h.data or {}
    if h.kind == "task_completed":
        return dict(data.get("submitted") or {})
    if h.kind in ("message_received", "started", "retried"):
        return dict(data.get("data") or {})
    return {}


def period_default(clock: Clock) -> tuple[date, date]:
    """The heat map's default period: the last 30 days up to today (Europe/Stockholm)."""
    today = clock.now().astimezone(STOCKHOLM).date()
    return today - timedelta(days=29), today
