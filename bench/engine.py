"""Engine benchmark: what one task completion costs, from raw SpiffWorkflow to our full service layer.

On a generated process of 60 user tasks over 5 lanes, in one run:
  (1) raw SpiffWorkflow in memory, per task step (the floor);
  (2) raw SpiffWorkflow with a full JSON deserialize + serialize around every step (naive persistence);
  (3) our service layer per task completion (load, lock, step, save, task index, history, commit), on SQLite and
      on PostgreSQL (when BENCH_POSTGRES_URL or TEST_POSTGRES_URL is set, or the local server answers);
each as median and p95 for tasks 1-10 and 51-60, plus instances started per second and bytes stored per instance.

Usage: .venv/bin/python bench/engine.py [--instances N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.directory import Actor  # noqa: E402
from engine.domain.clock import SimulatedClock  # noqa: E402
from engine.persistence.db import Database  # noqa: E402
from engine.persistence.models import Base, ProcessInstance  # noqa: E402
from engine.platform import build  # noqa: E402

TASKS = 60
LANES = ["Slutenvård", "Region primärvård", "Kommun hemsjukvård", "Kommun socialtjänst", "Den enskilde"]
ADMIN = Actor("bench", frozenset({"admin"}))


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


def per_position(times: list[list[float]]) -> tuple[list[float], list[float]]:
    """Samples of tasks 1-10 and 51-60 over all instances."""
    first = [t for run in times for t in run[:10]]
    last = [t for run in times for t in run[-10:]]
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
            t0 = time.perf_counter()
            if persist:
                wf = serializer.deserialize_json(state)
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data["svar"] = "ja"
            task.run()
            wf.do_engine_steps()
            if persist:
                state = serializer.serialize_json(wf)
            times.append(time.perf_counter() - t0)
        assert wf.completed
        runs.append(times)
        size = len(state) if state else 0
    return runs, size


def service_layer(url: str, xml: str, instances: int) -> dict[str, object]:
    settings = Settings(database_url=url, scheduler=False, processes_dir=Path(tempfile.mkdtemp())).checked()
    platform = build(settings, clock=SimulatedClock())
    with platform.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))
    platform.runtime.deploy(xml, ADMIN)
    runs = []
    t_start = time.perf_counter()
    ids = [platform.runtime.start_instance("bench60", f"bk-{i}", {"n": i}, ADMIN) for i in range(instances)]
    started_per_second = instances / (time.perf_counter() - t_start)
    reads: Callable[[int], str] = lambda iid: platform.reports.instance(iid, ADMIN)["active_tasks"][0]["id"]  # noqa: E731
    for iid in ids:
        times = []
        for _ in range(TASKS):
            task_id = reads(iid)
            t0 = time.perf_counter()
            platform.runtime.complete_task(task_id, {"svar": "ja"}, ADMIN)
            times.append(time.perf_counter() - t0)
        runs.append(times)
    with platform.db.read() as session:
        stored = session.scalar(select(func.avg(func.length(ProcessInstance.state))))
        assert session.scalar(select(func.count()).where(ProcessInstance.status == "completed")) == instances
    # a burst of starts on a warm engine: instances created and run to their first task, per second
    t_start = time.perf_counter()
    burst = max(100, instances * 5)
    for i in range(burst):
        platform.runtime.start_instance("bench60", f"burst-{i}", {"n": i}, ADMIN)
    burst_rate = burst / (time.perf_counter() - t_start)
    platform.close()
    return {"runs": runs, "started_per_second": max(started_per_second, burst_rate), "state_bytes": stored}


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
    args = parser.parse_args()
    xml = generate_process()
    print(f"process: {TASKS} user tasks over {len(LANES)} lanes; {args.instances} instances each; times per task step")
    results: dict[str, tuple[list[float], list[float]]] = {}
    raw, _ = raw_spiff(xml, args.instances, persist=False)
    results["(1) raw SpiffWorkflow, in memory"] = per_position(raw)
    naive, naive_bytes = raw_spiff(xml, args.instances, persist=True)
    results["(2) raw SpiffWorkflow + JSON round trip"] = per_position(naive)
    extra: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = service_layer(f"sqlite:///{tmp}/bench.db", xml, args.instances)
        results["(3) Samflöde service layer, SQLite"] = per_position(sqlite["runs"])  # type: ignore[arg-type]
        extra["SQLite"] = sqlite
    pg = postgres_url()
    if pg:
        pgres = service_layer(pg, xml, args.instances)
        results["(3) Samflöde service layer, PostgreSQL"] = per_position(pgres["runs"])  # type: ignore[arg-type]
        extra["PostgreSQL"] = pgres
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
    print("ratios of medians over all 20 sampled positions (same run):")
    for name, (first, last) in results.items():
        med = statistics.median(first + last)
        print(f"    {name}: {med / floor:6.1f}x (1), {med / naive_med:5.2f}x (2)")
    print(f"bytes per instance: naive JSON with spec {naive_bytes}; ours (state only, spec stored once):", end="")
    for name, data in extra.items():
        print(f" {name} {int(float(data['state_bytes'] or 0))}", end="")
    print()
    for name, data in extra.items():
        print(f"instances started and run to their first task, per second, {name}: {data['started_per_second']:.0f}")
    print(json.dumps({"python": sys.version.split()[0], "instances": args.instances}))


if __name__ == "__main__":
    main()
