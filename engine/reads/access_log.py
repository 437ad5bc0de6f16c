"""The auditor's reads of the access log: a search by person, user, unit and period, and a person's loggutdrag.

Only the auditor role (Policy.can_audit), and each search and extract is itself recorded: an audit_log row with the
query, and an access-log row for every person whose accesses were shown (reading who looked at a person is reading
about the person).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from engine.domain.actors import Actor, Policy
from engine.domain.cells import neutralise
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import Forbidden, ValidationFailed
from engine.domain.personnummer import normalise
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import AccessLogEntry, AuditEntry
from engine.reads.log import AccessLogWriter


def personnummer_field(value: str | None, field: str = "personnummer") -> str | None:
    """A personnummer typed into a form, canonical (ÅÅÅÅMMDD-NNNN), or a Swedish field error."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return normalise(text)
    except ValueError as exc:
        raise ValidationFailed("Kontrollera personnumret", {"fields": {field: [f"Ogiltigt: {exc}."]}}) from exc


@dataclass(frozen=True)
class LogQuery:
    """The auditor's search: person, user, unit, period (whole days, Europe/Stockholm; `till` inclusive)."""

    personnummer: str | None = None
    username: str | None = None
    unit: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> LogQuery:
        errors: dict[str, list[str]] = {}
        found: dict[str, Any] = {}
        try:
            found["personnummer"] = personnummer_field(values.get("personnummer"))
        except ValidationFailed as exc:
            errors.update(exc.details["fields"])
        for key in ("username", "unit"):
            text = str(values.get(key) or "").strip()
            if len(text) > 200:
                errors[key] = [Text("Högst 200 tecken.")]
            found[key] = text or None
        for key, label in (("since", Text("från")), ("until", Text("till"))):
            text = str(values.get(key) or "").strip()
            if text:
                try:
                    found[key] = date.fromisoformat(text)
                except ValueError:
                    errors[key] = [Text("Skriv datumet %(label)s som ÅÅÅÅ-MM-DD.", label=label)]
        if not errors and found.get("since") and found.get("until") and found["since"] > found["until"]:
            errors["until"] = ["Slutdatumet ligger före startdatumet."]
        if errors:
            raise ValidationFailed("Sökningen kunde inte göras; rätta de markerade fälten", {"fields": errors})
        return cls(**found)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        since = datetime.combine(self.since, time(0), tzinfo=STOCKHOLM) if self.since else None
        until = datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=STOCKHOLM) if self.until else None
        return since, until

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k in ("personnummer", "username", "unit", "since", "until") if (v := getattr(self, k))}


@dataclass(frozen=True)
class LogRow:
    at: datetime
    username: str
    user_name: str
    unit: str
    action: str  # a code of engine.reads.log.ACTIONS; labels in webui/labels.py
    personnummer: str
    instance_id: int | None
    detail: str


class AccessLogReads:
    def __init__(self, db: Database, clock: Clock, policy: Policy, writer: AccessLogWriter):
        self.db = db
        self.clock = clock
        self.policy = policy
        self.writer = writer

    def _rows(self, query: LogQuery, limit: int) -> list[LogRow]:
        since, until = query.bounds()
        sql = select(AccessLogEntry)
        if query.personnummer:
            sql = sql.where(AccessLogEntry.personnummer == query.personnummer)
        if query.username:
            sql = sql.where(AccessLogEntry.username == query.username)
        if query.unit:
            sql = sql.where(AccessLogEntry.unit.contains(query.unit, autoescape=True))
        if since:
            sql = sql.where(AccessLogEntry.at >= since)
        if until:
            sql = sql.where(AccessLogEntry.at < until)
        with self.db.read() as session:
            rows = session.scalars(sql.order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()).limit(limit))
            return [
                LogRow(r.at, r.username, r.user_name, r.unit, r.action, r.personnummer, r.instance_id, r.detail)
                for r in rows
            ]

    def search(self, actor: Actor, query: LogQuery, limit: int = 500) -> list[LogRow]:
        """The auditor's search, itself recorded (audit_log: the query; access_log: each person shown)."""
        self.policy.require(self.policy.can_audit(actor), "Åtkomstloggen granskas bara av granskare")
        rows = self._rows(query, limit)
        self._audited(actor, "access_log_searched", query.as_dict(), len(rows))
        detail = " ".join(f"{k}={v}" for k, v in query.as_dict().items() if k != "personnummer")
        self.writer.record(actor, "logg_granskning", [(r.personnummer, None) for r in rows], detail)
        return rows

    def extract(self, actor: Actor, personnummer: str, labels: Mapping[str, str] | None = None) -> str:
        """A person's loggutdrag as CSV (`;`, oldest first), for the auditor; taking it out is itself recorded.
        `labels` names the actions in the reader's language (the codes otherwise)."""
        if not self.policy.can_audit(actor):
            raise Forbidden("Loggutdrag tas bara ut av granskare")
        rows = list(reversed(self._rows(LogQuery(personnummer=personnummer), 100_000)))
        labels = labels or {}
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["tidpunkt", "användare", "namn", "enhet", "händelse", "ärende", "detalj"])
        for r in rows:
            writer.writerow(
                [
                    r.at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S"),
                    neutralise(r.username),
                    neutralise(r.user_name),
                    neutralise(r.unit),
                    neutralise(labels.get(r.action, r.action)),
                    r.instance_id or "",
                    neutralise(r.detail),
                ]
            )
        self._audited(actor, "access_log_extract", {"personnummer": personnummer}, len(rows))
        self.writer.record(actor, "loggutdrag", [(personnummer, None)], "CSV")
        return out.getvalue()

    def _audited(self, actor: Actor, action: str, details: dict[str, Any], rows: int) -> None:
        with self.db.unit_of_work() as session:
            session.add(
                AuditEntry(
                    at=self.clock.now(),
                    actor=actor.username,
                    action=action,
                    target_type="access_log",
                    target_id=details.get("personnummer", "")[:100],
                    details={**details, "rows": rows},
                )
            )
