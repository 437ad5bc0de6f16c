"""The real clock and the real APScheduler: the one place where tests wait for wall time, because the thing under
test is that the scheduler wakes at the due moment itself (not on a polling interval)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.domain.clock import SystemClock
from engine.jobs.scheduler import TimerScheduler
from engine.persistence.models import HistoryEntry
from engine.platform import build
from tests import diagrams
from tests.conftest import OWNER, SYSTEM, truncate_all


@pytest.fixture
def real(settings):
    p = build(replace(settings, clock="real"), clock=SystemClock(), migrate=False)
    truncate_all(p.db)
    yield p
    p.close()


def wait_for_fired(platform, count: int, timeout_seconds: float) -> list[tuple[int, int, datetime, dict]]:
    """(id, instance_id, at, data) of the timer_fired history rows, once there are `count` of them."""
    give_up = time.monotonic() + timeout_seconds
    while time.monotonic() < give_up:
        with platform.db.read() as session:
            rows = session.execute(
                select(HistoryEntry.id, HistoryEntry.instance_id, HistoryEntry.at, HistoryEntry.data)
                .where(HistoryEntry.kind == "timer_fired")
                .order_by(HistoryEntry.id)
            ).all()
        if len(rows) >= count:
            return rows
        time.sleep(0.02)
    raise AssertionError(f"{count} timers did not fire within {timeout_seconds} s")


def test_scheduler_fires_a_timer_due_in_two_seconds_on_time(real):
    real.runtime.deploy(diagrams.timer_process("snart", "PT2S"), OWNER)
    scheduler = TimerScheduler(real.timers, safety_seconds=30)  # the safety interval cannot be what wakes it
    scheduler.start()
    try:
        iid = real.runtime.start_instance("snart", "bk", {}, SYSTEM)  # written after start: the job is re-armed
        [(_, instance_id, at, data)] = wait_for_fired(real, 1, timeout_seconds=10)
    finally:
        scheduler.shutdown()
    assert instance_id == iid
    assert 0 <= data["lateness_seconds"] < 0.3, data
    assert (at - datetime.fromisoformat(data["due_at"])).total_seconds() < 0.3


def test_scheduler_catches_up_on_start_in_due_order(real):
    """Timers that fell due while no scheduler ran fire as soon as it starts, soonest first, lateness recorded."""
    from engine.domain.clock import SimulatedClock

    an_hour_ago = SimulatedClock(SystemClock().now() - timedelta(hours=1))
    past = build(real.settings, clock=an_hour_ago, migrate=False)  # the same database, as it was an hour ago
    try:
        past.runtime.deploy(diagrams.timer_process("vanta", "vantetid"), OWNER)
        for minutes in (3, 1, 2):
            past.runtime.start_instance("vanta", f"bk-{minutes}", {"vantetid": f"PT{minutes}M"}, SYSTEM)
    finally:
        past.close()
    scheduler = TimerScheduler(real.timers, safety_seconds=30)
    scheduler.start()
    try:
        rows = wait_for_fired(real, 3, timeout_seconds=10)
    finally:
        scheduler.shutdown()
    dues = [datetime.fromisoformat(data["due_at"]) for _, _, _, data in rows]
    assert dues == sorted(dues)
    assert all(data["lateness_seconds"] > 55 * 60 for _, _, _, data in rows)
