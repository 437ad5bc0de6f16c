"""The staff worklist: reads on the task index (never a workflow), plus saved filters and hand-over candidates.

Views: `mina` (claimed by me), `enhet` (every task of my roles in my units), `forsenade` (overdue), `idag` (due
today, Europe/Stockholm). Overseeing roles (coordinator, admin) see every open task in `enhet`, `forsenade`, `idag`.
Order: by due time (overdue first, then the soonest), tasks without a due time last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true
from sqlalchemy.orm import Session

from engine.catalog import Catalog
from engine.directory import Actor, Policy
from engine.domain import personnummer as pnr
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import BadRequest, NotFound, ValidationFailed
from engine.organisation import unit_keys, units_by_hsa
from engine.persistence.db import Database
from engine.persistence.models import OrgUnit, ProcessDefinition, ProcessInstance, SavedFilter, TaskIndex, User

VIEWS = {"mina": "Mina uppgifter", "enhet": "Min enhet", "forsenade": "Försenade", "idag": "Idag"}
FILTER_KEYS = ("process", "task", "kommun", "avdelning")
MAX_PAGE = 200
COUNT_CAP = 1_000
WORKLIST_OVERSEERS = frozenset({"admin", "coordinator"})


def birth_date(personnummer: str | None) -> str | None:
    """The birth date of a personnummer or samordningsnummer as YYYY-MM-DD: what a list shows instead of the number."""
    born = pnr.birth_date(personnummer)
    return born.isoformat() if born is not None else None


@dataclass(frozen=True)
class WorklistFilter:
    process: str | None = None
    task: str | None = None
    kommun: str | None = None
    avdelning: str | None = None

    @classmethod
    def of(cls, values: dict[str, Any]) -> WorklistFilter:
        clean = {}
        for key in FILTER_KEYS:
            value = values.get(key)
            if isinstance(value, str) and value.strip():
                if len(value) > 200:
                    raise BadRequest(f"Filtret {key} är för långt")
                clean[key] = value.strip()
        return cls(**clean)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k in FILTER_KEYS if (v := getattr(self, k))}


@dataclass
class WorklistPage:
    view: str
    items: list[dict[str, Any]]
    total: int
    counts: dict[str, int]
    filters: WorklistFilter
    offset: int = 0
    limit: int = 50
    options: dict[str, list[Any]] = field(default_factory=dict)


def _person_columns() -> tuple[Any, ...]:
    data = ProcessInstance.data
    return (
        data["namn"].as_string().label("namn"),
        data["personnummer"].as_string().label("personnummer"),
        data["kommun"].as_string().label("kommun"),
        data["avdelning_hsa_id"].as_string().label("avdelning"),
    )


class Worklist:
    def __init__(self, db: Database, catalog: Catalog, policy: Policy, clock: Clock):
        self.db = db
        self.catalog = catalog
        self.policy = policy
        self.clock = clock
        self._user_task_cache: tuple[tuple[int, ...], list[tuple[str, str, str, str | None, str | None]]] = ((), [])

    # --- scope ---
    def sees_all(self, actor: Actor) -> bool:
        return bool(actor.roles & WORKLIST_OVERSEERS)

    def _scope(self, actor: Actor) -> ColumnElement[bool]:
        """Tasks of the actor's roles (a lane role, or the task's own role) in the actor's units: the same rule as
        Policy.owns_task, as SQL."""
        if self.sees_all(actor):
            return true()
        lane_names = [lane for lane, rule in self.catalog.lanes.items() if any(r in actor.roles for r in rule.roles)]
        role_match = or_(
            TaskIndex.role.in_(sorted(actor.roles)),
            and_(TaskIndex.role.is_(None), TaskIndex.lane.in_(lane_names)),
        )
        if not actor.units:
            return role_match
        return and_(role_match, or_(TaskIndex.unit.is_(None), TaskIndex.unit.in_(sorted(actor.units))))

    def _day(self) -> tuple[datetime, datetime, datetime]:
        now = self.clock.now()
        local = now.astimezone(STOCKHOLM)
        start = datetime.combine(local.date(), time(0), tzinfo=STOCKHOLM)
        return now, start, start + timedelta(days=1)

    def _view_clause(
        self, actor: Actor, view: str, day: tuple[datetime, datetime, datetime] | None = None
    ) -> ColumnElement[bool]:
        now, start, end = day or self._day()
        if view == "mina":
            return TaskIndex.claimed_by == actor.username
        if view == "forsenade":
            return and_(self._scope(actor), TaskIndex.due_at < now)
        if view == "idag":
            return and_(self._scope(actor), TaskIndex.due_at >= start, TaskIndex.due_at < end)
        return self._scope(actor)

    @staticmethod
    def _filter_clauses(filters: WorklistFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if filters.process:
            clauses.append(TaskIndex.process_id == filters.process)
        if filters.task:
            clauses.append(TaskIndex.element_id == filters.task)
        if filters.kommun:
            clauses.append(ProcessInstance.data["kommun"].as_string() == filters.kommun)
        if filters.avdelning:
            clauses.append(ProcessInstance.data["avdelning_hsa_id"].as_string() == filters.avdelning)
        return clauses

    @staticmethod
    def _needs_instance(filters: WorklistFilter) -> bool:
        return bool(filters.kommun or filters.avdelning)

    # --- reads ---
    def counts(self, actor: Actor, filters: WorklistFilter | None = None) -> dict[str, int]:
        """The four counts, each stopping at COUNT_CAP + 1 (shown as "1 000+"): a coordinator's county-wide list
        would otherwise cost a scan of every open task on each page view, growing with the number of cases."""
        filters = filters or WorklistFilter()
        now, start, end = self._day()
        with self.db.read() as session:
            return {
                view: self._bounded_count(session, [self._view_clause(actor, view, (now, start, end))], filters)
                for view in VIEWS
            }

    def _bounded_count(self, session: Session, where: list[ColumnElement[bool]], filters: WorklistFilter) -> int:
        inner = select(TaskIndex.id)
        if self._needs_instance(filters):
            inner = inner.join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
        inner = inner.where(*where, *self._filter_clauses(filters)).limit(COUNT_CAP + 1)
        return int(session.scalar(select(func.count()).select_from(inner.subquery())) or 0)

    def page(
        self, actor: Actor, view: str = "enhet", filters: WorklistFilter | None = None, limit: int = 50, offset: int = 0
    ) -> WorklistPage:
        if view not in VIEWS:
            raise NotFound("Det finns ingen sådan vy")
        filters = filters or WorklistFilter()
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        where = [self._view_clause(actor, view), *self._filter_clauses(filters)]
        now = self.clock.now()
        with self.db.read() as session:
            rows = session.execute(
                select(TaskIndex, *_person_columns())
                .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
                .where(*where)
                # NULLS LAST rather than `due_at IS NULL` first: the same order, and the due_at index serves it.
                .order_by(TaskIndex.due_at.asc().nulls_last(), TaskIndex.created_at, TaskIndex.id)
                .limit(limit)
                .offset(offset)
            ).all()
            names = self._user_names(session, {r[0].claimed_by for r in rows if r[0].claimed_by})
            items = [self._row(r, now, names) for r in rows]
        counts = self.counts(actor, filters)  # the view's count, with the same filters, is its total
        return WorklistPage(view, items, counts[view], counts, filters, offset, limit)

    def _row(self, row: Any, now: datetime, names: dict[str, str]) -> dict[str, Any]:
        task: TaskIndex = row[0]
        return {
            "id": task.id,
            "instance_id": task.instance_id,
            "process_id": task.process_id,
            "business_key": task.business_key,
            "element_id": task.element_id,
            "name": task.name,
            "lane": task.lane,
            "unit": task.unit,
            "form": task.form,
            "created_at": task.created_at,
            "due_at": task.due_at,
            "overdue": task.due_at is not None and task.due_at < now,
            "claimed_by": task.claimed_by,
            "claimed_by_name": names.get(task.claimed_by or "", task.claimed_by),
            "person_name": row.namn,
            "personnummer": row.personnummer,
            "birth_date": birth_date(row.personnummer),
            "kommun": row.kommun,
            "avdelning": row.avdelning,
        }

    @staticmethod
    def _user_names(session: Session, usernames: set[str]) -> dict[str, str]:
        if not usernames:
            return {}
        return dict(session.execute(select(User.username, User.name).where(User.username.in_(sorted(usernames)))).all())

    def options(self, actor: Actor) -> dict[str, list[Any]]:
        """What the filters can choose from: the user tasks of the deployed processes in the actor's lanes or roles
        (every one for overseers), kommuner and wards from the directory. Read from the definitions, not from the
        open tasks, so that it costs the same with ten cases or a hundred thousand."""
        lane_names = {lane for lane, rule in self.catalog.lanes.items() if any(r in actor.roles for r in rule.roles)}
        processes: set[str] = set()
        tasks: dict[str, str] = {}
        with self.db.read() as session:
            for process_id, element_id, name, lane, role in self._user_tasks(session):
                if self.sees_all(actor) or (role in actor.roles if role else lane in lane_names):
                    processes.add(process_id)
                    tasks.setdefault(element_id, name)
            kommuner = sorted(
                {k for k in session.scalars(select(OrgUnit.kommun).where(OrgUnit.kind == "kommun")) if k is not None}
            )
            wards = session.execute(
                select(OrgUnit.hsa_id, OrgUnit.name).where(OrgUnit.kind == "avdelning").order_by(OrgUnit.name)
            ).all()
        return {
            "process": [(p, p) for p in sorted(processes)],
            "task": sorted(tasks.items(), key=lambda t: t[1]),
            "kommun": [(k, k) for k in kommuner],
            "avdelning": [(w[0], w[1]) for w in wards],
        }

    def _user_tasks(self, session: Session) -> list[tuple[str, str, str, str | None, str | None]]:
        """(process, element id, name, lane, role) of every user task of the latest version of each process; a
        definition never changes once stored, so the list is kept per set of definition ids."""
        latest = (
            select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("version"))
            .group_by(ProcessDefinition.process_id)
            .subquery()
        )
        ids = tuple(
            session.scalars(
                select(ProcessDefinition.id)
                .join(
                    latest,
                    and_(
                        ProcessDefinition.process_id == latest.c.process_id,
                        ProcessDefinition.version == latest.c.version,
                    ),
                )
                .order_by(ProcessDefinition.id)
            )
        )
        if self._user_task_cache[0] != ids:
            found = []
            for process_id, elements in session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.elements).where(ProcessDefinition.id.in_(ids))
            ):
                for element_id, element in (elements or {}).items():
                    if element.get("type") == "userTask":
                        role = (element.get("properties") or {}).get("role")
                        found.append(
                            (process_id, element_id, element.get("name") or element_id, element.get("lane"), role)
                        )
            self._user_task_cache = (ids, found)
        return self._user_task_cache[1]

    def colleagues(self, actor: Actor, task_id: str) -> list[tuple[str, str]]:
        """Users, other than the actor, who may take this task: its role and its unit (hand-over candidates)."""
        with self.db.read() as session:
            task = session.get(TaskIndex, task_id)
            if task is None:
                raise NotFound("Uppgiften finns inte")
            roles = set(self.policy.task_roles(task))
            users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.name)).all()
            candidates = [u for u in users if u.username != actor.username and roles & set(u.roles or [])]
            known = units_by_hsa(session, {unit for u in candidates for unit in (u.units or [])})
            out = []
            for user in candidates:
                keys = unit_keys(user.units or [], known)
                if task.unit is None or task.unit in keys:
                    out.append((user.username, user.name))
            return out

    def item(self, actor: Actor, task_id: str) -> dict[str, Any] | None:
        """One row as the worklist shows it, if the actor sees it there (any view)."""
        with self.db.read() as session:
            row = session.execute(
                select(TaskIndex, *_person_columns())
                .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
                .where(TaskIndex.id == task_id, or_(self._scope(actor), TaskIndex.claimed_by == actor.username))
            ).first()
            if row is None:
                return None
            names = self._user_names(session, {row[0].claimed_by} if row[0].claimed_by else set())
            return self._row(row, self.clock.now(), names)

    def person_of(self, task_id: str) -> tuple[str | None, int] | None:
        """(personnummer, instance id) of a task, for the access log."""
        with self.db.read() as session:
            row = session.execute(
                select(ProcessInstance.data["personnummer"].as_string(), ProcessInstance.id)
                .join(TaskIndex, TaskIndex.instance_id == ProcessInstance.id)
                .where(TaskIndex.id == task_id)
            ).first()
            return (row[0], row[1]) if row is not None else None

    # --- saved filters ---
    def saved_filters(self, username: str) -> list[dict[str, Any]]:
        with self.db.read() as session:
            rows = session.scalars(
                select(SavedFilter).where(SavedFilter.username == username).order_by(SavedFilter.name)
            ).all()
            return [{"id": r.id, "name": r.name, "params": dict(r.params or {})} for r in rows]

    def save_filter(self, username: str, name: str, view: str, filters: WorklistFilter) -> int:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ValidationFailed(
                "Ge filtret ett namn (1–100 tecken)", {"fields": {"name": ["Fältet måste fyllas i"]}}
            )
        if view not in VIEWS:
            raise BadRequest("Okänd vy")
        params = {"view": view, **filters.as_dict()}
        with self.db.unit_of_work() as session:
            row = session.scalar(select(SavedFilter).where(SavedFilter.username == username, SavedFilter.name == name))
            if row is None:
                row = SavedFilter(username=username, name=name, created_at=self.clock.now())
                session.add(row)
            row.params = params
            session.flush()
            return row.id

    def delete_filter(self, username: str, filter_id: int) -> None:
        with self.db.unit_of_work() as session:
            session.execute(delete(SavedFilter).where(SavedFilter.id == filter_id, SavedFilter.username == username))


class TaskContext:
    """What the task page shows beside the form: the task, its frozen form, the person, the case's parties and
    deadlines and timeline. Reads index and history tables only."""

    HISTORY_TEXT = {
        "started": "Ärendet startade",
        "task_created": "Ny uppgift",
        "task_completed": "Uppgift slutförd",
        "claimed": "Uppgift tagen",
        "unclaimed": "Uppgift släppt",
        "timer_fired": "Tidsgräns passerad",
        "incident": "Fel i processen",
        "completed": "Ärendet avslutat",
        "cancelled": "Ärendet avbrutet",
        "message": "Meddelande mottaget",
        "message_received": "Meddelande mottaget",
        "message_thrown": "Meddelande skickat",
    }

    def __init__(self, db: Database, catalog: Catalog, clock: Clock):
        self.db = db
        self.catalog = catalog
        self.clock = clock

    def load(self, task_id: str) -> dict[str, Any]:
        from engine.persistence.models import HistoryEntry, ProcessDefinition, Timer

        with self.db.read() as session:
            task = session.get(TaskIndex, task_id)
            if task is None:
                raise NotFound("Uppgiften finns inte")
            instance = session.get(ProcessInstance, task.instance_id)
            definition = session.get(ProcessDefinition, instance.definition_id) if instance is not None else None
            if instance is None or definition is None:
                raise NotFound("Uppgiften finns inte")
            elements = definition.elements or {}
            form_name = task.form or ((elements.get(task.element_id, {}).get("properties") or {}).get("form"))
            schema = (definition.forms or {}).get(form_name) if form_name else None
            if schema is None and form_name:
                schema = self.catalog.form(form_name)
            now = self.clock.now()
            open_tasks = session.scalars(
                select(TaskIndex).where(TaskIndex.instance_id == instance.id).order_by(TaskIndex.created_at)
            ).all()
            history = session.scalars(
                select(HistoryEntry).where(HistoryEntry.instance_id == instance.id).order_by(HistoryEntry.id)
            ).all()
            timers = session.scalars(select(Timer).where(Timer.instance_id == instance.id).order_by(Timer.due_at)).all()
            people: set[str | None] = {h.actor for h in history} | {t.claimed_by for t in open_tasks}
            names = self._names(session, people)
            parties: dict[str, dict[str, list[dict[str, Any]]]] = {
                lane: {"open": [], "done": []} for lane in (definition.lanes or [])
            }
            for t in open_tasks:
                parties.setdefault(t.lane or "Övrigt", {"open": [], "done": []})["open"].append(
                    {
                        "name": t.name,
                        "due_at": t.due_at,
                        "overdue": t.due_at is not None and t.due_at < now,
                        "claimed_by": names.get(t.claimed_by or "", t.claimed_by),
                        "current": t.id == task.id,
                    }
                )
            timeline = []
            for h in history:
                if h.kind == "element_completed":
                    continue
                label = self.HISTORY_TEXT.get(h.kind, h.kind)
                subject = (h.data or {}).get("name") or elements.get(h.element_id or "", {}).get("name") or ""
                if h.kind == "task_completed":
                    lane = (h.data or {}).get("lane") or "Övrigt"
                    parties.setdefault(lane, {"open": [], "done": []})["done"].append(
                        {"name": subject, "at": h.at, "by": names.get(h.actor or "", h.actor)}
                    )
                if h.kind == "claimed" and (h.data or {}).get("assignee") not in (None, h.actor):
                    label = f"Uppgift lämnad över till {names.get(h.data['assignee'], h.data['assignee'])}"
                timeline.append(
                    {"at": h.at, "text": label, "subject": subject, "by": names.get(h.actor or "", h.actor or "")}
                )
            deadlines = [
                {"name": t.name, "due_at": t.due_at, "overdue": t.due_at < now, "lane": t.lane}
                for t in open_tasks
                if t.due_at is not None
            ] + [
                {
                    "name": elements.get(t.element_id, {}).get("name") or t.element_id,
                    "due_at": t.due_at,
                    "overdue": t.due_at < now,
                    "lane": elements.get(t.element_id, {}).get("lane"),
                }
                for t in timers
            ]
            deadlines.sort(key=lambda d: d["due_at"])
            data = dict(instance.data or {})
            return {
                "task": {
                    "id": task.id,
                    "name": task.name,
                    "lane": task.lane,
                    "unit": task.unit,
                    "element_id": task.element_id,
                    "due_at": task.due_at,
                    "overdue": task.due_at is not None and task.due_at < now,
                    "claimed_by": task.claimed_by,
                    "claimed_by_name": names.get(task.claimed_by or "", task.claimed_by),
                    "documentation": elements.get(task.element_id, {}).get("documentation"),
                    "properties": elements.get(task.element_id, {}).get("properties") or {},
                },
                "form_name": form_name,
                "schema": schema,
                "instance": {
                    "id": instance.id,
                    "process_id": instance.process_id,
                    "version": instance.version,
                    "business_key": instance.business_key,
                    "status": instance.status,
                    "started_at": instance.started_at,
                    "data": data,
                },
                "person": {
                    "name": data.get("namn"),
                    "personnummer": data.get("personnummer"),
                    "birth_date": birth_date(data.get("personnummer")),
                    "kommun": data.get("kommun"),
                },
                "parties": parties,
                "timeline": timeline,
                "deadlines": deadlines,
            }

    @staticmethod
    def _names(session: Session, usernames: set[str | None]) -> dict[str, str]:
        wanted = sorted(u for u in usernames if u)
        if not wanted:
            return {}
        return dict(session.execute(select(User.username, User.name).where(User.username.in_(wanted))).all())


class Drafts:
    """Forms saved half-filled, one per task and user, in the database."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def get(self, task_id: str, username: str) -> dict[str, Any] | None:
        from engine.persistence.models import TaskDraft

        with self.db.read() as session:
            row = session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == username))
            return {"data": dict(row.data or {}), "saved_at": row.saved_at} if row is not None else None

    def save(self, task_id: str, instance_id: int, username: str, data: dict[str, Any]) -> None:
        from engine.persistence.models import TaskDraft

        with self.db.unit_of_work() as session:
            row = session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == username))
            if row is None:
                row = TaskDraft(task_id=task_id, instance_id=instance_id, username=username)
                session.add(row)
            row.data, row.saved_at = data, self.clock.now()

    def discard(self, task_id: str) -> None:
        from engine.persistence.models import TaskDraft

        with self.db.unit_of_work() as session:
            session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))
