"""Process owners' drafts in the modeller: one per user and process, autosaved while editing, reopened later,
discarded when the diagram is deployed. A draft belongs to its user alone: anyone else gets 404, as if it did not
exist, and only those who may deploy (process owners, admin) have drafts at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.domain.actors import Actor, Policy
from engine.domain.clock import Clock
from engine.domain.errors import Conflict, NotFound, TooLarge
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import ModelDraft


def _summary(draft: ModelDraft) -> dict[str, Any]:
    return {
        "id": draft.id,
        "process_id": draft.process_id,
        "name": draft.name,
        "base_version": draft.base_version,
        "created_at": draft.created_at.isoformat(),
        "updated_at": draft.updated_at.isoformat(),
        "size": len(draft.xml.encode("utf-8")),
    }


def _full(draft: ModelDraft) -> dict[str, Any]:
    return {**_summary(draft), "xml": draft.xml}


class Drafts:
    def __init__(self, db: Database, clock: Clock, policy: Policy, max_bytes: int):
        self.db = db
        self.clock = clock
        self.policy = policy
        self.max_bytes = max_bytes

    def _require(self, actor: Actor) -> None:
        self.policy.require(self.policy.can_deploy(actor), "Bara processägare har utkast i modelleraren")

    def _own(self, session: Session, actor: Actor, draft_id: int) -> ModelDraft:
        draft = session.get(ModelDraft, draft_id)
        if draft is None or draft.username != actor.username:
            raise NotFound(Text("Utkast %(draft_id)s finns inte", draft_id=draft_id))
        return draft

    def _check_size(self, xml: str) -> None:
        if len(xml.encode("utf-8")) > self.max_bytes:
            raise TooLarge(Text("Utkastet är för stort (högst %(max_bytes)s byte)", max_bytes=self.max_bytes))

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        """The caller's drafts, most recently saved first (without their XML)."""
        self._require(actor)
        with self.db.read() as session:
            rows = session.scalars(
                select(ModelDraft)
                .where(ModelDraft.username == actor.username)
                .order_by(ModelDraft.updated_at.desc(), ModelDraft.id.desc())
            ).all()
            return [_summary(d) for d in rows]

    def get(self, actor: Actor, draft_id: int) -> dict[str, Any]:
        self._require(actor)
        with self.db.read() as session:
            return _full(self._own(session, actor, draft_id))

    def save(
        self, actor: Actor, process_id: str, xml: str, base_version: int | None, name: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Create the caller's draft of `process_id`, or overwrite it if there is one. Returns (draft, created)."""
        self._require(actor)
        self._check_size(xml)
        for attempt in range(2):
            try:
                return self._save(actor, process_id, xml, base_version, name)
            except IntegrityError:
                # Two saves of a new draft at once (an autosave and the one sent as the tab closed): the other
                # created it, so this one overwrites it.
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def _save(
        self, actor: Actor, process_id: str, xml: str, base_version: int | None, name: str | None
    ) -> tuple[dict[str, Any], bool]:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            draft = session.scalar(
                select(ModelDraft).where(ModelDraft.username == actor.username, ModelDraft.process_id == process_id)
            )
            created = draft is None
            if draft is None:
                draft = ModelDraft(username=actor.username, process_id=process_id, created_at=now)
                session.add(draft)
            draft.name, draft.base_version, draft.xml, draft.updated_at = name, base_version, xml, now
            session.flush()
            return _full(draft), created

    def update(
        self, actor: Actor, draft_id: int, process_id: str, xml: str, base_version: int | None, name: str | None = None
    ) -> dict[str, Any]:
        """Autosave into an existing draft. The process id may change (renamed in the modeller) unless the caller
        already has another draft of the new id."""
        self._require(actor)
        self._check_size(xml)
        with self.db.unit_of_work() as session:
            draft = self._own(session, actor, draft_id)
            if process_id != draft.process_id:
                other = session.scalar(
                    select(ModelDraft.id).where(
                        ModelDraft.username == actor.username, ModelDraft.process_id == process_id
                    )
                )
                if other is not None:
                    raise Conflict(
                        Text(
                            "Du har redan ett utkast av processen %(process_id)r (utkast %(other)s): öppna eller kasta "
                            "det",
                            process_id=process_id,
                            other=other,
                        )
                    )
            draft.process_id, draft.name, draft.base_version, draft.xml = process_id, name, base_version, xml
            draft.updated_at = self.clock.now()
            session.flush()
            return _full(draft)

    def discard(self, actor: Actor, draft_id: int) -> None:
        self._require(actor)
        with self.db.unit_of_work() as session:
            session.delete(self._own(session, actor, draft_id))

    def discard_deployed(self, actor: Actor, process_id: str, draft_id: int | None = None) -> int:
        """After a deploy: the caller's draft of that process (and the draft the page had open, if another) goes.
        Returns how many were discarded."""
        with self.db.unit_of_work() as session:
            rows = list(
                session.scalars(
                    select(ModelDraft).where(ModelDraft.username == actor.username, ModelDraft.process_id == process_id)
                )
            )
            if draft_id is not None:
                opened = session.get(ModelDraft, draft_id)
                if opened is not None and opened.username == actor.username and opened not in rows:
                    rows.append(opened)
            for draft in rows:
                session.delete(draft)
            return len(rows)
