"""Pilots: a process version run for some units during a period, and the default version everyone else starts on.

A pilot names a process, a version, units (wards and vårdcentraler by HSA-id, kommuner by name, as the case data
has them), a period (first and last day, Europe/Stockholm) and a **mixed-case rule**: which of a case's units decide
when they disagree (the ward is in the pilot, the kommun is not). Lifecycle: planned -> running <-> paused -> ended;
extend; promote the version to the default (spridning) for the whole process or, in steps, for named units.

Routing (`route` in engine/reads/versions.py, read by the commands for every new case, also those started by a
message):
1. an explicitly requested version (the API's `version`) wins; the runtime handles that before asking here;
2. a running pilot of the process whose period includes today and whose rule takes the case's units;
3. a per-unit default (stepwise promotion), the admitting ward first, then the vårdcentral, then the kommun;
4. the process-wide default: the first executable version deployed (`default_for_first_version`), then whatever an
   explicit, audited "make default" (`set_default`) or a whole promotion chose;
5. no default row at all (only a database from before migration 0019 that was never upgraded, or a test that writes
   definitions by hand): the newest executable version.
Deploying never changes the version new cases start on (issue 15): a new version runs only when it is requested
explicitly, piloted, promoted or made the default. Creating a pilot changes nobody else's version either: it pins the
process-wide default to the version that already is the default (the one step 5 gives) when no row says so yet.

Every command here is an audited action of the implementation team (`Policy.can_manage_pilots`). Pilot commands do
not advance workflows, so they commit through their own unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from engine.domain.actors import Actor, Policy
from engine.domain.clock import Clock
from engine.domain.errors import Conflict, NotFound, ValidationFailed
from engine.domain.organisation import UnitKind
from engine.domain.personnummer import is_hsa_id
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import AuditEntry, DefaultVersion, Pilot, ProcessDefinition, ProcessInstance
from engine.reads.units import all_units
from engine.reads.versions import (
    KIND_TITLES,
    PILOT_LISTS,
    UNIT_KINDS,
    day_start,
    default_version_now,
    stockholm_today,
)

ORG_KINDS = {"avdelning": UnitKind.AVDELNING, "vardcentral": UnitKind.VARDCENTRAL}  # the kinds with HSA-ids

MIXED_RULES = {
    "any": "Någon av fallets enheter ingår i piloten (avdelning, vårdcentral eller kommun)",
    "all": "Alla enhetsslag som piloten namnger måste ingå (t.ex. både avdelningen och kommunen)",
    "avdelning": "Den inskrivande avdelningen avgör",
    "vardcentral": "Vårdcentralen (där personen är listad) avgör",
    "kommun": "Folkbokföringskommunen avgör",
}
STATUS_TEXT = {"planned": "Planerad", "running": "Pågår", "paused": "Pausad", "ended": "Avslutad"}
ROUTING_TEXT = {
    "default": "Standardversion",
    "pilot": "Pilot",
    "explicit": "Uttryckligen begärd version",
    "promotion": "Spridning",
}
OPEN_STATUSES = ("planned", "running", "paused")
MAX_UNITS = 500


@dataclass
class PilotSpec:
    """What a pilot is created from (the form, the API): checked by `Pilots.create`."""

    name: str
    process_id: str
    version: int
    start_date: date
    end_date: date
    mixed_rule: str
    avdelningar: list[str]
    vardcentraler: list[str]
    kommuner: list[str]
    description: str = ""
    staff_questionnaire: bool = False
    person_questionnaire: bool = False


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class Pilots:
    def __init__(self, db: Database, clock: Clock, policy: Policy):
        self.db = db
        self.clock = clock
        self.policy = policy

    # ------------------------------------------------------------------------------------------------ reads
    def _require_view(self, actor: Actor) -> None:
        self.policy.require(
            self.policy.can_view_pilots(actor), "Bara implementeringsteamet, processägare och samordnare ser piloter"
        )

    def list_pilots(self, actor: Actor, process_id: str | None = None) -> list[dict[str, Any]]:
        self._require_view(actor)
        with self.db.read() as session:
            query = select(Pilot).order_by(Pilot.start_date.desc(), Pilot.id.desc())
            if process_id:
                query = query.where(Pilot.process_id == process_id)
            pilots = session.scalars(query).all()
            counts = self._case_counts(session, [p.id for p in pilots])
            names = self._unit_names(session)
            return [self._dict(session, p, counts.get(p.id, {}), names) for p in pilots]

    def get(self, actor: Actor, pilot_id: int) -> dict[str, Any]:
        self._require_view(actor)
        with self.db.read() as session:
            pilot = session.get(Pilot, pilot_id)
            if pilot is None:
                raise NotFound(Text("Piloten %(pilot_id)s finns inte", pilot_id=pilot_id))
            return self._dict(
                session, pilot, self._case_counts(session, [pilot.id]).get(pilot.id, {}), self._unit_names(session)
            )

    def defaults(self, actor: Actor, process_id: str) -> list[dict[str, Any]]:
        """The default versions of a process: process-wide and per unit (stepwise promotion)."""
        self._require_view(actor)
        with self.db.read() as session:
            rows = session.execute(
                select(DefaultVersion, ProcessDefinition.version)
                .join(ProcessDefinition, ProcessDefinition.id == DefaultVersion.definition_id)
                .where(DefaultVersion.process_id == process_id)
                .order_by(DefaultVersion.unit_kind, DefaultVersion.unit)
            ).all()
            return [
                {
                    "unit_kind": r.unit_kind or None,
                    "unit": r.unit or None,
                    "version": version,
                    "pilot_id": r.pilot_id,
                    "set_by": r.set_by,
                    "set_at": _iso(r.set_at),
                }
                for r, version in rows
            ]

    def unit_choices(self) -> dict[str, list[dict[str, str]]]:
        """The organisation's units a pilot can name, per kind (wards and vårdcentraler by HSA-id, kommuner by name)."""
        with self.db.read() as session:
            units = all_units(session)
        choices: dict[str, list[dict[str, str]]] = {kind: [] for kind in UNIT_KINDS}
        kommuner: dict[str, str] = {}
        for info in units.values():
            unit_kind = UnitKind.parse(info.kind)
            column = unit_kind.case_column if unit_kind is not None else None
            if column is not None and column in ("avdelning", "vardcentral"):
                choices[column].append({"value": info.hsa_id, "name": info.name})
            if info.kommun:
                kommuner.setdefault(info.kommun, info.kommun)
        choices["kommun"] = [{"value": k, "name": k} for k in sorted(kommuner)]
        for kind in ("avdelning", "vardcentral"):
            choices[kind].sort(key=lambda c: c["name"])
        return choices

    @staticmethod
    def _unit_names(session: Session) -> dict[str, str]:
        return {hsa: info.name for hsa, info in all_units(session).items()}

    @staticmethod
    def _case_counts(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
        result: dict[int, dict[str, int]] = {}
        if ids:
            for pilot_id, status, n in session.execute(
                select(ProcessInstance.pilot_id, ProcessInstance.status, func.count())
                .where(ProcessInstance.pilot_id.in_(ids))
                .group_by(ProcessInstance.pilot_id, ProcessInstance.status)
            ):
                if pilot_id is not None:
                    result.setdefault(pilot_id, {})[status] = n
        return result

    def _dict(self, session: Session, p: Pilot, counts: dict[str, int], names: dict[str, str]) -> dict[str, Any]:
        today = stockholm_today(self.clock)
        version = session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == p.definition_id))
        promoted = session.scalars(
            select(DefaultVersion)
            .where(DefaultVersion.pilot_id == p.id, DefaultVersion.definition_id == p.definition_id)
            .order_by(DefaultVersion.unit_kind, DefaultVersion.unit)
        ).all()
        total = sum(counts.values())
        open_cases = sum(n for status, n in counts.items() if status in ("running", "waiting", "incident"))
        return {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "process_id": p.process_id,
            "definition_id": p.definition_id,
            "version": version,
            "status": p.status,
            "status_text": STATUS_TEXT.get(p.status, p.status),
            "routing_now": p.status == "running" and p.start_date <= today <= p.end_date,
            "mixed_rule": p.mixed_rule,
            "mixed_rule_text": MIXED_RULES.get(p.mixed_rule, p.mixed_rule),
            "start_date": p.start_date.isoformat(),
            "end_date": p.end_date.isoformat(),
            "days": (p.end_date - p.start_date).days + 1,
            "units": {
                PILOT_LISTS[kind]: [
                    {"value": v, "name": names.get(v, v)} for v in (getattr(p, PILOT_LISTS[kind]) or [])
                ]
                for kind in UNIT_KINDS
            },
            "staff_questionnaire": p.staff_questionnaire,
            "person_questionnaire": p.person_questionnaire,
            "created_by": p.created_by,
            "created_at": _iso(p.created_at),
            "ended_at": _iso(p.ended_at),
            "promoted_at": _iso(p.promoted_at),
            "promoted_to": [
                {"unit_kind": r.unit_kind or None, "unit": r.unit or None, "name": names.get(r.unit, r.unit) or None}
                for r in promoted
            ],
            "cases": {"total": total, "open": open_cases, "by_status": dict(sorted(counts.items()))},
        }

    # ------------------------------------------------------------------------------------------------ commands
    def _require_manage(self, actor: Actor) -> None:
        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får hantera piloter")

    def _audit(self, session: Session, actor: Actor, action: str, pilot: Pilot, details: dict[str, Any]) -> None:
        session.add(
            AuditEntry(
                at=self.clock.now(),
                actor=actor.username,
                action=action,
                target_type="pilot",
                target_id=str(pilot.id),
                details={"process_id": pilot.process_id, "name": pilot.name, **details},
            )
        )

    def _lock_process(self, session: Session, process_id: str) -> None:
        """Serialise pilot commands of one process, so two overlapping pilots cannot be created side by side (SQLite
        serialises every writing unit of work with BEGIN IMMEDIATE already)."""
        if self.db.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"pilots:{process_id}"})

    def _load(self, session: Session, pilot_id: int) -> Pilot:
        pilot = session.get(Pilot, pilot_id)
        if pilot is None:
            raise NotFound(Text("Piloten %(pilot_id)s finns inte", pilot_id=pilot_id))
        self._lock_process(session, pilot.process_id)
        session.refresh(pilot)
        return pilot

    @staticmethod
    def _refuse_overlap(session: Session, process_id: str, start: date, end: date, exclude: int | None = None) -> None:
        query = select(Pilot).where(
            Pilot.process_id == process_id,
            Pilot.status.in_(OPEN_STATUSES),
            Pilot.start_date <= end,
            Pilot.end_date >= start,
        )
        if exclude is not None:
            query = query.where(Pilot.id != exclude)
        other = session.scalars(query.order_by(Pilot.start_date)).first()
        if other is not None:
            raise Conflict(
                Text(
                    "Perioden överlappar piloten ”%(name)s” (nr %(id)s, %(start_date)s–%(end_date)s) för samma "
                    "process. Två piloter för samma process får inte pågå samtidigt: avsluta eller flytta den andra "
                    "piloten först.",
                    name=other.name,
                    id=other.id,
                    start_date=other.start_date.isoformat(),
                    end_date=other.end_date.isoformat(),
                ),
                {"pilot_id": other.id, "name": other.name},
            )

    def _check_units(self, session: Session, spec: PilotSpec) -> dict[str, list[str]]:
        known = all_units(session)
        kommuner = {info.kommun for info in known.values() if info.kommun}
        fields: dict[str, list[str]] = {}
        cleaned: dict[str, list[str]] = {}
        for kind in UNIT_KINDS:
            key = PILOT_LISTS[kind]
            values = sorted({str(v).strip() for v in getattr(spec, key) if str(v).strip()})
            if len(values) > MAX_UNITS:
                fields[key] = [Text("högst %(max_units)s enheter", max_units=MAX_UNITS)]
            bad: list[str] = []
            for value in values:
                if kind == "kommun":
                    if (kommuner and value not in kommuner) or len(value) > 100:
                        bad.append(value)
                elif known:
                    info = known.get(value)
                    if info is None or UnitKind.parse(info.kind) is not ORG_KINDS[kind]:
                        bad.append(value)
                elif not is_hsa_id(value):
                    bad.append(value)
            if bad:
                what = {"avdelning": "avdelning", "vardcentral": "vårdcentral", "kommun": "kommun"}[kind]
                fields[key] = [Text("okänd %(what)s: %(items)s", what=what, items=", ".join(bad))]
            cleaned[key] = values
        if not fields and not any(cleaned.values()):
            fields["enheter"] = [Text("välj minst en avdelning, vårdcentral eller kommun")]
        rule = spec.mixed_rule
        if rule in UNIT_KINDS and not cleaned.get(PILOT_LISTS[rule]) and "enheter" not in fields:
            fields["mixed_rule"] = [
                Text(
                    "regeln ”%(mixed_rules)s” kräver minst en %(kind_titles)s i piloten",
                    mixed_rules=MIXED_RULES[rule],
                    kind_titles=KIND_TITLES[rule].lower(),
                )
            ]
        if fields:
            raise ValidationFailed("Piloten kan inte sparas: kontrollera enheterna", {"fields": fields})
        return cleaned

    def create(self, actor: Actor, spec: PilotSpec) -> int:
        self._require_manage(actor)
        fields: dict[str, list[str]] = {}
        name = (spec.name or "").strip()
        if not name or len(name) > 200:
            fields["name"] = [Text("ange ett namn (1-200 tecken)")]
        if spec.mixed_rule not in MIXED_RULES:
            fields["mixed_rule"] = [Text("välj en regel för blandade fall")]
        if spec.end_date < spec.start_date:
            fields["end_date"] = [Text("slutdatum före startdatum")]
        if len(spec.description or "") > 4000:
            fields["description"] = [Text("högst 4000 tecken")]
        if fields:
            raise ValidationFailed("Piloten kan inte sparas", {"fields": fields})
        with self.db.unit_of_work() as session:
            definition = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.process_id == spec.process_id, ProcessDefinition.version == spec.version
                )
            )
            if definition is None:
                raise ValidationFailed(
                    Text(
                        "%(process_id)s version %(version)s finns inte",
                        process_id=spec.process_id,
                        version=spec.version,
                    ),
                    {"fields": {"version": [Text("okänd version")]}},
                )
            if not definition.executable:
                raise ValidationFailed(
                    Text(
                        "%(process_id)s version %(version)s är bara dokumentation och kan inte pilotas",
                        process_id=spec.process_id,
                        version=spec.version,
                    ),
                    {"fields": {"version": [Text("kan inte köras")]}},
                )
            units = self._check_units(session, spec)
            self._lock_process(session, spec.process_id)
            self._refuse_overlap(session, spec.process_id, spec.start_date, spec.end_date)
            now = self.clock.now()
            pilot = Pilot(
                process_id=spec.process_id,
                definition_id=definition.id,
                name=name,
                description=(spec.description or "").strip(),
                status="planned",
                mixed_rule=spec.mixed_rule,
                start_date=spec.start_date,
                end_date=spec.end_date,
                staff_questionnaire=bool(spec.staff_questionnaire),
                person_questionnaire=bool(spec.person_questionnaire),
                created_by=actor.username,
                created_at=now,
                updated_at=now,
                **units,
            )
            session.add(pilot)
            session.flush()
            pinned = self._pin_default(session, actor, pilot)
            self._audit(
                session,
                actor,
                "pilot_created",
                pilot,
                {
                    "version": definition.version,
                    "start_date": spec.start_date.isoformat(),
                    "end_date": spec.end_date.isoformat(),
                    "mixed_rule": spec.mixed_rule,
                    **units,
                    "default_pinned_to_version": pinned,
                },
            )
            return pilot.id

    def _pin_default(self, session: Session, actor: Actor, pilot: Pilot) -> int | None:
        """Without a process-wide default row the newest executable version is everyone's (routing step 5): write
        that down as the default, so that nothing deployed later reaches cases outside the pilot. The version is the
        one everyone already starts on, so creating the pilot changes nobody's version (issue 15)."""
        exists = session.scalar(
            select(DefaultVersion.id).where(
                DefaultVersion.process_id == pilot.process_id, DefaultVersion.unit_kind == "", DefaultVersion.unit == ""
            )
        )
        if exists is not None:
            return None
        current = session.scalar(
            select(ProcessDefinition)
            .where(ProcessDefinition.process_id == pilot.process_id, ProcessDefinition.executable.is_(True))
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        )
        if current is None:
            return None
        session.add(
            DefaultVersion(
                process_id=pilot.process_id,
                unit_kind="",
                unit="",
                definition_id=current.id,
                pilot_id=None,
                set_by=actor.username,
                set_at=self.clock.now(),
            )
        )
        return current.version

    def _transition(self, actor: Actor, pilot_id: int, allowed: Iterable[str], to: str, action: str) -> None:
        self._require_manage(actor)
        with self.db.unit_of_work() as session:
            pilot = self._load(session, pilot_id)
            if pilot.status not in allowed:
                raise Conflict(
                    Text(
                        "Piloten är %(status_text)s; det går inte nu",
                        status_text=STATUS_TEXT.get(pilot.status, pilot.status).lower(),
                    ),
                    {"status": pilot.status},
                )
            now = self.clock.now()
            if to == "running" and pilot.end_date < stockholm_today(self.clock):
                raise Conflict("Pilotens period är redan slut; förläng den först")
            before = pilot.status
            pilot.status, pilot.updated_at = to, now
            if to == "ended":
                pilot.ended_at = now
            self._audit(session, actor, action, pilot, {"from": before, "to": to})

    def start(self, actor: Actor, pilot_id: int) -> None:
        self._transition(actor, pilot_id, ("planned",), "running", "pilot_started")

    def pause(self, actor: Actor, pilot_id: int) -> None:
        self._transition(actor, pilot_id, ("running",), "paused", "pilot_paused")

    def resume(self, actor: Actor, pilot_id: int) -> None:
        self._transition(actor, pilot_id, ("paused",), "running", "pilot_resumed")

    def end(self, actor: Actor, pilot_id: int) -> None:
        """Stop the pilot: new cases in its units start on the default again; running cases keep their version."""
        self._transition(actor, pilot_id, OPEN_STATUSES, "ended", "pilot_ended")

    def extend(self, actor: Actor, pilot_id: int, end_date: date) -> None:
        self._require_manage(actor)
        with self.db.unit_of_work() as session:
            pilot = self._load(session, pilot_id)
            if pilot.status == "ended":
                raise Conflict("Piloten är avslutad och kan inte förlängas")
            if end_date <= pilot.end_date:
                raise ValidationFailed(
                    Text("Det nya slutdatumet måste vara efter %(end_date)s", end_date=pilot.end_date.isoformat()),
                    {"fields": {"end_date": [Text("måste vara senare än nuvarande slutdatum")]}},
                )
            self._refuse_overlap(session, pilot.process_id, pilot.start_date, end_date, exclude=pilot.id)
            before = pilot.end_date
            pilot.end_date, pilot.updated_at = end_date, self.clock.now()
            self._audit(
                session, actor, "pilot_extended", pilot, {"from": before.isoformat(), "to": end_date.isoformat()}
            )

    def promote(self, actor: Actor, pilot_id: int, units: Mapping[str, Iterable[str]] | None = None) -> None:
        """Spridning. Without units: the pilot's version becomes the process's default for everyone, per-unit
        defaults go (they are superseded) and the pilot ends. With units ({'kommuner': [...], 'vardcentraler': [...],
        'avdelningar': [...]}): those units start on the pilot's version by default from now on, the pilot goes on."""
        self._require_manage(actor)
        with self.db.unit_of_work() as session:
            pilot = self._load(session, pilot_id)
            if pilot.status == "planned":
                raise Conflict("En pilot som inte har startat kan inte spridas")
            now = self.clock.now()
            version = session.scalar(
                select(ProcessDefinition.version).where(ProcessDefinition.id == pilot.definition_id)
            )
            if not units or not any(units.values()):
                session.execute(delete(DefaultVersion).where(DefaultVersion.process_id == pilot.process_id))
                session.add(
                    DefaultVersion(
                        process_id=pilot.process_id,
                        unit_kind="",
                        unit="",
                        definition_id=pilot.definition_id,
                        pilot_id=pilot.id,
                        set_by=actor.username,
                        set_at=now,
                    )
                )
                before = pilot.status
                pilot.status, pilot.promoted_at, pilot.updated_at = "ended", now, now
                pilot.ended_at = pilot.ended_at or now
                self._audit(session, actor, "pilot_promoted", pilot, {"version": version, "from": before})
                return
            spec = PilotSpec(
                name=pilot.name,
                process_id=pilot.process_id,
                version=version or 0,
                start_date=pilot.start_date,
                end_date=pilot.end_date,
                mixed_rule="any",
                avdelningar=list(units.get("avdelningar") or []),
                vardcentraler=list(units.get("vardcentraler") or []),
                kommuner=list(units.get("kommuner") or []),
            )
            cleaned = self._check_units(session, spec)
            for kind in UNIT_KINDS:
                for value in cleaned[PILOT_LISTS[kind]]:
                    row = session.scalar(
                        select(DefaultVersion).where(
                            DefaultVersion.process_id == pilot.process_id,
                            DefaultVersion.unit_kind == kind,
                            DefaultVersion.unit == value,
                        )
                    )
                    if row is None:
                        row = DefaultVersion(process_id=pilot.process_id, unit_kind=kind, unit=value)
                        session.add(row)
                    row.definition_id, row.pilot_id, row.set_by, row.set_at = (
                        pilot.definition_id,
                        pilot.id,
                        actor.username,
                        now,
                    )
            pilot.updated_at = now
            self._audit(session, actor, "pilot_promoted_units", pilot, {"version": version, **cleaned})

    def set_default(self, actor: Actor, process_id: str, version: int | None, comment: str = "") -> None:
        """Make a version the default: the version every case of the process starts on when no pilot or per-unit
        default takes it (`version` None: the newest executable version as it is now, written down; a later deploy
        does not change it). Per-unit defaults stay. The implementation team or a process owner; audited with the
        comment."""
        self.policy.require(
            self.policy.can_manage_pilots(actor) or self.policy.can_deploy(actor),
            "Bara implementeringsteamet och processägare får välja standardversion",
        )
        if len(comment or "") > 2000:
            raise ValidationFailed("Kommentaren är för lång", {"fields": {"comment": [Text("högst 2000 tecken")]}})
        with self.db.unit_of_work() as session:
            if version is None:
                version = session.scalar(
                    select(func.max(ProcessDefinition.version)).where(
                        ProcessDefinition.process_id == process_id, ProcessDefinition.executable.is_(True)
                    )
                )
                if version is None:
                    raise ValidationFailed(
                        Text("%(process_id)s har ingen körbar version", process_id=process_id),
                        {"fields": {"version": [Text("välj en körbar version")]}},
                    )
            self._lock_process(session, process_id)
            row = session.scalar(
                select(DefaultVersion).where(
                    DefaultVersion.process_id == process_id, DefaultVersion.unit_kind == "", DefaultVersion.unit == ""
                )
            )
            before = (
                session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == row.definition_id))
                if row is not None
                else None
            )
            definition = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
                )
            )
            if definition is None or not definition.executable:
                raise ValidationFailed(
                    Text(
                        "%(process_id)s version %(version)s finns inte eller kan inte köras",
                        process_id=process_id,
                        version=version,
                    ),
                    {"fields": {"version": [Text("välj en körbar version")]}},
                )
            if row is None:
                row = DefaultVersion(process_id=process_id, unit_kind="", unit="")
                session.add(row)
            row.definition_id, row.pilot_id, row.set_by, row.set_at = (
                definition.id,
                None,
                actor.username,
                self.clock.now(),
            )
            session.add(
                AuditEntry(
                    at=self.clock.now(),
                    actor=actor.username,
                    action="default_version_set",
                    target_type="process",
                    target_id=process_id,
                    details={"from": before, "to": version, "comment": (comment or "").strip()},
                )
            )

    def default_overview(self, actor: Actor) -> list[dict[str, Any]]:
        """Per process with an executable version: the newest version, the chosen default (None: the newest is the
        default) and how many units have their own default."""
        self._require_view(actor)
        with self.db.read() as session:
            newest = dict(
                session.execute(
                    select(ProcessDefinition.process_id, func.max(ProcessDefinition.version))
                    .where(ProcessDefinition.executable.is_(True))
                    .group_by(ProcessDefinition.process_id)
                ).all()
            )
            versions: dict[str, list[int]] = {}
            for process_id, version in session.execute(
                select(ProcessDefinition.process_id, ProcessDefinition.version)
                .where(ProcessDefinition.executable.is_(True))
                .order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
            ):
                versions.setdefault(process_id, []).append(version)
            chosen: dict[str, int] = {}
            units: dict[str, int] = {}
            for row, version in session.execute(
                select(DefaultVersion, ProcessDefinition.version).join(
                    ProcessDefinition, ProcessDefinition.id == DefaultVersion.definition_id
                )
            ):
                if row.unit_kind:
                    units[row.process_id] = units.get(row.process_id, 0) + 1
                else:
                    chosen[row.process_id] = version
            return [
                {
                    "process_id": process_id,
                    "newest": newest[process_id],
                    "default": chosen.get(process_id),
                    "versions": versions.get(process_id, []),
                    "unit_defaults": units.get(process_id, 0),
                }
                for process_id in sorted(newest)
            ]

    def effective_default(self, process_id: str) -> int | None:
        """The version new cases of the process start on now where no pilot or per-unit default takes them (routing
        steps 4-5): for the instance page's "the default now is ..."; None without an executable version."""
        with self.db.read() as session:
            return default_version_now(session, process_id)

    # ------------------------------------------------------------------------------------------------ groups
    @staticmethod
    def period_bounds(pilot: Pilot, today: date) -> tuple[datetime, datetime]:
        """The pilot's period as [start, end) instants: from midnight of the first day to midnight after the last
        day, or after today when the period has not ended yet."""
        last = min(pilot.end_date, today)
        return day_start(pilot.start_date), day_start(max(last, pilot.start_date) + timedelta(days=1))
