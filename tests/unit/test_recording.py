"""What a step records (engine/commands/recording.py), as a pure function of the workflow after the step: no
database. The service layer's projectors and the simulator both call it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.bpmn.parsing import parse_for_run
from engine.bpmn.workflow import Flow, FlowFactory, StepLog
from engine.commands.recording import Entry, closed_task_entries, completed_entries, record_step, timer_fired
from engine.domain.catalog import Catalog
from engine.domain.clock import STOCKHOLM, SimulatedClock
from tests import diagrams

CATALOG = Catalog(Path(__file__).parent.parent / "fixtures" / "catalog")
START = datetime(2027, 3, 1, 8, 0, tzinfo=STOCKHOLM)

GUARDED = diagrams.linear(
    "vakt",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forst" name="Först" />
  <bpmn:scriptTask id="rakna" name="Räkna"><bpmn:script>klar = True</bpmn:script></bpmn:scriptTask>
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:boundaryEvent id="sen" attachedToRef="planera" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT24H</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end_sen" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forst" />
  <bpmn:sequenceFlow id="f2" sourceRef="forst" targetRef="rakna" />
  <bpmn:sequenceFlow id="f3" sourceRef="rakna" targetRef="planera" />
  <bpmn:sequenceFlow id="f4" sourceRef="planera" targetRef="end" />
  <bpmn:sequenceFlow id="f5" sourceRef="sen" targetRef="end_sen" />""",
)


def started(clock: SimulatedClock) -> Flow:
    spec, subs = parse_for_run(GUARDED.encode(), "vakt", {})
    flow = FlowFactory().new(spec, subs, {})
    flow.run(clock, StepLog())
    return flow


def test_a_step_records_the_engine_s_elements_and_the_opened_task_with_its_due_time():
    clock = SimulatedClock(START)
    flow = started(clock)
    [first] = flow.ready_human_tasks()
    log = StepLog()
    flow.complete(first.id, {}, clock, log)
    asked: list[tuple[Entry, ...]] = []

    def anchors_after(completed):  # type: ignore[no-untyped-def]
        asked.append(tuple(completed))
        return None

    record = record_step(
        flow,
        log,
        known_tasks=[first.id],
        elements={},
        data={},
        catalog=CATALOG,
        now=START,
        anchors_after=anchors_after,
    )
    assert [(e.kind, e.element_id) for e in record.completed] == [("element_completed", "rakna")]
    assert asked == [record.completed]  # the completed elements are handed over before the deadlines are counted
    assert record.removed == (first.id,) and record.closed == () and first.id in record.completed_ids
    [opened] = record.opened
    assert (opened.element_id, opened.name, opened.due_at) == ("planera", "Planera", None)  # no elements: no timer
    assert list(record.timers.values())[0].due_at == START + timedelta(hours=24)


def test_the_due_time_of_a_task_is_its_boundary_timer_s_when_the_elements_say_it_is_attached():
    clock = SimulatedClock(START)
    flow = started(clock)
    [first] = flow.ready_human_tasks()
    log = StepLog()
    flow.complete(first.id, {}, clock, log)
    elements = {"sen": {"attached_to": "planera"}, "planera": {"lane": "Avdelning"}}
    record = record_step(
        flow,
        log,
        known_tasks=[first.id],
        elements=elements,
        data={},
        catalog=CATALOG,
        now=START,
        anchors_after=lambda _: None,
    )
    [opened] = record.opened
    due = START + timedelta(hours=24)
    assert opened.due_at == due and opened.lane == "Avdelning"
    assert opened.entry == Entry(
        "task_created",
        "planera",
        opened.id,
        {"name": "Planera", "lane": "Avdelning", "due_at": opened.due_at.isoformat()},
    )


def test_a_cancelled_step_has_no_tasks_or_timers_and_closes_nothing():
    clock = SimulatedClock(START)
    flow = started(clock)
    [first] = flow.ready_human_tasks()
    record = record_step(
        flow,
        StepLog(),
        known_tasks=[first.id],
        elements={},
        data={},
        catalog=CATALOG,
        now=START,
        anchors_after=lambda _: (_ for _ in ()).throw(AssertionError("not asked when cancelled")),
        cancelled=True,
    )
    assert record.removed == (first.id,) and record.closed == () and record.opened == () and record.timers == {}


def test_completed_entries_leave_out_the_user_tasks():
    completed = [("t1", "forst", "UserTask"), ("t2", "rakna", "ScriptTask"), ("t3", "ok", "ExclusiveGateway")]
    assert completed_entries(completed) == (
        Entry("element_completed", "rakna", "t2", {"type": "ScriptTask"}),
        Entry("element_completed", "ok", "t3", {"type": "ExclusiveGateway"}),
    )


def test_tasks_closed_by_an_interrupting_event_name_it_and_charge_a_deviation_to_their_party():
    elements = {
        "utskriven": {
            "type": "boundaryEvent",
            "name": "Utskriven",
            "attached_to": "planering",
            "properties": {"avvikelse": "Planeringen hann inte klart"},
        },
        "planering": {"type": "subProcess"},
        "bedom": {"parent": "planering", "lane": "Kommun"},
    }
    entries, deviations = closed_task_entries(
        [("t1", "bedom", "Bedöm", "Kommun")], [("b1", "utskriven", "BoundaryEvent")], elements
    )
    assert entries == [
        Entry(
            "task_closed",
            "bedom",
            "t1",
            {"name": "Bedöm", "lane": "Kommun", "reason": "Utskriven", "closed_by": ["utskriven"]},
        )
    ]
    assert deviations == [("utskriven", "Kommun", "Planeringen hann inte klart")]


def test_a_fired_timer_records_how_late_it_was_and_charges_the_guarded_task_s_lane():
    elements = {
        "sen": {"attached_to": "planera", "properties": {"avvikelse": "Sen planering"}},
        "planera": {"lane": "Vårdcentral"},
    }
    entry, parties, cause = timer_fired("t9", "sen", START, START + timedelta(minutes=5), elements)
    assert entry == Entry("timer_fired", "sen", "t9", {"due_at": START.isoformat(), "lateness_seconds": 300.0})
    assert (parties, cause) == (["Vårdcentral"], "Sen planering")
