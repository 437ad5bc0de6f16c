"""The organisation: units (region, kommun, ward, vårdcentral, hemsjukvård, socialtjänst) and the users in them, with
an importer for CSV and JSON that checks every row first and then writes all of it in one unit of work, or nothing.

Units in the task index stay what the case says (an HSA-id, or a kommun name for the kommun's lanes, see
processes/lanes.json). `unit_keys` turns a user's units into those keys: a unit's HSA-id, and for the kommun's kinds
(hemsjukvård, socialtjänst, kommun) also the kommun's name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain.errors import ValidationFailed
from engine.domain.personnummer import is_hsa_id
from engine.domain.roles import DIRECTORY_ROLES
from engine.domain.text import LANGUAGE_CODES, Text
from engine.persistence.models import OrgUnit, User


class UnitKind(StrEnum):
    """The kind of an organisation unit, one spelling everywhere (issue 15: the directory stored "vårdcentral"
    while the case columns, pilots and filters said "vardcentral", so the instance list's Vårdcentral filter offered
    nothing). The value is what `org_units.kind` stores (the directory's Swedish word); `parse` also takes the ASCII
    spelling an import or an older row may use (migration 0019 rewrote stored rows); `case_column` is the
    process_instances / case_facts column a unit of the kind fills, if any."""

    REGION = "region"
    KOMMUN = "kommun"
    AVDELNING = "avdelning"
    VARDCENTRAL = "vårdcentral"
    HEMSJUKVARD = "hemsjukvård"
    SOCIALTJANST = "socialtjänst"

    @classmethod
    def parse(cls, text: str | None) -> UnitKind | None:
        """The kind `text` names, in either spelling and any case; None when it names none."""
        key = _ascii((text or "").strip().lower())
        return next((kind for kind in cls if _ascii(kind.value) == key), None)

    @property
    def case_column(self) -> str | None:
        return {"kommun": "kommun", "avdelning": "avdelning", "vårdcentral": "vardcentral"}.get(self.value)

    @property
    def title(self) -> str:  # type: ignore[override]
        return KIND_NAMES[self.value]


def _ascii(text: str) -> str:
    return text.replace("å", "a").replace("ä", "a").replace("ö", "o")


UNIT_KINDS = tuple(kind.value for kind in UnitKind)
KOMMUN_KINDS = frozenset({UnitKind.KOMMUN.value, UnitKind.HEMSJUKVARD.value, UnitKind.SOCIALTJANST.value})
KIND_NAMES = {
    "region": "Region",
    "kommun": "Kommun",
    "avdelning": "Avdelning",
    "vårdcentral": "Vårdcentral",
    "hemsjukvård": "Hemsjukvård",
    "socialtjänst": "Socialtjänst",
}
UNIT_COLUMNS = ("hsa_id", "name", "kind", "kommun", "parent_hsa_id")
USER_COLUMNS = ("username", "name", "hsa_id", "roles", "units", "email")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class UnitInfo:
    hsa_id: str
    name: str
    kind: str
    kommun: str | None
    parent_hsa_id: str | None


def unit_keys(units: Iterable[str], known: Mapping[str, UnitInfo]) -> frozenset[str]:
    """The keys a user answers for in the task index: each HSA-id, plus the kommun's name for kommun units. An entry
    that is not a known unit (a kommun name, an HSA-id not imported yet) is kept as it is."""
    keys: set[str] = set()
    for value in units:
        keys.add(value)
        info = known.get(value)
        if info is not None and info.kind in KOMMUN_KINDS and info.kommun:
            keys.add(info.kommun)
    return frozenset(keys)


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


@dataclass
class ImportReport:
    units_created: int = 0
    units_updated: int = 0
    users_created: int = 0
    users_updated: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "units_created": self.units_created,
            "units_updated": self.units_updated,
            "users_created": self.users_created,
            "users_updated": self.users_updated,
        }


@dataclass
class _Row:
    where: str  # "rad 4" / "units[2] (rad 12)", for messages
    values: dict[str, Any]


def _json_rows(text: str) -> tuple[list[_Row], list[_Row], list[str]]:
    """Units and users from `{"units": [...], "users": [...]}` (or a bare list of units), each with the line where
    it starts, so that a bad entry is named by its line."""
    problems: list[str] = []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [], [Text("rad %(lineno)s: ogiltig JSON (%(msg)s)", lineno=exc.lineno, msg=exc.msg)]
    if isinstance(doc, list):
        doc = {"units": doc}
    if not isinstance(doc, dict):
        return [], [], ["rad 1: filen ska vara ett JSON-objekt med listorna 'units' och/eller 'users'"]
    unknown = sorted(k for k in set(doc) - {"units", "users"} if not str(k).startswith("$"))
    if unknown:
        problems.append(Text("rad 1: okända nycklar %(items)s (bara 'units' och 'users')", items=", ".join(unknown)))
    lines = _element_lines(text)
    out: dict[str, list[_Row]] = {"units": [], "users": []}
    for key in ("units", "users"):
        items = doc.get(key) or []
        if not isinstance(items, list):
            problems.append(Text("'%(key)s' ska vara en lista", key=key))
            continue
        for index, item in enumerate(items):
            line = lines.get((key, index))
            where = (
                Text("%(key)s[%(index)s] (rad %(line)s)", key=key, index=index, line=line)
                if line
                else f"{key}[{index}]"
            )
            if not isinstance(item, dict):
                problems.append(Text("%(where)s: ska vara ett objekt", where=where))
                continue
            out[key].append(_Row(where, item))
    return out["units"], out["users"], problems


def _element_lines(text: str) -> dict[tuple[str, int], int]:
    """Line of each element of the top-level lists (or of a top-level list, as 'units'), found with the decoder."""
    decoder = json.JSONDecoder()
    found: dict[tuple[str, int], int] = {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def walk_list(i: int, key: str) -> int:
        i = skip(i + 1)
        index = 0
        while i < len(text) and text[i] != "]":
            found[(key, index)] = text.count("\n", 0, i) + 1
            _, i = decoder.raw_decode(text, i)
            i = skip(i)
            if i < len(text) and text[i] == ",":
                i = skip(i + 1)
            index += 1
        return i + 1

    try:
        i = skip(0)
        if text[i] == "[":
            walk_list(i, "units")
            return found
        i = skip(i + 1)
        while i < len(text) and text[i] != "}":
            key, i = decoder.raw_decode(text, i)
            i = skip(skip(i) + 1)  # the colon
            if text[i] == "[":
                i = walk_list(i, str(key))
            else:
                _, i = decoder.raw_decode(text, i)
            i = skip(i)
            if i < len(text) and text[i] == ",":
                i = skip(i + 1)
    except (ValueError, IndexError):
        pass
    return found


def _csv_rows(text: str) -> tuple[list[_Row], list[_Row], list[str]]:
    """A CSV of units (header hsa_id,name,kind,kommun,parent_hsa_id) or of users (header
    username,name,hsa_id,roles,units,email, optionally language: sv or en; roles and units separated by ';'). ',' or ';'
    between columns."""
    sample = text[:2048]
    delimiter = ";" if sample.split("\n", 1)[0].count(";") > sample.split("\n", 1)[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [], ["rad 1: filen är tom"]
    required: tuple[str, ...]
    if "hsa_id" in header and "username" not in header:
        kind, required = "units", ("hsa_id", "name", "kind")
    elif "username" in header:
        kind, required = "users", ("username", "name")
    else:
        return (
            [],
            [],
            ["rad 1: rubrikraden ska ha kolumnerna " + ",".join(UNIT_COLUMNS) + " eller " + ",".join(USER_COLUMNS)],
        )
    missing = [c for c in required if c not in header]
    if missing:
        return [], [], [Text("rad 1: kolumnerna %(items)s saknas", items=", ".join(missing))]
    rows: list[_Row] = []
    problems: list[str] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(
                Text(
                    "rad %(line)s: %(count)s kolumner, rubrikraden har %(count2)s",
                    line=line,
                    count=len(values),
                    count2=len(header),
                )
            )
            continue
        row: dict[str, Any] = {h: v.strip() for h, v in zip(header, values, strict=True)}
        if kind == "users":
            for listed in ("roles", "units"):
                row[listed] = [v.strip() for v in re.split(r"[;|]", row.get(listed, "")) if v.strip()]
        rows.append(_Row(Text("rad %(line)s", line=line), row))
    return (rows, [], problems) if kind == "units" else ([], rows, problems)


def parse_import(content: bytes, filename: str) -> tuple[list[_Row], list[_Row], list[str]]:
    if len(content) > MAX_IMPORT_BYTES:
        return [], [], [Text("filen är för stor (högst %(max_import_bytes)s byte)", max_import_bytes=MAX_IMPORT_BYTES)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [], ["filen ska vara UTF-8"]
    if filename.lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        return _json_rows(text)
    return _csv_rows(text)


def _text(row: _Row, key: str, problems: list[str], required: bool, max_len: int) -> str | None:
    value = row.values.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Text("%(where)s: '%(key)s' saknas", where=row.where, key=key))
        return None
    if not isinstance(value, str):
        problems.append(Text("%(where)s: '%(key)s' ska vara text", where=row.where, key=key))
        return None
    value = value.strip()
    if len(value) > max_len:
        problems.append(
            Text("%(where)s: '%(key)s' är längre än %(max_len)s tecken", where=row.where, key=key, max_len=max_len)
        )
        return None
    return value


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
        hsa = _text(row, "hsa_id", problems, True, 31)
        name = _text(row, "name", problems, True, 200)
        kind = _text(row, "kind", problems, True, 20)
        kommun = _text(row, "kommun", problems, False, 100)
        parent = _text(row, "parent_hsa_id", problems, False, 31)
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
    users: list[tuple[_Row, dict[str, Any]]] = []
    seen_users: dict[str, str] = {}
    for row in user_rows:
        username = _text(row, "username", problems, True, 100)
        name = _text(row, "name", problems, True, 200)
        hsa = _text(row, "hsa_id", problems, False, 31)
        email = _text(row, "email", problems, False, 200)
        password = _text(row, "password", problems, False, 200)
        language = _text(row, "language", problems, False, 5)
        if language is not None and language not in LANGUAGE_CODES:
            problems.append(
                Text(
                    "%(where)s: språket %(language)r finns inte (%(languages)s)",
                    where=row.where,
                    language=language,
                    languages=", ".join(LANGUAGE_CODES),
                )
            )
        if username is not None and not _USERNAME.match(username):
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
        if email is not None and not _EMAIL.match(email):
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


def known_roles(catalog: Any) -> frozenset[str]:
    """Roles a user may hold: the overseeing roles, the lane roles and the roles named in lanes.json."""
    roles = set(DIRECTORY_ROLES) | set(getattr(catalog, "role_names", {}) or {})
    for rule in (getattr(catalog, "lanes", {}) or {}).values():
        roles.update(rule.roles)
    return frozenset(roles)
