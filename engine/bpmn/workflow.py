"""A running workflow as the service layer sees it: SpiffWorkflow wrapped, sandboxed, serialized without its spec.

Only this package imports SpiffWorkflow. The service layer asks a `Flow` for its ready human tasks, waiting timers
and awaited messages, tells it to complete a task, deliver a message or fire timers, and stores `Flow.dump()`.
"""

from __future__ import annotations

import ast
import builtins
import json
import json.encoder
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import gateways, iteration, restoring, spiff_api
from engine.bpmn import timers as timer_bridge
from engine.bpmn.sandbox import (
    BudgetExceeded,
    FunctionsFactory,
    SandboxEnvironment,
    SandboxViolation,
    charge_engine_step,
)
from engine.domain.clock import Clock
from engine.domain.text import Text

SERIALIZER_VERSION = f"samflode-1/spiff-{SPIFF_SERIALIZER_VERSION}"
HUMAN_TASK_CLASSES = ("UserTask", "ManualTask", "NoneTask")


class _StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a workflow without its spec; the spec comes back from the spec cache on restore (convention 7)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        # BpmnWorkflowConverter.to_dict without "spec" and "subprocess_specs" (converting the spec only to drop it
        # cost a fifth of a dump)
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self,
        dct: dict[str, Any],
        spec: BpmnProcessSpec | None = None,
        subprocess_specs: dict[str, BpmnProcessSpec] | None = None,
    ) -> BpmnWorkflow:
        if spec is None:
            return super().from_dict(dct)
        dct = dict(dct)
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.tasks_from_dict(dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dict(dct["subprocesses"]), workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow

    def tasks_from_dict(self, tasks: dict[str, Any], workflow: Any) -> dict[UUID, Task]:
        return restoring.restore_tasks(self.registry, tasks, workflow)


class _ReferenceStateOnlyWorkflowConverter(_StateOnlyWorkflowConverter):
    """The state-only converter restoring tasks with SpiffWorkflow's own mapping_from_dict (VERIFY_RESTORES)."""

    def tasks_from_dict(self, tasks: dict[str, Any], workflow: Any) -> dict[UUID, Task]:
        return self.mapping_from_dict(tasks, UUID, workflow=workflow)


class _SubWorkflowConverter(BpmnSubWorkflowConverter):
    """SpiffWorkflow's converter of a sub-process, its tasks restored by engine/bpmn/restoring.py."""

    def from_dict(self, dct: dict[str, Any], task: Task, top_workflow: BpmnWorkflow) -> Any:
        # BpmnSubWorkflowConverter.from_dict (pinned) with restore_tasks for mapping_from_dict
        spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
        subprocess = self.target_class(spec, task.id, top_workflow, deserializing=True)
        subprocess.tasks = restoring.restore_tasks(self.registry, dct["tasks"], subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        return subprocess


def _make_serializer(reference: bool = False) -> BpmnWorkflowSerializer:
    """SpiffWorkflow's serializer with our classes registered: the state-only workflow converter, our timer event
    definitions and gateways (under SpiffWorkflow's type names; engine/bpmn/timers.py, engine/bpmn/gateways.py), and
    our task converter (engine/bpmn/restoring.py). `reference`: with SpiffWorkflow's own restore of the tasks instead
    (VERIFY_RESTORES compares the two)."""
    config = dict(DEFAULT_CONFIG)
    workflow_converter = _ReferenceStateOnlyWorkflowConverter if reference else _StateOnlyWorkflowConverter
    config[BpmnWorkflow] = workflow_converter
    # Our workflow classes (engine/bpmn/iteration.py) under SpiffWorkflow's names, registered after SpiffWorkflow's
    # own so that a stored state restores into them.
    config[iteration.Workflow] = spiff_api.converter_named(workflow_converter, "BpmnWorkflow")
    sub_converter = BpmnSubWorkflowConverter if reference else _SubWorkflowConverter
    config[iteration.SubWorkflow] = spiff_api.converter_named(sub_converter, "BpmnSubWorkflow")
    if not reference:
        # Tasks restored faster (engine/bpmn/restoring.py), stored as SpiffWorkflow stores them.
        config[Task] = restoring.TaskConverter
    config.update(timer_bridge.SERIALIZER_CONFIG)
    config.update(gateways.SERIALIZER_CONFIG)
    registry = BpmnWorkflowSerializer.configure(config)
    # restore_tasks hands a task dict straight to the converter the registry would pick for its typename
    assert registry.typenames[Task] == restoring.TASK_TYPENAME
    return BpmnWorkflowSerializer(registry)


_SERIALIZER = _make_serializer()
_REFERENCE: list[BpmnWorkflowSerializer] = []  # made when first used (VERIFY_RESTORES)


# Tasks whose stored JSON is kept between dumps (StateWriter): finished tasks, and predicted ones without data.
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_PREDICTED = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE
_TASK_KEYS = frozenset(
    ("id", "parent", "children", "last_state_change", "state", "task_spec", "triggered", "internal_data", "data")
) | {"delta", "typename"}
_DELTA_KEYS = frozenset(("updates", "deletions"))
# Tests set these: every dump is compared with SpiffWorkflow's own full serialization, every restore with
# SpiffWorkflow's own restore of the tasks (tests/conftest.py).
VERIFY_DUMPS = False
VERIFY_RESTORES = False


def _flat(value: Any) -> bool:
    """No container inside a container. SpiffWorkflow copies a parent's data into a child one level deep
    (DeepMerge.merge), so only what is nested deeper is shared between tasks and could change after a task has
    finished; a task's JSON is kept only when it holds nothing nested that deep."""
    if isinstance(value, dict):
        for v in value.values():  # (a loop: any() over a generator cost a restore a tenth more)
            if isinstance(v, _CONTAINERS) and _has_container(v):
                return False
    return True


_CONTAINERS = (dict, list, set, tuple)


def _has_container(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(v, _CONTAINERS) for v in items)


def _fast_encoder() -> Callable[[Any], str]:
    """json.dumps(obj, cls=the serializer's encoder), without building an encoder per call (a dump encodes a few
    small task dicts; the per-call set-up was a third of it)."""
    encoder = _SERIALIZER._encoder_cls()
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode

    def build() -> Any:
        return make({}, encoder.default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)

    current = [build()]

    def encode(obj: Any) -> str:
        if isinstance(obj, str):
            return encoder.encode(obj)
        try:
            return "".join(current[0](obj, 0))
        except BaseException:
            current[0] = build()  # a failed encode leaves its circular-reference markers behind
            raise

    return encode


class StateWriter:
    """Writes a workflow's state (the format of `_SERIALIZER`, without the spec) reusing the JSON of every task
    that has not changed since the previous dump of the same Flow, so that a step re-serializes only the tasks it
    touched instead of the whole workflow.

    A task's JSON is kept (keyed by its id) when the task is finished (completed or cancelled) or predicted without
    data of its own, together with a fingerprint of what its JSON depends on: state, moment of the last state
    change, parent, children, size of its data (and for a predicted task the names in its parent's data, from which
    its delta is computed). Live tasks (ready, waiting, started, failed) are always serialized afresh. Flow's own
    methods that change data outside the engine's steps (set_data, retime, fire_timer_now, moves, retry) forget all
    kept JSON (`forget`)."""

    def __init__(self) -> None:
        self._kept: dict[UUID, tuple[tuple[Any, ...], str]] = {}  # task id: (fingerprint, '"id":{...}')
        self._encode = _fast_encoder()

    def forget(self) -> None:
        self._kept.clear()

    @staticmethod
    def _fingerprint(task: Task) -> tuple[Any, ...] | None:
        state = task._state
        if state & _FINISHED:
            parent_keys: tuple[Any, ...] = ()
        elif state & _PREDICTED and not task.data and not task.internal_data:
            parent = task.workflow.tasks.get(task._parent) if task._parent is not None else None
            parent_keys = tuple(parent.data) if parent is not None else ()
        else:
            return None
        return (
            state,
            task.last_state_change,
            task.triggered,
            task._parent,
            tuple(task._children),
            len(task.data),
            len(task.internal_data),
            parent_keys,
        )

    @staticmethod
    def _keepable(dct: dict[str, Any]) -> bool:
        return (
            _flat(dct.get("data"))
            and _flat((dct.get("delta") or {}).get("updates"))
            and _flat(dct.get("internal_data"))
        )

    @staticmethod
    def _reusable(dct: dict[str, Any]) -> bool:
        """A stored task dict as this serializer writes it (not an older format, not edited by hand such as a
        repaired poisoned case) whose JSON may be kept (`_keepable`): only then is it reused as the task's JSON after
        a restore. (A canonical dict leaves little to check: no data but the root's, no delta but a child's.)"""
        if dct.keys() != _TASK_KEYS or not _flat(dct["internal_data"]):
            return False
        delta = dct["delta"]
        if dct["parent"] is None:
            return not delta and _flat(dct["data"])
        return not dct["data"] and isinstance(delta, dict) and delta.keys() == _DELTA_KEYS and _flat(delta["updates"])

    def _tasks_json(self, workflow: Any, registry: Any) -> str:
        """The workflow's "tasks" object; each member ("id":{...}) reused when the task's fingerprint is unchanged."""
        kept = self._kept
        fingerprint_of = self._fingerprint
        members = []
        for task_id, task in workflow.tasks.items():
            fingerprint = fingerprint_of(task)
            if fingerprint is not None:
                hit = kept.get(task_id)
                if hit is not None and hit[0] == fingerprint:
                    members.append(hit[1])
                    continue
            dct = registry.convert(task)
            member = f'"{task_id}":{self._encode(dct)}'
            if fingerprint is not None and self._keepable(dct):
                kept[task_id] = (fingerprint, member)
            else:
                kept.pop(task_id, None)
            members.append(member)
        return "{" + ",".join(members) + "}"

    def _common(self, workflow: Any, registry: Any) -> dict[str, Any]:
        # WorkflowConverter.to_dict without "tasks"
        return {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "root": str(workflow.task_tree.id),
        }

    def _with_tasks(self, head: dict[str, Any], tasks: str) -> str:
        text: str = self._encode(head)
        return f'{text[:-1]},"tasks":{tasks}}}'

    def dump(self, workflow: BpmnWorkflow) -> str:
        registry = _SERIALIZER.registry
        registry._encoder_mode = True  # as BpmnWorkflowSerializer.serialize_json does
        try:
            subs = []
            for sub_id, sub in workflow.subprocesses.items():
                head = self._common(sub, registry)
                head["parent_task_id"] = str(sub.parent_task_id)
                head["spec"] = sub.spec.name
                head["typename"] = registry.typenames[sub.__class__]
                subs.append(f'"{sub_id}":{self._with_tasks(head, self._tasks_json(sub, registry))}')
            head = self._common(workflow, registry)
            head["bpmn_events"] = registry.convert(workflow.bpmn_events)
            head["typename"] = registry.typenames[workflow.__class__]
            head[_SERIALIZER.VERSION_KEY] = _SERIALIZER.VERSION
            tasks = self._tasks_json(workflow, registry)
        finally:
            registry._encoder_mode = False
        text = self._with_tasks(head, tasks)
        text = f'{text[:-1]},"subprocesses":{{{",".join(subs)}}}}}'
        live = len(workflow.tasks) + sum(len(sub.tasks) for sub in workflow.subprocesses.values())
        if len(self._kept) > live:  # tasks that left the workflow
            workflows = (workflow, *workflow.subprocesses.values())
            for key in [k for k in self._kept if not any(k in wf.tasks for wf in workflows)]:
                del self._kept[key]
        return text

    def keep_restored(
        self,
        workflow: BpmnWorkflow,
        restored: dict[int, tuple[Task, dict[str, Any], str]],
        stored: dict[str, str] | None,
    ) -> None:
        """After a restore: keep the JSON of the restored tasks that qualify, from the dicts they were read from
        (as stored, before restoring), so that the first dump after a restore is incremental too. `restored`: each
        task's dict and key by id(task) (engine/bpmn/restoring.py); `stored`: each task's text as stored, by key
        (restoring.read_state; None after a migration of the format), reused instead of encoding the dict again."""
        kept = self._kept
        for wf in (workflow, *workflow.subprocesses.values()):
            for task_id, task in wf.tasks.items():
                found = restored.get(id(task))
                if found is None or found[0] is not task:
                    continue
                dct, key = found[1], found[2]
                fingerprint = self._fingerprint(task)
                if fingerprint is not None and self._reusable(dct):
                    member = stored.get(key) if stored is not None else None
                    if member is None or key != str(task_id):
                        member = f'"{task_id}":{self._encode(dct)}'
                    kept[task_id] = (fingerprint, member)


class EngineIncident(Exception):
    """The engine could not go on: a failing expression or script, a gateway with no true condition, a bad timer.
    `expression` and `seen_values` say what failed and the values of the names it used as the failing step saw
    them (issue 15: a coordinator sees what to correct); empty when the failure was not an expression."""

    def __init__(
        self,
        element_id: str | None,
        message: str,
        expression: str | None = None,
        seen_values: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.element_id = element_id
        self.message = message
        self.expression = expression
        self.seen_values = seen_values or {}


_EXPRESSION = re.compile(r"Error evaluating expression '(.+)'", re.DOTALL)
_MAX_SEEN = 20
_MAX_SEEN_CHARS = 500


def failed_expression(exc: BaseException, task: Task | None) -> tuple[str | None, dict[str, Any]]:
    """The expression or script line that failed and, for each name it reads, the value the task's data held
    ({"value": ...}) or that it was missing ({"missing": true}). Values are JSON and cut short."""
    expression: str | None = None
    for candidate in (exc, exc.__cause__, getattr(exc, "exception", None)):
        if candidate is None:
            continue
        found = _EXPRESSION.search(str(candidate.args[0]) if candidate.args else "")
        if found:
            expression = found.group(1).strip()
            break
        line = getattr(candidate, "error_line", None)
        if line:
            expression = str(line).strip()
            break
    if expression is None and task is not None:
        script = getattr(task.task_spec, "script", None)
        conditions = [_condition_text(c) for c, _ in getattr(task.task_spec, "cond_task_specs", None) or [] if c]
        if isinstance(script, str) and script.strip():
            expression = script.strip()
        elif conditions:  # a gateway where no condition held: all of them, with what they read
            expression = "\n".join(str(c).strip() for c in conditions)
    if not expression:
        return None, {}
    expression = expression[:2000]
    try:
        tree = ast.parse(expression, mode="exec")
    except SyntaxError:
        return expression, {}
    assigned = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    names: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in names
            and node.id not in assigned
            and not hasattr(builtins, node.id)
        ):
            names.append(node.id)
    data = dict(task.data) if task is not None else {}
    seen: dict[str, Any] = {}
    for name in sorted(names)[:_MAX_SEEN]:
        if name not in data:
            seen[name] = {"missing": True}
            continue
        try:
            text = json.dumps(data[name], ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = json.dumps(repr(data[name]), ensure_ascii=False)
        seen[name] = {"value": json.loads(text) if len(text) <= _MAX_SEEN_CHARS else text[:_MAX_SEEN_CHARS] + "…"}
    return expression, seen


def _condition_text(condition: Any) -> str:
    """A gateway condition as written in the diagram (SpiffWorkflow keeps it as an operator with the text in args)."""
    args = getattr(condition, "args", None)
    return str(args[0]) if args else str(condition)


def _incident(element: str | None, exc: BaseException, task: Task | None) -> EngineIncident:
    expression, seen = failed_expression(exc, task)
    return EngineIncident(element, _friendly(exc), expression, seen)


class MoveRefused(Exception):
    """A token move (repair) that cannot be done safely; the message (Swedish) says why. Nothing was changed."""


# Where a token may not be moved across: the engine would wait for branches that the move leaves behind, or a
# sub-process would be entered or left without its own start and end.
_NOT_CROSSABLE = ("ParallelGateway", "InclusiveGateway", "EventBasedGateway")
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass(frozen=True)
class TokenMove:
    """What a move did: the way it went, the elements passed over without running them, and the active tasks it
    took away (the source's own task and, for a reset, nothing else: a move that would remove others is refused)."""

    direction: str  # forward | back
    skipped: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class HumanTask:
    id: str
    element_id: str
    name: str
    lane: str | None
    process_id: str  # the (sub)process the task belongs to


# The moment of a deadline timer whose anchor event is not recorded yet: it waits, without a row in `timers`, until
# the event is recorded and the runtime sets its real moment (Flow.retime).
PENDING = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    kind: str  # duration | date | cycle
    due_at: datetime
    boundary: bool


@dataclass
class StepLog:
    """What happened during one advance, for the history: engine-completed elements in order."""

    completed: list[tuple[str, str, str]] = field(default_factory=list)  # (task_id, element_id, type)


def _quoted(name: str | None, element_id: str) -> str:
    return f"«{name.strip()}»" if name and name.strip() else f"«{element_id}»"


def _element_id(task: Task) -> str:
    return getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name


def _friendly(exc: BaseException) -> str:
    base = getattr(exc, "error_line", None)
    message = str(exc.args[0]) if exc.args else exc.__class__.__name__
    inner = getattr(exc, "exception", None)
    if inner is not None and str(inner) and str(inner) not in message:
        message = f"{message}: {inner.__class__.__name__}: {inner}"
    if base:
        message = Text("%(message)s (rad: %(base)r)", message=message, base=base)
    return message


class Flow:
    def __init__(self, workflow: BpmnWorkflow, script_engine: PythonScriptEngine):
        self.workflow = workflow
        self._script_engine = script_engine
        self._apply_script_engine()
        self._writer = StateWriter()

    def _apply_script_engine(self) -> None:
        # deserialize gives the workflow a default, unrestricted engine: set ours again after every load.
        # (Subworkflows read the top workflow's engine.)
        self.workflow.script_engine = self._script_engine

    # --- reading ---------------------------------------------------------------------------------------------
    @property
    def completed(self) -> bool:
        return bool(self.workflow.completed)

    def changes(self, task_id: str) -> tuple[dict[str, Any], list[str]]:
        """What completing this task changed in the data it inherited: (updated keys with values, deleted keys).
        The runtime merges these in completion order into the case data, so a value set on one branch (a new
        planned date on a non-interrupting boundary path) is not hidden by another branch's older copy."""
        try:
            task = self._task(task_id)
        except KeyError:
            return {}, []
        parent = task.parent
        if parent is None:
            return dict(task.data), []
        return DeepMerge.get_updated_keys(parent.data, task.data), DeepMerge.get_deleted_keys(parent.data, task.data)

    def _live(self, mask: int) -> list[Task]:
        """Tasks in the given states, over the workflow and its subprocesses; a scan of the task dicts, which is
        much cheaper than SpiffWorkflow's tree iterator on a long process."""
        found = [t for t in self.workflow.tasks.values() if t._state & mask]  # (`state` is a property around it)
        for sub in self.workflow.subprocesses.values():
            found.extend(t for t in sub.tasks.values() if t._state & mask)
        return found

    def ready_human_tasks(self) -> list[HumanTask]:
        result = []
        for task in self._live(TaskState.READY):
            if task.task_spec.manual:
                result.append(
                    HumanTask(
                        id=str(task.id),
                        element_id=_element_id(task),
                        name=task.task_spec.bpmn_name or _element_id(task),
                        lane=task.task_spec.lane,
                        process_id=task.workflow.spec.name,
                    )
                )
        return result

    def late_work(self, timer_task_id: str, host_element: str | None) -> list[tuple[str, str | None]]:
        """(element id, lane) of the open work a deadline timer found undone when it fired: the task it is attached
        to, or, when it guards a subprocess, every open human task inside that subprocess and in the branches running
        in parallel with it from the same split (the work that must be done before the guarded outcome, e.g. the
        kommun's biståndsbeslut before the person can go home). The runtime charges the avvikelse to their parties."""
        try:
            timer = self._task(timer_task_id)
        except KeyError:
            return []
        split = timer.parent  # the BoundaryEventSplit holding the host and its boundary events
        if split is None:
            return []
        host = next((c for c in split.children if c is not timer and _element_id(c) == host_element), None)
        if host is None:
            return []
        if host.task_spec.manual:
            return [(_element_id(host), host.task_spec.lane)] if host.state & TaskState.READY else []
        inside: set[Any] = {host.id}
        fork = split.parent
        while fork is not None and not (
            fork.task_spec.__class__.__name__.endswith("ParallelGateway") and len(fork.children) > 1
        ):
            fork = fork.parent
        if fork is not None:
            stack = list(fork.children)
            while stack:
                task = stack.pop()
                inside.add(task.id)
                stack.extend(task.children)
        # The work inside every embedded subprocess reached so far (the guarded one, a party's subprocess on a branch
        # beside it such as the kommun's preparations), at any depth; not a called process (the SIP is its own case).
        calls = {t.id for t in self.workflow.get_tasks() if isinstance(t.task_spec, CallActivity)}
        inside -= calls
        seen: set[Any] = set()
        while True:
            reached = [
                (key, w)
                for key, w in self.workflow.subprocesses.items()
                if key not in seen and w.parent_task_id in inside
            ]
            if not reached:
                break
            for key, w in reached:
                seen.add(key)
                inside.update(t.id for t in w.tasks.values())
        return [
            (_element_id(task), task.task_spec.lane)
            for task in self._live(TaskState.READY)
            if task.task_spec.manual and task.id in inside and not _is_escalation(task)
        ]

    def reached(self, element_id: str) -> bool:
        """Whether a token is at the element (ready, started, waiting or failed there)."""
        mask = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
        return any(_element_id(t) == element_id for t in self._live(mask))

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._task(task_id).data)

    def waiting_timers(self) -> list[WaitingTimer]:
        result = []
        for task in self._live(TaskState.WAITING):
            spec = task.task_spec
            definition = getattr(spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition):
                continue
            value = spiff_api.internal(task, "event_value")
            if value is None:
                continue
            if isinstance(definition, CycleTimerEventDefinition):
                if not isinstance(value, dict) or value.get("cycles") == 0:
                    continue
                due = datetime.fromisoformat(value["next"])
                kind = "cycle"
            else:
                due = timer_bridge.due_moment(value)
                kind = "date" if isinstance(definition, TimeDateEventDefinition) else "duration"
            boundary = task.parent is not None and task.parent.task_spec.__class__.__name__ == "BoundaryEventSplit"
            result.append(WaitingTimer(str(task.id), _element_id(task), kind, due, boundary))
        return result

    def awaited_messages(self) -> list[str]:
        names = set()
        for task in self._live(TaskState.WAITING | TaskState.READY):
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(task.task_spec, CatchingEvent):
                continue
            # An event-based gateway (and a multiple event) holds the definitions of the events it waits for.
            for one in getattr(definition, "event_definitions", None) or [definition]:
                if isinstance(one, MessageEventDefinition):
                    names.add(one.name)
        return sorted(names)

    def take_thrown_messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Messages thrown in this workflow that none of its own tasks caught, as (name, payload), removed from the
        workflow: SpiffWorkflow leaves them in `bpmn_events` for the caller to route to other instances."""
        thrown = []
        for event in self.workflow.get_events():
            definition = event.event_definition
            if isinstance(definition, MessageEventDefinition):
                thrown.append((definition.name, dict(event.payload or {})))
        return thrown

    def _calling(self, process_id: str) -> Task | None:
        """The call activity task that is starting `process_id` (not yet completed), if any."""
        mask = TaskState.ANY_MASK & ~(TaskState.COMPLETED | TaskState.CANCELLED)
        return next((t for t in self._live(mask) if getattr(t.task_spec, "spec", None) == process_id), None)

    def error_tasks(self) -> list[tuple[str, str]]:
        return [(str(t.id), _element_id(t)) for t in self._live(TaskState.ERROR)]

    def _task(self, task_id: str) -> Task:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, SpiffWorkflowException, KeyError):
            task = None
        if task is None:
            raise KeyError(task_id)
        return task

    def is_ready_human_task(self, task_id: str) -> bool:
        try:
            task = self._task(task_id)
        except KeyError:
            return False
        return task.state == TaskState.READY and task.task_spec.manual

    # --- advancing ---------------------------------------------------------------------------------------------
    def run(self, clock: Clock, log: StepLog, fire_due: datetime | None = None) -> None:
        """Run engine steps until the workflow waits again; raise EngineIncident when it cannot go on."""

        def did_complete(task: Task) -> None:
            if getattr(task.task_spec, "bpmn_id", None) is None:
                return  # SpiffWorkflow's own bookkeeping tasks (Start, BoundaryEventSplit, End)
            log.completed.append((str(task.id), _element_id(task), task.task_spec.__class__.__name__))
            charge_engine_step(task)  # the command's budget: a diagram that loops ends here as an incident

        with timer_bridge.running_under(clock):
            try:
                if fire_due is not None:
                    with timer_bridge.firing(fire_due):
                        self.workflow.refresh_timers()
                        self.workflow.do_engine_steps(did_complete_task=did_complete)
                else:
                    self.workflow.refresh_timers()
                    self.workflow.do_engine_steps(did_complete_task=did_complete)
            except (SpiffWorkflowException, SandboxViolation, Exception, BudgetExceeded) as exc:  # noqa: BLE001
                task = getattr(exc, "task", None)
                if isinstance(exc, MissingCalledProcess):
                    task = self._calling(exc.process_id)
                element = _element_id(task) if task is not None else None
                if element is None:
                    errored = self.error_tasks()
                    element = errored[0][1] if errored else None
                    if errored:
                        task = self._task(errored[0][0])
                raise _incident(element, exc, task) from exc

    def complete(self, task_id: str, data: dict[str, Any], clock: Clock, log: StepLog) -> None:
        task = self._task(task_id)
        task.data.update(data)
        with timer_bridge.running_under(clock):
            try:
                task.run()
            except (Exception, BudgetExceeded) as exc:  # noqa: BLE001
                raise _incident(_element_id(task), exc, task) from exc
        log.completed.append((str(task.id), _element_id(task), task.task_spec.__class__.__name__))
        self.run(clock, log)

    def deliver_message(self, name: str, payload: dict[str, Any], clock: Clock, log: StepLog) -> bool:
        """Give the workflow a message; False when nothing in it waits for that name."""
        if name not in self.awaited_messages():
            return False
        event = BpmnEvent(MessageEventDefinition(name), payload=dict(payload))
        with timer_bridge.running_under(clock):
            try:
                self.workflow.send_event(event)
            except SpiffWorkflowException as exc:
                task = getattr(exc, "task", None)
                if task is None:
                    return False  # nothing caught it
                # Caught, and what followed at once failed (e.g. a condition after an event-based gateway): an
                # incident on that element, like any failing expression; the message is not thrown away.
                raise EngineIncident(_element_id(task), _friendly(exc)) from exc
        self.run(clock, log)
        return True

    def retry(self, data: dict[str, Any], clock: Clock, log: StepLog) -> None:
        """After an incident: put failed tasks back to READY with the corrected data and run again."""
        self._writer.forget()  # changes data outside the engine's steps
        for task in self.workflow.get_tasks(state=TaskState.ERROR):
            task.data.update(data)
            spiff_api.force_state(task, TaskState.READY)
        # A task whose preparation failed (a call activity whose process was missing) stays FUTURE after a completed
        # predecessor: let it be prepared again.
        for task in self._live(TaskState.FUTURE):
            if task.parent is not None and task.parent.state == TaskState.COMPLETED:
                with timer_bridge.running_under(clock):
                    try:
                        spiff_api.update(task)
                    except (Exception, BudgetExceeded) as exc:  # noqa: BLE001
                        raise EngineIncident(_element_id(task), _friendly(exc)) from exc
        self.run(clock, log)

    def cancel(self) -> None:
        self._writer.forget()  # changes data outside the engine's steps
        self.workflow.cancel()

    def set_data(self, values: dict[str, Any]) -> None:
        """Values every open path of the workflow sees from now on (a coordinator's correction of the case's units):
        set on each task that has not finished, so that what runs next reads them."""
        self._writer.forget()  # changes data outside the engine's steps
        for task in self._live(
            TaskState.READY
            | TaskState.WAITING
            | TaskState.STARTED
            | TaskState.FUTURE
            | TaskState.LIKELY
            | TaskState.MAYBE
        ):
            task.data.update(values)

    def retime(self, task_id: str, due_at: datetime) -> None:
        """Set a waiting (non-cycle) timer's moment: a deadline counted from its anchor event, known or newly recorded
        (engine/domain/deadlines.py); PENDING while the anchor event has not happened."""
        self._writer.forget()  # changes data outside the engine's steps
        task = self._task(task_id)
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state != TaskState.WAITING or not isinstance(definition, TimerEventDefinition):
            return
        if isinstance(definition, CycleTimerEventDefinition):
            return
        spiff_api.set_internal(task, event_value=due_at.isoformat())

    def fire_timer_now(self, task_id: str, now: datetime, clock: Clock, log: StepLog) -> None:
        """A waiting timer fires now instead of at its due time (a coordinator's repair of a stuck or mistaken
        wait): its stored due moment is set to `now`, then the engine runs as after any timer."""
        self._writer.forget()  # changes data outside the engine's steps
        task = self._task(task_id)
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state != TaskState.WAITING or not isinstance(definition, TimerEventDefinition):
            raise MoveRefused("Timern väntar inte längre")
        value = spiff_api.internal(task, "event_value")
        moment = now.isoformat()
        if isinstance(definition, CycleTimerEventDefinition):
            if isinstance(value, dict) and datetime.fromisoformat(value["next"]) > now:
                spiff_api.set_internal(task, event_value={**value, "next": moment})
        elif value is None or timer_bridge.due_moment(value) > now:
            spiff_api.set_internal(task, event_value=moment)
        self.run(clock, log)

    # --- repair: moving a token ------------------------------------------------------------------------------------
    def _active_at(self, element_id: str) -> Task:
        found = [
            t for t in self._live(_ACTIVE) if _element_id(t) == element_id and getattr(t.task_spec, "bpmn_id", None)
        ]
        if not found:
            raise MoveRefused(Text("Det finns ingen aktiv token i %(label)s", label=self._label(element_id)))
        if len(found) > 1:
            raise MoveRefused(
                Text(
                    "%(label)s är aktiv %(count)s gånger (fleran instanser eller parallella grenar); flytta inte "
                    "härifrån",
                    label=self._label(element_id),
                    count=len(found),
                )
            )
        return found[0]

    @staticmethod
    def _crossing_refused(task: Task) -> str | None:
        spec = task.task_spec
        name = spec.__class__.__name__
        element = _quoted(getattr(spec, "bpmn_name", None), _element_id(task))
        if any(kind in name for kind in _NOT_CROSSABLE) or any(
            kind in c.__name__ for c in type(spec).__mro__ for kind in _NOT_CROSSABLE
        ):
            return Text(
                "vägen går genom grinden %(element)s som väntar på eller startar parallella grenar", element=element
            )
        if isinstance(spec, SubWorkflowTask):
            return Text("vägen går genom underprocessen %(element)s", element=element)
        if isinstance(spec, MultiInstanceTask):
            return Text("vägen går genom flerinstansaktiviteten %(element)s", element=element)
        return None

    def _label(self, element_id: str) -> str:
        """An element as a refusal names it: «its name» (or its id when it has none), so a coordinator reads the
        diagram's words (issue 15)."""
        for wf in (self.workflow, *self.workflow.subprocesses.values()):
            spec = wf.spec.task_specs.get(element_id)
            if spec is None:
                spec = next((t for t in wf.spec.task_specs.values() if getattr(t, "bpmn_id", None) == element_id), None)
            if spec is not None:
                return _quoted(getattr(spec, "bpmn_name", None), element_id)
        return _quoted(None, element_id)

    def move_token(self, from_element: str, to_element: str, clock: Clock, log: StepLog) -> TokenMove:
        """Move the token at `from_element` to `to_element` in the same (sub)process; the caller then runs the
        engine (`run`), so that an incident after the move is recorded with the move.

        Forward (the target lies ahead on the source's branch): every element on the way is completed without
        running it (SpiffWorkflow's task.complete(), what SpiffArena calls "skip"), branches not taken are dropped
        and the target becomes ready. Back (the target was completed earlier on the source's branch): the branch is
        reset from the target's task (BpmnWorkflow.reset_from_task_id), so the target is ready again and whatever
        came after it is gone. Refused (MoveRefused, nothing changed): a target in another (sub)process, on another
        branch, behind a parallel/inclusive/event-based gateway, a sub-process or multi-instance activity, and a
        move back that would also remove other active tasks."""
        self._writer.forget()  # changes data outside the engine's steps
        if from_element == to_element:
            raise MoveRefused("Välj ett annat mål än elementet där token står")
        target_name, source_name = self._label(to_element), self._label(from_element)
        source = self._active_at(from_element)
        candidates = [
            t
            for t in source.workflow.tasks.values()
            if _element_id(t) == to_element and getattr(t.task_spec, "bpmn_id", None)
        ]
        if not candidates:
            elsewhere = any(
                _element_id(t) == to_element
                for wf in (self.workflow, *self.workflow.subprocesses.values())
                if wf is not source.workflow
                for t in wf.tasks.values()
            ) or any(
                to_element in wf.spec.task_specs
                for wf in (self.workflow, *self.workflow.subprocesses.values())
                if wf is not source.workflow
            )
            if elsewhere or to_element not in source.workflow.spec.task_specs:
                raise MoveRefused(
                    Text(
                        "%(target_name)s ligger i en annan (under)process än %(source_name)s",
                        target_name=target_name,
                        source_name=source_name,
                    )
                )
            raise MoveRefused(
                Text(
                    "%(target_name)s nås inte från %(source_name)s på samma gren",
                    target_name=target_name,
                    source_name=source_name,
                )
            )
        if any(t.task_spec.__class__.__name__ == "BoundaryEvent" for t in candidates):
            raise MoveRefused(
                Text(
                    "%(target_name)s är en gränshändelse; flytta till aktiviteten den sitter på",
                    target_name=target_name,
                )
            )
        ahead = [
            t
            for t in candidates
            if t.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE) and t.is_descendant_of(source)
        ]
        if ahead:
            return self._move_forward(source, ahead[0], clock, log)
        behind = [t for t in candidates if t.state == TaskState.COMPLETED and source.is_descendant_of(t)]
        if behind:
            return self._move_back(source, max(behind, key=lambda t: t.last_state_change), clock, log)
        raise MoveRefused(
            Text(
                "%(target_name)s nås inte från %(source_name)s på samma gren (en annan parallell gren?)",
                target_name=target_name,
                source_name=source_name,
            )
        )

    def _move_forward(self, source: Task, target: Task, clock: Clock, log: StepLog) -> TokenMove:
        path: list[Task] = []
        node = target.parent
        while node is not None and node is not source:
            path.append(node)
            node = node.parent
        path.reverse()
        for task in path:
            why = self._crossing_refused(task)
            if why:
                raise MoveRefused(Text("Token kan inte flyttas säkert: %(why)s", why=why))
        if isinstance(source.task_spec, MultiInstanceTask) or any(
            kind in c.__name__ for c in type(source.task_spec).__mro__ for kind in _NOT_CROSSABLE
        ):
            raise MoveRefused(
                Text("Token i %(label)s kan inte flyttas säkert härifrån", label=self._label(_element_id(source)))
            )
        skipped = [_element_id(t) for t in path if getattr(t.task_spec, "bpmn_id", None)]
        chain = [source, *path, target]
        with timer_bridge.running_under(clock):
            self._complete_chain(chain, target)
        self._forget_removed_events()
        return TokenMove("forward", tuple(skipped), (_element_id(source),))

    @staticmethod
    def _complete_chain(chain: list[Task], target: Task) -> None:
        for current, following in zip(chain, chain[1:], strict=False):
            for child in list(current.children):
                if child is following:
                    if child.has_state(TaskState.PREDICTED_MASK):
                        spiff_api.force_state(child, TaskState.FUTURE)
                elif child.has_state(TaskState.PREDICTED_MASK):
                    spiff_api.remove_task(current.workflow, child)
            if current.state != TaskState.READY:
                # READY through SpiffWorkflow's own path: a waiting event leaves the event manager there, or the
                # next timer refresh would make the completed event wait again.
                spiff_api.make_ready(current)
            current.complete()
        if not target.has_state(TaskState.READY | TaskState.WAITING):
            spiff_api.force_state(target, TaskState.FUTURE)
            spiff_api.update(target)

    def _move_back(self, source: Task, target: Task, clock: Clock, log: StepLog) -> TokenMove:
        top = (
            target.parent
            if target.parent is not None and target.parent.task_spec.__class__.__name__ == "BoundaryEventSplit"
            else target
        )
        others = [
            _element_id(t)
            for t in top
            if t is not source
            and t.has_state(_ACTIVE)
            and getattr(t.task_spec, "bpmn_id", None)
            and not (t.task_spec.__class__.__name__ == "BoundaryEvent" and t.parent is source.parent)
            and t is not target
        ]
        others = [e for e in others if e != _element_id(source)]
        if others:
            raise MoveRefused(
                "Token kan inte flyttas säkert tillbaka: det skulle också ta bort aktiva steg på andra grenar ("
                + ", ".join(sorted(set(others)))
                + ")"
            )
        with timer_bridge.running_under(clock):
            self._reset_within(target)
        return TokenMove("back", (), (_element_id(source),))

    def _reset_within(self, target: Task) -> None:
        """BpmnWorkflow.reset_from_task_id, kept inside the target's own (sub)workflow. SpiffWorkflow's version also
        resets the task of an enclosing sub-process in the parent workflow, which drops that task's boundary events
        and left in_utskrivning's `vardtillfalle` unable to go on (an incident on the next step)."""
        split = target.parent is not None and target.parent.task_spec.__class__.__name__ == "BoundaryEventSplit"
        top = target.parent if split else target
        for descendant in [t for t in top if t.id in self.workflow.subprocesses]:
            self.workflow.delete_subprocess(descendant)  # sub-processes started after the target go with it
        workflow = target.workflow
        for task in list(target.parent.children) if split else [target]:
            workflow.last_task = task.parent
            task.reset_branch(None)
        self._forget_removed_events()

    def _forget_removed_events(self) -> None:
        """SpiffWorkflow's event manager is not told when a task leaves the tree: a boundary timer dropped by a
        reset stayed registered and the next timer refresh failed on it ('NoneType' object has no attribute
        'data'). Forget every registered task that is no longer in a live (sub)workflow."""
        spiff_api.forget_removed_events(self.workflow)

    # --- persistence -------------------------------------------------------------------------------------------
    def dump(self) -> str:
        """The workflow's state to store: only the tasks changed since the previous dump are serialized again
        (StateWriter); the same JSON as SpiffWorkflow's serializer gives, up to the order of keys."""
        text = self._writer.dump(self.workflow)
        if VERIFY_DUMPS:
            full = json.loads(_SERIALIZER.serialize_json(self.workflow))
            if json.loads(text) != full:
                raise AssertionError("incremental dump differs from the full serialization")
        return text


class FlowFactory:
    """Makes and restores Flows with one configured script engine (built once; convention 7)."""

    def __init__(self, functions: FunctionsFactory | None = None):
        self.script_engine = PythonScriptEngine(environment=SandboxEnvironment(functions))

    def new(self, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec], data: dict[str, Any]) -> Flow:
        workflow = iteration.Workflow(spec, _with_missing(subprocess_specs), script_engine=self.script_engine)
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return Flow(workflow, self.script_engine)

    def restore(self, state: str, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> Flow:
        dct, stored = restoring.read_state(state)
        if dct.get(_SERIALIZER.VERSION_KEY) != _SERIALIZER.VERSION:
            stored = None  # an older format is migrated: the stored text is not what the dicts say now
        _SERIALIZER.migrate(dct)
        context = restoring.Restoring()
        token = restoring.RESTORING.set(context)
        try:
            workflow = _SERIALIZER.registry.restore(dct, spec=spec, subprocess_specs=_with_missing(subprocess_specs))
        finally:
            restoring.RESTORING.reset(token)
        if VERIFY_RESTORES:
            _verify_restore(workflow, state, spec, subprocess_specs)
        flow = Flow(workflow, self.script_engine)
        flow._writer.keep_restored(workflow, context.tasks, stored)
        return flow


def reference_restore(state: str, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> Any:
    """The workflow as SpiffWorkflow's own restore of the tasks makes it (the state-only workflow converter,
    SpiffWorkflow's TaskConverter and sub-process converter, json.loads): what FlowFactory.restore must equal."""
    if not _REFERENCE:
        _REFERENCE.append(_make_serializer(reference=True))
    reference = _REFERENCE[0]
    dct = json.loads(state)
    reference.migrate(dct)
    return reference.registry.restore(dct, spec=spec, subprocess_specs=_with_missing(subprocess_specs))


def _verify_restore(
    workflow: BpmnWorkflow, state: str, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> None:
    theirs = reference_restore(state, spec, subprocess_specs)
    ours = restoring.snapshot(workflow, _SERIALIZER.registry.convert)
    if ours != restoring.snapshot(theirs, _SERIALIZER.registry.convert):
        raise AssertionError("the restored workflow differs from SpiffWorkflow's own restore")


class MissingCalledProcess(Exception):
    """A call activity reached a process that is not deployed (a call its definition left to run time)."""

    def __init__(self, process_id: str):
        super().__init__(
            Text(
                "Anropad process %(process_id)r är inte driftsatt: driftsätt den och försök igen", process_id=process_id
            )
        )
        self.process_id = process_id


class _MissingSpec:
    """Stands in for the spec of a called process that is not deployed: starting it raises MissingCalledProcess,
    which becomes an incident on the call activity naming the process."""

    def __init__(self, process_id: str):
        self.process_id = process_id

    def __getattr__(self, name: str) -> Any:
        raise MissingCalledProcess(self.__dict__["process_id"])


def _with_missing(subprocess_specs: dict[str, Any]) -> dict[str, Any]:
    if all(v is not None for v in subprocess_specs.values()):
        return subprocess_specs
    return {k: v if v is not None else _MissingSpec(k) for k, v in subprocess_specs.items()}


def _is_escalation(task: Task) -> bool:
    """A coordinator's task made by another deadline (it follows a timer), not a party's own work."""
    parent = task.parent
    return parent is not None and isinstance(getattr(parent.task_spec, "event_definition", None), TimerEventDefinition)
