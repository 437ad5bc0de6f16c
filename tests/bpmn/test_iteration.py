"""Our stack iterator (engine/bpmn/iteration.py) walks the task tree exactly as SpiffWorkflow's iterators do: the same
tasks in the same order, for every filter the engine uses and for the depth cut, on real cases (the stored states of
in_utskrivning with its sub-processes, SIP and mobilt_team) before and after a timer fires."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

from engine.bpmn import iteration
from engine.bpmn.workflow import FlowFactory
from tests.bpmn.stored_states import FOLDER, definition_specs, fire_earliest, flow_factory

RECORD = json.loads((FOLDER / "states.json").read_text(encoding="utf-8"))
MASKS = (
    TaskState.ERROR,  # none: the walk is skipped after a scan of the task dicts
    TaskState.READY,
    TaskState.WAITING,
    TaskState.READY | TaskState.WAITING | TaskState.STARTED,
    TaskState.NOT_FINISHED_MASK,
    TaskState.FINISHED_MASK,
    TaskState.COMPLETED,
    TaskState.ANY_MASK,
)


def _walks(workflow: Any) -> list[tuple[str, dict[str, Any], Any]]:
    """(label, keyword arguments, first task) of the walks compared."""
    walks: list[tuple[str, dict[str, Any], Any]] = []
    for mask in MASKS:
        walks.append((f"state {mask}", {"state": mask}, None))
        for depth in (1, 2, 3, 5, 8, 13):
            walks.append((f"state {mask} max_depth {depth}", {"state": mask, "max_depth": depth}, None))
        walks.append((f"state {mask} skip_subprocesses", {"state": mask, "skip_subprocesses": True}, None))
    walks.append(("manual", {"state": TaskState.READY, "manual": True}, None))
    walks.append(("not manual", {"state": TaskState.READY, "manual": False}, None))
    for task in list(workflow.tasks.values())[:: max(1, len(workflow.tasks) // 7)]:
        walks.append((f"from {task.task_spec.name}", {}, task))
        walks.append((f"spec_name from {task.task_spec.name}", {"spec_name": task.task_spec.name}, task))
        walks.append((f"end_at {task.task_spec.name}", {"end_at_spec": task.task_spec.name}, None))
    return walks


def _assert_same_walks(workflow: Any) -> int:
    compared = 0
    for wf in (workflow, *workflow.subprocesses.values()):
        assert isinstance(wf, iteration.Workflow | iteration.SubWorkflow)
        for label, kwargs, first in _walks(wf):
            theirs = list(BpmnTaskIterator(first or wf.task_tree, **kwargs))
            ours = wf.get_tasks(first, **kwargs)
            assert [t.id for t in ours] == [t.id for t in theirs], label
            plain = {k: v for k, v in kwargs.items() if k != "skip_subprocesses"}
            theirs_plain = list(TaskIterator(first or wf.task_tree, **plain))
            ours_plain = list(iteration.StackTaskIterator(first or wf.task_tree, subprocesses=False, **plain))
            assert [t.id for t in ours_plain] == [t.id for t in theirs_plain], f"plain {label}"
            compared += 1
    return compared


@pytest.mark.parametrize("checkpoint", RECORD["checkpoints"], ids=lambda c: c["label"])
def test_the_stack_iterator_walks_a_real_case_as_spiffworkflow_does(checkpoint):
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    factory = flow_factory()
    flow = factory.restore(checkpoint["state"], spec, subs)
    assert _assert_same_walks(flow.workflow) > 50
    assert flow.workflow.get_tasks(state=TaskState.ERROR) == []
    fire_earliest(flow, datetime.fromisoformat(checkpoint["now"]))
    assert _assert_same_walks(flow.workflow) > 50


def test_new_and_restored_workflows_are_ours_and_store_as_spiffworkflow_names_them():
    checkpoint = RECORD["checkpoints"][-1]
    spec, subs = definition_specs(RECORD["definitions"], checkpoint["definition"])
    factory: FlowFactory = flow_factory()
    fresh = factory.new(spec, subs, {})
    assert type(fresh.workflow) is iteration.Workflow
    restored = factory.restore(checkpoint["state"], spec, subs)
    assert type(restored.workflow) is iteration.Workflow
    assert all(type(sub) is iteration.SubWorkflow for sub in restored.workflow.subprocesses.values())
    stored = json.loads(restored.dump())
    assert stored["typename"] == "BpmnWorkflow"
    assert {sub["typename"] for sub in stored["subprocesses"].values()} <= {"BpmnSubWorkflow"}
