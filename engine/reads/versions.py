"""The version new cases of a process start on when no pilot or rollout takes them (issue 15): a read of the defaults
table, used by the case and definition reads and by routing (engine/features/pilots.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.persistence.models import DefaultVersion, ProcessDefinition


def default_version_now(session: Session, process_id: str) -> int | None:
    """The process-wide default version as routing sees it now (steps 4-5 of engine/features/pilots.py's docstring)."""
    chosen = session.scalar(
        select(ProcessDefinition.version)
        .join(DefaultVersion, DefaultVersion.definition_id == ProcessDefinition.id)
        .where(DefaultVersion.process_id == process_id, DefaultVersion.unit_kind == "", DefaultVersion.unit == "")
    )
    if chosen is not None:
        return int(chosen)
    newest = session.scalar(
        select(func.max(ProcessDefinition.version)).where(
            ProcessDefinition.process_id == process_id, ProcessDefinition.executable.is_(True)
        )
    )
    return int(newest) if newest is not None else None
