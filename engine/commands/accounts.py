"""Sign-in with username and password: argon2 hashes, slow-down and lock-out after repeated failures.

The web layer only asks `authenticate(username, password)` for an Actor; an identity provider (OIDC/SAML with SITHS)
can later produce the same Actor by username without this module (docs/authentication.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.commands.directory import Directory
from engine.commands.sessions import WebSessions
from engine.domain.actors import Actor
from engine.domain.clock import Clock
from engine.domain.errors import BadRequest, NotAuthenticated, NotFound, SamflodeError
from engine.domain.text import DEFAULT_LANGUAGE, LANGUAGE_CODES, Text
from engine.persistence.db import Database
from engine.persistence.models import AuditEntry, SignInState, User

MIN_PASSWORD_LENGTH = 10
ADDRESS_PREFIX = "@"  # sign_in_state rows of an address; a username never starts with @ (engine/domain/organisation.py)
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
        address_lockout: LockoutPolicy | None = None,
        sessions: WebSessions | None = None,
    ):
        self.db = db
        self.clock = clock
        self.directory = directory
        self.hasher = hasher or PasswordHasher()
        self.lockout = lockout or LockoutPolicy()
        # One address may try more names than one name is tried (a shared ward computer), but not without end.
        self.address_lockout = address_lockout or LockoutPolicy(free_failures=20)
        self.sessions = sessions or WebSessions(db, clock)
        self._dummy_hash: str | None = None

    def hash_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise BadRequest(
                Text(
                    "Lösenordet måste ha minst %(min_password_length)s tecken", min_password_length=MIN_PASSWORD_LENGTH
                )
            )
        return self.hasher.hash(password)

    def set_password(self, username: str, password: str) -> None:
        """A new password; every signed-in session of the user ends with the old one."""
        hashed = self.hash_password(password)
        with self.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(Text("Användaren %(username)r finns inte", username=username))
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
        self.sessions.end_all(username, "password")

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

    def _reserve(self, username: str, address: str | None, now: datetime) -> None:
        """Count this attempt as a failure before the password is checked, under the rows' lock, so that parallel
        attempts cannot all read "not locked" first: the account's count and, when known, the address's. Raises
        LockedOut (and counts nothing) while either is locked."""
        keys = {username: self.lockout}
        if address:
            keys[ADDRESS_PREFIX + address[:90]] = self.address_lockout
        with self.db.unit_of_work() as session:
            insert = sqlite_insert if self.db.dialect == "sqlite" else pg_insert
            for key in keys:
                session.execute(insert(SignInState).values(username=key, failures=0).on_conflict_do_nothing())
            rows = list(
                session.scalars(
                    select(SignInState)
                    .where(SignInState.username.in_(sorted(keys)))
                    .order_by(SignInState.username)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            )
            locked = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
            if locked:
                until = max(locked)
                raise LockedOut(
                    Text(
                        "För många misslyckade inloggningar. Försök igen om %(minutes)s minuter.",
                        minutes=max(1, int((until - now).total_seconds() // 60) + 1),
                    ),
                    {"locked_until": until.isoformat()},
                )
            for row in rows:
                row.failures = (row.failures or 0) + 1
                row.last_failure_at = now
                lock = keys[row.username].lock_for(row.failures)
                row.locked_until = now + lock if lock else None

    def authenticate(self, username: str, password: str, address: str | None = None) -> Actor:
        """The actor, or NotAuthenticated (wrong name or password, same message either way) or LockedOut. The
        attempt counts against the account and the address (`address`, the client's IP) before the password is
        checked; a right password takes it back."""
        username = (username or "").strip()[:100]
        now = self.clock.now()
        self._reserve(username, address, now)
        with self.db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
            stored = user.password_hash if user is not None and user.active else None
            user_id = user.id if user is not None else None
        ok = self._verify(stored, password)
        with self.db.unit_of_work() as session:
            if ok:
                state = session.get(SignInState, username, with_for_update=True)
                if state is not None:
                    state.failures, state.locked_until = 0, None
                if address:
                    by_address = session.get(SignInState, ADDRESS_PREFIX + address[:90], with_for_update=True)
                    if by_address is not None:
                        by_address.failures = max(0, (by_address.failures or 0) - 1)
                        lock = self.address_lockout.lock_for(by_address.failures)
                        by_address.locked_until = now + lock if lock else None
                if user_id is not None and stored and self.hasher.check_needs_rehash(stored):
                    row = session.get(User, user_id)
                    if row is not None:
                        row.password_hash = self.hasher.hash(password)
                session.add(
                    AuditEntry(at=now, actor=username, action="signed_in", target_type="user", target_id=username)
                )
            else:
                state = session.get(SignInState, username)
                session.add(
                    AuditEntry(
                        at=now,
                        actor=username,
                        action="sign_in_failed",
                        target_type="user",
                        target_id=username,
                        details={"failures": state.failures if state is not None else None, "address": address},
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

    def set_language(self, username: str, language: str) -> bool:
        """The language the user chose for the pages, kept for the next sign-in and for what reaches the user outside
        a page (the notices' e-mail). False when there is no such user or the language is not one Samflöde speaks."""
        if language not in LANGUAGE_CODES:
            return False
        with self.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                return False
            if user.language != language:
                user.language = language
        return True

    def language(self, username: str) -> str:
        """The user's chosen language; Swedish for a user who never chose or does not exist."""
        with self.db.read() as session:
            found = session.scalar(select(User.language).where(User.username == username))
        return found if found in LANGUAGE_CODES else DEFAULT_LANGUAGE
