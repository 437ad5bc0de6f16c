"""Messages: from outside systems (send_message) and thrown by a case's own workflow (route_thrown)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.bpmn.workflow import EngineIncident, Flow, StepLog
from engine.commands.common import (
    CORRELATION_KEYS,
    MAX_ROUTE_DEPTH,
    MessageResult,
    check_data,
    json_safe,
    person_of,
    stay_key,
)
from engine.commands.context import CommandContext
from engine.commands.core import Core
from engine.commands.definitions import DefinitionCommands
from engine.commands.instances import InstanceCommands
from engine.domain.actors import Actor
from engine.domain.errors import BadRequest, Conflict, NotFound, ValidationFailed
from engine.domain.routing import CASE_UNIT_KEYS, routing_keys_in
from engine.domain.text import Text
from engine.persistence.models import (
    HistoryEntry,
    InstanceCorrelation,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    ReceivedMessage,
)
from engine.reads import versions


class MessageCommands:
    """Deliver a message to the one case waiting for it, or start the process it starts."""

    def __init__(self, core: Core, definitions: DefinitionCommands, instances: InstanceCommands):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows
        self.definitions, self.instances = definitions, instances

    def send_message(
        self, name: str, message_id: str, correlation: dict[str, Any] | None, data: dict[str, Any] | None, actor: Actor
    ) -> MessageResult:
        self.policy.require(self.policy.can_send_message(actor), "Du får inte skicka meddelanden")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("Meddelandet saknar namn", {"fields": {"name": ["krävs"]}})
        if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
            raise ValidationFailed("message_id måste vara 1-200 tecken", {"fields": {"message_id": ["krävs"]}})
        correlation = check_data(correlation, "correlation")
        data = check_data(data)
        if not correlation:
            raise ValidationFailed(
                "Meddelandet saknar korrelation (t.ex. personnummer och vardtillfalle_id)",
                {"fields": {"correlation": ["krävs"]}},
            )
        # A concurrent message for the same stay (or with the same message_id) makes this insert fail on a unique
        # index: the second try sees the other's case (409, or the duplicate answer for the same message_id).
        for attempt in range(2):
            try:
                with self.core.unit() as command:
                    return self._send_message(command, name.strip(), message_id.strip(), correlation, data, actor)
            except IntegrityError:
                if attempt == 1:
                    raise Conflict("Ett samtidigt meddelande för samma vårdtillfälle hann före; försök igen") from None
        raise AssertionError("unreachable")

    def _send_message(
        self,
        command: CommandContext,
        name: str,
        message_id: str,
        correlation: dict[str, Any],
        data: dict[str, Any],
        actor: Actor,
        exclude: int | None = None,
    ) -> MessageResult:
        """`exclude`: the instance that threw the message (`route_thrown`); it never receives its own
        message, and an instance the message starts records it as its parent."""
        session = command.session
        seen = session.get(ReceivedMessage, message_id)
        if seen is not None:
            if seen.name != name:
                raise Conflict(
                    Text(
                        "message_id %(message_id)r användes redan för meddelandet %(name)r",
                        message_id=message_id,
                        name=seen.name,
                    )
                )
            return MessageResult(seen.instance_id or 0, seen.outcome, duplicate=True)
        payload = {**data, **correlation}
        query = select(MessageSubscription.instance_id).where(MessageSubscription.message_name == name)
        for key, value in correlation.items():
            query = query.where(
                MessageSubscription.instance_id.in_(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == key, InstanceCorrelation.value == str(value)
                    )
                )
            )
        matches = sorted(set(session.scalars(query)) - {exclude})
        if len(matches) > 1:
            raise Conflict(
                Text(
                    "Meddelandet %(name)r matchar %(count)s instanser; korrelationen räcker inte",
                    name=name,
                    count=len(matches),
                ),
                {"instances": matches},
            )
        if len(matches) == 1:
            return self._deliver(command, matches[0], name, message_id, data, payload, actor)
        return self._start_case(command, name, message_id, correlation, payload, actor, exclude)

    def _deliver(
        self,
        command: CommandContext,
        instance_id: int,
        name: str,
        message_id: str,
        data: dict[str, Any],
        payload: dict[str, Any],
        actor: Actor,
    ) -> MessageResult:
        """The message continues the one instance waiting for it (routing data changes only by the journal)."""
        session, now = command.session, self.clock.now()
        instance = self.core.lock(session, instance_id)
        definition = self.core.deployed(session, instance.definition_id)
        changing = [k for k in routing_keys_in(data) if data[k] != (instance.data or {}).get(k)]
        if changing and not (actor.internal or actor.has("system", "coordinator")):
            raise ValidationFailed(
                "Personen, vårdtillfället och enheterna ändras bara genom journalens meddelanden",
                {"fields": {k: ["får inte ändras av detta meddelande"] for k in changing}},
            )
        delivered: list[bool] = []

        def deliver(flow: Flow, log: StepLog) -> None:
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="message_received",
                    actor=actor.username,
                    data={"name": name, "message_id": message_id, "data": json_safe(payload)},
                )
            )
            try:
                delivered.append(flow.deliver_message(name, payload, self.clock, log))
            except EngineIncident:
                delivered.append(True)  # caught, then an incident: saved as such, not refused
                raise

        self.core.advance(command, instance, definition, actor, deliver)
        if not delivered or not delivered[0]:
            raise Conflict(
                Text("Instansen %(instance_id)s väntar inte längre på %(name)r", instance_id=instance.id, name=name)
            )
        session.add(
            ReceivedMessage(
                message_id=message_id, name=name, instance_id=instance.id, outcome="delivered", received_at=now
            )
        )
        session.flush()
        self.access_log.record_in(session, actor, "meddelande", [person_of(instance)], name)
        return MessageResult(instance.id, "delivered")

    def _start_case(
        self,
        command: CommandContext,
        name: str,
        message_id: str,
        correlation: dict[str, Any],
        payload: dict[str, Any],
        actor: Actor,
        exclude: int | None,
    ) -> MessageResult:
        """No instance waits: the message starts the one process it starts, unless a case of that stay goes on."""
        session, now = command.session, self.clock.now()
        starters = [d for d in self._start_definitions(session, name)]
        if not starters:
            raise NotFound(
                Text(
                    "Ingen instans väntar på %(name)r med denna korrelation, och ingen process startar av det",
                    name=name,
                ),
                {"correlation": json_safe(correlation)},
            )
        if len(starters) > 1:
            raise Conflict(
                Text(
                    "Flera processer startar av %(name)r: %(items)s",
                    name=name,
                    items=", ".join(d.process_id for d in starters),
                )
            )
        existing = self._instances_with(session, correlation, starters[0].process_id, active_only=True)
        if existing:
            raise Conflict(
                Text(
                    "Det finns redan en pågående %(process_id)s för denna korrelation",
                    process_id=starters[0].process_id,
                ),
                {"instances": existing},
            )
        business_key = "/".join(str(correlation[k]) for k in sorted(correlation))[:200]
        # The version by the same rules as start_instance (pilots, defaults), judged on the units in the message or,
        # for a case started by another case's message, the sender's units where the message lacks them.
        routed_on = dict(payload)
        sender = session.get(ProcessInstance, exclude) if exclude is not None else None
        for key in CASE_UNIT_KEYS.values():
            if routed_on.get(key) in (None, "") and sender is not None:
                routed_on[key] = (sender.data or {}).get(key)
        definition, route = self.definitions.for_start(session, starters[0].process_id, None, routed_on)
        if name not in definition.start_messages:
            definition = self.core.deployed(session, starters[0].id)
            route = versions.Route(
                definition.id,
                "default",
                None,
                Text(
                    "nyaste versionen som startar av %(name)r (%(reason)s gör det inte)", name=name, reason=route.reason
                ),
            )
        instance_id = self.instances.start(
            command,
            definition,
            business_key,
            payload,
            actor,
            start_message=name,
            parent_id=exclude,
            route=route,
            stay_key=stay_key(correlation),
        )
        session.add(
            ReceivedMessage(
                message_id=message_id, name=name, instance_id=instance_id, outcome="started", received_at=now
            )
        )
        session.flush()
        self.access_log.record_in(session, actor, "meddelande", [(payload.get("personnummer"), instance_id)], name)
        return MessageResult(instance_id, "started")

    def _start_definitions(self, session: Session, name: str) -> list[ProcessDefinition]:
        newest: dict[str, ProcessDefinition] = {}
        for definition in session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.executable.is_(True)).order_by(ProcessDefinition.version)
        ):
            newest[definition.process_id] = definition
        return [d for d in newest.values() if name in (d.start_messages or [])]

    def _instances_with(
        self, session: Session, correlation: dict[str, Any], process_id: str, active_only: bool
    ) -> list[int]:
        query = select(ProcessInstance.id).where(ProcessInstance.process_id == process_id)
        if active_only:
            query = query.where(ProcessInstance.status.in_(("running", "waiting", "incident")))
        for key, value in correlation.items():
            query = query.where(
                ProcessInstance.id.in_(
                    select(InstanceCorrelation.instance_id).where(
                        InstanceCorrelation.name == key, InstanceCorrelation.value == str(value)
                    )
                )
            )
        return list(session.scalars(query))

    def route_thrown(
        self, command: CommandContext, sender: ProcessInstance, name: str, payload: dict[str, Any], actor: Actor
    ) -> None:
        """A message thrown in `sender` that no task of its own workflow caught goes where an outside message of
        that name would (Runtime.send_message: continue the one instance waiting for it, or start the process it
        starts), correlated on personnummer + vardtillfalle_id from the payload or the sender's data, inside the
        same unit of work. What has no receiver is only recorded: such messages are for outside systems."""
        session = command.session
        depth = command.route_depth
        data = sender.data or {}
        correlation = {k: payload.get(k) or data.get(k) for k in CORRELATION_KEYS}
        outcome: dict[str, Any] = {"name": name}
        if depth >= MAX_ROUTE_DEPTH:
            outcome["outcome"] = "för djup kedja av meddelanden"
        elif any(v in (None, "") for v in correlation.values()):
            outcome["outcome"] = "ingen korrelation"
        else:
            message_id = f"intern-{sender.id}-{name}-{uuid.uuid4().hex}"
            flows = command.flows
            before = set(flows)
            command.route_depth = depth + 1
            try:
                with session.begin_nested():  # a refused delivery leaves the receiver as it was
                    result = self._send_message(
                        command, name, message_id, correlation, check_data(payload), actor, sender.id
                    )
                outcome.update(outcome=result.outcome, instance_id=result.instance_id, message_id=message_id)
            except (NotFound, Conflict, ValidationFailed, BadRequest) as exc:
                outcome["outcome"] = exc.message
                for instance_id in set(flows) - before:  # rolled back: their workflows in memory are not saved
                    flows.pop(instance_id, None)
            finally:
                command.route_depth = depth
        session.add(
            HistoryEntry(
                instance_id=sender.id, at=self.clock.now(), kind="message_thrown", actor=actor.username, data=outcome
            )
        )
