"""Reads of tasks: the worklist (page and API), one task, and the task page's context. SQL over the task index and
history (never a workflow), limited by the one access policy (engine/reads/policy.py); every read that shows a
person writes its access-log row before it returns.

Views of the worklist: `mina` (claimed by me), `enhet` (every task I may act on; for overseers also the open tasks
of the cases they oversee), `forsenade` (overdue), `idag` (due today, Europe/Stockholm). Order: by due time,
tasks without a due time last.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from engine.domain import personnummer as pnr
from engine.domain.actors import Actor
from engine.domain.catalog import Catalog
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import BadRequest, NotFound
from engine.domain.routing import ROUTING_KEYS
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import (
    HistoryEntry,
    ProcessDefinition,
    ProcessInstance,
    TaskIndex,
    Timer,
    User,
)
from engine.reads.log import AccessLogWriter
from engine.reads.policy import AccessPolicy

VIEWS = ("mina", "enhet", "forsenade", "idag")
FILTER_KEYS = ("process", "task", "kommun", "avdelning")
MAX_PAGE = 500
COUNT_CAP = 1_000
READS_KEY = "x-samflode-reads"  # a form's list of case facts it shows beside itself (read-only)


def birth_date(personnummer: str | None) -> date | None:
    """What a list shows instead of the personnummer."""
    return pnr.birth_date(personnummer)


@dataclass(frozen=True)
class WorklistFilter:
    process: str | None = None
    task: str | None = None
    kommun: str | None = None
    avdelning: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> WorklistFilter:
        clean = {}
        for key in FILTER_KEYS:
            value = values.get(key)
            if isinstance(value, str) and value.strip():
                if len(value) > 200:
                    raise BadRequest(Text("Filtret %(key)s är för långt", key=key))
                clean[key] = value.strip()
        return cls(**clean)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k in FILTER_KEYS if (v := getattr(self, k))}


@dataclass(frozen=True)
class TaskItem:
    """One task as a list shows it: the task, its case's person (name, birth date) and units."""

    id: str
    instance_id: int
    process_id: str
    business_key: str
    element_id: str
    name: str
    lane: str | None
    role: str | None
    form: str | None
    unit: str | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    claimed_by: str | None
    claimed_by_name: str | None
    person_name: str | None
    personnummer: str | None
    birth_date: date | None
    kommun: str | None
    avdelning: str | None
    may_act: bool  # false for an overseer's read-only row
    flag: str | None = None  # the case has moved past the task's point (a planning task open at UK)


@dataclass(frozen=True)
class EndedTask:
    """A task that left the worklist: completed (by whom, when) or gone with its case (cancelled, moved)."""

    name: str
    instance_id: int
    completed_at: datetime | None
    completed_by: str | None
    case_status: str


@dataclass(frozen=True)
class WorklistPage:
    """One page of a view. `counts` holds what the page knows without counting the other views: its own view's
    count (its total), none after a search; the four views' counts are TaskReads.counts."""

    view: str
    items: tuple[TaskItem, ...]
    total: int
    counts: Mapping[str, int]
    filters: WorklistFilter
    offset: int = 0
    limit: int = 50
    sort: str = "frist"
    descending: bool = False
    search: str = ""


@dataclass(frozen=True)
class TaskList:
    items: tuple[TaskItem, ...]
    total: int


@dataclass(frozen=True)
class PartyTask:
    name: str
    due_at: datetime | None = None
    overdue: bool = False
    claimed_by: str | None = None
    current: bool = False
    at: datetime | None = None
    by: str | None = None


@dataclass(frozen=True)
class PartyTasks:
    open: tuple[PartyTask, ...]
    done: tuple[PartyTask, ...]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # a history kind (labels in webui/labels.py)
    subject: str
    by: str
    assignee: str | None = None
    comment: str | None = None  # a comment on the task, or the note of a hand-over


@dataclass(frozen=True)
class Deadline:
    name: str
    due_at: datetime
    overdue: bool
    lane: str | None
    instance_id: int | None = None


@dataclass(frozen=True)
class CaseFact:
    key: str
    label: str
    value: Any


@dataclass(frozen=True)
class TaskView:
    """The task page: the task, its frozen form and what the form may start from, the person and the case."""

    task: TaskItem
    documentation: str | None
    properties: Mapping[str, Any]
    form_name: str | None
    schema: Mapping[str, Any] | None
    prefill: Mapping[str, Any]  # this party's own earlier answers for the form's fields
    reads: tuple[CaseFact, ...]  # the case facts the form declares it reads
    instance_id: int
    process_id: str
    process_name: str
    version: int
    started_at: datetime
    status: str
    person_name: str | None
    personnummer: str | None
    birth_date: date | None
    kommun: str | None
    parties: Mapping[str, PartyTasks]
    timeline: tuple[TimelineEntry, ...]
    deadlines: tuple[Deadline, ...]
    may_act: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


DEFAULT_SORT = "frist"
SORT_KEYS = ("frist", "person", "uppgift", "arende", "part", "tagen")


def _sort_column(sort: str) -> Any:
    """The column a worklist sort key orders by first (then the due time); None for the due time itself."""
    return {
        "person": ProcessInstance.data["namn"].as_string(),
        "uppgift": TaskIndex.name,
        "arende": TaskIndex.process_id,
        "part": TaskIndex.lane,
        "tagen": TaskIndex.claimed_by,
    }.get(sort)


def _search_clause(term: str) -> ColumnElement[bool]:
    """A person by personnummer (12 digits, or 10 with the century guessed both ways; dash optional) or by a part of
    the name, case-insensitive."""
    digits = "".join(ch for ch in term if ch.isdigit())
    number = ProcessInstance.data["personnummer"].as_string()
    if digits and len(digits) >= 6 and len(digits) == len(term.replace("-", "").replace("+", "").replace(" ", "")):
        wanted = [digits] if len(digits) != 10 else ["19" + digits, "20" + digits]
        forms = {f"{d[:8]}-{d[8:]}" if len(d) == 12 else d for d in wanted} | set(wanted)
        return or_(*(number.startswith(f) for f in sorted(forms)))
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return ProcessInstance.data["namn"].as_string().ilike(f"%{escaped}%", escape="\\")


def _person_columns() -> tuple[Any, ...]:
    data = ProcessInstance.data
    return (
        data["namn"].as_string().label("namn"),
        data["personnummer"].as_string().label("personnummer"),
        ProcessInstance.kommun.label("kommun"),
        ProcessInstance.avdelning.label("avdelning"),
    )


@dataclass(frozen=True)
class DefinitionParts:
    """What a page shows of a deployed definition: its name, elements, lanes and frozen forms (not its XML)."""

    name: str | None
    elements: Mapping[str, Any]
    lanes: list[Any]
    forms: Mapping[str, Any]


class FrozenDefinitions:
    """The parts of each definition a page needs, read once per process: a stored definition never changes (a new
    diagram is a new version, a new row). The task page read the whole row for every view, XML and all: 460 kB and
    170 kB of JSON to parse for in_utskrivning."""

    def __init__(self) -> None:
        self._found: dict[int, DefinitionParts] = {}

    def get(self, session: Session, definition_id: int) -> DefinitionParts | None:
        found = self._found.get(definition_id)
        if found is None:
            row = session.execute(
                select(
                    ProcessDefinition.name,
                    ProcessDefinition.elements,
                    ProcessDefinition.lanes,
                    ProcessDefinition.forms,
                ).where(ProcessDefinition.id == definition_id)
            ).first()
            if row is None:
                return None
            found = DefinitionParts(row.name, row.elements or {}, list(row.lanes or []), row.forms or {})
            self._found[definition_id] = found
        return found


def user_names(session: Session, usernames: set[str | None]) -> dict[str, str]:
    wanted = sorted(u for u in usernames if u)
    if not wanted:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(wanted))).all())


class TaskReads:
    def __init__(self, db: Database, catalog: Catalog, access: AccessPolicy, clock: Clock, log: AccessLogWriter):
        self.db = db
        self.catalog = catalog
        self.access = access
        self.clock = clock
        self.log = log
        self.definitions = FrozenDefinitions()

    # --- clauses ------------------------------------------------------------------------------------------------
    def _day(self) -> tuple[datetime, datetime, datetime]:
        now = self.clock.now()
        start = datetime.combine(now.astimezone(STOCKHOLM).date(), time(0), tzinfo=STOCKHOLM)
        return now, start, start + timedelta(days=1)

    def _view_clause(self, actor: Actor, view: str, day: tuple[datetime, datetime, datetime]) -> ColumnElement[bool]:
        now, start, end = day
        visible = self.access.visible_tasks(actor, now)
        if view == "mina":
            return and_(TaskIndex.claimed_by == actor.username, visible)
        if view == "forsenade":
            return and_(visible, TaskIndex.due_at < now)
        if view == "idag":
            return and_(visible, TaskIndex.due_at >= start, TaskIndex.due_at < end)
        return visible

    @staticmethod
    def _filter_clauses(filters: WorklistFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if filters.process:
            clauses.append(TaskIndex.process_id == filters.process)
        if filters.task:
            clauses.append(TaskIndex.element_id == filters.task)
        if filters.kommun:
            clauses.append(ProcessInstance.kommun == filters.kommun)
        if filters.avdelning:
            clauses.append(ProcessInstance.avdelning == filters.avdelning)
        return clauses

    def _needs_instance(self, actor: Actor, filters: WorklistFilter) -> bool:
        return bool(filters.kommun or filters.avdelning) or self.access.is_overseer(actor)

    def _item(self, row: Any, now: datetime, names: dict[str, str]) -> TaskItem:
        """A row of `_rows`: the task's columns (not an ORM object: a page of 50 tasks needs no identity map), the
        case's person and units, and whether the actor may act on it."""
        task = row
        return TaskItem(
            id=task.id,
            instance_id=task.instance_id,
            process_id=task.process_id,
            business_key=task.business_key,
            element_id=task.element_id,
            name=task.name,
            lane=task.lane,
            role=task.role,
            form=task.form,
            unit=task.unit,
            created_at=task.created_at,
            due_at=task.due_at,
            overdue=task.due_at is not None and task.due_at < now,
            claimed_by=task.claimed_by,
            claimed_by_name=names.get(task.claimed_by or "", task.claimed_by),
            person_name=row.namn,
            personnummer=row.personnummer,
            birth_date=birth_date(row.personnummer),
            kommun=row.kommun,
            avdelning=row.avdelning,
            may_act=bool(row.may_act),
            flag=task.flag,
        )

    def _rows(
        self,
        session: Session,
        actor: Actor,
        where: list[ColumnElement[bool]],
        limit: int,
        offset: int,
        sort: str = DEFAULT_SORT,
        descending: bool = False,
    ) -> list[TaskItem]:
        now = self.clock.now()
        # NULLS LAST rather than `due_at IS NULL` first: the same order, and the due_at index serves it.
        order: list[Any] = [TaskIndex.due_at.asc().nulls_last(), TaskIndex.created_at, TaskIndex.id]
        column = _sort_column(sort)
        if column is not None:
            order = [column.desc().nulls_last() if descending else column.asc().nulls_last(), *order]
        elif descending:
            order = [TaskIndex.due_at.desc().nulls_last(), TaskIndex.created_at.desc(), TaskIndex.id]
        may_act = self.access.actionable_tasks(actor, TaskIndex, ProcessInstance).label("may_act")
        rows = session.execute(
            select(*TaskIndex.__table__.columns, *_person_columns(), may_act)
            .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
            .where(*where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        ).all()
        names = user_names(session, {r.claimed_by for r in rows})
        return [self._item(r, now, names) for r in rows]

    # --- the worklist -------------------------------------------------------------------------------------------
    def counts(self, actor: Actor, filters: WorklistFilter | None = None) -> dict[str, int]:
        """The four counts, each stopping at COUNT_CAP + 1 (shown as "1 000+"). Counts name nobody: not logged.
        Read apart from the page (the worklist's counts fragment, and again after a claim or a release).
        One statement of four bounded subqueries (one round trip and one compilation instead of four: a third of
        the coordinator's page at 100 000 cases went to the four)."""
        filters = filters or WorklistFilter()
        day = self._day()
        with self.db.read() as session:
            row = session.execute(
                select(*(self._bounded_count(actor, view, day, filters).label(view) for view in VIEWS))
            ).one()
        return {view: int(getattr(row, view) or 0) for view in VIEWS}

    def _bounded_count(
        self,
        actor: Actor,
        view: str,
        day: tuple[datetime, datetime, datetime],
        filters: WorklistFilter,
    ) -> Any:
        inner = select(TaskIndex.id)
        if self._needs_instance(actor, filters):
            inner = inner.join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
            if view in ("forsenade", "idag"):
                # In due order: PostgreSQL then walks the due_at index's range and looks each case up, instead of
                # merging every task in case order and dropping the ones out of range (a coordinator's overdue and
                # today's counts at 100 000 cases: 24 000 and 38 000 rows dropped to find 1 001).
                inner = inner.order_by(TaskIndex.due_at)
        inner = inner.where(self._view_clause(actor, view, day), *self._filter_clauses(filters)).limit(COUNT_CAP + 1)
        return select(func.count()).select_from(inner.subquery()).scalar_subquery()

    def page(
        self,
        actor: Actor,
        view: str = "enhet",
        filters: WorklistFilter | None = None,
        limit: int = 50,
        offset: int = 0,
        sort: str = DEFAULT_SORT,
        descending: bool = False,
        search: str | None = None,
    ) -> WorklistPage:
        """One page of a view. `sort` is one of SORT_KEYS (the due time by default, overdue first); `search` finds
        the view's tasks of a person by name (part of it) or personnummer (with or without the dash). A search is
        logged as `sok` for every person it shows, like any list.

        Only the view's own count is read here (its total, for the summary and the pager; none when the rows end on
        this page): the other views' counts are `counts`, which the web page asks for after the list (an htmx
        request), so that a coordinator's list does not wait for four counts over the whole region."""
        if view not in VIEWS:
            raise NotFound("Det finns ingen sådan vy")
        if sort not in SORT_KEYS:
            raise BadRequest("Det går inte att sortera på det")
        filters = filters or WorklistFilter()
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        day = self._day()
        where = [self._view_clause(actor, view, day), *self._filter_clauses(filters)]
        term = (search or "").strip()[:100]
        if term:
            where.append(_search_clause(term))
        with self.db.read() as session:
            items = self._rows(session, actor, where, limit, offset, sort, descending)
            if (items and len(items) < limit) or (not items and not offset):
                total = offset + len(items)  # the last page: its rows tell the total, no count needed
            elif term:
                total = int(
                    session.scalar(
                        select(func.count())
                        .select_from(TaskIndex)
                        .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
                        .where(*where)
                    )
                    or 0
                )
            else:  # the view's own count, stopping at COUNT_CAP + 1 like the tabs' counts
                total = int(session.scalar(select(self._bounded_count(actor, view, day, filters))) or 0)
        self.log.record(
            actor, "sok" if term else "lista", [(i.personnummer, i.instance_id) for i in items], f"vy={view}"
        )
        counts = {} if term else {view: total}
        return WorklistPage(view, tuple(items), total, counts, filters, offset, limit, sort, descending, term)

    def api_list(
        self,
        actor: Actor,
        limit: int = 50,
        offset: int = 0,
        claimed: str | None = None,
        process_id: str | None = None,
    ) -> TaskList:
        """The API's task list: the tasks the caller may act on (for an overseer, not every task it oversees: that is
        the instance list), soonest due first, with the exact total."""
        limit = max(1, min(limit, MAX_PAGE))
        where: list[ColumnElement[bool]] = [self.access.actionable_tasks(actor)]
        if claimed == "me":
            where.append(TaskIndex.claimed_by == actor.username)
        elif claimed == "none":
            where.append(TaskIndex.claimed_by.is_(None))
        if process_id:
            where.append(TaskIndex.process_id == process_id)
        with self.db.read() as session:
            total = int(
                session.scalar(
                    select(func.count())
                    .select_from(TaskIndex)
                    .join(ProcessInstance, ProcessInstance.id == TaskIndex.instance_id)
                    .where(*where)
                )
                or 0
            )
            items = self._rows(session, actor, where, limit, offset)
        self.log.record(actor, "lista", [(i.personnummer, i.instance_id) for i in items], "API")
        return TaskList(tuple(items), total)

    def one(self, actor: Actor, task_id: str, action: str = "uppgift", detail: str = "API") -> TaskItem:
        """One task the actor sees (NotFound otherwise, whether or not it exists), logged as `action`."""
        item = self.find(actor, task_id)
        if item is None:
            raise NotFound("Uppgiften finns inte")
        self.log.record(actor, action, [(item.personnummer, item.instance_id)], detail or item.name)
        return item

    def find(self, actor: Actor, task_id: str) -> TaskItem | None:
        """One task if the actor sees it, without logging: for a caller that logs what it then shows (a command's
        answer, the worklist row after a claim, which `row` logs)."""
        with self.db.read() as session:
            items = self._rows(
                session, actor, [TaskIndex.id == task_id, self.access.visible_tasks(actor, self.clock.now())], 1, 0
            )
        return items[0] if items else None

    def row(self, actor: Actor, task_id: str) -> TaskItem | None:
        """One worklist row again (after an htmx claim), logged as a list view; None when it left the list."""
        item = self.find(actor, task_id)
        if item is not None:
            self.log.record(actor, "lista", [(item.personnummer, item.instance_id)], "rad")
        return item

    # --- the task page ------------------------------------------------------------------------------------------
    def ended(self, actor: Actor, task_id: str) -> EndedTask | None:
        """What became of a task that is no longer open, for a link followed late (a bookmark, a notice, a colleague
        who was quicker): who completed it and when, or that its case ended without it. Only for someone who did it
        or may see its case now; None otherwise (the page then says only that there is no such task). Logged as
        `uppgift`, since it names the task of a person's case."""
        now = self.clock.now()
        with self.db.read() as session:
            if session.get(TaskIndex, task_id) is not None:
                return None  # open, but not this actor's to see
            entries = session.scalars(
                select(HistoryEntry).where(HistoryEntry.task_id == task_id).order_by(HistoryEntry.id)
            ).all()
            if not entries:
                return None
            instance_id = entries[0].instance_id
            done = next((h for h in reversed(entries) if h.kind == "task_completed"), None)
            mine = done is not None and done.actor == actor.username
            if not mine and not self.access.may_see_instance(session, actor, instance_id, now):
                return None
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                return None
            names = user_names(session, {done.actor if done else None})
            name = next((str(h.data.get("name")) for h in entries if (h.data or {}).get("name")), "")
            ended = EndedTask(
                name=name,
                instance_id=instance_id,
                completed_at=done.at if done else None,
                completed_by=(names.get(done.actor or "", done.actor) if done else None),
                case_status=instance.status,
            )
            personnummer = (instance.data or {}).get("personnummer")
        self.log.record(actor, "uppgift", [(personnummer, instance_id)], name)
        return ended

    def view(self, actor: Actor, task_id: str, show_personnummer: bool = False) -> TaskView:
        """The task page, if the actor sees the task (NotFound otherwise); logged as `uppgift`, or as
        `visa_personnummer` when the full number is asked for."""
        now = self.clock.now()
        with self.db.read() as session:
            items = self._rows(session, actor, [TaskIndex.id == task_id, self.access.visible_tasks(actor, now)], 1, 0)
            if not items:
                raise NotFound("Uppgiften finns inte")
            item = items[0]
            instance = session.get(ProcessInstance, item.instance_id)
            definition = self.definitions.get(session, instance.definition_id) if instance is not None else None
            if instance is None or definition is None:
                raise NotFound("Uppgiften finns inte")
            elements = definition.elements or {}
            element = elements.get(item.element_id, {})
            form_name = item.form or ((element.get("properties") or {}).get("form"))
            # A copy of the form: the cached definition is shared by every request, and the caller may change its
            # schema (a form's defaults, its pickers).
            schema = copy.deepcopy((definition.forms or {}).get(form_name)) if form_name else None
            if schema is None and form_name:
                schema = self.catalog.form(form_name)
            open_tasks = session.scalars(
                select(TaskIndex).where(TaskIndex.instance_id == instance.id).order_by(TaskIndex.created_at)
            ).all()
            history = session.scalars(
                select(HistoryEntry).where(HistoryEntry.instance_id == instance.id).order_by(HistoryEntry.id)
            ).all()
            timers = session.scalars(select(Timer).where(Timer.instance_id == instance.id).order_by(Timer.due_at)).all()
            names = user_names(session, {h.actor for h in history} | {t.claimed_by for t in open_tasks})
            data = dict(instance.data or {})
            view = TaskView(
                task=item,
                documentation=element.get("documentation"),
                properties=element.get("properties") or {},
                form_name=form_name,
                schema=schema,
                prefill=own_answers(history, item.lane, schema),
                reads=self._reads(schema, data),
                instance_id=instance.id,
                process_id=instance.process_id,
                process_name=definition.name or instance.process_id,
                version=instance.version,
                started_at=instance.started_at,
                status=instance.status,
                person_name=data.get("namn"),
                personnummer=data.get("personnummer"),
                birth_date=birth_date(data.get("personnummer")),
                kommun=instance.kommun,
                parties=_parties(definition.lanes or [], open_tasks, history, item.id, names, now),
                timeline=_timeline(history, elements, names),
                deadlines=_deadlines(open_tasks, timers, elements, now),
                may_act=item.may_act,
            )
        self.log.record(
            actor,
            "visa_personnummer" if show_personnummer else "uppgift",
            [(view.personnummer, view.instance_id)],
            item.name,
        )
        return view

    def _reads(self, schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> tuple[CaseFact, ...]:
        """The case facts a form declares (READS_KEY) with their values; routing data (the person, units) is on
        the page already and never listed here."""
        wanted = (schema or {}).get(READS_KEY) or []
        out = []
        for key in wanted:
            if isinstance(key, str) and key not in ROUTING_KEYS and data.get(key) not in (None, ""):
                out.append(CaseFact(key, self.catalog.field_label(key), data[key]))
        return tuple(out)


def own_answers(history: Any, lane: str | None, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """What this party (the task's lane) itself wrote earlier in the case for this form's fields, the latest
    answer per field. Never another party's answers: a kommun's acknowledgement does not start from the
    vårdcentral's name and time."""
    fields = set(((schema or {}).get("properties") or {}).keys()) - ROUTING_KEYS
    if not fields or not lane:
        return {}
    found: dict[str, Any] = {}
    for h in history:
        if h.kind != "task_completed" or (h.data or {}).get("lane") != lane:
            continue
        for key, value in ((h.data or {}).get("submitted") or {}).items():
            if key in fields:
                found[key] = value
    return found


def _parties(
    lanes: list[Any],
    open_tasks: Any,
    history: Any,
    current: str,
    names: dict[str, str],
    now: datetime,
) -> dict[str, PartyTasks]:
    opened: dict[str, list[PartyTask]] = {str(lane): [] for lane in lanes}
    done: dict[str, list[PartyTask]] = {str(lane): [] for lane in lanes}
    for t in open_tasks:
        lane = t.lane or "Övrigt"
        opened.setdefault(lane, []).append(
            PartyTask(
                t.name,
                due_at=t.due_at,
                overdue=t.due_at is not None and t.due_at < now,
                claimed_by=names.get(t.claimed_by or "", t.claimed_by),
                current=t.id == current,
            )
        )
        done.setdefault(lane, [])
    for h in history:
        if h.kind == "task_completed":
            lane = (h.data or {}).get("lane") or "Övrigt"
            done.setdefault(lane, []).append(
                PartyTask((h.data or {}).get("name") or "", at=h.at, by=names.get(h.actor or "", h.actor))
            )
            opened.setdefault(lane, [])
    return {lane: PartyTasks(tuple(opened[lane]), tuple(done[lane])) for lane in opened}


def _timeline(history: Any, elements: Mapping[str, Any], names: dict[str, str]) -> tuple[TimelineEntry, ...]:
    out = []
    for h in history:
        if h.kind == "element_completed":
            continue
        subject = (h.data or {}).get("name") or elements.get(h.element_id or "", {}).get("name") or ""
        assignee = (h.data or {}).get("assignee") if h.kind == "claimed" else None
        out.append(
            TimelineEntry(
                h.at,
                h.kind,
                str(subject),
                names.get(h.actor or "", h.actor or ""),
                names.get(assignee, assignee) if assignee not in (None, h.actor) else None,
                (h.data or {}).get("comment") if h.kind in ("comment", "claimed") else None,
            )
        )
    return tuple(out)


def _deadlines(open_tasks: Any, timers: Any, elements: Mapping[str, Any], now: datetime) -> tuple[Deadline, ...]:
    found = [Deadline(t.name, t.due_at, t.due_at < now, t.lane) for t in open_tasks if t.due_at is not None] + [
        Deadline(
            str(elements.get(t.element_id, {}).get("name") or t.element_id),
            t.due_at,
            t.due_at < now,
            elements.get(t.element_id, {}).get("lane"),
        )
        for t in timers
    ]
    return tuple(sorted(found, key=lambda d: d.due_at))
