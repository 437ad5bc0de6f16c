"""Scheduler slots and heartbeats (issue 17): exactly the configured number of scheduler processes fire timers.

SAMFLODE_SCHEDULERS (default 1) slots are rows of scheduler_slots. A scheduler process takes a free slot (no holder, or
a holder whose heartbeat is older than `stale`) with one conditional UPDATE, so two processes never hold one slot;
it beats every `interval` seconds while it runs and gives the slot back when it stops. A process that finds no free
slot stands by and tries again at each beat: it takes over when a holder dies (its heartbeat goes stale). /readyz
and /metrics read the heartbeats. The real clock is used, whatever the installation's (simulated) clock says.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.persistence.db import Database
from engine.persistence.models import SchedulerSlot

log = logging.getLogger(__name__)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SlotState:
    slot: int
    holder: str | None
    beat_at: datetime | None
    alive: bool


class SchedulerSlots:
    def __init__(self, db: Database, slots: int = 1, interval: float = 5.0, stale: float = 20.0):
        if slots < 1:
            raise ValueError("SAMFLODE_SCHEDULERS ska vara minst 1")
        self.db = db
        self.slots = slots
        self.interval = interval
        self.stale = timedelta(seconds=stale)
        self.holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.slot: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure_rows(self) -> None:
        with self.db.read() as session:
            have = set(session.scalars(select(SchedulerSlot.slot)))
        for slot in range(self.slots):
            if slot in have:
                continue
            try:
                with self.db.unit_of_work() as session:
                    session.add(SchedulerSlot(slot=slot))
            except IntegrityError:
                pass  # another process made it meanwhile

    def _free_dead_local_holders(self) -> None:
        """A holder on this host whose process is gone (killed, and restarted by the service manager) gives its slot
        up at once instead of after `stale`: the pid in its name is checked."""
        host = socket.gethostname()[:60]
        with self.db.read() as session:
            held = session.execute(select(SchedulerSlot.slot, SchedulerSlot.holder)).all()
        for slot, holder in held:
            if not holder or holder == self.holder:
                continue
            name, _, rest = holder.partition(":")
            pid = rest.partition(":")[0]
            if name != host or not pid.isdigit() or _running(int(pid)):
                continue
            with self.db.unit_of_work() as session:
                session.execute(
                    update(SchedulerSlot)
                    .where(SchedulerSlot.slot == slot, SchedulerSlot.holder == holder)
                    .values(holder=None, beat_at=None, started_at=None)
                    .execution_options(synchronize_session=False)
                )
            log.info("scheduler slot %d: its holder %s is no longer running here; freed", slot, holder)

    def try_claim(self) -> int | None:
        """Take a free slot (or keep ours); returns it, or None when all are held by live schedulers."""
        if self.slot is not None:
            return self.slot if self.beat() else None
        self._ensure_rows()
        self._free_dead_local_holders()
        now = now_utc()
        for slot in range(self.slots):
            with self.db.unit_of_work() as session:
                taken = cast(
                    CursorResult[Any],
                    session.execute(
                        update(SchedulerSlot)
                        .where(
                            SchedulerSlot.slot == slot,
                            or_(
                                SchedulerSlot.holder.is_(None),
                                SchedulerSlot.beat_at.is_(None),
                                SchedulerSlot.beat_at < now - self.stale,
                            ),
                        )
                        .values(holder=self.holder, started_at=now, beat_at=now)
                        .execution_options(synchronize_session=False)
                    ),
                ).rowcount
            if taken:
                self.slot = slot
                log.info("scheduler %s holds slot %d of %d", self.holder, slot + 1, self.slots)
                return slot
        return None

    def beat(self) -> bool:
        """Renew our heartbeat; False (and the slot is lost) when another process took it over meanwhile."""
        if self.slot is None:
            return False
        with self.db.unit_of_work() as session:
            kept = cast(
                CursorResult[Any],
                session.execute(
                    update(SchedulerSlot)
                    .where(SchedulerSlot.slot == self.slot, SchedulerSlot.holder == self.holder)
                    .values(beat_at=now_utc())
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
        if not kept:
            log.warning("scheduler %s lost slot %d", self.holder, self.slot)
            self.slot = None
        return bool(kept)

    def release(self) -> None:
        if self.slot is None:
            return
        with self.db.unit_of_work() as session:
            session.execute(
                update(SchedulerSlot)
                .where(SchedulerSlot.slot == self.slot, SchedulerSlot.holder == self.holder)
                .values(holder=None, beat_at=None, started_at=None)
                .execution_options(synchronize_session=False)
            )
        self.slot = None

    def wait_for_slot(self, stop: threading.Event | None = None) -> int | None:
        """Block until a slot is ours (standing by meanwhile); None if `stop` is set first."""
        stop = stop or self._stop
        announced = False
        while not stop.is_set():
            slot = self.try_claim()
            if slot is not None:
                return slot
            if not announced:
                log.info("all %d scheduler slots are held; %s stands by", self.slots, self.holder)
                announced = True
            stop.wait(self.interval)
        return None

    def keep_beating(self, on_lost: threading.Event | None = None) -> None:
        """A daemon thread renewing the heartbeat every `interval`; sets `on_lost` if the slot is lost."""

        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    if not self.beat():
                        if on_lost is not None:
                            on_lost.set()
                        return
                except Exception:  # noqa: BLE001 - the database is away for a moment: beat again next time
                    log.exception("scheduler heartbeat failed")

        self._thread = threading.Thread(target=run, name="samflode-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.release()
        except Exception:  # noqa: BLE001
            log.exception("scheduler slot could not be released")


def slot_states(db: Database, stale: float = 20.0) -> list[SlotState]:
    """Every slot with its holder and whether its heartbeat is recent (for /readyz and /metrics)."""
    limit = now_utc() - timedelta(seconds=stale)
    with db.read() as session:
        rows = session.execute(select(SchedulerSlot).order_by(SchedulerSlot.slot)).scalars().all()
        return [
            SlotState(r.slot, r.holder, r.beat_at, bool(r.holder and r.beat_at is not None and r.beat_at >= limit))
            for r in rows
        ]
