"""The service layer's facade: every command that changes a definition or an instance goes through here
(convention 1). Web forms, the JSON API, the CLI and the scheduler call `Runtime`; it delegates to the command
modules, grouped by aggregate:

- engine/commands/definitions.py  check, deploy, deploy a set
- engine/commands/instances.py    start, cancel, change routing
- engine/commands/tasks.py        complete, claim, unclaim, comment, reassign
- engine/commands/messages.py     messages from outside and thrown by a case
- engine/commands/timers.py       fire a due timer, list due timers, a failed firing, fire now
- engine/commands/repairs.py      retry after an incident, move a token
- engine/commands/migration.py    migrate one instance, revert it

They share one path that advances a workflow (engine/commands/core.py: unit of work, per-instance lock, `advance`),
which saves each step through the projectors (engine/commands/projectors.py) from what the step records
(engine/commands/recording.py, shared with the simulator); the unit of work commits once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.catalog_check import CheckResult
from engine.bpmn.parsing import ParsedDocument
from engine.bpmn.workflow import TokenMove
from engine.commands.caches import Projection, SpecCache, TimerRow
from engine.commands.common import (
    CORRELATION_KEYS,
    ENDED,
    MAX_REASON_CHARS,
    MAX_ROUTE_DEPTH,
    MAX_TIMER_ATTEMPTS,
    TIMER_RETRY_MAX_SECONDS,
    TIMER_RETRY_SECONDS,
    Deployed,
    DeployResult,
    MessageResult,
    stay_key,
)
from engine.commands.core import Core
from engine.commands.definitions import DefinitionCommands
from engine.commands.instances import InstanceCommands
from engine.commands.messages import MessageCommands
from engine.commands.migration import MigrationCommands
from engine.commands.projectors import load_projection
from engine.commands.repairs import RepairCommands
from engine.commands.tasks import TaskCommands
from engine.commands.timers import TimerCommands
from engine.domain.actors import Actor, Policy
from engine.domain.catalog import Catalog
from engine.domain.clock import Clock
from engine.persistence.db import Database
from engine.persistence.models import ProcessInstance
from engine.reads.policy import AccessPolicy

__all__ = [
    "CORRELATION_KEYS",
    "MAX_REASON_CHARS",
    "MAX_ROUTE_DEPTH",
    "MAX_TIMER_ATTEMPTS",
    "TIMER_RETRY_MAX_SECONDS",
    "TIMER_RETRY_SECONDS",
    "Deployed",
    "DeployResult",
    "MessageResult",
    "Projection",
    "Runtime",
    "SpecCache",
    "TimerRow",
    "stay_key",
]


class Runtime:
    """A thin facade: the public commands, each delegated to its aggregate's module."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalog: Catalog,
        policy: Policy | None = None,
        flow_cache_size: int = 2000,
        access: AccessPolicy | None = None,
    ):
        core = Core(db, clock, catalog, policy, flow_cache_size, access)
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.flows, self.specs, self.timer_listeners = core.flows, core.specs, core.timer_listeners
        self.definitions = DefinitionCommands(core)
        self.instances = InstanceCommands(core, self.definitions)
        self.tasks = TaskCommands(core)
        self.messages = MessageCommands(core, self.definitions, self.instances)
        self.timers = TimerCommands(core)
        self.repairs = RepairCommands(core)
        self.migration = MigrationCommands(core)
        core.route_thrown = self.messages.route_thrown

    # ------------------------------------------------------------------------------------------------ the flow cache
    def forget_cached_flows(self) -> None:
        """Drop the in-memory workflows, so that the next command restores each from the database (tests use this
        to prove that every step survives a save and restore)."""
        self.core.flow_cache.forget()

    def warm_flows(self, instance_ids: Iterable[int], keep_going: Callable[[], bool] = lambda: True) -> int:
        """Read ahead: restore the workflows of these instances into the flow cache (the scheduler does this for
        instances whose timers fall due soon, while it has nothing due), so that the command at the due moment
        skips deserializing and reading the index projection. Stops when `keep_going()` turns false. Returns how
        many were restored. Safe against concurrent changes: an entry is keyed by the row version it was read at
        (state first, then the projection: a change in between bumps the version, and the entry is never used)."""
        core, warmed = self.core, 0
        for instance_id in instance_ids:
            if not core.flow_cache.size or not keep_going():
                break
            if instance_id in core.flow_cache:
                continue
            with self.db.read() as session:
                row = session.execute(
                    select(
                        ProcessInstance.lock_version,
                        ProcessInstance.status,
                        ProcessInstance.definition_id,
                        ProcessInstance.state,
                    ).where(ProcessInstance.id == instance_id)
                ).one_or_none()
                if row is None or row.status in ENDED:
                    continue
                definition = core.deployed(session, row.definition_id)
                if definition.unresolved:
                    continue  # its calls are resolved in the command itself
                spec, subprocess_specs = core.specs.get(session, definition)
                flow = core.flows.restore(row.state, spec, subprocess_specs)
                projection = load_projection(session, instance_id)
            if core.flow_cache.add(instance_id, row.lock_version, flow, projection):
                warmed += 1
        return warmed

    @property
    def flow_cache_size(self) -> int:
        return self.core.flow_cache.size

    def is_flow_cached(self, instance_id: int) -> bool:
        return instance_id in self.core.flow_cache

    def _deployed(self, session: Session, definition_id: int) -> Deployed:
        """A deployed definition (cached); for engine/features/migration.py and engine/commands/poisoned.py."""
        return self.core.deployed(session, definition_id)

    # ------------------------------------------------------------------------------------------------ definitions
    def check(self, xml: bytes | str, process_id: str | None = None) -> ParsedDocument:
        return self.definitions.check(xml, process_id)

    def check_diagram(self, xml: bytes | str, actor: Actor) -> CheckResult:
        return self.definitions.check_diagram(xml, actor)

    def deploy(
        self,
        xml: bytes | str,
        actor: Actor,
        comment: str = "",
        filename: str | None = None,
        allow_documentation_only: bool = False,
    ) -> DeployResult:
        return self.definitions.deploy(xml, actor, comment, filename, allow_documentation_only)

    def deploy_set(
        self,
        files: list[tuple[str | None, bytes]],
        actor: Actor,
        comment: str = "",
        allow_documentation_only: bool = False,
    ) -> list[DeployResult]:
        return self.definitions.deploy_set(files, actor, comment, allow_documentation_only)

    # ------------------------------------------------------------------------------------------------ instances
    def start_instance(
        self,
        process_id: str,
        business_key: str,
        data: dict[str, Any] | None,
        actor: Actor,
        version: int | None = None,
        parent_id: int | None = None,
    ) -> int:
        return self.instances.start_instance(process_id, business_key, data, actor, version, parent_id)

    def cancel_instance(self, instance_id: int, actor: Actor, reason: str) -> None:
        self.instances.cancel_instance(instance_id, actor, reason)

    def change_routing(self, instance_id: int, changes: dict[str, Any], actor: Actor, reason: str) -> None:
        self.instances.change_routing(instance_id, changes, actor, reason)

    # ------------------------------------------------------------------------------------------------ tasks
    def complete_task(self, task_id: str, data: dict[str, Any] | None, actor: Actor) -> int:
        return self.tasks.complete_task(task_id, data, actor)

    def claim_task(self, task_id: str, actor: Actor, assignee: str | None = None, comment: str | None = None) -> None:
        self.tasks.claim_task(task_id, actor, assignee, comment)

    def comment_task(self, task_id: str, actor: Actor, text: str) -> None:
        self.tasks.comment_task(task_id, actor, text)

    def unclaim_task(self, task_id: str, actor: Actor) -> None:
        self.tasks.unclaim_task(task_id, actor)

    def reassign_task(self, task_id: str, assignee: str, actor: Actor, reason: str) -> None:
        self.tasks.reassign_task(task_id, assignee, actor, reason)

    # ------------------------------------------------------------------------------------------------ messages
    def send_message(
        self, name: str, message_id: str, correlation: dict[str, Any] | None, data: dict[str, Any] | None, actor: Actor
    ) -> MessageResult:
        return self.messages.send_message(name, message_id, correlation, data, actor)

    # ------------------------------------------------------------------------------------------------ timers
    def fire_timer(self, timer_id: int, actor: Actor) -> bool:
        return self.timers.fire_timer(timer_id, actor)

    def due_timers(self, limit: int = 100) -> list[tuple[int, datetime]]:
        return self.timers.due_timers(limit)

    def timer_failed(self, timer_id: int, error: BaseException) -> bool:
        return self.timers.timer_failed(timer_id, error)

    def fire_timer_now(self, instance_id: int, timer_id: int, actor: Actor, reason: str) -> None:
        self.timers.fire_timer_now(instance_id, timer_id, actor, reason)

    # ------------------------------------------------------------------------------------------------ repairs
    def retry_instance(
        self, instance_id: int, actor: Actor, data: dict[str, Any] | None = None, reason: str = ""
    ) -> None:
        self.repairs.retry_instance(instance_id, actor, data, reason)

    def move_token(self, instance_id: int, from_element: str, to_element: str, actor: Actor, reason: str) -> TokenMove:
        return self.repairs.move_token(instance_id, from_element, to_element, actor, reason)

    # ------------------------------------------------------------------------------------------------ migration
    def migrate_instance(
        self, instance_id: int, target_definition_id: int, mapping: dict[str, str], actor: Actor, run_id: int
    ) -> int:
        return self.migration.migrate_instance(instance_id, target_definition_id, mapping, actor, run_id)

    def revert_migration(self, result_id: int, actor: Actor) -> None:
        self.migration.revert_migration(result_id, actor)
