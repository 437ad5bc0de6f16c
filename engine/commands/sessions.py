"""Signed-in browser sessions, kept on the server (web_sessions) so that a session ends for good: signing out, an
idle period, the absolute lifetime, a new password or a deactivated user end it for every copy of its cookie.

The cookie (Flask's signed session, `samflode_session`) carries a random token and the time of the last request;
the server keeps only the token's SHA-256, who it is for, when it started and when it must end. A request checks
the row (one primary-key read) and the idle time from the cookie, so an ordinary page view writes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from engine.commands.directory import Directory
from engine.domain.actors import Actor
from engine.domain.clock import Clock
from engine.persistence.db import Database
from engine.persistence.models import User, WebSession
from engine.reads.units import actor_of


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)


class WebSessions:
    def __init__(self, db: Database, clock: Clock, rules: SessionRules | None = None):
        self.db = db
        self.clock = clock
        self.rules = rules or SessionRules()

    def start(self, username: str, address: str | None = None) -> str:
        """A new session; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            session.add(
                WebSession(
                    id=_key(token),
                    username=username,
                    created_at=now,
                    expires_at=now + self.rules.lifetime,
                    address=(address or "")[:64] or None,
                )
            )
        return token

    def check(self, token: str | None, last_seen: float | None) -> str | None:
        """The username of a live session, or None (ended, expired, idle, unknown). An idle or expired session is
        ended on the server too, so that its cookie never works again."""
        return self.signed_in(token, last_seen)[0]

    def signed_in(
        self, token: str | None, last_seen: float | None, directory: Directory | None = None
    ) -> tuple[str | None, Actor | None]:
        """`check`, and with a directory the session's user as an actor read with it: one read for both, the
        session row joined to its user (a page asked for them in two, three statements). The actor is None when
        the user is gone or no longer active (the caller then ends the session)."""
        if not token or len(token) > 200:
            return None, None
        now = self.clock.now()
        actor: Actor | None = None
        with self.db.read() as session:
            columns = (WebSession.username, WebSession.ended_at, WebSession.expires_at)
            found: Any = session.execute(
                select(*columns).where(WebSession.id == _key(token))
                if directory is None
                else select(*columns, User)
                .outerjoin(User, User.username == WebSession.username)
                .where(WebSession.id == _key(token))
            ).first()
            row, user = found, (found[3] if found is not None and directory is not None else None)
            if row is None or row.ended_at is not None:
                return None, None
            username, expires_at = row.username, row.expires_at
            live = now < expires_at and not (
                last_seen is not None and now - datetime.fromtimestamp(last_seen, tz=now.tzinfo) > self.rules.idle
            )
            if live and directory is not None and user is not None and user.active:
                actor = actor_of(user, session)
        if now >= expires_at:
            self.end(token, "expired")
            return None, None
        if not live:
            self.end(token, "idle")
            return None, None
        return username, actor

    def end(self, token: str | None, reason: str = "signed_out") -> None:
        if not token:
            return
        with self.db.unit_of_work() as session:
            session.execute(
                update(WebSession)
                .where(WebSession.id == _key(token), WebSession.ended_at.is_(None))
                .values(ended_at=self.clock.now(), end_reason=reason)
            )

    def end_all(self, username: str, reason: str) -> int:
        """End every live session of a user (a new password, a deactivated account); returns how many."""
        with self.db.unit_of_work() as session:
            live = list(
                session.scalars(
                    select(WebSession.id).where(WebSession.username == username, WebSession.ended_at.is_(None))
                )
            )
            if live:
                session.execute(
                    update(WebSession)
                    .where(WebSession.id.in_(live))
                    .values(ended_at=self.clock.now(), end_reason=reason)
                )
            return len(live)
