"""The service layer: every command that changes a definition or an instance goes through here (convention 1).

One path advances a workflow: `Runtime._advance` loads (or is handed) the instance under its lock, runs the engine,
and `_save` writes state, task index, timers, message subscriptions, history, incidents and deviations; the unit of
work commits once. Web forms, the JSON API, the CLI and the scheduler all call these commands.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.bpmn.parsing import (
    ParsedDocument,
    ParsedProcess,
    deploy_order,
    document_meaning,
    parse_document,
    parse_for_run,
    pinned_version,
)
from engine.bpmn.sandbox import command_budget
from engine.bpmn.workflow import (
    PENDING,
    SERIALIZER_VERSION,
    EngineIncident,
    Flow,
    FlowFactory,
    MoveRefused,
    StepLog,
    TokenMove,
)
from engine.commands.deadline_timers import anchored_rule, anchored_timers, set_moments
from engine.directory import Actor, Directory, Policy
from engine.domain import boundary, personnummer
from engine.domain.catalog import Catalog, CatalogError, validate_form_data
from engine.domain.clock import Clock
from engine.domain.deadlines import counts_from_event, due_moment
from engine.domain.errors import (
    BadRequest,
    Conflict,
    DeployRejected,
    Diagnostic,
    Forbidden,
    InvalidData,
    NotFound,
    ValidationFailed,
)
from engine.domain.facts import CaseFactsKeeper, parse_moment
from engine.domain.routing import CASE_UNIT_KEYS, ROUTING_KEYS, routing_keys_in
from engine.features import pilots
from engine.features.validation import CheckResult, catalog_findings
from engine.persistence.db import Database
from engine.persistence.models import (
    AuditEntry,
    Deviation,
    HistoryEntry,
    Incident,
    InstanceCorrelation,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    ReceivedMessage,
    TaskIndex,
    Timer,
    User,
)
from engine.reads.log import AccessLogWriter
from engine.reads.persons import previous_discharge
from engine.reads.policy import AccessPolicy

CORRELATION_KEYS = ("personnummer", "vardtillfalle_id")
MAX_REASON_CHARS = 2000
MAX_TIMER_ATTEMPTS = 5  # firings of one timer that raised before it becomes an incident
TIMER_RETRY_SECONDS = 10  # the first back-off; doubled after each failure (10, 20, 40, 80 s)
TIMER_RETRY_MAX_SECONDS = 3600
MAX_ROUTE_DEPTH = 8  # messages thrown by instances that a thrown message started or continued
ENGINE_TASK_TYPES_NOT_LOGGED = {"UserTask", "ManualTask", "NoneTask"}


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


@dataclass(frozen=True)
class TimerRow:
    id: int
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class Projection:
    """What the index tables hold for one instance as last saved: its timers, task ids, awaited messages and
    correlation keys. Kept with the cached workflow so a save diffs against memory instead of re-reading rows."""

    timers: dict[str, TimerRow]
    task_ids: frozenset[str]
    subscriptions: frozenset[str]
    correlations: frozenset[tuple[str, str]]


class SpecCache:
    """Parsed specs per definition id: parsing a 60-activity diagram once per process, not once per step."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict[int, tuple[Any, dict[str, Any]]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(
        self, session: Session, definition: Deployed, called_versions: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The specs of a definition; a call left to run time uses the version the case resolved it to
        (`called_versions`), and without one has no spec (reaching it is an incident)."""
        unresolved = {k for k, v in (definition.dependencies or {}).items() if v is None}
        pins = {k: v for k, v in (called_versions or {}).items() if k in unresolved and v is not None}
        key: Any = (definition.id, tuple(sorted(pins.items()))) if pins else definition.id
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        deps: dict[str, bytes] = {}
        wanted = [(called, dep_id or pins.get(called)) for called, dep_id in (definition.dependencies or {}).items()]
        while wanted:
            called, dep_id = wanted.pop()
            if dep_id is None or called in deps:
                continue
            dep = session.get(ProcessDefinition, dep_id)
            if dep is None:
                raise NotFound(f"Anropad processversion {dep_id} saknas")
            deps[called] = dep.xml
            wanted.extend((c, d) for c, d in (dep.dependencies or {}).items() if d is not None)
        row = session.get(ProcessDefinition, definition.id)
        if row is None:
            raise NotFound(f"Processversion {definition.id} saknas")
        specs = parse_for_run(row.xml, definition.process_id, deps)
        with self._lock:
            self._items[key] = specs
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return specs


def _collaboration_only(doc: ParsedDocument) -> ParsedProcess:
    """A document with only a collaboration, as the documentation model it is stored as: named by the
    collaboration's id, with nothing to run."""
    assert doc.collaboration is not None
    collaboration_id, name = doc.collaboration
    return ParsedProcess(collaboration_id, name, False, {}, [], [], [])


def _json_safe(value: Any) -> Any:
    """A checked plain copy of JSON data for storing (case data, history, audit details): engine/domain/boundary.py
    decides. Data that does not pass is never stored: the command fails (422) and its unit of work rolls back."""
    try:
        return boundary.check_value(value, "data", normalise=True)
    except boundary.DataRefused as exc:
        raise ValidationFailed(
            f"Uppgifterna kan inte lagras: {exc.path}: {exc.reason}", {"fields": {exc.path: [exc.reason]}}
        ) from exc


def _check_data(data: Any, what: str = "data") -> dict[str, Any]:
    """Data entering the engine from a request, a form or a message: the one boundary (engine/domain/boundary.py),
    a 400 naming the field's JSON path when it is refused; personnummer normalised."""
    try:
        data = boundary.check_data(data, what, normalise=True)
    except boundary.DataRefused as exc:
        raise InvalidData(
            f"Ogiltiga uppgifter i {exc.path}: {exc.reason}", {"fields": {exc.path: [exc.reason]}}
        ) from exc
    if "personnummer" in data:
        try:
            data = {**data, "personnummer": personnummer.normalise(str(data["personnummer"]))}
        except ValueError as exc:
            raise ValidationFailed("Ogiltigt personnummer", {"fields": {"personnummer": [str(exc)]}}) from exc
    return data


def _row_snapshot(value: Any) -> Any:
    """A column value of an index row for a migration's snapshot (JSON): datetimes as ISO text."""
    return value.isoformat() if isinstance(value, datetime) else value


def stay_key(correlation: dict[str, Any]) -> str:
    """The key of one stay for the one-case-per-stay index: a digest of the message's correlation (personnummer and
    vardtillfalle_id), whatever their length."""
    canonical = json.dumps({k: str(v) for k, v in sorted(correlation.items())}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _comment(text: Any) -> str:
    """A comment on a task or a hand-over: 1-2000 characters, not only blanks."""
    note = text.strip() if isinstance(text, str) else ""
    if not note:
        raise ValidationFailed("Skriv en kommentar", {"fields": {"comment": ["Fyll i fältet."]}})
    if len(note) > MAX_REASON_CHARS:
        raise ValidationFailed(
            f"Kommentaren är för lång (högst {MAX_REASON_CHARS} tecken)",
            {"fields": {"comment": [f"Korta texten till högst {MAX_REASON_CHARS} tecken."]}},
        )
    return note


def _reason(reason: Any) -> str:
    """Every repair of an instance says why (audit_log and history keep it): 1-2000 characters, not only blanks."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed("Ange ett skäl", {"fields": {"reason": ["Skälet måste fyllas i"]}})
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(
            f"Skälet är för långt (högst {MAX_REASON_CHARS} tecken)", {"fields": {"reason": ["för långt"]}}
        )
    return text


def _restored_row(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A row's columns from a migration snapshot (JSON), with its datetimes parsed again."""
    from engine.persistence.models import UtcDateTime

    result: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.name not in values:
            continue
        value = values[column.name]
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        result[column.name] = value
    return result


class Runtime:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalog: Catalog,
        policy: Policy | None = None,
        flow_cache_size: int = 2000,
        access: AccessPolicy | None = None,
    ):
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.policy = policy or Policy(catalog)
        self.access = access or AccessPolicy(catalog)  # need to know, the one policy (engine/reads/policy.py)
        self.access_log = AccessLogWriter(db, clock)  # every change of a person's case is logged with it
        self.flows = FlowFactory(catalog.sandbox_functions(self._engine_now))
        self.specs = SpecCache()
        self.case_facts = CaseFactsKeeper(catalog)
        self.timer_listeners: list[Callable[[datetime], None]] = []
        self._definitions: dict[int, Deployed] = {}
        self._flows: OrderedDict[int, tuple[int, Flow, Projection]] = OrderedDict()
        self._flow_cache_size = max(0, flow_cache_size)
        self._cache_lock = threading.Lock()

    @contextmanager
    def _uow(self) -> Iterator[Session]:
        """The unit of work of one command. After it commits, the advanced workflows are kept in memory (keyed by
        the row version they were saved as) and listeners hear of the earliest new timer."""
        advanced: dict[int, tuple[ProcessInstance, Flow]] = {}
        projections: dict[int, Projection] = {}
        session: Session | None = None  # unbound if opening the unit of work fails (a lock time-out): that error
        try:  # is the one to see, not an UnboundLocalError from the handler below
            with self.db.unit_of_work() as session:
                yield session
                session.flush()
                earliest = session.info.pop("earliest_new_timer", None)
                advanced = session.info.pop("flows", {})
                for instance_id, (kept, added, task_ids, awaited, wanted) in session.info.pop(
                    "saved_projections", {}
                ).items():
                    timers = dict(kept)
                    for row in added:
                        timers[row.task_id] = TimerRow(row.id, row.task_id, row.element_id, row.due_at)
                    projections[instance_id] = Projection(timers, task_ids, awaited, wanted)
        except BaseException:
            if session is not None:
                with self._cache_lock:  # a rolled-back command may have changed a workflow in memory: forget it
                    for instance_id in session.info.pop("flows", {}):
                        self._flows.pop(instance_id, None)
            raise
        with self._cache_lock:
            for instance_id, (instance, flow) in advanced.items():
                if instance.status in ("completed", "cancelled") or instance_id not in projections:
                    self._flows.pop(instance_id, None)
                    continue
                self._flows[instance_id] = (instance.lock_version, flow, projections[instance_id])
                self._flows.move_to_end(instance_id)
            while len(self._flows) > self._flow_cache_size:
                self._flows.popitem(last=False)
        if earliest is not None:
            for listener in list(self.timer_listeners):
                listener(earliest)

    def forget_cached_flows(self) -> None:
        """Drop the in-memory workflows, so that the next command restores each from the database (tests use this
        to prove that every step survives a save and restore)."""
        with self._cache_lock:
            self._flows.clear()

    def warm_flows(self, instance_ids: Iterable[int], keep_going: Callable[[], bool] = lambda: True) -> int:
        """Read ahead: restore the workflows of these instances into the flow cache (the scheduler does this for
        instances whose timers fall due soon, while it has nothing due), so that the command at the due moment
        skips deserializing and reading the index projection. Stops when `keep_going()` turns false. Returns how
        many were restored. Safe against concurrent changes: an entry is keyed by the row version it was read at
        (state first, then the projection: a change in between bumps the version, and the entry is never used)."""
        warmed = 0
        for instance_id in instance_ids:
            if not self._flow_cache_size or not keep_going():
                break
            with self._cache_lock:
                if instance_id in self._flows:
                    continue
            with self.db.read() as session:
                row = session.execute(
                    select(
                        ProcessInstance.lock_version,
                        ProcessInstance.status,
                        ProcessInstance.definition_id,
                        ProcessInstance.state,
                    ).where(ProcessInstance.id == instance_id)
                ).one_or_none()
                if row is None or row.status in ("completed", "cancelled"):
                    continue
                definition = self._deployed(session, row.definition_id)
                if definition.unresolved:
                    continue  # its calls are resolved in the command itself
                spec, subprocess_specs = self.specs.get(session, definition)
                flow = self.flows.restore(row.state, spec, subprocess_specs)
                projection = self._load_projection(session, instance_id)
            with self._cache_lock:
                if instance_id not in self._flows:
                    self._flows[instance_id] = (row.lock_version, flow, projection)
                    warmed += 1
                while len(self._flows) > self._flow_cache_size:
                    self._flows.popitem(last=False)
        return warmed

    @property
    def flow_cache_size(self) -> int:
        return self._flow_cache_size

    def is_flow_cached(self, instance_id: int) -> bool:
        with self._cache_lock:
            return instance_id in self._flows

    def _cached_flow(self, instance: ProcessInstance) -> tuple[Flow, Projection] | None:
        """The workflow (and its index projection) as this process last saved it, if the row has not changed since
        (same lock_version). Taken out of the cache while a command uses it."""
        with self._cache_lock:
            hit = self._flows.pop(instance.id, None)
        if hit is None or hit[0] != instance.lock_version:
            return None
        return hit[1], hit[2]

    def _engine_now(self) -> datetime:
        from engine.bpmn.timers import engine_now

        return engine_now()

    # ------------------------------------------------------------------------------------------------ definitions
    def check(self, xml: bytes | str, process_id: str | None = None) -> ParsedDocument:
        """Parse and lint a diagram against what is deployed, without storing anything."""
        with self.db.read() as session:
            return self._parse(session, xml, process_id)

    def _parse(self, session: Session, xml: bytes | str, process_id: str | None) -> ParsedDocument:
        def resolve(called: str, version: int | None) -> bytes | None:
            definition = self._called_definition(session, called, version)
            return definition.xml if definition is not None else None

        doc = parse_document(
            xml, resolve=resolve, form_exists=self.catalog.has_form, process_id=process_id, now=self.clock.now()
        )
        # Deadline keys must exist in the agreements.
        if doc.main is not None:
            for info in doc.main.elements.values():
                due = info.properties.get("due")
                if due and self.catalog.agreements and not self.catalog.known_deadline(due):
                    doc.diagnostics.append(Diagnostic(info.id, "error", f"Tidsfristen {due!r} finns inte i avtalen"))
        doc.diagnostics.extend(catalog_findings(doc, self.catalog))
        return doc

    def check_diagram(self, xml: bytes | str, actor: Actor) -> CheckResult:
        """A dry run of deploy: the same checks and findings, nothing stored. A file that is not BPMN at all is a
        finding too (the answer to "what is wrong with it?"); only TooLarge is raised."""
        self.policy.require(self.policy.can_deploy(actor), "Bara processägare får kontrollera diagram")
        try:
            return CheckResult.of(self.check(xml))
        except DeployRejected as exc:
            return CheckResult(None, None, False, list(exc.diagnostics))

    def deploy(
        self,
        xml: bytes | str,
        actor: Actor,
        comment: str = "",
        filename: str | None = None,
        allow_documentation_only: bool = False,
    ) -> DeployResult:
        self.policy.require(self.policy.can_deploy(actor), "Bara processägare får driftsätta diagram")
        raw = xml.encode("utf-8") if isinstance(xml, str) else xml
        for attempt in range(2):
            try:
                with self._uow() as session:
                    return self._deploy(session, raw, actor, comment, filename, allow_documentation_only)
            except IntegrityError:
                if attempt == 1:
                    raise Conflict("En annan driftsättning av samma process pågick samtidigt; försök igen") from None
        raise AssertionError("unreachable")

    def deploy_set(
        self,
        files: list[tuple[str | None, bytes]],
        actor: Actor,
        comment: str = "",
        allow_documentation_only: bool = False,
    ) -> list[DeployResult]:
        """Deploy several files as one set, in one transaction, in any order given: a process the set defines is
        deployed before the processes in the set that call it, so their calls resolve within the set. A call to a
        process neither in the set nor deployed is a warning (resolved when a case reaches it). All or nothing: a
        file that cannot be deployed rejects the set (DeployRejected naming the file). Results in the given order."""
        self.policy.require(self.policy.can_deploy(actor), "Bara processägare får driftsätta diagram")
        order = deploy_order([raw for _, raw in files])
        for attempt in range(2):
            try:
                with self._uow() as session:
                    results: dict[int, DeployResult] = {}
                    for position in order:
                        filename, raw = files[position]
                        try:
                            results[position] = self._deploy(
                                session, raw, actor, comment, filename, allow_documentation_only
                            )
                        except DeployRejected as exc:
                            raise DeployRejected(
                                [
                                    Diagnostic(d.element_id, d.severity, f"{filename or position + 1}: {d.message}")
                                    for d in exc.diagnostics
                                ]
                            ) from exc
                        session.flush()
                    return [results[position] for position in range(len(files))]
            except IntegrityError:
                if attempt == 1:
                    raise Conflict("En annan driftsättning av samma process pågick samtidigt; försök igen") from None
        raise AssertionError("unreachable")

    def _deploy(
        self,
        session: Session,
        raw: bytes,
        actor: Actor,
        comment: str,
        filename: str | None,
        allow_documentation_only: bool,
    ) -> DeployResult:
        doc = self._parse(session, raw, None)
        if doc.main is None and not doc.processes and not (allow_documentation_only and doc.collaboration):
            raise DeployRejected(doc.diagnostics or [Diagnostic(None, "error", "Ingen process i filen")])
        if not doc.executable and not allow_documentation_only:
            raise DeployRejected(doc.diagnostics or [Diagnostic(None, "error", "Diagrammet kan inte köras")])
        main = doc.main or (doc.processes[0] if doc.processes else _collaboration_only(doc))
        existing = session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == main.process_id, ProcessDefinition.content_hash == doc.content_hash
            )
        )
        if existing is None:
            # The same diagram written differently (another tool's export of the newest version): not a new version.
            newest = self._newest(session, main.process_id, executable_only=False)
            if newest is not None and newest.executable == doc.executable:
                meaning = document_meaning(raw)
                existing = newest if meaning is not None and document_meaning(newest.xml) == meaning else None
        if existing is not None:
            return DeployResult(
                existing.id,
                existing.process_id,
                existing.version,
                existing.executable,
                False,
                [Diagnostic(**d) for d in existing.diagnostics],
            )
        version = (
            session.scalar(
                select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == main.process_id)
            )
            or 0
        ) + 1
        now = self.clock.now()
        elements: dict[str, Any] = {}
        dependencies: dict[str, int | None] = {}
        for called in doc.dependencies:
            dep = self._called_definition(session, called, pinned_version(main, called))
            assert dep is not None
            dependencies[called] = dep.id
            for key, info in (dep.elements or {}).items():
                elements.setdefault(key, info)
        for called in doc.unresolved:
            dependencies[called] = None  # resolved when a case reaches it (Runtime._called_versions)
        for process in doc.processes:
            for key, info in process.elements.items():
                elements[key] = {**info.as_dict(), "process": process.process_id}
        forms = {}
        for info in elements.values():
            form = (info.get("properties") or {}).get("form")
            if form and self.catalog.has_form(form):
                forms[form] = self.catalog.form(form)
        definition = ProcessDefinition(
            process_id=main.process_id,
            version=version,
            name=main.name,
            filename=filename,
            xml=raw,
            content_hash=doc.content_hash,
            executable=doc.executable,
            diagnostics=[d.as_dict() for d in doc.diagnostics],
            elements=elements,
            lanes=main.lanes,
            start_messages=main.start_messages,
            dependencies=dependencies,
            forms=forms,
            deployed_by=actor.username,
            deployed_at=now,
            comment=comment or "",
        )
        session.add(definition)
        session.flush()
        if doc.executable:
            pilots.default_for_first_version(session, definition, actor.username, now)
        session.add(
            AuditEntry(
                at=now,
                actor=actor.username,
                action="deploy",
                target_type="definition",
                target_id=f"{main.process_id}:{version}",
                details={"comment": comment, "executable": doc.executable, "filename": filename},
            )
        )
        return DeployResult(
            definition.id, definition.process_id, version, definition.executable, True, list(doc.diagnostics)
        )

    def _called_definition(self, session: Session, process_id: str, version: int | None) -> ProcessDefinition | None:
        """What a call activity calls: the version it pins, else the newest executable version."""
        if version is None:
            return self._newest(session, process_id, executable_only=True)
        return session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == process_id,
                ProcessDefinition.version == version,
                ProcessDefinition.executable.is_(True),
            )
        )

    def _called_versions(
        self, session: Session, instance: ProcessInstance, definition: Deployed
    ) -> dict[str, Any] | None:
        """The definitions a case's calls left to run time resolve to: kept on the case once found (so it keeps
        that version), looked up (pinned version, else the process's default version now) while not found yet."""
        if not definition.unresolved:
            return None
        pins = dict(instance.called_versions or {})
        changed = False
        for called in definition.unresolved:
            if pins.get(called) is None:
                # Unpinned, a call resolved at run time takes the version new cases of that process start on now
                # (a deploy never changes it, issue 15), not whatever was deployed last.
                version = pinned_version(definition.elements, called) or pilots.default_version_now(session, called)
                found = self._called_definition(session, called, version) if version is not None else None
                if found is not None:
                    pins[called] = found.id
                    changed = True
        if changed:
            instance.called_versions = pins
        return pins

    def _newest(self, session: Session, process_id: str, executable_only: bool) -> ProcessDefinition | None:
        query = select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        if executable_only:
            query = query.where(ProcessDefinition.executable.is_(True))
        return session.scalar(query.order_by(ProcessDefinition.version.desc()).limit(1))

    def _deployed(self, session: Session, definition_id: int) -> Deployed:
        with self._cache_lock:
            hit = self._definitions.get(definition_id)
        if hit is not None:
            return hit
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise NotFound(f"Processversion {definition_id} saknas")
        deployed = Deployed.of(row)
        with self._cache_lock:
            self._definitions[definition_id] = deployed
        return deployed

    def _definition_for_start(
        self, session: Session, process_id: str, version: int | None, data: dict[str, Any] | None = None
    ) -> tuple[Deployed, pilots.Route]:
        """The version a new case starts on and why (engine/features/pilots.py): the version asked for; else a running
        pilot
        that takes the case's units (as `data` says), a per-unit or process-wide default, or the newest."""
        route: pilots.Route | None = None
        if version is None:
            route = pilots.route(session, process_id, self._case_units(data or {}), pilots.stockholm_today(self.clock))
            definition = (
                session.get(ProcessDefinition, route.definition_id)
                if route is not None
                else self._newest(session, process_id, executable_only=True)
            )
        else:
            definition = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
                )
            )
        if definition is None:
            raise NotFound(f"Processen {process_id!r}" + (f" version {version}" if version else "") + " finns inte")
        if not definition.executable:
            raise Conflict(f"{process_id} version {definition.version} är bara dokumentation och kan inte startas")
        if route is None:
            route = (
                pilots.Route(definition.id, "explicit", None, f"uttryckligen begärd version {definition.version}")
                if version is not None
                else pilots.Route(definition.id, "default", None, "standardversion")
            )
        return self._deployed(session, definition.id), route

    @staticmethod
    def _case_units(data: dict[str, Any]) -> dict[str, str | None]:
        """The case's units (process_instances' unit columns) as its data names them."""
        return {
            column: str(data[key])[:100] if data.get(key) not in (None, "") else None
            for column, key in CASE_UNIT_KEYS.items()
        }

    # ------------------------------------------------------------------------------------------------ instances
    def start_instance(
        self,
        process_id: str,
        business_key: str,
        data: dict[str, Any] | None,
        actor: Actor,
        version: int | None = None,
        parent_id: int | None = None,
    ) -> int:
        """Start a case. `parent_id`: the case this one is started for (e.g. a pilot's Värdekompass questionnaire
        for a discharged case, engine/features/pilot_comparison.py), recorded as its parent."""
        self.policy.require(self.policy.can_start(actor), "Du får inte starta processer")
        data = _check_data(data)
        if not isinstance(business_key, str) or not business_key.strip() or len(business_key) > 200:
            raise ValidationFailed("business_key måste vara 1-200 tecken", {"fields": {"business_key": ["krävs"]}})
        with self._uow() as session:
            definition, route = self._definition_for_start(session, process_id, version, data)
            if parent_id is not None and session.get(ProcessInstance, parent_id) is None:
                raise NotFound(f"Instansen {parent_id} finns inte")
            instance_id = self._start(
                session, definition, business_key.strip(), data, actor, None, parent_id=parent_id, route=route
            )
            self.access_log.record_in(session, actor, "starta", [(data.get("personnummer"), instance_id)], process_id)
            return instance_id

    def _start(
        self,
        session: Session,
        definition: Deployed,
        business_key: str,
        data: dict[str, Any],
        actor: Actor,
        start_message: str | None,
        parent_id: int | None = None,
        route: pilots.Route | None = None,
        stay_key: str | None = None,
    ) -> int:
        now = self.clock.now()
        route = route or pilots.Route(definition.id, "default", None, "standardversion")
        data = self._known_readmission(session, definition.process_id, data, actor, now)
        instance = ProcessInstance(
            definition_id=definition.id,
            process_id=definition.process_id,
            version=definition.version,
            business_key=business_key,
            status="running",
            started_at=now,
            updated_at=now,
            started_by=actor.username,
            data=_json_safe(data),
            state="",
            serializer_version=SERIALIZER_VERSION,
            parent_instance_id=parent_id,
            routing=route.routing,
            pilot_id=route.pilot_id,
            route_reason=route.reason[:300],
            stay_key=stay_key,
        )
        session.add(instance)
        session.flush()  # a second going case of the same stay fails here, on uq_process_instances_active_stay
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="started",
                actor=actor.username,
                data={
                    "data": _json_safe(data),
                    "message": start_message,
                    "version": definition.version,
                    "routing": route.routing,
                    "pilot_id": route.pilot_id,
                    "reason": route.reason,
                },
            )
        )
        spec, subprocess_specs = self.specs.get(
            session, definition, self._called_versions(session, instance, definition)
        )
        flow = self.flows.new(spec, subprocess_specs, data)
        # A new instance has no index rows yet: nothing to read back before the first save.
        session.info.setdefault("projections", {})[instance.id] = Projection({}, frozenset(), frozenset(), frozenset())

        def begin(flow: Flow, log: StepLog) -> None:
            flow.run(self.clock, log)
            waiting = [m for m in definition.start_messages if m in flow.awaited_messages()]
            wanted = start_message if start_message in waiting else (waiting[0] if waiting else None)
            if wanted and not flow.ready_human_tasks():
                flow.deliver_message(wanted, data, self.clock, log)

        self._advance(session, instance, definition, actor, begin, flow=flow)
        return instance.id

    def _known_readmission(
        self, session: Session, process_id: str, data: dict[str, Any], actor: Actor, now: datetime
    ) -> dict[str, Any]:
        """An admission of a person Samflöde discharged within the figure's window (30 days) before it is a
        readmission the platform knows: the case data says so from the start (aterinlaggning_kand, the earlier
        discharge and case, shown beside the ward's admission form), and the figures count it whatever the ward
        ticks. The ward's answer stays for what the platform cannot know (a discharge outside Samflöde; planned)."""
        keeper = self.case_facts
        pnr = data.get("personnummer")
        if not keeper.applies_to(process_id) or keeper.milestones is None or not isinstance(pnr, str):
            return data
        admitted_at = parse_moment(data.get("inskrivningstid")) or now
        found = previous_discharge(
            session,
            self.access,
            self.access_log,
            actor,
            pnr,
            admitted_at,
            timedelta(days=keeper.milestones.readmission_days),
            now,
        )
        if found is None:  # the ward's answer (optional on its form) is no until it says otherwise
            return {"aterinlaggning_inom_30_dagar": False, **data, "aterinlaggning_kand": False}
        known = {
            "aterinlaggning_kand": True,
            "aterinlaggning_inom_30_dagar": True,
            "tidigare_utskrivning": found.discharged_at.isoformat(),
            "tidigare_arende_id": found.instance_id,
        }
        if found.vardtillfalle_id and not data.get("tidigare_vardtillfalle_id"):
            known["tidigare_vardtillfalle_id"] = found.vardtillfalle_id
        return {**data, **known}

    def _require_task(self, session: Session, actor: Actor, task: TaskIndex) -> None:
        """The actor may act on the task (need to know, engine/reads/policy.py); refused as 404 like a task that
        does not exist, so that nothing about another unit's task leaks."""
        if actor.internal:  # the policy lets the platform's own actors act on every task: no query (issue 16)
            return
        if not self.access.may_act_on_task(session, actor, task.id):
            raise NotFound("Uppgiften finns inte eller hör inte till din roll och enhet")

    def _task_data(self, definition: Deployed, task: TaskIndex, data: dict[str, Any]) -> None:
        """A task's data is what its own form asks for (convention 14): a field the form does not have is refused,
        and routing data (the person, the stay, the units, the agreement) only where the diagram names the task
        as the step that decides it (element property `routing`)."""
        props = definition.elements.get(task.element_id, {}).get("properties") or {}
        allowed_routing = {k.strip() for k in str(props.get("routing") or "").split(",") if k.strip()}
        problems: dict[str, list[str]] = {}
        form = props.get("form")
        schema = ((definition.forms or {}).get(form) or self.catalog.form(form)) if form else None
        if schema is not None:
            known = set((schema.get("properties") or {}).keys())
            for key in sorted(set(data) - known):
                problems[key] = ["Fältet finns inte i uppgiftens formulär"]
        for key in routing_keys_in(data):
            if key not in allowed_routing:
                problems.setdefault(key, []).append(
                    "Personen, vårdtillfället, enheterna och avtalet ändras bara genom journalens meddelanden "
                    "eller av en samordnare"
                )
        if problems:
            raise ValidationFailed("Uppgifterna stämmer inte med formuläret", {"fields": problems})
        if schema is not None:
            validate_form_data(schema, data)

    def complete_task(self, task_id: str, data: dict[str, Any] | None, actor: Actor) -> int:
        data = _check_data(data)
        with self._uow() as session:
            task, instance, definition = self._task_for_action(session, task_id)
            self._require_task(session, actor, task)
            if task.claimed_by and task.claimed_by != actor.username:
                raise Conflict(f"Uppgiften är tagen av {task.claimed_by}", {"claimed_by": task.claimed_by})
            self._task_data(definition, task, data)
            submitted = _json_safe(data)
            before_units = {key: (instance.data or {}).get(key) for key in ROUTING_KEYS}

            def complete(flow: Flow, log: StepLog) -> None:
                if not flow.is_ready_human_task(task_id):
                    raise Conflict("Uppgiften är redan utförd")
                # When the task was created and first taken, on the completion row itself: the heat map reads one
                # row per task instead of pairing three (engine/reads/monitoring.py).
                # (a subquery evaluated by the INSERT itself: one statement less per completion; issue 16)
                first_taken = (
                    select(func.min(HistoryEntry.at))
                    .where(HistoryEntry.task_id == task_id, HistoryEntry.kind.in_(("claimed", "reassigned")))
                    .scalar_subquery()
                )
                session.add(
                    HistoryEntry(
                        instance_id=instance.id,
                        at=self.clock.now(),
                        kind="task_completed",
                        element_id=task.element_id,
                        task_id=task_id,
                        actor=actor.username,
                        data={"submitted": submitted, "name": task.name, "lane": task.lane},
                        task_created_at=task.created_at,
                        task_claimed_at=first_taken,
                    )
                )
                flow.complete(task_id, data, self.clock, log)

            self._advance(session, instance, definition, actor, complete)
            changed = {k: v for k, v in before_units.items() if (instance.data or {}).get(k) != v}
            if changed:
                self._audit(
                    session,
                    actor,
                    "routing_changed_by_task",
                    instance,
                    {"task_id": task_id, "element_id": task.element_id, "was": changed},
                )
            self.access_log.record_in(session, actor, "slutfor", [self._person(instance)], task.name)
            return instance.id

    @staticmethod
    def _person(instance: ProcessInstance) -> tuple[str | None, int]:
        """(personnummer, instance id): what an access-log row of a change to this case names."""
        value = (instance.data or {}).get("personnummer")
        return (str(value) if value else None), instance.id

    def _task_for_action(self, session: Session, task_id: str) -> tuple[TaskIndex, ProcessInstance, Deployed]:
        # Lock the task's instance first (by subquery), then read the task under that lock: a concurrent completion
        # may have removed it meanwhile.
        owner = select(TaskIndex.instance_id).where(TaskIndex.id == task_id).scalar_subquery()
        instance = session.execute(
            select(ProcessInstance)
            .where(ProcessInstance.id == owner)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if instance is None:
            self._raise_gone(session, task_id)
        task = session.execute(
            select(TaskIndex).where(TaskIndex.id == task_id).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if task is None or task.instance_id != instance.id:
            self._raise_gone(session, task_id)
        return task, instance, self._deployed(session, instance.definition_id)

    @staticmethod
    def _raise_gone(session: Session, task_id: str) -> NoReturn:
        """A task that is not (or no longer) in the index: 409 with who did it if it was done, else 404."""
        done = session.scalar(
            select(HistoryEntry)
            .where(HistoryEntry.task_id == task_id, HistoryEntry.kind == "task_completed")
            .order_by(HistoryEntry.id.desc())
            .limit(1)
        )
        if done is not None:
            raise Conflict(
                f"Uppgiften är redan utförd av {done.actor}",
                {"completed_by": done.actor, "completed_at": done.at.isoformat()},
            )
        raise NotFound("Uppgiften finns inte")

    def _lock(self, session: Session, instance_id: int) -> ProcessInstance:
        instance = session.execute(
            select(ProcessInstance)
            .where(ProcessInstance.id == instance_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if instance is None:
            raise NotFound(f"Instansen {instance_id} finns inte")
        return instance

    def claim_task(self, task_id: str, actor: Actor, assignee: str | None = None, comment: str | None = None) -> None:
        """Claim for oneself, or hand over to a named colleague who may act on the task too (same role and unit),
        with an optional comment that the case's timeline keeps. A coordinator gives a task to someone with
        `reassign_task` (with a reason)."""
        note = _comment(comment) if comment and comment.strip() else None
        with self._uow() as session:
            task, instance, _ = self._task_for_action(session, task_id)
            self._require_task(session, actor, task)
            target = assignee or actor.username
            if target != actor.username:
                user = session.scalar(select(User).where(User.username == target, User.active.is_(True)))
                if user is None or not self.access.assignable(Directory._actor(user, session), task) or not task.unit:
                    raise Forbidden("Välj en kollega med rätt roll i samma enhet")
            if task.claimed_by and task.claimed_by != actor.username:
                raise Conflict(f"Uppgiften är redan tagen av {task.claimed_by}", {"claimed_by": task.claimed_by})
            now = self.clock.now()
            task.claimed_by, task.claimed_at = target, now
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="claimed",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"assignee": target, **({"comment": note} if note else {})},
                )
            )
            action = "ta" if target == actor.username else "lamna_over"
            self.access_log.record_in(session, actor, action, [self._person(instance)], task.name)

    def comment_task(self, task_id: str, actor: Actor, text: str) -> None:
        """A comment on an open task, by someone who may act on it: kept in the case's timeline (history kind
        `comment`) and logged as `kommentar`. Nothing else about the task changes."""
        note = _comment(text)
        with self._uow() as session:
            task, instance, _ = self._task_for_action(session, task_id)
            self._require_task(session, actor, task)
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=self.clock.now(),
                    kind="comment",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"name": task.name, "comment": note},
                )
            )
            self.access_log.record_in(session, actor, "kommentar", [self._person(instance)], task.name)

    def unclaim_task(self, task_id: str, actor: Actor) -> None:
        """Give a task back: the one who has it, or a coordinator of the case's organisation."""
        with self._uow() as session:
            task, instance, _ = self._task_for_action(session, task_id)
            repairing = task.claimed_by != actor.username and self.access.may_repair_instance(
                session, actor, instance.id
            )
            if not repairing:
                self._require_task(session, actor, task)
            if task.claimed_by is None:
                return
            if task.claimed_by != actor.username and not repairing:
                raise Conflict(f"Uppgiften är tagen av {task.claimed_by}", {"claimed_by": task.claimed_by})
            now = self.clock.now()
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="unclaimed",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"was": task.claimed_by},
                )
            )
            task.claimed_by, task.claimed_at = None, None
            self.access_log.record_in(session, actor, "slapp", [self._person(instance)], task.name)

    def cancel_instance(self, instance_id: int, actor: Actor, reason: str) -> None:
        self.policy.require(self.policy.can_cancel_instance(actor), "Bara samordnare får avbryta instanser")
        reason = _reason(reason)
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            self._require_repair(session, actor, instance, "avbröt ärendet")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(f"Instansen är redan {instance.status}")
            definition = self._deployed(session, instance.definition_id)

            def cancel(flow: Flow, log: StepLog) -> None:
                flow.cancel()

            self._advance(session, instance, definition, actor, cancel, cancelled_reason=reason)

    def retry_instance(
        self, instance_id: int, actor: Actor, data: dict[str, Any] | None = None, reason: str = ""
    ) -> None:
        """After an incident: the failed element runs again with the corrected data, and the coordinator says why."""
        self.policy.require(self.policy.can_retry_incident(actor), "Bara samordnare får försöka igen")
        data = _check_data(data)
        reason = _reason(reason)
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            self._require_repair(session, actor, instance, "försökte igen efter en incident")
            if instance.status != "incident":
                raise Conflict("Instansen har ingen öppen incident")
            definition = self._deployed(session, instance.definition_id)
            now = self.clock.now()
            # Timers that failed (Runtime.timer_failed) get a fresh start: a due one fires in this very run.
            session.execute(
                update(Timer)
                .where(Timer.instance_id == instance.id, Timer.attempts > 0)
                .values(attempts=0, next_attempt_at=None, last_error=None)
            )
            retried = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="retried",
                actor=actor.username,
                data={"data": _json_safe(data), "reason": reason, "incidents": []},
            )
            session.add(retried)
            self._audit(session, actor, "retry_incident", instance, {"reason": reason, "data": _json_safe(data)})

            def retry(flow: Flow, log: StepLog) -> None:
                flow.retry(data, self.clock, log)

            failed = session.info.setdefault("failed_elements", {}).setdefault(instance.id, set())
            failed.clear()
            self._advance(session, instance, definition, actor, retry)
            # Only what did not fail again is resolved: a retry that fails again keeps its incident open.
            resolved = self._resolve_incidents(session, instance, actor, now, keep=frozenset(failed))
            retried.data = {**retried.data, "incidents": resolved, "failed_again": sorted(e or "" for e in failed)}

    def _resolve_incidents(
        self,
        session: Session,
        instance: ProcessInstance,
        actor: Actor,
        now: datetime,
        element_id: str | None = None,
        keep: frozenset[str | None] = frozenset(),
    ) -> list[int]:
        query = select(Incident).where(Incident.instance_id == instance.id, Incident.resolved_at.is_(None))
        if element_id is not None:
            query = query.where(Incident.element_id == element_id)
        ids = []
        for incident in session.scalars(query):
            if incident.element_id in keep:
                continue
            incident.resolved_at, incident.resolved_by = now, actor.username
            ids.append(incident.id)
        return ids

    def _require_repair(self, session: Session, actor: Actor, instance: ProcessInstance, what: str) -> None:
        """A repair is a coordinator's, on a case of their own organisation (engine/reads/policy.py); another
        organisation's case answers as one that does not exist. The repair is in the access log with what it did."""
        if not self.access.may_repair_instance(session, actor, instance.id):
            raise NotFound(f"Instansen {instance.id} finns inte")
        self.access_log.record_in(session, actor, "instans_atgard", [self._person(instance)], what)

    def _audit(
        self, session: Session, actor: Actor, action: str, instance: ProcessInstance, details: dict[str, Any]
    ) -> None:
        session.add(
            AuditEntry(
                at=self.clock.now(),
                actor=actor.username,
                action=action,
                target_type="instance",
                target_id=str(instance.id),
                details=_json_safe(details),
            )
        )

    def move_token(self, instance_id: int, from_element: str, to_element: str, actor: Actor, reason: str) -> TokenMove:
        """Repair: take the token at `from_element` and make `to_element` active instead (Flow.move_token says what
        is safe). An instance in incident moves only from the element of its incident, which the move resolves."""
        self.policy.require(self.policy.can_move_token(actor), "Bara samordnare får flytta en token")
        reason = _reason(reason)
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            self._require_repair(session, actor, instance, "flyttade en token")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(f"Instansen är {instance.status}")
            definition = self._deployed(session, instance.definition_id)
            names = definition.elements or {}
            for key, element in (("from_element", from_element), ("to_element", to_element)):
                if element not in names:
                    raise ValidationFailed(
                        f"Elementet {element!r} finns inte i {definition.process_id} version {definition.version}",
                        {"fields": {key: ["finns inte i diagrammet"]}},
                    )
            now = self.clock.now()
            open_incidents = list(
                session.scalars(
                    select(Incident.element_id).where(
                        Incident.instance_id == instance.id, Incident.resolved_at.is_(None)
                    )
                )
            )
            if instance.status == "incident" and from_element not in open_incidents:
                raise Conflict(
                    "Instansen har en öppen incident i "
                    + ", ".join(
                        sorted({f"«{(names.get(e or '') or {}).get('name') or e or '?'}»" for e in open_incidents})
                    )
                    + ": flytta token därifrån eller försök igen först"
                )
            moved: list[TokenMove] = []

            def move(flow: Flow, log: StepLog) -> None:
                try:
                    moved.append(flow.move_token(from_element, to_element, self.clock, log))
                except MoveRefused as exc:
                    raise Conflict(str(exc)) from exc
                flow.run(self.clock, log)  # an incident here is the moved case's, saved with the move

            # The history row first, so the timeline shows the move before what the engine then did.
            entry = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="token_moved",
                element_id=to_element,
                actor=actor.username,
                data={"from": from_element, "to": to_element, "reason": reason},
            )
            session.add(entry)
            resolved = self._resolve_incidents(session, instance, actor, now, from_element)
            self._advance(session, instance, definition, actor, move)
            entry.data = {**entry.data, "direction": moved[0].direction, "skipped": list(moved[0].skipped)}
            if resolved:
                entry.data = {**entry.data, "incidents": resolved}
            self._audit(
                session,
                actor,
                "move_token",
                instance,
                {"from": from_element, "to": to_element, "reason": reason, "direction": moved[0].direction},
            )
            return moved[0]

    def fire_timer_now(self, instance_id: int, timer_id: int, actor: Actor, reason: str) -> None:
        """A waiting timer fires now (a stuck timer, or a wait that no longer makes sense), with a reason."""
        self.policy.require(self.policy.can_fire_timer_now(actor), "Bara samordnare får utlösa en timer")
        reason = _reason(reason)
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            self._require_repair(session, actor, instance, "utlöste en timer i förtid")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(f"Instansen är {instance.status}")
            if instance.status == "incident":
                raise Conflict("Instansen har en öppen incident: försök igen eller flytta token först")
            timer = session.execute(
                select(Timer)
                .where(Timer.id == timer_id, Timer.instance_id == instance.id)
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if timer is None:
                raise NotFound("Timern finns inte (redan utlöst eller avbruten?)")
            definition = self._deployed(session, instance.definition_id)
            now = self.clock.now()
            task_id, element_id, due_at = timer.task_id, timer.element_id, timer.due_at
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="timer_fired_manually",
                    element_id=element_id,
                    task_id=task_id,
                    actor=actor.username,
                    data={"due_at": due_at.isoformat(), "reason": reason},
                )
            )
            self._audit(
                session,
                actor,
                "fire_timer_now",
                instance,
                {"timer": timer_id, "element_id": element_id, "due_at": due_at.isoformat(), "reason": reason},
            )

            def fire(flow: Flow, log: StepLog) -> None:
                try:
                    flow.fire_timer_now(task_id, now, self.clock, log)
                except MoveRefused as exc:
                    raise Conflict(str(exc)) from exc

            self._advance(session, instance, definition, actor, fire)

    def reassign_task(self, task_id: str, assignee: str, actor: Actor, reason: str) -> None:
        """A coordinator gives a task to a named user (who must be able to take it: role and unit), with a reason."""
        self.policy.require(self.policy.can_reassign_task(actor), "Bara samordnare får fördela om uppgifter")
        reason = _reason(reason)
        assignee = (assignee or "").strip()
        if not assignee:
            raise ValidationFailed("Välj vem som ska få uppgiften", {"fields": {"assignee": ["krävs"]}})
        with self._uow() as session:
            task, instance, _ = self._task_for_action(session, task_id)
            self._require_repair(session, actor, instance, "fördelade om en uppgift")
            user = session.scalar(select(User).where(User.username == assignee, User.active.is_(True)))
            if user is None:
                raise ValidationFailed(f"Användaren {assignee!r} finns inte", {"fields": {"assignee": ["finns inte"]}})
            target = Directory._actor(user, session)
            if not self.access.assignable(target, task):
                raise ValidationFailed(
                    f"{user.name or assignee} har inte uppgiftens roll och enhet",
                    {"fields": {"assignee": ["kan inte ta uppgiften"]}},
                )
            now = self.clock.now()
            previous = task.claimed_by
            task.claimed_by, task.claimed_at = assignee, now
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="reassigned",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"assignee": assignee, "was": previous, "reason": reason},
                )
            )
            self._audit(
                session,
                actor,
                "reassign_task",
                instance,
                {
                    "task_id": task.id,
                    "element_id": task.element_id,
                    "assignee": assignee,
                    "was": previous,
                    "reason": reason,
                },
            )

    def change_routing(self, instance_id: int, changes: dict[str, Any], actor: Actor, reason: str) -> None:
        """A coordinator corrects a case's routing data (kommun, vårdcentral, ward, agreement, the person's name)
        with a reason: the case data, the case's unit columns, its open tasks' units and what the workflow reads from
        now on change together; history, audit log and access log keep who, what, was and why. The personnummer and
        the stay identify the case for the journal's messages and change only by the journal."""
        self.policy.require(self.policy.can_manage_instances(actor), "Bara samordnare får ändra ärendets enheter")
        reason = _reason(reason)
        allowed = {*CASE_UNIT_KEYS.values(), "avtal", "namn"}
        problems: dict[str, list[str]] = {}
        clean: dict[str, Any] = {}
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("Ange vad som ska ändras", {"fields": {"changes": ["krävs"]}})
        for key, value in changes.items():
            if key not in allowed:
                problems[str(key)] = [
                    "Kan inte ändras här"
                    if key in ROUTING_KEYS
                    else "Bara kommun, vårdcentral, avdelning, avtal och namn ändras här"
                ]
                continue
            text = value.strip() if isinstance(value, str) else ""
            if not text or len(text) > 100:
                problems[key] = ["Ange 1-100 tecken"]
            elif key.endswith("_hsa_id") and not personnummer.is_hsa_id(text):
                problems[key] = ["HSA-id har formen SE + 10 siffror + - + bokstäver/siffror"]
            elif key == "avtal" and text not in self.catalog.agreements:
                problems[key] = ["Avtalet finns inte i agreements.json"]
            else:
                clean[key] = text
        if problems:
            raise ValidationFailed("Ärendets uppgifter kunde inte ändras", {"fields": problems})
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            self._require_repair(session, actor, instance, "ändrade ärendets enheter")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(f"Instansen är {instance.status}")
            definition = self._deployed(session, instance.definition_id)
            was = {k: (instance.data or {}).get(k) for k in clean}
            if all(was[k] == v for k, v in clean.items()):
                raise Conflict("Ärendet har redan de uppgifterna")
            now = self.clock.now()
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="routing_changed",
                    actor=actor.username,
                    data={"data": clean, "was": was, "reason": reason},
                )
            )
            self._audit(session, actor, "change_routing", instance, {"changes": clean, "was": was, "reason": reason})

            def correct(flow: Flow, log: StepLog) -> None:
                flow.set_data(clean)

            self._advance(session, instance, definition, actor, correct)
            instance.data = {**(instance.data or {}), **clean}
            for column, key in CASE_UNIT_KEYS.items():
                if key in clean:
                    setattr(instance, column, clean[key])
            for task in session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id)):
                task.unit = self.catalog.unit_for_lane(task.lane, instance.data)
            session.flush()
            self.case_facts.refresh(session, instance, now)

    # ------------------------------------------------------------------------------------------------ migration
    def migrate_instance(
        self, instance_id: int, target_definition_id: int, mapping: dict[str, str], actor: Actor, run_id: int
    ) -> int:
        """Move one running instance onto another version of its process (engine/features/migration.py runs the batch).
        One unit of work: lock, check the plan, keep the state before, move the workflow and re-arm its timers
        (engine/bpmn/migration.py), save through `_advance`/`_save`, record the result. Raises (nothing changed)
        when the instance cannot be migrated; returns the id of its MigrationResult."""
        from engine.bpmn import migration as bpmn_migration
        from engine.features.migration import provided_by_form
        from engine.persistence.models import MigrationResult

        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får migrera ärenden")
        with self._uow() as session:
            instance = self._lock(session, instance_id)
            if instance.status not in ("running", "waiting", "incident"):
                raise Conflict(f"Instansen är {instance.status}")
            source = self._deployed(session, instance.definition_id)
            target = self._deployed(session, target_definition_id)
            if target.process_id != source.process_id:
                raise Conflict(f"Version {target.version} hör till {target.process_id}, inte {source.process_id}")
            if target.id == source.id:
                raise Conflict(f"Instansen kör redan version {target.version}")
            if not target.executable:
                raise Conflict(f"Version {target.version} kan inte köras")
            self._cached_flow(instance)  # forget any cached workflow: it is restored from the stored state below
            spec, subs = self.specs.get(session, source, instance.called_versions)
            flow = self.flows.restore(instance.state, spec, subs)
            target_spec, target_subs = self.specs.get(session, target, instance.called_versions)
            plan = bpmn_migration.plan(
                flow, target_spec, target_subs, mapping, instance.data or {}, provided_by_form(target)
            )
            if plan.outcome != "ready":
                reasons = list(plan.problems)
                reasons += [f"{i.element_id}: {i.reason}" for i in plan.items if i.status != "same_id" and i.reason]
                reasons += [f"{m.element_id} läser {m.name}, som ärendet saknar" for m in plan.missing_data]
                raise Conflict("Kan inte migreras: " + "; ".join(reasons), {"outcome": plan.outcome})
            tasks = list(session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id)))
            timers = list(session.scalars(select(Timer).where(Timer.instance_id == instance.id)))
            before: dict[str, Any] = {
                "definition_id": source.id,
                "version": source.version,
                "status": instance.status,
                "data": _json_safe(instance.data or {}),
                "serializer_version": instance.serializer_version,
                "tasks": [
                    {c.name: _row_snapshot(getattr(t, c.name)) for c in TaskIndex.__table__.columns} for t in tasks
                ],
                "timers": [
                    {c.name: _row_snapshot(getattr(t, c.name)) for c in Timer.__table__.columns} for t in timers
                ],
            }
            state_before = instance.state
            armed_at = {t.task_id: t.created_at for t in timers}
            # The timers are written again from the target's definitions (re-armed) by _save.
            session.execute(delete(Timer).where(Timer.instance_id == instance.id))
            instance.definition_id, instance.version = target.id, target.version
            rearmed: list[Any] = []

            def move(flow: Flow, log: StepLog) -> None:
                try:
                    rearmed.extend(
                        bpmn_migration.migrate(flow, target_spec, target_subs, mapping, self.clock, log, armed_at)
                    )
                except EngineIncident as exc:
                    raise Conflict(f"Kan inte migreras: {exc.message}") from exc

            self._advance(session, instance, target, actor, move, flow=flow)
            if instance.status == "incident":
                raise Conflict("Kan inte migreras: målversionen ger en incident direkt")
            # Tasks keep their ids (and claims) through the move; a task now on another element takes that
            # element's name, lane, role, form and unit.
            elements = target.elements or {}
            for task in flow.ready_human_tasks():
                row = session.get(TaskIndex, task.id)
                if row is None:
                    continue
                info = elements.get(task.element_id, {})
                props = info.get("properties") or {}
                lane = info.get("lane") or task.lane
                row.element_id, row.name, row.lane = task.element_id, task.name, lane
                row.role, row.form = props.get("role"), props.get("form")
                row.unit = self.catalog.unit_for_lane(lane, instance.data or {})
            now = self.clock.now()
            entry = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="migrated",
                actor=actor.username,
                data={
                    "run_id": run_id,
                    "from_version": source.version,
                    "to_version": target.version,
                    "mapping": {k: v for k, v in mapping.items()},
                },
            )
            session.add(entry)
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="migrate_instance",
                    target_type="instance",
                    target_id=str(instance.id),
                    details={"run_id": run_id, "from_version": source.version, "to_version": target.version},
                )
            )
            session.flush()
            before["rearmed"] = [{"element_id": r.element_id, "due_at": r.due_at.isoformat()} for r in rearmed]
            result = MigrationResult(
                run_id=run_id,
                instance_id=instance.id,
                from_definition_id=source.id,
                from_version=source.version,
                outcome="migrated",
                reason="",
                before=before,
                state_before=state_before,
                lock_version_after=instance.lock_version,
                history_id_after=entry.id,
                at=now,
            )
            session.add(result)
            session.flush()
            self.access_log.record_in(
                session, actor, "migrering", [self._person(instance)], f"version {source.version} -> {target.version}"
            )
            return result.id

    def revert_migration(self, result_id: int, actor: Actor) -> None:
        """Put a migrated instance back as it was before (state, definition, data, task index with claims, timers)
        while nothing has happened in it since: same lock_version and no history after the migration's."""
        from engine.persistence.models import MigrationResult

        self.policy.require(self.policy.can_manage_pilots(actor), "Bara implementeringsteamet får återställa")
        with self._uow() as session:
            result = session.get(MigrationResult, result_id)
            if result is None:
                raise NotFound(f"Migreringsresultatet {result_id} finns inte")
            if result.outcome != "migrated" or not result.state_before:
                raise Conflict("Instansen migrerades inte i den här körningen (eller är redan återställd)")
            instance = self._lock(session, result.instance_id)
            later = session.scalar(
                select(func.count())
                .select_from(HistoryEntry)
                .where(HistoryEntry.instance_id == instance.id, HistoryEntry.id > (result.history_id_after or 0))
            )
            if instance.lock_version != result.lock_version_after or later:
                raise Conflict("Något har hänt i ärendet sedan migreringen; det kan inte återställas")
            before = dict(result.before or {})
            source = self._deployed(session, int(before["definition_id"]))
            self._cached_flow(instance)
            session.execute(delete(TaskIndex).where(TaskIndex.instance_id == instance.id))
            session.execute(delete(Timer).where(Timer.instance_id == instance.id))
            for values in before.get("tasks", []):
                session.add(TaskIndex(**_restored_row(TaskIndex, values)))
            for values in before.get("timers", []):
                session.add(Timer(**_restored_row(Timer, values)))
            session.flush()
            instance.definition_id, instance.version = source.id, source.version
            instance.data = before.get("data") or {}
            spec, subs = self.specs.get(session, source, instance.called_versions)
            flow = self.flows.restore(result.state_before, spec, subs)

            def keep(flow: Flow, log: StepLog) -> None:
                """Nothing runs: the restored workflow is saved as it was."""

            self._advance(session, instance, source, actor, keep, flow=flow)
            instance.status = before.get("status") or instance.status
            now = self.clock.now()
            result.outcome, result.reverted_at, result.reverted_by = "reverted", now, actor.username
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="migration_reverted",
                    actor=actor.username,
                    data={"run_id": result.run_id, "version": source.version},
                )
            )
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="revert_migration",
                    target_type="instance",
                    target_id=str(instance.id),
                    details={"run_id": result.run_id, "to_version": source.version},
                )
            )

    # ------------------------------------------------------------------------------------------------ messages
    def send_message(
        self, name: str, message_id: str, correlation: dict[str, Any] | None, data: dict[str, Any] | None, actor: Actor
    ) -> MessageResult:
        self.policy.require(self.policy.can_send_message(actor), "Du får inte skicka meddelanden")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("Meddelandet saknar namn", {"fields": {"name": ["krävs"]}})
        if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
            raise ValidationFailed("message_id måste vara 1-200 tecken", {"fields": {"message_id": ["krävs"]}})
        correlation = _check_data(correlation, "correlation")
        data = _check_data(data)
        if not correlation:
            raise ValidationFailed(
                "Meddelandet saknar korrelation (t.ex. personnummer och vardtillfalle_id)",
                {"fields": {"correlation": ["krävs"]}},
            )
        # A concurrent message for the same stay (or with the same message_id) makes this insert fail on a unique
        # index: the second try sees the other's case (409, or the duplicate answer for the same message_id).
        for attempt in range(2):
            try:
                with self._uow() as session:
                    return self._send_message(session, name.strip(), message_id.strip(), correlation, data, actor)
            except IntegrityError:
                if attempt == 1:
                    raise Conflict("Ett samtidigt meddelande för samma vårdtillfälle hann före; försök igen") from None
        raise AssertionError("unreachable")

    def _send_message(
        self,
        session: Session,
        name: str,
        message_id: str,
        correlation: dict[str, Any],
        data: dict[str, Any],
        actor: Actor,
        exclude: int | None = None,
    ) -> MessageResult:
        """`exclude`: the instance that threw the message (Runtime._route_thrown); it never receives its own
        message, and an instance the message starts records it as its parent."""
        seen = session.get(ReceivedMessage, message_id)
        if seen is not None:
            if seen.name != name:
                raise Conflict(f"message_id {message_id!r} användes redan för meddelandet {seen.name!r}")
            return MessageResult(seen.instance_id or 0, seen.outcome, duplicate=True)
        payload = {**data, **correlation}
        query = select(MessageSubscription.instance_id).where(MessageSubscription.message_name == name)
        for key, value in correlation.items():
            query = query.where(
                MessageSubscription.instance_id.in_(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == key, InstanceCorrelation.value == str(value)
                    )
                )
            )
        matches = sorted(set(session.scalars(query)) - {exclude})
        now = self.clock.now()
        if len(matches) > 1:
            raise Conflict(
                f"Meddelandet {name!r} matchar {len(matches)} instanser; korrelationen räcker inte",
                {"instances": matches},
            )
        if len(matches) == 1:
            instance = self._lock(session, matches[0])
            definition = self._deployed(session, instance.definition_id)
            changing = [k for k in routing_keys_in(data) if data[k] != (instance.data or {}).get(k)]
            if changing and not (actor.internal or actor.has("system", "coordinator")):
                raise ValidationFailed(
                    "Personen, vårdtillfället och enheterna ändras bara genom journalens meddelanden",
                    {"fields": {k: ["får inte ändras av detta meddelande"] for k in changing}},
                )
            delivered: list[bool] = []

            def deliver(flow: Flow, log: StepLog) -> None:
                session.add(
                    HistoryEntry(
                        instance_id=instance.id,
                        at=now,
                        kind="message_received",
                        actor=actor.username,
                        data={"name": name, "message_id": message_id, "data": _json_safe(payload)},
                    )
                )
                try:
                    delivered.append(flow.deliver_message(name, payload, self.clock, log))
                except EngineIncident:
                    delivered.append(True)  # caught, then an incident: saved as such, not refused
                    raise

            self._advance(session, instance, definition, actor, deliver)
            if not delivered or not delivered[0]:
                raise Conflict(f"Instansen {instance.id} väntar inte längre på {name!r}")
            session.add(
                ReceivedMessage(
                    message_id=message_id, name=name, instance_id=instance.id, outcome="delivered", received_at=now
                )
            )
            session.flush()
            self.access_log.record_in(session, actor, "meddelande", [self._person(instance)], name)
            return MessageResult(instance.id, "delivered")
        starters = [d for d in self._start_definitions(session, name)]
        if not starters:
            raise NotFound(
                f"Ingen instans väntar på {name!r} med denna korrelation, och ingen process startar av det",
                {"correlation": _json_safe(correlation)},
            )
        if len(starters) > 1:
            raise Conflict(f"Flera processer startar av {name!r}: {', '.join(d.process_id for d in starters)}")
        existing = self._instances_with(session, correlation, starters[0].process_id, active_only=True)
        if existing:
            raise Conflict(
                f"Det finns redan en pågående {starters[0].process_id} för denna korrelation", {"instances": existing}
            )
        business_key = "/".join(str(correlation[k]) for k in sorted(correlation))[:200]
        # The version by the same rules as start_instance (pilots, defaults), judged on the units in the message or,
        # for a case started by another case's message, the sender's units where the message lacks them.
        routed_on = dict(payload)
        sender = session.get(ProcessInstance, exclude) if exclude is not None else None
        for key in CASE_UNIT_KEYS.values():
            if routed_on.get(key) in (None, "") and sender is not None:
                routed_on[key] = (sender.data or {}).get(key)
        definition, route = self._definition_for_start(session, starters[0].process_id, None, routed_on)
        if name not in definition.start_messages:
            definition = self._deployed(session, starters[0].id)
            route = pilots.Route(
                definition.id,
                "default",
                None,
                f"nyaste versionen som startar av {name!r} ({route.reason} gör det inte)",
            )
        instance_id = self._start(
            session,
            definition,
            business_key,
            payload,
            actor,
            start_message=name,
            parent_id=exclude,
            route=route,
            stay_key=stay_key(correlation),
        )
        session.add(
            ReceivedMessage(
                message_id=message_id, name=name, instance_id=instance_id, outcome="started", received_at=now
            )
        )
        session.flush()
        self.access_log.record_in(session, actor, "meddelande", [(payload.get("personnummer"), instance_id)], name)
        return MessageResult(instance_id, "started")

    def _start_definitions(self, session: Session, name: str) -> list[ProcessDefinition]:
        newest: dict[str, ProcessDefinition] = {}
        for definition in session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.executable.is_(True)).order_by(ProcessDefinition.version)
        ):
            newest[definition.process_id] = definition
        return [d for d in newest.values() if name in (d.start_messages or [])]

    def _instances_with(
        self, session: Session, correlation: dict[str, Any], process_id: str, active_only: bool
    ) -> list[int]:
        query = select(ProcessInstance.id).where(ProcessInstance.process_id == process_id)
        if active_only:
            query = query.where(ProcessInstance.status.in_(("running", "waiting", "incident")))
        for key, value in correlation.items():
            query = query.where(
                ProcessInstance.id.in_(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == key, InstanceCorrelation.value == str(value)
                    )
                )
            )
        return list(session.scalars(query))

    # ------------------------------------------------------------------------------------------------ timers
    def fire_timer(self, timer_id: int, actor: Actor) -> bool:
        """Fire one due timer (the scheduler's command). False when it is gone (fired or cancelled meanwhile) or,
        on PostgreSQL, when another transaction holds its instance (another scheduler fires it, or a command is
        changing the instance: the loop comes back to it). The instance row is locked first and the timer row
        re-read under that lock, the order every command keeps; BEGIN IMMEDIATE serialises SQLite writers."""
        with self._uow() as session:
            timer = session.get(Timer, timer_id)
            if timer is None:
                return False
            instance = session.execute(
                select(ProcessInstance)
                .where(ProcessInstance.id == timer.instance_id)
                .with_for_update(skip_locked=self.db.dialect == "postgresql")
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if instance is None:
                return False
            if self.db.dialect == "postgresql":  # SQLite read it under BEGIN IMMEDIATE's write lock already
                timer = session.execute(
                    select(Timer).where(Timer.id == timer_id).execution_options(populate_existing=True)
                ).scalar_one_or_none()
            if timer is None or timer.due_at > self.clock.now():
                return False
            definition = self._deployed(session, instance.definition_id)
            due_at = timer.due_at

            completed: set[str] = set()

            def fire(flow: Flow, log: StepLog) -> None:
                try:
                    flow.run(self.clock, log, fire_due=due_at)
                finally:
                    completed.update(task_id for task_id, _, _ in log.completed)

            self._advance(session, instance, definition, actor, fire)
            if (
                timer.kind == "cycle"
                and timer.task_id not in completed
                and session.execute(select(Timer.id).where(Timer.id == timer_id)).first() is None
            ):
                # The last occurrence of a bounded cycle (R3/...) leaves the event waiting with no next time, so
                # its row goes without the event completing: record here that it fired.
                fired_row: Any = timer  # id, task_id, element_id, due_at: what _timer_fired reads
                self._timer_fired(session, instance, fired_row, definition.elements or {}, self.clock.now())
                session.flush()
                self.case_facts.refresh(session, instance, self.clock.now())  # a deviation it may have added
            return True

    def due_timers(self, limit: int = 100) -> list[tuple[int, datetime]]:
        """Timers due now, soonest first; not those waiting for their next attempt after a failure, nor those that
        failed MAX_TIMER_ATTEMPTS times (an open incident: a coordinator retries them)."""
        now = self.clock.now()
        with self.db.read() as session:
            rows = session.execute(
                select(Timer.id, Timer.due_at)
                .where(
                    Timer.due_at <= now,
                    Timer.attempts < MAX_TIMER_ATTEMPTS,
                    (Timer.next_attempt_at.is_(None)) | (Timer.next_attempt_at <= now),
                )
                .order_by(Timer.due_at, Timer.id)
                .limit(limit)
            ).all()
            return [(r[0], r[1]) for r in rows]

    def timer_failed(self, timer_id: int, error: BaseException) -> bool:
        """Record that firing a timer raised (the command rolled back: not an incident of the case's own, which
        `_advance` records as data). The timer is tried again after a back-off (TIMER_RETRY_SECONDS doubling); after
        MAX_TIMER_ATTEMPTS it waits for a coordinator: an open incident on the instance naming the timer's element
        and the real error, retried from the incident views (`retry_instance`). Returns True when it became an
        incident. Written in its own unit of work, without restoring the workflow (which may be what fails)."""
        message = f"{error.__class__.__name__}: {error}"[:2000]
        with self._uow() as session:
            timer = session.get(Timer, timer_id)
            if timer is None:
                return False
            instance = self._lock(session, timer.instance_id)
            now = self.clock.now()
            timer.attempts = (timer.attempts or 0) + 1
            timer.last_error = message
            if timer.attempts < MAX_TIMER_ATTEMPTS:
                delay = min(TIMER_RETRY_SECONDS * 2 ** (timer.attempts - 1), TIMER_RETRY_MAX_SECONDS)
                timer.next_attempt_at = now + timedelta(seconds=delay)
                return False
            timer.next_attempt_at = None
            text = f"Timern kunde inte utlösas efter {timer.attempts} försök: {message}"
            session.add(Incident(instance_id=instance.id, element_id=timer.element_id, message=text, created_at=now))
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="incident",
                    element_id=timer.element_id,
                    task_id=timer.task_id,
                    data={"message": text, "timer": timer.id, "attempts": timer.attempts},
                )
            )
            if instance.status not in ("completed", "cancelled"):
                instance.status = "incident"
            return True

    # ------------------------------------------------------------------------------------------------ the one path
    def _advance(
        self,
        session: Session,
        instance: ProcessInstance,
        definition: Deployed,
        actor: Actor,
        action: Callable[[Flow, StepLog], None],
        flow: Flow | None = None,
        cancelled_reason: str | None = None,
    ) -> None:
        if instance.status == "cancelled" or instance.status == "completed":
            raise Conflict(f"Instansen är {instance.status}")
        called_versions = self._called_versions(session, instance, definition)
        if flow is None and not definition.unresolved:  # (a call resolved now needs its spec: restore afresh)
            cached = self._cached_flow(instance)
            if cached is not None:
                flow, projection = cached
                session.info.setdefault("projections", {})[instance.id] = projection
        if flow is None:
            spec, subprocess_specs = self.specs.get(session, definition, called_versions)
            try:
                flow = self.flows.restore(instance.state, spec, subprocess_specs)
            except Exception as exc:  # noqa: BLE001 - a state that cannot be restored: say so, never a 500
                raise Conflict(
                    f"Ärendets sparade tillstånd kan inte läsas in ({exc.__class__.__name__}: {str(exc)[:200]}); "
                    "en administratör kan laga det med `samflode repair-poisoned`",
                    {"instance_id": instance.id},
                ) from exc
        session.info.setdefault("flows", {})[instance.id] = (instance, flow)
        log = StepLog()
        incident: EngineIncident | None = None
        try:
            with command_budget():  # steps, time and allocation of this command's engine run (convention 16)
                action(flow, log)
        except EngineIncident as exc:
            incident = exc
        if incident is not None:  # a call left to run time that found nothing: say which process is missing
            for element_id, info in definition.elements.items():
                called = info.get("called_element")
                missing = called in definition.unresolved and (called_versions or {}).get(called) is None
                if missing and flow.reached(element_id):
                    incident = EngineIncident(
                        element_id, f"Anropad process {called!r} är inte driftsatt: driftsätt den och försök igen"
                    )
                    break
        thrown = flow.take_thrown_messages()  # before _save, so the stored state does not keep them
        with session.no_autoflush:  # one flush at the end batches the inserts
            self._save(session, instance, definition, flow, log, actor, incident, cancelled_reason)
        for name, payload in thrown:
            self._route_thrown(session, instance, name, payload, actor)

    def _route_thrown(
        self, session: Session, sender: ProcessInstance, name: str, payload: dict[str, Any], actor: Actor
    ) -> None:
        """A message thrown in `sender` that no task of its own workflow caught goes where an outside message of
        that name would (Runtime.send_message: continue the one instance waiting for it, or start the process it
        starts), correlated on personnummer + vardtillfalle_id from the payload or the sender's data, inside the
        same unit of work. What has no receiver is only recorded: such messages are for outside systems."""
        depth = session.info.get("route_depth", 0)
        data = sender.data or {}
        correlation = {k: payload.get(k) or data.get(k) for k in CORRELATION_KEYS}
        outcome: dict[str, Any] = {"name": name}
        if depth >= MAX_ROUTE_DEPTH:
            outcome["outcome"] = "för djup kedja av meddelanden"
        elif any(v in (None, "") for v in correlation.values()):
            outcome["outcome"] = "ingen korrelation"
        else:
            message_id = f"intern-{sender.id}-{name}-{uuid.uuid4().hex}"
            flows = session.info.setdefault("flows", {})
            before = set(flows)
            session.info["route_depth"] = depth + 1
            try:
                with session.begin_nested():  # a refused delivery leaves the receiver as it was
                    result = self._send_message(
                        session, name, message_id, correlation, _check_data(payload), actor, sender.id
                    )
                outcome.update(outcome=result.outcome, instance_id=result.instance_id, message_id=message_id)
            except (NotFound, Conflict, ValidationFailed, BadRequest) as exc:
                outcome["outcome"] = exc.message
                for instance_id in set(flows) - before:  # rolled back: their workflows in memory are not saved
                    flows.pop(instance_id, None)
            finally:
                session.info["route_depth"] = depth
        session.add(
            HistoryEntry(
                instance_id=sender.id, at=self.clock.now(), kind="message_thrown", actor=actor.username, data=outcome
            )
        )

    def _save(
        self,
        session: Session,
        instance: ProcessInstance,
        definition: Deployed,
        flow: Flow,
        log: StepLog,
        actor: Actor,
        incident: EngineIncident | None,
        cancelled_reason: str | None,
    ) -> None:
        now = self.clock.now()
        data = self._case_data(instance.data or {}, flow, log)
        elements = definition.elements or {}
        instance.serializer_version = SERIALIZER_VERSION
        instance.data = data
        instance.updated_at = now
        for column, key in CASE_UNIT_KEYS.items():
            value = data.get(key)
            value = str(value)[:100] if value not in (None, "") else None
            if getattr(instance, column) != value:
                setattr(instance, column, value)

        # History of what the engine did.
        for task_id, element_id, task_type in log.completed:
            if task_type in ENGINE_TASK_TYPES_NOT_LOGGED:
                continue
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="element_completed",
                    element_id=element_id,
                    task_id=task_id,
                    data={"type": task_type},
                )
            )
        completed_ids = {task_id for task_id, _, _ in log.completed}

        projection = session.info.get("projections", {}).get(instance.id) or self._load_projection(session, instance.id)

        # Deadlines count from their anchor events' recorded moments (engine/domain/deadlines.py), not from when a
        # task or timer was created: set each deadline timer's moment, now that this step's events are recorded.
        anchors = (
            None if cancelled_reason is not None else self._anchor_deadlines(session, instance, flow, data, elements)
        )
        instance.state = flow.dump()

        # Timers.
        waiting = [] if cancelled_reason is not None else flow.waiting_timers()
        new_timers = {t.task_id: t for t in waiting if t.due_at < PENDING}
        gone: list[int] = []
        kept: dict[str, TimerRow] = {}
        for task_id, row in projection.timers.items():
            current = new_timers.get(task_id)
            fired = task_id in completed_ids or (
                current is not None and current.kind == "cycle" and current.due_at != row.due_at and row.due_at <= now
            )
            if fired:
                self._timer_fired(session, instance, row, elements, now, flow)
            if current is None:
                gone.append(row.id)
            elif current.due_at != row.due_at:
                session.execute(update(Timer).where(Timer.id == row.id).values(due_at=current.due_at))
                kept[task_id] = TimerRow(row.id, task_id, row.element_id, current.due_at)
            else:
                kept[task_id] = row
        if gone:
            session.execute(delete(Timer).where(Timer.id.in_(gone)))
        added_timers: list[Timer] = []
        for task_id, timer in new_timers.items():
            if task_id not in projection.timers:
                earliest = session.info.get("earliest_new_timer")
                if earliest is None or timer.due_at < earliest:
                    session.info["earliest_new_timer"] = timer.due_at
                row_obj = Timer(
                    instance_id=instance.id,
                    task_id=task_id,
                    element_id=timer.element_id,
                    kind=timer.kind,
                    boundary=timer.boundary,
                    due_at=timer.due_at,
                    created_at=now,
                )
                session.add(row_obj)
                added_timers.append(row_obj)

        # Task index.
        ready = [] if cancelled_reason is not None else flow.ready_human_tasks()
        ready_ids = {t.id for t in ready}
        removed = [task_id for task_id in projection.task_ids if task_id not in ready_ids]
        if removed:
            closed = [task_id for task_id in removed if task_id not in completed_ids]
            if closed and cancelled_reason is None:
                self._tasks_closed(session, instance, closed, log, elements, now)
            session.execute(delete(TaskIndex).where(TaskIndex.id.in_(removed)))
        flags = self._task_flags(ready, data, elements)
        flagged_before = [t for t in projection.task_ids if t in ready_ids and t in flags]
        for flag in sorted({flags[t] for t in flagged_before}):
            ids = [t for t in flagged_before if flags[t] == flag]
            session.execute(update(TaskIndex).where(TaskIndex.id.in_(ids), TaskIndex.flag.is_(None)).values(flag=flag))
        for task in ready:
            info = elements.get(task.element_id, {})
            props = info.get("properties") or {}
            if task.id in projection.task_ids:
                if anchors is not None and props.get("due"):  # its anchor event may have been recorded now
                    due_at = self._task_due(
                        props.get("due"), data, None, task.element_id, new_timers.values(), elements, anchors
                    )
                    session.execute(
                        update(TaskIndex)
                        .where(TaskIndex.id == task.id, TaskIndex.due_at.is_distinct_from(due_at))
                        .values(due_at=due_at)
                    )
                continue
            lane = info.get("lane") or task.lane
            due_at = self._task_due(
                props.get("due"), data, now, task.element_id, new_timers.values(), elements, anchors
            )
            session.add(
                TaskIndex(
                    id=task.id,
                    instance_id=instance.id,
                    process_id=instance.process_id,
                    business_key=instance.business_key,
                    element_id=task.element_id,
                    name=task.name,
                    lane=lane,
                    role=props.get("role"),
                    form=props.get("form"),
                    unit=self.catalog.unit_for_lane(lane, data),
                    created_at=now,
                    due_at=due_at,
                    flag=flags.get(task.id),
                )
            )
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="task_created",
                    element_id=task.element_id,
                    task_id=task.id,
                    data={"name": task.name, "lane": lane, "due_at": due_at.isoformat() if due_at else None},
                )
            )

        # Message subscriptions and correlation keys: rewritten only when they change.
        awaited = frozenset() if cancelled_reason is not None else frozenset(flow.awaited_messages())
        if awaited != projection.subscriptions:
            session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance.id))
            for name in sorted(awaited):
                session.add(MessageSubscription(instance_id=instance.id, message_name=name))
        wanted = frozenset((k, str(data[k])) for k in CORRELATION_KEYS if data.get(k) not in (None, ""))
        for name, value in projection.correlations - wanted:
            session.execute(
                delete(InstanceCorrelation).where(
                    InstanceCorrelation.instance_id == instance.id,
                    InstanceCorrelation.name == name,
                    InstanceCorrelation.value == value,
                )
            )
        for name, value in wanted - projection.correlations:
            session.add(InstanceCorrelation(instance_id=instance.id, name=name, value=value))
        session.info.setdefault("saved_projections", {})[instance.id] = (
            kept,
            added_timers,
            frozenset(ready_ids),
            awaited,
            wanted,
        )

        # Status, incidents.
        if incident is not None:
            self._record_incident(session, instance, incident, now)
            instance.status = "incident"
        elif cancelled_reason is not None:
            instance.status, instance.ended_at = "cancelled", now
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="cancelled",
                    actor=actor.username,
                    data={"reason": cancelled_reason},
                )
            )
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor.username,
                    action="cancel_instance",
                    target_type="instance",
                    target_id=str(instance.id),
                    details={"reason": cancelled_reason},
                )
            )
        elif flow.completed:
            instance.status, instance.ended_at = "completed", now
            session.add(HistoryEntry(instance_id=instance.id, at=now, kind="completed"))
        elif instance.status == "incident" and self._has_failed_timer(session, instance.id):
            pass  # a timer that failed MAX_TIMER_ATTEMPTS times still waits for a coordinator's retry
        else:
            instance.status = "running" if ready else "waiting"
        session.flush()
        # The case's facts for the figures, derived from its history as now recorded (engine/domain/facts.py).
        self.case_facts.refresh(session, instance, now)

    @staticmethod
    def _task_flags(ready: list[Any], data: dict[str, Any], elements: dict[str, Any]) -> dict[str, str]:
        """Open tasks the case has moved past: an element (or a sub-process around it) with the properties `flagga`
        (the text shown) and `flagga_nar` (a case-data name) flags its open tasks once that value is true, e.g. the
        planning tasks still open when the UK notice has gone out. The task stays open; the flag says so."""
        result: dict[str, str] = {}
        for task in ready:
            element_id: str | None = task.element_id
            for _ in range(64):  # the nesting of sub-processes is bounded; never loop on a malformed parent chain
                info = elements.get(element_id or "")
                if info is None:
                    break
                props = info.get("properties") or {}
                when, text = props.get("flagga_nar"), props.get("flagga")
                if when and text and data.get(when) is True:
                    result[task.id] = str(text)[:200]
                    break
                element_id = info.get("parent")
        return result

    def _tasks_closed(
        self,
        session: Session,
        instance: ProcessInstance,
        closed: list[str],
        log: StepLog,
        elements: dict[str, Any],
        now: datetime,
    ) -> None:
        """Open tasks that an interrupting event closed (a discharge, a death, a withdrawal) are never dropped
        silently: each gets a history entry with the event that closed it, and an event with an `avvikelse` property
        records one deviation per party (lane) whose tasks it closed. Timers record their own deviation when they
        fire (Runtime._timer_fired)."""
        closers = [
            element_id
            for _, element_id, _ in log.completed
            if elements.get(element_id, {}).get("type") == "boundaryEvent"
            and elements.get(element_id, {}).get("cancel_activity") is not False
        ]
        if not closers:
            return

        def inside(element_id: str, host: str | None) -> bool:
            current: str | None = element_id
            for _ in range(64):
                if current is None:
                    return False
                if current == host:
                    return True
                current = (elements.get(current) or {}).get("parent")
            return False

        rows = session.scalars(select(TaskIndex).where(TaskIndex.id.in_(closed)).order_by(TaskIndex.created_at)).all()
        parties: dict[str, set[str]] = {}
        for row in rows:
            by = [c for c in closers if inside(row.element_id, elements[c].get("attached_to"))] or closers[:1]
            reason = ", ".join(str(elements[c].get("name") or c) for c in by)
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="task_closed",
                    element_id=row.element_id,
                    task_id=row.id,
                    data={"name": row.name, "lane": row.lane, "reason": reason, "closed_by": by},
                )
            )
            for closer in by:
                info = elements[closer]
                if (info.get("properties") or {}).get("avvikelse") and not info.get("timer") and row.lane:
                    parties.setdefault(closer, set()).add(row.lane)
        for closer, lanes in parties.items():
            cause = str(elements[closer]["properties"]["avvikelse"])
            for lane in sorted(lanes):
                session.add(Deviation(instance_id=instance.id, element_id=closer, party=lane, cause=cause, at=now))

    @staticmethod
    def _record_incident(session: Session, instance: ProcessInstance, incident: EngineIncident, now: datetime) -> None:
        """An incident of the instance: the open one at the same element when there is one (a retry that failed
        again: it stays open, counts the failure and shows the newest message and values; no twin), else a new one.
        The element is remembered for `retry_instance`, which resolves only the incidents that did not fail again."""
        seen = _json_safe(incident.seen_values) if incident.seen_values else None
        row = session.scalar(
            select(Incident).where(
                Incident.instance_id == instance.id,
                Incident.resolved_at.is_(None),
                Incident.element_id.is_(None)
                if incident.element_id is None
                else Incident.element_id == incident.element_id,
            )
        )
        if row is None:
            session.add(
                Incident(
                    instance_id=instance.id,
                    element_id=incident.element_id,
                    message=incident.message,
                    created_at=now,
                    expression=incident.expression,
                    seen_values=seen,
                    failures=1,
                )
            )
        else:
            row.message, row.expression, row.seen_values = incident.message, incident.expression, seen
            row.failures = (row.failures or 1) + 1
        session.info.setdefault("failed_elements", {}).setdefault(instance.id, set()).add(incident.element_id)
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="incident",
                element_id=incident.element_id,
                data={"message": incident.message, "expression": incident.expression, "values": seen},
            )
        )

    @staticmethod
    def _has_failed_timer(session: Session, instance_id: int) -> bool:
        return (
            session.scalar(
                select(Timer.id).where(Timer.instance_id == instance_id, Timer.attempts >= MAX_TIMER_ATTEMPTS).limit(1)
            )
            is not None
        )

    @staticmethod
    def _case_data(previous: dict[str, Any], flow: Flow, log: StepLog) -> dict[str, Any]:
        """The case data: the previous case data with what each task completed in this step changed, in completion
        order. SpiffWorkflow keeps data per branch; staff and reports need one current value per field."""
        data = dict(previous)
        for task_id, _, _ in log.completed:
            updated, deleted = flow.changes(task_id)
            for key in deleted:
                data.pop(key, None)
            data.update(updated)
        return _json_safe(data)

    def _load_projection(self, session: Session, instance_id: int) -> Projection:
        timers = {
            r.task_id: TimerRow(r.id, r.task_id, r.element_id, r.due_at)
            for r in session.execute(
                select(Timer.id, Timer.task_id, Timer.element_id, Timer.due_at).where(Timer.instance_id == instance_id)
            )
        }
        task_ids = frozenset(session.scalars(select(TaskIndex.id).where(TaskIndex.instance_id == instance_id)))
        subscriptions = frozenset(
            session.scalars(
                select(MessageSubscription.message_name).where(MessageSubscription.instance_id == instance_id)
            )
        )
        correlations = frozenset(
            (r.name, r.value)
            for r in session.execute(
                select(InstanceCorrelation.name, InstanceCorrelation.value).where(
                    InstanceCorrelation.instance_id == instance_id
                )
            )
        )
        return Projection(timers, task_ids, subscriptions, correlations)

    def _timer_fired(
        self,
        session: Session,
        instance: ProcessInstance,
        row: TimerRow,
        elements: dict[str, Any],
        now: datetime,
        flow: Flow | None = None,
    ) -> None:
        lateness = (now - row.due_at).total_seconds()
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="timer_fired",
                element_id=row.element_id,
                task_id=row.task_id,
                data={"due_at": row.due_at.isoformat(), "lateness_seconds": max(0.0, lateness)},
            )
        )
        info = elements.get(row.element_id, {})
        cause = (info.get("properties") or {}).get("avvikelse")
        if cause:
            # Charged to the party whose work was late: the guarded task's lane, or for a guarded subprocess every
            # party with work still open in it or beside it (Flow.late_parties); else the guarded element's lane.
            attached = elements.get(info.get("attached_to") or "", {})
            parties: list[str] = []
            for element_id, lane in flow.late_work(row.task_id, info.get("attached_to")) if flow is not None else []:
                party = elements.get(element_id, {}).get("lane") or lane or attached.get("lane")
                if party and party not in parties:
                    parties.append(party)
            for party in parties or [attached.get("lane") or info.get("lane")]:
                session.add(
                    Deviation(instance_id=instance.id, element_id=row.element_id, party=party, cause=cause, at=now)
                )

    def _anchor_deadlines(
        self, session: Session, instance: ProcessInstance, flow: Flow, data: dict[str, Any], elements: dict[str, Any]
    ) -> dict[str, datetime | None] | None:
        """Give every waiting deadline timer the moment its deadline falls, counted from its anchor event's recorded
        time (engine/commands/deadline_timers.py). Returns the anchors' moments when the case has anything anchored
        (timers
        or task due times), else None."""
        agreement = data.get("avtal") if isinstance(data.get("avtal"), str) else None
        timers = anchored_timers(flow, elements, self.catalog, agreement, data)
        has_anchored_tasks = any(
            anchored_rule(
                self.catalog, (elements.get(t.element_id, {}).get("properties") or {}).get("due"), agreement, data
            )
            for t in flow.ready_human_tasks()
        )
        if not timers and not has_anchored_tasks:
            return None
        session.flush()  # this step's history rows, so the anchors include what just happened
        anchors = self.case_facts.anchors(session, instance)
        set_moments(flow, timers, anchors, data)
        return anchors

    def _task_due(
        self,
        due: str | None,
        data: dict[str, Any],
        now: datetime | None,
        element_id: str,
        timers: Any,
        elements: dict[str, Any],
        anchors: dict[str, datetime | None] | None = None,
    ) -> datetime | None:
        """A task's due time: its agreement deadline counted from the anchor event (the same moment its deadline
        timer has), an ISO duration counted from the task's creation, or else its earliest boundary timer."""
        if due:
            try:
                rule = self.catalog.deadline_rule(due, data.get("avtal"), data)
                if counts_from_event(rule):
                    found = due_moment(rule, anchors or {}, data)
                    if found is not None:
                        return found
                elif now is not None:
                    return rule.due(now)
            except (CatalogError, ValueError):
                pass
        boundary = [t.due_at for t in timers if elements.get(t.element_id, {}).get("attached_to") == element_id]
        return min(boundary) if boundary else None
