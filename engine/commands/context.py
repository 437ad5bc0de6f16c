"""The typed contexts of the service layer, passed explicitly (no untyped keys in the session):

- `CommandContext`: one command's unit of work: its session and what its steps hand on to the commit (the advanced
  workflows to keep in memory, the index projections they were saved with, the earliest new timer for the
  scheduler's wake-up, the elements that failed for `retry_instance`, the depth of messages routed inside it).
- `StepContext`: one step of one instance, the input of every projector (engine/commands/projectors.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from engine.bpmn.workflow import EngineIncident, Flow, StepLog
from engine.commands.caches import Projection, TimerRow
from engine.commands.common import Deployed
from engine.commands.facts_store import CaseFactsKeeper
from engine.commands.recording import StepRecord
from engine.domain.actors import Actor
from engine.domain.catalog import Catalog
from engine.persistence.models import ProcessInstance, Timer


@dataclass
class SavedProjection:
    """What a step left in the index tables; the new timers' row ids are known after the unit of work's flush."""

    kept: dict[str, TimerRow]
    added: list[Timer]
    task_ids: frozenset[str]
    subscriptions: frozenset[str]
    correlations: frozenset[tuple[str, str]]

    def projection(self) -> Projection:
        timers = dict(self.kept)
        for row in self.added:
            timers[row.task_id] = TimerRow(row.id, row.task_id, row.element_id, row.due_at)
        return Projection(timers, self.task_ids, self.subscriptions, self.correlations)


@dataclass
class CommandContext:
    session: Session
    flows: dict[int, tuple[ProcessInstance, Flow]] = field(default_factory=dict)  # advanced in this unit of work
    projections: dict[int, Projection] = field(default_factory=dict)  # index rows before the step, when known
    saved: dict[int, SavedProjection] = field(default_factory=dict)  # index rows as this unit of work saved them
    failed_elements: dict[int, set[str | None]] = field(default_factory=dict)  # incidents recorded, per instance
    earliest_new_timer: datetime | None = None
    route_depth: int = 0  # messages thrown by instances that a thrown message started or continued
    # History rows recorded by the step being saved and not written yet: written at once, in the order recorded, by
    # the projectors (engine/commands/projectors.py `write_queued_history`), one statement per step.
    history: list[dict[str, Any]] = field(default_factory=list)

    def failed(self, instance_id: int) -> set[str | None]:
        return self.failed_elements.setdefault(instance_id, set())

    def timer_added(self, due_at: datetime) -> None:
        if self.earliest_new_timer is None or due_at < self.earliest_new_timer:
            self.earliest_new_timer = due_at


@dataclass
class StepContext:
    """One step of one instance, as the projectors read it: the workflow after the step and its log, the index
    rows before it (`projection`), and what earlier projectors derived (`data`, `record`)."""

    command: CommandContext
    instance: ProcessInstance
    definition: Deployed
    flow: Flow
    log: StepLog
    actor: Actor
    now: datetime
    catalog: Catalog
    facts: CaseFactsKeeper
    projection: Projection
    incident: EngineIncident | None = None
    cancelled_reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the case data after the step
    record: StepRecord | None = None  # what the step records (engine/commands/recording.py)

    @property
    def session(self) -> Session:
        return self.command.session

    @cached_property
    def connection(self) -> Connection:
        """The unit of work's connection (its one transaction), for the statements the projectors run directly."""
        return self.command.session.connection()

    @property
    def elements(self) -> dict[str, Any]:
        return self.definition.elements or {}

    @property
    def cancelled(self) -> bool:
        return self.cancelled_reason is not None
