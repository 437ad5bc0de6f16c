"""Commands on definitions: check a diagram, deploy one or a set; which version a new case starts on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.bpmn.catalog_check import CheckResult, catalog_findings
from engine.bpmn.parsing import ParsedDocument, deploy_order, document_meaning, parse_document, pinned_version
from engine.commands.common import Deployed, DeployResult, case_units, collaboration_only
from engine.commands.core import Core
from engine.domain.actors import Actor
from engine.domain.errors import Conflict, DeployRejected, Diagnostic, NotFound
from engine.domain.text import Text
from engine.persistence.models import AuditEntry, DefaultVersion, ProcessDefinition
from engine.reads import versions


class DefinitionCommands:
    """Check and deploy diagrams (stored definitions never change)."""

    def __init__(self, core: Core):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows

    def check(self, xml: bytes | str, process_id: str | None = None) -> ParsedDocument:
        """Parse and lint a diagram against what is deployed, without storing anything."""
        with self.db.read() as session:
            return self.parse(session, xml, process_id)

    def parse(self, session: Session, xml: bytes | str, process_id: str | None) -> ParsedDocument:
        def resolve(called: str, version: int | None) -> bytes | None:
            definition = self.core.called_definition(session, called, version)
            return definition.xml if definition is not None else None

        doc = parse_document(
            xml, resolve=resolve, form_exists=self.catalog.has_form, process_id=process_id, now=self.clock.now()
        )
        # Deadline keys must exist in the agreements.
        if doc.main is not None:
            for info in doc.main.elements.values():
                due = info.properties.get("due")
                if due and self.catalog.agreements and not self.catalog.known_deadline(due):
                    doc.diagnostics.append(
                        Diagnostic(info.id, "error", Text("Tidsfristen %(due)r finns inte i avtalen", due=due))
                    )
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
                with self.core.unit() as command:
                    session = command.session
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
                with self.core.unit() as command:
                    session = command.session
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
        doc = self.parse(session, raw, None)
        if doc.main is None and not doc.processes and not (allow_documentation_only and doc.collaboration):
            raise DeployRejected(doc.diagnostics or [Diagnostic(None, "error", "Ingen process i filen")])
        if not doc.executable and not allow_documentation_only:
            raise DeployRejected(doc.diagnostics or [Diagnostic(None, "error", "Diagrammet kan inte köras")])
        main = doc.main or (doc.processes[0] if doc.processes else collaboration_only(doc))
        existing = session.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == main.process_id, ProcessDefinition.content_hash == doc.content_hash
            )
        )
        if existing is None:
            # The same diagram written differently (another tool's export of the newest version): not a new version.
            newest = self.core.newest(session, main.process_id, executable_only=False)
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
            dep = self.core.called_definition(session, called, pinned_version(main, called))
            assert dep is not None
            dependencies[called] = dep.id
            for key, info in (dep.elements or {}).items():
                elements.setdefault(key, info)
        for called in doc.unresolved:
            dependencies[called] = None  # resolved when a case reaches it (Core.called_versions)
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
            default_for_first_version(session, definition, actor.username, now)
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

    def for_start(
        self, session: Session, process_id: str, version: int | None, data: dict[str, Any] | None = None
    ) -> tuple[Deployed, versions.Route]:
        """The version a new case starts on and why (engine/reads/versions.py, the routing that
        engine/features/pilots.py's docstring tells): the version asked for; else a running pilot that takes the
        case's units (as `data` says), a per-unit or process-wide default, or the newest."""
        route: versions.Route | None = None
        if version is None:
            route = versions.route(session, process_id, case_units(data or {}), versions.stockholm_today(self.clock))
            definition = (
                session.get(ProcessDefinition, route.definition_id)
                if route is not None
                else self.core.newest(session, process_id, executable_only=True)
            )
        else:
            definition = session.scalar(
                select(ProcessDefinition).where(
                    ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
                )
            )
        if definition is None:
            raise NotFound(
                Text("Processen %(process_id)r version %(version)s finns inte", process_id=process_id, version=version)
                if version
                else Text("Processen %(process_id)r finns inte", process_id=process_id)
            )
        if not definition.executable:
            raise Conflict(
                Text(
                    "%(process_id)s version %(version)s är bara dokumentation och kan inte startas",
                    process_id=process_id,
                    version=definition.version,
                )
            )
        if route is None:
            route = (
                versions.Route(
                    definition.id,
                    "explicit",
                    None,
                    Text("uttryckligen begärd version %(version)s", version=definition.version),
                )
                if version is not None
                else versions.Route(definition.id, "default", None, "standardversion")
            )
        return self.core.deployed(session, definition.id), route


def default_for_first_version(session: Session, definition: ProcessDefinition, actor: str, now: datetime) -> bool:
    """At deploy: the first executable version of a process becomes its default, since new cases
    need one; any later version does not (issue 15: deploying never changes the version new cases start on). A
    database without a row (from before migration 0019) gets one for the version that was everyone's before this
    deploy. True when the row was written (audited as `default_version_set`)."""
    exists = session.scalar(
        select(DefaultVersion.id).where(
            DefaultVersion.process_id == definition.process_id,
            DefaultVersion.unit_kind == "",
            DefaultVersion.unit == "",
        )
    )
    if exists is not None:
        return False
    # Without a row, the newest executable version before this one was everyone's (step 5): it stays so.
    previous = session.scalar(
        select(ProcessDefinition)
        .where(
            ProcessDefinition.process_id == definition.process_id,
            ProcessDefinition.executable.is_(True),
            ProcessDefinition.id != definition.id,
        )
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    chosen = previous or definition
    session.add(
        DefaultVersion(
            process_id=definition.process_id,
            unit_kind="",
            unit="",
            definition_id=chosen.id,
            pilot_id=None,
            set_by=actor,
            set_at=now,
        )
    )
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="default_version_set",
            target_type="process",
            target_id=definition.process_id,
            details={
                "from": None,
                "to": chosen.version,
                "comment": "första körbara versionen" if previous is None else "standardversionen före driftsättningen",
            },
        )
    )
    return True
