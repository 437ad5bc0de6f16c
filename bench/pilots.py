"""Pilot routing benchmark: what deciding the version costs when a case starts.

Starts the real in_utskrivning by the `inskrivning` message (the way the patient record starts it), on SQLite and on
PostgreSQL (when BENCH_POSTGRES_URL or TEST_POSTGRES_URL is set), in three configurations:
  (1) no pilot and no default (the newest version, the behaviour before pilots);
  (2) a running pilot (rule: the ward decides) and a pinned process-wide default, half the cases in the pilot;
  (3) as (2) plus 40 per-unit defaults from a stepwise promotion;
and prints the median and p95 of a start (milliseconds) and the ratio to (1). Also times the pilot's comparison page
read (PilotComparison.compare) over the started cases.

Usage: .venv/bin/python bench/pilots.py [--cases N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from engine.config import PROJECT_ROOT, Settings  # noqa: E402
from engine.domain.actors import SYSTEM_ACTOR, Actor  # noqa: E402
from engine.domain.clock import STOCKHOLM, SimulatedClock  # noqa: E402
from engine.features.pilot_comparison import PilotComparison  # noqa: E402
from engine.features.pilots import Pilots, PilotSpec  # noqa: E402
from engine.persistence.db import Database  # noqa: E402
from engine.platform import Platform, build  # noqa: E402

TEAM = Actor("bench", frozenset({"implementation_team"}))
PILOT_WARD = "SE2321000057-HSMEDGER"
OTHER_WARD = "SE2321000057-RYMED1"


def platform_for(url: str) -> Platform:
    if url.startswith("postgresql"):
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    settings = Settings(
        database_url=url, clock="simulated", processes_dir=PROJECT_ROOT / "processes", scheduler=False
    ).checked()
    p = build(settings, clock=SimulatedClock(datetime(2026, 1, 12, 8, 0, tzinfo=STOCKHOLM)))
    for name in ("sip", "in_utskrivning", "mobilt_team"):
        p.runtime.deploy((PROJECT_ROOT / "processes" / f"{name}.bpmn").read_bytes(), SYSTEM_ACTOR)
    xml = (PROJECT_ROOT / "processes" / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    p.runtime.deploy(
        xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (pilot)"', 1), SYSTEM_ACTOR
    )
    return p


def start_cases(p: Platform, label: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        ward = PILOT_WARD if i % 2 else OTHER_WARD
        key = {"personnummer": "19121212-1212", "vardtillfalle_id": f"{label}-{i}"}
        data = {**key, "avdelning_hsa_id": ward, "kommun": "Eksjö", "vardcentral_hsa_id": "SE2321000057-VCEKSJO"}
        data.update(inskrivningstid=p.clock.now().isoformat(), avtal="jonkoping", namn="Bench")
        started = time.perf_counter()
        p.runtime.send_message("inskrivning", f"bench-{label}-{i}", key, data, SYSTEM_ACTOR)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def run(url: str, n: int) -> None:
    p = platform_for(url)
    pilots = Pilots(p.db, p.clock, p.policy)
    results = {}
    results["1 newest version"] = summary(start_cases(p, "plain", n))
    pilot_id = pilots.create(
        TEAM,
        PilotSpec(
            name="Bench",
            process_id="in_utskrivning",
            version=2,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            mixed_rule="avdelning",
            avdelningar=[PILOT_WARD],
            vardcentraler=[],
            kommuner=[],
        ),
    )
    pilots.start(TEAM, pilot_id)
    results["2 running pilot + default"] = summary(start_cases(p, "pilot", n))
    pilots.promote(TEAM, pilot_id, {"kommuner": [f"Kommun {k}" for k in range(40)]})
    results["3 + 40 per-unit defaults"] = summary(start_cases(p, "units", n))
    base = results["1 newest version"][0]
    print(f"\n{p.db.dialect}: {n} starts per configuration (in_utskrivning by message, to its first user tasks)")
    for label, (median, p95) in results.items():
        print(f"  {label:28s} median {median:7.2f} ms  p95 {p95:7.2f} ms  ratio {median / base:5.2f}")
    reads = []
    comparison = PilotComparison(p.db, p.clock, p.policy, p.figures)
    for _ in range(10):
        started = time.perf_counter()
        comparison.compare(TEAM, pilot_id)
        reads.append((time.perf_counter() - started) * 1000)
    median, p95 = summary(reads)
    print(f"  comparison read over {3 * n} cases: median {median:.1f} ms, p95 {p95:.1f} ms")
    p.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/bench.db", args.cases)
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    if url:
        run(url, args.cases)


if __name__ == "__main__":
    main()
