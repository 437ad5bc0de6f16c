"""Every use of SpiffWorkflow's private API (underscore names, internal attributes), each with why.

engine/bpmn calls SpiffWorkflow's public API directly; what it needs beyond that goes through this module, so that an
upgrade of the pinned version has one place to look. tests/bpmn/test_spiff_pins.py pins the source of every
SpiffWorkflow function named here (and of every method our subclasses override) and fails when it changes.

Our subclasses override some of SpiffWorkflow's underscore methods; they are listed in `OVERRIDDEN` (documentation,
and the pin test's list) and explained where they are defined.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.task import Task


# --- task internal data ----------------------------------------------------------------------------------------------
def internal(task: Task, name: str, default: Any = None) -> Any:
    """A value of the task's internal data (a timer's `event_value`, `event_fired`). SpiffWorkflow's own accessor
    `Task._get_internal_data` is private; the dict it reads, `Task.internal_data`, is a public attribute (serialized
    as is), so we read the dict."""
    return task.internal_data.get(name, default)


def set_internal(task: Task, **values: Any) -> None:
    """Set values of the task's internal data (see `internal`): a timer's due moment when a deadline is retimed, a
    coordinator fires it now, or a migration re-arms it."""
    task.internal_data.update(values)


# --- task state ----------------------------------------------------------------------------------------------------
def force_state(task: Task, state: int) -> None:
    """`Task._set_state`: put a task in a state without running its spec. Used where no public path exists: a failed
    task back to READY for a retry after an incident (SpiffWorkflow's own `reset_branch` would also drop what came
    after it), and a predicted task made FUTURE on a coordinator's forward token move."""
    task._set_state(state)


def make_ready(task: Task) -> None:
    """`Task._ready`: READY through SpiffWorkflow's own path (a waiting event also leaves the event manager) before a
    forward move completes the task without running it."""
    task._ready()


def update(task: Task) -> None:
    """`TaskSpec._update`: let a task's spec prepare or re-check it (a FUTURE task whose preparation failed, after an
    incident; the target of a forward move; a waiting task in the simulator's cheaper poke of waiting tasks).
    SpiffWorkflow does the same from `Workflow.refresh_waiting_tasks` over the whole tree."""
    task.task_spec._update(task)


# --- the task tree ---------------------------------------------------------------------------------------------------
def remove_task(workflow: Any, task: Task) -> None:
    """`Workflow._remove_task`: drop a predicted task and its descendants (a branch a forward move or a migration
    leaves behind). SpiffWorkflow has no public way to prune one branch."""
    workflow._remove_task(task.id)


def splice_out(workflow: Any, task: Task) -> None:
    """Take a finished task out of the tree, its children hanging from its parent in its place (a migration to a
    version without the task's element: our state is stored without the spec, so every task must name an element
    of the version it runs on). Rewrites `Task._children` and `Task._parent`, SpiffWorkflow's private links (the
    public `children`/`parent` are read-only views of them)."""
    parent = task.parent
    position = parent._children.index(task.id)
    for child in task.children:
        child._parent = parent.id
    parent._children[position : position + 1] = list(task._children)
    task._children = []
    parent._children = list(dict.fromkeys(parent._children))
    workflow.tasks.pop(task.id)


def forget_removed_events(workflow: Any) -> None:
    """SpiffWorkflow's event manager (`BpmnWorkflow.event_manager.tasks`, an internal registry) is not told when a
    task leaves the tree: a boundary timer dropped by a reset stayed registered and the next timer refresh failed on
    it ('NoneType' object has no attribute 'data'). Forget every registered task that is no longer in a live
    (sub)workflow."""
    manager = workflow.event_manager
    live = {id(workflow)} | {id(w) for w in workflow.subprocesses.values()}
    for key, task in list(manager.tasks.items()):
        if id(task.workflow) not in live or task.workflow.tasks.get(task.id) is not task:
            manager.tasks.pop(key, None)


# --- serializer ----------------------------------------------------------------------------------------------------
def converter_named(converter: type, typename: str) -> type:
    """A SpiffWorkflow converter class that registers its target under `typename` (BpmnConverter's public `typename`
    argument, which `BpmnWorkflowSerializer.configure` does not pass): our subclass of one of SpiffWorkflow's classes
    is stored under SpiffWorkflow's name, so what was stored before it existed restores into it and what is stored
    now reads the same."""

    def __init__(self: Any, target_class: type, registry: Any) -> None:
        converter.__init__(self, target_class, registry, typename)  # type: ignore[misc]

    return type(f"{converter.__name__}As{typename}", (converter,), {"__init__": __init__})


# --- the private methods our subclasses override (pinned; see where each is defined) ----------------------------------
OVERRIDDEN: tuple[tuple[str, str, str], ...] = (
    (
        "SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway.InclusiveGateway._check_threshold_unstructured",
        "engine.bpmn.gateways.LoopSafeInclusiveGateway",
        "the inclusive join looks at the current pass of a loop only",
    ),
    (
        "SpiffWorkflow.bpmn.specs.mixins.parallel_gateway.ParallelGateway._check_threshold_unstructured",
        "engine.bpmn.gateways.ScanningParallelGateway",
        "the parallel join finds its tasks by a scan of the task dict, not the tree iterator",
    ),
    (
        "SpiffWorkflow.bpmn.parser.ProcessParser.ProcessParser._index_process_nodes",
        "engine.bpmn.parsing._ProcessParser",
        "index a process's nodes by a walk of its tree (XPath .//*[@id] is quadratic in libxml2)",
    ),
    (
        "SpiffWorkflow.bpmn.parser.node_parser.NodeParser._xpath",
        "engine.bpmn.parsing._FastXPath",
        "compiled XPath expressions, cached per namespace map",
    ),
    (
        "SpiffWorkflow.bpmn.util.task.BpmnTaskIterator._next",
        "engine.bpmn.iteration.StackTaskIterator",
        "the same depth-first walk with a stack instead of a list popped from the front",
    ),
    (
        "SpiffWorkflow.workflow.Workflow._task_completed_notify",
        "engine.bpmn.simulated._Scanning",
        "the simulator notes a completion that leads into a parallel join (then calls SpiffWorkflow's)",
    ),
)
