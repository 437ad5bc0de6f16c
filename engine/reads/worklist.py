"""The worklist's settings and helpers that name no person: what its filters offer, the colleagues a task may be
handed to, saved filters and form drafts. The lists of tasks themselves are read through engine/reads/tasks.py,
which applies need to know and writes the access log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from engine.domain.actors import Actor, Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock
from engine.domain.errors import BadRequest, NotFound, ValidationFailed
from engine.domain.organisation import UnitInfo
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import OrgUnit, ProcessDefinition, SavedFilter, TaskDraft, TaskIndex, User
from engine.reads.log import AccessLogWriter
from engine.reads.policy import AccessPolicy
from engine.reads.tasks import COUNT_CAP, VIEWS, WorklistFilter
from engine.reads.units import actors_of, all_units

__all__ = ["COUNT_CAP", "VIEWS", "Drafts", "Worklist", "WorklistFilter"]


class Worklist:
    def __init__(
        self, db: Database, catalog: Catalog, policy: Policy, clock: Clock, access: AccessPolicy | None = None
    ):
        self.db = db
        self.catalog = catalog
        self.policy = policy
        self.clock = clock
        self.access = access or AccessPolicy(catalog)
        self._user_task_cache: tuple[tuple[int, ...], list[tuple[str, str, str, str | None, str | None]]] = ((), [])
        self._unit_cache: tuple[int, dict[str, UnitInfo]] = (-1, {})
        self._process_names: dict[str, str] = {}

    def options(self, actor: Actor) -> dict[str, list[Any]]:
        """What the filters can choose from: the user tasks of the deployed processes in the actor's lanes or roles
        (every one for overseers), kommuner and wards from the directory. Read from the definitions, not from the
        open tasks, so that it costs the same with ten cases or a hundred thousand."""
        lane_names = {lane for lane, rule in self.catalog.lanes.items() if any(r in actor.roles for r in rule.roles)}
        processes: set[str] = set()
        tasks: dict[str, str] = {}
        with self.db.read() as session:
            for process_id, element_id, name, lane, role in self._user_tasks(session):
                if self.access.is_overseer(actor) or (role in actor.roles if role else lane in lane_names):
                    processes.add(process_id)
                    tasks.setdefault(element_id, name)
            names = self._process_names
            units = self._units(session)
        # One read of the directory per change of its size, not per page (bench/worklist.py: two queries a page).
        kommuner = sorted({u.kommun for u in units.values() if u.kind == "kommun" and u.kommun is not None})
        wards = sorted(((u.hsa_id, u.name) for u in units.values() if u.kind == "avdelning"), key=lambda w: w[1])
        return {
            "process": sorted(((p, names.get(p, p)) for p in processes), key=lambda t: t[1]),
            "task": sorted(tasks.items(), key=lambda t: t[1]),
            "kommun": [(k, k) for k in kommuner],
            "avdelning": [(w[0], w[1]) for w in wards],
        }

    def user_names(self, usernames: list[str]) -> dict[str, str]:
        """Username -> the person's name, for messages that name a colleague."""
        with self.db.read() as session:
            rows = session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all()
        return {u: n or u for u, n in rows}

    def _units(self, session: Session) -> dict[str, UnitInfo]:
        """Every unit of the directory, kept until the directory changes size (an import adds or removes units; a
        rename is seen at the next start)."""
        count = int(session.scalar(select(func.count()).select_from(OrgUnit)) or 0)
        if self._unit_cache[0] != count:
            self._unit_cache = (count, all_units(session))
        return self._unit_cache[1]

    def unit_names(self) -> dict[str, str]:
        """HSA-id -> name of every unit in the directory (the forms' unit picker)."""
        with self.db.read() as session:
            return {hsa: u.name for hsa, u in self._units(session).items()}

    def process_names(self) -> dict[str, str]:
        """Each deployed process's name (its latest version's), for lists that would otherwise show the id."""
        with self.db.read() as session:
            self._user_tasks(session)
        return self._process_names

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
            names: dict[str, str] = {}
            for process_id, process_name, elements in session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.name, ProcessDefinition.elements).where(
                    ProcessDefinition.id.in_(ids)
                )
            ):
                names[process_id] = process_name or process_id
                for element_id, element in (elements or {}).items():
                    if element.get("type") == "userTask":
                        role = (element.get("properties") or {}).get("role")
                        found.append(
                            (process_id, element_id, element.get("name") or element_id, element.get("lane"), role)
                        )
            self._user_task_cache = (ids, found)
            self._process_names = names
        return self._user_task_cache[1]

    def colleagues(self, actor: Actor, task_id: str) -> list[tuple[str, str]]:
        """Users, other than the actor, to whom the actor may hand the task: its role in its unit (a task without a
        unit has none; a coordinator gives such a task to someone with `assignees`)."""
        return [(u, n) for u, n in self._assignable(task_id, need_unit=True) if u != actor.username]

    def assignees(self, task_id: str) -> list[tuple[str, str]]:
        """Users a coordinator may give the task to (the one access policy's `assignable`): its role, and its unit
        unless it has none."""
        return self._assignable(task_id, need_unit=False)

    def _assignable(self, task_id: str, need_unit: bool) -> list[tuple[str, str]]:
        with self.db.read() as session:
            task = session.get(TaskIndex, task_id)
            if task is None:
                raise NotFound("Uppgiften finns inte")
            if need_unit and task.unit is None:
                return []
            roles = set(self.policy.task_roles(task))
            if not roles:
                return []
            # Only the columns an actor is made of (a region has thousands of users; no ORM objects for each), and on
            # PostgreSQL only the users with one of the task's roles (jsonb containment): the task page decoded the
            # roles and units of every user of the region, 440 JSON documents a page, to keep a handful.
            query = select(User.username, User.name, User.roles, User.units).where(User.active.is_(True))
            if self.db.dialect == "postgresql":
                query = query.where(or_(*(type_coerce(User.roles, JSONB).contains([role]) for role in sorted(roles))))
            users = session.execute(query.order_by(User.name)).all()
            candidates = [user for user in users if roles & set(user.roles or [])]
            return [
                (actor.username, actor.name)
                for actor in actors_of(candidates, session)
                if self.access.assignable(actor, task)
            ]

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
                "Ge filtret ett namn (1–100 tecken)", {"fields": {"name": [Text("Fältet måste fyllas i")]}}
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


class Drafts:
    """Forms saved half-filled, one per task and user, in the database."""

    def __init__(self, db: Database, clock: Clock, log: AccessLogWriter | None = None):
        self.db = db
        self.clock = clock
        self.log = log or AccessLogWriter(db, clock)

    def get(self, task_id: str, username: str) -> dict[str, Any] | None:
        with self.db.read() as session:
            row = session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == username))
            return {"data": dict(row.data or {}), "saved_at": row.saved_at} if row is not None else None

    def save(
        self, actor: Actor, task_id: str, instance_id: int, personnummer: str | None, data: dict[str, Any]
    ) -> None:
        """The actor's draft of a task's form (the caller has checked the actor may act on it); logged with it."""
        with self.db.unit_of_work() as session:
            row = session.scalar(
                select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == actor.username)
            )
            if row is None:
                row = TaskDraft(task_id=task_id, instance_id=instance_id, username=actor.username)
                session.add(row)
            row.data, row.saved_at = data, self.clock.now()
            self.log.record_in(session, actor, "utkast", [(personnummer, instance_id)], task_id)

    def discard(self, task_id: str) -> None:
        with self.db.unit_of_work() as session:
            session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))
