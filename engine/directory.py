"""Users, roles, units and API tokens, and the rules of who may do what.

Roles that are not lane roles:
- `admin`: everything;
- `process_owner` (processägare): deploys diagrams;
- `coordinator` (övergripande vårdsamordnare / samverkanskoordinator): reads every instance, retries incidents,
  cancels, moves tokens, fires stuck timers, reassigns (the monitoring pages, `/overvakning`);
- `system`: an outside system (the patient record): starts instances and sends messages;
- `auditor`: reads the audit log and the access log (only this role, `Policy.can_audit`);
- `implementation_team` (implementeringsteam): creates, starts, pauses, ends, extends and promotes pilots
  (`Policy.can_manage_pilots`, engine/features/pilots.py) and reads their comparison figures;
- `manager` (verksamhetschef / verksamhetsledning): reads the figures (`Policy.can_read_figures`, /rapporter).
Lane roles (vardplanerare, vardsamordnare, ...) come from processes/lanes.json and own the tasks of their lanes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain.catalog import Catalog
from engine.domain.errors import BadRequest, Conflict, Forbidden, NotAuthenticated, NotFound
from engine.domain.roles import DIRECTORY_ROLES
from engine.domain.text import Text
from engine.organisation import unit_keys, units_by_hsa
from engine.persistence.db import Database
from engine.persistence.models import ApiToken, AuditEntry, TaskIndex, User

TOKEN_PREFIX = "sfl_"


class UserColumns(Protocol):
    """What an actor is made of: a `User` row, or a row of just these columns."""

    @property
    def username(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def roles(self) -> list[str] | None: ...
    @property
    def units(self) -> list[str] | None: ...


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    units: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    # The platform itself (scheduler, demo loader, migrations of the platform's own making): not a person, so not
    # limited by need to know. Never built from a user row: no sign-in or token can yield it.
    internal: bool = False

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


SYSTEM_ACTOR = Actor("samflode", frozenset({"admin"}), name="Samflöde", internal=True)


class Policy:
    """Who may do what. One place, so that web, API and CLI answer alike."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise Forbidden(message)

    def can_deploy(self, actor: Actor) -> bool:
        return actor.has("process_owner")

    def can_start(self, actor: Actor) -> bool:
        return actor.has("system", "coordinator") or bool(actor.roles - DIRECTORY_ROLES)

    def can_send_message(self, actor: Actor) -> bool:
        return actor.has("system", "coordinator") or bool(actor.roles - DIRECTORY_ROLES)

    def can_manage_instances(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_read_figures(self, actor: Actor) -> bool:
        """The figures (`/rapporter`, engine/reads/figures.py): aggregated, no person in them; coordinators, process
        owners,
        admins and managers (`manager`, read-only). Groups of fewer than five cases are hidden where shown."""
        return actor.has("coordinator", "process_owner", "manager")

    # --- monitoring (issue 6): who sees the instance list, instance pages and heat maps, and who repairs ---------
    def can_monitor(self, actor: Actor) -> bool:
        """The instance list and the instance page (diagram, timeline, timers, incidents): coordinators act on
        them, auditors read them (what happened in a case?); each within their own organisation (need to know,
        engine/reads/policy.py), and every view is in the access log. Process owners read the heat map and the
        figures, which name nobody."""
        return actor.has("coordinator", "auditor")

    def can_search_instances_by_person(self, actor: Actor) -> bool:
        """Finding a person's cases by personnummer in the instance list: coordinators, and the journal system
        (finding its own cases); the search is logged and finds only cases the searcher may see."""
        return actor.has("coordinator", "system")

    def can_view_heatmap(self, actor: Actor) -> bool:
        """Times per element of a process version: no person in it; coordinators and process owners (and auditors)."""
        return actor.has("coordinator", "process_owner", "auditor")

    def can_retry_incident(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_cancel_instance(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_move_token(self, actor: Actor) -> bool:
        """Repair: a token moved by hand. Coordinators only, never a lane role: it skips or redoes steps of others."""
        return actor.has("coordinator")

    def can_fire_timer_now(self, actor: Actor) -> bool:
        return actor.has("coordinator")

    def can_reassign_task(self, actor: Actor) -> bool:
        """Hand a task to a named user with a reason (a colleague may also hand over their own task: owns_task)."""
        return actor.has("coordinator")

    def can_audit(self, actor: Actor) -> bool:
        """Search the access log and take out a person's loggutdrag: the auditor role only. Not `admin` either:
        reading who looked at whom is kept apart from running the system (separation of duties)."""
        return "auditor" in actor.roles

    def can_manage_pilots(self, actor: Actor) -> bool:
        """Create, start, pause, end, extend and promote pilots: the implementation team (and admin)."""
        return actor.has("implementation_team")

    def can_view_pilots(self, actor: Actor) -> bool:
        """Pilot pages and their comparison figures (counts, no patient data)."""
        return actor.has("implementation_team", "process_owner", "coordinator")

    def task_roles(self, task: TaskIndex) -> tuple[str, ...]:
        if task.role:
            return (task.role,)
        return self.catalog.roles_for_lane(task.lane)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Directory:
    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def _actor(user: User, session: Session | None = None) -> Actor:
        """The user as an actor; with a session, units are resolved through the organisation (a hemsjukvård or
        socialtjänst unit also answers for its kommun's name, as the task index keeps the case's raw field)."""
        units = frozenset(user.units or [])
        if session is not None and units:
            units = unit_keys(units, units_by_hsa(session, units))
        return Actor(user.username, frozenset(user.roles or []), units, user.name)

    @staticmethod
    def actors_of(users: Iterable[UserColumns], session: Session) -> list[Actor]:
        """The users as actors, their units resolved with one query for all of them (as `_actor` does for one): a
        list of colleagues costs one query, not one per colleague."""
        users = list(users)
        known = units_by_hsa(session, {unit for user in users for unit in user.units or []})
        return [
            Actor(
                user.username,
                frozenset(user.roles or []),
                unit_keys(frozenset(user.units or []), known) if user.units else frozenset(),
                user.name,
            )
            for user in users
        ]

    def create_user(
        self,
        session: Session,
        username: str,
        name: str,
        roles: list[str],
        units: list[str],
        at: datetime,
        hsa_id: str | None = None,
        password_hash: str | None = None,
    ) -> User:
        username = username.strip()
        if not username or len(username) > 100:
            raise BadRequest("Användarnamnet måste vara 1-100 tecken")
        if session.scalar(select(User).where(User.username == username)) is not None:
            raise Conflict(Text("Användaren %(username)r finns redan", username=username))
        user = User(
            username=username,
            name=name or username,
            roles=sorted(set(roles)),
            units=sorted(set(units)),
            hsa_id=hsa_id,
            password_hash=password_hash,
            active=True,
            created_at=at,
        )
        session.add(user)
        session.flush()
        return user

    def create_token(self, session: Session, username: str, at: datetime, label: str = "") -> str:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(Text("Användaren %(username)r finns inte", username=username))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, created_at=at))
        session.add(
            AuditEntry(
                at=at,
                actor=username,
                action="token_created",
                target_type="user",
                target_id=username,
                details={"label": label},
            )
        )
        return token

    def actor_for_token(self, token: str) -> Actor:
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise NotAuthenticated("Ogiltig API-nyckel")
        with self.db.read() as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == hash_token(token))
            ).first()
            if row is None or row[0].revoked_at is not None or not row[1].active:
                raise NotAuthenticated("Ogiltig eller återkallad API-nyckel")
            return self._actor(row[1], session)

    @classmethod
    def actor_of(cls, user: User, session: Session) -> Actor:
        """A user row read in `session` (with a caller's own query) as an actor, its units resolved there."""
        return cls._actor(user, session)

    def actor(self, username: str) -> Actor:
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise NotFound(Text("Användaren %(username)r finns inte", username=username))
            return self._actor(user, session)
