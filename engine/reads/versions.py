"""Which version a new case of a process starts on (the routing of engine/features/pilots.py's docstring): a running
pilot that takes the case's units, a per-unit default (stepwise promotion), or the process-wide default; a read of the
pilots and defaults tables, used by the commands that start cases and by the case and definition reads. The pilots'
own commands (create, start, promote, ...) are engine/features/pilots.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from engine.domain.clock import STOCKHOLM, Clock
from engine.domain.text import Text
from engine.persistence.models import DefaultVersion, Pilot, ProcessDefinition, ProcessInstance

# The case's unit columns (process_instances) and the pilot's list of each kind; the order is the order of precedence
# for per-unit defaults (the admitting ward first).
UNIT_KINDS = ("avdelning", "vardcentral", "kommun")
PILOT_LISTS = {"avdelning": "avdelningar", "vardcentral": "vardcentraler", "kommun": "kommuner"}
KIND_TITLES = {"avdelning": "Avdelning", "vardcentral": "Vårdcentral", "kommun": "Kommun"}


@dataclass(frozen=True)
class Route:
    """Which version a new case starts on and why (kept on the instance: routing, pilot_id, route_reason)."""

    definition_id: int
    routing: str  # default | pilot | explicit | promotion
    pilot_id: int | None
    reason: str


def stockholm_today(clock: Clock) -> date:
    return clock.now().astimezone(STOCKHOLM).date()


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in Stockholm, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=STOCKHOLM)


def pilot_units(pilot: Pilot) -> dict[str, frozenset[str]]:
    return {kind: frozenset(getattr(pilot, PILOT_LISTS[kind]) or ()) for kind in UNIT_KINDS}


def takes_case(rule: str, units: Mapping[str, frozenset[str]], case: Mapping[str, str | None]) -> bool:
    """Whether a pilot with `units` and mixed-case `rule` takes a case whose units are `case` (column -> value).
    `all` needs every kind the pilot names; a case without a unit of a named kind is then outside the pilot."""
    named = [kind for kind in UNIT_KINDS if units.get(kind)]
    if rule == "any":
        return any(case.get(kind) in units[kind] for kind in named)
    if rule == "all":
        return bool(named) and all(case.get(kind) in units[kind] for kind in named)
    if rule in UNIT_KINDS:
        return case.get(rule) in units.get(rule, frozenset())
    return False


def rule_clause(pilot: Pilot) -> ColumnElement[bool]:
    """`takes_case` as SQL over process_instances' unit columns: the cases the pilot's rule would take."""
    units = pilot_units(pilot)
    named = [kind for kind in UNIT_KINDS if units[kind]]

    def member(kind: str) -> ColumnElement[bool]:
        return getattr(ProcessInstance, kind).in_(sorted(units[kind]))

    if pilot.mixed_rule == "any" and named:
        return or_(*(member(kind) for kind in named))
    if pilot.mixed_rule == "all" and named:
        return and_(*(member(kind) for kind in named))
    if pilot.mixed_rule in UNIT_KINDS and units[pilot.mixed_rule]:
        return member(pilot.mixed_rule)
    return false()


def route(session: Session, process_id: str, case: Mapping[str, str | None], today: date) -> Route | None:
    """Steps 2-4 of the routing (module docstring); None when nothing is configured (the caller takes the newest)."""
    pilots = session.scalars(
        select(Pilot)
        .where(
            Pilot.process_id == process_id,
            Pilot.status == "running",
            Pilot.start_date <= today,
            Pilot.end_date >= today,
        )
        .order_by(Pilot.id)
    ).all()
    for pilot in pilots:
        if takes_case(pilot.mixed_rule, pilot_units(pilot), case):
            return Route(pilot.definition_id, "pilot", pilot.id, f"pilot {pilot.id} {pilot.name}")
    rows = session.scalars(select(DefaultVersion).where(DefaultVersion.process_id == process_id)).all()
    by_unit = {(r.unit_kind, r.unit): r for r in rows}
    for kind in UNIT_KINDS:
        value = case.get(kind)
        row = by_unit.get((kind, value)) if value else None
        if row is not None:
            source = f" (pilot {row.pilot_id})" if row.pilot_id else ""
            reason = Text(
                "spridning till %(kind)s %(unit)s%(pilot)s", kind=KIND_TITLES[kind].lower(), unit=value, pilot=source
            )
            return Route(row.definition_id, "promotion", None, reason)
    whole = by_unit.get(("", ""))
    if whole is not None:
        return Route(whole.definition_id, "default", None, "standardversion")
    return None


def default_version_now(session: Session, process_id: str) -> int | None:
    """The process-wide default version as routing sees it now (steps 4-5 of engine/features/pilots.py's docstring)."""
    chosen = session.scalar(
        select(ProcessDefinition.version)
        .join(DefaultVersion, DefaultVersion.definition_id == ProcessDefinition.id)
        .where(DefaultVersion.process_id == process_id, DefaultVersion.unit_kind == "", DefaultVersion.unit == "")
    )
    if chosen is not None:
        return int(chosen)
    newest = session.scalar(
        select(func.max(ProcessDefinition.version)).where(
            ProcessDefinition.process_id == process_id, ProcessDefinition.executable.is_(True)
        )
    )
    return int(newest) if newest is not None else None
