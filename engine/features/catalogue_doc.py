"""The activity catalogue (arbetsbeskrivningen) rendered from a deployed definition, never written by hand.

Each activity of a diagram carries its mål, syfte, utförare, tidpunkt and lagrum as extension properties; the
deployed definition keeps them in its element metadata. This module turns that metadata into entries (for the web
page) and markdown (`samflode catalogue`, docs/activities.md). Activities come in the diagram's own order (the
order of the XML), since the stored metadata is a JSON object whose key order PostgreSQL does not keep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.bpmn.xml_safety import load_xml

ACTIVITY_TYPES = ("userTask", "manualTask", "scriptTask", "serviceTask", "callActivity", "subProcess", "task")
TYPE_NAMES = {
    "userTask": "Användaruppgift",
    "manualTask": "Manuell uppgift",
    "scriptTask": "Automatiskt steg",
    "serviceTask": "Automatiskt steg",
    "callActivity": "Anropar process",
    "subProcess": "Delprocess",
    "task": "Aktivitet",
}
FIELDS = (
    ("mal", "Mål"),
    ("syfte", "Syfte"),
    ("utforare", "Utförare"),
    ("tidpunkt", "Tidpunkt"),
    ("lagrum", "Lagrum och rutin"),
)


@dataclass(frozen=True)
class Activity:
    number: int
    id: str
    name: str
    kind: str
    lane: str | None
    fields: tuple[tuple[str, str], ...]  # (label, text) for mål, syfte, utförare, tidpunkt, lagrum that are set
    form: str | None
    deadline: str | None
    role: str | None
    called: str | None
    documentation: str | None
    deadline_timers: tuple[str, ...]  # deadline keys of timers on this activity's boundary


@dataclass(frozen=True)
class Catalogue:
    process_id: str
    name: str
    activities: tuple[Activity, ...]


def document_order(xml: bytes | None) -> list[str]:
    """Element ids in the order the diagram lists them."""
    if not xml:
        return []
    root = load_xml(xml)
    return [str(el.get("id")) for el in root.iter() if isinstance(el.tag, str) and el.get("id")]


def catalogue(definition: Mapping[str, Any], xml: bytes | None = None) -> Catalogue:
    """The activities of `definition` (Reports.definition: process_id, name, elements) that belong to the process
    itself, not to the processes it calls."""
    process_id = str(definition["process_id"])
    elements: Mapping[str, Any] = definition.get("elements") or {}
    order = {element_id: index for index, element_id in enumerate(document_order(xml))}
    own = [
        info
        for info in elements.values()
        if info.get("type") in ACTIVITY_TYPES and info.get("process", process_id) == process_id
    ]
    own.sort(key=lambda info: (order.get(info["id"], len(order)), info["id"]))
    timers: dict[str, list[str]] = {}
    for info in elements.values():
        expression = str((info.get("timer") or {}).get("expression") or "")
        if info.get("type") == "boundaryEvent" and info.get("attached_to") and expression.startswith("deadline("):
            timers.setdefault(info["attached_to"], []).append(expression[len("deadline(") : -1].strip("'\""))
    activities = []
    for number, info in enumerate(own, start=1):
        props = info.get("properties") or {}
        activities.append(
            Activity(
                number=number,
                id=info["id"],
                name=info.get("name") or info["id"],
                kind=TYPE_NAMES.get(info["type"], info["type"]),
                lane=info.get("lane"),
                fields=tuple((label, str(props[key])) for key, label in FIELDS if props.get(key)),
                form=props.get("form"),
                deadline=props.get("due"),
                role=props.get("role"),
                called=info.get("called_element"),
                documentation=_own_text(info.get("documentation"), info.get("name") or info["id"], props),
                deadline_timers=tuple(sorted(timers.get(info["id"], []))),
            )
        )
    return Catalogue(process_id, str(definition.get("name") or process_id), tuple(activities))


def _own_text(documentation: str | None, name: str, props: Mapping[str, Any]) -> str | None:
    """The documentation, unless it only repeats the name, mål and syfte (the generator's default text)."""
    if not documentation:
        return None
    repeated = f"{name}. Mål: {props.get('mal', '')} Syfte: {props.get('syfte', '')}"
    return None if _one_line(documentation) == _one_line(repeated) else documentation


def _one_line(text: str) -> str:
    return " ".join(text.split())


def markdown(catalogues: Iterable[Catalogue], anchors: Mapping[str, str] | None = None) -> str:
    """The catalogue as markdown (docs/activities.md). `anchors`: what each agreement deadline counts from, in words
    (Catalog.anchor_texts); a deadline not there is an ISO duration counted from the task's creation."""
    items = list(catalogues)
    lines = [
        "# Aktivitetskatalog",
        "",
        "Genererad från de driftsatta diagrammen med `samflode catalogue "
        + " ".join(c.process_id for c in items)
        + " --out docs/activities.md`. Ändra i diagrammen (processes/*.bpmn), inte här.",
        "",
    ]
    for cat in items:
        lines += [f"## {cat.name} (`{cat.process_id}`)", "", f"{len(cat.activities)} aktiviteter.", ""]
        for act in cat.activities:
            lines += [f"### {act.number}. {act.name}", ""]
            facts = [f"`{act.id}`", act.kind]
            if act.lane:
                facts.append(f"körfält: {act.lane}")
            lines += [" · ".join(facts), ""]
            for label, text in act.fields:
                lines.append(f"- **{label}:** {_one_line(text)}")
            if act.form:
                lines.append(f"- **Formulär:** `{act.form}`")
            if act.deadline:
                counted = (anchors or {}).get(act.deadline, "att uppgiften skapas")
                lines.append(f"- **Tidsgräns:** `{act.deadline}` (från överenskommelsen, räknas från {counted})")
            for key in act.deadline_timers:
                lines.append(
                    f"- **Bevakning:** tidsgränsen `{key}`; passerad ger avvikelse och uppgift till samordnaren"
                )
            if act.role:
                lines.append(f"- **Roll:** `{act.role}`")
            if act.called:
                lines.append(f"- **Anropar:** `{act.called}`")
            if act.documentation:
                lines.append(f"- **Beskrivning:** {_one_line(act.documentation)}")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
