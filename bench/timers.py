"""Timer benchmark: N timers falling due spread evenly over one minute across M instances, fired by real
`samflode scheduler` processes with the real clock. Prints figures; not a timed test.

    .venv/bin/python bench/timers.py                                   # SQLite, one scheduler process
    .venv/bin/python bench/timers.py --schedulers 2                    # two processes: double firings must be 0
    .venv/bin/python bench/timers.py --database postgresql://postgres@127.0.0.1/samflode_bench

Each instance waits on 10 parallel timeDate timers whose dates come from its data; timer j (0..N-1) is due at
T0 + j * 60 s / N and belongs to instance j mod M, so every instance has a timer every 6 s. The instances are made
before T0 with no scheduler running; then the scheduler processes start and we wait until every timer has fired.
Lateness is `timer_fired.at - due_at` as the history records it (the scheduler's clock).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from subprocess import DEVNULL

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import Settings  # noqa: E402
from engine.domain.actors import Actor  # noqa: E402
from engine.domain.clock import SystemClock  # noqa: E402
from engine.persistence.models import HistoryEntry, Timer  # noqa: E402
from engine.platform import build  # noqa: E402
from tests.conftest import truncate_all  # noqa: E402

OWNER = Actor("agnes", frozenset({"process_owner"}))
SYSTEM = Actor("journal", frozenset({"system"}))
PER_INSTANCE = 10


def diagram(count: int) -> str:
    timers = "".join(
        f'<bpmn:intermediateCatchEvent id="t{i}"><bpmn:timerEventDefinition>'
        f"<bpmn:timeDate>t{i}</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        f'<bpmn:sequenceFlow id="a{i}" sourceRef="split" targetRef="t{i}" />'
        f'<bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="join" />'
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
        '<bpmn:process id="bench_timers" isExecutable="true">'
        '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" />'
        '<bpmn:endEvent id="end" /><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />'
        f'<bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="end" />{timers}'
        "</bpmn:process></bpmn:definitions>"
    )


def cpu_time(pid: int) -> float:
    """User + system CPU seconds so far of a running process's own threads (Linux /proc; 0 elsewhere): what this
    bench reported before `reap`, printed beside it as a check that nothing of the scheduler runs elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reap(proc: subprocess.Popen[bytes]) -> float:
    """Kill a scheduler process and return the CPU seconds it used, from the kernel's own account of it (wait4's
    rusage: every thread, and every descendant it reaped), so that no process of the scheduler is left out."""
    proc.kill()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(database: str, timers: int, instances: int, spread_seconds: float, schedulers: int) -> dict[str, float]:
    settings = Settings(database_url=database, clock="real", scheduler=False, processes_dir=ROOT / "processes")
    clock = SystemClock()
    p = build(settings.checked(), clock=clock)
    truncate_all(p.db)
    p.runtime.deploy(diagram(PER_INSTANCE), OWNER)
    assert timers == instances * PER_INSTANCE, "each instance has 10 timers"

    # Estimate how long making the instances takes, so that T0 falls after the set-up.
    t = time.perf_counter()
    far = clock.now() + timedelta(days=1)
    for n in range(10):
        p.runtime.start_instance("bench_timers", f"pilot-{n}", {f"t{i}": far.isoformat() for i in range(10)}, SYSTEM)
    per_start = (time.perf_counter() - t) / 10
    truncate_all(p.db)
    p.runtime.deploy(diagram(PER_INSTANCE), OWNER)
    t0 = clock.now() + timedelta(seconds=per_start * instances * 1.5 + 5)
    step = spread_seconds / timers
    made = time.perf_counter()
    for n in range(instances):
        dates = {f"t{k}": (t0 + timedelta(seconds=(k * instances + n) * step)).isoformat() for k in range(10)}
        p.runtime.start_instance("bench_timers", f"bk-{n}", dates, SYSTEM)
    made = time.perf_counter() - made
    slack = (t0 - clock.now()).total_seconds()
    print(f"  {instances} instances made in {made:.1f} s; first timer due in {slack:.1f} s", flush=True)

    env = {
        **os.environ,
        "DATABASE_URL": database,
        "SAMFLODE_CLOCK": "real",
        "SAMFLODE_SCHEDULER_SAFETY_SECONDS": "30",
        "SAMFLODE_SCHEDULERS": str(schedulers),  # every process started here holds a slot
        "SAMFLODE_PROCESSES_DIR": str(ROOT / "processes"),
    }
    samflode = Path(sys.executable).with_name("samflode")
    procs = [
        subprocess.Popen([str(samflode), "scheduler"], env=env, stdout=DEVNULL, stderr=DEVNULL, cwd=ROOT)
        for _ in range(schedulers)
    ]
    try:
        deadline = t0 + timedelta(seconds=spread_seconds + 300)
        while clock.now() < deadline:
            with p.db.read() as session:
                left = session.scalar(select(func.count()).select_from(Timer))
            if not left and clock.now() > t0:
                break
            time.sleep(0.2)
    finally:
        own_cpu_seconds = sum(cpu_time(proc.pid) for proc in procs)
        cpu_seconds = sum(reap(proc) for proc in procs)
    with p.db.read() as session:
        rows = session.execute(
            select(HistoryEntry.instance_id, HistoryEntry.task_id, HistoryEntry.at, HistoryEntry.data).where(
                HistoryEntry.kind == "timer_fired"
            )
        ).all()
        left = session.scalar(select(func.count()).select_from(Timer)) or 0
    per_timer = Counter((r[0], r[1]) for r in rows)
    lateness = [float(r[3]["lateness_seconds"]) for r in rows]
    last_at = max(r[2] for r in rows)
    p.close()
    return {
        "fired": len(rows),
        "distinct": len(per_timer),
        "double": sum(v - 1 for v in per_timer.values() if v > 1),
        "left": left,
        "p50": statistics.median(lateness),
        "p99": percentile(lateness, 99),
        "max": max(lateness),
        "all_fired_after_first_due": (last_at - t0).total_seconds(),
        "after_last_due": (last_at - (t0 + timedelta(seconds=spread_seconds))).total_seconds(),
        # Firings per second from the first due moment to the last firing: the offered rate when the schedulers
        # keep up, their capacity when they fall behind (then `after_last_due` grows).
        "rate": len(rows) / max(spread_seconds, (last_at - t0).total_seconds()),
        "offered": timers / spread_seconds,
        # On a shared machine the wall-clock rate says little: firings per CPU-second of the scheduler processes is
        # what one idle core would do (the database's own CPU not included on PostgreSQL).
        "cpu_seconds": cpu_seconds,
        "own_cpu_seconds": own_cpu_seconds,
        "per_cpu_second": len(rows) / cpu_seconds if cpu_seconds else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=f"sqlite:///{ROOT / 'instance' / 'bench_timers.db'}")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the timers fall due")
    parser.add_argument("--schedulers", type=int, default=1, help="scheduler processes")
    args = parser.parse_args()
    if args.database.startswith("sqlite:///"):
        path = Path(args.database.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        from engine.persistence.db import Database

        db = Database(args.database)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    kind = args.database.split(":", 1)[0]
    print(
        f"{kind}: {args.timers} timers over {args.spread:.0f} s, {args.instances} instances, "
        f"{args.schedulers} scheduler process(es)",
        flush=True,
    )
    r = run(args.database, args.timers, args.instances, args.spread, args.schedulers)
    print(
        f"  {r['rate']:.0f} firings/s (offered {r['offered']:.0f}/s); {r['per_cpu_second']:.0f} firings per CPU-second "
        f"of the schedulers ({r['cpu_seconds']:.1f} CPU-s; their own threads read from /proc "
        f"{r['own_cpu_seconds']:.1f} CPU-s)\n"
        f"  fired {r['fired']} ({r['distinct']} distinct, {r['double']} double firings, {r['left']} left)\n"
        f"  lateness p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms, max {r['max'] * 1000:.0f} ms\n"
        f"  all fired {r['all_fired_after_first_due']:.1f} s after the first due time "
        f"({r['after_last_due']:+.2f} s after the last)"
    )


if __name__ == "__main__":
    main()
