"""Engine benchmark: what one task completion costs, from raw SpiffWorkflow to our full service layer.

On a generated process of 60 user tasks over 5 lanes, in one run:
  (1) raw SpiffWorkflow in memory, per task step (the floor);
  (2) raw SpiffWorkflow with a full JSON deserialize + serialize around every step (naive persistence);
  (3) our service layer per task completion (load, lock, step, save, task index, history, facts, commit) with the
      workflow cached in memory from the previous step (warm), on SQLite and on PostgreSQL (when BENCH_POSTGRES_URL or
      TEST_POSTGRES_URL is set, or the local server answers);
  (4) the same with the flow cache emptied just before (cold: the workflow restored from the database), every fifth
      step of each instance;
each as median and p95 for tasks 1-10 and 51-60, plus instances started per second (median of four rounds, every
round printed, no best-of) and bytes stored per instance.

Usage: .venv/bin/python bench/engine.py [--instances N] [--clock wall|cpu]

--clock cpu times this process's CPU (time.process_time) instead of the wall clock: on a machine shared with other
busy processes the wall clock charges the longer steps with the time slices of others (a 20 ms step is preempted
far more often than a 0.3 ms one), which skews the ratios; CPU time does not, but it leaves out the PostgreSQL
server's own work (SQLite runs in this process, so its rows are whole).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.domain.actors import Actor  # noqa: E402
from engine.domain.clock import SimulatedClock  # noqa: E402
from engine.persistence.db import Database  # noqa: E402
from engine.persistence.models import Base, ProcessInstance, TaskIndex  # noqa: E402
from engine.platform import Platform, build  # noqa: E402

TASKS = 60
CLOCK = time.perf_counter  # --clock cpu: time.process_time
LANES = ["Slutenvård", "Region primärvård", "Kommun hemsjukvård", "Kommun socialtjänst", "Den enskilde"]
ADMIN = Actor("bench", frozenset({"admin"}), internal=True)  # drives the cases: need to know is not measured


def generate_process(tasks: int = TASKS) -> str:
    ids = [f"uppgift_{i:02d}" for i in range(1, tasks + 1)]
    lanes = "".join(
        f'<bpmn:lane id="lane_{n}" name="{name}">'
        + "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for i, t in enumerate(ids) if i % len(LANES) == n)
        + "</bpmn:lane>"
        for n, name in enumerate(LANES)
    )
    nodes = "".join(f'<bpmn:userTask id="{t}" name="Uppgift {i + 1}" />' for i, t in enumerate(ids))
    chain = ["start", *ids, "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />'
        for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
        f'<bpmn:process id="bench60" isExecutable="true"><bpmn:laneSet id="ls">{lanes}</bpmn:laneSet>'
        f'<bpmn:startEvent id="start" />{nodes}<bpmn:endEvent id="end" />{flows}</bpmn:process></bpmn:definitions>'
    )


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):7.3f} ms  p95 {p95:7.3f} ms"


def per_position(times: list[list[float | None]] | list[list[float]]) -> tuple[list[float], list[float]]:
    """Samples of tasks 1-10 and 51-60 over all instances (positions not sampled in a run are None)."""
    first = [t for run in times for t in run[:10] if t is not None]
    last = [t for run in times for t in run[-10:] if t is not None]
    return first, last


def raw_spiff(xml: str, instances: int, persist: bool) -> tuple[list[list[float]], int]:
    parser = BpmnParser()
    parser.add_bpmn_str(xml.encode())
    spec = parser.get_spec("bench60")
    serializer = BpmnWorkflowSerializer()
    runs = []
    size = 0
    for _ in range(instances):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        state = serializer.serialize_json(wf) if persist else None
        times = []
        for _ in range(TASKS):
            t0 = CLOCK()
            if persist:
                wf = serializer.deserialize_json(state)
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data["svar"] = "ja"
            task.run()
            wf.do_engine_steps()
            if persist:
                state = serializer.serialize_json(wf)
            times.append(CLOCK() - t0)
        assert wf.completed
        runs.append(times)
        size = len(state) if state else 0
    return runs, size


def _next_task(platform: Platform, instance_id: int) -> str:
    """The instance's open task, from the task index (outside the timed completion)."""
    with platform.db.read() as session:
        return session.scalars(select(TaskIndex.id).where(TaskIndex.instance_id == instance_id)).one()


def _start_rate(platform: Platform, prefix: str, count: int, rounds: int) -> tuple[float, list[float]]:
    """Instances started and run to their first task, per second: the median of `rounds` rounds of `count` starts
    each (every round reported; no best-of)."""
    rates = []
    for r in range(rounds):
        t0 = CLOCK()
        for i in range(count):
            platform.runtime.start_instance("bench60", f"{prefix}-{r}-{i}", {"n": i}, ADMIN)
        rates.append(count / (CLOCK() - t0))
    return statistics.median(rates), rates


def service_layer(url: str, xml: str, instances: int) -> dict[str, object]:
    settings = Settings(database_url=url, scheduler=False, processes_dir=Path(tempfile.mkdtemp())).checked()
    platform = build(settings, clock=SimulatedClock())
    with platform.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))
    platform.runtime.deploy(xml, ADMIN)
    # starts on a fresh engine (the first round pays for the spec cache), then warm
    start_median, start_rounds = _start_rate(platform, "bk", max(1, instances // 4), 4)
    with platform.db.read() as session:
        ids = list(session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)).all())
    warm: list[list[float | None]] = []
    cold: list[list[float | None]] = []
    for iid in ids:
        times: list[float | None] = []
        colds: list[float | None] = []
        for step in range(TASKS):
            task_id = _next_task(platform, iid)
            # every instance is completed warm (its workflow cached from the previous step), except every fifth
            # step, which is completed cold: the flow cache emptied, the workflow restored from the database
            is_cold = step % 5 == 2
            if is_cold:
                platform.runtime.forget_cached_flows()
            t0 = CLOCK()
            platform.runtime.complete_task(task_id, {"svar": "ja"}, ADMIN)
            elapsed = CLOCK() - t0
            times.append(None if is_cold else elapsed)
            colds.append(elapsed if is_cold else None)
        warm.append(times)
        cold.append(colds)
    with platform.db.read() as session:
        stored = session.scalar(select(func.avg(func.length(ProcessInstance.state))))
        done = session.scalar(select(func.count()).where(ProcessInstance.status == "completed"))
        assert done == len(ids), (done, len(ids))
    burst_median, burst_rounds = _start_rate(platform, "burst", max(25, instances), 4)
    platform.close()
    return {
        "runs": warm,
        "cold": cold,
        "start_median": start_median,
        "start_rounds": start_rounds,
        "burst_median": burst_median,
        "burst_rounds": burst_rounds,
        "state_bytes": stored,
    }


def postgres_url() -> str | None:
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url
    candidate = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        db = Database(candidate)
        with db.engine.connect() as conn:
            conn.execute(text("select 1"))
        db.dispose()
        return candidate
    except Exception:  # noqa: BLE001 - no server: skip that row
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    xml = generate_process()
    print(f"process: {TASKS} user tasks over {len(LANES)} lanes; {args.instances} instances each; times per task step")
    results: dict[str, tuple[list[float], list[float]]] = {}
    raw, _ = raw_spiff(xml, args.instances, persist=False)
    results["(1) raw SpiffWorkflow, in memory"] = per_position(raw)
    naive, naive_bytes = raw_spiff(xml, args.instances, persist=True)
    results["(2) raw SpiffWorkflow + JSON round trip"] = per_position(naive)
    extra: dict[str, dict[str, object]] = {}
    runs: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs.append(("SQLite", f"sqlite:///{tmp}/bench.db"))
        pg = postgres_url()
        if pg:
            runs.append(("PostgreSQL", pg))
        for name, url in runs:
            data = service_layer(url, xml, args.instances)
            results[f"(3) Samflöde service layer, {name}, warm (flow cached)"] = per_position(data["runs"])  # type: ignore[arg-type]
            results[f"(4) Samflöde service layer, {name}, cold (flow cache emptied)"] = per_position(data["cold"])  # type: ignore[arg-type]
            extra[name] = data
    for name, (first, last) in results.items():
        print(f"{name}")
        print(f"    tasks  1-10: {stats(first)}")
        print(f"    tasks 51-60: {stats(last)}")
    floor = statistics.median(
        results["(1) raw SpiffWorkflow, in memory"][0] + results["(1) raw SpiffWorkflow, in memory"][1]
    )
    naive_med = statistics.median(
        results["(2) raw SpiffWorkflow + JSON round trip"][0] + results["(2) raw SpiffWorkflow + JSON round trip"][1]
    )
    print("ratios of medians over tasks 1-10 and 51-60 (same run); flat = median of 51-60 / median of 1-10:")
    for name, (first, last) in results.items():
        med = statistics.median(first + last)
        flat = statistics.median(last) / statistics.median(first)
        print(f"    {name}: {med / floor:6.1f}x (1), {med / naive_med:5.2f}x (2), flat {flat:4.2f}")
    print(f"bytes per instance: naive JSON with spec {naive_bytes}; ours (state only, spec stored once):", end="")
    for name, data in extra.items():
        print(f" {name} {int(float(data['state_bytes'] or 0))}", end="")
    print()
    for name, data in extra.items():
        for key, label in (("start", "fresh engine"), ("burst", "warm engine")):
            rounds = ", ".join(f"{r:.0f}" for r in data[f"{key}_rounds"])  # type: ignore[attr-defined]
            print(
                f"instances started and run to their first task, per second, {name}, {label}: "
                f"median {data[f'{key}_median']:.0f} (rounds: {rounds})"
            )
    print(json.dumps({"python": sys.version.split()[0], "instances": args.instances, "clock": args.clock}))


if __name__ == "__main__":
    main()
