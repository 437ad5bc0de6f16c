"""Timers through the scheduler loop on the real test database, with a simulated clock: each fires at its due
moment and not before, once, in due order; boundary timers, cycles, timer start events, catch-up after downtime,
deadlines across daylight-saving changes and holidays, and escalation as a task plus a deviation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.domain.clock import STOCKHOLM, local
from engine.domain.errors import DeployRejected
from engine.jobs.scheduler import ClockNotSimulated, TimerLoop
from engine.persistence.models import HistoryEntry, Timer
from engine.platform import build
from tests import diagrams
from tests.conftest import COORDINATOR, ENGINE, OWNER, SYSTEM, instance_view, task_list

H = timedelta(hours=1)


def view(platform, instance_id):
    return instance_view(platform, instance_id)


def fired(platform, instance_id=None):
    """(element_id, due_at, at, lateness_seconds) of every timer_fired history row, in the order they were written."""
    with platform.db.read() as session:
        query = select(HistoryEntry).where(HistoryEntry.kind == "timer_fired").order_by(HistoryEntry.id)
        if instance_id is not None:
            query = query.where(HistoryEntry.instance_id == instance_id)
        return [
            (h.element_id, datetime.fromisoformat(h.data["due_at"]), h.at, h.data["lateness_seconds"])
            for h in session.scalars(query)
        ]


def active(platform, instance_id):
    return sorted(t["element_id"] for t in view(platform, instance_id)["active_tasks"])


def boundary_process(process_id: str, timer: str, interrupting: bool, kind: str = "timeDuration") -> str:
    """start -> user task 'planera' (boundary timer 'sen' -> user task 'eskalera') -> end."""
    cancel = "true" if interrupting else "false"
    return diagrams.linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:boundaryEvent id="sen" attachedToRef="planera" cancelActivity="{cancel}">
    <bpmn:timerEventDefinition><bpmn:{kind}>{timer}</bpmn:{kind}></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="eskalera" name="Eskalera" />
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end_esc" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="planera" />
  <bpmn:sequenceFlow id="f2" sourceRef="planera" targetRef="end" />
  <bpmn:sequenceFlow id="f3" sourceRef="sen" targetRef="eskalera" />
  <bpmn:sequenceFlow id="f4" sourceRef="eskalera" targetRef="end_esc" />""",
    )


def start_timer(platform, process_id: str, timer: str, business_key: str = "bk", data=None) -> int:
    platform.runtime.deploy(diagrams.timer_process(process_id, timer), OWNER)
    return platform.runtime.start_instance(process_id, business_key, data or {}, SYSTEM)


# --------------------------------------------------------------------------------------------- due moment, order
def test_advance_fires_at_the_due_moment_and_not_before(platform):
    iid = start_timer(platform, "vanta", "PT2H")
    started = platform.clock.now()
    result = platform.timers.advance(2 * H - timedelta(seconds=1))
    assert result.fired == 0 and active(platform, iid) == []
    result = platform.timers.advance(timedelta(seconds=1))
    assert result.fired == 1 and active(platform, iid) == ["sedan"]
    [(element, due_at, at, lateness)] = fired(platform, iid)
    assert element == "vanta" and due_at == at == started + 2 * H and lateness == 0


def test_advance_steps_to_each_due_time_in_order_with_no_lateness(platform):
    platform.runtime.deploy(diagrams.timer_process("vanta", "vantetid"), OWNER)
    for hours in (5, 1, 3):  # started in another order than they fall due
        platform.runtime.start_instance("vanta", f"bk-{hours}", {"vantetid": f"PT{hours}H"}, SYSTEM)
    start = platform.clock.now()
    result = platform.timers.advance(timedelta(days=1))
    assert result.fired == 3 and result.now == start + timedelta(days=1)
    assert [(due, at, late) for _, due, at, late in fired(platform)] == [
        (start + h * H, start + h * H, 0) for h in (1, 3, 5)
    ]
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Timer)) == 0


def test_advance_fires_timers_made_by_timers_on_the_way(platform):
    """A timer that starts waiting because another fired is itself fired when it falls before the end."""
    xml = diagrams.linear(
        "kedja",
        """
  <bpmn:startEvent id="start" />
  <bpmn:intermediateCatchEvent id="t1">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="t2">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT30M</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="sedan" name="Sedan" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t1" />
  <bpmn:sequenceFlow id="f2" sourceRef="t1" targetRef="t2" />
  <bpmn:sequenceFlow id="f3" sourceRef="t2" targetRef="sedan" />
  <bpmn:sequenceFlow id="f4" sourceRef="sedan" targetRef="end" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("kedja", "bk", {}, SYSTEM)
    start = platform.clock.now()
    assert platform.timers.advance(2 * H).fired == 2
    assert [(e, at, late) for e, _, at, late in fired(platform, iid)] == [
        ("t1", start + H, 0),
        ("t2", start + 90 * timedelta(minutes=1), 0),
    ]
    assert active(platform, iid) == ["sedan"]


def test_advancing_a_real_clock_is_refused(settings, platform):
    from engine.domain.clock import SystemClock

    real = build(replace(settings, clock="real"), clock=SystemClock(), migrate=False)
    try:
        with pytest.raises(ClockNotSimulated):
            real.timers.advance(H)
    finally:
        real.close()


# --------------------------------------------------------------------------------------------- boundary timers
def test_interrupting_boundary_timer_cancels_its_task(platform):
    platform.runtime.deploy(boundary_process("avbryt", "PT4H", interrupting=True), OWNER)
    iid = platform.runtime.start_instance("avbryt", "bk", {}, SYSTEM)
    [timer] = view(platform, iid)["timers"]
    assert timer["boundary"] and timer["element_id"] == "sen"
    platform.timers.advance(4 * H)
    assert active(platform, iid) == ["eskalera"]
    assert view(platform, iid)["timers"] == []


def test_non_interrupting_boundary_timer_leaves_its_task(platform):
    platform.runtime.deploy(boundary_process("parallell", "PT4H", interrupting=False), OWNER)
    iid = platform.runtime.start_instance("parallell", "bk", {}, SYSTEM)
    platform.timers.advance(4 * H)
    assert active(platform, iid) == ["eskalera", "planera"]
    assert len(fired(platform, iid)) == 1


def test_completing_the_task_in_time_removes_its_boundary_timer(platform):
    platform.runtime.deploy(boundary_process("itid", "PT4H", interrupting=True), OWNER)
    iid = platform.runtime.start_instance("itid", "bk", {}, SYSTEM)
    platform.timers.advance(3 * H)
    task_id = view(platform, iid)["active_tasks"][0]["id"]
    platform.runtime.complete_task(task_id, {}, ENGINE)
    assert view(platform, iid)["timers"] == [] and view(platform, iid)["status"] == "completed"
    assert platform.timers.advance(timedelta(days=1)).fired == 0
    assert fired(platform, iid) == []


def test_task_due_time_comes_from_its_boundary_timer(platform):
    platform.runtime.deploy(boundary_process("frist", "PT24H", interrupting=False), OWNER)
    iid = platform.runtime.start_instance("frist", "bk", {}, SYSTEM)
    [task] = view(platform, iid)["active_tasks"]
    assert task["due_at"] == (platform.clock.now() + 24 * H).isoformat()


# --------------------------------------------------------------------------------------------- cycles
def test_cycle_r3_fires_three_times_then_stops(platform):
    platform.runtime.deploy(boundary_process("paminn", "R3/PT1H", interrupting=False, kind="timeCycle"), OWNER)
    iid = platform.runtime.start_instance("paminn", "bk", {}, SYSTEM)
    start = platform.clock.now()
    result = platform.timers.advance(10 * H)
    assert result.fired == 3
    assert [(at, late) for _, _, at, late in fired(platform, iid)] == [(start + h * H, 0) for h in (1, 2, 3)]
    assert active(platform, iid) == ["eskalera", "eskalera", "eskalera", "planera"]
    assert view(platform, iid)["timers"] == []


def test_unbounded_cycle_keeps_one_row_moving_forward(platform):
    platform.runtime.deploy(boundary_process("varje", "R/PT12H", interrupting=False, kind="timeCycle"), OWNER)
    iid = platform.runtime.start_instance("varje", "bk", {}, SYSTEM)
    start = platform.clock.now()
    assert platform.timers.advance(timedelta(days=2)).fired == 4
    [timer] = view(platform, iid)["timers"]
    assert timer["kind"] == "cycle" and timer["due_at"] == (start + 60 * H).isoformat()


# --------------------------------------------------------------------------------------------- timer start events
def test_timer_start_event_waits_until_its_date(platform):
    """An instance of a process whose start event is a timer is created waiting; it begins at the date."""
    xml = diagrams.linear(
        "morgon",
        """
  <bpmn:startEvent id="start">
    <bpmn:timerEventDefinition><bpmn:timeDate>2026-01-13T07:30</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:userTask id="uppgift" name="Morgonuppgift" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="uppgift" />
  <bpmn:sequenceFlow id="f2" sourceRef="uppgift" targetRef="end" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("morgon", "bk", {}, SYSTEM)
    [timer] = view(platform, iid)["timers"]
    due = datetime(2026, 1, 13, 7, 30, tzinfo=STOCKHOLM)  # naive timer dates are Stockholm time
    assert datetime.fromisoformat(timer["due_at"]) == due and view(platform, iid)["status"] == "waiting"
    platform.timers.advance(timedelta(days=1))
    assert active(platform, iid) == ["uppgift"]
    assert [(at, late) for _, _, at, late in fired(platform, iid)] == [(due, 0)]


# --------------------------------------------------------------------------------------------- downtime
def test_restart_fires_every_overdue_timer_in_due_order_with_its_lateness(platform):
    platform.runtime.deploy(diagrams.timer_process("vanta", "vantetid"), OWNER)
    for minutes in (50, 10, 30, 20, 40):
        platform.runtime.start_instance("vanta", f"bk-{minutes}", {"vantetid": f"PT{minutes}M"}, SYSTEM)
    start = platform.clock.now()
    platform.clock.advance(2 * H)  # the scheduler was down: time passed and nothing fired
    restarted = TimerLoop(platform.runtime)
    assert restarted.run_due().fired == 5
    rows = fired(platform)
    assert [due for _, due, _, _ in rows] == [start + timedelta(minutes=m) for m in (10, 20, 30, 40, 50)]
    assert [late for _, _, _, late in rows] == [(120 - m) * 60 for m in (10, 20, 30, 40, 50)]
    assert restarted.run_due().fired == 0


def test_escalation_after_downtime_is_a_coordinator_task_and_a_deviation(platform):
    xml = diagrams.linear(
        "eskalering",
        """
  <bpmn:laneSet id="ls">
    <bpmn:lane id="lane_vc" name="Region primärvård"><bpmn:flowNodeRef>planera</bpmn:flowNodeRef></bpmn:lane>
    <bpmn:lane id="lane_coord" name="Samordning">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>eskalera</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>end</bpmn:flowNodeRef><bpmn:flowNodeRef>end_esc</bpmn:flowNodeRef>
    </bpmn:lane>
  </bpmn:laneSet>
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="planera" name="Planera insatser" />
  <bpmn:boundaryEvent id="sen" attachedToRef="planera" cancelActivity="false">
    <bpmn:extensionElements><samflode:properties>
      <samflode:property name="avvikelse" value="Planering ej startad inom 24 timmar" />
    </samflode:properties></bpmn:extensionElements>
    <bpmn:timerEventDefinition><bpmn:timeDuration>deadline('inskrivningsmeddelande')</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="eskalera" name="Hantera försenad planering">
    <bpmn:extensionElements><samflode:properties>
      <samflode:property name="role" value="coordinator" />
    </samflode:properties></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end_esc" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="planera" />
  <bpmn:sequenceFlow id="f2" sourceRef="planera" targetRef="end" />
  <bpmn:sequenceFlow id="f3" sourceRef="sen" targetRef="eskalera" />
  <bpmn:sequenceFlow id="f4" sourceRef="eskalera" targetRef="end_esc" />""",
    )
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance("eskalering", "bk", {"vardcentral_hsa_id": "SE2321000057-vc1"}, SYSTEM)
    start = platform.clock.now()
    assert task_list(platform, COORDINATOR)["total"] == 0
    platform.clock.advance(26 * H)  # down over the deadline; on restart the loop catches up
    assert TimerLoop(platform.runtime).run_due().fired == 1
    [(element, due_at, at, lateness)] = fired(platform, iid)
    assert due_at == start + 24 * H and lateness == 2 * 3600
    assert [t["element_id"] for t in task_list(platform, COORDINATOR)["items"]] == ["eskalera"]
    [deviation] = view(platform, iid)["deviations"]
    assert deviation["party"] == "Region primärvård" and deviation["cause"].startswith("Planering ej startad")
    assert deviation["element_id"] == "sen"


# --------------------------------------------------------------------------------------------- calendars
def deadline_process(process_id: str, expression: str) -> str:
    return boundary_process(process_id, expression, interrupting=False)


def test_24_hours_across_the_october_change_is_24_real_hours(platform):
    platform.clock.set(datetime(2026, 10, 24, 12, 0, tzinfo=STOCKHOLM))  # summer time ends 25 Oct 03:00
    platform.runtime.deploy(deadline_process("dygn", "deadline('inskrivningsmeddelande')"), OWNER)
    iid = platform.runtime.start_instance("dygn", "bk", {}, SYSTEM)
    start = platform.clock.now()
    [timer] = view(platform, iid)["timers"]
    due = datetime.fromisoformat(timer["due_at"])
    assert due - start == 24 * H
    assert local(due).hour == 11  # the wall clock went back an hour
    platform.timers.advance(24 * H)
    assert [(at, late) for _, _, at, late in fired(platform, iid)] == [(due, 0)]


def test_plain_pt24h_timer_across_the_march_change_is_24_real_hours(platform):
    platform.clock.set(datetime(2026, 3, 28, 12, 0, tzinfo=STOCKHOLM))  # summer time starts 29 Mar 02:00
    iid = start_timer(platform, "mars", "PT24H")
    [timer] = view(platform, iid)["timers"]
    due = datetime.fromisoformat(timer["due_at"])
    assert due - platform.clock.now() == 24 * H and local(due).hour == 13


def test_three_calendar_days_across_the_october_change_keep_the_time_of_day(platform):
    platform.clock.set(datetime(2026, 10, 23, 12, 0, tzinfo=STOCKHOLM))
    platform.runtime.deploy(deadline_process("tredagar", "deadline('kallelse_sip')"), OWNER)  # P3D calendar
    iid = platform.runtime.start_instance("tredagar", "bk", {}, SYSTEM)
    [timer] = view(platform, iid)["timers"]
    due = datetime.fromisoformat(timer["due_at"])
    assert local(due) == datetime(2026, 10, 26, 12, 0, tzinfo=STOCKHOLM)
    assert due - platform.clock.now() == 73 * H
    platform.timers.advance(72 * H)
    assert fired(platform, iid) == []
    platform.timers.advance(H)
    assert len(fired(platform, iid)) == 1


def test_working_days_skip_christmas(platform):
    """Two vardagar from 23 December (Jönköping's kallelse_sip) skip julafton, juldagen, annandag jul and the
    weekend: due Tuesday 29 December at the same time."""
    platform.clock.set(datetime(2026, 12, 23, 10, 0, tzinfo=STOCKHOLM))
    platform.runtime.deploy(deadline_process("jul", "deadline('kallelse_sip')"), OWNER)
    iid = platform.runtime.start_instance("jul", "bk", {"avtal": "jonkoping"}, SYSTEM)
    [timer] = view(platform, iid)["timers"]
    assert local(datetime.fromisoformat(timer["due_at"])) == datetime(2026, 12, 29, 10, 0, tzinfo=STOCKHOLM)
    platform.timers.advance(timedelta(days=5, hours=23))
    assert fired(platform, iid) == []
    platform.timers.advance(H)
    assert len(fired(platform, iid)) == 1


def test_timer_date_from_instance_data_with_deadline_at(platform):
    """A date timer computed from the planned discharge date plus a deadline from the region's agreement."""
    xml = diagrams.timer_process("efter_utskrivning", "deadline_at('kallelse_sip', utskrivningsdatum)", "timeDate")
    platform.runtime.deploy(xml, OWNER)
    iid = platform.runtime.start_instance(
        "efter_utskrivning", "bk", {"utskrivningsdatum": "2026-01-16T09:00", "avtal": "jonkoping"}, SYSTEM
    )
    [timer] = view(platform, iid)["timers"]  # Friday + 2 vardagar = Tuesday
    assert local(datetime.fromisoformat(timer["due_at"])) == datetime(2026, 1, 20, 9, 0, tzinfo=STOCKHOLM)


# --------------------------------------------------------------------------------------------- deploy checks
@pytest.mark.parametrize(
    ("kind", "text"),
    [("timeCycle", "R3/PT1X"), ("timeCycle", "R/2026-13-45T08:00/P1D"), ("timeDate", "2026-13-45T08:00")],
)
def test_timer_that_does_not_parse_is_rejected_at_deploy_with_the_element_named(platform, kind, text):
    with pytest.raises(DeployRejected) as info:
        platform.runtime.deploy(diagrams.timer_process("fel", text, kind), OWNER)
    assert any(d.element_id == "vanta" and text in d.message for d in info.value.diagnostics), info.value.diagnostics


# --------------------------------------------------------------------------------------------- read-ahead
def test_read_ahead_warms_soon_due_workflows_and_a_stale_one_is_never_used(platform):
    soon = start_timer(platform, "snart", "PT30S", "a")
    later = start_timer(platform, "senare", "PT2H", "b")
    boundary = platform.runtime.deploy(boundary_process("gransen", "PT40S", interrupting=False), OWNER)
    assert boundary.version == 1
    moved = platform.runtime.start_instance("gransen", "c", {}, SYSTEM)
    platform.runtime.forget_cached_flows()  # as a scheduler process that starts after the instances were made

    warmed = platform.timers.read_ahead(until=platform.clock.now() + timedelta(seconds=1))
    assert warmed == 2
    assert platform.runtime.is_flow_cached(soon) and platform.runtime.is_flow_cached(moved)
    assert not platform.runtime.is_flow_cached(later)  # not within the horizon
    assert platform.timers.read_ahead(until=platform.clock.now() + timedelta(seconds=1)) == 0  # already warm

    # The instance moves on after it was read ahead (as if in another process): the warm copy must not be used.
    [task] = view(platform, moved)["active_tasks"]
    with platform.db.unit_of_work() as session:  # a change by another process bumps the row version
        from engine.persistence.models import ProcessInstance

        row = session.get(ProcessInstance, moved)
        row.data = {**row.data, "touched": True}
    platform.clock.advance(timedelta(seconds=40))
    assert platform.timers.run_due().fired == 2
    assert active(platform, soon) == ["sedan"]
    assert active(platform, moved) == ["eskalera", "planera"]
    assert view(platform, moved)["data"].get("touched") is True  # restored from the row, not the stale copy
    assert [t["id"] for t in view(platform, moved)["active_tasks"] if t["element_id"] == "planera"] == [task["id"]]


def test_read_ahead_stops_when_its_time_is_up(platform):
    ids = [start_timer(platform, f"p{n}", "PT30S", f"k{n}") for n in range(3)]
    platform.runtime.forget_cached_flows()
    assert platform.timers.read_ahead(until=platform.clock.now()) == 0
    assert not any(platform.runtime.is_flow_cached(i) for i in ids)
