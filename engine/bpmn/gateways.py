"""Gateway behaviour that SpiffWorkflow 3.2 gets wrong in loops.

SpiffWorkflow's inclusive join looks only at the task tree up to its first pass and counts that pass's finished
inputs for every later one: in SIP's revise loop (`gw_revidera` back to `merge_kallelse`) the second pass through
`join_deltagande` fires as soon as the first invited party confirms, and the next confirmation runs the join again on
a finished branch (an incident). This join looks only at the current pass, like SpiffWorkflow's parallel join does.

Both classes are task specs of SpiffWorkflow's own kinds, registered through its parser (engine/bpmn/parsing.py's
`_Parser.OVERRIDE_PARSER_CLASSES`) and its serializer (`SERIALIZER_CONFIG`, under SpiffWorkflow's type names).
They override SpiffWorkflow's `_check_threshold_unstructured` pinned in tests/bpmn/test_spiff_pins.py.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.serializer.default.task_spec import ConditionalGatewayConverter, ParallelGatewayConverter
from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import spiff_api


class LoopSafeInclusiveGateway(InclusiveGateway):
    def _check_threshold_unstructured(self, my_task: Any) -> bool:
        everything = list(my_task.workflow.tasks.values())
        joins = [t for t in everything if t.task_spec == self]
        # Every pass starts below the join task that fired the pass before: what is not below it is history.
        earlier = [
            t for t in joins if t is not my_task and t.state == TaskState.COMPLETED and my_task.is_descendant_of(t)
        ]
        current = [t for t in joins if t is my_task or all(t.is_descendant_of(e) for e in earlier)]
        completed_inputs = {t.parent.task_spec for t in current if t.parent.state == TaskState.COMPLETED}
        for task in current:
            if task.parent.has_state(TaskState.DEFINITE_MASK) and task.parent.task_spec not in completed_inputs:
                return False  # an input of this pass is still on its way

        active = {
            t.task_spec
            for t in everything
            if t.task_spec != self
            and t.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED)
            and (not earlier or all(t.is_descendant_of(e) for e in earlier))
        }

        def reachable_from_active(spec: Any, seen: set[Any]) -> bool:
            """Can a token still arrive at `spec` from an active task, without passing this gateway?"""
            if spec in active:
                return True
            seen.add(spec)
            return any(
                parent is not self and parent not in seen and reachable_from_active(parent, seen)
                for parent in spec.inputs
            )

        return not any(reachable_from_active(spec, set()) for spec in self.inputs if spec not in completed_inputs)


class ScanningParallelGateway(ParallelGateway):
    """SpiffWorkflow's parallel join with one change: it finds its own tasks by a scan of the workflow's task dict
    instead of SpiffWorkflow's tree iterator. The join re-checks on every update while it waits, and the iterator
    walks the whole task tree each time: with ten parallel timer branches that was most of the cost of firing one
    timer. The rule is SpiffWorkflow's: every input has a completed token in this pass."""

    def _check_threshold_unstructured(self, my_task: Any) -> bool:
        tasks = [t for t in my_task.workflow.tasks.values() if t.task_spec is self]
        waiting_inputs = set(self.inputs)
        mine = _ancestor_ids(my_task)

        for task in tasks:
            if task is not my_task and my_task.id in _ancestor_ids(task):
                # a later pass of a loop, not reached until this join completes: its branch is not waited for
                node = task
                while node is not None:
                    if node.task_spec in waiting_inputs:
                        waiting_inputs.remove(node.task_spec)
                        break
                    node = node.parent
            elif task.id in mine:
                continue  # an earlier pass of a loop
            elif task.parent.state == TaskState.COMPLETED and task.parent.task_spec in waiting_inputs:
                waiting_inputs.remove(task.parent.task_spec)
        return len(waiting_inputs) == 0


def _ancestor_ids(task: Any) -> set[Any]:
    ids = set()
    node = task.parent
    while node is not None:
        ids.add(node.id)
        node = node.parent
    return ids


# The serializer's converters for our gateways: SpiffWorkflow's, under its type names (a spec serialized or compared,
# e.g. by a migration's SpecDiff, reads as the element it is).
SERIALIZER_CONFIG: dict[type, Any] = {
    LoopSafeInclusiveGateway: spiff_api.converter_named(ConditionalGatewayConverter, "InclusiveGateway"),
    ScanningParallelGateway: spiff_api.converter_named(ParallelGatewayConverter, "ParallelGateway"),
}
