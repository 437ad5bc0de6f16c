"""What one step of a workflow records, as a pure function: shared by the service layer (engine/commands/projectors.py
writes it as rows) and the simulator (engine/features/simulation.py keeps it in memory), so a simulated case's history
has the real one's shape: the elements the engine completed, the tasks it opened (with their due times, counted from
the anchor events as recorded after this step) and the tasks that went away, closed or completed.

No session and no rows here: the inputs are the workflow after the step, the step's log, the tasks known before, the
definition's elements, the case data and the catalogue (for deadlines and units); the one outside input, the anchor
events' moments, comes from a callback that sees this step's completed elements first (the real one writes them and
reads the case's facts; the simulator derives them from its in-memory history).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bpmn.workflow import PENDING, Flow, HumanTask, StepLog, WaitingTimer
from engine.domain.catalog import Catalog, CatalogError
from engine.domain.deadlines import counts_from_event, due_moment

ENGINE_TASK_TYPES_NOT_LOGGED = frozenset({"UserTask", "ManualTask", "NoneTask"})

Anchors = dict[str, datetime | None]


@dataclass(frozen=True)
class Entry:
    """One history entry a step records (HistoryEntry's kind, element, task and data; the moment is the step's)."""

    kind: str
    element_id: str | None = None
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedTask:
    """A human task the step made ready: what its task-index row and its `task_created` entry say."""

    id: str
    element_id: str
    name: str
    lane: str | None
    role: str | None
    form: str | None
    unit: str | None
    due_at: datetime | None
    flag: str | None

    @property
    def entry(self) -> Entry:
        due = self.due_at.isoformat() if self.due_at else None
        return Entry("task_created", self.element_id, self.id, {"name": self.name, "lane": self.lane, "due_at": due})


@dataclass(frozen=True)
class StepRecord:
    completed: tuple[Entry, ...]  # element_completed, in completion order
    completed_ids: frozenset[str]  # every task the step completed (also user tasks, which are not logged)
    anchors: Anchors | None  # the anchor events' moments, when the case has anything anchored
    timers: dict[str, WaitingTimer]  # the timers waiting after the step (not those PENDING an anchor event)
    ready: tuple[HumanTask, ...]
    opened: tuple[OpenedTask, ...]
    due_changes: dict[str, datetime | None]  # tasks open before whose due time is counted again (anchors)
    removed: tuple[str, ...]  # tasks open before that are not any more
    closed: tuple[str, ...]  # of those, the ones the step did not complete (an interrupting event closed them)
    flags: dict[str, str]  # task id -> flag text, of every ready task the case has moved past
    flagged_before: dict[str, tuple[str, ...]]  # flag text -> tasks open before that get it now (if they had none)

    @property
    def ready_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self.ready)

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The history entries of the step in the order they are written: completed elements, then opened tasks."""
        return self.completed + tuple(t.entry for t in self.opened)


def completed_entries(completed: Iterable[tuple[str, str, str]]) -> tuple[Entry, ...]:
    """`element_completed` for what the engine did by itself (not the user tasks, recorded as `task_completed`)."""
    return tuple(
        Entry("element_completed", element_id, task_id, {"type": task_type})
        for task_id, element_id, task_type in completed
        if task_type not in ENGINE_TASK_TYPES_NOT_LOGGED
    )


def case_data_after(previous: Mapping[str, Any], flow: Flow, log: StepLog) -> dict[str, Any]:
    """The case data: the previous case data with what each task completed in this step changed, in completion
    order. SpiffWorkflow keeps data per branch; staff and reports need one current value per field."""
    data = dict(previous)
    for task_id, _, _ in log.completed:
        updated, deleted = flow.changes(task_id)
        for key in deleted:
            data.pop(key, None)
        data.update(updated)
    return data


def record_step(
    flow: Flow,
    log: StepLog,
    *,
    known_tasks: Collection[str],
    elements: Mapping[str, Any],
    data: Mapping[str, Any],
    catalog: Catalog,
    now: datetime,
    anchors_after: Callable[[Sequence[Entry]], Anchors | None],
    cancelled: bool = False,
) -> StepRecord:
    """What the step just run on `flow` records. `known_tasks`: the ready human tasks before it. `anchors_after`
    receives the completed elements' entries (to record them first) and gives the anchor events' moments after the
    step, setting the deadline timers' moments on the flow (engine/commands/deadline_timers.py); it is not asked
    for a cancelled case, which has no tasks or timers any more."""
    completed = completed_entries(log.completed)
    completed_ids = frozenset(task_id for task_id, _, _ in log.completed)
    anchors = None if cancelled else anchors_after(completed)
    waiting = [] if cancelled else flow.waiting_timers()
    timers = {t.task_id: t for t in waiting if t.due_at < PENDING}
    ready = () if cancelled else tuple(flow.ready_human_tasks())
    ready_ids = {t.id for t in ready}
    removed = tuple(task_id for task_id in known_tasks if task_id not in ready_ids)
    closed = () if cancelled else tuple(t for t in removed if t not in completed_ids)
    flags = task_flags(ready, data, elements)
    flagged = [t for t in known_tasks if t in ready_ids and t in flags]
    flagged_before = {
        flag: tuple(t for t in flagged if flags[t] == flag) for flag in sorted({flags[t] for t in flagged})
    }
    opened: list[OpenedTask] = []
    due_changes: dict[str, datetime | None] = {}
    for task in ready:
        props = elements.get(task.element_id, {}).get("properties") or {}
        if task.id in known_tasks:
            if anchors is not None and props.get("due"):  # its anchor event may have been recorded now
                due_changes[task.id] = task_due(
                    catalog, props.get("due"), data, None, task.element_id, timers.values(), elements, anchors
                )
            continue
        lane = elements.get(task.element_id, {}).get("lane") or task.lane
        opened.append(
            OpenedTask(
                id=task.id,
                element_id=task.element_id,
                name=task.name,
                lane=lane,
                role=props.get("role"),
                form=props.get("form"),
                unit=catalog.unit_for_lane(lane, dict(data)),
                due_at=task_due(
                    catalog, props.get("due"), data, now, task.element_id, timers.values(), elements, anchors
                ),
                flag=flags.get(task.id),
            )
        )
    return StepRecord(
        completed, completed_ids, anchors, timers, ready, tuple(opened), due_changes, removed, closed, flags,
        flagged_before,
    )  # fmt: skip


def task_flags(ready: Iterable[HumanTask], data: Mapping[str, Any], elements: Mapping[str, Any]) -> dict[str, str]:
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


def task_due(
    catalog: Catalog,
    due: str | None,
    data: Mapping[str, Any],
    now: datetime | None,
    element_id: str,
    timers: Iterable[WaitingTimer],
    elements: Mapping[str, Any],
    anchors: Anchors | None = None,
) -> datetime | None:
    """A task's due time: its agreement deadline counted from the anchor event (the same moment its deadline
    timer has), an ISO duration counted from the task's creation, or else its earliest boundary timer."""
    if due:
        try:
            rule = catalog.deadline_rule(due, data.get("avtal"), dict(data))
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


def closed_task_entries(
    closed: Iterable[tuple[str, str, str, str | None]],
    completed: Iterable[tuple[str, str, str]],
    elements: Mapping[str, Any],
) -> tuple[list[Entry], list[tuple[str, str, str]]]:
    """Open tasks that an interrupting event closed (a discharge, a death, a withdrawal) are never dropped
    silently: each (task id, element, name, lane) gets a `task_closed` entry naming the event that closed it, and an
    event with an `avvikelse` property records one deviation (element, party, cause) per party (lane) whose tasks it
    closed. Timers record their own deviation when they fire (`timer_fired`)."""
    closers = [
        element_id
        for _, element_id, _ in completed
        if elements.get(element_id, {}).get("type") == "boundaryEvent"
        and elements.get(element_id, {}).get("cancel_activity") is not False
    ]
    if not closers:
        return [], []

    def inside(element_id: str, host: str | None) -> bool:
        current: str | None = element_id
        for _ in range(64):
            if current is None:
                return False
            if current == host:
                return True
            current = (elements.get(current) or {}).get("parent")
        return False

    entries: list[Entry] = []
    parties: dict[str, set[str]] = {}
    for task_id, element_id, name, lane in closed:
        by = [c for c in closers if inside(element_id, elements[c].get("attached_to"))] or closers[:1]
        reason = ", ".join(str(elements[c].get("name") or c) for c in by)
        entries.append(
            Entry("task_closed", element_id, task_id, {"name": name, "lane": lane, "reason": reason, "closed_by": by})
        )
        for closer in by:
            info = elements[closer]
            if (info.get("properties") or {}).get("avvikelse") and not info.get("timer") and lane:
                parties.setdefault(closer, set()).add(lane)
    deviations = [
        (closer, lane, str(elements[closer]["properties"]["avvikelse"]))
        for closer, lanes in parties.items()
        for lane in sorted(lanes)
    ]
    return entries, deviations


def timer_fired(
    task_id: str,
    element_id: str,
    due_at: datetime,
    now: datetime,
    elements: Mapping[str, Any],
    flow: Flow | None = None,
) -> tuple[Entry, list[str | None], Any]:
    """A timer that fired: its `timer_fired` entry (with how late), and when its element has an `avvikelse`, the
    parties charged with it and the cause: the guarded task's lane, or for a guarded subprocess every party with work
    still open in it or beside it (Flow.late_work); else the guarded element's lane."""
    lateness = (now - due_at).total_seconds()
    entry = Entry(
        "timer_fired", element_id, task_id, {"due_at": due_at.isoformat(), "lateness_seconds": max(0.0, lateness)}
    )
    info = elements.get(element_id, {})
    cause = (info.get("properties") or {}).get("avvikelse")
    if not cause:
        return entry, [], None
    attached = elements.get(info.get("attached_to") or "", {})
    parties: list[str | None] = []
    for work_element, lane in flow.late_work(task_id, info.get("attached_to")) if flow is not None else []:
        party = elements.get(work_element, {}).get("lane") or lane or attached.get("lane")
        if party and party not in parties:
            parties.append(party)
    return entry, parties or [attached.get("lane") or info.get("lane")], cause
