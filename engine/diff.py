"""What changed between two versions of a process: added, removed and changed elements by id.

A pure function over the element metadata that deploy stores with every definition (engine/bpmn/parsing.py
ElementInfo.as_dict plus "process"), so a diff needs no XML and no SpiffWorkflow. Sequence flows are not element
metadata and are not compared.
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


@dataclass
class DefinitionDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


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
