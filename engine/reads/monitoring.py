"""Monitoring reads that name no person (issue 6): the instance list's filter choices, a version's diagram and element
names, and the heat map of a process version. The instance list and the instance page read cases, so they are in
engine/reads/cases.py (need to know, the access log). SQL over the definitions and history; no workflow is loaded.

Commands that repair an instance (retry, cancel, move a token, fire a timer now, reassign, change units) are in
engine/commands/runtime.py. Who may read what is Policy (engine/domain/actors.py): `can_monitor`, `can_view_heatmap`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from engine.domain.actors import Actor, Policy
from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.errors import Forbidden, NotFound, ValidationFailed
from engine.domain.organisation import UnitKind
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import HistoryEntry, OrgUnit, ProcessDefinition, ProcessInstance
from engine.reads.cases import COMPLETIONS, STATUSES

__all__ = ["COMPLETIONS", "STATUSES", "WAITING_TYPES", "Monitoring", "period_default"]

# The element kinds a case can wait in (the instance list's "waits in" filter).
WAITING_TYPES = frozenset(
    {
        "userTask",
        "manualTask",
        "receiveTask",
        "intermediateCatchEvent",
        "boundaryEvent",
        "scriptTask",
        "serviceTask",
        "exclusiveGateway",
        "inclusiveGateway",
        "callActivity",
        "subProcess",
        "sendTask",
        "businessRuleTask",
        "task",
    }
)


def _day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days in Europe/Stockholm; `until` inclusive."""
    start = datetime.combine(since, time(0), tzinfo=STOCKHOLM) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=STOCKHOLM) if until else None
    return start, end


class Monitoring:
    """What the monitoring pages read beside the cases themselves (engine/reads/cases.py): the filters' choices, a
    version's diagram and element names, and the heat map. No person in any of it."""

    def __init__(self, db: Database, policy: Policy, clock: Clock):
        self.db = db
        self.policy = policy
        self.clock = clock

    def options(self, process: str | None = None) -> dict[str, list[tuple[str, str]]]:
        """What the list's filters choose from: deployed processes and versions, kommuner, wards, vårdcentraler,
        and the elements a case can wait in (tasks, catching events, activities with timers) of the chosen process,
        or of all processes."""
        with self.db.read() as session:
            element_rows = session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.elements).where(
                    ProcessDefinition.executable.is_(True),
                    *([ProcessDefinition.process_id == process] if process else []),
                )
            ).all()
            versions = session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.version, ProcessDefinition.name)
                .where(ProcessDefinition.executable.is_(True))
                .order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
            ).all()
            units = session.execute(
                select(OrgUnit.kind, OrgUnit.hsa_id, OrgUnit.name, OrgUnit.kommun).order_by(OrgUnit.name)
            ).all()
        processes: dict[str, str] = {}
        for process_id, _, name in versions:
            processes.setdefault(process_id, name or process_id)
        elements: dict[str, str] = {}
        for process_id, stored in element_rows:
            for element_id, info in (stored or {}).items():
                if (info or {}).get("type") in WAITING_TYPES and element_id not in elements:
                    name = str(info.get("name") or element_id)
                    elements[element_id] = name if process else f"{name} ({process_id})"
        return {
            "element": sorted(elements.items(), key=lambda e: e[1].lower()),
            "process": sorted(processes.items(), key=lambda p: p[1]),
            "version": sorted({(str(v), str(v)) for _, v, _ in versions}, key=lambda v: -int(v[0])),
            "kommun": sorted({(u.kommun, u.kommun) for u in units if u.kommun}),
            "avdelning": [(u.hsa_id, u.name) for u in units if UnitKind.parse(u.kind) is UnitKind.AVDELNING],
            "vardcentral": [(u.hsa_id, u.name) for u in units if UnitKind.parse(u.kind) is UnitKind.VARDCENTRAL],
        }

    def diagram(self, actor: Actor, definition_id: int) -> bytes:
        if not (self.policy.can_monitor(actor) or self.policy.can_view_heatmap(actor)):
            raise Forbidden("Du får inte se processens diagram här")
        with self.db.read() as session:
            d = session.get(ProcessDefinition, definition_id)
            if d is None:
                raise NotFound("Processversionen finns inte")
            return d.xml

    def versions(self) -> list[tuple[str, int]]:
        """(process id, version) of every executable version, newest first per process."""
        with self.db.read() as session:
            return [
                (p, int(v))
                for p, v in session.execute(
                    select(ProcessDefinition.process_id, ProcessDefinition.version)
                    .where(ProcessDefinition.executable.is_(True))
                    .order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
                )
            ]

    def instance_names(self, definition_id: int) -> dict[str, str]:
        """Element id -> name (or id) of a process version, for the heat map's table."""
        with self.db.read() as session:
            d = session.get(ProcessDefinition, definition_id)
            elements = dict(d.elements or {}) if d is not None else {}
        return {k: str(v.get("name") or k) for k, v in elements.items()}

    def element_names_of_instance(self, instance_id: int) -> dict[str, str]:
        """Element id -> name of the version an instance runs (no person: the diagram's words only)."""
        with self.db.read() as session:
            definition_id = session.scalar(
                select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id)
            )
        return self.instance_names(definition_id) if definition_id is not None else {}

    def definition_id(self, process_id: str, version: int | None) -> tuple[int, int, str]:
        """(definition id, version, name) of a process version, the newest when `version` is None."""
        with self.db.read() as session:
            query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
            if version is not None:
                query = query.where(ProcessDefinition.version == version)
            d = session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))
            if d is None:
                raise NotFound(
                    Text("%(process_id)s version %(version)s finns inte", process_id=process_id, version=version)
                    if version
                    else Text("%(process_id)s finns inte", process_id=process_id)
                )
            return d.id, d.version, d.name or d.process_id

    # --- the heat map --------------------------------------------------------------------------------------------
    def heatmap(self, actor: Actor, process_id: str, version: int, since: date, until: date) -> dict[str, Any]:
        """Per element of one process version, over the tasks and steps completed in [since, until] (whole days,
        Europe/Stockholm): how often it was completed, and for user tasks the mean and p90 of the time in the step
        (task created -> task completed) and of the wait before someone took it (task created -> first claim or
        reassignment, or completion when nobody took it). Seconds. Aggregated in the database; p90 is the continuous
        percentile (PostgreSQL's percentile_cont(0.9); the same interpolation in SQL on SQLite)."""
        if not self.policy.can_view_heatmap(actor):
            raise Forbidden("Du får inte se värmekartan")
        if since > until:
            raise ValidationFailed("Slutdatumet ligger före startdatumet", {"fields": {"till": [Text("före från")]}})
        start, end = _day_bounds(since, until)
        assert start is not None and end is not None
        with self.db.read() as session:
            instances = select(ProcessInstance.id).where(
                ProcessInstance.process_id == process_id, ProcessInstance.version == version
            )
            counts = dict(
                session.execute(
                    select(HistoryEntry.element_id, func.count())
                    .where(
                        HistoryEntry.kind.in_(COMPLETIONS),
                        HistoryEntry.at >= start,
                        HistoryEntry.at < end,
                        HistoryEntry.instance_id.in_(instances),
                    )
                    .group_by(HistoryEntry.element_id)
                ).all()
            )
            durations = self._durations(session, instances, start, end)
            figures = self._aggregate(session, durations)
        elements: dict[str, dict[str, Any]] = {}
        for element_id, count in counts.items():
            if element_id:
                elements.setdefault(element_id, {"element_id": element_id})["count"] = int(count)
        for (element_id, measure), (n, mean, p90) in figures.items():
            e = elements.setdefault(element_id, {"element_id": element_id})
            e[f"{measure}_n"] = n
            e[f"{measure}_mean_seconds"] = mean
            e[f"{measure}_p90_seconds"] = p90
        for e in elements.values():
            e.setdefault("count", 0)
            for measure in ("time", "wait"):
                e.setdefault(f"{measure}_n", 0)
                e.setdefault(f"{measure}_mean_seconds", None)
                e.setdefault(f"{measure}_p90_seconds", None)
        return {
            "process_id": process_id,
            "version": version,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "elements": sorted(elements.values(), key=lambda e: (-e["count"], e["element_id"])),
        }

    def _seconds(self, later: Any, earlier: Any) -> Any:
        if self.db.dialect == "postgresql":
            return func.extract("epoch", later - earlier)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def _durations(self, session: Session, instances: Any, start: datetime, end: datetime) -> Any:
        """(element_id, time, wait) rows in seconds: `time` = task created -> completed, `wait` = created -> first taken
        (or completed if never taken), for tasks completed in the period. Read from the completion rows alone, which
        carry when their task was created and first taken (Runtime.complete_task; migration 0006 filled
        the older rows): one range scan of ix_history_kind_at, no pairing of rows."""
        done = HistoryEntry
        rows = (
            select(
                done.element_id.label("element_id"),
                done.task_created_at.label("created_at"),
                done.at.label("completed_at"),
                func.coalesce(done.task_claimed_at, done.at).label("claimed_at"),
            )
            .where(
                done.kind == "task_completed",
                done.at >= start,
                done.at < end,
                done.task_created_at.is_not(None),
                done.instance_id.in_(instances),
            )
            .cte("task_times")
        )
        return select(
            rows.c.element_id,
            cast(self._seconds(rows.c.completed_at, rows.c.created_at), Float).label("time"),
            cast(self._seconds(rows.c.claimed_at, rows.c.created_at), Float).label("wait"),
        ).subquery()

    def _aggregate(self, session: Session, durations: Any) -> dict[tuple[str, str], tuple[int, float, float]]:
        """(element, measure) -> (n, mean, p90) for the measures `time` and `wait`."""
        out: dict[tuple[str, str], tuple[int, float, float]] = {}
        if self.db.dialect == "postgresql":
            # One pass over the rows for both measures.
            query = select(
                durations.c.element_id,
                func.count(),
                func.avg(durations.c.time),
                func.percentile_cont(0.9).within_group(durations.c.time),
                func.avg(durations.c.wait),
                func.percentile_cont(0.9).within_group(durations.c.wait),
            ).group_by(durations.c.element_id)
            for element_id, n, time_mean, time_p90, wait_mean, wait_p90 in session.execute(query):
                out[(element_id, "time")] = (int(n), round(float(time_mean), 1), round(float(time_p90), 1))
                out[(element_id, "wait")] = (int(n), round(float(wait_mean), 1), round(float(wait_p90), 1))
            return out
        rows = (
            select(durations.c.element_id, literal("time").label("measure"), durations.c.time.label("seconds"))
            .union_all(
                select(durations.c.element_id, literal("wait").label("measure"), durations.c.wait.label("seconds"))
            )
            .subquery()
        )
        key = (rows.c.element_id, rows.c.measure)
        # percentile_cont by hand on SQLite: position 1 + 0.9 (n - 1) in the sorted values, interpolated between the
        # value at its floor and the next one.
        ranked = select(
            *key,
            rows.c.seconds,
            func.row_number().over(partition_by=key, order_by=rows.c.seconds).label("rn"),
            func.count().over(partition_by=key).label("n"),
        ).subquery()
        position = 1 + 0.9 * (ranked.c.n - 1)
        low = cast(position, Integer)
        fraction = position - low
        at_low = func.max(case((ranked.c.rn == low, ranked.c.seconds)))
        at_high = func.max(
            case(
                (ranked.c.rn == low + 1, ranked.c.seconds),
                (and_(ranked.c.rn == low, low == ranked.c.n), ranked.c.seconds),
            )
        )
        query = select(
            ranked.c.element_id,
            ranked.c.measure,
            func.count(),
            func.avg(ranked.c.seconds),
            at_low + func.max(fraction) * (func.coalesce(at_high, at_low) - at_low),
        ).group_by(ranked.c.element_id, ranked.c.measure)
        for element_id, measure, n, mean, p90 in session.execute(query):
            out[(element_id, measure)] = (int(n), round(float(mean), 1), round(float(p90), 1))
        return out


def period_default(clock: Clock) -> tuple[date, date]:
    """The heat map's default period: the last 30 days up to today (Europe/Stockholm)."""
    today = clock.now().astimezone(STOCKHOLM).date()
    return today - timedelta(days=29), today
