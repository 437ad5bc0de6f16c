"""Two schedulers on PostgreSQL: the instance row lock with SKIP LOCKED means no timer ever fires twice, whether two
loops race in one process (separate engines and connections) or a scheduler process is killed with SIGKILL in the
middle of a batch and started again. Counted from the history: one `timer_fired` row per timer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.domain.clock import SimulatedClock, SystemClock
from engine.jobs.scheduler import TimerLoop
from engine.persistence.models import HistoryEntry, Timer
from engine.platform import build
from tests import diagrams
from tests.conftest import FIXTURES, OWNER, SYSTEM, require_postgres, truncate_all

pytestmark = pytest.mark.postgres
SAMFLODE = Path(sys.executable).with_name("samflode")


def parallel_timers(process_id: str, count: int) -> str:
    """start -> parallel split -> `count` timers whose durations come from the data (t0, t1, ...) -> join -> end."""
    timers = "".join(
        f'<bpmn:intermediateCatchEvent id="t{i}"><bpmn:timerEventDefinition>'
        f"<bpmn:timeDuration>t{i}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
        f'<bpmn:sequenceFlow id="a{i}" sourceRef="split" targetRef="t{i}" />\n'
        f'<bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="join" />\n'
        for i in range(count)
    )
    return diagrams.linear(
        process_id,
        f"""
  <bpmn:startEvent id="start" />
  <bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" />
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
  <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="end" />
{timers}""",
    )


def fired_per_timer(platform) -> Counter:
    with platform.db.read() as session:
        return Counter(
            (r[0], r[1])
            for r in session.execute(
                select(HistoryEntry.instance_id, HistoryEntry.task_id).where(HistoryEntry.kind == "timer_fired")
            )
        )


def timers_left(platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(Timer)) or 0


@pytest.fixture
def pg(settings):
    url = require_postgres()
    p = build(replace(settings, database_url=url), clock=SimulatedClock(), migrate=True)
    truncate_all(p.db)
    yield p
    p.close()


def test_two_schedulers_racing_never_fire_a_timer_twice(pg):
    pg.runtime.deploy(parallel_timers("tre", 3), OWNER)
    instances, per_instance = 120, 3
    for n in range(instances):
        data = {f"t{i}": f"PT{1 + (n + i * 7) % 30}M" for i in range(per_instance)}
        pg.runtime.start_instance("tre", f"bk-{n}", data, SYSTEM)
    assert timers_left(pg) == instances * per_instance
    pg.clock.advance(timedelta(hours=1))
    # A second "process": its own engine, connections, runtime and loop, on the same database and time.
    other = build(pg.settings, clock=pg.clock, migrate=False)
    try:
        loops = [TimerLoop(pg.runtime, batch=50), TimerLoop(other.runtime, batch=50)]
        barrier = threading.Barrier(2)
        results = []

        def run(loop: TimerLoop) -> None:
            barrier.wait()
            results.append(loop.run_due())

        threads = [threading.Thread(target=run, args=(loop,)) for loop in loops]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        other.close()
    counts = fired_per_timer(pg)
    assert len(counts) == instances * per_instance
    assert set(counts.values()) == {1}, [k for k, v in counts.items() if v > 1]
    assert timers_left(pg) == 0
    assert all(r.fired > 0 for r in results), results  # both really took part


def test_sigkill_mid_batch_then_restart_fires_every_timer_exactly_once(pg):
    """A real `samflode scheduler` process, killed with SIGKILL while it fires a backlog, then started again."""
    count = 600
    an_hour_ago = SimulatedClock(SystemClock().now() - timedelta(hours=1))
    past = build(pg.settings, clock=an_hour_ago, migrate=False)
    try:
        past.runtime.deploy(diagrams.timer_process("vanta", "vantetid"), OWNER)
        for n in range(count):
            past.runtime.start_instance("vanta", f"bk-{n}", {"vantetid": f"PT{1 + n % 50}S"}, SYSTEM)
    finally:
        past.close()
    env = {
        **os.environ,
        "DATABASE_URL": pg.settings.database_url,
        "SAMFLODE_CLOCK": "real",
        "SAMFLODE_PROCESSES_DIR": str(FIXTURES / "catalog"),
        "SAMFLODE_SCHEDULER_SAFETY_SECONDS": "1",
    }

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [str(SAMFLODE), "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    first = start()
    try:
        give_up = time.monotonic() + 60
        while sum(fired_per_timer(pg).values()) < 50 and time.monotonic() < give_up:
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    after_kill = fired_per_timer(pg)
    assert 50 <= sum(after_kill.values()) < count, "the kill should land in the middle of the batch"
    second = start()
    try:
        give_up = time.monotonic() + 90
        while timers_left(pg) and time.monotonic() < give_up:
            time.sleep(0.05)
    finally:
        second.kill()
        second.wait(timeout=10)
    counts = fired_per_timer(pg)
    assert timers_left(pg) == 0
    assert len(counts) == count and set(counts.values()) == {1}
