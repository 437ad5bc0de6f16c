"""Commands on human tasks: complete, claim (or hand over), comment, unclaim, reassign."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.bpmn.workflow import Flow, StepLog
from engine.commands.common import Deployed, check_data, comment_text, json_safe, person_of, reason_text
from engine.commands.core import Core
from engine.commands.projectors import queue_completion
from engine.domain.actors import Actor
from engine.domain.catalog import validate_form_data
from engine.domain.errors import Conflict, Forbidden, ValidationFailed
from engine.domain.routing import ROUTING_KEYS, routing_keys_in
from engine.domain.text import Text
from engine.persistence.models import HistoryEntry, TaskIndex, User
from engine.reads.units import actor_of


class TaskCommands:
    """What staff and coordinators do with one task."""

    def __init__(self, core: Core):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows

    def complete_task(self, task_id: str, data: dict[str, Any] | None, actor: Actor) -> int:
        data = check_data(data)
        with self.core.unit() as command:
            session = command.session
            task, instance, definition = self.core.task_for_action(session, task_id)
            self.core.require_task(session, actor, task)
            if task.claimed_by and task.claimed_by != actor.username:
                raise Conflict(
                    Text("Uppgiften är tagen av %(claimed_by)s", claimed_by=task.claimed_by),
                    {"claimed_by": task.claimed_by},
                )
            self._task_data(definition, task, data)
            submitted = json_safe(data)
            before_units = {key: (instance.data or {}).get(key) for key in ROUTING_KEYS}

            def complete(flow: Flow, log: StepLog) -> None:
                if not flow.is_ready_human_task(task_id):
                    raise Conflict("Uppgiften är redan utförd")
                # When the task was created and first taken, on the completion row itself: the heat map reads one
                # row per task instead of pairing three (engine/reads/monitoring.py); the first claim is a subquery
                # the INSERT evaluates itself (one statement less per completion). Written with the step's other
                # history rows, in one statement.
                queue_completion(
                    command,
                    {
                        "instance_id": instance.id,
                        "at": self.clock.now(),
                        "kind": "task_completed",
                        "element_id": task.element_id,
                        "task_id": task_id,
                        "actor": actor.username,
                        "data": {"submitted": submitted, "name": task.name, "lane": task.lane},
                        "task_created_at": task.created_at,
                    },
                    first_taken_of=task_id,
                )
                flow.complete(task_id, data, self.clock, log)

            self.core.advance(command, instance, definition, actor, complete)
            changed = {k: v for k, v in before_units.items() if (instance.data or {}).get(k) != v}
            if changed:
                self.core.audit(
                    session,
                    actor,
                    "routing_changed_by_task",
                    instance,
                    {"task_id": task_id, "element_id": task.element_id, "was": changed},
                )
            self.access_log.record_in(session, actor, "slutfor", [person_of(instance)], task.name)
            return instance.id

    def _task_data(self, definition: Deployed, task: TaskIndex, data: dict[str, Any]) -> None:
        """A task's data is what its own form asks for (convention 14): a field the form does not have is refused,
        and routing data (the person, the stay, the units, the agreement) only where the diagram names the task
        as the step that decides it (element property `routing`)."""
        props = definition.elements.get(task.element_id, {}).get("properties") or {}
        allowed_routing = {k.strip() for k in str(props.get("routing") or "").split(",") if k.strip()}
        problems: dict[str, list[str]] = {}
        form = props.get("form")
        schema = ((definition.forms or {}).get(form) or self.catalog.form(form)) if form else None
        if schema is not None:
            known = set((schema.get("properties") or {}).keys())
            for key in sorted(set(data) - known):
                problems[key] = [Text("Fältet finns inte i uppgiftens formulär")]
        for key in routing_keys_in(data):
            if key not in allowed_routing:
                problems.setdefault(key, []).append(
                    Text(
                        "Personen, vårdtillfället, enheterna och avtalet ändras bara genom journalens meddelanden "
                        "eller av en samordnare"
                    )
                )
        if problems:
            raise ValidationFailed("Uppgifterna stämmer inte med formuläret", {"fields": problems})
        if schema is not None:
            validate_form_data(schema, data)

    def claim_task(self, task_id: str, actor: Actor, assignee: str | None = None, comment: str | None = None) -> None:
        """Claim for oneself, or hand over to a named colleague who may act on the task too (same role and unit),
        with an optional comment that the case's timeline keeps. A coordinator gives a task to someone with
        `reassign_task` (with a reason)."""
        note = comment_text(comment) if comment and comment.strip() else None
        with self.core.unit() as command:
            session = command.session
            task, instance, _ = self.core.task_for_action(session, task_id)
            self.core.require_task(session, actor, task)
            target = assignee or actor.username
            if target != actor.username:
                user = session.scalar(select(User).where(User.username == target, User.active.is_(True)))
                if user is None or not self.access.assignable(actor_of(user, session), task) or not task.unit:
                    raise Forbidden("Välj en kollega med rätt roll i samma enhet")
            if task.claimed_by and task.claimed_by != actor.username:
                raise Conflict(
                    Text("Uppgiften är redan tagen av %(claimed_by)s", claimed_by=task.claimed_by),
                    {"claimed_by": task.claimed_by},
                )
            now = self.clock.now()
            task.claimed_by, task.claimed_at = target, now
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="claimed",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"assignee": target, **({"comment": note} if note else {})},
                )
            )
            action = "ta" if target == actor.username else "lamna_over"
            self.access_log.record_in(session, actor, action, [person_of(instance)], task.name)

    def comment_task(self, task_id: str, actor: Actor, text: str) -> None:
        """A comment on an open task, by someone who may act on it: kept in the case's timeline (history kind
        `comment`) and logged as `kommentar`. Nothing else about the task changes."""
        note = comment_text(text)
        with self.core.unit() as command:
            session = command.session
            task, instance, _ = self.core.task_for_action(session, task_id)
            self.core.require_task(session, actor, task)
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=self.clock.now(),
                    kind="comment",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"name": task.name, "comment": note},
                )
            )
            self.access_log.record_in(session, actor, "kommentar", [person_of(instance)], task.name)

    def unclaim_task(self, task_id: str, actor: Actor) -> None:
        """Give a task back: the one who has it, or a coordinator of the case's organisation."""
        with self.core.unit() as command:
            session = command.session
            task, instance, _ = self.core.task_for_action(session, task_id)
            repairing = task.claimed_by != actor.username and self.access.may_repair_instance(
                session, actor, instance.id
            )
            if not repairing:
                self.core.require_task(session, actor, task)
            if task.claimed_by is None:
                return
            if task.claimed_by != actor.username and not repairing:
                raise Conflict(
                    Text("Uppgiften är tagen av %(claimed_by)s", claimed_by=task.claimed_by),
                    {"claimed_by": task.claimed_by},
                )
            now = self.clock.now()
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="unclaimed",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"was": task.claimed_by},
                )
            )
            task.claimed_by, task.claimed_at = None, None
            self.access_log.record_in(session, actor, "slapp", [person_of(instance)], task.name)

    def reassign_task(self, task_id: str, assignee: str, actor: Actor, reason: str) -> None:
        """A coordinator gives a task to a named user (who must be able to take it: role and unit), with a reason."""
        self.policy.require(self.policy.can_reassign_task(actor), "Bara samordnare får fördela om uppgifter")
        reason = reason_text(reason)
        assignee = (assignee or "").strip()
        if not assignee:
            raise ValidationFailed("Välj vem som ska få uppgiften", {"fields": {"assignee": ["krävs"]}})
        with self.core.unit() as command:
            session = command.session
            task, instance, _ = self.core.task_for_action(session, task_id)
            self.core.require_repair(session, actor, instance, "fördelade om en uppgift")
            user = session.scalar(select(User).where(User.username == assignee, User.active.is_(True)))
            if user is None:
                raise ValidationFailed(
                    Text("Användaren %(assignee)r finns inte", assignee=assignee),
                    {"fields": {"assignee": [Text("finns inte")]}},
                )
            target = actor_of(user, session)
            if not self.access.assignable(target, task):
                raise ValidationFailed(
                    Text("%(name)s har inte uppgiftens roll och enhet", name=user.name or assignee),
                    {"fields": {"assignee": [Text("kan inte ta uppgiften")]}},
                )
            now = self.clock.now()
            previous = task.claimed_by
            task.claimed_by, task.claimed_at = assignee, now
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="reassigned",
                    element_id=task.element_id,
                    task_id=task.id,
                    actor=actor.username,
                    data={"assignee": assignee, "was": previous, "reason": reason},
                )
            )
            self.core.audit(
                session,
                actor,
                "reassign_task",
                instance,
                {
                    "task_id": task.id,
                    "element_id": task.element_id,
                    "assignee": assignee,
                    "was": previous,
                    "reason": reason,
                },
            )
