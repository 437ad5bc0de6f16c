"""A simulated step and a real step record the same entries (issue 16 point 3): the simulator
(engine/features/simulation.py) and the service layer share one pure function for what a step records
(engine/commands/recording.py). The same workflow step, completing a task after which a script runs and a task
guarded by a deadline timer opens, is taken once through Runtime.complete_task and once in the simulator's driver;
both histories hold the same entries for it (kinds, elements, data; the due time counted from the step's moment)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from engine.features.simulation import Arrival, SimulationParams, _Case, _Driver, load_definition
from engine.persistence.models import HistoryEntry, TaskIndex
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM

DIAGRAM = diagrams.linear(
    "steg",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="forst" name="Först" />
  <bpmn:scriptTask id="rakna" name="Räkna"><bpmn:script>antal = 2</bpmn:script></bpmn:scriptTask>
  <bpmn:parallelGateway id="dela" />
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:boundaryEvent id="sen" attachedToRef="planera" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT36H</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="ringa" name="Ringa" />
  <bpmn:parallelGateway id="samla" />
  <bpmn:endEvent id="end" /><bpmn:endEvent id="end_sen" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="forst" />
  <bpmn:sequenceFlow id="f2" sourceRef="forst" targetRef="rakna" />
  <bpmn:sequenceFlow id="f3" sourceRef="rakna" targetRef="dela" />
  <bpmn:sequenceFlow id="f4" sourceRef="dela" targetRef="planera" />
  <bpmn:sequenceFlow id="f5" sourceRef="dela" targetRef="ringa" />
  <bpmn:sequenceFlow id="f6" sourceRef="planera" targetRef="samla" />
  <bpmn:sequenceFlow id="f7" sourceRef="ringa" targetRef="samla" />
  <bpmn:sequenceFlow id="f8" sourceRef="samla" targetRef="end" />
  <bpmn:sequenceFlow id="f9" sourceRef="sen" targetRef="end_sen" />""",
)


def comparable(entries: list[tuple[datetime, str, str | None, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Entries of one step without what differs by run (task ids, the moment): due times as hours after it."""
    result = []
    for at, kind, element_id, data in entries:
        data = dict(data)
        if data.get("due_at"):
            data["due_at"] = (datetime.fromisoformat(data["due_at"]) - at).total_seconds() / 3600
        result.append((kind, element_id, data))
    return sorted(result, key=repr)


def test_a_simulated_step_records_the_same_entries_as_the_real_step(platform):
    platform.runtime.deploy(DIAGRAM, OWNER)
    iid = platform.runtime.start_instance("steg", "bk", {}, SYSTEM)
    with platform.db.read() as session:
        first = session.scalars(select(TaskIndex.id).where(TaskIndex.instance_id == iid)).one()
    platform.runtime.complete_task(first, {}, ENGINE)
    with platform.db.read() as session:
        real_rows = session.scalars(
            select(HistoryEntry).where(HistoryEntry.instance_id == iid).order_by(HistoryEntry.id)
        ).all()
        done = next(i for i, h in enumerate(real_rows) if h.kind == "task_completed")
        real = [(h.at, h.kind, h.element_id, h.data) for h in real_rows[done + 1 :]]

    source = load_definition(platform.db, "steg", 1)
    params = SimulationParams(process_id="steg", days=1, start_date=date(2027, 3, 1), default_hours=1.0)
    finished: list[_Case] = []
    driver = _Driver(source, params, platform.catalog, {}, finished.extend, None, 1)
    arrival = Arrival(0, datetime(2027, 3, 1, 8, 0, tzinfo=platform.clock.now().tzinfo), {}, seed=3, shard=0)
    driver.run([arrival])
    [case] = finished
    kinds = [h["kind"] for h in case.history]
    done_at = kinds.index("task_completed")
    step_at = case.history[done_at]["at"]
    simulated = [
        (h["at"], h["kind"], h["element_id"], h["data"])
        for h in case.history[done_at + 1 :]
        if h["at"] == step_at and h["kind"] != "task_completed"
    ]

    assert comparable(simulated) == comparable(real)
    assert ("task_created", "planera", {"name": "Planera", "lane": None, "due_at": 36.0}) in comparable(simulated)
    assert {kind for _, kind, _, _ in real} == {"element_completed", "task_created"}
