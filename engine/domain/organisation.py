"""The organisation: units (region, kommun, ward, vårdcentral, hemsjukvård, socialtjänst) and the users in them, and
the rules of the directory import (CSV and JSON parsed and checked row by row; the import itself, which writes every
row in one unit of work or nothing, is engine/commands/directory.py).

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
from enum import StrEnum
from typing import Any

from engine.domain.roles import DIRECTORY_ROLES
from engine.domain.text import Text


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

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,99}$")

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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
class ImportRow:
    where: str  # "rad 4" / "units[2] (rad 12)", for messages
    values: dict[str, Any]


def _json_rows(text: str) -> tuple[list[ImportRow], list[ImportRow], list[str]]:
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
    out: dict[str, list[ImportRow]] = {"units": [], "users": []}
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
            out[key].append(ImportRow(where, item))
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


def _csv_rows(text: str) -> tuple[list[ImportRow], list[ImportRow], list[str]]:
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
    rows: list[ImportRow] = []
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
        rows.append(ImportRow(Text("rad %(line)s", line=line), row))
    return (rows, [], problems) if kind == "units" else ([], rows, problems)


def parse_import(content: bytes, filename: str) -> tuple[list[ImportRow], list[ImportRow], list[str]]:
    if len(content) > MAX_IMPORT_BYTES:
        return [], [], [Text("filen är för stor (högst %(max_import_bytes)s byte)", max_import_bytes=MAX_IMPORT_BYTES)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [], ["filen ska vara UTF-8"]
    if filename.lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        return _json_rows(text)
    return _csv_rows(text)


def row_text(row: ImportRow, key: str, problems: list[str], required: bool, max_len: int) -> str | None:
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


def known_roles(catalog: Any) -> frozenset[str]:
    """Roles a user may hold: the overseeing roles, the lane roles and the roles named in lanes.json."""
    roles = set(DIRECTORY_ROLES) | set(getattr(catalog, "role_names", {}) or {})
    for rule in (getattr(catalog, "lanes", {}) or {}).values():
        roles.update(rule.roles)
    return frozenset(roles)
