"""Simulation before a pilot (issue 8): run a process version against a synthetic year of cases, faster than real
time, and predict its figures next to the current version's.

Why not the service layer: a real case goes through its one path (engine/commands/core.py `advance` and the
projectors: lock, save state, task index, timers, history, commit), about 5 ms per step on SQLite (bench/engine.py);
a county-year is 12 644 cases of tens of steps each for every version compared, which that path cannot do in
minutes. A simulated case is never a real case: nobody claims its tasks, no outside system waits for its messages,
no lock is needed, and nothing of it may reach the real database. So the simulator is a discrete-event driver that
steps the *same* engine objects in memory (the deployed diagrams parsed by engine/bpmn, the same sandbox and deadline
functions, the same clock bridge for timers) under a simulated clock, records each step with the service layer's own
pure function (engine/commands/recording.py `record_step`: the same entries a real step writes), and writes what
happened (instances, history records, case facts derived by engine/domain/facts.py, deviations) in bulk to its own
SQLite file per run and version. The figures are then engine/reads/figures.py over that file: the same derivation
and aggregation as for real cases.

The model (docs/simulation.md): admissions arrive as a Poisson stream (cases per year / 365 a day); each is a case
of the Jönköping kind (an inskrivningsmeddelande means needs after discharge); the share needing SIP and other yes/no
decisions in the forms are probabilities; each user task takes a handling time drawn from the recorded history of
the current version (task_created -> task_completed, per element) or set by hand; staff capacity is per role and
unit (a task waits in its role and unit's queue while every one of them is busy; no capacity given = nobody waits).
Messages from outside systems that a case waits for with nothing else to do come after `message_delay_hours`.
The same seed gives the same stream, decisions and durations: deterministic, and the two versions meet the same
cases (common random numbers), so a difference is the version's, not the dice's.
"""

from __future__ import annotations

import heapq
import json
import math
import multiprocessing
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from engine.bpmn.parsing import parse_for_run
from engine.bpmn.sandbox import trusted_call
from engine.bpmn.simulated import simulated_flow
from engine.bpmn.timers import engine_now
from engine.bpmn.workflow import EngineIncident, Flow, FlowFactory, StepLog
from engine.commands.deadline_timers import anchor_deadlines
from engine.commands.facts_store import CaseFactsKeeper
from engine.commands.recording import Entry, case_data_after, closed_task_entries, record_step
from engine.commands.recording import timer_fired as timer_fired_record
from engine.domain import personnummer as pnr
from engine.domain.catalog import Catalog, fill_required
from engine.domain.clock import STOCKHOLM, SimulatedClock
from engine.domain.errors import NotFound
from engine.domain.facts import CaseInput, HistoryRecord, anchors_from
from engine.domain.organisation import UnitKind
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import CaseFact, Deviation, HistoryEntry, OrgUnit, ProcessDefinition, ProcessInstance
from engine.reads.figures import Figures, FigureScope

JONKOPING_KOMMUNER = (
    "Aneby",
    "Eksjö",
    "Gislaved",
    "Gnosjö",
    "Habo",
    "Jönköping",
    "Mullsjö",
    "Nässjö",
    "Sävsjö",
    "Tranås",
    "Vaggeryd",
    "Vetlanda",
    "Värnamo",
)
# Yes/no fields that are rare in practice (the rest default to yes): probabilities of True.
DEFAULT_DECISIONS = {
    "behov_efter_utskrivning": 1.0,  # an inskrivningsmeddelande is sent when the doctor judges such needs
    "aterinlaggning_inom_30_dagar": 0.15,
    "avstamningsmote_behovs": 0.2,
    "lakarhembesok_behovs": 0.2,
    "plan_revideras": 0.0,
    "direktinlaggning_behovs": 0.1,
    "finns_befintlig_sip": 0.1,
    "samtycke_informationsdelning": 0.97,
    "sip_samtycke": 0.9,
}
FLUSH_EVERY = 500  # cases written per batch
MAX_STEPS_PER_CASE = 2000  # a case caught in a loop of the model is stopped and counted as such


@dataclass(frozen=True)
class SimulationParams:
    process_id: str = "in_utskrivning"
    candidate_version: int = 1
    baseline_version: int | None = None
    cases_per_year: float = 12644.0  # Jönköping 2016: inskrivningsmeddelanden
    days: int = 365
    sip_share: float = 0.37  # 4 672 kallelser till vårdplanering of 12 644 (Jönköping 2016)
    seed: int = 1
    start_date: date = date(2027, 1, 4)
    avtal: str = "jonkoping"
    durations_hours: dict[str, float] = field(default_factory=dict)  # element id -> mean handling time (by hand)
    default_hours: float = 8.0
    capacity: dict[str, int] = field(default_factory=dict)  # role -> staff per unit; absent = unlimited
    decisions: dict[str, float] = field(default_factory=dict)  # yes/no field -> probability of yes
    message_delay_hours: float = 24.0
    follow_up_days: int = 30  # dates the forms ask for (follow-up, planned dates) lie this far ahead at most
    shards: int = 2  # groups of kommuner simulated independently (see _shards); part of the model, not a speed knob

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_date"] = self.start_date.isoformat()
        return out

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> SimulationParams:
        values = dict(raw)
        if isinstance(values.get("start_date"), str):
            values["start_date"] = date.fromisoformat(values["start_date"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class VersionResult:
    version: int
    definition_id: int
    cases: int
    completed: int
    stuck: int
    incidents: int
    steps: int
    wall_seconds: float
    database: str
    workload: dict[str, dict[str, float]]  # role -> tasks, busy_hours, mean_wait_hours, max_queue


@dataclass(frozen=True)
class DefinitionSource:
    """A deployed definition as the simulator needs it, copied out of the real database once."""

    id: int
    process_id: str
    version: int
    xml: bytes
    dependencies: dict[str, int]
    dependency_xml: dict[str, bytes]
    elements: dict[str, Any]
    forms: dict[str, Any]
    start_messages: tuple[str, ...]
    row: dict[str, Any]  # the process_definitions row, copied into the simulation database
    dependency_rows: tuple[dict[str, Any], ...]


def load_definition(db: Database, process_id: str, version: int) -> DefinitionSource:
    """Read a version (and what it calls) from the real database. Reading is all the simulator does there."""

    with db.read() as session:
        row = session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
            )
        )
        if row is None:
            raise NotFound(
                Text("%(process_id)s version %(version)s finns inte", process_id=process_id, version=version)
            )
        deps = {
            # a call left to run time: the newest executable version, as a case would resolve it now
            name: session.get(ProcessDefinition, dep_id)
            if dep_id is not None
            else session.scalar(
                select(ProcessDefinition)
                .where(ProcessDefinition.process_id == name, ProcessDefinition.executable.is_(True))
                .order_by(ProcessDefinition.version.desc())
                .limit(1)
            )
            for name, dep_id in (row.dependencies or {}).items()
        }
        return DefinitionSource(
            id=row.id,
            process_id=row.process_id,
            version=row.version,
            xml=row.xml,
            dependencies={name: dep.id for name, dep in deps.items() if dep is not None},
            dependency_xml={name: dep.xml for name, dep in deps.items() if dep is not None},
            elements=dict(row.elements or {}),
            forms=dict(row.forms or {}),
            start_messages=tuple(row.start_messages or ()),
            row=_row_dict(row),
            dependency_rows=tuple(_row_dict(dep) for dep in deps.values() if dep is not None),
        )


def _row_dict(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


def recorded_durations(db: Database, process_id: str, version: int | None) -> dict[str, list[float]]:
    """Handling times (hours) per user task element from the real history: task_created -> task_completed of the
    same task, for instances of the version (or of the process when version is None)."""
    query = (
        select(HistoryEntry.task_id, HistoryEntry.kind, HistoryEntry.element_id, HistoryEntry.at)
        .join(ProcessInstance, ProcessInstance.id == HistoryEntry.instance_id)
        .where(
            ProcessInstance.process_id == process_id,
            HistoryEntry.kind.in_(("task_created", "task_completed")),
            HistoryEntry.task_id.is_not(None),
        )
        .order_by(HistoryEntry.id)
    )
    if version is not None:
        query = query.where(ProcessInstance.version == version)
    created: dict[str, datetime] = {}
    found: dict[str, list[float]] = defaultdict(list)
    with db.read() as session:
        for task_id, kind, element_id, at in session.execute(query):
            if task_id is None:
                continue
            if kind == "task_created":
                created[task_id] = at
            elif task_id in created and element_id:
                found[element_id].append(max(0.0, (at - created.pop(task_id)).total_seconds() / 3600))
    return dict(found)


def organisation_units(db: Database) -> dict[str, Any]:
    """The county's kommuner, vårdcentraler and wards from the real organisation (read only), for the stream."""

    units: dict[str, Any] = {"kommun": set(), "vardcentral_kommun": {}, "avdelning_kommun": {}}
    with db.read() as session:
        for hsa_id, kind, kommun in session.execute(select(OrgUnit.hsa_id, OrgUnit.kind, OrgUnit.kommun)):
            unit_kind = UnitKind.parse(kind)
            if unit_kind is UnitKind.VARDCENTRAL:
                units["vardcentral_kommun"][hsa_id] = kommun
            elif unit_kind is UnitKind.AVDELNING:
                units["avdelning_kommun"][hsa_id] = kommun
            if kommun:
                units["kommun"].add(kommun)
    units["kommun"] = sorted(units["kommun"])
    return units


# ------------------------------------------------------------------------------------------------- the stream
@dataclass(frozen=True)
class Arrival:
    index: int
    at: datetime
    data: dict[str, Any]
    seed: int  # the case's own dice: the same case decides alike on every version
    shard: int  # the group of kommuner (with their vårdcentraler and wards) the case belongs to


def _shards(params: SimulationParams, units: Mapping[str, Any]) -> list[dict[str, list[str]]]:
    """The county split into `params.shards` groups of kommuner, each with the vårdcentraler and wards in those
    kommuner: a case's units all lie in one group, so the groups' staff queues are independent and the groups can
    be simulated side by side (one process each) with the same result as one after the other."""
    kommuner = sorted(units.get("kommun") or JONKOPING_KOMMUNER)
    vc_kommun: dict[str, str | None] = dict(units.get("vardcentral_kommun") or {})
    ward_kommun: dict[str, str | None] = dict(units.get("avdelning_kommun") or {})
    vardcentraler = sorted(units.get("vardcentral") or vc_kommun) or [f"SE2321000057-VC{n:03d}" for n in range(1, 47)]
    avdelningar = sorted(units.get("avdelning") or ward_kommun) or [f"SE2321000057-AVD{n:02d}" for n in range(1, 9)]
    count = max(1, min(params.shards, len(kommuner)))
    groups: list[dict[str, list[str]]] = [{"kommun": [], "vardcentral": [], "avdelning": []} for _ in range(count)]
    shard_of = {k: i % count for i, k in enumerate(kommuner)}
    for k in kommuner:
        groups[shard_of[k]]["kommun"].append(k)
    for n, vc in enumerate(vardcentraler):
        groups[shard_of.get(vc_kommun.get(vc) or "", n % count)]["vardcentral"].append(vc)
    for n, ward in enumerate(avdelningar):
        groups[shard_of.get(ward_kommun.get(ward) or "", n % count)]["avdelning"].append(ward)
    for group in groups:  # a group without a unit of a kind borrows the county's (their queues are then split)
        group["vardcentral"] = group["vardcentral"] or vardcentraler
        group["avdelning"] = group["avdelning"] or avdelningar
    return groups


def arrivals(params: SimulationParams, units: Mapping[str, list[str]]) -> list[Arrival]:
    """The synthetic admissions: Poisson arrivals, a person, a ward, a vårdcentral and a kommun per case."""
    rng = random.Random(params.seed)
    groups = _shards(params, units)
    kommuner = [(k, i) for i, group in enumerate(groups) for k in group["kommun"]]
    start = datetime.combine(params.start_date, datetime.min.time(), tzinfo=STOCKHOLM)
    end = start + timedelta(days=params.days)
    rate_per_hour = params.cases_per_year / 365.0 / 24.0
    found: list[Arrival] = []
    moment = start
    while rate_per_hour > 0:
        moment = moment + timedelta(hours=rng.expovariate(rate_per_hour))
        if moment >= end:
            break
        index = len(found)
        born = date(rng.randint(1925, 1965), rng.randint(1, 12), rng.randint(1, 28))
        serial = f"{rng.randint(0, 999):03d}"
        head = born.strftime("%y%m%d") + serial
        number = f"{born:%Y%m%d}-{serial}{pnr.luhn_digit(head)}"
        kommun, shard = rng.choice(kommuner)
        data: dict[str, Any] = {
            "personnummer": number,
            "vardtillfalle_id": f"SIM-{params.seed}-{index + 1}",
            "avdelning_hsa_id": rng.choice(groups[shard]["avdelning"]),
            "vardcentral_hsa_id": rng.choice(groups[shard]["vardcentral"]),
            "kommun": kommun,
            "avtal": params.avtal,
            "inskrivningstid": moment.isoformat(),
        }
        if rng.random() < DEFAULT_DECISIONS["aterinlaggning_inom_30_dagar"]:
            # a readmission after a discharge outside the simulated cases, as the ward marks it (optional in its form)
            data.update(aterinlaggning_inom_30_dagar=True, tidigare_vardtillfalle_id=f"SIM-{params.seed}-tidigare")
        else:
            data["aterinlaggning_inom_30_dagar"] = False
        found.append(Arrival(index, moment, data, rng.getrandbits(32), shard))
    return found


def _decide(name: str, params: SimulationParams, rng: random.Random) -> bool:
    if name in params.decisions:
        return rng.random() < params.decisions[name]
    if name in ("sip_behov", "behov_region", "behov_kommun"):
        return rng.random() < params.sip_share if name == "sip_behov" else True
    return rng.random() < DEFAULT_DECISIONS.get(name, 1.0)


def _value(
    name: str,
    prop: Mapping[str, Any],
    data: Mapping[str, Any],
    now: datetime,
    params: SimulationParams,
    rng: random.Random,
) -> Any:
    if name in data and name not in ("beraknat_utskrivningsdatum",):
        return data[name]
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    fmt = prop.get("format")
    local = now.astimezone(STOCKHOLM)
    if kind == "boolean":
        return _decide(name, params, rng)
    if kind == "string":
        if fmt == "date":
            return (local + timedelta(days=rng.randint(1, max(1, params.follow_up_days)))).date().isoformat()
        if fmt == "date-time":
            return local.isoformat()
        if fmt == "personnummer":
            return data.get("personnummer")
        if fmt == "hsa-id":
            return data.get("vardcentral_hsa_id")
        return "Simulerat"[: int(prop.get("maxLength", 2000))]
    if kind in ("integer", "number"):
        return max(int(prop.get("minimum", 1)), 1)
    if kind == "array":
        items = prop.get("items", {})
        count = max(int(prop.get("minItems", 1)), 1)
        if "enum" in items:
            return list(items["enum"][:count])
        return [_value(name, items, data, now, params, rng) for _ in range(count)]
    if kind == "object":
        return fill_form(prop, data, now, params, rng)
    return None


def fill_form(
    schema: Mapping[str, Any], data: Mapping[str, Any], now: datetime, params: SimulationParams, rng: random.Random
) -> dict[str, Any]:
    """Values for a form's required fields (and those its if/then makes required)."""
    return fill_required(schema, {}, lambda key, prop: _value(key, prop, data, now, params, rng))


# ------------------------------------------------------------------------------------------------- the driver
@dataclass
class _Case:
    arrival: Arrival
    instance_id: int
    flow: Flow
    rng: random.Random
    data: dict[str, Any]
    tasks: dict[str, tuple[str, str]] = field(default_factory=dict)  # ready task id -> (element, resource)
    opened: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)  # ready task -> (element, name, lane)
    timers: set[tuple[str, datetime]] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    deviations: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    waiting_message: bool = False
    status: str = "running"


class _Driver:
    def __init__(
        self,
        source: DefinitionSource,
        params: SimulationParams,
        catalog: Catalog,
        recorded: Mapping[str, list[float]],
        sink: Callable[[list[_Case]], None],
        progress: Callable[[int, int], None] | None,
        total: int,
    ):
        self.source = source
        self.params = params
        self.catalog = catalog
        self.milestones = CaseFactsKeeper(catalog).milestones
        self.recorded = {k: v for k, v in recorded.items() if len(v) >= 3}
        self.sink = sink
        self.progress = progress
        self.total = total
        self.clock = SimulatedClock(datetime.combine(params.start_date, datetime.min.time(), tzinfo=STOCKHOLM))
        self.factory = FlowFactory(catalog.sandbox_functions(engine_now))
        self.spec, self.subs = parse_for_run(source.xml, source.process_id, source.dependency_xml)
        self.events: list[tuple[datetime, int, str, Any]] = []
        self.seq = 0
        self.queues: dict[str, deque[tuple[_Case, str, datetime]]] = defaultdict(deque)
        self.busy: dict[str, int] = defaultdict(int)
        self.in_progress: dict[str, tuple[_Case, str]] = {}  # task id -> (case, resource)
        self.workload: dict[str, dict[str, float]] = defaultdict(
            lambda: {"tasks": 0, "busy_hours": 0.0, "wait_hours": 0.0, "max_queue": 0}
        )
        self.finished: list[_Case] = []
        self._open: dict[int, _Case] = {}
        self.done = 0
        self.steps = 0
        self.incidents = 0
        self.stuck = 0

    def _push(self, at: datetime, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    # --- the loop ---
    def run(self, stream: list[Arrival]) -> None:
        for arrival in stream:
            self._push(arrival.at.astimezone(STOCKHOLM), "arrive", arrival)
        while self.events:
            at, _, kind, payload = heapq.heappop(self.events)
            if at > self.clock.now():
                self.clock.set(at)
            if kind == "arrive":
                self._arrive(payload)
            elif kind == "done":
                self._done(*payload)
            elif kind == "timer":
                self._timer(*payload)
            elif kind == "message":
                self._message(*payload)
        for case in list(self._open.values()):
            case.status = "running" if case.tasks or case.timers else "waiting"
            self._finish(case, still_open=True)
        self._flush(force=True)

    def _arrive(self, arrival: Arrival) -> None:
        now = self.clock.now()
        instance_id = arrival.index + 1
        rng = random.Random(arrival.seed)
        flow = simulated_flow(self.factory, self.spec, self.subs, dict(arrival.data))
        case = _Case(arrival, instance_id, flow, rng, dict(arrival.data))
        self._open[instance_id] = case
        case.history.append(self._h(case, now, "started", data={"data": arrival.data, "message": None}))
        log = StepLog()
        try:
            flow.run(self.clock, log)
            waiting = [m for m in self.source.start_messages if m in flow.awaited_messages()]
            if waiting and not flow.ready_human_tasks():
                case.history[-1]["data"]["message"] = waiting[0]
                flow.deliver_message(waiting[0], dict(arrival.data), self.clock, log)
        except EngineIncident as exc:
            self._incident(case, exc)
            return
        self._after(case, log)

    def _done(self, case: _Case, task_id: str, resource: str, started: datetime) -> None:
        if self.in_progress.pop(task_id, None) is None:
            return  # the task went away meanwhile (an interrupting event); its staff was freed then
        self.busy[resource] -= 1
        self.workload[self._role(resource)]["busy_hours"] += (self.clock.now() - started).total_seconds() / 3600
        if case.status != "running" or task_id not in case.tasks:
            self._dispatch(resource)
            return
        element, _ = case.tasks[task_id]
        now = self.clock.now()
        form = (self.source.elements.get(element, {}).get("properties") or {}).get("form")
        schema = self.source.forms.get(form) if form else None
        submitted = fill_form(schema, case.data, now, self.params, case.rng) if schema else {}
        info = self.source.elements.get(element, {})
        case.history.append(
            self._h(
                case,
                now,
                "task_completed",
                element,
                task_id,
                {"submitted": submitted, "name": info.get("name") or element, "lane": info.get("lane")},
            )
        )
        log = StepLog()
        try:
            case.flow.complete(task_id, submitted, self.clock, log)
        except EngineIncident as exc:
            self._incident(case, exc)
        else:
            self._after(case, log)
        self._dispatch(resource)

    def _timer(self, case: _Case, task_id: str, due: datetime, element: str) -> None:
        if case.status != "running" or (task_id, due) not in case.timers:
            return
        log = StepLog()
        now = self.clock.now()
        try:
            case.flow.run(self.clock, log, fire_due=due)
        except EngineIncident as exc:
            self._incident(case, exc)
            return
        fired = task_id in {t for t, _, _ in log.completed} or all(
            t.task_id != task_id or t.due_at != due for t in case.flow.waiting_timers()
        )
        if fired:  # as the service layer records it (engine/commands/recording.py `timer_fired`)
            entry, parties, cause = timer_fired_record(task_id, element, due, now, self.source.elements, case.flow)
            self._record(case, now, [entry])
            for party in parties if cause else []:
                case.deviations.append(
                    {"instance_id": case.instance_id, "element_id": element, "party": party, "cause": cause, "at": now}
                )
        self._after(case, log)

    def _message(self, case: _Case, name: str) -> None:
        case.waiting_message = False
        if case.status != "running" or name not in case.flow.awaited_messages():
            return
        now = self.clock.now()
        local = now.astimezone(STOCKHOLM).isoformat()
        payload = {
            "personnummer": case.data.get("personnummer"),
            "vardtillfalle_id": case.data.get("vardtillfalle_id"),
            "utskrivningstid": local,
            "utskrivningsklar": True,
            "utskrivningsklar_tidpunkt": local,
        }
        case.history.append(
            self._h(
                case,
                now,
                "message_received",
                data={"name": name, "message_id": f"sim-{case.instance_id}-{name}", "data": payload},
            )
        )
        log = StepLog()
        try:
            case.flow.deliver_message(name, payload, self.clock, log)
        except EngineIncident as exc:
            self._incident(case, exc)
            return
        self._after(case, log)

    # --- after every step: what it records (engine/commands/recording.py, as the service layer's projectors) ---
    def _anchors(self, case: _Case) -> dict[str, datetime | None]:
        """The anchor events' moments from the case's history so far (engine/domain/facts.py), as the real case's
        facts give them."""
        case_in = CaseInput(
            instance_id=case.instance_id,
            definition_id=self.source.id,
            process_id=self.source.process_id,
            version=self.source.version,
            status=case.status,
            started_at=case.arrival.at,
            data=case.data,
        )
        records = [HistoryRecord(h["at"], h["kind"], h["element_id"], h["data"]) for h in case.history]
        return anchors_from(self.milestones, case_in, records)

    def _record(self, case: _Case, now: datetime, entries: Iterable[Entry]) -> None:
        for entry in entries:
            case.history.append(self._h(case, now, entry.kind, entry.element_id, entry.task_id, entry.data))

    def _after(self, case: _Case, log: StepLog) -> None:
        now = self.clock.now()
        self.steps += 1
        case.steps += 1
        case.flow.take_thrown_messages()
        case.data = case_data_after(case.data, case.flow, log)

        def anchors_after(completed: Sequence[Entry]) -> dict[str, datetime | None] | None:
            self._record(case, now, completed)  # first, as the real step writes them before counting deadlines
            return anchor_deadlines(
                case.flow, self.source.elements, self.catalog, case.data, lambda: self._anchors(case)
            )

        step = record_step(
            case.flow,
            log,
            known_tasks=list(case.tasks),
            elements=self.source.elements,
            data=case.data,
            catalog=self.catalog,
            now=now,
            anchors_after=anchors_after,
        )
        if case.flow.completed:
            case.status = "completed"
            case.history.append(self._h(case, now, "completed"))
            self._drop_tasks(case, set())
            self._finish(case)
            return
        if case.steps > MAX_STEPS_PER_CASE:
            self.stuck += 1
            case.status = "incident"
            self._drop_tasks(case, set())
            self._finish(case)
            return
        if step.closed:
            closed = [(t, *case.opened[t]) for t in step.closed if t in case.opened]
            entries, deviations = closed_task_entries(closed, log.completed, self.source.elements)
            self._record(case, now, entries)
            for element, party, cause in deviations:
                case.deviations.append(
                    {"instance_id": case.instance_id, "element_id": element, "party": party, "cause": cause, "at": now}
                )
        self._drop_tasks(case, set(step.ready_ids))
        for task in step.opened:
            resource = self._resource(task.element_id, task.lane, case.data)
            case.tasks[task.id] = (task.element_id, resource)
            case.opened[task.id] = (task.element_id, task.name, task.lane)
            self._record(case, now, [task.entry])
            self.queues[resource].append((case, task.id, now))
            stats = self.workload[self._role(resource)]
            stats["max_queue"] = max(stats["max_queue"], len(self.queues[resource]))
            self._dispatch(resource)
        waiting = {(t.task_id, t.due_at): t.element_id for t in step.timers.values()}
        for (task_id, due), element in waiting.items():
            if (task_id, due) not in case.timers:
                self._push(max(due, now), "timer", (case, task_id, due, element))
        case.timers = set(waiting)
        if not case.tasks and not case.timers and not case.waiting_message:
            awaited = case.flow.awaited_messages()
            if awaited:
                case.waiting_message = True
                self._push(now + timedelta(hours=self.params.message_delay_hours), "message", (case, awaited[0]))
            else:
                self.stuck += 1
                case.status = "waiting"
                self._finish(case)

    def _drop_tasks(self, case: _Case, keep: set[str]) -> None:
        for task_id in [t for t in case.tasks if t not in keep]:
            _, resource = case.tasks.pop(task_id)
            case.opened.pop(task_id, None)
            if self.in_progress.pop(task_id, None) is not None:
                self.busy[resource] -= 1
                self._dispatch(resource)

    def _incident(self, case: _Case, exc: EngineIncident) -> None:
        self.incidents += 1
        case.status = "incident"
        case.history.append(self._h(case, self.clock.now(), "incident", exc.element_id, data={"message": exc.message}))
        self._drop_tasks(case, set())
        self._finish(case)

    def _finish(self, case: _Case, still_open: bool = False) -> None:
        self._open.pop(case.instance_id, None)
        case.flow = None  # type: ignore[assignment]  # the workflow is not needed any more: free it
        self.finished.append(case)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
        if not still_open:
            self._flush()

    def _flush(self, force: bool = False) -> None:
        if self.finished and (force or len(self.finished) >= FLUSH_EVERY):
            self.sink(self.finished)
            self.finished = []

    # --- staff ---
    def _resource(self, element: str, lane: str | None, data: Mapping[str, Any]) -> str:
        info = self.source.elements.get(element, {})
        props = info.get("properties") or {}
        lane = info.get("lane") or lane
        role = props.get("role") or next(iter(self.catalog.roles_for_lane(lane)), None) or (lane or "okänd roll")
        unit = self.catalog.unit_for_lane(lane, dict(data)) or "-"
        return f"{role}\t{unit}"

    @staticmethod
    def _role(resource: str) -> str:
        return resource.split("\t", 1)[0]

    def _dispatch(self, resource: str) -> None:
        limit = self.params.capacity.get(self._role(resource))
        queue = self.queues[resource]
        now = self.clock.now()
        while queue and (not limit or self.busy[resource] < limit):
            case, task_id, queued_at = queue.popleft()
            if case.status != "running" or task_id not in case.tasks or task_id in self.in_progress:
                continue
            element, _ = case.tasks[task_id]
            self.busy[resource] += 1
            self.in_progress[task_id] = (case, resource)
            stats = self.workload[self._role(resource)]
            stats["tasks"] += 1
            stats["wait_hours"] += (now - queued_at).total_seconds() / 3600
            hours = self._duration(element, case.rng)
            self._push(now + timedelta(hours=hours), "done", (case, task_id, resource, now))

    def _duration(self, element: str, rng: random.Random) -> float:
        if element in self.params.durations_hours:
            return _lognormal(rng, float(self.params.durations_hours[element]))
        samples = self.recorded.get(element)
        if samples:
            return float(rng.choice(samples))
        return _lognormal(rng, self.params.default_hours)

    def _h(
        self,
        case: _Case,
        at: datetime,
        kind: str,
        element: str | None = None,
        task_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "instance_id": case.instance_id,
            "at": at,
            "kind": kind,
            "element_id": element,
            "task_id": task_id,
            "actor": "simulering" if kind == "task_completed" else None,
            "data": data or {},
        }


def _lognormal(rng: random.Random, mean_hours: float, sigma: float = 0.6) -> float:
    """A handling time with the given mean: right-skewed, as work times are."""
    if mean_hours <= 0:
        return 0.0
    mu = math.log(mean_hours) - sigma * sigma / 2
    return rng.lognormvariate(mu, sigma)


# ------------------------------------------------------------------------------------------------- one version
def _writer(
    source: DefinitionSource, catalog: Catalog, db: Database, written_at: datetime
) -> Callable[[list[_Case]], None]:
    """Writes finished simulated cases in bulk: instances, history, deviations and their case facts (derived by
    engine/domain/facts.py from the same history records the real cases keep)."""

    keeper = CaseFactsKeeper(catalog)
    with_facts = keeper.applies_to(source.process_id)

    def sink(cases: list[_Case]) -> None:
        instances, history, deviations, facts = [], [], [], []
        for case in cases:
            data = json.loads(json.dumps(case.data, default=str))
            last = case.history[-1]["at"]
            instances.append(
                {
                    "id": case.instance_id,
                    "definition_id": source.id,
                    "process_id": source.process_id,
                    "version": source.version,
                    "business_key": f"{data.get('personnummer')}/{data.get('vardtillfalle_id')}",
                    "status": case.status,
                    "started_at": case.arrival.at,
                    "ended_at": last if case.status == "completed" else None,
                    "updated_at": last,
                    "started_by": "simulering",
                    "data": data,
                    "state": "",
                    "serializer_version": "simulering",
                    "parent_instance_id": None,
                    "lock_version": 1,
                    "kommun": data.get("kommun"),
                    "vardcentral": data.get("vardcentral_hsa_id"),
                    "avdelning": data.get("avdelning_hsa_id"),
                }
            )
            for h in case.history:
                h["data"] = json.loads(json.dumps(h["data"], default=str))
            history.extend(case.history)
            deviations.extend(case.deviations)
            if with_facts:
                derived = keeper.derive_for(
                    CaseInput(
                        instance_id=case.instance_id,
                        definition_id=source.id,
                        process_id=source.process_id,
                        version=source.version,
                        status=case.status,
                        started_at=case.arrival.at,
                        data=data,
                        kommun=data.get("kommun"),
                        vardcentral=data.get("vardcentral_hsa_id"),
                        avdelning=data.get("avdelning_hsa_id"),
                        deviations=len(case.deviations),
                    ),
                    [HistoryRecord(h["at"], h["kind"], h["element_id"], h["data"]) for h in case.history],
                )
                facts.append({**derived.as_dict(), "updated_at": written_at})
        with db.unit_of_work() as session:
            connection = session.connection()
            connection.execute(insert(ProcessInstance), instances)
            if history:
                connection.execute(insert(HistoryEntry), history)
            if deviations:
                connection.execute(insert(Deviation), deviations)
            if facts:
                connection.execute(insert(CaseFact), facts)

    return sink


def _run_shard(
    source: DefinitionSource,
    params: SimulationParams,
    processes_dir: str | None,
    recorded: Mapping[str, list[float]],
    stream: list[Arrival],
    database_url: str,
    counter: Any = None,
) -> dict[str, Any]:
    """One group of kommuner on one version (in this process or a worker process)."""
    catalog = Catalog(Path(processes_dir) if processes_dir else None, trusted_call)
    db = Database(database_url)
    written_at = datetime.combine(params.start_date, datetime.min.time(), tzinfo=STOCKHOLM)

    def progress(done: int, total: int) -> None:
        if counter is not None:
            counter.value = done

    try:
        driver = _Driver(
            source, params, catalog, recorded, _writer(source, catalog, db, written_at), progress, len(stream)
        )
        driver.run(stream)
        progress(driver.done, len(stream))
        return {
            "done": driver.done,
            "stuck": driver.stuck,
            "incidents": driver.incidents,
            "steps": driver.steps,
            "workload": {role: dict(stats) for role, stats in driver.workload.items()},
        }
    finally:
        db.dispose()


class _Forward:
    """What a group run in this process reports its finished cases to: the caller's progress, after the groups
    before it (a worker process gets a shared multiprocessing Value instead)."""

    def __init__(self, before: int, total: int, progress: Callable[[int, int], None] | None):
        self.before, self.total, self.progress, self._value = before, total, progress, 0

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, done: int) -> None:
        self._value = done
        if self.progress is not None:
            self.progress(self.before + done, self.total)


def _shard_worker(args: tuple[Any, ...], counter: Any, results: Any) -> None:
    source, params, folder, recorded, part, url, shard = args
    try:
        results.put((shard, _run_shard(source, params, folder, recorded, part, url, counter=counter)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run with it
        results.put((shard, {"error": f"{exc.__class__.__name__}: {exc}"}))


def simulate_version(
    source: DefinitionSource,
    params: SimulationParams,
    catalog: Catalog,
    recorded: Mapping[str, list[float]],
    stream: list[Arrival],
    database_path: Path,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> VersionResult:
    """Simulate the stream on one version into a new SQLite file; never touches the real database. The groups of
    kommuner (params.shards) run one after the other, or side by side in `workers` processes: same result."""

    if database_path.exists():
        database_path.unlink()
    database_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{database_path}"
    db = Database(url)
    db.upgrade()
    with db.unit_of_work() as session:
        for row in (*source.dependency_rows, source.row):
            if session.get(ProcessDefinition, row["id"]) is None:
                session.add(ProcessDefinition(**row))
    started = time.perf_counter()
    shards: dict[int, list[Arrival]] = defaultdict(list)
    for arrival in stream:
        shards[arrival.shard].append(arrival)
    folder = str(catalog.folder) if catalog.folder is not None else None
    outcomes: dict[int, dict[str, Any]] = {}
    if workers <= 1 or len(shards) <= 1:
        done_before = 0
        for shard, part in sorted(shards.items()):
            counter = _Forward(done_before, len(stream), progress)
            outcome = _run_shard(source, params, folder, recorded, part, url, counter)
            outcomes[shard] = outcome
            done_before += outcome["done"]
    else:
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        counters = {shard: context.Value("i", 0) for shard in shards}
        processes = [
            context.Process(
                target=_shard_worker,
                args=((source, params, folder, recorded, part, url, shard), counters[shard], results),
                daemon=True,
            )
            for shard, part in sorted(shards.items())
        ]
        pending = list(processes)
        running: list[Any] = []
        while pending or running or len(outcomes) < len(shards):
            while pending and len(running) < workers:
                process = pending.pop(0)
                process.start()
                running.append(process)
            try:
                shard, outcome = results.get(timeout=1.0)
                outcomes[shard] = outcome
            except Exception:  # noqa: BLE001 - queue.Empty: nothing finished this second
                pass
            running = [p for p in running if p.is_alive()]
            if progress is not None:
                progress(sum(c.value for c in counters.values()), len(stream))
            if not running and not pending and len(outcomes) < len(shards):
                shard_ids = set(shards) - set(outcomes)
                try:
                    shard, outcome = results.get(timeout=5.0)
                    outcomes[shard] = outcome
                except Exception:  # noqa: BLE001
                    raise RuntimeError(
                        Text("Simuleringen av grupp %(shard_ids)s avbröts", shard_ids=sorted(shard_ids))
                    ) from None
        for process in processes:
            process.join(timeout=5)
    failed = [o["error"] for o in outcomes.values() if "error" in o]
    if failed:
        raise RuntimeError("Simuleringen misslyckades: " + "; ".join(failed))
    with db.read() as session:
        completed = (
            session.scalar(
                select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "completed")
            )
            or 0
        )
    db.dispose()
    merged: dict[str, dict[str, float]] = defaultdict(
        lambda: {"tasks": 0, "busy_hours": 0.0, "wait_hours": 0.0, "max_queue": 0}
    )
    for outcome in outcomes.values():
        for role, stats in outcome["workload"].items():
            into = merged[role]
            into["tasks"] += stats["tasks"]
            into["busy_hours"] += stats["busy_hours"]
            into["wait_hours"] += stats["wait_hours"]
            into["max_queue"] = max(into["max_queue"], stats["max_queue"])
    workload = {
        role: {
            "tasks": int(stats["tasks"]),
            "busy_hours": round(stats["busy_hours"], 1),
            "mean_wait_hours": round(stats["wait_hours"] / stats["tasks"], 2) if stats["tasks"] else 0.0,
            "max_queue": int(stats["max_queue"]),
        }
        for role, stats in sorted(merged.items())
    }
    return VersionResult(
        version=source.version,
        definition_id=source.id,
        cases=len(stream),
        completed=int(completed),
        stuck=sum(o["stuck"] for o in outcomes.values()),
        incidents=sum(o["incidents"] for o in outcomes.values()),
        steps=sum(o["steps"] for o in outcomes.values()),
        wall_seconds=round(time.perf_counter() - started, 2),
        database=str(database_path),
        workload=workload,
    )


def figures_of(database_path: Path, catalog: Catalog, params: SimulationParams) -> dict[str, Any]:
    """The predicted figures of one simulated version: engine/reads/figures.py over its simulation database."""

    db = Database(f"sqlite:///{database_path}")
    try:
        end = params.start_date + timedelta(days=params.days)
        rows = Figures(db, catalog).compute(FigureScope(params.start_date, end, params.process_id))
        total = rows[0] if rows else None
        return {
            "cases": total.cases if total else 0,
            "figures": {
                key: {"value": v.value, "numerator": v.numerator, "denominator": v.denominator}
                for key, v in (total.figures.items() if total else [])
            },
        }
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------------------- a whole run
def run_simulation(
    real_db: Database,
    catalog: Catalog,
    params: SimulationParams,
    folder: Path,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Read the versions, the recorded durations and the organisation from the real database (reads only), then
    simulate the same stream on the current version and on the candidate, each into its own file under `folder`.
    Returns the figures and workload side by side."""
    versions = [params.candidate_version]
    if params.baseline_version is not None and params.baseline_version != params.candidate_version:
        versions.insert(0, params.baseline_version)
    sources = [load_definition(real_db, params.process_id, v) for v in versions]
    recorded = recorded_durations(real_db, params.process_id, params.baseline_version or params.candidate_version)
    stream = arrivals(params, organisation_units(real_db))
    total = len(stream) * len(sources)
    results = []
    for n, source in enumerate(sources):

        def step(done: int, _total: int, before: int = n * len(stream)) -> None:
            if progress is not None:
                progress(before + done, total)

        result = simulate_version(
            source, params, catalog, recorded, stream, folder / f"version-{source.version}.db", step, workers
        )
        figures = figures_of(Path(result.database), catalog, params)
        results.append(
            {
                **asdict(result),
                **figures,
                "role": "candidate" if source.version == params.candidate_version else "baseline",
            }
        )
    return {
        "params": params.as_dict(),
        "arrivals": len(stream),
        "recorded_elements": sorted(recorded),
        "versions": results,
    }
