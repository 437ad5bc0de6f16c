"""Issue 17: scheduler slots and heartbeats, the cross-process wake-up (PostgreSQL LISTEN/NOTIFY), and backup and
restore by a round trip that compares every table, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from engine.jobs.heartbeat import SchedulerSlots, now_utc, slot_states
from engine.jobs.scheduler import TimerScheduler
from engine.jobs.wakeup import TimerListener
from engine.persistence.backup import BackupError, backup, restore
from engine.persistence.models import Base, SchedulerSlot
from engine.platform import build
from tests import diagrams
from tests.conftest import OWNER, SYSTEM, require_postgres, truncate_all


def every_table(db) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order (the round trip compares these)."""
    content: dict[str, list[tuple]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            content[table.name] = sorted((tuple(str(v) for v in row) for row in rows), key=repr)
    return content


def _some_cases(platform) -> None:
    platform.runtime.deploy(diagrams.timer_process("backup_timer", "PT1H"), OWNER)
    for n in range(3):
        platform.runtime.start_instance("backup_timer", f"bk-{n}", {"n": n, "text": "åäö"}, SYSTEM)


def _round_trip(platform, tmp_path: Path) -> None:
    _some_cases(platform)
    before = every_table(platform.db)
    assert before["process_instances"] and before["timers"] and before["history"]
    file = backup(platform.db.url, tmp_path / "samflode.backup")
    assert file.stat().st_size > 0
    with pytest.raises(BackupError, match="finns redan"):
        backup(platform.db.url, file)  # never overwrites an earlier backup

    # Lose everything after the backup: one more case, and then the tables emptied.
    platform.runtime.start_instance("backup_timer", "after", {"n": 99}, SYSTEM)
    truncate_all(platform.db)
    assert every_table(platform.db)["process_instances"] == []

    platform.db.dispose()
    restore(platform.db.url, file)
    assert every_table(platform.db) == before
    assert platform.db.at_head()


def test_backup_and_restore_round_trip_on_sqlite(platform, tmp_path):
    if platform.db.dialect != "sqlite":
        pytest.skip("the suite's database is PostgreSQL; the SQLite round trip runs in the SQLite suite")
    _round_trip(platform, tmp_path)


@pytest.mark.postgres
def test_backup_and_restore_round_trip_on_postgresql(postgres_platform, tmp_path):
    _round_trip(postgres_platform, tmp_path)


def test_restore_refuses_a_file_that_is_no_backup(platform, tmp_path):
    bad = tmp_path / "not-a-backup"
    bad.write_text("hello")
    url = platform.db.url if platform.db.dialect == "sqlite" else f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(BackupError):
        restore(url, bad)
    with pytest.raises(BackupError, match="finns inte"):
        restore(url, tmp_path / "missing")


def test_exactly_the_configured_number_of_schedulers_hold_a_slot(platform):
    a, b, c = (SchedulerSlots(platform.db, slots=2, interval=0.05, stale=1.0) for _ in range(3))
    assert a.try_claim() == 0
    assert b.try_claim() == 1
    assert c.try_claim() is None  # both slots held by live schedulers: the third stands by
    assert [s.alive for s in slot_states(platform.db, 1.0)] == [True, True]

    # b dies (its heartbeat goes stale): c takes its slot over, and b learns it lost it at its next beat.
    with platform.db.unit_of_work() as session:
        session.execute(
            update(SchedulerSlot).where(SchedulerSlot.slot == 1).values(beat_at=now_utc() - timedelta(seconds=5))
        )
    assert c.try_claim() == 1
    assert b.beat() is False and b.slot is None
    assert a.beat() is True

    a.stop()  # gives its slot back at once
    assert b.try_claim() == 0
    with platform.db.read() as session:
        holders = dict(session.execute(select(SchedulerSlot.slot, SchedulerSlot.holder)).all())
    assert holders == {0: b.holder, 1: c.holder}
    b.stop()
    c.stop()


def test_a_standing_by_scheduler_takes_over_when_the_holder_dies(platform):
    holder = SchedulerSlots(platform.db, slots=1, interval=0.05, stale=0.3)
    assert holder.try_claim() == 0
    waiting = SchedulerSlots(platform.db, slots=1, interval=0.05, stale=0.3)
    got: list[int | None] = []
    stop = threading.Event()
    thread = threading.Thread(target=lambda: got.append(waiting.wait_for_slot(stop)))
    thread.start()
    time.sleep(0.2)
    assert not got  # still standing by: the holder is alive
    holder.beat()
    # The holder stops beating (killed): after `stale` the one standing by takes the slot.
    thread.join(timeout=5)
    stop.set()
    assert got == [0]
    waiting.stop()


@pytest.mark.postgres
def test_a_timer_committed_by_another_process_wakes_the_scheduler_at_once(settings, clock):
    """NOTIFY in the committing transaction (migration 0020's trigger): the listener hears the commit of a timer
    written through a platform with its own engine (as another process would), and not a rolled-back one."""
    url = require_postgres()
    writer = build(replace(settings, database_url=url), clock=clock, migrate=True)
    truncate_all(writer.db)
    writer.runtime.deploy(diagrams.timer_process("wake_timer", "PT1H"), OWNER)
    woken = threading.Event()
    listener = TimerListener(url, woken.set)
    listener.start()
    try:
        assert listener.wait_listening(10)
        with writer.db.engine.begin() as conn:  # a transaction that touches timers but rolls back: no wake-up
            conn.execute(text("UPDATE timers SET due_at = due_at"))
            conn.rollback()
        assert not woken.wait(0.5)
        started = time.monotonic()
        writer.runtime.start_instance("wake_timer", "w-1", {}, SYSTEM)
        assert woken.wait(2), "no wake-up within 2 s of the commit"
        assert time.monotonic() - started < 2
        assert listener.heard >= 1
    finally:
        listener.stop()
        writer.close()


@pytest.mark.postgres
def test_scheduler_with_listener_fires_a_timer_written_elsewhere_without_its_safety_interval(settings):
    """A real-clock scheduler with a 5-minute safety interval fires a 1-second timer written by another platform
    (another engine and connection pool) about a second after it was written: the NOTIFY re-armed it."""
    from engine.domain.clock import SystemClock

    url = require_postgres()
    real = replace(settings, database_url=url, clock="real")
    writer = build(real, clock=SystemClock(), migrate=True)
    truncate_all(writer.db)
    writer.runtime.deploy(diagrams.timer_process("wake_fire", "PT1S"), OWNER)
    reader = build(real, clock=SystemClock(), migrate=False)
    scheduler = TimerScheduler(
        reader.timers, safety_seconds=300, slots=SchedulerSlots(reader.db, 1, interval=0.5), listen_url=url
    )
    scheduler.start()
    try:
        assert scheduler.listener is not None and scheduler.listener.wait_listening(10)
        time.sleep(0.3)  # the first safety round has run and found nothing
        instance_id = writer.runtime.start_instance("wake_fire", "wf-1", {}, SYSTEM)
        deadline = time.monotonic() + 6
        lateness = None
        while lateness is None and time.monotonic() < deadline:
            with writer.db.read() as session:
                lateness = session.execute(
                    text("SELECT data FROM history WHERE kind = 'timer_fired' AND instance_id = :i"),
                    {"i": instance_id},
                ).scalar()
            time.sleep(0.1)
        assert lateness is not None, "the timer did not fire within 5 s of falling due"
        assert float(lateness["lateness_seconds"]) < 1.0
    finally:
        scheduler.shutdown()
        reader.close()
        writer.close()


def test_a_window_fires_each_timer_at_its_moment_and_a_share_only_its_instances(settings):
    """The dense-timer path: one query for the timers due within the horizon, each fired when due (not early, and
    late by no more than a firing); a scheduler holding slot 0 of 2 takes only the even instances."""
    from engine.domain.clock import SystemClock

    real = build(replace(settings, clock="real"), clock=SystemClock(), migrate=False)
    truncate_all(real.db)
    real.runtime.deploy(diagrams.timer_process("window", "PT1S"), OWNER)
    ids = [real.runtime.start_instance("window", f"w{n}", {}, SYSTEM) for n in range(4)]
    time.sleep(0.5)
    fired, held = real.timers.fire_window(timedelta(seconds=2), share=(0, 2))
    assert (fired, held) == (2, 2)
    with real.db.read() as session:
        rows = session.execute(
            text("SELECT instance_id, data FROM history WHERE kind = 'timer_fired' ORDER BY instance_id")
        ).all()
    assert [r[0] for r in rows] == [i for i in ids if i % 2 == 0]
    for _, data in rows:
        lateness = float((data if isinstance(data, dict) else __import__("json").loads(data))["lateness_seconds"])
        assert 0 <= lateness < 0.5
    assert real.timers.fire_window(timedelta(seconds=2)) == (2, 2)  # no share: the rest
    real.close()


def test_a_killed_holder_on_this_host_frees_its_slot_at_once(platform):
    """A scheduler killed with SIGKILL and restarted by systemd does not wait 20 s for its own old slot: the old
    holder's pid is gone, so the slot is free."""
    import os
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    with platform.db.unit_of_work() as session:
        session.add(
            SchedulerSlot(
                slot=0, holder=f"{socket.gethostname()[:60]}:{gone.pid}:dead", started_at=now_utc(), beat_at=now_utc()
            )
        )
    again = SchedulerSlots(platform.db, slots=1)
    assert again.try_claim() == 0
    # A live holder (this very process, another SchedulerSlots) is not touched.
    other = SchedulerSlots(platform.db, slots=1)
    assert other.try_claim() is None
    assert again.holder.split(":")[1] == str(os.getpid())
    again.stop()
