"""Restoring a stored workflow state: SpiffWorkflow's restore, the same workflow, at a fraction of the cost.

A cold step (a case not in the flow cache, most timer firings) restores the whole task tree. SpiffWorkflow's
serializer restores each task through its generic registry (a copy of every task dict, a dispatch on its typename)
and parses each task id from its string four or five times (as the task's key and id, as its parent's child, as its
children's parent): `uuid.UUID` alone was an eighth of a cold completion (profiled, bench/engine.py).

Here, registered through SpiffWorkflow's serializer registry (engine/bpmn/workflow.py `_make_serializer`):

- `TaskConverter`: SpiffWorkflow's converter of a task, whose `from_dict` does what SpiffWorkflow's does without
  the generic restore of data that holds nothing to restore (a flat dict of JSON values is copied);
- `restore_tasks`: what our workflow converters call for a workflow's `tasks` instead of SpiffWorkflow's
  `mapping_from_dict`: the task dicts restored in order straight through that converter (any other typename goes
  through the registry as before), each id string parsed once per restore (`uuid`);
- `read_state`: `json.loads` of the stored text, which also hands back each task's JSON text as stored, so that the
  first dump after a restore reuses it (StateWriter.keep_restored) instead of encoding every task dict again.

tests/bpmn/test_restoring.py restores the stored states of real cases and a case of every real process, step by
step, both ways (ours and SpiffWorkflow's own serializer) and compares every task (id, state, parent, children, data,
internal data, last state change, spec, triggered) and what the workflow holds besides; tests/bpmn/test_spiff_pins.py
pins the SpiffWorkflow code this re-does (TaskConverter.from_dict, Task.__init__, DeepMerge.merge, the registry's
restore, mapping_from_dict).
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable
from contextvars import ContextVar
from copy import copy
from typing import Any
from uuid import UUID, SafeUUID

from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter as SpiffTaskConverter
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

TASK_TYPENAME = "Task"
_PRIMITIVE = frozenset((str, int, float, bool, type(None)))  # SpiffWorkflow's _JSON_PRIMITIVE_TYPES
_WAITING = TaskState.WAITING
_MUTABLE = (dict, list, set)  # what DeepMerge.merge copies


class Restoring:
    """One restore's memory: the UUID of every id string parsed so far (`uuids`, filled by `uuid`), and the dict each
    task was restored from (with its key) for StateWriter.keep_restored."""

    __slots__ = ("uuids", "tasks")

    def __init__(self) -> None:
        self.uuids: dict[str, UUID] = {}
        self.tasks: dict[int, tuple[Task, dict[str, Any], str]] = {}  # id(task): (task, its dict, its key)


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown


def uuid(uuids: dict[str, UUID], text: str) -> UUID:
    """UUID(text), parsed once per restore (callers look in `uuids` first: `uuids.get(text) or uuid(uuids, text)`).
    An id as stored (32 hex digits and dashes) is made as UUID.__init__ makes it from that string (its int, and
    is_safe unknown) without its checks of other forms, a third of its cost; any other text goes to UUID(text)."""
    digits = text.replace("-", "")
    try:
        value = int(digits, 16) if len(digits) == 32 else None
    except ValueError:  # not hex digits: UUID says what it makes of it
        value = None
    if value is None:
        found = UUID(text)
    else:
        found = _new(UUID)
        _set(found, "int", value)
        _set(found, "is_safe", _UNKNOWN)
    uuids[text] = found
    return found


# The restore under way in this thread (FlowFactory.restore sets it around the registry's restore).
RESTORING: ContextVar[Restoring | None] = ContextVar("samflode_restoring", default=None)


def _data(registry: Any, value: Any) -> Any:
    """registry.restore(value): a flat dict of JSON values (what task data and internal data nearly always are) is
    copied, as SpiffWorkflow's restore of it would rebuild it; anything else goes through the registry."""
    if type(value) is dict and "typename" not in value:
        for item in value.values():
            if type(item) not in _PRIMITIVE:
                return registry.restore(value)
        return dict(value)
    return registry.restore(value)


def _inherited(parent_data: Any) -> Any:
    """DeepMerge.merge({}, parent_data) (pinned): merged into an empty dict, every value is put as it is, except a
    dict, list or set, which is copied (copy.copy), in the parent's order. A comprehension does that at a third of
    the cost of the merge's loop, which matters in a case whose data has tens of keys in each of hundreds of tasks."""
    if type(parent_data) is not dict:
        return DeepMerge.merge({}, parent_data)
    return {key: copy(value) if isinstance(value, _MUTABLE) else value for key, value in parent_data.items()}


def restore_task(registry: Any, dct: dict[str, Any], workflow: Any, uuids: dict[str, UUID]) -> Task:
    """SpiffWorkflow's TaskConverter.from_dict (pinned), each id parsed once per restore (`uuids`)."""
    get = uuids.get
    task_spec = workflow.spec.task_specs.get(dct["task_spec"])
    text = dct["id"]
    task = Task(workflow, task_spec, state=dct["state"], id=get(text) or uuid(uuids, text))
    text = dct["parent"]
    task._parent = (get(text) or uuid(uuids, text)) if text is not None else None
    task._children = [get(text) or uuid(uuids, text) for text in dct["children"]]
    task.last_state_change = dct["last_state_change"]
    task.triggered = dct["triggered"]
    task.internal_data = _data(registry, dct["internal_data"])
    if isinstance(task_spec, CatchingEvent) and task._state & _WAITING != 0:
        task.workflow.top_workflow.event_manager.add_task(task)
    delta: Any = dct.get("delta")
    parent_task = workflow.tasks.get(task._parent) if delta else None  # task.parent
    if parent_task is not None:
        data = _inherited(parent_task.data)
        data.update(_data(registry, delta.get("updates", {})))
        for key in delta.get("deletions", {}):
            if key in data:
                del data[key]
    else:
        data = _data(registry, dct["data"])
    task.data = data
    return task


class TaskConverter(SpiffTaskConverter):
    """SpiffWorkflow's converter of a task (registered for SpiffWorkflow's Task under its own name): the same dict
    out, the same task back, restored by `restore_task`."""

    def from_dict(self, dct: dict[str, Any], workflow: Any) -> Task:
        restoring = RESTORING.get()
        return restore_task(self.registry, dct, workflow, restoring.uuids if restoring is not None else {})


def restore_tasks(registry: Any, mapping: dict[str, Any], workflow: Any) -> dict[UUID, Task]:
    """SpiffWorkflow's `mapping_from_dict(mapping, UUID, workflow=workflow)` for a workflow's tasks (pinned):
    {UUID(key): registry.restore(task dict, workflow=workflow)} in the stored order, a task dict going straight to
    `restore_task` (what the registry would call for its typename) and each id string parsed once."""
    restoring = RESTORING.get()
    if restoring is None:
        restoring = Restoring()
    uuids = restoring.uuids
    get = uuids.get
    kept = restoring.tasks
    tasks: dict[UUID, Task] = {}
    for key, dct in mapping.items():
        task_id = get(key) or uuid(uuids, key)
        if type(dct) is dict and dct.get("typename") == TASK_TYPENAME:
            task = restore_task(registry, dct, workflow, uuids)
        else:
            task = registry.restore(dct, workflow=workflow)
        tasks[task_id] = task
        kept[id(task)] = (task, dct, key)
    return tasks


# --- comparing restores -------------------------------------------------------------------------------------------
def _typed(value: Any, convert: Callable[[Any], Any]) -> Any:
    """A value with the type of every part of it, in order (1, 1.0 and True are not the same datum here); an object
    the serializer converts (a BPMN event in a task's internal data, a datetime) as its conversion."""
    if isinstance(value, dict):
        return (type(value).__name__, [(_typed(k, convert), _typed(v, convert)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v, convert) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(_typed(v, convert)) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    if type(value) in _PRIMITIVE:
        return (type(value).__name__, value)
    converted = convert(value)
    return (type(value).__name__, value if converted is value else _typed(converted, convert))


def _value(value: Any, convert: Callable[[Any], Any]) -> Any:
    """`_typed(value)`, cheaply where repr says it all: the repr of JSON values in dicts and lists tells 1, 1.0 and
    True apart and keeps the order; one that shows an object's address is not enough."""
    text = repr(value)
    return text if " at 0x" not in text else _typed(value, convert)


def snapshot(workflow: Any, convert: Callable[[Any], Any], same_specs: bool = True) -> list[Any]:
    """Everything a restore sets on a workflow, its sub-processes and their tasks, comparable with ==: for each
    (sub)workflow its class, spec, parent task, root, last task, success, completed, correlations and data, and
    per task (in order, with its key) its class, id, workflow, spec (the same object when `same_specs`), state,
    parent, children, last state change, triggered, thread id, data and internal data; then the sub-processes'
    order, the event manager's tasks and the workflow's BPMN events (through `convert`)."""
    parts: list[Any] = []
    for wf in (workflow, *workflow.subprocesses.values()):
        parts.append(
            (
                type(wf).__name__,
                vars(wf.spec).get("name"),
                id(wf.spec) if same_specs else None,
                getattr(wf, "parent_task_id", None),
                wf.task_tree.id if wf.task_tree is not None else None,
                wf.last_task.id if wf.last_task is not None else None,
                wf.top_workflow is workflow,
                _typed(wf.success, convert),
                _typed(wf.completed, convert),
                _typed(wf.correlations, convert),
                _value(wf.data, convert),
            )
        )
        parts.append(
            [
                (
                    key,
                    type(task).__name__,
                    task.id,
                    task.workflow is wf,
                    task.task_spec.name,
                    type(task.task_spec).__name__,
                    id(task.task_spec) if same_specs else None,
                    task._state,
                    task._parent,
                    list(task._children),
                    _typed(task.last_state_change, convert),
                    _typed(task.triggered, convert),
                    task.thread_id,
                    _value(task.data, convert),
                    _value(task.internal_data, convert),
                    sorted(vars(task)),
                )
                for key, task in wf.tasks.items()
            ]
        )
    parts.append(list(workflow.subprocesses))
    parts.append(
        [(key, task.id, task.workflow.tasks.get(task.id) is task) for key, task in workflow.event_manager.tasks.items()]
    )
    parts.append(_typed(convert(workflow.bpmn_events), convert))
    return parts


# --- the stored text ------------------------------------------------------------------------------------------------
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
# (what json.loads scans values with)
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SPACE = " \t\n\r"

Member = Callable[[str, int, int], tuple[Any, int]]


def _skip(text: str, pos: int) -> int:
    """The position after the whitespace at text[pos]: most often one space (what json's encoder writes after ','
    and ':'), else what the decoder's pattern of whitespace matches."""
    if text[pos] == " " and text[pos + 1] not in _SPACE:
        return pos + 1
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _object(text: str, pos: int, member: Member) -> tuple[dict[str, Any], int]:
    """The JSON object at text[pos] ('{') and the position after it, as json's decoder reads one; `member(key,
    key_start, value_start)` reads each member's value and returns it with the position after it. (Whitespace is
    looked at before it is skipped: the stored text has little.)"""
    result: dict[str, Any] = {}
    pos += 1
    if text[pos] in _SPACE:
        pos = _skip(text, pos)
    if text[pos] == "}":
        return result, pos + 1
    while True:
        if text[pos] != '"':
            raise ValueError(pos)
        key, end = _scanstring(text, pos + 1)
        if text[end] in _SPACE:
            end = _skip(text, end)
        if text[end] != ":":
            raise ValueError(end)
        end += 1
        if text[end] in _SPACE:
            end = _skip(text, end)
        value, end = member(key, pos, end)
        result[key] = value
        if text[end] in _SPACE:
            end = _skip(text, end)
        if text[end] == "}":
            return result, end + 1
        if text[end] != ",":
            raise ValueError(end)
        pos = end + 1
        if text[pos] in _SPACE:
            pos = _skip(text, pos)


def read_state(text: str) -> tuple[dict[str, Any], dict[str, str] | None]:
    """json.loads(text), and the text of every task as stored ('"id":{...}' by its key, the top workflow's and its
    sub-processes'; None when the text is not read this way, then json.loads decides)."""
    raw: dict[str, str] = {}

    def task_member(key: str, key_start: int, start: int) -> tuple[Any, int]:
        value, end = _SCAN(text, start)
        raw[key] = text[key_start:end]
        return value, end

    def workflow_member(key: str, key_start: int, start: int) -> tuple[Any, int]:
        if text[start] == "{":
            if key == "tasks":
                return _object(text, start, task_member)
            if key == "subprocesses":
                return _object(text, start, subprocess_member)
        return _SCAN(text, start)

    def subprocess_member(key: str, key_start: int, start: int) -> tuple[Any, int]:
        if text[start] == "{":
            return _object(text, start, workflow_member)
        return _SCAN(text, start)

    try:
        start = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
        if text[start] != "{":
            raise ValueError(start)
        dct, end = _object(text, start, workflow_member)
        if _WHITESPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
            raise ValueError(end)
    except Exception:  # noqa: BLE001 - not read this way: json.loads reads it (or says why it cannot)
        return json.loads(text), None
    return dct, raw
