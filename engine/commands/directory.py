"""The directory's commands: users and API tokens created, the organisation imported from a file, and the identity
lookups sign-in and the API need (a username or a token to an actor). The caller's unit of work commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain.actors import Actor
from engine.domain.errors import BadRequest, Conflict, NotAuthenticated, NotFound, ValidationFailed
from engine.domain.organisation import (
    EMAIL_PATTERN,
    KOMMUN_KINDS,
    UNIT_KINDS,
    USERNAME_PATTERN,
    ImportReport,
    ImportRow,
    UnitInfo,
    UnitKind,
    parse_import,
    row_text,
)
from engine.domain.personnummer import is_hsa_id
from engine.domain.text import LANGUAGE_CODES, Text
from engine.persistence.db import Database
from engine.persistence.models import ApiToken, AuditEntry, OrgUnit, User
from engine.reads.units import actor_of, all_units

TOKEN_PREFIX = "sfl_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Directory:
    def __init__(self, db: Database):
        self.db = db

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
            return actor_of(row[1], session)

    def actor(self, username: str) -> Actor:
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise NotFound(Text("Användaren %(username)r finns inte", username=username))
            return actor_of(user, session)


def import_directory(
    session: Session,
    content: bytes,
    filename: str,
    at: datetime,
    known_roles: Iterable[str],
    hash_password: Any = None,
) -> ImportReport:
    """Check every row, then create or update units and users in this session (the caller's unit of work commits
    once). Any problem raises ValidationFailed listing every bad row by its line; nothing is written then."""
    unit_rows, user_rows, problems = parse_import(content, filename)
    existing = all_units(session)
    seen: dict[str, str] = {}
    units: list[UnitInfo] = []
    for row in unit_rows:
        hsa = row_text(row, "hsa_id", problems, True, 31)
        name = row_text(row, "name", problems, True, 200)
        kind = row_text(row, "kind", problems, True, 20)
        kommun = row_text(row, "kommun", problems, False, 100)
        parent = row_text(row, "parent_hsa_id", problems, False, 31)
        if hsa is not None and not is_hsa_id(hsa):
            problems.append(
                Text(
                    "%(where)s: HSA-id %(hsa)r har fel form (SE + 10 siffror + - + bokstäver/siffror)",
                    where=row.where,
                    hsa=hsa,
                )
            )
            hsa = None
        if hsa is not None and hsa in seen:
            problems.append(
                Text("%(where)s: HSA-id %(hsa)s finns redan på %(seen)s", where=row.where, hsa=hsa, seen=seen[hsa])
            )
        unit_kind = UnitKind.parse(kind) if kind is not None else None
        if kind is not None and unit_kind is None:
            problems.append(
                Text(
                    "%(where)s: typen %(kind)r finns inte (en av %(items)s)",
                    where=row.where,
                    kind=kind,
                    items=", ".join(UNIT_KINDS),
                )
            )
        if unit_kind is not None and unit_kind.value in KOMMUN_KINDS and not kommun:
            problems.append(
                Text("%(where)s: en enhet av typen %(value)s måste ange kommun", where=row.where, value=unit_kind.value)
            )
        if hsa and name and unit_kind:
            seen[hsa] = row.where
            units.append(UnitInfo(hsa, name, unit_kind.value, kommun, parent))
    known_hsa = set(existing) | {u.hsa_id for u in units}
    for unit in units:
        if unit.parent_hsa_id and unit.parent_hsa_id not in known_hsa:
            problems.append(
                Text(
                    "%(seen)s: överordnad enhet %(parent_hsa_id)s finns inte",
                    seen=seen[unit.hsa_id],
                    parent_hsa_id=unit.parent_hsa_id,
                )
            )
        if unit.parent_hsa_id == unit.hsa_id:
            problems.append(Text("%(seen)s: en enhet kan inte vara sin egen överordnade", seen=seen[unit.hsa_id]))
    roles_ok = set(known_roles)
    users: list[tuple[ImportRow, dict[str, Any]]] = []
    seen_users: dict[str, str] = {}
    for row in user_rows:
        username = row_text(row, "username", problems, True, 100)
        name = row_text(row, "name", problems, True, 200)
        hsa = row_text(row, "hsa_id", problems, False, 31)
        email = row_text(row, "email", problems, False, 200)
        password = row_text(row, "password", problems, False, 200)
        language = row_text(row, "language", problems, False, 5)
        if language is not None and language not in LANGUAGE_CODES:
            problems.append(
                Text(
                    "%(where)s: språket %(language)r finns inte (%(languages)s)",
                    where=row.where,
                    language=language,
                    languages=", ".join(LANGUAGE_CODES),
                )
            )
        if username is not None and not USERNAME_PATTERN.match(username):
            problems.append(
                Text(
                    "%(where)s: användarnamnet %(username)r får bara ha a-z, 0-9, punkt, - och _",
                    where=row.where,
                    username=username,
                )
            )
            username = None
        if username is not None and username in seen_users:
            problems.append(
                Text(
                    "%(where)s: användaren %(username)s finns redan på %(seen_users)s",
                    where=row.where,
                    username=username,
                    seen_users=seen_users[username],
                )
            )
        if hsa is not None and not is_hsa_id(hsa):
            problems.append(Text("%(where)s: HSA-id %(hsa)r har fel form", where=row.where, hsa=hsa))
        if email is not None and not EMAIL_PATTERN.match(email):
            problems.append(Text("%(where)s: e-postadressen %(email)r har fel form", where=row.where, email=email))
        roles = row.values.get("roles") or []
        user_units = row.values.get("units") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            problems.append(Text("%(where)s: 'roles' ska vara en lista av text", where=row.where))
            roles = []
        if not isinstance(user_units, list) or not all(isinstance(u, str) for u in user_units):
            problems.append(Text("%(where)s: 'units' ska vara en lista av text", where=row.where))
            user_units = []
        for role in roles:
            if role not in roles_ok:
                problems.append(Text("%(where)s: rollen %(role)r finns inte", where=row.where, role=role))
        for unit_ref in user_units:
            if unit_ref not in known_hsa:
                problems.append(
                    Text(
                        "%(where)s: enheten %(unit_ref)r finns inte (ange enhetens HSA-id)",
                        where=row.where,
                        unit_ref=unit_ref,
                    )
                )
        if username and name:
            seen_users[username] = row.where
            users.append(
                (
                    row,
                    {
                        "username": username,
                        "name": name,
                        "hsa_id": hsa,
                        "email": email,
                        "roles": sorted(set(roles)),
                        "units": sorted(set(user_units)),
                        "password": password,
                        "language": language,
                    },
                )
            )
    if not unit_rows and not user_rows and not problems:
        problems.append("filen innehåller inga enheter eller användare")
    if problems:
        raise ValidationFailed(
            Text("Importen avbröts: %(count)s fel, inget har sparats", count=len(problems)), {"problems": problems}
        )
    report = ImportReport()
    rows_by_hsa = {u.hsa_id: u for u in session.scalars(select(OrgUnit))}
    for unit in units:
        current = rows_by_hsa.get(unit.hsa_id)
        if current is None:
            current = OrgUnit(hsa_id=unit.hsa_id, created_at=at)
            session.add(current)
            rows_by_hsa[unit.hsa_id] = current
            report.units_created += 1
        else:
            report.units_updated += 1
        current.name, current.kind, current.kommun, current.updated_at = unit.name, unit.kind, unit.kommun, at
    session.flush()
    for unit in units:
        parent_row = rows_by_hsa.get(unit.parent_hsa_id) if unit.parent_hsa_id else None
        rows_by_hsa[unit.hsa_id].parent_id = parent_row.id if parent_row is not None else None
    for _row, spec in users:
        user = session.scalar(select(User).where(User.username == spec["username"]))
        if user is None:
            user = User(username=spec["username"], active=True, created_at=at)
            session.add(user)
            report.users_created += 1
        else:
            report.users_updated += 1
        user.name, user.hsa_id, user.roles, user.units = spec["name"], spec["hsa_id"], spec["roles"], spec["units"]
        if spec["email"]:
            user.email = spec["email"]
        if spec["language"] in LANGUAGE_CODES:
            user.language = spec["language"]
        if spec["password"] and hash_password is not None:
            user.password_hash = hash_password(spec["password"])
    session.flush()
    return report
