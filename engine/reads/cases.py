"""Reads of cases (process instances): the instance list with its filters (coordinators' page and the API) and one
case with everything its page and the API show (the state of each diagram element, timeline, tasks, timers,
messages, incidents, deviations, linked cases). SQL over the index and history tables only; limited by the one
access policy (engine/reads/policy.py); each read writes its access-log rows before it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, union
from sqlalchemy.orm import Session

from engine.domain.actors import Actor, Policy
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import Forbidden, NotFound, ValidationFailed
from engine.domain.personnummer import normalise
from engine.domain.text import Text
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
)
from engine.reads.log import AccessLogWriter
from engine.reads.policy import AccessPolicy
from engine.reads.tasks import birth_date, user_names
from engine.reads.versions import default_version_now

STATUSES = ("running", "waiting", "incident", "completed", "cancelled")
COUNT_CAP = 1_000  # like the worklist: a count stops here and says "1 000+"
MAX_PAGE = 500
COMPLETIONS = ("task_completed", "element_completed")
MESSAGE_CATCHERS = ("intermediateCatchEvent", "receiveTask")
REPAIRS = ("retried", "token_moved", "timer_fired_manually", "reassigned", "cancelled", "routing_changed")


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
        errors[key] = [Text("Skriv datumet %(label)s som ÅÅÅÅ-MM-DD.", label=label)]
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
    element: str | None = None  # the element the case waits in: an active task, a timer or an open incident there

    ALIASES = {
        "process": ("process", "process_id"),
        "since": ("fran", "started_from"),
        "until": ("till", "started_to"),
        "overdue": ("forsenade", "overdue"),
        "avdelning": ("avdelning", "ward"),
        "element": ("element", "waiting_in"),
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
        for key in ("process", "kommun", "vardcentral", "avdelning", "business_key", "element"):
            text = str(get(key) or "").strip()
            if len(text) > 200:
                errors[key] = [Text("Högst 200 tecken.")]
            found[key] = text or None
        version = str(get("version") or "").strip()
        if version:
            if version.isdigit() and 0 < int(version) < 1_000_000:
                found["version"] = int(version)
            else:
                errors["version"] = [Text("Versionen är ett heltal från 1.")]
        status = str(get("status") or "").strip()
        if status:
            if status in STATUSES:
                found["status"] = status
            else:
                errors["status"] = [Text("Välj en av statusarna i listan.")]
        found["overdue"] = str(get("overdue") or "").strip().lower() in ("1", "true", "ja", "on", "yes")
        found["since"] = _date_field(values, "fran" if "fran" in values else "started_from", Text("från"), errors)
        found["until"] = _date_field(values, "till" if "till" in values else "started_to", Text("till"), errors)
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
            ("element", "element"),
        ):
            value = getattr(self, key)
            if value not in (None, ""):
                out[name] = str(value)
        if self.overdue:
            out["forsenade"] = "1"
        return out


# --- typed results ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActiveTask:
    id: str
    element_id: str
    name: str
    lane: str | None
    unit: str | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    claimed_by: str | None
    claimed_by_name: str | None
    flag: str | None = None  # the case has moved past the task's point (a planning task open at UK)


@dataclass(frozen=True)
class CaseListItem:
    id: int
    process_id: str
    version: int
    routing: str
    pilot_id: int | None
    route_reason: str
    business_key: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    updated_at: datetime
    kommun: str | None
    vardcentral: str | None
    avdelning: str | None
    person_name: str | None
    personnummer: str | None
    birth_date: date | None
    active_tasks: tuple[ActiveTask, ...]
    next_timer_at: datetime | None
    overdue: bool
    open_incidents: int
    parent_instance_id: int | None


@dataclass(frozen=True)
class CaseList:
    items: tuple[CaseListItem, ...]
    total: int
    capped: bool
    limit: int
    offset: int


@dataclass(frozen=True)
class ElementState:
    completed: int = 0
    active: bool = False
    waiting: bool = False
    overdue: bool = False
    incident: bool = False
    due_at: datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class TimerView:
    id: int
    element_id: str
    element_name: str
    kind: str
    boundary: bool
    due_at: datetime
    overdue: bool
    attempts: int = 0


@dataclass(frozen=True)
class HistoryView:
    id: int
    at: datetime
    kind: str  # a history kind; labels in webui/labels.py
    element_id: str | None
    element_name: str
    task_id: str | None
    actor: str | None
    actor_name: str | None
    changes: Mapping[str, Any]
    reason: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class IncidentView:
    id: int
    element_id: str | None
    element_name: str
    message: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    expression: str | None = None
    seen_values: Mapping[str, Any] | None = None
    failures: int = 1


@dataclass(frozen=True)
class DeviationView:
    id: int
    element_id: str | None
    element_name: str
    party: str | None
    cause: str
    at: datetime


@dataclass(frozen=True)
class MessageView:
    message_id: str
    name: str
    direction: str  # received | thrown
    outcome: str
    received_at: datetime


@dataclass(frozen=True)
class LinkedCase:
    id: int
    process_id: str
    version: int
    status: str


@dataclass(frozen=True)
class CaseView:
    id: int
    process_id: str
    process_name: str
    version: int
    routing: str
    pilot_id: int | None
    route_reason: str
    definition_id: int
    business_key: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    updated_at: datetime
    started_by: str
    kommun: str | None
    vardcentral: str | None
    avdelning: str | None
    person_name: str | None
    personnummer: str | None
    data: Mapping[str, Any]
    elements: Mapping[str, ElementState]
    element_names: Mapping[str, str]
    movable_targets: tuple[tuple[str, str], ...]
    active_tasks: tuple[ActiveTask, ...]
    timers: tuple[TimerView, ...]
    history: tuple[HistoryView, ...]
    incidents: tuple[IncidentView, ...]
    deviations: tuple[DeviationView, ...]
    messages: tuple[MessageView, ...]
    parent_instance_id: int | None
    parent: LinkedCase | None
    children: tuple[LinkedCase, ...]
    correlated: tuple[LinkedCase, ...]
    # The names of the case's wards and vårdcentraler (HSA-id -> name; the kommun is a name already), and the
    # version new cases of the process start on now where no pilot or per-unit default takes them.
    unit_names: Mapping[str, str] = dataclass_field(default_factory=dict)
    default_version_now: int | None = None


def _changes(h: HistoryEntry) -> dict[str, Any]:
    """What a history entry changed in the case data: the form submitted, the message's data, the start data, the
    corrected data of a retry, the units a coordinator changed."""
    data = h.data or {}
    if h.kind == "task_completed":
        return dict(data.get("submitted") or {})
    if h.kind in ("message_received", "started", "retried", "routing_changed"):
        return dict(data.get("data") or {})
    return {}


def _person_columns() -> tuple[Any, ...]:
    data = ProcessInstance.data
    return (data["namn"].as_string().label("namn"), data["personnummer"].as_string().label("personnummer"))


class CaseReads:
    def __init__(self, db: Database, policy: Policy, access: AccessPolicy, clock: Clock, log: AccessLogWriter):
        self.db = db
        self.policy = policy
        self.access = access
        self.clock = clock
        self.log = log

    # --- the instance list --------------------------------------------------------------------------------------
    def _where(self, actor: Actor, filters: InstanceFilter, now: datetime) -> list[ColumnElement[bool]]:
        pi = ProcessInstance
        clauses: list[ColumnElement[bool]] = [self.access.visible_instances(actor, now)]
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
        if filters.element:
            waiting = union(
                select(TaskIndex.instance_id).where(TaskIndex.element_id == filters.element),
                select(Timer.instance_id).where(Timer.element_id == filters.element),
                select(Incident.instance_id).where(
                    Incident.element_id == filters.element, Incident.resolved_at.is_(None)
                ),
            )
            clauses.append(pi.id.in_(select(waiting.subquery().c[0])))
        return clauses

    def matching_ids(
        self, actor: Actor, filters: InstanceFilter, statuses: tuple[str, ...], limit: int
    ) -> tuple[list[int], int]:
        """The ids (newest first, at most `limit`) and the count of the cases the actor may see that match the
        filter and are in one of `statuses`: what a batch action over the filter would touch (issue 15). Ids only,
        no person: each action on a case writes its own access-log row (Runtime._require_repair)."""
        if filters.personnummer:
            raise ValidationFailed(
                "En massåtgärd väljer ärenden med filtret, inte på personnummer",
                {"fields": {"personnummer": [Text("inte här")]}},
            )
        now = self.clock.now()
        where = [*self._where(actor, filters, now), ProcessInstance.status.in_(statuses)]
        with self.db.read() as session:
            ids = list(
                session.scalars(
                    select(ProcessInstance.id).where(*where).order_by(ProcessInstance.id.desc()).limit(limit)
                )
            )
            total = int(
                session.scalar(select(func.count()).select_from(select(ProcessInstance.id).where(*where).subquery()))
                or 0
            )
        return ids, total

    def page(
        self,
        actor: Actor,
        filters: InstanceFilter | None = None,
        limit: int = 50,
        offset: int = 0,
        channel: str = "övervakning",
    ) -> CaseList:
        """A page of the cases the actor may see, newest first, with the count of all that match stopping at
        COUNT_CAP + 1. Logged: each person shown, and a search by personnummer even when it finds nothing."""
        filters = filters or InstanceFilter()
        if filters.personnummer and not self.policy.can_search_instances_by_person(actor):
            raise Forbidden("Bara samordnare och journalsystemet får söka instanser på personnummer")
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        now = self.clock.now()
        where = self._where(actor, filters, now)
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
            items = self._items(session, rows, now)
        persons = [(i.personnummer, i.id) for i in items]
        if filters.personnummer:
            self.log.record(actor, "instans_sok", persons or [(filters.personnummer, None)], channel)
        else:
            self.log.record(actor, "instanslista", persons, channel)
        return CaseList(tuple(items), total, total > COUNT_CAP, limit, offset)

    def _items(self, session: Session, rows: Any, now: datetime) -> list[CaseListItem]:
        ids = [r[0].id for r in rows]
        tasks: dict[int, list[ActiveTask]] = {}
        late: set[int] = set()
        timers: dict[int, datetime] = {}
        incidents: dict[int, int] = {}
        if ids:
            task_rows = list(
                session.scalars(
                    select(TaskIndex).where(TaskIndex.instance_id.in_(ids)).order_by(TaskIndex.created_at, TaskIndex.id)
                )
            )
            names = user_names(session, {t.claimed_by for t in task_rows})
            for t in task_rows:
                active = _active(t, now, names)
                if active.overdue:
                    late.add(t.instance_id)
                tasks.setdefault(t.instance_id, []).append(active)
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
        out = []
        for row in rows:
            r: ProcessInstance = row[0]
            out.append(
                CaseListItem(
                    id=r.id,
                    process_id=r.process_id,
                    version=r.version,
                    routing=r.routing,
                    pilot_id=r.pilot_id,
                    route_reason=r.route_reason,
                    business_key=r.business_key,
                    status=r.status,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                    updated_at=r.updated_at,
                    kommun=r.kommun,
                    vardcentral=r.vardcentral,
                    avdelning=r.avdelning,
                    person_name=row.namn,
                    personnummer=row.personnummer,
                    birth_date=birth_date(row.personnummer),
                    active_tasks=tuple(tasks.get(r.id, [])),
                    next_timer_at=timers.get(r.id),
                    overdue=r.id in late,
                    open_incidents=int(incidents.get(r.id, 0)),
                    parent_instance_id=r.parent_instance_id,
                )
            )
        return out

    # --- one case -----------------------------------------------------------------------------------------------
    def view(self, actor: Actor, instance_id: int, action: str = "instans", detail: str = "API") -> CaseView:
        """One case the actor may see (NotFound otherwise, whether or not it exists), logged as `action`."""
        found = self._view(actor, instance_id)
        if found is None:
            raise NotFound(Text("Instansen %(instance_id)s finns inte", instance_id=instance_id))
        self.log.record(actor, action, [(found.personnummer, found.id)], detail)
        return found

    def personnummer_of(self, actor: Actor, instance_id: int) -> str | None:
        """The person of a case the actor may see, for a command's log row; None otherwise. Not logged: the caller
        logs what it then does."""
        now = self.clock.now()
        with self.db.read() as session:
            return session.scalar(
                select(ProcessInstance.data["personnummer"].as_string()).where(
                    ProcessInstance.id == instance_id, self.access.visible_instances(actor, now)
                )
            )

    def _view(self, actor: Actor, instance_id: int) -> CaseView | None:
        now = self.clock.now()
        with self.db.read() as session:
            r = session.scalar(
                select(ProcessInstance).where(
                    ProcessInstance.id == instance_id, self.access.visible_instances(actor, now)
                )
            )
            if r is None:
                return None
            # The definition's name and elements, not its XML (the largest column: 2 ms of every case view).
            definition = session.execute(
                select(ProcessDefinition.name, ProcessDefinition.elements).where(
                    ProcessDefinition.id == r.definition_id
                )
            ).first()
            meta: dict[str, Any] = dict(definition.elements or {}) if definition is not None else {}
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
            parent, children, correlated = self._linked(session, actor, r, now)
            names = user_names(session, {h.actor for h in history} | {t.claimed_by for t in tasks})

            def label(element_id: str | None) -> str:
                if not element_id:
                    return ""
                return str((meta.get(element_id) or {}).get("name") or element_id)

            states: dict[str, dict[str, Any]] = {}

            def element(element_id: str) -> dict[str, Any]:
                return states.setdefault(element_id, {})

            for h in history:
                if h.kind in COMPLETIONS and h.element_id:
                    e = element(h.element_id)
                    e["completed"] = e.get("completed", 0) + 1
            for t in tasks:
                e = element(t.element_id)
                e["active"] = True
                if t.due_at is not None:
                    e["due_at"] = t.due_at
                    e["overdue"] = e.get("overdue", False) or t.due_at < now
            for timer in timers:
                e = element(timer.element_id)
                e["waiting"] = True
                e["due_at"] = timer.due_at
                e["overdue"] = e.get("overdue", False) or timer.due_at < now
            for i in incidents:
                if i.resolved_at is None and i.element_id:
                    element(i.element_id)["incident"] = True
            # Waiting for a message: the catch events and receive tasks of the messages the instance subscribes to
            # (a boundary message event sits on an active task, which is marked already).
            for element_id, info in meta.items():
                if info.get("message") in awaited and info.get("type") in MESSAGE_CATCHERS:
                    element(element_id).update(waiting=True, message=info.get("message"))

            data = dict(r.data or {})
            hsa_ids = sorted({u for u in (r.vardcentral, r.avdelning) if u})
            unit_names = (
                dict(session.execute(select(OrgUnit.hsa_id, OrgUnit.name).where(OrgUnit.hsa_id.in_(hsa_ids))).all())
                if hsa_ids
                else {}
            )
            return CaseView(
                id=r.id,
                process_id=r.process_id,
                process_name=(definition.name if definition is not None else None) or r.process_id,
                version=r.version,
                routing=r.routing,
                pilot_id=r.pilot_id,
                route_reason=r.route_reason,
                definition_id=r.definition_id,
                business_key=r.business_key,
                status=r.status,
                started_at=r.started_at,
                ended_at=r.ended_at,
                updated_at=r.updated_at,
                started_by=r.started_by,
                kommun=r.kommun,
                vardcentral=r.vardcentral,
                avdelning=r.avdelning,
                person_name=data.get("namn"),
                personnummer=data.get("personnummer"),
                data=data,
                elements={k: ElementState(**v) for k, v in states.items()},
                element_names={k: label(k) for k in meta},
                movable_targets=tuple(
                    sorted(
                        ((k, label(k)) for k, v in meta.items() if v.get("type") not in ("boundaryEvent", "lane")),
                        key=lambda e: e[1].lower(),
                    )
                ),
                active_tasks=tuple(_active(t, now, names) for t in tasks),
                timers=tuple(
                    TimerView(
                        t.id,
                        t.element_id,
                        label(t.element_id),
                        t.kind,
                        t.boundary,
                        t.due_at,
                        t.due_at < now,
                    )
                    for t in timers
                ),
                history=tuple(
                    HistoryView(
                        id=h.id,
                        at=h.at,
                        kind=h.kind,
                        element_id=h.element_id,
                        element_name=label(h.element_id),
                        task_id=h.task_id,
                        actor=h.actor,
                        actor_name=names.get(h.actor or "", h.actor),
                        changes=_changes(h),
                        reason=(h.data or {}).get("reason") if h.kind in REPAIRS else None,
                        data=dict(h.data or {}),
                    )
                    for h in history
                ),
                incidents=tuple(
                    IncidentView(
                        i.id,
                        i.element_id,
                        label(i.element_id),
                        i.message,
                        i.created_at,
                        i.resolved_at,
                        i.resolved_by,
                        i.expression,
                        dict(i.seen_values or {}),
                        i.failures or 1,
                    )
                    for i in incidents
                ),
                deviations=tuple(
                    DeviationView(d.id, d.element_id, label(d.element_id), d.party, d.cause, d.at) for d in deviations
                ),
                messages=tuple(
                    [MessageView(m.message_id, m.name, "received", m.outcome, m.received_at) for m in received]
                    + [
                        MessageView(
                            str((h.data or {}).get("message_id") or ""),
                            str((h.data or {}).get("name") or ""),
                            "thrown",
                            str((h.data or {}).get("outcome") or ""),
                            h.at,
                        )
                        for h in history
                        if h.kind == "message_thrown"
                    ]
                ),
                parent_instance_id=r.parent_instance_id,
                parent=parent,
                children=children,
                correlated=correlated,
                unit_names=unit_names,
                default_version_now=default_version_now(session, r.process_id),
            )

    def _linked(
        self, session: Session, actor: Actor, r: ProcessInstance, now: datetime
    ) -> tuple[LinkedCase | None, tuple[LinkedCase, ...], tuple[LinkedCase, ...]]:
        """The parent (the case that started this one), the children it started and the person's other cases:
        only those the actor may see too."""
        visible = self.access.visible_instances(actor, now)

        def brief(rows: Any) -> tuple[LinkedCase, ...]:
            return tuple(LinkedCase(x.id, x.process_id, x.version, x.status) for x in rows)

        parent = (
            session.scalar(select(ProcessInstance).where(ProcessInstance.id == r.parent_instance_id, visible))
            if r.parent_instance_id
            else None
        )
        children = session.scalars(
            select(ProcessInstance)
            .where(ProcessInstance.parent_instance_id == r.id, visible)
            .order_by(ProcessInstance.id)
        ).all()
        pnr = session.scalar(
            select(InstanceCorrelation.value).where(
                InstanceCorrelation.instance_id == r.id, InstanceCorrelation.name == "personnummer"
            )
        )
        correlated: list[ProcessInstance] = []
        if pnr:
            seen = {r.id, *(c.id for c in children), *([parent.id] if parent else [])}
            rows = session.scalars(
                select(ProcessInstance)
                .where(
                    ProcessInstance.id.in_(
                        select(InstanceCorrelation.instance_id).where(
                            InstanceCorrelation.name == "personnummer", InstanceCorrelation.value == pnr
                        )
                    ),
                    visible,
                )
                .order_by(ProcessInstance.id)
                .limit(50)
            ).all()
            correlated = [x for x in rows if x.id not in seen]
        return (brief([parent])[0] if parent is not None else None), brief(children), brief(correlated)


def _active(t: TaskIndex, now: datetime, names: Mapping[str, str]) -> ActiveTask:
    return ActiveTask(
        t.id,
        t.element_id,
        t.name,
        t.lane,
        t.unit,
        t.created_at,
        t.due_at,
        t.due_at is not None and t.due_at < now,
        t.claimed_by,
        names.get(t.claimed_by or "", t.claimed_by),
        t.flag,
    )
