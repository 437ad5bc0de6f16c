"""Moving a running workflow onto another version of its diagram: the SpiffWorkflow side of
engine/features/migration.py.

SpiffWorkflow 3.2 aligns two specs (`SpecDiff`: by element id first, then by structure for what was renamed or
replaced) and moves a workflow onto the new spec (`migrate_workflow`: swap every task's spec, then reset the READY and
WAITING tasks so that what lies ahead is predicted from the new diagram). We add what a care organisation needs
around that:

- a *plan* per instance: each active element (ready task, waiting timer or message, running subprocess) maps by id,
  needs an explicit mapping (SpecDiff or the element name suggests one), or blocks (removed, no mapping; type
  changed); and the data that new or changed expressions on the path ahead read that the case does not have;
- explicit mappings (old element id -> new element id) that override the alignment;
- tasks that are finished and whose element no longer exists are spliced out of the task tree (our state is stored
  without the spec, so a task must name an element of the version it runs on; the history table keeps the record);
- re-arming of timers from the target's definitions, counted from when the timer started waiting (see `rearm`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import spiff_api
from engine.bpmn import timers as timer_bridge
from engine.bpmn.sandbox import _BUILTINS
from engine.bpmn.workflow import _SERIALIZER, EngineIncident, Flow, StepLog, _element_id, _friendly
from engine.domain.clock import Clock
from engine.domain.text import Text

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
PREDICTED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR
HELPER_NAMES = frozenset(_BUILTINS) | {"deadline", "deadline_at"}

SAME_ID = "same_id"
MAPPED = "mapped"
NEEDS_MAPPING = "needs_mapping"
BLOCKED = "blocked"


@dataclass(frozen=True)
class ActiveItem:
    """One active element of a running instance and where it goes in the target version."""

    task_id: str
    element_id: str
    name: str
    kind: str  # uppgift | timer | meddelande | delprocess | steg
    process_id: str  # the (sub)process the element belongs to
    status: str  # same_id | mapped | needs_mapping | blocked
    target: str | None = None
    suggestion: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MissingData:
    element_id: str  # the gateway, script or timer in the target that reads it
    name: str  # the variable


@dataclass
class FlowPlan:
    items: list[ActiveItem] = field(default_factory=list)
    missing_data: list[MissingData] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # blocking reasons not tied to one element

    @property
    def blocked(self) -> bool:
        return bool(self.problems or self.missing_data or any(i.status == BLOCKED for i in self.items))

    @property
    def needs_mapping(self) -> bool:
        return any(i.status == NEEDS_MAPPING for i in self.items)

    @property
    def outcome(self) -> str:
        if self.blocked:
            return BLOCKED
        if self.needs_mapping:
            return NEEDS_MAPPING
        return "ready"


def _kind(task: Task) -> str:
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    if spec.manual:
        return "uppgift"
    if isinstance(definition, TimerEventDefinition):
        return "timer"
    if isinstance(definition, MessageEventDefinition):
        return "meddelande"
    if isinstance(spec, SubWorkflowTask):
        return "delprocess"
    return "steg"


def _signature(spec: Any) -> tuple[str, str]:
    """What must stay the same for a task to move onto another element: its class and its event kind."""
    definition = getattr(spec, "event_definition", None)
    return spec.__class__.__name__, definition.__class__.__name__ if definition is not None else ""


def _compatible(old: Any, new: Any) -> bool:
    if old.manual and new.manual:
        return True
    return _signature(old) == _signature(new)


def _active_tasks(workflow: Any) -> list[Task]:
    """The active elements of one (sub)workflow: tasks first, then the running sub-process tasks."""
    subprocesses = getattr(workflow, "top_workflow", workflow).subprocesses
    active = [t for t in workflow.tasks.values() if t.state & ACTIVE and getattr(t.task_spec, "bpmn_id", None)]
    return [t for t in active if t.id not in subprocesses] + [t for t in active if t.id in subprocesses]


def _workflows(flow: Flow) -> list[tuple[Any, Any]]:
    """(workflow, owning task id or None) for the top workflow and every subworkflow."""
    top = flow.workflow
    return [(top, None)] + [(sub, sub_id) for sub_id, sub in top.subprocesses.items()]


def _target_spec_for(workflow: Any, flow: Flow, target: BpmnProcessSpec, target_subs: Mapping[str, Any]) -> Any:
    if workflow is flow.workflow:
        return target
    return target_subs.get(workflow.spec.name)


def plan(
    flow: Flow,
    target: BpmnProcessSpec,
    target_subs: Mapping[str, BpmnProcessSpec],
    mapping: Mapping[str, str],
    case_data: Mapping[str, Any],
    provided_by_form: Callable[[str], Iterable[str]],
) -> FlowPlan:
    """How this workflow maps onto the target version (nothing is changed)."""
    result = FlowPlan()
    for task in flow.error_tasks():
        result.problems.append(
            Text("Elementet %(task)s har ett fel (incident); åtgärda det innan migreringen", task=task[1])
        )
    for workflow, _owner in _workflows(flow):
        new_spec = _target_spec_for(workflow, flow, target, target_subs)
        if new_spec is None:
            result.problems.append(Text("Delprocessen %(name)s finns inte i målversionen", name=workflow.spec.name))
            continue
        diff = SpecDiff(_SERIALIZER.registry, workflow.spec, new_spec)
        for task in _active_tasks(workflow):
            result.items.append(_plan_item(task, workflow, new_spec, diff, mapping))
    # Data that new or changed expressions ahead read and the case does not have.
    seen: set[tuple[str, str]] = set()
    for item in result.items:
        if item.status == BLOCKED or item.target is None:
            continue
        spec_owner = _spec_containing(item.target, target, target_subs, item.process_id)
        if spec_owner is None:
            continue
        old_spec = _old_spec_of(flow, item.process_id)
        for element, name in _reads_ahead(spec_owner, old_spec, item.target, case_data, provided_by_form):
            if (element, name) not in seen:
                seen.add((element, name))
                result.missing_data.append(MissingData(element, name))
    return result


def _old_spec_of(flow: Flow, process_name: str) -> Any:
    for workflow, _ in _workflows(flow):
        if workflow.spec.name == process_name:
            return workflow.spec
    return None


def _spec_containing(element: str, target: Any, target_subs: Mapping[str, Any], process_name: str) -> Any:
    if target.name == process_name and element in target.task_specs:
        return target
    sub = target_subs.get(process_name)
    if sub is not None and element in sub.task_specs:
        return sub
    return None


def _plan_item(task: Task, workflow: Any, new_spec: Any, diff: SpecDiff, mapping: Mapping[str, str]) -> ActiveItem:
    spec = task.task_spec
    element = _element_id(task)
    common = {
        "task_id": str(task.id),
        "element_id": element,
        "name": getattr(spec, "bpmn_name", None) or element,
        "kind": _kind(task),
        "process_id": workflow.spec.name,
    }
    wanted = mapping.get(element)
    if wanted:
        candidate = new_spec.task_specs.get(wanted)
        if candidate is None:
            return ActiveItem(
                **common,
                status=BLOCKED,
                reason=Text("Mappningen pekar på %(wanted)s, som inte finns i målet", wanted=wanted),
            )
        if not _compatible(spec, candidate):
            return ActiveItem(
                **common,
                status=BLOCKED,
                target=wanted,
                reason=Text(
                    "%(wanted)s är av en annan sort (%(kind)s) än %(element)s",
                    wanted=wanted,
                    kind=candidate.__class__.__name__,
                    element=element,
                ),
            )
        return ActiveItem(**common, status=MAPPED, target=wanted)
    same = new_spec.task_specs.get(spec.name)
    if same is not None:
        if not _compatible(spec, same):
            return ActiveItem(
                **common,
                status=BLOCKED,
                reason=Text(
                    "Elementet har bytt sort (%(kind)s -> %(kind2)s); ange en mappning till ett element av samma sort",
                    kind=spec.__class__.__name__,
                    kind2=same.__class__.__name__,
                ),
            )
        return ActiveItem(**common, status=SAME_ID, target=spec.name)
    suggestion = _suggest(spec, new_spec, diff)
    if suggestion is not None:
        return ActiveItem(
            **common,
            status=NEEDS_MAPPING,
            suggestion=suggestion,
            reason=Text(
                "%(element)s finns inte i målversionen; troligen ersatt av %(suggestion)s",
                element=element,
                suggestion=suggestion,
            ),
        )
    return ActiveItem(
        **common,
        status=BLOCKED,
        reason=Text("%(element)s är borttaget i målversionen och har ingen mappning", element=element),
    )


def _suggest(spec: Any, new_spec: Any, diff: SpecDiff) -> str | None:
    aligned = diff.alignment.get(spec)
    if aligned is not None and aligned.name != spec.name and _compatible(spec, aligned):
        return str(aligned.name)
    name = getattr(spec, "bpmn_name", None)
    if name:
        for candidate in new_spec.task_specs.values():
            if getattr(candidate, "bpmn_name", None) == name and _compatible(spec, candidate):
                return str(candidate.name)
    return None


def _names_read(source: str, mode: str) -> tuple[set[str], set[str]]:
    """(names read, names assigned) of an expression or script."""
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError:
        return set(), set()
    read: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else assigned).add(node.id)
        elif isinstance(node, (ast.comprehension,)):
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):
                    assigned.add(target.id)
        elif isinstance(node, ast.Lambda):
            assigned.update(a.arg for a in node.args.args)
    return read, assigned


def _expressions(spec: Any) -> list[tuple[str, str]]:
    """(source, mode) of every expression a task spec evaluates."""
    found: list[tuple[str, str]] = []
    for condition, _name in getattr(spec, "cond_task_specs", None) or []:
        source = condition.args[0] if hasattr(condition, "args") and condition.args else condition
        if isinstance(source, str) and source.strip():
            found.append((source, "eval"))
    script = getattr(spec, "script", None)
    if isinstance(script, str) and script.strip():
        found.append((script, "exec"))
    definition = getattr(spec, "event_definition", None)
    expression = getattr(definition, "expression", None)
    if isinstance(expression, str) and expression.strip():
        found.append((expression, "eval"))
    return found


def _reads_ahead(
    spec: Any,
    old_spec: Any,
    start: str,
    case_data: Mapping[str, Any],
    provided_by_form: Callable[[str], Iterable[str]],
) -> list[tuple[str, str]]:
    """Names read by new or changed expressions reachable from `start` that neither the case data nor a form or
    script ahead provides. Unchanged expressions are left out: the case would have met them on its old version too."""
    reachable: list[Any] = []
    queue = [spec.task_specs[start]]
    visited: set[str] = set()
    while queue:
        current = queue.pop(0)
        if current.name in visited:
            continue
        visited.add(current.name)
        reachable.append(current)
        queue.extend(current.outputs)
    provided: set[str] = set(case_data) | HELPER_NAMES
    for current in reachable:
        element = getattr(current, "bpmn_id", None)
        if element and current.manual:
            provided.update(provided_by_form(element))
        for source, mode in _expressions(current):
            provided.update(_names_read(source, mode)[1])
    missing: list[tuple[str, str]] = []
    for current in reachable:
        element = getattr(current, "bpmn_id", None)
        if element is None:
            continue
        before = old_spec.task_specs.get(current.name) if old_spec is not None else None
        old_sources = set(_expressions(before)) if before is not None else set()
        for source, mode in _expressions(current):
            if (source, mode) in old_sources:
                continue
            read, _ = _names_read(source, mode)
            for name in sorted(read - provided):
                missing.append((element, name))
    return missing


# ------------------------------------------------------------------------------------------------------ migrating
@dataclass(frozen=True)
class Rearmed:
    task_id: str
    element_id: str
    due_at: datetime


def migrate(
    flow: Flow,
    target: BpmnProcessSpec,
    target_subs: Mapping[str, BpmnProcessSpec],
    mapping: Mapping[str, str],
    clock: Clock,
    log: StepLog,
    armed_at: Mapping[str, datetime],
) -> list[Rearmed]:
    """Move the workflow onto `target` (the caller has checked the plan). Returns the re-armed timers.

    Timers: after the move every waiting timer is evaluated again from the target's definition. A duration timer
    that was already waiting (its task id in `armed_at`, the moment it started waiting) counts from that moment, not
    from the migration: a 3-day deadline that has run 2 days has 1 day left if the target still says 3 days, 3 days
    left if it says 5, and is due at once (the scheduler fires it on its next pass, with its escalation and
    avvikelse) if the target says 1 day. The law's deadlines run from the event (UK, admission), not from our
    migration. A date timer takes the target's date; a cycle starts its target cycle from the migration."""
    top = flow.workflow
    with timer_bridge.running_under(clock):
        try:
            for workflow, _owner in _workflows(flow):
                new_spec = _target_spec_for(workflow, flow, target, target_subs)
                if new_spec is None:
                    raise EngineIncident(
                        None, Text("Delprocessen %(name)s finns inte i målversionen", name=workflow.spec.name)
                    )
                spec_diff = SpecDiff(_SERIALIZER.registry, workflow.spec, new_spec)
                workflow_diff = WorkflowDiff(workflow, spec_diff)
                by_name = _with_bookkeeping(mapping)
                for task in list(workflow.tasks.values()):
                    wanted = by_name.get(task.task_spec.name)
                    if wanted and wanted in new_spec.task_specs:
                        workflow_diff.alignment[task] = new_spec.task_specs[wanted]
                    elif task.task_spec.name in new_spec.task_specs:
                        workflow_diff.alignment[task] = new_spec.task_specs[task.task_spec.name]
                    else:
                        workflow_diff.alignment.pop(task, None)
                migrate_workflow(workflow_diff, workflow, new_spec)
                _drop_unknown(workflow, new_spec)
            top.subprocess_specs = dict(target_subs)
            flow.run(clock, log)
        except EngineIncident:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per instance, never a crash of the batch
            raise EngineIncident(None, Text("Migreringen misslyckades: %(reason)s", reason=_friendly(exc))) from exc
    return rearm(flow, clock, armed_at)


def _with_bookkeeping(mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping by spec name, with SpiffWorkflow's own specs around a task with boundary events (`<id>.Boundary
    EventSplit` / `...Join`) following their task, so that its boundary events stay attached."""
    result = dict(mapping)
    for old, new in mapping.items():
        for suffix in (".BoundaryEventSplit", ".BoundaryEventJoin"):
            result[old + suffix] = new + suffix
    return result


def _drop_unknown(workflow: Any, spec: Any) -> None:
    """Tasks whose element is not in the target: finished ones are spliced out (their children hang from their
    parent), predicted ones are dropped (the engine predicts again from the active tasks)."""
    for task in list(workflow.tasks.values()):
        if task.id not in workflow.tasks:
            continue
        known = spec.task_specs.get(task.task_spec.name)
        if known is task.task_spec:
            continue
        if task.state & PREDICTED:
            spiff_api.remove_task(workflow, task)
        elif task.state & FINISHED and task.parent is not None:
            spiff_api.splice_out(workflow, task)
        elif known is not None:
            task.task_spec = known
        else:
            raise EngineIncident(
                _element_id(task), Text("%(task)s är aktivt men saknas i målversionen", task=_element_id(task))
            )


def rearm(flow: Flow, clock: Clock, armed_at: Mapping[str, datetime]) -> list[Rearmed]:
    now = clock.now()
    result = []
    for timer in flow.waiting_timers():
        started = armed_at.get(timer.task_id)
        if started is None or timer.kind != "duration":
            result.append(Rearmed(timer.task_id, timer.element_id, timer.due_at))
            continue
        due = started + (timer.due_at - now)
        task = flow._task(timer.task_id)
        spiff_api.set_internal(task, event_value=due.isoformat())
        result.append(Rearmed(timer.task_id, timer.element_id, due))
    return result
