"""The organisation's units as the reads and the commands look them up, and users turned into actors with their
units resolved (a hemsjukvård or socialtjänst unit also answers for its kommun's name, as the task index keeps the
case's raw field: engine/domain/organisation.py `unit_keys`). Directory data, not patient data: no access-log row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain.actors import Actor
from engine.domain.organisation import UnitInfo, unit_keys
from engine.persistence.models import OrgUnit


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


def units_by_hsa(session: Session, hsa_ids: Iterable[str]) -> dict[str, UnitInfo]:
    """Only the named units (a user's), without their parents' HSA-ids."""
    wanted = sorted(set(hsa_ids))
    rows = session.scalars(select(OrgUnit).where(OrgUnit.hsa_id.in_(wanted))).all() if wanted else []
    return {u.hsa_id: UnitInfo(u.hsa_id, u.name, u.kind, u.kommun, None) for u in rows}


def all_units(session: Session) -> dict[str, UnitInfo]:
    rows = session.scalars(select(OrgUnit).order_by(OrgUnit.name)).all()
    by_id = {u.id: u.hsa_id for u in rows}
    return {
        u.hsa_id: UnitInfo(u.hsa_id, u.name, u.kind, u.kommun, by_id.get(u.parent_id) if u.parent_id else None)
        for u in rows
    }


def actors_of(users: Iterable[UserColumns], session: Session) -> list[Actor]:
    """The users as actors, their units resolved with one query for all of them: a list of colleagues costs one
    query, not one per colleague."""
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


def actor_of(user: UserColumns, session: Session) -> Actor:
    """One user as an actor (`actors_of` for one)."""
    return actors_of([user], session)[0]
