"""Cases poisoned before the data boundary existed (issue 13): data with NaN, serializer markers (`typename`), deep
or non-JSON values, or a stored workflow state that no longer restores. `samflode repair-poisoned` lists them and,
with `--fix`, repairs what can be repaired, each repair audited and in the case's history.

What is repaired: case data and history data are scrubbed (engine/domain/boundary.py `scrub`: NaN and
out-of-range numbers become null, reserved keys get a trailing underscore, NUL characters and lone surrogates go);
the task data inside a stored state is scrubbed the same way and the state kept only if it then restores. What
cannot be repaired (a state that still does not restore) is reported and, with `--fix`, opened as an incident on
the case so that coordinators see it and can cancel it or move it on by hand.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import boundary
from engine.domain.actors import Actor
from engine.domain.text import Text
from engine.persistence.models import AuditEntry, HistoryEntry, Incident, ProcessInstance

GOING = ("running", "waiting", "incident")
UNRESTORABLE = "Ärendets sparade tillstånd kan inte läsas in"


@dataclass
class Finding:
    instance_id: int
    business_key: str
    status: str
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepairable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "business_key": self.business_key,
            "status": self.status,
            "problems": self.problems,
            "repaired": self.repaired,
            "unrepairable": self.unrepairable,
        }


def _data_problems(value: Any, where: str) -> list[str]:
    return [f"{where}: {p.path}: {p.reason}" for p in boundary.problems(value)]


def _scrub_state_data(state: dict[str, Any]) -> None:
    """Scrub only what holds case data in a serialized workflow (its data, its tasks' data, the same in each
    sub-workflow); the serializer's own `typename` markers elsewhere in the state are left alone."""
    workflows = [state, *(state.get("subprocesses") or {}).values()]
    for workflow in workflows:
        if not isinstance(workflow, dict):
            continue
        if isinstance(workflow.get("data"), dict):
            workflow["data"] = boundary.scrub(workflow["data"])
        for task in (workflow.get("tasks") or {}).values():
            if isinstance(task, dict) and isinstance(task.get("data"), dict):
                task["data"] = boundary.scrub(task["data"])


def _state_data_problems(state: dict[str, Any]) -> list[str]:
    found: list[str] = []
    workflows = [state, *(state.get("subprocesses") or {}).values()]
    for workflow in workflows:
        if not isinstance(workflow, dict):
            continue
        found += _data_problems(workflow.get("data") or {}, "tillståndets data")
        for task_id, task in (workflow.get("tasks") or {}).items():
            if isinstance(task, dict):
                found += _data_problems(
                    task.get("data") or {}, Text("tillståndets uppgift %(task_id)s", task_id=task_id)
                )
    return found


class PoisonedCases:
    """Finds and repairs poisoned cases through the runtime's spec cache and flow factory (the same restore a
    command does)."""

    def __init__(self, runtime: Any):
        self.runtime = runtime

    def _restores(self, session: Session, instance: ProcessInstance, state: str) -> str | None:
        """None when the state restores, else why not."""
        try:
            definition = self.runtime._deployed(session, instance.definition_id)
            spec, subs = self.runtime.specs.get(session, definition, instance.called_versions)
            self.runtime.flows.restore(state, spec, subs)
        except Exception as exc:  # noqa: BLE001 - the answer is the error
            return f"{exc.__class__.__name__}: {str(exc)[:200]}"
        return None

    def scan(self) -> Iterator[Finding]:
        with self.runtime.db.read() as session:
            ids = list(session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)))
        for instance_id in ids:
            with self.runtime.db.read() as session:
                finding = self._examine(session, instance_id)
            if finding is not None and finding.problems:
                yield finding

    def _examine(self, session: Session, instance_id: int) -> Finding | None:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            return None
        finding = Finding(instance.id, instance.business_key, instance.status)
        finding.problems += _data_problems(instance.data or {}, "ärendets data")
        for entry in session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == instance.id)):
            finding.problems += _data_problems(entry.data or {}, f"historikrad {entry.id}")
        if instance.status in GOING:
            why = self._restores(session, instance, instance.state)
            if why is not None:
                finding.problems.append(f"{UNRESTORABLE}: {why}")
            else:
                with contextlib.suppress(ValueError):
                    finding.problems += _state_data_problems(json.loads(instance.state))
        return finding

    def repair(self, actor: Actor) -> list[Finding]:
        """Repair every poisoned case, each in its own unit of work (one that fails does not stop the others)."""
        repaired: list[Finding] = []
        for found in list(self.scan()):
            with self.runtime.db.unit_of_work() as session:
                repaired.append(self._repair(session, found, actor))
        self.runtime.forget_cached_flows()
        return repaired

    def _repair(self, session: Session, found: Finding, actor: Actor) -> Finding:
        instance = session.get(ProcessInstance, found.instance_id, with_for_update=True)
        assert instance is not None
        now = self.runtime.clock.now()
        if _data_problems(instance.data or {}, "data"):
            instance.data = boundary.scrub(instance.data or {})
            found.repaired.append("ärendets data rensad")
        for entry in session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == instance.id)):
            if _data_problems(entry.data or {}, "data"):
                entry.data = boundary.scrub(entry.data or {})
                found.repaired.append(f"historikrad {entry.id} rensad")
        if instance.status in GOING:
            self._repair_state(session, instance, found)
        if found.unrepairable and instance.status in GOING:
            message = next((p for p in found.problems if p.startswith(UNRESTORABLE)), UNRESTORABLE)
            already = session.scalar(
                select(Incident.id).where(
                    Incident.instance_id == instance.id, Incident.resolved_at.is_(None), Incident.message == message
                )
            )
            if already is None:
                session.add(Incident(instance_id=instance.id, element_id=None, message=message, created_at=now))
            instance.status = "incident"
        details = {"problems": found.problems[:50], "repaired": found.repaired[:50], "unrepairable": found.unrepairable}
        session.add(HistoryEntry(instance_id=instance.id, at=now, kind="repaired", actor=actor.username, data=details))
        session.add(
            AuditEntry(
                at=now,
                actor=actor.username,
                action="repair_poisoned",
                target_type="instance",
                target_id=str(instance.id),
                details=details,
            )
        )
        return found

    def _repair_state(self, session: Session, instance: ProcessInstance, found: Finding) -> None:
        state = instance.state
        try:
            parsed = json.loads(state)
        except ValueError:
            found.unrepairable = True
            return
        if not isinstance(parsed, dict):
            found.unrepairable = True
            return
        if not _state_data_problems(parsed) and self._restores(session, instance, state) is None:
            return
        _scrub_state_data(parsed)
        candidate = json.dumps(parsed, allow_nan=False)
        if self._restores(session, instance, candidate) is None:
            instance.state = candidate
            found.repaired.append("tillståndets uppgiftsdata rensad; tillståndet kan läsas in")
        else:
            found.unrepairable = True
