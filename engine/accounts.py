"""Sign-in with username and password: argon2 hashes, slow-down and lock-out after repeated failures.

The web layer only asks `authenticate(username, password)` for an Actor; an identity provider (OIDC/SAML with SITHS)
can later produce the same Actor by username without this module (docs/authentication.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from engine.directory import Actor, Directory
from engine.domain.clock import Clock
from engine.domain.errors import BadRequest, NotAuthenticated, NotFound, SamflodeError
from engine.persistence.db import Database
from engine.persistence.models import AuditEntry, SignInState, User

MIN_PASSWORD_LENGTH = 10
# A hash to verify against when the user does not exist, so that answering takes as long either way.
_DUMMY_PASSWORD = "samflode-ingen-sådan-användare"


class LockedOut(SamflodeError):
    code = "locked_out"
    status = 429


@dataclass(frozen=True)
class LockoutPolicy:
    """After `free_failures` failures in a row, each further failure locks the account for a doubling time, from
    `first_lock` up to `max_lock`; a successful sign-in resets the count."""

    free_failures: int = 5
    first_lock: timedelta = timedelta(minutes=1)
    max_lock: timedelta = timedelta(minutes=30)

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.free_failures:
            return None
        seconds = self.first_lock.total_seconds() * 2 ** (failures - self.free_failures)
        return timedelta(seconds=min(seconds, self.max_lock.total_seconds()))


class Accounts:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        directory: Directory,
        hasher: PasswordHasher | None = None,
        lockout: LockoutPolicy | None = None,
    ):
        self.db = db
        self.clock = clock
        self.directory = directory
        self.hasher = hasher or PasswordHasher()
        self.lockout = lockout or LockoutPolicy()
        self._dummy_hash: str | None = None

    def hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise BadRequest(f"Lösenordet måste ha minst {MIN_PASSWORD_LENGTH} tecken")
        return self.hasher.hash(password)

    def set_password(self, username: str, password: str) -> None:
        hashed = self.hash_password(password)
        with self.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"Användaren {username!r} finns inte")
            user.password_hash = hashed
            session.add(
                AuditEntry(
                    at=self.clock.now(),
                    actor=username,
                    action="password_set",
                    target_type="user",
                    target_id=username,
                    details={},
                )
            )

    def _verify(self, stored: str | None, password: str) -> bool:
        if not stored:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)
            stored = self._dummy_hash
            password = password + "x" if password == _DUMMY_PASSWORD else password
            with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
                self.hasher.verify(stored, password)
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def authenticate(self, username: str, password: str) -> Actor:
        """The actor, or NotAuthenticated (wrong name or password, same message either way) or LockedOut."""
        username = (username or "").strip()[:100]
        now = self.clock.now()
        with self.db.read() as session:
            state = session.get(SignInState, username)
            locked_until = state.locked_until if state is not None else None
            user = session.scalar(select(User).where(User.username == username))
            stored = user.password_hash if user is not None and user.active else None
            user_id = user.id if user is not None else None
        if locked_until is not None and locked_until > now:
            raise LockedOut(
                "För många misslyckade inloggningar. Försök igen om "
                f"{max(1, int((locked_until - now).total_seconds() // 60) + 1)} minuter.",
                {"locked_until": locked_until.isoformat()},
            )
        ok = self._verify(stored, password)
        with self.db.unit_of_work() as session:
            state = session.get(SignInState, username, with_for_update=True)
            if ok:
                if state is not None:
                    state.failures, state.locked_until = 0, None
                if user_id is not None and stored and self.hasher.check_needs_rehash(stored):
                    row = session.get(User, user_id)
                    if row is not None:
                        row.password_hash = self.hasher.hash(password)
                session.add(
                    AuditEntry(at=now, actor=username, action="signed_in", target_type="user", target_id=username)
                )
            else:
                if state is None:
                    state = SignInState(username=username, failures=0)
                    session.add(state)
                state.failures = (state.failures or 0) + 1
                state.last_failure_at = now
                lock = self.lockout.lock_for(state.failures)
                state.locked_until = now + lock if lock else None
                session.add(
                    AuditEntry(
                        at=now,
                        actor=username,
                        action="sign_in_failed",
                        target_type="user",
                        target_id=username,
                        details={"failures": state.failures},
                    )
                )
        if not ok:
            raise NotAuthenticated("Fel användarnamn eller lösenord")
        return self.directory.actor(username)

    def signed_out(self, username: str) -> None:
        with self.db.unit_of_work() as session:
            session.add(
                AuditEntry(
                    at=self.clock.now(), actor=username, action="signed_out", target_type="user", target_id=username
                )
            )
