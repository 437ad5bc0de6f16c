"""SpiffWorkflow's task iteration, the same tasks in the same order, at a fraction of the cost.

Every engine step walks the task tree: `get_tasks(state=READY)` in each round of `do_engine_steps`, and
`update_waiting_tasks()` after every completed task (a WAITING walk that pokes each waiting timer and join). With ten
parallel timers a firing did five such walks, and the walks were a third of its engine time (profiled,
bench/timer_firing.py). SpiffWorkflow's `TaskIterator` keeps its to-do list as a Python list it pops from the front
and prepends each task's children to (both copy the list), and asks a general filter object about every task.

`StackTaskIterator` is the same walk with the to-do list kept reversed (a stack: pop and push at the end) and the
filter's test inlined when it asks for states only. It is lazy like SpiffWorkflow's (a walk that changes the tree as
it goes, as `update_waiting_tasks` does, sees the same tasks), keeps the iterator's depth bookkeeping exactly (its
`max_depth` cut), and descends into sub-processes as `BpmnTaskIterator` does (or not, as `TaskIterator` does not).
tests/bpmn/test_iteration.py walks the stored states and every diagram's paths both ways and compares.

`Workflow` and `SubWorkflow` are SpiffWorkflow's BPMN workflow classes using it; they are registered with the
serializer under SpiffWorkflow's type names (engine/bpmn/workflow.py), so stored states restore into them and they
store the same JSON.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskFilter, TaskState

_DEFAULT_FILTER = TaskFilter()
_DEFAULT_BPMN_FILTER = BpmnTaskFilter()


def _states_only(task_filter: Any) -> int | None:
    """The state mask when the filter asks for nothing else (what `matches` then reduces to), else None."""
    if type(task_filter) is TaskFilter:
        reference: Any = _DEFAULT_FILTER
        names: tuple[str, ...] = ("updated_ts", "manual", "spec_name", "spec_class")
    elif type(task_filter) is BpmnTaskFilter:
        reference = _DEFAULT_BPMN_FILTER
        names = ("updated_ts", "manual", "spec_name", "spec_class", "catches_event", "lane")
    else:
        return None
    if any(getattr(task_filter, n) != getattr(reference, n) for n in names):
        return None
    return int(task_filter.state)


class StackTaskIterator(BpmnTaskIterator):
    """`BpmnTaskIterator` (or, with `subprocesses=False`, `TaskIterator`), depth first, with a stack."""

    def __init__(
        self,
        task: Task,
        end_at_spec: str | None = None,
        max_depth: int = 1000,
        depth_first: bool = True,
        skip_subprocesses: bool = False,
        task_filter: Any = None,
        subprocesses: bool = True,
        **kwargs: Any,
    ):
        if task_filter is None and not subprocesses:
            task_filter = TaskFilter(**kwargs)
        super().__init__(task, end_at_spec, max_depth, depth_first, skip_subprocesses, task_filter, **kwargs)
        if not depth_first:
            raise ValueError("StackTaskIterator walks depth first only")
        self._stack = [task]  # SpiffWorkflow's task_list, reversed: its first item is our last
        self._subprocesses = subprocesses
        self._mask = _states_only(self.task_filter)
        self._scanned = False

    def _none_in_reach(self, mask: int) -> bool:
        """No task in a state of `mask` anywhere the walk could go: the dicts of its workflow and (descending into
        sub-processes) of every sub-process hold every task it can visit. A dict scan is much cheaper than the walk,
        and the last round of every `do_engine_steps` finds nothing ready."""
        start = self._stack[-1]
        if any(t._state & mask for t in start.workflow.tasks.values()):
            return False
        if self._subprocesses:
            for sub in list(start.workflow.top_workflow.subprocesses.values()):
                if any(t._state & mask for t in sub.tasks.values()):
                    return False
        return True

    def __next__(self) -> Task:
        mask = self._mask
        if mask is not None:
            if not self._scanned:
                # Before the first task: nothing has been handed out, so nothing has changed the tree since.
                self._scanned = True
                if self._stack and self._none_in_reach(mask):
                    self._stack.clear()
            while True:
                task = self._next()
                # TaskFilter.matches with only a state asked for (the other tests pass for any task)
                if task._state & mask != 0 and task.last_state_change >= 0:
                    return task
        task = self._next()
        while not self.task_filter.matches(task):
            task = self._next()
        return task

    def _next(self) -> Task:
        stack = self._stack
        if not stack:
            raise StopIteration()
        task = stack.pop()
        subprocess = task.workflow.top_workflow.subprocesses.get(task.id) if self._subprocesses else None
        if (
            (task._children or subprocess is not None)
            and (task.state >= self.min_state or subprocess is not None)
            and self.depth < self.max_depth
            and task.task_spec.name != self.end_at_spec
        ):
            children = task.children
            children.reverse()
            stack.extend(children)
            if not (
                subprocess is None
                or self.skip_subprocesses
                or (task.state >= TaskState.FINISHED_MASK and self.task_filter.state <= TaskState.FINISHED_MASK)
            ):
                stack.append(subprocess.task_tree)
            self.depth += 1
        elif stack:
            # TaskIterator._handle_leaf_depth
            ancestor = stack[-1].parent
            current = task.parent
            while current is not None and current != ancestor:
                current = current.parent
                self.depth -= 1
        return task


class _Iterating:
    """What the top workflow and its sub-workflows both do differently: the stack iterator."""

    def get_tasks_iterator(self, first_task: Task | None = None, **kwargs: Any) -> Any:
        if kwargs.get("depth_first", True) is False:
            return super().get_tasks_iterator(first_task, **kwargs)  # type: ignore[misc]
        return StackTaskIterator(first_task or self.task_tree, **kwargs)  # type: ignore[attr-defined]

    def update_waiting_tasks(self) -> None:
        # Workflow.update_waiting_tasks, whose plain TaskIterator does not descend into sub-processes
        for task in StackTaskIterator(self.task_tree, state=TaskState.WAITING, subprocesses=False):  # type: ignore[attr-defined]
            task.task_spec._update(task)


class SubWorkflow(_Iterating, BpmnSubWorkflow):
    pass


class Workflow(_Iterating, BpmnWorkflow):
    def create_subprocess(self, my_task: Task, spec_name: str) -> Any:
        # BpmnWorkflow.create_subprocess, making ours
        subprocess = SubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess
