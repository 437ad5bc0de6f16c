"""Our timer event definitions are what the parser makes and what a workflow runs on (engine/bpmn/timers.py): every
kind, also inside an event-based gateway; they read the step's clock, fire at (not after) their moment, and read a
date without a zone as Swedish time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.bpmn import timers
from engine.bpmn.parsing import parse_for_run
from engine.bpmn.workflow import FlowFactory, StepLog
from engine.domain.clock import STOCKHOLM, SimulatedClock
from tests import diagrams

START = datetime(2026, 3, 2, 8, 0, tzinfo=STOCKHOLM)

EVENT_BASED_WITH_TIMER = diagrams.linear(
    "svar_eller_tid",
    """
  <bpmn:startEvent id="start" />
  <bpmn:eventBasedGateway id="vilket" />
  <bpmn:intermediateCatchEvent id="svar">
    <bpmn:messageEventDefinition messageRef="m_svar" />
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="tid">
    <bpmn:timerEventDefinition><bpmn:timeDuration>'PT2H'</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="efter_svar" name="Efter svar" />
  <bpmn:userTask id="paminn" name="Påminn" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vilket" />
  <bpmn:sequenceFlow id="f2" sourceRef="vilket" targetRef="svar" />
  <bpmn:sequenceFlow id="f3" sourceRef="vilket" targetRef="tid" />
  <bpmn:sequenceFlow id="f4" sourceRef="svar" targetRef="efter_svar" />
  <bpmn:sequenceFlow id="f5" sourceRef="tid" targetRef="paminn" />
  <bpmn:sequenceFlow id="f6" sourceRef="efter_svar" targetRef="end" />
  <bpmn:sequenceFlow id="f7" sourceRef="paminn" targetRef="end" />""",
    messages='<bpmn:message id="m_svar" name="svar" />\n',
)


def _flow(xml: str, process_id: str, clock: SimulatedClock):
    spec, subs = parse_for_run(xml.encode(), process_id, {})
    flow = FlowFactory().new(spec, subs, {})
    flow.run(clock, StepLog())
    return spec, flow


@pytest.mark.parametrize(
    ("kind", "text", "ours", "due"),
    [
        ("timeDuration", "'PT3H'", timers.ClockDurationTimerEventDefinition, START + timedelta(hours=3)),
        (
            "timeDate",
            "'2026-03-05T09:30'",
            timers.ClockTimeDateEventDefinition,
            datetime(2026, 3, 5, 9, 30, tzinfo=STOCKHOLM),
        ),
        ("timeCycle", "'R2/PT1H'", timers.ClockCycleTimerEventDefinition, START + timedelta(hours=1)),
    ],
)
def test_each_timer_kind_is_ours_reads_the_clock_and_fires_at_its_moment(kind, text, ours, due):
    clock = SimulatedClock(START)
    xml = diagrams.timer_process("vantar", text, kind)
    spec, flow = _flow(xml, "vantar", clock)
    assert type(spec.task_specs["vanta"].event_definition) is ours
    (timer,) = flow.waiting_timers()
    assert timer.due_at == due
    clock.set(due - timedelta(seconds=1))
    flow.run(clock, StepLog())
    assert [t.element_id for t in flow.ready_human_tasks()] == []
    clock.set(due)  # at the moment itself, not a hair after
    flow.run(clock, StepLog())
    assert [t.element_id for t in flow.ready_human_tasks()] == ["sedan"]


def test_a_timer_of_an_event_based_gateway_is_ours_and_fires_on_the_clock():
    clock = SimulatedClock(START)
    spec, flow = _flow(EVENT_BASED_WITH_TIMER, "svar_eller_tid", clock)
    # SpiffWorkflow keeps the events' definitions on the gateway that waits for them
    gateway_definitions = spec.task_specs["vilket"].event_definition.event_definitions
    assert timers.ClockDurationTimerEventDefinition in {type(d) for d in gateway_definitions}
    assert flow.awaited_messages() == ["svar"]
    clock.set(START + timedelta(hours=2))
    flow.run(clock, StepLog())
    assert [t.element_id for t in flow.ready_human_tasks()] == ["paminn"]


def test_a_restored_flow_keeps_our_timers_and_its_due_moment():
    clock = SimulatedClock(START)
    spec, flow = _flow(diagrams.timer_process("vantar", "'P1D'"), "vantar", clock)
    restored = FlowFactory().restore(flow.dump(), spec, {})
    assert [t.due_at for t in restored.waiting_timers()] == [START + timedelta(days=1)]
    clock.set(START + timedelta(days=1))
    restored.run(clock, StepLog())
    assert [t.element_id for t in restored.ready_human_tasks()] == ["sedan"]


def test_naive_and_week_dates_are_swedish_time():
    assert timers.due_moment("2026-07-01T12:00") == datetime(2026, 7, 1, 12, 0, tzinfo=STOCKHOLM)
    assert timers.iso_week_moment("2026W101T08:00") == datetime(2026, 3, 2, 8, 0, tzinfo=STOCKHOLM)
    cycles, first, period = timers.recurring_interval("R3/PT12H", START)
    assert (cycles, first, period) == (3, START + timedelta(hours=12), timedelta(hours=12))
