"""Saving a step: a sequence of projectors, each writing one part of what a step changes from its `StepContext`
(the workflow after the step, its log, the index rows before it) and what the step records
(engine/commands/recording.py). `save` runs them in this order, inside the command's unit of work:

1. `project_case`: the case data (merged from what the step's tasks changed) and the case's unit columns.
2. `project_history`: the elements the engine completed (before the deadlines, which count from them).
3. `record`: what the step records, with the deadline timers' moments from the anchor events as now recorded.
4. `project_state`: the workflow's serialized state (the one place the state is written).
5. `project_timers`: rows of timers that started or stopped waiting; fired ones in history (with deviations).
6. `project_task_index`: rows of the human tasks opened and gone (closed ones in history), due times, flags.
7. `project_subscriptions`: awaited messages and the correlation keys.
8. `project_status`: status, incidents, the cancellation's history and audit.
9. `project_facts`: the case's facts for the figures (engine/domain/facts.py), after one flush.

The unit of work commits once, after the command (convention 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CompoundSelect, Table, bindparam, delete, func, insert, literal, null, select, union_all, update
from sqlalchemy.orm import Session

from engine.bpmn.workflow import SERIALIZER_VERSION, EngineIncident, Flow
from engine.commands.caches import Projection, TimerRow
from engine.commands.common import CORRELATION_KEYS, MAX_TIMER_ATTEMPTS, json_safe
from engine.commands.context import CommandContext, SavedProjection, StepContext
from engine.commands.deadline_timers import anchor_deadlines as anchor_deadlines_of
from engine.commands.facts_store import CaseFactsKeeper
from engine.commands.recording import (
    Anchors,
    Entry,
    StepRecord,
    case_data_after,
    closed_task_entries,
    completed_entries,
    record_step,
)
from engine.commands.recording import timer_fired as timer_fired_record
from engine.domain.routing import CASE_UNIT_KEYS
from engine.persistence.models import (
    AuditEntry,
    Deviation,
    HistoryEntry,
    Incident,
    InstanceCorrelation,
    MessageSubscription,
    ProcessInstance,
    TaskIndex,
    Timer,
)

# Statements of every completion built once (building a statement costs more than running it on SQLite); plain
# table statements, no ORM objects to flush or to synchronise (nothing in a step reads a removed task's row object).
_HISTORY = cast(Table, HistoryEntry.__table__)
_TASKS = cast(Table, TaskIndex.__table__)
INSERT_HISTORY = insert(_HISTORY)
# A completion's row with the moment its task was first taken, a subquery the INSERT evaluates itself.
INSERT_COMPLETION = insert(_HISTORY).values(
    task_claimed_at=select(func.min(_HISTORY.c.at))
    .where(_HISTORY.c.task_id == bindparam("first_taken_of"), _HISTORY.c.kind.in_(("claimed", "reassigned")))
    .scalar_subquery()
)
INSERT_TASKS = insert(_TASKS)
DELETE_TASKS = delete(_TASKS).where(_TASKS.c.id.in_(bindparam("ids", expanding=True)))


def save(step: StepContext) -> None:
    project_case(step)
    project_history(step)
    step.record = record(step)
    project_state(step)
    kept, added = project_timers(step)
    project_task_index(step)
    project_subscriptions(step, kept, added)
    project_status(step)
    step.session.flush()
    project_facts(step)


# ------------------------------------------------------------------------------------------------ the projectors
def project_case(step: StepContext) -> None:
    """The case data after the step and the unit columns the worklists and need-to-know read."""
    instance = step.instance
    step.data = json_safe(case_data_after(instance.data or {}, step.flow, step.log))
    instance.data = step.data
    instance.updated_at = step.now
    for column, key in CASE_UNIT_KEYS.items():
        value = step.data.get(key)
        value = str(value)[:100] if value not in (None, "") else None
        if getattr(instance, column) != value:
            setattr(instance, column, value)


def project_history(step: StepContext) -> None:
    """History of what the engine did by itself in the step (the elements it completed), written before the
    deadlines are counted, which may count from them."""
    write_history(step.session, step.instance.id, step.now, completed_entries(step.log.completed))


def write_history(session: Session, instance_id: int, now: datetime, entries: Iterable[Entry]) -> None:
    insert_history(
        session,
        [
            {
                "instance_id": instance_id,
                "at": now,
                "kind": entry.kind,
                "element_id": entry.element_id,
                "task_id": entry.task_id,
                "data": entry.data,
            }
            for entry in entries
        ],
    )


_HISTORY_COLUMNS = (
    "instance_id", "at", "kind", "element_id", "task_id", "actor", "data", "task_created_at", "task_claimed_at"
)  # fmt: skip


def insert_history(session: Session, rows: list[dict[str, Any]], first_taken_of: str | None = None) -> None:
    """History rows written at once as one INSERT (an executemany of plain rows, no ORM objects to flush: the
    flush was a quarter of a completion's time). `first_taken_of`: a task id; the rows' `task_claimed_at` is when that
    task was first claimed or given to someone, evaluated by the INSERT itself. The rows keep the order they were
    recorded in: while a history row added as an ORM object is still waiting for the flush, these are added as ORM
    objects behind it."""
    if not rows:
        return
    if any(isinstance(pending, HistoryEntry) for pending in session.new):
        first_taken = {} if first_taken_of is None else {"task_claimed_at": _first_taken(first_taken_of)}
        session.add_all(HistoryEntry(**row, **first_taken) for row in rows)
        return
    columns = [c for c in _HISTORY_COLUMNS if first_taken_of is None or c != "task_claimed_at"]
    # every row with every column (one statement); a row without data gets the column's default, as an ORM object
    params = [{c: row.get(c) for c in columns} | {"data": row.get("data", {})} for row in rows]
    if first_taken_of is not None:
        for values in params:
            values["first_taken_of"] = first_taken_of
    session.execute(
        INSERT_HISTORY if first_taken_of is None else INSERT_COMPLETION,
        params if len(params) > 1 else params[0],
    )


def _first_taken(task_id: str) -> Any:
    return (
        select(func.min(HistoryEntry.at))
        .where(HistoryEntry.task_id == task_id, HistoryEntry.kind.in_(("claimed", "reassigned")))
        .scalar_subquery()
    )


def record(step: StepContext) -> StepRecord:
    """What the step records (engine/commands/recording.py), the anchors read after this step's history."""
    return record_step(
        step.flow,
        step.log,
        known_tasks=step.projection.task_ids,
        elements=step.elements,
        data=step.data,
        catalog=step.catalog,
        now=step.now,
        anchors_after=lambda _completed: anchor_deadlines(step),
        cancelled=step.cancelled,
    )


def anchor_deadlines(step: StepContext) -> Anchors | None:
    """Deadlines count from their anchor events' recorded moments (engine/domain/deadlines.py), not from when a
    task or timer was created: every waiting deadline timer gets its moment now that this step's events are
    recorded (engine/commands/deadline_timers.py)."""

    def recorded() -> Anchors:
        step.session.flush()  # this step's history rows, so the anchors include what just happened
        return step.facts.anchors(step.session, step.instance)

    return anchor_deadlines_of(step.flow, step.elements, step.catalog, step.data, recorded)


def project_state(step: StepContext) -> None:
    """The workflow's state as serialized, with the serializer's version (convention 7)."""
    step.instance.serializer_version = SERIALIZER_VERSION
    step.instance.state = step.flow.dump()


def project_timers(step: StepContext) -> tuple[dict[str, TimerRow], list[Timer]]:
    """Rows for the timers waiting after the step: a moved due time updated, a gone timer deleted (recorded as
    fired when the step completed it, or a cycle moved on past its due time), a new one inserted and the scheduler
    told of the earliest. Returns the rows kept and added (the projection kept with the workflow)."""
    assert step.record is not None
    session, instance, now, projection = step.session, step.instance, step.now, step.projection
    new_timers = step.record.timers
    gone: list[int] = []
    kept: dict[str, TimerRow] = {}
    for task_id, row in projection.timers.items():
        current = new_timers.get(task_id)
        fired = task_id in step.record.completed_ids or (
            current is not None and current.kind == "cycle" and current.due_at != row.due_at and row.due_at <= now
        )
        if fired:
            record_timer_fired(session, instance, row, step.elements, now, step.flow)
        if current is None:
            gone.append(row.id)
        elif current.due_at != row.due_at:
            session.execute(update(Timer).where(Timer.id == row.id).values(due_at=current.due_at))
            kept[task_id] = TimerRow(row.id, task_id, row.element_id, current.due_at)
        else:
            kept[task_id] = row
    if gone:
        session.execute(delete(Timer).where(Timer.id.in_(gone)))
    added: list[Timer] = []
    for task_id, timer in new_timers.items():
        if task_id not in projection.timers:
            step.command.timer_added(timer.due_at)
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
            added.append(row_obj)
    return kept, added


def record_timer_fired(
    session: Session,
    instance: ProcessInstance,
    row: Any,
    elements: dict[str, Any],
    now: datetime,
    flow: Flow | None = None,
) -> None:
    """A fired timer's history row and its deviations (engine/commands/recording.py `timer_fired`). `row`: anything
    with task_id, element_id and due_at (a TimerRow, or the Timer row of a bounded cycle's last firing)."""
    entry, parties, cause = timer_fired_record(row.task_id, row.element_id, row.due_at, now, elements, flow)
    write_history(session, instance.id, now, [entry])
    if cause:
        for party in parties:
            session.add(Deviation(instance_id=instance.id, element_id=row.element_id, party=party, cause=cause, at=now))


def project_task_index(step: StepContext) -> None:
    """The task index: rows of tasks gone deleted (those an interrupting event closed in history, with their
    deviations), flags and due times of tasks still open brought up to date, rows of opened tasks inserted with
    their `task_created` history."""
    assert step.record is not None
    session, instance, now, rec = step.session, step.instance, step.now, step.record
    if rec.removed:
        if rec.closed:
            rows = session.scalars(
                select(TaskIndex).where(TaskIndex.id.in_(rec.closed)).order_by(TaskIndex.created_at)
            ).all()
            entries, deviations = closed_task_entries(
                [(r.id, r.element_id, r.name, r.lane) for r in rows], step.log.completed, step.elements
            )
            write_history(session, instance.id, now, entries)
            for element_id, party, cause in deviations:
                session.add(Deviation(instance_id=instance.id, element_id=element_id, party=party, cause=cause, at=now))
        session.execute(DELETE_TASKS, {"ids": list(rec.removed)})
    for flag, ids in rec.flagged_before.items():
        session.execute(update(TaskIndex).where(TaskIndex.id.in_(ids), TaskIndex.flag.is_(None)).values(flag=flag))
    for task_id, due_at in rec.due_changes.items():
        session.execute(
            update(TaskIndex)
            .where(TaskIndex.id == task_id, TaskIndex.due_at.is_distinct_from(due_at))
            .values(due_at=due_at)
        )
    if rec.opened:  # one INSERT of plain rows for the opened tasks, one for their history
        session.execute(
            INSERT_TASKS,
            [
                {
                    "id": task.id,
                    "instance_id": instance.id,
                    "process_id": instance.process_id,
                    "business_key": instance.business_key,
                    "element_id": task.element_id,
                    "name": task.name,
                    "lane": task.lane,
                    "role": task.role,
                    "form": task.form,
                    "unit": task.unit,
                    "created_at": now,
                    "due_at": task.due_at,
                    "flag": task.flag,
                }
                for task in rec.opened
            ],
        )
        write_history(session, instance.id, now, [task.entry for task in rec.opened])


def project_subscriptions(step: StepContext, kept: dict[str, TimerRow], added: list[Timer]) -> None:
    """Message subscriptions and correlation keys, rewritten only when they change; then what the index tables
    now hold is handed to the unit of work (kept with the workflow after the commit)."""
    assert step.record is not None
    session, instance, projection = step.session, step.instance, step.projection
    awaited = frozenset() if step.cancelled else frozenset(step.flow.awaited_messages())
    if awaited != projection.subscriptions:
        session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance.id))
        for name in sorted(awaited):
            session.add(MessageSubscription(instance_id=instance.id, message_name=name))
    wanted = frozenset((k, str(step.data[k])) for k in CORRELATION_KEYS if step.data.get(k) not in (None, ""))
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
    step.command.saved[instance.id] = SavedProjection(kept, added, step.record.ready_ids, awaited, wanted)


def project_status(step: StepContext) -> None:
    """The instance's status: an incident (recorded as data), cancelled (history and audit with the reason),
    completed, or running/waiting by whether a human task is open."""
    assert step.record is not None
    session, instance, now = step.session, step.instance, step.now
    if step.incident is not None:
        record_incident(step.command, instance, step.incident, now)
        instance.status = "incident"
    elif step.cancelled_reason is not None:
        instance.status, instance.ended_at = "cancelled", now
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="cancelled",
                actor=step.actor.username,
                data={"reason": step.cancelled_reason},
            )
        )
        session.add(
            AuditEntry(
                at=now,
                actor=step.actor.username,
                action="cancel_instance",
                target_type="instance",
                target_id=str(instance.id),
                details={"reason": step.cancelled_reason},
            )
        )
    elif step.flow.completed:
        instance.status, instance.ended_at = "completed", now
        session.add(HistoryEntry(instance_id=instance.id, at=now, kind="completed"))
    elif instance.status == "incident" and has_failed_timer(session, instance.id):
        pass  # a timer that failed MAX_TIMER_ATTEMPTS times still waits for a coordinator's retry
    else:
        instance.status = "running" if step.record.ready else "waiting"


def project_facts(step: StepContext) -> None:
    """The case's facts for the figures, derived from its history as now recorded (engine/domain/facts.py)."""
    refresh_facts(step.facts, step.session, step.instance, step.now)


# ------------------------------------------------------------------------------------------------ shared pieces
def refresh_facts(facts: CaseFactsKeeper, session: Session, instance: ProcessInstance, now: datetime) -> None:
    """The one call into the case facts' writer (engine/domain/facts.py) of the service layer."""
    facts.refresh(session, instance, now)


def record_incident(
    command: CommandContext, instance: ProcessInstance, incident: EngineIncident, now: datetime
) -> None:
    """An incident of the instance: the open one at the same element when there is one (a retry that failed
    again: it stays open, counts the failure and shows the newest message and values; no twin), else a new one.
    The element is remembered for `retry_instance`, which resolves only the incidents that did not fail again."""
    session = command.session
    seen = json_safe(incident.seen_values) if incident.seen_values else None
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
    command.failed(instance.id).add(incident.element_id)
    session.add(
        HistoryEntry(
            instance_id=instance.id,
            at=now,
            kind="incident",
            element_id=incident.element_id,
            data={"message": incident.message, "expression": incident.expression, "values": seen},
        )
    )


def has_failed_timer(session: Session, instance_id: int) -> bool:
    return (
        session.scalar(
            select(Timer.id).where(Timer.instance_id == instance_id, Timer.attempts >= MAX_TIMER_ATTEMPTS).limit(1)
        )
        is not None
    )


# What the index tables hold for an instance: one statement over the four tables, built once (building and keying
# it was most of what reading a projection cost).
_PROJECTION_PARTS = (
    select(
        literal("timer").label("part"),
        Timer.task_id.label("a"),
        Timer.element_id.label("b"),
        Timer.id.label("timer_id"),
        Timer.due_at.label("due_at"),
    ).where(Timer.instance_id == bindparam("instance_id")),
    select(literal("task"), TaskIndex.id, null(), null(), null()).where(
        TaskIndex.instance_id == bindparam("instance_id")
    ),
    select(literal("message"), MessageSubscription.message_name, null(), null(), null()).where(
        MessageSubscription.instance_id == bindparam("instance_id")
    ),
    select(literal("correlation"), InstanceCorrelation.name, InstanceCorrelation.value, null(), null()).where(
        InstanceCorrelation.instance_id == bindparam("instance_id")
    ),
)
_PROJECTION: CompoundSelect = union_all(*_PROJECTION_PARTS)
# ... and the instance's stored state (a deferred column) with it, for a cold step (core.Core.advance).
_STATE_AND_PROJECTION: CompoundSelect = union_all(
    *_PROJECTION_PARTS,
    select(literal("state"), ProcessInstance.state, null(), null(), null()).where(
        ProcessInstance.id == bindparam("instance_id")
    ),
)


def load_projection(session: Session, instance_id: int) -> Projection:
    """What the index tables hold for an instance (when no cached workflow carries it): one statement over the four
    tables (a cold completion read them with four), run on the session's connection (a Core statement: nothing of
    the ORM's to do)."""
    return _projection(session.connection().execute(_PROJECTION, {"instance_id": instance_id}).all())[1]


def load_state_and_projection(session: Session, instance_id: int) -> tuple[str | None, Projection]:
    """The instance's stored state (None without its row) and `load_projection`, in one statement."""
    return _projection(session.connection().execute(_STATE_AND_PROJECTION, {"instance_id": instance_id}).all())


def _projection(rows: Any) -> tuple[str | None, Projection]:
    state: str | None = None
    timers: dict[str, TimerRow] = {}
    task_ids: list[str] = []
    subscriptions: list[str] = []
    correlations: list[tuple[str, str]] = []
    for part, a, b, timer_id, due_at in rows:
        if part == "task":
            task_ids.append(a)
        elif part == "timer":
            timers[a] = TimerRow(timer_id, a, b, due_at)
        elif part == "message":
            subscriptions.append(a)
        elif part == "correlation":
            correlations.append((a, b))
        elif part == "state":
            state = a
    return state, Projection(timers, frozenset(task_ids), frozenset(subscriptions), frozenset(correlations))
