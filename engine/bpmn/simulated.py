"""Workflows for the simulator (engine/features/simulation.py): SpiffWorkflow's own classes with three lookups made
cheap.

On every engine step SpiffWorkflow walks the whole task tree twice: `get_tasks(state=READY)` to find engine tasks
to run and `update_waiting_tasks()` to poke every WAITING task; and each waiting parallel join re-checks its
branches on every poke. A case of in_utskrivning grows to hundreds of tasks, and that was most of a simulated step
(profiled). Here the walks become scans of the workflow's task dict (plus its subprocesses'), the same idea as
engine/bpmn/gateways.py, and a parallel join is re-checked only after a task leading into a parallel join completed.
Only the order in which several READY engine tasks of one step run can differ from the tree's order (creation order
instead of depth first); a test runs the same stream both ways and gets the same figures, steps and workload. Used
for simulated cases only: real cases keep SpiffWorkflow's classes unchanged.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import spiff_api
from engine.bpmn.workflow import Flow, FlowFactory


def _scan(workflow: Any, first_task: Any, kwargs: dict[str, Any]) -> list[Task] | None:
    if first_task is not None or set(kwargs) != {"state"}:
        return None
    mask = kwargs["state"]
    found = [t for t in workflow.tasks.values() if t.state & mask]
    top = getattr(workflow, "top_workflow", workflow)
    for sub in list(top.subprocesses.values()):
        if sub.parent_task_id in workflow.tasks:
            found.extend(sub.get_tasks(state=mask))
    return found


def _update_waiting(workflow: Any) -> None:
    """Poke every WAITING task, except a parallel join when no task leading into a parallel join has completed since
    its last check: a parallel join waits for its incoming branches to complete and nothing else, so that check
    would answer the same (it was a quarter of a simulated step, profiled). Inclusive joins, timers and events are
    always poked, as SpiffWorkflow does."""
    version = getattr(workflow, "_join_inputs_completed", 0)
    checked: dict[Any, int] = workflow.__dict__.setdefault("_join_checked", {})
    for task in [t for t in workflow.tasks.values() if t.state == TaskState.WAITING]:
        if isinstance(task.task_spec, ParallelGateway):
            if checked.get(task.id) == version:
                continue
            checked[task.id] = version
        spiff_api.update(task)


def _note_completion(workflow: Any, task: Task) -> None:
    if any(isinstance(output, ParallelGateway) for output in task.task_spec.outputs):
        workflow._join_inputs_completed = getattr(workflow, "_join_inputs_completed", 0) + 1


class _Scanning:
    """What the top workflow and its sub-workflows both do differently: scans instead of tree walks."""

    def get_tasks(self, first_task: Task | None = None, **kwargs: Any) -> list[Task]:
        found = _scan(self, first_task, kwargs)
        return found if found is not None else list(super().get_tasks(first_task, **kwargs))  # type: ignore[misc]

    def update_waiting_tasks(self) -> None:
        _update_waiting(self)

    def _task_completed_notify(self, task: Task) -> None:
        _note_completion(self, task)
        super()._task_completed_notify(task)  # type: ignore[misc]


class _ScanningSubWorkflow(_Scanning, BpmnSubWorkflow):
    pass


class _ScanningWorkflow(_Scanning, BpmnWorkflow):
    def create_subprocess(self, my_task: Task, spec_name: str) -> Any:
        subprocess = _ScanningSubWorkflow(
            self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self
        )
        self.subprocesses[my_task.id] = subprocess
        return subprocess


def simulated_flow(
    factory: FlowFactory, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec], data: dict[str, Any]
) -> Flow:
    """A new workflow like FlowFactory.new, of the scanning classes above (never serialized: simulation only)."""
    workflow = _ScanningWorkflow(spec, subprocess_specs, script_engine=factory.script_engine)
    workflow.data.update(data)
    workflow.task_tree.data.update(data)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    return Flow(workflow, factory.script_engine)
