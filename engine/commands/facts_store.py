"""case_facts kept in step with the history (issue 6): the derivation is engine/domain/facts.py's, pure; this reads
the records a milestone can match and writes the case's row, inside the unit of work of the step that changed the
case (the facts projector, engine/commands/projectors.py), and rebuilds every case's row for
`samflode rebuild-facts`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.domain.facts import (
    CaseFacts,
    CaseFactsDeriver,
    anchors_from,
    anchors_of,
    case_input,
    parse_moment,
    records_of,
)
from engine.persistence.db import Database
from engine.persistence.models import CaseFact, Deviation, HistoryEntry, ProcessInstance

__all__ = ["CaseFactsKeeper", "RebuildCounts", "parse_moment", "rebuild_all"]


class CaseFactsKeeper(CaseFactsDeriver):
    """Keeps case_facts in step with the history: `refresh` is called by the facts projector after every step of an
    instance of the configured process, inside the same unit of work."""

    def anchors(self, session: Session, instance: Any) -> dict[str, datetime | None]:
        """The recorded moments of the anchor events of a case as flushed so far (what its deadlines count from).
        A process the milestones do not describe (mobilt_team) knows only its own start as `inskrivning`."""
        if not self.applies_to(instance.process_id):
            return anchors_from(None, case_input(instance), [])
        return anchors_of(self.current(session, instance))

    def refresh(self, session: Session, instance: Any, now: datetime) -> bool:
        """Derive the instance's facts from its history as flushed so far and write its case_facts row; whether the
        row was added or changed."""
        if not self.applies_to(instance.process_id):
            return False
        facts = self.current(session, instance)
        row = session.get(CaseFact, instance.id)
        values = facts.as_dict()
        if row is None:
            session.add(CaseFact(**values, updated_at=now))
            return True
        changed = False
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed = True
        if changed:
            row.updated_at = now
        return changed

    def current(self, session: Session, instance: Any) -> CaseFacts:
        """The instance's facts from its history as flushed so far (not written)."""
        assert self.milestones is not None
        # Only the records a milestone can match (a long case has hundreds of others, with their form data).
        by_element = {r.element for m in self.milestones.milestones.values() for r in m.events if r.element}
        any_element = {r.kind for m in self.milestones.milestones.values() for r in m.events if not r.element}
        rows = session.execute(
            select(HistoryEntry.at, HistoryEntry.kind, HistoryEntry.element_id, HistoryEntry.data)
            .where(
                HistoryEntry.instance_id == instance.id,
                or_(HistoryEntry.element_id.in_(sorted(by_element)), HistoryEntry.kind.in_(sorted(any_element))),
            )
            .order_by(HistoryEntry.id)
        ).all()
        deviations = session.scalar(select(func.count(Deviation.id)).where(Deviation.instance_id == instance.id)) or 0
        return self.derive_for(replace(case_input(instance), deviations=int(deviations)), records_of(rows))


@dataclass
class RebuildCounts:
    cases: int = 0  # instances of the process the milestones describe
    written: int = 0  # rows added or changed
    unchanged: int = 0


def rebuild_all(
    db: Database,
    keeper: CaseFactsKeeper,
    now: datetime,
    batch: int = 500,
    progress: Callable[[RebuildCounts], None] | None = None,
) -> RebuildCounts:
    """Every case's facts derived again from its history through the current code, `batch` cases per transaction
    (idempotent: a second run writes nothing). Cases of processes the milestones do not describe are left alone."""
    counts = RebuildCounts()
    milestones = keeper.milestones
    if milestones is None:
        return counts
    last_id = 0
    while True:
        with db.unit_of_work() as session:
            instances = session.scalars(
                select(ProcessInstance)
                .where(ProcessInstance.process_id == milestones.process_id, ProcessInstance.id > last_id)
                .order_by(ProcessInstance.id)
                .limit(batch)
            ).all()
            if not instances:
                break
            for instance in instances:
                counts.cases += 1
                if keeper.refresh(session, instance, now):
                    counts.written += 1
                else:
                    counts.unchanged += 1
            last_id = instances[-1].id
        if progress is not None:
            progress(counts)
    return counts
