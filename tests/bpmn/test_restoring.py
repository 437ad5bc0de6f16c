"""Our restore of a stored workflow (engine/bpmn/restoring.py: our task converter, each id parsed once, the stored
text read with each task's JSON kept) makes the workflow SpiffWorkflow's own restore makes: the same tasks in the
same order with the same ids, states, parents, children, data, internal data, last state changes, specs and
triggers, the same sub-processes, waiting events and BPMN events. Compared on the stored states of real cases, and
on every step of real cases of every process (tests/conftest.py also compares every restore of the whole suite with
SpiffWorkflow's restore of the tasks: VERIFY_RESTORES). tests/bpmn/test_spiff_pins.py fails when the SpiffWorkflow
code this re-does changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from sqlalchemy import select

from engine.bpmn import gateways, iteration, restoring, spiff_api, timers
from engine.bpmn import workflow as workflow_module
from engine.bpmn.workflow import _SERIALIZER, FlowFactory, StateWriter
from engine.persistence.models import ProcessInstance
from tests.bpmn.conftest import ESTHER, Walker
from tests.bpmn.stored_states import FOLDER, definition_specs, fire_earliest, flow_factory
from tests.bpmn.test_deadlines import ENROL, MOBILT_TEAM_CASE
from tests.bpmn.test_in_utskrivning import PLANNING, until_uk_decision

RECORD = json.loads((FOLDER / "states.json").read_text(encoding="utf-8"))


def _library() -> BpmnWorkflowSerializer:
    """SpiffWorkflow's own serializer: its workflow, sub-process and task converters (our workflow classes, which
    change only how tasks are walked, registered through them), our spec classes' converters."""
    config = dict(DEFAULT_CONFIG)
    config[iteration.Workflow] = spiff_api.converter_named(BpmnWorkflowConverter, "BpmnWorkflow")
    config[iteration.SubWorkflow] = spiff_api.converter_named(BpmnSubWorkflowConverter, "BpmnSubWorkflow")
    config.update(timers.SERIALIZER_CONFIG)
    config.update(gateways.SERIALIZER_CONFIG)
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


LIBRARY = _library()


def library_restore(state: str, spec: Any, subprocess_specs: dict[str, Any]) -> Any:
    """A stored state restored by SpiffWorkflow alone: the spec put back into the dict as SpiffWorkflow stores it,
    then BpmnWorkflowSerializer's own migrate and from_dict (json.loads, mapping_from_dict, TaskConverter)."""
    dct = json.loads(state)
    dct["spec"] = LIBRARY.registry.convert(spec)
    dct["subprocess_specs"] = {name: LIBRARY.registry.convert(sub) for name, sub in subprocess_specs.items()}
    LIBRARY.migrate(dct)
    return LIBRARY.from_dict(dct)


def _snapshot(workflow: Any) -> list[Any]:
    return restoring.snapshot(workflow, _SERIALIZER.registry.convert, same_specs=False)


def assert_restores_as_spiffworkflow(factory: FlowFactory, state: str, spec: Any, subs: dict[str, Any]) -> Any:
    ours = factory.restore(state, spec, subs)
    assert _snapshot(ours.workflow) == _snapshot(library_restore(state, spec, subs))
    # and as the reference VERIFY_RESTORES uses (SpiffWorkflow's task restore, the same spec objects)
    reference = workflow_module.reference_restore(state, spec, subs)
    convert = _SERIALIZER.registry.convert
    assert restoring.snapshot(ours.workflow, convert) == restoring.snapshot(reference, convert)
    assert json.loads(ours.dump()) == json.loads(state), "a restore and save changes nothing"
    return ours


@pytest.mark.parametrize("checkpoint", RECORD["checkpoints"], ids=lambda c: c["label"])
def test_a_stored_state_restores_as_spiffworkflow_restores_it(checkpoint):
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    factory = flow_factory()
    flow = assert_restores_as_spiffworkflow(factory, checkpoint["state"], spec, subs)
    assert len(flow.workflow.tasks) > 10
    fire_earliest(flow, datetime.fromisoformat(checkpoint["now"]))
    assert_restores_as_spiffworkflow(factory, flow.dump(), spec, subs)


def test_the_comparison_sees_a_difference():
    checkpoint = RECORD["checkpoints"][2]
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    before = _snapshot(flow_factory().restore(checkpoint["state"], spec, subs).workflow)
    changes = (
        lambda t: t.data.update(extra=1),
        lambda t: t.data.update({k: int(v) for k, v in t.data.items() if type(v) is bool}),  # True == 1
        lambda t: t.internal_data.update(extra=1),
        lambda t: setattr(t, "last_state_change", t.last_state_change + 1),
        lambda t: setattr(t, "triggered", not t.triggered),
        lambda t: t._children.reverse(),
    )
    for change in changes:
        flow = flow_factory().restore(checkpoint["state"], spec, subs)
        task = next(
            t
            for t in flow.workflow.tasks.values()
            if len(t._children) > 1 and any(type(v) is bool for v in t.data.values())
        )
        change(task)
        assert _snapshot(flow.workflow) != before


def test_a_full_spiffworkflow_serialization_restores_through_our_task_converter_as_through_spiffworkflows():
    """With its spec in the dict, a state restores through SpiffWorkflow's workflow converter, which hands each task
    to the registry: our task converter, outside a FlowFactory restore (each id parsed on its own)."""
    checkpoint = RECORD["checkpoints"][1]
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    full = LIBRARY.serialize_json(library_restore(checkpoint["state"], spec, subs))
    ours = _SERIALIZER.deserialize_json(full)
    theirs = LIBRARY.deserialize_json(full)
    assert type(ours.tasks[ours.task_tree.id]) is type(theirs.tasks[theirs.task_tree.id])
    assert _snapshot(ours) == _snapshot(theirs)


# --- the stored text ------------------------------------------------------------------------------------------------
def _texts() -> list[str]:
    state = RECORD["checkpoints"][1]["state"]
    dct = json.loads(state)
    return [
        state,
        json.dumps(dct),
        json.dumps(dct, indent=2),
        json.dumps(dct, separators=(",", ":"), ensure_ascii=False),
        " \n" + json.dumps(dct, indent="\t") + "\r\n ",
        json.dumps({**dct, "tasks": {}, "subprocesses": {}}),
        json.dumps({**dct, "tasks": [], "subprocesses": None}),
        json.dumps({"tasks": {"a": {"x": '\u00e5\\"}'}, "b": []}, "subprocesses": {"s": {"tasks": {"c": 1}}, "t": 2}}),
        json.dumps({"tasks": {"a": 1, "a ": 2}}).replace('"a "', '"a"'),  # a key twice: the last one counts
        "{}",
    ]


@pytest.mark.parametrize("text", _texts(), ids=range(len(_texts())))
def test_read_state_reads_what_json_reads_and_each_tasks_text_as_stored(text):
    dct, stored = restoring.read_state(text)
    assert dct == json.loads(text)
    assert stored is not None
    workflows = [dct, *(v for v in (dct.get("subprocesses") or {}).values() if isinstance(v, dict))]
    expected = {k: v for wf in workflows if isinstance(wf.get("tasks"), dict) for k, v in wf["tasks"].items()}
    assert set(stored) == set(expected)
    for key, member in stored.items():
        assert member in text
        assert json.loads("{" + member + "}") == {key: expected[key]}


@pytest.mark.parametrize(
    "text", ["", "{", '{"tasks": {"a": 1,}}', '{"a": 1} x', '{"a": NaX}', "nul", '{"a"}', "{'a': 1}"]
)
def test_read_state_fails_as_json_fails(text):
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as ours:
        restoring.read_state(text)
    assert str(ours.value) == str(theirs.value)


def test_read_state_reads_json_that_is_no_workflow_as_json_does():
    assert restoring.read_state("[1]") == ([1], None)
    assert restoring.read_state(' "x"') == ("x", None)


def test_the_first_dump_after_a_restore_reuses_each_kept_tasks_text_as_stored():
    checkpoint = RECORD["checkpoints"][1]
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    state = checkpoint["state"]
    flow = flow_factory().restore(state, spec, subs)
    kept = flow._writer._kept
    assert len(kept) > 10
    assert all(member in state for _, member in kept.values())
    # not read that way (bytes): every kept task encoded afresh, to the same JSON
    again = flow_factory().restore(state.encode(), spec, subs)  # type: ignore[arg-type]
    assert {k: json.loads("{" + m + "}") for k, (_, m) in again._writer._kept.items()} == {
        k: json.loads("{" + m + "}") for k, (_, m) in kept.items()
    }
    assert json.loads(again.dump()) == json.loads(flow.dump()) == json.loads(state)


# --- every step of real cases -----------------------------------------------------------------------------------
class ComparingWalker(Walker):
    """After every step, each case whose stored state changed is restored both ways and compared."""

    def __init__(self, platform: Any):
        super().__init__(platform)
        self.seen: dict[int, int] = {}
        self.compared = 0
        self.with_subprocesses = 0

    def _step_done(self) -> None:
        core = self.runtime.core
        with self.p.db.read() as session:
            for instance in session.scalars(select(ProcessInstance)):
                if self.seen.get(instance.id) == instance.lock_version:
                    continue
                self.seen[instance.id] = instance.lock_version
                definition = core.deployed(session, instance.definition_id)
                spec, subs = core.specs.get(session, definition, instance.called_versions)
                flow = assert_restores_as_spiffworkflow(core.flows, instance.state, spec, subs)
                self.compared += 1
                self.with_subprocesses += bool(flow.workflow.subprocesses)
        super()._step_done()


def test_cases_of_every_process_restore_step_by_step_as_spiffworkflow_restores_them(process_platform):
    walk = ComparingWalker(process_platform)
    instance = until_uk_decision(walk)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True, utskrivningsklar_tidpunkt=walk.clock.now().isoformat())
    walk.complete(instance, "skicka_meddelande_utskrivningsklar", mottagare=["Kommun", "Vårdcentral"])
    walk.run_except(instance, {"genomfora_utskrivning"}, PLANNING)
    walk.send("utskriven", ESTHER, utskrivningstid=walk.clock.now().isoformat())
    walk.run_until(instance, {"folja_upp_sip"}, PLANNING)
    walk.fire(instance, "vanta_uppfoljning")
    walk.run_until(instance, set(), PLANNING)
    team = walk.start("mobilt_team", MOBILT_TEAM_CASE)
    walk.run_until(team, {"folja_personen_i_teamet"}, {**ENROL, "uppratta_vardplan": {"rond_intervall_dagar": 7}})
    walk.fire(team, "tid_rond")
    with process_platform.db.read() as session:
        processes = {row.process_id for row in session.scalars(select(ProcessInstance))}
    assert processes == {"in_utskrivning", "mobilt_team"}  # sip runs as in_utskrivning's call activity
    assert walk.compared > 40
    assert walk.with_subprocesses > 10


# --- the pieces -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "2b01ed53-b92a-4954-b1b7-7f197cfa6c58",
        "2B01ED53-B92A-4954-B1B7-7F197CFA6C58",
        "2b01ed53b92a4954b1b77f197cfa6c58",
        "{2b01ed53-b92a-4954-b1b7-7f197cfa6c58}",
        "urn:uuid:2b01ed53-b92a-4954-b1b7-7f197cfa6c58",
        "2b01ed53-b92a-4954-b1b7-7f197cfa6c5",
        "2b01ed53-b92a-4954-b1b7-7f197cfa6c58-",
        "2b01ed53-b92a-4954-b1b7-7f197cfa6cx8",
        "2b01ed53--92a-4954-b1b7-7f197cfa6c58a",
        "+b01ed53-b92a-4954-b1b7-7f197cfa6c58",
        "2b01_d53-b92a-4954-b1b7-7f197cfa6c58",
        "",
    ],
)
def test_an_id_is_parsed_as_uuid_parses_it(text):
    try:
        expected: Any = UUID(text)
    except ValueError as exc:
        expected = exc
    uuids: dict[str, UUID] = {}
    try:
        found: Any = restoring.uuid(uuids, text)
    except ValueError as exc:
        assert isinstance(expected, ValueError) and str(exc) == str(expected)
        return
    assert not isinstance(expected, ValueError)
    assert found == expected and hash(found) == hash(expected) and str(found) == str(expected)
    assert found.is_safe == expected.is_safe and found.version == expected.version
    assert uuids == {text: found}


def _task_dict(**changes: Any) -> dict[str, Any]:
    dct = {
        "id": "2b01ed53-b92a-4954-b1b7-7f197cfa6c58",
        "parent": "3b01ed53-b92a-4954-b1b7-7f197cfa6c58",
        "children": [],
        "last_state_change": 1.0,
        "state": 64,
        "task_spec": "x",
        "triggered": False,
        "internal_data": {},
        "data": {},
        "delta": {"updates": {"a": 1}, "deletions": []},
        "typename": "Task",
    }
    dct.update(changes)
    return {k: v for k, v in dct.items() if v != "-"}


@pytest.mark.parametrize(
    ("changes", "reusable"),
    [
        ({}, True),
        ({"delta": {"updates": {"a": [1]}, "deletions": []}}, True),
        ({"delta": {"updates": {"a": [[1]]}, "deletions": []}}, False),  # nested: shared with other tasks
        ({"delta": {"updates": {"a": {"b": {}}}, "deletions": []}}, False),
        ({"internal_data": {"a": [1]}}, True),
        ({"internal_data": {"a": [{"b": 1}]}}, False),
        ({"data": {"a": 1}}, False),  # data on a child: not as this serializer writes it
        ({"delta": {"updates": {}}}, False),
        ({"delta": []}, False),
        ({"delta": {}}, False),
        ({"typename": "-"}, False),
        ({"extra": 1}, False),
        ({"parent": None, "delta": {}, "data": {"a": [1]}}, True),
        ({"parent": None, "delta": {}, "data": {"a": [[1]]}}, False),
        ({"parent": None, "delta": {"updates": {}, "deletions": []}, "data": {}}, False),
    ],
)
def test_a_stored_task_is_reused_only_as_this_serializer_writes_it_and_flat(changes, reusable):
    assert StateWriter._reusable(_task_dict(**changes)) is reusable
