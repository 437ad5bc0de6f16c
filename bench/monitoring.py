"""The coordinators' instance list and heat map on PostgreSQL at county scale (issue 6: the list under 100 ms with
100 000 completed and 10 000 running instances).

    .venv/bin/python bench/monitoring.py --database postgresql://postgres@127.0.0.1/samflode_bench

The database is emptied (schema dropped), migrated and the demo loaded (processes, directory, three cases); then,
with SQL (not through the runtime: these reads never look at workflow state):
- COMPLETED completed and RUNNING running in_utskrivning instances of version 1 over the last 400 days, spread over 13
  kommuner, 46 vårdcentraler and 12 wards, each with its personnummer correlation row;
- for every running instance two open tasks (due times spread so that about one in ten is overdue) and one timer;
- for every completed instance the history of three user tasks (created, claimed, completed; the completion row
  with its task's creation and first claim, as Runtime.complete_task writes it) and three engine steps, about 1.2
  million history rows, for the heat map.
Timed in-process (engine.reads.monitoring.Monitoring, the same read the page and the API make): the list with no
filter, by
status, kommun, ward, overdue, a start-date range, personnummer, process and version, a deep page; and the heat map
of 30 and of 365 days. Prints median and p95 in ms of REPEAT runs each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.domain.actors import Actor  # noqa: E402
from engine.domain.clock import STOCKHOLM, SimulatedClock  # noqa: E402
from engine.platform import build  # noqa: E402
from engine.reads.monitoring import InstanceFilter, Monitoring  # noqa: E402
from webui.demo import load_demo  # noqa: E402

KOMMUNER = ["Aneby", "Eksjö", "Gislaved", "Gnosjö", "Habo", "Jönköping", "Mullsjö", "Nässjö", "Sävsjö", "Tranås",
            "Vaggeryd", "Vetlanda", "Värnamo"]  # fmt: skip
TASKS = ("registrera_inskrivning", "bedoma_behov", "skicka_inskrivningsmeddelande")
COORDINATOR = Actor("cora", frozenset({"coordinator"}), name="Cora")
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=STOCKHOLM)

INSTANCES = """
INSERT INTO process_instances (definition_id, process_id, version, business_key, status, started_at, ended_at,
                               updated_at, started_by, data, state, serializer_version, lock_version,
                               kommun, vardcentral, avdelning)
SELECT d.id, d.process_id, d.version, 'bench-' || g,
       CASE WHEN g <= :completed THEN 'completed' ELSE 'running' END,
       :now - make_interval(mins => (g * 53) % (400 * 1440)),
       CASE WHEN g <= :completed THEN :now - make_interval(mins => (g * 53) % (400 * 1440)) + interval '6 days' END,
       :now, 'bench',
       jsonb_build_object('personnummer',
                          to_char(date '1930-01-01' + (g % 20000), 'YYYYMMDD') || '-' || lpad((g % 9999)::text, 4, '0'),
                          'namn', 'Person ' || g, 'kommun', (CAST(:kommuner AS text[]))[1 + g % 13],
                          'vardcentral_hsa_id', 'SE2321000057-BVC' || (1 + g % 46),
                          'avdelning_hsa_id', 'SE2321000057-BAVD' || (1 + g % 12), 'vardtillfalle_id', 'VT-B' || g),
       '{}', 'bench', 1,
       (CAST(:kommuner AS text[]))[1 + g % 13], 'SE2321000057-BVC' || (1 + g % 46), 'SE2321000057-BAVD' || (1 + g % 12)
  FROM process_definitions d, generate_series(1, :total) g
 WHERE d.process_id = 'in_utskrivning' AND d.version = 1
"""
CORRELATIONS = """
INSERT INTO instance_correlations (instance_id, name, value)
SELECT id, 'personnummer', data->>'personnummer' FROM process_instances WHERE business_key LIKE 'bench-%'
"""
OPEN_TASKS = """
INSERT INTO task_index (id, instance_id, process_id, business_key, element_id, name, lane, role, form, unit,
                        created_at, due_at, claimed_by)
SELECT gen_random_uuid()::text, i.id, i.process_id, i.business_key, e.element_id, e.element_id, 'Slutvård', NULL,
       NULL, i.avdelning, i.started_at, :now + make_interval(hours => (i.id * 7 + e.n * 13) % 200 - 20), NULL
  FROM process_instances i CROSS JOIN (VALUES (1, 'kvittera_vc'), (2, 'kvittera_kommun')) AS e(n, element_id)
 WHERE i.business_key LIKE 'bench-%' AND i.status = 'running'
"""
TIMERS = """
INSERT INTO timers (instance_id, task_id, element_id, kind, boundary, due_at, created_at)
SELECT i.id, gen_random_uuid()::text, 'tid_inskrivningsmeddelande', 'duration', true,
       :now + make_interval(hours => (i.id * 11) % 300 - 30), i.started_at
  FROM process_instances i WHERE i.business_key LIKE 'bench-%' AND i.status = 'running'
"""
HISTORY = """
INSERT INTO history (instance_id, at, kind, element_id, task_id, actor, data, task_created_at, task_claimed_at)
SELECT i.id, i.started_at + make_interval(mins => t.n * 600 + x.offset_mins * ((i.id % 17) + 1)), x.kind,
       t.element_id, i.id || '-' || t.n, CASE WHEN x.kind = 'task_created' THEN NULL ELSE 'bench' END, '{}'::jsonb,
       CASE WHEN x.kind = 'task_completed' THEN i.started_at + make_interval(mins => t.n * 600) END,
       CASE WHEN x.kind = 'task_completed' THEN i.started_at + make_interval(mins => t.n * 600 + 7 * ((i.id % 17) + 1))
       END
  FROM process_instances i
 CROSS JOIN (VALUES (1, :t1), (2, :t2), (3, :t3)) AS t(n, element_id)
 CROSS JOIN (VALUES ('task_created', 0), ('claimed', 7), ('task_completed', 31)) AS x(kind, offset_mins)
 WHERE i.business_key LIKE 'bench-%' AND i.status = 'completed'
UNION ALL
SELECT i.id, i.started_at + make_interval(mins => s.n), 'element_completed', s.element_id, NULL, NULL, '{}'::jsonb,
       NULL, NULL
  FROM process_instances i
 CROSS JOIN (VALUES (1, 'start_inskrivning'), (2, 'gw_behov'), (3, 'slut')) AS s(n, element_id)
 WHERE i.business_key LIKE 'bench-%' AND i.status = 'completed'
"""


def timed(run: Any, repeat: int) -> tuple[float, float]:
    run()  # warm (plans, caches)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL URL whose schema may be dropped")
    parser.add_argument("--completed", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("bench/monitoring.py measures PostgreSQL: give --database postgresql://...")

    settings = Settings(database_url=args.database, clock="simulated", processes_dir=ROOT / "processes").checked()
    from engine.persistence.db import Database

    db = Database(args.database)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()
    clock = SimulatedClock(NOW)
    platform = build(settings, clock=clock)
    try:
        load_demo(platform, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        began = time.perf_counter()
        params = {"now": NOW, "completed": args.completed, "total": args.completed + args.running, "kommuner": KOMMUNER}
        with platform.db.unit_of_work() as session:
            session.execute(text(INSTANCES), params)
            session.execute(text(CORRELATIONS))
            session.execute(text(OPEN_TASKS), {"now": NOW})
            session.execute(text(TIMERS), {"now": NOW})
            session.execute(text(HISTORY), {"t1": TASKS[0], "t2": TASKS[1], "t3": TASKS[2]})
        with platform.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            counts = conn.execute(
                text("SELECT (SELECT count(*) FROM process_instances), (SELECT count(*) FROM history)")
            ).one()
        print(f"generated {counts[0]} instances, {counts[1]} history rows in {time.perf_counter() - began:.1f} s")

        monitoring = Monitoring(platform.db, platform.policy, platform.clock)
        cases: list[tuple[str, dict[str, str], int]] = [
            ("no filter", {}, 0),
            ("status=running", {"status": "running"}, 0),
            ("status=incident (none)", {"status": "incident"}, 0),
            ("kommun=Eksjö", {"kommun": "Eksjö"}, 0),
            ("ward", {"avdelning": "SE2321000057-BAVD3"}, 0),
            ("vårdcentral + running", {"vardcentral": "SE2321000057-BVC7", "status": "running"}, 0),
            ("overdue", {"forsenade": "1"}, 0),
            ("started in one month", {"fran": "2026-03-01", "till": "2026-03-31"}, 0),
            ("process + version", {"process": "in_utskrivning", "version": "1"}, 0),
            ("page 20", {}, 19 * 50),
        ]
        print(f"\ninstance list, 50 rows, {args.repeat} runs each (ms)")
        print(f"{'filter':<28}{'median':>9}{'p95':>9}{'total':>9}")
        with platform.db.engine.begin() as conn:
            pnr = conn.execute(
                text("SELECT value FROM instance_correlations ORDER BY instance_id DESC LIMIT 1")
            ).scalar()
        runs = [(label, InstanceFilter.of(values), offset) for label, values, offset in cases]
        # The generated numbers are not Luhn-checked, so the personnummer filter is made directly, not parsed.
        runs.insert(-1, ("personnummer", InstanceFilter(personnummer=pnr), 0))
        for label, filters, offset in runs:

            def run(filters: InstanceFilter = filters, offset: int = offset) -> dict[str, Any]:
                return monitoring.instances(COORDINATOR, filters, limit=50, offset=offset)

            median, p95 = timed(run, args.repeat)
            total = run()["total"]
            print(f"{label:<28}{median:>9.1f}{p95:>9.1f}{total:>9}")

        print(f"\nheat map of in_utskrivning v1 ({args.repeat // 3} runs each, ms)")
        for days in (30, 365):
            until = NOW.date()
            since = until - timedelta(days=days - 1)
            median, p95 = timed(
                lambda since=since, until=until: monitoring.heatmap(COORDINATOR, "in_utskrivning", 1, since, until),
                max(3, args.repeat // 3),
            )
            print(f"{days:>4} days{median:>13.1f}{p95:>9.1f}")
    finally:
        platform.close()


if __name__ == "__main__":
    main()
