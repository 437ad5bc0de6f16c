"""Timers: fire a due one (the scheduler), list the due ones, record a failed firing, fire one now (a repair)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from engine.bpmn.workflow import Flow, MoveRefused, StepLog
from engine.commands.common import (
    MAX_TIMER_ATTEMPTS,
    TIMER_RETRY_MAX_SECONDS,
    TIMER_RETRY_SECONDS,
    reason_text,
)
from engine.commands.core import Core
from engine.commands.projectors import record_timer_fired, refresh_facts
from engine.domain.actors import Actor
from engine.domain.errors import Conflict, NotFound
from engine.domain.text import Text, status_word
from engine.persistence.models import HistoryEntry, Incident, ProcessInstance, Timer

# The scheduler's statements, built once: building a statement cost about as much as running it on SQLite (profiled,
# bench/timer_firing.py), and these run for every firing.
_DUE = (
    select(Timer.id, Timer.due_at)
    .where(
        Timer.due_at <= bindparam("now"),
        Timer.attempts < MAX_TIMER_ATTEMPTS,
        (Timer.next_attempt_at.is_(None)) | (Timer.next_attempt_at <= bindparam("now")),
    )
    .order_by(Timer.due_at, Timer.id)
    .limit(bindparam("limit"))
)
# SQLite: the timer and its instance in one read (BEGIN IMMEDIATE holds the write lock already, so nothing changes
# either between two reads); read afresh, as `Core.lock` does.
_TIMER_WITH_INSTANCE = (
    select(Timer, ProcessInstance)
    .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
    .where(Timer.id == bindparam("timer_id"))
    .execution_options(populate_existing=True)
)
# PostgreSQL: the instance row locked first (SKIP LOCKED: another scheduler or a command has it), then the timer row
# read again under that lock, the order every command keeps.
_LOCK_INSTANCE = (
    select(ProcessInstance)
    .where(ProcessInstance.id == bindparam("instance_id"))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)
_TIMER_AGAIN = select(Timer).where(Timer.id == bindparam("timer_id")).execution_options(populate_existing=True)


class TimerCommands:
    """The scheduler's commands and a coordinator's early firing."""

    def __init__(self, core: Core):
        self.core = core
        self.db, self.clock, self.catalog, self.policy = core.db, core.clock, core.catalog, core.policy
        self.access, self.access_log, self.case_facts = core.access, core.access_log, core.case_facts
        self.specs, self.flows = core.specs, core.flows

    def fire_timer(self, timer_id: int, actor: Actor) -> bool:
        """Fire one due timer (the scheduler's command). False when it is gone (fired or cancelled meanwhile) or,
        on PostgreSQL, when another transaction holds its instance (another scheduler fires it, or a command is
        changing the instance: the loop comes back to it). The instance row is locked first and the timer row
        re-read under that lock, the order every command keeps; BEGIN IMMEDIATE serialises SQLite writers."""
        with self.core.unit() as command:
            session = command.session
            found: Timer | None
            if self.db.dialect == "postgresql":
                found = session.get(Timer, timer_id)
                if found is None:
                    return False
                instance = session.execute(_LOCK_INSTANCE, {"instance_id": found.instance_id}).scalar_one_or_none()
                if instance is None:
                    return False
                found = session.execute(_TIMER_AGAIN, {"timer_id": timer_id}).scalar_one_or_none()
            else:  # SQLite: read under BEGIN IMMEDIATE's write lock, both at once
                row = session.execute(_TIMER_WITH_INSTANCE, {"timer_id": timer_id}).first()
                if row is None:
                    return False
                found, instance = row
            if found is None or found.due_at > self.clock.now():
                return False
            timer = found
            definition = self.core.deployed(session, instance.definition_id)
            due_at = timer.due_at

            completed: set[str] = set()

            def fire(flow: Flow, log: StepLog) -> None:
                try:
                    flow.run(self.clock, log, fire_due=due_at)
                finally:
                    completed.update(task_id for task_id, _, _ in log.completed)

            self.core.advance(command, instance, definition, actor, fire)
            if (
                timer.kind == "cycle"
                and timer.task_id not in completed
                and session.execute(select(Timer.id).where(Timer.id == timer_id)).first() is None
            ):
                # The last occurrence of a bounded cycle (R3/...) leaves the event waiting with no next time, so
                # its row goes without the event completing: record here that it fired.
                record_timer_fired(session, instance, timer, definition.elements or {}, self.clock.now())
                session.flush()
                refresh_facts(self.case_facts, session, instance, self.clock.now())  # a deviation it may have added
            return True

    def due_timers(self, limit: int = 100) -> list[tuple[int, datetime]]:
        """Timers due now, soonest first; not those waiting for their next attempt after a failure, nor those that
        failed MAX_TIMER_ATTEMPTS times (an open incident: a coordinator retries them)."""
        now = self.clock.now()
        with self.db.read() as session:
            rows = session.execute(_DUE, {"now": now, "limit": limit}).all()
            return [(r[0], r[1]) for r in rows]

    def timer_failed(self, timer_id: int, error: BaseException) -> bool:
        """Record that firing a timer raised (the command rolled back: not an incident of the case's own, which
        `Core.advance` records as data). The timer is tried again after a back-off (TIMER_RETRY_SECONDS doubling); after
        MAX_TIMER_ATTEMPTS it waits for a coordinator: an open incident on the instance naming the timer's element
        and the real error, retried from the incident views (`retry_instance`). Returns True when it became an
        incident. Written in its own unit of work, without restoring the workflow (which may be what fails)."""
        message = f"{error.__class__.__name__}: {error}"[:2000]
        with self.core.unit() as command:
            session = command.session
            timer = session.get(Timer, timer_id)
            if timer is None:
                return False
            instance = self.core.lock(session, timer.instance_id)
            now = self.clock.now()
            timer.attempts = (timer.attempts or 0) + 1
            timer.last_error = message
            if timer.attempts < MAX_TIMER_ATTEMPTS:
                delay = min(TIMER_RETRY_SECONDS * 2 ** (timer.attempts - 1), TIMER_RETRY_MAX_SECONDS)
                timer.next_attempt_at = now + timedelta(seconds=delay)
                return False
            timer.next_attempt_at = None
            text = Text(
                "Timern kunde inte utlösas efter %(attempts)s försök: %(message)s",
                attempts=timer.attempts,
                message=message,
            )
            session.add(Incident(instance_id=instance.id, element_id=timer.element_id, message=text, created_at=now))
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="incident",
                    element_id=timer.element_id,
                    task_id=timer.task_id,
                    data={"message": text, "timer": timer.id, "attempts": timer.attempts},
                )
            )
            if instance.status not in ("completed", "cancelled"):
                instance.status = "incident"
            return True

    def fire_timer_now(self, instance_id: int, timer_id: int, actor: Actor, reason: str) -> None:
        """A waiting timer fires now (a stuck timer, or a wait that no longer makes sense), with a reason."""
        self.policy.require(self.policy.can_fire_timer_now(actor), "Bara samordnare får utlösa en timer")
        reason = reason_text(reason)
        with self.core.unit() as command:
            session = command.session
            instance = self.core.lock(session, instance_id)
            self.core.require_repair(session, actor, instance, "utlöste en timer i förtid")
            if instance.status in ("completed", "cancelled"):
                raise Conflict(Text("Instansen är %(status)s", status=status_word(instance.status)))
            if instance.status == "incident":
                raise Conflict("Instansen har en öppen incident: försök igen eller flytta token först")
            timer = session.execute(
                select(Timer)
                .where(Timer.id == timer_id, Timer.instance_id == instance.id)
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if timer is None:
                raise NotFound("Timern finns inte (redan utlöst eller avbruten?)")
            definition = self.core.deployed(session, instance.definition_id)
            now = self.clock.now()
            task_id, element_id, due_at = timer.task_id, timer.element_id, timer.due_at
            session.add(
                HistoryEntry(
                    instance_id=instance.id,
                    at=now,
                    kind="timer_fired_manually",
                    element_id=element_id,
                    task_id=task_id,
                    actor=actor.username,
                    data={"due_at": due_at.isoformat(), "reason": reason},
                )
            )
            self.core.audit(
                session,
                actor,
                "fire_timer_now",
                instance,
                {"timer": timer_id, "element_id": element_id, "due_at": due_at.isoformat(), "reason": reason},
            )

            def fire(flow: Flow, log: StepLog) -> None:
                try:
                    flow.fire_timer_now(task_id, now, self.clock, log)
                except MoveRefused as exc:
                    raise Conflict(str(exc)) from exc

            self.core.advance(command, instance, definition, actor, fire)
