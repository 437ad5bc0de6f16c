"""What every command module of the service layer shares: limits, result types, the deployed-definition view and
the checks of data, comments and reasons at the edge of a command. Pure: no session, no workflow."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bpmn.parsing import ParsedDocument, ParsedProcess
from engine.domain import boundary, personnummer
from engine.domain.errors import Diagnostic, InvalidData, ValidationFailed
from engine.domain.routing import CASE_UNIT_KEYS
from engine.domain.text import Text
from engine.persistence.models import ProcessDefinition, ProcessInstance, UtcDateTime

CORRELATION_KEYS = ("personnummer", "vardtillfalle_id")
MAX_REASON_CHARS = 2000
MAX_TIMER_ATTEMPTS = 5  # firings of one timer that raised before it becomes an incident
TIMER_RETRY_SECONDS = 10  # the first back-off; doubled after each failure (10, 20, 40, 80 s)
TIMER_RETRY_MAX_SECONDS = 3600
MAX_ROUTE_DEPTH = 8  # messages thrown by instances that a thrown message started or continued
ENDED = ("completed", "cancelled")


@dataclass
class DeployResult:
    definition_id: int
    process_id: str
    version: int
    executable: bool
    created: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class MessageResult:
    instance_id: int
    outcome: str  # started | delivered
    duplicate: bool = False


@dataclass(frozen=True)
class Deployed:
    """What the runtime needs of a deployed definition. Definitions never change once stored, so this is cached."""

    id: int
    process_id: str
    version: int
    executable: bool
    elements: dict[str, Any]
    forms: dict[str, Any]
    start_messages: tuple[str, ...]
    dependencies: dict[str, int | None]  # called process id -> definition id; None: resolved at run time

    @property
    def unresolved(self) -> tuple[str, ...]:
        return tuple(sorted(k for k, v in self.dependencies.items() if v is None))

    @classmethod
    def of(cls, row: ProcessDefinition) -> Deployed:
        return cls(
            row.id,
            row.process_id,
            row.version,
            row.executable,
            dict(row.elements or {}),
            dict(row.forms or {}),
            tuple(row.start_messages or ()),
            dict(row.dependencies or {}),
        )


def provided_by_form(definition: Deployed) -> Any:
    """The fields a user task's form gives (frozen with the definition at deploy), for the data check ahead of a
    migration (engine/bpmn/migration.py `plan`)."""

    def fields_of(element_id: str) -> list[str]:
        props = (definition.elements.get(element_id, {}).get("properties") or {}) if definition.elements else {}
        form = props.get("form")
        schema = (definition.forms or {}).get(form) if form else None
        return list((schema or {}).get("properties", {}))

    return fields_of


def collaboration_only(doc: ParsedDocument) -> ParsedProcess:
    """A document with only a collaboration, as the documentation model it is stored as: named by the
    collaboration's id, with nothing to run."""
    assert doc.collaboration is not None
    collaboration_id, name = doc.collaboration
    return ParsedProcess(collaboration_id, name, False, {}, [], [], [])


def json_safe(value: Any) -> Any:
    """A checked plain copy of JSON data for storing (case data, history, audit details): engine/domain/boundary.py
    decides. Data that does not pass is never stored: the command fails (422) and its unit of work rolls back."""
    try:
        return boundary.check_value(value, "data", normalise=True)
    except boundary.DataRefused as exc:
        raise ValidationFailed(
            Text("Uppgifterna kan inte lagras: %(path)s: %(reason)s", path=exc.path, reason=exc.reason),
            {"fields": {exc.path: [exc.reason]}},
        ) from exc


def check_data(data: Any, what: str = "data") -> dict[str, Any]:
    """Data entering the engine from a request, a form or a message: the one boundary (engine/domain/boundary.py),
    a 400 naming the field's JSON path when it is refused; personnummer normalised."""
    try:
        data = boundary.check_data(data, what, normalise=True)
    except boundary.DataRefused as exc:
        raise InvalidData(
            Text("Ogiltiga uppgifter i %(path)s: %(reason)s", path=exc.path, reason=exc.reason),
            {"fields": {exc.path: [exc.reason]}},
        ) from exc
    if "personnummer" in data:
        try:
            data = {**data, "personnummer": personnummer.normalise(str(data["personnummer"]))}
        except ValueError as exc:
            raise ValidationFailed("Ogiltigt personnummer", {"fields": {"personnummer": [str(exc)]}}) from exc
    return data


def row_snapshot(value: Any) -> Any:
    """A column value of an index row for a migration's snapshot (JSON): datetimes as ISO text."""
    return value.isoformat() if isinstance(value, datetime) else value


def restored_row(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A row's columns from a migration snapshot (JSON), with its datetimes parsed again."""
    result: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.name not in values:
            continue
        value = values[column.name]
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        result[column.name] = value
    return result


def stay_key(correlation: dict[str, Any]) -> str:
    """The key of one stay for the one-case-per-stay index: a digest of the message's correlation (personnummer and
    vardtillfalle_id), whatever their length."""
    canonical = json.dumps({k: str(v) for k, v in sorted(correlation.items())}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def comment_text(text: Any) -> str:
    """A comment on a task or a hand-over: 1-2000 characters, not only blanks."""
    note = text.strip() if isinstance(text, str) else ""
    if not note:
        raise ValidationFailed("Skriv en kommentar", {"fields": {"comment": ["Fyll i fältet."]}})
    if len(note) > MAX_REASON_CHARS:
        raise ValidationFailed(
            Text("Kommentaren är för lång (högst %(max_reason_chars)s tecken)", max_reason_chars=MAX_REASON_CHARS),
            {
                "fields": {
                    "comment": [
                        Text("Korta texten till högst %(max_reason_chars)s tecken.", max_reason_chars=MAX_REASON_CHARS)
                    ]
                }
            },
        )
    return note


def reason_text(reason: Any) -> str:
    """Every repair of an instance says why (audit_log and history keep it): 1-2000 characters, not only blanks."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed("Ange ett skäl", {"fields": {"reason": [Text("Skälet måste fyllas i")]}})
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(
            Text("Skälet är för långt (högst %(max_reason_chars)s tecken)", max_reason_chars=MAX_REASON_CHARS),
            {"fields": {"reason": [Text("för långt")]}},
        )
    return text


def case_units(data: dict[str, Any]) -> dict[str, str | None]:
    """The case's units (process_instances' unit columns) as its data names them."""
    return {
        column: str(data[key])[:100] if data.get(key) not in (None, "") else None
        for column, key in CASE_UNIT_KEYS.items()
    }


def person_of(instance: ProcessInstance) -> tuple[str | None, int]:
    """(personnummer, instance id): what an access-log row of a change to this case names."""
    value = (instance.data or {}).get("personnummer")
    return (str(value) if value else None), instance.id
