"""Repairs of a case after an incident or a wrong turn: retry the failed element, move the token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from engine.bpmn.workflow import Flow, MoveRefused, StepLog, TokenMove
from engine.commands.common import check_data, json_safe, reason_text
from engine.commands.core import Core
from engine.domain.actors import Actor
from engine.domain.errors import Conflict, ValidationFailed
from engine.domain.text import Text, status_word
from engine.persistence.models import HistoryEntry, Incident, Timer


class RepairCommands:
    """A coordinator's repairs, each with a reason (history, audit and access log)."""

    def __init__(self, core: Core):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows

    def retry_instance(
        self, instance_id: int, actor: Actor, data: dict[str, Any] | None = None, reason: str = ""
    ) -> None:
        """After an incident: the failed element runs again with the corrected data, and the coordinator says why."""
        self.policy.require(self.policy.can_retry_incident(actor), "Bara samordnare får försöka igen")
        data = check_data(data)
        reason = reason_text(reason)
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            self.core.require_repair(session, actor, instance, "försökte igen efter en incident")
            if instance.status != "incident":
                raise Conflict("Instansen har ingen öppen incident")
            definition = self.core.deployed(session, instance.definition_id)
            now = self.clock.now()
            # Timers that failed (Runtime.timer_failed) get a fresh start: a due one fires in this very run.
            session.execute(
                update(Timer)
                .where(Timer.instance_id == instance.id, Timer.attempts > 0)
                .values(attempts=0, next_attempt_at=None, last_error=None)
            )
            retried = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="retried",
                actor=actor.username,
                data={"data": json_safe(data), "reason": reason, "incidents": []},
            )
            session.add(retried)
            self.core.audit(session, actor, "retry_incident", instance, {"reason": reason, "data": json_safe(data)})

            def retry(flow: Flow, log: StepLog) -> None:
                flow.retry(data, self.clock, log)

            failed = command.failed(instance.id)
            failed.clear()
            self.core.advance(command, instance, definition, actor, retry)
            # Only what did not fail again is resolved: a retry that fails again keeps its incident open.
            resolved = self.core.resolve_incidents(session, instance, actor, now, keep=frozenset(failed))
            retried.data = {**retried.data, "incidents": resolved, "failed_again": sorted(e or "" for e in failed)}

    def move_token(self, instance_id: int, from_element: str, to_element: str, actor: Actor, reason: str) -> TokenMove:
        """Repair: take the token at `from_element` and make `to_element` active instead (Flow.move_token says what
        is safe). An instance in incident moves only from the element of its incident, which the move resolves."""
        self.policy.require(self.policy.can_move_token(actor), "Bara samordnare får flytta en token")
        reason = reason_text(reason)
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            self.core.require_repair(session, actor, instance, "flyttade en token")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(Text("Instansen är %(status)s", status=status_word(instance.status)))
            definition = self.core.deployed(session, instance.definition_id)
            names = definition.elements or {}
            for key, element in (("from_element", from_element), ("to_element", to_element)):
                if element not in names:
                    raise ValidationFailed(
                        Text(
                            "Elementet %(element)r finns inte i %(process_id)s version %(version)s",
                            element=element,
                            process_id=definition.process_id,
                            version=definition.version,
                        ),
                        {"fields": {key: [Text("finns inte i diagrammet")]}},
                    )
            now = self.clock.now()
            open_incidents = list(
                session.scalars(
                    select(Incident.element_id).where(
                        Incident.instance_id == instance.id, Incident.resolved_at.is_(None)
                    )
                )
            )
            if instance.status == "incident" and from_element not in open_incidents:
                raise Conflict(
                    "Instansen har en öppen incident i "
                    + ", ".join(
                        sorted({f"«{(names.get(e or '') or {}).get('name') or e or '?'}»" for e in open_incidents})
                    )
                    + ": flytta token därifrån eller försök igen först"
                )
            moved: list[TokenMove] = []

            def move(flow: Flow, log: StepLog) -> None:
                try:
                    moved.append(flow.move_token(from_element, to_element, self.clock, log))
                except MoveRefused as exc:
                    raise Conflict(str(exc)) from exc
                flow.run(self.clock, log)  # an incident here is the moved case's, saved with the move

            # The history row first, so the timeline shows the move before what the engine then did.
            entry = HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="token_moved",
                element_id=to_element,
                actor=actor.username,
                data={"from": from_element, "to": to_element, "reason": reason},
            )
            session.add(entry)
            resolved = self.core.resolve_incidents(session, instance, actor, now, from_element)
            self.core.advance(command, instance, definition, actor, move)
            entry.data = {**entry.data, "direction": moved[0].direction, "skipped": list(moved[0].skipped)}
            if resolved:
                entry.data = {**entry.data, "incidents": resolved}
            self.core.audit(
                session,
                actor,
                "move_token",
                instance,
                {"from": from_element, "to": to_element, "reason": reason, "direction": moved[0].direction},
            )
            return moved[0]
