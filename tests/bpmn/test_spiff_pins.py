"""The SpiffWorkflow code our engine depends on beyond its plain public API is the code we pinned.

`PINNED` lists every SpiffWorkflow function, method or class whose behaviour we subclass, override, re-implement or
call privately (engine/bpmn/spiff_api.py, engine/bpmn/timers.py, engine/bpmn/gateways.py, engine/bpmn/parsing.py,
engine/bpmn/simulated.py, engine/bpmn/workflow.py's serializer). tests/bpmn/spiff_pins.json holds the installed
version and a hash of each one's source (inspect.getsource). When SpiffWorkflow is upgraded, this test names what
changed: read the new code of each, check (and adapt) our use of it, then record the new pins with

    .venv/bin/python -m tests.bpmn.test_spiff_pins
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from engine.bpmn.spiff_api import OVERRIDDEN

PINS = Path(__file__).resolve().parent / "spiff_pins.json"

_REIMPLEMENTED_OR_CALLED = (
    # engine/bpmn/spiff_api.py: private calls and internal attributes
    "SpiffWorkflow.task.Task.__init__",  # internal_data, _children, _parent
    "SpiffWorkflow.task.Task.parent",
    "SpiffWorkflow.task.Task.children",
    "SpiffWorkflow.task.Task._set_state",
    "SpiffWorkflow.task.Task._ready",
    "SpiffWorkflow.task.Task._get_internal_data",
    "SpiffWorkflow.task.Task._set_internal_data",
    "SpiffWorkflow.specs.base.TaskSpec._update",
    "SpiffWorkflow.workflow.Workflow._remove_task",
    "SpiffWorkflow.bpmn.util.event.EventManager",
    "SpiffWorkflow.bpmn.serializer.helpers.bpmn_converter.BpmnConverter.__init__",
    "SpiffWorkflow.bpmn.serializer.workflow.BpmnWorkflowSerializer.configure",
    # engine/bpmn/timers.py: the timer event definitions our subclasses replace, and the helpers they call
    "SpiffWorkflow.bpmn.specs.event_definitions.timer.TimerEventDefinition",
    "SpiffWorkflow.bpmn.specs.event_definitions.timer.TimeDateEventDefinition",
    "SpiffWorkflow.bpmn.specs.event_definitions.timer.DurationTimerEventDefinition",
    "SpiffWorkflow.bpmn.specs.event_definitions.timer.CycleTimerEventDefinition",
    "SpiffWorkflow.bpmn.specs.mixins.events.event_types.CatchingEvent",
    "SpiffWorkflow.bpmn.parser.event_parsers.EventDefinitionParser.parse_timer_event",
    "SpiffWorkflow.bpmn.parser.event_parsers.EventDefinitionParser.get_event_definition",
    "SpiffWorkflow.bpmn.serializer.default.event_definition.TimerConditionalEventDefinitionConverter",
    # engine/bpmn/gateways.py: the joins ours replace, and their converters
    "SpiffWorkflow.bpmn.specs.mixins.unstructured_join.UnstructuredJoin",
    "SpiffWorkflow.bpmn.serializer.default.task_spec.ConditionalGatewayConverter",
    "SpiffWorkflow.bpmn.serializer.default.task_spec.ParallelGatewayConverter",
    # engine/bpmn/parsing.py: the parser's registration hooks and the node index our process parser builds
    "SpiffWorkflow.bpmn.parser.BpmnParser.BpmnParser.__init__",
    "SpiffWorkflow.bpmn.parser.BpmnParser.BpmnParser.PARSER_CLASSES",  # every parser gets our mixins
    "SpiffWorkflow.bpmn.serializer.config.DEFAULT_CONFIG",  # the converters ours join
    "SpiffWorkflow.bpmn.parser.BpmnParser.BpmnParser._get_parser_class",
    "SpiffWorkflow.bpmn.parser.ProcessParser.ProcessParser.__init__",
    # engine/bpmn/workflow.py: the state-only workflow converter re-does SpiffWorkflow's restore without the spec
    "SpiffWorkflow.bpmn.serializer.default.workflow.BpmnWorkflowConverter",
    "SpiffWorkflow.bpmn.serializer.helpers.bpmn_converter.BpmnConverter.mapping_from_dict",
    # engine/bpmn/restoring.py: the restore of tasks it re-does (our TaskConverter, restore_tasks, read_state)
    "SpiffWorkflow.bpmn.serializer.default.workflow.TaskConverter",
    "SpiffWorkflow.bpmn.serializer.helpers.dictionary.DictionaryConverter",
    "SpiffWorkflow.bpmn.serializer.helpers.dictionary._JSON_PRIMITIVE_TYPES",
    "SpiffWorkflow.bpmn.serializer.helpers.registry.DefaultRegistry",
    "SpiffWorkflow.bpmn.serializer.workflow.BpmnWorkflowSerializer.migrate",
    "SpiffWorkflow.bpmn.serializer.workflow.BpmnWorkflowSerializer.deserialize_json",
    "SpiffWorkflow.util.deep_merge.DeepMerge.merge",
    "SpiffWorkflow.task.Task.has_state",
    # engine/bpmn/migration.py: SpecDiff compares specs through the serializer registry (our classes registered)
    "SpiffWorkflow.bpmn.util.diff.SpecDiff._compare_task_specs",
    # engine/bpmn/iteration.py: the iterators and filters the stack iterator re-implements, and what our workflow
    # classes replace (get_tasks_iterator; update_waiting_tasks and create_subprocess are pinned below)
    "SpiffWorkflow.util.task.TaskIterator",
    "SpiffWorkflow.util.task.TaskFilter",
    "SpiffWorkflow.bpmn.util.task.BpmnTaskIterator",
    "SpiffWorkflow.bpmn.util.task.BpmnTaskFilter",
    "SpiffWorkflow.bpmn.util.subworkflow.BpmnBaseWorkflow.get_tasks_iterator",
    "SpiffWorkflow.bpmn.util.subworkflow.BpmnSubWorkflow",
    "SpiffWorkflow.bpmn.serializer.default.workflow.BpmnSubWorkflowConverter",
    # engine/bpmn/simulated.py: the workflow methods the simulator's scanning classes replace
    "SpiffWorkflow.workflow.Workflow.get_tasks",
    "SpiffWorkflow.workflow.Workflow.update_waiting_tasks",
    "SpiffWorkflow.bpmn.workflow.BpmnWorkflow.create_subprocess",
)

PINNED: tuple[str, ...] = tuple(name for name, _ours, _why in OVERRIDDEN) + _REIMPLEMENTED_OR_CALLED


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = inspect.getattr_static(obj, attr) if isinstance(obj, type) else getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _source(dotted: str) -> str:
    obj = _resolve(dotted)
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, property):
        return "".join(inspect.getsource(f) for f in (obj.fget, obj.fset) if f is not None)
    if isinstance(obj, dict):  # a registration table: which classes it names
        return "\n".join(sorted(f"{k}: {_names(v)}" for k, v in obj.items()))
    if isinstance(obj, set | frozenset):  # a set of types
        return "\n".join(sorted(_names(v) for v in obj))
    return inspect.getsource(obj)


def _names(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_names(v) for v in value)
    return f"{value.__module__}.{value.__qualname__}" if isinstance(value, type) else repr(value)


def current() -> dict[str, Any]:
    sources = {}
    for name in PINNED:
        try:
            sources[name] = hashlib.sha256(_source(name).encode("utf-8")).hexdigest()
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            sources[name] = f"missing: {exc.__class__.__name__}"
    return {"spiffworkflow": version("SpiffWorkflow"), "sources": sources}


def test_the_pinned_spiffworkflow_code_is_what_is_installed():
    pinned = json.loads(PINS.read_text(encoding="utf-8"))
    now = current()
    changed = sorted(n for n in PINNED if pinned["sources"].get(n) != now["sources"][n])
    gone = sorted(set(pinned["sources"]) - set(PINNED))
    problems = []
    if pinned["spiffworkflow"] != now["spiffworkflow"]:
        problems.append(f"SpiffWorkflow {now['spiffworkflow']} is installed; the pins are of {pinned['spiffworkflow']}")
    if changed:
        problems.append(
            "SpiffWorkflow code we depend on changed (or is new to the pins): "
            + ", ".join(f"{n} ({now['sources'][n][:12]})" for n in changed)
        )
    if gone:
        problems.append("pinned but no longer used by us: " + ", ".join(gone))
    assert not problems, (
        "\n".join(problems)
        + "\nRead each one's new code, check our use of it (engine/bpmn/spiff_api.py says why we use it), then"
        + " record the pins: .venv/bin/python -m tests.bpmn.test_spiff_pins"
    )


def test_every_private_spiffworkflow_method_we_override_is_pinned_and_still_exists():
    for spiff_name, ours, _why in OVERRIDDEN:
        assert not current()["sources"][spiff_name].startswith("missing"), spiff_name
        module, _, cls = ours.rpartition(".")
        method = spiff_name.rsplit(".", 1)[1]
        assert method in vars(getattr(importlib.import_module(module), cls)), f"{ours} no longer overrides {method}"


def test_no_module_of_ours_patches_spiffworkflow():
    """Our customisations are subclasses registered with SpiffWorkflow's parser and serializer: its classes and
    modules are as it ships them."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    assert timer.datetime.__module__ == "datetime"
    for cls in (timer.TimerEventDefinition, timer.TimeDateEventDefinition, timer.DurationTimerEventDefinition):
        for value in vars(cls).values():
            func = getattr(value, "__func__", value)
            assert getattr(func, "__module__", "SpiffWorkflow").startswith("SpiffWorkflow"), (cls, value)
    assert timer.CycleTimerEventDefinition.cycle_complete.__module__.startswith("SpiffWorkflow")


if __name__ == "__main__":  # pragma: no cover - records the pins
    PINS.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {PINS}")
