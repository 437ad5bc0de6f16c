"""What changed between two versions of a process: added, removed and changed elements by id.

A pure function over the element metadata that deploy stores with every definition (engine/bpmn/parsing.py
ElementInfo.as_dict plus "process"), so a diff needs no XML and no SpiffWorkflow. Sequence flows are compared
apart (`diff_flows`, over engine/bpmn/flows.py's data): added, removed, and changed in source, target, name,
condition or whether they are their source's default flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Compared one by one, in this order; "properties" is compared per property as "property:<name>".
FIELDS = (
    "type",
    "name",
    "lane",
    "documentation",
    "timer",
    "message",
    "attached_to",
    "cancel_activity",
    "called_element",
    "parent",
    "process",
)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass
class ElementChange:
    id: str
    type: str
    name: str | None
    lane: str | None
    changes: list[FieldChange] = field(default_factory=list)


FLOW_FIELDS = ("source", "target", "name", "condition", "default", "process")


@dataclass
class FlowChange:
    id: str
    name: str | None
    source: str | None
    target: str | None
    condition: str | None
    default: bool
    process: str | None
    changes: list[FieldChange] = field(default_factory=list)


@dataclass
class DefinitionDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    flows_added: list[dict[str, Any]] = field(default_factory=list)
    flows_removed: list[dict[str, Any]] = field(default_factory=list)
    flows_changed: list[FlowChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.flows_added or self.flows_removed or self.flows_changed
        )


def _summary(element_id: str, info: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": element_id, "type": info.get("type"), "name": info.get("name"), "lane": info.get("lane")}


def element_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    changes = [FieldChange(name, before.get(name), after.get(name)) for name in FIELDS]
    changes = [c for c in changes if c.before != c.after]
    props_before = before.get("properties") or {}
    props_after = after.get("properties") or {}
    for key in sorted(set(props_before) | set(props_after)):
        if props_before.get(key) != props_after.get(key):
            changes.append(FieldChange(f"property:{key}", props_before.get(key), props_after.get(key)))
    return changes


def diff_elements(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> DefinitionDiff:
    """Elements of `after` that `before` lacks (added), the reverse (removed), and those in both whose metadata
    differs (changed, with every field that did). Ordered by id, so the answer is stable."""
    result = DefinitionDiff()
    for element_id in sorted(set(after) - set(before)):
        result.added.append(_summary(element_id, after[element_id]))
    for element_id in sorted(set(before) - set(after)):
        result.removed.append(_summary(element_id, before[element_id]))
    for element_id in sorted(set(before) & set(after)):
        changes = element_changes(before[element_id], after[element_id])
        if changes:
            info = after[element_id]
            result.changed.append(
                ElementChange(element_id, info.get("type", ""), info.get("name"), info.get("lane"), changes)
            )
    return result


def _flow_summary(info: Mapping[str, Any]) -> dict[str, Any]:
    return {name: info.get(name) for name in ("id", *FLOW_FIELDS)} | {"default": bool(info.get("default"))}


def diff_flows(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]], into: DefinitionDiff | None = None
) -> DefinitionDiff:
    """Sequence flows of `after` that `before` lacks, the reverse, and those in both whose source, target, name,
    condition, default-ness or process differ (with every field that did). By id; ordered by id."""
    result = into if into is not None else DefinitionDiff()
    for flow_id in sorted(set(after) - set(before)):
        result.flows_added.append(_flow_summary(after[flow_id]))
    for flow_id in sorted(set(before) - set(after)):
        result.flows_removed.append(_flow_summary(before[flow_id]))
    for flow_id in sorted(set(before) & set(after)):
        old, new = _flow_summary(before[flow_id]), _flow_summary(after[flow_id])
        changes = [FieldChange(name, old[name], new[name]) for name in FLOW_FIELDS if old[name] != new[name]]
        if changes:
            result.flows_changed.append(FlowChange(**new, changes=changes))
    return result
