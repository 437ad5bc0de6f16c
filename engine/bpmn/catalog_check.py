"""Findings that need the platform's catalogue (processes/lanes.json): who will get each task.

parse_document (engine/bpmn/parsing.py) finds what a diagram says about itself: parse errors, sandbox violations,
missing forms, timers that cannot be parsed, unreachable elements, gateways without a default path, tasks outside
any lane. Here: lane names and `role` properties that the catalogue does not know. A user task whose lane and role
are both unknown lands in nobody's worklist (only an admin could take it), so that is an error; a lane that is
unknown but holds no task a person does is a warning.

Beside the parser in engine/bpmn (the catalogue is a domain object, below this layer); the definitions' commands
add these findings for deploys and dry-run checks alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.bpmn.parsing import BPMN_NS, HUMAN_TASK_TAGS, ParsedDocument
from engine.bpmn.xml_safety import load_xml
from engine.domain.catalog import Catalog
from engine.domain.errors import Diagnostic
from engine.domain.roles import DIRECTORY_ROLES
from engine.domain.text import Text


def known_roles(catalog: Catalog) -> set[str]:
    """Roles a `role` property may name: the catalogue's roles, every lane's roles, and the platform's own."""
    roles = set(catalog.role_names) | DIRECTORY_ROLES
    for rule in catalog.lanes.values():
        roles.update(rule.roles)
    return roles


def catalog_findings(doc: ParsedDocument, catalog: Catalog) -> list[Diagnostic]:
    """Unknown lanes and roles in every process of `doc`. Nothing when the catalogue defines no lanes at all (a
    platform without lanes.json routes by role properties only, and says nothing about lane names)."""
    if not catalog.lanes:
        return []
    roles = known_roles(catalog)
    lane_ids = _lane_ids(doc)
    findings: list[Diagnostic] = []
    for process in doc.processes:
        lanes_flagged: set[str] = set()
        for info in process.elements.values():
            role = (info.properties.get("role") or "").strip()
            if role and role not in roles:
                findings.append(
                    Diagnostic(
                        info.id,
                        "error",
                        Text(
                            "Rollen %(role)r finns inte i lanes.json (kända roller: %(items)s)",
                            role=role,
                            items=", ".join(sorted(roles)),
                        ),
                    )
                )
            if info.type not in HUMAN_TASK_TAGS or info.lane is None:
                continue
            if info.lane not in catalog.lanes and not (role and role in roles):
                lanes_flagged.add(info.lane)
                findings.append(
                    Diagnostic(
                        info.id,
                        "error",
                        Text(
                            "Körfältet %(lane)r finns inte i lanes.json och uppgiften har ingen känd roll: ingen får "
                            "uppgiften (kända körfält: %(items)s)",
                            lane=info.lane,
                            items=", ".join(sorted(catalog.lanes)),
                        ),
                    )
                )
        for lane in process.lanes:
            if lane not in catalog.lanes and lane not in lanes_flagged:
                findings.append(
                    Diagnostic(
                        lane_ids.get(lane),
                        "warning",
                        Text(
                            "Körfältet %(lane)r finns inte i lanes.json: uppgifterna i det saknar enhet och "
                            "standardroller",
                            lane=lane,
                        ),
                    )
                )
    return findings


def _lane_ids(doc: ParsedDocument) -> dict[str, str]:
    """Lane name -> the id of its bpmn:lane, so that a finding about a lane is drawn on the lane."""
    if not doc.processes:
        return {}
    root = load_xml(doc.normalised_xml, max_bytes=len(doc.normalised_xml) + 1)
    result: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        lane_id = lane.get("id")
        if lane_id:
            result.setdefault(lane.get("name") or lane_id, lane_id)
    return result


@dataclass
class CheckResult:
    """What a deploy of the same file would find, without storing anything (POST /definitions/check)."""

    process_id: str | None
    name: str | None
    executable: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "warning")

    @classmethod
    def of(cls, doc: ParsedDocument) -> CheckResult:
        main = doc.main or (doc.processes[0] if doc.processes else None)
        return cls(
            main.process_id if main else None,
            main.name if main else None,
            doc.executable,
            list(doc.diagnostics),
        )
