"""Commands on a case as a whole: start one, cancel one, correct its routing data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.workflow import SERIALIZER_VERSION, Flow, StepLog
from engine.commands.caches import EMPTY_PROJECTION
from engine.commands.common import Deployed, check_data, json_safe, reason_text
from engine.commands.context import CommandContext
from engine.commands.core import Core
from engine.commands.definitions import DefinitionCommands
from engine.commands.projectors import refresh_facts
from engine.domain import personnummer
from engine.domain.actors import Actor
from engine.domain.deadlines import parse_moment
from engine.domain.errors import Conflict, NotFound, ValidationFailed
from engine.domain.routing import CASE_UNIT_KEYS, ROUTING_KEYS
from engine.domain.text import Text, status_word
from engine.persistence.models import HistoryEntry, ProcessInstance, TaskIndex
from engine.reads import versions
from engine.reads.persons import previous_discharge


class InstanceCommands:
    """Start, cancel and re-route cases."""

    def __init__(self, core: Core, definitions: DefinitionCommands):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows
        self.definitions = definitions

    def start_instance(
        self,
        process_id: str,
        business_key: str,
        data: dict[str, Any] | None,
        actor: Actor,
        version: int | None = None,
        parent_id: int | None = None,
    ) -> int:
        """Start a case. `parent_id`: the case this one is started for (e.g. a pilot's Värdekompass questionnaire
        for a discharged case, engine/features/pilot_comparison.py), recorded as its parent."""
        self.policy.require(self.policy.can_start(actor), "Du får inte starta processer")
        data = check_data(data)
        if not isinstance(business_key, str) or not business_key.strip() or len(business_key) > 200:
            raise ValidationFailed("business_key måste vara 1-200 tecken", {"fields": {"business_key": ["krävs"]}})
        with self.core.unit() as command:
            session = command.session
            definition, route = self.definitions.for_start(session, process_id, version, data)
            if parent_id is not None and session.get(ProcessInstance, parent_id) is None:
                raise NotFound(Text("Instansen %(instance_id)s finns inte", instance_id=parent_id))
            instance_id = self.start(
                command, definition, business_key.strip(), data, actor, None, parent_id=parent_id, route=route
            )
            self.access_log.record_in(session, actor, "starta", [(data.get("personnummer"), instance_id)], process_id)
            return instance_id

    def start(
        self,
        command: CommandContext,
        definition: Deployed,
        business_key: str,
        data: dict[str, Any],
        actor: Actor,
        start_message: str | None,
        parent_id: int | None = None,
        route: versions.Route | None = None,
        stay_key: str | None = None,
    ) -> int:
        session = command.session
        now = self.clock.now()
        route = route or versions.Route(definition.id, "default", None, "standardversion")
        data = self._known_readmission(session, definition.process_id, data, actor, now)
        instance = ProcessInstance(
            definition_id=definition.id,
            process_id=definition.process_id,
            version=definition.version,
            business_key=business_key,
            status="running",
            started_at=now,
            updated_at=now,
            started_by=actor.username,
            data=json_safe(data),
            state="",
            serializer_version=SERIALIZER_VERSION,
            parent_instance_id=parent_id,
            routing=route.routing,
            pilot_id=route.pilot_id,
            route_reason=route.reason[:300],
            stay_key=stay_key,
        )
        session.add(instance)
        session.flush()  # a second going case of the same stay fails here, on uq_process_instances_active_stay
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=now,
                kind="started",
                actor=actor.username,
                data={
                    "data": json_safe(data),
                    "message": start_message,
                    "version": definition.version,
                    "routing": route.routing,
                    "pilot_id": route.pilot_id,
                    "reason": route.reason,
                },
            )
        )
        spec, subprocess_specs = self.specs.get(
            session, definition, self.core.called_versions(session, instance, definition)
        )
        flow = self.flows.new(spec, subprocess_specs, data)
        # A new instance has no index rows yet: nothing to read back before the first save.
        command.projections[instance.id] = EMPTY_PROJECTION

        def begin(flow: Flow, log: StepLog) -> None:
            flow.run(self.clock, log)
            waiting = [m for m in definition.start_messages if m in flow.awaited_messages()]
            wanted = start_message if start_message in waiting else (waiting[0] if waiting else None)
            if wanted and not flow.ready_human_tasks():
                flow.deliver_message(wanted, data, self.clock, log)

        self.core.advance(command, instance, definition, actor, begin, flow=flow)
        return instance.id

    def _known_readmission(
        self, session: Session, process_id: str, data: dict[str, Any], actor: Actor, now: datetime
    ) -> dict[str, Any]:
        """An admission of a person Samflöde discharged within the figure's window (30 days) before it is a
        readmission the platform knows: the case data says so from the start (aterinlaggning_kand, the earlier
        discharge and case, shown beside the ward's admission form), and the figures count it whatever the ward
        ticks. The ward's answer stays for what the platform cannot know (a discharge outside Samflöde; planned)."""
        keeper = self.case_facts
        pnr = data.get("personnummer")
        if not keeper.applies_to(process_id) or keeper.milestones is None or not isinstance(pnr, str):
            return data
        admitted_at = parse_moment(data.get("inskrivningstid")) or now
        found = previous_discharge(
            session,
            self.access,
            self.access_log,
            actor,
            pnr,
            admitted_at,
            timedelta(days=keeper.milestones.readmission_days),
            now,
        )
        if found is None:  # the ward's answer (optional on its form) is no until it says otherwise
            return {"aterinlaggning_inom_30_dagar": False, **data, "aterinlaggning_kand": False}
        known = {
            "aterinlaggning_kand": True,
            "aterinlaggning_inom_30_dagar": True,
            "tidigare_utskrivning": found.discharged_at.isoformat(),
            "tidigare_arende_id": found.instance_id,
        }
        if found.vardtillfalle_id and not data.get("tidigare_vardtillfalle_id"):
            known["tidigare_vardtillfalle_id"] = found.vardtillfalle_id
        return {**data, **known}

    def cancel_instance(self, instance_id: int, actor: Actor, reason: str) -> None:
        self.policy.require(self.policy.can_cancel_instance(actor), "Bara samordnare får avbryta instanser")
        reason = reason_text(reason)
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            self.core.require_repair(session, actor, instance, "avbröt ärendet")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(Text("Instansen är redan %(status)s", status=status_word(instance.status)))
            definition = self.core.deployed(session, instance.definition_id)

            def cancel(flow: Flow, log: StepLog) -> None:
                flow.cancel()

            self.core.advance(command, instance, definition, actor, cancel, cancelled_reason=reason)

    def change_routing(self, instance_id: int, changes: dict[str, Any], actor: Actor, reason: str) -> None:
        """A coordinator corrects a case's routing data (kommun, vårdcentral, ward, agreement, the person's name)
        with a reason: the case data, the case's unit columns, its open tasks' units and what the workflow reads from
        now on change together; history, audit log and access log keep who, what, was and why. The personnummer and
        the stay identify the case for the journal's messages and change only by the journal."""
        self.policy.require(self.policy.can_manage_instances(actor), "Bara samordnare får ändra ärendets enheter")
        reason = reason_text(reason)
        allowed = {*CASE_UNIT_KEYS.values(), "avtal", "namn"}
        problems: dict[str, list[str]] = {}
        clean: dict[str, Any] = {}
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("Ange vad som ska ändras", {"fields": {"changes": ["krävs"]}})
        for key, value in changes.items():
            if key not in allowed:
                problems[str(key)] = [
                    Text("Kan inte ändras här")
                    if key in ROUTING_KEYS
                    else Text("Bara kommun, vårdcentral, avdelning, avtal och namn ändras här")
                ]
                continue
            text = value.strip() if isinstance(value, str) else ""
            if not text or len(text) > 100:
                problems[key] = [Text("Ange 1-100 tecken")]
            elif key.endswith("_hsa_id") and not personnummer.is_hsa_id(text):
                problems[key] = [Text("HSA-id har formen SE + 10 siffror + - + bokstäver/siffror")]
            elif key == "avtal" and text not in self.catalog.agreements:
                problems[key] = [Text("Avtalet finns inte i agreements.json")]
            else:
                clean[key] = text
        if problems:
            raise ValidationFailed("Ärendets uppgifter kunde inte ändras", {"fields": problems})
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            self.core.require_repair(session, actor, instance, "ändrade ärendets enheter")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(Text("Instansen är %(status)s", status=status_word(instance.status)))
            definition = self.core.deployed(session, instance.definition_id)
            was = {k: (instance.data or {}).get(k) for k in clean}
            if all(was[k] == v for k, v in clean.items()):
                raise Conflict("Ärendet har redan de uppgifterna")
            now = self.clock.now()
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="routing_changed",
                    actor=actor.username,
                    data={"data": clean, "was": was, "reason": reason},
                )
            )
            self.core.audit(
                session, actor, "change_routing", instance, {"changes": clean, "was": was, "reason": reason}
            )

            def correct(flow: Flow, log: StepLog) -> None:
                flow.set_data(clean)

            self.core.advance(command, instance, definition, actor, correct)
            instance.data = {**(instance.data or {}), **clean}
            for column, key in CASE_UNIT_KEYS.items():
                if key in clean:
                    setattr(instance, column, clean[key])
            for task in session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id)):
                task.unit = self.catalog.unit_for_lane(task.lane, instance.data)
            session.flush()
            refresh_facts(self.case_facts, session, instance, now)
