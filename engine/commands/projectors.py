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

The writes are plain statements compiled once per dialect and run as driver SQL on the unit of work's connection
(engine/persistence/statements.py; issue 16 point 7): the step's history rows are queued as the projectors (and a
completed task, engine/commands/tasks.py) record them and written in ONE statement (`write_queued_history`: before
the anchors are read, before a fired timer's row, and before the status projector's rows); the instance row the
projectors set is written by `write_instance` as one UPDATE with the row version check, no ORM flush. A warm
completion thus sends: its read, the task index row removed and the next inserted, the history rows, the instance row.

The unit of work commits once, after the command (convention 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CompoundSelect,
    Table,
    bindparam,
    delete,
    func,
    inspect,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.exc import StaleDataError

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
from engine.persistence.statements import Prepared, PreparedInsert

# The writes of every step compiled once per dialect and run as driver SQL (engine/persistence/statements.py: building
# and compiling a statement costs more than running it on SQLite): plain table statements, no ORM objects to flush or
# to synchronise (nothing in a step reads a removed task's row object). A step's history rows go in one executemany
# (every row may name the task whose first claim it takes: a completion row); the task index rows gone and opened;
# the instance row (`write_instance`, one statement per set of changed columns).
_HISTORY = cast(Table, HistoryEntry.__table__)
_TASKS = cast(Table, TaskIndex.__table__)
_INSTANCES = cast(Table, ProcessInstance.__table__)
_HISTORY_COLUMNS = ("instance_id", "at", "kind", "element_id", "task_id", "actor", "data", "task_created_at")


def _history_values(suffix: str) -> dict[str, Any]:
    """A history row's values; `task_claimed_at` is when the task `first_taken_of` (a task id, or none) was first
    claimed or given to someone, evaluated by the INSERT itself."""
    first_claim = (
        select(func.min(_HISTORY.c.at))
        .where(
            _HISTORY.c.task_id == bindparam(f"first_taken_of{suffix}", type_=_HISTORY.c.task_id.type),
            or_(_HISTORY.c.kind == literal_column("'claimed'"), _HISTORY.c.kind == literal_column("'reassigned'")),
        )
        .scalar_subquery()
    )
    columns = {c: bindparam(f"{c}{suffix}", type_=_HISTORY.c[c].type) for c in _HISTORY_COLUMNS}
    return columns | {"task_claimed_at": first_claim}


WRITE_HISTORY = PreparedInsert(_HISTORY, _history_values)
_TASK_COLUMNS = (
    "id", "instance_id", "process_id", "business_key", "element_id", "name", "lane", "role", "form", "unit",
    "created_at", "due_at", "flag",
)  # fmt: skip
WRITE_TASKS = PreparedInsert(
    _TASKS, lambda suffix: {c: bindparam(f"{c}{suffix}", type_=_TASKS.c[c].type) for c in _TASK_COLUMNS}
)
REMOVE_TASK = Prepared(delete(_TASKS).where(_TASKS.c.id == bindparam("task_id")))
_INSTANCE_UPDATES: dict[tuple[str, ...], Prepared] = {}
_INSTANCE_COLUMNS = frozenset(c.key for c in _INSTANCES.columns) - {"id"}


def save(step: StepContext) -> None:
    project_case(step)
    project_history(step)
    step.record = record(step)
    project_state(step)
    kept, added = project_timers(step)
    project_task_index(step)
    project_subscriptions(step, kept, added)
    write_queued_history(step.command)
    project_status(step)
    write_instance(step)
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
    queue_history(step.command, step.instance.id, step.now, completed_entries(step.log.completed))


def write_history(session: Session, instance_id: int, now: datetime, entries: Iterable[Entry]) -> None:
    insert_history(session, _entry_rows(instance_id, now, entries))


def _entry_rows(instance_id: int, now: datetime, entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": instance_id,
            "at": now,
            "kind": entry.kind,
            "element_id": entry.element_id,
            "task_id": entry.task_id,
            "data": entry.data,
        }
        for entry in entries
    ]


def queue_history(command: CommandContext, instance_id: int, now: datetime, entries: Iterable[Entry]) -> None:
    """History entries of the step being saved, written with the step's other rows (`write_queued_history`)."""
    command.history.extend(_entry_rows(instance_id, now, entries))


def queue_completion(command: CommandContext, row: dict[str, Any], first_taken_of: str) -> None:
    """A task's completion row, written with the rows of the step it starts; its `task_claimed_at` is when the task
    `first_taken_of` was first claimed or given to someone, evaluated by the INSERT itself."""
    command.history.append({**row, "first_taken_of": first_taken_of})


def write_queued_history(command: CommandContext) -> None:
    """The history rows the step queued so far, in the order they were recorded, in one statement."""
    rows, command.history = command.history, []
    write_history_rows(command.session, rows)


def insert_history(session: Session, rows: list[dict[str, Any]], first_taken_of: str | None = None) -> None:
    """History rows written at once (`write_history_rows`). `first_taken_of`: a task id; the rows' `task_claimed_at`
    is when that task was first claimed or given to someone, evaluated by the INSERT itself."""
    if first_taken_of is not None:
        rows = [{**row, "first_taken_of": first_taken_of} for row in rows]
    write_history_rows(session, rows)


def write_history_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """History rows as one INSERT: an executemany of plain rows through the statement prepared once (no ORM objects
    to flush: the flush was a quarter of a completion's time; no statement built per call). A row's `first_taken_of`
    (a task id, or none) gives its `task_claimed_at`: when that task was first claimed or given to someone, evaluated
    by the INSERT itself. The rows keep the order they were recorded in: while a history row added as an ORM object
    is still waiting for the flush, these are added as ORM objects behind it."""
    if not rows:
        return
    if any(isinstance(pending, HistoryEntry) for pending in session.new):
        for row in rows:
            values = dict(row)
            first_taken_of = values.pop("first_taken_of", None)
            first_taken = {} if first_taken_of is None else {"task_claimed_at": _first_taken(first_taken_of)}
            session.add(HistoryEntry(**values, **first_taken))
        return
    # every row with every column (one statement); a row without data gets the column's default, as an ORM object
    params = [
        {c: row.get(c) for c in _HISTORY_COLUMNS}
        | {"data": row.get("data", {}), "first_taken_of": row.get("first_taken_of")}
        for row in rows
    ]
    WRITE_HISTORY.execute(session.connection(), params)


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
        write_queued_history(step.command)  # this step's history rows, so the anchors include what just happened
        step.session.flush()
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
            write_queued_history(step.command)  # the rows recorded before it come first
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
            queue_history(step.command, instance.id, now, entries)
            for element_id, party, cause in deviations:
                session.add(Deviation(instance_id=instance.id, element_id=element_id, party=party, cause=cause, at=now))
        removed = [{"task_id": task_id} for task_id in rec.removed]
        REMOVE_TASK.execute(step.connection, removed if len(removed) > 1 else removed[0])
    for flag, ids in rec.flagged_before.items():
        session.execute(update(TaskIndex).where(TaskIndex.id.in_(ids), TaskIndex.flag.is_(None)).values(flag=flag))
    for task_id, due_at in rec.due_changes.items():
        session.execute(
            update(TaskIndex)
            .where(TaskIndex.id == task_id, TaskIndex.due_at.is_distinct_from(due_at))
            .values(due_at=due_at)
        )
    if rec.opened:  # one INSERT of plain rows for the opened tasks; their history goes with the step's
        opened = [
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
        ]
        WRITE_TASKS.execute(step.connection, opened)
        queue_history(step.command, instance.id, now, [task.entry for task in rec.opened])


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


def write_instance(step: StepContext) -> None:
    """The instance row as the projectors above set it (case data, units, state, status), written as one plain
    UPDATE of the columns that changed, with the row version check and bump the ORM's flush would do (the
    per-instance lock: a row another unit of work changed meanwhile fails with StaleDataError); the object is then
    as if flushed. Anything else changed on it is left to the unit of work's flush."""
    instance = step.instance
    state = inspect(instance)
    if state.key is None or state.deleted or not state.modified:
        return
    dict_ = state.dict
    committed = state.committed_state
    if "lock_version" in committed or "lock_version" not in dict_ or any(k not in _INSTANCE_COLUMNS for k in committed):
        return  # anything unusual: the ORM's flush writes it
    changed = tuple(sorted(k for k, old in committed.items() if k not in dict_ or old is NO_VALUE or old != dict_[k]))
    if any(k not in dict_ for k in changed):
        return
    if changed:
        version = dict_["lock_version"]
        values = {k: dict_[k] for k in changed} | {"_id": instance.id, "_version": version, "_next": version + 1}
        result = _instance_update(changed).execute(step.connection, values)
        if result.rowcount != 1:
            raise StaleDataError(
                f"UPDATE statement on table 'process_instances' expected to update 1 row(s); {result.rowcount} were "
                "matched."
            )
        dict_["lock_version"] = version + 1
    state._commit_all(dict_, step.session.identity_map)


def _instance_update(columns: tuple[str, ...]) -> Prepared:
    prepared = _INSTANCE_UPDATES.get(columns)
    if prepared is None:
        prepared = Prepared(
            update(_INSTANCES)
            .where(_INSTANCES.c.id == bindparam("_id"), _INSTANCES.c.lock_version == bindparam("_version"))
            .values({_INSTANCES.c[k]: bindparam(k) for k in columns} | {_INSTANCES.c.lock_version: bindparam("_next")})
        )
        _INSTANCE_UPDATES[columns] = prepared
    return prepared


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
