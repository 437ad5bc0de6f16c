"""Each projector of a step's save (engine/commands/projectors.py) on its own, against the real database: a step is
run on an instance's workflow by hand inside the service layer's unit of work, then one projector (after those it
reads from) writes its part, and the test reads back the rows it wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.workflow import EngineIncident, Flow, StepLog
from engine.commands import projectors
from engine.commands.caches import Projection, TimerRow
from engine.commands.context import StepContext
from engine.commands.recording import Entry
from engine.persistence.models import (
    HistoryEntry,
    Incident,
    InstanceCorrelation,
    MessageSubscription,
    ProcessInstance,
    TaskIndex,
    Timer,
)
from engine.platform import Platform
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM

H = timedelta(hours=1)
Action = Callable[[Flow, StepLog], None]


def waiting_between_tasks(process_id: str) -> str:
    """start -> user task 'forst' -> timer 'vanta' (PT2H) -> user task 'sedan' -> end."""
    return diagrams.linear(
        process_id,
        """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forst" name="Först" />
  <bpmn:intermediateCatchEvent id="vanta" name="Vänta">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT2H</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="sedan" name="Sedan" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forst" />
  <bpmn:sequenceFlow id="f2" sourceRef="forst" targetRef="vanta" />
  <bpmn:sequenceFlow id="f3" sourceRef="vanta" targetRef="sedan" />
  <bpmn:sequenceFlow id="f4" sourceRef="sedan" targetRef="end" />""",
    )


def guarded_task(process_id: str) -> str:
    """start -> user task 'forst' -> user task 'planera' (boundary timer 'sen' PT24H, not interrupting) -> end."""
    return diagrams.linear(
        process_id,
        """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forst" name="Först" />
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:boundaryEvent id="sen" attachedToRef="planera" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT24H</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end_sen" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forst" />
  <bpmn:sequenceFlow id="f2" sourceRef="forst" targetRef="planera" />
  <bpmn:sequenceFlow id="f3" sourceRef="planera" targetRef="end" />
  <bpmn:sequenceFlow id="f4" sourceRef="sen" targetRef="end_sen" />""",
    )


def task_id(platform: Platform, instance_id: int, element_id: str) -> str:
    with platform.db.read() as session:
        return session.scalars(
            select(TaskIndex.id).where(TaskIndex.instance_id == instance_id, TaskIndex.element_id == element_id)
        ).one()


def complete(platform: Platform, instance_id: int, element_id: str, data: dict[str, Any] | None = None) -> Action:
    wanted = task_id(platform, instance_id, element_id)
    return lambda flow, log: flow.complete(wanted, data or {}, platform.clock, log)


@contextmanager
def step_of(platform: Platform, instance_id: int, action: Action) -> Iterator[StepContext]:
    """A step run by hand in the service layer's unit of work (committed when the block ends), ready for projectors:
    the workflow restored from the stored state, `action` run on it, the index rows before it as the projection."""
    core = platform.runtime.core
    platform.runtime.forget_cached_flows()
    with core.unit() as command:
        session = command.session
        instance = core.lock(session, instance_id)
        definition = core.deployed(session, instance.definition_id)
        spec, subs = core.specs.get(session, definition)
        flow = core.flows.restore(instance.state, spec, subs)
        log = StepLog()
        incident = None
        try:
            action(flow, log)
        except EngineIncident as exc:
            incident = exc
        with session.no_autoflush:
            yield StepContext(
                command=command,
                instance=instance,
                definition=definition,
                flow=flow,
                log=log,
                actor=ENGINE,
                now=platform.clock.now(),
                catalog=core.catalog,
                facts=core.case_facts,
                projection=projectors.load_projection(session, instance_id),
                incident=incident,
            )


def rows(platform: Platform, model: Any, instance_id: int) -> list[Any]:
    with platform.db.read() as session:
        found = list(session.scalars(select(model).where(model.instance_id == instance_id).order_by(model.id)))
        session.expunge_all()
        return found


def history(platform: Platform, instance_id: int, *kinds: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(h.kind, h.element_id, h.data) for h in rows(platform, HistoryEntry, instance_id) if h.kind in kinds]


# ------------------------------------------------------------------------------------------------ case data
def test_case_projector_merges_what_the_step_changed_and_keeps_the_unit_columns(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "kommun = 'Eksjö'\nsteg = 2"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {"steg": 1, "namn": "Esther"}, SYSTEM)
    with step_of(platform, iid, complete(platform, iid, "forbered", {"anteckning": "klar"})) as step:
        projectors.project_case(step)
        assert step.data == {"steg": 2, "namn": "Esther", "anteckning": "klar", "kommun": "Eksjö"}
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None
        assert instance.data == {"steg": 2, "namn": "Esther", "anteckning": "klar", "kommun": "Eksjö"}
        assert instance.kommun == "Eksjö" and instance.updated_at == platform.clock.now()


# ------------------------------------------------------------------------------------------------ history
def test_history_projector_records_what_the_engine_did_and_not_the_user_task(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    before = len(rows(platform, HistoryEntry, iid))
    with step_of(platform, iid, complete(platform, iid, "forbered")) as step:
        projectors.project_history(step)
    written = rows(platform, HistoryEntry, iid)[before:]
    assert [(h.kind, h.element_id, h.data) for h in written] == [
        ("element_completed", "skript", {"type": "ScriptTask"})
    ]
    assert written[0].at == platform.clock.now()


# ------------------------------------------------------------------------------------------------ state
def test_state_projector_stores_a_workflow_that_restores_to_the_same_step(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    with step_of(platform, iid, complete(platform, iid, "forbered")) as step:
        projectors.project_state(step)
        expected = [t.element_id for t in step.flow.ready_human_tasks()]
    core = platform.runtime.core
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None
        spec, subs = core.specs.get(session, core.deployed(session, instance.definition_id))
        restored = core.flows.restore(instance.state, spec, subs)
    assert expected == ["efter"] and [t.element_id for t in restored.ready_human_tasks()] == expected


# ------------------------------------------------------------------------------------------------ timers
def test_timer_projector_writes_a_new_timer_and_tells_the_unit_of_work_its_due_time(platform):
    platform.runtime.deploy(waiting_between_tasks("vanta"), OWNER)
    iid = platform.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    assert rows(platform, Timer, iid) == []
    with step_of(platform, iid, complete(platform, iid, "forst")) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        kept, added = projectors.project_timers(step)
        assert kept == {} and [t.element_id for t in added] == ["vanta"]
        assert step.command.earliest_new_timer == platform.clock.now() + 2 * H
    [timer] = rows(platform, Timer, iid)
    assert (timer.element_id, timer.due_at, timer.created_at) == (
        "vanta",
        platform.clock.now() + 2 * H,
        platform.clock.now(),
    )
    assert timer.kind == "duration" and not timer.boundary


def test_timer_projector_deletes_a_fired_timer_and_records_it_in_history(platform):
    platform.runtime.deploy(waiting_between_tasks("vanta"), OWNER)
    iid = platform.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    platform.runtime.complete_task(task_id(platform, iid, "forst"), {}, ENGINE)
    [timer] = rows(platform, Timer, iid)
    platform.clock.advance(3 * H)  # an hour late
    due = timer.due_at
    with step_of(platform, iid, lambda flow, log: flow.run(platform.clock, log, fire_due=due)) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        kept, added = projectors.project_timers(step)
        assert kept == {} and added == []
    assert rows(platform, Timer, iid) == []
    assert history(platform, iid, "timer_fired") == [
        ("timer_fired", "vanta", {"due_at": due.isoformat(), "lateness_seconds": 3600.0})
    ]


# ------------------------------------------------------------------------------------------------ task index
def test_task_index_projector_removes_the_done_task_and_opens_the_next_with_its_due_time(platform):
    platform.runtime.deploy(guarded_task("frist"), OWNER)
    iid = platform.runtime.start_instance("frist", "bk", {}, SYSTEM)
    done = task_id(platform, iid, "forst")
    with step_of(platform, iid, complete(platform, iid, "forst")) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        projectors.project_task_index(step)
        assert step.record.removed == (done,) and step.record.closed == ()
    [task] = rows(platform, TaskIndex, iid)
    due = platform.clock.now() + 24 * H
    assert (task.element_id, task.name, task.created_at, task.due_at) == (
        "planera",
        "Planera",
        platform.clock.now(),
        due,
    )
    assert history(platform, iid, "task_created")[-1] == (
        "task_created",
        "planera",
        {"name": "Planera", "lane": None, "due_at": due.isoformat()},
    )
    assert history(platform, iid, "task_closed") == []  # completed, not closed


# ------------------------------------------------------------------------------------------------ subscriptions
def test_subscription_projector_writes_the_awaited_message_and_the_correlation_keys(platform):
    platform.runtime.deploy(diagrams.message_start_process("meddelande", "start_m", "nasta_m"), OWNER)
    correlation = {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-1"}
    iid = platform.runtime.send_message("start_m", "m-1", correlation, {}, SYSTEM).instance_id
    assert rows(platform, MessageSubscription, iid) == []
    with platform.db.unit_of_work() as session:  # as if never written: the projector writes what the flow awaits
        session.execute(delete(InstanceCorrelation).where(InstanceCorrelation.instance_id == iid))
    with step_of(platform, iid, complete(platform, iid, "registrera")) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        projectors.project_subscriptions(step, {}, [])
        saved = step.command.saved[iid]
    assert [s.message_name for s in rows(platform, MessageSubscription, iid)] == ["nasta_m"]
    assert sorted((c.name, c.value) for c in rows(platform, InstanceCorrelation, iid)) == sorted(correlation.items())
    assert saved.subscriptions == frozenset({"nasta_m"}) and saved.task_ids == frozenset()
    assert saved.correlations == frozenset(correlation.items())


# ------------------------------------------------------------------------------------------------ status
def test_status_projector_records_an_incident_with_its_element(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1 / 0"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    with step_of(platform, iid, complete(platform, iid, "forbered")) as step:
        assert step.incident is not None
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        projectors.project_status(step)
        assert step.instance.status == "incident" and step.command.failed(iid) == {"skript"}
    [incident] = rows(platform, Incident, iid)
    assert incident.element_id == "skript" and incident.resolved_at is None and incident.failures == 1
    assert [(k, e) for k, e, _ in history(platform, iid, "incident")] == [("incident", "skript")]


def test_status_projector_completes_a_finished_case(platform):
    platform.runtime.deploy(diagrams.single_task("enkel"), OWNER)
    iid = platform.runtime.start_instance("enkel", "bk", {}, SYSTEM)
    with step_of(platform, iid, complete(platform, iid, "uppgift")) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        projectors.project_status(step)
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None and (instance.status, instance.ended_at) == ("completed", platform.clock.now())
    assert [k for k, _, _ in history(platform, iid, "completed")] == ["completed"]


def test_status_projector_leaves_a_case_with_an_open_task_running_and_one_that_waits_waiting(platform):
    platform.runtime.deploy(waiting_between_tasks("vanta"), OWNER)
    iid = platform.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    with step_of(platform, iid, complete(platform, iid, "forst")) as step:
        step.data = dict(step.instance.data or {})
        step.record = projectors.record(step)
        projectors.project_status(step)
        assert step.instance.status == "waiting"  # only a timer: nobody has anything to do


# ------------------------------------------------------------------------------------------------ written at once
def test_history_rows_are_written_at_once_and_in_order_behind_one_still_waiting_for_the_flush(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    before = len(rows(platform, HistoryEntry, iid))
    now = platform.clock.now()
    with platform.db.unit_of_work() as session, session.no_autoflush:
        projectors.write_history(session, iid, now, [Entry("element_completed", "a", None, {"type": "ScriptTask"})])
        assert not session.new  # no ORM object left for the flush: the row is in the table already
        assert session.scalar(select(HistoryEntry.element_id).order_by(HistoryEntry.id.desc()).limit(1)) == "a"
        session.add(HistoryEntry(instance_id=iid, at=now, kind="comment", element_id="b", data={}))
        projectors.write_history(session, iid, now, [Entry("element_completed", "c"), Entry("task_created", "d")])
        projectors.insert_history(session, [{"instance_id": iid, "at": now, "kind": "cancelled", "element_id": "e"}])
    written = rows(platform, HistoryEntry, iid)[before:]
    assert [(h.kind, h.element_id, h.data) for h in written] == [
        ("element_completed", "a", {"type": "ScriptTask"}),
        ("comment", "b", {}),
        ("element_completed", "c", {}),
        ("task_created", "d", {}),
        ("cancelled", "e", {}),  # a row without data gets the column's default, as an ORM object does
    ]


def test_the_index_projection_is_read_from_the_four_tables_in_one_statement(platform):
    platform.runtime.deploy(waiting_between_tasks("vanta"), OWNER)
    iid = platform.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    other = platform.runtime.start_instance("vanta", "bk2", {}, SYSTEM)
    open_task = task_id(platform, iid, "forst")
    platform.runtime.complete_task(task_id(platform, other, "forst"), {}, ENGINE)  # a timer of another case
    due = platform.clock.now() + 2 * H
    with platform.db.unit_of_work() as session:
        session.add(Timer(instance_id=iid, task_id="t-1", element_id="vanta", kind="duration", due_at=due,
                          created_at=platform.clock.now()))  # fmt: skip
        session.add_all([MessageSubscription(instance_id=iid, message_name=m) for m in ("m1", "m2")])
        session.add(InstanceCorrelation(instance_id=iid, name="personnummer", value="19121212-1212"))
    with platform.db.read() as session:
        [timer_id] = session.scalars(select(Timer.id).where(Timer.instance_id == iid))
        projection = projectors.load_projection(session, iid)
        assert projectors.load_projection(session, other).task_ids == frozenset()
    assert projection == Projection(
        {"t-1": TimerRow(timer_id, "t-1", "vanta", due)},
        frozenset({open_task}),
        frozenset({"m1", "m2"}),
        frozenset({("personnummer", "19121212-1212")}),
    )
    assert projection.timers["t-1"].due_at.tzinfo is not None


def test_a_completion_row_takes_the_first_claim_of_its_task_written_at_once_or_behind_a_waiting_row(platform):
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    now = platform.clock.now()
    with platform.db.unit_of_work() as session:
        for at, kind in ((now - 2 * H, "claimed"), (now - H, "reassigned"), (now - 3 * H, "comment")):
            session.add(HistoryEntry(instance_id=iid, at=at, kind=kind, task_id="t1", data={}))
    row = {"instance_id": iid, "at": now, "kind": "task_completed", "task_id": "t1", "task_created_at": now - 4 * H}
    with platform.db.unit_of_work() as session, session.no_autoflush:
        projectors.insert_history(session, [row], first_taken_of="t1")  # at once
        session.add(HistoryEntry(instance_id=iid, at=now, kind="comment", data={}))
        projectors.insert_history(session, [row], first_taken_of="t1")  # behind the waiting comment
    written = [(h.kind, h.task_created_at, h.task_claimed_at) for h in rows(platform, HistoryEntry, iid)[-3:]]
    assert written == [
        ("task_completed", now - 4 * H, now - 2 * H),
        ("comment", None, None),
        ("task_completed", now - 4 * H, now - 2 * H),
    ]


# ------------------------------------------------------------------------------------------------ the warm save
def statements_of(platform: Platform, run: Callable[[], Any]) -> list[tuple[str, bool]]:
    """The statements `run` sends to the database, each with whether it was an executemany."""
    seen: list[tuple[str, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        seen.append((" ".join(statement.split()), executemany))

    event.listen(platform.db.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", record)
    return seen


def test_a_warm_completion_sends_one_statement_per_table_it_writes(platform):
    """A completion whose workflow is cached: the task and its instance read (with the lock), the task index row
    removed and the next one inserted, the step's history rows (the completion, what the engine did, the task
    created) in ONE executemany, the instance row in one UPDATE with the version check; nothing else."""
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    assert platform.runtime.is_flow_cached(iid)
    with platform.db.read() as session:
        version = session.scalar(select(ProcessInstance.lock_version).where(ProcessInstance.id == iid))
    first = task_id(platform, iid, "forbered")
    seen = statements_of(platform, lambda: platform.runtime.complete_task(first, {}, ENGINE))
    writes = [
        (s.split(" (")[0].split(" SET ")[0].split(" WHERE ")[0], many)
        for s, many in seen
        if not s.startswith(("SELECT", "BEGIN"))
    ]
    assert writes == [
        ("DELETE FROM task_index", False),
        ("INSERT INTO task_index", False),
        ("INSERT INTO history", platform.db.dialect == "sqlite"),  # one executemany; on PostgreSQL one VALUES list
        ("UPDATE process_instances", False),
    ]
    reads = [s for s, _ in seen if s.startswith("SELECT")]
    assert len(reads) == (1 if platform.db.dialect == "sqlite" else 2)
    assert [(h.kind, h.element_id) for h in rows(platform, HistoryEntry, iid)[-3:]] == [
        ("task_completed", "forbered"),
        ("element_completed", "skript"),
        ("task_created", "efter"),
    ]
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None and instance.lock_version == version + 1
    assert platform.runtime.is_flow_cached(iid)  # kept with the version it was saved as: the next one is warm too
    second = task_id(platform, iid, "efter")
    seen = statements_of(platform, lambda: platform.runtime.complete_task(second, {}, ENGINE))
    assert not any("load" in s.lower() or "from timers" in s.lower() for s, _ in seen)  # no projection read
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None and instance.status == "completed" and instance.lock_version == version + 2


def test_the_instance_row_is_written_as_one_update_with_the_version_check(platform):
    """`write_instance`: the columns the projectors changed in one UPDATE, the row version bumped as the ORM's flush
    does, the object left as if flushed (nothing for the flush to write); a row another unit of work changed
    meanwhile fails like the ORM's version check."""
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    with platform.db.read() as session:
        version = session.scalar(select(ProcessInstance.lock_version).where(ProcessInstance.id == iid))
    with step_of(platform, iid, complete(platform, iid, "forbered", {"anteckning": "klar"})) as step:
        projectors.project_case(step)
        projectors.project_state(step)
        seen = statements_of(platform, lambda: projectors.write_instance(step))
        assert len(seen) == 1 and seen[0][0].startswith("UPDATE process_instances SET data=")
        assert step.instance.lock_version == version + 1 and not step.session.dirty
        assert statements_of(platform, step.session.flush) == []
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance is not None and instance.lock_version == version + 1
        assert instance.data == {"anteckning": "klar", "x": 1} and instance.updated_at == platform.clock.now()
    with pytest.raises(StaleDataError), step_of(platform, iid, lambda flow, log: None) as step:
        step.instance.data = {"anteckning": "ändrad"}
        table = ProcessInstance.__table__
        step.connection.execute(  # another unit of work's change, which the session's object does not see
            update(table).where(table.c.id == iid).values(lock_version=table.c.lock_version + 5)
        )
        projectors.write_instance(step)


def test_queued_history_rows_are_written_in_one_statement_in_the_order_recorded(platform):
    """A step's history rows (a completion, with the first claim of its task, then what followed) wait for the
    step's save and are written as one executemany; behind a history row still waiting for the flush they are
    added as ORM objects, in order."""
    platform.runtime.deploy(diagrams.script_process("skript", "x = 1"), OWNER)
    iid = platform.runtime.start_instance("skript", "bk", {}, SYSTEM)
    now = platform.clock.now()
    with platform.db.unit_of_work() as session:
        session.add(HistoryEntry(instance_id=iid, at=now - H, kind="claimed", task_id="t1", data={}))
    row = {"instance_id": iid, "at": now, "kind": "task_completed", "task_id": "t1", "data": {"name": "Förbered"}}
    for waiting in (False, True):
        with platform.runtime.core.unit() as command:
            if waiting:
                command.session.add(HistoryEntry(instance_id=iid, at=now, kind="comment", data={}))
            projectors.queue_completion(command, row, first_taken_of="t1")
            projectors.queue_history(
                command, iid, now, [Entry("element_completed", "skript"), Entry("task_created", "efter")]
            )
            assert statements_of(platform, lambda: None) == []  # nothing written yet
            seen = statements_of(platform, lambda: projectors.write_queued_history(command))
            many = platform.db.dialect == "sqlite"  # (on PostgreSQL one INSERT with a VALUES row per row)
            assert seen == ([] if waiting else [(seen[0][0], many)]) and command.history == []
    written = [(h.kind, h.element_id, h.task_claimed_at) for h in rows(platform, HistoryEntry, iid)[-7:]]
    assert (
        written
        == [
            ("claimed", None, None),
            ("task_completed", None, now - H),
            ("element_completed", "skript", None),
            ("task_created", "efter", None),
            ("comment", None, None),
            ("task_completed", None, now - H),
            ("element_completed", "skript", None),
            ("task_created", "efter", None),
        ][-7:]
    )
