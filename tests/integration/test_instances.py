"""Running instances through the one service layer: tasks, forms, timers, messages, incidents, cancel."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.persistence.models import HistoryEntry, ProcessInstance, TaskIndex
from tests import diagrams
from tests.conftest import (
    COORDINATOR,
    ENGINE,
    OTHER_VC,
    OWNER,
    SYSTEM,
    VC,
    WARD,
    fixture_bytes,
    instance_view,
    make_default,
    task_list,
    task_view,
)

CASE = {
    "personnummer": "19121212-1212",
    "vardtillfalle_id": "VT-1",
    "avdelning_hsa_id": "SE2321000057-ward1",
    "vardcentral_hsa_id": "SE2321000057-vc1",
}


@pytest.fixture
def two_lanes(platform):
    platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER)
    return platform.runtime.start_instance("two_lanes", "19121212-1212/VT-1", dict(CASE), SYSTEM)


def view(platform, instance_id):
    return instance_view(platform, instance_id)


def test_start_runs_to_the_first_user_task_and_indexes_it(platform, two_lanes):
    instance = view(platform, two_lanes)
    assert instance["status"] == "running"
    assert [(t["element_id"], t["lane"]) for t in instance["active_tasks"]] == [("registrera", "Slutenvård")]
    worklist = task_list(platform, WARD)
    assert [t["element_id"] for t in worklist["items"]] == ["registrera"]
    assert worklist["items"][0]["unit"] == "SE2321000057-ward1"
    assert task_list(platform, VC)["total"] == 0


def test_form_data_is_validated_before_the_engine_sees_it(platform, two_lanes):
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    with pytest.raises(ValidationFailed) as info:
        platform.runtime.complete_task(task_id, {"behov": ["flygresa"], "beraknat_utskrivningsdatum": "31/12"}, WARD)
    fields = info.value.details["fields"]
    assert set(fields) == {"behov.0", "beraknat_utskrivningsdatum"}
    with pytest.raises(ValidationFailed) as info:
        platform.runtime.complete_task(task_id, {}, WARD)
    assert info.value.details["fields"] == {"behov": ["Fältet måste fyllas i"]}
    with pytest.raises(ValidationFailed):
        platform.runtime.complete_task(task_id, {"behov": [], "kontakt_personnummer": "19121212-1213"}, WARD)
    # Nothing changed: the same task is still there, no history of a completion.
    instance = view(platform, two_lanes)
    assert [t["id"] for t in instance["active_tasks"]] == [task_id]
    assert not [h for h in instance["history"] if h["kind"] == "task_completed"]


def test_completing_records_who_submitted_what_and_moves_on(platform, two_lanes):
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    platform.runtime.complete_task(task_id, {"behov": ["hemtjänst"]}, WARD)
    instance = view(platform, two_lanes)
    done = [h for h in instance["history"] if h["kind"] == "task_completed"]
    assert done[0]["actor"] == "vera" and done[0]["data"]["submitted"] == {"behov": ["hemtjänst"]}
    assert [t["element_id"] for t in instance["active_tasks"]] == ["planera"]
    assert instance["data"]["antal"] == 1
    # the task's due time comes from its `due` property (PT24H from creation)
    assert instance["active_tasks"][0]["due_at"] == (platform.clock.now() + timedelta(hours=24)).isoformat()
    assert [t["element_id"] for t in task_list(platform, VC)["items"]] == ["planera"]
    assert task_list(platform, OTHER_VC)["total"] == 0


def test_a_task_of_another_role_or_unit_cannot_be_completed(platform, two_lanes):
    """Refused as a task that does not exist (404), so that nothing about another unit's task leaks."""
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    with pytest.raises(NotFound):
        platform.runtime.complete_task(task_id, {"behov": []}, VC)
    platform.runtime.complete_task(task_id, {"behov": ["hemtjänst"]}, WARD)
    planera = view(platform, two_lanes)["active_tasks"][0]["id"]
    with pytest.raises(NotFound):
        platform.runtime.complete_task(planera, {}, OTHER_VC)


def test_completing_twice_is_a_conflict_not_a_double(platform, two_lanes):
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    platform.runtime.complete_task(task_id, {"behov": ["hemtjänst"]}, WARD)
    with pytest.raises(Conflict, match="redan utförd av vera"):
        platform.runtime.complete_task(task_id, {"behov": ["hemtjänst"]}, WARD)
    with pytest.raises(NotFound):
        platform.runtime.complete_task("00000000-0000-0000-0000-000000000000", {}, WARD)
    history = view(platform, two_lanes)["history"]
    assert len([h for h in history if h["kind"] == "task_completed"]) == 1


def test_claimed_task_is_not_completed_by_a_colleague(platform, two_lanes):
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    platform.runtime.claim_task(task_id, WARD)
    colleague = WARD.__class__("vilgot", WARD.roles, WARD.units)
    with pytest.raises(Conflict, match="vera"):
        platform.runtime.complete_task(task_id, {"behov": []}, colleague)
    with pytest.raises(Conflict):
        platform.runtime.claim_task(task_id, colleague)
    platform.runtime.unclaim_task(task_id, WARD)
    platform.runtime.claim_task(task_id, colleague)
    assert task_view(platform, task_id, colleague)["claimed_by"] == "vilgot"


def test_boundary_timer_fires_at_its_due_moment_and_not_before(platform, two_lanes):
    task_id = view(platform, two_lanes)["active_tasks"][0]["id"]
    platform.runtime.complete_task(task_id, {"behov": ["hemtjänst"]}, WARD)
    timers = view(platform, two_lanes)["timers"]
    assert [(t["element_id"], t["boundary"]) for t in timers] == [("planera_sen", True)]
    platform.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert platform.runtime.due_timers() == []
    platform.clock.advance(timedelta(seconds=1))
    [(timer_id, _)] = platform.runtime.due_timers()
    assert platform.runtime.fire_timer(timer_id, ENGINE)
    assert not platform.runtime.fire_timer(timer_id, ENGINE)  # gone: never twice
    instance = view(platform, two_lanes)
    assert sorted(t["element_id"] for t in instance["active_tasks"]) == ["eskalera", "planera"]  # non-interrupting
    fired = [h for h in instance["history"] if h["kind"] == "timer_fired"]
    assert fired[0]["data"]["lateness_seconds"] == 0
    assert [(d["party"], d["cause"]) for d in instance["deviations"]] == [
        ("Region primärvård", "Planering ej startad inom 24 timmar")
    ]


def test_messages_continue_the_matching_instance_once(platform, two_lanes):
    for task in view(platform, two_lanes)["active_tasks"]:
        platform.runtime.complete_task(task["id"], {"behov": ["hemtjänst"]}, ENGINE)
    for task in view(platform, two_lanes)["active_tasks"]:
        platform.runtime.complete_task(task["id"], {}, ENGINE)
    correlation = {"personnummer": "191212121212", "vardtillfalle_id": "VT-1"}
    result = platform.runtime.send_message("klar", "msg-1", correlation, {"uk_tid": "2026-01-13T10:00"}, SYSTEM)
    assert (result.instance_id, result.outcome, result.duplicate) == (two_lanes, "delivered", False)
    again = platform.runtime.send_message("klar", "msg-1", correlation, {"uk_tid": "other"}, SYSTEM)
    assert again.duplicate and again.instance_id == two_lanes
    instance = view(platform, two_lanes)
    assert instance["status"] == "completed"
    assert instance["data"]["uk_tid"] == "2026-01-13T10:00"
    assert len([h for h in instance["history"] if h["kind"] == "message_received"]) == 1


def test_message_that_matches_nothing_is_refused(platform, two_lanes):
    with pytest.raises(NotFound):
        platform.runtime.send_message("klar", "m2", {"personnummer": "19121212-1212"}, {}, SYSTEM)  # not waiting
    with pytest.raises(NotFound):
        platform.runtime.send_message("okand", "m3", {"personnummer": "19121212-1212"}, {}, SYSTEM)
    with pytest.raises(ValidationFailed):
        platform.runtime.send_message("klar", "m4", {"personnummer": "19121212-0000"}, {}, SYSTEM)


def test_message_start_then_continue_and_ambiguity(platform):
    platform.runtime.deploy(diagrams.message_start_process("flode", "inskrivning", "utskriven"), OWNER)
    corr = {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-9"}
    started = platform.runtime.send_message("inskrivning", "a1", corr, {"kommun": "Eksjö"}, SYSTEM)
    assert started.outcome == "started"
    instance = view(platform, started.instance_id)
    assert instance["business_key"] == "19121212-1212/VT-9"
    assert instance["data"]["kommun"] == "Eksjö"
    with pytest.raises(Conflict, match="pågående"):
        platform.runtime.send_message("inskrivning", "a2", corr, {}, SYSTEM)
    platform.runtime.complete_task(instance["active_tasks"][0]["id"], {}, ENGINE)
    other = platform.runtime.send_message(
        "inskrivning", "a3", {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-10"}, {}, SYSTEM
    )
    platform.runtime.complete_task(view(platform, other.instance_id)["active_tasks"][0]["id"], {}, ENGINE)
    with pytest.raises(Conflict, match="2 instanser"):
        platform.runtime.send_message("utskriven", "a4", {"personnummer": "19121212-1212"}, {}, SYSTEM)
    done = platform.runtime.send_message("utskriven", "a5", corr, {}, SYSTEM)
    assert done.instance_id == started.instance_id


def test_script_error_is_an_incident_that_a_coordinator_retries(platform):
    platform.runtime.deploy(diagrams.script_process("delning", "kvot = antal / delare"), OWNER)
    iid = platform.runtime.start_instance("delning", "bk", {**CASE, "antal": 10, "delare": 0}, SYSTEM)
    platform.runtime.complete_task(view(platform, iid)["active_tasks"][0]["id"], {}, ENGINE)
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    [incident] = instance["incidents"]
    assert incident["element_id"] == "skript" and "ZeroDivisionError" in incident["message"]
    with pytest.raises(Forbidden):
        platform.runtime.retry_instance(iid, VC, {"delare": 2}, reason="Rättat")
    platform.runtime.retry_instance(iid, COORDINATOR, {"delare": 2}, reason="Rättade delaren")
    instance = view(platform, iid)
    assert instance["status"] == "running"
    assert instance["data"]["kvot"] == 5
    assert instance["incidents"][0]["resolved_by"] == "cora"
    assert [t["element_id"] for t in instance["active_tasks"]] == ["efter"]


def test_gateway_without_a_true_condition_is_an_incident(platform):
    platform.runtime.deploy(diagrams.gateway_process("grind", "svar == 'ja'", default=False), OWNER)
    iid = platform.runtime.start_instance("grind", "bk", dict(CASE), SYSTEM)
    platform.runtime.complete_task(view(platform, iid)["active_tasks"][0]["id"], {"svar": "kanske"}, ENGINE)
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    assert instance["incidents"][0]["element_id"] == "gw"
    # No condition held: the incident shows all of them and what they read.
    assert sorted(instance["incidents"][0]["expression"].splitlines()) == ["svar == 'ja'", "svar == 'nej'"]
    assert instance["incidents"][0]["seen_values"] == {"svar": {"value": "kanske"}}
    platform.runtime.retry_instance(iid, COORDINATOR, {"svar": "ja"}, reason="Svaret rättat")
    assert [t["element_id"] for t in view(platform, iid)["active_tasks"]] == ["ja"]


def test_an_incident_names_the_failing_expression_and_the_values_it_saw(platform):
    platform.runtime.deploy(diagrams.gateway_process("grind", "dagar &gt; grans", default=True), OWNER)
    iid = platform.runtime.start_instance("grind", "bk", {**CASE, "grans": 3}, SYSTEM)
    platform.runtime.complete_task(view(platform, iid)["active_tasks"][0]["id"], {}, ENGINE)
    [incident] = view(platform, iid)["incidents"]
    assert incident["expression"] == "dagar > grans"
    assert incident["seen_values"] == {"dagar": {"missing": True}, "grans": {"value": 3}}
    assert incident["failures"] == 1


def test_a_retry_that_fails_again_keeps_the_incident_open_without_a_twin(platform):
    platform.runtime.deploy(diagrams.script_process("delning", "kvot = antal / delare"), OWNER)
    iid = platform.runtime.start_instance("delning", "bk", {**CASE, "antal": 10, "delare": 0}, SYSTEM)
    platform.runtime.complete_task(view(platform, iid)["active_tasks"][0]["id"], {}, ENGINE)
    [first] = view(platform, iid)["incidents"]
    assert first["seen_values"] == {"antal": {"value": 10}, "delare": {"value": 0}}
    platform.runtime.retry_instance(iid, COORDINATOR, {"antal": 12}, reason="Fel fält rättat")
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    [again] = instance["incidents"]
    assert (again["id"], again["resolved_at"], again["failures"]) == (first["id"], None, 2)
    assert again["seen_values"] == {"antal": {"value": 12}, "delare": {"value": 0}}
    retried = [h for h in instance["history"] if h["kind"] == "retried"][0]["data"]
    assert (retried["incidents"], retried["failed_again"]) == ([], ["skript"])
    platform.runtime.retry_instance(iid, COORDINATOR, {"delare": 4}, reason="Delaren rättad")
    instance = view(platform, iid)
    assert instance["status"] == "running" and instance["data"]["kvot"] == 3
    [done] = instance["incidents"]
    assert done["resolved_by"] == "cora"


def test_runaway_script_is_an_incident_not_a_hang(platform):
    platform.runtime.deploy(diagrams.script_process("loop", "x = 0\nwhile True:\n    x += 1"), OWNER)
    iid = platform.runtime.start_instance("loop", "bk", {}, SYSTEM)
    platform.runtime.complete_task(view(platform, iid)["active_tasks"][0]["id"], {}, ENGINE)
    instance = view(platform, iid)
    assert instance["status"] == "incident"
    assert "för" in instance["incidents"][0]["message"]


def test_cancel_removes_tasks_and_timers_and_is_audited(platform, two_lanes):
    platform.runtime.complete_task(view(platform, two_lanes)["active_tasks"][0]["id"], {"behov": ["hemtjänst"]}, ENGINE)
    with pytest.raises(Forbidden):
        platform.runtime.cancel_instance(two_lanes, VC, "fel")
    platform.runtime.cancel_instance(two_lanes, COORDINATOR, "Personen flyttades till annat sjukhus")
    instance = view(platform, two_lanes)
    assert (instance["status"], instance["active_tasks"], instance["timers"]) == ("cancelled", [], [])
    with pytest.raises(Conflict):
        platform.runtime.cancel_instance(two_lanes, COORDINATOR, "igen")


def test_bad_start_input_is_refused_and_nothing_stored(platform):
    platform.runtime.deploy(diagrams.single_task("p"), OWNER)
    with pytest.raises(NotFound):
        platform.runtime.start_instance("finns_inte", "bk", {}, SYSTEM)
    with pytest.raises(NotFound):
        platform.runtime.start_instance("p", "bk", {}, SYSTEM, version=7)
    with pytest.raises(ValidationFailed):
        platform.runtime.start_instance("p", " ", {}, SYSTEM)
    with pytest.raises(ValidationFailed):
        platform.runtime.start_instance("p", "bk", {"personnummer": "123"}, SYSTEM)
    with pytest.raises(ValidationFailed):
        platform.runtime.start_instance("p", "bk", {"__class__": 1}, SYSTEM)
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
        assert session.scalar(select(func.count()).select_from(HistoryEntry)) == 0


def test_named_version_keeps_running_when_a_newer_one_is_deployed(platform):
    platform.runtime.deploy(diagrams.single_task("p", "Gammal"), OWNER)
    old = platform.runtime.start_instance("p", "bk1", {}, SYSTEM)
    platform.runtime.deploy(diagrams.single_task("p", "Ny"), OWNER)
    still = platform.runtime.start_instance("p", "bk4", {}, SYSTEM)  # deploying did not change the default
    make_default(platform, "p", 2)
    new = platform.runtime.start_instance("p", "bk2", {}, SYSTEM)
    pinned = platform.runtime.start_instance("p", "bk3", {}, SYSTEM, version=1)
    names = {i: view(platform, i)["active_tasks"][0]["name"] for i in (old, still, new, pinned)}
    assert names == {old: "Gammal", still: "Gammal", new: "Ny", pinned: "Gammal"}
    platform.runtime.complete_task(view(platform, old)["active_tasks"][0]["id"], {}, ENGINE)
    assert view(platform, old)["status"] == "completed"


def test_call_activity_runs_the_called_process_and_its_tasks_are_indexed(platform):
    platform.runtime.deploy(diagrams.single_task("del", "Delsteg"), OWNER)
    platform.runtime.deploy(diagrams.call_process("huvud", "del"), OWNER)
    iid = platform.runtime.start_instance("huvud", "bk", {"x": 1}, SYSTEM)
    instance = view(platform, iid)
    assert [t["name"] for t in instance["active_tasks"]] == ["Delsteg"]
    platform.runtime.complete_task(instance["active_tasks"][0]["id"], {"y": 2}, ENGINE)
    instance = view(platform, iid)
    assert [t["name"] for t in instance["active_tasks"]] == ["Efter anropet"]
    assert instance["data"]["y"] == 2


def test_task_index_matches_the_engine_after_every_step(platform, two_lanes):
    """The index is derived data: after each step it lists exactly the READY human tasks of the stored state."""
    from engine.persistence.models import ProcessDefinition

    def index_and_engine():
        with platform.db.read() as session:
            rows = sorted(r.id for r in session.scalars(select(TaskIndex).where(TaskIndex.instance_id == two_lanes)))
            inst = session.get(ProcessInstance, two_lanes)
            definition = session.get(ProcessDefinition, inst.definition_id)
            spec, subs = platform.runtime.specs.get(session, definition)
            flow = platform.runtime.flows.restore(inst.state, spec, subs)
            return rows, sorted(t.id for t in flow.ready_human_tasks())

    rows, engine_ids = index_and_engine()
    assert rows == engine_ids
    platform.runtime.complete_task(rows[0], {"behov": ["hemtjänst"]}, ENGINE)
    rows, engine_ids = index_and_engine()
    assert rows == engine_ids and len(rows) == 1


def test_restored_workflows_run_in_the_sandbox_not_spiffs_default_engine(platform):
    """SpiffWorkflow's deserializer installs an unrestricted engine; ours must be set again after every load."""
    from engine.bpmn.sandbox import SandboxEnvironment
    from engine.persistence.models import ProcessDefinition

    platform.runtime.deploy(diagrams.single_task("del", "Delsteg"), OWNER)
    platform.runtime.deploy(diagrams.call_process("huvud", "del"), OWNER)
    iid = platform.runtime.start_instance("huvud", "bk", {}, SYSTEM)
    with platform.db.read() as session:
        inst = session.get(ProcessInstance, iid)
        spec, subs = platform.runtime.specs.get(session, session.get(ProcessDefinition, inst.definition_id))
        flow = platform.runtime.flows.restore(inst.state, spec, subs)
        state = inst.state
    assert isinstance(flow.workflow.script_engine.environment, SandboxEnvironment)
    for sub in flow.workflow.subprocesses.values():
        assert isinstance(sub.script_engine.environment, SandboxEnvironment)
    # and the stored state does not carry the spec (kept apart, convention 7)
    assert '"spec"' not in state.split('"tasks"')[0]


def test_the_cases_units_are_kept_as_columns_from_its_data(platform):
    platform.runtime.deploy(fixture_bytes("two_lanes.bpmn"), OWNER)
    with_kommun = platform.runtime.start_instance("two_lanes", "k", {**CASE, "kommun": "Eksjö"}, SYSTEM)
    without = platform.runtime.start_instance("two_lanes", "n", dict(CASE), SYSTEM)
    with platform.db.read() as session:
        rows = [session.get(ProcessInstance, i) for i in (with_kommun, without)]
        units = [(r.kommun, r.vardcentral, r.avdelning) for r in rows]
    assert units == [
        ("Eksjö", "SE2321000057-vc1", "SE2321000057-ward1"),
        (None, "SE2321000057-vc1", "SE2321000057-ward1"),
    ]
