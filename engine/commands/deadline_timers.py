"""Deadline timers set from their anchor events: shared by the service layer (engine/commands/projectors.py) and the
simulator, so a simulated case escalates at the moment a real one would and its figures count the same way.

A timer written `deadline('key')` waits for the agreement deadline `key`; when that deadline names an event of the
case (engine/domain/deadlines.py), its moment is `due_moment(rule, anchors)`, set on the waiting timer after every
step (PENDING while the event is not recorded), whatever moment SpiffWorkflow first computed from the timer's start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine.bpmn.workflow import PENDING, Flow, WaitingTimer
from engine.domain.calendar import DeadlineRule
from engine.domain.catalog import Catalog, CatalogError
from engine.domain.deadlines import counts_from_event, due_moment

_DEADLINE_CALL = re.compile(r"""^\s*deadline\(\s*['"]([A-Za-z0-9_\-]+)['"]\s*\)\s*$""")


def deadline_key(info: Mapping[str, Any]) -> str | None:
    """The agreement deadline a timer waits for when its expression is `deadline('key')`, else None."""
    timer = info.get("timer") or {}
    match = _DEADLINE_CALL.match(str(timer.get("expression") or ""))
    return match.group(1) if match else None


def anchored_rule(
    catalog: Catalog, key: Any, agreement: str | None, data: Mapping[str, Any] | None = None
) -> DeadlineRule | None:
    """The agreement's rule for `key` when it counts from an event of the case, else None."""
    if not isinstance(key, str) or not key or key.strip().upper().startswith("P"):
        return None
    try:
        rule = catalog.deadline_rule(key, agreement, data)
    except CatalogError:
        return None
    return rule if counts_from_event(rule) else None


def anchored_timers(
    flow: Flow,
    elements: Mapping[str, Any],
    catalog: Catalog,
    agreement: str | None,
    data: Mapping[str, Any] | None = None,
) -> list[tuple[WaitingTimer, DeadlineRule]]:
    found = []
    for timer in flow.waiting_timers():
        if timer.kind == "cycle":
            continue
        rule = anchored_rule(catalog, deadline_key(elements.get(timer.element_id, {})), agreement, data)
        if rule is not None:
            found.append((timer, rule))
    return found


def set_moments(
    flow: Flow,
    timers: list[tuple[WaitingTimer, DeadlineRule]],
    anchors: Mapping[str, datetime | None],
    data: Mapping[str, Any],
) -> None:
    for timer, rule in timers:
        due_at = due_moment(rule, anchors, data) or PENDING
        if due_at != timer.due_at:
            flow.retime(timer.task_id, due_at)


def anchor_deadlines(
    flow: Flow,
    elements: Mapping[str, Any],
    catalog: Catalog,
    data: Mapping[str, Any],
    anchors: Callable[[], Mapping[str, datetime | None]],
) -> dict[str, datetime | None] | None:
    """Give every waiting deadline timer the moment its deadline falls, counted from its anchor event's recorded
    time. `anchors()` gives the anchor events' moments as recorded after the step (the service layer reads them from
    the case's flushed history, the simulator derives them from its own); it is asked only when the case has anything
    anchored (timers or task due times). Returns those moments, else None."""
    agreement = data.get("avtal") if isinstance(data.get("avtal"), str) else None
    timers = anchored_timers(flow, elements, catalog, agreement, data)
    has_anchored_tasks = any(
        anchored_rule(catalog, (elements.get(t.element_id, {}).get("properties") or {}).get("due"), agreement, data)
        for t in flow.ready_human_tasks()
    )
    if not timers and not has_anchored_tasks:
        return None
    found = dict(anchors())
    set_moments(flow, timers, found, data)
    return found
