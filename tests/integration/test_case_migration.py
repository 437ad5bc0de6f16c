"""Migration of running cases onto another version (issue 8): preview, batch with a failing instance, timers
re-armed from the target's definitions, revert and its refusal once the case has moved on, permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.domain.actors import Actor
from engine.domain.errors import Conflict, Forbidden
from engine.features.migration import Migrations, Selection
from engine.persistence.models import AuditEntry, HistoryEntry, ProcessInstance, TaskIndex, Timer
from tests import diagrams
from tests.conftest import ENGINE, OWNER, SYSTEM, VC

TEAM = Actor("ines", frozenset({"implementation_team"}), name="Ines Implementering")

V1 = diagrams.linear(
    "remiss",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="registrera" name="Registrera" />
  <bpmn:userTask id="bedom" name="Bedöm behov" />
  <bpmn:boundaryEvent id="frist" attachedToRef="bedom" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="eskalera" name="Eskalera" />
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:endEvent id="slut" /><bpmn:endEvent id="slut_esk" />
  <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="registrera" />
  <bpmn:sequenceFlow id="f1" sourceRef="registrera" targetRef="bedom" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom" targetRef="planera" />
  <bpmn:sequenceFlow id="f3" sourceRef="planera" targetRef="slut" />
  <bpmn:sequenceFlow id="f4" sourceRef="frist" targetRef="eskalera" />
  <bpmn:sequenceFlow id="f5" sourceRef="eskalera" targetRef="slut_esk" />""",
)

# Version 2: 'registrera' is gone, 'bedom' is now 'bedom_behov' (same name), the deadline is five days, and a new
# gateway after the assessment reads 'prioritet'.
V2 = diagrams.linear(
    "remiss",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="bedom_behov" name="Bedöm behov" />
  <bpmn:boundaryEvent id="frist" attachedToRef="bedom_behov" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P5D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="eskalera" name="Eskalera" />
  <bpmn:exclusiveGateway id="prio" default="f_vanlig" />
  <bpmn:userTask id="planera" name="Planera" />
  <bpmn:userTask id="planera_snabbt" name="Planera snabbt" />
  <bpmn:endEvent id="slut" /><bpmn:endEvent id="slut_esk" />
  <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="bedom_behov" />
  <bpmn:sequenceFlow id="f2" sourceRef="bedom_behov" targetRef="prio" />
  <bpmn:sequenceFlow id="f_hog" sourceRef="prio" targetRef="planera_snabbt">
    <bpmn:conditionExpression>prioritet == 'hög'</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f_vanlig" sourceRef="prio" targetRef="planera" />
  <bpmn:sequenceFlow id="f3" sourceRef="planera" targetRef="slut" />
  <bpmn:sequenceFlow id="f6" sourceRef="planera_snabbt" targetRef="slut" />
  <bpmn:sequenceFlow id="f4" sourceRef="frist" targetRef="eskalera" />
  <bpmn:sequenceFlow id="f5" sourceRef="eskalera" targetRef="slut_esk" />""",
)


@pytest.fixture
def cases(platform):
    """Three cases on version 1 at 'bedom' with its three-day deadline waiting; the third lacks 'prioritet'."""
    runtime = platform.runtime
    runtime.deploy(V1, OWNER)
    ids = []
    for n, data in enumerate(({"prioritet": "hög"}, {"prioritet": "normal"}, {})):
        instance = runtime.start_instance("remiss", f"case-{n}", data, SYSTEM)
        ids.append(instance)
        runtime.complete_task(task_of(platform, instance, "registrera"), {}, ENGINE)
    runtime.deploy(V2, OWNER)
    return ids


SYSTEM_ADMIN = ENGINE  # drives the cases: the platform itself, not a person


def task_of(platform, instance_id, element_id=None):
    with platform.db.read() as session:
        query = select(TaskIndex.id).where(TaskIndex.instance_id == instance_id)
        if element_id:
            query = query.where(TaskIndex.element_id == element_id)
        return session.scalar(query)


def snapshot(platform, instance_id):
    with platform.db.read() as session:
        instance = session.get(ProcessInstance, instance_id)
        tasks = sorted(
            (t.id, t.element_id, t.claimed_by)
            for t in session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance_id))
        )
        timers = sorted(
            (t.task_id, t.element_id, t.due_at)
            for t in session.scalars(select(Timer).where(Timer.instance_id == instance_id))
        )
        return instance.version, instance.definition_id, instance.status, instance.state, tasks, timers


def selection(ids=(), **kw):
    return Selection(process_id="remiss", target_version=2, instance_ids=tuple(ids), **kw)


def test_preview_shows_what_maps_by_id_what_needs_a_mapping_and_what_blocks(platform, cases):
    migrations = Migrations(platform.runtime)
    preview = migrations.preview(selection(from_version=1), {}, TEAM)
    assert [i["instance_id"] for i in preview["items"]] == cases
    first = preview["items"][0]
    by_element = {e["element_id"]: e for e in first["elements"]}
    assert by_element["frist"]["status"] == "same_id" and by_element["frist"]["kind"] == "timer"
    assert by_element["bedom"]["status"] == "needs_mapping"
    assert by_element["bedom"]["suggestion"] == "bedom_behov"  # renamed: same name, same kind
    assert first["outcome"] == "needs_mapping"
    assert preview["suggested_mapping"] == {"bedom": "bedom_behov"}

    mapped = migrations.preview(selection(from_version=1), {"bedom": "bedom_behov"}, TEAM)
    outcomes = [i["outcome"] for i in mapped["items"]]
    assert outcomes == ["ready", "ready", "blocked"]
    assert mapped["items"][2]["missing_data"] == [{"element_id": "prio", "name": "prioritet"}]
    assert mapped["counts"] == {"ready": 2, "needs_mapping": 0, "blocked": 1}

    removed = migrations.preview(selection(from_version=1), {"bedom": "finns_inte"}, TEAM)
    element = {e["element_id"]: e for e in removed["items"][0]["elements"]}["bedom"]
    assert element["status"] == "blocked" and "finns_inte" in element["reason"]


def test_an_active_element_removed_without_mapping_blocks(platform, cases):
    runtime = platform.runtime
    fresh = runtime.start_instance("remiss", "case-at-start", {"prioritet": "hög"}, SYSTEM, version=1)
    preview = Migrations(runtime).preview(selection([fresh]), {"bedom": "bedom_behov"}, TEAM)
    item = preview["items"][0]
    assert item["outcome"] == "blocked"
    [registrera] = item["elements"]
    assert registrera["element_id"] == "registrera" and registrera["status"] == "blocked"
    assert "borttaget" in registrera["reason"]


def test_batch_migrates_the_others_when_one_fails_and_leaves_the_failed_one_untouched(platform, clock, cases):
    runtime = platform.runtime
    armed_at = clock.now()
    claimed = task_of(platform, cases[0], "bedom")
    runtime.claim_task(claimed, ENGINE)
    clock.advance(timedelta(days=2))
    untouched = snapshot(platform, cases[2])
    migrations = Migrations(runtime)
    run_id = migrations.run(selection(from_version=1), {"bedom": "bedom_behov"}, TEAM, comment="Ny rutin")
    run = migrations.get(run_id, TEAM)
    assert (run["migrated"], run["failed"]) == (2, 1)
    outcome = {i["instance_id"]: i for i in run["items"]}
    assert outcome[cases[2]]["outcome"] == "failed" and "prioritet" in outcome[cases[2]]["reason"]
    assert snapshot(platform, cases[2]) == untouched  # nothing of the failed one changed

    version, _, status, _, tasks, timers = snapshot(platform, cases[0])
    assert version == 2 and status == "running"
    # the task kept its id and its claim, and is now the target's element
    assert tasks == [(claimed, "bedom_behov", "samflode")]
    # re-armed: the five-day deadline of version 2, counted from when the wait began (not from the migration)
    assert [(t[1], t[2]) for t in timers] == [("frist", armed_at + timedelta(days=5))]
    with platform.db.read() as session:
        kinds = [h.kind for h in session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == cases[0]))]
        assert kinds[-1] == "migrated"
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "migration_run")) is not None

    # the case goes on on version 2: the new gateway reads the case's prioritet
    runtime.complete_task(claimed, {}, SYSTEM_ADMIN)
    assert snapshot(platform, cases[0])[4][0][1] == "planera_snabbt"
    runtime.complete_task(task_of(platform, cases[1], "bedom_behov"), {}, SYSTEM_ADMIN)
    assert snapshot(platform, cases[1])[4][0][1] == "planera"


def test_a_timer_whose_new_deadline_has_passed_fires_at_once_through_the_scheduler(platform, clock, cases):
    runtime = platform.runtime
    shorter = V2.replace("P5D", "P1D").replace("Bedöm behov", "Bedöm behov ")  # another content: version 3
    runtime.deploy(shorter, OWNER)
    clock.advance(timedelta(days=2))
    run_id = Migrations(runtime).run(
        Selection(process_id="remiss", target_version=3, instance_ids=(cases[0],)), {"bedom": "bedom_behov"}, TEAM
    )
    assert Migrations(runtime).get(run_id, TEAM)["migrated"] == 1
    due = runtime.due_timers()
    assert len(due) == 1 and due[0][1] < clock.now()
    assert runtime.fire_timer(due[0][0], SYSTEM_ADMIN)
    assert sorted(t[1] for t in snapshot(platform, cases[0])[4]) == ["bedom_behov", "eskalera"]


def test_revert_restores_state_definition_tasks_and_timers(platform, clock, cases):
    runtime = platform.runtime
    before = snapshot(platform, cases[0])
    migrations = Migrations(runtime)
    run_id = migrations.run(selection([cases[0], cases[1]]), {"bedom": "bedom_behov"}, TEAM)
    assert snapshot(platform, cases[0])[0] == 2
    answer = migrations.revert(run_id, TEAM, [cases[0]])
    assert answer == {"run_id": run_id, "reverted": [cases[0]], "refused": []}
    after = snapshot(platform, cases[0])
    assert after[:3] == before[:3] and after[4:] == before[4:]
    assert snapshot(platform, cases[1])[0] == 2  # only the named instance
    run = migrations.get(run_id, TEAM)
    assert {i["instance_id"]: i["outcome"] for i in run["items"]}[cases[0]] == "reverted"
    assert run["reverted"] == 1
    # the restored case runs on version 1 again
    runtime.forget_cached_flows()
    runtime.complete_task(task_of(platform, cases[0], "bedom"), {}, SYSTEM_ADMIN)
    assert snapshot(platform, cases[0])[4][0][1] == "planera"


def test_revert_is_refused_once_something_has_happened_in_the_case(platform, cases):
    runtime = platform.runtime
    migrations = Migrations(runtime)
    run_id = migrations.run(selection([cases[0], cases[1]]), {"bedom": "bedom_behov"}, TEAM)
    runtime.complete_task(task_of(platform, cases[0], "bedom_behov"), {}, SYSTEM_ADMIN)
    moved_on = snapshot(platform, cases[0])
    answer = migrations.revert(run_id, TEAM)
    assert answer["reverted"] == [cases[1]]
    assert [r["instance_id"] for r in answer["refused"]] == [cases[0]]
    assert "hänt" in answer["refused"][0]["reason"]
    assert snapshot(platform, cases[0]) == moved_on
    with pytest.raises(Conflict):
        runtime.revert_migration(1, TEAM)


def test_only_the_implementation_team_migrates(platform, cases):
    migrations = Migrations(platform.runtime)
    for actor in (VC, OWNER):
        with pytest.raises(Forbidden):
            migrations.preview(selection(from_version=1), {}, actor)
        with pytest.raises(Forbidden):
            migrations.run(selection(from_version=1), {"bedom": "bedom_behov"}, actor)
    run_id = migrations.run(selection([cases[0]]), {"bedom": "bedom_behov"}, TEAM)
    with pytest.raises(Forbidden):
        migrations.revert(run_id, VC)
    with pytest.raises(Forbidden):
        platform.runtime.migrate_instance(cases[1], 2, {}, VC, run_id)


def test_a_case_with_an_open_incident_is_blocked_until_the_incident_is_dealt_with(platform):
    runtime = platform.runtime
    runtime.deploy(diagrams.gateway_process("grind", "svar == 'ja'", default=False), OWNER)
    instance = runtime.start_instance("grind", "incident-1", {}, SYSTEM)
    runtime.complete_task(task_of(platform, instance, "bedom"), {"svar": "kanske"}, SYSTEM_ADMIN)
    assert snapshot(platform, instance)[2] == "incident"
    runtime.deploy(diagrams.gateway_process("grind", "svar == 'ja'", default=True), OWNER)
    migrations = Migrations(runtime)
    choice = Selection(process_id="grind", target_version=2, from_version=1)
    [item] = migrations.preview(choice, {}, TEAM)["items"]
    assert item["outcome"] == "blocked" and "incident" in item["problems"][0]
    run = migrations.get(migrations.run(choice, {}, TEAM), TEAM)
    assert (run["migrated"], run["failed"]) == (0, 1) and "incident" in run["items"][0]["reason"]
    assert snapshot(platform, instance)[0] == 1
