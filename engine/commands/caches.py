"""The service layer's memory between commands: parsed specs per definition, the deployed definitions, and the
advanced workflows with the index projection they were saved with (keyed by the row version they were saved as, so
an entry another process has moved past is never used)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.bpmn.parsing import parse_for_run
from engine.bpmn.workflow import Flow
from engine.commands.common import ENDED, Deployed
from engine.domain.errors import NotFound
from engine.domain.text import Text
from engine.persistence.models import ProcessDefinition, ProcessInstance


@dataclass(frozen=True)
class TimerRow:
    id: int
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class Projection:
    """What the index tables hold for one instance as last saved: its timers, task ids, awaited messages and
    correlation keys. Kept with the cached workflow so a save diffs against memory instead of re-reading rows."""

    timers: dict[str, TimerRow]
    task_ids: frozenset[str]
    subscriptions: frozenset[str]
    correlations: frozenset[tuple[str, str]]


EMPTY_PROJECTION = Projection({}, frozenset(), frozenset(), frozenset())


class SpecCache:
    """Parsed specs per definition id: parsing a 60-activity diagram once per process, not once per step."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict[Any, tuple[Any, dict[str, Any]]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(
        self, session: Session, definition: Deployed, called_versions: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The specs of a definition; a call left to run time uses the version the case resolved it to
        (`called_versions`), and without one has no spec (reaching it is an incident)."""
        unresolved = {k for k, v in (definition.dependencies or {}).items() if v is None}
        pins = {k: v for k, v in (called_versions or {}).items() if k in unresolved and v is not None}
        key: Any = (definition.id, tuple(sorted(pins.items()))) if pins else definition.id
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        deps: dict[str, bytes] = {}
        wanted = [(called, dep_id or pins.get(called)) for called, dep_id in (definition.dependencies or {}).items()]
        while wanted:
            called, dep_id = wanted.pop()
            if dep_id is None or called in deps:
                continue
            dep = session.get(ProcessDefinition, dep_id)
            if dep is None:
                raise NotFound(Text("Anropad processversion %(dep_id)s saknas", dep_id=dep_id))
            deps[called] = dep.xml
            wanted.extend((c, d) for c, d in (dep.dependencies or {}).items() if d is not None)
        row = session.get(ProcessDefinition, definition.id)
        if row is None:
            raise NotFound(Text("Processversion %(definition_id)s saknas", definition_id=definition.id))
        specs = parse_for_run(row.xml, definition.process_id, deps)
        with self._lock:
            self._items[key] = specs
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return specs


class DefinitionCache:
    """Deployed definitions by id (they never change once stored)."""

    def __init__(self) -> None:
        self._items: dict[int, Deployed] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, definition_id: int) -> Deployed:
        with self._lock:
            hit = self._items.get(definition_id)
        if hit is not None:
            return hit
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise NotFound(Text("Processversion %(definition_id)s saknas", definition_id=definition_id))
        deployed = Deployed.of(row)
        with self._lock:
            self._items[definition_id] = deployed
        return deployed


class FlowCache:
    """The workflows as this process last saved them, with their index projection, keyed by instance id and held
    with the row's lock_version; least recently used dropped beyond `size`."""

    def __init__(self, size: int):
        self._items: OrderedDict[int, tuple[int, Flow, Projection]] = OrderedDict()
        self.size = max(0, size)
        self._lock = threading.Lock()

    def take(self, instance: ProcessInstance) -> tuple[Flow, Projection] | None:
        """The workflow (and its index projection) if the row has not changed since it was kept (same
        lock_version). Taken out of the cache while a command uses it."""
        with self._lock:
            hit = self._items.pop(instance.id, None)
        if hit is None or hit[0] != instance.lock_version:
            return None
        return hit[1], hit[2]

    def keep(self, advanced: dict[int, tuple[ProcessInstance, Flow]], projections: dict[int, Projection]) -> None:
        """After a commit: the advanced workflows of going cases, as saved."""
        with self._lock:
            for instance_id, (instance, flow) in advanced.items():
                if instance.status in ENDED or instance_id not in projections:
                    self._items.pop(instance_id, None)
                    continue
                self._items[instance_id] = (instance.lock_version, flow, projections[instance_id])
                self._items.move_to_end(instance_id)
            self._trim()

    def add(self, instance_id: int, lock_version: int, flow: Flow, projection: Projection) -> bool:
        """Read ahead (Runtime.warm_flows): kept unless a command put a newer one meanwhile."""
        with self._lock:
            added = instance_id not in self._items
            if added:
                self._items[instance_id] = (lock_version, flow, projection)
            self._trim()
            return added

    def forget(self, instance_ids: Iterable[int] | None = None) -> None:
        with self._lock:
            if instance_ids is None:
                self._items.clear()
                return
            for instance_id in instance_ids:
                self._items.pop(instance_id, None)

    def __contains__(self, instance_id: int) -> bool:
        with self._lock:
            return instance_id in self._items

    def _trim(self) -> None:
        while len(self._items) > self.size:
            self._items.popitem(last=False)
